//! ElastiCluster configuration: read the INI files (`FILE` plus `FILE.d/*.conf` in sorted
//! order), check the file-level shape (syntax, section kinds), and on demand validate one
//! cluster template into a typed [`ClusterTemplate`].
//!
//! A broken template only breaks the commands that use it: [`Config::load`] fails only for
//! problems of the files themselves; [`Config::template`] reports every problem of one
//! template (and of the sections it references) at once, each with file and line.
//! This module never talks to a cloud and never writes files.

mod checker;
pub mod diag;
pub mod ini;
mod login;
mod sections;
mod setup;
mod template;
mod values;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use checker::{base_dir, KeyChecker};
pub use diag::{
    clip, closest_word, printable, shown, Diagnostic, Diagnostics, SHOWN_MAX, SHOWN_PROBLEMS,
};
pub use ini::{Entry, Origin, Section};
pub use login::LOGIN_KEYS;
pub use setup::{BUNDLED_GROUPS, SETUP_KEYS};
pub use template::{CLUSTER_KEYS, KIND_SECTION_KEYS};
pub use values::{check_key_file, expand_path, parse_bool};

/// Default seconds to wait for nodes to come up (and then to answer SSH).
pub const DEFAULT_STARTUP_TIMEOUT: u64 = 600;
/// Prefix in `playbook_path` meaning "the playbooks bundled with elasticluster".
pub const ANSIBLE_PB_DIR: &str = "%(ansible_pb_dir)s";

/// Why the configuration files could not be used at all.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file `{}` not found (nor `{}.d/*.conf`) — create it from azure-sample-config or pass -c FILE", .path.display(), .path.display())]
    NotFound { path: PathBuf },
    #[error("cannot read configuration file `{}`: {source} — check that it exists and is readable", .path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(Diagnostics),
    #[error("{}: no cluster templates found — add a [cluster/NAME] section (see azure-sample-config)", .files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", "))]
    NoTemplates { files: Vec<PathBuf> },
}

/// The problem of a file that is not UTF-8: where the first bad byte is.
fn not_utf8(file: &Path, bytes: &[u8], valid_up_to: usize) -> Diagnostic {
    let before = &bytes[..valid_up_to];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    Diagnostic {
        file: Some(file.to_path_buf()),
        line: Some(line),
        section: None,
        key: None,
        problem: format!(
            "not valid UTF-8 (byte 0x{:02x} at column {column})",
            bytes.get(valid_up_to).copied().unwrap_or_default()
        ),
        hint: "save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`); nothing of it was used"
            .into(),
    }
}

/// The loaded configuration: all files merged, file-level shape checked.
#[derive(Debug, Clone)]
pub struct Config {
    path: PathBuf,
    files: Vec<PathBuf>,
    ini: ini::Ini,
}

impl Config {
    /// Read `path` and `path.d/*.conf` (sorted). Fails if none exist, a file cannot be read,
    /// a line cannot be parsed, a section has an unknown kind, or there is no template.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let files = ini::config_files(path);
        if files.is_empty() {
            return Err(if path.exists() {
                ConfigError::Unreadable {
                    path: path.to_path_buf(),
                    source: std::io::Error::other("not a regular file"),
                }
            } else {
                ConfigError::NotFound {
                    path: path.to_path_buf(),
                }
            });
        }
        let mut parsed = ini::Ini::new();
        let mut diags = Diagnostics::default();
        for file in &files {
            let text = std::fs::read(file).map_err(|source| ConfigError::Unreadable {
                path: file.clone(),
                source,
            })?;
            let text = match String::from_utf8(text) {
                Ok(t) => t,
                Err(e) => {
                    diags.push(not_utf8(file, e.as_bytes(), e.utf8_error().valid_up_to()));
                    continue;
                }
            };
            for e in parsed.read_str(file, &text) {
                diags.push(Diagnostic {
                    file: Some(e.origin.file.to_path_buf()),
                    line: Some(e.origin.line),
                    section: None,
                    key: None,
                    problem: e.message,
                    hint: String::new(),
                });
            }
        }
        sections::check_sections(&parsed, &mut diags);
        if !diags.is_empty() {
            return Err(ConfigError::Invalid(diags));
        }
        let config = Config {
            path: path.to_path_buf(),
            files,
            ini: parsed,
        };
        if config.template_names().is_empty() {
            return Err(ConfigError::NoTemplates {
                files: config.files.clone(),
            });
        }
        Ok(config)
    }

    /// The path given (without `.d`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The files actually read, in read order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Names of all `[cluster/NAME]` templates, in the order they appear.
    pub fn template_names(&self) -> Vec<String> {
        self.ini
            .section_names()
            .filter_map(|s| s.strip_prefix("cluster/"))
            .filter(|n| !n.is_empty() && !n.contains('/'))
            .map(str::to_string)
            .collect()
    }

    /// Validate one template and everything it references, the cloud's keys through
    /// `cloud`. All problems at once.
    pub fn template(
        &self,
        name: &str,
        cloud: &dyn CloudKeys,
    ) -> Result<ClusterTemplate, Diagnostics> {
        template::build(self, name, cloud)
    }

    /// The same configuration with `key = value` set in `[section]` (which must exist), as
    /// given on the command line by `option` (messages name it instead of a file line).
    pub fn with_value(&self, section: &str, key: &str, value: &str, option: &str) -> Config {
        let mut c = self.clone();
        c.ini.set_value(section, key, value, option);
        c
    }

    pub(crate) fn ini(&self) -> &ini::Ini {
        &self.ini
    }
}

