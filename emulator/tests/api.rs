//! Behaviour of the emulator's Service Management API through a real HTTPS client with a
//! client certificate: auth, versions, the async lifecycle, exclusivity, disks and leases,
//! quotas, validation, faults and restarts.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[tokio::test]
async fn wrong_or_missing_certificate_is_403_with_azures_body() {
    let h = Harness::start().await;
    let stranger = Cert::new("stranger");
    let c = client_for(&stranger, h.emu.as_ref().unwrap().ca_pem_path());
    let r = c
        .get(format!("{}/{SUB}/services/hostedservices", h.url))
        .header("x-ms-version", "2014-10-01")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let id = r.headers()["x-ms-request-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    assert!(id
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert_eq!(r.text().await.unwrap(), "<Error xmlns=\"http://schemas.microsoft.com/windowsazure\" xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\"><Code>ForbiddenError</Code><Message>The server failed to authenticate the request. Verify that the certificate is valid and is associated with this subscription.</Message></Error>");

    // A registered certificate on somebody else's subscription is refused too.
    let r = h
        .client
        .get(format!(
            "{}/11111111-0000-0000-0000-000000000000/services/hostedservices",
            h.url
        ))
        .header("x-ms-version", "2014-10-01")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);

    // No client certificate at all.
    let ca = reqwest::Certificate::from_pem(
        &std::fs::read(h.emu.as_ref().unwrap().ca_pem_path()).unwrap(),
    )
    .unwrap();
    let anon = reqwest::Client::builder()
        .tls_backend_native()
        .tls_certs_only([ca])
        .build()
        .unwrap();
    let r = anon
        .get(format!("{}/{SUB}", h.url))
        .header("x-ms-version", "2014-10-01")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    h.stop().await;
}

#[tokio::test]
async fn missing_or_bad_version_header_is_400() {
    let h = Harness::start().await;
    for v in [None, Some("yesterday"), Some("2008-01-01")] {
        let mut r = h
            .client
            .get(format!("{}/{SUB}/services/hostedservices", h.url));
        if let Some(v) = v {
            r = r.header("x-ms-version", v);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400);
        assert!(r.headers().contains_key("x-ms-request-id"));
        let b = r.text().await.unwrap();
        assert!(
            b.contains("<Code>MissingOrIncorrectVersionHeader</Code>"),
            "{b}"
        );
    }
    h.stop().await;
}

#[tokio::test]
async fn full_create_poll_get_delete_sequence() {
    let h = Harness::start().await;
    let key = Cert::new("sshkey");
    let tp = key.thumbprint();
    h.base("svc1", "sa1", &key).await;

    // Create Deployment: 202, InProgress at first, Deploying while it runs.
    let (s, id, b) = h
        .send(
            "POST",
            "/services/hostedservices/svc1/deployments",
            Some(&deployment_xml("svc1", "node1", 1222, &tp, "sa1")),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    assert!(b.is_empty());
    let (_, first) = h.get(&format!("/operations/{id}")).await;
    assert!(first.contains("<Status>InProgress</Status>"), "{first}");
    let dashed = format!(
        "{}-{}-{}-{}-{}",
        &id[0..8],
        &id[8..12],
        &id[12..16],
        &id[16..20],
        &id[20..]
    );
    assert!(first.contains(&format!("<ID>{dashed}</ID>")), "{first}");
    let (s, during) = h
        .get("/services/hostedservices/svc1/deploymentslots/Production")
        .await;
    assert_eq!(s, 200);
    assert!(during.contains("<Status>Deploying</Status>"), "{during}");
    let op = h.wait_op(&id).await;
    assert!(
        op.contains("<Status>Succeeded</Status><HttpStatusCode>200</HttpStatusCode>"),
        "{op}"
    );

    // Instances progress to ReadyRole; endpoints are VIP:PublicPort on loopback.
    let ready = h
        .wait_deployment("svc1", |b| {
            b.contains("<InstanceStatus>ReadyRole</InstanceStatus>")
        })
        .await;
    assert!(ready.contains("<PowerState>Started</PowerState>"));
    assert!(ready.contains("<HostName>node1</HostName>"));
    assert!(ready.contains("<PublicPort>1222</PublicPort>"));
    let vip = between(&ready, "Vip").unwrap();
    assert!(
        vip.starts_with("127.") && !vip.starts_with("127.0."),
        "{vip}"
    );
    assert!(ready.contains("<Status>Running</Status>"));

    // Second VM through Add Role.
    h.ok_async(
        "POST",
        "/services/hostedservices/svc1/deployments/svc1/roles",
        Some(&add_role_xml("node2", 1223, &tp, "sa1")),
    )
    .await;
    let (s, role) = h
        .get("/services/hostedservices/svc1/deployments/svc1/roles/node2")
        .await;
    assert_eq!(s, 200);
    assert!(role.starts_with("<PersistentVMRole xmlns="), "{role}");
    assert!(role.contains("<Port>1223</Port>"));

    // The SSH key reached the backend spec in OpenSSH form.
    let inv = h.inventory().await;
    let roles = &inv["subscriptions"][SUB]["hosted_services"][0]["deployment"]["roles"];
    assert_eq!(roles.as_array().unwrap().len(), 2);
    assert_eq!(roles[0]["endpoints"][0]["public"], format!("{vip}:1222"));
    assert_eq!(
        inv["subscriptions"][SUB]["disks"].as_array().unwrap().len(),
        2
    );

    // Delete with comp=media: deployment, disks gone; hosted service and storage deletable.
    h.ok_async(
        "DELETE",
        "/services/hostedservices/svc1/deployments/svc1?comp=media",
        None,
    )
    .await;
    let (s, b) = h
        .get("/services/hostedservices/svc1/deployments/svc1")
        .await;
    assert_eq!(
        (s, b.contains("No deployments were found.")),
        (404, true),
        "{b}"
    );
    let (s, _, b) = h
        .send("DELETE", "/services/hostedservices/svc1", None)
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, id, _) = h
        .send("DELETE", "/services/storageservices/sa1", None)
        .await;
    assert_eq!(s, 200);
    // Synchronous requests are pollable operations too.
    assert!(h.wait_op(&id).await.contains("<Status>Succeeded</Status>"));
    let inv = h.inventory().await;
    let s = &inv["subscriptions"][SUB];
    for k in ["hosted_services", "storage_accounts", "disks"] {
        assert!(s[k].as_array().unwrap().is_empty(), "{k} leaked: {inv}");
    }
    h.stop().await;
}

