//! Value conversions used by validation: booleans, counts, paths (`$VAR`, `~`), key-file checks.
//! Pure functions except for reading the environment and file metadata.

use std::path::{Path, PathBuf};

/// ElastiCluster booleans: 1/true/yes/on/enable and 0/false/no/off/disable, any case.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" | "enable" => Some(true),
        "0" | "false" | "no" | "off" | "disable" => Some(false),
        _ => None,
    }
}

/// A whole non-negative number made of digits only.
pub(crate) fn parse_count(s: &str) -> Option<u32> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Expand `$VAR` / `${VAR}` (unknown variables are left as written, like Python's
/// `os.path.expandvars`), then a leading `~` (like `expanduser`). A relative result is taken
/// relative to `base` (the directory of the config file that set it).
pub fn expand_path(value: &str, base: Option<&Path>) -> PathBuf {
    let expanded = expand_vars(value.trim());
    let expanded = if expanded == "~" || expanded.starts_with("~/") {
        match std::env::var_os("HOME") {
            Some(home) => {
                let mut p = PathBuf::from(home);
                if expanded.len() > 2 {
                    p.push(&expanded[2..]);
                }
                p
            }
            None => PathBuf::from(expanded),
        }
    } else {
        PathBuf::from(expanded)
    };
    match base {
        Some(b) if expanded.is_relative() => b.join(expanded),
        _ => expanded,
    }
}

fn expand_vars(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let (name, consumed) = if let Some(inner) = after.strip_prefix('{') {
            match inner.find('}') {
                Some(end) => (&inner[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        match (name.is_empty(), std::env::var(name)) {
            (false, Ok(v)) => out.push_str(&v),
            _ => out.push_str(&rest[pos..pos + 1 + consumed]),
        }
        rest = &after[consumed..];
    }
    out.push_str(rest);
    out
}

/// Check that `path` is a readable regular file; with `private`, also that group and others
/// have no access (OpenSSH's rule for private keys). Err is "what is wrong — what to do".
pub(crate) fn check_file(path: &Path, private: bool) -> Result<(), (String, String)> {
    use std::os::unix::fs::PermissionsExt;
    let full = path.display();
    let shown = super::diag::clip(&full.to_string());
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err((
                format!("file `{shown}` does not exist"),
                "fix the path or create the file".into(),
            ))
        }
        Err(e) => {
            return Err((
                format!("cannot access `{shown}`: {e}"),
                "check the path and its permissions".into(),
            ))
        }
    };
    if !meta.is_file() {
        return Err((
            format!("`{shown}` is not a regular file"),
            "point it at a file".into(),
        ));
    }
    if let Err(e) = std::fs::File::open(path) {
        return Err((
            format!("cannot read `{shown}`: {e}"),
            format!("make it readable by you (chmod u+r {full})"),
        ));
    }
    let mode = meta.permissions().mode() & 0o777;
    if private && mode & 0o077 != 0 {
        return Err((
            format!(
                "`{shown}` holds a private key but is accessible by group/others (mode {mode:04o}); ssh refuses such keys"
            ),
            format!("run `chmod 600 {full}`"),
        ));
    }
    Ok(())
}

/// [`check_file`] for callers outside the configuration (a stored cluster's key files).
pub fn check_key_file(path: &Path, private: bool) -> Result<(), (String, String)> {
    check_file(path, private)
}

/// True if `path` is a regular file executable by someone.
pub(crate) fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// True if the value still holds a `****REPLACE …****` placeholder of the sample config.
pub(crate) fn is_placeholder(s: &str) -> bool {
    s.contains("***")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bools() {
        assert_eq!(parse_bool("True"), Some(true));
        assert_eq!(parse_bool("enable"), Some(true));
        assert_eq!(parse_bool("OFF"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count("2"), Some(2));
        assert_eq!(parse_count("two"), None);
        assert_eq!(parse_count("-1"), None);
        assert_eq!(parse_count("1.5"), None);
    }

    #[test]
    fn paths() {
        // SAFETY-free: test-only env var with a unique name.
        std::env::set_var("EC_TEST_EXPAND_DIR", "/data");
        assert_eq!(
            expand_path("$EC_TEST_EXPAND_DIR/k", None),
            PathBuf::from("/data/k")
        );
        assert_eq!(
            expand_path("${EC_TEST_EXPAND_DIR}/k", None),
            PathBuf::from("/data/k")
        );
        assert_eq!(
            expand_path("$EC_TEST_UNSET_XYZ/k", None),
            PathBuf::from("$EC_TEST_UNSET_XYZ/k")
        );
        assert_eq!(
            expand_path("keys/id", Some(Path::new("/etc/ec"))),
            PathBuf::from("/etc/ec/keys/id")
        );
        if let Some(home) = std::env::var_os("HOME") {
            assert_eq!(expand_path("~/x", None), PathBuf::from(home).join("x"));
        }
    }
}