/// A fully validated cluster template: everything needed to start a cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterTemplate {
    /// Template name (`NAME` of `[cluster/NAME]`).
    pub name: String,
    /// File holding the `[cluster/NAME]` section.
    pub source: PathBuf,
    /// Names of the referenced sections (`X` of `[cloud/X]`, `[login/X]`, `[setup/X]`).
    pub cloud_name: String,
    pub login_name: String,
    pub setup_name: String,
    /// The cloud's validated settings, as kept in the cluster state.
    pub cloud: toml::Table,
    /// Seconds for all nodes to run, and again to answer SSH (default 600).
    pub startup_timeout: u64,
    pub login: Login,
    pub setup: Setup,
    /// Node kinds by name.
    pub kinds: BTreeMap<String, NodeKind>,
    /// Kind names in the order their `<kind>_nodes` keys appear in the config.
    pub kind_order: Vec<String>,
    /// Kind (or node name) to ssh into by default.
    pub ssh_to: Option<String>,
}

impl ClusterTemplate {
    /// Kinds in config order with their settings.
    pub fn kinds_in_order(&self) -> impl Iterator<Item = (&str, &NodeKind)> {
        self.kind_order
            .iter()
            .filter_map(|k| self.kinds.get(k).map(|v| (k.as_str(), v)))
    }

    /// Apply `--nodes N:KIND` overrides. Unknown kinds are an error (the original ignored them).
    pub fn override_counts(&mut self, counts: &[(String, u32)]) -> Result<(), String> {
        for (kind, n) in counts {
            match self.kinds.get_mut(kind) {
                Some(k) => {
                    k.count = *n;
                    k.min = k.min.min(*n);
                }
                None => {
                    return Err(format!(
                        "template `{}` has no node kind `{kind}` — kinds are: {}",
                        self.name,
                        self.kind_order.join(", ")
                    ))
                }
            }
        }
        Ok(())
    }
}

/// What a cloud validates: the sections holding its keys, and the login (its key files).
#[derive(Debug)]
pub struct CloudInput<'a> {
    /// `[cloud/X]`, with empty values filled from the environment.
    pub cloud: &'a Section,
    /// `[cluster/X]` (the cloud reads only the keys it owns).
    pub cluster: &'a Section,
    /// `[login/X]`, when it is valid.
    pub login: Option<&'a Login>,
}

/// The cloud side of template validation. The configuration knows no cloud's keys: the
/// provider registry implements this, and each cloud validates the keys it owns with a
/// [`KeyChecker`], so its messages have the same `FILE:LINE: [section] key: …` form.
pub trait CloudKeys {
    /// Keys of `[cluster/X]` owned by the cloud that `cloud` selects — or by any cloud when
    /// `cloud` is `None` (the template names no usable cloud section: its keys are then not
    /// reported as unknown on top of that problem).
    fn cluster_keys(&self, cloud: Option<&Section>) -> Vec<&'static str>;
    /// Validate the cloud's keys into the settings kept in the cluster state (a table whose
    /// `provider` key names the cloud); problems go to `check`.
    fn validate(&self, input: &CloudInput<'_>, check: &mut KeyChecker) -> Option<toml::Table>;
}

/// `[login/X]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Login {
    pub image_user: String,
    /// Default `root`.
    pub image_user_sudo: String,
    /// Default true.
    pub image_sudo: bool,
    /// Default `elasticluster-key` (a name for the key pair where a cloud keeps one).
    pub user_key_name: String,
    pub user_key_private: PathBuf,
    pub user_key_public: PathBuf,
}

/// `[setup/X]` merged with the setup-related keys of `[cluster/X]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Setup {
    /// Always `ansible` for now.
    pub provider: String,
    /// A playbook file of the user's (validated readable).
    pub playbook_path: Option<PathBuf>,
    /// `playbook_path = %(ansible_pb_dir)s/REL`: REL inside the bundled playbooks.
    /// Both None means the bundled default playbook.
    pub bundled_playbook: Option<PathBuf>,
    /// `ansible_command`, shell-split. Default `["ansible-playbook"]`.
    pub ansible_command: Vec<String>,
    /// `ansible_extra_args`, shell-split, appended last.
    pub ansible_extra_args: Vec<String>,
    /// `ansible_foo = v` → `ANSIBLE_FOO=v` (not ansible_command/ansible_extra_args).
    pub ansible_env: BTreeMap<String, String>,
    /// Kind → Ansible groups (`<kind>_groups`). Kinds without groups are not in the inventory.
    pub groups: BTreeMap<String, Vec<String>>,
    /// `global_var_X`: setup section, overridden by cluster section.
    pub global_vars: BTreeMap<String, String>,
    /// Kind → `<kind>_var_X`: setup section, overridden by cluster section.
    pub kind_vars: BTreeMap<String, BTreeMap<String, String>>,
}

impl Setup {
    /// Inventory variables for nodes of `kind`: global vars overridden by kind vars.
    /// (Within each, `[cluster/X]` values override `[setup/X]` values.)
    pub fn vars_for(&self, kind: &str) -> BTreeMap<String, String> {
        let mut vars = self.global_vars.clone();
        if let Some(kv) = self.kind_vars.get(kind) {
            vars.extend(kv.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        vars
    }
}

/// One node kind (`<kind>_nodes` plus per-kind settings).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeKind {
    pub count: u32,
    /// Minimum nodes that must come up before setup (default: `count`).
    pub min: u32,
    pub image_id: String,
    pub flavor: String,
    pub security_group: Option<String>,
    pub image_userdata: Option<String>,
}
