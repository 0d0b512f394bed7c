//! A reader for ElastiCluster's INI dialect: the semantics of Python 2's
//! `ConfigParser.RawConfigParser`, plus the file and line of every value so that validation
//! can point at the exact place to fix.
//!
//! Rules (RawConfigParser):
//! - `[name]` starts a section; the name keeps its case; anything after `]` is ignored.
//!   A section repeated later (same or another file) continues the same section.
//! - `key = value` or `key: value` (split at the first `=` or `:`); keys are lower-cased and
//!   stripped, values stripped; a value of exactly `""` means empty.
//! - Lines that are empty, or whose first character is `#` or `;`, or whose first word is
//!   `rem` (any case, starting in column 0) are comments.
//! - An inline comment starts at a `;` preceded by whitespace (only in values).
//! - A line starting with whitespace continues the previous value (joined with `\n`);
//!   blank lines do not end a value.
//! - `[DEFAULT]` keys are visible in every section unless the section sets them.
//! - No `%(name)s` interpolation (that is RawConfigParser's behaviour).
//!
//! This module never validates meaning and never reads the environment; it only parses.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::diag::shown;

/// Where something came from: file and 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: Arc<Path>,
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// One `key = value` with its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub value: String,
    pub origin: Origin,
    /// True when the value comes from `[DEFAULT]` rather than the section itself.
    pub from_default: bool,
}

/// One section: name (case kept), where it was first declared, entries in first-seen order
/// (indexed by key, so reading and merging stay linear in the file's size).
#[derive(Debug, Clone)]
pub struct Section {
    pub name: String,
    pub origin: Origin,
    entries: Vec<(String, Entry)>,
    index: HashMap<String, usize>,
}

impl Section {
    fn new(name: &str, origin: Origin) -> Self {
        Section {
            name: name.to_string(),
            origin,
            entries: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// Set `key` (lower-case) to `entry`, keeping its position if it exists.
    pub(crate) fn set(&mut self, key: String, entry: Entry) {
        match self.index.get(&key) {
            Some(&i) => self.entries[i].1 = entry,
            None => {
                self.index.insert(key.clone(), self.entries.len());
                self.entries.push((key, entry));
            }
        }
    }

    /// The entry for `key` (already lower-case), if present.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.index.get(key).map(|&i| &self.entries[i].1)
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut Entry> {
        self.index.get(key).map(|&i| &mut self.entries[i].1)
    }

    /// Entries in the order they first appeared.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries.iter().map(|(k, e)| (k.as_str(), e))
    }
}

/// A syntax problem in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub origin: Origin,
    pub message: String,
}

/// All files read so far, merged.
#[derive(Debug, Clone)]
pub struct Ini {
    defaults: Section,
    sections: Vec<Section>,
    /// Section name → index in `sections` (sorted, for prefix queries).
    by_name: BTreeMap<String, usize>,
}

impl Default for Ini {
    fn default() -> Self {
        Ini {
            defaults: Section::new(
                "DEFAULT",
                Origin {
                    file: Arc::from(Path::new("")),
                    line: 0,
                },
            ),
            sections: Vec::new(),
            by_name: BTreeMap::new(),
        }
    }
}

impl Ini {
    pub fn new() -> Self {
        Self::default()
    }

    /// Set `key = value` in `[section]` as given by command-line `option` (its origin names
    /// the option, line 0). No-op when the section does not exist.
    pub fn set_value(&mut self, section: &str, key: &str, value: &str, option: &str) {
        if let Some(&i) = self.by_name.get(section) {
            let origin = Origin {
                file: Arc::from(Path::new(option)),
                line: 0,
            };
            self.sections[i].set(
                key.to_lowercase(),
                Entry {
                    value: value.to_string(),
                    origin,
                    from_default: false,
                },
            );
        }
    }