#[tokio::test]
async fn concurrent_role_adds_get_409_exclusive_access() {
    let h = Harness::start_with(|o| o.time_scale = 0.05).await;
    let key = Cert::new("k");
    let tp = key.thumbprint();
    h.base("svc2", "sa2", &key).await;
    h.ok_async(
        "POST",
        "/services/hostedservices/svc2/deployments",
        Some(&deployment_xml("dep2", "r0", 1222, &tp, "sa2")),
    )
    .await;
    let (s1, id1, _) = h
        .send(
            "POST",
            "/services/hostedservices/svc2/deployments/dep2/roles",
            Some(&add_role_xml("r1", 1223, &tp, "sa2")),
        )
        .await;
    assert_eq!(s1, 202);
    let (s2, _, b2) = h
        .send(
            "POST",
            "/services/hostedservices/svc2/deployments/dep2/roles",
            Some(&add_role_xml("r2", 1224, &tp, "sa2")),
        )
        .await;
    assert_eq!(s2, 409, "{b2}");
    assert!(b2.contains(&format!("<Code>ConflictError</Code><Message>Windows Azure is currently performing an operation with x-ms-requestid {id1} on this deployment that requires exclusive access.</Message>")), "{b2}");
    // GETs are not blocked while the operation runs.
    let (s, _) = h
        .get("/services/hostedservices/svc2/deployments/dep2")
        .await;
    assert_eq!(s, 200);
    assert!(h.wait_op(&id1).await.contains("Succeeded"));
    // After it finishes the retry goes through.
    h.ok_async(
        "POST",
        "/services/hostedservices/svc2/deployments/dep2/roles",
        Some(&add_role_xml("r2", 1224, &tp, "sa2")),
    )
    .await;
    h.stop().await;
}

#[tokio::test]
async fn duplicate_public_port_fails_the_operation_like_azure() {
    let h = Harness::start().await;
    let key = Cert::new("k");
    let tp = key.thumbprint();
    h.base("svc3", "sa3", &key).await;
    h.ok_async(
        "POST",
        "/services/hostedservices/svc3/deployments",
        Some(&deployment_xml("svc3", "a", 22, &tp, "sa3")),
    )
    .await;
    let (s, id, _) = h
        .send(
            "POST",
            "/services/hostedservices/svc3/deployments/svc3/roles",
            Some(&add_role_xml("b", 22, &tp, "sa3")),
        )
        .await;
    assert_eq!(s, 202);
    let op = h.wait_op(&id).await;
    assert!(op.contains("<Status>Failed</Status><HttpStatusCode>400</HttpStatusCode><Error><Code>BadRequest</Code><Message>Port 22 is already in use by one of the endpoints in this deployment. Ensure that the port numbers are unique across endpoints within a deployment.</Message></Error>"), "{op}");
    let inv = h.inventory().await;
    let roles = &inv["subscriptions"][SUB]["hosted_services"][0]["deployment"]["roles"];
    assert_eq!(
        roles.as_array().unwrap().len(),
        1,
        "failed role must not remain"
    );
    h.stop().await;
}

