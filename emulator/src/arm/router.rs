//! The route table of the ARM face: method and path after `/subscriptions/{id}` (matched
//! case-insensitively) → the handler of one resource family. Known paths with an unknown
//! verb get ARM's 405, unknown resource types its 404. It holds no logic of its own.

use std::sync::Arc;

use serde_json::json;

use super::errors::{json, ArmError, ArmResult};
use super::request::ArmRequest;
use super::{catalog, compute, groups, network, operations, render, resources, ArmFace};
use crate::engine::Emulator;
use crate::model::arm::ResourceKind;

fn method_not_allowed(method: &str) -> ArmError {
    ArmError::new(
        405,
        "MethodNotAllowed",
        format!("The requested resource does not support http method '{method}'."),
    )
}

fn unknown_type(ctx: &ArmRequest, ns: &str, ty: &str) -> ArmError {
    ArmError::new(
        404,
        "InvalidResourceType",
        format!(
            "The resource type '{ty}' could not be found in the namespace '{ns}' for api version '{}'.",
            ctx.api_version
        ),
    )
}

pub async fn route(face: &ArmFace, emu: &Arc<Emulator>, ctx: &ArmRequest) -> ArmResult {
    let l: Vec<&str> = ctx.lower.iter().map(String::as_str).collect();
    let s: Vec<&str> = ctx.segments.iter().map(String::as_str).collect();
    let m = ctx.method.as_str();
    match (m, l.as_slice()) {
        ("GET", []) => subscription(emu, ctx),
        ("GET", ["locations"]) => catalog::list_locations(ctx),
        ("GET", ["resourcegroups"]) => groups::list(emu, ctx),
        ("GET", ["operationresults", _]) => operations::group_result(face, emu, ctx, s[1]),
        (_, ["resourcegroups", _]) => match m {
            "PUT" => groups::put(face, emu, ctx, s[1]).await,
            "GET" => groups::get(emu, ctx, s[1]),
            "HEAD" => groups::head(emu, ctx, s[1]),
            "PATCH" => groups::patch(emu, ctx, s[1]),
            "DELETE" => groups::delete(face, emu, ctx, s[1]),
            _ => Err(method_not_allowed(m)),
        },
        ("GET", ["resourcegroups", _, "resources"]) => groups::resources(emu, ctx, s[1]),
        (_, ["resourcegroups", _, "providers", ns, ty, rest @ ..]) => {
            let Some(kind) = ResourceKind::from_path(ns, ty) else {
                return Err(unknown_type(ctx, s[3], s[4]));
            };
            in_group(face, emu, ctx, s[1], kind, &s[5..], rest).await
        }
        ("GET", ["providers", "microsoft.compute", "locations", loc, "vmsizes"]) => {
            catalog::vm_sizes(loc)
        }
        ("GET", ["providers", "microsoft.compute", "locations", loc, "usages"]) => {
            catalog::usages(emu, ctx, loc)
        }
        ("GET", ["providers", "microsoft.compute", "locations", loc, "publishers", ..]) => {
            catalog::images(emu, ctx, loc, &ctx.lower[4..])
        }
        ("GET", ["providers", _, "locations", _, "operations", _]) => {
            operations::status(face, emu, ctx, s[1], s[5])
        }
        ("GET", ["providers", "microsoft.network", "locations", _, "operationresults", _]) => {
            operations::network_result(face, emu, ctx, s[5])
        }
        ("GET", ["providers", ns, ty]) => match ResourceKind::from_path(ns, ty) {
            Some(kind) => everywhere(emu, ctx, kind),
            None => Err(unknown_type(ctx, s[1], s[2])),
        },
        _ => Err(ArmError::no_route(&ctx.path)),
    }
}

