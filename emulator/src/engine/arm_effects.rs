//! What Azure Resource Manager operations do to the state when they complete (`apply`) or
//! fail (`roll_back`), the VM a VM create boots through the backend as soon as it starts
//! (`create_vm`), and the wait for the guest to be ready before a VM create may succeed
//! (`wait_guest`). Host work (deleting, starting, stopping VMs) is returned as actions and
//! done by the operation engine after the state change; VMs are touched only through the
//! `VmBackend`.

use std::sync::Arc;
use std::time::Duration;

use super::effects::HostAction;
use super::Emulator;
use crate::model::arm::{ArmPending, ArmResource, PowerAction, PowerState, ResourceKind};
use crate::model::{OpError, Pending, Subscription};
use crate::vm::VmStatus;

/// How often a VM create looks at its guest once the modelled time is over.
const GUEST_POLL: Duration = Duration::from_millis(100);

fn resource_mut<'a>(
    sub: &'a mut Subscription,
    group: &str,
    key: &str,
) -> Option<&'a mut ArmResource> {
    sub.arm
        .groups
        .get_mut(group)
        .and_then(|g| g.resources.get_mut(key))
}

/// Operation `op_id` ends on its resource, if it is still the one working on it (a later
/// delete supersedes a create or update still running): the resource is left `state` and
/// no operation works on it any more. Returns it for what else the ending changes.
fn end_operation<'a>(
    sub: &'a mut Subscription,
    group: &str,
    key: &str,
    op_id: &str,
    state: &str,
) -> Option<&'a mut ArmResource> {
    let r = resource_mut(sub, group, key).filter(|r| r.operation.as_deref() == Some(op_id))?;
    r.set_provisioning_state(state);
    r.operation = None;
    Some(r)
}

fn delete_vm_action(r: &ArmResource, actions: &mut Vec<HostAction>) {
    if let Some(vm) = &r.vm {
        actions.push(HostAction::DeleteVm(vm.spec.id.clone()));
    }
}

/// Remove resource `key` of `group` and what goes with it: a VM's OS disk and NICs whose
/// `deleteOption` is `Delete` (the others stay, detached).
fn remove(sub: &mut Subscription, group: &str, key: &str, actions: &mut Vec<HostAction>) {
    let Some(g) = sub.arm.groups.get_mut(group) else {
        return;
    };
    let Some(r) = g.resources.remove(key) else {
        return;
    };
    if r.kind != ResourceKind::VirtualMachine {
        return;
    }
    delete_vm_action(&r, actions);
    let props = &r.body["properties"];
    let disk = &props["storageProfile"]["osDisk"];
    if disk["deleteOption"] == "Delete" {
        if let Some(name) = disk["name"].as_str() {
            g.resources.remove(&ResourceKind::Disk.key(name));
        }
    }
    for n in props["networkProfile"]["networkInterfaces"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if n["properties"]["deleteOption"] != "Delete" {
            continue;
        }
        let name = n["id"].as_str().and_then(|id| id.rsplit('/').next());
        let same_group = n["id"].as_str().is_some_and(|id| {
            id.to_ascii_lowercase()
                .contains(&format!("/resourcegroups/{group}/"))
        });
        if let (Some(name), true) = (name, same_group) {
            g.resources
                .remove(&ResourceKind::NetworkInterface.key(name));
        }
    }
}

/// Mark a resource's nested items (subnets, rules, IP configurations) `state`.
fn settle_nested(r: &mut ArmResource, state: &str) {
    for list in ["subnets", "securityRules", "ipConfigurations"] {
        if let Some(items) = r.body["properties"][list].as_array_mut() {
            for i in items {
                if let Some(p) = i.get_mut("properties").and_then(|p| p.as_object_mut()) {
                    p.insert("provisioningState".into(), state.into());
                }
            }
        }
    }
}

pub fn apply(
    sub: &mut Subscription,
    pending: &ArmPending,
    op_id: &str,
    actions: &mut Vec<HostAction>,
) {
    match pending {
        ArmPending::Provision { group, key } => {
            if let Some(r) = end_operation(sub, group, key, op_id, "Succeeded") {
                settle_nested(r, "Succeeded");
            }
        }
        ArmPending::CreateVm { group, key } => {
            let r = end_operation(sub, group, key, op_id, "Succeeded");
            if let Some(vm) = r.and_then(|r| r.vm.as_mut()) {
                vm.power = PowerState::Running;
                vm.failure = None;
            }
        }
        ArmPending::Delete { group, key } => remove(sub, group, key, actions),
        ArmPending::DeleteGroup { group } => {
            if let Some(g) = sub.arm.groups.remove(group) {
                for r in g.resources.values() {
                    delete_vm_action(r, actions);
                }
            }
        }
        ArmPending::Power { group, key, action } => {
            if let Some(r) = resource_mut(sub, group, key) {
                if r.operation.as_deref() == Some(op_id) {
                    r.operation = None;
                }
                let Some(vm) = r.vm.as_mut() else { return };
                let id = vm.spec.id.clone();
                vm.power = match action {
                    PowerAction::Start | PowerAction::Restart => PowerState::Running,
                    PowerAction::PowerOff => PowerState::Stopped,
                    PowerAction::Deallocate => PowerState::Deallocated,
                };
                if vm.info.is_some() {
                    match action {
                        PowerAction::Start => actions.push(HostAction::StartVm(id)),
                        PowerAction::PowerOff | PowerAction::Deallocate => {
                            actions.push(HostAction::StopVm(id))
                        }
                        PowerAction::Restart => {
                            actions.push(HostAction::StopVm(id.clone()));
                            actions.push(HostAction::StartVm(id));
                        }
                    }
                }
            }
        }
    }
}

