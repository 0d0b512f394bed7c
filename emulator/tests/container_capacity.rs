//! Capacity: at least 8 small VMs at once on this 2-core machine, each answering SSH
//! through its endpoint; prints boot time and idle memory per VM (numbers documented in
//! emulator/images/README.md). Not a timed test: only readiness and a generous memory
//! ceiling are asserted.

mod container_common;

use std::time::{Duration, Instant};

use azure_emulator::vm::container::{ContainerBackend, ContainerOptions, DEFAULT_IMAGE};
use azure_emulator::vm::{EndpointSpec, VmBackend, VmSpec, VmStatus};
use container_common::*;

const VMS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_vms_boot_at_once_and_answer_ssh() {
    ensure_image();
    let state = tempfile::tempdir().expect("state dir");
    let keys = tempfile::tempdir().expect("key dir");
    let (key, pubkey) = ssh_keygen(keys.path(), "id_ed25519");
    let kh = keys.path().join("known_hosts");
    let b = ContainerBackend::new(ContainerOptions {
        state_dir: state.path().to_path_buf(),
        image_dir: image_dir(),
        shared_home: false,
    })
    .unwrap_or_else(|e| panic!("backend: {e}"));
    let (_, bridge) = b.network();
    let specs: Vec<VmSpec> = (0..VMS)
        .map(|i| VmSpec {
            id: format!("sub/cap/dep/node{i}"),
            hostname: format!("node{i:03}"),
            user: "azureuser".into(),
            password: None,
            disable_ssh_password_authentication: true,
            authorized_keys: vec![(
                pubkey.clone(),
                "/home/azureuser/.ssh/authorized_keys".into(),
            )],
            image: DEFAULT_IMAGE.into(),
            network: "sub/cap".into(),
            endpoints: vec![EndpointSpec {
                name: "SSH".into(),
                protocol: "tcp".into(),
                public: free_port("127.0.0.1"),
                local_port: 22,
            }],
            wants_public_ip: false,
            role_size: "ExtraSmall".into(),
            fail_provisioning: false,
            subnet_address: None,
            public_address: None,
            custom_data: None,
        })
        .collect();

    let start = Instant::now();
    for s in &specs {
        b.create(s)
            .await
            .unwrap_or_else(|e| panic!("create {}: {e}", s.id));
    }
    let created = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let mut ready = 0;
        for s in &specs {
            match b.status(&s.id).await {
                VmStatus::Ready => ready += 1,
                VmStatus::Booting => {}
                other => panic!("{}: {other:?}; {}", s.id, console_tail(&b, &s.id)),
            }
        }
        if ready == VMS {
            break;
        }
        assert!(Instant::now() < deadline, "only {ready}/{VMS} VMs ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all_ready = start.elapsed();
    for s in &specs {
        let (key, kh, ep, host) = (
            key.clone(),
            kh.clone(),
            s.endpoints[0].public,
            s.hostname.clone(),
        );
        let (rc, out, err) =
            tokio::task::spawn_blocking(move || ssh(&key, &kh, "azureuser", ep, "hostname"))
                .await
                .expect("ssh task");
        assert_eq!((rc, out.as_str()), (0, host.as_str()), "{err}");
    }
    // For the documented idle figure: CAPACITY_IDLE_SECS=30 measures after a quiet period.
    if let Some(secs) = std::env::var("CAPACITY_IDLE_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        tokio::time::sleep(Duration::from_secs(secs)).await;
    }
    let mut total = 0u64;
    for s in &specs {
        let pss = b
            .memory_usage(&s.id)
            .expect("running VM has a memory figure");
        assert!(
            pss > 1 << 20 && pss < 400 << 20,
            "{}: {} MiB",
            s.id,
            pss >> 20
        );
        total += pss;
    }
    eprintln!(
        "capacity: {VMS} VMs created in {:.2} s, all SSH-ready after {:.2} s, PSS {:.1} MiB per VM (total {:.0} MiB)",
        created.as_secs_f64(),
        all_ready.as_secs_f64(),
        total as f64 / VMS as f64 / 1048576.0,
        total as f64 / 1048576.0
    );
    let stop = Instant::now();
    b.shutdown().await;
    eprintln!(
        "capacity: shutdown of {VMS} VMs took {:.2} s",
        stop.elapsed().as_secs_f64()
    );
    // Containers powered off cleanly (SIGTERM → poweroff), they were not killed.
    let console = std::fs::read_to_string(b.console_log(&specs[0].id)).unwrap_or_default();
    eprintln!(
        "capacity: console tail: {:?}",
        console.lines().rev().take(3).collect::<Vec<_>>()
    );
    assert!(
        console.contains("has been shut down"),
        "no clean poweroff in the console log"
    );
    let left = leftovers(&bridge, state.path());
    assert!(left.is_empty(), "{left:#?}");
}
