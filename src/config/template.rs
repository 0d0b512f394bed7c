//! Validation: the file-level section check, and building one typed [`ClusterTemplate`]
//! from `[cluster/X]`, `[cluster/X/KIND]` and the `[cloud/…]`, `[login/…]`, `[setup/…]`
//! sections it references. Every problem is collected; nothing here stops at the first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::diag::closest;
use super::ini::{Entry, Ini, Section};
use super::values::{
    check_file, expand_path, is_executable, is_placeholder, parse_bool, parse_count,
};
use super::*;
use crate::cluster::naming::validate_kind;

/// Keys allowed in `[cloud/X]` (provider = azure).
pub const CLOUD_KEYS: &[&str] = &[
    "provider",
    "subscription_id",
    "certificate",
    "management_url",
    "ca_certificate",
    "emulator",
    "emulator_state_dir",
];
/// Keys allowed in `[login/X]`.
pub const LOGIN_KEYS: &[&str] = &[
    "image_user",
    "image_user_sudo",
    "image_sudo",
    "user_key_name",
    "user_key_private",
    "user_key_public",
];
/// Fixed keys allowed in `[setup/X]` (besides `<kind>_groups`, `global_var_*`,
/// `<kind>_var_*` and `ansible_*`).
pub const SETUP_KEYS: &[&str] = &[
    "provider",
    "playbook_path",
    "ansible_command",
    "ansible_extra_args",
    "ssh_pipelining",
];
/// Fixed keys allowed in `[cluster/X]` (besides `<kind>_nodes`, `<kind>_nodes_min`,
/// `<kind>_min_nodes`, `global_var_*` and `<kind>_var_*`).
pub const CLUSTER_KEYS: &[&str] = &[
    "cloud",
    "login",
    "setup_provider",
    "setup",
    "ssh_to",
    "image_id",
    "flavor",
    "security_group",
    "image_userdata",
    "location",
    "base_name",
    "wait_timeout",
    "n_cloud_services",
    "n_storage_accounts",
    "subscription_file",
    "use_public_ips",
    "use_short_vm_names",
    "startup_timeout",
    "thread_pool_max_size",
];
/// Keys allowed in `[cluster/X/KIND]`.
pub const KIND_SECTION_KEYS: &[&str] = &["image_id", "flavor", "security_group", "image_userdata"];

const SECTION_KINDS: &[&str] = &["cloud", "login", "setup", "cluster", "storage"];

/// File-level check: every section is of a known kind with a valid name.
pub(super) fn check_sections(ini: &Ini, d: &mut Diagnostics) {
    for s in ini.sections() {
        let name = s.name.as_str();
        let bad = |problem: String, hint: String| Diagnostic {
            file: Some(s.origin.file.to_path_buf()),
            line: Some(s.origin.line),
            section: Some(name.to_string()),
            key: None,
            problem,
            hint,
        };
        if name == "storage" {
            for (k, e) in s.entries() {
                if k != "storage_path" && k != "storage_type" && !e.from_default {
                    d.push(Diagnostic::at(
                        &e.origin,
                        name,
                        Some(k),
                        "unknown key",
                        "[storage] accepts storage_path and storage_type (both ignored: use -s DIR)",
                    ));
                }
            }
            continue;
        }
        let (kind, rest) = name.split_once('/').unwrap_or((name, ""));
        match kind {
            "cloud" | "login" | "setup" => {
                if rest.is_empty() || rest.contains('/') {
                    d.push(bad(
                        format!("`[{name}]` is not a valid section name"),
                        format!("write it as `[{kind}/NAME]` with a NAME without `/`"),
                    ));
                }
            }
            "cluster" => {
                let parts: Vec<&str> = rest.split('/').collect();
                match parts.as_slice() {
                    [t] if !t.is_empty() => {}
                    [t, k] if !t.is_empty() => {
                        if let Err(e) = validate_kind(k) {
                            d.push(bad(
                                e.to_string(),
                                "rename the section to `[cluster/TEMPLATE/KIND]` with a valid kind"
                                    .into(),
                            ));
                        } else if ini
                            .sections()
                            .iter()
                            .all(|o| o.name != format!("cluster/{t}"))
                        {
                            d.push(bad(
                                format!(
                                    "there is no `[cluster/{t}]` section for these `{k}` settings"
                                ),
                                format!("add `[cluster/{t}]` or fix the template name"),
                            ));
                        }
                    }
                    _ => d.push(bad(
                        format!("`[{name}]` is not a valid section name"),
                        "write it as `[cluster/NAME]` or `[cluster/NAME/KIND]`".into(),
                    )),
                }
            }
            _ => {
                let hint = match closest(kind, SECTION_KINDS.iter().copied()) {
                    Some(k) if rest.is_empty() => format!("did you mean `[{k}]`?"),
                    Some(k) => format!("did you mean `[{k}/{rest}]`?"),
                    None => {
                        "section names start with cloud/, login/, setup/, cluster/ or are [storage]"
                            .into()
                    }
                };
                d.push(bad(format!("unknown section kind `{kind}`"), hint));
            }
        }
    }
}

