//! The image is enough for a real GridEngine cluster without network access: the master's
//! spool is initialised on the VM under its own name (as the package's postinst would on a
//! real host), an execution host registers, and a job submitted on the master runs on it;
//! `qhost` shows the execution host with the cores and memory of its role size (Medium).
//! Needs root, lxcfs and the image.

mod container_common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use azure_emulator::vm::container::{ContainerBackend, ContainerOptions, DEFAULT_IMAGE};
use azure_emulator::vm::{EndpointSpec, VmBackend, VmSpec, VmStatus};
use container_common::*;

fn spec(name: &str, pubkey: &str, role_size: &str) -> VmSpec {
    VmSpec {
        id: format!("sub/sge/dep/{name}"),
        hostname: name.to_string(),
        user: "azureuser".into(),
        password: None,
        disable_ssh_password_authentication: true,
        authorized_keys: vec![(
            pubkey.to_string(),
            "/home/azureuser/.ssh/authorized_keys".into(),
        )],
        image: DEFAULT_IMAGE.into(),
        network: "sub/sge".into(),
        endpoints: vec![EndpointSpec {
            name: "SSH".into(),
            protocol: "tcp".into(),
            public: free_port("127.0.0.1"),
            local_port: 22,
        }],
        wants_public_ip: false,
        role_size: role_size.into(),
        fail_provisioning: false,
        subnet_address: None,
        public_address: None,
        custom_data: None,
    }
}

async fn on(key: &Path, kh: &Path, addr: SocketAddr, cmd: &str) -> (i32, String, String) {
    let (key, kh, cmd) = (key.to_path_buf(), kh.to_path_buf(), cmd.to_string());
    tokio::task::spawn_blocking(move || ssh(&key, &kh, "azureuser", addr, &cmd))
        .await
        .expect("ssh task")
}

