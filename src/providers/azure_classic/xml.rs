//! ASM XML: request bodies written in Azure's exact element order, and response parsers.
//!
//! Azure deserialises requests with DataContractSerializer, so element ORDER matters; the
//! builders below are hand-written on purpose (the order is visible in the code). Parsers
//! are lenient: unknown elements are ignored, optional ones may be absent. This module never
//! does I/O.

use base64::Engine;
use serde::Deserialize;

pub const NS: &str = "http://schemas.microsoft.com/windowsazure";
pub const NS_I: &str = "http://www.w3.org/2001/XMLSchema-instance";
pub const VNET_NS: &str =
    "http://schemas.microsoft.com/ServiceHosting/2011/07/NetworkConfiguration";

/// Escape text and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

fn el(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    out.push_str(&esc(text));
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn open_root(name: &str) -> String {
    format!("<{name} xmlns:i=\"{NS_I}\" xmlns=\"{NS}\">")
}

/// `CreateHostedService`: ServiceName, Label (base64), Description, Location,
/// ExtendedProperties (`(name, value)` pairs).
pub fn create_hosted_service(
    name: &str,
    label: &str,
    description: &str,
    location: &str,
    properties: &[(String, String)],
) -> String {
    let mut o = open_root("CreateHostedService");
    el(&mut o, "ServiceName", name);
    el(&mut o, "Label", &b64(label));
    el(&mut o, "Description", description);
    el(&mut o, "Location", location);
    extended_properties(&mut o, properties);
    o.push_str("</CreateHostedService>");
    o
}

fn extended_properties(o: &mut String, properties: &[(String, String)]) {
    if properties.is_empty() {
        return;
    }
    o.push_str("<ExtendedProperties>");
    for (k, v) in properties {
        o.push_str("<ExtendedProperty>");
        el(o, "Name", k);
        el(o, "Value", v);
        o.push_str("</ExtendedProperty>");
    }
    o.push_str("</ExtendedProperties>");
}

/// `CertificateFile`: Data, CertificateFormat, Password (omitted for `cer`).
pub fn certificate_file(data_b64: &str, format: &str, password: Option<&str>) -> String {
    let mut o = open_root("CertificateFile");
    el(&mut o, "Data", data_b64);
    el(&mut o, "CertificateFormat", format);
    if let Some(p) = password {
        el(&mut o, "Password", p);
    }
    o.push_str("</CertificateFile>");
    o
}

/// `CreateStorageServiceInput`: ServiceName, Description, Label (base64), Location,
/// ExtendedProperties, AccountType.
pub fn create_storage_account(
    name: &str,
    description: &str,
    label: &str,
    location: &str,
    properties: &[(String, String)],
    account_type: &str,
) -> String {
    let mut o = open_root("CreateStorageServiceInput");
    el(&mut o, "ServiceName", name);
    el(&mut o, "Description", description);
    el(&mut o, "Label", &b64(label));
    el(&mut o, "Location", location);
    extended_properties(&mut o, properties);
    el(&mut o, "AccountType", account_type);
    o.push_str("</CreateStorageServiceInput>");
    o
}

/// One Linux VM as Azure wants it described (the children of `Role` / `PersistentVMRole`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleSpec {
    pub role_name: String,
    pub host_name: String,
    pub user_name: String,
    /// Thumbprint of the service certificate carrying the SSH key.
    pub ssh_fingerprint: String,
    pub ssh_path: String,
    /// Public (VIP) port of the SSH endpoint; local port is always 22.
    pub ssh_public_port: u16,
    pub subnet_name: Option<String>,
    /// Instance-level public IP name (`use_public_ips`).
    pub public_ip_name: Option<String>,
    pub media_link: String,
    pub source_image_name: String,
    pub role_size: String,
}

