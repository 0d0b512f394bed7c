//! The container backend with addresses a face chose in the user's subnet (issue 14 item 2,
//! and the ARM face's NICs): each VM has exactly that address on its virtual network's own
//! segment; VMs of one network reach each other on those addresses; another network using
//! the same range is a different segment (same address, no path between them); endpoint
//! forwarders and the readiness probe reach the VMs through their segment; a freed address
//! is taken again; nothing is left on the host. Needs root and the image.

mod container_common;

use std::net::Ipv4Addr;

use azure_emulator::vm::{SubnetAddress, VmBackend, VmSpec};
use container_common::*;

fn on_subnet(spec: &mut VmSpec, ip: [u8; 4]) {
    spec.subnet_address = Some(SubnetAddress {
        ip: Ipv4Addr::from(ip),
        prefix: 20,
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vms_get_the_chosen_subnet_address_on_their_own_network_segment() {
    let state = tempfile::tempdir().expect("state dir");
    let keys = tempfile::tempdir().expect("key dir");
    let (key, pubkey) = ssh_keygen(keys.path(), "id_ed25519");
    let kh = keys.path().join("known_hosts");
    let b = container_backend(state.path(), false);
    let (_, bridge) = b.network();
    let vip = random_vip();
    let mut a = ssh_vm_spec("a", "nodea", &pubkey, free_port(&vip), "sub/rg/vnet1");
    let mut c = ssh_vm_spec("c", "nodec", &pubkey, free_port(&vip), "sub/rg/vnet1");
    // Another virtual network with the same range: the same address, elsewhere.
    let mut o = ssh_vm_spec("o", "nodeo", &pubkey, free_port(&vip), "sub/rg2/vnet1");
    on_subnet(&mut a, [10, 0, 0, 4]);
    on_subnet(&mut c, [10, 0, 0, 5]);
    on_subnet(&mut o, [10, 0, 0, 4]);
    for s in [&a, &c, &o] {
        let info = b.create(s).await.expect("create");
        assert_eq!(
            Some(info.private_ip),
            s.subnet_address.map(|x| x.ip.into()),
            "the backend uses the face's address"
        );
    }
    for s in [&a, &c, &o] {
        wait_ready(&b, &s.id).await;
    }
    let ep = |s: &VmSpec| s.endpoints[0].public;
    let (rc, out, err) = ssh_async(
        &key,
        &kh,
        ep(&a),
        "hostname; ip -4 -o addr show dev eth0; ip route show default",
    )
    .await;
    assert_eq!(rc, 0, "{err}");
    assert!(out.starts_with("nodea"), "{out}");
    assert!(out.contains("10.0.0.4/20"), "{out}");
    assert!(out.contains("default via 10.0.0.1"), "{out}");
    let banner = |to: &str| format!("timeout 3 bash -c 'exec 3<>/dev/tcp/{to}/22; head -c 4 <&3'");
    let (rc, got, err) = ssh_async(&key, &kh, ep(&a), &banner("10.0.0.5")).await;
    assert_eq!(
        (rc, got.as_str()),
        (0, "SSH-"),
        "a -> c on the subnet: {err}"
    );
    let (rc, got, _) = ssh_async(&key, &kh, ep(&o), "hostname").await;
    assert_eq!(
        (rc, got.as_str()),
        (0, "nodeo"),
        "the other network's 10.0.0.4"
    );
    let (rc, _, _) = ssh_async(&key, &kh, ep(&o), &banner("10.0.0.5")).await;
    assert_ne!(rc, 0, "another virtual network must not reach 10.0.0.5");

    // c goes; a new VM of the network gets its address (and MAC) once it is off the segment.
    b.delete(&c.id).await.expect("delete c");
    let mut d = ssh_vm_spec("d", "noded", &pubkey, free_port(&vip), "sub/rg/vnet1");
    on_subnet(&mut d, [10, 0, 0, 5]);
    b.create(&d).await.expect("create d with c's address");
    wait_ready(&b, &d.id).await;
    let (rc, got, err) = ssh_async(&key, &kh, ep(&a), &banner("10.0.0.5")).await;
    assert_eq!((rc, got.as_str()), (0, "SSH-"), "a -> d: {err}");
    // Two VMs of one network never share an address.
    let mut twin = ssh_vm_spec("twin", "twin", &pubkey, free_port(&vip), "sub/rg/vnet1");
    on_subnet(&mut twin, [10, 0, 0, 4]);
    assert!(b.create(&twin).await.is_err());

    b.shutdown().await;
    assert_eq!(leftovers(&bridge, state.path()), Vec::<String>::new());
}
