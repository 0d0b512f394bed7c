//! The configuration keys Azure classic owns — in `[cloud/X]` the subscription, management
//! certificate, endpoint and sandbox switch; in `[cluster/X]` location, `base_name`, timeouts
//! and the layout knobs — validated into the [`AzureSnapshot`] kept in the cluster state.
//!
//! Every problem is reported in the configuration's `FILE:LINE: [section] key: …` form.

use crate::config::{shown, CloudInput, KeyChecker, Section};

use super::snapshot::{AzureSnapshot, SubscriptionSnapshot, PROVIDER_ID};
use super::subscriptions::parse_subscription_file;

/// Default Azure Service Management endpoint.
pub const DEFAULT_MANAGEMENT_URL: &str = "https://management.core.windows.net";
/// Default seconds to wait for one asynchronous Azure operation.
pub const DEFAULT_WAIT_TIMEOUT: u64 = 600;

/// Keys allowed in `[cloud/X]` with `provider = azure` (classic).
pub const CLOUD_KEYS: &[&str] = &[
    "provider",
    "subscription_id",
    "certificate",
    "management_url",
    "ca_certificate",
    "emulator",
    "emulator_state_dir",
];

/// Keys of `[cluster/X]` Azure classic owns.
pub const CLUSTER_KEYS: &[&str] = &[
    "location",
    "base_name",
    "wait_timeout",
    "n_cloud_services",
    "n_storage_accounts",
    "subscription_file",
    "use_public_ips",
    "use_short_vm_names",
];

/// Validate the classic keys of `input`; `None` when any is wrong (problems in `check`).
pub fn validate(input: &CloudInput<'_>, check: &mut KeyChecker) -> Option<AzureSnapshot> {
    let before = check.count();
    let cloud = input.cloud;
    check.unknown_keys(cloud, CLOUD_KEYS, |_| false);
    let emulator = check.boolean(cloud, "emulator", false);
    let first = first_subscription(cloud, emulator, check);
    let sandbox_dir = check
        .optional(cloud, "emulator_state_dir")
        .map(|e| crate::config::expand_path(&e.value, crate::config::base_dir(&e)));

    let cs = input.cluster;
    let location = check
        .required(
            cs,
            "location",
            "add `location = East US` (the Azure region)",
        )
        .filter(|e| check.no_placeholder(cs, "location", e, "an Azure region such as East US"))
        .map(|e| e.value.trim().to_string());
    let base_name = base_name(cs, check);
    let wait_timeout = check
        .positive(cs, "wait_timeout")
        .unwrap_or(DEFAULT_WAIT_TIMEOUT);
    let n_cloud_services = check.positive(cs, "n_cloud_services").map(|n| n as u32);
    let n_storage_accounts = check.positive(cs, "n_storage_accounts").map(|n| n as u32);
    let use_public_ips = check.boolean(cs, "use_public_ips", false);
    let mut subscriptions: Vec<SubscriptionSnapshot> = first.into_iter().collect();
    extra_subscriptions(cs, &mut subscriptions, check);

    let login = input.login?;
    if check.count() != before {
        return None;
    }
    Some(AzureSnapshot {
        provider: PROVIDER_ID.into(),
        subscriptions,
        location: location?,
        base_name: base_name?,
        use_public_ips,
        n_cloud_services,
        n_storage_accounts,
        wait_timeout,
        user_key_public: login.user_key_public.clone(),
        user_key_private: login.user_key_private.clone(),
        emulator,
        sandbox_dir,
    })
}

