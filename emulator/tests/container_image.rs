//! The debian-12-elasticluster image: built by `build_image` (cached by recipe hash),
//! carrying the playbooks' packages and no per-host identity.

mod container_common;

use std::path::Path;

use azure_emulator::vm::container::{build_image, ImageOptions, DEFAULT_IMAGE};

#[test]
fn image_is_built_once_and_has_no_host_identity() {
    let root = container_common::ensure_image();
    // A second call reuses the cache (same path, no rebuild).
    let again = build_image(&ImageOptions {
        name: DEFAULT_IMAGE.to_string(),
        image_dir: container_common::image_dir(),
        force: false,
    })
    .expect("cached image");
    assert_eq!(root, again);

    for bin in [
        "usr/sbin/sshd",
        "usr/bin/python3",
        "usr/bin/sudo",
        "usr/sbin/munged",
        "usr/sbin/slurmd",
        "usr/sbin/slurmctld",
        "usr/bin/srun",
        "usr/sbin/sge_execd",
        "usr/sbin/rpc.nfsd",
        "usr/bin/rsync",
        "usr/sbin/cron",
        "lib/systemd/systemd",
        "usr/bin/ping",
        "usr/lib/python3/dist-packages/apt_pkg.cpython-311-x86_64-linux-gnu.so",
    ] {
        // symlink_metadata: alternatives are absolute symlinks, meaningful only inside the image.
        assert!(
            std::fs::symlink_metadata(root.join(bin)).is_ok(),
            "image lacks /{bin}"
        );
    }
    // Preinstalled (the playbooks install only what is missing, so nothing needs the network).
    for bin in ["usr/sbin/sge_qmaster", "lib/systemd/systemd-timesyncd"] {
        assert!(
            std::fs::symlink_metadata(root.join(bin)).is_ok(),
            "image lacks /{bin}"
        );
    }
    // ... but the GridEngine spool is left for the VM to initialise under its own name,
    // and no VM starts a qmaster before the playbook enables it.
    let spool: Vec<_> = std::fs::read_dir(root.join("var/spool/gridengine/spooldb"))
        .expect("spooldb")
        .collect();
    assert!(spool.is_empty(), "spool initialised at build time");
    let rc: Vec<String> = std::fs::read_dir(root.join("etc/rc2.d"))
        .expect("rc2.d")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !rc.iter()
            .any(|n| n.starts_with('S') && n.contains("gridengine-master")),
        "{rc:?}"
    );

    assert!(
        !root.join("etc/hostname").exists(),
        "image carries a hostname"
    );
    assert_eq!(
        std::fs::metadata(root.join("etc/machine-id"))
            .map(|m| m.len())
            .ok(),
        Some(0)
    );
    assert_eq!(
        std::fs::read_to_string(root.join("etc/resolv.conf"))
            .ok()
            .as_deref(),
        Some("nameserver 127.0.0.1\n")
    );
    assert!(
        !root.join("usr/sbin/policy-rc.d").exists(),
        "policy-rc.d left in the image"
    );
    let keys: Vec<_> = std::fs::read_dir(root.join("etc/ssh"))
        .expect("etc/ssh")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("ssh_host_"))
        .collect();
    assert!(keys.is_empty(), "image ships SSH host keys");
    assert!(root
        .join("etc/systemd/system/ssh.service.d/after-user-sessions.conf")
        .exists());
    assert!(Path::new(&root)
        .join("etc/systemd/system/ssh-hostkeys.service")
        .exists());
}
