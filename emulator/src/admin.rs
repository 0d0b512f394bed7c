//! The emulator's own admin face under `/_emulator/` (any registered client certificate,
//! no `x-ms-version`): `GET inventory` (every resource of every subscription, classic and
//! Resource Manager, the ground truth for leak checks), `GET|POST faults`, `GET latency`,
//! `GET bounds` (the start and stop critical paths of the classic resources that exist now,
//! see `model::critical_path`). JSON in and out. It never changes Azure-visible resources and
//! depends on neither face.

use serde_json::{json, Value};

use crate::engine::role_status::{instance_state, status_of, vm_statuses};
use crate::engine::Emulator;
use crate::http::{HttpRequest, HttpResponse};
use crate::model::critical_path::{Bounds, Layout};
use crate::model::faults::FaultRates;
use crate::model::{iso8601, now_ms, OpStatus};
use crate::xml;

/// `segments`: the path segments after `_emulator`.
pub async fn handle(emu: &Emulator, request: &HttpRequest, segments: &[String]) -> HttpResponse {
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["inventory"]) => HttpResponse::json(&inventory(emu).await),
        ("GET", ["faults"]) => HttpResponse::json(&faults_json(emu)),
        ("GET", ["latency"]) => HttpResponse::json(&json!(emu.latency)),
        ("GET", ["bounds"]) => HttpResponse::json(&json!(bounds(emu))),
        ("POST", ["faults"]) | ("PUT", ["faults"]) => {
            let spec = String::from_utf8_lossy(&request.body);
            match FaultRates::parse(&spec) {
                Ok((rates, seed)) => {
                    emu.faults().set(rates, seed);
                    HttpResponse::json(&faults_json(emu))
                }
                Err(e) => HttpResponse::json(&json!({ "error": e.to_string() })).with_status(400),
            }
        }
        _ => HttpResponse::xml_with_status(
            404,
            xml::error_body(
                "ResourceNotFound",
                "The requested URI does not represent any resource on the server.",
            ),
        ),
    }
}

/// The critical paths of a start and a stop of everything the emulator holds now.
pub fn bounds(emu: &Emulator) -> Bounds {
    let layout = {
        let st = emu.lock();
        Layout::of_state(&st, now_ms(), emu.latency.time_scale)
    };
    emu.latency.bounds(&layout)
}

fn faults_json(emu: &Emulator) -> Value {
    let f = emu.faults();
    json!({ "rates": f.rates, "seed": f.seed })
}

