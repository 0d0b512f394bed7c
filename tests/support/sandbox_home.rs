//! The throwaway home an end-to-end sandbox test runs the real `elasticluster` binary in:
//! root checked, the emulator built next to the tool, `~/.elasticluster/ansible` linked to
//! the Ansible virtualenv on PATH, a fresh `~/.elasticluster/sandbox-key` (the key
//! `examples/sandbox.conf` names), and `<home>/storage` as the storage directory. Included
//! by path from `sandbox_cluster.rs`, which is what the e2e tests use. The directory goes
//! when `dir` is dropped.

use std::path::{Path, PathBuf};

pub struct SandboxHome {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub storage: PathBuf,
}

/// The repository (for `examples/sandbox.conf`).
pub fn repo() -> PathBuf {
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

impl SandboxHome {
    /// `what` names the test in the message when it cannot run (never a silent skip).
    pub fn new(what: &str) -> SandboxHome {
        // SAFETY: geteuid has no preconditions.
        assert_eq!(
            unsafe { libc::geteuid() },
            0,
            "{what}: root is needed (network namespaces, containers): run them through `bash .ci/run` as root"
        );
        let emulator =
            assert_cmd::cargo::cargo_bin("elasticluster").with_file_name("azure-emulator");
        assert!(
            emulator.is_file(),
            "{} is missing: build it with `cargo build --workspace` first",
            emulator.display()
        );
        let dir = tempfile::tempdir().expect("temp home");
        let home = dir.path().to_path_buf();
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
        SandboxHome { dir, home, storage }
    }
}