/// Build and validate template `name`.
pub(super) fn build(config: &Config, name: &str) -> Result<ClusterTemplate, Diagnostics> {
    let ini = config.ini();
    let mut d = Diagnostics::default();
    let sname = format!("cluster/{name}");
    let cs = match ini
        .section(&sname)
        .filter(|_| !name.is_empty() && !name.contains('/'))
    {
        Some(cs) => cs,
        None => {
            let names = config.template_names();
            let hint = match closest(name, names.iter().map(String::as_str)) {
                Some(c) => format!("did you mean `{c}`?"),
                None if names.is_empty() => "add a [cluster/NAME] section".into(),
                None => format!("templates defined: {}", names.join(", ")),
            };
            d.push(Diagnostic {
                file: config.files().first().cloned(),
                line: None,
                section: None,
                key: None,
                problem: format!("no cluster template `{name}` (no [cluster/{name}] section)"),
                hint,
            });
            return Err(d);
        }
    };
    let mut v = V { ini, d: &mut d };

    // References to the other sections.
    let cloud_name = v.reference(&cs, &["cloud"], "cloud");
    let login_name = v.reference(&cs, &["login"], "login");
    let setup_name = v.reference(&cs, &["setup_provider", "setup"], "setup");

    let cloud = cloud_name.as_ref().and_then(|n| v.cloud(n));
    let login = login_name.as_ref().and_then(|n| v.login(n));

    let (kinds, kind_order) = v.kinds(&cs, name);
    let setup = setup_name
        .as_ref()
        .and_then(|n| v.setup(n, &cs, &kind_order));
    let azure = v.azure_options(&cs);
    let ssh_to = v.ssh_to(&cs, &kind_order);
    v.unknown_cluster_keys(&cs, &kind_order);

    match (
        cloud, login, setup, azure, cloud_name, login_name, setup_name,
    ) {
        (Some(cloud), Some(login), Some(setup), Some(azure), Some(c), Some(l), Some(s))
            if d.is_empty() =>
        {
            Ok(ClusterTemplate {
                name: name.to_string(),
                source: cs.origin.file.to_path_buf(),
                cloud_name: c,
                login_name: l,
                setup_name: s,
                cloud,
                azure,
                login,
                setup,
                kinds,
                kind_order,
                ssh_to,
            })
        }
        _ => {
            if d.is_empty() {
                // Defensive: a None above always comes with a diagnostic.
                d.push(Diagnostic::at(
                    &cs.origin,
                    &sname,
                    None,
                    "invalid template",
                    "see the messages above",
                ));
            }
            Err(d)
        }
    }
}

struct V<'a> {
    ini: &'a Ini,
    d: &'a mut Diagnostics,
}

fn base_dir(e: &Entry) -> Option<&Path> {
    e.origin.file.parent()
}