#[tokio::test]
async fn unknown_ssh_fingerprint_and_bad_xml_are_rejected() {
    let h = Harness::start().await;
    let key = Cert::new("k");
    h.base("svc4", "sa4", &key).await;
    let (s, _, b) = h
        .send(
            "POST",
            "/services/hostedservices/svc4/deployments",
            Some(&deployment_xml(
                "d",
                "a",
                22,
                "0123456789ABCDEF0123456789ABCDEF01234567",
                "sa4",
            )),
        )
        .await;
    assert_eq!(s, 400);
    assert!(b.contains("The certificate with thumbprint 0123456789ABCDEF0123456789ABCDEF01234567 was not found."), "{b}");

    let (s, _, b) = h
        .send(
            "POST",
            "/services/hostedservices",
            Some("<CreateHostedService><Servi"),
        )
        .await;
    assert_eq!(s, 400);
    assert!(b.contains("<Code>InvalidXmlRequest</Code>"), "{b}");

    // Out of order (Name before LocalPort) inside InputEndpoint.
    let bad = deployment_xml("d", "a", 22, &key.thumbprint(), "sa4").replace(
        "<LocalPort>22</LocalPort><Name>SSH</Name>",
        "<Name>SSH</Name><LocalPort>22</LocalPort>",
    );
    let (s, _, b) = h
        .send(
            "POST",
            "/services/hostedservices/svc4/deployments",
            Some(&bad),
        )
        .await;
    assert_eq!(s, 400);
    assert!(b.contains("<Code>BadRequest</Code><Message>InputEndpoint has a missing, misspelled or out of order element.</Message>"), "{b}");

    // Misspelled Fingerprint.
    let bad = deployment_xml("d", "a", 22, &key.thumbprint(), "sa4")
        .replace("Fingerprint>", "FingerPrint>");
    let (s, _, b) = h
        .send(
            "POST",
            "/services/hostedservices/svc4/deployments",
            Some(&bad),
        )
        .await;
    assert_eq!(s, 400);
    assert!(
        b.contains("Fingerprint and Path in SSHPublicKey should not be null or empty."),
        "{b}"
    );
    h.stop().await;
}

