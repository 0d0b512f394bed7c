//! The Debian archives this host's apt is configured with (`/etc/apt/sources.list` and
//! `/etc/apt/sources.list.d/*.{list,sources}`): images are built from them and the package
//! cache serves them, so neither reaches any other server. It only reads those files.

use std::fs;
use std::path::PathBuf;

use super::super::VmError;

/// Debian archive URLs configured on this host (main archive, security archive).
pub fn host_archive(suite: &str) -> Result<(String, Option<String>), VmError> {
    let mut entries: Vec<(String, Vec<String>)> = Vec::new(); // (uri, suites)
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<PathBuf> = dir.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            let Ok(text) = fs::read_to_string(&p) else {
                continue;
            };
            if p.extension().is_some_and(|e| e == "sources") {
                entries.extend(parse_deb822(&text));
            } else if p.extension().is_some_and(|e| e == "list") {
                entries.extend(parse_one_line(&text));
            }
        }
    }
    if let Ok(text) = fs::read_to_string("/etc/apt/sources.list") {
        entries.extend(parse_one_line(&text));
    }
    let find = |want: &str| {
        entries
            .iter()
            .find(|(_, suites)| suites.iter().any(|s| s == want))
            .map(|(u, _)| u.trim_end_matches('/').to_string())
    };
    let main = find(suite).ok_or_else(|| {
        VmError::Prerequisite(format!(
            "no Debian archive for `{suite}` in the host's apt sources \
             (/etc/apt/sources.list, /etc/apt/sources.list.d/); add one"
        ))
    })?;
    Ok((main, find(&format!("{suite}-security"))))
}

/// Every archive URL the recipes' suites use on this host (what the package cache serves).
pub fn host_archives() -> Result<Vec<String>, VmError> {
    let mut out: Vec<String> = Vec::new();
    for r in super::image::RECIPES {
        let (main, security) = host_archive(r.conf("suite").unwrap_or("bookworm"))?;
        for url in std::iter::once(main).chain(security) {
            if !out.contains(&url) {
                out.push(url);
            }
        }
    }
    Ok(out)
}

fn parse_deb822(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut types = String::new();
        let mut uris = String::new();
        let mut suites = String::new();
        let mut enabled = true;
        for line in block.lines() {
            if line.starts_with('#') {
                continue;
            }
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            match k.trim().to_ascii_lowercase().as_str() {
                "types" => types = v.trim().to_string(),
                "uris" => uris = v.trim().to_string(),
                "suites" => suites = v.trim().to_string(),
                "enabled" => enabled = v.trim() != "no",
                _ => {}
            }
        }
        if enabled && types.split_whitespace().any(|t| t == "deb") {
            for uri in uris.split_whitespace() {
                out.push((
                    uri.to_string(),
                    suites.split_whitespace().map(String::from).collect(),
                ));
            }
        }
    }
    out
}

fn parse_one_line(text: &str) -> Vec<(String, Vec<String>)> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix("deb ")?;
            let rest = rest.trim_start();
            let rest = if rest.starts_with('[') {
                rest.split_once(']')?.1
            } else {
                rest
            };
            let mut it = rest.split_whitespace();
            Some((it.next()?.to_string(), vec![it.next()?.to_string()]))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_deb822_and_one_line_sources() {
        let d = parse_deb822(
            "Types: deb\nURIs: http://a/debian\nSuites: bookworm bookworm-updates\n\n\
             Types: deb\nURIs: http://a/debian-security\nSuites: bookworm-security\n",
        );
        assert_eq!(d[0].0, "http://a/debian");
        assert_eq!(d[1].1, vec!["bookworm-security".to_string()]);
        let l = parse_one_line("# x\ndeb [arch=amd64] http://b/debian bookworm main\n");
        assert_eq!(
            l,
            vec![("http://b/debian".to_string(), vec!["bookworm".to_string()])]
        );
    }
}
