//! Conformance (issue 14 item 2, "addresses come from the subnet"): a classic role whose
//! network configuration names a subnet gets `.4`, `.5`, … of that subnet — across the
//! cloud services of the virtual network, its `StaticVirtualNetworkIPAddress` when free, the
//! address of a deleted role handed out again — and an instance public IP is a loopback
//! address of the emulator's block; the API-only backend no longer hands out 10.0.0.1,
//! 10.0.0.2, … but the lowest free address from `.4` of its own range, reused too.

mod common;

use common::*;

const NETWORK: &str = "<NetworkConfiguration xmlns=\"http://schemas.microsoft.com/ServiceHosting/2011/07/NetworkConfiguration\"><VirtualNetworkConfiguration><VirtualNetworkSites><VirtualNetworkSite name=\"vn1\" Location=\"West US\"><AddressSpace><AddressPrefix>10.1.0.0/16</AddressPrefix></AddressSpace><Subnets><Subnet name=\"s1\"><AddressPrefix>10.1.2.0/24</AddressPrefix></Subnet><Subnet name=\"s2\"><AddressPrefix>10.1.3.0/28</AddressPrefix></Subnet></Subnets></VirtualNetworkSite></VirtualNetworkSites></VirtualNetworkConfiguration></NetworkConfiguration>";

/// A role in `subnet` (with a static address and an instance public IP if asked).
fn role(name: &str, port: u16, tp: &str, sa: &str, subnet: &str, extra: &str) -> String {
    role_body(name, port, tp, sa, Some(subnet)).replace(
        "</SubnetNames></ConfigurationSet>",
        &format!("</SubnetNames>{extra}</ConfigurationSet>"),
    )
}

fn deployment(dep: &str, vnet: Option<&str>, roles: &[String]) -> String {
    let roles: String = roles.iter().map(|r| format!("<Role>{r}</Role>")).collect();
    let vnet = vnet
        .map(|v| format!("<VirtualNetworkName>{v}</VirtualNetworkName>"))
        .unwrap_or_default();
    format!("<Deployment xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns=\"http://schemas.microsoft.com/windowsazure\"><Name>{dep}</Name><DeploymentSlot>production</DeploymentSlot><Label>{dep}</Label><RoleList>{roles}</RoleList>{vnet}</Deployment>")
}

/// (role, IpAddress, public IP address) of every instance of a service's deployment.
async fn addresses(h: &Harness, svc: &str) -> Vec<(String, String, Option<String>)> {
    let d = h.wait_deployment(svc, |d| d.contains("<IpAddress>")).await;
    d.split("<RoleInstance>")
        .skip(1)
        .map(|i| {
            let public = between(i, "PublicIP").and_then(|p| between(p, "Address"));
            (
                between(i, "RoleName").unwrap_or_default().to_string(),
                between(i, "IpAddress").unwrap_or_default().to_string(),
                public.map(str::to_string),
            )
        })
        .collect()
}

