//! The configuration keys Azure Resource Manager owns — in `[cloud/X]` the service
//! principal (ElastiCluster's `subscription_id`, `tenant_id`, `client_id`, `secret`; empty
//! values come from `$AZURE_SUBSCRIPTION_ID`, `$AZURE_TENANT_ID`, `$AZURE_CLIENT_ID`,
//! `$AZURE_CLIENT_SECRET`), the endpoints and the sandbox switch; in `[cluster/X]` location,
//! `base_name`, `use_public_ips` and `wait_timeout` — validated into the [`ArmSnapshot`]
//! kept in the cluster state.
//!
//! A section with `certificate` is Azure classic's, whatever else it holds. Every problem is
//! reported in the configuration's `FILE:LINE: [section] key: …` form; the secret's value is
//! never part of a message.

use crate::config::{CloudInput, Entry, KeyChecker, Section};

use super::names::location_name;
use super::secret::{SecretSource, SECRET_ENV};
use super::snapshot::{ArmSnapshot, PROVIDER_ID};

pub const DEFAULT_ARM_ENDPOINT: &str = "https://management.azure.com";
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// Default seconds to wait for one long-running operation.
pub const DEFAULT_WAIT_TIMEOUT: u64 = 600;

/// Keys allowed in `[cloud/X]` for ARM.
pub const CLOUD_KEYS: &[&str] = &[
    "provider",
    "subscription_id",
    "tenant_id",
    "client_id",
    "secret",
    "arm_endpoint",
    "authority",
    "ca_certificate",
    "emulator",
    "emulator_state_dir",
    // ElastiCluster's ARM template overrides: accepted and ignored (this provider creates
    // each resource itself).
    "vm_deployment_template",
    "net_deployment_template",
];

/// Keys whose presence (even empty) says "this section is ARM".
pub const ARM_MARKERS: &[&str] = &[
    "tenant_id",
    "client_id",
    "secret",
    "arm_endpoint",
    "authority",
];

/// Keys of `[cluster/X]` ARM owns.
pub const CLUSTER_KEYS: &[&str] = &["location", "base_name", "use_public_ips", "wait_timeout"];

/// `provider = azure` with at least one ARM key and no `certificate`.
pub fn claims(cloud: &Section) -> bool {
    cloud
        .get("provider")
        .is_some_and(|e| e.value.trim() == "azure")
        && cloud.get("certificate").is_none()
        && ARM_MARKERS.iter().any(|k| cloud.get(k).is_some())
}

/// Validate the ARM keys of `input`; `None` when any is wrong (problems in `check`).
pub fn validate(input: &CloudInput<'_>, check: &mut KeyChecker) -> Option<ArmSnapshot> {
    let before = check.count();
    let cloud = input.cloud;
    check.unknown_keys(cloud, CLOUD_KEYS, |_| false);
    for k in ["vm_deployment_template", "net_deployment_template"] {
        if let Some(e) = cloud.get(k) {
            tracing::warn!(
                "{}: [{}] `{k}` is ignored: this ARM provider creates every resource itself",
                e.origin,
                cloud.name
            );
        }
    }
    let emulator = check.boolean(cloud, "emulator", false);
    let sandbox_dir = check
        .optional(cloud, "emulator_state_dir")
        .map(|e| crate::config::expand_path(&e.value, crate::config::base_dir(&e)));
    let mut id = |key: &str, env: &str, what: &str| -> Option<String> {
        let v = value_or_env(check, cloud, key, env, what);
        match v {
            Some(v) => Some(v),
            None if emulator => Some(String::new()),
            None => {
                check.required(
                    cloud,
                    key,
                    &format!("add `{key} = …` ({what}) or set ${env} and leave it empty"),
                );
                None
            }
        }
    };
    let subscription_id = id(
        "subscription_id",
        "AZURE_SUBSCRIPTION_ID",
        "your subscription id",
    );
    let tenant_id = id(
        "tenant_id",
        "AZURE_TENANT_ID",
        "the directory (tenant) id of the service principal",
    );
    let client_id = id(
        "client_id",
        "AZURE_CLIENT_ID",
        "the application (client) id of the service principal",
    );
    let secret = if emulator {
        Some(SecretSource::Env)
    } else {
        secret_source(cloud, check)
    };
    let arm_endpoint = check.https_url(cloud, "arm_endpoint", DEFAULT_ARM_ENDPOINT);
    let authority = check.https_url(cloud, "authority", DEFAULT_AUTHORITY);
    let ca_certificate = check.optional(cloud, "ca_certificate").and_then(|e| {
        check.file(
            cloud,
            "ca_certificate",
            &e,
            false,
            "the path of a PEM CA bundle",
        )
    });

    let cs = input.cluster;
    let location = check
        .required(cs, "location", "add `location = eastus` (the Azure region)")
        .filter(|e| check.no_placeholder(cs, "location", e, "an Azure region such as eastus"))
        .map(|e| location_name(&e.value));
    let base_name = base_name(cs, check);
    let use_public_ips = check.boolean(cs, "use_public_ips", true);
    let wait_timeout = check
        .positive(cs, "wait_timeout")
        .unwrap_or(DEFAULT_WAIT_TIMEOUT);

    let login = input.login?;
    check_login_for_arm(cs, login, check);
    if check.count() != before {
        return None;
    }
    Some(ArmSnapshot {
        provider: PROVIDER_ID.into(),
        subscription_id: subscription_id?,
        tenant_id: tenant_id?,
        client_id: client_id?,
        secret: secret?,
        arm_endpoint,
        authority,
        ca_certificate,
        location: location?,
        base_name: base_name?,
        use_public_ips,
        wait_timeout,
        user_key_public: login.user_key_public.clone(),
        user_key_private: login.user_key_private.clone(),
        emulator,
        sandbox_dir,
    })
}

