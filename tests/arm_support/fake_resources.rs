//! The resource half of the ARM stand-in: network and compute resources inside a group
//! (PUT with reference, size, image and quota checks; GET, lists, instance views; DELETE
//! with the in-use rules and `deleteOption` cascades).

use std::collections::BTreeSet;
use std::time::Instant;

use serde_json::{json, Value};

use super::fake::{Done, FakeArm, Res, State, SUB};
use super::{Request, Response};

impl FakeArm {
    pub(super) fn resource(
        &self,
        m: &str,
        rg: &str,
        ns: &str,
        ty: &str,
        rest: &[&str],
        req: &Request,
    ) -> Response {
        let mut s = self.state.lock().unwrap();
        let Some(group) = s.groups.get(rg).cloned() else {
            return Response::error(
                404,
                "ResourceGroupNotFound",
                &format!("Resource group '{rg}' could not be found."),
            )
            .with("x-ms-failure-cause", "gateway");
        };
        let rtype = canonical_type(ty);
        let prefix = format!(
            "/subscriptions/{SUB}/resourceGroups/{}/providers/Microsoft.{}/{}",
            group.0,
            if ns == "microsoft.compute" {
                "Compute"
            } else {
                "Network"
            },
            rtype
        );
        if rest.is_empty() {
            if m != "GET" {
                return Response::error(405, "MethodNotAllowed", m);
            }
            let now = Instant::now();
            let fail = self.cfg.lock().unwrap().fail_provisioning.clone();
            let v: Vec<Value> = s
                .res
                .values()
                .filter(|r| r.rg == rg && r.rtype == rtype)
                .map(|r| view(r, now, &fail))
                .collect();
            return Response::json(200, json!({ "value": v }));
        }
        let name = rest[0];
        let id = format!("{prefix}/{name}");
        let key = id.to_ascii_lowercase();
        if rest.len() == 2 && rest[1].eq_ignore_ascii_case("instanceView") && m == "GET" {
            let Some(r) = s.res.get(&key) else {
                return Response::error(404, "ResourceNotFound", "not found");
            };
            let failed = self.cfg.lock().unwrap().fail_provisioning.contains(&r.name);
            let ready = r.ready_at.is_some_and(|t| Instant::now() >= t);
            let statuses = if failed && ready {
                json!([{"code":"ProvisioningState/failed/OSProvisioningTimedOut","level":"Error","displayStatus":"Provisioning failed","message":"OS Provisioning for VM did not finish in the allotted time."}])
            } else {
                json!([{"code":"ProvisioningState/succeeded","level":"Info","displayStatus":"Provisioning succeeded"},{"code":"PowerState/running","level":"Info","displayStatus":"VM running"}])
            };
            return Response::json(200, json!({"computerName": r.name, "statuses": statuses}));
        }
        let nsg_sub = format!("{prefix}/{name}");
        match m {
            "GET" => match s.res.get(&key) {
                Some(r) => {
                    let fail = self.cfg.lock().unwrap().fail_provisioning.clone();
                    Response::json(200, view(r, Instant::now(), &fail))
                }
                None => Response::error(404, "ResourceNotFound", &format!("The Resource 'Microsoft.{}/{rtype}/{name}' under resource group '{rg}' was not found.", if ns == "microsoft.compute" { "Compute" } else { "Network" })),
            },
            "PUT" => {
                if req.header("content-type").is_none_or(|c| !c.starts_with("application/json")) {
                    return Response::error(415, "UnsupportedMediaType", "JSON expected");
                }
                let Ok(mut body) = serde_json::from_str::<Value>(&req.body) else {
                    return Response::error(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized.");
                };
                let exists = s.res.contains_key(&key);
                body["id"] = json!(nsg_sub);
                body["name"] = json!(name);
                body["type"] = json!(format!("Microsoft.{}/{rtype}", if ns == "microsoft.compute" { "Compute" } else { "Network" }));
                match rtype {
                    "virtualMachines" => self.put_vm(&mut s, &key, body, exists, &group.0),
                    "networkInterfaces" => {
                        let ipc = &body["properties"]["ipConfigurations"][0]["properties"];
                        let subnet = ipc["subnet"]["id"].as_str().unwrap_or_default().to_ascii_lowercase();
                        let vnet = subnet.split("/subnets/").next().unwrap_or_default().to_string();
                        let vnet_ok = s.res.get(&vnet).is_some_and(|v| v.body["properties"]["provisioningState"] == "Succeeded");
                        if !vnet_ok {
                            return Response::error(400, "InvalidResourceReference", &format!("Resource {subnet} referenced by resource {id} was not found."));
                        }
                        if let Some(p) = ipc["publicIPAddress"]["id"].as_str() {
                            if !s.res.contains_key(&p.to_ascii_lowercase()) {
                                return Response::error(400, "InvalidResourceReference", &format!("Resource {p} referenced by resource {id} was not found."));
                            }
                        }
                        s.next_private += 1;
                        let ip = format!("10.0.0.{}", 3 + s.next_private);
                        body["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"] = json!(ip);
                        body["properties"]["ipConfigurations"][0]["properties"]["primary"] = json!(true);
                        body["properties"]["provisioningState"] = json!("Succeeded");
                        self.store(&mut s, &key, rtype, name, rg, body.clone(), None, 0);
                        let op = self.new_op(&mut s, Done::Succeed(key.clone()), false);
                        Response::json(if exists { 200 } else { 201 }, body).with("Azure-AsyncOperation", op_url(&op, false))
                    }
                    _ => {
                        if rtype == "virtualNetworks" {
                            let nsg = body["properties"]["subnets"][0]["properties"]["networkSecurityGroup"]["id"].as_str().unwrap_or_default().to_ascii_lowercase();
                            if !s.res.contains_key(&nsg) {
                                return Response::error(400, "InvalidResourceReference", &format!("Resource {nsg} referenced by resource {id} was not found."));
                            }
                        }
                        if rtype == "publicIPAddresses" {
                            s.next_public += 1;
                            body["properties"]["ipAddress"] = json!(format!("198.51.100.{}", s.next_public));
                        }
                        body["properties"]["provisioningState"] = json!("Updating");
                        self.store(&mut s, &key, rtype, name, rg, body.clone(), None, 0);
                        let op = self.new_op(&mut s, Done::Succeed(key.clone()), false);
                        Response::json(if exists { 200 } else { 201 }, body)
                            .with("Azure-AsyncOperation", op_url(&op, false))
                            .with("Retry-After", "1")
                    }
                }
            }
            "DELETE" => {
                if !s.res.contains_key(&key) {
                    return Response::empty(204);
                }
                if rtype == "networkInterfaces" && s.res.values().any(|r| r.rtype == "virtualMachines" && r.body.to_string().to_ascii_lowercase().contains(&key)) {
                    return Response::error(400, "NicInUse", &format!("Network Interface {id} is used by existing resource. In order to delete the network interface, it must be dissociated from the resource."));
                }
                if rtype == "publicIPAddresses" && s.res.values().any(|r| r.rtype == "networkInterfaces" && r.body.to_string().to_ascii_lowercase().contains(&key)) {
                    return Response::error(400, "PublicIPAddressCannotBeDeleted", &format!("Public IP address {id} can not be deleted since it is still allocated to resource."));
                }
                let compute = rtype == "virtualMachines";
                let op = self.new_op(&mut s, Done::Remove(key), compute);
                Response::empty(202)
                    .with("Azure-AsyncOperation", op_url(&op, compute))
                    .with("Location", format!("{{BASE}}/subscriptions/{SUB}/providers/Microsoft.Network/locations/eastus/operationResults/{op}?api-version=2023-09-01"))
                    .with("Retry-After", "1")
            }
            _ => Response::error(405, "MethodNotAllowed", m),
        }
    }

    pub(super) fn put_vm(
        &self,
        s: &mut State,
        key: &str,
        mut body: Value,
        exists: bool,
        rg: &str,
    ) -> Response {
        if !exists {
            // A PUT on an existing VM updates it (ARM PUTs are idempotent): only a PUT
            // that creates one counts. A resumed start may re-send a PUT whose first copy
            // was still in flight when the client died; that must never make a second VM.
            s.vm_creates += 1;
        }
        let c = self.cfg.lock().unwrap().clone();
        let name = body["name"].as_str().unwrap_or_default().to_string();
        if let Some((st, code, msg)) = c.fail_vm_put.get(&name) {
            return Response::error(*st, code, msg);
        }
        let p = &body["properties"];
        let size = p["hardwareProfile"]["vmSize"].as_str().unwrap_or_default();
        let Some((_, cores)) = c.sizes.iter().find(|(n, _)| n.eq_ignore_ascii_case(size)) else {
            return Response::error(409, "SkuNotAvailable", &format!("The requested size for resource '{}' is currently not available in location 'eastus' zones '' for subscription '{SUB}'. Please try another size or deploy to a different location or zones. See https://aka.ms/azureskunotavailable for details.", body["id"].as_str().unwrap_or_default()));
        };
        let img = &p["storageProfile"]["imageReference"];
        let s3 = |k: &str| img[k].as_str().unwrap_or_default().to_string();
        if !c.images.iter().any(|(a, b, d)| {
            a.eq_ignore_ascii_case(&s3("publisher"))
                && b.eq_ignore_ascii_case(&s3("offer"))
                && d.eq_ignore_ascii_case(&s3("sku"))
        }) {
            return Response::json(
                404,
                json!({"error":{"code":"PlatformImageNotFound","message":format!("The platform image '{}:{}:{}:{}' is not available. Verify that all fields in the storage profile are correct.", s3("publisher"), s3("offer"), s3("sku"), s3("version")),"target":"imageReference"}}),
            );
        }
        for nic in p["networkProfile"]["networkInterfaces"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let id = nic["id"].as_str().unwrap_or_default().to_ascii_lowercase();
            if !s.res.contains_key(&id) {
                return Response::error(
                    400,
                    "InvalidResourceReference",
                    &format!(
                        "Resource {id} referenced by resource {} was not found.",
                        body["id"]
                    ),
                );
            }
        }
        let keydata = &p["osProfile"]["linuxConfiguration"]["ssh"]["publicKeys"][0]["keyData"];
        if !keydata.as_str().is_some_and(|k| k.starts_with("ssh-"))
            || p["osProfile"]["linuxConfiguration"]["disablePasswordAuthentication"] != true
        {
            return Response::error(
                400,
                "InvalidParameter",
                "An SSH public key and disablePasswordAuthentication are required.",
            );
        }
        let used: u32 = s
            .res
            .values()
            .filter(|r| r.id.to_ascii_lowercase() != key)
            .map(|r| r.cores)
            .sum();
        if !exists && used + cores > c.core_limit {
            return Response::error(409, "OperationNotAllowed", &format!("Operation could not be completed as it results in exceeding approved Total Regional Cores quota. Additional details - Deployment Model: Resource Manager, Location: eastus, Current Limit: {}, Current Usage: {used}, Additional Required: {cores}, (Minimum) New Limit Required: {}.", c.core_limit, used + cores));
        }
        body["properties"]["provisioningState"] = json!("Creating");
        body["properties"]["vmId"] = json!("00000000-0000-0000-0000-000000000001");
        let ready = Instant::now() + c.vm_boot;
        self.store(
            s,
            key,
            "virtualMachines",
            &name,
            &rg.to_ascii_lowercase(),
            body.clone(),
            Some(ready),
            *cores,
        );
        let op = self.new_op(s, Done::Succeed(key.to_string()), true);
        Response::json(if exists { 200 } else { 201 }, body)
            .with("Azure-AsyncOperation", op_url(&op, true))
            .with("Retry-After", "1")
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn store(
        &self,
        s: &mut State,
        key: &str,
        rtype: &str,
        name: &str,
        rg: &str,
        body: Value,
        ready_at: Option<Instant>,
        cores: u32,
    ) {
        let id = body["id"].as_str().unwrap_or(key).to_string();
        s.res.insert(
            key.to_string(),
            Res {
                id,
                rtype: rtype.to_string(),
                name: name.to_string(),
                rg: rg.to_ascii_lowercase(),
                body,
                ready_at,
                cores,
            },
        );
    }
}

fn canonical_type(ty: &str) -> &'static str {
    match ty {
        "virtualmachines" => "virtualMachines",
        "networkinterfaces" => "networkInterfaces",
        "publicipaddresses" => "publicIPAddresses",
        "virtualnetworks" => "virtualNetworks",
        "networksecuritygroups" => "networkSecurityGroups",
        _ => "unknown",
    }
}

fn op_url(op: &str, compute: bool) -> String {
    if compute {
        format!("{{BASE}}/subscriptions/{SUB}/providers/Microsoft.Compute/locations/eastus/operations/{op}?p=00000000-0000-0000-0000-000000000000&api-version=2024-07-01")
    } else {
        format!("{{BASE}}/subscriptions/{SUB}/providers/Microsoft.Network/locations/eastus/operations/{op}?api-version=2023-09-01")
    }
}

/// A resource as GET shows it now (a VM's provisioning ends at `ready_at`).
fn view(r: &Res, now: Instant, fail: &BTreeSet<String>) -> Value {
    let mut b = r.body.clone();
    if let Some(t) = r.ready_at {
        if now >= t {
            b["properties"]["provisioningState"] = json!(if fail.contains(&r.name) {
                "Failed"
            } else {
                "Succeeded"
            });
        } else {
            b["properties"]["provisioningState"] = json!("Creating");
        }
    }
    if let Some(os) = b["properties"]["osProfile"].as_object_mut() {
        os.remove("customData");
    }
    b
}