fn ip_of(list: &[(String, String, Option<String>)], role: &str) -> String {
    list.iter()
        .find(|(r, _, _)| r == role)
        .map(|(_, ip, _)| ip.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn roles_get_subnet_addresses_from_dot_four_and_deleted_ones_are_reused() {
    let h = Harness::start().await;
    let key = Cert::new("k");
    let tp = key.thumbprint();
    h.base("sn1", "snsa1", &key).await;
    h.ok_async("PUT", "/services/networking/media", Some(NETWORK))
        .await;
    let pip = "<PublicIPs><PublicIP><Name>pip</Name></PublicIP></PublicIPs>";
    let roles = [
        role("a", 2201, &tp, "snsa1", "s1", ""),
        role("b", 2202, &tp, "snsa1", "s1", ""),
        role("c", 2203, &tp, "snsa1", "s1", pip),
        role(
            "d",
            2204,
            &tp,
            "snsa1",
            "s1",
            "<StaticVirtualNetworkIPAddress>10.1.2.20</StaticVirtualNetworkIPAddress>",
        ),
        role("e", 2205, &tp, "snsa1", "s2", ""),
    ];
    h.ok_async(
        "POST",
        "/services/hostedservices/sn1/deployments",
        Some(&deployment("sn1", Some("vn1"), &roles)),
    )
    .await;
    let got = addresses(&h, "sn1").await;
    assert_eq!(ip_of(&got, "a"), "10.1.2.4", "{got:?}");
    assert_eq!(ip_of(&got, "b"), "10.1.2.5", "{got:?}");
    assert_eq!(ip_of(&got, "c"), "10.1.2.6", "{got:?}");
    assert_eq!(ip_of(&got, "d"), "10.1.2.20", "static address: {got:?}");
    assert_eq!(ip_of(&got, "e"), "10.1.3.4", "another subnet: {got:?}");
    // An instance public IP is a loopback address of the emulator's block, not the
    // private address.
    let public = got
        .iter()
        .find(|(r, _, _)| r == "c")
        .and_then(|(_, _, p)| p.clone())
        .unwrap_or_default();
    let block = h.inventory().await["vip_block"]
        .as_str()
        .unwrap_or_default()
        .trim_end_matches("0/24")
        .to_string();
    assert!(public.starts_with(&block), "{public} not in {block}0/24");

    // A deleted role's address is handed out again.
    h.ok_async(
        "DELETE",
        "/services/hostedservices/sn1/deployments/sn1/roles/a",
        None,
    )
    .await;
    let add = format!("<PersistentVMRole xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns=\"http://schemas.microsoft.com/windowsazure\">{}</PersistentVMRole>", role("f", 2206, &tp, "snsa1", "s1", ""));
    h.ok_async(
        "POST",
        "/services/hostedservices/sn1/deployments/sn1/roles",
        Some(&add),
    )
    .await;
    let got = addresses(&h, "sn1").await;
    assert_eq!(ip_of(&got, "f"), "10.1.2.4", "{got:?}");

    // Another cloud service in the same virtual network continues after the taken ones.
    let (s, _, b) = h
        .send(
            "POST",
            "/services/hostedservices",
            Some(&hosted_service_xml("sn2")),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    h.ok_async(
        "POST",
        "/services/hostedservices/sn2/certificates",
        Some(&cert_xml(&key)),
    )
    .await;
    h.ok_async(
        "POST",
        "/services/hostedservices/sn2/deployments",
        Some(&deployment(
            "sn2",
            Some("vn1"),
            &[role("g", 2207, &tp, "snsa1", "s1", "")],
        )),
    )
    .await;
    let got = addresses(&h, "sn2").await;
    assert_eq!(ip_of(&got, "g"), "10.1.2.7", "{got:?}");
    h.stop().await;
}

#[tokio::test]
async fn the_api_only_backend_hands_out_dot_four_upwards_and_reuses_addresses() {
    let h = Harness::start().await;
    let key = Cert::new("k");
    let tp = key.thumbprint();
    h.base("nb1", "nbsa1", &key).await;
    let roles = [
        role_body("a", 2201, &tp, "nbsa1", None),
        role_body("b", 2202, &tp, "nbsa1", None),
    ];
    h.ok_async(
        "POST",
        "/services/hostedservices/nb1/deployments",
        Some(&deployment("nb1", None, &roles)),
    )
    .await;
    let got = addresses(&h, "nb1").await;
    assert_eq!(ip_of(&got, "a"), "10.0.0.4", "{got:?}");
    assert_eq!(ip_of(&got, "b"), "10.0.0.5", "{got:?}");
    h.ok_async(
        "DELETE",
        "/services/hostedservices/nb1/deployments/nb1/roles/a",
        None,
    )
    .await;
    h.ok_async(
        "POST",
        "/services/hostedservices/nb1/deployments/nb1/roles",
        Some(&add_role_xml("c", 2203, &tp, "nbsa1")),
    )
    .await;
    let got = addresses(&h, "nb1").await;
    assert_eq!(ip_of(&got, "c"), "10.0.0.4", "{got:?}");
    h.stop().await;
}