fn role_children(o: &mut String, r: &RoleSpec) {
    el(o, "RoleName", &r.role_name);
    el(o, "RoleType", "PersistentVMRole");
    o.push_str("<ConfigurationSets>");
    // Linux provisioning set
    o.push_str("<ConfigurationSet>");
    el(o, "ConfigurationSetType", "LinuxProvisioningConfiguration");
    el(o, "HostName", &r.host_name);
    el(o, "UserName", &r.user_name);
    el(o, "DisableSshPasswordAuthentication", "true");
    o.push_str("<SSH><PublicKeys><PublicKey>");
    el(o, "Fingerprint", &r.ssh_fingerprint);
    el(o, "Path", &r.ssh_path);
    o.push_str("</PublicKey></PublicKeys></SSH>");
    o.push_str("</ConfigurationSet>");
    // network set
    o.push_str("<ConfigurationSet>");
    el(o, "ConfigurationSetType", "NetworkConfiguration");
    o.push_str("<InputEndpoints><InputEndpoint>");
    el(o, "LocalPort", "22");
    el(o, "Name", &format!("SSH-{}", r.ssh_public_port));
    el(o, "Port", &r.ssh_public_port.to_string());
    el(o, "Protocol", "tcp");
    o.push_str("</InputEndpoint></InputEndpoints>");
    match &r.subnet_name {
        Some(s) => {
            o.push_str("<SubnetNames>");
            el(o, "SubnetName", s);
            o.push_str("</SubnetNames>");
        }
        None => o.push_str("<SubnetNames/>"),
    }
    if let Some(ip) = &r.public_ip_name {
        o.push_str("<PublicIPs><PublicIP>");
        el(o, "Name", ip);
        el(o, "IdleTimeoutInMinutes", "30");
        o.push_str("</PublicIP></PublicIPs>");
    }
    o.push_str("</ConfigurationSet>");
    o.push_str("</ConfigurationSets>");
    o.push_str("<OSVirtualHardDisk>");
    el(o, "MediaLink", &r.media_link);
    el(o, "SourceImageName", &r.source_image_name);
    o.push_str("</OSVirtualHardDisk>");
    el(o, "RoleSize", &r.role_size);
}

/// Create Virtual Machine Deployment body (`Deployment`), with the first VM.
pub fn create_vm_deployment(
    name: &str,
    label: &str,
    role: &RoleSpec,
    vnet: Option<&str>,
) -> String {
    let mut o = open_root("Deployment");
    el(&mut o, "Name", name);
    el(&mut o, "DeploymentSlot", "Production");
    el(&mut o, "Label", label);
    o.push_str("<RoleList><Role>");
    role_children(&mut o, role);
    o.push_str("</Role></RoleList>");
    if let Some(v) = vnet {
        el(&mut o, "VirtualNetworkName", v);
    }
    o.push_str("</Deployment>");
    o
}

/// Add Role body (`PersistentVMRole`).
pub fn add_role(role: &RoleSpec) -> String {
    let mut o = open_root("PersistentVMRole");
    role_children(&mut o, role);
    o.push_str("</PersistentVMRole>");
    o
}

// ---------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------

pub fn parse<'de, T: Deserialize<'de>>(body: &'de str) -> Result<T, String> {
    quick_xml::de::from_str(body.trim_start_matches('\u{feff}')).map_err(|e| e.to_string())
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorBody {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, Deserialize, Clone)]
pub struct Operation {
    #[serde(rename = "ID", default)]
    pub id: String,
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "HttpStatusCode", default)]
    pub http_status_code: Option<u16>,
    #[serde(rename = "Error", default)]
    pub error: Option<ErrorBody>,
}

#[derive(Debug, Deserialize, Clone, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Subscription {
    #[serde(rename = "SubscriptionID", default)]
    pub subscription_id: String,
    #[serde(default)]
    pub subscription_name: String,
    #[serde(default)]
    pub max_core_count: Option<u32>,
    #[serde(default)]
    pub max_storage_accounts: Option<u32>,
    #[serde(default)]
    pub max_hosted_services: Option<u32>,
    #[serde(default)]
    pub current_core_count: Option<u32>,
    #[serde(default)]
    pub current_hosted_services: Option<u32>,
    #[serde(default)]
    pub current_storage_accounts: Option<u32>,
}

