//! `export` / `import` through the built binary, against the in-process emulator (API-only
//! backend): a cluster exported with its keys and imported into a second storage directory is
//! managed from there (list-nodes -u, stop) and leaves nothing in the cloud; every bad
//! archive is one clear line, exit 1, and leaves the target storage directory untouched.

mod support;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use support::*;
use zip::write::SimpleFileOptions;

struct Env {
    creds: Creds,
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    fn new(creds: Creds, emu: &azure_emulator::RunningEmulator, base: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        for f in [creds.mgmt(), creds.ssh_key(), creds.ssh_pub()] {
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let config = dir.path().join("config");
        std::fs::write(
            &config,
            format!(
                "[cloud/emu]\nprovider = azure\nsubscription_id = {SUB}\ncertificate = {cert}\nmanagement_url = {url}\nca_certificate = {ca}\n\n\
                 [login/l]\nimage_user = clusteruser\nuser_key_private = {key}\nuser_key_public = {pubkey}\n\n\
                 [setup/s]\nprovider = ansible\nfrontend_groups = slurm_master\ncompute_groups = slurm_workers\n\n\
                 [cluster/c]\ncloud = emu\nlogin = l\nsetup = s\nlocation = East US\nbase_name = {base}\nfrontend_nodes = 1\ncompute_nodes = 1\n\
                 image_id = debian-12-elasticluster\nflavor = Small\nstartup_timeout = 120\n",
                cert = creds.mgmt().display(),
                url = emu.url(),
                ca = emu.ca_pem_path().display(),
                key = creds.ssh_key().display(),
                pubkey = creds.ssh_pub().display(),
            ),
        )
        .unwrap();
        Env { creds, dir, config }
    }

    fn storage(&self, n: u32) -> PathBuf {
        self.dir.path().join(format!("storage{n}"))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The binary on storage directory `n` (no SSH probing: the API-only backend).
    fn cmd(&self, n: u32, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_elasticluster"));
        c.arg("-c").arg(&self.config).arg("-s").arg(self.storage(n));
        c.args(args);
        c.env("ELASTICLUSTER_TIME_SCALE", "0.01");
        c.env("ELASTICLUSTER_SKIP_SSH_WAIT", "1");
        c.stdin(Stdio::null());
        c
    }
}

async fn run(mut c: Command) -> Output {
    tokio::task::spawn_blocking(move || c.output().expect("run elasticluster"))
        .await
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output, what: &str) {
    assert!(o.status.success(), "{what}: {}", stderr(o));
}

/// One error line (after `error: `), exit 1.
fn one_line_error(o: &Output, fragments: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected:\n{err}"
    );
    for f in fragments {
        assert!(err.contains(f), "`{f}` not in: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_with_keys_then_imported_elsewhere_is_managed_from_there() {
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), 0.01, 20).await;
    let env = Env::new(creds, &emu, "xfer1");
    ok(
        &run(env.cmd(1, &["start", "c", "--no-setup"])).await,
        "start",
    );

    // Without --save-keys the archive holds no key.
    let plain = env.path("plain.zip");
    let out = run(env.cmd(1, &["export", "c", "-o", plain.to_str().unwrap()])).await;
    ok(&out, "export");
    assert!(String::from_utf8_lossy(&out.stdout).contains("correctly exported"));
    let names = zip_names(&plain);
    assert_eq!(
        names,
        ["c.known_hosts", "c.toml"].map(String::from),
        "{names:?}"
    );

    // An existing file is kept unless --overwrite.
    let out = run(env.cmd(1, &["export", "c", "-o", plain.to_str().unwrap()])).await;
    one_line_error(&out, &["already exists", "--overwrite"]);

    // With --save-keys: a warning on stderr, the file 0600.
    let full = env.path("full"); // `.zip` is appended
    let out = run(env.cmd(
        1,
        &["export", "c", "--save-keys", "-o", full.to_str().unwrap()],
    ))
    .await;
    ok(&out, "export --save-keys");
    assert!(stderr(&out).contains("private SSH key"), "{}", stderr(&out));
    let full = env.path("full.zip");
    assert_eq!(mode(&full), 0o600);
    assert!(zip_names(&full).contains(&"ssh-key".to_string()));

    // Import into a second storage directory, under another name.
    let out = run(env.cmd(2, &["import", full.to_str().unwrap(), "--rename", "moved"])).await;
    ok(&out, "import");
    let s2 = env.storage(2);
    for f in [
        "moved.toml",
        "moved.key",
        "moved.key.pub",
        "moved.known_hosts",
    ] {
        assert_eq!(mode(&s2.join(f)), 0o600, "{f}");
    }
    let state = std::fs::read_to_string(s2.join("moved.toml")).unwrap();
    assert!(state.contains("name = \"moved\""), "{state}");
    let key = s2.join("moved.key").display().to_string();
    assert!(state.contains(&key), "key paths rewritten: {state}");
    assert!(
        !state.contains(&env.creds.ssh_key().display().to_string()),
        "no path to the old key is left: {state}"
    );
    assert_eq!(
        std::fs::read(s2.join("moved.key")).unwrap(),
        std::fs::read(env.creds.ssh_key()).unwrap()
    );

    // The name is taken now: a second import says how to proceed and writes nothing.
    let before = listing(&s2);
    let out = run(env.cmd(2, &["import", full.to_str().unwrap(), "--rename", "moved"])).await;
    one_line_error(&out, &["`moved` already exists", "--rename"]);
    assert_eq!(listing(&s2), before);

    // Managed from the new place: refresh from the cloud, then stop leaves nothing.
    let out = run(env.cmd(2, &["list-nodes", "moved", "-u", "--json"])).await;
    ok(&out, "list-nodes -u");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["nodes"].as_array().map(Vec::len), Some(2), "{v}");
    ok(&run(env.cmd(2, &["stop", "moved", "--yes"])).await, "stop");
    // Only the lock file stays (it is never deleted: see storage::Storage::remove).
    assert!(
        listing(&s2)
            .iter()
            .all(|f| !f.starts_with("moved.") || f == "moved.lock"),
        "{:?}",
        listing(&s2)
    );
    assert!(
        leftovers(&emu, &[]).await.is_empty(),
        "{:?}",
        leftovers(&emu, &[]).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_archives_are_one_line_and_write_nothing() {
    let creds = Creds::new();
    let st = tempfile::tempdir().unwrap();
    let emu = emulator(&creds, st.path(), 0.01, 20).await;
    let env = Env::new(creds, &emu, "xfer2");
    ok(
        &run(env.cmd(1, &["start", "c", "--no-setup"])).await,
        "start",
    );
    let good = env.path("good.zip");
    ok(
        &run(env.cmd(1, &["export", "c", "-o", good.to_str().unwrap()])).await,
        "export",
    );
    let state = std::fs::read(env.storage(1).join("c.toml")).unwrap();
    let s3 = env.storage(3);
    std::fs::create_dir_all(&s3).unwrap();

    let check = |name: &str, fragments: Vec<&'static str>| {
        let zip = env.path(name);
        let c = env.cmd(3, &["import", zip.to_str().unwrap()]);
        let s3 = s3.clone();
        let name = name.to_string();
        async move {
            let out = run(c).await;
            one_line_error(&out, &fragments);
            assert!(listing(&s3).is_empty(), "{name}: wrote {:?}", listing(&s3));
        }
    };

    std::fs::write(env.path("text.zip"), b"this is not a zip file\n").unwrap();
    check("text.zip", vec!["not a ZIP file"]).await;

    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(env.path("truncated.zip"), &bytes[..bytes.len() / 2]).unwrap();
    check("truncated.zip", vec!["not a ZIP file"]).await;

    write_zip(&env.path("dotdot.zip"), &[("../c.toml", &state, false)]);
    check("dotdot.zip", vec!["points outside the archive"]).await;

    write_zip(&env.path("absolute.zip"), &[("/tmp/c.toml", &state, false)]);
    check("absolute.zip", vec!["points outside the archive"]).await;

    write_zip(
        &env.path("symlink.zip"),
        &[
            ("c.toml", &state, false),
            ("c.known_hosts", b"/etc/passwd", true),
        ],
    );
    check("symlink.zip", vec!["symbolic link"]).await;

    let newer =
        String::from_utf8_lossy(&state).replace("schema_version = 1", "schema_version = 99");
    write_zip(
        &env.path("schema.zip"),
        &[("c.toml", newer.as_bytes(), false)],
    );
    check(
        "schema.zip",
        vec!["schema version 99", "newer elasticluster"],
    )
    .await;

    let wrong_type =
        String::from_utf8_lossy(&state).replace("schema_version = 1", "schema_version = \"one\"");
    write_zip(
        &env.path("type.zip"),
        &[("c.toml", wrong_type.as_bytes(), false)],
    );
    check(
        "type.zip",
        vec!["schema_version is a string, not a whole number"],
    )
    .await;

    write_zip(&env.path("empty.zip"), &[("notes.txt", b"hello", false)]);
    check("empty.zip", vec!["holds no cluster state"]).await;

    // Keys neither in the archive nor at their recorded path.
    let key = env.creds.ssh_key();
    let moved_key = env.path("key-elsewhere");
    std::fs::rename(&key, &moved_key).unwrap();
    check(
        "good.zip",
        vec!["neither in", "--save-keys", leak(key.display().to_string())],
    )
    .await;
    std::fs::rename(&moved_key, &key).unwrap();

    // The good archive still imports (under its own name) once the key is back.
    let out = run(env.cmd(3, &["import", good.to_str().unwrap()])).await;
    ok(&out, "import");
    assert!(listing(&s3).contains(&"c.toml".to_string()));
    ok(&run(env.cmd(1, &["stop", "c", "--yes"])).await, "stop");
    assert!(leftovers(&emu, &[]).await.is_empty());
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn zip_names(path: &Path) -> Vec<String> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut v: Vec<String> = (0..z.len())
        .map(|i| z.by_index(i).unwrap().name().to_string())
        .collect();
    v.sort();
    v
}

/// A ZIP with the given entries (`true`: a symbolic link whose target is the data).
fn write_zip(path: &Path, entries: &[(&str, &[u8], bool)]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, data, link) in entries {
        if *link {
            z.add_symlink(
                *name,
                String::from_utf8_lossy(data),
                SimpleFileOptions::default(),
            )
            .unwrap();
        } else {
            z.start_file(*name, SimpleFileOptions::default()).unwrap();
            z.write_all(data).unwrap();
        }
    }
    z.finish().unwrap();
}
