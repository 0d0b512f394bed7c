//! One cluster of `examples/sandbox.conf` driven through the real `elasticluster` binary in
//! a throwaway home (`sandbox_home`): the command lines the end-to-end tests share (run,
//! run and require success, `ssh` into the cluster, the text of a failed run), and a guard
//! that stops the cluster when the test ends, even when an assertion failed.
//!
//! Included by path (`#[path = "support/sandbox_cluster.rs"]`) so the e2e tests need nothing
//! else of `support`. Never leaves a cluster running behind a test that started one.
#![allow(dead_code)] // each e2e test uses its own subset

#[path = "sandbox_home.rs"]
mod sandbox_home;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use assert_cmd::Command;

pub use sandbox_home::repo;
use sandbox_home::SandboxHome;

pub struct SandboxCluster {
    pub home: PathBuf,
    pub storage: PathBuf,
    /// The cluster template of `examples/sandbox.conf` this test starts.
    pub cluster: &'static str,
    /// How long one `elasticluster` command may take before it is killed.
    timeout: Duration,
    /// Removed last: `Drop` stops the cluster first.
    _home: tempfile::TempDir,
}

impl SandboxCluster {
    /// A fresh home for cluster `cluster`; `what` names the test in the message when it
    /// cannot run (never a silent skip).
    pub fn new(what: &str, cluster: &'static str, timeout: Duration) -> SandboxCluster {
        let SandboxHome { dir, home, storage } = SandboxHome::new(what);
        SandboxCluster {
            home,
            storage,
            cluster,
            timeout,
            _home: dir,
        }
    }

    /// The binary in this home on `storage`, as a plain process (e.g. to be killed).
    pub fn process_on(&self, storage: &Path) -> std::process::Command {
        let mut c =
            std::process::Command::cargo_bin("elasticluster").expect("elasticluster binary");
        c.env("HOME", &self.home)
            .env_remove("ELASTICLUSTER_SANDBOX_TIME_SCALE")
            .arg("-s")
            .arg(storage)
            .arg("-c")
            .arg(repo().join("examples/sandbox.conf"));
        c
    }

    /// `elasticluster` on the sandbox's own storage directory, with the test's timeout.
    pub fn cmd(&self) -> Command {
        self.cmd_on(&self.storage)
    }

    /// `elasticluster` on the storage directory `storage`, with the test's timeout.
    pub fn cmd_on(&self, storage: &Path) -> Command {
        let mut c = Command::from_std(self.process_on(storage));
        c.timeout(self.timeout);
        c
    }

    /// `elasticluster ARGS`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run elasticluster")
    }

    /// `elasticluster ARGS` on the storage directory `storage` instead of the sandbox's own.
    pub fn run_in(&self, storage: &Path, args: &[&str]) -> Output {
        self.cmd_on(storage)
            .args(args)
            .output()
            .expect("run elasticluster")
    }

    /// `elasticluster ARGS`, which must succeed; how long it took.
    pub fn run_ok(&self, args: &[&str]) -> (Output, Duration) {
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

    /// `elasticluster ssh CLUSTER ARGS` (e.g. `-n NODE -- COMMAND`), which must succeed;
    /// its stdout.
    pub fn ssh(&self, args: &[&str]) -> String {
        let mut all = vec!["ssh", self.cluster];
        all.extend_from_slice(args);
        let out = self.run(&all);
        assert!(
            out.status.success(),
            "`elasticluster {}` failed: {}",
            all.join(" "),
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// The state directory of the sandbox's emulator.
    pub fn emulator_state(&self) -> PathBuf {
        self.storage.join("sandbox").join("emulator")
    }
}

impl Drop for SandboxCluster {
    fn drop(&mut self) {
        if self.storage.join(format!("{}.toml", self.cluster)).exists() {
            let _ = self.run(&["stop", self.cluster, "--yes"]);
        }
    }
}

/// A finished run for a failure message: exit code, stdout, stderr.
pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The tasks of site.yml's first play: a node compares itself with what its last complete
/// setup recorded, and every node is set up unless all of them match.
pub const CHECK_TASKS: [&str; 3] = [
    "Compare the node with what the last complete setup recorded",
    "Show what differs",
    "Set up every node unless all of them matched",
];

/// The names of the tasks a setup ran, from the `TASK [...]` headers Ansible printed.
pub fn tasks_run(output: &str) -> Vec<&str> {
    output
        .lines()
        .filter_map(|l| l.strip_prefix("TASK ["))
        .filter_map(|l| l.split_once(']').map(|(name, _)| name))
        .collect()
}

/// Whether a setup's output shows that it only checked the nodes (site.yml's first play,
/// and no other task: every node matched its last complete setup).
pub fn only_checked(output: &str) -> bool {
    let tasks = tasks_run(output);
    tasks.contains(&CHECK_TASKS[0]) && tasks.iter().all(|t| CHECK_TASKS.contains(t))
}
