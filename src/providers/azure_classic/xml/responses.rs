//! Response bodies of the Service Management API, parsed leniently (unknown elements
//! ignored, optional ones may be absent).

use serde::Deserialize;

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

#[cfg(test)]
mod tests {
    use super::super::test_support::golden;
    use super::*;

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
}
