//! The Ansible setup provider: writes `<storage>/<name>.inventory`, runs
//! `ansible-playbook` (or `ansible_command`) on the embedded playbooks, and reports
//! whether anything changed.
//!
//! Precedence of settings: built-in defaults < `ansible_*` keys of the setup section <
//! the user's own `ANSIBLE_*` environment. Host-key checking stays on: the inventory
//! points OpenSSH at the cluster's known_hosts with `StrictHostKeyChecking=yes`, and this
//! module never adds an option that turns checking off.

pub mod inputs;
pub mod inventory;
pub mod playbooks;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::setup::{HostStats, Inventory, SetupError, SetupOutcome, SetupProvider};

/// Oldest ansible-core the playbooks are written for (Debian 12 ships 2.14).
pub const MIN_ANSIBLE_VERSION: (u32, u32) = (2, 14);

/// Environment variable the summary callback writes its JSON to.
pub const SUMMARY_ENV: &str = "ELASTICLUSTER_SETUP_SUMMARY";

/// Settings of the Ansible provider, taken from the `[setup/…]` and `[login/…]` sections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnsibleSettings {
    /// Storage directory: inventory, extracted playbooks, summaries live here.
    pub storage_dir: PathBuf,
    /// `playbook_path`: use this playbook instead of the embedded `site.yml`.
    pub playbook_path: Option<PathBuf>,
    /// `playbook_path = %(ansible_pb_dir)s/REL`: REL inside the embedded playbooks.
    pub bundled_playbook: Option<PathBuf>,
    /// `ansible_command`, already split into words; empty means `ansible-playbook`.
    pub ansible_command: Vec<String>,
    /// `ansible_extra_args`, already split into words.
    pub ansible_extra_args: Vec<String>,
    /// Every other `ansible_<x>` key of the setup section (key as written, lower case):
    /// exported as `ANSIBLE_<X>` unless the user's environment already has it.
    pub ansible_env: BTreeMap<String, String>,
    /// `image_sudo`: run tasks with `--become`.
    pub sudo: bool,
    /// `image_user_sudo` (default `root`).
    pub sudo_user: Option<String>,
    /// 0 = quiet; 1 → `-v`; 2+ → `-vv`.
    pub verbosity: u8,
}

/// Everything needed to start `ansible-playbook`, computed without side effects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub program: String,
    pub args: Vec<String>,
    /// Variables to set in the child's environment (the rest is inherited).
    pub env: BTreeMap<String, String>,
}

