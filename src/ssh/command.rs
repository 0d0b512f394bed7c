//! OpenSSH command lines for `elasticluster ssh` and `sftp`: key, port, the cluster's
//! known_hosts and strict host-key checking, always.
//!
//! Builds argument vectors only; never runs anything and never uses a shell.

use std::path::PathBuf;

/// Where and as whom to connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshTarget {
    pub user: String,
    pub host: String,
    pub port: u16,
    pub private_key: PathBuf,
    pub known_hosts: PathBuf,
    /// Optional `ProxyCommand`.
    pub proxy_command: Option<String>,
}

fn common_opts(t: &SshTarget) -> Vec<String> {
    let mut v = vec![
        "-i".to_string(),
        t.private_key.display().to_string(),
        "-o".to_string(),
        format!("UserKnownHostsFile={}", t.known_hosts.display()),
        "-o".to_string(),
        "StrictHostKeyChecking=yes".to_string(),
        "-o".to_string(),
        "IdentitiesOnly=yes".to_string(),
    ];
    if let Some(p) = &t.proxy_command {
        v.push("-o".into());
        v.push(format!("ProxyCommand={p}"));
    }
    v
}

/// `program` is `ssh` or `sftp`; returns the full argv (program first).
pub fn ssh_command(program: &str, t: &SshTarget, extra: &[String]) -> Vec<String> {
    let mut v = vec![program.to_string()];
    v.extend(common_opts(t));
    if program == "sftp" {
        v.push("-P".into());
    } else {
        v.push("-p".into());
    }
    v.push(t.port.to_string());
    if program == "sftp" {
        v.extend(extra.iter().cloned());
        v.push(format!("{}@{}", t.user, t.host));
    } else {
        // `--` before the destination: nothing after it is read as an ssh option
        // (OpenSSH re-parses options after the host otherwise).
        v.push("--".into());
        v.push(format!("{}@{}", t.user, t.host));
        v.extend(extra.iter().cloned());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> SshTarget {
        SshTarget {
            user: "clusteruser".into(),
            host: "127.0.0.5".into(),
            port: 1223,
            private_key: "/k/id_rsa".into(),
            known_hosts: "/s/c.known_hosts".into(),
            proxy_command: None,
        }
    }

    #[test]
    fn ssh_uses_p_and_strict_checking() {
        let v = ssh_command("ssh", &t(), &["hostname".into()]);
        assert_eq!(v[0], "ssh");
        assert!(v.windows(2).any(|w| w == ["-p", "1223"]));
        assert!(v.contains(&"StrictHostKeyChecking=yes".to_string()));
        assert!(v.contains(&"UserKnownHostsFile=/s/c.known_hosts".to_string()));
        assert!(v.windows(2).any(|w| w == ["-i", "/k/id_rsa"]));
        assert_eq!(
            &v[v.len() - 3..],
            ["--", "clusteruser@127.0.0.5", "hostname"]
        );
    }

    #[test]
    fn sftp_uses_capital_p_and_no_colon_port() {
        let v = ssh_command("sftp", &t(), &[]);
        assert!(v.windows(2).any(|w| w == ["-P", "1223"]));
        assert_eq!(v.last().unwrap(), "clusteruser@127.0.0.5");
        assert!(!v.iter().any(|a| a.contains(":1223")));
    }
}
