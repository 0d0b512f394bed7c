//! The Resource Manager latency model: how long each ARM operation takes at `--time-scale
//! 1`, from the recorded traffic and reports in `azure-arm-api.md` §7 (values marked
//! *uncertain* there are choices within the reported range), the `Retry-After` hint each
//! kind of operation gives, and the critical path of a cluster start and stop as the tool's
//! provider runs them (served at `GET /_emulator/arm/critical-path`). It never sleeps.

use std::time::Duration;

use serde::Serialize;

/// Seconds at scale 1.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ArmLatency {
    /// Token request (REC-VM: answered within the second).
    pub token: f64,
    /// Resource group PUT, synchronous (REC-RG: < 1 s).
    pub group_put: f64,
    /// Resource group DELETE, the group's own part (REC-RG: empty group gone between +15 s
    /// and +30 s).
    pub group_delete: f64,
    /// Network security group PUT (not recorded; 1–10 s reported).
    pub nsg_put: f64,
    /// Virtual network PUT (REC-VM: done within 10 s).
    pub vnet_put: f64,
    /// Subnet PUT (REC-VM: < 1 s).
    pub subnet_put: f64,
    /// Public IP PUT (REC-IP: ~1 s).
    pub public_ip_put: f64,
    /// NIC PUT, answered synchronously already `Succeeded` (REC-VM: ~1 s).
    pub nic_put: f64,
    /// VM PUT until `Succeeded` (REC-VM: 75.8 s, the one recorded VM create).
    pub vm_create: f64,
    /// VM DELETE of a running VM (not recorded; 30–120 s reported).
    pub vm_delete: f64,
    /// VM DELETE with `forceDeletion` (not recorded; taken as half a graceful delete).
    pub vm_force_delete: f64,
    /// VM DELETE of a stopped or deallocated VM (REC-VM: 0.4 s).
    pub vm_delete_stopped: f64,
    /// NIC, public IP and disk DELETE (REC-IP: public IP < 1 s).
    pub small_delete: f64,
    /// Virtual network and security group DELETE (not recorded; public IP prefix: 31 s).
    pub network_delete: f64,
    /// VM actions (REC-VM): powerOff 13.6 / 12.3 s, start 6.4 s, restart 39.7 s,
    /// deallocate 32.5 s.
    pub vm_power_off: f64,
    pub vm_start: f64,
    pub vm_restart: f64,
    pub vm_deallocate: f64,
    /// The factor every number above is multiplied with.
    pub time_scale: f64,
}

impl ArmLatency {
    pub fn azure() -> ArmLatency {
        ArmLatency {
            token: 0.3,
            group_put: 0.5,
            group_delete: 20.0,
            nsg_put: 3.0,
            vnet_put: 5.0,
            subnet_put: 1.0,
            public_ip_put: 1.0,
            nic_put: 1.0,
            vm_create: 76.0,
            vm_delete: 60.0,
            vm_force_delete: 30.0,
            vm_delete_stopped: 1.0,
            small_delete: 1.0,
            network_delete: 10.0,
            vm_power_off: 13.0,
            vm_start: 6.0,
            vm_restart: 40.0,
            vm_deallocate: 33.0,
            time_scale: 1.0,
        }
    }

    pub fn with_time_scale(time_scale: f64) -> ArmLatency {
        ArmLatency {
            time_scale,
            ..ArmLatency::azure()
        }
    }

    /// A step's duration (seconds at scale 1) after scaling.
    pub fn scaled(&self, seconds: f64) -> Duration {
        Duration::from_secs_f64((seconds * self.time_scale).max(0.0))
    }

