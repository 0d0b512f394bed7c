//! The embedded playbooks, checked with the real Ansible tools: `--syntax-check` of
//! `site.yml` on an inventory written by the provider, `ansible-lint` (production
//! profile), and a check-mode run of the NFS roles on this machine (connection local,
//! nothing changed) whose diff must show the export and the fstab line.
//!
//! Needs ansible-core and ansible-lint (on PATH or in /opt/ansible-venv/bin).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use elasticluster::setup::ansible::{playbooks, AnsibleSettings, AnsibleSetupProvider};
use elasticluster::setup::{Host, Inventory};

fn bin(name: &str) -> PathBuf {
    let venv = Path::new("/opt/ansible-venv/bin").join(name);
    if venv.is_file() {
        venv
    } else {
        PathBuf::from(name)
    }
}

fn repo_playbooks() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks")
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} (is ansible-core installed?): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn node(name: &str, kind: &str, groups: &[&str]) -> Host {
    Host {
        name: name.into(),
        kind: kind.into(),
        groups: groups.iter().map(|s| s.to_string()).collect(),
        address: "10.0.0.1".into(),
        port: 22,
        user: "user".into(),
        jump: None,
        private_key: PathBuf::from("/dev/null"),
        vars: BTreeMap::new(),
    }
}

#[test]
fn site_playbook_passes_syntax_check_on_generated_inventory() {
    let dir = tempfile::tempdir().unwrap();
    let provider = AnsibleSetupProvider::new(AnsibleSettings {
        storage_dir: dir.path().to_path_buf(),
        ..Default::default()
    });
    for (groups_f, groups_c) in [
        (&["slurm_master"][..], &["slurm_workers"][..]),
        (&["slurm_master"][..], &["slurm_clients"][..]),
        (&["gridengine_master"][..], &["gridengine_clients"][..]),
    ] {
        let inv = Inventory {
            cluster_name: "c".into(),
            hosts: vec![
                node("frontend001", "frontend", groups_f),
                node("compute001", "compute", groups_c),
            ],
            vars: BTreeMap::new(),
            membership_only: Vec::new(),
        };
        let inv_path = provider
            .write_inventory(&inv, &dir.path().join("c.known_hosts"))
            .unwrap();
        let pb = playbooks::extract(dir.path()).unwrap();
        let (ok, out) = run(Command::new(bin("ansible-playbook"))
            .arg("--syntax-check")
            .arg(format!("--inventory={}", inv_path.display()))
            .arg(pb.join("site.yml")));
        assert!(
            ok,
            "syntax check failed for {groups_f:?}/{groups_c:?}:\n{out}"
        );
        assert!(out.contains("playbook:"), "{out}");
    }
}

#[test]
fn playbooks_are_ansible_lint_clean_with_production_profile() {
    // Run on a copy so lint caches never land in the source tree.
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = run(Command::new("cp")
        .arg("-a")
        .arg(repo_playbooks())
        .arg(dir.path()));
    assert!(ok, "{out}");
    let copy = dir.path().join("playbooks");
    let (ok, out) = run(Command::new(bin("ansible-lint"))
        .arg("--offline")
        .arg("--profile=production")
        .current_dir(&copy)
        .env("HOME", dir.path()));
    assert!(ok, "ansible-lint failed:\n{out}");
    assert!(
        out.contains("Profile 'production' was required, and it passed"),
        "{out}"
    );
}

