//! Where a role is in Azure's `InstanceStatus`/`PowerState` progression, derived from its
//! phase, the time since its operation succeeded (the modelled boot) and what the VM
//! backend reports. Read by Get Deployment and the admin inventory; it changes nothing.

use std::collections::HashMap;

use super::Emulator;
use crate::model::{Deployment, Millis, Role, RolePhase};
use crate::vm::VmStatus;

/// Azure's pair for one role instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstanceState {
    pub instance_status: &'static str,
    pub power_state: &'static str,
}

const fn state(instance_status: &'static str, power_state: &'static str) -> InstanceState {
    InstanceState {
        instance_status,
        power_state,
    }
}

/// Azure's (InstanceStatus, PowerState) for a role at `now`. Recorded progression: from
/// acceptance until well after the operation succeeded `RoleStateUnknown/Starting`, then
/// `RoleStateUnknown/Started`, `Provisioning/Started` and `ReadyRole/Started` (the modelled
/// boot split in halves, ReadyRole only once the backend says the VM is ready).
pub fn instance_state(emu: &Emulator, role: &Role, vm: &VmStatus, now: Millis) -> InstanceState {
    match role.phase {
        RolePhase::Creating => state("RoleStateUnknown", "Starting"),
        RolePhase::Deleting => state("StoppingVM", "Stopping"),
        RolePhase::Stopped if role.deallocated => state("StoppedDeallocated", "Stopped"),
        RolePhase::Stopped => state("StoppedVM", "Stopped"),
        RolePhase::Running => {
            let boot = emu.latency.scaled(emu.latency.role_boot).as_millis() as i64;
            let elapsed = now - role.ready_from.unwrap_or(role.created);
            match vm {
                VmStatus::Stopped => state("StoppedVM", "Stopped"),
                _ if elapsed < boot / 2 => state("RoleStateUnknown", "Starting"),
                _ if elapsed < boot => state("RoleStateUnknown", "Started"),
                VmStatus::Ready => state("ReadyRole", "Started"),
                VmStatus::Failed(_) => state("ProvisioningFailed", "Started"),
                VmStatus::Unknown => state("RoleStateUnknown", "Unknown"),
                VmStatus::Booting => state("Provisioning", "Started"),
            }
        }
    }
}

/// Backend status of every role that has a VM (queried outside the state lock).
pub async fn vm_statuses(emu: &Emulator, deployment: &Deployment) -> HashMap<String, VmStatus> {
    let mut statuses = HashMap::new();
    for role in &deployment.roles {
        if let (Some(spec), Some(_)) = (&role.vm_spec, &role.vm) {
            statuses.insert(role.name.clone(), emu.backend.status(&spec.id).await);
        }
    }
    statuses
}

/// A role's backend status from [`vm_statuses`] (`Booting` while it has no VM yet).
pub fn status_of(statuses: &HashMap<String, VmStatus>, role: &Role) -> VmStatus {
    statuses
        .get(&role.name)
        .cloned()
        .unwrap_or(VmStatus::Booting)
}