    /// Parse `text` as the content of `file` and merge it in (later values win).
    /// Syntax errors are returned, the parsable rest is still merged.
    pub fn read_str(&mut self, file: &Path, text: &str) -> Vec<SyntaxError> {
        let file: Arc<Path> = Arc::from(file);
        let mut errors = Vec::new();
        // Current section: None = before any header; Some(None) = DEFAULT; Some(Some(i)).
        let mut current: Option<Option<usize>> = None;
        // The key whose value a continuation line extends.
        let mut last_key: Option<String> = None;

        for (idx, raw) in text.lines().enumerate() {
            let line_no = idx + 1;
            let origin = Origin {
                file: file.clone(),
                line: line_no,
            };
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            let trimmed = line.trim();
            if trimmed.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if (line.starts_with('r') || line.starts_with('R'))
                && line
                    .split_whitespace()
                    .next()
                    .is_some_and(|w| w.eq_ignore_ascii_case("rem"))
            {
                continue;
            }
            let first = line.chars().next().unwrap_or(' ');
            if first.is_whitespace() {
                if let (Some(section), Some(key)) = (current, last_key.as_ref()) {
                    let entry = match section {
                        None => self.defaults.get_mut(key),
                        Some(i) => self.sections[i].get_mut(key),
                    };
                    if let Some(entry) = entry {
                        entry.value.push('\n');
                        entry.value.push_str(trimmed);
                    }
                    continue;
                }
                errors.push(SyntaxError {
                    origin,
                    message: format!(
                        "indented line {} continues no value — remove the indentation or put it under a `key = value` line",
                        shown(trimmed)
                    ),
                });
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                if let Some(end) = rest.find(']').filter(|&e| e > 0) {
                    let name = &rest[..end];
                    last_key = None;
                    if name == "DEFAULT" {
                        current = Some(None);
                    } else {
                        let pos = match self.by_name.get(name) {
                            Some(&p) => p,
                            None => {
                                self.sections.push(Section::new(name, origin.clone()));
                                let p = self.sections.len() - 1;
                                self.by_name.insert(name.to_string(), p);
                                p
                            }
                        };
                        current = Some(Some(pos));
                    }
                    continue;
                }
                errors.push(SyntaxError {
                    origin,
                    message: format!(
                        "{} is not a section header — write it as `[kind/name]`",
                        shown(trimmed)
                    ),
                });
                continue;
            }
            let Some(sep) = line.find(['=', ':']) else {
                errors.push(SyntaxError {
                    origin,
                    message: format!(
                        "{} is not a `key = value` line — add `= value` or comment it out with `#`",
                        shown(trimmed)
                    ),
                });
                last_key = None;
                continue;
            };
            let key = line[..sep].trim().to_lowercase();
            if key.is_empty() {
                errors.push(SyntaxError {
                    origin,
                    message: format!(
                        "{} has no key before `{}` — write `key = value`",
                        shown(trimmed),
                        &line[sep..sep + 1]
                    ),
                });
                last_key = None;
                continue;
            }
            let mut value = &line[sep + 1..];
            if let Some(pos) = inline_comment_start(value) {
                value = &value[..pos];
            }
            let mut value = value.trim().to_string();
            if value == "\"\"" {
                value.clear();
            }
            let Some(section) = current else {
                errors.push(SyntaxError {
                    origin,
                    message: format!(
                        "{} appears before any section header — put it under a section such as `[cluster/NAME]`",
                        shown(&key)
                    ),
                });
                continue;
            };
            let entry = Entry {
                value,
                origin,
                from_default: section.is_none(),
            };
            match section {
                None => self.defaults.set(key.clone(), entry),
                Some(i) => self.sections[i].set(key.clone(), entry),
            }
            last_key = Some(key);
        }
        errors
    }

    /// Section names in first-seen order (DEFAULT excluded).
    pub fn section_names(&self) -> impl Iterator<Item = &str> {
        self.sections.iter().map(|s| s.name.as_str())
    }

    /// A section with `[DEFAULT]` merged in (section values win), or None.
    pub fn section(&self, name: &str) -> Option<Section> {
        let own = &self.sections[*self.by_name.get(name)?];
        let mut merged = own.clone();
        for (k, e) in &self.defaults.entries {
            if merged.get(k).is_none() {
                merged.set(k.clone(), e.clone());
            }
        }
        Some(merged)
    }