#[tokio::test]
async fn disk_lease_blocks_storage_deletion_until_it_clears() {
    let h = Harness::start().await;
    let key = Cert::new("k");
    let tp = key.thumbprint();
    h.base("svc5", "sa5", &key).await;
    h.ok_async(
        "POST",
        "/services/hostedservices/svc5/deployments",
        Some(&deployment_xml("svc5", "vm", 22, &tp, "sa5")),
    )
    .await;
    let (_, disks) = h.get("/services/disks").await;
    let disk = between(&disks, "Name").unwrap().to_string();
    assert!(disk.starts_with("svc5-vm-0-"), "{disk}");
    // Delete without comp=media: the disk stays registered and attached for a while.
    h.ok_async(
        "DELETE",
        "/services/hostedservices/svc5/deployments/svc5",
        None,
    )
    .await;
    let (s, b) = h.get(&format!("/services/disks/{disk}")).await;
    assert_eq!(s, 200);
    assert!(b.contains("<AttachedTo>"), "{b}");
    let (s, _, b) = h
        .send(
            "DELETE",
            &format!("/services/disks/{disk}?comp=media"),
            None,
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert!(b.contains(&format!("A disk with name {disk} is currently in use by virtual machine vm running within hosted service svc5, deployment svc5.")), "{b}");
    let (s, _, b) = h
        .send("DELETE", "/services/storageservices/sa5", None)
        .await;
    assert_eq!(s, 400);
    assert!(b.contains("Storage account sa5 has container(s) which have an active image and/or disk artifacts."), "{b}");
    // Retry until the lease clears (what clients do), then storage deletion works.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut saw_lease = false;
    loop {
        let (s, _, b) = h
            .send(
                "DELETE",
                &format!("/services/disks/{disk}?comp=media"),
                None,
            )
            .await;
        if s == 200 {
            break;
        }
        saw_lease |= s == 409 && b.contains("requires exclusive access");
        assert!(Instant::now() < deadline, "disk lease never cleared: {b}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(saw_lease, "the leased phase (409) was never observed");
    let (s, _, b) = h
        .send("DELETE", "/services/storageservices/sa5", None)
        .await;
    assert_eq!(s, 200, "{b}");
    h.stop().await;
}

#[tokio::test]
async fn quotas_fail_with_the_policy_limit_message() {
    let h = Harness::start_with(|o| {
        o.max_hosted_services = 1;
        o.max_storage_accounts = 1;
        o.max_cores = 2;
    })
    .await;
    let key = Cert::new("k");
    let tp = key.thumbprint();
    h.base("q1", "qsa1", &key).await;
    let (s, _, b) = h
        .send(
            "POST",
            "/services/hostedservices",
            Some(&hosted_service_xml("q2")),
        )
        .await;
    assert_eq!(s, 400);
    assert!(b.contains("The subscription policy limit for resource type 'hosted service count' was exceeded. The limit for resource type 'hosted service count' is 1 per subscription, the current count is 1, and the requested increment is 1."), "{b}");
    let (s, _, b) = h
        .send(
            "POST",
            "/services/storageservices",
            Some(&storage_xml("qsa2")),
        )
        .await;
    assert_eq!(s, 400);
    assert!(
        b.contains("'storage account count' is 1 per subscription, the current count is 1"),
        "{b}"
    );
    h.ok_async(
        "POST",
        "/services/hostedservices/q1/deployments",
        Some(&deployment_xml("q1", "a", 22, &tp, "qsa1")),
    )
    .await;
    h.ok_async(
        "POST",
        "/services/hostedservices/q1/deployments/q1/roles",
        Some(&add_role_xml("b", 23, &tp, "qsa1")),
    )
    .await;
    let (s, _, b) = h
        .send(
            "POST",
            "/services/hostedservices/q1/deployments/q1/roles",
            Some(&add_role_xml("c", 24, &tp, "qsa1")),
        )
        .await;
    assert_eq!(s, 400);
    assert!(b.contains("'cores count' is 2 per subscription, the current count is 2, and the requested increment is 1."), "{b}");
    let (_, sub) = h.get("").await;
    assert!(sub.contains("<MaxCoreCount>2</MaxCoreCount>"));
    assert!(sub.contains("<CurrentCoreCount>2</CurrentCoreCount>"));
    assert!(sub.contains("<CurrentHostedServices>1</CurrentHostedServices>"));
    h.stop().await;
}

/// Run a fixed request sequence and record which fault (if any) each request got.
async fn fault_trace(h: &Harness) -> Vec<String> {
    let mut v = Vec::new();
    for i in 0..40 {
        let (s, _, b) = if i % 2 == 0 {
            h.req("GET", "/services/hostedservices", None).await
        } else {
            h.req("GET", "/locations", None).await
        };
        v.push(format!("{s}:{}", between(&b, "Code").unwrap_or("")));
    }
    v
}

#[tokio::test]
async fn request_faults_are_reproducible_by_seed() {
    let spec = "internal=0.15,busy=0.15,throttle=0.15";
    let a = Harness::start_with(|o| {
        o.faults = spec.into();
        o.seed = 42;
    })
    .await;
    let ta = fault_trace(&a).await;
    let b = Harness::start_with(|o| {
        o.faults = spec.into();
        o.seed = 42;
    })
    .await;
    let tb = fault_trace(&b).await;
    assert_eq!(ta, tb);
    for kind in [
        "500:InternalError",
        "503:ServerBusy",
        "503:TooManyRequests",
        "200:",
    ] {
        assert!(ta.iter().any(|x| x == kind), "{kind} never seen in {ta:?}");
    }
    // Another seed gives another sequence; setting faults at runtime resets the counters.
    let r = b
        .client
        .post(format!("{}/_emulator/faults", b.url))
        .body(format!("{spec},seed=43"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let t43 = fault_trace(&b).await;
    assert_ne!(ta, t43);
    let r = b
        .client
        .post(format!("{}/_emulator/faults", b.url))
        .body(format!("{spec} seed=42"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(fault_trace(&b).await, ta);
    // Bad spec → 400 with the reason.
    let r = b
        .client
        .post(format!("{}/_emulator/faults", b.url))
        .body("explode=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn conflict_opfail_vmfail_and_hang_faults() {
    let h = Harness::start().await;
    let key = Cert::new("k");
    let tp = key.thumbprint();
    h.base("f1", "fsa1", &key).await;

    // Spurious 409 on mutating requests only.
    h.emu.as_ref().unwrap().set_faults("conflict=1").unwrap();
    let (s, _, b) = h
        .send(
            "POST",
            "/services/hostedservices",
            Some(&hosted_service_xml("f2")),
        )
        .await;
    assert_eq!(s, 409);
    assert!(b.contains("requires exclusive access"), "{b}");
    let (s, _) = h.get("/services/hostedservices").await;
    assert_eq!(s, 200);

    // Operations that end Failed, with no effect.
    h.emu.as_ref().unwrap().set_faults("opfail=1").unwrap();
    let (s, id, _) = h
        .send(
            "POST",
            "/services/hostedservices/f1/deployments",
            Some(&deployment_xml("f1", "a", 22, &tp, "fsa1")),
        )
        .await;
    assert_eq!(s, 202);
    let op = h.wait_op(&id).await;
    assert!(op.contains("<Status>Failed</Status><HttpStatusCode>500</HttpStatusCode><Error><Code>InternalError</Code>"), "{op}");
    let (s, _) = h
        .get("/services/hostedservices/f1/deploymentslots/Production")
        .await;
    assert_eq!(s, 404);

    // VMs that never reach ReadyRole.
    h.emu.as_ref().unwrap().set_faults("vmfail=1").unwrap();
    h.ok_async(
        "POST",
        "/services/hostedservices/f1/deployments",
        Some(&deployment_xml("f1", "a", 22, &tp, "fsa1")),
    )
    .await;
    let b = h
        .wait_deployment("f1", |b| {
            b.contains("<InstanceStatus>ProvisioningFailed</InstanceStatus>")
        })
        .await;
    assert!(!b.contains("ReadyRole"));
    let inv = h.inventory().await;
    assert_eq!(
        inv["subscriptions"][SUB]["hosted_services"][0]["deployment"]["roles"][0]
            ["fail_provisioning"],
        true
    );

    // Hangs: the request does not answer within the client's timeout.
    h.emu
        .as_ref()
        .unwrap()
        .set_faults("hang=1,hang_secs=5")
        .unwrap();
    let r = h
        .client
        .get(format!("{}/{SUB}/locations", h.url))
        .header("x-ms-version", "2014-10-01")
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(r.is_err_and(|e| e.is_timeout()));
    h.emu.as_ref().unwrap().set_faults("").unwrap();
    h.stop().await;
}

#[tokio::test]
async fn vm_faults_are_reproducible_by_seed() {
    async fn run(seed: u64) -> Vec<bool> {
        let h = Harness::start_with(|o| {
            o.faults = "vmfail=0.5".into();
            o.seed = seed;
            o.time_scale = 0.0;
        })
        .await;
        let key = Cert::new("k");
        let tp = key.thumbprint();
        h.base("v1", "vsa1", &key).await;
        h.ok_async(
            "POST",
            "/services/hostedservices/v1/deployments",
            Some(&deployment_xml("v1", "r0", 100, &tp, "vsa1")),
        )
        .await;
        for i in 1..8 {
            h.ok_async(
                "POST",
                "/services/hostedservices/v1/deployments/v1/roles",
                Some(&add_role_xml(&format!("r{i}"), 100 + i, &tp, "vsa1")),
            )
            .await;
        }
        let inv = h.inventory().await;
        let v = inv["subscriptions"][SUB]["hosted_services"][0]["deployment"]["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["fail_provisioning"].as_bool().unwrap())
            .collect();
        h.stop().await;
        v
    }
    let a = run(7).await;
    assert_eq!(a, run(7).await);
    assert!(a.contains(&true) && a.contains(&false), "{a:?}");
}

#[tokio::test]
async fn restart_with_the_same_state_dir_keeps_everything() {
    let mut h = Harness::start().await;
    let key = Cert::new("k");
    let tp = key.thumbprint();
    h.base("rs1", "rsa1", &key).await;
    h.ok_async(
        "PUT",
        "/services/networking/media",
        Some("<NetworkConfiguration xmlns=\"http://schemas.microsoft.com/ServiceHosting/2011/07/NetworkConfiguration\"><VirtualNetworkConfiguration><VirtualNetworkSites><VirtualNetworkSite name=\"vn1\" Location=\"West US\"><AddressSpace><AddressPrefix>10.0.0.0/16</AddressPrefix></AddressSpace><Subnets><Subnet name=\"s1\"><AddressPrefix>10.0.0.0/24</AddressPrefix></Subnet></Subnets></VirtualNetworkSite></VirtualNetworkSites></VirtualNetworkConfiguration></NetworkConfiguration>"),
    )
    .await;
    h.ok_async(
        "POST",
        "/services/hostedservices/rs1/deployments",
        Some(&deployment_xml("rs1", "a", 22, &tp, "rsa1")),
    )
    .await;
    // An operation in flight across the restart still completes afterwards.
    let (s, id, _) = h
        .send(
            "POST",
            "/services/hostedservices/rs1/deployments/rs1/roles",
            Some(&add_role_xml("b", 23, &tp, "rsa1")),
        )
        .await;
    assert_eq!(s, 202);
    let before = h.inventory().await;
    let old_url = h.url.clone();
    h.restart().await;
    assert_ne!(old_url, h.url);
    assert!(h.wait_op(&id).await.contains("Succeeded"));
    let after = h.inventory().await;
    let sb = &before["subscriptions"][SUB];
    let sa = &after["subscriptions"][SUB];
    assert_eq!(sb["storage_accounts"], sa["storage_accounts"]);
    assert_eq!(sb["vnet_sites"], sa["vnet_sites"]);
    assert_eq!(before["vip_block"], after["vip_block"]);
    assert_eq!(
        sb["hosted_services"][0]["certificates"],
        sa["hosted_services"][0]["certificates"]
    );
    let roles = sa["hosted_services"][0]["deployment"]["roles"]
        .as_array()
        .unwrap();
    assert_eq!(roles.len(), 2);
    let b = h
        .wait_deployment("rs1", |b| {
            b.matches("<InstanceStatus>ReadyRole</InstanceStatus>")
                .count()
                == 2
        })
        .await;
    assert!(b.contains("<PublicPort>23</PublicPort>"));
    let r = h
        .client
        .get(format!("{}/{SUB}/services/networking/media", h.url))
        .header("x-ms-version", "2014-10-01")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain");
    let net = String::from_utf8(r.bytes().await.unwrap().to_vec()).unwrap();
    assert!(
        net.starts_with(
            "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<NetworkConfiguration"
        ),
        "{net}"
    );
    assert!(net.contains("<VirtualNetworkSite name=\"vn1\" Location=\"West US\">"));
    // endpoint.json was rewritten with the new URL.
    let ep: serde_json::Value = serde_json::from_slice(
        &std::fs::read(h.emu.as_ref().unwrap().state_dir().join("endpoint.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(ep["url"], h.url.as_str());
    h.stop().await;
}

#[tokio::test]
async fn deleting_the_only_role_or_a_busy_service_is_refused() {
    let h = Harness::start().await;
    let key = Cert::new("k");
    let tp = key.thumbprint();
    h.base("ls1", "lsa1", &key).await;
    h.ok_async(
        "POST",
        "/services/hostedservices/ls1/deployments",
        Some(&deployment_xml("ls1", "only", 22, &tp, "lsa1")),
    )
    .await;
    let (s, _, _) = h
        .send(
            "DELETE",
            "/services/hostedservices/ls1/deployments/ls1/roles/only",
            None,
        )
        .await;
    assert_eq!(s, 400);
    let (s, _, b) = h.send("DELETE", "/services/hostedservices/ls1", None).await;
    assert_eq!(s, 409);
    assert!(
        b.contains("A hosted service cannot be deleted while it still contains deployments."),
        "{b}"
    );
    let (s, _, b) = h
        .send(
            "POST",
            "/services/hostedservices/ls1/deployments",
            Some(&deployment_xml("other", "x", 23, &tp, "lsa1")),
        )
        .await;
    assert_eq!(s, 409);
    assert!(
        b.contains("The specified deployment slot Production is occupied."),
        "{b}"
    );
    let (s, b) = h.get("/services/hostedservices/ls1/deployments/nope").await;
    assert_eq!(s, 404);
    assert!(
        b.contains("The deployment name 'nope' does not exist."),
        "{b}"
    );

    // Shutdown and start through role operations.
    h.ok_async(
        "POST",
        "/services/hostedservices/ls1/deployments/ls1/roleinstances/only/Operations",
        Some("<ShutdownRoleOperation xmlns=\"http://schemas.microsoft.com/windowsazure\"><OperationType>ShutdownRoleOperation</OperationType><PostShutdownAction>Stopped</PostShutdownAction></ShutdownRoleOperation>"),
    )
    .await;
    let b = h
        .wait_deployment("ls1", |b| {
            b.contains("<InstanceStatus>StoppedVM</InstanceStatus>")
        })
        .await;
    assert!(
        b.contains("<PowerState>Stopped</PowerState>") && b.contains("<Status>Suspended</Status>"),
        "{b}"
    );
    h.ok_async(
        "POST",
        "/services/hostedservices/ls1/deployments/ls1/roleinstances/only/Operations",
        Some("<StartRoleOperation xmlns=\"http://schemas.microsoft.com/windowsazure\"><OperationType>StartRoleOperation</OperationType></StartRoleOperation>"),
    )
    .await;
    h.wait_deployment("ls1", |b| {
        b.contains("<InstanceStatus>ReadyRole</InstanceStatus>")
    })
    .await;

    // Delete the hosted service with comp=media: deployment, VMs and disks go with it.
    h.ok_async("DELETE", "/services/hostedservices/ls1?comp=media", None)
        .await;
    let inv = h.inventory().await;
    assert!(inv["subscriptions"][SUB]["hosted_services"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(inv["subscriptions"][SUB]["disks"]
        .as_array()
        .unwrap()
        .is_empty());
    let (s, _, b) = h
        .send("DELETE", "/services/storageservices/lsa1", None)
        .await;
    assert_eq!(s, 200, "{b}");
    h.stop().await;
}

#[test]
fn latency_model_is_readable_and_scaled() {
    let m = azure_emulator::latency_model(0.5);
    assert_eq!(m.create_deployment, 53.0);
    assert_eq!(m.scaled(m.add_role), Duration::from_secs_f64(21.5));
    let one = m.start_critical_path(1, 1);
    let many = m.start_critical_path(20, 1);
    assert!(many > one);
    assert_eq!(
        one,
        Duration::from_secs_f64((34.0 + 53.0 + 90.0) * 0.5),
        "network (the slowest of the independent first steps) + deployment + boot"
    );
    assert_eq!(
        many - one,
        Duration::from_secs_f64(19.0 * 43.0 * 0.5),
        "each extra role in one service adds one serial Add Role"
    );
}

#[tokio::test]
async fn a_deployment_holds_at_most_50_roles() {
    let h = Harness::start_with(|o| o.time_scale = 0.0).await;
    let key = Cert::new("k");
    let tp = key.thumbprint();
    h.base("big", "bigsa", &key).await;
    h.ok_async(
        "POST",
        "/services/hostedservices/big/deployments",
        Some(&deployment_xml("big", "r0", 2000, &tp, "bigsa")),
    )
    .await;
    for i in 1..50u16 {
        h.ok_async(
            "POST",
            "/services/hostedservices/big/deployments/big/roles",
            Some(&add_role_xml(&format!("r{i}"), 2000 + i, &tp, "bigsa")),
        )
        .await;
    }
    let (s, _, b) = h
        .send(
            "POST",
            "/services/hostedservices/big/deployments/big/roles",
            Some(&add_role_xml("r50", 2050, &tp, "bigsa")),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("at most 50 roles"), "{b}");
    h.stop().await;
}

/// The request shapes the python SDK / ElastiCluster sent: the empty network template,
/// a vnet deployment without subnets, the SDK's full Role serialisation (empty
/// LoadBalancedEndpointSetName, KeyPairs, IdleTimeoutInMinutes, upper-case TCP).
#[tokio::test]
async fn python_sdk_and_elasticluster_request_shapes_are_accepted() {
    let h = Harness::start().await;
    let key = Cert::new("k");
    let tp = key.thumbprint();
    h.base("ecsu0cs0", "ecsu0st0", &key).await;
    let (s, b) = h.get("/services/networking/media").await;
    assert_eq!(s, 404, "{b}");
    let template = "<NetworkConfiguration xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns=\"http://schemas.microsoft.com/ServiceHosting/2011/07/NetworkConfiguration\">\n  <VirtualNetworkConfiguration><Dns><DnsServers></DnsServers></Dns><VirtualNetworkSites><VirtualNetworkSite name=\"ecsu0vn0\" Location=\"West US\"><AddressSpace><AddressPrefix>10.0.0.0/8</AddressPrefix></AddressSpace><Subnets><Subnet name=\"subnet1\"><AddressPrefix>10.0.0.0/11</AddressPrefix></Subnet></Subnets></VirtualNetworkSite></VirtualNetworkSites></VirtualNetworkConfiguration>\n</NetworkConfiguration>";
    let r = h
        .client
        .put(format!("{}/{SUB}/services/networking/media", h.url))
        .header("x-ms-version", "2014-10-01")
        .header("content-type", "text/plain")
        .body(template)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let id = r.headers()["x-ms-request-id"].to_str().unwrap().to_string();
    assert!(h.wait_op(&id).await.contains("Succeeded"));
    let (_, sites) = h.get("/services/networking/virtualnetwork").await;
    assert!(sites.contains("<Name>ecsu0vn0</Name>"), "{sites}");

    let role = |name: &str, port: u16| {
        format!("<RoleName>{name}</RoleName><RoleType>PersistentVMRole</RoleType><ConfigurationSets><ConfigurationSet><ConfigurationSetType>LinuxProvisioningConfiguration</ConfigurationSetType><HostName>{name}</HostName><UserName>azureuser</UserName><DisableSshPasswordAuthentication>true</DisableSshPasswordAuthentication><SSH><PublicKeys><PublicKey><Fingerprint>{tp}</Fingerprint><Path>/home/azureuser/.ssh/authorized_keys</Path></PublicKey></PublicKeys><KeyPairs><KeyPair><Fingerprint>{tp}</Fingerprint><Path>/home/azureuser/.ssh/id_rsa</Path></KeyPair></KeyPairs></SSH></ConfigurationSet><ConfigurationSet><ConfigurationSetType>NetworkConfiguration</ConfigurationSetType><InputEndpoints><InputEndpoint><LoadBalancedEndpointSetName></LoadBalancedEndpointSetName><LocalPort>22</LocalPort><Name>TCP-{port}</Name><Port>{port}</Port><Protocol>TCP</Protocol><EnableDirectServerReturn>false</EnableDirectServerReturn><IdleTimeoutInMinutes>4</IdleTimeoutInMinutes></InputEndpoint></InputEndpoints><SubnetNames></SubnetNames></ConfigurationSet></ConfigurationSets><OSVirtualHardDisk><DiskLabel>{name}.vhd</DiskLabel><MediaLink>http://ecsu0st0.blob.core.windows.net/vhds/{name}.vhd</MediaLink><SourceImageName>{IMAGE}</SourceImageName></OSVirtualHardDisk><RoleSize>Small</RoleSize>")
    };
    let dep = format!("<Deployment xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns=\"http://schemas.microsoft.com/windowsazure\"><Name>ecsu0cs0</Name><DeploymentSlot>production</DeploymentSlot><Label>azure-slurm-frontend001</Label><RoleList><Role>{}</Role></RoleList><VirtualNetworkName>ecsu0vn0</VirtualNetworkName></Deployment>", role("ec_vm0000_azure-slurm-frontend001", 1222));
    h.ok_async(
        "POST",
        "/services/hostedservices/ecsu0cs0/deployments",
        Some(&dep),
    )
    .await;
    let add = format!("<PersistentVMRole xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns=\"http://schemas.microsoft.com/windowsazure\">{}</PersistentVMRole>", role("ec_vm0001_azure-slurm-compute001", 1223));
    h.ok_async(
        "POST",
        "/services/hostedservices/ecsu0cs0/deployments/ecsu0cs0/roles",
        Some(&add),
    )
    .await;
    let (_, d) = h
        .get("/services/hostedservices/ecsu0cs0/deployments/ecsu0cs0")
        .await;
    assert!(
        d.contains("<VirtualNetworkName>ecsu0vn0</VirtualNetworkName>"),
        "{d}"
    );
    assert!(d.contains("<Protocol>tcp</Protocol>"));
    let (_, disks) = h.get("/services/disks").await;
    let names = all_between(&disks, "Name");
    assert!(
        names
            .iter()
            .any(|n| n.contains("ec_vm0001_azure-slurm-compute001")),
        "{disks}"
    );
    // Removing the site while the deployment uses it fails the operation.
    let r = h
        .client
        .put(format!("{}/{SUB}/services/networking/media", h.url))
        .header("x-ms-version", "2014-10-01")
        .header("content-type", "text/plain")
        .body("<NetworkConfiguration xmlns=\"http://schemas.microsoft.com/ServiceHosting/2011/07/NetworkConfiguration\"><VirtualNetworkConfiguration><VirtualNetworkSites/></VirtualNetworkConfiguration></NetworkConfiguration>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let id = r.headers()["x-ms-request-id"].to_str().unwrap().to_string();
    let op = h.wait_op(&id).await;
    assert!(
        op.contains("<Status>Failed</Status>") && op.contains("ecsu0vn0"),
        "{op}"
    );
    h.stop().await;
}

#[tokio::test]
async fn conflict_and_opfail_faults_are_reproducible_by_seed() {
    async fn run(seed: u64) -> Vec<String> {
        let h = Harness::start_with(|o| {
            o.faults = "conflict=0.3,opfail=0.4".into();
            o.seed = seed;
            o.time_scale = 0.0;
        })
        .await;
        let mut trace = Vec::new();
        for i in 0..12 {
            let (s, id, _) = h
                .send(
                    "POST",
                    "/services/storageservices",
                    Some(&storage_xml(&format!("seedsa{i}"))),
                )
                .await;
            let outcome = if s == 202 {
                let op = h.wait_op(&id).await;
                between(&op, "Status").unwrap_or("").to_string()
            } else {
                s.to_string()
            };
            trace.push(outcome);
        }
        h.stop().await;
        trace
    }
    let a = run(1).await;
    assert_eq!(a, run(1).await);
    for kind in ["409", "Failed", "Succeeded"] {
        assert!(a.iter().any(|x| x == kind), "{kind} never seen in {a:?}");
    }
}

#[tokio::test]
async fn hosted_service_operations_are_exclusive_too() {
    let h = Harness::start_with(|o| o.time_scale = 0.05).await;
    let key = Cert::new("k");
    let tp = key.thumbprint();
    h.base("ex1", "exsa1", &key).await;
    let other = Cert::new("other");
    let (s, id, _) = h
        .send(
            "POST",
            "/services/hostedservices/ex1/certificates",
            Some(&cert_xml(&other)),
        )
        .await;
    assert_eq!(s, 202);
    let (s, _, b) = h
        .send(
            "POST",
            "/services/hostedservices/ex1/deployments",
            Some(&deployment_xml("ex1", "a", 22, &tp, "exsa1")),
        )
        .await;
    assert_eq!(s, 409, "{b}");
    assert!(b.contains("<Message>Windows Azure is currently performing an operation on this hosted service that requires exclusive access.</Message>"), "{b}");
    assert!(h.wait_op(&id).await.contains("Succeeded"));
    let (_, certs) = h.get("/services/hostedservices/ex1/certificates").await;
    assert_eq!(all_between(&certs, "Thumbprint").len(), 2, "{certs}");
    h.ok_async(
        "POST",
        "/services/hostedservices/ex1/deployments",
        Some(&deployment_xml("ex1", "a", 22, &tp, "exsa1")),
    )
    .await;
    h.stop().await;
}
