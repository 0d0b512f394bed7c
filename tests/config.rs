//! Configuration semantics and validation messages, through the public `config` API.

#[path = "support/config_fixture.rs"]
mod fixture;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use elasticluster::config::{Config, ConfigError};
use elasticluster::providers::Registry;
use fixture::*;

#[test]
fn valid_template_is_fully_typed() {
    let fx = Fixture::new();
    let c = fx.load(&good());
    assert_eq!(c.template_names(), vec!["c"]);
    let t = c.template("c", &Registry).unwrap();
    assert_eq!(t.kind_order, vec!["frontend", "compute"]);
    assert_eq!(t.kinds["compute"].count, 2);
    assert_eq!(t.kinds["compute"].min, 2, "min defaults to the count");
    assert_eq!(t.kinds["frontend"].flavor, "Small");
    assert_eq!(t.ssh_to.as_deref(), Some("frontend"));
    assert_eq!(cloud_str(&t, "provider"), "azure_classic");
    assert_eq!(cloud_str(&t, "location"), "East US");
    assert_eq!(cloud_str(&t, "base_name"), "mybase1");
    assert_eq!(t.cloud["wait_timeout"].as_integer(), Some(600));
    assert_eq!(t.startup_timeout, 600);
    assert_eq!(t.cloud["use_public_ips"].as_bool(), Some(false));
    assert_eq!(t.login.image_user_sudo, "root");
    assert!(t.login.image_sudo);
    assert_eq!(t.login.user_key_private, fx.path("key"));
    assert_eq!(t.setup.ansible_command, vec!["ansible-playbook"]);
    assert_eq!(t.setup.groups["compute"], vec!["slurm_workers"]);
    let sub = first_subscription(&t);
    assert_eq!(
        sub["id"].as_str(),
        Some("0a1b2c3d-0000-4000-8000-00000000beef")
    );
    assert_eq!(
        sub["certificate"].as_str(),
        Some(fx.path("cert.pem").to_str().unwrap())
    );
    assert_eq!(
        sub["management_url"].as_str(),
        Some("https://management.core.windows.net")
    );
    assert_eq!(t.cloud["emulator"].as_bool(), Some(false));
}

#[test]
fn continuation_comments_default_and_kind_sections() {
    let fx = Fixture::new();
    let text = format!(
        "# leading comment\n[DEFAULT]\nlocation = West Europe\n\n{CLOUD}\n{LOGIN}\n\
         [setup/s]\nprovider = ansible ; inline comment\n; a comment line\n\
         compute_groups = slurm_workers,\n    slurm_submit\nFrontend_Groups: slurm_master\n\n\
         {}\n[cluster/c/frontend]\nflavor = 'Medium'\n",
        CLUSTER.replace("location = East US\n", "")
    );
    let t = fx.load(&text).template("c", &Registry).unwrap();
    assert_eq!(
        cloud_str(&t, "location"),
        "West Europe",
        "[DEFAULT] is merged"
    );
    assert_eq!(t.setup.provider, "ansible");
    assert_eq!(
        t.setup.groups["compute"],
        vec!["slurm_workers", "slurm_submit"]
    );
    assert_eq!(
        t.setup.groups["frontend"],
        vec!["slurm_master"],
        "keys are lower-cased"
    );
    assert_eq!(
        t.kinds["frontend"].flavor, "Medium",
        "kind section wins, quotes stripped"
    );
    assert_eq!(t.kinds["compute"].flavor, "Small");
}

#[test]
fn section_names_keep_case() {
    let fx = Fixture::new();
    let c = fx.load(&good().replace("[cluster/c]", "[cluster/MyCluster]"));
    assert_eq!(c.template_names(), vec!["MyCluster"]);
    assert!(c.template("mycluster", &Registry).is_err());
    assert!(c.template("MyCluster", &Registry).is_ok());
}

#[test]
fn empty_cloud_value_is_filled_from_environment() {
    let fx = Fixture::new();
    std::env::set_var("SUBSCRIPTION_ID", "0a1b2c3d-0000-4000-8000-000000000042");
    let c = fx.load(&good().replace(
        "subscription_id = 0a1b2c3d-0000-4000-8000-00000000beef",
        "subscription_id =",
    ));
    let t = c.template("c", &Registry).unwrap();
    assert_eq!(
        first_subscription(&t)["id"].as_str(),
        Some("0a1b2c3d-0000-4000-8000-000000000042")
    );
}

