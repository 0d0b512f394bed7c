//! What every Resource Manager resource type shares: finding a resource by the id a request
//! references, the group a write goes into (404 if absent, 409 while being deleted), the
//! `location` of a PUT body, and the reads (GET of one resource, list of a type in a
//! group). Read-only apart from handing out the writable group.

use serde_json::Value;

use super::catalog;
use super::errors::{json, ArmError, ArmResult};
use super::render::{self, Refs};
use super::request::ArmRequest;
use super::urls;
use crate::engine::Emulator;
use crate::model::arm::{ArmResource, ResourceGroup, ResourceKind};
use crate::model::{State, Subscription};

/// The `location` of a PUT body, as a known programmatic name.
pub fn body_location(body: &Value, kind: ResourceKind) -> Result<&'static str, ArmError> {
    let Some(l) = body["location"].as_str() else {
        return Err(ArmError::new(
            400,
            "LocationRequired",
            "The location property is required for this definition.",
        ));
    };
    catalog::location(l).ok_or_else(|| {
        let names: Vec<&str> = catalog::LOCATIONS.iter().map(|(l, _)| *l).collect();
        ArmError::new(
            400,
            "LocationNotAvailableForResourceType",
            format!("The provided location '{l}' is not available for resource type '{}'. List of available regions for the resource type is '{}'.", kind.full_type(), names.join(",")),
        )
    })
}

/// The group a write goes into (404 if absent, 409 while it is being deleted).
pub fn writable_group<'a>(
    sub: &'a mut Subscription,
    rg: &str,
) -> Result<&'a mut ResourceGroup, ArmError> {
    let g = sub
        .arm
        .groups
        .get_mut(&rg.to_ascii_lowercase())
        .ok_or_else(|| ArmError::group_not_found(rg))?;
    if g.deleting {
        return Err(ArmError::group_being_deleted(&g.name));
    }
    Ok(g)
}

/// The request's subscription and its group `rg`, for reading (404 for either when absent).
pub fn group_in<'a>(
    st: &'a State,
    ctx: &ArmRequest,
    rg: &str,
) -> Result<(&'a Subscription, &'a ResourceGroup), ArmError> {
    let sub = st
        .subscriptions
        .get(&ctx.subscription)
        .ok_or_else(|| ArmError::subscription_not_found(&ctx.subscription))?;
    let g = sub
        .arm
        .groups
        .get(&rg.to_ascii_lowercase())
        .ok_or_else(|| ArmError::group_not_found(rg))?;
    Ok((sub, g))
}

/// A resource anywhere in the subscription, by id.
pub fn find<'a>(sub: &'a Subscription, id: &str) -> Option<&'a ArmResource> {
    let (_, rg, kind, name, _) = urls::parse_id(id)?;
    sub.arm
        .groups
        .get(&rg.to_ascii_lowercase())?
        .resources
        .get(&kind.key(&name))
}

/// GET of one resource (any type); `$expand=instanceView` on a VM adds its instance view.
pub fn get(
    emu: &Emulator,
    ctx: &ArmRequest,
    rg: &str,
    kind: ResourceKind,
    name: &str,
) -> ArmResult {
    let st = emu.lock();
    let (sub, g) = group_in(&st, ctx, rg)?;
    let r = g
        .resources
        .get(&kind.key(name))
        .ok_or_else(|| ArmError::resource_not_found(&kind.full_type(), name, &g.name))?;
    let expand = ctx
        .query("$expand")
        .is_some_and(|e| e.eq_ignore_ascii_case("instanceView"));
    let refs = Refs::for_rendering(sub, r.kind);
    let mut resp = json(200, &render::resource(r, &refs, expand));
    if let Some(e) = r.body["etag"].as_str() {
        resp.headers.push(("ETag".into(), e.to_string()));
    }
    Ok(resp)
}

/// GET of every resource of a type in a group.
pub fn list(emu: &Emulator, ctx: &ArmRequest, rg: &str, kind: ResourceKind) -> ArmResult {
    let items: Vec<Value> = {
        let st = emu.lock();
        let (sub, g) = group_in(&st, ctx, rg)?;
        let refs = Refs::for_rendering(sub, kind);
        g.resources
            .values()
            .filter(|r| r.kind == kind)
            .map(|r| render::resource(r, &refs, false))
            .collect()
    };
    super::groups::page(ctx, items)
}
