//! Nodes joining and leaving a running cluster, through the built binary against the
//! in-process emulator (API-only backend, time scale 0.01, so no scheduler answers):
//! `remove-node` refuses to delete a node the scheduler cannot be asked about unless
//! `--force`; `resize -a` fills the existing cloud services; `resize -r` removes; and kill -9
//! of `resize` or `remove-node` at several points leaves a state that the next `resize`,
//! `remove-node` or `stop` completes or cleans up, with nothing leaked in the cloud.
//!
//! The scheduler side (draining, waiting, idle nodes first, no ghost node after the
//! reconfiguration) needs real hosts: see `e2e_sandbox.rs`.

mod support;

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use support::one_cluster::*;
use support::*;

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn ec(env: &Env, args: &[&str]) -> Output {
    let mut c = cmd(env);
    c.args(args);
    run(c).await
}

async fn ec_ok(env: &Env, args: &[&str]) -> Output {
    let out = ec(env, args).await;
    assert!(out.status.success(), "{}: {}", args.join(" "), text(&out));
    out
}

/// Role (VM) names in the emulator, sorted.
async fn roles(emu: &azure_emulator::RunningEmulator) -> Vec<String> {
    let inv = emu.inventory().await;
    let mut v = Vec::new();
    for hs in inv["subscriptions"][SUB]["hosted_services"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        for r in hs["deployment"]["roles"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            v.push(r["name"].as_str().unwrap_or("").to_string());
        }
    }
    v.sort();
    v
}

/// Node names in the state file, in order.
fn state_nodes(env: &Env) -> Vec<String> {
    let state = state_text(env);
    state
        .split("[[nodes]]")
        .skip(1)
        .filter_map(|n| {
            n.lines()
                .find_map(|l| l.strip_prefix("name = \""))
                .map(|l| l.trim_end_matches('"').to_string())
        })
        .collect()
}

async fn stop_leaves_nothing(env: &Env, emu: &azure_emulator::RunningEmulator) {
    ec_ok(env, &["stop", "c", "--yes"]).await;
    assert_eq!(leftovers(emu, &[]).await, Vec::<String>::new());
    assert!(!env.storage.join("c.toml").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_node_needs_force_when_the_scheduler_cannot_be_asked() {
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), 0.01, 1).await; // one cloud service: a role delete
    let env = setup(creds, &emu, "rmn", 2);
    ec_ok(&env, &["start", "c", "--no-setup"]).await;
    let before_roles = roles(&emu).await;
    let before_state = state_text(&env);
    // No sshd answers for the API-only backend: the frontend's Slurm cannot be asked.
    let out = ec(
        &env,
        &["remove-node", "c", "compute002", "--yes", "--no-setup"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    assert!(
        lines[0].contains("`compute002`")
            && lines[0].contains("frontend001")
            && lines[0].contains("--force")
            && lines[0].contains("Nothing was changed"),
        "{err}"
    );
    assert_eq!(roles(&emu).await, before_roles, "no VM was deleted");
    assert_eq!(state_text(&env), before_state, "the state is unchanged");

    let out = ec_ok(
        &env,
        &[
            "remove-node",
            "c",
            "compute002",
            "--yes",
            "--no-setup",
            "--force",
        ],
    )
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning:") && err.contains("without draining (--force)"),
        "{err}"
    );
    assert_eq!(roles(&emu).await, ["rmn-compute001", "rmn-frontend001"]);
    assert_eq!(state_nodes(&env), ["frontend001", "compute001"]);
    stop_leaves_nothing(&env, &emu).await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resize_adds_into_existing_services_and_removes_nodes() {
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), 0.01, 2).await;
    let env = setup(creds, &emu, "rsz", 1);
    ec_ok(&env, &["start", "c", "--no-setup"]).await;
    ec_ok(&env, &["resize", "c", "-a", "3:compute", "--no-setup"]).await;
    assert_eq!(
        roles(&emu).await,
        [
            "rsz-compute001",
            "rsz-compute002",
            "rsz-compute003",
            "rsz-compute004",
            "rsz-frontend001"
        ]
    );
    let inv = emu.inventory().await;
    assert_eq!(
        inv["subscriptions"][SUB]["hosted_services"]
            .as_array()
            .map(|a| a.len()),
        Some(2),
        "the new nodes went into the two existing cloud services"
    );
    // Without a scheduler to ask which nodes are idle, the last ones go.
    ec_ok(
        &env,
        &[
            "resize",
            "c",
            "-r",
            "2:compute",
            "--no-setup",
            "--yes",
            "--force",
        ],
    )
    .await;
    assert_eq!(
        roles(&emu).await,
        ["rsz-compute001", "rsz-compute002", "rsz-frontend001"]
    );
    assert_eq!(
        state_nodes(&env),
        ["frontend001", "compute001", "compute002"]
    );
    stop_leaves_nothing(&env, &emu).await;
    emu.shutdown().await;
}