#[test]
fn vars_and_tilde_are_expanded_in_paths() {
    let fx = Fixture::new();
    std::env::set_var("EC_CONFIG_TEST_KEYDIR", fx.dir.path());
    let text = good().replace(
        "user_key_private = key",
        "user_key_private = $EC_CONFIG_TEST_KEYDIR/key",
    );
    let t = fx.load(&text).template("c", &Registry).unwrap();
    assert_eq!(t.login.user_key_private, fx.path("key"));
}

#[test]
fn config_d_files_are_read_in_sorted_order_after_the_main_file() {
    let fx = Fixture::new();
    fx.write("config.d/20-b.conf", "[cluster/c]\nflavor = Large\n");
    fx.write(
        "config.d/10-a.conf",
        "[cluster/c]\nflavor = Medium\nbase_name = fromd\n",
    );
    fx.write("config.d/ignored.txt", "[cluster/c]\nflavor = Nope\n");
    let c = fx.load(&good());
    assert_eq!(c.files().len(), 3);
    let t = c.template("c", &Registry).unwrap();
    assert_eq!(t.kinds["compute"].flavor, "Large");
    assert_eq!(cloud_str(&t, "base_name"), "fromd");
}

#[test]
fn config_d_alone_is_enough() {
    let fx = Fixture::new();
    fx.write("config.d/main.conf", &good());
    // Relative key paths are relative to the file that names them.
    for f in ["key", "key.pub", "cert.pem"] {
        fs::copy(fx.path(f), fx.path(&format!("config.d/{f}"))).unwrap();
        let mode = fs::metadata(fx.path(f)).unwrap().permissions().mode();
        fs::set_permissions(
            fx.path(&format!("config.d/{f}")),
            fs::Permissions::from_mode(mode),
        )
        .unwrap();
    }
    let c = Config::load(&fx.path("config")).unwrap();
    assert!(c.template("c", &Registry).is_ok());
}

#[test]
fn setup_vars_precedence() {
    let fx = Fixture::new();
    let text = good()
        .replace(
            "compute_groups = slurm_workers\n",
            "compute_groups = slurm_workers\nglobal_var_x = setup-global\ncompute_var_x = setup-kind\ncompute_var_y = setup-kind\nglobal_var_z = setup-global\nansible_forks = 7\n",
        )
        .replace(
            "flavor = Small\n",
            "flavor = Small\nglobal_var_z = cluster-global\ncompute_var_y = cluster-kind\n",
        );
    let t = fx.load(&text).template("c", &Registry).unwrap();
    let compute = t.setup.vars_for("compute");
    assert_eq!(compute["x"], "setup-kind", "kind vars beat global vars");
    assert_eq!(
        compute["y"], "cluster-kind",
        "cluster section beats setup section"
    );
    assert_eq!(compute["z"], "cluster-global");
    let frontend = t.setup.vars_for("frontend");
    assert_eq!(frontend["x"], "setup-global");
    assert_eq!(t.setup.ansible_env["ANSIBLE_FORKS"], "7");
}

#[test]
fn bundled_playbook_prefix_and_old_names() {
    let fx = Fixture::new();
    let text = good()
        .replace(
            "compute_groups = slurm_workers\n",
            "compute_groups = slurm_clients\nplaybook_path = %(ansible_pb_dir)s/site.yml\n",
        )
        .replace(
            "compute_nodes = 2\n",
            "compute_nodes = 2\ncompute_min_nodes = 1\n",
        );
    let t = fx.load(&text).template("c", &Registry).unwrap();
    assert_eq!(t.setup.groups["compute"], vec!["slurm_workers"]);
    assert_eq!(
        t.setup.bundled_playbook.as_deref(),
        Some(Path::new("site.yml"))
    );
    assert_eq!(t.setup.playbook_path, None);
    assert_eq!(t.kinds["compute"].min, 1);
}

#[test]
fn emulator_makes_credentials_optional() {
    let fx = Fixture::new();
    let text = good().replace(
        "subscription_id = 0a1b2c3d-0000-4000-8000-00000000beef\ncertificate = cert.pem\n",
        "emulator = yes\nemulator_state_dir = ~/emu\n",
    );
    let t = fx.load(&text).template("c", &Registry).unwrap();
    assert_eq!(t.cloud["emulator"].as_bool(), Some(true));
    assert!(
        t.cloud["subscriptions"].as_array().unwrap().is_empty(),
        "the sandbox makes its own subscription"
    );
    assert!(cloud_str(&t, "sandbox_dir").ends_with("emu"));
}

#[test]
fn one_broken_template_does_not_break_another() {
    let fx = Fixture::new();
    let broken = CLUSTER
        .replace("[cluster/c]", "[cluster/broken]")
        .replace("compute_nodes = 2", "compute_nodes = two");
    let c = fx.load(&format!("{}\n{broken}", good()));
    assert!(c.template("c", &Registry).is_ok());
    assert_one(
        &errors(&c, "broken"),
        &["compute_nodes", "`two` is not a whole number"],
    );
}

