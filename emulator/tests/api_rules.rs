//! Azure's rules as the emulator enforces them, through a real HTTPS client: exclusive
//! access (409s), duplicate ports, validation of SSH keys and XML, disk leases, quotas,
//! deployment limits and what cannot be deleted.

mod common;

use std::time::{Duration, Instant};

use common::*;

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
