//! Setup provider: inventory file, command line and environment, version checks, and a
//! full provider run against a stand-in `ansible-playbook` (a script that records what it
//! was given). Where it matters, the inventory is read back with the real
//! `ansible-inventory` to prove Ansible sees the values we meant.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use elasticluster::setup::ansible::{
    build_invocation, inventory, version_ok, AnsibleSettings, AnsibleSetupProvider, RunPaths,
};
use elasticluster::setup::{Host, Inventory, SetupError, SetupProvider, VarSources};

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn host(
    name: &str,
    kind: &str,
    groups: &[&str],
    port: u16,
    vars: BTreeMap<String, String>,
) -> Host {
    Host {
        name: name.into(),
        kind: kind.into(),
        groups: groups.iter().map(|s| s.to_string()).collect(),
        address: "127.0.0.1".into(),
        port,
        user: "azureuser".into(),
        jump: None,
        private_key: PathBuf::from("/keys/id rsa"),
        vars,
    }
}

/// A Slurm cluster whose variables come from all four layers.
fn sample() -> Inventory {
    let sources = VarSources {
        setup_global: map(&[("shared_home", "nfs"), ("slurm_task_plugin", "task/cgroup")]),
        setup_kind: [(
            "compute".to_string(),
            map(&[
                ("slurm_task_plugin", "task/affinity"),
                ("note", "from setup kind"),
            ]),
        )]
        .into(),
        cluster_global: map(&[("shared_home", "none"), ("note", "from cluster global")]),
        cluster_kind: [(
            "frontend".to_string(),
            map(&[
                ("odd", "it's a \"value\" # not a comment"),
                ("flag", "True"),
            ]),
        )]
        .into(),
    };
    Inventory {
        cluster_name: "mycluster".into(),
        hosts: vec![
            host(
                "frontend001",
                "frontend",
                &["slurm_master"],
                1222,
                sources.host_vars("frontend"),
            ),
            host(
                "compute001",
                "compute",
                &["slurm_workers"],
                1223,
                sources.host_vars("compute"),
            ),
            host(
                "compute002",
                "compute",
                &["slurm_workers", "extra_group"],
                1224,
                sources.host_vars("compute"),
            ),
        ],
        vars: sources.global(),
        membership_only: vec!["compute001".into()],
    }
}

fn ansible_bin(name: &str) -> PathBuf {
    let venv = Path::new("/opt/ansible-venv/bin").join(name);
    if venv.is_file() {
        return venv;
    }
    PathBuf::from(name)
}

