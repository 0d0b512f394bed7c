//! `[setup/X]` merged with the setup-related keys of `[cluster/X]`: the Ansible command,
//! its environment (`ansible_*`), groups per node kind and the playbook variables.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::checker::{base_dir, KeyChecker};
use super::diag::closest;
use super::diag::shown;
use super::ini::{Ini, Section};
use super::values::{expand_path, is_executable};
use super::{Setup, ANSIBLE_PB_DIR};

/// The groups the bundled playbooks configure (`playbooks/site.yml`; tests/playbooks.rs
/// keeps the two in step). With the bundled playbooks, a node kind in any other group
/// would silently get no configuration at all.
pub const BUNDLED_GROUPS: &[&str] = &[
    "slurm_master",
    "slurm_workers",
    "slurm_submit",
    "gridengine_master",
    "gridengine_clients",
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

/// Validate `[setup/NAME]` (which must exist) together with `[cluster/X]` (`cs`).
pub(super) fn check_setup(
    ini: &Ini,
    name: &str,
    cs: &Section,
    check: &mut KeyChecker,
) -> Option<Setup> {
    let s = ini.section(&format!("setup/{name}"))?;
    let before = check.count();
    check.unknown_keys(&s, SETUP_KEYS, |k| {
        k.starts_with("ansible_")
            || k.starts_with("global_var_")
            || k.contains("_var_")
            || k.ends_with("_groups")
    });
    if let Some(p) = check.required(&s, "provider", "add `provider = ansible`") {
        if p.value.trim() != "ansible" {
            check.push(
                &p.origin,
                &s.name,
                Some("provider"),
                format!("setup provider {} is not supported", shown(p.value.trim())),
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
            playbook_path = check.file(&s, "playbook_path", &e, false, "the path of your playbook");
        }
    }
    let mut ansible_command = vec!["ansible-playbook".to_string()];
    if let Some(e) = s
        .get("ansible_command")
        .cloned()
        .filter(|e| !e.value.trim().is_empty())
    {
        match shlex::split(e.value.trim()).filter(|w| !w.is_empty()) {
            None => check.push(
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
                        check.push(&e.origin, &s.name, Some("ansible_command"), format!("{} is not an executable file", shown(&p.display().to_string())), "point it at ansible-playbook, or remove the key to use the one on $PATH");
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
            None => check.push(
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
            tracing::warn!(
                "{}: [{}] `ssh_pipelining` is deprecated; rename it to `ansible_ssh_pipelining`",
                e.origin,
                s.name
            );
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
                let group = match renamed {
                    Some(new) => {
                        tracing::warn!("{}: [{}] {k}: group `{g}` was renamed to `{new}`; please fix your configuration file", e.origin, s.name);
                        new
                    }
                    None => g,
                };
                if playbook_path.is_none() && !BUNDLED_GROUPS.contains(&group) {
                    let hint = match closest(group, BUNDLED_GROUPS.iter().copied()) {
                        Some(c) => format!("did you mean `{c}`?"),
                        None => format!(
                            "the bundled playbooks know {} (or set playbook_path to your own playbook)",
                            BUNDLED_GROUPS.join(", ")
                        ),
                    };
                    check.push(
                        &e.origin,
                        &s.name,
                        Some(k),
                        format!(
                            "group `{group}` is not one the bundled playbooks configure, so `{kind}` nodes would get no setup"
                        ),
                        hint,
                    );
                }
                list.push(group.to_string());
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
    if check.count() != before {
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
