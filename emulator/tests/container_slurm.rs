//! The image is enough for a real Slurm cluster without network access: three VMs
//! (controller + two compute nodes) configured over SSH the way a playbook would, then
//! `srun -N2 hostname` runs on both compute nodes. Needs root and the image.

mod container_common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use azure_emulator::vm::container::{ContainerBackend, ContainerOptions, DEFAULT_IMAGE};
use azure_emulator::vm::{EndpointSpec, VmBackend, VmSpec, VmStatus};
use container_common::*;

fn spec(name: &str, pubkey: &str) -> VmSpec {
    VmSpec {
        id: format!("sub/slurm/dep/{name}"),
        hostname: name.to_string(),
        user: "azureuser".into(),
        password: None,
        disable_ssh_password_authentication: true,
        authorized_keys: vec![(
            pubkey.to_string(),
            "/home/azureuser/.ssh/authorized_keys".into(),
        )],
        image: DEFAULT_IMAGE.into(),
        network: "sub/slurm".into(),
        endpoints: vec![EndpointSpec {
            name: "SSH".into(),
            protocol: "tcp".into(),
            public: free_port("127.0.0.1"),
            local_port: 22,
        }],
        wants_public_ip: false,
        role_size: "Small".into(),
        fail_provisioning: false,
        subnet_address: None,
        public_address: None,
        custom_data: None,
    }
}

async fn on(key: &Path, kh: &Path, addr: SocketAddr, cmd: String) -> (i32, String, String) {
    let (key, kh) = (key.to_path_buf(), kh.to_path_buf());
    tokio::task::spawn_blocking(move || ssh(&key, &kh, "azureuser", addr, &cmd))
        .await
        .expect("ssh task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slurm_runs_across_vms_with_preinstalled_packages_only() {
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
    let names = ["frontend001", "compute001", "compute002"];
    let specs: Vec<VmSpec> = names.iter().map(|n| spec(n, &pubkey)).collect();
    let mut ips = Vec::new();
    for s in &specs {
        ips.push(
            b.create(s)
                .await
                .unwrap_or_else(|e| panic!("create: {e}"))
                .private_ip,
        );
    }
    let deadline = Instant::now() + Duration::from_secs(180);
    for s in &specs {
        while b.status(&s.id).await != VmStatus::Ready {
            assert!(
                matches!(b.status(&s.id).await, VmStatus::Booting),
                "{:?}",
                b.status(&s.id).await
            );
            assert!(Instant::now() < deadline, "{} not ready", s.id);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    let hosts: String = names
        .iter()
        .zip(&ips)
        .map(|(n, ip)| format!("{ip} {n}\n"))
        .collect();
    let conf = format!(
        "ClusterName=emu\nSlurmctldHost=frontend001({})\nAuthType=auth/munge\nCryptoType=crypto/munge\n\
         ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nJobAcctGatherType=jobacct_gather/none\n\
         MpiDefault=none\nSwitchType=switch/none\nSchedulerType=sched/backfill\nSelectType=select/cons_tres\n\
         SelectTypeParameters=CR_Core\nSlurmUser=slurm\nStateSaveLocation=/var/lib/slurm/slurmctld\n\
         SlurmdSpoolDir=/var/lib/slurm/slurmd\nReturnToService=2\n\
         NodeName=compute001 NodeAddr={} CPUs=1 State=UNKNOWN\nNodeName=compute002 NodeAddr={} CPUs=1 State=UNKNOWN\n\
         PartitionName=main Nodes=compute00[1-2] Default=YES MaxTime=INFINITE State=UP\n",
        ips[0], ips[1], ips[2]
    );
    for (i, s) in specs.iter().enumerate() {
        let daemon = if i == 0 { "slurmctld" } else { "slurmd" };
        let cmd = format!(
            "printf '%s' '{hosts}' | sudo -n tee -a /etc/hosts >/dev/null && \
             printf '%s' '{conf}' | sudo -n tee /etc/slurm/slurm.conf >/dev/null && \
             sudo -n systemctl restart munge {daemon}"
        );
        let (rc, _, err) = on(&key, &kh, s.endpoints[0].public, cmd).await;
        assert_eq!(rc, 0, "{}: {err}", s.hostname);
    }
    // Poll until both compute nodes answer (slurmd registration takes a moment).
    let fe = specs[0].endpoints[0].public;
    let deadline = Instant::now() + Duration::from_secs(90);
    let out = loop {
        let (rc, out, err) = on(
            &key,
            &kh,
            fe,
            "timeout 20 srun -N2 hostname 2>&1 | sort".into(),
        )
        .await;
        if rc == 0 && out.lines().collect::<Vec<_>>() == ["compute001", "compute002"] {
            break out;
        }
        assert!(
            Instant::now() < deadline,
            "srun never ran on both nodes: rc {rc}, {out} {err}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert!(out.contains("compute001"));
    b.shutdown().await;
    let left = leftovers(&bridge, state.path());
    assert!(left.is_empty(), "{left:#?}");
}