impl V<'_> {
    fn push(
        &mut self,
        origin: &ini::Origin,
        section: &str,
        key: Option<&str>,
        problem: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.d
            .push(Diagnostic::at(origin, section, key, problem, hint));
    }

    fn missing(&mut self, s: &Section, key: &str, hint: impl Into<String>) {
        let hint = hint.into();
        self.push(&s.origin, &s.name.clone(), Some(key), "missing", hint);
    }

    /// Non-empty value of `key`, or a "missing" diagnostic.
    fn required(&mut self, s: &Section, key: &str, hint: &str) -> Option<Entry> {
        match s.get(key) {
            Some(e) if !e.value.trim().is_empty() => Some(e.clone()),
            Some(e) => {
                let e = e.clone();
                self.push(&e.origin, &s.name, Some(key), "is empty", hint.to_string());
                None
            }
            None => {
                self.missing(s, key, hint.to_string());
                None
            }
        }
    }

    fn no_placeholder(&mut self, s: &Section, key: &str, e: &Entry, what: &str) -> bool {
        if is_placeholder(&e.value) {
            self.push(
                &e.origin,
                &s.name,
                Some(key),
                format!("still holds the sample placeholder `{}`", e.value),
                format!("replace it with {what}"),
            );
            false
        } else {
            true
        }
    }

    fn unknown_keys(
        &mut self,
        s: &Section,
        allowed: &[&str],
        mut pattern_ok: impl FnMut(&str) -> bool,
    ) {
        for (k, e) in s.entries() {
            if e.from_default || allowed.contains(&k) || pattern_ok(k) {
                continue;
            }
            let hint = match closest(k, allowed.iter().copied()) {
                Some(c) => format!("did you mean `{c}`?"),
                None => format!("allowed keys: {}", allowed.join(", ")),
            };
            self.push(&e.origin, &s.name, Some(k), "unknown key", hint);
        }
    }

    /// `cluster/X` key naming a `[kind/NAME]` section: returns NAME if the section exists.
    fn reference(&mut self, cs: &Section, keys: &[&str], kind: &str) -> Option<String> {
        let entry = keys.iter().find_map(|k| cs.get(k).map(|e| (*k, e.clone())));
        let Some((key, e)) = entry.filter(|(_, e)| !e.value.trim().is_empty()) else {
            self.missing(
                cs,
                keys[0],
                format!("add `{} = NAME` naming a [{kind}/NAME] section", keys[0]),
            );
            return None;
        };
        let target = e.value.trim().to_string();
        if self.ini.section(&format!("{kind}/{target}")).is_some() {
            return Some(target);
        }
        let prefix = format!("{kind}/");
        let defined: Vec<&str> = self
            .ini
            .section_names()
            .filter_map(|n| n.strip_prefix(prefix.as_str()))
            .collect();
        let hint = match closest(&target, defined.iter().copied()) {
            Some(c) => format!("did you mean `{c}`?"),
            None if defined.is_empty() => format!("add a [{kind}/{target}] section"),
            None => format!("defined {kind} sections: {}", defined.join(", ")),
        };
        self.push(
            &e.origin,
            &cs.name,
            Some(key),
            format!("section [{kind}/{target}] does not exist"),
            hint,
        );
        None
    }

    fn cloud(&mut self, name: &str) -> Option<CloudConfig> {
        let mut s = self.ini.section(&format!("cloud/{name}"))?;
        // Empty values are filled from the upper-cased environment variable.
        let keys: Vec<String> = s.entries().map(|(k, _)| k.to_string()).collect();
        for k in keys {
            if let Some(e) = s.get(&k) {
                if e.value.is_empty() {
                    if let Ok(v) = std::env::var(k.to_uppercase()) {
                        let mut e = e.clone();
                        e.value = v;
                        s.set(k.clone(), e);
                    }
                }
            }
        }
        let before = self.d.len();
        self.unknown_keys(&s, CLOUD_KEYS, |_| false);
        let provider = self.required(&s, "provider", "add `provider = azure`");
        if let Some(p) = &provider {
            if p.value.trim() != "azure" {
                self.push(
                    &p.origin,
                    &s.name,
                    Some("provider"),
                    format!(
                        "provider `{}` is not supported by this build",
                        p.value.trim()
                    ),
                    "set `provider = azure` (Azure classic)",
                );
            }
        }
        let emulator = match s.get("emulator") {
            None => false,
            Some(e) => match parse_bool(&e.value) {
                Some(b) => b,
                None => {
                    let e = e.clone();
                    self.push(
                        &e.origin,
                        &s.name,
                        Some("emulator"),
                        format!("`{}` is not a boolean", e.value),
                        "write yes or no",
                    );
                    false
                }
            },
        };
        let subscription_id = match s.get("subscription_id").cloned() {
            Some(e) if !e.value.trim().is_empty() => self
                .no_placeholder(&s, "subscription_id", &e, "your Azure subscription id")
                .then(|| e.value.trim().to_string()),
            _ if emulator => None,
            _ => {
                self.required(&s, "subscription_id", "add `subscription_id = YOUR-SUBSCRIPTION-ID` (or set $SUBSCRIPTION_ID and leave it empty)");
                None
            }
        };
        let certificate = match s.get("certificate").cloned() {
            Some(e) if !e.value.trim().is_empty() => self.key_file(
                &s,
                "certificate",
                &e,
                true,
                "the path of your management certificate PEM (certificate + key)",
            ),
            _ if emulator => None,
            _ => {
                self.required(&s, "certificate", "add `certificate = PATH` to your management certificate PEM (certificate + key)");
                None
            }
        };
        let management_url = match s.get("management_url").cloned() {
            None => DEFAULT_MANAGEMENT_URL.to_string(),
            Some(e) => {
                let u = e.value.trim().trim_end_matches('/').to_string();
                let host_ok = u
                    .strip_prefix("https://")
                    .is_some_and(|h| !h.is_empty() && !h.contains(char::is_whitespace));
                if !host_ok {
                    self.push(
                        &e.origin,
                        &s.name,
                        Some("management_url"),
                        format!("`{}` is not an https:// URL", e.value),
                        format!("write e.g. {DEFAULT_MANAGEMENT_URL}, or remove the key"),
                    );
                }
                u
            }
        };
        let ca_certificate = s
            .get("ca_certificate")
            .cloned()
            .filter(|e| !e.value.trim().is_empty())
            .and_then(|e| {
                self.key_file(
                    &s,
                    "ca_certificate",
                    &e,
                    false,
                    "the path of a PEM CA bundle",
                )
            });
        let emulator_state_dir = s
            .get("emulator_state_dir")
            .filter(|e| !e.value.trim().is_empty())
            .map(|e| expand_path(&e.value, base_dir(e)));
        (self.d.len() == before).then_some(CloudConfig::AzureClassic(AzureCloud {
            subscription_id,
            certificate,
            management_url,
            ca_certificate,
            emulator,
            emulator_state_dir,
        }))
    }

    /// Expand and check a file path value. `private`: OpenSSH's permission rule applies.
    fn key_file(
        &mut self,
        s: &Section,
        key: &str,
        e: &Entry,
        private: bool,
        what: &str,
    ) -> Option<PathBuf> {
        if !self.no_placeholder(s, key, e, what) {
            return None;
        }
        let path = expand_path(&e.value, base_dir(e));
        match check_file(&path, private) {
            Ok(()) => Some(path),
            Err((problem, hint)) => {
                self.push(&e.origin, &s.name, Some(key), problem, hint);
                None
            }
        }
    }

    fn login(&mut self, name: &str) -> Option<Login> {
        let s = self.ini.section(&format!("login/{name}"))?;
        let before = self.d.len();
        self.unknown_keys(&s, LOGIN_KEYS, |_| false);
        let image_user = self.required(
            &s,
            "image_user",
            "add `image_user = USER` (the login user on the VMs)",
        );
        let value_or = |k: &str, default: &str| {
            s.get(k)
                .map(|e| e.value.trim().to_string())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_string())
        };
        let image_user_sudo = value_or("image_user_sudo", "root");
        let user_key_name = value_or("user_key_name", "elasticluster-key");
        let image_sudo = match s.get("image_sudo").cloned() {
            None => true,
            Some(e) => parse_bool(&e.value).unwrap_or_else(|| {
                self.push(
                    &e.origin,
                    &s.name,
                    Some("image_sudo"),
                    format!("`{}` is not a boolean", e.value),
                    "write yes or no",
                );
                true
            }),
        };
        let private = self
            .required(
                &s,
                "user_key_private",
                "add `user_key_private = PATH` to your SSH private key",
            )
            .and_then(|e| {
                self.key_file(
                    &s,
                    "user_key_private",
                    &e,
                    true,
                    "the path of your SSH private key",
                )
            });
        let public = self
            .required(
                &s,
                "user_key_public",
                "add `user_key_public = PATH` to your SSH public key",
            )
            .and_then(|e| {
                self.key_file(
                    &s,
                    "user_key_public",
                    &e,
                    false,
                    "the path of your SSH public key",
                )
            });
        if self.d.len() != before {
            return None;
        }
        Some(Login {
            image_user: image_user?.value.trim().to_string(),
            image_user_sudo,
            image_sudo,
            user_key_name,
            user_key_private: private?,
            user_key_public: public?,
        })
    }

    fn kinds(&mut self, cs: &Section, template: &str) -> (BTreeMap<String, NodeKind>, Vec<String>) {
        let mut counts: Vec<(String, u32)> = Vec::new();
        let mut mins: BTreeMap<String, (u32, Entry, String)> = BTreeMap::new();
        let mut unparsed: Vec<String> = Vec::new();
        for (k, e) in cs.entries() {
            let (kind, is_min, old) = if let Some(p) = k.strip_suffix("_nodes_min") {
                (p, true, false)
            } else if let Some(p) = k.strip_suffix("_min_nodes") {
                (p, true, true)
            } else if let Some(p) = k.strip_suffix("_nodes") {
                (p, false, false)
            } else {
                continue;
            };
            if let Err(err) = validate_kind(kind) {
                let suggestion = kind.to_ascii_lowercase().replace('_', "-");
                self.push(
                    &e.origin,
                    &cs.name,
                    Some(k),
                    err.to_string(),
                    format!(
                        "rename the kind, e.g. `{}`",
                        k.replacen(kind, &suggestion, 1)
                    ),
                );
                continue;
            }
            let Some(n) = parse_count(&e.value) else {
                unparsed.push(kind.to_string());
                self.push(
                    &e.origin,
                    &cs.name,
                    Some(k),
                    format!("`{}` is not a whole number", e.value),
                    format!("write a number of nodes, e.g. `{k} = 2`"),
                );
                continue;
            };
            if old {
                tracing::warn!(
                    "{}: [{}] `{k}` is deprecated; rename it to `{kind}_nodes_min`",
                    e.origin,
                    cs.name
                );
                if cs.get(&format!("{kind}_nodes_min")).is_some() {
                    continue;
                }
            }
            if is_min {
                mins.insert(kind.to_string(), (n, e.clone(), k.to_string()));
            } else {
                counts.push((kind.to_string(), n));
            }
        }
        if counts.is_empty() {
            self.push(
                &cs.origin,
                &cs.name,
                None,
                "no node kinds defined",
                "add e.g. `frontend_nodes = 1` and `compute_nodes = 2`",
            );
        } else if counts.iter().all(|(_, n)| *n == 0) {
            self.push(
                &cs.origin,
                &cs.name,
                None,
                "every node kind has 0 nodes",
                "set at least one `<kind>_nodes` above 0",
            );
        }
        for (kind, (n, e, key)) in &mins {
            if unparsed.contains(kind) {
                continue;
            }
            match counts.iter().find(|(k, _)| k == kind) {
                None => self.push(
                    &e.origin,
                    &cs.name,
                    Some(key),
                    format!("there is no `{kind}_nodes` for this minimum"),
                    format!("add `{kind}_nodes = N` or remove this key"),
                ),
                Some((_, c)) if n > c => self.push(
                    &e.origin,
                    &cs.name,
                    Some(key),
                    format!("minimum {n} is more than the {c} {kind} nodes requested"),
                    format!("lower it to at most {c}"),
                ),
                _ => {}
            }
        }
        // Per-kind sections that name kinds the template does not have.
        let prefix = format!("cluster/{template}/");
        for sec in self.ini.sections() {
            if let Some(k) = sec.name.strip_prefix(prefix.as_str()) {
                if !counts.iter().any(|(c, _)| c == k) && validate_kind(k).is_ok() {
                    self.push(
                        &sec.origin,
                        &sec.name,
                        None,
                        format!("[cluster/{template}] has no `{k}_nodes`"),
                        format!(
                            "add `{k}_nodes = N` to [cluster/{template}] or remove this section"
                        ),
                    );
                }
            }
        }
        let mut kinds = BTreeMap::new();
        let mut missing: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (kind, count) in &counts {
            let ks = self.ini.section(&format!("{prefix}{kind}"));
            if let Some(ks) = &ks {
                self.unknown_keys(ks, KIND_SECTION_KEYS, |_| false);
            }
            let get = |key: &str| -> Option<Entry> {
                let from_kind = ks.as_ref().and_then(|s| s.get(key)).map(|e| {
                    let mut e = e.clone();
                    e.value = strip_quotes(e.value.trim()).to_string();
                    e
                });
                from_kind
                    .or_else(|| cs.get(key).cloned())
                    .filter(|e| !e.value.trim().is_empty())
            };
            let mut field = |key: &'static str, v: &mut Self| -> Option<String> {
                match get(key) {
                    Some(e) => {
                        let sec = if ks.as_ref().and_then(|s| s.get(key)).is_some() {
                            format!("{prefix}{kind}")
                        } else {
                            cs.name.clone()
                        };
                        if is_placeholder(&e.value) {
                            v.push(
                                &e.origin,
                                &sec,
                                Some(key),
                                format!("still holds the sample placeholder `{}`", e.value),
                                format!("replace it with the {key} to use"),
                            );
                            return None;
                        }
                        Some(e.value.trim().to_string())
                    }
                    None => {
                        missing.entry(key).or_default().push(kind.clone());
                        None
                    }
                }
            };
            let image_id = field("image_id", self);
            let flavor = field("flavor", self);
            let security_group = get("security_group").map(|e| e.value.trim().to_string());
            let image_userdata = get("image_userdata").map(|e| e.value.clone());
            let min = mins
                .get(kind)
                .map(|(n, _, _)| *n)
                .unwrap_or(*count)
                .min(*count);
            if let (Some(image_id), Some(flavor)) = (image_id, flavor) {
                kinds.insert(
                    kind.clone(),
                    NodeKind {
                        count: *count,
                        min,
                        image_id,
                        flavor,
                        security_group,
                        image_userdata,
                    },
                );
            }
        }
        for (key, ks) in missing {
            let example = if key == "flavor" {
                "Small"
            } else {
                "IMAGE-NAME"
            };
            self.missing(cs, key, format!("needed by node kind(s) {}: add `{key} = {example}` to [cluster/{template}] or to [cluster/{template}/KIND]", ks.join(", ")));
        }
        (kinds, counts.into_iter().map(|(k, _)| k).collect())
    }

    fn azure_options(&mut self, cs: &Section) -> Option<AzureClusterOptions> {
        let before = self.d.len();
        let location = self
            .required(
                cs,
                "location",
                "add `location = East US` (the Azure region)",
            )
            .filter(|e| self.no_placeholder(cs, "location", e, "an Azure region such as East US"))
            .map(|e| e.value.trim().to_string());
        let base_name = self
            .required(cs, "base_name", "add `base_name = NAME` (3–15 lowercase letters/digits, unique across Azure)")
            .filter(|e| self.no_placeholder(cs, "base_name", e, "3–15 lowercase letters/digits, unique across Azure"))
            .and_then(|e| {
                let b = e.value.trim();
                let len_ok = (3..=15).contains(&b.len());
                let chars_ok = b.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
                if len_ok && chars_ok {
                    Some(b.to_string())
                } else {
                    let problem = if !chars_ok {
                        format!("`{b}` may contain only lowercase letters and digits")
                    } else {
                        format!("`{b}` is {} characters long, must be 3 to 15", b.len())
                    };
                    self.push(&e.origin, &cs.name, Some("base_name"), problem, "it prefixes storage account names, which Azure restricts to 3–24 lowercase letters/digits");
                    None
                }
            });
        let wait_timeout = self
            .positive(cs, "wait_timeout")
            .unwrap_or(DEFAULT_WAIT_TIMEOUT);
        let startup_timeout = self
            .positive(cs, "startup_timeout")
            .unwrap_or(DEFAULT_STARTUP_TIMEOUT);
        let n_cloud_services = self.positive(cs, "n_cloud_services").map(|n| n as u32);
        let n_storage_accounts = self.positive(cs, "n_storage_accounts").map(|n| n as u32);
        let use_public_ips = match cs.get("use_public_ips").cloned() {
            None => false,
            Some(e) => parse_bool(&e.value).unwrap_or_else(|| {
                self.push(
                    &e.origin,
                    &cs.name,
                    Some("use_public_ips"),
                    format!("`{}` is not a boolean", e.value),
                    "write yes or no",
                );
                false
            }),
        };
        let subscription_file = cs
            .get("subscription_file")
            .cloned()
            .filter(|e| !e.value.trim().is_empty())
            .and_then(|e| {
                self.key_file(
                    cs,
                    "subscription_file",
                    &e,
                    false,
                    "the path of your subscription list",
                )
            });
        if self.d.len() != before {
            return None;
        }
        Some(AzureClusterOptions {
            location: location?,
            base_name: base_name?,
            wait_timeout,
            n_cloud_services,
            n_storage_accounts,
            subscription_file,
            use_public_ips,
            startup_timeout,
        })
    }

    /// Optional positive whole number (≤ 10^9).
    fn positive(&mut self, s: &Section, key: &str) -> Option<u64> {
        let e = s.get(key)?.clone();
        match parse_count(&e.value) {
            Some(n) if (1..=1_000_000_000).contains(&n) => Some(u64::from(n)),
            _ => {
                self.push(
                    &e.origin,
                    &s.name,
                    Some(key),
                    format!("`{}` is not a whole number above 0", e.value),
                    format!("write e.g. `{key} = 600`, or remove the key for the default"),
                );
                None
            }
        }
    }

    fn ssh_to(&mut self, cs: &Section, kinds: &[String]) -> Option<String> {
        let e = cs.get("ssh_to")?.clone();
        let v = e.value.trim().to_string();
        if v.is_empty() {
            return None;
        }
        let ok = kinds.contains(&v)
            || crate::cluster::naming::parse_node_name(&v)
                .is_some_and(|(k, _)| kinds.iter().any(|x| x == k));
        if !ok {
            self.push(
                &e.origin,
                &cs.name,
                Some("ssh_to"),
                format!("`{v}` is neither a node kind nor a node of this template"),
                format!("use one of the kinds: {}", kinds.join(", ")),
            );
        }
        Some(v)
    }

    fn unknown_cluster_keys(&mut self, cs: &Section, kinds: &[String]) {
        let cluster_name = cs.name.clone();
        let mut bad_var_kinds = Vec::new();
        self.unknown_keys(cs, CLUSTER_KEYS, |k| {
            if k.ends_with("_nodes") || k.ends_with("_nodes_min") || k.starts_with("global_var_") {
                return true;
            }
            if let Some((kind, _)) = k.split_once("_var_") {
                if !kinds.iter().any(|x| x == kind) {
                    bad_var_kinds.push(k.to_string());
                }
                return true;
            }
            false
        });
        for k in bad_var_kinds {
            if let Some(e) = cs.get(&k) {
                let kind = k.split_once("_var_").map(|(a, _)| a).unwrap_or_default();
                self.push(
                    &e.origin,
                    &cluster_name,
                    Some(&k),
                    format!("`{kind}` is not a node kind of this template"),
                    format!("kinds are: {}", kinds.join(", ")),
                );
            }
        }
    }

    fn setup(&mut self, name: &str, cs: &Section, kinds: &[String]) -> Option<Setup> {
        let s = self.ini.section(&format!("setup/{name}"))?;
        let before = self.d.len();
        self.unknown_keys(&s, SETUP_KEYS, |k| {
            k.starts_with("ansible_")
                || k.starts_with("global_var_")
                || k.contains("_var_")
                || k.ends_with("_groups")
        });
        if let Some(p) = self.required(&s, "provider", "add `provider = ansible`") {
            if p.value.trim() != "ansible" {
                self.push(
                    &p.origin,
                    &s.name,
                    Some("provider"),
                    format!("setup provider `{}` is not supported", p.value.trim()),
                    "set `provider = ansible`",
                );
            }
        }
        let mut playbook_path = None;
        let mut bundled_playbook = None;
        if let Some(e) = s
            .get("playbook_path")
            .cloned()
            .filter(|e| !e.value.trim().is_empty())
        {
            if let Some(rest) = e.value.trim().strip_prefix(ANSIBLE_PB_DIR) {
                let rest = rest.trim_start_matches('/');
                bundled_playbook = Some(PathBuf::from(if rest.is_empty() {
                    "site.yml"
                } else {
                    rest
                }));
            } else {
                playbook_path =
                    self.key_file(&s, "playbook_path", &e, false, "the path of your playbook");
            }
        }
        let mut ansible_command = vec!["ansible-playbook".to_string()];
        if let Some(e) = s
            .get("ansible_command")
            .cloned()
            .filter(|e| !e.value.trim().is_empty())
        {
            match shlex::split(e.value.trim()).filter(|w| !w.is_empty()) {
                None => self.push(
                    &e.origin,
                    &s.name,
                    Some("ansible_command"),
                    "unbalanced quotes",
                    "fix the quoting",
                ),
                Some(mut words) => {
                    if words[0].contains('/') {
                        let p = expand_path(&words[0], base_dir(&e));
                        if !is_executable(&p) {
                            self.push(&e.origin, &s.name, Some("ansible_command"), format!("`{}` is not an executable file", p.display()), "point it at ansible-playbook, or remove the key to use the one on $PATH");
                        }
                        words[0] = p.display().to_string();
                    }
                    ansible_command = words;
                }
            }
        }
        let mut ansible_extra_args = Vec::new();
        if let Some(e) = s.get("ansible_extra_args").cloned() {
            match shlex::split(e.value.trim()) {
                Some(w) => ansible_extra_args = w,
                None => self.push(
                    &e.origin,
                    &s.name,
                    Some("ansible_extra_args"),
                    "unbalanced quotes",
                    "fix the quoting",
                ),
            }
        }
        let mut ansible_env = BTreeMap::new();
        let mut groups = BTreeMap::new();
        for (k, e) in s.entries() {
            let value = e.value.clone();
            if k == "ssh_pipelining" {
                tracing::warn!("{}: [{}] `ssh_pipelining` is deprecated; rename it to `ansible_ssh_pipelining`", e.origin, s.name);
                ansible_env.insert("ANSIBLE_SSH_PIPELINING".to_string(), value);
            } else if k == "ansible_module_dir" {
                tracing::warn!(
                    "{}: [{}] `ansible_module_dir` is deprecated; rename it to `ansible_library`",
                    e.origin,
                    s.name
                );
                ansible_env.insert("ANSIBLE_LIBRARY".to_string(), value);
            } else if k == "ansible_command" || k == "ansible_extra_args" {
            } else if let Some(rest) = k.strip_prefix("ansible_") {
                ansible_env.insert(format!("ANSIBLE_{}", rest.to_uppercase()), value);
            } else if let Some(kind) = k.strip_suffix("_groups") {
                let mut list = Vec::new();
                for g in value.split(',').map(str::trim).filter(|g| !g.is_empty()) {
                    let renamed = match g {
                        "slurm_clients" => Some("slurm_workers"),
                        "gluster_data" => Some("glusterfs_server"),
                        "gluster_client" => Some("glusterfs_client"),
                        _ => None,
                    };
                    if let Some(new) = renamed {
                        tracing::warn!("{}: [{}] {k}: group `{g}` was renamed to `{new}`; please fix your configuration file", e.origin, s.name);
                        list.push(new.to_string());
                    } else {
                        list.push(g.to_string());
                    }
                }
                groups.insert(kind.to_string(), list);
            }
        }
        let mut global_vars = BTreeMap::new();
        let mut kind_vars: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        // Setup section first, then the cluster section overrides.
        for sec in [&s, cs] {
            for (k, e) in sec.entries() {
                if let Some(var) = k.strip_prefix("global_var_") {
                    global_vars.insert(var.to_string(), e.value.clone());
                } else if let Some((kind, var)) = k.split_once("_var_") {
                    if !var.is_empty() {
                        kind_vars
                            .entry(kind.to_string())
                            .or_default()
                            .insert(var.to_string(), e.value.clone());
                    }
                }
            }
        }
        let _ = kinds;
        if self.d.len() != before {
            return None;
        }
        Some(Setup {
            provider: "ansible".to_string(),
            playbook_path,
            bundled_playbook,
            ansible_command,
            ansible_extra_args,
            ansible_env,
            groups,
            global_vars,
            kind_vars,
        })
    }
}

fn strip_quotes(v: &str) -> &str {
    let v = v
        .strip_prefix('\'')
        .and_then(|x| x.strip_suffix('\''))
        .unwrap_or(v);
    v.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(v)
}

/// Validate one `[cloud/NAME]` section on its own (for commands acting on a stored cluster).
pub(super) fn build_cloud(config: &Config, name: &str) -> Result<CloudConfig, Diagnostics> {
    let mut d = Diagnostics::default();
    if config.ini().section(&format!("cloud/{name}")).is_none() {
        d.push(Diagnostic {
            file: config.files().first().cloned(),
            line: None,
            section: None,
            key: None,
            problem: format!("no [cloud/{name}] section"),
            hint: "the cluster was started with it; restore the section in the configuration"
                .into(),
        });
        return Err(d);
    }
    let cloud = V {
        ini: config.ini(),
        d: &mut d,
    }
    .cloud(name);
    match cloud {
        Some(c) if d.is_empty() => Ok(c),
        _ => Err(d),
    }
}
