//! Resource groups (azure-arm-api.md §3): PUT (synchronous, 201 then 200; 409 while the
//! group is being deleted or when it exists in another location), GET, HEAD (204/404 with
//! no body), PATCH of tags, list with `$filter` on a tag and `$top`/`nextLink` paging, the
//! list of a group's resources, and DELETE (202 + `Location` only; the group and everything
//! in it go when the modelled time has passed; `Deleting` meanwhile).

use std::sync::Arc;

use serde_json::{json, Value};

use super::catalog;
use super::errors::{empty, json, ArmError, ArmResult};
use super::operations::{self, HINT_GROUP_DELETE};
use super::render::{self, Refs};
use super::request::ArmRequest;
use super::resources::group_in;
use super::{urls, ArmFace};
use crate::engine::Emulator;
use crate::model::arm::{ArmPending, ResourceGroup, ResourceKind};
use crate::model::now_ms;

/// Items per page when a list is asked for without `$top`.
const PAGE: usize = 1000;

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 90
        && !name.ends_with('.')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || "_-.()".contains(c))
}

pub async fn put(face: &ArmFace, emu: &Emulator, ctx: &ArmRequest, name: &str) -> ArmResult {
    if !valid_name(name) {
        return Err(ArmError::new(
            400,
            "InvalidResourceGroup",
            format!("The provided resource group name '{name}' has these invalid characters. The name can only be a letter, digit, '-', '.', '(', ')' or '_', up to 90 characters, not ending with '.'."),
        ));
    }
    let body = ctx.json_body()?;
    let Some(loc_text) = body["location"].as_str() else {
        return Err(ArmError::new(
            400,
            "LocationRequired",
            "The location property is required for this definition.",
        ));
    };
    let Some(location) = catalog::location(loc_text) else {
        let names: Vec<&str> = catalog::LOCATIONS.iter().map(|(l, _)| *l).collect();
        return Err(ArmError::new(
            400,
            "LocationNotAvailableForResourceGroup",
            format!("The provided location '{loc_text}' is not available for resource group. List of available regions is '{}'.", names.join(",")),
        ));
    };
    let tags = match &body["tags"] {
        Value::Null => None,
        t @ Value::Object(_) => Some(t.clone()),
        _ => return Err(ArmError::invalid_content("tags must be an object")),
    };
    // Synchronous, but not instantaneous.
    tokio::time::sleep(face.latency.scaled(face.latency.group_put)).await;
    let key = name.to_ascii_lowercase();
    let mut st = emu.lock();
    let sub = st
        .subscriptions
        .get_mut(&ctx.subscription)
        .ok_or_else(|| ArmError::subscription_not_found(&ctx.subscription))?;
    let status = match sub.arm.groups.get_mut(&key) {
        Some(g) if g.deleting => return Err(ArmError::group_being_deleted(&g.name)),
        Some(g) if g.location != location => {
            return Err(ArmError::new(
                409,
                "InvalidResourceGroupLocation",
                format!("Invalid resource group location '{location}'. The Resource group already exists in location '{}'.", g.location),
            ))
        }
        Some(g) => {
            g.tags = tags;
            200
        }
        None => {
            sub.arm.groups.insert(
                key.clone(),
                ResourceGroup {
                    name: name.to_string(),
                    location: location.to_string(),
                    tags,
                    deleting: false,
                    created: now_ms(),
                    resources: Default::default(),
                },
            );
            201
        }
    };
    let g = sub.arm.groups.get(&key).cloned().unwrap_or_default();
    let kind = "ArmPutResourceGroup";
    operations::finished(emu, sub, kind);
    emu.persist(&st);
    Ok(json(status, &render::group(&ctx.subscription, &g)))
}

fn get_group(emu: &Emulator, ctx: &ArmRequest, name: &str) -> Result<ResourceGroup, ArmError> {
    let st = emu.lock();
    st.subscriptions
        .get(&ctx.subscription)
        .and_then(|s| s.arm.groups.get(&name.to_ascii_lowercase()))
        .cloned()
        .ok_or_else(|| ArmError::group_not_found(name))
}

