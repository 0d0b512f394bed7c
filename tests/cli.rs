//! The CLI as a new user meets it: bad inputs each give one clear message naming the
//! file/key and what to do, exit 1, no panic, nothing created.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

fn config(dir: &Path, compute: &str, login_section: &str) -> String {
    let k = dir.join("k");
    format!(
        "[cloud/a]\nprovider = azure\nsubscription_id = 0a1b2c3d-0000-4000-8000-00000000beef\ncertificate = {k}\n\
         [{login_section}]\nimage_user = u\nimage_user_sudo = root\nimage_sudo = yes\nuser_key_name = k\n\
         user_key_private = {k}\nuser_key_public = {k}.pub\n\
         [setup/s]\nprovider = ansible\n\
         [cluster/c]\ncloud = a\nlogin = l\nsetup_provider = s\nlocation = East US\nbase_name = abc\n\
         image_id = img\nflavor = Small\nfrontend_nodes = 1\ncompute_nodes = {compute}\n",
        k = k.display()
    )
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f"])
        .arg(dir.path().join("k"))
        .status()
        .expect("ssh-keygen");
    assert!(st.success());
    dir
}

fn run(dir: &Path, conf: &str, args: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("elasticluster")
        .expect("binary")
        .arg("-s")
        .arg(dir.join("storage"))
        .arg("-c")
        .arg(dir.join(conf))
        .args(args)
        .assert()
}

/// One line on stderr, exit 1, no panic, and no cluster state created.
fn one_clear_error(a: assert_cmd::assert::Assert, dir: &Path, fragments: &[&str]) {
    let out = a.code(1).get_output().clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "expected one line: {err}");
    for f in fragments {
        assert!(err.contains(f), "missing `{f}` in: {err}");
    }
    let states = std::fs::read_dir(dir.join("storage"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "toml"))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(states, 0, "a cluster state was created");
}

#[test]
fn good_config_lists_its_template() {
    let d = setup();
    std::fs::write(d.path().join("c.conf"), config(d.path(), "2", "login/l")).unwrap();
    run(d.path(), "c.conf", &["list-templates"])
        .success()
        .stdout(
            predicate::str::contains("1 cluster templates found")
                .and(predicate::str::contains("compute nodes: 2")),
        );
}

#[test]
fn missing_config_file() {
    let d = setup();
    one_clear_error(
        run(d.path(), "nope.conf", &["list-templates"]),
        d.path(),
        &["nope.conf", "not found", "azure-sample-config"],
    );
}

#[test]
fn non_numeric_count() {
    let d = setup();
    std::fs::write(d.path().join("c.conf"), config(d.path(), "two", "login/l")).unwrap();
    one_clear_error(
        run(d.path(), "c.conf", &["start", "c"]),
        d.path(),
        &[
            "c.conf:",
            "[cluster/c] compute_nodes",
            "`two`",
            "compute_nodes = 2",
        ],
    );
}

#[test]
fn typo_in_a_section_name() {
    let d = setup();
    std::fs::write(d.path().join("c.conf"), config(d.path(), "2", "logn/l")).unwrap();
    one_clear_error(
        run(d.path(), "c.conf", &["start", "c"]),
        d.path(),
        &["c.conf:5", "[logn/l]", "did you mean `[login/l]`"],
    );
}

#[test]
fn empty_config() {
    let d = setup();
    std::fs::write(d.path().join("c.conf"), "").unwrap();
    one_clear_error(
        run(d.path(), "c.conf", &["list-templates"]),
        d.path(),
        &["no cluster templates found", "[cluster/NAME]"],
    );
}

#[test]
fn key_file_readable_by_others() {
    let d = setup();
    std::fs::write(d.path().join("c.conf"), config(d.path(), "2", "login/l")).unwrap();
    std::fs::set_permissions(d.path().join("k"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(d.path(), "c.conf", &["start", "c"])
        .code(1)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    // Both keys that name the file are reported, each on its own line, in one run.
    assert!(
        err.contains("[cloud/a] certificate") && err.contains("[login/l] user_key_private"),
        "{err}"
    );
    assert!(
        err.contains("mode 0644") && err.contains("chmod 600"),
        "{err}"
    );
    assert!(!d.path().join("storage/c.toml").exists());
}