impl Invocation {
    /// The command line as one string, for messages.
    pub fn display(&self) -> String {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .map(|a| shlex::try_quote(a).map_or_else(|_| a.to_string(), |q| q.into_owned()))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Files an invocation refers to.
#[derive(Debug, Clone, Copy)]
pub struct RunPaths<'a> {
    pub playbook: &'a Path,
    pub inventory: &'a Path,
    /// Directory of the summary callback plugin (added to ANSIBLE_CALLBACK_PLUGINS).
    pub callback_dir: Option<&'a Path>,
    /// Where the callback writes its JSON summary.
    pub summary: &'a Path,
    /// Directory of the cluster's fact cache (Ansible's `jsonfile` cache plugin): every run
    /// stores the facts it gathers there.
    pub fact_cache: Option<&'a Path>,
    /// Gather facts only for hosts the cache does not know (nodes joined or left and the
    /// others were set up before); otherwise every host's facts are gathered afresh.
    pub reuse_facts: bool,
}

/// Builds the command line and environment. `user_env` is the caller's environment
/// (normally `std::env::vars()`), consulted so that the user's own `ANSIBLE_*` values win.
pub fn build_invocation(
    settings: &AnsibleSettings,
    paths: RunPaths<'_>,
    n_hosts: usize,
    extra_args: &[String],
    user_env: &BTreeMap<String, String>,
) -> Result<Invocation, SetupError> {
    let mut command = if settings.ansible_command.is_empty() {
        vec!["ansible-playbook".to_string()]
    } else {
        settings.ansible_command.clone()
    };
    let program = command.remove(0);
    let mut args = command;
    args.push(format!("--inventory={}", paths.inventory.display()));
    if settings.sudo {
        args.push("--become".into());
        args.push(format!(
            "--become-user={}",
            settings.sudo_user.as_deref().unwrap_or("root")
        ));
    }
    match settings.verbosity {
        0 => {}
        1 => args.push("-v".into()),
        _ => args.push("-vv".into()),
    }
    args.extend(settings.ansible_extra_args.iter().cloned());
    // The user's arguments from `setup NAME -- …` come last so they win over the config.
    args.extend(extra_args.iter().cloned());
    args.push(paths.playbook.display().to_string());

    // Layer 1: defaults.
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let forks = n_hosts.max(10);
    env.insert("ANSIBLE_FORKS".into(), forks.to_string());
    env.insert("ANSIBLE_HOST_KEY_CHECKING".into(), "True".into());
    env.insert("ANSIBLE_PIPELINING".into(), "True".into());
    env.insert(
        "ANSIBLE_SSH_ARGS".into(),
        "-C -o ControlMaster=auto -o ControlPersist=60s".into(),
    );
    env.insert("ANSIBLE_TIMEOUT".into(), "30".into());
    env.insert("ANSIBLE_RETRY_FILES_ENABLED".into(), "False".into());
    // Plays name every group the playbooks know; most clusters populate only some.
    env.insert("ANSIBLE_HOST_PATTERN_MISMATCH".into(), "ignore".into());
    if let Some(cache) = paths.fact_cache {
        env.insert("ANSIBLE_CACHE_PLUGIN".into(), "jsonfile".into());
        env.insert(
            "ANSIBLE_CACHE_PLUGIN_CONNECTION".into(),
            cache.display().to_string(),
        );
        // Facts of a node change only when the node does (then it is set up afresh).
        env.insert("ANSIBLE_CACHE_PLUGIN_TIMEOUT".into(), "0".into());
        env.insert(
            "ANSIBLE_GATHERING".into(),
            if paths.reuse_facts {
                "smart"
            } else {
                "implicit"
            }
            .into(),
        );
    }
    // Layer 2: the setup section's ansible_* keys.
    for (key, value) in &settings.ansible_env {
        let lower = key.to_ascii_lowercase();
        if lower == "ansible_command" || lower == "ansible_extra_args" {
            continue;
        }
        if !lower.starts_with("ansible_")
            || !lower.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(SetupError::BadSetting {
                key: key.clone(),
                value: value.clone(),
                reason: "only `ansible_<name>` keys become ANSIBLE_<NAME> variables".into(),
            });
        }
        env.insert(lower.to_ascii_uppercase(), value.clone());
    }
    // Forks never below the number of nodes, whatever the config said.
    if let Some(v) = env.get("ANSIBLE_FORKS") {
        let configured: usize = v.trim().parse().map_err(|_| SetupError::BadSetting {
            key: "ansible_forks".into(),
            value: v.clone(),
            reason: "not a number".into(),
        })?;
        env.insert("ANSIBLE_FORKS".into(), configured.max(n_hosts).to_string());
    }
    // Layer 3: the user's environment wins — leave those variables to inheritance.
    env.retain(|k, _| !user_env.contains_key(k));
    // The summary callback is added to whatever callback path the user has.
    if let Some(dir) = paths.callback_dir {
        let ours = dir.display().to_string();
        let value = match user_env.get("ANSIBLE_CALLBACK_PLUGINS") {
            Some(theirs) if !theirs.is_empty() => format!("{theirs}:{ours}"),
            _ => ours,
        };
        env.insert("ANSIBLE_CALLBACK_PLUGINS".into(), value);
    }
    env.insert(SUMMARY_ENV.into(), paths.summary.display().to_string());
    Ok(Invocation { program, args, env })
}

/// Parses the first line of `ansible-playbook --version`:
/// `ansible-playbook [core 2.19.14]` (2.11+) or `ansible-playbook 2.9.27` (older).
pub fn parse_version(output: &str) -> Option<(u32, u32, String)> {
    let first = output.lines().next()?.trim();
    if !first.split_whitespace().next()?.contains("ansible") {
        return None;
    }
    let rest = match first.find("[core ") {
        Some(i) => &first[i + 6..],
        None => first.split_whitespace().nth(1)?,
    };
    let version: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect();
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()?;
    Some((major, minor, version))
}

/// Checks that `program args… --version` runs and is recent enough.
pub fn check_version(program: &str, pre_args: &[String]) -> Result<String, SetupError> {
    let shown = std::iter::once(program.to_string())
        .chain(pre_args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let min = format!("{}.{}", MIN_ANSIBLE_VERSION.0, MIN_ANSIBLE_VERSION.1);
    let output = match Command::new(program)
        .args(pre_args)
        .arg("--version")
        .output()
    {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(SetupError::AnsibleMissing {
                command: shown,
                min,
            })
        }
        Err(source) => {
            return Err(SetupError::Spawn {
                command: shown,
                source,
            })
        }
    };
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    version_ok(&shown, &text)
}

/// The version check on given `--version` output (separate for testing).
pub fn version_ok(command: &str, output: &str) -> Result<String, SetupError> {
    let min = format!("{}.{}", MIN_ANSIBLE_VERSION.0, MIN_ANSIBLE_VERSION.1);
    match parse_version(output) {
        Some((major, minor, full)) => {
            if (major, minor) >= MIN_ANSIBLE_VERSION {
                Ok(full)
            } else {
                Err(SetupError::AnsibleTooOld {
                    command: command.into(),
                    found: full,
                    min,
                })
            }
        }
        None => Err(SetupError::AnsibleVersionUnknown {
            command: command.into(),
            output: output
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect(),
        }),
    }
}