#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceEndpoint {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub vip: Option<String>,
    #[serde(default)]
    pub public_port: Option<u16>,
    #[serde(default)]
    pub local_port: Option<u16>,
    #[serde(default)]
    pub protocol: String,
}

#[derive(Debug, Deserialize, Clone, Default)]
pub struct InstanceEndpoints {
    #[serde(rename = "InstanceEndpoint", default)]
    pub items: Vec<InstanceEndpoint>,
}

#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct PublicIp {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub address: Option<String>,
}

#[derive(Debug, Deserialize, Clone, Default)]
pub struct PublicIps {
    #[serde(rename = "PublicIP", default)]
    pub items: Vec<PublicIp>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct RoleInstance {
    #[serde(default)]
    pub role_name: String,
    #[serde(default)]
    pub instance_name: String,
    #[serde(default)]
    pub instance_status: String,
    #[serde(default)]
    pub instance_state_details: Option<String>,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub instance_endpoints: Option<InstanceEndpoints>,
    #[serde(default)]
    pub power_state: Option<String>,
    #[serde(default)]
    pub host_name: Option<String>,
    #[serde(rename = "PublicIPs", default)]
    pub public_ips: Option<PublicIps>,
}

impl RoleInstance {
    pub fn endpoints(&self) -> &[InstanceEndpoint] {
        self.instance_endpoints
            .as_ref()
            .map(|e| e.items.as_slice())
            .unwrap_or(&[])
    }
    /// Azure's statuses that mean "this VM will not come up by itself".
    pub fn is_failed(&self) -> bool {
        let s = self.instance_status.as_str();
        s.starts_with("Failed")
            || s == "UnresponsiveRole"
            || s.contains("ProvisioningFailed")
            || s == "ProvisioningTimeout"
    }
    pub fn is_ready(&self) -> bool {
        self.instance_status == "ReadyRole" && self.power_state.as_deref() == Some("Started")
    }
}

#[derive(Debug, Deserialize, Clone, Default)]
#[serde(rename_all = "PascalCase")]
pub struct OsDisk {
    #[serde(default)]
    pub disk_name: Option<String>,
    #[serde(default)]
    pub media_link: Option<String>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct Role {
    #[serde(default)]
    pub role_name: String,
    #[serde(rename = "OSVirtualHardDisk", default)]
    pub os_disk: Option<OsDisk>,
}

#[derive(Debug, Deserialize, Clone, Default)]
pub struct RoleInstanceList {
    #[serde(rename = "RoleInstance", default)]
    pub items: Vec<RoleInstance>,
}

#[derive(Debug, Deserialize, Clone, Default)]
pub struct RoleList {
    #[serde(rename = "Role", default)]
    pub items: Vec<Role>,
}

#[derive(Debug, Deserialize, Clone, Default)]
#[serde(rename_all = "PascalCase")]
pub struct VirtualIp {
    #[serde(default)]
    pub address: Option<String>,
}

#[derive(Debug, Deserialize, Clone, Default)]
pub struct VirtualIps {
    #[serde(rename = "VirtualIP", default)]
    pub items: Vec<VirtualIp>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct Deployment {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub role_instance_list: RoleInstanceList,
    #[serde(default)]
    pub role_list: RoleList,
    #[serde(rename = "VirtualIPs", default)]
    pub virtual_ips: VirtualIps,
}

impl Deployment {
    pub fn instance(&self, role: &str) -> Option<&RoleInstance> {
        self.role_instance_list
            .items
            .iter()
            .find(|i| i.role_name == role || i.instance_name == role)
    }
    pub fn vip(&self) -> Option<&str> {
        self.virtual_ips
            .items
            .iter()
            .find_map(|v| v.address.as_deref())
    }
}

#[derive(Debug, Deserialize, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct NamedService {
    #[serde(default)]
    pub service_name: String,
}

#[derive(Debug, Deserialize, Clone, Default)]
pub struct HostedServices {
    #[serde(rename = "HostedService", default)]
    pub items: Vec<NamedService>,
}

#[derive(Debug, Deserialize, Clone, Default)]
pub struct StorageServices {
    #[serde(rename = "StorageService", default)]
    pub items: Vec<NamedService>,
}

#[derive(Debug, Deserialize, Clone, Default)]
#[serde(rename_all = "PascalCase")]
pub struct AttachedTo {
    #[serde(default)]
    pub deployment_name: String,
    #[serde(default)]
    pub hosted_service_name: String,
    #[serde(default)]
    pub role_name: String,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct Disk {
    #[serde(default)]
    pub attached_to: Option<AttachedTo>,
    #[serde(default)]
    pub media_link: Option<String>,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Deserialize, Clone, Default)]
pub struct Disks {
    #[serde(rename = "Disk", default)]
    pub items: Vec<Disk>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct VnetSite {
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Deserialize, Clone, Default)]
pub struct VnetSites {
    #[serde(rename = "VirtualNetworkSite", default)]
    pub items: Vec<VnetSite>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct RoleSize {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub cores: Option<u32>,
}

#[derive(Debug, Deserialize, Clone, Default)]
pub struct RoleSizes {
    #[serde(rename = "RoleSize", default)]
    pub items: Vec<RoleSize>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct Certificate {
    #[serde(default)]
    pub thumbprint: String,
}

#[derive(Debug, Deserialize, Clone, Default)]
pub struct Certificates {
    #[serde(rename = "Certificate", default)]
    pub items: Vec<Certificate>,
}

// ---------------------------------------------------------------------------------------
// Network configuration: get → modify → put, preserving everything we do not own
// ---------------------------------------------------------------------------------------

/// The subscription-wide document used when none has ever been set (GET gave 404).
pub fn empty_network_config() -> String {
    format!(
        "<NetworkConfiguration xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"{NS_I}\" xmlns=\"{VNET_NS}\">\
         <VirtualNetworkConfiguration><Dns/><VirtualNetworkSites/></VirtualNetworkConfiguration></NetworkConfiguration>"
    )
}

/// A `VirtualNetworkSite` element for our cluster.
pub fn vnet_site(
    name: &str,
    location: &str,
    address_prefix: &str,
    subnet: &str,
    subnet_prefix: &str,
) -> String {
    format!(
        "<VirtualNetworkSite name=\"{}\" Location=\"{}\"><AddressSpace><AddressPrefix>{}</AddressPrefix></AddressSpace>\
         <Subnets><Subnet name=\"{}\"><AddressPrefix>{}</AddressPrefix></Subnet></Subnets></VirtualNetworkSite>",
        esc(name),
        esc(location),
        esc(address_prefix),
        esc(subnet),
        esc(subnet_prefix)
    )
}

/// Byte spans of interesting elements in a network configuration document.
#[derive(Default, Debug)]
struct NetSpans {
    /// `(name, start, end)` of each VirtualNetworkSite element.
    sites: Vec<(String, usize, usize)>,
    /// Position right before `</VirtualNetworkSites>` or span of an empty `<VirtualNetworkSites/>`.
    sites_close: Option<usize>,
    sites_empty: Option<(usize, usize)>,
    vnc_close: Option<usize>,
    vnc_empty: Option<(usize, usize)>,
    root_close: Option<usize>,
}

fn local(name: &str) -> &str {
    match name.rfind(':') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

#[allow(deprecated)] // `unescape_value` is the simple, version-independent form we need
fn name_attr(e: &quick_xml::events::BytesStart<'_>) -> String {
    e.attributes()
        .flatten()
        .find(|a| AsRef::<str>::as_ref(&a.key) == "name")
        .and_then(|a| a.unescape_value().ok().map(|c| c.into_owned()))
        .unwrap_or_default()
}

fn scan_netconfig(doc: &str) -> Result<NetSpans, String> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(doc);
    let mut spans = NetSpans::default();
    let mut stack: Vec<String> = Vec::new();
    let mut site_start: Option<(String, usize)> = None;
    loop {
        let before = r.buffer_position() as usize;
        let ev = r
            .read_event()
            .map_err(|e| format!("network configuration is not valid XML: {e}"))?;
        let after = r.buffer_position() as usize;
        match ev {
            Event::Start(e) => {
                let n = local(e.name().as_ref()).to_string();
                if n == "VirtualNetworkSite"
                    && stack.last().map(String::as_str) == Some("VirtualNetworkSites")
                {
                    let name = name_attr(&e);
                    site_start = Some((name, before));
                }
                stack.push(n);
            }
            Event::Empty(e) => {
                let n = local(e.name().as_ref()).to_string();
                if n == "VirtualNetworkSites" {
                    spans.sites_empty = Some((before, after));
                } else if n == "VirtualNetworkConfiguration" {
                    spans.vnc_empty = Some((before, after));
                } else if n == "VirtualNetworkSite" {
                    let name = name_attr(&e);
                    spans.sites.push((name, before, after));
                }
            }
            Event::End(e) => {
                let n = local(e.name().as_ref()).to_string();
                stack.pop();
                if n == "VirtualNetworkSite" {
                    if let Some((name, start)) = site_start.take() {
                        spans.sites.push((name, start, after));
                    }
                } else if n == "VirtualNetworkSites" {
                    spans.sites_close = Some(before);
                } else if n == "VirtualNetworkConfiguration" {
                    spans.vnc_close = Some(before);
                } else if n == "NetworkConfiguration" {
                    spans.root_close = Some(before);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if spans.root_close.is_none() {
        return Err("network configuration has no NetworkConfiguration element".into());
    }
    Ok(spans)
}

/// Names of the virtual network sites in a network configuration document.
pub fn netconfig_site_names(doc: &str) -> Result<Vec<String>, String> {
    let doc = doc.trim_start_matches('\u{feff}');
    Ok(scan_netconfig(doc)?
        .sites
        .into_iter()
        .map(|s| s.0)
        .collect())
}

/// Add `site_xml` (named `name`) to the document; `None` when it is already there.
pub fn netconfig_add_site(doc: &str, name: &str, site_xml: &str) -> Result<Option<String>, String> {
    let doc = doc.trim_start_matches('\u{feff}');
    let s = scan_netconfig(doc)?;
    if s.sites.iter().any(|(n, _, _)| n == name) {
        return Ok(None);
    }
    let splice = |at: usize, end: usize, text: &str| {
        let mut o = String::with_capacity(doc.len() + text.len());
        o.push_str(&doc[..at]);
        o.push_str(text);
        o.push_str(&doc[end..]);
        o
    };
    let out = if let Some(at) = s.sites_close {
        splice(at, at, site_xml)
    } else if let Some((a, b)) = s.sites_empty {
        splice(
            a,
            b,
            &format!("<VirtualNetworkSites>{site_xml}</VirtualNetworkSites>"),
        )
    } else if let Some(at) = s.vnc_close {
        splice(
            at,
            at,
            &format!("<VirtualNetworkSites>{site_xml}</VirtualNetworkSites>"),
        )
    } else if let Some((a, b)) = s.vnc_empty {
        splice(
            a,
            b,
            &format!("<VirtualNetworkConfiguration><VirtualNetworkSites>{site_xml}</VirtualNetworkSites></VirtualNetworkConfiguration>"),
        )
    } else {
        let at = s.root_close.unwrap_or(doc.len());
        splice(
            at,
            at,
            &format!("<VirtualNetworkConfiguration><VirtualNetworkSites>{site_xml}</VirtualNetworkSites></VirtualNetworkConfiguration>"),
        )
    };
    Ok(Some(out))
}

/// Remove the site named `name`; `None` when it is not there.
pub fn netconfig_remove_site(doc: &str, name: &str) -> Result<Option<String>, String> {
    let doc = doc.trim_start_matches('\u{feff}');
    let s = scan_netconfig(doc)?;
    let Some((_, a, b)) = s.sites.iter().find(|(n, _, _)| n == name) else {
        return Ok(None);
    };
    Ok(Some(format!("{}{}", &doc[..*a], &doc[*b..])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn golden(name: &str) -> Option<String> {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/asm-golden/libcloud")
            .join(format!("_3761b98b_673d_526c_8d55_fee918758e6e_{name}.xml"));
        // The golden data is part of the test contract (`<repo>/tests/fixtures/asm-golden`).
        Some(
            std::fs::read_to_string(&p)
                .unwrap_or_else(|e| panic!("golden file {}: {e}", p.display())),
        )
    }

    fn role() -> RoleSpec {
        RoleSpec {
            role_name: "base-frontend001".into(),
            host_name: "frontend001".into(),
            user_name: "azureuser".into(),
            ssh_fingerprint: "BEA4B74BD6B915E9DD6A01FB1B8C3C1740F517F2".into(),
            ssh_path: "/home/azureuser/.ssh/authorized_keys".into(),
            ssh_public_port: 1222,
            subnet_name: Some("subnet1".into()),
            public_ip_name: None,
            media_link: "https://basest0.blob.core.windows.net/vhds/base-frontend001.vhd".into(),
            source_image_name: "img&1".into(),
            role_size: "Small".into(),
        }
    }

    /// Element names in document order (start tags only), to check Azure's order.
    fn order(xml: &str) -> Vec<String> {
        use quick_xml::events::Event;
        let mut r = quick_xml::Reader::from_str(xml);
        let mut v = Vec::new();
        loop {
            match r.read_event().unwrap() {
                Event::Start(e) | Event::Empty(e) => {
                    v.push(AsRef::<str>::as_ref(&e.name()).to_string())
                }
                Event::Eof => break,
                _ => {}
            }
        }
        v
    }

    fn is_subsequence(needle: &[&str], hay: &[String]) -> bool {
        let mut it = hay.iter();
        needle.iter().all(|n| it.any(|h| h == n))
    }

    #[test]
    fn deployment_body_is_in_azure_order_and_escaped() {
        let x = create_vm_deployment("basecs0", "basecs0", &role(), Some("basevn0"));
        let o = order(&x);
        assert!(
            is_subsequence(
                &[
                    "Deployment",
                    "Name",
                    "DeploymentSlot",
                    "Label",
                    "RoleList",
                    "Role",
                    "RoleName",
                    "RoleType",
                    "ConfigurationSets",
                    "ConfigurationSet",
                    "ConfigurationSetType",
                    "HostName",
                    "UserName",
                    "DisableSshPasswordAuthentication",
                    "SSH",
                    "PublicKeys",
                    "PublicKey",
                    "Fingerprint",
                    "Path",
                    "ConfigurationSet",
                    "ConfigurationSetType",
                    "InputEndpoints",
                    "InputEndpoint",
                    "LocalPort",
                    "Name",
                    "Port",
                    "Protocol",
                    "SubnetNames",
                    "SubnetName",
                    "OSVirtualHardDisk",
                    "MediaLink",
                    "SourceImageName",
                    "RoleSize",
                    "VirtualNetworkName"
                ],
                &o
            ),
            "{o:?}"
        );
        assert!(x.contains("<SourceImageName>img&amp;1</SourceImageName>"));
        assert!(x.starts_with("<Deployment xmlns:i="));
        let a = add_role(&role());
        assert!(a.starts_with("<PersistentVMRole "));
        assert!(!a.contains("VirtualNetworkName"));
        // well-formed
        let _: Vec<String> = order(&a);
    }

    #[test]
    fn simple_bodies() {
        let props = [("Owner".to_string(), "x".to_string())];
        let h = create_hosted_service("basecs0", "basecs0", "d", "East US", &props);
        assert_eq!(
            order(&h),
            [
                "CreateHostedService",
                "ServiceName",
                "Label",
                "Description",
                "Location",
                "ExtendedProperties",
                "ExtendedProperty",
                "Name",
                "Value"
            ]
        );
        assert!(h.contains("<Label>YmFzZWNzMA==</Label>"));
        let s = create_storage_account("basest0", "d", "basest0", "East US", &[], "Standard_LRS");
        assert_eq!(
            order(&s),
            [
                "CreateStorageServiceInput",
                "ServiceName",
                "Description",
                "Label",
                "Location",
                "AccountType"
            ]
        );
        let c = certificate_file("QUJD", "cer", None);
        assert_eq!(order(&c), ["CertificateFile", "Data", "CertificateFormat"]);
    }

    #[test]
    fn parses_golden_deployment() {
        let Some(x) = golden("services_hostedservices_dcoddkinztest01_deploymentslots_Production")
        else {
            return;
        };
        let d: Deployment = parse(&x).unwrap();
        assert_eq!(d.name, "dc03");
        assert_eq!(d.status, "Running");
        assert_eq!(d.role_instance_list.items.len(), 2);
        let i = d.instance("oddkinz2").unwrap();
        assert!(i.is_ready());
        assert_eq!(i.ip_address.as_deref(), Some("100.92.60.107"));
        assert_eq!(i.endpoints()[0].public_port, Some(57706));
        assert_eq!(i.endpoints()[0].vip.as_deref(), Some("191.235.135.62"));
        assert_eq!(d.vip(), Some("191.235.135.62"));
        assert_eq!(
            d.role_list.items[0]
                .os_disk
                .as_ref()
                .unwrap()
                .disk_name
                .as_deref(),
            Some("dc03-dc03-0-201405271530050398")
        );
        for f in [
            "services_hostedservices_oddkinz1_deploymentslots_Production",
            "services_hostedservices_oddkinz2_deploymentslots_Production",
            "services_hostedservices_testdcabc2_deploymentslots_Production",
        ] {
            if let Some(x) = golden(f) {
                let d: Deployment = parse(&x).unwrap();
                assert!(!d.role_instance_list.items.is_empty(), "{f}");
            }
        }
    }

    #[test]
    fn parses_golden_errors_and_operations() {
        if let Some(x) = golden("services_hostedservices_dcoddkinztest03") {
            let e: ErrorBody = parse(&x).unwrap();
            assert_eq!(e.code, "ResourceNotFound");
            assert_eq!(e.message, "The hosted service does not exist.");
        }
        if let Some(x) = golden("operations_acc33f6756cda6fd96826394fce4c9f3") {
            let o: Operation = parse(&x).unwrap();
            assert_eq!(o.status, "Succeeded");
            assert_eq!(o.http_status_code, None);
        }
        let failed = "<Operation xmlns=\"http://schemas.microsoft.com/windowsazure\" xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\"><ID>724958e2-ea8a-92ba-8dd8-85fb474f952c</ID><Status>Failed</Status><HttpStatusCode>400</HttpStatusCode><Error><Code>BadRequest</Code><Message>Port 22 is already in use.</Message></Error></Operation>";
        let o: Operation = parse(failed).unwrap();
        assert_eq!(o.http_status_code, Some(400));
        assert_eq!(o.error.unwrap().code, "BadRequest");
    }

    #[test]
    fn parses_subscription_quotas() {
        let x = "<Subscription xmlns=\"http://schemas.microsoft.com/windowsazure\" xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\"><SubscriptionID>0000</SubscriptionID><SubscriptionName>x</SubscriptionName><SubscriptionStatus>Active</SubscriptionStatus><MaxCoreCount>20</MaxCoreCount><MaxStorageAccounts>100</MaxStorageAccounts><MaxHostedServices>20</MaxHostedServices><CurrentCoreCount>9</CurrentCoreCount><CurrentHostedServices>11</CurrentHostedServices><CurrentStorageAccounts>45</CurrentStorageAccounts><MaxVirtualNetworkSites>50</MaxVirtualNetworkSites></Subscription>";
        let s: Subscription = parse(x).unwrap();
        assert_eq!(s.max_hosted_services, Some(20));
        assert_eq!(s.current_hosted_services, Some(11));
        assert_eq!(s.current_core_count, Some(9));
    }

    #[test]
    fn parses_lists() {
        if let Some(x) = golden("services_hostedservices_testdcabc2_deployments") {
            let _: HostedServices = parse(&x).unwrap_or_default();
        }
        let hs = "<HostedServices xmlns=\"http://schemas.microsoft.com/windowsazure\" xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\"/>";
        let l: HostedServices = parse(hs).unwrap();
        assert!(l.items.is_empty());
        let disks = "<Disks xmlns=\"http://schemas.microsoft.com/windowsazure\"><Disk><AttachedTo><DeploymentName>d</DeploymentName><HostedServiceName>h</HostedServiceName><RoleName>r</RoleName></AttachedTo><OS>Linux</OS><MediaLink>https://x/vhds/a.vhd</MediaLink><Name>d-r-0-1</Name></Disk><Disk><Name>free</Name></Disk></Disks>";
        let d: Disks = parse(disks).unwrap();
        assert_eq!(d.items.len(), 2);
        assert_eq!(d.items[0].attached_to.as_ref().unwrap().role_name, "r");
        assert!(d.items[1].attached_to.is_none());
    }

    const XP_NET: &str = "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<NetworkConfiguration xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns=\"http://schemas.microsoft.com/ServiceHosting/2011/07/NetworkConfiguration\">\r\n  <VirtualNetworkConfiguration>\r\n    <Dns>\r\n      <DnsServers>\r\n        <DnsServer name=\"dns-cli-1\" IPAddress=\"66.77.88.98\" />\r\n      </DnsServers>\r\n    </Dns>\r\n    <VirtualNetworkSites>\r\n      <VirtualNetworkSite name=\"classic-cli-vnet2\" Location=\"South Central US\">\r\n        <AddressSpace>\r\n          <AddressPrefix>192.168.2.0/16</AddressPrefix>\r\n        </AddressSpace>\r\n        <Subnets>\r\n          <Subnet name=\"backend\">\r\n            <AddressPrefix>192.168.2.0/24</AddressPrefix>\r\n          </Subnet>\r\n        </Subnets>\r\n      </VirtualNetworkSite>\r\n    </VirtualNetworkSites>\r\n  </VirtualNetworkConfiguration>\r\n</NetworkConfiguration>";

    #[test]
    fn network_config_merge_keeps_other_sites() {
        let site = vnet_site("basevn0", "East US", "10.0.0.0/8", "subnet1", "10.0.0.0/11");
        let added = netconfig_add_site(XP_NET, "basevn0", &site)
            .unwrap()
            .unwrap();
        assert_eq!(
            netconfig_site_names(&added).unwrap(),
            ["classic-cli-vnet2", "basevn0"]
        );
        assert!(added.contains("dns-cli-1"));
        assert!(netconfig_add_site(&added, "basevn0", &site)
            .unwrap()
            .is_none());
        let removed = netconfig_remove_site(&added, "basevn0").unwrap().unwrap();
        assert_eq!(removed, XP_NET.trim_start_matches('\u{feff}'));
        assert!(netconfig_remove_site(&removed, "basevn0")
            .unwrap()
            .is_none());
        // from nothing
        let fresh = netconfig_add_site(&empty_network_config(), "basevn0", &site)
            .unwrap()
            .unwrap();
        assert_eq!(netconfig_site_names(&fresh).unwrap(), ["basevn0"]);
        let back = netconfig_remove_site(&fresh, "basevn0").unwrap().unwrap();
        assert!(netconfig_site_names(&back).unwrap().is_empty());
        // no VirtualNetworkSites element at all
        let bare = format!("<NetworkConfiguration xmlns=\"{VNET_NS}\"><VirtualNetworkConfiguration><Dns/></VirtualNetworkConfiguration></NetworkConfiguration>");
        let a = netconfig_add_site(&bare, "basevn0", &site)
            .unwrap()
            .unwrap();
        assert_eq!(netconfig_site_names(&a).unwrap(), ["basevn0"]);
        assert!(netconfig_add_site("<oops", "x", &site).is_err());
    }
}
