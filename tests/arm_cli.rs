//! The built `elasticluster` binary on an ARM cloud section, against the emulator's Azure
//! Resource Manager face (in-process, API-only backend): `start --no-setup` → `list-nodes
//! --json` (private nodes reached through the frontend) → `stop` leaves nothing; the state
//! file never holds the secret, which every command reads again from the configuration; a
//! wrong secret is one line and creates nothing; a secret that is gone says where it was
//! looked for (and is not needed by commands that do not ask Azure); `kill -9` of a start at
//! several points, then `start` again or `stop`, leaks nothing and creates no VM twice.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use azure_emulator::RunningEmulator;
use support::arm::{self as emu_arm, counter, IMAGE, SECRET};
use support::Creds;

/// The emulator's and the tool's time scale.
const SCALE: &str = "0.01";

struct Env {
    emu: RunningEmulator,
    rt: tokio::runtime::Runtime,
    _creds: Creds,
    _state: tempfile::TempDir,
    _dir: tempfile::TempDir,
    config: PathBuf,
    storage: PathBuf,
}

impl Env {
    fn leftovers(&self) -> Vec<String> {
        self.rt.block_on(emu_arm::leftovers(&self.emu))
    }
}

fn setup(secret: &str, public: bool) -> Env {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let creds = Creds::new();
    let state = tempfile::tempdir().unwrap();
    let scale: f64 = SCALE.parse().unwrap();
    let emu = rt.block_on(emu_arm::emulator(&creds, state.path(), scale, 100));
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("id");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!(
            "[cloud/arm]\nprovider = azure\nsubscription_id = {sub}\ntenant_id = {tenant}\nclient_id = {client}\nsecret = {secret}\n\
             arm_endpoint = {base}\nauthority = {authority}\nca_certificate = {ca}\n\n\
             [login/l]\nimage_user = azureuser\nuser_key_private = {key}\nuser_key_public = {key}.pub\n\n\
             [setup/s]\nprovider = ansible\nfrontend_groups = slurm_master\ncompute_groups = slurm_workers\n\n\
             [cluster/c]\ncloud = arm\nlogin = l\nsetup = s\nlocation = eastus\nbase_name = clitest\nuse_public_ips = {public}\n\
             frontend_nodes = 1\ncompute_nodes = 2\nimage_id = {IMAGE}\n\
             flavor = Standard_B1s\nstartup_timeout = 60\nssh_to = frontend\n",
            sub = support::SUB,
            tenant = emu_arm::TENANT,
            client = emu_arm::CLIENT,
            base = emu.arm_url().unwrap_or_default(),
            authority = emu.authority_url().unwrap_or_default(),
            ca = emu.ca_pem_path().display(),
            key = key.display(),
            public = if public { "yes" } else { "no" },
        ),
    )
    .unwrap();
    let storage = dir.path().join("storage");
    Env {
        emu,
        rt,
        _creds: creds,
        _state: state,
        _dir: dir,
        config,
        storage,
    }
}