    /// Whether `[name]` exists.
    pub fn has_section(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// The raw sections whose names start with `prefix`, in name order.
    pub fn sections_with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = &'a Section> + 'a {
        self.by_name
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(move |(n, _)| n.starts_with(prefix))
            .map(|(_, &i)| &self.sections[i])
    }

    /// The raw sections without DEFAULT merging.
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }
}

/// Byte offset of an inline comment: a `;` preceded by whitespace.
fn inline_comment_start(value: &str) -> Option<usize> {
    let bytes = value.as_bytes();
    (1..bytes.len()).find(|&i| bytes[i] == b';' && bytes[i - 1].is_ascii_whitespace())
}

/// Resolve `file` and `file.d/*.conf` (sorted by file name) into the list of files to read.
/// Files that don't exist are skipped; the caller decides whether an empty list is an error.
pub fn config_files(path: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if path.is_file() {
        files.push(path.to_path_buf());
    }
    let mut dir = path.as_os_str().to_owned();
    dir.push(".d");
    let dir = PathBuf::from(dir);
    if let Ok(read) = std::fs::read_dir(&dir) {
        let mut extra: Vec<PathBuf> = read
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "conf") && p.is_file())
            .collect();
        extra.sort();
        files.extend(extra);
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Ini, Vec<SyntaxError>) {
        let mut ini = Ini::new();
        let errs = ini.read_str(Path::new("t.conf"), text);
        (ini, errs)
    }

    fn val(ini: &Ini, s: &str, k: &str) -> Option<String> {
        ini.section(s)?.get(k).map(|e| e.value.clone())
    }

    #[test]
    fn python_semantics() {
        let text = "\
# comment
; another
[DEFAULT]
base = /opt

[cloud/Mine]
Key: value
inline = value ; inline comment
nocomment = a;b
multi = line1
   line2

   line3
empty =
quoted = \"\"
REM this is a comment
[cloud/Mine]
later = yes
";
        let (ini, errs) = parse(text);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(val(&ini, "cloud/Mine", "key").as_deref(), Some("value"));
        assert_eq!(val(&ini, "cloud/Mine", "inline").as_deref(), Some("value"));
        assert_eq!(val(&ini, "cloud/Mine", "nocomment").as_deref(), Some("a;b"));
        assert_eq!(
            val(&ini, "cloud/Mine", "multi").as_deref(),
            Some("line1\nline2\nline3")
        );
        assert_eq!(val(&ini, "cloud/Mine", "empty").as_deref(), Some(""));
        assert_eq!(val(&ini, "cloud/Mine", "quoted").as_deref(), Some(""));
        assert_eq!(val(&ini, "cloud/Mine", "base").as_deref(), Some("/opt"));
        assert_eq!(val(&ini, "cloud/Mine", "later").as_deref(), Some("yes"));
        assert!(ini.section("cloud/mine").is_none());
        let s = ini.section("cloud/Mine").unwrap();
        assert_eq!(s.get("inline").unwrap().origin.line, 8);
        assert!(s.get("base").unwrap().from_default);
    }

    #[test]
    fn syntax_errors_have_lines() {
        let (_, errs) = parse("orphan = 1\n[s]\njust words\n  \n[broken\n");
        let lines: Vec<usize> = errs.iter().map(|e| e.origin.line).collect();
        assert_eq!(lines, vec![1, 3, 5]);
    }

    #[test]
    fn later_file_wins() {
        let mut ini = Ini::new();
        ini.read_str(Path::new("a"), "[s]\nk = 1\nj = 1\n");
        ini.read_str(Path::new("b"), "[s]\nk = 2\n");
        assert_eq!(val(&ini, "s", "k").as_deref(), Some("2"));
        assert_eq!(val(&ini, "s", "j").as_deref(), Some("1"));
        let s = ini.section("s").unwrap();
        assert_eq!(&*s.get("k").unwrap().origin.file, Path::new("b"));
    }
}