/// Undo what accepting the operation changed; a failed create leaves its resource
/// `Failed` (as Azure does), a failed delete leaves it in place.
pub fn roll_back(sub: &mut Subscription, pending: &ArmPending, op_id: &str, error: &OpError) {
    match pending {
        ArmPending::Provision { group, key } => {
            if let Some(r) = end_operation(sub, group, key, op_id, "Failed") {
                settle_nested(r, "Failed");
            }
        }
        ArmPending::CreateVm { group, key } => {
            let r = end_operation(sub, group, key, op_id, "Failed");
            if let Some(vm) = r.and_then(|r| r.vm.as_mut()) {
                vm.failure = Some((error.code.clone(), error.message.clone()));
                vm.power = if vm.info.is_some() {
                    PowerState::Running
                } else {
                    PowerState::Stopped
                };
            }
        }
        ArmPending::Delete { group, key } => {
            if let Some(r) = resource_mut(sub, group, key) {
                r.set_provisioning_state("Succeeded");
                r.operation = None;
            }
        }
        ArmPending::DeleteGroup { group } => {
            if let Some(g) = sub.arm.groups.get_mut(group) {
                g.deleting = false;
                for r in g.resources.values_mut() {
                    r.set_provisioning_state("Succeeded");
                    r.operation = None;
                }
            }
        }
        ArmPending::Power { group, key, action } => {
            if let Some(r) = resource_mut(sub, group, key) {
                r.operation = None;
                if let Some(vm) = r.vm.as_mut() {
                    vm.power = match action {
                        PowerAction::Start => PowerState::Stopped,
                        _ => PowerState::Running,
                    };
                }
            }
        }
    }
}

/// The (group, key) of the VM a VM create operation works on.
fn vm_of(emu: &Emulator, sub_id: &str, op_id: &str) -> Option<(String, String)> {
    let st = emu.lock();
    let op = st.subscriptions.get(sub_id)?.operations.get(op_id)?;
    if op.fail_with.is_some() {
        return None;
    }
    match &op.pending {
        Some(Pending::Arm(ArmPending::CreateVm { group, key })) => {
            Some((group.clone(), key.clone()))
        }
        _ => None,
    }
}

fn fail(emu: &Emulator, sub_id: &str, op_id: &str, error: OpError) {
    let mut st = emu.lock();
    if let Some(op) = st
        .subscriptions
        .get_mut(sub_id)
        .and_then(|s| s.operations.get_mut(op_id))
    {
        op.fail_with = Some(error);
    }
    emu.persist(&st);
}

/// Boot the VM of a VM create operation (addresses were chosen at its NIC's creation).
pub async fn create_vm(emu: &Arc<Emulator>, sub_id: &str, op_id: &str) {
    let Some((group, key)) = vm_of(emu, sub_id, op_id) else {
        return;
    };
    let spec = {
        let st = emu.lock();
        st.subscriptions
            .get(sub_id)
            .and_then(|s| s.arm.groups.get(&group))
            .and_then(|g| g.resources.get(&key))
            .and_then(|r| r.vm.as_ref())
            .filter(|v| v.info.is_none())
            .map(|v| v.spec.clone())
    };
    let Some(spec) = spec else { return };
    match emu.backend.create(&spec).await {
        Ok(info) => {
            let kept = {
                let mut st = emu.lock();
                let vm = st
                    .subscriptions
                    .get_mut(sub_id)
                    .and_then(|s| resource_mut(s, &group, &key))
                    .and_then(|r| r.vm.as_mut())
                    .filter(|v| v.spec.id == spec.id);
                let kept = match vm {
                    Some(vm) => {
                        vm.info = Some(info);
                        true
                    }
                    None => false,
                };
                emu.persist(&st);
                kept
            };
            if !kept {
                // Deleted while it was being created: it goes now.
                if let Err(e) = emu.backend.delete(&spec.id).await {
                    tracing::warn!("backend could not delete VM {}: {e}", spec.id);
                }
            }
        }
        Err(e) => {
            tracing::error!("backend could not create VM {}: {e}", spec.id);
            fail(
                emu,
                sub_id,
                op_id,
                OpError {
                    http_status: 200,
                    code: "AllocationFailed".into(),
                    message: format!("Allocation failed. The VM could not be created on this emulator's host: {e}"),
                },
            );
        }
    }
}

/// After the modelled time of a VM create: wait until the guest answers (its sshd accepts
/// the admin user, as Azure waits for the Linux agent), or record why it never will.
pub async fn wait_guest(emu: &Arc<Emulator>, sub_id: &str, op_id: &str) {
    let Some((group, key)) = vm_of(emu, sub_id, op_id) else {
        return;
    };
    let id = {
        let st = emu.lock();
        st.subscriptions
            .get(sub_id)
            .and_then(|s| s.arm.groups.get(&group))
            .and_then(|g| g.resources.get(&key))
            .and_then(|r| r.vm.as_ref())
            .filter(|v| v.info.is_some())
            .map(|v| (v.spec.id.clone(), v.spec.hostname.clone()))
    };
    let Some((id, name)) = id else { return };
    loop {
        match emu.backend.status(&id).await {
            VmStatus::Ready => return,
            VmStatus::Failed(why) => {
                tracing::warn!("VM {id} never became ready: {why}");
                return fail(
                    emu,
                    sub_id,
                    op_id,
                    OpError {
                        http_status: 200,
                        code: "OSProvisioningTimedOut".into(),
                        message: format!("OS Provisioning for VM '{name}' did not finish in the allotted time. The VM may still finish provisioning successfully. Please check provisioning state later."),
                    },
                );
            }
            VmStatus::Unknown | VmStatus::Stopped => return,
            VmStatus::Booting => tokio::time::sleep(GUEST_POLL).await,
        }
    }
}
