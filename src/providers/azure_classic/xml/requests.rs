//! Request bodies for the Service Management API, each in Azure's element order.

use base64::Engine;

use super::{esc, NS, NS_I};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
