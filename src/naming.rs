//! Node-kind names and node names (`frontend001`, `compute002`, …).
//!
//! One rule for kind names, used both by the config validator and when naming nodes
//! (ElastiCluster had two different rules and accepted kinds it later could not name).
//! A kind is: a lowercase letter, then lowercase letters, digits or `-`, not ending in a digit
//! or `-` — so that `<kind><index:03>` parses back unambiguously and is a valid host name.
//! This module never touches files or the network.

use std::collections::BTreeSet;

/// Why a kind name is not acceptable (the message says what to do).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("node kind `{kind}` is invalid: {reason}")]
pub struct KindError {
    pub kind: String,
    pub reason: &'static str,
}

/// Check a node-kind name against the one rule.
pub fn validate_kind(kind: &str) -> Result<(), KindError> {
    let err = |reason| {
        Err(KindError {
            kind: kind.to_string(),
            reason,
        })
    };
    let Some(first) = kind.chars().next() else {
        return err("it is empty");
    };
    if kind.len() > 40 {
        return err("it is longer than 40 characters");
    }
    if !kind
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return err("only lowercase letters, digits and `-` are allowed (no `_`)");
    }
    if !first.is_ascii_lowercase() {
        return err("it must start with a lowercase letter");
    }
    if kind.ends_with(|c: char| c.is_ascii_digit() || c == '-') {
        return err("it must not end with a digit or `-`");
    }
    Ok(())
}

/// `compute`, 2 → `compute002`.
pub fn node_name(kind: &str, index: u32) -> String {
    format!("{kind}{index:03}")
}

/// `compute002` → (`compute`, 2). None if the name does not have the kind+index shape.
pub fn parse_node_name(name: &str) -> Option<(&str, u32)> {
    let split = name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if split == 0 || split == name.len() {
        return None;
    }
    let (kind, digits) = name.split_at(split);
    validate_kind(kind).ok()?;
    Some((kind, digits.parse().ok()?))
}

/// Hands out node names per kind: freed indices are reused lowest first, otherwise the next
/// index after the highest in use. Indices start at 1. Deterministic (unlike the original's
/// `set.pop()`).
#[derive(Debug, Clone, Default)]
pub struct NodeNamer {
    used: std::collections::BTreeMap<String, BTreeSet<u32>>,
    /// Per kind, an index below which every index is taken (so `next` does not scan from
    /// 1 each time: naming n nodes costs n·log n, not n²).
    lowest_free: std::collections::BTreeMap<String, u32>,
}

impl NodeNamer {
    pub fn new() -> Self {
        Self::default()
    }

    /// A namer that knows `names` are taken (names not of kind+index shape are ignored).
    pub fn with_used<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut namer = Self::new();
        for n in names {
            namer.mark_used(n);
        }
        namer
    }

    /// Record `name` as taken.
    pub fn mark_used(&mut self, name: &str) {
        if let Some((kind, idx)) = parse_node_name(name) {
            self.used.entry(kind.to_string()).or_default().insert(idx);
        }
    }

    /// Release `name` so its index can be reused.
    pub fn free(&mut self, name: &str) {
        if let Some((kind, idx)) = parse_node_name(name) {
            if let Some(set) = self.used.get_mut(kind) {
                set.remove(&idx);
            }
            if let Some(low) = self.lowest_free.get_mut(kind) {
                *low = (*low).min(idx);
            }
        }
    }

    /// The next free name for `kind` (and mark it used).
    pub fn next(&mut self, kind: &str) -> String {
        let set = self.used.entry(kind.to_string()).or_default();
        let low = self.lowest_free.entry(kind.to_string()).or_insert(1);
        let idx = (*low..).find(|i| !set.contains(i)).unwrap_or(1);
        set.insert(idx);
        *low = idx.saturating_add(1);
        node_name(kind, idx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_rule() {
        for ok in ["frontend", "compute", "gpu-node", "x", "a1b"] {
            assert!(validate_kind(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Compute", "gpu_node", "node2", "-x", "1st", "x-", "a b"] {
            assert!(validate_kind(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(node_name("frontend", 1), "frontend001");
        assert_eq!(node_name("compute", 1234), "compute1234");
        assert_eq!(parse_node_name("compute002"), Some(("compute", 2)));
        assert_eq!(parse_node_name("a1b007"), Some(("a1b", 7)));
        assert_eq!(parse_node_name("compute"), None);
        assert_eq!(parse_node_name("007"), None);
    }

    #[test]
    fn namer_reuses_lowest_free_index() {
        let mut n = NodeNamer::with_used(["compute001", "compute002", "compute003"]);
        n.free("compute002");
        n.free("compute001");
        assert_eq!(n.next("compute"), "compute001");
        assert_eq!(n.next("compute"), "compute002");
        assert_eq!(n.next("compute"), "compute004");
        assert_eq!(n.next("frontend"), "frontend001");
    }
}
