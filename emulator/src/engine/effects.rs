//! What each asynchronous operation does to the state when it completes (`apply`) or when
//! it was decided to fail (`roll_back`), the VMs an accepted Create Deployment / Add Role
//! boots before it completes, and the host-side work (delete, start, stop a VM) done after
//! the state change. Resource Manager operations are in `arm_effects`. VMs are touched
//! only through the `VmBackend`.

use std::sync::Arc;

use super::Emulator;
use crate::model::{
    DeploymentPhase, Millis, OpError, Pending, Role, RolePhase, Subscription,
    INTERNAL_ERROR_MESSAGE,
};
use crate::vm::VmSpec;

/// Host-side work to do once an operation's state change is applied.
pub enum HostAction {
    DeleteVm(String),
    StartVm(String),
    StopVm(String),
}

pub async fn run_host_action(emu: &Emulator, action: HostAction) {
    let (verb, vm, result) = match action {
        HostAction::DeleteVm(vm) => ("delete", vm.clone(), emu.backend.delete(&vm).await),
        HostAction::StartVm(vm) => ("start", vm.clone(), emu.backend.start(&vm).await),
        HostAction::StopVm(vm) => ("stop", vm.clone(), emu.backend.stop(&vm).await),
    };
    if let Err(e) = result {
        tracing::warn!("backend could not {verb} VM {vm}: {e}");
    }
}

fn vm_id(role: &Role) -> Option<String> {
    role.vm_spec.as_ref().map(|s| s.id.clone())
}

/// The role's OS disk after its role is gone: deleted with `comp=media`, else kept attached
/// for the modelled detach time and leased for the lease-release time after that.
fn release_disk(emu: &Emulator, sub: &mut Subscription, role: &Role, media: bool, now: Millis) {
    if media {
        sub.disks.remove(&role.os_disk.disk_name);
    } else if let Some(disk) = sub.disks.get_mut(&role.os_disk.disk_name) {
        let detach = now + emu.latency.scaled(emu.latency.disk_detach).as_millis() as i64;
        disk.detached_at = Some(detach);
        disk.lease_until = Some(
            detach
                + emu
                    .latency
                    .scaled(emu.latency.disk_lease_release)
                    .as_millis() as i64,
        );
    }
}

/// Apply a completed operation's state change; host work goes to `actions`.
pub fn apply(
    emu: &Emulator,
    sub: &mut Subscription,
    pending: &Pending,
    op_id: &str,
    now: Millis,
    actions: &mut Vec<HostAction>,
) {
    match pending {
        Pending::CreateStorage { name } => {
            if let Some(s) = sub.storage_accounts.get_mut(name) {
                s.status = "Created".into();
            }
        }
        Pending::AddCertificate { service, cert } => {
            if let Some(h) = sub.hosted_services.get_mut(service) {
                if !h
                    .certificates
                    .iter()
                    .any(|c| c.thumbprint == cert.thumbprint)
                {
                    h.certificates.push(cert.clone());
                }
            }
        }
        Pending::DeleteCertificate {
            service,
            thumbprint,
        } => {
            if let Some(h) = sub.hosted_services.get_mut(service) {
                h.certificates.retain(|c| &c.thumbprint != thumbprint);
            }
        }
        Pending::SetNetwork { doc } => sub.network = Some(doc.clone()),
        Pending::CreateDeployment { service } => {
            if let Some(d) = sub
                .hosted_services
                .get_mut(service)
                .and_then(|h| h.deployment.as_mut())
            {
                d.phase = DeploymentPhase::Running;
                d.modified = now;
                for r in d.roles.iter_mut() {
                    r.phase = RolePhase::Running;
                    r.ready_from = Some(now);
                }
            }
        }
        Pending::AddRole { service, role } => {
            if let Some(r) = find_role_mut(sub, service, role) {
                r.phase = RolePhase::Running;
                r.ready_from = Some(now);
            }
        }
        Pending::DeleteRole {
            service,
            role,
            media,
        } => {
            let removed = sub
                .hosted_services
                .get_mut(service)
                .and_then(|h| h.deployment.as_mut())
                .and_then(|d| {
                    d.modified = now;
                    let i = d.roles.iter().position(|r| &r.name == role)?;
                    Some(d.roles.remove(i))
                });
            if let Some(r) = removed {
                release_disk(emu, sub, &r, *media, now);
                actions.extend(vm_id(&r).map(HostAction::DeleteVm));
            }
        }
        Pending::DeleteDeployment { service, media } => {
            let deployment = sub
                .hosted_services
                .get_mut(service)
                .and_then(|h| h.deployment.take());
            for r in deployment.iter().flat_map(|d| d.roles.iter()) {
                release_disk(emu, sub, r, *media, now);
                actions.extend(vm_id(r).map(HostAction::DeleteVm));
            }
        }
        Pending::DeleteHostedService { service } => {
            let deployment = sub
                .hosted_services
                .remove(service)
                .and_then(|h| h.deployment);
            for r in deployment.iter().flat_map(|d| d.roles.iter()) {
                release_disk(emu, sub, r, true, now);
                actions.extend(vm_id(r).map(HostAction::DeleteVm));
            }
        }
        Pending::PowerRole {
            service,
            role,
            start,
            deallocate,
        } => {
            if let Some(r) = find_role_mut(sub, service, role) {
                if let Some(id) = vm_id(r) {
                    if *start {
                        r.phase = RolePhase::Running;
                        r.ready_from = Some(now);
                        r.deallocated = false;
                        actions.push(HostAction::StartVm(id));
                    } else {
                        r.phase = RolePhase::Stopped;
                        r.deallocated = *deallocate;
                        actions.push(HostAction::StopVm(id));
                    }
                }
            }
        }
        Pending::Nothing => {}
        Pending::Arm(p) => super::arm_effects::apply(sub, p, op_id, actions),
    }
}