/// The NFS roles cannot run for real on this kernel (no NFS), so they run in check mode
/// against this machine: nothing is changed, and the diff shows what would be.
#[test]
fn nfs_roles_in_check_mode_show_export_and_fstab_lines() {
    let dir = tempfile::tempdir().unwrap();
    let pb = playbooks::extract(dir.path()).unwrap();
    let inv = dir.path().join("inventory");
    std::fs::write(
        &inv,
        "[slurm_master]\n\
         frontend001 ansible_connection=local ansible_python_interpreter=/usr/bin/python3 common_node_address=10.1.2.2\n\
         [slurm_workers]\n\
         compute001 ansible_host=10.1.2.3 common_node_address=10.1.2.3\n\
         [gridengine_clients]\n\
         compute002 ansible_host=10.1.2.4 common_node_address=10.1.2.4\n",
    )
    .unwrap();
    let play = dir.path().join("check.yml");
    std::fs::write(
        &play,
        "- name: NFS server in check mode\n  hosts: slurm_master\n  gather_facts: true\n  roles: [nfs_server]\n\
         - name: NFS client in check mode\n  hosts: slurm_master\n  gather_facts: false\n  vars:\n    nfs_client_server: frontend001\n  roles: [nfs_client]\n",
    )
    .unwrap();
    let exports_before = std::fs::read("/etc/exports").ok();
    let fstab_before = std::fs::read("/etc/fstab").ok();
    let (ok, out) = run(Command::new(bin("ansible-playbook"))
        .arg("-i")
        .arg(&inv)
        .arg("--check")
        .arg("--diff")
        .arg(&play)
        .env("ANSIBLE_ROLES_PATH", pb.join("roles"))
        .env("ANSIBLE_HOST_PATTERN_MISMATCH", "ignore"));
    assert!(ok, "check-mode run failed:\n{out}");
    assert!(
        out.contains(
            "+/home 10.1.2.3(rw,no_root_squash,async,no_subtree_check,crossmnt) 10.1.2.4(rw,"
        ),
        "export line missing from the diff:\n{out}"
    );
    assert!(
        out.contains("+frontend001:/home /home nfs rw,hard,_netdev 0 0"),
        "fstab line missing from the diff:\n{out}"
    );
    assert!(out.contains("failed=0"), "{out}");
    // check mode really changed nothing
    assert_eq!(std::fs::read("/etc/exports").ok(), exports_before);
    assert_eq!(std::fs::read("/etc/fstab").ok(), fstab_before);
}

/// The configuration refuses groups the bundled playbooks do not configure: its list must be
/// exactly the groups `site.yml`'s plays name (besides `all`, the deprecated
/// `slurm_clients`, which the configuration renames, the group elasticluster itself
/// fills with the nodes that get only membership updates, and the group the first play
/// fills when the nodes need setting up).
#[test]
fn configuration_knows_exactly_the_bundled_groups() {
    let site = std::fs::read_to_string(repo_playbooks().join("site.yml")).unwrap();
    let mut named: Vec<String> = site
        .lines()
        .filter_map(|l| l.trim().strip_prefix("hosts:"))
        .flat_map(|h| {
            h.trim()
                .trim_matches('"')
                .split(':')
                .map(|g| g.trim_start_matches(['!', '&']).to_string())
                .collect::<Vec<_>>()
        })
        .filter(|g| {
            g != "all"
                && g != "slurm_clients"
                && g != elasticluster::setup::MEMBERSHIP_ONLY_GROUP
                && g != elasticluster::setup::SETUP_RUN_GROUP
        })
        .collect();
    named.sort();
    named.dedup();
    let mut known: Vec<String> = elasticluster::config::BUNDLED_GROUPS
        .iter()
        .map(|g| g.to_string())
        .collect();
    known.sort();
    assert_eq!(named, known);
}

/// `ansible localhost` (connection local) running `module` from `library` on this machine;
/// the caller adds the module's arguments.
fn module_on_localhost(library: &Path, module: &str) -> Command {
    let mut cmd = Command::new(bin("ansible"));
    cmd.args(["localhost", "-c", "local", "-M"])
        .arg(library)
        .args(["-m", module])
        .env("ANSIBLE_PYTHON_INTERPRETER", "/usr/bin/python3")
        .env("ANSIBLE_LOCALHOST_WARNING", "false")
        .env("ANSIBLE_INVENTORY_UNPARSED_WARNING", "false");
    cmd
}

/// Runs the playbooks' node-state module on this machine with `args` (JSON); returns
/// whether it succeeded and what it printed.
fn node_state(library: &Path, args: &serde_json::Value) -> (bool, String) {
    run(module_on_localhost(library, "elasticluster_node_state")
        .arg("-a")
        .arg(args.to_string()))
}