/// Reads the summary JSON written by the callback.
pub fn read_summary(path: &Path) -> Option<BTreeMap<String, HostStats>> {
    #[derive(serde::Deserialize)]
    struct Summary {
        hosts: BTreeMap<String, HostStats>,
    }
    let text = fs::read_to_string(path).ok()?;
    serde_json::from_str::<Summary>(&text).ok().map(|s| s.hosts)
}

/// The Ansible implementation of [`SetupProvider`].
#[derive(Debug, Clone)]
pub struct AnsibleSetupProvider {
    pub settings: AnsibleSettings,
    /// Send `ansible-playbook`'s output to stderr (stdout carries JSON events).
    output_to_stderr: bool,
    /// Run every task even on an unchanged cluster (`setup --full`).
    full: bool,
}

impl AnsibleSetupProvider {
    pub fn new(settings: AnsibleSettings) -> Self {
        Self {
            settings,
            output_to_stderr: false,
            full: false,
        }
    }

    /// The same provider, every task run on every node when `yes` even where the
    /// playbooks' first check finds every node as its last complete setup left it.
    pub fn with_every_task(mut self, yes: bool) -> Self {
        self.full = yes;
        self
    }

    /// The same provider, `ansible-playbook`'s output going to stderr when `yes`.
    pub fn with_output_to_stderr(mut self, yes: bool) -> Self {
        self.output_to_stderr = yes;
        self
    }

    /// `<storage>/<name>.inventory`.
    pub fn inventory_path(&self, cluster_name: &str) -> PathBuf {
        self.settings
            .storage_dir
            .join(format!("{cluster_name}.inventory"))
    }

    /// `<storage>/<name>.facts/`: the facts of the cluster's nodes, cached between runs.
    pub fn fact_cache_path(&self, cluster_name: &str) -> PathBuf {
        self.settings
            .storage_dir
            .join(format!("{cluster_name}.facts"))
    }

    fn summary_path(&self, cluster_name: &str) -> PathBuf {
        self.settings
            .storage_dir
            .join(format!("{cluster_name}.setup-summary.json"))
    }

    /// Writes the inventory (atomically) and returns its path.
    pub fn write_inventory(
        &self,
        inventory: &Inventory,
        known_hosts: &Path,
    ) -> Result<PathBuf, SetupError> {
        Ok(self.write_inventory_text(inventory, known_hosts)?.0)
    }

    fn write_inventory_text(
        &self,
        inventory: &Inventory,
        known_hosts: &Path,
    ) -> Result<(PathBuf, String), SetupError> {
        let text = inventory::render(inventory, known_hosts)?;
        let path = self.inventory_path(&inventory.cluster_name);
        write_atomic(&path, text.as_bytes())?;
        Ok((path, text))
    }

    /// Prepares everything (inventory, playbooks) and returns the invocation, without
    /// running it.
    pub fn prepare(
        &self,
        inventory: &Inventory,
        known_hosts: &Path,
        extra_args: &[String],
    ) -> Result<Invocation, SetupError> {
        let s = &self.settings;
        fs::create_dir_all(&s.storage_dir).map_err(|source| SetupError::Io {
            action: "cannot create storage directory",
            path: s.storage_dir.clone(),
            source,
        })?;
        let extracted = playbooks::extract(&s.storage_dir)?;
        let playbook = match &s.playbook_path {
            None if s.bundled_playbook.is_some() => {
                let rel = s
                    .bundled_playbook
                    .as_deref()
                    .unwrap_or(Path::new(playbooks::SITE_PLAYBOOK));
                let p = extracted.join(rel);
                if !p.is_file() {
                    return Err(SetupError::PlaybookMissing(p));
                }
                p
            }
            Some(p) => {
                if !p.is_file() {
                    return Err(SetupError::PlaybookMissing(p.clone()));
                }
                fs::canonicalize(p).map_err(|source| SetupError::Io {
                    action: "cannot resolve",
                    path: p.clone(),
                    source,
                })?
            }
            None => extracted.join(playbooks::SITE_PLAYBOOK),
        };
        let (inventory_path, inventory_text) = self.write_inventory_text(inventory, known_hosts)?;
        let user_env: BTreeMap<String, String> = std::env::vars().collect();
        let callback_dir = extracted.join(playbooks::CALLBACK_DIR);
        let summary = self.summary_path(&inventory.cluster_name);
        let fact_cache = self.fact_cache_path(&inventory.cluster_name);
        let mut invocation = build_invocation(
            s,
            RunPaths {
                playbook: &playbook,
                inventory: &inventory_path,
                callback_dir: Some(&callback_dir),
                summary: &summary,
                fact_cache: Some(&fact_cache),
                reuse_facts: !inventory.membership_only.is_empty(),
            },
            inventory.hosts.len(),
            extra_args,
            &user_env,
        )?;
        // Only the embedded playbooks (verified on extraction, versioned by their path)
        // check before they set up; a playbook of the user's may depend on files the
        // digest cannot see, so it always runs whole.
        if s.playbook_path.is_none() {
            let digest = inputs::digest(&invocation, inventory_text.as_bytes(), &user_env);
            invocation.env.insert(inputs::INPUTS_ENV.into(), digest);
        }
        if self.full {
            invocation.env.insert(inputs::FULL_ENV.into(), "1".into());
        }
        Ok(invocation)
    }
}