#[test]
fn all_problems_are_reported_at_once_with_lines() {
    let fx = Fixture::new();
    let text = good()
        .replace("compute_nodes = 2", "compute_nodes = two")
        .replace("base_name = mybase1", "base_name = My_Base")
        .replace("wait_timeout", "x")
        .replace("flavor = Small", "flavor = Small\nwait_timeout = 1.5");
    let c = fx.load(&text);
    let d = errors(&c, "c");
    let text = d.to_string();
    assert_eq!(d.len(), 3, "{text}");
    let file = fx.path("config").display().to_string();
    // Line numbers point at the offending keys.
    let lines: Vec<usize> = d.iter().map(|x| x.line.unwrap()).collect();
    let source = fs::read_to_string(fx.path("config")).unwrap();
    for (l, key) in lines
        .iter()
        .zip(["compute_nodes", "base_name", "wait_timeout"])
    {
        let src_line = source.lines().nth(l - 1).unwrap();
        assert!(
            text.contains(&format!("{file}:{l}: [cluster/c] ")),
            "{text}"
        );
        assert!(d.iter().any(|x| x.key.as_deref() == Some(key)), "{text}");
        assert!(src_line.contains('='), "{src_line}");
    }
    assert!(
        text.lines().all(|l| l.contains(" — ")),
        "every line says what to do:\n{text}"
    );
}

#[test]
fn validation_messages() {
    let fx = Fixture::new();
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "compute_groups = slurm_workers\n",
            "compute_groups = slurm_worker\n",
            &[
                "[setup/s] compute_groups",
                "group `slurm_worker` is not one the bundled playbooks configure",
                "did you mean `slurm_workers`?",
            ],
        ),
        (
            "cloud = az\n",
            "cloud = nope\n",
            &["[cluster/c] cloud", "section [cloud/nope] does not exist"],
        ),
        (
            "login = l\n",
            "login = ll\n",
            &[
                "[cluster/c] login",
                "[login/ll] does not exist",
                "did you mean `l`?",
            ],
        ),
        (
            "setup_provider = s\n",
            "",
            &["[cluster/c] setup_provider: missing"],
        ),
        (
            "compute_nodes = 2",
            "compute_nodes = two",
            &["compute_nodes", "`two` is not a whole number"],
        ),
        (
            "compute_nodes = 2",
            "compute_nodes = -1",
            &["compute_nodes", "not a whole number"],
        ),
        (
            "compute_nodes = 2",
            "gpu_node_nodes = 2",
            &[
                "gpu_node_nodes",
                "node kind `gpu_node` is invalid",
                "gpu-node_nodes",
            ],
        ),
        (
            "compute_nodes = 2",
            "compute2_nodes = 2",
            &[
                "node kind `compute2` is invalid",
                "must not end with a digit",
            ],
        ),
        (
            "compute_nodes = 2",
            "compute_nodes = 2\ncompute_nodes_min = 3",
            &["compute_nodes_min", "minimum 3 is more than the 2"],
        ),
        (
            "base_name = mybase1",
            "base_name = mybasE",
            &["base_name", "only lowercase letters and digits"],
        ),
        (
            "base_name = mybase1",
            "base_name = ab",
            &["base_name", "must be 3 to 15"],
        ),
        (
            "base_name = mybase1",
            "base_name = ****REPLACE WITH BASE NAME****",
            &["base_name", "placeholder"],
        ),
        (
            "base_name = mybase1\n",
            "",
            &["[cluster/c] base_name: missing"],
        ),
        (
            "location = East US\n",
            "",
            &["[cluster/c] location: missing"],
        ),
        (
            "image_id = img\n",
            "",
            &["[cluster/c] image_id: missing", "frontend, compute"],
        ),
        (
            "flavor = Small",
            "flavor = Small\nwait_timeout = 1.5",
            &["wait_timeout", "not a whole number above 0"],
        ),
        (
            "flavor = Small",
            "flavor = Small\nstartup_timeout = 0",
            &["startup_timeout", "not a whole number above 0"],
        ),
        (
            "flavor = Small",
            "flavor = Small\nuse_public_ips = maybe",
            &["use_public_ips", "not a boolean"],
        ),
        (
            "flavor = Small",
            "flavor = Small\ncompute_node = 3",
            &["compute_node: unknown key"],
        ),
        (
            "flavor = Small",
            "flavor = Small\nflavour = Big",
            &["flavour: unknown key", "did you mean `flavor`?"],
        ),
        (
            "ssh_to = frontend",
            "ssh_to = frontnd",
            &["ssh_to", "`frontnd` is neither a node kind"],
        ),
        (
            "provider = azure",
            "provider = ec2_boto",
            &["[cloud/az] provider", "not supported"],
        ),
        (
            "subscription_id = 0a1b2c3d-0000-4000-8000-00000000beef\n",
            "",
            &["[cloud/az] subscription_id: missing"],
        ),
        (
            "certificate = cert.pem",
            "certificate = missing.pem",
            &["[cloud/az] certificate", "does not exist"],
        ),
        (
            "certificate = cert.pem",
            "certificate = cert.pem\nmanagement_url = http://x",
            &["management_url", "not an https:// URL"],
        ),
        (
            "certificate = cert.pem",
            "certificate = cert.pem\nregion = x",
            &["[cloud/az] region: unknown key"],
        ),
        (
            "image_user = azureuser\n",
            "",
            &["[login/l] image_user: missing"],
        ),
        (
            "user_key_private = key",
            "user_key_private = nokey",
            &["[login/l] user_key_private", "does not exist"],
        ),
        (
            "image_user = azureuser",
            "image_user = azureuser\nimage_sudo = perhaps",
            &["image_sudo", "not a boolean"],
        ),
        (
            "provider = ansible",
            "provider = chef",
            &["[setup/s] provider", "not supported"],
        ),
        (
            "provider = ansible",
            "provider = ansible\nplaybook_path = /nonexistent/site.yml",
            &["playbook_path", "does not exist"],
        ),
        (
            "provider = ansible",
            "provider = ansible\nansible_command = /nonexistent/ansible-playbook",
            &["ansible_command", "not an executable file"],
        ),
    ];
    for (from, to, fragments) in cases {
        let text = good();
        assert!(text.contains(from), "fixture lacks `{from}`");
        let c = fx.load(&text.replacen(from, to, 1));
        let d = errors(&c, "c");
        assert_one(&d, fragments);
    }
}