/// What lets an unchanged cluster be only checked: after `record`, `check` with the same
/// inputs finds the node converged, and it is not once anything recorded differs — the
/// inputs, a file's content, its mode, a file that was absent, a package, a check.
#[test]
fn node_state_module_finds_every_difference_from_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let pb = playbooks::extract(dir.path()).unwrap();
    let library = pb.join("library");
    let conf = dir.path().join("node.conf");
    let absent = dir.path().join("absent.conf");
    let manifest = dir.path().join("state/setup-state.json");
    std::fs::write(&conf, "a = 1\n").unwrap();
    let part = serde_json::json!({
        "files": [conf, absent],
        "packages": ["bash"],
        "checks": [format!("grep -q 'a = 1' {}", conf.display())],
    });
    let args = |state: &str, inputs: &str| serde_json::json!({"state": state, "inputs": inputs, "path": manifest, "parts": [part]});
    let check = |inputs: &str| {
        let (ok, out) = node_state(&library, &args("check", inputs));
        assert!(ok, "check failed to run:\n{out}");
        out
    };
    let converged = |out: &str| out.contains("\"converged\": true");

    let out = check("i1");
    assert!(
        !converged(&out) && out.contains("no complete setup recorded"),
        "{out}"
    );
    let (ok, out) = node_state(&library, &args("record", "i1"));
    assert!(ok && out.contains("\"changed\": true"), "{out}");
    assert!(converged(&check("i1")), "{}", check("i1"));
    // Recording the same again changes nothing.
    let (ok, out) = node_state(&library, &args("record", "i1"));
    assert!(ok && out.contains("\"changed\": false"), "{out}");

    let out = check("i2");
    assert!(!converged(&out) && out.contains("inventory or the setup arguments changed"));

    std::fs::write(&conf, "a = 2\n").unwrap();
    let out = check("i1");
    assert!(!converged(&out), "{out}");
    assert!(out.contains(&format!(
        "{}: content, owner or mode changed",
        conf.display()
    )));
    assert!(out.contains("check failed: grep"), "{out}");
    std::fs::write(&conf, "a = 1\n").unwrap();
    assert!(converged(&check("i1")));

    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&conf).unwrap().permissions().mode();
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(mode ^ 0o004)).unwrap();
    assert!(!converged(&check("i1")));
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(mode)).unwrap();

    std::fs::write(&absent, "").unwrap();
    let out = check("i1");
    assert!(
        out.contains(&format!("{}: exists", absent.display())),
        "{out}"
    );
    std::fs::remove_file(&absent).unwrap();
    assert!(converged(&check("i1")));

    // A package recorded at another version (as after an upgrade) is a difference too.
    let text = std::fs::read_to_string(&manifest).unwrap();
    let mut recorded: serde_json::Value = serde_json::from_str(&text).unwrap();
    recorded["packages"]["bash"] = "0.0-older".into();
    std::fs::write(&manifest, recorded.to_string()).unwrap();
    let out = check("i1");
    assert!(!converged(&out) && out.contains("package bash"), "{out}");
}

/// Runs the packages role's facts module on this machine with `path_prefix` (a directory
/// with a stand-in `dpkg-query`, or none) first on PATH; returns `ansible_facts.packages`.
fn package_facts(path_prefix: Option<&Path>) -> serde_json::Map<String, serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let pb = playbooks::extract(dir.path()).unwrap();
    let mut path = std::env::var_os("PATH").unwrap_or_default();
    if let Some(prefix) = path_prefix {
        path = std::env::join_paths(
            std::iter::once(prefix.to_path_buf()).chain(std::env::split_paths(&path)),
        )
        .unwrap();
    }
    let library = pb.join("roles/packages/library");
    let (ok, out) = run(module_on_localhost(&library, "elasticluster_package_facts")
        .arg("--tree")
        .arg(dir.path().join("tree"))
        .env("PATH", path));
    assert!(ok, "the module failed:\n{out}");
    let text = std::fs::read_to_string(dir.path().join("tree/localhost")).unwrap();
    let mut result: serde_json::Value = serde_json::from_str(&text).unwrap();
    result["ansible_facts"]["packages"]
        .as_object_mut()
        .unwrap()
        .clone()
}

