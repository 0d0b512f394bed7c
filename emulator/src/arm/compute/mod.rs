//! Microsoft.Compute resources (azure-arm-api.md §5): VMs — PUT (`create.rs`), the instance
//! view, power actions (202 + `Azure-AsyncOperation` + `Location` with `monitor=true`;
//! `generalize` synchronous), DELETE (faster when forced or when the VM is not running;
//! `deleteOption: Delete` takes the OS disk and NICs along), the sizes a VM may be resized
//! to — and managed disks (DELETE refused while attached). Reads of one resource or a list
//! are the shared ones in `resources.rs`.

mod create;
mod plumbing;

use std::sync::Arc;

use serde_json::{json, Value};

pub use create::put;

use super::deletion::delete_resource;
use super::errors::{empty, json, ArmError, ArmResult};
use super::operations::{self, HINT_VM};
use super::render::{self, Refs};
use super::request::ArmRequest;
use super::ArmFace;
use crate::engine::Emulator;
use crate::model::arm::{ArmPending, PowerAction, PowerState, ResourceKind};
use crate::model::vm_sizes::VM_SIZES;

fn lookup(
    emu: &Emulator,
    ctx: &ArmRequest,
    rg: &str,
    kind: ResourceKind,
    name: &str,
) -> Result<crate::model::arm::ArmResource, ArmError> {
    let st = emu.lock();
    let g = st
        .subscriptions
        .get(&ctx.subscription)
        .and_then(|s| s.arm.groups.get(&rg.to_ascii_lowercase()))
        .ok_or_else(|| ArmError::group_not_found(rg))?;
    g.resources
        .get(&kind.key(name))
        .cloned()
        .ok_or_else(|| ArmError::resource_not_found(&kind.full_type(), name, &g.name))
}

/// `GET virtualMachines/{vm}/instanceView`.
pub fn instance_view(emu: &Emulator, ctx: &ArmRequest, rg: &str, name: &str) -> ArmResult {
    let vm = lookup(emu, ctx, rg, ResourceKind::VirtualMachine, name)?;
    Ok(json(200, &render::instance_view(&vm)))
}

/// `GET virtualMachines/{vm}/vmSizes`.
pub fn resize_options(emu: &Emulator, ctx: &ArmRequest, rg: &str, name: &str) -> ArmResult {
    lookup(emu, ctx, rg, ResourceKind::VirtualMachine, name)?;
    let value: Vec<Value> = VM_SIZES.iter().map(super::catalog::size_json).collect();
    Ok(json(200, &json!({ "value": value })))
}

/// DELETE of a VM or a disk (a disk still attached to a VM is refused).
pub fn delete(
    face: &ArmFace,
    emu: &Arc<Emulator>,
    ctx: &ArmRequest,
    rg: &str,
    kind: ResourceKind,
    name: &str,
) -> ArmResult {
    delete_resource(face, emu, ctx, rg, kind, name, |sub, r| {
        if kind == ResourceKind::Disk {
            if let Some(vm) = Refs::build(sub).vm_of_disk(r.id()) {
                return Err(ArmError::new(
                    409,
                    "OperationNotAllowed",
                    format!("Disk {name} is attached to VM {vm}."),
                ));
            }
        }
        let l = &face.latency;
        Ok(match (&r.vm, ctx.query("forceDeletion")) {
            (None, _) => l.small_delete,
            (Some(_), Some(f)) if f.eq_ignore_ascii_case("true") => l.vm_force_delete,
            (Some(v), _) if v.power != PowerState::Running && v.power != PowerState::Starting => {
                l.vm_delete_stopped
            }
            _ => l.vm_delete,
        })
    })
}

/// `POST virtualMachines/{vm}/{action}`.
pub fn action(
    face: &ArmFace,
    emu: &Arc<Emulator>,
    ctx: &ArmRequest,
    rg: &str,
    name: &str,
    action: &str,
) -> ArmResult {
    let what = match action.to_ascii_lowercase().as_str() {
        "start" => Some(PowerAction::Start),
        "poweroff" => Some(PowerAction::PowerOff),
        "restart" => Some(PowerAction::Restart),
        "deallocate" => Some(PowerAction::Deallocate),
        "generalize" => None,
        other => return Err(ArmError::unsupported(&format!("The VM action '{other}'"))),
    };
    let mut st = emu.lock();
    let sub = st
        .subscriptions
        .get_mut(&ctx.subscription)
        .ok_or_else(|| ArmError::subscription_not_found(&ctx.subscription))?;
    let group = rg.to_ascii_lowercase();
    let key = ResourceKind::VirtualMachine.key(name);
    let r = sub
        .arm
        .groups
        .get(&group)
        .ok_or_else(|| ArmError::group_not_found(rg))?
        .resources
        .get(&key)
        .cloned()
        .ok_or_else(|| {
            ArmError::resource_not_found("Microsoft.Compute/virtualMachines", name, rg)
        })?;
    let state = r.provisioning_state().to_string();
    if state == "Deleting" {
        return Err(ArmError::new(409, "OperationNotAllowed", format!("Operation '{action}' is not allowed on VM '{name}' since the VM is marked for deletion. You can only retry the Delete operation (or wait for an ongoing one to complete).")));
    }
    let busy = r
        .operation
        .as_ref()
        .and_then(|op| sub.operations.get(op))
        .is_some_and(|o| o.status == crate::model::OpStatus::InProgress);
    if busy || state == "Creating" {
        return Err(ArmError::new(409, "OperationNotAllowed", format!("Operation '{action}' is not allowed since the virtual machine '{name}' is in a transient state ({state}). Please retry later.")));
    }
    let Some(what) = what else {
        // generalize: synchronous.
        return Ok(empty(200));
    };
    let location = r.body["location"].as_str().unwrap_or("eastus").to_string();
    let l = &face.latency;
    let (secs, interim, hint) = match what {
        PowerAction::Start => (l.vm_start, PowerState::Starting, Some(HINT_VM)),
        PowerAction::PowerOff => (l.vm_power_off, PowerState::Stopping, None),
        PowerAction::Restart => (l.vm_restart, PowerState::Starting, None),
        PowerAction::Deallocate => (l.vm_deallocate, PowerState::Deallocating, Some(HINT_VM)),
    };
    let d = l.scaled(secs);
    let kind = match what {
        PowerAction::Start => "ArmStartVirtualMachine",
        PowerAction::PowerOff => "ArmPowerOffVirtualMachine",
        PowerAction::Restart => "ArmRestartVirtualMachine",
        PowerAction::Deallocate => "ArmDeallocateVirtualMachine",
    };
    let op = operations::begin(
        emu,
        sub,
        kind,
        d,
        ArmPending::Power {
            group: group.clone(),
            key: key.clone(),
            action: what,
        },
    );
    if let Some(rm) = sub
        .arm
        .groups
        .get_mut(&group)
        .and_then(|g| g.resources.get_mut(&key))
    {
        rm.operation = Some(op.clone());
        if let Some(v) = rm.vm.as_mut() {
            v.power = interim;
        }
    }
    emu.persist(&st);
    Ok(operations::announce(
        empty(202),
        face,
        ctx,
        "Microsoft.Compute",
        &location,
        &op,
        true,
        hint.map(|h| (d, h)),
    ))
}