pub fn get(emu: &Emulator, ctx: &ArmRequest, name: &str) -> ArmResult {
    let g = get_group(emu, ctx, name)?;
    Ok(json(200, &render::group(&ctx.subscription, &g)))
}

pub fn head(emu: &Emulator, ctx: &ArmRequest, name: &str) -> ArmResult {
    match get_group(emu, ctx, name) {
        Ok(_) => Ok(empty(204)),
        Err(_) => {
            let mut r = empty(404);
            r.headers
                .push(("x-ms-failure-cause".into(), "gateway".into()));
            Ok(r)
        }
    }
}

pub fn patch(emu: &Emulator, ctx: &ArmRequest, name: &str) -> ArmResult {
    let body = ctx.json_body()?;
    let mut st = emu.lock();
    let g = st
        .subscriptions
        .get_mut(&ctx.subscription)
        .and_then(|s| s.arm.groups.get_mut(&name.to_ascii_lowercase()))
        .ok_or_else(|| ArmError::group_not_found(name))?;
    if g.deleting {
        return Err(ArmError::group_being_deleted(&g.name));
    }
    match &body["tags"] {
        Value::Null => {}
        t @ Value::Object(_) => g.tags = Some(t.clone()),
        _ => return Err(ArmError::invalid_content("tags must be an object")),
    }
    let g = g.clone();
    emu.persist(&st);
    Ok(json(200, &render::group(&ctx.subscription, &g)))
}

/// `$filter=tagName eq 'k' and tagValue eq 'v'` (or just `tagName eq 'k'`).
fn tag_filter(ctx: &ArmRequest) -> Result<Option<(String, Option<String>)>, ArmError> {
    let Some(f) = ctx.query("$filter") else {
        return Ok(None);
    };
    let quoted = |key: &str| -> Option<String> {
        let lower = f.to_ascii_lowercase();
        let i = lower.find(&format!("{key} eq '"))? + key.len() + 5;
        let rest = &f[i..];
        Some(rest[..rest.find('\'')?].to_string())
    };
    match quoted("tagname") {
        Some(name) => Ok(Some((name, quoted("tagvalue")))),
        None => Err(ArmError::new(
            400,
            "InvalidFilterInQueryString",
            format!("Invalid $filter '{f}' specified in the query string."),
        )),
    }
}

/// One page of `items` (`$top`, `$skiptoken`) with its `nextLink`.
pub fn page(ctx: &ArmRequest, items: Vec<Value>) -> ArmResult {
    let top = ctx
        .query("$top")
        .and_then(|t| t.parse::<usize>().ok())
        .filter(|t| *t > 0)
        .unwrap_or(PAGE);
    let skip = ctx
        .query("$skiptoken")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(0);
    let total = items.len();
    let value: Vec<Value> = items.into_iter().skip(skip).take(top).collect();
    let mut body = json!({ "value": value });
    if skip + top < total {
        let mut q: Vec<String> = ctx
            .query
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skiptoken"))
            .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
            .collect();
        q.push(format!("%24skiptoken={}", skip + top));
        q.sort();
        let path = ctx.path.split('?').next().unwrap_or(&ctx.path);
        body["nextLink"] = json!(ctx.url(&format!("{path}?{}", q.join("&"))));
    }
    Ok(json(200, &body))
}

fn escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn list(emu: &Emulator, ctx: &ArmRequest) -> ArmResult {
    let filter = tag_filter(ctx)?;
    let groups: Vec<ResourceGroup> = {
        let st = emu.lock();
        st.subscriptions
            .get(&ctx.subscription)
            .map(|s| s.arm.groups.values().cloned().collect())
            .unwrap_or_default()
    };
    let items = groups
        .iter()
        .filter(|g| match &filter {
            None => true,
            Some((k, v)) => g
                .tags
                .as_ref()
                .and_then(|t| t.as_object())
                .and_then(|t| t.iter().find(|(tk, _)| tk.eq_ignore_ascii_case(k)))
                .is_some_and(|(_, tv)| v.as_ref().is_none_or(|v| tv.as_str() == Some(v))),
        })
        .map(|g| render::group(&ctx.subscription, g))
        .collect();
    page(ctx, items)
}