/// Paths under `resourceGroups/{rg}/providers/{ns}/{type}`: `names` as sent, `rest` lower.
async fn in_group(
    face: &ArmFace,
    emu: &Arc<Emulator>,
    ctx: &ArmRequest,
    rg: &str,
    kind: ResourceKind,
    names: &[&str],
    rest: &[&str],
) -> ArmResult {
    let m = ctx.method.as_str();
    match (m, rest) {
        ("GET", []) => resources::list(emu, ctx, rg, kind),
        (_, []) => Err(method_not_allowed(m)),
        (_, [_]) => {
            let name = names[0];
            match (m, kind) {
                ("GET", _) => resources::get(emu, ctx, rg, kind, name),
                ("PATCH", _) => patch_tags(emu, ctx, rg, kind, name),
                ("PUT", ResourceKind::VirtualMachine) => {
                    compute::put(face, emu, ctx, rg, name).await
                }
                ("PUT", ResourceKind::Disk) => {
                    Err(ArmError::unsupported("Creating a managed disk on its own"))
                }
                ("PUT", _) => network::put(face, emu, ctx, rg, kind, name).await,
                ("DELETE", ResourceKind::VirtualMachine | ResourceKind::Disk) => {
                    compute::delete(face, emu, ctx, rg, kind, name)
                }
                ("DELETE", _) => network::delete(face, emu, ctx, rg, kind, name),
                _ => Err(method_not_allowed(m)),
            }
        }
        ("GET", [_, "subnets"]) if kind == ResourceKind::VirtualNetwork => {
            network::subnet_list(emu, ctx, rg, names[0])
        }
        (_, [_, "subnets", _]) if kind == ResourceKind::VirtualNetwork => match m {
            "GET" => network::subnet_get(emu, ctx, rg, names[0], names[2]),
            "PUT" => network::subnet_put(face, emu, ctx, rg, names[0], names[2]),
            "DELETE" => network::subnet_delete(face, emu, ctx, rg, names[0], names[2]),
            _ => Err(method_not_allowed(m)),
        },
        ("GET", [_, "instanceview"]) if kind == ResourceKind::VirtualMachine => {
            compute::instance_view(emu, ctx, rg, names[0])
        }
        ("GET", [_, "vmsizes"]) if kind == ResourceKind::VirtualMachine => {
            compute::resize_options(emu, ctx, rg, names[0])
        }
        ("POST", [_, _]) if kind == ResourceKind::VirtualMachine => {
            compute::action(face, emu, ctx, rg, names[0], names[1])
        }
        _ => Err(ArmError::no_route(&ctx.path)),
    }
}

/// `PATCH` with `{"tags": {…}}`: the tags change, nothing else.
fn patch_tags(
    emu: &Emulator,
    ctx: &ArmRequest,
    rg: &str,
    kind: ResourceKind,
    name: &str,
) -> ArmResult {
    let body = ctx.json_body()?;
    let mut st = emu.lock();
    let sub = st
        .subscriptions
        .get_mut(&ctx.subscription)
        .ok_or_else(|| ArmError::subscription_not_found(&ctx.subscription))?;
    let g = resources::writable_group(sub, rg)?;
    let gname = g.name.clone();
    let r = g
        .resources
        .get_mut(&kind.key(name))
        .ok_or_else(|| ArmError::resource_not_found(&kind.full_type(), name, &gname))?;
    if let Some(t) = body.get("tags").filter(|t| t.is_object()) {
        r.body["tags"] = t.clone();
        if r.body.get("etag").is_some() {
            r.body["etag"] = json!(network::etag());
        }
    }
    let r = r.clone();
    let refs = render::Refs::for_rendering(sub, r.kind);
    let shown = render::resource(&r, &refs, false);
    emu.persist(&st);
    Ok(json(200, &shown))
}

/// `GET /subscriptions/{sub}`.
fn subscription(emu: &Emulator, ctx: &ArmRequest) -> ArmResult {
    let _ = emu;
    Ok(json(
        200,
        &json!({
            "id": ctx.sub_path(),
            "subscriptionId": ctx.subscription,
            "displayName": format!("Emulated subscription {}", ctx.subscription),
            "state": "Enabled",
            "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"},
            "authorizationSource": "RoleBased",
        }),
    ))
}

/// `GET /subscriptions/{sub}/providers/{ns}/{type}`: every resource of a type.
fn everywhere(emu: &Emulator, ctx: &ArmRequest, kind: ResourceKind) -> ArmResult {
    let items = {
        let st = emu.lock();
        let sub = st
            .subscriptions
            .get(&ctx.subscription)
            .ok_or_else(|| ArmError::subscription_not_found(&ctx.subscription))?;
        let refs = render::Refs::for_rendering(sub, kind);
        sub.arm
            .groups
            .values()
            .flat_map(|g| g.resources.values())
            .filter(|r| r.kind == kind)
            .map(|r| render::resource(r, &refs, false))
            .collect()
    };
    groups::page(ctx, items)
}
