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

#[test]
fn a_storage_directory_others_may_write_to_is_refused() {
    let d = setup();
    std::fs::write(d.path().join("c.conf"), config(d.path(), "2", "login/l")).unwrap();
    let storage = d.path().join("storage");
    std::fs::create_dir(&storage).unwrap();
    std::fs::set_permissions(&storage, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = run(d.path(), "c.conf", &["start", "c", "--dry-run"])
        .code(1)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("mode 0777") && err.contains(&format!("chmod go-w {}", storage.display())),
        "{err}"
    );
}

#[test]
fn garbage_in_the_config_never_reaches_the_terminal_raw() {
    let d = setup();
    let mut text = config(d.path(), "2", "login/l").into_bytes();
    text.extend_from_slice(b"\x1b[2J\x1b]0;owned\x07 = \x00\x01\x02\n");
    text.extend_from_slice(format!("base_name = {}\n", "b".repeat(1_000_000)).as_bytes());
    std::fs::write(d.path().join("c.conf"), text).unwrap();
    let out = run(d.path(), "c.conf", &["start", "c"])
        .code(1)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.len() < 2000, "{} bytes of stderr", err.len());
    assert!(
        !err.chars().any(|c| c.is_control() && c != '\n'),
        "raw control characters: {err:?}"
    );
    assert!(err.contains("\\u{1b}[2j\\u{1b}]0;owned\\u{7}"), "{err}");
    assert!(err.contains("… (1000000 characters)"), "{err}");
}

#[test]
fn invalid_utf8_is_one_line_with_file_and_line() {
    let d = setup();
    let mut text = b"# caf\xe9\n".to_vec();
    text.extend_from_slice(config(d.path(), "2", "login/l").as_bytes());
    std::fs::write(d.path().join("c.conf"), text).unwrap();
    one_clear_error(
        run(d.path(), "c.conf", &["list-templates"]),
        d.path(),
        &["c.conf:1: not valid UTF-8", "byte 0xe9"],
    );
}

#[test]
fn ten_megabytes_of_config_are_read_quickly_and_reported_briefly() {
    let d = setup();
    let mut text = config(d.path(), "2", "login/l");
    let mut i = 0;
    while text.len() < 10 * 1024 * 1024 {
        text.push_str(&format!("unknown_key_{i} = {}\n", "v".repeat(80)));
        i += 1;
    }
    std::fs::write(d.path().join("c.conf"), &text).unwrap();
    let t = std::time::Instant::now();
    let out = run(d.path(), "c.conf", &["list-templates"])
        .code(1)
        .get_output()
        .clone();
    let took = t.elapsed();
    eprintln!("10 MB config, {i} keys: list-templates took {took:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.len() < 30_000, "{} bytes of stderr", err.len());
    assert!(err.contains("more problems"), "{err}");
    // Linear reading takes well under a second in a release build; this bound is for a
    // debug build on a busy machine, and would not hold for the quadratic reader (49 s).
    assert!(took.as_secs_f64() < 10.0, "took {took:?}");
}

#[test]
fn completions_and_man_page_come_from_the_command_line_definitions() {
    let d = setup();
    for (shell, marker) in [
        ("bash", "_elasticluster()"),
        ("zsh", "#compdef elasticluster"),
        ("fish", "complete -c elasticluster"),
    ] {
        let out = run(d.path(), "nope.conf", &["completions", shell])
            .success()
            .get_output()
            .clone();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(marker), "{shell}: {text}");
        for word in ["start", "stop", "json-events", "dry-run"] {
            assert!(text.contains(word), "{shell} lacks {word}");
        }
    }
    let out = run(d.path(), "nope.conf", &["man"])
        .success()
        .get_output()
        .clone();
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH elasticluster 1"),
        "{page}"
    );
    for sub in ["start", "stop", "resize", "completions"] {
        assert!(page.contains(sub), "man page lacks {sub}");
    }
    let dir = d.path().join("man");
    std::fs::create_dir(&dir).unwrap();
    run(
        d.path(),
        "nope.conf",
        &["man", "--dir", dir.to_str().unwrap()],
    )
    .success();
    let start = std::fs::read_to_string(dir.join("elasticluster-start.1")).unwrap();
    assert!(
        start.contains("dry\\-run") && start.contains("json\\-events"),
        "{start}"
    );
}