/// Run `elasticluster ARGS` and SIGKILL it once `cond(state file)` holds.
async fn kill_when(env: &Env, args: &[&str], cond: impl Fn(&str) -> bool, what: &str) {
    let mut c = cmd(env);
    c.args(args).stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond(&state_text(env)) {
        if let Ok(Some(st)) = child.try_wait() {
            panic!(
                "{what}: `{}` ended ({st}) before the kill point",
                args.join(" ")
            );
        }
        assert!(
            Instant::now() < deadline,
            "{what}: kill point never reached"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    child.kill().unwrap(); // SIGKILL
    let st = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        st.signal(),
        Some(9),
        "{what}: `{}` had finished when killed",
        args.join(" ")
    );
}

/// The `[[resources]]` blocks of the state that are `node`'s VM.
fn vm_of<'a>(state: &'a str, node: &str) -> Vec<&'a str> {
    let attr = format!("node = \"{node}\"");
    state
        .split("[[resources]]")
        .filter(|r| r.contains("kind = \"vm\"") && r.contains(&attr))
        .collect()
}

fn planned(node: &'static str) -> impl Fn(&str) -> bool {
    move |s| !vm_of(s, node).is_empty()
}
fn requested(node: &'static str) -> impl Fn(&str) -> bool {
    move |s| {
        vm_of(s, node)
            .iter()
            .any(|r| r.contains("requested = \"1\""))
    }
}
fn created(node: &'static str) -> impl Fn(&str) -> bool {
    move |s| {
        vm_of(s, node)
            .iter()
            .any(|r| r.contains("status = \"created\""))
    }
}
/// The node is marked as leaving (its removal passed the point of no return).
fn marked_leaving(node: &'static str) -> impl Fn(&str) -> bool {
    let name = format!("name = \"{node}\"");
    move |s| {
        s.split("[[nodes]]")
            .any(|n| n.contains(&name) && n.contains("status = \"deleting\""))
    }
}
/// Its VM's delete request may have been sent.
fn vm_deleting(node: &'static str) -> impl Fn(&str) -> bool {
    move |s| {
        vm_of(s, node)
            .iter()
            .any(|r| r.contains("status = \"deleting\""))
    }
}

