//! The latency model: how long Azure took for each asynchronous step (recorded timings),
//! multiplied by `--time-scale`. The critical path of a whole start or stop of a layout
//! (`critical_path`) is computed from the same numbers. It never sleeps by itself.

use std::time::Duration;

use serde::Serialize;

use super::critical_path::Layout;

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

    /// Lower bound (scaled) for starting `n_vms` VMs spread evenly over `n_services` cloud
    /// services of one subscription (see [`Layout::balanced`] and
    /// [`LatencyModel::start_bound`], which takes any layout).
    pub fn start_critical_path(&self, n_vms: usize, n_services: usize) -> Duration {
        Duration::from_secs_f64(
            self.start_bound(&Layout::balanced(n_vms, n_services))
                .seconds,
        )
    }

    /// Lower bound (scaled) for tearing down one subscription's cluster: every Delete
    /// Deployment (`comp=media`) at once, then the virtual network's removal (see
    /// [`LatencyModel::stop_bound`] for any layout).
    pub fn stop_critical_path(&self) -> Duration {
        Duration::from_secs_f64(self.stop_bound(&Layout::balanced(1, 1), true).seconds)
    }
}

/// The latency model at `time_scale` (public entry point for benchmarks).
pub fn latency_model(time_scale: f64) -> LatencyModel {
    LatencyModel::with_time_scale(time_scale)
}
