//! Which node `ssh`/`sftp` go to: an explicit `-n NODE`, else `ssh_to` as a node name, then as
//! a kind, then the kinds `ssh`, `login`, `frontend`, `master`, then the first node by name.
//!
//! Pure selection logic; never connects anywhere.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccessError {
    #[error("the cluster has no nodes")]
    NoNodes,
    #[error("node `{0}` is not in the cluster (nodes: {1})")]
    UnknownNode(String, String),
}

/// `nodes` are `(name, kind)` pairs. Returns the chosen node's name.
pub fn choose_node<'a>(
    nodes: &'a [(String, String)],
    explicit: Option<&str>,
    ssh_to: Option<&str>,
) -> Result<&'a str, AccessError> {
    if nodes.is_empty() {
        return Err(AccessError::NoNodes);
    }
    if let Some(n) = explicit {
        return nodes
            .iter()
            .find(|(name, _)| name == n)
            .map(|(name, _)| name.as_str())
            .ok_or_else(|| {
                AccessError::UnknownNode(
                    n.to_string(),
                    nodes
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            });
    }
    let first_of_kind = |k: &str| {
        let mut of: Vec<&str> = nodes
            .iter()
            .filter(|(_, kind)| kind == k)
            .map(|(n, _)| n.as_str())
            .collect();
        of.sort();
        of.first().copied()
    };
    if let Some(t) = ssh_to.filter(|t| !t.is_empty()) {
        if let Some((name, _)) = nodes.iter().find(|(name, _)| name == t) {
            return Ok(name);
        }
        if let Some(n) = first_of_kind(t) {
            return Ok(n);
        }
        tracing::warn!(
            "ssh_to = {t} names no node and no kind with nodes; using the default choice"
        );
    }
    for k in ["ssh", "login", "frontend", "master"] {
        if let Some(n) = first_of_kind(k) {
            return Ok(n);
        }
    }
    let mut all: Vec<&str> = nodes.iter().map(|(n, _)| n.as_str()).collect();
    all.sort();
    all.first().copied().ok_or(AccessError::NoNodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns() -> Vec<(String, String)> {
        [
            ("compute001", "compute"),
            ("compute002", "compute"),
            ("frontend001", "frontend"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
    }

    #[test]
    fn choice_order() {
        let n = ns();
        assert_eq!(choose_node(&n, None, None).unwrap(), "frontend001");
        assert_eq!(
            choose_node(&n, None, Some("compute")).unwrap(),
            "compute001"
        );
        assert_eq!(
            choose_node(&n, None, Some("compute002")).unwrap(),
            "compute002"
        );
        assert_eq!(
            choose_node(&n, None, Some("nosuch")).unwrap(),
            "frontend001"
        );
        assert_eq!(
            choose_node(&n, Some("compute002"), Some("frontend")).unwrap(),
            "compute002"
        );
        assert!(matches!(
            choose_node(&n, Some("x"), None),
            Err(AccessError::UnknownNode(..))
        ));
        let only = vec![
            ("worker002".to_string(), "worker".to_string()),
            ("worker001".to_string(), "worker".to_string()),
        ];
        assert_eq!(choose_node(&only, None, None).unwrap(), "worker001");
        assert_eq!(choose_node(&[], None, None), Err(AccessError::NoNodes));
    }
}
