//! End to end, for real: the README's sandbox config (`examples/sandbox.conf`) through the
//! `elasticluster` binary. The tool starts its own Azure-classic emulator with container VMs,
//! the embedded playbooks install Slurm / GridEngine, jobs run, a second setup changes
//! nothing, `stop` deletes every cloud resource and stops the emulator.
//!
//! Needs root, systemd-nspawn, ansible-playbook on PATH and the emulator's VM image (`.ci/run`
//! provides all of them). Each test has its own storage dir, hence its own emulator, bridge,
//! subnet and VIP block; a guard stops the cluster even when an assertion fails.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;

struct Sandbox {
    _home: tempfile::TempDir,
    home: PathBuf,
    storage: PathBuf,
    cluster: &'static str,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The virtualenv holding `ansible-playbook` (the sandbox config points at
/// `~/.elasticluster/ansible/bin/ansible-playbook`).
fn ansible_venv() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        if dir.join("ansible-playbook").is_file() {
            return dir.parent().map(Path::to_path_buf).unwrap_or(dir);
        }
    }
    panic!(
        "ansible-playbook is not on PATH: run the tests through `bash .ci/run`, which installs it"
    );
}

impl Sandbox {
    fn new(cluster: &'static str) -> Sandbox {
        // SAFETY: geteuid has no preconditions.
        assert_eq!(
            unsafe { libc::geteuid() },
            0,
            "the sandbox end-to-end tests need root (network namespaces, containers): run them through `bash .ci/run` as root"
        );
        let emulator =
            assert_cmd::cargo::cargo_bin("elasticluster").with_file_name("azure-emulator");
        assert!(
            emulator.is_file(),
            "{} is missing: build it with `cargo build --workspace` first",
            emulator.display()
        );
        let home_dir = tempfile::tempdir().expect("temp home");
        let home = home_dir.path().to_path_buf();
        let dot = home.join(".elasticluster");
        std::fs::create_dir_all(&dot).expect("mkdir ~/.elasticluster");
        std::os::unix::fs::symlink(ansible_venv(), dot.join("ansible")).expect("link ansible venv");
        let st = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f"])
            .arg(dot.join("sandbox-key"))
            .status()
            .expect("run ssh-keygen");
        assert!(st.success(), "ssh-keygen failed");
        let storage = home.join("storage");
        Sandbox {
            _home: home_dir,
            home,
            storage,
            cluster,
        }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("elasticluster").expect("elasticluster binary");
        c.env("HOME", &self.home)
            .env_remove("ELASTICLUSTER_SANDBOX_TIME_SCALE")
            .arg("-s")
            .arg(&self.storage)
            .arg("-c")
            .arg(repo().join("examples/sandbox.conf"))
            .timeout(Duration::from_secs(1200));
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run elasticluster")
    }

    fn ssh(&self, args: &[&str]) -> String {
        let mut all = vec!["ssh", self.cluster];
        all.extend_from_slice(args);
        let out = self.run(&all);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "`elasticluster {}` failed: {}\n{}",
            all.join(" "),
            text,
            String::from_utf8_lossy(&out.stderr)
        );
        text
    }

    fn emulator_state(&self) -> PathBuf {
        self.storage.join("sandbox").join("emulator")
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if self.storage.join(format!("{}.toml", self.cluster)).exists() {
            let _ = self.run(&["stop", self.cluster, "--yes"]);
        }
    }
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn start_ready(sb: &Sandbox) {
    let out = sb.run(&["start", sb.cluster]);
    assert!(out.status.success(), "start failed: {}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("Your cluster `{}` is ready!", sb.cluster)),
        "{}",
        text(&out)
    );
}

/// The file a user writes in their home on the frontend is visible on a compute node.
fn check_shared_home(sb: &Sandbox) {
    let token = format!("e2e-{}", std::process::id());
    sb.ssh(&["--", &format!("echo {token} > ~/shared-home-check")]);
    let seen = sb.ssh(&["-n", "compute002", "--", "cat ~/shared-home-check"]);
    assert_eq!(seen.trim(), token);
}

