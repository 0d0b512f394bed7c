//! End to end through the HTTPS API with the container backend: a deployment of two roles
//! with the SSH key from an uploaded service certificate reaches ReadyRole, OpenSSH logs in
//! through each VIP:PublicPort as the configured user with the certificate's private key,
//! hostnames and private addresses are what Get Deployment says, the VMs reach each other,
//! and deleting the deployment leaves nothing on the host. Needs root, systemd-nspawn and
//! the image (built on first use); fails otherwise, unless ELASTICLUSTER_TEST_ALLOW_SKIP=1.

mod common;
mod container_common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_emulator::vm::container::{ContainerBackend, ContainerOptions, DEFAULT_IMAGE};
use azure_emulator::vm::VmBackend;
use common::*;
use container_common::*;

/// Root and systemd-nspawn are needed. Missing, the test fails — unless
/// `ELASTICLUSTER_TEST_ALLOW_SKIP=1`, then it says why and skips.
fn prerequisites() -> bool {
    let missing = if unsafe { libc::geteuid() } != 0 {
        Some("the container backend needs root")
    } else if std::process::Command::new("systemd-nspawn")
        .arg("--version")
        .output()
        .is_err()
    {
        Some("systemd-nspawn is not installed (Debian package systemd-container)")
    } else {
        None
    };
    let Some(why) = missing else {
        return true;
    };
    if std::env::var("ELASTICLUSTER_TEST_ALLOW_SKIP").as_deref() == Ok("1") {
        eprintln!("skipping (ELASTICLUSTER_TEST_ALLOW_SKIP=1): {why}");
        return false;
    }
    panic!("{why}; run as root with systemd-container installed (bash .ci/run does both), or set ELASTICLUSTER_TEST_ALLOW_SKIP=1 to skip");
}

async fn ssh_as(key: &Path, kh: &Path, addr: SocketAddr, cmd: &str) -> (i32, String, String) {
    let (key, kh, cmd) = (key.to_path_buf(), kh.to_path_buf(), cmd.to_string());
    tokio::task::spawn_blocking(move || ssh(&key, &kh, "azureuser", addr, &cmd))
        .await
        .expect("ssh task")
}

fn role_xml(role: &str, port: u16, thumb: &str, sa: &str) -> String {
    role_body(role, port, thumb, sa, None).replace(IMAGE, DEFAULT_IMAGE)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_vms_are_reachable_with_the_service_certificate_key() {
    if !prerequisites() {
        return;
    }
    ensure_image();
    let vmstate = tempfile::tempdir().expect("state dir");
    let backend = Arc::new(
        ContainerBackend::new(ContainerOptions {
            state_dir: vmstate.path().to_path_buf(),
            image_dir: image_dir(),
            shared_home: false,
        })
        .unwrap_or_else(|e| panic!("container backend: {e}")),
    );
    let (_, bridge) = backend.network();
    let dyn_backend: Arc<dyn VmBackend> = backend.clone();
    let h = Harness::start_with(|o| {
        o.custom_backend = Some(dyn_backend);
        o.time_scale = 0.01;
    })
    .await;

    // The SSH key is the service certificate's key (what ElastiCluster does).
    let key = Cert::new("sshkey");
    let tp = key.thumbprint();
    let key_path: PathBuf = h.dir.path().join("id_cert");
    std::fs::write(&key_path, &key.key_pem).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let kh = h.dir.path().join("known_hosts");
    h.base("ctsvc", "ctsa", &key).await;
    let dep = format!("<Deployment xmlns=\"http://schemas.microsoft.com/windowsazure\"><Name>ctsvc</Name><DeploymentSlot>production</DeploymentSlot><Label>ctsvc</Label><RoleList><Role>{}</Role></RoleList></Deployment>", role_xml("ctvm1", 1222, &tp, "ctsa"));
    h.ok_async(
        "POST",
        "/services/hostedservices/ctsvc/deployments",
        Some(&dep),
    )
    .await;
    let add = format!(
        "<PersistentVMRole xmlns=\"http://schemas.microsoft.com/windowsazure\">{}</PersistentVMRole>",
        role_xml("ctvm2", 1223, &tp, "ctsa")
    );
    h.ok_async(
        "POST",
        "/services/hostedservices/ctsvc/deployments/ctsvc/roles",
        Some(&add),
    )
    .await;

    let deadline = Instant::now() + Duration::from_secs(240);
    let d = loop {
        let (_, d) = h
            .get("/services/hostedservices/ctsvc/deploymentslots/Production")
            .await;
        if d.matches("<InstanceStatus>ReadyRole</InstanceStatus>")
            .count()
            == 2
        {
            break d;
        }
        assert!(
            !d.contains("ProvisioningFailed") && Instant::now() < deadline,
            "VMs not ReadyRole: {d}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let vip = between(&d, "Vip").unwrap().to_string();
    let instances = all_between(&d, "RoleInstance");
    assert_eq!(instances.len(), 2);
    let mut ips = Vec::new();
    for (inst, port, host) in [
        (instances[0], 1222u16, "ctvm1"),
        (instances[1], 1223, "ctvm2"),
    ] {
        let ip = between(inst, "IpAddress").unwrap().to_string();
        let addr: SocketAddr = format!("{vip}:{port}").parse().unwrap();
        let (rc, out, err) = ssh_as(
            &key_path,
            &kh,
            addr,
            "hostname; hostname -I; sudo -n true && echo sudo-ok",
        )
        .await;
        assert_eq!(rc, 0, "ssh {addr}: {err}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], host);
        assert!(
            lines[1].split_whitespace().any(|a| a == ip),
            "{ip} not in {}",
            lines[1]
        );
        assert_eq!(lines[2], "sudo-ok");
        ips.push((addr, ip));
    }
    // The VMs reach each other by private address.
    let (rc, _, err) = ssh_as(
        &key_path,
        &kh,
        ips[0].0,
        &format!("timeout 5 bash -c '</dev/tcp/{}/22'", ips[1].1),
    )
    .await;
    assert_eq!(rc, 0, "ctvm1 cannot reach ctvm2: {err}");

    // Delete with comp=media: endpoints close, nothing of the VMs remains on the host.
    h.ok_async(
        "DELETE",
        "/services/hostedservices/ctsvc/deployments/ctsvc?comp=media",
        None,
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = vm_leftovers(&bridge, vmstate.path());
        let open = ips.iter().any(|(a, _)| {
            std::net::TcpStream::connect_timeout(a, Duration::from_millis(200)).is_ok()
        });
        if left.is_empty() && !open {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "left behind: {left:#?} (endpoint open: {open})"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    h.stop().await;
    let left = leftovers(&bridge, vmstate.path());
    assert!(left.is_empty(), "left behind after shutdown: {left:#?}");
}
