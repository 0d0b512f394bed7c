//! The latency model: how long Azure took for each asynchronous step (recorded timings),
//! multiplied by `--time-scale`. Benchmarks read the same numbers to compute the
//! critical-path bound a client could reach. It never sleeps by itself.

use std::time::Duration;

use serde::Serialize;

/// Seconds Azure took (scale 1.0). Sources: XP/PYREC timestamps (see README table).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatencyModel {
    pub create_storage_account: f64,
    pub add_certificate: f64,
    pub delete_certificate: f64,
    pub set_network_configuration: f64,
    pub create_deployment: f64,
    pub add_role: f64,
    pub delete_role: f64,
    pub delete_deployment: f64,
    /// Delete Hosted Service with `comp=media` (deployments, disks, blobs).
    pub delete_hosted_service_media: f64,
    /// Shutdown/Restart role operations (and Reboot/Reimage Role Instance).
    pub role_power_operation: f64,
    /// Start Role (recorded: still InProgress at 129 s, Succeeded at 161 s).
    pub start_role: f64,
    /// From the create operation's success until the role can be ReadyRole (guest agent Ready).
    pub role_boot: f64,
    /// After a delete without `comp=media`: the disk stays attached this long…
    pub disk_detach: f64,
    /// …and then its blob stays leased this much longer.
    pub disk_lease_release: f64,
    /// The factor every number above is multiplied with.
    pub time_scale: f64,
}

impl LatencyModel {
    /// Azure's recorded timings at scale 1.0.
    pub fn azure() -> Self {
        LatencyModel {
            create_storage_account: 25.0,
            add_certificate: 20.0,
            delete_certificate: 20.0,
            set_network_configuration: 34.0,
            create_deployment: 53.0,
            add_role: 43.0,
            delete_role: 37.0,
            delete_deployment: 6.0,
            delete_hosted_service_media: 30.0,
            role_power_operation: 30.0,
            start_role: 145.0,
            role_boot: 90.0,
            disk_detach: 60.0,
            disk_lease_release: 120.0,
            time_scale: 1.0,
        }
    }

    /// The model the emulator runs with for a given `--time-scale`.
    pub fn with_time_scale(time_scale: f64) -> Self {
        LatencyModel {
            time_scale,
            ..Self::azure()
        }
    }

    /// A step's duration (seconds at scale 1, e.g. `self.add_role`) after scaling.
    pub fn scaled(&self, seconds: f64) -> Duration {
        Duration::from_secs_f64((seconds * self.time_scale).max(0.0))
    }

    /// (name, seconds at scale 1) for documentation and benchmarks.
    pub fn table(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("create_storage_account", self.create_storage_account),
            ("add_certificate", self.add_certificate),
            ("delete_certificate", self.delete_certificate),
            ("set_network_configuration", self.set_network_configuration),
            ("create_deployment", self.create_deployment),
            ("add_role", self.add_role),
            ("delete_role", self.delete_role),
            ("delete_deployment", self.delete_deployment),
            (
                "delete_hosted_service_media",
                self.delete_hosted_service_media,
            ),
            ("role_power_operation", self.role_power_operation),
            ("start_role", self.start_role),
            ("role_boot", self.role_boot),
            ("disk_detach", self.disk_detach),
            ("disk_lease_release", self.disk_lease_release),
        ]
    }

    /// Lower bound (scaled) for starting `n_vms` VMs spread over `n_services` cloud
    /// services when the client works on services in parallel and on roles serially within
    /// one deployment (Azure's exclusivity allows nothing better): storage account, network
    /// configuration and service certificate (independent, so in parallel), then the
    /// deployment with the first role, the remaining roles one by one, then the last
    /// role's boot.
    pub fn start_critical_path(&self, n_vms: usize, n_services: usize) -> Duration {
        let n_services = n_services.max(1);
        let per_service = n_vms.div_ceil(n_services).max(1);
        let s = self
            .create_storage_account
            .max(self.set_network_configuration)
            .max(self.add_certificate)
            + self.create_deployment
            + (per_service - 1) as f64 * self.add_role
            + self.role_boot;
        self.scaled(s)
    }

    /// Lower bound (scaled) for tearing down: one Delete Deployment (`comp=media`) per
    /// service, all services in parallel; the remaining deletes are synchronous. Without
    /// `comp=media` add `disk_detach + disk_lease_release` before disks can go.
    pub fn stop_critical_path(&self) -> Duration {
        self.scaled(self.delete_deployment)
    }
}

/// The latency model at `time_scale` (public entry point for benchmarks).
pub fn latency_model(time_scale: f64) -> LatencyModel {
    LatencyModel::with_time_scale(time_scale)
}
