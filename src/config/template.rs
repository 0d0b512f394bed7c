//! Building one typed [`ClusterTemplate`] from `[cluster/X]`, `[cluster/X/KIND]` and the
//! `[cloud/…]`, `[login/…]`, `[setup/…]` sections it references. The cloud's own keys are
//! validated by the cloud (through [`CloudKeys`]); everything common is checked here. Every
//! problem is collected; nothing here stops at the first.

use std::collections::BTreeMap;

use super::checker::KeyChecker;
use super::diag::{closest, shown};
use super::ini::{Entry, Ini, Section};
use super::login::check_login;
use super::setup::check_setup;
use super::values::{is_placeholder, parse_count};
use super::*;
use crate::naming::{parse_node_name, validate_kind};

/// Fixed keys allowed in `[cluster/X]` whatever the cloud (besides `<kind>_nodes`,
/// `<kind>_nodes_min`, `<kind>_min_nodes`, `global_var_*`, `<kind>_var_*` and the keys the
/// cloud owns).
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
    "startup_timeout",
    "thread_pool_max_size",
];
/// Keys allowed in `[cluster/X/KIND]`.
pub const KIND_SECTION_KEYS: &[&str] = &["image_id", "flavor", "security_group", "image_userdata"];

/// Validates one template; holds the parsed files and the problem list.
struct TemplateValidator<'a, 'd> {
    ini: &'a Ini,
    check: KeyChecker<'d>,
}

