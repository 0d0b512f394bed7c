//! The container backend driven through the `VmBackend` trait, as the API layer drives it:
//! real booted hosts, logged into with OpenSSH through the endpoint forwarders. Needs root
//! and the image (built on first use, then cached). Every test checks that nothing
//! (namespace, veth, bridge, mount, nspawn process) is left behind.

mod container_common;

use std::net::IpAddr;
use std::path::Path;

use azure_emulator::vm::container::{ContainerBackend, ContainerOptions};
use azure_emulator::vm::{VmBackend, VmError, VmInfo, VmSpec, VmStatus};
use container_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_vms_are_isolated_hosts_reachable_through_their_endpoints() {
    let state = tempfile::tempdir().expect("state dir");
    let keys = tempfile::tempdir().expect("key dir");
    let (key, pubkey) = ssh_keygen(keys.path(), "id_ed25519");
    let kh = keys.path().join("known_hosts");
    let b = container_backend(state.path(), false);
    let (_, bridge) = b.network();
    let ip = random_vip();
    let names = ["frontend001", "compute001", "compute002"];
    let specs: Vec<VmSpec> = names
        .iter()
        .map(|n| {
            let mut s = ssh_vm_spec(n, n, &pubkey, free_port(&ip), "sub/hs");
            s.wants_public_ip = *n == "frontend001";
            s
        })
        .collect();

    let (a, c1, c2) = tokio::join!(
        b.create(&specs[0]),
        b.create(&specs[1]),
        b.create(&specs[2])
    );
    let infos: Vec<VmInfo> = [a, c1, c2]
        .into_iter()
        .map(|r| r.expect("create"))
        .collect();
    let (subnet, _) = b.network();
    let prefix = subnet.trim_end_matches("0/24");
    for i in &infos {
        assert!(
            i.private_ip.to_string().starts_with(prefix),
            "{:?} not in {subnet}",
            i.private_ip
        );
    }
    assert_ne!(infos[0].private_ip, infos[1].private_ip);
    assert_ne!(infos[1].private_ip, infos[2].private_ip);
    assert_eq!(
        infos[0].public_ip,
        Some(infos[0].private_ip),
        "instance public IP maps to the container address"
    );
    assert_eq!(infos[1].public_ip, None);
    // Creating the same VM again is idempotent.
    assert_eq!(b.create(&specs[1]).await.expect("re-create"), infos[1]);

    for s in &specs {
        wait_ready(&b, &s.id).await;
    }

    let mut host_keys = Vec::new();
    for (s, info) in specs.iter().zip(&infos) {
        let ep = s.endpoints[0].public;
        let (rc, out, err) = ssh_async(
            &key,
            &kh,
            ep,
            "hostname; sudo -n id -u; ip -4 -o addr show dev eth0",
        )
        .await;
        assert_eq!(rc, 0, "ssh to {} via {ep}: {err}", s.hostname);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], s.hostname);
        assert_eq!(lines[1], "0", "passwordless sudo");
        assert!(
            lines[2].contains(&format!("{}/24", info.private_ip)),
            "{out}"
        );
        // Password logins are off as requested.
        let (_, sshd, _) = ssh_async(
            &key,
            &kh,
            ep,
            "sudo -n sshd -T | grep -i '^passwordauthentication'",
        )
        .await;
        assert_eq!(sshd, "passwordauthentication no");
        // Each VM reaches the others by private address (their sshd answers).
        for other in infos.iter().filter(|o| *o != info) {
            let probe = format!(
                "timeout 5 bash -c 'exec 3<>/dev/tcp/{}/22; head -c 4 <&3'",
                other.private_ip
            );
            let (rc, banner, err) = ssh_async(&key, &kh, ep, &probe).await;
            assert_eq!(
                (rc, banner.as_str()),
                (0, "SSH-"),
                "{} -> {}: {err}",
                s.hostname,
                other.private_ip
            );
        }
        let (_, hk, _) = ssh_async(&key, &kh, ep, "cat /etc/ssh/ssh_host_ed25519_key.pub").await;
        host_keys.push(hk.split_whitespace().nth(1).unwrap_or_default().to_string());
    }
    assert!(host_keys.iter().all(|k| !k.is_empty()));
    assert_ne!(
        host_keys[0], host_keys[1],
        "host keys must differ between VMs"
    );
    assert_ne!(
        host_keys[1], host_keys[2],
        "host keys must differ between VMs"
    );
    assert_ne!(
        host_keys[0], host_keys[2],
        "host keys must differ between VMs"
    );
    // What OpenSSH recorded through the forwarders is what the VMs hold.
    let recorded = std::fs::read_to_string(&kh).expect("known_hosts");
    for k in &host_keys {
        assert!(recorded.contains(k.as_str()), "known_hosts lacks {k}");
    }

    // A file written outside /home on one VM exists nowhere else.
    let marker = format!("/etc/emulator-isolation-{}", std::process::id());
    let ep0 = specs[0].endpoints[0].public;
    let (rc, _, err) = ssh_async(
        &key,
        &kh,
        ep0,
        &format!("echo x | sudo tee {marker} >/dev/null && test -f {marker}"),
    )
    .await;
    assert_eq!(rc, 0, "{err}");
    assert!(!Path::new(&marker).exists(), "VM write reached the host");
    assert!(
        !ensure_image().join(marker.trim_start_matches('/')).exists(),
        "VM write reached the image"
    );
    for s in &specs[1..] {
        let (rc, _, _) = ssh_async(
            &key,
            &kh,
            s.endpoints[0].public,
            &format!("test -e {marker}"),
        )
        .await;
        assert_eq!(rc, 1, "{marker} visible on {}", s.hostname);
    }

    // Delete everything: nothing may remain, and endpoints stop listening.
    for s in &specs {
        b.delete(&s.id).await.expect("delete");
        assert_eq!(b.status(&s.id).await, VmStatus::Unknown);
        assert!(
            std::net::TcpStream::connect(s.endpoints[0].public).is_err(),
            "endpoint still open"
        );
    }
    b.delete(&specs[0].id).await.expect("delete is idempotent");
    let left = vm_leftovers(&bridge, state.path());
    assert!(left.is_empty(), "left behind after delete: {left:#?}");
    assert!(
        std::fs::read_dir(state.path().join("container/vms"))
            .expect("vms dir")
            .next()
            .is_none(),
        "VM dirs remain"
    );
    b.shutdown().await;
    let left = leftovers(&bridge, state.path());
    assert!(left.is_empty(), "left behind after shutdown: {left:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_home_failures_stop_start_and_restart_with_the_same_state_dir() {
    let state = tempfile::tempdir().expect("state dir");
    let keys = tempfile::tempdir().expect("key dir");
    let (key, pubkey) = ssh_keygen(keys.path(), "id_ed25519");
    let kh = keys.path().join("known_hosts");
    let ip = random_vip();
    let b = container_backend(state.path(), true);
    let (subnet, bridge) = b.network();
    let a = ssh_vm_spec("a", "nodea", &pubkey, free_port(&ip), "sub/vnet1");
    let mut c = ssh_vm_spec("c", "nodec", &pubkey, free_port(&ip), "sub/vnet1");
    c.password = Some("Sekr1t-pw".into());
    c.disable_ssh_password_authentication = false;
    let mut bad = ssh_vm_spec("bad", "nodebad", &pubkey, free_port(&ip), "sub/vnet1");
    bad.fail_provisioning = true;
    let ia = b.create(&a).await.expect("create a");
    b.create(&c).await.expect("create c");
    b.create(&bad).await.expect("create failing VM");
    wait_ready(&b, &a.id).await;
    wait_ready(&b, &c.id).await;

    // Shared /home: written on one VM, read on the other.
    let ea = a.endpoints[0].public;
    let ec = c.endpoints[0].public;
    let (rc, _, err) = ssh_async(&key, &kh, ea, "echo shared-$(hostname) > ~/probe").await;
    assert_eq!(rc, 0, "{err}");
    let (rc, out, err) = ssh_async(&key, &kh, ec, "cat ~/probe").await;
    assert_eq!((rc, out.as_str()), (0, "shared-nodea"), "{err}");
    // Password given and password logins allowed: sshd says so and the account has a hash.
    let (_, pa, _) = ssh_async(
        &key,
        &kh,
        ec,
        "sudo -n sshd -T | grep -i '^passwordauthentication'",
    )
    .await;
    assert_eq!(pa, "passwordauthentication yes");
    let (_, hash, _) = ssh_async(
        &key,
        &kh,
        ec,
        "sudo -n getent shadow azureuser | cut -d: -f2",
    )
    .await;
    assert!(hash.starts_with('$'), "no password hash: {hash:?}");
    // ... but the rest of the file system stays private.
    let (rc, _, _) = ssh_async(&key, &kh, ea, "sudo touch /var/tmp/private-a").await;
    assert_eq!(rc, 0);
    let (rc, _, _) = ssh_async(&key, &kh, ec, "sudo touch /var/tmp/private-c").await;
    assert_eq!(rc, 0);
    assert_eq!(
        ssh_async(&key, &kh, ec, "test -e /var/tmp/private-a")
            .await
            .0,
        1
    );

    // A provisioning fault: reported Failed, and the VM never answers.
    assert!(
        matches!(b.status(&bad.id).await, VmStatus::Failed(_)),
        "{:?}",
        b.status(&bad.id).await
    );
    let (rc, _, _) = ssh_async(&key, &kh, bad.endpoints[0].public, "true").await;
    assert_ne!(rc, 0);

    // Stop keeps the disk; start boots it again at the same address.
    b.stop(&a.id).await.expect("stop");
    assert_eq!(b.status(&a.id).await, VmStatus::Stopped);
    b.start(&a.id).await.expect("start");
    wait_ready(&b, &a.id).await;
    assert_eq!(
        ssh_async(&key, &kh, ea, "test -e /var/tmp/private-a")
            .await
            .0,
        0,
        "disk kept across stop/start"
    );

    // Emulator restart with the same state dir: same subnet, VMs come back with their disks.
    b.shutdown().await;
    assert!(
        leftovers(&bridge, state.path()).is_empty(),
        "{:#?}",
        leftovers(&bridge, state.path())
    );
    assert!(matches!(
        b.create(&ssh_vm_spec("late", "late", &pubkey, free_port(&ip), "x"))
            .await,
        Err(VmError::Host(_))
    ));
    drop(b);
    let b = container_backend(state.path(), true);
    assert_eq!(
        b.network(),
        (subnet.clone(), bridge.clone()),
        "restart re-takes the same subnet and bridge"
    );
    b.restore(&[
        (a.clone(), ia.clone(), true),
        (
            c.clone(),
            VmInfo {
                private_ip: IpAddr::from([10, 200, 0, 1]),
                public_ip: None,
            },
            false,
        ),
    ])
    .await
    .expect_err("an address outside the subnet is refused");
    wait_ready(&b, &a.id).await;
    let (rc, out, _) = ssh_async(
        &key,
        &kh,
        ea,
        "test -e /var/tmp/private-a && cat ~/probe && hostname -I",
    )
    .await;
    assert_eq!(rc, 0);
    assert!(
        out.contains("shared-nodea") && out.contains(&ia.private_ip.to_string()),
        "{out}"
    );
    // Creating (not restoring) a VM whose id left a disk behind gives it a fresh disk.
    b.create(&c).await.expect("create c anew");
    wait_ready(&b, &c.id).await;
    // (a fresh disk means fresh host keys, hence a new known_hosts file)
    let kh2 = keys.path().join("known_hosts.new");
    let (rc, _, err) = ssh_async(&key, &kh2, ec, "test -e /var/tmp/private-c").await;
    assert_eq!(rc, 1, "old disk reused? {err}");
    for s in [&a, &c, &bad] {
        b.delete(&s.id).await.expect("delete");
    }
    b.shutdown().await;
    assert!(
        leftovers(&bridge, state.path()).is_empty(),
        "{:#?}",
        leftovers(&bridge, state.path())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_errors_for_missing_images_and_bad_specs() {
    let empty = tempfile::tempdir().expect("image dir");
    let state = tempfile::tempdir().expect("state dir");
    let err = ContainerBackend::new(ContainerOptions {
        state_dir: state.path().to_path_buf(),
        image_dir: empty.path().to_path_buf(),
        shared_home: false,
    })
    .err()
    .expect("no image, no backend");
    let msg = err.to_string();
    assert!(matches!(err, VmError::ImageMissing(..)), "{msg}");
    assert!(
        msg.contains("azure-emulator build-image debian-12-elasticluster"),
        "{msg}"
    );

    let b = container_backend(state.path(), false);
    let (_, bridge) = b.network();
    let mut s = ssh_vm_spec(
        "x",
        "okname",
        "ssh-ed25519 AAAA x",
        free_port("127.0.0.1"),
        "n",
    );
    s.image = "windows-2012".into();
    let msg = b
        .create(&s)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(msg.contains("debian-12-elasticluster"), "{msg}");
    let mut s = ssh_vm_spec(
        "y",
        "bad_host!",
        "ssh-ed25519 AAAA x",
        free_port("127.0.0.1"),
        "n",
    );
    assert!(b.create(&s).await.is_err());
    s.hostname = "fine".into();
    s.authorized_keys[0].1 = "/home/../../etc/shadow".into();
    assert!(
        b.create(&s).await.is_err(),
        "key paths escaping the VM are refused"
    );
    // An endpoint port that is taken fails the create cleanly.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut s = ssh_vm_spec(
        "z",
        "zz",
        "ssh-ed25519 AAAA x",
        taken.local_addr().expect("addr"),
        "n",
    );
    let msg = b
        .create(&s)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(msg.contains("cannot listen on endpoint"), "{msg}");
    s.endpoints[0].public = free_port("127.0.0.1");
    assert_eq!(
        b.status(&s.id).await,
        VmStatus::Unknown,
        "failed create leaves nothing registered"
    );
    b.shutdown().await;
    assert!(leftovers(&bridge, state.path()).is_empty());
}