    /// (name, seconds at scale 1), for documentation and `GET /_emulator/arm/latency`.
    pub fn table(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("token", self.token),
            ("group_put", self.group_put),
            ("group_delete", self.group_delete),
            ("nsg_put", self.nsg_put),
            ("vnet_put", self.vnet_put),
            ("subnet_put", self.subnet_put),
            ("public_ip_put", self.public_ip_put),
            ("nic_put", self.nic_put),
            ("vm_create", self.vm_create),
            ("vm_delete", self.vm_delete),
            ("vm_force_delete", self.vm_force_delete),
            ("vm_delete_stopped", self.vm_delete_stopped),
            ("small_delete", self.small_delete),
            ("network_delete", self.network_delete),
            ("vm_power_off", self.vm_power_off),
            ("vm_start", self.vm_start),
            ("vm_restart", self.vm_restart),
            ("vm_deallocate", self.vm_deallocate),
        ]
    }

    /// Seconds (scale 1) a group delete takes: the group's own part, then its VMs (in
    /// parallel), then NICs, public IPs and disks, then networks and security groups —
    /// ARM deletes dependents first.
    pub fn group_delete_secs(
        &self,
        vms: usize,
        small: usize,
        networks: usize,
        forced: bool,
    ) -> f64 {
        let vm = if vms == 0 {
            0.0
        } else if forced {
            self.vm_force_delete
        } else {
            self.vm_delete
        };
        let small = if small == 0 { 0.0 } else { self.small_delete };
        let net = if networks == 0 {
            0.0
        } else {
            self.network_delete
        };
        self.group_delete + vm + small + net
    }

    /// Wall-clock seconds (at this time scale) of the shortest possible start of `nodes`
    /// VMs, `public_ips` of them with a public IP, as the provider creates a cluster: token,
    /// group, then in parallel the security group → virtual network and each node's public
    /// IP; then per node NIC → VM until `Succeeded` (nodes in parallel). No client can beat
    /// ARM's write budget either (`throttle.rs`: 200 at once, then 10 per second): the last
    /// of the cluster's writes — group, security group, network, a public IP, NIC and VM
    /// per node — cannot be sent before the budget allows it, and a VM PUT is last.
    pub fn start_critical_path(&self, nodes: usize, public_ips: usize) -> f64 {
        if nodes == 0 {
            return (self.token + self.group_put) * self.time_scale;
        }
        let network = self.nsg_put + self.vnet_put;
        let pip = if public_ips > 0 {
            self.public_ip_put
        } else {
            0.0
        };
        let path = self.token + self.group_put + network.max(pip) + self.nic_put + self.vm_create;
        let writes = (3 + 2 * nodes + public_ips.min(nodes)) as f64;
        let (burst, rate) = super::throttle::WRITE_BUDGET;
        let paced = self.token + ((writes - burst).max(0.0) / rate) + self.vm_create;
        path.max(paced) * self.time_scale
    }

    /// Wall-clock seconds of the shortest possible stop: one forced group delete (the
    /// provider's `forceDeletionTypes=Microsoft.Compute/virtualMachines`) of a group with
    /// the cluster's VMs, NICs, disks, public IPs, network and security group.
    pub fn stop_critical_path(&self, nodes: usize) -> f64 {
        let s = self.group_delete_secs(nodes, nodes, 2, true);
        s * self.time_scale
    }
}

/// `Retry-After` (whole seconds, never scaled, at least 1) for an operation with
/// `remaining` wall-clock time left at `time_scale`: the time left at scale 1, rounded up,
/// at most `hint` (the value Azure was recorded giving for that kind of operation).
pub fn retry_after(remaining: Duration, time_scale: f64, hint: u64) -> u64 {
    if time_scale <= 0.0 || !time_scale.is_finite() {
        return 1;
    }
    let secs = (remaining.as_secs_f64() / time_scale).ceil();
    (secs.max(1.0) as u64).min(hint.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn critical_path_follows_the_provider_order() {
        let m = ArmLatency::with_time_scale(0.01);
        let public = m.start_critical_path(10, 10);
        let private = m.start_critical_path(10, 1);
        // the network (3 + 5 s) is longer than a public IP (1 s): same path
        assert!((public - private).abs() < 1e-9);
        let expected = (0.3 + 0.5 + 8.0 + 1.0 + 76.0) * 0.01;
        assert!((public - expected).abs() < 1e-9, "{public}");
        let stop = m.stop_critical_path(10);
        assert!(
            (stop - (20.0 + 30.0 + 1.0 + 10.0) * 0.01).abs() < 1e-9,
            "{stop}"
        );
    }

    #[test]
    fn retry_after_is_whole_unscaled_seconds_within_the_hint() {
        assert_eq!(retry_after(Duration::from_millis(30), 0.01, 10), 3);
        assert_eq!(retry_after(Duration::from_secs(100), 1.0, 10), 10);
        assert_eq!(retry_after(Duration::ZERO, 1.0, 10), 1);
        assert_eq!(retry_after(Duration::from_secs(5), 0.0, 10), 1);
    }
}
