//! Storage accounts: create (async, `Creating` until done), get, list, keys, regenerate,
//! update, delete (refused while registered disks live in the account), name availability
//! and global uniqueness. Blob URLs of OS disks are resolved to their account here.

use std::sync::Arc;

use rand::RngCore;

use super::errors::{ApiError, ApiResult};
use super::properties;
use super::request::{encode_base64, RequestContext};
use super::urls;
use crate::engine::operations::NewOperation;
use crate::engine::Emulator;
use crate::http::HttpResponse;
use crate::model::{catalog, iso8601, now_ms, Pending, StorageAccount};
use crate::xml::XmlWriter;

const INVALID_NAME: &str = "The name is not a valid storage account name. Storage account names must be between 3 and 24 characters in length and use numbers and lower-case letters only.";

fn valid_name(n: &str) -> bool {
    (3..=24).contains(&n.len())
        && n.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("The storage account '{name}' was not found."))
}

/// A fresh access key: 64 random bytes, base64.
fn new_key() -> String {
    let mut bytes = [0u8; 64];
    rand::rng().fill_bytes(&mut bytes);
    encode_base64(&bytes)
}

pub fn create(emu: &Arc<Emulator>, ctx: &RequestContext) -> ApiResult {
    let doc = ctx.body_xml()?;
    if doc.local() != "CreateStorageServiceInput" {
        return Err(ApiError::invalid_xml());
    }
    let mut w = doc.walk();
    let name = w.req_text("ServiceName")?;
    let description = w.opt_text("Description");
    let label = w.req_text("Label")?;
    let affinity_group = w.opt_text("AffinityGroup");
    let location = w.opt_text("Location");
    let _ = w.opt("GeoReplicationEnabled");
    let ext = properties::parse(w.opt("ExtendedProperties"))?;
    let _ = w.opt("SecondaryReadEnabled");
    let account_type = w
        .opt_text("AccountType")
        .unwrap_or_else(|| "Standard_GRS".into());
    w.finish()?;
    if !valid_name(&name) {
        return Err(ApiError::bad_request(INVALID_NAME));
    }
    let location = match (location, affinity_group) {
        (Some(l), None) => catalog::location(&l)
            .ok_or_else(|| ApiError::bad_request("The location constraint is not valid"))?
            .to_string(),
        (None, Some(a)) => {
            return Err(ApiError::bad_request(format!(
                "The affinity group {a} does not exist."
            )))
        }
        _ => {
            return Err(ApiError::bad_request(
                "The location constraint is not valid",
            ))
        }
    };
    if ![
        "Standard_LRS",
        "Standard_ZRS",
        "Standard_GRS",
        "Standard_RAGRS",
        "Premium_LRS",
    ]
    .contains(&account_type.as_str())
    {
        return Err(ApiError::bad_request(format!(
            "The account type {account_type} is not valid."
        )));
    }
    let max = emu.quotas.max_storage_accounts;
    let mut st = emu.lock();
    let taken_elsewhere = st
        .subscriptions
        .values()
        .any(|s| s.id != ctx.subscription && s.storage_accounts.contains_key(&name));
    let sub = ctx.subscription_mut(&mut st)?;
    if sub.storage_accounts.contains_key(&name) {
        return Err(ApiError::conflict(format!(
            "A storage account named '{name}' already exists in the subscription."
        )));
    }
    if taken_elsewhere {
        return Err(ApiError::conflict(format!(
            "The storage account named '{name}' is already taken."
        )));
    }
    let current = sub.storage_accounts.len() as u32;
    if current + 1 > max {
        return Err(ApiError::quota("storage account count", max, current, 1));
    }
    sub.storage_accounts.insert(
        name.clone(),
        StorageAccount {
            name: name.clone(),
            label,
            description,
            location: Some(location),
            affinity_group: None,
            account_type,
            extended_properties: ext,
            created: now_ms(),
            status: "Creating".into(),
            primary_key: new_key(),
            secondary_key: new_key(),
        },
    );
    let dur = emu.latency.scaled(emu.latency.create_storage_account);
    emu.begin_operation(
        sub,
        &ctx.request_id,
        NewOperation {
            kind: "CreateStorageService",
            duration: dur,
            pending: Pending::CreateStorage { name: name.clone() },
            locks: vec![],
            fail_with: None,
        },
    );
    emu.persist(&st);
    Ok(HttpResponse::empty(202).header(
        "Location",
        urls::created_storage_account(&ctx.subscription, &name),
    ))
}