/// Build and validate template `name`; `cloud` validates the keys the cloud owns.
pub(super) fn build(
    config: &Config,
    name: &str,
    cloud: &dyn CloudKeys,
) -> Result<ClusterTemplate, Diagnostics> {
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
                problem: format!(
                    "no cluster template {} (no such [cluster/NAME] section)",
                    shown(name)
                ),
                hint,
            });
            return Err(d);
        }
    };
    let mut v = TemplateValidator {
        ini,
        check: KeyChecker::new(&mut d),
    };

    // References to the other sections.
    let cloud_name = v.reference(&cs, &["cloud"], "cloud");
    let login_name = v.reference(&cs, &["login"], "login");
    let setup_name = v.reference(&cs, &["setup_provider", "setup"], "setup");

    let login = login_name
        .as_ref()
        .and_then(|n| check_login(ini, n, &mut v.check));
    let cloud_section = cloud_name.as_ref().and_then(|n| cloud_section(ini, n));
    let cloud_settings = cloud_section.as_ref().and_then(|s| {
        cloud.validate(
            &CloudInput {
                cloud: s,
                cluster: &cs,
                login: login.as_ref(),
            },
            &mut v.check,
        )
    });
    let cloud_keys = cloud.cluster_keys(cloud_section.as_ref());

    let (kinds, kind_order) = v.kinds(&cs, name);
    let setup = setup_name
        .as_ref()
        .and_then(|n| check_setup(ini, n, &cs, &mut v.check));
    let startup_timeout = v
        .check
        .positive(&cs, "startup_timeout")
        .unwrap_or(DEFAULT_STARTUP_TIMEOUT);
    let ssh_to = v.ssh_to(&cs, &kind_order);
    v.unknown_cluster_keys(&cs, &kind_order, &cloud_keys);

    match (
        cloud_settings,
        login,
        setup,
        cloud_name,
        login_name,
        setup_name,
    ) {
        (Some(cloud), Some(login), Some(setup), Some(c), Some(l), Some(s)) if d.is_empty() => {
            Ok(ClusterTemplate {
                name: name.to_string(),
                source: cs.origin.file.to_path_buf(),
                cloud_name: c,
                login_name: l,
                setup_name: s,
                cloud,
                startup_timeout,
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

impl TemplateValidator<'_, '_> {
    fn reference(&mut self, cs: &Section, keys: &[&str], kind: &str) -> Option<String> {
        let entry = keys.iter().find_map(|k| cs.get(k).map(|e| (*k, e.clone())));
        let Some((key, e)) = entry.filter(|(_, e)| !e.value.trim().is_empty()) else {
            self.check.missing(
                cs,
                keys[0],
                format!("add `{} = NAME` naming a [{kind}/NAME] section", keys[0]),
            );
            return None;
        };
        let target = e.value.trim().to_string();
        if self.ini.has_section(&format!("{kind}/{target}")) {
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
            None if defined.len() > 10 => format!(
                "defined {kind} sections: {}, … ({} in all)",
                defined[..10].join(", "),
                defined.len()
            ),
            None => format!("defined {kind} sections: {}", defined.join(", ")),
        };
        self.check.push(
            &e.origin,
            &cs.name,
            Some(key),
            format!(
                "section [{kind}/{}] does not exist",
                crate::config::diag::clip(&target)
            ),
            hint,
        );
        None
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
                self.check.push(
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
                self.check.push(
                    &e.origin,
                    &cs.name,
                    Some(k),
                    format!("{} is not a whole number", shown(&e.value)),
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
            self.check.push(
                &cs.origin,
                &cs.name,
                None,
                "no node kinds defined",
                "add e.g. `frontend_nodes = 1` and `compute_nodes = 2`",
            );
        } else if counts.iter().all(|(_, n)| *n == 0) {
            self.check.push(
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
                None => self.check.push(
                    &e.origin,
                    &cs.name,
                    Some(key),
                    format!("there is no `{kind}_nodes` for this minimum"),
                    format!("add `{kind}_nodes = N` or remove this key"),
                ),
                Some((_, c)) if n > c => self.check.push(
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
        for sec in self.ini.sections_with_prefix(&prefix) {
            if let Some(k) = sec.name.strip_prefix(prefix.as_str()) {
                if !counts.iter().any(|(c, _)| c == k) && validate_kind(k).is_ok() {
                    self.check.push(
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
                self.check.unknown_keys(ks, KIND_SECTION_KEYS, |_| false);
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
                            v.check.push(
                                &e.origin,
                                &sec,
                                Some(key),
                                format!("still holds the sample placeholder {}", shown(&e.value)),
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
            self.check.missing(cs, key, format!("needed by node kind(s) {}: add `{key} = {example}` to [cluster/{template}] or to [cluster/{template}/KIND]", ks.join(", ")));
        }
        (kinds, counts.into_iter().map(|(k, _)| k).collect())
    }

    fn ssh_to(&mut self, cs: &Section, kinds: &[String]) -> Option<String> {
        let e = cs.get("ssh_to")?.clone();
        let v = e.value.trim().to_string();
        if v.is_empty() {
            return None;
        }
        let ok = kinds.contains(&v)
            || parse_node_name(&v).is_some_and(|(k, _)| kinds.iter().any(|x| x == k));
        if !ok {
            self.check.push(
                &e.origin,
                &cs.name,
                Some("ssh_to"),
                format!(
                    "{} is neither a node kind nor a node of this template",
                    shown(&v)
                ),
                format!("use one of the kinds: {}", kinds.join(", ")),
            );
        }
        Some(v)
    }

    fn unknown_cluster_keys(&mut self, cs: &Section, kinds: &[String], cloud_keys: &[&str]) {
        let cluster_name = cs.name.clone();
        let mut bad_var_kinds = Vec::new();
        let allowed: Vec<&str> = CLUSTER_KEYS.iter().chain(cloud_keys).copied().collect();
        self.check.unknown_keys(cs, &allowed, |k| {
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
                self.check.push(
                    &e.origin,
                    &cluster_name,
                    Some(&k),
                    format!("{} is not a node kind of this template", shown(kind)),
                    format!("kinds are: {}", kinds.join(", ")),
                );
            }
        }
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

/// `[cloud/NAME]` with empty values filled from the environment variable named like the
/// key, upper-cased (ElastiCluster's rule, e.g. `subscription_id =` → `$SUBSCRIPTION_ID`).
fn cloud_section(ini: &Ini, name: &str) -> Option<Section> {
    let mut s = ini.section(&format!("cloud/{name}"))?;
    let empty: Vec<(String, Entry)> = s
        .entries()
        .filter(|(_, e)| e.value.is_empty())
        .map(|(k, e)| (k.to_string(), e.clone()))
        .collect();
    for (k, mut e) in empty {
        if let Ok(v) = std::env::var(k.to_uppercase()) {
            e.value = v;
            s.set(k, e);
        }
    }
    Some(s)
}