/// Every resource per subscription.
pub async fn inventory(emu: &Emulator) -> Value {
    let st = emu.lock().clone();
    let now = now_ms();
    let mut subs = serde_json::Map::new();
    for (id, sub) in &st.subscriptions {
        let mut services = Vec::new();
        for h in sub.hosted_services.values() {
            let dep = match &h.deployment {
                None => Value::Null,
                Some(d) => {
                    let statuses = vm_statuses(emu, d).await;
                    let roles: Vec<Value> = d
                        .roles
                        .iter()
                        .map(|r| {
                            let vm = status_of(&statuses, r);
                            let state = instance_state(emu, r, &vm, now);
                            json!({
                                "name": r.name,
                                "hostname": r.hostname,
                                "user": r.user,
                                "role_size": r.role_size,
                                "instance_status": state.instance_status,
                                "power_state": state.power_state,
                                "backend_status": format!("{vm:?}"),
                                "private_ip": r.vm.as_ref().map(|v| v.private_ip.to_string()),
                                "public_ip": r.vm.as_ref().and_then(|v| v.public_ip).map(|ip| ip.to_string()),
                                "endpoints": r.endpoints.iter().map(|e| json!({
                                    "name": e.name,
                                    "protocol": e.protocol,
                                    "public": format!("{}:{}", h.vip, e.port),
                                    "local_port": e.local_port,
                                })).collect::<Vec<_>>(),
                                "os_disk": r.os_disk.disk_name,
                                "vm_id": r.vm_spec.as_ref().map(|s| s.id.clone()),
                                "fail_provisioning": r.vm_spec.as_ref().map(|s| s.fail_provisioning).unwrap_or(false),
                            })
                        })
                        .collect();
                    json!({
                        "name": d.name,
                        "slot": d.slot,
                        "phase": format!("{:?}", d.phase),
                        "virtual_network": d.virtual_network,
                        "lock": d.lock,
                        "roles": roles,
                    })
                }
            };
            services.push(json!({
                "name": h.name,
                "location": h.location,
                "vip": h.vip.to_string(),
                "lock": h.lock,
                "certificates": h.certificates.iter().map(|c| c.thumbprint.clone()).collect::<Vec<_>>(),
                "deployment": dep,
            }));
        }
        let storage: Vec<Value> = sub
            .storage_accounts
            .values()
            .map(|s| {
                json!({
                    "name": s.name,
                    "status": s.status,
                    "location": s.location,
                    "account_type": s.account_type,
                })
            })
            .collect();
        let disks: Vec<Value> = sub
            .disks
            .values()
            .map(|d| {
                json!({
                    "name": d.name,
                    "media_link": d.media_link,
                    "attached_to": d.attached_to.as_ref().map(|a| json!({
                        "hosted_service": a.hosted_service,
                        "deployment": a.deployment,
                        "role": a.role,
                    })),
                    "lease": d.lease_state(now),
                    "lease_until": d.lease_until.map(iso8601),
                })
            })
            .collect();
        let sites: Vec<Value> = sub
            .network_sites()
            .into_iter()
            .map(|s| {
                json!({
                    "name": s.name,
                    "location": s.location,
                    "address_prefixes": s.prefixes,
                    "subnets": s.subnets.iter().map(|(n, p)| json!({"name": n, "prefix": p})).collect::<Vec<_>>(),
                })
            })
            .collect();
        let ops: Vec<Value> = sub
            .operations
            .values()
            .filter(|o| o.status == OpStatus::InProgress)
            .map(|o| json!({ "id": o.id, "kind": o.kind }))
            .collect();
        subs.insert(
            id.clone(),
            json!({
                "resource_groups": resource_groups(&sub.arm),
                "hosted_services": services,
                "storage_accounts": storage,
                "disks": disks,
                "vnet_sites": sites,
                "network_configuration_set": sub.network.is_some(),
                "operations_in_progress": ops,
            }),
        );
    }
    json!({
        "backend": emu.backend.name(),
        "vip_block": format!("127.{}.{}.0/24", st.vip_block.0, st.vip_block.1),
        "time_scale": emu.latency.time_scale,
        "subscriptions": subs,
    })
}

/// The Resource Manager groups of a subscription and what is in them.
fn resource_groups(arm: &crate::model::arm::ArmSubscription) -> Vec<Value> {
    use base64::Engine;
    arm.groups
        .values()
        .map(|g| {
            let resources: Vec<Value> = g
                .resources
                .values()
                .map(|r| {
                    let vm = r.vm.as_ref();
                    json!({
                        "type": r.kind.full_type(),
                        "name": r.name,
                        "provisioning_state": r.provisioning_state(),
                        "address": r.address.map(|a| a.to_string()),
                        "power_state": vm.map(|v| v.power.code()),
                        "vm_id": vm.map(|v| v.spec.id.clone()),
                        "private_ip": vm.and_then(|v| v.info.as_ref()).map(|i| i.private_ip.to_string()),
                        "public_ip": vm.and_then(|v| v.info.as_ref()).and_then(|i| i.public_ip).map(|i| i.to_string()),
                        "custom_data_bytes": vm.and_then(|v| v.spec.custom_data.as_ref()).map(|c| {
                            base64::engine::general_purpose::STANDARD.decode(c.trim()).map(|b| b.len()).unwrap_or(0)
                        }),
                        "fail_provisioning": vm.map(|v| v.spec.fail_provisioning),
                    })
                })
                .collect();
            json!({
                "name": g.name,
                "location": g.location,
                "tags": g.tags,
                "provisioning_state": if g.deleting { "Deleting" } else { "Succeeded" },
                "resources": resources,
            })
        })
        .collect()
}