/// One account's elements; Get Storage Account carries `<Capabilities>`, list items do not.
fn write_account(w: &mut XmlWriter, sub: &str, s: &StorageAccount, capabilities: bool) {
    w.leaf("Url", urls::storage_account(sub, &s.name));
    w.leaf("ServiceName", &s.name);
    w.open("StorageServiceProperties");
    w.leaf_nil("Description", s.description.as_deref());
    let loc = s.location.clone().unwrap_or_default();
    w.leaf("Location", &loc);
    w.leaf("Label", &s.label);
    w.leaf("Status", &s.status);
    w.open("Endpoints");
    for kind in ["blob", "queue", "table", "file"] {
        w.leaf(
            "Endpoint",
            format!("https://{}.{kind}.core.windows.net/", s.name),
        );
    }
    w.close("Endpoints");
    w.leaf("GeoPrimaryRegion", &loc);
    w.leaf("StatusOfPrimary", "Available");
    let geo = matches!(s.account_type.as_str(), "Standard_GRS" | "Standard_RAGRS");
    if geo {
        w.leaf("GeoSecondaryRegion", catalog::paired_region(&loc));
        w.leaf("StatusOfSecondary", "Available");
    } else {
        w.empty("GeoSecondaryRegion");
        w.empty("StatusOfSecondary");
    }
    w.leaf("CreationTime", iso8601(s.created));
    w.empty("CustomDomains");
    w.leaf("AccountType", &s.account_type);
    w.close("StorageServiceProperties");
    properties::write(w, &s.extended_properties);
    if capabilities {
        w.open("Capabilities")
            .leaf("Capability", "PersistentVMRole")
            .close("Capabilities");
    }
}

pub fn get(emu: &Arc<Emulator>, ctx: &RequestContext, name: &str) -> ApiResult {
    let st = emu.lock();
    let s = ctx
        .subscription(&st)?
        .storage_accounts
        .get(name)
        .ok_or_else(|| not_found(name))?;
    let mut w = XmlWriter::with_root("StorageService");
    write_account(&mut w, &ctx.subscription, s, true);
    Ok(HttpResponse::xml(w.finish("StorageService")))
}

pub fn list(emu: &Arc<Emulator>, ctx: &RequestContext) -> ApiResult {
    let st = emu.lock();
    let sub = ctx.subscription(&st)?;
    if sub.storage_accounts.is_empty() {
        return Ok(HttpResponse::xml(XmlWriter::empty_document(
            "StorageServices",
        )));
    }
    let mut w = XmlWriter::with_root("StorageServices");
    for s in sub.storage_accounts.values() {
        w.open("StorageService");
        write_account(&mut w, &ctx.subscription, s, false);
        w.close("StorageService");
    }
    Ok(HttpResponse::xml(w.finish("StorageServices")))
}

fn keys_body(sub: &str, s: &StorageAccount) -> String {
    let mut w = XmlWriter::with_root("StorageService");
    w.leaf("Url", urls::storage_account(sub, &s.name));
    w.open("StorageServiceKeys")
        .leaf("Primary", &s.primary_key)
        .leaf("Secondary", &s.secondary_key)
        .close("StorageServiceKeys");
    w.finish("StorageService")
}

pub fn keys(emu: &Arc<Emulator>, ctx: &RequestContext, name: &str) -> ApiResult {
    let st = emu.lock();
    let s = ctx
        .subscription(&st)?
        .storage_accounts
        .get(name)
        .ok_or_else(|| not_found(name))?;
    Ok(HttpResponse::xml(keys_body(&ctx.subscription, s)))
}

