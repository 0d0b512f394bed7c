//! The `none` backend: roles exist only as state. They become Ready at once and nothing
//! listens on their endpoints. Used where only the API matters (fast tests, benchmarks).
//! Addresses: the one the face chose in the user's subnet; else the lowest free address
//! from `.4` of `10.0.0.0/16` within the VM's network (freed addresses are reused).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;

use async_trait::async_trait;

use super::{ImageInfo, VmBackend, VmError, VmInfo, VmSpec, VmStatus};

#[derive(Default)]
pub struct NoneBackend {
    /// id → (spec, addresses, running)
    vms: Mutex<HashMap<String, (VmSpec, VmInfo, bool)>>,
}

/// The lowest free address from `10.0.0.4` among `taken` (none left: `None`).
fn first_free(taken: &[IpAddr]) -> Option<Ipv4Addr> {
    (4u32..0xffff)
        .map(|n| Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 0)) + n))
        .find(|ip| !taken.contains(&IpAddr::V4(*ip)))
}

impl NoneBackend {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl VmBackend for NoneBackend {
    fn name(&self) -> &'static str {
        "none"
    }

    fn images(&self) -> Vec<ImageInfo> {
        vec![ImageInfo {
            name: "debian-12-elasticluster".into(),
            label: "Debian 12 (state only)".into(),
            os: "Linux".into(),
            description: "Image of the state-only backend: roles never boot.".into(),
        }]
    }

    async fn create(&self, spec: &VmSpec) -> Result<VmInfo, VmError> {
        let mut vms = self.vms.lock().expect("poisoned");
        if let Some((_, info, _)) = vms.get(&spec.id) {
            return Ok(info.clone());
        }
        let ip = match spec.subnet_address {
            Some(a) => a.ip,
            None => {
                let taken: Vec<IpAddr> = vms
                    .values()
                    .filter(|(s, _, _)| s.network == spec.network)
                    .map(|(_, i, _)| i.private_ip)
                    .collect();
                first_free(&taken).ok_or_else(|| {
                    VmError::Exhausted(format!("network {} has no free address", spec.network))
                })?
            }
        };
        let info = VmInfo {
            private_ip: IpAddr::V4(ip),
            public_ip: match spec.public_address {
                Some(p) => Some(IpAddr::V4(p)),
                None => spec.wants_public_ip.then_some(IpAddr::V4(ip)),
            },
        };
        vms.insert(spec.id.clone(), (spec.clone(), info.clone(), true));
        Ok(info)
    }

    async fn status(&self, id: &str) -> VmStatus {
        match self.vms.lock().expect("poisoned").get(id) {
            None => VmStatus::Unknown,
            Some((spec, _, _)) if spec.fail_provisioning => {
                VmStatus::Failed("provisioning failed (injected)".into())
            }
            Some((_, _, true)) => VmStatus::Ready,
            Some((_, _, false)) => VmStatus::Stopped,
        }
    }

    async fn stop(&self, id: &str) -> Result<(), VmError> {
        match self.vms.lock().expect("poisoned").get_mut(id) {
            Some(vm) => {
                vm.2 = false;
                Ok(())
            }
            None => Err(VmError::NotFound(id.into())),
        }
    }

    async fn start(&self, id: &str) -> Result<(), VmError> {
        match self.vms.lock().expect("poisoned").get_mut(id) {
            Some(vm) => {
                vm.2 = true;
                Ok(())
            }
            None => Err(VmError::NotFound(id.into())),
        }
    }

    async fn delete(&self, id: &str) -> Result<(), VmError> {
        self.vms.lock().expect("poisoned").remove(id);
        Ok(())
    }

    async fn restore(&self, vms: &[(VmSpec, VmInfo, bool)]) -> Result<(), VmError> {
        let mut map = self.vms.lock().expect("poisoned");
        for (spec, info, running) in vms {
            map.insert(spec.id.clone(), (spec.clone(), info.clone(), *running));
        }
        Ok(())
    }

    async fn shutdown(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::SubnetAddress;

    fn spec(id: &str, network: &str, subnet: Option<Ipv4Addr>) -> VmSpec {
        VmSpec {
            id: id.into(),
            hostname: id.into(),
            user: "u".into(),
            password: None,
            disable_ssh_password_authentication: true,
            authorized_keys: Vec::new(),
            image: "debian-12-elasticluster".into(),
            network: network.into(),
            endpoints: Vec::new(),
            wants_public_ip: false,
            role_size: "Small".into(),
            fail_provisioning: false,
            subnet_address: subnet.map(|ip| SubnetAddress { ip, prefix: 24 }),
            public_address: None,
            custom_data: None,
        }
    }

    #[tokio::test]
    async fn chosen_addresses_are_kept_and_others_are_reused_from_dot_four() {
        let b = NoneBackend::new();
        let ip = |i: VmInfo| i.private_ip.to_string();
        let chosen = Some(Ipv4Addr::new(192, 168, 7, 9));
        assert_eq!(
            ip(b.create(&spec("a", "n1", chosen)).await.unwrap()),
            "192.168.7.9"
        );
        assert_eq!(
            ip(b.create(&spec("b", "n2", None)).await.unwrap()),
            "10.0.0.4"
        );
        assert_eq!(
            ip(b.create(&spec("c", "n2", None)).await.unwrap()),
            "10.0.0.5"
        );
        assert_eq!(
            ip(b.create(&spec("d", "n3", None)).await.unwrap()),
            "10.0.0.4"
        );
        b.delete("b").await.unwrap();
        assert_eq!(
            ip(b.create(&spec("e", "n2", None)).await.unwrap()),
            "10.0.0.4"
        );
    }
}