#[test]
fn inventory_has_groups_connection_vars_and_strict_host_keys() {
    let text = inventory::render(&sample(), Path::new("/st/mycluster.known_hosts")).unwrap();
    assert!(
        text.contains("\n[slurm_master]\nfrontend001 ansible_host="),
        "{text}"
    );
    assert!(text.contains("\n[slurm_workers]\ncompute001 "), "{text}");
    assert!(text.contains("\n[extra_group]\ncompute002 "), "{text}");
    assert!(text.contains("ansible_python_interpreter=/usr/bin/python3"));
    assert!(text.contains(
        "ansible_ssh_common_args=-o UserKnownHostsFile=/st/mycluster.known_hosts -o StrictHostKeyChecking=yes"
    ));
    assert!(!text.to_lowercase().contains("stricthostkeychecking=no"));
    assert!(
        text.contains("\n[elasticluster_membership_only]\ncompute001\n"),
        "{text}"
    );
    // a name the inventory does not hold cannot be put in the group
    let mut bad = sample();
    bad.membership_only = vec!["compute009".into()];
    let err = inventory::render(&bad, Path::new("/k"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("compute009"), "{err}");
}

/// Reads the inventory back through Ansible itself and checks every variable arrives as
/// the exact string, with the documented precedence.
#[test]
fn ansible_reads_the_inventory_as_intended() {
    let dir = tempfile::tempdir().unwrap();
    let provider = AnsibleSetupProvider::new(AnsibleSettings {
        storage_dir: dir.path().to_path_buf(),
        ..Default::default()
    });
    let kh = dir.path().join("my cluster.known_hosts");
    let mut inv = sample();
    inv.hosts[2].jump = Some(elasticluster::ssh::JumpHost {
        user: "azureuser".into(),
        host: "127.0.0.1".into(),
        port: 1222,
    });
    let path = provider.write_inventory(&inv, &kh).unwrap();
    assert_eq!(path, dir.path().join("mycluster.inventory"));
    let out = Command::new(ansible_bin("ansible-inventory"))
        .arg("-i")
        .arg(&path)
        .arg("--list")
        .env("ANSIBLE_LOCALHOST_WARNING", "False")
        .output()
        .expect("ansible-inventory (ansible-core) must be installed to run this test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hv = &json["_meta"]["hostvars"];
    let front = &hv["frontend001"];
    let c1 = &hv["compute001"];
    // connection
    assert_eq!(front["ansible_host"], "127.0.0.1");
    assert_eq!(front["ansible_port"], "1222");
    assert_eq!(front["ansible_user"], "azureuser");
    assert_eq!(front["ansible_ssh_private_key_file"], "/keys/id rsa");
    assert_eq!(front["ansible_python_interpreter"], "/usr/bin/python3");
    let common = front["ansible_ssh_common_args"].as_str().unwrap();
    assert!(
        common.starts_with(&format!(
            "-o UserKnownHostsFile='{}' -o StrictHostKeyChecking=yes",
            kh.display()
        )),
        "{common}"
    );
    // precedence: kind over global, cluster section over setup section
    assert_eq!(front["shared_home"], "none");
    assert_eq!(c1["shared_home"], "none");
    assert_eq!(front["slurm_task_plugin"], "task/cgroup");
    assert_eq!(c1["slurm_task_plugin"], "task/affinity");
    // a kind value beats a global one, even across sections
    assert_eq!(c1["note"], "from setup kind");
    assert_eq!(front["note"], "from cluster global");
    // awkward values arrive verbatim, as strings
    assert_eq!(front["odd"], "it's a \"value\" # not a comment");
    assert_eq!(front["flag"], "True");
    let groups = &json["slurm_workers"]["hosts"];
    assert_eq!(groups, &serde_json::json!(["compute001", "compute002"]));
    // the node set up before is in the membership-only group, and keeps its connection
    assert_eq!(
        json["elasticluster_membership_only"]["hosts"],
        serde_json::json!(["compute001"])
    );
    assert_eq!(c1["ansible_port"], "1223");
    // compute002 is reached through the frontend: its own common args repeat the
    // known_hosts options and add a ProxyCommand that OpenSSH's shell splits back into the
    // outer hop with the same key, known_hosts and strict checking.
    let c2 = hv["compute002"]["ansible_ssh_common_args"]
        .as_str()
        .unwrap();
    assert!(c2.starts_with(common), "{c2}");
    let words = shlex::split(c2).unwrap();
    let proxy = words
        .iter()
        .find_map(|w| w.strip_prefix("ProxyCommand="))
        .unwrap_or_else(|| panic!("no ProxyCommand in {c2}"));
    let hop = shlex::split(proxy).unwrap();
    assert_eq!(hop[0], "ssh");
    assert!(
        hop.windows(2).any(|w| w == ["-i", "/keys/id rsa"]),
        "{proxy}"
    );
    assert!(
        hop.contains(&format!("UserKnownHostsFile={}", kh.display())),
        "{proxy}"
    );
    assert!(
        hop.contains(&"StrictHostKeyChecking=yes".to_string()),
        "{proxy}"
    );
    assert!(hop.windows(2).any(|w| w == ["-W", "%h:%p"]), "{proxy}");
    assert_eq!(hop.last().unwrap(), "azureuser@127.0.0.1");
    assert!(hv["compute001"]["ansible_ssh_common_args"] == front["ansible_ssh_common_args"]);
}

fn settings(dir: &Path) -> AnsibleSettings {
    AnsibleSettings {
        storage_dir: dir.to_path_buf(),
        playbook_path: None,
        bundled_playbook: None,
        ansible_command: vec!["/opt/x/ansible-playbook".into(), "--diff".into()],
        ansible_extra_args: vec!["--tags".into(), "a b".into(), "-e".into(), "x=1".into()],
        ansible_env: map(&[
            ("ansible_timeout", "99"),
            ("ansible_forks", "2"),
            ("ansible_pipelining", "False"),
        ]),
        sudo: true,
        sudo_user: Some("root".into()),
        verbosity: 2,
    }
}

#[test]
fn command_line_order_and_environment_layers() {
    let dir = tempfile::tempdir().unwrap();
    let user_env = map(&[
        ("ANSIBLE_PIPELINING", "True"),
        ("ANSIBLE_CALLBACK_PLUGINS", "/mine"),
    ]);
    let inv = build_invocation(
        &settings(dir.path()),
        RunPaths {
            playbook: Path::new("/pb/site.yml"),
            inventory: Path::new("/st/c.inventory"),
            callback_dir: Some(Path::new("/pb/callback_plugins")),
            summary: Path::new("/st/c.summary"),
            fact_cache: Some(Path::new("/st/c.facts")),
            reuse_facts: true,
        },
        12,
        &["--limit".to_string(), "compute*".to_string()],
        &user_env,
    )
    .unwrap();
    assert_eq!(inv.program, "/opt/x/ansible-playbook");
    assert_eq!(
        inv.args,
        [
            "--diff",
            "--inventory=/st/c.inventory",
            "--become",
            "--become-user=root",
            "-vv",
            "--tags",
            "a b",
            "-e",
            "x=1",
            "--limit",
            "compute*",
            "/pb/site.yml"
        ]
    );
    // config key beats the default
    assert_eq!(inv.env["ANSIBLE_TIMEOUT"], "99");
    // forks never below the number of nodes
    assert_eq!(inv.env["ANSIBLE_FORKS"], "12");
    // the user's environment wins: not overridden by the config key
    assert!(!inv.env.contains_key("ANSIBLE_PIPELINING"));
    assert_eq!(
        inv.env["ANSIBLE_CALLBACK_PLUGINS"],
        "/mine:/pb/callback_plugins"
    );
    assert_eq!(inv.env["ANSIBLE_HOST_KEY_CHECKING"], "True");
    assert!(inv.env["ANSIBLE_SSH_ARGS"].contains("ControlPersist="));
    assert!(!inv.env.contains_key("ANSIBLE_COMMAND"));
    assert!(!inv.env.contains_key("ANSIBLE_EXTRA_ARGS"));
    // nodes joined or left: facts of the nodes set up before come from the cluster's cache
    assert_eq!(inv.env["ANSIBLE_CACHE_PLUGIN"], "jsonfile");
    assert_eq!(inv.env["ANSIBLE_CACHE_PLUGIN_CONNECTION"], "/st/c.facts");
    assert_eq!(inv.env["ANSIBLE_CACHE_PLUGIN_TIMEOUT"], "0");
    assert_eq!(inv.env["ANSIBLE_GATHERING"], "smart");
}

#[test]
fn defaults_without_settings() {
    let dir = tempfile::tempdir().unwrap();
    let inv = build_invocation(
        &AnsibleSettings {
            storage_dir: dir.path().to_path_buf(),
            ..Default::default()
        },
        RunPaths {
            playbook: Path::new("/pb/site.yml"),
            inventory: Path::new("/st/c.inventory"),
            callback_dir: None,
            summary: Path::new("/st/c.summary"),
            fact_cache: None,
            reuse_facts: false,
        },
        3,
        &[],
        &BTreeMap::new(),
    )
    .unwrap();
    assert_eq!(inv.program, "ansible-playbook");
    assert_eq!(inv.args, ["--inventory=/st/c.inventory", "/pb/site.yml"]);
    assert_eq!(inv.env["ANSIBLE_FORKS"], "10");
    assert_eq!(inv.env["ANSIBLE_PIPELINING"], "True");
}

fn paths() -> RunPaths<'static> {
    RunPaths {
        playbook: Path::new("/p"),
        inventory: Path::new("/i"),
        callback_dir: None,
        summary: Path::new("/s"),
        fact_cache: None,
        reuse_facts: false,
    }
}

#[test]
fn bad_settings_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    s.ansible_env = map(&[("ansible_forks", "many")]);
    let err = build_invocation(&s, paths(), 1, &[], &BTreeMap::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("ansible_forks") && err.contains("many"),
        "{err}"
    );
}