fn run(env: &Env, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_elasticluster"))
        .arg("-c")
        .arg(&env.config)
        .arg("-s")
        .arg(&env.storage)
        .args(args)
        .env("ELASTICLUSTER_SKIP_SSH_WAIT", "1")
        .env("ELASTICLUSTER_TIME_SCALE", SCALE)
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("SECRET")
        .stdin(Stdio::null())
        .output()
        .expect("run elasticluster")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn start_list_stop_through_the_cli() {
    let env = setup(SECRET, false);
    let out = run(&env, &["start", "c", "--no-setup"]);
    assert!(out.status.success(), "{}", text(&out));
    let state = std::fs::read_to_string(env.storage.join("c.toml")).unwrap();
    assert!(
        state.contains("azure_arm") && !state.contains(SECRET),
        "{state}"
    );
    let out = run(&env, &["list-nodes", "c", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let nodes = v["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    for n in nodes {
        let name = n["name"].as_str().unwrap();
        if name == "frontend001" {
            assert!(
                n["preferred_ip"].as_str().unwrap().starts_with("127."),
                "{n}"
            );
            assert!(n["via"].is_null(), "{n}");
        } else {
            assert!(
                n["preferred_ip"].as_str().unwrap().starts_with("10.0.0."),
                "{n}"
            );
            assert_eq!(n["via"], "frontend001", "{n}");
        }
    }
    let out = run(&env, &["stop", "c", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!env.storage.join("c.toml").exists());
    assert_eq!(env.leftovers(), Vec::<String>::new());
}

#[test]
fn a_wrong_secret_is_one_line_and_creates_nothing() {
    let env = setup("not-the-secret", true);
    let out = run(&env, &["start", "c", "--no-setup"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("Starting"))
        .collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("AADSTS7000215") && lines[0].contains("`secret`"),
        "{err}"
    );
    assert!(!err.contains("not-the-secret"), "{err}");
    assert_eq!(env.leftovers(), Vec::<String>::new());
}

#[test]
fn a_secret_that_is_gone_says_where_it_was_looked_for() {
    let env = setup(SECRET, true);
    let out = run(&env, &["start", "c", "--no-setup"]);
    assert!(out.status.success(), "{}", text(&out));
    // the secret leaves the configuration: stop says where it looked, and changes nothing
    let cfg = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(
        &env.config,
        cfg.replace(&format!("secret = {SECRET}"), "secret ="),
    )
    .unwrap();
    // commands that do not ask Azure do not need it
    let out = run(&env, &["list-nodes", "c", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = run(&env, &["stop", "c", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[cloud/arm]") && err.contains("AZURE_CLIENT_SECRET"),
        "{err}"
    );
    assert!(env.storage.join("c.toml").exists());
    // through the environment it works
    let out = Command::new(env!("CARGO_BIN_EXE_elasticluster"))
        .arg("-c")
        .arg(&env.config)
        .arg("-s")
        .arg(&env.storage)
        .args(["stop", "c", "--yes"])
        .env("ELASTICLUSTER_TIME_SCALE", SCALE)
        .env("AZURE_CLIENT_SECRET", SECRET)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(env.leftovers(), Vec::<String>::new());
}

/// Start, SIGKILL it once `cond(state file)` holds, then `start` again (optionally) and
/// `stop`: nothing is left, and no VM was created twice.
fn kill_then_clean(what: &str, cond: fn(&str) -> bool, resume: bool) {
    let env = setup(SECRET, false);
    let mut child = Command::new(env!("CARGO_BIN_EXE_elasticluster"))
        .arg("-c")
        .arg(&env.config)
        .arg("-s")
        .arg(&env.storage)
        .args(["start", "c", "--no-setup"])
        .env("ELASTICLUSTER_SKIP_SSH_WAIT", "1")
        .env("ELASTICLUSTER_TIME_SCALE", SCALE)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let state = std::fs::read_to_string(env.storage.join("c.toml")).unwrap_or_default();
        if cond(&state) {
            break;
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!("{what}: start ended ({st}) before the kill point");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: kill point never reached"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    let st = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        st.signal(),
        Some(9),
        "{what}: the start was over when killed"
    );
    if resume {
        let out = run(&env, &["start", "c", "--no-setup"]);
        assert!(out.status.success(), "{what}: resume: {}", text(&out));
        assert_eq!(
            counter(&env.emu, "vms_created"),
            3,
            "{what}: a VM was created twice"
        );
    }
    let out = run(&env, &["stop", "c", "--yes"]);
    assert!(out.status.success(), "{what}: stop: {}", text(&out));
    assert_eq!(env.leftovers(), Vec::<String>::new(), "{what}");
    assert!(!env.storage.join("c.toml").exists());
}

fn planned(s: &str) -> bool {
    s.contains("kind = \"vm\"")
}
fn group_requested(s: &str) -> bool {
    s.split("[[resources]]")
        .any(|r| r.contains("kind = \"resource_group\"") && r.contains("requested = \"1\""))
}
fn vm_requested(s: &str) -> bool {
    s.split("[[resources]]")
        .any(|r| r.contains("kind = \"vm\"") && r.contains("requested = \"1\""))
}

#[test]
fn kill_after_plan_then_stop() {
    kill_then_clean("after plan", planned, false);
}

#[test]
fn kill_during_group_create_then_resume_and_stop() {
    kill_then_clean("group requested", group_requested, true);
}

#[test]
fn kill_during_vm_create_then_stop() {
    kill_then_clean("VM requested", vm_requested, false);
}

#[test]
fn kill_during_vm_create_then_resume_and_stop() {
    kill_then_clean("VM requested", vm_requested, true);
}