const SGE: &str = "export SGE_ROOT=/var/lib/gridengine SGE_CELL=default;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gridengine_job_runs_on_an_exec_host_with_preinstalled_packages_only() {
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
    let master = spec("gemaster", &pubkey, "Small");
    let exec = spec("gecompute", &pubkey, "Medium");
    let im = b
        .create(&master)
        .await
        .unwrap_or_else(|e| panic!("create: {e}"));
    let ie = b
        .create(&exec)
        .await
        .unwrap_or_else(|e| panic!("create: {e}"));
    let deadline = Instant::now() + Duration::from_secs(180);
    for s in [&master, &exec] {
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
    let (em, ee) = (master.endpoints[0].public, exec.endpoints[0].public);
    let hosts = format!("{} gemaster\n{} gecompute\n", im.private_ip, ie.private_ip);
    for ep in [em, ee] {
        let cmd = format!(
            "printf '%s' '{hosts}' | sudo -n tee -a /etc/hosts >/dev/null && \
             echo gemaster | sudo -n tee /var/lib/gridengine/default/common/act_qmaster >/dev/null"
        );
        let (rc, _, err) = on(&key, &kh, ep, &cmd).await;
        assert_eq!(rc, 0, "{err}");
    }
    // The master: no qmaster runs before the spool is initialised on this host.
    let (_, active, _) = on(&key, &kh, em, "systemctl is-active gridengine-master").await;
    assert_ne!(
        active, "active",
        "the image must not start a qmaster on every VM"
    );
    // Queue all.q on the exec host. load_thresholds NONE: containers report the *host's*
    // load average, and on a busy shared machine the default np_load_avg=1.75 puts the
    // queue in alarm state, so no job would ever be scheduled.
    let setup = format!(
        "set -e; {SGE} \
         sudo -n runuser -u sgeadmin -- /usr/share/gridengine/scripts/init_cluster $SGE_ROOT $SGE_CELL /var/spool/gridengine/spooldb sgeadmin >/dev/null; \
         sudo -n systemctl start gridengine-master; \
         for i in $(seq 60); do sudo -n -E qconf -sh >/dev/null 2>&1 && break; sleep 0.5; done; \
         sudo -n -E qconf -ah gecompute >/dev/null; sudo -n -E qconf -as gemaster >/dev/null; \
         printf 'hostname gecompute\\nload_scaling NONE\\ncomplex_values NONE\\nuser_lists NONE\\nxuser_lists NONE\\nprojects NONE\\nxprojects NONE\\nusage_scaling NONE\\nreport_variables NONE\\n' > /tmp/ge-exechost; \
         sudo -n -E qconf -Ae /tmp/ge-exechost >/dev/null; \
         printf '#!/bin/sh\\ncp \"$1\" /tmp/ge-queue\\n' > /tmp/ge-grab; chmod +x /tmp/ge-grab; \
         sudo -n -E env EDITOR=/tmp/ge-grab qconf -aq all.q >/dev/null 2>&1 || true; \
         sed -e 's/^hostlist .*/hostlist gecompute/' -e 's/^slots .*/slots 1/' -e 's/^pe_list .*/pe_list NONE/' -e 's/^load_thresholds .*/load_thresholds NONE/' /tmp/ge-queue > /tmp/ge-allq; \
         sudo -n -E qconf -Aq /tmp/ge-allq >/dev/null; \
         qconf -ssconf | sed 's/^schedule_interval.*/schedule_interval 0:0:1/' > /tmp/ge-sconf; \
         sudo -n -E qconf -Msconf /tmp/ge-sconf >/dev/null"
    );
    let (rc, out, err) = on(&key, &kh, em, &setup).await;
    assert_eq!(rc, 0, "master setup: {out} {err}");
    let (rc, _, err) = on(&key, &kh, ee, "sudo -n systemctl restart gridengine-exec").await;
    assert_eq!(rc, 0, "execd: {err}");

    // A job submitted on the master runs on the exec host (qsub -sync waits for it).
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let (rc, out, err) = on(
            &key,
            &kh,
            em,
            &format!("{SGE} timeout 20 qsub -sync y -b y -j y -o /tmp/ge-job.out hostname"),
        )
        .await;
        if rc == 0 {
            break;
        }
        if Instant::now() > deadline {
            let (_, m, _) = on(
                &key,
                &kh,
                em,
                &format!("{SGE} qstat -f -explain a; qhost; qstat -j '*' | tail -5"),
            )
            .await;
            let (_, x, _) = on(&key, &kh, ee, "systemctl status gridengine-exec --no-pager | tail -5; sudo -n sh -c 'tail -5 /var/spool/gridengine/execd/*/messages'").await;
            panic!("job never ran: {out} {err}\nmaster: {m}\nexec host: {x}");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (rc, out, err) = on(&key, &kh, ee, "cat /tmp/ge-job.out").await;
    assert_eq!((rc, out.as_str()), (0, "gecompute"), "{err}");

    // qhost: NCPU and MEMTOT of a Medium VM (2 cores capped at the host's, 3584 MB).
    let (rc, out, err) = on(&key, &kh, em, &format!("{SGE} qhost -h gecompute")).await;
    assert_eq!(rc, 0, "{err}");
    eprintln!("qhost -h gecompute:\n{out}");
    let host_cpus: usize = shell_stdout("nproc").trim().parse().expect("nproc");
    let row: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("gecompute"))
        .unwrap_or_else(|| panic!("qhost: {out}"))
        .split_whitespace()
        .collect();
    assert_eq!(row[2], 2.min(host_cpus).to_string(), "NCPU in {out}");
    let memtot: f64 = row[7]
        .strip_suffix('G')
        .and_then(|g| g.parse().ok())
        .unwrap_or_else(|| panic!("MEMTOT in {out}"));
    assert!((memtot - 3.5).abs() < 0.06, "MEMTOT {memtot}G in {out}");
    b.shutdown().await;
    let left = leftovers(&bridge, state.path());
    assert!(left.is_empty(), "{left:#?}");
}
