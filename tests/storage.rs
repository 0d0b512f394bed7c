//! Cluster state storage: round trip, file modes, atomic replacement, schema checks, and the
//! per-cluster lock across two processes.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use elasticluster::cluster::{
    ClusterState, LoginSnapshot, NodeRecord, NodeStatus, ResourceRecord, ResourceStatus,
};
use elasticluster::storage::{Storage, StorageError};

fn sample(name: &str) -> ClusterState {
    let mut provider = toml::Table::new();
    provider.insert("vm_per_cs".into(), toml::Value::Integer(20));
    ClusterState {
        schema_version: 1,
        name: name.into(),
        template: "azure-slurm".into(),
        config_file: Some("/etc/ec/config".into()),
        cloud: "azure-cloud".into(),
        setup: "ansible-slurm".into(),
        login: LoginSnapshot {
            image_user: "azureuser".into(),
            image_user_sudo: "root".into(),
            image_sudo: true,
            user_key_name: "k".into(),
            user_key_private: "/home/u/.ssh/id".into(),
            user_key_public: "/home/u/.ssh/id.pub".into(),
        },
        ssh_to: Some("frontend".into()),
        created: "2026-01-01T00:00:00Z".into(),
        retired_up_to: BTreeMap::from([("compute".to_string(), 3)]),
        owner_id: Some("0123456789abcdef".into()),
        nodes: vec![NodeRecord {
            name: "frontend001".into(),
            kind: "frontend".into(),
            instance_id: Some("mybase1_vm0000_c-frontend001".into()),
            flavor: "Small".into(),
            image_id: "img".into(),
            image_user: "azureuser".into(),
            security_group: None,
            image_userdata: None,
            status: NodeStatus::Reachable,
            preferred_ip: Some("10.0.0.1:1222".into()),
            ips: vec!["10.0.0.1:1222".into(), "192.168.0.4".into()],
            private_ip: Some("192.168.0.4".into()),
            configured: true,
            via: None,
        }],
        resources: vec![ResourceRecord {
            kind: "cloud_service".into(),
            name: "mybase1su0cs0".into(),
            subscription: "0000".into(),
            parent: None,
            status: ResourceStatus::Planned,
            attrs: BTreeMap::from([("location".into(), "East US".into())]),
        }],
        provider,
    }
}

#[test]
fn round_trip_mode_and_paths() {
    let dir = tempfile::tempdir().unwrap();
    let st = Storage::open(&dir.path().join("new/storage")).unwrap();
    assert!(st.dir().is_dir(), "storage dir is created on demand");
    let state = sample("c1");
    st.save(&state).unwrap();
    let path = st.state_path("c1");
    assert_eq!(path, st.dir().join("c1.toml"));
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(fs::read_to_string(&path)
        .unwrap()
        .contains("schema_version = 1"));
    assert_eq!(st.load::<ClusterState>("c1").unwrap(), Some(state));
    assert_eq!(st.load::<ClusterState>("other").unwrap(), None);
    assert_eq!(st.known_hosts_path("c1"), st.dir().join("c1.known_hosts"));
    assert_eq!(st.inventory_path("c1"), st.dir().join("c1.inventory"));
    // No temporary files are left behind.
    let names: Vec<String> = fs::read_dir(st.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["c1.toml"]);
}

#[test]
fn save_replaces_atomically_and_list_remove() {
    let dir = tempfile::tempdir().unwrap();
    let st = Storage::open(dir.path()).unwrap();
    let mut state = sample("b");
    st.save(&state).unwrap();
    let inode_before =
        std::os::unix::fs::MetadataExt::ino(&fs::metadata(st.state_path("b")).unwrap());
    state.nodes[0].status = NodeStatus::Deleting;
    st.save(&state).unwrap();
    let inode_after =
        std::os::unix::fs::MetadataExt::ino(&fs::metadata(st.state_path("b")).unwrap());
    assert_ne!(
        inode_before, inode_after,
        "a save writes a new file and renames it over the old one"
    );
    assert_eq!(
        st.load::<ClusterState>("b").unwrap().unwrap().nodes[0].status,
        NodeStatus::Deleting
    );

    st.save(&sample("a")).unwrap();
    fs::write(st.known_hosts_path("a"), "x").unwrap();
    fs::write(st.inventory_path("a"), "x").unwrap();
    fs::write(dir.path().join(".tmp-junk"), "x").unwrap();
    assert_eq!(st.list().unwrap(), vec!["a", "b"]);
    st.remove("a").unwrap();
    assert!(!st.known_hosts_path("a").exists() && !st.inventory_path("a").exists());
    assert_eq!(st.list().unwrap(), vec!["b"]);
    st.remove("a").unwrap();
}

#[test]
fn old_files_without_new_fields_still_load() {
    let dir = tempfile::tempdir().unwrap();
    let st = Storage::open(dir.path()).unwrap();
    fs::write(
        st.state_path("min"),
        "schema_version = 1\nname = \"min\"\ntemplate = \"t\"\ncloud = \"x\"\n\
         [login]\nimage_user = \"u\"\nuser_key_private = \"/k\"\nuser_key_public = \"/k.pub\"\n",
    )
    .unwrap();
    let s = st.load::<ClusterState>("min").unwrap().unwrap();
    assert!(s.nodes.is_empty() && s.resources.is_empty());
    assert_eq!(s.login.image_user_sudo, "root");
}

