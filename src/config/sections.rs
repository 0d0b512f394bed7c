//! The file-level shape check: every section is of a known kind (`cloud/`, `login/`,
//! `setup/`, `cluster/`, `[storage]`) with a valid name. Runs when the files are loaded, so a
//! typo in a section name is reported whatever template is used.

use super::diag::{closest, shown};
use super::ini::Ini;
use super::{Diagnostic, Diagnostics};
use crate::naming::validate_kind;

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
                        } else if !ini.has_section(&format!("cluster/{t}")) {
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
                d.push(bad(format!("unknown section kind {}", shown(kind)), hint));
            }
        }
    }
}