#[test]
fn old_or_missing_ansible_gets_a_message_with_the_version_needed() {
    let err = version_ok(
        "ansible-playbook",
        "ansible-playbook 2.9.27\n  config file = None\n",
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, SetupError::AnsibleTooOld { .. }));
    assert!(
        msg.contains("2.9.27") && msg.contains("2.14 or newer"),
        "{msg}"
    );
    assert!(version_ok("ansible-playbook", "ansible-playbook [core 2.19.14]\n").is_ok());
    assert!(version_ok("x", "Python 3.11\n").is_err());

    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    s.ansible_command = vec!["/nonexistent/ansible-playbook".into()];
    let err = AnsibleSetupProvider::new(s)
        .setup(&sample(), &dir.path().join("kh"), &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("/nonexistent/ansible-playbook") && err.contains("2.14"),
        "{err}"
    );
}

/// A stand-in `ansible-playbook`: answers `--version`, records its arguments and the
/// ANSIBLE_* environment, and writes the summary the real callback would write.
fn fake_ansible(dir: &Path, version: &str, changed: u32, exit: i32) -> PathBuf {
    let path = dir.join("fake-ansible-playbook");
    let script = format!(
        r#"#!/bin/sh
if [ "$1" = "--version" ]; then echo "ansible-playbook [core {version}]"; exit 0; fi
printf '%s\n' "$@" > "{dir}/args"
env | grep -E '^(ANSIBLE_|ELASTICLUSTER_)' | sort > "{dir}/env"
printf '{{"hosts": {{"frontend001": {{"ok": 5, "changed": {changed}, "unreachable": 0, "failures": 0, "skipped": 1}}, "compute001": {{"ok": 4, "changed": 0}}}}}}' > "$ELASTICLUSTER_SETUP_SUMMARY"
exit {exit}
"#,
        dir = dir.display()
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn provider_runs_playbook_and_reports_changes() {
    let dir = tempfile::tempdir().unwrap();
    let fake = fake_ansible(dir.path(), "2.19.14", 3, 0);
    let mut s = settings(dir.path());
    s.ansible_command = vec![fake.display().to_string()];
    s.ansible_extra_args = Vec::new();
    let provider = AnsibleSetupProvider::new(s);
    let out = provider
        .setup(
            &sample(),
            &dir.path().join("mycluster.known_hosts"),
            &["--check".into()],
        )
        .unwrap();
    assert_eq!(out.changed, Some(true));
    assert_eq!(out.hosts["frontend001"].changed, 3);
    let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
    let playbook = args.lines().last().unwrap();
    // the embedded playbooks were extracted under <storage>/playbooks/<hash>/
    assert!(
        playbook.starts_with(&dir.path().join("playbooks").display().to_string()),
        "{playbook}"
    );
    assert!(Path::new(playbook).is_file());
    assert!(args.lines().any(|l| l == "--check"));
    let env = std::fs::read_to_string(dir.path().join("env")).unwrap();
    assert!(env.contains("ANSIBLE_CALLBACK_PLUGINS="), "{env}");
    assert!(dir.path().join("mycluster.inventory").is_file());

    // unchanged re-run
    let fake = fake_ansible(dir.path(), "2.19.14", 0, 0);
    let mut s = settings(dir.path());
    s.ansible_command = vec![fake.display().to_string()];
    s.ansible_extra_args = Vec::new();
    let out = AnsibleSetupProvider::new(s.clone())
        .setup(&sample(), &dir.path().join("mycluster.known_hosts"), &[])
        .unwrap();
    assert_eq!(out.changed, Some(false));

    // failing playbook: error names the command and how to re-run
    fake_ansible(dir.path(), "2.19.14", 0, 2);
    let err = AnsibleSetupProvider::new(s.clone())
        .setup(&sample(), &dir.path().join("mycluster.known_hosts"), &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("exit code 2") && err.contains("elasticluster setup mycluster"),
        "{err}"
    );

    // too old
    fake_ansible(dir.path(), "2.12.10", 0, 0);
    let err = AnsibleSetupProvider::new(s.clone())
        .setup(&sample(), &dir.path().join("mycluster.known_hosts"), &[])
        .unwrap_err();
    assert!(matches!(err, SetupError::AnsibleTooOld { .. }), "{err}");

    // cleanup removes the inventory
    AnsibleSetupProvider::new(s).cleanup("mycluster").unwrap();
    assert!(!dir.path().join("mycluster.inventory").exists());
}

#[test]
fn playbook_path_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let fake = fake_ansible(dir.path(), "2.19.14", 0, 0);
    let mut s = settings(dir.path());
    s.ansible_command = vec![fake.display().to_string()];
    s.playbook_path = Some(dir.path().join("nope.yml"));
    let err = AnsibleSetupProvider::new(s)
        .setup(&sample(), &dir.path().join("kh"), &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nope.yml") && err.contains("playbook_path"),
        "{err}"
    );
}