/// The cloud section's subscription and certificate (not needed in the sandbox, which
/// makes its own).
fn first_subscription(
    s: &Section,
    emulator: bool,
    check: &mut KeyChecker,
) -> Option<SubscriptionSnapshot> {
    let id = match check.optional(s, "subscription_id") {
        Some(e) => check
            .no_placeholder(s, "subscription_id", &e, "your Azure subscription id")
            .then(|| e.value.trim().to_string())
            .filter(|id| {
                let ok = is_guid(id);
                if !ok {
                    check.push(
                        &e.origin,
                        &s.name,
                        Some("subscription_id"),
                        format!("{} is not a subscription id (a GUID like 0a1b2c3d-0000-4000-8000-00000000beef)", shown(id)),
                        "copy the subscription id from the Azure portal (Subscriptions)",
                    );
                }
                ok
            }),
        None if emulator => None,
        None => {
            check.required(s, "subscription_id", "add `subscription_id = YOUR-SUBSCRIPTION-ID` (or set $SUBSCRIPTION_ID and leave it empty)");
            None
        }
    };
    let certificate = match check.optional(s, "certificate") {
        Some(e) => check.file(
            s,
            "certificate",
            &e,
            true,
            "the path of your management certificate PEM (certificate + key)",
        ),
        None if emulator => None,
        None => {
            check.required(
                s,
                "certificate",
                "add `certificate = PATH` to your management certificate PEM (certificate + key)",
            );
            None
        }
    };
    let management_url = check.https_url(s, "management_url", DEFAULT_MANAGEMENT_URL);
    let ca_certificate = check.optional(s, "ca_certificate").and_then(|e| {
        let path = check.file(
            s,
            "ca_certificate",
            &e,
            false,
            "the path of a PEM CA bundle",
        )?;
        match super::identity::load_ca_bundle(&path) {
            Ok(_) => Some(path),
            Err(err) => {
                let detail = match &err {
                    super::error::AsmError::KeyMaterial { detail, .. } => detail.clone(),
                    other => other.to_string(),
                };
                let (problem, hint) = detail
                    .split_once(" — ")
                    .map(|(p, h)| (p.to_string(), h.to_string()))
                    .unwrap_or((detail.clone(), String::new()));
                check.push(&e.origin, &s.name, Some("ca_certificate"), problem, hint);
                None
            }
        }
    });
    Some(SubscriptionSnapshot {
        id: id?,
        certificate: certificate?,
        key: None,
        management_url,
        ca_certificate,
    })
}

/// An Azure subscription id: a GUID, `8-4-4-4-12` hexadecimal digits.
pub fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `base_name`: 3–15 lowercase letters or digits (it prefixes storage account names).
fn base_name(cs: &Section, check: &mut KeyChecker) -> Option<String> {
    let e = check
        .required(
            cs,
            "base_name",
            "add `base_name = NAME` (3–15 lowercase letters/digits, unique across Azure)",
        )
        .filter(|e| {
            check.no_placeholder(
                cs,
                "base_name",
                e,
                "3–15 lowercase letters/digits, unique across Azure",
            )
        })?;
    let b = e.value.trim();
    let len_ok = (3..=15).contains(&b.len());
    let chars_ok = b
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if len_ok && chars_ok {
        return Some(b.to_string());
    }
    let problem = if !chars_ok {
        format!("{} may contain only lowercase letters and digits", shown(b))
    } else {
        format!(
            "{} is {} characters long, must be 3 to 15",
            shown(b),
            b.chars().count()
        )
    };
    check.push(
        &e.origin,
        &cs.name,
        Some("base_name"),
        problem,
        "it prefixes storage account names, which Azure restricts to 3–24 lowercase letters/digits",
    );
    None
}

/// `subscription_file`: more subscriptions, reached like the first one.
fn extra_subscriptions(
    cs: &Section,
    subscriptions: &mut Vec<SubscriptionSnapshot>,
    check: &mut KeyChecker,
) {
    let Some(e) = check.optional(cs, "subscription_file") else {
        return;
    };
    let Some(path) = check.file(
        cs,
        "subscription_file",
        &e,
        false,
        "the path of your subscription list",
    ) else {
        return;
    };
    let lines = std::fs::read_to_string(&path)
        .map_err(|err| format!("cannot read {}: {err}", path.display()))
        .and_then(|text| parse_subscription_file(&path, &text));
    let lines = match lines {
        Ok(l) => l,
        Err(problem) => {
            check.push(
                &e.origin,
                &cs.name,
                Some("subscription_file"),
                problem,
                "one `subscription_id=ID certificate=PATH` per line",
            );
            return;
        }
    };
    let (url, ca) = subscriptions
        .first()
        .map(|s| (s.management_url.clone(), s.ca_certificate.clone()))
        .unwrap_or_else(|| (DEFAULT_MANAGEMENT_URL.to_string(), None));
    let bad: Vec<String> = lines
        .iter()
        .filter(|l| !is_guid(&l.id))
        .map(|l| shown(&l.id))
        .collect();
    if !bad.is_empty() {
        check.push(
            &e.origin,
            &cs.name,
            Some("subscription_file"),
            format!("{} is not a subscription id (a GUID)", bad.join(", ")),
            format!("fix the ids in {}", path.display()),
        );
        return;
    }
    for line in lines {
        if subscriptions
            .iter()
            .any(|s| s.id.eq_ignore_ascii_case(&line.id))
        {
            continue;
        }
        subscriptions.push(SubscriptionSnapshot {
            id: line.id,
            certificate: line.certificate,
            key: None,
            management_url: url.clone(),
            ca_certificate: ca.clone(),
        });
    }
}