#[test]
fn bad_files_and_names_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let st = Storage::open(dir.path()).unwrap();
    fs::write(st.state_path("broken"), "this is = = not toml").unwrap();
    assert!(matches!(
        st.load::<ClusterState>("broken"),
        Err(StorageError::Corrupt { .. })
    ));
    fs::write(
        st.state_path("future"),
        "schema_version = 9\nname = \"future\"\n",
    )
    .unwrap();
    let e = st.load::<ClusterState>("future").unwrap_err();
    assert!(
        matches!(e, StorageError::NewerSchema { found: 9, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("newer elasticluster"));
    for bad in ["", "../x", "a/b", ".hidden", "-x"] {
        assert!(
            matches!(
                st.load::<ClusterState>(bad),
                Err(StorageError::InvalidName { .. })
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn lock_is_exclusive_within_a_process_and_released_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let st = Storage::open(dir.path()).unwrap();
    let l = st.lock("c").unwrap();
    assert!(matches!(st.lock("c"), Err(StorageError::Locked { .. })));
    let other = st.lock("d").unwrap();
    drop(l);
    drop(other);
    st.lock("c").unwrap();
}

/// Child half of the two-process test: holds the lock until stdin closes.
#[test]
fn lock_holder_child() {
    let Ok(dir) = std::env::var("EC_STORAGE_TEST_LOCK_DIR") else {
        return; // only meaningful when spawned by `lock_blocks_a_second_process`
    };
    let st = Storage::open(Path::new(&dir)).unwrap();
    let _l = st.lock("shared").unwrap();
    println!("LOCKED");
    std::io::stdout().flush().unwrap();
    let mut sink = String::new();
    let _ = std::io::stdin().read_line(&mut sink);
}

#[test]
fn lock_blocks_a_second_process() {
    let dir = tempfile::tempdir().unwrap();
    let st = Storage::open(dir.path()).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "lock_holder_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("EC_STORAGE_TEST_LOCK_DIR", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "child exited before locking"
        );
        // The harness prints "test lock_holder_child ... " on the same line first.
        if line.trim_end().ends_with("LOCKED") {
            break;
        }
    }
    let e = st.lock("shared").unwrap_err();
    assert!(matches!(e, StorageError::Locked { .. }), "{e}");
    assert!(e
        .to_string()
        .contains("in use by another elasticluster command"));

    drop(child.stdin.take()); // child exits, the kernel releases its lock
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match st.lock("shared") {
            Ok(_) => break,
            Err(StorageError::Locked { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("lock not released after the holder exited: {e}"),
        }
    }
    assert!(child.wait().unwrap().success());
}

#[test]
fn temporaries_a_killed_save_left_are_removed_by_the_next_save() {
    let dir = tempfile::tempdir().unwrap();
    let st = Storage::open(dir.path()).unwrap();
    st.save(&sample("c")).unwrap();
    let header = fs::read_to_string(st.state_path("c"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    // What `kill -9` during a save leaves: this build's name, and an older build's
    // `.tmp-XXXXXX` holding a full copy of the state.
    fs::write(dir.path().join(".tmp-c.toml-AbC123"), "partial").unwrap();
    fs::write(
        dir.path().join(".tmp-Xy12Zq"),
        format!("{header}\nschema_version = 1\n"),
    )
    .unwrap();
    // Not this cluster's: another cluster's temporary copy, and a stranger's file.
    fs::write(dir.path().join(".tmp-d.toml-Qw12Er"), "partial").unwrap();
    fs::write(dir.path().join(".tmp-Pq34Rs"), "someone else's").unwrap();
    st.save(&sample("c")).unwrap();
    let mut names: Vec<String> = fs::read_dir(st.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, [".tmp-Pq34Rs", ".tmp-d.toml-Qw12Er", "c.toml"]);
}

#[test]
fn a_storage_directory_others_may_write_to_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for mode in [0o777, 0o770, 0o1777] {
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(mode)).unwrap();
        let e = Storage::open(dir.path()).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, StorageError::Unsafe { .. }), "{text}");
        assert!(
            text.contains(&format!("mode {mode:04o}"))
                && text.contains(&format!("chmod go-w {}", dir.path().display())),
            "{text}"
        );
    }
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    Storage::open(dir.path()).unwrap();
}

#[test]
fn the_lock_file_is_never_deleted_while_held() {
    let dir = tempfile::tempdir().unwrap();
    let st = Storage::open(dir.path()).unwrap();
    st.save(&sample("c")).unwrap();
    let held = st.lock("c").unwrap();
    // `stop` removes the cluster's files while holding its lock.
    st.remove("c").unwrap();
    assert!(!st.state_path("c").exists());
    assert!(
        st.lock_path("c").exists(),
        "the lock file must outlive the removal"
    );
    // So a later command still finds the lock taken, instead of locking a new file.
    assert!(matches!(st.lock("c"), Err(StorageError::Locked { .. })));
    drop(held);
    st.lock("c").unwrap();
}

#[test]
fn schema_version_of_the_wrong_type_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let st = Storage::open(dir.path()).unwrap();
    fs::write(
        st.state_path("one"),
        "schema_version = \"one\"\nname = \"one\"\n",
    )
    .unwrap();
    let e = st.load::<ClusterState>("one").unwrap_err().to_string();
    assert!(
        e.contains("schema_version is a string, not a whole number"),
        "{e}"
    );
    fs::write(st.state_path("none"), "name = \"none\"\n").unwrap();
    let e = st.load::<ClusterState>("none").unwrap_err().to_string();
    assert!(e.contains("no schema_version"), "{e}");
}
