//! Recovery and refusals of the container backend: a SIGKILLed emulator's VMs are cleaned
//! up and restored by the next start on the same state dir, and a backend started without
//! root fails with one clear error. Needs root and the image.

mod container_common;

use std::net::IpAddr;
use std::path::Path;

use azure_emulator::vm::container::{ContainerBackend, ContainerOptions, DEFAULT_IMAGE};
use azure_emulator::vm::{VmBackend, VmInfo};
use container_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "helper, run as a child process by a_killed_emulator_is_cleaned_up_and_restored_by_the_next_one"]
async fn crash_helper() {
    let (Some(state), Ok(pubkey), Ok(public)) = (
        std::env::var_os("CRASH_HELPER_STATE"),
        std::env::var("CRASH_HELPER_PUBKEY"),
        std::env::var("CRASH_HELPER_PUBLIC"),
    ) else {
        return;
    };
    let b = container_backend(Path::new(&state), false);
    let s = ssh_vm_spec(
        "crash",
        "crashvm",
        &pubkey,
        public.parse().expect("public addr"),
        "sub/hs",
    );
    let info = b.create(&s).await.expect("create");
    wait_ready(&b, &s.id).await;
    println!("READY {} {}", info.private_ip, b.network().1);
    std::future::pending::<()>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_emulator_is_cleaned_up_and_restored_by_the_next_one() {
    use std::io::BufRead;
    ensure_image();
    let state = tempfile::tempdir().expect("state dir");
    let keys = tempfile::tempdir().expect("key dir");
    let (key, pubkey) = ssh_keygen(keys.path(), "id_ed25519");
    let kh = keys.path().join("known_hosts");
    let public = free_port("127.0.0.1");
    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "crash_helper",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CRASH_HELPER_STATE", state.path())
        .env("CRASH_HELPER_PUBKEY", &pubkey)
        .env("CRASH_HELPER_PUBLIC", public.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn helper");
    let stdout = child.stdout.take().expect("helper stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            // libtest prints "test crash_helper ... " on the same line first.
            if let Some((_, rest)) = line.split_once("READY ") {
                let _ = tx.send(rest.to_string());
            }
        }
    });
    let ready = rx.recv_timeout(BOOT_TIMEOUT);
    child.kill().expect("SIGKILL the helper emulator");
    let _ = child.wait();
    let ready = match ready {
        Ok(r) => r,
        Err(e) => {
            // Clean whatever the helper left (a new backend on the state dir does), then fail.
            container_backend(state.path(), false).shutdown().await;
            panic!("helper VM never became ready: {e}");
        }
    };
    let mut parts = ready.split_whitespace();
    let ip: IpAddr = parts.next().and_then(|p| p.parse().ok()).expect("address");
    let bridge = parts.next().expect("bridge").to_string();
    // The crash left the container, its namespace and the bridge behind ...
    let left = leftovers(&bridge, state.path());
    assert!(left.iter().any(|l| l.starts_with("process")), "{left:#?}");

    // ... which the next emulator on the same state dir cleans and restores.
    let b = container_backend(state.path(), false);
    assert_eq!(
        b.network().1,
        bridge,
        "same bridge and subnet after the crash"
    );
    let s = ssh_vm_spec("crash", "crashvm", &pubkey, public, "sub/hs");
    b.restore(&[(
        s.clone(),
        VmInfo {
            private_ip: ip,
            public_ip: None,
        },
        true,
    )])
    .await
    .expect("restore");
    wait_ready(&b, &s.id).await;
    let (rc, out, err) = ssh_async(&key, &kh, public, "hostname; hostname -I").await;
    assert_eq!(rc, 0, "{err}");
    assert!(
        out.starts_with("crashvm") && out.contains(&ip.to_string()),
        "{out}"
    );
    let nspawns = shell_stdout("ps -eo args=")
        .lines()
        .filter(|l| l.contains("systemd-nspawn") && l.contains(&bridge))
        .count();
    assert_eq!(nspawns, 1, "the stale container was not stopped");
    b.delete(&s.id).await.expect("delete");
    b.shutdown().await;
    let left = leftovers(&bridge, state.path());
    assert!(left.is_empty(), "{left:#?}");
}

/// Child-process half of `not_root_is_a_clear_error`: prints what the backend and the
/// image builder say to an unprivileged user.
#[test]
#[ignore = "helper, run unprivileged by not_root_is_a_clear_error"]
fn not_root_helper() {
    let Some(dir) = std::env::var_os("NOT_ROOT_HELPER_DIR") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let backend = ContainerBackend::new(ContainerOptions {
        state_dir: dir.join("state"),
        image_dir: image_dir(),
        shared_home: false,
    });
    println!(
        "BACKEND: {}",
        backend.err().map(|e| e.to_string()).unwrap_or_default()
    );
    let image =
        azure_emulator::vm::container::build_image(&azure_emulator::vm::container::ImageOptions {
            name: DEFAULT_IMAGE.into(),
            image_dir: dir.join("images"),
            force: false,
        });
    println!(
        "IMAGE: {}",
        image.err().map(|e| e.to_string()).unwrap_or_default()
    );
}

#[test]
fn not_root_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .expect("chmod");
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(std::env::current_exe().expect("test binary"))
        .args(["not_root_helper", "--exact", "--ignored", "--nocapture"])
        .env("NOT_ROOT_HELPER_DIR", dir.path())
        .output()
        .expect("run the helper unprivileged");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = |tag: &str| {
        text.lines()
            .find_map(|l| l.split_once(tag).map(|(_, m)| m.to_string()))
            .unwrap_or_default()
    };
    let (backend, image) = (line("BACKEND: "), line("IMAGE: "));
    assert!(
        backend.contains("needs root"),
        "backend said {backend:?}; output {text}"
    );
    assert!(
        image.contains("needs root"),
        "build_image said {image:?}; output {text}"
    );
    assert!(
        !dir.path().join("state").exists(),
        "nothing may be created on failure"
    );
}
