//! The emulator's Service Management API through a real HTTPS client with a client
//! certificate: authentication, versions, the asynchronous lifecycle from create to delete,
//! restarts on the same state dir, the request shapes real clients send, the latency model.

mod common;

use std::time::Duration;

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

/// State is written off the request path, but written: a change reaches the state file
/// while the emulator runs (a killed emulator keeps what it had a moment before).
#[tokio::test]
async fn a_change_reaches_the_state_file_without_a_shutdown() {
    let h = Harness::start().await;
    let file = h.opts.state_dir.join("state.json");
    let before = std::fs::read_to_string(&file).unwrap();
    assert!(!before.contains("persisted1"), "{before}");
    let (s, _, body) = h
        .req(
            "POST",
            "/services/hostedservices",
            Some(&hosted_service_xml("persisted1")),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let now = std::fs::read_to_string(&file).unwrap_or_default();
        if now.contains("persisted1") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new hosted service never reached {}",
            file.display()
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    h.stop().await;
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
async fn bounds_follow_what_the_emulator_holds() {
    let h = Harness::start().await;
    let key = Cert::new("k");
    let tp = key.thumbprint();
    h.base("bsvc", "bsa", &key).await;
    let dep = "/services/hostedservices/bsvc/deployments";
    h.ok_async(
        "POST",
        dep,
        Some(&deployment_xml("bsvc", "r1", 1222, &tp, "bsa")),
    )
    .await;
    for (i, r) in ["r2", "r3"].iter().enumerate() {
        h.ok_async(
            "POST",
            &format!("{dep}/bsvc/roles"),
            Some(&add_role_xml(r, 1223 + i as u16, &tp, "bsa")),
        )
        .await;
    }
    let bounds = || async {
        let r = h
            .client
            .get(format!("{}/_emulator/bounds", h.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        serde_json::from_slice::<serde_json::Value>(&r.bytes().await.unwrap()).unwrap()
    };
    let secs = |v: &serde_json::Value| v.as_f64().unwrap();
    let near = |a: f64, b: f64| (a - b).abs() < 1e-6;
    let b = bounds().await;
    // No virtual network: the storage account (25 s) is the slowest first step, then one
    // Create Deployment and two serial Add Roles, then the last role's boot.
    assert!(
        near(
            secs(&b["start"]["seconds"]),
            (25.0 + 53.0 + 2.0 * 43.0 + 90.0) * 0.01
        ),
        "{b}"
    );
    assert!(
        near(secs(&b["start"]["phases"]["preparation"]), 0.25),
        "{b}"
    );
    assert!(near(secs(&b["stop"]["seconds"]), 0.06), "{b}");
    assert!(
        near(
            secs(&b["stop_without_media"]["seconds"]),
            (6.0 + 60.0 + 120.0) * 0.01
        ),
        "{b}"
    );
    assert_eq!(
        b["layout"]["subscriptions"][0]["cloud_services"][0]["roles"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Deleted without comp=media: the disks hold the storage account for what is left of
    // their detach and lease time.
    h.ok_async("DELETE", &format!("{dep}/bsvc"), None).await;
    let b = bounds().await;
    let stop = secs(&b["stop"]["seconds"]);
    assert!(stop > 0.5 && stop <= 1.8, "{b}");
    assert!(
        b["stop"]["path"][0]["step"]
            .as_str()
            .unwrap()
            .contains("disk busy (bsa)"),
        "{b}"
    );
    assert!(near(secs(&b["start"]["seconds"]), 0.25), "{b}");
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
    assert_eq!(
        m.stop_critical_path(),
        Duration::from_secs_f64((6.0 + 34.0) * 0.5),
        "the deployments, then the virtual network"
    );
}