/// `GET resourceGroups/{rg}/resources[?$filter=resourceType eq '…']`.
pub fn resources(emu: &Emulator, ctx: &ArmRequest, name: &str) -> ArmResult {
    let st = emu.lock();
    let (sub, g) = group_in(&st, ctx, name)?;
    let want = ctx.query("$filter").and_then(|f| {
        let lower = f.to_ascii_lowercase();
        let i = lower.find("resourcetype eq '")? + 17;
        let rest = &f[i..];
        Some(rest[..rest.find('\'')?].to_ascii_lowercase())
    });
    let refs = Refs::build(sub);
    let items = g
        .resources
        .values()
        .filter(|r| {
            want.as_ref()
                .is_none_or(|w| r.kind.full_type().eq_ignore_ascii_case(w))
        })
        .map(|r| render::generic(r, &refs))
        .collect();
    drop(st);
    page(ctx, items)
}

pub fn delete(face: &ArmFace, emu: &Arc<Emulator>, ctx: &ArmRequest, name: &str) -> ArmResult {
    let forced = ctx
        .query("forceDeletionTypes")
        .map(|t| {
            t.split(',').all(|x| {
                let x = x.trim();
                x.eq_ignore_ascii_case("Microsoft.Compute/virtualMachines")
                    || x.eq_ignore_ascii_case("Microsoft.Compute/virtualMachineScaleSets")
            })
            .then_some(true)
            .ok_or_else(|| {
                ArmError::new(
                    400,
                    "InvalidForceDeletionResourceTypes",
                    format!("The resource types '{t}' are not supported for force deletion. Supported types: 'Microsoft.Compute/virtualMachines,Microsoft.Compute/virtualMachineScaleSets'."),
                )
            })
        })
        .transpose()?
        .unwrap_or(false);
    let key = name.to_ascii_lowercase();
    let mut st = emu.lock();
    let sub = st
        .subscriptions
        .get_mut(&ctx.subscription)
        .ok_or_else(|| ArmError::subscription_not_found(&ctx.subscription))?;
    let g = sub
        .arm
        .groups
        .get(&key)
        .cloned()
        .ok_or_else(|| ArmError::group_not_found(name))?;
    // A delete in progress: the same operation again.
    let running = sub
        .operations
        .values()
        .filter(|o| o.status == crate::model::OpStatus::InProgress)
        .find(|o| {
            matches!(&o.pending, Some(crate::model::Pending::Arm(ArmPending::DeleteGroup { group })) if *group == key)
        })
        .map(|o| (o.id.clone(), o.completes_at));
    let (op, due) = match running {
        Some(r) => r,
        None => {
            let count =
                |k: &[ResourceKind]| g.resources.values().filter(|r| k.contains(&r.kind)).count();
            let secs = face.latency.group_delete_secs(
                count(&[ResourceKind::VirtualMachine]),
                count(&[
                    ResourceKind::NetworkInterface,
                    ResourceKind::PublicIp,
                    ResourceKind::Disk,
                ]),
                count(&[
                    ResourceKind::VirtualNetwork,
                    ResourceKind::NetworkSecurityGroup,
                ]),
                forced,
            );
            let duration = face.latency.scaled(secs);
            if let Some(gm) = sub.arm.groups.get_mut(&key) {
                gm.deleting = true;
                for r in gm.resources.values_mut() {
                    r.set_provisioning_state("Deleting");
                }
            }
            let op = operations::begin(
                emu,
                sub,
                "ArmDeleteResourceGroup",
                duration,
                ArmPending::DeleteGroup { group: key.clone() },
            );
            let due = now_ms() + duration.as_millis() as i64;
            for r in sub
                .arm
                .groups
                .get_mut(&key)
                .into_iter()
                .flat_map(|g| g.resources.values_mut())
            {
                r.operation = Some(op.clone());
            }
            (op, due)
        }
    };
    emu.persist(&st);
    let remaining = std::time::Duration::from_millis((due - now_ms()).max(0) as u64);
    let mut r = empty(202);
    r.headers.push((
        "Location".into(),
        urls::group_delete_url(ctx, &g.name, &g.location, &op),
    ));
    r.headers.push((
        "Retry-After".into(),
        operations::retry(face, remaining, HINT_GROUP_DELETE),
    ));
    Ok(r)
}
