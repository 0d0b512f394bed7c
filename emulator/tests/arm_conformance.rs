//! Conformance of the ARM face against recorded real Azure traffic and the specification
//! examples (`tests/fixtures/arm-golden` at the repository root, origin and license in its
//! NOTICE), as azure-arm-api.md §10 says: the recorded requests are sent again (with this
//! emulator's subscription, client and resource names) and the answers compared by status
//! code, the set of long-running-operation headers (`Azure-AsyncOperation`, `Location`,
//! `Retry-After`) and the JSON shape — every key the recorded body has, with its type, and
//! the `provisioningState` / `status` values — ignoring GUIDs, etags, timestamps and ids.
//! What the emulator does not model is listed, entry by entry, with why.

mod arm_common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arm_common::*;
use serde_json::{json, Value};

fn golden() -> PathBuf {
    // <repo>/emulator → <repo>/tests/fixtures/arm-golden (shared with the tool's tests)
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/arm-golden");
    assert!(p.is_dir(), "golden data not found at {}", p.display());
    p
}

fn load(rel: &str) -> Value {
    let p = golden().join(rel);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

const VM_REC: &str =
    "azure-sdk-python/test_mgmt_compute_vm.pyTestMgmtComputetest_compute_vm.excerpt.json";
const IP_REC: &str =
    "azure-sdk-python/test_cli_mgmt_network_ip_addresses.pyTestMgmtNetworktest_network.json";

/// Leaf paths of a JSON value (`a.b[].c`) with their JSON type.
fn shape(v: &Value, prefix: &str, out: &mut BTreeMap<String, &'static str>) {
    match v {
        Value::Object(m) => {
            if m.is_empty() {
                out.insert(prefix.to_string(), "object");
            }
            for (k, x) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                shape(x, &p, out);
            }
        }
        Value::Array(a) => {
            out.insert(format!("{prefix}[]"), "array");
            for x in a {
                shape(x, &format!("{prefix}[]"), out);
            }
        }
        Value::String(_) => {
            out.insert(prefix.to_string(), "string");
        }
        Value::Number(_) => {
            out.insert(prefix.to_string(), "number");
        }
        Value::Bool(_) => {
            out.insert(prefix.to_string(), "bool");
        }
        Value::Null => {
            out.insert(prefix.to_string(), "null");
        }
    }
}

/// Differences: recorded keys ours lacks or types differently (but for `skip` prefixes),
/// and `provisioningState` / `status` values that differ.
fn compare(what: &str, recorded: &Value, ours: &Value, skip: &[&str]) -> Vec<String> {
    let (mut r, mut o) = (BTreeMap::new(), BTreeMap::new());
    shape(recorded, "", &mut r);
    shape(ours, "", &mut o);
    let mut diffs = Vec::new();
    for (path, ty) in &r {
        if skip.iter().any(|s| path.starts_with(s)) {
            continue;
        }
        match o.get(path) {
            None => diffs.push(format!("{what}: `{path}` ({ty}) missing")),
            Some(t) if t != ty => diffs.push(format!("{what}: `{path}` is {t}, recorded {ty}")),
            _ => {}
        }
    }
    for key in ["provisioningState", "status"] {
        let (a, b) = (
            recorded["properties"][key]
                .as_str()
                .or(recorded[key].as_str()),
            ours["properties"][key].as_str().or(ours[key].as_str()),
        );
        if a.is_some() && a != b {
            diffs.push(format!("{what}: {key} {b:?}, recorded {a:?}"));
        }
    }
    diffs
}

/// The LRO headers present in a recorded header map / an answer.
fn lro_recorded(h: &Value) -> Vec<String> {
    let mut v: Vec<String> = h
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k.to_ascii_lowercase())
        .filter(|k| ["azure-asyncoperation", "location", "retry-after"].contains(&k.as_str()))
        .collect();
    v.sort();
    v
}

fn lro_ours(a: &Answer) -> Vec<String> {
    let mut v: Vec<String> = ["azure-asyncoperation", "location", "retry-after"]
        .iter()
        .filter(|k| a.header(k).is_some())
        .map(|k| k.to_string())
        .collect();
    v.sort();
    v
}

