//! The service principal's client secret: a value that never prints itself, and where to
//! find it again. The cluster state stores only the *source* (the configuration file and
//! section it was written in, the environment, or the sandbox's secret file), never the
//! secret itself, so a copied or backed-up state file gives nothing away.
//!
//! Never logs a secret; reads only the one file a source names.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::ini::Ini;

/// Environment variable ElastiCluster reads the secret from.
pub const SECRET_ENV: &str = "AZURE_CLIENT_SECRET";
/// The generic rule of empty cloud keys (`secret =` → `$SECRET`).
pub const GENERIC_SECRET_ENV: &str = "SECRET";

/// A secret value. `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The value, to put on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// The client secret as the token cache holds it: the value, or where to read it at the
/// first token request (so commands that never ask Azure — `ssh`, `list-nodes` — do not
/// need it).
#[derive(Clone, Debug)]
pub enum ClientSecret {
    Value(Secret),
    From(SecretSource),
}

impl ClientSecret {
    pub fn get(&self) -> Result<Secret, String> {
        match self {
            ClientSecret::Value(s) => Ok(s.clone()),
            ClientSecret::From(src) => src.resolve(),
        }
    }
}

impl From<Secret> for ClientSecret {
    fn from(s: Secret) -> Self {
        ClientSecret::Value(s)
    }
}

/// Where the secret comes from (what the cluster state keeps).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "from")]
pub enum SecretSource {
    /// `secret = …` in `section` of configuration file `file`; an empty value there means
    /// the environment (`$SECRET`, then `$AZURE_CLIENT_SECRET`).
    Config { file: PathBuf, section: String },
    /// `$AZURE_CLIENT_SECRET` (no `secret` key in the cloud section).
    Env,
    /// A file holding only the secret (the sandbox's generated one).
    File { path: PathBuf },
}

impl SecretSource {
    /// Read the secret now. The error says where it was looked for and what to do.
    pub fn resolve(&self) -> Result<Secret, String> {
        let found = match self {
            SecretSource::Config { file, section } => match from_config(file, section)? {
                Some(v) => Some(v),
                None => from_env(),
            },
            SecretSource::Env => from_env(),
            SecretSource::File { path } => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    format!("cannot read the client secret from {}: {e}", path.display())
                })?;
                Some(text.trim().to_string()).filter(|s| !s.is_empty())
            }
        };
        found.map(Secret).ok_or_else(|| self.missing())
    }

    fn missing(&self) -> String {
        match self {
            SecretSource::Config { file, section } => format!(
                "the client secret is empty in [{section}] of {} and ${SECRET_ENV} is not set: write it there or export {SECRET_ENV}",
                file.display()
            ),
            SecretSource::Env => format!(
                "the client secret comes from ${SECRET_ENV}, which is not set: export {SECRET_ENV} (or add `secret = …` to the cloud section)"
            ),
            SecretSource::File { path } => {
                format!("the client secret file {} is empty", path.display())
            }
        }
    }
}

fn from_env() -> Option<String> {
    [GENERIC_SECRET_ENV, SECRET_ENV]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .map(|v| v.trim().to_string())
        .find(|v| !v.is_empty())
}

/// The `secret` value of `section` in `file` (`None` when empty).
fn from_config(file: &Path, section: &str) -> Result<Option<String>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        format!(
            "cannot read the client secret from {} ([{section}] secret): {e} — restore the file, or export {SECRET_ENV}",
            file.display()
        )
    })?;
    let mut ini = Ini::new();
    let _ = ini.read_str(file, &text);
    let value = ini
        .section(section)
        .and_then(|s| s.get("secret").map(|e| e.value.trim().to_string()));
    match value {
        Some(v) if !v.is_empty() => Ok(Some(v)),
        Some(_) => Ok(None),
        None => Err(format!(
            "{} has no `secret` in [{section}] any more: restore it, or export {SECRET_ENV}",
            file.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_themselves() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn config_source_rereads_the_file() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("config");
        std::fs::write(&f, "[cloud/arm]\nprovider = azure\nsecret = s3cret\n").unwrap();
        let src = SecretSource::Config {
            file: f.clone(),
            section: "cloud/arm".into(),
        };
        assert_eq!(src.resolve().unwrap().expose(), "s3cret");
        std::fs::write(&f, "[cloud/arm]\nprovider = azure\n").unwrap();
        let e = src.resolve().unwrap_err();
        assert!(e.contains("no `secret`") && e.contains(SECRET_ENV), "{e}");
        std::fs::remove_file(&f).unwrap();
        assert!(src.resolve().unwrap_err().contains("cannot read"));
    }

    #[test]
    fn file_source_trims_and_refuses_empty() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("secret");
        std::fs::write(&f, "abc\n").unwrap();
        let src = SecretSource::File { path: f.clone() };
        assert_eq!(src.resolve().unwrap().expose(), "abc");
        std::fs::write(&f, "\n").unwrap();
        assert!(src.resolve().is_err());
    }
}
