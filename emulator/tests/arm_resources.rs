//! The Azure Resource Manager face as a client sees it (reference azure-arm-api.md §9), its
//! resources: network resources (long-running PUT/DELETE, addresses from `.4` reused,
//! in-use refusals), VMs (synchronous refusals for size, image, user and quota; the Compute
//! operation shapes; power actions; `deleteOption`; a guest that never answers), the request
//! budget, seeded faults and the critical-path endpoint.

mod arm_common;

use arm_common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn network_writes_are_long_running_and_nics_get_addresses_from_dot_four() {
    let arm = Arm::start(0.01, 100).await;
    arm.network("n1").await;
    let nsg = format!(
        "{}?api-version=2023-09-01",
        arm.net("n1", "networkSecurityGroups", "nsg")
    );
    let a = arm.call("PUT", &nsg, Some(json!({"location": "eastus", "properties": {"securityRules": [{"name": "ssh", "properties": {"protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": "22", "sourceAddressPrefix": "*", "destinationAddressPrefix": "*", "access": "Allow", "priority": 1000, "direction": "Inbound"}}]}}))).await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.body["properties"]["provisioningState"], "Updating");
    assert_eq!(
        a.body["properties"]["defaultSecurityRules"]
            .as_array()
            .map(Vec::len),
        Some(6)
    );
    let op = a.header("azure-asyncoperation").unwrap().to_string();
    assert!(
        op.contains("/providers/Microsoft.Network/locations/eastus/operations/")
            && op.ends_with("api-version=2023-09-01"),
        "{op}"
    );
    retry_after(&a);
    let first = arm.call("GET", &op, None).await;
    assert!(
        first.body == json!({"status": "InProgress"})
            || first.body == json!({"status": "Succeeded"}),
        "{}",
        first.text
    );
    assert_eq!(arm.wait(&op).await, json!({"status": "Succeeded"}));
    let got = arm.call("GET", &nsg, None).await;
    assert_eq!(got.body["properties"]["provisioningState"], "Succeeded");
    // A duplicate priority is refused.
    let bad = arm.call("PUT", &nsg, Some(json!({"location": "eastus", "properties": {"securityRules": [
        {"name": "a", "properties": {"protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": "22", "sourceAddressPrefix": "*", "destinationAddressPrefix": "*", "access": "Allow", "priority": 100, "direction": "Inbound"}},
        {"name": "b", "properties": {"protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": "80", "sourceAddressPrefix": "*", "destinationAddressPrefix": "*", "access": "Allow", "priority": 100, "direction": "Inbound"}}]}}))).await;
    assert_eq!(
        (bad.status, bad.body["error"]["code"].as_str()),
        (400, Some("SecurityRuleConflict"))
    );
    // A Standard public IP is Static with its (loopback) address at once.
    let pip = format!(
        "{}?api-version=2023-09-01",
        arm.net("n1", "publicIPAddresses", "pip1")
    );
    let p = arm.call("PUT", &pip, Some(json!({"location": "eastus", "sku": {"name": "Standard"}, "properties": {"publicIPAllocationMethod": "Static"}}))).await;
    assert_eq!(p.status, 201, "{}", p.text);
    assert!(
        p.body["properties"]["ipAddress"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.")),
        "{}",
        p.text
    );
    assert_eq!(retry_after(&p), 1);
    arm.wait(p.header("azure-asyncoperation").unwrap()).await;
    // NICs: answered Succeeded at once, addresses from .4, a freed one reused
    let n1 = arm.nic("n1", "nic1", Some("pip1")).await;
    assert_eq!(n1.status, 201, "{}", n1.text);
    assert_eq!(n1.body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        n1.body["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"],
        "10.0.0.4"
    );
    assert!(n1.header("azure-asyncoperation").is_some() && n1.header("retry-after").is_none());
    assert_eq!(
        arm.wait(n1.header("azure-asyncoperation").unwrap()).await["status"],
        "Succeeded"
    );
    let n2 = arm.nic("n1", "nic2", None).await;
    assert_eq!(
        n2.body["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"],
        "10.0.0.5"
    );
    let missing = arm.nic("n1", "nic9", Some("nosuchpip")).await;
    assert_eq!(
        (missing.status, missing.body["error"]["code"].as_str()),
        (400, Some("InvalidResourceReference"))
    );
    // in use: the public IP by nic1, the subnet by both NICs
    let p = arm.call("DELETE", &pip, None).await;
    assert_eq!(
        (p.status, p.body["error"]["code"].as_str()),
        (400, Some("PublicIPAddressCannotBeDeleted"))
    );
    let v = arm
        .call(
            "DELETE",
            &format!(
                "{}?api-version=2023-09-01",
                arm.net("n1", "virtualNetworks", "vnet")
            ),
            None,
        )
        .await;
    assert_eq!(
        (v.status, v.body["error"]["code"].as_str()),
        (400, Some("InUseSubnetCannotBeDeleted"))
    );
    // delete: 202 + both headers; the result Location answers 204 when done
    let d = arm
        .call(
            "DELETE",
            &format!(
                "{}?api-version=2023-09-01",
                arm.net("n1", "networkInterfaces", "nic1")
            ),
            None,
        )
        .await;
    assert_eq!((d.status, d.text.as_str()), (202, ""));
    let loc = d.header("location").unwrap().to_string();
    assert!(loc.contains("/operationResults/"), "{loc}");
    assert_eq!(
        arm.wait(d.header("azure-asyncoperation").unwrap()).await["status"],
        "Succeeded"
    );
    assert_eq!(arm.call("GET", &loc, None).await.status, 204);
    let n3 = arm.nic("n1", "nic3", None).await;
    assert_eq!(
        n3.body["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"], "10.0.0.4",
        "a freed address is reused"
    );
    let gone = arm
        .call(
            "DELETE",
            &format!(
                "{}?api-version=2023-09-01",
                arm.net("n1", "networkInterfaces", "nic1")
            ),
            None,
        )
        .await;
    assert_eq!(gone.status, 204);
}