/// The value of `key`, or `$env` when it is empty or absent (ElastiCluster's rule).
fn value_or_env(
    check: &mut KeyChecker,
    s: &Section,
    key: &str,
    env: &str,
    what: &str,
) -> Option<String> {
    if let Some(e) = check.optional(s, key) {
        if !check.no_placeholder(s, key, &e, what) {
            return None;
        }
        let v = e.value.trim();
        if v.contains(char::is_whitespace) || v.contains('/') {
            check.push(
                &e.origin,
                &s.name,
                Some(key),
                format!("`{v}` is not an id"),
                format!("write {what}"),
            );
            return None;
        }
        return Some(v.to_string());
    }
    std::env::var(env)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Where the client secret is: the section's `secret` (re-read from its file by every
/// command; an empty value means the environment) or `$AZURE_CLIENT_SECRET`.
fn secret_source(cloud: &Section, check: &mut KeyChecker) -> Option<SecretSource> {
    let entry: Option<Entry> = cloud.get("secret").cloned();
    let source = match &entry {
        Some(e) => {
            if e.value.contains("***") {
                check.push(
                    &e.origin,
                    &cloud.name,
                    Some("secret"),
                    "still holds the sample placeholder",
                    "replace it with the client secret's value (or leave it empty and export AZURE_CLIENT_SECRET)",
                );
                return None;
            }
            SecretSource::Config {
                file: e.origin.file.to_path_buf(),
                section: cloud.name.clone(),
            }
        }
        None => SecretSource::Env,
    };
    // The value as this command sees it (the file may hold it, or the environment).
    let now = match &entry {
        Some(e) if !e.value.trim().is_empty() => Ok(()),
        _ => source.resolve().map(|_| ()),
    };
    if now.is_err() {
        let origin = entry.as_ref().map_or(&cloud.origin, |e| &e.origin);
        check.push(
            origin,
            &cloud.name,
            Some("secret"),
            if entry.is_some() {
                "is empty"
            } else {
                "missing"
            },
            format!(
                "add `secret = …` (the service principal's client secret) or export {SECRET_ENV}"
            ),
        );
        return None;
    }
    Some(source)
}

/// `base_name`: names the cluster's resource group (`<base_name>-xxxxxx`): 2–40 lowercase
/// letters, digits or `-`, starting with a letter, not ending with `-`.
fn base_name(cs: &Section, check: &mut KeyChecker) -> Option<String> {
    let e = check
        .required(
            cs,
            "base_name",
            "add `base_name = NAME` (lowercase letters, digits, `-`; prefixes the cluster's resource group)",
        )
        .filter(|e| {
            check.no_placeholder(cs, "base_name", e, "lowercase letters, digits and `-`")
        })?;
    let b = e.value.trim();
    let ok = (2..=40).contains(&b.len())
        && b.starts_with(|c: char| c.is_ascii_lowercase())
        && !b.ends_with('-')
        && b.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        return Some(b.to_string());
    }
    check.push(
        &e.origin,
        &cs.name,
        Some("base_name"),
        format!("`{b}` is not 2–40 lowercase letters, digits or `-` starting with a letter"),
        "it names the cluster's resource group; write e.g. `base_name = mycluster`",
    );
    None
}

/// Azure creates `image_user` with the public key as its only login.
fn check_login_for_arm(cs: &Section, login: &crate::config::Login, check: &mut KeyChecker) {
    if login.image_user == "root" {
        check.push(
            &cs.origin,
            &cs.name,
            None,
            "the login's image_user is `root`, which Azure refuses as the VM's user",
            "set image_user in the [login/…] section to another name, e.g. azureuser",
        );
    }
    let text = std::fs::read_to_string(&login.user_key_public).unwrap_or_default();
    let first = text.split_whitespace().next().unwrap_or_default();
    if !(first.starts_with("ssh-") || first.starts_with("ecdsa-")) {
        check.push(
            &cs.origin,
            &cs.name,
            None,
            format!(
                "the login's user_key_public `{}` is not an OpenSSH public key (ssh-rsa AAAA…)",
                login.user_key_public.display()
            ),
            "point user_key_public at the .pub file of the key pair (ARM puts it into the VMs' authorized_keys)",
        );
    }
}
