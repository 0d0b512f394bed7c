//! Checks before anything is created and a plan that follows the configuration, through
//! the `elasticluster` binary against the in-process emulator (API-only backend): each
//! preflight failure is one line naming the key, exit 1, nothing created; `--dry-run`
//! prints layout, quota use and expected time and creates nothing; a start that failed is
//! planned again from the fixed configuration, while existing nodes that differ are listed
//! with the way out; `--json-events` keeps stdout pure JSON.

#[path = "support/cli.rs"]
mod cli;
mod support;

use std::os::unix::fs::PermissionsExt;

use cli::*;
use support::*;

async fn nothing_created(env: &CliEnv, emu: &azure_emulator::RunningEmulator) {
    assert_eq!(leftovers(emu, &[]).await, Vec::<String>::new());
    assert!(!env.storage.join("c.toml").exists(), "a state was saved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_preflight_failure_is_one_line_naming_the_key_and_creates_nothing() {
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), 0.01, 20).await;
    let mut env = CliEnv::new(creds, &emu);
    let cases: &[(&str, &[&str])] = &[
        (
            "location = Nowhere",
            &["location:", "`Nowhere`", "use one of: East US"],
        ),
        (
            "image_id = no-such-image",
            &["image_id:", "`no-such-image`", "List OS Images"],
        ),
        (
            "flavor = Huge",
            &[
                "flavor:",
                "`Huge`",
                "does not exist",
                "did you mean `Large`?",
            ],
        ),
        ("flavor = Sm\u{0}all", &["flavor:", "`Sm\\u{0}all`"]),
        (
            "compute_nodes = 10000",
            &[
                "compute_nodes:",
                "not enough Azure quota",
                "lower `compute_nodes`",
            ],
        ),
    ];
    for (extra, fragments) in cases {
        env.template("c", "pre1", 2, extra);
        let out = run_args(&env, &["start", "c", "--no-setup"]).await;
        let line = one_line_error(&out, fragments);
        assert!(line.starts_with("error: cluster `c`: "), "{line}");
        assert!(!line.contains('\u{0}'), "raw NUL echoed: {line:?}");
        nothing_created(&env, &emu).await;
    }
    // The case: refused on quota, then corrected — the corrected count is used.
    env.template("c", "pre1", 2, "");
    ok(
        &run_args(&env, &["start", "c", "--no-setup"]).await,
        "start after fixing",
    );
    assert_eq!(env.state("c").matches("[[nodes]]").count(), 3);
    ok(&run_args(&env, &["stop", "c", "--yes"]).await, "stop");
    assert_eq!(leftovers(&emu, &[]).await, Vec::<String>::new());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_old_ansible_is_found_before_anything_is_created() {
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), 0.01, 20).await;
    let mut env = CliEnv::new(creds, &emu);
    let old = env.dir.path().join("old-ansible");
    std::fs::write(&old, "#!/bin/sh\necho 'ansible-playbook [core 2.9.0]'\n").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.append_head(&format!(
        "[setup/old]\nprovider = ansible\nansible_command = {}\nfrontend_groups = slurm_master\n\n",
        old.display()
    ));
    env.template("c", "pre2", 1, "setup = old");
    let out = run_args(&env, &["start", "c"]).await;
    one_line_error(&out, &["ansible_command:", "2.9.0", "--no-setup"]);
    nothing_created(&env, &emu).await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_prints_layout_quota_and_time_and_creates_nothing() {
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), 0.01, 2).await;
    let mut env = CliEnv::new(creds, &emu);
    env.template("c", "dry1", 4, "");
    let out = run_args(&env, &["start", "c", "--no-setup", "--dry-run"]).await;
    ok(&out, "dry run");
    let report = stdout(&out);
    for f in [
        "nothing was created or saved",
        "location East US exists",
        "5 VMs in 2 cloud services (at most 3 per service)",
        "cloud services dry1cs0, dry1cs1",
        "cores 0 + 5 of 10000; cloud services 0 + 2 of 2",
        "Expected start time:",
        "No problems found",
    ] {
        assert!(report.contains(f), "`{f}` missing from:\n{report}");
    }
    nothing_created(&env, &emu).await;
    assert!(
        !env.storage.join("c.lock").exists(),
        "a dry run takes no lock"
    );
    // With a problem: the report lists it, stderr says so in one line, exit 1.
    env.template("c", "dry1", 4, "flavor = Huge");
    let out = run_args(&env, &["start", "c", "--no-setup", "--dry-run"]).await;
    one_line_error(&out, &["dry run found 1 problem"]);
    assert!(
        stdout(&out).contains("flavor: role size `Huge`"),
        "{}",
        stdout(&out)
    );
    // As JSON events: every line is an object; the last says how long the start would take.
    env.template("c", "dry1", 4, "");
    let out = run_args(
        &env,
        &["start", "c", "--no-setup", "--dry-run", "--json-events"],
    )
    .await;
    ok(&out, "dry run --json-events");
    let events: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let last = events.last().unwrap();
    assert_eq!(last["event"], "start");
    assert_eq!(last["status"], "ok");
    let dry = events.iter().find(|e| e["event"] == "dry_run").unwrap();
    assert!(dry["duration"].as_f64().unwrap() > 0.0, "{dry}");
    nothing_created(&env, &emu).await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_start_follows_the_fixed_config_and_existing_nodes_are_never_silently_kept() {
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), 0.01, 20).await;
    let mut env = CliEnv::new(creds, &emu);
    env.template("c", "fol1", 3, "");
    // Every asynchronous operation fails: storage and network never come, no VM is asked for.
    emu.set_faults("opfail=1,seed=1").unwrap();
    let out = run_args(&env, &["start", "c", "--no-setup"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    emu.set_faults("none").unwrap();
    assert_eq!(
        env.state("c").matches("[[nodes]]").count(),
        4,
        "the failed plan"
    );
    // Fixed config: fewer nodes, another size. The next start uses it.
    env.template("c", "fol1", 1, "flavor = Medium");
    let out = run_args(&env, &["start", "c", "--no-setup"]).await;
    ok(&out, "start with the fixed config");
    assert!(
        stderr(&out).contains("planned again from the configuration"),
        "{}",
        stderr(&out)
    );
    let state = env.state("c");
    assert_eq!(state.matches("[[nodes]]").count(), 2, "{state}");
    assert!(!state.contains("flavor = \"Small\""), "{state}");
    let inv = emu.inventory().await;
    let mut sizes = Vec::new();
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
            sizes.push(r["role_size"].as_str().unwrap_or("?").to_string());
        }
    }
    assert_eq!(sizes, ["Medium", "Medium"], "{inv}");
    // What exists and differs is listed with the way out; nothing changes.
    let before = env.state("c");
    env.template("c", "fol1", 1, "flavor = Medium\nimage_id = another-image");
    let out = run_args(&env, &["start", "c", "--no-setup"]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("node `compute001` exists with image_id `debian-12-elasticluster`")
            && err.contains("`another-image`")
            && err.contains("elasticluster remove-node c compute001"),
        "{err}"
    );
    env.template("c", "fol1", 0, "flavor = Medium");
    let out = run_args(&env, &["start", "c", "--no-setup"]).await;
    one_line_error(
        &out,
        &[
            "1 `compute` nodes exist",
            "asks for 0",
            "elasticluster resize c -r 1:compute",
        ],
    );
    env.template("c", "fol1", 1, "flavor = Medium\nlocation = West Europe");
    let out = run_args(&env, &["start", "c", "--no-setup"]).await;
    one_line_error(
        &out,
        &[
            "`location`",
            "`East US`",
            "`West Europe`",
            "elasticluster stop c",
        ],
    );
    assert_eq!(env.state("c"), before, "refusals change nothing");
    ok(&run_args(&env, &["stop", "c", "--yes"]).await, "stop");
    assert_eq!(leftovers(&emu, &[]).await, Vec::<String>::new());
    emu.shutdown().await;
}

