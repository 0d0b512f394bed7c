//! End to end through the emulator's HTTPS API with the container backend: a deployment of
//! 3 roles whose SSH key comes from a service certificate; wait for ReadyRole; log in with
//! OpenSSH through each VIP:PublicPort as the configured user with the certificate's
//! private key; check host names, private addresses, distinct host keys, isolation; delete
//! everything and check that nothing is left on the host. Needs root and the image.

mod common;
mod container_common;

use std::path::Path;
use std::time::{Duration, Instant};

use azure_emulator::BackendKind;
use common::*;

const ROLES: [&str; 3] = ["frontend001", "compute001", "compute002"];

/// Body of `<Role>` for one of our roles (its own public SSH port).
fn role(name: &str, port: u16, thumb: &str, sa: &str) -> String {
    role_body(name, port, thumb, sa, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_of_three_roles_is_three_real_hosts_behind_azure_style_endpoints() {
    container_common::ensure_image();
    let h = Harness::start_with(|o| {
        o.backend = BackendKind::Container;
        o.image_dir = container_common::image_dir();
    })
    .await;
    let state = h.opts.state_dir.clone();
    let net: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(state.join("vms/container/network.json")).expect("network.json"),
    )
    .expect("network json");
    let bridge = net["bridge"].as_str().expect("bridge").to_string();

    // The SSH key pair is the service certificate's: its private key logs in.
    let keycert = Cert::new("ssh-key");
    let keys = tempfile::tempdir().expect("key dir");
    let key = keys.path().join("id_cert");
    std::fs::write(&key, &keycert.key_pem).expect("write key");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    let kh = keys.path().join("known_hosts");
    let svc = format!("e2e{}", std::process::id());
    let sa = format!("e2esa{}", std::process::id());
    h.base(&svc, &sa, &keycert).await;

    let ports: Vec<u16> = (0..3)
        .map(|_| container_common::free_port("127.0.0.1").port())
        .collect();
    let roles: String = ROLES
        .iter()
        .zip(&ports)
        .map(|(r, p)| format!("<Role>{}</Role>", role(r, *p, &keycert.thumbprint(), &sa)))
        .collect();
    let body = format!("<Deployment xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns=\"http://schemas.microsoft.com/windowsazure\"><Name>{svc}</Name><DeploymentSlot>production</DeploymentSlot><Label>{svc}</Label><RoleList>{roles}</RoleList></Deployment>");
    h.ok_async(
        "POST",
        &format!("/services/hostedservices/{svc}/deployments"),
        Some(&body),
    )
    .await;

    // ReadyRole only once sshd inside answers.
    let deadline = Instant::now() + Duration::from_secs(180);
    let dep = loop {
        let (s, b) = h
            .get(&format!(
                "/services/hostedservices/{svc}/deploymentslots/Production"
            ))
            .await;
        assert_eq!(s, 200, "{b}");
        if b.matches("<InstanceStatus>ReadyRole</InstanceStatus>")
            .count()
            == 3
        {
            break b;
        }
        assert!(!b.contains("ProvisioningFailed"), "{b}");
        assert!(Instant::now() < deadline, "not all ReadyRole: {b}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let vip = between(&dep, "Vip").expect("VIP").to_string();
    let ips: Vec<String> = all_between(&dep, "IpAddress")
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(ips.len(), 3, "{dep}");
    // Each role instance's IpAddress, by role name.
    let ip_of = |role: &str| -> String {
        all_between(&dep, "RoleInstance")
            .into_iter()
            .find(|ri| between(ri, "RoleName") == Some(role))
            .and_then(|ri| between(ri, "IpAddress"))
            .unwrap_or_else(|| panic!("no IpAddress for {role}: {dep}"))
            .to_string()
    };

    let mut host_keys = Vec::new();
    for (r, p) in ROLES.iter().zip(&ports) {
        let addr: std::net::SocketAddr = format!("{vip}:{p}").parse().expect("endpoint");
        let (key, kh) = (key.clone(), kh.clone());
        let mine = ip_of(r);
        let others: Vec<String> = ips.iter().filter(|x| **x != mine).cloned().collect();
        let run = move |cmd: String| container_common::ssh(&key, &kh, "azureuser", addr, &cmd);
        let (rc, out, err) = tokio::task::spawn_blocking({
            let run = run.clone();
            let probe: String = others
                .iter()
                .map(|o| {
                    format!("; timeout 5 bash -c 'exec 3<>/dev/tcp/{o}/22; head -c 4 <&3'; echo")
                })
                .collect();
            move || {
                run(format!(
                    "hostname; hostname -I; sudo -n cat /etc/ssh/ssh_host_ed25519_key.pub{probe}"
                ))
            }
        })
        .await
        .expect("ssh");
        assert_eq!(rc, 0, "{r} via {addr}: {err}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], *r);
        // Get Deployment's IpAddress is the VM's own address (order of roles may differ).
        assert!(
            lines[1].split_whitespace().any(|a| a == ip_of(r)),
            "{r}: {out} vs {}",
            ip_of(r)
        );
        host_keys.push(
            lines[2]
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_string(),
        );
        assert_eq!(
            &lines[3..],
            ["SSH-", "SSH-"],
            "{r} must reach the other VMs by private address"
        );
    }
    assert!(host_keys.iter().all(|k| !k.is_empty()));
    assert!(
        host_keys[0] != host_keys[1]
            && host_keys[1] != host_keys[2]
            && host_keys[0] != host_keys[2],
        "host keys differ"
    );

    // A file outside /home on one VM is on no other VM and not on the host.
    let marker = format!("/opt/e2e-marker-{}", std::process::id());
    let ssh_on = |i: usize, cmd: String| {
        let (key, kh) = (key.clone(), kh.clone());
        let addr: std::net::SocketAddr = format!("{vip}:{}", ports[i]).parse().expect("endpoint");
        tokio::task::spawn_blocking(move || {
            container_common::ssh(&key, &kh, "azureuser", addr, &cmd)
        })
    };
    assert_eq!(
        ssh_on(0, format!("sudo -n touch {marker}"))
            .await
            .expect("ssh")
            .0,
        0
    );
    assert!(!Path::new(&marker).exists());
    for i in 1..3 {
        assert_eq!(
            ssh_on(i, format!("test -e {marker}")).await.expect("ssh").0,
            1
        );
    }

    // Delete the deployment (with its disks) and the service: nothing remains on the host.
    h.ok_async(
        "DELETE",
        &format!("/services/hostedservices/{svc}/deploymentslots/Production?comp=media"),
        None,
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !container_common::vm_leftovers(&bridge, &state).is_empty() {
        assert!(
            Instant::now() < deadline,
            "{:#?}",
            container_common::vm_leftovers(&bridge, &state)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for p in &ports {
        assert!(
            std::net::TcpStream::connect(format!("{vip}:{p}")).is_err(),
            "endpoint {vip}:{p} still open"
        );
    }
    h.stop().await;
    let left = container_common::leftovers(&bridge, &state);
    assert!(left.is_empty(), "{left:#?}");
}
