//! `KeyChecker`: typed reading of one INI section's values, each problem recorded as a
//! [`Diagnostic`] (`FILE:LINE: [section] key: what — what to do`) instead of failing at the
//! first one. Used by the template validator and by every cloud provider for the keys it owns,
//! so all configuration messages have one form.
//!
//! Never reads anything but the files a value names (to check they are usable).

use std::path::{Path, PathBuf};

use super::diag::{closest, shown, Diagnostic, Diagnostics, SHOWN_PROBLEMS};
use super::ini::{Entry, Origin, Section};
use super::values::{check_file, expand_path, is_placeholder, parse_bool, parse_count};

/// Collects the problems of the values it reads.
#[derive(Debug)]
pub struct KeyChecker<'d> {
    diags: &'d mut Diagnostics,
}

/// The directory relative paths in `e` are resolved against (its file's directory).
pub fn base_dir(e: &Entry) -> Option<&Path> {
    e.origin.file.parent()
}

impl<'d> KeyChecker<'d> {
    pub fn new(diags: &'d mut Diagnostics) -> Self {
        KeyChecker { diags }
    }

    /// Problems recorded so far (by anyone): compare before and after a group of checks.
    pub fn count(&self) -> usize {
        self.diags.len()
    }

    /// Record a problem at `origin`.
    pub fn push(
        &mut self,
        origin: &Origin,
        section: &str,
        key: Option<&str>,
        problem: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.diags
            .push(Diagnostic::at(origin, section, key, problem, hint));
    }

    /// Record that `key` is missing from `s`.
    pub fn missing(&mut self, s: &Section, key: &str, hint: impl Into<String>) {
        self.push(&s.origin, &s.name, Some(key), "missing", hint);
    }

    /// Non-empty value of `key`, or a "missing"/"is empty" problem.
    pub fn required(&mut self, s: &Section, key: &str, hint: &str) -> Option<Entry> {
        match s.get(key) {
            Some(e) if !e.value.trim().is_empty() => Some(e.clone()),
            Some(e) => {
                let origin = e.origin.clone();
                self.push(&origin, &s.name, Some(key), "is empty", hint.to_string());
                None
            }
            None => {
                self.missing(s, key, hint.to_string());
                None
            }
        }
    }

    /// Non-empty value of `key`, if given.
    pub fn optional(&self, s: &Section, key: &str) -> Option<Entry> {
        s.get(key).filter(|e| !e.value.trim().is_empty()).cloned()
    }

    /// False (and a problem) when `e` still holds a sample-config placeholder.
    pub fn no_placeholder(&mut self, s: &Section, key: &str, e: &Entry, what: &str) -> bool {
        if is_placeholder(&e.value) {
            self.push(
                &e.origin,
                &s.name,
                Some(key),
                format!("still holds the sample placeholder {}", shown(&e.value)),
                format!("replace it with {what}"),
            );
            false
        } else {
            true
        }
    }

    /// A problem for every key of `s` that is neither in `allowed` nor accepted by
    /// `pattern_ok` (values inherited from `[DEFAULT]` are never unknown).
    pub fn unknown_keys(
        &mut self,
        s: &Section,
        allowed: &[&str],
        mut pattern_ok: impl FnMut(&str) -> bool,
    ) {
        for (k, e) in s.entries() {
            if e.from_default || allowed.contains(&k) || pattern_ok(k) {
                continue;
            }
            // Hints of problems nobody will see are not worth their cost.
            let hint = if self.diags.len() >= SHOWN_PROBLEMS {
                String::new()
            } else {
                match closest(k, allowed.iter().copied()) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => format!("allowed keys: {}", allowed.join(", ")),
                }
            };
            self.push(&e.origin, &s.name, Some(k), "unknown key", hint);
        }
    }

    /// `yes`/`no` (and the other spellings ConfigParser accepts); `default` when absent.
    pub fn boolean(&mut self, s: &Section, key: &str, default: bool) -> bool {
        let Some(e) = s.get(key) else {
            return default;
        };
        match parse_bool(&e.value) {
            Some(b) => b,
            None => {
                let e = e.clone();
                self.push(
                    &e.origin,
                    &s.name,
                    Some(key),
                    format!("{} is not a boolean", shown(&e.value)),
                    "write yes or no",
                );
                default
            }
        }
    }

    /// Optional positive whole number (at most 10^9).
    pub fn positive(&mut self, s: &Section, key: &str) -> Option<u64> {
        let e = s.get(key)?.clone();
        match parse_count(&e.value) {
            Some(n) if (1..=1_000_000_000).contains(&n) => Some(u64::from(n)),
            _ => {
                self.push(
                    &e.origin,
                    &s.name,
                    Some(key),
                    format!("{} is not a whole number above 0", shown(&e.value)),
                    format!("write e.g. `{key} = 600`, or remove the key for the default"),
                );
                None
            }
        }
    }

    /// An `https://` URL without a trailing `/`; `default` when absent.
    pub fn https_url(&mut self, s: &Section, key: &str, default: &str) -> String {
        let Some(e) = s.get(key).cloned() else {
            return default.to_string();
        };
        let url = e.value.trim().trim_end_matches('/').to_string();
        let host_ok = url
            .strip_prefix("https://")
            .is_some_and(|h| !h.is_empty() && !h.contains(char::is_whitespace));
        if !host_ok {
            self.push(
                &e.origin,
                &s.name,
                Some(key),
                format!("{} is not an https:// URL", shown(&e.value)),
                format!("write e.g. {default}, or remove the key"),
            );
        }
        url
    }

    /// Expand a path value (`~`, `$VAR`, relative to its file) and check the file is usable.
    /// `private`: OpenSSH's rule applies (not readable by group or others).
    pub fn file(
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
}