/// Undo what accepting a failed operation already changed; host work goes to `actions`.
pub fn roll_back(
    sub: &mut Subscription,
    pending: &Pending,
    op_id: &str,
    error: &OpError,
    actions: &mut Vec<HostAction>,
) {
    match pending {
        Pending::CreateStorage { name } => {
            sub.storage_accounts.remove(name);
        }
        Pending::CreateDeployment { service } => {
            let deployment = sub
                .hosted_services
                .get_mut(service)
                .and_then(|h| h.deployment.take());
            for r in deployment.iter().flat_map(|d| d.roles.iter()) {
                sub.disks.remove(&r.os_disk.disk_name);
                actions.extend(vm_id(r).map(HostAction::DeleteVm));
            }
        }
        Pending::AddRole { service, role } => {
            let removed = sub
                .hosted_services
                .get_mut(service)
                .and_then(|h| h.deployment.as_mut())
                .and_then(|d| {
                    let i = d.roles.iter().position(|r| &r.name == role)?;
                    Some(d.roles.remove(i))
                });
            if let Some(r) = removed {
                sub.disks.remove(&r.os_disk.disk_name);
                actions.extend(vm_id(&r).map(HostAction::DeleteVm));
            }
        }
        Pending::DeleteRole { service, .. }
        | Pending::DeleteDeployment { service, .. }
        | Pending::DeleteHostedService { service } => {
            if let Some(d) = sub
                .hosted_services
                .get_mut(service)
                .and_then(|h| h.deployment.as_mut())
            {
                d.phase = DeploymentPhase::Running;
                for r in d.roles.iter_mut() {
                    if r.phase == RolePhase::Deleting {
                        r.phase = RolePhase::Running;
                    }
                }
            }
        }
        Pending::AddCertificate { .. }
        | Pending::DeleteCertificate { .. }
        | Pending::SetNetwork { .. }
        | Pending::PowerRole { .. }
        | Pending::Nothing => {}
        Pending::Arm(p) => super::arm_effects::roll_back(sub, p, op_id, error),
    }
}

fn find_role_mut<'a>(sub: &'a mut Subscription, service: &str, role: &str) -> Option<&'a mut Role> {
    sub.hosted_services
        .get_mut(service)
        .and_then(|h| h.deployment.as_mut())
        .and_then(|d| d.roles.iter_mut().find(|r| r.name == role))
}

/// Create (through the backend) the VMs of a Create Deployment / Add Role operation that
/// have no VM yet. Called before the operation's modelled duration elapses; a backend
/// failure makes the operation fail.
pub async fn create_pending_vms(emu: &Arc<Emulator>, sub_id: &str, op_id: &str) {
    super::arm_effects::create_vm(emu, sub_id, op_id).await;
    let specs: Vec<(String, String, VmSpec)> = {
        let st = emu.lock();
        let Some(sub) = st.subscriptions.get(sub_id) else {
            return;
        };
        let Some(op) = sub.operations.get(op_id) else {
            return;
        };
        if op.fail_with.is_some() {
            return;
        }
        let (service, only) = match &op.pending {
            Some(Pending::CreateDeployment { service }) => (service.clone(), None),
            Some(Pending::AddRole { service, role }) => (service.clone(), Some(role.clone())),
            _ => return,
        };
        let Some(d) = sub
            .hosted_services
            .get(&service)
            .and_then(|h| h.deployment.as_ref())
        else {
            return;
        };
        d.roles
            .iter()
            .filter(|r| r.vm.is_none() && only.as_ref().is_none_or(|o| *o == r.name))
            .filter_map(|r| {
                r.vm_spec
                    .clone()
                    .map(|s| (service.clone(), r.name.clone(), s))
            })
            .collect()
    };
    for (service, role, spec) in specs {
        let created = emu.backend.create(&spec).await;
        let mut st = emu.lock();
        let Some(sub) = st.subscriptions.get_mut(sub_id) else {
            return;
        };
        match created {
            Ok(info) => {
                if let Some(r) = find_role_mut(sub, &service, &role) {
                    r.vm = Some(info);
                }
                emu.persist(&st);
            }
            Err(e) => {
                tracing::error!("backend could not create VM {}: {e}", spec.id);
                if let Some(op) = sub.operations.get_mut(op_id) {
                    op.fail_with = Some(OpError {
                        message: format!("{INTERNAL_ERROR_MESSAGE} (VM backend: {e})"),
                        ..OpError::internal()
                    });
                }
                emu.persist(&st);
                return;
            }
        }
    }
}