/// A recorded path with the recording's subscription and hosts replaced by ours.
fn ours(arm: &Arm, uri: &str) -> String {
    uri.replace("https://management.azure.com", "")
        .replace("https://login.microsoftonline.com", "")
        .replace("00000000-0000-0000-0000-000000000000", SUB)
        .replace(&format!("/{SUB}/oauth2"), &format!("/{TENANT}/oauth2"))
        .replace(&format!("/{SUB}/v2.0"), &format!("/{TENANT}/v2.0"))
        .replace("https://", &format!("{}/", arm.url))
}

struct Check<'a> {
    arm: &'a Arm,
    entries: Vec<Value>,
    diffs: Vec<String>,
}

impl Check<'_> {
    /// Replay entry `i` (its request, or `body` instead); compare status, LRO headers and
    /// shape; returns our answer.
    async fn entry(&mut self, i: usize, body: Option<Value>, skip: &[&str]) -> Answer {
        let e = self.entries[i].clone();
        let method = e["RequestMethod"].as_str().unwrap();
        let path = ours(self.arm, e["RequestUri"].as_str().unwrap());
        let body = body.or_else(|| match &e["RequestBody"] {
            Value::Null => None,
            Value::String(s) => serde_json::from_str(s).ok(),
            b => Some(b.clone()),
        });
        let a = self.arm.call(method, &path, body).await;
        let want = e["StatusCode"].as_u64().unwrap() as u16;
        if a.status != want {
            self.diffs.push(format!(
                "#{i} {method} {path}: {} (recorded {want}): {}",
                a.status, a.text
            ));
            return a;
        }
        let (r, o) = (lro_recorded(&e["ResponseHeaders"]), lro_ours(&a));
        if r != o {
            self.diffs.push(format!(
                "#{i} {method} {path}: LRO headers {o:?}, recorded {r:?}"
            ));
        }
        if !e["ResponseBody"].is_null() {
            let d = compare(&format!("#{i} {method}"), &e["ResponseBody"], &a.body, skip);
            self.diffs.extend(d);
        }
        a
    }
}

