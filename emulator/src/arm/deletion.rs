//! DELETE of a resource in a group, as every Resource Manager type answers it: 204 when it
//! does not exist, the running delete's operation when one is under way, otherwise the
//! type's own check (409 while something still uses it) and modelled duration, then 202
//! with the long-running operation's headers. Only the type-specific parts differ.

use std::sync::Arc;
use std::time::Duration;

use super::errors::{empty, ArmError, ArmResult};
use super::network::kind_name;
use super::operations::{self, HINT_DELETE};
use super::request::ArmRequest;
use super::ArmFace;
use crate::engine::Emulator;
use crate::model::arm::{ArmPending, ArmResource, ResourceKind};
use crate::model::{now_ms, Subscription};

/// Delete `name` of `kind` in group `rg`. `start` decides for a resource not yet being
/// deleted: an error when it may not go, else the modelled duration in seconds (unscaled).
pub fn delete_resource(
    face: &ArmFace,
    emu: &Arc<Emulator>,
    ctx: &ArmRequest,
    rg: &str,
    kind: ResourceKind,
    name: &str,
    start: impl FnOnce(&Subscription, &ArmResource) -> Result<f64, ArmError>,
) -> ArmResult {
    let mut st = emu.lock();
    let sub = st
        .subscriptions
        .get_mut(&ctx.subscription)
        .ok_or_else(|| ArmError::subscription_not_found(&ctx.subscription))?;
    let group = rg.to_ascii_lowercase();
    let key = kind.key(name);
    let Some(g) = sub.arm.groups.get(&group) else {
        return Err(ArmError::group_not_found(rg));
    };
    let Some(r) = g.resources.get(&key).cloned() else {
        return Ok(empty(204));
    };
    let location = r.body["location"].as_str().unwrap_or("eastus").to_string();
    let running = r
        .operation
        .clone()
        .filter(|_| r.provisioning_state() == "Deleting");
    let (op, remaining) = match running {
        Some(op) => {
            let due = sub.operations.get(&op).map(|o| o.completes_at).unwrap_or(0);
            (op, Duration::from_millis((due - now_ms()).max(0) as u64))
        }
        None => {
            let d = face.latency.scaled(start(sub, &r)?);
            let op = operations::begin(
                emu,
                sub,
                kind_name(kind, "Delete"),
                d,
                ArmPending::Delete {
                    group: group.clone(),
                    key: key.clone(),
                },
            );
            if let Some(rm) = sub
                .arm
                .groups
                .get_mut(&group)
                .and_then(|g| g.resources.get_mut(&key))
            {
                rm.set_provisioning_state("Deleting");
                rm.operation = Some(op.clone());
            }
            (op, d)
        }
    };
    emu.persist(&st);
    Ok(operations::announce(
        empty(202),
        face,
        ctx,
        kind.namespace(),
        &location,
        &op,
        true,
        Some((remaining, HINT_DELETE)),
    ))
}
