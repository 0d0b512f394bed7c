//! The route table of the classic face: method and path (after the subscription) → the
//! handler of one resource family. Operations the emulator does not model (VM images,
//! affinity groups, data disks) get a 400 saying so; known paths with an unknown verb get
//! Azure's InvalidHttpVerb, anything else ResourceNotFound. It holds no logic of its own.

use std::sync::Arc;

use super::errors::{ApiError, ApiResult};
use super::request::RequestContext;
use super::{
    certificates, deployments, disks, hosted_services, images, network, network_sites, operations,
    storage, subscription,
};
use crate::engine::Emulator;

pub async fn route(emu: &Arc<Emulator>, ctx: &RequestContext) -> ApiResult {
    let segments: Vec<&str> = ctx.segments.iter().map(String::as_str).collect();
    match (ctx.method.as_str(), segments.as_slice()) {
        ("GET", []) => subscription::get(emu, ctx),
        ("GET", ["locations"]) => Ok(subscription::list_locations()),
        ("GET", ["rolesizes"]) => Ok(subscription::list_role_sizes()),
        ("GET", ["operations", id]) => operations::get(emu, ctx, id),
        ("GET", ["services", "images"]) => Ok(images::list(emu)),
        ("GET", ["services", "images", name]) => images::get(emu, name),
        ("GET", ["services", "vmimages"]) => Ok(images::list_vm_images()),
        (_, ["services", "vmimages", ..]) => Err(ApiError::unsupported("VM images")),
        ("GET", ["affinitygroups"]) => Ok(subscription::list_affinity_groups()),
        (_, ["affinitygroups", ..]) => Err(ApiError::unsupported("Affinity groups")),
        ("GET", ["services", "hostedservices"]) => hosted_services::list(emu, ctx),
        ("POST", ["services", "hostedservices"]) => hosted_services::create(emu, ctx),
        ("GET", ["services", "hostedservices", "operations", "isavailable", name]) => {
            hosted_services::is_available(emu, ctx, name)
        }
        ("GET", ["services", "hostedservices", svc]) => hosted_services::get(emu, ctx, svc).await,
        ("PUT", ["services", "hostedservices", svc]) => hosted_services::update(emu, ctx, svc),
        ("DELETE", ["services", "hostedservices", svc]) => hosted_services::delete(emu, ctx, svc),
        ("GET", ["services", "hostedservices", svc, "certificates"]) => {
            certificates::list(emu, ctx, svc)
        }
        ("POST", ["services", "hostedservices", svc, "certificates"]) => {
            certificates::add(emu, ctx, svc)
        }
        ("GET", ["services", "hostedservices", svc, "certificates", thumbprint]) => {
            certificates::get(emu, ctx, svc, thumbprint)
        }
        ("DELETE", ["services", "hostedservices", svc, "certificates", thumbprint]) => {
            certificates::delete(emu, ctx, svc, thumbprint)
        }
        ("POST", ["services", "hostedservices", svc, "deployments"]) => {
            deployments::create(emu, ctx, svc)
        }
        ("GET", ["services", "hostedservices", svc, "deployments", name]) => {
            deployments::get(emu, ctx, svc, deployments::Which::Name(name)).await
        }
        ("GET", ["services", "hostedservices", svc, "deploymentslots", slot]) => {
            deployments::get(emu, ctx, svc, deployments::Which::Slot(slot)).await
        }
        ("DELETE", ["services", "hostedservices", svc, "deployments", name]) => {
            deployments::delete(emu, ctx, svc, deployments::Which::Name(name))
        }
        ("DELETE", ["services", "hostedservices", svc, "deploymentslots", slot]) => {
            deployments::delete(emu, ctx, svc, deployments::Which::Slot(slot))
        }
        ("POST", ["services", "hostedservices", svc, "deployments", dep, "roles"]) => {
            deployments::add_role(emu, ctx, svc, dep)
        }
        ("GET", ["services", "hostedservices", svc, "deployments", dep, "roles", role]) => {
            deployments::get_role(emu, ctx, svc, dep, role)
        }
        ("DELETE", ["services", "hostedservices", svc, "deployments", dep, "roles", role]) => {
            deployments::delete_role(emu, ctx, svc, dep, role)
        }
        (_, ["services", "hostedservices", _, "deployments", _, "roles", _, disks, ..])
            if disks.eq_ignore_ascii_case("datadisks") =>
        {
            Err(ApiError::unsupported("Data disks"))
        }
        (
            "POST",
            ["services", "hostedservices", svc, "deployments", dep, "roleinstances", role, op],
        ) if op.eq_ignore_ascii_case("operations") => {
            deployments::role_operation(emu, ctx, svc, dep, role)
        }
        (
            "POST",
            ["services", "hostedservices", svc, "deployments", dep, "roleinstances", role],
        ) => deployments::reboot_instance(emu, ctx, svc, dep, role),
        ("GET", ["services", "storageservices"]) => storage::list(emu, ctx),
        ("POST", ["services", "storageservices"]) => storage::create(emu, ctx),
        ("GET", ["services", "storageservices", "operations", "isavailable", name]) => {
            storage::is_available(emu, ctx, name)
        }
        ("GET", ["services", "storageservices", name]) => storage::get(emu, ctx, name),
        ("PUT", ["services", "storageservices", name]) => storage::update(emu, ctx, name),
        ("DELETE", ["services", "storageservices", name]) => storage::delete(emu, ctx, name),
        ("GET", ["services", "storageservices", name, "keys"]) => storage::keys(emu, ctx, name),
        ("POST", ["services", "storageservices", name, "keys"]) => {
            storage::regenerate_keys(emu, ctx, name)
        }
        ("GET", ["services", "networking", "media"]) => network::get_configuration(emu, ctx),
        ("PUT", ["services", "networking", "media"]) => network::set_configuration(emu, ctx),
        ("GET", ["services", "networking", "virtualnetwork"]) => network_sites::list(emu, ctx),
        ("GET", ["services", "disks"]) => disks::list(emu, ctx),
        ("GET", ["services", "disks", name]) => disks::get(emu, ctx, name),
        ("DELETE", ["services", "disks", name]) => disks::delete(emu, ctx, name),
        (_, path) if known_path(path) => Err(ApiError::invalid_verb()),
        _ => Err(ApiError::unknown_resource()),
    }
}

fn known_path(segments: &[&str]) -> bool {
    matches!(
        segments,
        [] | ["locations"]
            | ["rolesizes"]
            | ["operations", _]
            | ["services", "hostedservices", ..]
            | ["services", "storageservices", ..]
            | ["services", "networking", ..]
            | ["services", "disks", ..]
            | ["services", "images", ..]
    )
}