/// Every stdout line of `out` as a JSON event with the documented keys.
fn events(out: &std::process::Output) -> Vec<serde_json::Value> {
    stdout(out)
        .lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}"));
            let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(
                keys,
                [
                    "cluster", "duration", "error", "event", "message", "node", "resource",
                    "status", "time"
                ],
                "{l}"
            );
            v
        })
        .collect()
}

fn has(events: &[serde_json::Value], event: &str, status: &str, field: (&str, &str)) -> bool {
    events.iter().any(|e| {
        e["event"] == event
            && e["status"] == status
            && e[field.0].as_str().is_some_and(|v| v.contains(field.1))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_events_keep_stdout_machine_readable() {
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), 0.01, 1).await;
    let mut env = CliEnv::new(creds, &emu);
    // An Ansible that prints on stdout and fails: its output must go to stderr.
    let fake = env.dir.path().join("fake-ansible");
    std::fs::write(
        &fake,
        "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'ansible-playbook [core 2.16.0]'; exit 0; fi\necho 'PLAY [all] ****'\nexit 2\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.append_head(&format!(
        "[setup/fake]\nprovider = ansible\nansible_command = {}\nfrontend_groups = slurm_master\ncompute_groups = slurm_workers\n\n",
        fake.display()
    ));
    env.template("c", "json1", 1, "setup = fake");

    let out = run_args(&env, &["start", "c", "--no-setup", "--json-events"]).await;
    ok(&out, "start --json-events");
    let ev = events(&out);
    assert_eq!(
        (ev[0]["event"].as_str(), ev[0]["status"].as_str()),
        (Some("start"), Some("running"))
    );
    assert!(
        has(
            &ev,
            "resource",
            "created",
            ("resource", "cloud_service json1cs0")
        ),
        "{ev:?}"
    );
    assert!(has(&ev, "vm", "created", ("node", "compute001")), "{ev:?}");
    for n in ["frontend001", "compute001"] {
        assert!(has(&ev, "node", "ready", ("node", n)), "{ev:?}");
    }
    let last = ev.last().unwrap();
    assert_eq!(
        (last["event"].as_str(), last["status"].as_str()),
        (Some("start"), Some("ok"))
    );
    assert!(ev.iter().all(|e| e["cluster"] == "c"));

    let out = run_args(
        &env,
        &[
            "resize",
            "c",
            "-a",
            "1:compute",
            "--no-setup",
            "--json-events",
        ],
    )
    .await;
    ok(&out, "resize --json-events");
    let ev = events(&out);
    assert!(has(&ev, "node", "ready", ("node", "compute002")), "{ev:?}");
    assert_eq!(ev.last().unwrap()["status"], "ok");

    let out = run_args(
        &env,
        &[
            "remove-node",
            "c",
            "compute002",
            "--yes",
            "--no-setup",
            // no scheduler answers on the API-only backend: nothing to drain
            "--force",
            "--json-events",
        ],
    )
    .await;
    ok(&out, "remove-node --json-events");
    let ev = events(&out);
    assert!(
        has(&ev, "node", "deleted", ("node", "compute002")),
        "{ev:?}"
    );

    let out = run_args(&env, &["setup", "c", "--json-events"]).await;
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let ev = events(&out);
    assert!(
        has(&ev, "provision", "not_ready", ("error", "exit")),
        "{ev:?}"
    );
    assert_eq!(ev.last().unwrap()["event"], "setup");
    assert_eq!(ev.last().unwrap()["status"], "failed");
    assert!(
        stderr(&out).contains("PLAY [all]"),
        "ansible's output goes to stderr"
    );

    let out = run_args(&env, &["stop", "c", "--yes", "--json-events"]).await;
    ok(&out, "stop --json-events");
    let ev = events(&out);
    assert!(
        has(
            &ev,
            "resource",
            "deleted",
            ("resource", "storage_account json1sa0")
        ),
        "{ev:?}"
    );
    assert_eq!(ev.last().unwrap()["event"], "stop");
    assert_eq!(ev.last().unwrap()["status"], "ok");
    assert_eq!(leftovers(&emu, &[]).await, Vec::<String>::new());
    emu.shutdown().await;
}