/// The packages role reads what is installed with its own module (one dpkg-query) instead
/// of package_facts: the roles rely on `ansible_facts.packages[name][0].version`, and on a
/// package being absent unless dpkg has it fully installed, so that the role installs it.
#[test]
fn package_facts_module_reports_what_dpkg_has_installed() {
    // This machine's dpkg: every installed package, at dpkg's version.
    let packages = package_facts(None);
    let listing = Command::new("dpkg-query")
        .args([
            "--show",
            "--showformat=${Package}\t${Version}\t${db:Status-Status}\n",
        ])
        .output()
        .unwrap();
    let listing = String::from_utf8(listing.stdout).unwrap();
    let installed: Vec<(&str, &str)> = listing
        .lines()
        .filter_map(|l| match l.split('\t').collect::<Vec<_>>()[..] {
            [name, version, "installed"] => Some((name, version)),
            _ => None,
        })
        .collect();
    assert!(installed.len() > 50, "{listing}");
    for (name, version) in installed {
        let reported = &packages[name][0]["version"];
        assert_eq!(reported, version, "{name}");
    }
    assert!(!packages.contains_key("no-such-package-elasticluster"));

    // States this machine may not have: only `installed` counts, and a package installed
    // for two architectures is listed under its name twice.
    let fake = tempfile::tempdir().unwrap();
    let script = fake.path().join("dpkg-query");
    std::fs::write(
        &script,
        "#!/bin/sh\nprintf '%s\\t%s\\t%s\\t%s\\n' \\\n  \
         slurmd 22.05.8-4 amd64 installed \\\n  \
         libc6 2.36-9 amd64 installed \\\n  \
         libc6 2.36-9 i386 installed \\\n  \
         munge 0.5.15-2 amd64 half-configured \\\n  \
         mariadb-server 1:10.11.6-0 amd64 unpacked \\\n  \
         slurmctld 22.05.8-4 amd64 config-files\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let packages = package_facts(Some(fake.path()));
    let mut names: Vec<&String> = packages.keys().collect();
    names.sort();
    assert_eq!(names, ["libc6", "slurmd"]);
    assert_eq!(packages["slurmd"][0]["version"], "22.05.8-4");
    assert_eq!(packages["libc6"].as_array().unwrap().len(), 2);
}

/// Runs the Slurm role's one-run file writer on this machine with `args` (JSON); returns
/// whether it succeeded and what it printed.
fn content_module(library: &Path, args: &serde_json::Value) -> (bool, String) {
    run(module_on_localhost(library, "elasticluster_content")
        .arg("-a")
        .arg(args.to_string()))
}

/// slurm.conf and the MUNGE key are written with one module run per node: the file gets
/// the content, owner and mode; an unchanged file is not changed; a drifted content or
/// mode is put back; the content (a secret, for the key) is never printed.
#[test]
fn content_module_writes_and_repairs_a_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let pb = playbooks::extract(dir.path()).unwrap();
    let library = pb.join("roles/slurm/library");
    let dest = dir.path().join("munge.key");
    let args = |content: &str| serde_json::json!({"dest": dest, "content": content, "owner": "root", "group": "root", "mode": "0400"});
    let mode = || std::fs::metadata(&dest).unwrap().permissions().mode() & 0o7777;

    let (ok, out) = content_module(&library, &args("secret-key-1"));
    assert!(ok && out.contains("\"changed\": true"), "{out}");
    assert!(
        !out.contains("secret-key-1"),
        "the content was printed: {out}"
    );
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "secret-key-1");
    assert_eq!(mode(), 0o400);

    let (ok, out) = content_module(&library, &args("secret-key-1"));
    assert!(ok && out.contains("\"changed\": false"), "{out}");

    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, out) = content_module(&library, &args("secret-key-1"));
    assert!(ok && out.contains("\"changed\": true"), "{out}");
    assert_eq!(mode(), 0o400);

    let (ok, out) = content_module(&library, &args("secret-key-2\n"));
    assert!(ok && out.contains("\"changed\": true"), "{out}");
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "secret-key-2\n");
    assert_eq!(mode(), 0o400);
    // Nothing of the writing is left beside it.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.to_string_lossy().starts_with(".elasticluster-")),
        "{names:?}"
    );

    let missing = serde_json::json!({"dest": dir.path().join("no/such/dir/f"), "content": "some content", "mode": "0644"});
    let (ok, out) = content_module(&library, &missing);
    assert!(!ok && out.contains("does not exist"), "{out}");
}
