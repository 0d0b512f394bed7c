//! End to end, for real: the README's sandbox config (`examples/sandbox.conf`) through the
//! `elasticluster` binary. The tool starts its own Azure-classic emulator with container VMs,
//! the embedded playbooks install Slurm / GridEngine, jobs run, a second setup changes
//! nothing, nodes join and leave (a busy node is drained and kept until `--force`, an idle
//! one leaves first, the scheduler never lists a node that is gone, jobs survive the
//! reconfigurations), the GridEngine cluster is exported and stopped from a second storage
//! directory, and `stop` deletes every cloud resource and stops the emulator.
//!
//! Needs root, systemd-nspawn, ansible-playbook on PATH and the emulator's VM image (`.ci/run`
//! provides all of them). Each test has its own storage dir, hence its own emulator, bridge,
//! subnet and VIP block; a guard stops the cluster even when an assertion fails.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

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
            assert_cmd::cargo::cargo_bin("elasticluster").with_file_name("azure-classic-emulator");
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
        self.cmd_on(&self.storage)
    }

    fn cmd_on(&self, storage: &Path) -> Command {
        let mut c = Command::cargo_bin("elasticluster").expect("elasticluster binary");
        c.env("HOME", &self.home)
            .env_remove("ELASTICLUSTER_SANDBOX_TIME_SCALE")
            .arg("-s")
            .arg(storage)
            .arg("-c")
            .arg(repo().join("examples/sandbox.conf"))
            .timeout(Duration::from_secs(1200));
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run elasticluster")
    }

    /// `elasticluster ARGS` on the storage directory `storage` instead of the sandbox's own.
    fn run_in(&self, storage: &Path, args: &[&str]) -> Output {
        self.cmd_on(storage)
            .args(args)
            .output()
            .expect("run elasticluster")
    }

    /// `elasticluster ARGS`, which must succeed; how long it took.
    fn run_ok(&self, args: &[&str]) -> (Output, Duration) {
        let t = Instant::now();
        let out = self.run(args);
        assert!(
            out.status.success(),
            "`elasticluster {}` failed: {}",
            args.join(" "),
            text(&out)
        );
        (out, t.elapsed())
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
    assert!(!sb.storage.join(format!("{}.facts", sb.cluster)).exists());
    check_sandbox_empty(sb);
}

/// No process of the sandbox runs and the emulator's inventory is empty.
fn check_sandbox_empty(sb: &Sandbox) {
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
        let opts = azure_classic_emulator::EmulatorOptions {
            state_dir: sb.emulator_state(),
            subscriptions: vec![(sub.trim().to_string(), dir.join("management.pem"))],
            ..Default::default()
        };
        let emu = azure_classic_emulator::start(opts)
            .await
            .expect("reopen the emulator state");
        let inv = emu.inventory().await;
        emu.shutdown().await;
        inv
    });
    // The reopened emulator wrote its endpoint (with this process's id) where the tool
    // looks for the sandbox's: remove it, so a later command starts the real one again.
    let _ = std::fs::remove_file(sb.emulator_state().join("endpoint.json"));
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

/// The lines of `out`, trimmed, without empty ones, sorted.
fn sorted_lines(out: &str) -> Vec<String> {
    let mut v: Vec<String> = out
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    v.sort();
    v
}