/// Kill `resize -a 2:compute` of a 1+1 cluster when `cond` holds; the next `resize -a`
/// (when `resume`) brings up what was cut short plus its own node; `stop` leaves nothing.
async fn kill_resize_add(base: &str, cond: impl Fn(&str) -> bool, resume: bool) {
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), 0.01, 1).await;
    let env = setup(creds, &emu, base, 1);
    ec_ok(&env, &["start", "c", "--no-setup"]).await;
    kill_when(
        &env,
        &["resize", "c", "-a", "2:compute", "--no-setup"],
        cond,
        base,
    )
    .await;
    if resume {
        ec_ok(&env, &["resize", "c", "-a", "1:compute", "--no-setup"]).await;
        let names: Vec<String> = (1..=4).map(|i| format!("{base}-compute{i:03}")).collect();
        let mut want = names.clone();
        want.push(format!("{base}-frontend001"));
        assert_eq!(roles(&emu).await, want, "{base}: every node runs");
        let state = state_text(&env);
        assert_eq!(state.matches("status = \"running\"").count(), 5, "{state}");
    }
    stop_leaves_nothing(&env, &emu).await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_resize_add_after_plan_then_stop() {
    kill_resize_add("kra1", planned("compute003"), false).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_resize_add_during_request_then_resize_again() {
    kill_resize_add("kra2", requested("compute002"), true).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_resize_add_after_first_vm_then_resize_again() {
    kill_resize_add("kra3", created("compute002"), true).await;
}

/// Kill the removal of compute002 (`remove-node` or `resize -r`) of a 1+2 cluster when
/// `cond` holds; then `next` (if any) must finish it; `stop` leaves nothing.
async fn kill_removal(base: &str, args: &[&str], cond: impl Fn(&str) -> bool, next: bool) {
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), 0.01, 1).await; // one service: role deletes
    let env = setup(creds, &emu, base, 2);
    ec_ok(&env, &["start", "c", "--no-setup"]).await;
    kill_when(&env, args, cond, base).await;
    if next {
        // The next membership change first finishes the removal, then does its own job
        // (the new node never takes the name of the one that left).
        let out = ec_ok(&env, &["resize", "c", "-a", "1:compute", "--no-setup"]).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("Finishing the removal of compute002"),
            "{base}: {err}"
        );
        assert_eq!(
            state_nodes(&env),
            ["frontend001", "compute001", "compute003"],
            "{base}"
        );
        assert_eq!(
            roles(&emu).await,
            [
                format!("{base}-compute001"),
                format!("{base}-compute003"),
                format!("{base}-frontend001")
            ],
            "{base}"
        );
        assert!(!state_text(&env).contains("\"deleting\""), "{base}");
    }
    stop_leaves_nothing(&env, &emu).await;
    emu.shutdown().await;
}

const REMOVE: [&str; 7] = [
    "remove-node",
    "c",
    "compute002",
    "--yes",
    "--no-setup",
    "--force",
    "-v",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_remove_node_once_marked_then_resize() {
    kill_removal("krm1", &REMOVE, marked_leaving("compute002"), true).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_remove_node_during_delete_then_resize() {
    kill_removal("krm2", &REMOVE, vm_deleting("compute002"), true).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_resize_remove_during_delete_then_stop() {
    kill_removal(
        "krm3",
        &[
            "resize",
            "c",
            "-r",
            "1:compute",
            "--yes",
            "--no-setup",
            "--force",
        ],
        vm_deleting("compute002"),
        false,
    )
    .await;
}

/// `remove-node` killed once compute002 is marked as leaving, then the same `remove-node`
/// again (without --force: no scheduler answers here): it finishes that removal, with no
/// second drain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_remove_node_once_marked_then_remove_it_again() {
    let base = "krm4";
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), 0.01, 1).await;
    let env = setup(creds, &emu, base, 2);
    ec_ok(&env, &["start", "c", "--no-setup"]).await;
    kill_when(&env, &REMOVE, marked_leaving("compute002"), base).await;
    let out = ec_ok(
        &env,
        &["remove-node", "c", "compute002", "--yes", "--no-setup"],
    )
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Finishing the removal of compute002"), "{err}");
    assert_eq!(state_nodes(&env), ["frontend001", "compute001"]);
    assert_eq!(
        roles(&emu).await,
        [format!("{base}-compute001"), format!("{base}-frontend001")]
    );
    stop_leaves_nothing(&env, &emu).await;
    emu.shutdown().await;
}

/// `remove-node` killed once compute002 is marked as leaving, then `start`: the removal is
/// finished and, the template asking for 2 compute nodes, a new one (never the same name)
/// is made in its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_remove_node_once_marked_then_start() {
    let base = "krm5";
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), 0.01, 1).await;
    let env = setup(creds, &emu, base, 2);
    ec_ok(&env, &["start", "c", "--no-setup"]).await;
    kill_when(&env, &REMOVE, marked_leaving("compute002"), base).await;
    let out = ec_ok(&env, &["start", "c", "--no-setup"]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Finishing the removal of compute002"), "{err}");
    assert_eq!(
        state_nodes(&env),
        ["frontend001", "compute001", "compute003"]
    );
    assert_eq!(
        roles(&emu).await,
        [
            format!("{base}-compute001"),
            format!("{base}-compute003"),
            format!("{base}-frontend001")
        ]
    );
    stop_leaves_nothing(&env, &emu).await;
    emu.shutdown().await;
}