/// A second setup on an unchanged cluster changes nothing and still reports ready.
fn check_idempotent_setup(sb: &Sandbox) {
    let out = sb.run(&["setup", sb.cluster]);
    assert!(out.status.success(), "setup failed: {}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("changed nothing"),
        "second setup changed something: {}",
        text(&out)
    );
    assert!(stdout.contains("is ready!"), "{}", text(&out));
}

/// `stop` deletes everything and stops the emulator: no state left, no VM process left, and
/// the emulator's own inventory (its admin API, read from its persisted state) is empty.
fn check_clean_stop(sb: &Sandbox) {
    let out = sb.run(&["stop", sb.cluster, "--yes"]);
    assert!(out.status.success(), "stop failed: {}", text(&out));
    assert!(
        !sb.storage.join(format!("{}.toml", sb.cluster)).exists(),
        "state file left behind"
    );
    assert!(!sb
        .storage
        .join(format!("{}.known_hosts", sb.cluster))
        .exists());
    let ps = std::process::Command::new("ps")
        .args(["-eo", "args"])
        .output()
        .expect("ps");
    let procs = String::from_utf8_lossy(&ps.stdout);
    let mine = sb.emulator_state().display().to_string();
    assert!(
        !procs.lines().any(|l| l.contains(&mine)),
        "processes of this sandbox are still running"
    );

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let inventory = rt.block_on(async {
        let dir = sb.storage.join("sandbox");
        let sub =
            std::fs::read_to_string(dir.join("subscription-id")).expect("sandbox subscription id");
        let opts = azure_emulator::EmulatorOptions {
            state_dir: sb.emulator_state(),
            subscriptions: vec![(sub.trim().to_string(), dir.join("management.pem"))],
            ..Default::default()
        };
        let emu = azure_emulator::start(opts)
            .await
            .expect("reopen the emulator state");
        let inv = emu.inventory().await;
        emu.shutdown().await;
        inv
    });
    let subs = inventory["subscriptions"]
        .as_object()
        .expect("subscriptions");
    assert!(
        !subs.is_empty(),
        "the sandbox subscription is missing: {inventory}"
    );
    for (id, s) in subs {
        for key in ["hosted_services", "storage_accounts", "disks", "vnet_sites"] {
            let left = s[key].as_array().map(Vec::len).unwrap_or(usize::MAX);
            assert_eq!(left, 0, "subscription {id}: {key} left behind: {}", s[key]);
        }
    }
}

#[test]
fn slurm_sandbox_end_to_end() {
    let sb = Sandbox::new("sandbox");
    start_ready(&sb);

    // srun exits 0 even when a launch failed: check what it printed.
    let out = sb.ssh(&["--", "srun -N2 hostname"]);
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

    check_shared_home(&sb);
    check_idempotent_setup(&sb);
    check_clean_stop(&sb);
}

#[test]
fn gridengine_sandbox_end_to_end() {
    let sb = Sandbox::new("sandbox-gridengine");
    start_ready(&sb);

    // As the cluster user (GridEngine refuses uid < 1000), wait for the job to finish.
    let out = sb.ssh(&[
        "--",
        "cd ~ && qsub -sync y -b y -j y -o ge-e2e.out hostname && cat ge-e2e.out",
    ]);
    assert!(
        out.contains("exited with exit code 0"),
        "qsub -sync y printed: {out}"
    );
    let ran_on = out.lines().last().unwrap_or_default().trim().to_string();
    assert!(
        ran_on == "compute001" || ran_on == "compute002",
        "the job should run on a compute node, ran on {ran_on:?}: {out}"
    );

    check_shared_home(&sb);
    check_idempotent_setup(&sb);
    check_clean_stop(&sb);
}
