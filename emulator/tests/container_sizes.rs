//! A VM is the size it was asked for: a Small and a Medium VM booted by the container
//! backend, and an ARM `Standard_B2s` VM on an address of its own virtual network's segment,
//! each see the cores and memory of their size in the emulator's catalogues (cores capped at
//! the host's) wherever a program looks (`nproc`, the online CPU list,
//! `/proc/cpuinfo`, `/proc/meminfo`, `free`, Ansible's `processor_nproc`/`memtotal_mb`
//! sources), and the memory limit holds. Needs root, lxcfs and the image; nothing is left
//! behind.

mod container_common;

use std::net::Ipv4Addr;

use azure_emulator::model::{catalog, vm_sizes};
use azure_emulator::vm::{SubnetAddress, VmBackend, VmSpec};
use container_common::*;

/// What a program inside the VM reads, one figure per line.
const PROBE: &str = "nproc; getconf _NPROCESSORS_ONLN; grep -c ^processor /proc/cpuinfo; \
    python3 -c 'import os; print(len(os.sched_getaffinity(0)))'; \
    awk '/^MemTotal:/ {print $2}' /proc/meminfo; free -m | awk '/^Mem:/ {print $2}'";

fn expected(role_size: &str, host_cpus: u32) -> (u32, u64) {
    let (cores, memory_mb) = catalog::role_size(role_size)
        .map(|(_, cores, memory_mb, ..)| (*cores, *memory_mb))
        .or_else(|| vm_sizes::vm_size(role_size).map(|s| (s.cores, s.memory_mb)))
        .expect("catalogue size");
    (cores.min(host_cpus), u64::from(memory_mb))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_and_medium_vms_see_their_own_cores_and_memory() {
    let state = tempfile::tempdir().expect("state dir");
    let keys = tempfile::tempdir().expect("key dir");
    let (key, pubkey) = ssh_keygen(keys.path(), "id_ed25519");
    let kh = keys.path().join("known_hosts");
    let b = container_backend(state.path(), false);
    let (_, bridge) = b.network();
    let ip = random_vip();
    let host_cpus: u32 = shell_stdout("nproc").trim().parse().expect("host nproc");
    let mut specs: Vec<VmSpec> = [("small", "Small"), ("medium", "Medium")]
        .iter()
        .map(|(name, size)| {
            let mut s = ssh_vm_spec(name, name, &pubkey, free_port(&ip), "sub/sizes");
            s.role_size = size.to_string();
            s
        })
        .collect();
    // As the ARM face hands a VM over: an ARM size and its NIC's address on the segment.
    let mut arm = ssh_vm_spec("armvm", "armvm", &pubkey, free_port(&ip), "sub/rg/vnet");
    arm.role_size = "Standard_B2s".into();
    arm.subnet_address = Some(SubnetAddress {
        ip: Ipv4Addr::new(10, 0, 0, 4),
        prefix: 20,
    });
    specs.push(arm);
    let (a, c, d) = tokio::join!(
        b.create(&specs[0]),
        b.create(&specs[1]),
        b.create(&specs[2])
    );
    a.expect("create small");
    c.expect("create medium");
    let info = d.expect("create the ARM-sized VM");
    assert_eq!(
        info.private_ip,
        Ipv4Addr::new(10, 0, 0, 4),
        "its subnet address"
    );
    for s in &specs {
        wait_ready(&b, &s.id).await;
    }
    for s in &specs {
        let (cores, memory_mb) = expected(&s.role_size, host_cpus);
        let (rc, out, err) = ssh_async(&key, &kh, s.endpoints[0].public, PROBE).await;
        assert_eq!(rc, 0, "{}: {err}", s.hostname);
        let figures: Vec<u64> = out
            .lines()
            .map(|l| l.trim().parse().unwrap_or_else(|_| panic!("{out}")))
            .collect();
        let c = u64::from(cores);
        assert_eq!(
            figures,
            vec![c, c, c, c, memory_mb * 1024, memory_mb],
            "{} ({}): nproc, online CPUs, cpuinfo processors, affinity, MemTotal kB, free MB",
            s.hostname,
            s.role_size
        );
    }
    // The limit holds: 2 GiB of touched memory does not fit in a Small VM (1.75 GiB), it
    // does in a Medium one (3.5 GiB); the Small VM lives on.
    let fill =
        "python3 -c 'b = bytes(2048 * 1024 * 1024); c = bytearray(b); print(len(c) // 2**20)'";
    let (rc, _, _) = ssh_async(&key, &kh, specs[0].endpoints[0].public, fill).await;
    assert_ne!(rc, 0, "2 GiB allocated in a Small VM");
    let (rc, out, err) = ssh_async(&key, &kh, specs[1].endpoints[0].public, fill).await;
    assert_eq!((rc, out.as_str()), (0, "2048"), "Medium VM: {err}");
    let (rc, out, _) = ssh_async(&key, &kh, specs[0].endpoints[0].public, "hostname").await;
    assert_eq!((rc, out.as_str()), (0, "small"));

    for s in &specs {
        b.delete(&s.id).await.expect("delete");
    }
    b.shutdown().await;
    let left = leftovers(&bridge, state.path());
    assert!(left.is_empty(), "{left:#?}");
}
