//! Choosing Azure Resource Manager and validating its keys, through the public `config`
//! API: `certificate` keeps a section classic; ARM's keys select ARM; empty ids and the
//! secret come from `AZURE_*`; the settings kept in the state never hold the secret; every
//! bad value is one `FILE:LINE: [section] key: …` line.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use elasticluster::config::{ClusterTemplate, Config, Diagnostics};
use elasticluster::providers::azure_arm::secret::SecretSource;
use elasticluster::providers::azure_arm::snapshot::ArmSnapshot;
use elasticluster::providers::{Registry, StoredSettings};

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        for (name, text, mode) in [
            ("key", "x", 0o600),
            ("key.pub", "ssh-rsa AAAAB3NzaC1yc2E me@host\n", 0o644),
            ("cert.pem", "x", 0o600),
            ("ca.pem", "x", 0o644),
            ("notakey.pub", "-----BEGIN CERTIFICATE-----\n", 0o644),
        ] {
            let p = dir.path().join(name);
            fs::write(&p, text).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        }
        Fixture { dir }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn load(&self, text: &str) -> Config {
        let p = self.path("config");
        fs::write(&p, text).unwrap();
        Config::load(&p).unwrap_or_else(|e| panic!("config did not load: {e}"))
    }
}

const ARM: &str = "\
[cloud/arm]
provider = azure
subscription_id = 00000a1b2c3d-0000-4000-8000-00000000beef-2222-3333-444444444444
tenant_id = contoso.onmicrosoft.com
client_id = 55555555-6666-7777-8888-999999999999
secret = s3cr3t-value
";

const REST: &str = "\
[login/l]
image_user = azureuser
user_key_private = key
user_key_public = key.pub

[setup/s]
provider = ansible
frontend_groups = slurm_master
compute_groups = slurm_workers

[cluster/c]
cloud = arm
login = l
setup = s
location = East US
base_name = mycluster
image_id = canonical/0001-com-ubuntu-server-jammy/22_04-lts-gen2/latest
flavor = Standard_B2s
frontend_nodes = 1
compute_nodes = 2
";

fn template(fx: &Fixture, text: &str) -> ClusterTemplate {
    fx.load(text)
        .template("c", &Registry)
        .unwrap_or_else(|d| panic!("template invalid:\n{d}"))
}

fn errors(fx: &Fixture, text: &str) -> Diagnostics {
    match fx.load(text).template("c", &Registry) {
        Ok(t) => panic!("unexpectedly valid: {:?}", t.cloud),
        Err(d) => d,
    }
}

fn assert_one(d: &Diagnostics, fragments: &[&str]) {
    let text = d.to_string();
    assert_eq!(d.len(), 1, "expected one problem, got:\n{text}");
    for f in fragments {
        assert!(text.contains(f), "`{f}` not in:\n{text}");
    }
}

#[test]
fn arm_keys_select_arm_and_the_state_keeps_no_secret() {
    let fx = Fixture::new();
    let t = template(&fx, &format!("{ARM}\n{REST}"));
    assert_eq!(t.cloud["provider"].as_str(), Some("azure_arm"));
    let snap = ArmSnapshot::from_table(&t.cloud).unwrap();
    assert_eq!(snap.location, "eastus");
    assert_eq!(snap.tenant_id, "contoso.onmicrosoft.com");
    assert_eq!(snap.arm_endpoint, "https://management.azure.com");
    assert_eq!(snap.authority, "https://login.microsoftonline.com");
    assert!(
        snap.use_public_ips,
        "ElastiCluster's default: every node public"
    );
    assert_eq!(
        snap.secret,
        SecretSource::Config {
            file: fx.path("config"),
            section: "cloud/arm".into()
        }
    );
    let stored = toml::to_string(&t.cloud).unwrap();
    assert!(!stored.contains("s3cr3t"), "{stored}");
    assert_eq!(snap.secret.resolve().unwrap().expose(), "s3cr3t-value");
    // sovereign endpoints, a CA, private nodes
    let t = template(
        &fx,
        &format!(
            "{ARM}arm_endpoint = https://management.chinacloudapi.cn/\nauthority = https://login.chinacloudapi.cn\nca_certificate = ca.pem\n\n{}",
            REST.replace("base_name = mycluster", "base_name = mycluster\nuse_public_ips = no\nwait_timeout = 900")
        ),
    );
    let snap = ArmSnapshot::from_table(&t.cloud).unwrap();
    assert_eq!(snap.arm_endpoint, "https://management.chinacloudapi.cn");
    assert_eq!(snap.authority, "https://login.chinacloudapi.cn");
    assert_eq!(snap.ca_certificate, Some(fx.path("ca.pem")));
    assert!(!snap.use_public_ips);
    assert_eq!(snap.wait_timeout, 900);
}

#[test]
fn a_certificate_keeps_the_section_classic() {
    let fx = Fixture::new();
    let classic =
        "[cloud/arm]\nprovider = azure\nsubscription_id = 0a1b2c3d-0000-4000-8000-00000000beef\ncertificate = cert.pem\n";
    let rest = REST.replace("base_name = mycluster", "base_name = mycluster1");
    let t = template(&fx, &format!("{classic}\n{rest}"));
    assert_eq!(t.cloud["provider"].as_str(), Some("azure_classic"));
    // both kinds of credentials: classic's, and ARM's keys are unknown there
    let d = errors(&fx, &format!("{classic}tenant_id = t\n\n{rest}"));
    assert_one(&d, &["[cloud/arm] tenant_id: unknown key"]);
}