pub fn regenerate_keys(emu: &Arc<Emulator>, ctx: &RequestContext, name: &str) -> ApiResult {
    if !ctx
        .query_param("action")
        .is_some_and(|a| a.eq_ignore_ascii_case("regenerate"))
    {
        return Err(ApiError::missing_query_parameter());
    }
    let doc = ctx.body_xml()?;
    if doc.local() != "RegenerateKeys" {
        return Err(ApiError::invalid_xml());
    }
    let mut w = doc.walk();
    let kt = w.req_text("KeyType")?;
    w.finish()?;
    let mut st = emu.lock();
    let sub = ctx.subscription_mut(&mut st)?;
    let s = sub
        .storage_accounts
        .get_mut(name)
        .ok_or_else(|| not_found(name))?;
    match kt.as_str() {
        "Primary" => s.primary_key = new_key(),
        "Secondary" => s.secondary_key = new_key(),
        _ => {
            return Err(ApiError::bad_request(
                "The key type must be Primary or Secondary.",
            ))
        }
    }
    let body = keys_body(&ctx.subscription, s);
    emu.register_sync(sub, &ctx.request_id, "RegenerateStorageServiceKeys", 200);
    emu.persist(&st);
    Ok(HttpResponse::xml(body))
}

pub fn update(emu: &Arc<Emulator>, ctx: &RequestContext, name: &str) -> ApiResult {
    let doc = ctx.body_xml()?;
    if doc.local() != "UpdateStorageServiceInput" {
        return Err(ApiError::invalid_xml());
    }
    let mut w = doc.walk();
    let description = w.opt_text("Description");
    let label = w.opt_text("Label");
    let _ = w.opt("GeoReplicationEnabled");
    let ext = properties::parse(w.opt("ExtendedProperties"))?;
    let _ = w.opt("CustomDomains");
    let _ = w.opt("SecondaryReadEnabled");
    let account_type = w.opt_text("AccountType");
    w.finish()?;
    let mut st = emu.lock();
    let sub = ctx.subscription_mut(&mut st)?;
    let s = sub
        .storage_accounts
        .get_mut(name)
        .ok_or_else(|| not_found(name))?;
    if description.is_some() {
        s.description = description;
    }
    if let Some(l) = label {
        s.label = l;
    }
    if let Some(t) = account_type {
        s.account_type = t;
    }
    properties::merge(&mut s.extended_properties, ext);
    emu.register_sync(sub, &ctx.request_id, "UpdateStorageService", 200);
    emu.persist(&st);
    Ok(HttpResponse::empty(200))
}

/// Storage account name in a blob URL `http(s)://<name>.blob.core.windows.net/...`.
pub fn account_of_media_link(link: &str) -> Option<String> {
    let rest = link
        .strip_prefix("https://")
        .or_else(|| link.strip_prefix("http://"))?;
    let host = rest.split('/').next()?;
    let name = host.strip_suffix(".blob.core.windows.net")?;
    Some(name.to_ascii_lowercase())
}

pub fn delete(emu: &Arc<Emulator>, ctx: &RequestContext, name: &str) -> ApiResult {
    let mut st = emu.lock();
    let sub = ctx.subscription_mut(&mut st)?;
    if !sub.storage_accounts.contains_key(name) {
        return Err(not_found(name));
    }
    let busy = sub
        .disks
        .values()
        .any(|d| account_of_media_link(&d.media_link).as_deref() == Some(name));
    if busy {
        return Err(ApiError::bad_request(format!("Storage account {name} has container(s) which have an active image and/or disk artifacts. Ensure those artifacts are removed from the image repository before deleting this storage account.")));
    }
    sub.storage_accounts.remove(name);
    emu.register_sync(sub, &ctx.request_id, "DeleteStorageService", 200);
    emu.persist(&st);
    Ok(HttpResponse::empty(200))
}

pub fn is_available(emu: &Arc<Emulator>, ctx: &RequestContext, name: &str) -> ApiResult {
    if !valid_name(name) {
        return Err(ApiError::bad_request(INVALID_NAME));
    }
    let st = emu.lock();
    let mine = ctx.subscription(&st)?.storage_accounts.contains_key(name);
    let elsewhere = st
        .subscriptions
        .values()
        .any(|s| s.storage_accounts.contains_key(name));
    let mut w = XmlWriter::with_root("AvailabilityResponse");
    if mine {
        w.leaf("Result", "false").leaf(
            "Reason",
            format!("A storage account named '{name}' already exists in the subscription."),
        );
    } else if elsewhere {
        w.leaf("Result", "false").leaf(
            "Reason",
            format!("The storage account named '{name}' is already taken."),
        );
    } else {
        w.leaf("Result", "true").leaf_nil("Reason", None);
    }
    Ok(HttpResponse::xml(w.finish("AvailabilityResponse")))
}
