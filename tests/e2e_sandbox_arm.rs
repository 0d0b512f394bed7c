//! End to end on Azure Resource Manager, for real: the README's `sandbox-arm` template
//! (`examples/sandbox.conf`) through the `elasticluster` binary. The tool starts its bundled
//! emulator with the ARM face, registers a generated service principal, creates a resource
//! group with a network and three container VMs — only the frontend with a public address,
//! the compute nodes reached through it — Ansible installs Slurm through the frontend,
//! `srun -N2 hostname` runs on both compute nodes, `ssh` and `sftp` reach a compute node
//! through the frontend, `resize -a` adds a node Slurm uses at once, `remove-node` drains
//! and removes it with no ghost left in `sinfo`, `stop` deletes the group and stops the
//! emulator; the emulator,
//! restarted on the same state, lists no resource group over ARM.
//!
//! Needs root, systemd-nspawn and ansible-playbook on PATH (`bash .ci/run` provides them).

use std::time::Duration;

#[path = "support/sandbox_cluster.rs"]
mod sandbox_cluster;
use elasticluster::providers::azure_arm::model::ResourceGroup;
use elasticluster::providers::azure_arm::secret::{ClientSecret, SecretSource};
use elasticluster::providers::azure_arm::token::Credentials;
use elasticluster::providers::azure_arm::{ArmOptions, ArmProvider, ArmSettings};
use elasticluster::providers::azure_sandbox::Sandbox;
use sandbox_cluster::{text, SandboxCluster};

const CLUSTER: &str = "sandbox-arm";

/// Resource groups the sandbox's emulator still has, asked over ARM with the sandbox's own
/// service principal (the emulator is restarted on the stopped sandbox's state, then stopped).
fn groups_left(env: &SandboxCluster) -> Vec<String> {
    // This test process is not installed next to the emulator as the tool is: find it on
    // PATH, in the directory of the `elasticluster` binary under test (target/…/).
    let tool = assert_cmd::cargo::cargo_bin("elasticluster");
    let bin_dir = tool.parent().expect("target directory").to_path_buf();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin_dir];
    dirs.extend(std::env::split_paths(&path));
    // The only test of this binary: no other thread reads PATH meanwhile.
    std::env::set_var("PATH", std::env::join_paths(dirs).expect("PATH"));
    let sandbox = Sandbox::new(env.storage.join("sandbox"));
    let ep = sandbox
        .ensure_running(&mut |_| {})
        .expect("restart the sandbox emulator on its state");
    let arm = ep.arm.clone().expect("the emulator has its ARM face");
    let settings = ArmSettings {
        subscription_id: ep.subscription_id.clone(),
        credentials: Credentials {
            authority: arm.authority_url.clone(),
            tenant: arm.tenant_id.clone(),
            client_id: arm.client_id.clone(),
            secret: ClientSecret::From(SecretSource::File {
                path: arm.secret_file.clone(),
            }),
            scope: format!("{}/.default", arm.arm_url),
        },
        arm_endpoint: arm.arm_url.clone(),
        ca_certificate: Some(ep.ca_certificate.clone()),
        location: "eastus".into(),
        base_name: CLUSTER.into(),
        use_public_ips: false,
        user_key_public: env.home.join(".elasticluster/sandbox-key.pub"),
        identity: elasticluster::providers::ClusterIdentity {
            name: "c".into(),
            owner_id: Some("0123456789abcdef".into()),
        },
        options: ArmOptions::default(),
    };
    let p = ArmProvider::new(settings).expect("provider");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let groups: Vec<ResourceGroup> = rt
        .block_on(
            p.client()
                .list(&p.client().url(&p.paths().groups_url()), "listing groups"),
        )
        .expect("list resource groups");
    sandbox.stop().expect("stop the emulator again");
    groups.into_iter().map(|g| g.name).collect()
}

#[test]
fn slurm_on_arm_sandbox_end_to_end() {
    let env = SandboxCluster::new(
        "the ARM sandbox end-to-end test",
        CLUSTER,
        Duration::from_secs(1500),
    );
    let out = env.run(&["start", CLUSTER]);
    assert!(out.status.success(), "start failed: {}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains(&format!("Your cluster `{CLUSTER}` is ready!")),
        "{}",
        text(&out)
    );
    // Compute nodes have no public address: they are reached through the frontend.
    let out = env.run(&["list-nodes", CLUSTER, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    for n in v["nodes"].as_array().expect("nodes") {
        if n["kind"] == "compute" {
            assert_eq!(n["via"], "frontend001", "{n}");
        }
    }

    // srun exits 0 even when a launch failed: check what it printed.
    let out = env.ssh(&["--", "srun -N2 hostname"]);
    let mut hosts: Vec<&str> = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    hosts.sort();
    assert_eq!(
        hosts,
        ["compute001", "compute002"],
        "srun -N2 hostname printed: {out}"
    );
    let seen = env.ssh(&["-n", "compute002", "--", "hostname"]);
    assert_eq!(seen.trim(), "compute002");
    // sftp through the frontend too
    let batch = env.home.join("sftp-batch");
    std::fs::write(&batch, "pwd\n").expect("batch file");
    let out = env.run(&[
        "sftp",
        CLUSTER,
        "-n",
        "compute001",
        "--",
        "-b",
        &batch.display().to_string(),
    ]);
    assert!(out.status.success(), "sftp failed: {}", text(&out));

    // Membership changes behind the jump host, as on classic: a new node gets the whole
    // playbook through the frontend and Slurm uses it at once; removing an idle node drains
    // it, deletes its VM and leaves no ghost in sinfo.
    let out = env.run(&["resize", CLUSTER, "-a", "1:compute", "--yes"]);
    assert!(out.status.success(), "resize -a failed: {}", text(&out));
    let out = env.ssh(&["--", "srun -N3 hostname"]);
    let mut hosts: Vec<&str> = out.split_whitespace().collect();
    hosts.sort();
    assert_eq!(
        hosts,
        ["compute001", "compute002", "compute003"],
        "srun -N3 hostname after resize printed: {out}"
    );
    let out = env.run(&["remove-node", CLUSTER, "compute003", "--yes"]);
    assert!(out.status.success(), "remove-node failed: {}", text(&out));
    let nodes = env.ssh(&["--", "sinfo -h -N -o %N"]);
    let mut nodes: Vec<&str> = nodes.split_whitespace().collect();
    nodes.sort();
    nodes.dedup();
    assert_eq!(
        nodes,
        ["compute001", "compute002"],
        "sinfo after remove-node compute003"
    );

    let out = env.run(&["stop", CLUSTER, "--yes"]);
    assert!(out.status.success(), "stop failed: {}", text(&out));
    assert!(
        !env.storage.join(format!("{CLUSTER}.toml")).exists(),
        "state file left behind"
    );
    assert_eq!(
        groups_left(&env),
        Vec::<String>::new(),
        "resource groups left in the emulator"
    );
}