#[test]
fn the_sandbox_needs_no_credentials() {
    let fx = Fixture::new();
    let t = template(
        &fx,
        &format!("[cloud/arm]\nprovider = azure\nemulator = yes\nsubscription_id =\ntenant_id =\nclient_id =\nsecret =\n\n{REST}"),
    );
    let snap = ArmSnapshot::from_table(&t.cloud).unwrap();
    assert!(snap.emulator);
}

#[test]
fn bad_values_are_one_line_each() {
    let fx = Fixture::new();
    let with = |cloud: &str, rest: &str| format!("{cloud}\n{rest}");
    let d = errors(
        &fx,
        &with(
            &ARM.replace(
                "tenant_id = contoso.onmicrosoft.com\n",
                "tenant_id = ****REPLACE****\n",
            ),
            REST,
        ),
    );
    assert_one(&d, &["[cloud/arm] tenant_id", "placeholder"]);
    let d = errors(
        &fx,
        &with(
            &ARM.replace(
                "secret = s3cr3t-value",
                "secret = ****REPLACE WITH YOUR SECRET****",
            ),
            REST,
        ),
    );
    assert_one(&d, &["[cloud/arm] secret", "placeholder"]);
    let d = errors(
        &fx,
        &with(&format!("{ARM}management_url = https://x\n"), REST),
    );
    assert_one(&d, &["[cloud/arm] management_url: unknown key"]);
    let d = errors(
        &fx,
        &with(&format!("{ARM}arm_endpoint = http://insecure\n"), REST),
    );
    assert_one(&d, &["[cloud/arm] arm_endpoint", "https://"]);
    let d = errors(
        &fx,
        &with(
            ARM,
            &REST.replace("base_name = mycluster", "base_name = My_Cluster"),
        ),
    );
    assert_one(&d, &["[cluster/c] base_name", "My_Cluster"]);
    let d = errors(&fx, &with(ARM, &REST.replace("location = East US\n", "")));
    assert_one(&d, &["[cluster/c] location: missing"]);
    let d = errors(
        &fx,
        &with(
            ARM,
            &REST.replace("image_user = azureuser", "image_user = root"),
        ),
    );
    assert_one(&d, &["`root`", "image_user"]);
    let d = errors(
        &fx,
        &with(
            ARM,
            &REST.replace("user_key_public = key.pub", "user_key_public = notakey.pub"),
        ),
    );
    assert_one(&d, &["notakey.pub", "not an OpenSSH public key"]);
    let d = errors(
        &fx,
        &with(
            ARM,
            &REST.replace(
                "base_name = mycluster",
                "base_name = mycluster\nn_cloud_services = 2",
            ),
        ),
    );
    assert_one(&d, &["[cluster/c] n_cloud_services: unknown key"]);
}

/// Every use of the AZURE_* variables is in this one test (the process environment is
/// shared by the tests of this file).
#[test]
fn empty_values_come_from_the_azure_environment() {
    let fx = Fixture::new();
    let empty =
        "[cloud/arm]\nprovider = azure\nsubscription_id =\ntenant_id =\nclient_id =\nsecret =\n";
    for k in [
        "AZURE_SUBSCRIPTION_ID",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "SUBSCRIPTION_ID",
        "TENANT_ID",
        "CLIENT_ID",
        "SECRET",
    ] {
        std::env::remove_var(k);
    }
    let d = errors(&fx, &format!("{empty}\n{REST}"));
    let text = d.to_string();
    for k in ["subscription_id", "tenant_id", "client_id", "secret"] {
        assert!(text.contains(&format!("[cloud/arm] {k}")), "{text}");
    }
    assert!(
        text.contains("AZURE_CLIENT_SECRET") && text.contains("AZURE_TENANT_ID"),
        "{text}"
    );
    std::env::set_var("AZURE_SUBSCRIPTION_ID", "sub-from-env");
    std::env::set_var("AZURE_TENANT_ID", "tenant-from-env");
    std::env::set_var("AZURE_CLIENT_ID", "client-from-env");
    std::env::set_var("AZURE_CLIENT_SECRET", "secret-from-env");
    let t = template(&fx, &format!("{empty}\n{REST}"));
    let snap = ArmSnapshot::from_table(&t.cloud).unwrap();
    assert_eq!(
        (
            snap.subscription_id.as_str(),
            snap.tenant_id.as_str(),
            snap.client_id.as_str()
        ),
        ("sub-from-env", "tenant-from-env", "client-from-env")
    );
    assert_eq!(snap.secret.resolve().unwrap().expose(), "secret-from-env");
    assert!(!toml::to_string(&t.cloud)
        .unwrap()
        .contains("secret-from-env"));
    // no `secret` key at all: the environment, as ElastiCluster does
    let t = template(
        &fx,
        &format!("[cloud/arm]\nprovider = azure\ntenant_id =\n\n{REST}"),
    );
    let snap = ArmSnapshot::from_table(&t.cloud).unwrap();
    assert_eq!(snap.secret, SecretSource::Env);
    std::env::remove_var("AZURE_CLIENT_SECRET");
    assert!(snap
        .secret
        .resolve()
        .unwrap_err()
        .contains("AZURE_CLIENT_SECRET"));
    for k in [
        "AZURE_SUBSCRIPTION_ID",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
    ] {
        std::env::remove_var(k);
    }
}