#[test]
fn key_files_readable_by_others_are_rejected() {
    let fx = Fixture::new();
    fs::set_permissions(fx.path("key"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::set_permissions(fx.path("cert.pem"), fs::Permissions::from_mode(0o640)).unwrap();
    let d = errors(&fx.load(&good()), "c");
    let text = d.to_string();
    assert_eq!(d.len(), 2, "{text}");
    assert!(
        text.contains("[login/l] user_key_private") && text.contains("mode 0644"),
        "{text}"
    );
    assert!(
        text.contains("[cloud/az] certificate") && text.contains("mode 0640"),
        "{text}"
    );
    assert!(text.contains("chmod 600"), "{text}");
}

#[test]
fn kind_section_for_unknown_kind() {
    let fx = Fixture::new();
    let c = fx.load(&format!("{}\n[cluster/c/gpu]\nflavor = Big\n", good()));
    assert_one(&errors(&c, "c"), &["[cluster/c/gpu]", "has no `gpu_nodes`"]);
}

#[test]
fn unknown_template_suggests_a_name() {
    let fx = Fixture::new();
    let d = errors(
        &fx.load(&good().replace("[cluster/c]", "[cluster/slurm]")),
        "slrum",
    );
    assert_one(
        &d,
        &["no cluster template `slrum`", "did you mean `slurm`?"],
    );
}

#[test]
fn file_level_errors() {
    let fx = Fixture::new();
    match load_err(&fx, &good().replace("[cluster/c]", "[clutser/c]")) {
        ConfigError::Invalid(d) => assert_one(
            &d,
            &[
                "[clutser/c]",
                "unknown section kind",
                "did you mean `[cluster/c]`?",
            ],
        ),
        e => panic!("{e}"),
    }
    match load_err(&fx, &format!("{}\nthis line has no equals\n", good())) {
        ConfigError::Invalid(d) => assert_one(&d, &["not a `key = value` line"]),
        e => panic!("{e}"),
    }
    match load_err(&fx, "") {
        ConfigError::NoTemplates { .. } => {}
        e => panic!("{e}"),
    }
    match Config::load(&fx.path("does-not-exist")) {
        Err(ConfigError::NotFound { path }) => assert_eq!(path, fx.path("does-not-exist")),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("loaded a missing file"),
    }
}

#[test]
fn override_counts_rejects_unknown_kinds() {
    let fx = Fixture::new();
    let mut t = fx.load(&good()).template("c", &Registry).unwrap();
    t.override_counts(&[("compute".into(), 5)]).unwrap();
    assert_eq!(t.kinds["compute"].count, 5);
    assert!(t
        .override_counts(&[("gpu".into(), 1)])
        .unwrap_err()
        .contains("no node kind `gpu`"));
}
