//! `subscription_file`: extra subscriptions, one per line
//! `subscription_id=<id> certificate=<path>` (the original's format). Blank lines and `#`
//! comments are allowed; every malformed line is reported with its number.
//!
//! Only parses; never opens the certificates (the transport does, with clear errors).

use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionLine {
    pub id: String,
    pub certificate: PathBuf,
}

fn expand_tilde(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

/// Parse the file's text; relative certificate paths are relative to the file's directory.
pub fn parse_subscription_file(path: &Path, text: &str) -> Result<Vec<SubscriptionLine>, String> {
    let base = path.parent().unwrap_or(Path::new("."));
    let mut out: Vec<SubscriptionLine> = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parsed = line.strip_prefix("subscription_id=").and_then(|rest| {
            let (id, tail) = rest.split_once(char::is_whitespace)?;
            let cert = tail.trim().strip_prefix("certificate=")?.trim();
            (!id.is_empty() && !cert.is_empty()).then(|| (id.to_string(), cert.to_string()))
        });
        match parsed {
            Some((id, cert)) => {
                if out.iter().any(|s| s.id.eq_ignore_ascii_case(&id)) {
                    continue; // duplicates are ignored, as in the original
                }
                let p = expand_tilde(&cert);
                let certificate = if p.is_absolute() { p } else { base.join(p) };
                out.push(SubscriptionLine { id, certificate });
            }
            None => errors.push(format!(
                "{}:{}: expected `subscription_id=<id> certificate=<path>`, got `{line}`",
                path.display(),
                i + 1
            )),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines_skips_comments_and_duplicates_reports_bad_lines() {
        let p = Path::new("/etc/ec/subs.txt");
        let ok = parse_subscription_file(
            p,
            "# extra subscriptions\nsubscription_id=aaa certificate=/k/a.pem\n\nsubscription_id=bbb   certificate=b.pem\nsubscription_id=AAA certificate=/k/dup.pem\n",
        )
        .unwrap();
        assert_eq!(
            ok,
            vec![
                SubscriptionLine {
                    id: "aaa".into(),
                    certificate: "/k/a.pem".into()
                },
                SubscriptionLine {
                    id: "bbb".into(),
                    certificate: "/etc/ec/b.pem".into()
                },
            ]
        );
        let e = parse_subscription_file(
            p,
            "subscription_id=aaa\nsubscription_id=x certificate=/y\nbogus\n",
        )
        .unwrap_err();
        assert!(
            e.contains("subs.txt:1:") && e.contains("subs.txt:3:") && !e.contains("subs.txt:2:"),
            "{e}"
        );
    }
}