#[tokio::test]
async fn recorded_vm_and_network_traffic_replays_with_the_same_shapes() {
    let arm = Arm::start(0.02, 100).await;
    let mut c = Check {
        arm: &arm,
        entries: load(VM_REC)["Entries"].as_array().unwrap().clone(),
        diffs: Vec::new(),
    };
    // The identity platform: metadata, instance discovery, the token (an MSAL client
    // announcing continuous access evaluation gets a day-long token with refresh_in).
    c.entry(0, None, &["claims_supported", "scopes_supported"])
        .await;
    c.entry(1, None, &["metadata[]"]).await;
    let form = "client_id={c}&grant_type=client_credentials&client_info=1&client_secret={s}&claims=%7B%22access_token%22%3A+%7B%22xms_cc%22%3A+%7B%22values%22%3A+%5B%22CP1%22%5D%7D%7D%7D&scope=https%3A%2F%2Fmanagement.azure.com%2F.default";
    let t = arm
        .http
        .post(format!("{}/{TENANT}/oauth2/v2.0/token", arm.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.replace("{c}", CLIENT).replace("{s}", &enc(SECRET)))
        .send()
        .await
        .unwrap();
    let token: Value = serde_json::from_str(&t.text().await.unwrap()).unwrap();
    c.diffs.extend(compare(
        "#2 token",
        &c.entries[2]["ResponseBody"].clone(),
        &token,
        &[],
    ));
    assert_eq!(token["expires_in"], 86399);

    // The group the recording worked in (its RG PUT is not in this excerpt).
    let g = arm
        .call(
            "PUT",
            &format!("{}?api-version=2021-04-01", arm.rg("rgname")),
            Some(json!({"location": "eastus"})),
        )
        .await;
    assert_eq!(g.status, 201);
    // VNet PUT (pattern A: 201 Updating + Azure-AsyncOperation + Retry-After), its polls, GET.
    let a = c.entry(3, None, &[]).await;
    let op = a
        .header("azure-asyncoperation")
        .unwrap_or_default()
        .to_string();
    c.diffs.extend(compare(
        "#5 poll",
        &json!({"status": "Succeeded"}),
        &arm.wait(&op).await,
        &[],
    ));
    c.entry(6, None, &["properties.subnets[]"]).await;
    // Subnet PUT, poll, GET.
    let a = c.entry(7, None, &[]).await;
    arm.wait(a.header("azure-asyncoperation").unwrap_or_default())
        .await;
    c.entry(9, None, &[]).await;
    // NIC PUT: answered already Succeeded, with an operation that reports Succeeded at once.
    let a = c.entry(10, None, &[]).await;
    let first = arm
        .call(
            "GET",
            a.header("azure-asyncoperation").unwrap_or_default(),
            None,
        )
        .await;
    c.diffs.extend(compare(
        "#11 poll",
        &c.entries[11]["ResponseBody"].clone(),
        &first.body,
        &[],
    ));
    c.entry(12, None, &[]).await;

    // VM PUT: the recording is a Windows VM with data disks, which this emulator does not
    // boot; the Linux request of the specification example goes instead, to the recorded
    // path. Compared with the recorded answer (minus the Windows and data-disk parts, the
    // platform's tags) and with the example's answer.
    let spec = load("spec-examples/compute/VirtualMachine_Create_WithSshAuthentication.json");
    let mut linux = spec["parameters"]["parameters"].clone();
    linux["location"] = json!("eastus");
    linux["properties"]["hardwareProfile"]["vmSize"] = json!("Standard_D2s_v3");
    linux["properties"]["storageProfile"]["imageReference"] =
        json!({"publisher": IMAGE.0, "offer": IMAGE.1, "sku": IMAGE.2, "version": "latest"});
    linux["properties"]["osProfile"]["adminUsername"] = json!("azureuser");
    linux["properties"]["osProfile"]["linuxConfiguration"]["ssh"]["publicKeys"][0]["path"] =
        json!("/home/azureuser/.ssh/authorized_keys");
    linux["properties"]["networkProfile"]["networkInterfaces"][0]["id"] = json!(format!(
        "{}/resourceGroups/rgname/providers/Microsoft.Network/networkInterfaces/interfacexeb772750",
        arm.sub()
    ));
    let windows = [
        "tags.",
        "properties.osProfile.windowsConfiguration",
        "properties.storageProfile.dataDisks[].",
    ];
    let a = c.entry(16, Some(linux.clone()), &windows).await;
    c.diffs.extend(compare(
        "spec VM 201",
        &spec["responses"]["201"]["body"],
        &a.body,
        &[],
    ));
    let op = a
        .header("azure-asyncoperation")
        .unwrap_or_default()
        .to_string();
    let first = arm.call("GET", &op, None).await;
    c.diffs.extend(compare(
        "#17 poll",
        &c.entries[17]["ResponseBody"].clone(),
        &first.body,
        &[],
    ));
    c.diffs.extend(compare(
        "#19 poll",
        &c.entries[19]["ResponseBody"].clone(),
        &arm.wait(&op).await,
        &[],
    ));
    c.entry(20, None, &windows).await;
    // Instance view: the Windows guest's extension handlers are not modelled.
    c.entry(
        27,
        None,
        &["vmAgent.extensionHandlers", "extensions", "disks[]"],
    )
    .await;
    // Power actions (pattern B: 202 + Azure-AsyncOperation + Location, monitor=true → 200).
    for (post, polls, monitor) in [(35, 38, 39), (40, 42, 43), (44, 46, 47)] {
        let a = c.entry(post, None, &[]).await;
        let done = arm
            .wait(a.header("azure-asyncoperation").unwrap_or_default())
            .await;
        c.diffs.extend(compare(
            &format!("#{polls} poll"),
            &c.entries[polls]["ResponseBody"].clone(),
            &done,
            &[],
        ));
        let m = arm
            .call("GET", a.header("location").unwrap_or_default(), None)
            .await;
        if m.status != c.entries[monitor]["StatusCode"] {
            c.diffs
                .push(format!("#{monitor} monitor: {} ({})", m.status, m.text));
        }
    }
    // generalize (synchronous) and deallocate.
    c.entry(75, None, &[]).await;
    let a = c.entry(76, None, &[]).await;
    arm.wait(a.header("azure-asyncoperation").unwrap_or_default())
        .await;
    // DELETE (202 + both headers + Retry-After), its polls.
    let a = c.entry(80, None, &[]).await;
    let op = a
        .header("azure-asyncoperation")
        .unwrap_or_default()
        .to_string();
    let first = arm.call("GET", &op, None).await;
    if first.body["status"] == "InProgress" && first.header("retry-after").is_none() {
        c.diffs
            .push("#81 poll: no Retry-After while InProgress".into());
    }
    c.diffs.extend(compare(
        "#82 poll",
        &c.entries[82]["ResponseBody"].clone(),
        &arm.wait(&op).await,
        &[],
    ));
    // Not replayed (not modelled, and said so by a 400 naming the feature): VM extensions
    // (#21–26, #48–57), runCommand (#31–34), reapply (#62–65), redeploy (#66–72); nor #73,
    // a PATCH of the VM's network profile (a PATCH changes tags only here).
    let x = arm
        .call(
            "POST",
            &format!(
                "{}/reapply?api-version=2022-08-01",
                arm.vm("rgname", "virtualmachinexeb772750")
            ),
            None,
        )
        .await;
    assert_eq!(
        (x.status, x.body["error"]["code"].as_str()),
        (400, Some("NotSupported")),
        "{}",
        x.text
    );
    assert_eq!(c.diffs, Vec::<String>::new());
}

#[tokio::test]
async fn recorded_public_ip_traffic_replays_with_the_same_shapes() {
    let arm = Arm::start(0.02, 100).await;
    let g = arm
        .call(
            "PUT",
            &format!("{}?api-version=2021-04-01", arm.rg("rgname")),
            Some(json!({"location": "eastus"})),
        )
        .await;
    assert_eq!(g.status, 201);
    let mut c = Check {
        arm: &arm,
        entries: load(IP_REC)["Entries"].as_array().unwrap().clone(),
        diffs: Vec::new(),
    };
    // Public IP PUT with defaults (Basic, Dynamic), poll, GETs, PATCH of tags, DELETE, its
    // poll and result (204). Public IP prefixes (#3–6, #11, #13, #17–21) are not modelled.
    let a = c.entry(7, None, &[]).await;
    let done = arm
        .wait(a.header("azure-asyncoperation").unwrap_or_default())
        .await;
    c.diffs.extend(compare(
        "#8 poll",
        &c.entries[8]["ResponseBody"].clone(),
        &done,
        &[],
    ));
    c.entry(9, None, &[]).await;
    c.entry(10, None, &[]).await;
    c.entry(12, None, &[]).await;
    let a = c.entry(14, None, &[]).await;
    let done = arm
        .wait(a.header("azure-asyncoperation").unwrap_or_default())
        .await;
    c.diffs.extend(compare(
        "#15 poll",
        &c.entries[15]["ResponseBody"].clone(),
        &done,
        &[],
    ));
    let r = arm
        .call("GET", a.header("location").unwrap_or_default(), None)
        .await;
    if r.status != 204 || lro_ours(&r) != lro_recorded(&c.entries[16]["ResponseHeaders"]) {
        c.diffs
            .push(format!("#16 result: {} {:?}", r.status, lro_ours(&r)));
    }
    assert_eq!(c.diffs, Vec::<String>::new());
}

#[tokio::test]
async fn the_specification_examples_get_answers_of_their_shape() {
    let arm = Arm::start(0.02, 100).await;
    arm.call(
        "PUT",
        &format!("{}?api-version=2021-04-01", arm.rg("rg1")),
        Some(json!({"location": "eastus"})),
    )
    .await;
    let mut diffs = Vec::new();
    let ex = |rel: &str| load(&format!("spec-examples/network/{rel}"));
    let arm_ref = &arm;
    let send = |ty: &'static str, name: &'static str, body: Value| async move {
        let url = format!("{}?api-version=2024-03-01", arm_ref.net("rg1", ty, name));
        arm_ref.call("PUT", &url, Some(body)).await
    };
    let fix = |v: &Value| -> Value {
        serde_json::from_str(
            &v.to_string()
                .replace("/subscriptions/subid/", &format!("/subscriptions/{SUB}/")),
        )
        .unwrap()
    };
    // Network security group with a rule: the rule and the six default rules.
    let e = ex("NetworkSecurityGroupCreateWithRule.json");
    let a = send(
        "networkSecurityGroups",
        "testnsg",
        fix(&e["parameters"]["parameters"]),
    )
    .await;
    let mut want = e["responses"]["201"]["body"].clone();
    want["properties"]["provisioningState"] = json!("Updating");
    diffs.extend(compare(
        "NSG",
        &want,
        &a.body,
        &[
            "properties.securityRules[].properties.provisioningState",
            "properties.defaultSecurityRules[].properties.provisioningState",
        ],
    ));
    arm.wait(a.header("azure-asyncoperation").unwrap()).await;
    // Virtual network with a subnet.
    let e = ex("VirtualNetworkCreateSubnet.json");
    let a = send(
        "virtualNetworks",
        "test-vnet",
        fix(&e["parameters"]["parameters"]),
    )
    .await;
    let mut want = e["responses"]["201"]["body"].clone();
    want["properties"]["provisioningState"] = json!("Updating");
    want["properties"]["subnets"][0]["properties"]["provisioningState"] = json!("Updating");
    diffs.extend(compare("VNet", &want, &a.body, &[]));
    arm.wait(a.header("azure-asyncoperation").unwrap()).await;
    // Public IP with defaults.
    let e = ex("PublicIpAddressCreateDefaults.json");
    let a = send(
        "publicIPAddresses",
        "test-ip",
        fix(&e["parameters"]["parameters"]),
    )
    .await;
    let mut want = e["responses"]["201"]["body"].clone();
    want["properties"]["provisioningState"] = json!("Updating");
    // ipConfiguration appears once a NIC uses the address (checked with the NIC below).
    diffs.extend(compare(
        "public IP",
        &want,
        &a.body,
        &["properties.ipConfiguration"],
    ));
    arm.wait(a.header("azure-asyncoperation").unwrap()).await;
    // NIC: its example's subnet is in a network of its own (rg1-vnet).
    let v = arm.call("PUT", &format!("{}?api-version=2024-03-01", arm.net("rg1", "virtualNetworks", "rg1-vnet")), Some(json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["172.20.0.0/16"]}, "subnets": [{"name": "default", "properties": {"addressPrefix": "172.20.2.0/24"}}]}}))).await;
    arm.wait(v.header("azure-asyncoperation").unwrap()).await;
    let e = ex("NetworkInterfaceCreate.json");
    let mut request = fix(&e["parameters"]["parameters"]);
    // The second configuration asks for an IP prefix (privateIPAddressPrefixLength), which
    // the emulator does not model.
    request["properties"]["ipConfigurations"]
        .as_array_mut()
        .unwrap()
        .truncate(1);
    let a = send("networkInterfaces", "test-nic", request).await;
    assert_eq!(a.status, 201, "{}", a.text);
    diffs.extend(compare(
        "NIC",
        &e["responses"]["201"]["body"],
        &a.body,
        &["properties.ipConfigurations[].properties.privateIPAddressPrefixLength"],
    ));
    assert_eq!(
        a.body["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"],
        "172.20.2.4"
    );
    let ip = arm
        .call(
            "GET",
            &format!(
                "{}?api-version=2024-03-01",
                arm.net("rg1", "publicIPAddresses", "test-ip")
            ),
            None,
        )
        .await;
    diffs.extend(compare(
        "public IP in use",
        &ex("PublicIpAddressGet.json")["responses"]["200"]["body"],
        &ip.body,
        &[
            "properties.ipAddress",
            "properties.dnsSettings",
            "sku.tier",
            "zones",
            // configured in the example, not by the tool: a DDoS plan, IP tags
            "properties.ddosSettings",
            "properties.ipTags[].",
        ],
    ));
    let nic = arm
        .call(
            "GET",
            &format!(
                "{}?api-version=2024-03-01",
                arm.net("rg1", "networkInterfaces", "test-nic")
            ),
            None,
        )
        .await;
    diffs.extend(compare(
        "NIC GET",
        &ex("NetworkInterfaceGet.json")["responses"]["200"]["body"],
        &nic.body,
        &[
            // attached to a VM in the example (macAddress, virtualMachine, primary) — not here
            "properties.macAddress",
            "properties.virtualMachine",
            "properties.primary",
            "properties.networkSecurityGroup",
            "properties.ipConfigurations[].properties.loadBalancerBackendAddressPools",
            "properties.ipConfigurations[].properties.loadBalancerInboundNatRules",
            // IP prefixes on a NIC and DSCP configurations are not modelled
            "properties.ipConfigurations[].properties.privateIPAddressPrefixLength",
            "properties.dscpConfiguration",
        ],
    ));
    assert_eq!(diffs, Vec::<String>::new());
}
