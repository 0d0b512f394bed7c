//! Whose a resource is, through the `elasticluster` binary against the in-process emulator
//! (API-only backend): two templates sharing a `base_name` — from one storage directory
//! and from two — never take over each other's resources; `stop NAME --force` without a
//! state file finds what the template names, with owner ids, and deletes it (never a stored
//! cluster's resources).

#[path = "support/cli.rs"]
mod cli;
mod support;

use cli::*;
use support::*;

/// Every resource the emulator holds (a fingerprint to compare before and after).
async fn everything(emu: &azure_emulator::RunningEmulator) -> Vec<String> {
    let mut v = leftovers(emu, &[]).await;
    let inv = emu.inventory().await;
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
            v.push(format!(
                "role {} {}",
                r["name"].as_str().unwrap_or("?"),
                r["instance_status"]
            ));
        }
    }
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_template_with_the_same_base_name_is_refused_from_one_storage_dir() {
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), 0.01, 20).await;
    let mut env = CliEnv::new(creds, &emu);
    env.template("c", "own1", 2, "");
    env.template("other", "own1", 1, "");
    ok(
        &run_args(&env, &["start", "c", "--no-setup"]).await,
        "start c",
    );
    let owner = env.owner_id("c");
    let before = everything(&emu).await;
    let out = run_args(&env, &["start", "other", "--no-setup"]).await;
    let line = one_line_error(&out, &["cluster `other`", "own1cs0", &owner, "base_name"]);
    assert!(line.contains("nothing was created"), "{line}");
    assert!(!env.storage.join("other.toml").exists());
    assert_eq!(everything(&emu).await, before, "nothing created or changed");
    // `stop other` has nothing to stop and must not touch c's VMs.
    let out = run_args(&env, &["stop", "other", "--yes"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(everything(&emu).await, before);
    // c is intact: every node still runs, and it stops cleanly.
    let out = run_args(&env, &["list-nodes", "c", "-u", "--json"]).await;
    ok(&out, "list-nodes c -u");
    let nodes: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = nodes.to_string();
    assert_eq!(text.matches("\"failed\"").count(), 0, "{text}");
    ok(&run_args(&env, &["stop", "c", "--yes"]).await, "stop c");
    assert_eq!(leftovers(&emu, &[]).await, Vec::<String>::new());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_template_from_a_second_storage_dir_is_refused() {
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), 0.01, 20).await;
    let mut env = CliEnv::new(creds, &emu);
    env.template("c", "own2", 2, "");
    ok(
        &run_args(&env, &["start", "c", "--no-setup"]).await,
        "start c",
    );
    let owner = env.owner_id("c");
    let before = everything(&emu).await;
    let second = env.dir.path().join("storage2");
    let mut c = env.cmd_in(&second);
    c.args(["start", "c", "--no-setup"]);
    let out = run(c).await;
    one_line_error(&out, &["own2cs0", &format!("owner id {owner}")]);
    assert!(!second.join("c.toml").exists());
    assert_eq!(everything(&emu).await, before);
    // Neither can the second directory's `stop --force` delete them: they are not its
    // cluster's… but with the state lost, only the owner ids tell. It lists them first.
    let mut c = env.cmd_in(&second);
    c.args(["stop", "c", "--force"]);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("owner id {owner}")),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    assert_eq!(
        everything(&emu).await,
        before,
        "nothing deleted without --yes"
    );
    ok(&run_args(&env, &["stop", "c", "--yes"]).await, "stop c");
    assert_eq!(leftovers(&emu, &[]).await, Vec::<String>::new());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_force_without_a_state_file_deletes_what_the_template_names() {
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), 0.01, 20).await;
    let mut env = CliEnv::new(creds, &emu);
    env.template("c", "lost2", 3, "");
    ok(
        &run_args(&env, &["start", "c", "--no-setup"]).await,
        "start c",
    );
    let owner = env.owner_id("c");
    std::fs::remove_file(env.storage.join("c.toml")).unwrap();
    let out = run_args(&env, &["stop", "c", "--yes"]).await;
    one_line_error(&out, &["no cluster named `c`", "stop c --force"]);
    assert!(!leftovers(&emu, &[]).await.is_empty());
    let out = run_args(&env, &["stop", "c", "--force", "--yes"]).await;
    ok(&out, "stop --force");
    let listing = stdout(&out);
    for r in [
        "cloud service lost2cs0",
        "storage account lost2sa0",
        "virtual network lost2vn0-",
    ] {
        assert!(listing.contains(r), "{r} not listed: {listing}");
    }
    assert!(listing.contains(&format!("owner id {owner}")), "{listing}");
    assert!(stderr(&out).contains("nothing is left"), "{}", stderr(&out));
    assert_eq!(leftovers(&emu, &[]).await, Vec::<String>::new());
    // Nothing left: a second run says so and succeeds.
    let out = run_args(&env, &["stop", "c", "--force", "--yes"]).await;
    ok(&out, "second stop --force");
    assert!(
        stderr(&out).contains("nothing to delete"),
        "{}",
        stderr(&out)
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_force_never_touches_a_stored_clusters_resources_and_takes_a_base_name() {
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), 0.01, 20).await;
    let mut env = CliEnv::new(creds, &emu);
    env.template("c", "keep4", 1, "");
    env.template("other", "keep4", 1, "");
    ok(
        &run_args(&env, &["start", "c", "--no-setup"]).await,
        "start c",
    );
    let before = everything(&emu).await;
    let out = run_args(&env, &["stop", "other", "--force", "--yes"]).await;
    ok(&out, "stop other --force");
    assert!(
        stderr(&out).contains("belongs to cluster `c`"),
        "{}",
        stderr(&out)
    );
    assert_eq!(everything(&emu).await, before, "c's resources untouched");
    // c's state is lost and its template renamed its base_name since: --base-name finds it.
    std::fs::remove_file(env.storage.join("c.toml")).unwrap();
    env.template("c", "renamed4", 1, "");
    env.template("other", "other4", 1, "");
    let out = run_args(&env, &["stop", "c", "--force", "--yes"]).await;
    ok(&out, "stop c --force (new base_name)");
    assert_eq!(everything(&emu).await, before, "nothing under the new name");
    let out = run_args(
        &env,
        &["stop", "c", "--force", "--yes", "--base-name", "keep4"],
    )
    .await;
    ok(&out, "stop c --force --base-name keep4");
    assert!(stdout(&out).contains("keep4cs0"), "{}", stdout(&out));
    assert_eq!(leftovers(&emu, &[]).await, Vec::<String>::new());
    // --base-name is only for a lost state; a bad one is a config-style error.
    let out = run_args(
        &env,
        &["stop", "c", "--force", "--yes", "--base-name", "Bad_Name"],
    )
    .await;
    one_line_error(
        &out,
        &["--base-name", "base_name", "lowercase letters and digits"],
    );
    emu.shutdown().await;
}
