//! Manual end-to-end check of the setup provider against hosts that already run (for
//! instance hand-booted containers); ignored by default because it needs them.
//!
//! ```sh
//! ELASTICLUSTER_LIVE_HOSTS="frontend001=10.200.173.10 compute001=10.200.173.11 compute002=10.200.173.12" \
//! ELASTICLUSTER_LIVE_USER=elastic ELASTICLUSTER_LIVE_KEY=/path/id_ed25519 \
//! ELASTICLUSTER_LIVE_KNOWN_HOSTS=/path/known_hosts ELASTICLUSTER_LIVE_SCHEDULER=slurm \
//! ELASTICLUSTER_LIVE_VARS="shared_home=none slurm_proctrack_type=proctrack/linuxproc slurm_task_plugin=task/none" \
//! cargo test --test setup_live -- --ignored --nocapture
//! ```
//!
//! The first host is the frontend, the others are workers. It runs setup twice (the
//! second run must change nothing) and then the readiness check.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use elasticluster::setup::ansible::{AnsibleSettings, AnsibleSetupProvider};
use elasticluster::setup::{readiness, Host, Inventory, SetupProvider};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("set {name} (see the comment at the top)"))
}

#[test]
#[ignore = "needs running hosts; see the comment at the top of the file"]
fn live_setup_twice_then_ready() {
    let scheduler = var("ELASTICLUSTER_LIVE_SCHEDULER");
    let (master, worker) = match scheduler.as_str() {
        "slurm" => ("slurm_master", "slurm_workers"),
        "slurm_clients" => ("slurm_master", "slurm_clients"),
        "gridengine" => ("gridengine_master", "gridengine_clients"),
        other => panic!("unknown scheduler {other}"),
    };
    let key = PathBuf::from(var("ELASTICLUSTER_LIVE_KEY"));
    let user = var("ELASTICLUSTER_LIVE_USER");
    let hosts: Vec<Host> = var("ELASTICLUSTER_LIVE_HOSTS")
        .split_whitespace()
        .enumerate()
        .map(|(i, spec)| {
            let (name, address) = spec.split_once('=').expect("name=address");
            Host {
                name: name.into(),
                kind: if i == 0 { "frontend" } else { "compute" }.into(),
                groups: vec![if i == 0 { master } else { worker }.into()],
                address: address.into(),
                port: 22,
                user: user.clone(),
                private_key: key.clone(),
                vars: BTreeMap::new(),
            }
        })
        .collect();
    let vars: BTreeMap<String, String> = std::env::var("ELASTICLUSTER_LIVE_VARS")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let inventory = Inventory {
        cluster_name: "live".into(),
        hosts,
        vars,
    };
    let storage = tempfile::tempdir().unwrap();
    let known_hosts = PathBuf::from(var("ELASTICLUSTER_LIVE_KNOWN_HOSTS"));
    let provider = AnsibleSetupProvider::new(AnsibleSettings {
        storage_dir: storage.path().to_path_buf(),
        ansible_command: std::env::var("ELASTICLUSTER_LIVE_ANSIBLE")
            .ok()
            .into_iter()
            .collect(),
        sudo: true,
        sudo_user: Some("root".into()),
        ..Default::default()
    });
    let t = Instant::now();
    let first = provider.setup(&inventory, &known_hosts, &[]).unwrap();
    eprintln!("first run: {:?} in {:.1?}", first.changed, t.elapsed());
    let t = Instant::now();
    let second = provider.setup(&inventory, &known_hosts, &[]).unwrap();
    eprintln!("second run: {:?} in {:.1?}", second.changed, t.elapsed());
    assert_eq!(second.changed, Some(false), "{:?}", second.hosts);
    let t = Instant::now();
    let ready = readiness::wait_ready(&inventory, &known_hosts, Duration::from_secs(60)).unwrap();
    eprintln!("readiness: {ready:?} in {:.1?}", t.elapsed());
    assert!(ready.ready, "{ready:?}");
}