#[tokio::test]
async fn vms_are_checked_created_powered_and_deleted_as_on_azure() {
    let arm = Arm::start(0.01, 3).await;
    arm.network("v1").await;
    let pip = format!(
        "{}?api-version=2023-09-01",
        arm.net("v1", "publicIPAddresses", "pip1")
    );
    let p = arm.call("PUT", &pip, Some(json!({"location": "eastus", "sku": {"name": "Standard"}, "properties": {"publicIPAllocationMethod": "Static"}}))).await;
    arm.wait(p.header("azure-asyncoperation").unwrap()).await;
    assert_eq!(arm.nic("v1", "nic1", Some("pip1")).await.status, 201);
    assert_eq!(arm.nic("v1", "nic2", None).await.status, 201);
    let vm = |n: &str| format!("{}?api-version=2024-07-01", arm.vm("v1", n));
    let refused = |body: Value| async {
        let a = arm.call("PUT", &vm("vm1"), Some(body)).await;
        (
            a.status,
            a.body["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            a.body["error"]["target"].as_str().map(str::to_string),
            a.text,
        )
    };
    let (s, code, _, text) = refused(arm.vm_body("v1", "vm1", "nic1", "Standard_Huge")).await;
    assert_eq!((s, code.as_str()), (409, "SkuNotAvailable"), "{text}");
    let mut b = arm.vm_body("v1", "vm1", "nic1", "Standard_B2s");
    b["properties"]["storageProfile"]["imageReference"]["offer"] = json!("nosuchoffer");
    let (s, code, target, _) = refused(b).await;
    assert_eq!(
        (s, code.as_str(), target.as_deref()),
        (404, "PlatformImageNotFound", Some("imageReference"))
    );
    let mut b = arm.vm_body("v1", "vm1", "nic1", "Standard_B2s");
    b["properties"]["osProfile"]["adminUsername"] = json!("root");
    let (s, code, target, _) = refused(b).await;
    assert_eq!(
        (s, code.as_str(), target.as_deref()),
        (400, "InvalidParameter", Some("adminUsername"))
    );
    // Accepted: 201 Creating, a Compute operation URL with `p=`, no Location
    let a = arm
        .call(
            "PUT",
            &vm("vm1"),
            Some(arm.vm_body("v1", "vm1", "nic1", "Standard_B2s")),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.body["properties"]["provisioningState"], "Creating");
    assert!(a.header("location").is_none());
    assert_eq!(
        retry_after(&a),
        10,
        "76 s left, at most Azure's recorded 10"
    );
    let op = a.header("azure-asyncoperation").unwrap().to_string();
    assert!(
        op.contains("/providers/Microsoft.Compute/locations/eastus/operations/")
            && op.contains("?p="),
        "{op}"
    );
    let first = arm.call("GET", &op, None).await;
    assert_eq!(first.body["status"], "InProgress");
    let start = first.body["startTime"].as_str().unwrap();
    assert!(
        start.ends_with("+00:00") && start.split('.').nth(1).is_some_and(|f| f.len() == 13),
        "{start}"
    );
    assert!(first.body["name"].is_string());
    let done = arm.wait(&op).await;
    assert_eq!(done["status"], "Succeeded");
    assert!(done["endTime"].is_string());
    let iv = arm
        .call(
            "GET",
            &format!(
                "{}/instanceView?api-version=2024-07-01",
                arm.vm("v1", "vm1")
            ),
            None,
        )
        .await;
    let codes: Vec<&str> = iv.body["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["code"].as_str())
        .collect();
    assert_eq!(codes, ["ProvisioningState/succeeded", "PowerState/running"]);
    let nic = arm
        .call(
            "GET",
            &format!(
                "{}?api-version=2023-09-01",
                arm.net("v1", "networkInterfaces", "nic1")
            ),
            None,
        )
        .await;
    assert!(nic.body["properties"]["virtualMachine"]["id"]
        .as_str()
        .is_some_and(|v| v.ends_with("/virtualMachines/vm1")));
    // quota: 2 of 3 cores used; a second B2s would need 4
    let usages = arm
        .call(
            "GET",
            &format!(
                "{}/providers/Microsoft.Compute/locations/eastus/usages?api-version=2024-07-01",
                arm.sub()
            ),
            None,
        )
        .await;
    let cores = usages.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"]["value"] == "cores")
        .cloned()
        .unwrap();
    assert_eq!(
        (cores["currentValue"].as_u64(), cores["limit"].as_u64()),
        (Some(2), Some(3))
    );
    let q = arm
        .call(
            "PUT",
            &vm("vm2"),
            Some(arm.vm_body("v1", "vm2", "nic2", "Standard_B2s")),
        )
        .await;
    assert_eq!(
        (q.status, q.body["error"]["code"].as_str()),
        (409, Some("OperationNotAllowed")),
        "{}",
        q.text
    );
    let msg = q.body["error"]["message"].as_str().unwrap();
    assert!(msg.starts_with("Operation could not be completed as it results in exceeding approved Total Regional Cores quota. Additional details - Deployment Model: Resource Manager, Location: eastus, Current Limit: 3, Current Usage: 2, Additional Required: 2, (Minimum) New Limit Required: 4."), "{msg}");
    // power off: 202 + both headers (Location with monitor=true), then PowerState/stopped
    let off = arm
        .call(
            "POST",
            &format!("{}/powerOff?api-version=2024-07-01", arm.vm("v1", "vm1")),
            None,
        )
        .await;
    assert_eq!((off.status, off.text.as_str()), (202, ""));
    let monitor = off.header("location").unwrap().to_string();
    assert!(monitor.contains("monitor=true"), "{monitor}");
    arm.wait(off.header("azure-asyncoperation").unwrap()).await;
    assert_eq!(arm.call("GET", &monitor, None).await.status, 200);
    let iv = arm
        .call(
            "GET",
            &format!(
                "{}?$expand=instanceView&api-version=2024-07-01",
                arm.vm("v1", "vm1")
            ),
            None,
        )
        .await;
    assert_eq!(
        iv.body["properties"]["instanceView"]["statuses"][1]["code"],
        "PowerState/stopped"
    );
    // delete: the OS disk and the NIC go with it (deleteOption Delete), the public IP stays
    let d = arm.call("DELETE", &vm("vm1"), None).await;
    assert_eq!(d.status, 202);
    arm.wait(d.header("azure-asyncoperation").unwrap()).await;
    let inv = arm.emu.inventory().await;
    let names: Vec<&str> = inv["subscriptions"][SUB]["resource_groups"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(
        names.contains(&"pip1") && names.contains(&"nic2") && names.contains(&"vnet"),
        "{names:?}"
    );
    assert!(
        !names
            .iter()
            .any(|n| *n == "vm1" || *n == "nic1" || *n == "vm1-osdisk"),
        "{names:?}"
    );
    // a VM whose guest never comes up: the operation fails, the instance view says why
    arm.emu.set_faults("vmfail=1").unwrap();
    let f = arm
        .call(
            "PUT",
            &vm("vm3"),
            Some(arm.vm_body("v1", "vm3", "nic2", "Standard_B1s")),
        )
        .await;
    assert_eq!(f.status, 201, "{}", f.text);
    let end = arm.wait(f.header("azure-asyncoperation").unwrap()).await;
    assert_eq!(
        (end["status"].as_str(), end["error"]["code"].as_str()),
        (Some("Failed"), Some("OSProvisioningTimedOut")),
        "{end}"
    );
    let iv = arm
        .call(
            "GET",
            &format!(
                "{}/instanceView?api-version=2024-07-01",
                arm.vm("v1", "vm3")
            ),
            None,
        )
        .await;
    assert_eq!(
        iv.body["statuses"][0]["code"],
        "ProvisioningState/failed/OSProvisioningTimedOut"
    );
}

#[tokio::test]
async fn request_budgets_and_seeded_faults() {
    // At time scale 1 the read bucket (250, 25/s) runs dry within a burst.
    let arm = Arm::start(1.0, 100).await;
    let list = format!("{}/resourcegroups?api-version=2021-04-01", arm.sub());
    let mut throttled = None;
    for _ in 0..300 {
        let a = arm.call("GET", &list, None).await;
        if a.status == 429 {
            throttled = Some(a);
            break;
        }
    }
    let t = throttled.expect("no 429 within 300 reads");
    assert_eq!(t.body["error"]["code"], "SubscriptionRequestsThrottled");
    assert_eq!(retry_after(&t), 1);
    let arm = Arm::start(0.01, 100).await;
    arm.emu.set_faults("throttle=1").unwrap();
    let t = arm.call("GET", &list, None).await;
    assert_eq!(
        (t.status, t.body["error"]["code"].as_str()),
        (429, Some("SubscriptionRequestsThrottled"))
    );
    retry_after(&t);
    arm.emu.set_faults("internal=1").unwrap();
    let t = arm.call("GET", &list, None).await;
    assert_eq!(
        (t.status, t.body["error"]["code"].as_str()),
        (500, Some("InternalServerError"))
    );
    arm.emu.set_faults("none").unwrap();
    arm.network("f1").await;
    arm.emu.set_faults("opfail=1").unwrap();
    let nsg = format!(
        "{}?api-version=2023-09-01",
        arm.net("f1", "networkSecurityGroups", "nsg")
    );
    let a = arm
        .call("PUT", &nsg, Some(json!({"location": "eastus"})))
        .await;
    assert_eq!(a.status, 201);
    let end = arm.wait(a.header("azure-asyncoperation").unwrap()).await;
    assert_eq!(
        (end["status"].as_str(), end["error"]["code"].as_str()),
        (Some("Failed"), Some("InternalServerError"))
    );
    arm.emu.set_faults("none").unwrap();
    assert_eq!(
        arm.call("GET", &nsg, None).await.body["properties"]["provisioningState"],
        "Failed"
    );
}

#[tokio::test]
async fn the_critical_path_is_served_without_credentials() {
    let arm = Arm::start(0.01, 100).await;
    let c = arm
        .call_as(
            "GET",
            "/_emulator/arm/critical-path?nodes=10&public_ips=1",
            None,
            None,
        )
        .await;
    assert_eq!(c.status, 200, "{}", c.text);
    let m = arm.emu.arm_latency().unwrap();
    assert_eq!(
        c.body["start_s"].as_f64(),
        Some(m.start_critical_path(10, 1))
    );
    assert_eq!(c.body["stop_s"].as_f64(), Some(m.stop_critical_path(10)));
    let n = arm
        .call_as("GET", "/_emulator/arm/counters", None, None)
        .await;
    assert_eq!(n.status, 403);
    let e: Value = serde_json::from_str(&arm.emu.endpoint_json()).unwrap();
    assert_eq!(e["arm_url"], arm.url.as_str());
    assert_eq!(e["authority_url"], arm.url.as_str());
}