impl SetupProvider for AnsibleSetupProvider {
    fn setup(
        &self,
        inventory: &Inventory,
        known_hosts: &Path,
        extra_args: &[String],
    ) -> Result<SetupOutcome, SetupError> {
        if inventory.hosts.iter().all(|h| h.groups.is_empty()) {
            tracing::info!("No setup required for this cluster.");
            return Ok(SetupOutcome {
                changed: Some(false),
                hosts: BTreeMap::new(),
                inventory_path: None,
            });
        }
        let invocation = self.prepare(inventory, known_hosts, extra_args)?;
        // Program and any leading words of ansible_command (e.g. `python3 -m …`).
        let pre_args: Vec<String> = self
            .settings
            .ansible_command
            .iter()
            .skip(1)
            .cloned()
            .collect();
        let version = check_version(&invocation.program, &pre_args)?;
        tracing::debug!(%version, command = %invocation.display(), "running ansible-playbook");
        let summary = self.summary_path(&inventory.cluster_name);
        let _ = fs::remove_file(&summary);
        let mut command = Command::new(&invocation.program);
        if self.output_to_stderr {
            use std::os::fd::AsFd;
            let err = std::io::stderr()
                .as_fd()
                .try_clone_to_owned()
                .map_err(|source| SetupError::Spawn {
                    command: invocation.display(),
                    source,
                })?;
            command.stdout(std::process::Stdio::from(err));
        }
        let status = command
            .args(&invocation.args)
            .envs(
                invocation
                    .env
                    .iter()
                    .map(|(k, v)| (OsString::from(k), OsString::from(v))),
            )
            .status()
            .map_err(|source| SetupError::Spawn {
                command: invocation.display(),
                source,
            })?;
        let hosts = read_summary(&summary).unwrap_or_default();
        let _ = fs::remove_file(&summary);
        match status.code() {
            Some(0) => {}
            Some(code) => {
                return Err(SetupError::PlaybookFailed {
                    command: invocation.display(),
                    code,
                    cluster: inventory.cluster_name.clone(),
                })
            }
            None => {
                return Err(SetupError::PlaybookKilled {
                    command: invocation.display(),
                    cluster: inventory.cluster_name.clone(),
                })
            }
        }
        let changed = if hosts.is_empty() {
            None
        } else {
            Some(hosts.values().any(|h| h.changed > 0))
        };
        Ok(SetupOutcome {
            changed,
            hosts,
            inventory_path: Some(self.inventory_path(&inventory.cluster_name)),
        })
    }

    fn cleanup(&self, cluster_name: &str) -> Result<(), SetupError> {
        match fs::remove_dir_all(self.fact_cache_path(cluster_name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(SetupError::Io {
                    action: "cannot remove",
                    path: self.fact_cache_path(cluster_name),
                    source,
                })
            }
        }
        for path in [
            self.inventory_path(cluster_name),
            self.summary_path(cluster_name),
        ] {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(SetupError::Io {
                        action: "cannot remove",
                        path,
                        source,
                    })
                }
            }
        }
        Ok(())
    }
}

fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), SetupError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let io = |action: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| SetupError::Io {
            action,
            path: p,
            source,
        }
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io("cannot write to", dir))?;
    std::io::Write::write_all(&mut tmp, contents).map_err(io("cannot write", tmp.path()))?;
    tmp.persist(path)
        .map_err(|e| SetupError::Io {
            action: "cannot write",
            path: path.to_path_buf(),
            source: e.error,
        })
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(
            parse_version("ansible-playbook [core 2.19.14]\n  config file = None")
                .map(|v| (v.0, v.1)),
            Some((2, 19))
        );
        assert_eq!(
            parse_version("ansible-playbook 2.9.27\n").map(|v| (v.0, v.1)),
            Some((2, 9))
        );
        assert_eq!(
            parse_version("ansible-playbook [core 2.20.0rc1]").map(|v| (v.0, v.1)),
            Some((2, 20))
        );
        assert!(parse_version("garbage").is_none());
    }
}
