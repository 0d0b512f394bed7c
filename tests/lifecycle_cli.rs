//! The built `elasticluster` binary against the in-process emulator (API-only backend,
//! time-scale 0.01): start --no-setup → list-nodes → stop leaves the emulator empty; kill -9
//! at several points of a start, then stop (or start again, then stop) → nothing leaks.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::one_cluster::*;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_list_stop_through_the_cli_leaves_nothing() {
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), 0.01, 20).await;
    let env = setup(creds, &emu, "cli1", 2);
    let out = run({
        let mut c = cmd(&env);
        c.args(["start", "c", "--no-setup"]);
        c
    })
    .await;
    assert!(
        out.status.success(),
        "start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run({
        let mut c = cmd(&env);
        c.args(["-v", "list-nodes", "c", "--json", "-u"]);
        c
    })
    .await;
    assert!(
        out.status.success(),
        "list-nodes: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // -v: every API call is logged with Azure's request id (on stderr; stdout stays JSON)
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.lines().any(
            |l| l.contains("GET /services/hostedservices/cli1cs0/deployments/cli1cs0")
                && l.contains("request-id ")
        ),
        "{log}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let text = v.to_string();
    for n in ["frontend001", "compute001", "compute002"] {
        assert!(text.contains(n), "{text}");
    }
    assert!(
        text.matches(":12").count() >= 3,
        "every node has VIP:port: {text}"
    );
    // stop without --yes and without a terminal refuses, changing nothing
    let out = run({
        let mut c = cmd(&env);
        c.args(["stop", "c"]);
        c
    })
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    assert!(!leftovers(&emu, &[]).await.is_empty());
    let out = run({
        let mut c = cmd(&env);
        c.args(["stop", "c", "--yes"]);
        c
    })
    .await;
    assert!(
        out.status.success(),
        "stop: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(leftovers(&emu, &[]).await, Vec::<String>::new());
    assert!(!env.storage.join("c.toml").exists());
    drop(env.dir);
    emu.shutdown().await;
}

/// Start, SIGKILL it once `cond(state file)` holds, then clean up with `stop` (optionally
/// after a resuming `start`).
async fn kill_then_clean(base: &str, cond: fn(&str) -> bool, resume: bool) {
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), 0.01, 20).await;
    let env = setup(creds, &emu, base, 3);
    let mut c = cmd(&env);
    c.args(["start", "c", "--no-setup"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if cond(&state_text(&env)) {
            break;
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!("{base}: start ended ({st}) before the kill point");
        }
        assert!(
            Instant::now() < deadline,
            "{base}: kill point never reached"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL
    let st = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        st.signal(),
        Some(9),
        "{base}: the start was still running when killed"
    );
    if resume {
        let out = run({
            let mut c = cmd(&env);
            c.args(["start", "c", "--no-setup"]);
            c
        })
        .await;
        assert!(
            out.status.success(),
            "{base}: resume: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let state = state_text(&env);
        assert_eq!(
            state.matches("status = \"reachable\"").count()
                + state.matches("status = \"running\"").count(),
            4,
            "{state}"
        );
    }
    let out = run({
        let mut c = cmd(&env);
        c.args(["stop", "c", "--yes"]);
        c
    })
    .await;
    assert!(
        out.status.success(),
        "{base}: stop: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let left = leftovers(&emu, &[]).await;
    assert!(left.is_empty(), "{base}: leaked {left:?}");
    assert!(!Path::new(&env.storage.join("c.toml")).exists());
    emu.shutdown().await;
}

fn planned(s: &str) -> bool {
    s.contains("kind = \"vm\"")
}
fn some_requested(s: &str) -> bool {
    s.contains("requested = \"1\"")
}
fn one_created(s: &str) -> bool {
    s.contains("kind = \"cloud_service\"") && s.contains("status = \"created\"")
}
fn first_vm_created(s: &str) -> bool {
    s.split("[[resources]]")
        .any(|r| r.contains("kind = \"vm\"") && r.contains("status = \"created\""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_after_plan_then_stop() {
    kill_then_clean("kill1", planned, false).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_requests_then_stop() {
    kill_then_clean("kill2", some_requested, false).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_after_first_service_then_resume_and_stop() {
    kill_then_clean("kill3", one_created, true).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_after_first_vm_then_stop() {
    kill_then_clean("kill4", first_vm_created, false).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_after_first_vm_then_resume_and_stop() {
    kill_then_clean("kill5", first_vm_created, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_certificate_is_one_clear_line_and_creates_nothing() {
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), 0.01, 20).await;
    let stranger = Creds::new();
    let env = setup(creds, &emu, "cert1", 1);
    // point the cloud section at a certificate Azure does not know
    std::fs::set_permissions(stranger.mgmt(), std::fs::Permissions::from_mode(0o600)).unwrap();
    let cfg = std::fs::read_to_string(&env.config).unwrap();
    let wrong = stranger.mgmt().display().to_string();
    let cfg: String = cfg
        .lines()
        .map(|l| {
            if l.starts_with("certificate = ") {
                format!("certificate = {wrong}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&env.config, cfg).unwrap();
    let out = run({
        let mut c = cmd(&env);
        c.args(["start", "c", "--no-setup"]);
        c
    })
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| {
            !l.trim().is_empty() && !l.starts_with("Starting") && !l.starts_with("Resuming")
        })
        .collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains(SUB) && lines[0].contains(&wrong), "{err}");
    assert_eq!(leftovers(&emu, &[]).await, Vec::<String>::new());
    emu.shutdown().await;
}

/// Real hosts (systemd-nspawn containers): start probes SSH and records host keys, `ssh`
/// runs a command on the frontend and on a chosen node with strict host-key checking, and
/// stop leaves nothing. Needs root and the emulator's image (built by its own tests or by
/// `azure-emulator build-image`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_hosts_start_ssh_stop() {
    let image_dir = std::env::var_os("AZURE_EMULATOR_IMAGE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(azure_emulator::vm::container::DEFAULT_IMAGE_DIR));
    if !support::can_run(
        support::is_root()
            && image_dir
                .join(azure_emulator::vm::container::DEFAULT_IMAGE)
                .exists(),
        &format!("root and the emulator image in {}", image_dir.display()),
    ) {
        return;
    }
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator_with(
        &creds,
        st.path(),
        0.05,
        20,
        azure_emulator::BackendKind::Container,
    )
    .await;
    let env = setup(creds, &emu, "ssh1", 2);
    let out = run({
        let mut c = cmd_probing(&env);
        c.args(["start", "c", "--no-setup"]);
        c
    })
    .await;
    assert!(
        out.status.success(),
        "start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kh = std::fs::read_to_string(env.storage.join("c.known_hosts")).unwrap();
    assert_eq!(kh.lines().count(), 3, "one host key per node: {kh}");
    assert!(
        kh.lines().all(|l| l.starts_with('[')),
        "[ip]:port form: {kh}"
    );
    let out = run({
        let mut c = cmd_probing(&env);
        c.args(["ssh", "c", "--", "hostname"]);
        c
    })
    .await;
    assert!(
        out.status.success(),
        "ssh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "frontend001");
    let out = run({
        let mut c = cmd_probing(&env);
        c.args(["ssh", "c", "-n", "compute002", "--", "hostname"]);
        c
    })
    .await;
    assert!(
        out.status.success(),
        "ssh -n: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "compute002");
    // sftp gets the port with -P (the original passed ip:port and failed)
    let batch = env.dir.path().join("batch");
    std::fs::write(&batch, "pwd\n").unwrap();
    let out = run({
        let mut c = cmd_probing(&env);
        c.args(["sftp", "c", "--", "-b"]).arg(&batch);
        c
    })
    .await;
    assert!(
        out.status.success(),
        "sftp: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("/home/azureuser"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = run({
        let mut c = cmd_probing(&env);
        c.args(["stop", "c", "--yes"]);
        c
    })
    .await;
    assert!(
        out.status.success(),
        "stop: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(leftovers(&emu, &[]).await, Vec::<String>::new());
    assert!(!env.storage.join("c.known_hosts").exists());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_stop_then_stop_again() {
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), 0.01, 20).await;
    let env = setup(creds, &emu, "kstop", 3);
    let out = run({
        let mut c = cmd(&env);
        c.args(["start", "c", "--no-setup"]);
        c
    })
    .await;
    assert!(
        out.status.success(),
        "start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = state_text(&env).matches("[[resources]]").count();
    let mut c = cmd(&env);
    c.args(["stop", "c", "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while state_text(&env).matches("[[resources]]").count() >= before {
        if let Ok(Some(st)) = child.try_wait() {
            panic!("stop ended ({st}) before the kill point");
        }
        assert!(Instant::now() < deadline, "stop never forgot a resource");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    child.kill().unwrap();
    let _ = child.wait();
    assert!(
        env.storage.join("c.toml").exists(),
        "the state survives an interrupted stop"
    );
    let out = run({
        let mut c = cmd(&env);
        c.args(["stop", "c", "--yes"]);
        c
    })
    .await;
    assert!(
        out.status.success(),
        "second stop: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(leftovers(&emu, &[]).await, Vec::<String>::new());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_provisioning_is_reported_per_node_and_stop_cleans_up() {
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), 0.01, 20).await;
    emu.set_faults("vmfail=1,seed=5").unwrap();
    let env = setup(creds, &emu, "vmf", 2);
    let t = Instant::now();
    let out = run({
        let mut c = cmd(&env);
        c.args(["start", "c", "--no-setup"]);
        c
    })
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        t.elapsed() < Duration::from_secs(60),
        "noticed from the status, not the 120 s timeout"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("compute001") && err.contains("compute002"),
        "{err}"
    );
    emu.set_faults("none").unwrap();
    let out = run({
        let mut c = cmd(&env);
        c.args(["stop", "c", "--yes"]);
        c
    })
    .await;
    assert!(
        out.status.success(),
        "stop: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(leftovers(&emu, &[]).await, Vec::<String>::new());
    emu.shutdown().await;
}
