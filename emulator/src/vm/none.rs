//! The `none` backend: roles exist only as state. They become Ready at once and nothing
//! listens on their endpoints. Used where only the API matters (fast tests, benchmarks).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;

use async_trait::async_trait;

use super::{ImageInfo, VmBackend, VmError, VmInfo, VmSpec, VmStatus};

#[derive(Default)]
pub struct NoneBackend {
    vms: Mutex<HashMap<String, (VmSpec, bool)>>,
    next: Mutex<u32>,
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
        let n = {
            let mut next = self.next.lock().expect("poisoned");
            *next += 1;
            *next
        };
        self.vms
            .lock()
            .expect("poisoned")
            .insert(spec.id.clone(), (spec.clone(), true));
        // 10.0.0.0/11 is the subnet ElastiCluster's vnet declares; addresses are only reported.
        let ip = Ipv4Addr::new(
            10,
            ((n >> 16) & 0x1f) as u8,
            ((n >> 8) & 0xff) as u8,
            (n & 0xff) as u8,
        );
        Ok(VmInfo {
            private_ip: IpAddr::V4(ip),
            public_ip: spec.wants_public_ip.then_some(IpAddr::V4(ip)),
        })
    }

    async fn status(&self, id: &str) -> VmStatus {
        match self.vms.lock().expect("poisoned").get(id) {
            None => VmStatus::Unknown,
            Some((spec, _)) if spec.fail_provisioning => {
                VmStatus::Failed("provisioning failed (injected)".into())
            }
            Some((_, true)) => VmStatus::Ready,
            Some((_, false)) => VmStatus::Stopped,
        }
    }

    async fn stop(&self, id: &str) -> Result<(), VmError> {
        match self.vms.lock().expect("poisoned").get_mut(id) {
            Some(vm) => {
                vm.1 = false;
                Ok(())
            }
            None => Err(VmError::NotFound(id.into())),
        }
    }

    async fn start(&self, id: &str) -> Result<(), VmError> {
        match self.vms.lock().expect("poisoned").get_mut(id) {
            Some(vm) => {
                vm.1 = true;
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
        for (spec, _, running) in vms {
            map.insert(spec.id.clone(), (spec.clone(), *running));
        }
        Ok(())
    }

    async fn shutdown(&self) {}
}
