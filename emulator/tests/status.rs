//! Instance status is driven by the VM backend: Azure's progression while booting, and
//! ReadyRole only once the backend reports the VM ready (checked with a backend the test
//! controls); a failing backend fails the operation without leaking the role.

mod common;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use azure_emulator::vm::{ImageInfo, VmBackend, VmError, VmInfo, VmSpec, VmStatus};
use common::*;

#[derive(Default)]
struct Controlled {
    vms: Mutex<HashMap<String, VmStatus>>,
    specs: Mutex<Vec<VmSpec>>,
    deleted: Mutex<Vec<String>>,
    refuse: Mutex<bool>,
}

#[async_trait]
impl VmBackend for Controlled {
    fn name(&self) -> &'static str {
        "controlled"
    }
    fn images(&self) -> Vec<ImageInfo> {
        vec![ImageInfo {
            name: IMAGE.into(),
            label: "test".into(),
            os: "Linux".into(),
            description: "test".into(),
        }]
    }
    async fn create(&self, spec: &VmSpec) -> Result<VmInfo, VmError> {
        if *self.refuse.lock().unwrap() {
            return Err(VmError::Exhausted("no addresses left (test)".into()));
        }
        self.specs.lock().unwrap().push(spec.clone());
        self.vms
            .lock()
            .unwrap()
            .insert(spec.id.clone(), VmStatus::Booting);
        Ok(VmInfo {
            private_ip: IpAddr::V4(Ipv4Addr::new(10, 200, 0, 5)),
            public_ip: None,
        })
    }
    async fn status(&self, id: &str) -> VmStatus {
        self.vms
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .unwrap_or(VmStatus::Unknown)
    }
    async fn stop(&self, _id: &str) -> Result<(), VmError> {
        Ok(())
    }
    async fn start(&self, _id: &str) -> Result<(), VmError> {
        Ok(())
    }
    async fn delete(&self, id: &str) -> Result<(), VmError> {
        self.vms.lock().unwrap().remove(id);
        self.deleted.lock().unwrap().push(id.to_string());
        Ok(())
    }
    async fn restore(&self, _vms: &[(VmSpec, VmInfo, bool)]) -> Result<(), VmError> {
        Ok(())
    }
    async fn shutdown(&self) {}
}

#[tokio::test]
async fn ready_role_only_when_the_backend_says_so() {
    let backend = Arc::new(Controlled::default());
    let b2: Arc<dyn VmBackend> = backend.clone();
    let h = Harness::start_with(|o| {
        o.custom_backend = Some(b2);
        o.time_scale = 0.02;
    })
    .await;
    let key = Cert::new("k");
    let tp = key.thumbprint();
    h.base("st1", "stsa1", &key).await;
    let (s, id, _) = h
        .send(
            "POST",
            "/services/hostedservices/st1/deployments",
            Some(&deployment_xml("st1", "vm1", 1222, &tp, "stsa1")),
        )
        .await;
    assert_eq!(s, 202);
    // Record the distinct statuses seen while the operation runs and the VM boots.
    let mut seen: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut op_done = false;
    // boot = 90 s * 0.02 = 1.8 s; wait well past it while the backend still says Booting.
    let mut past_boot: Option<Instant> = None;
    loop {
        let (s, b) = h
            .get("/services/hostedservices/st1/deploymentslots/Production")
            .await;
        assert_eq!(s, 200);
        let st = format!(
            "{}/{}",
            between(&b, "InstanceStatus").unwrap(),
            between(&b, "PowerState").unwrap()
        );
        if seen.last() != Some(&st) {
            seen.push(st.clone());
        }
        if !op_done {
            op_done = h
                .get(&format!("/operations/{id}"))
                .await
                .1
                .contains("Succeeded");
            if op_done {
                past_boot = Some(Instant::now() + Duration::from_millis(2500));
            }
        }
        if past_boot.is_some_and(|t| Instant::now() > t) {
            break;
        }
        assert!(Instant::now() < deadline, "{seen:?}");
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    assert_eq!(
        seen.last().map(String::as_str),
        Some("Provisioning/Started"),
        "no ReadyRole while the backend says Booting: {seen:?}"
    );
    let order = [
        "RoleStateUnknown/Starting",
        "RoleStateUnknown/Started",
        "Provisioning/Started",
        "ReadyRole/Started",
    ];
    let mut last = 0;
    for s in &seen {
        let i = order
            .iter()
            .position(|o| o == s)
            .unwrap_or_else(|| panic!("{s} in {seen:?}"));
        assert!(i >= last, "status went backwards: {seen:?}");
        last = i;
    }
    assert_eq!(
        seen.first().map(String::as_str),
        Some("RoleStateUnknown/Starting"),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|s| s == "RoleStateUnknown/Started"),
        "{seen:?}"
    );

    // The spec the backend got: key converted from the service certificate, VIP endpoint.
    let spec = backend.specs.lock().unwrap()[0].clone();
    assert_eq!(spec.hostname, "vm1");
    assert_eq!(spec.user, "azureuser");
    assert!(spec.disable_ssh_password_authentication);
    assert_eq!(spec.image, IMAGE);
    assert_eq!(spec.authorized_keys.len(), 1);
    assert!(spec.authorized_keys[0].0.starts_with("ssh-rsa AAAA"));
    assert_eq!(
        spec.authorized_keys[0].1,
        "/home/azureuser/.ssh/authorized_keys"
    );
    assert_eq!(spec.endpoints[0].public.port(), 1222);
    assert_eq!(spec.endpoints[0].local_port, 22);
    match spec.endpoints[0].public.ip() {
        IpAddr::V4(ip) => {
            assert!(ip.octets()[0] == 127 && ip.octets()[1] != 0 && ip.octets()[2] != 0)
        }
        other => panic!("{other}"),
    }
    assert_eq!(spec.network, format!("{SUB}/st1"));

    // Now the backend reports the VM ready.
    backend
        .vms
        .lock()
        .unwrap()
        .insert(spec.id.clone(), VmStatus::Ready);
    let b = h
        .wait_deployment("st1", |b| {
            b.contains("<InstanceStatus>ReadyRole</InstanceStatus>")
        })
        .await;
    assert!(b.contains("<IpAddress>10.200.0.5</IpAddress>"));

    // A backend failure fails Add Role; the role is gone and nothing leaks.
    *backend.refuse.lock().unwrap() = true;
    let (s, id, _) = h
        .send(
            "POST",
            "/services/hostedservices/st1/deployments/st1/roles",
            Some(&add_role_xml("vm2", 1223, &tp, "stsa1")),
        )
        .await;
    assert_eq!(s, 202);
    let op = h.wait_op(&id).await;
    assert!(
        op.contains("<Status>Failed</Status>") && op.contains("no addresses left"),
        "{op}"
    );
    let (_, d) = h.get("/services/hostedservices/st1/deployments/st1").await;
    assert!(!d.contains("vm2"));
    let (_, disks) = h.get("/services/disks").await;
    assert!(!disks.contains("vm2"));

    // Deleting the deployment deletes the VM in the backend.
    h.ok_async(
        "DELETE",
        "/services/hostedservices/st1/deployments/st1?comp=media",
        None,
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !backend.deleted.lock().unwrap().contains(&spec.id) {
        assert!(Instant::now() < deadline, "VM never deleted in the backend");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    h.stop().await;
}