/// Poll `probe` (a command on the frontend) until `done(its output)`, for up to 2 minutes.
fn wait_for(sb: &Sandbox, probe: &str, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let out = sb.ssh(&["--", probe]);
        if done(&out) {
            return out;
        }
        assert!(Instant::now() < deadline, "{what}: `{probe}` printed {out}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Slurm job id → state (`RUNNING`, `PENDING`, …) and node list, from squeue.
fn slurm_jobs(sb: &Sandbox) -> Vec<(String, String, String)> {
    sb.ssh(&["--", "squeue -h -o '%i %T %N'"])
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((
                w.next()?.to_string(),
                w.next()?.to_string(),
                w.next().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

fn slurm_state(sb: &Sandbox, job: &str) -> Option<String> {
    slurm_jobs(sb)
        .into_iter()
        .find(|(id, _, _)| id == job)
        .map(|(_, st, _)| st)
}

fn slurm_nodes(sb: &Sandbox) -> Vec<String> {
    let mut v = sorted_lines(&sb.ssh(&["--", "sinfo -h -N -o %N"]));
    v.dedup();
    v
}

fn state_has_node(sb: &Sandbox, node: &str) -> bool {
    std::fs::read_to_string(sb.storage.join(format!("{}.toml", sb.cluster)))
        .unwrap_or_default()
        .contains(&format!("name = \"{node}\""))
}

/// Nodes join and leave a Slurm 1+2 cluster: the new node gets work at once; a node with a
/// running job is drained and kept (exit 1 naming the job and its owner) until `--force`
/// kills the job; `resize -r` takes the idle node, not the last one; after each command
/// `sinfo` lists exactly the nodes that exist and the jobs elsewhere, running or queued,
/// are still there.
fn slurm_membership(sb: &Sandbox) {
    let c = sb.cluster;
    let submit = |what: &str| {
        sb.ssh(&["--", &format!("cd ~ && sbatch --parsable {what}")])
            .trim()
            .to_string()
    };
    let running = submit("-w compute002 --wrap 'sleep 600'");
    let queued = submit("--begin=now+3600 --wrap true");
    wait_for(sb, "squeue -h -o '%i %T'", "job running", |o| {
        o.contains(&format!("{running} RUNNING"))
    });

    let (_, took) = sb.run_ok(&["resize", c, "-a", "1:compute", "--yes"]);
    eprintln!(
        "e2e timing: slurm resize -a 1:compute (1+2 -> 1+3): {:.1} s",
        took.as_secs_f64()
    );
    let out = sb.ssh(&["--", "srun -N3 hostname"]);
    assert_eq!(
        sorted_lines(&out),
        ["compute001", "compute002", "compute003"],
        "{out}"
    );
    assert_eq!(slurm_state(sb, &running).as_deref(), Some("RUNNING"));
    assert_eq!(slurm_state(sb, &queued).as_deref(), Some("PENDING"));

    // Busy: drained, kept, exit 1 naming the job and its owner.
    let t = Instant::now();
    let out = sb.run(&[
        "remove-node",
        c,
        "compute002",
        "--yes",
        "--drain-timeout",
        "3",
    ]);
    eprintln!(
        "e2e timing: slurm remove-node refused after --drain-timeout 3: {:.1} s",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`compute002`")
            && err.contains(&format!("{running} (elasticluster)"))
            && err.contains("--force")
            && err.contains("nothing was deleted"),
        "{err}"
    );
    assert!(state_has_node(sb, "compute002"));
    let st = sb.ssh(&["--", "sinfo -h -n compute002 -o %T"]);
    assert!(
        st.trim().starts_with("drain"),
        "compute002 is drained: {st}"
    );
    assert_eq!(slurm_state(sb, &running).as_deref(), Some("RUNNING"));

    // --force: the job is killed (and said so), the node leaves Slurm and the cloud.
    let (out, took) = sb.run_ok(&["remove-node", c, "compute002", "--yes", "--force"]);
    eprintln!(
        "e2e timing: slurm remove-node --force: {:.1} s",
        took.as_secs_f64()
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("killing jobs {running} (elasticluster)")),
        "{err}"
    );
    assert_eq!(slurm_nodes(sb), ["compute001", "compute003"]);
    assert!(!state_has_node(sb, "compute002"));
    let jobs = slurm_jobs(sb);
    assert!(
        jobs.iter()
            .all(|(id, _, nodes)| id != &running && !nodes.contains("compute002")),
        "{jobs:?}"
    );
    assert_eq!(slurm_state(sb, &queued).as_deref(), Some("PENDING"));

    // resize -r takes the idle compute001, not the last (busy) compute003.
    let busy = submit("-w compute003 --wrap 'sleep 600'");
    wait_for(sb, "squeue -h -o '%i %T'", "job running", |o| {
        o.contains(&format!("{busy} RUNNING"))
    });
    let (out, took) = sb.run_ok(&["resize", c, "-r", "1:compute", "--yes"]);
    eprintln!(
        "e2e timing: slurm resize -r 1:compute: {:.1} s",
        took.as_secs_f64()
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Removed nodes compute001"), "{err}");
    assert_eq!(slurm_nodes(sb), ["compute003"]);
    assert_eq!(slurm_state(sb, &busy).as_deref(), Some("RUNNING"));
    assert_eq!(slurm_state(sb, &queued).as_deref(), Some("PENDING"));
}

/// GridEngine hosts in `qhost` (no `global`).
fn qhosts(sb: &Sandbox) -> Vec<String> {
    sb.ssh(&["--", "qhost"])
        .lines()
        .skip(3)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// A GridEngine host with a running job is drained (its queue disabled) and kept; an idle
/// one leaves GridEngine's host lists and the cloud, and the job elsewhere goes on; a node
/// added afterwards takes a new name and works.
fn gridengine_membership(sb: &Sandbox) {
    let c = sb.cluster;
    let job = sb
        .ssh(&[
            "--",
            "cd ~ && qsub -terse -b y -j y -o /dev/null -q all.q@compute002 sleep 600",
        ])
        .trim()
        .to_string();
    let running = format!("qstat -s r -u '*' | awk '$1 == {job} {{print $8}}'");
    wait_for(sb, &running, "job running", |o| o.contains("compute002"));

    let t = Instant::now();
    let out = sb.run(&[
        "remove-node",
        c,
        "compute002",
        "--yes",
        "--drain-timeout",
        "3",
    ]);
    eprintln!(
        "e2e timing: gridengine remove-node refused after --drain-timeout 3: {:.1} s",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`compute002`") && err.contains(&format!("{job} (elasticluster)")),
        "{err}"
    );
    assert!(state_has_node(sb, "compute002"));
    let queue = sb.ssh(&["--", "qstat -f -q all.q@compute002 | grep '^all.q@'"]);
    assert!(
        queue.trim().ends_with(" d"),
        "its queue is disabled: {queue}"
    );

    let (_, took) = sb.run_ok(&["remove-node", c, "compute001", "--yes"]);
    eprintln!(
        "e2e timing: gridengine remove-node of an idle node: {:.1} s",
        took.as_secs_f64()
    );
    assert_eq!(qhosts(sb), ["compute002"]);
    let lists = sb.ssh(&["--", "qconf -sel; qconf -ss; qconf -sh"]);
    assert!(!lists.contains("compute001"), "{lists}");
    assert!(!state_has_node(sb, "compute001"));
    let out = sb.ssh(&["--", &running]);
    assert!(out.contains("compute002"), "the job goes on: {out}");

    // A node added now gets a name no node had (the qmaster remembers that compute001 did
    // not resolve): jobs run there and the cluster user's ssh trusts its key.
    let (_, took) = sb.run_ok(&["resize", c, "-a", "1:compute", "--yes"]);
    eprintln!(
        "e2e timing: gridengine resize -a 1:compute: {:.1} s",
        took.as_secs_f64()
    );
    assert_eq!(qhosts(sb), ["compute002", "compute003"]);
    let out = sb.ssh(&[
        "--",
        "cd ~ && qsub -sync y -b y -j y -o ge-new.out -q all.q@compute003 hostname && cat ge-new.out \
         && ssh -o BatchMode=yes -o StrictHostKeyChecking=yes compute003 hostname",
    ]);
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert!(
        lines.ends_with(&["compute003", "compute003"]),
        "job and ssh on the new compute003: {out}"
    );
}

/// The cluster exported with its keys and imported into a second storage directory is
/// reached and stopped from there; nothing is left in the cloud. The original storage
/// directory's `stop` then finds nothing left and also succeeds.
fn check_export_import_stop(sb: &Sandbox) {
    let c = sb.cluster;
    let zip = sb.home.join("exported.zip");
    let zip_s = zip.display().to_string();
    sb.run_ok(&["export", c, "--save-keys", "-o", &zip_s]);
    let other = sb.home.join("storage2");
    let out = sb.run_in(&other, &["import", &zip_s]);
    assert!(out.status.success(), "import: {}", text(&out));
    let out = sb.run_in(&other, &["ssh", c, "--", "hostname"]);
    assert!(out.status.success(), "ssh from the import: {}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "frontend001");
    let out = sb.run_in(&other, &["stop", c, "--yes"]);
    assert!(out.status.success(), "stop from the import: {}", text(&out));
    assert!(!other.join(format!("{c}.toml")).exists());
    check_sandbox_empty(sb);
    check_clean_stop(sb);
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
    slurm_membership(&sb);
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
    gridengine_membership(&sb);
    check_export_import_stop(&sb);
}
