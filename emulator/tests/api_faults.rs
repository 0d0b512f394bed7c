//! Fault injection through a real HTTPS client: request faults, failed operations, VMs that
//! never get ready and hangs, each reproducible by seed.

mod common;

use std::time::Duration;

use common::*;

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
