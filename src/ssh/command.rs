//! OpenSSH command lines for `elasticluster ssh` and `sftp`: key, port, the cluster's
//! known_hosts and strict host-key checking, always — also on the outer hop when a node is
//! reached through another one (a jump host, as `ProxyCommand`).
//!
//! Builds argument vectors only; never runs anything and never uses a shell (a
//! `ProxyCommand` value is quoted for the shell OpenSSH runs it with).

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The node another one is reached through: where its SSH answers and as whom to log in.
/// The outer hop uses the same key and known_hosts file as the inner one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JumpHost {
    pub user: String,
    pub host: String,
    pub port: u16,
}

/// `host:port` as OpenSSH's `-W` reads it (`[v6]:port` for IPv6).
pub fn forward_spec(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The argv of the outer hop: `ssh … -W TARGET user@jump` with the cluster's key and
/// known_hosts, strict host-key checking, no prompts. `target` is `host:port`, or `%h:%p`
/// inside a `ProxyCommand`.
pub fn jump_argv(
    jump: &JumpHost,
    private_key: &Path,
    known_hosts: &Path,
    target: &str,
    connect_timeout: Option<Duration>,
) -> Vec<String> {
    let mut v = vec![
        "ssh".to_string(),
        "-i".to_string(),
        private_key.display().to_string(),
        "-o".to_string(),
        format!("UserKnownHostsFile={}", known_hosts.display()),
        "-o".to_string(),
        "StrictHostKeyChecking=yes".to_string(),
        "-o".to_string(),
        "IdentitiesOnly=yes".to_string(),
        "-o".to_string(),
        "BatchMode=yes".to_string(),
    ];
    if let Some(t) = connect_timeout {
        v.push("-o".into());
        v.push(format!("ConnectTimeout={}", t.as_secs().max(1)));
    }
    v.extend([
        "-p".to_string(),
        jump.port.to_string(),
        "-W".to_string(),
        target.to_string(),
        "--".to_string(),
        format!("{}@{}", jump.user, jump.host),
    ]);
    v
}

/// The `ProxyCommand` value that reaches a node through `jump` (quoted for `/bin/sh`).
pub fn proxy_command(jump: &JumpHost, private_key: &Path, known_hosts: &Path) -> String {
    jump_argv(jump, private_key, known_hosts, "%h:%p", None)
        .iter()
        .map(|a| shlex::try_quote(a).map_or_else(|_| a.clone(), |q| q.into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where and as whom to connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshTarget {
    pub user: String,
    pub host: String,
    pub port: u16,
    pub private_key: PathBuf,
    pub known_hosts: PathBuf,
    /// Optional `ProxyCommand` (see [`proxy_command`]).
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
    fn jump_hop_keeps_key_known_hosts_and_strict_checking() {
        let j = JumpHost {
            user: "clusteruser".into(),
            host: "127.0.0.7".into(),
            port: 2200,
        };
        let v = jump_argv(
            &j,
            Path::new("/k/id_rsa"),
            Path::new("/s/c.known_hosts"),
            "10.0.0.5:22",
            Some(Duration::from_secs(5)),
        );
        assert!(v.windows(2).any(|w| w == ["-i", "/k/id_rsa"]));
        assert!(v.contains(&"StrictHostKeyChecking=yes".to_string()));
        assert!(v.contains(&"UserKnownHostsFile=/s/c.known_hosts".to_string()));
        assert!(v.windows(2).any(|w| w == ["-W", "10.0.0.5:22"]));
        assert!(v.windows(2).any(|w| w == ["-p", "2200"]));
        assert_eq!(v.last().unwrap(), "clusteruser@127.0.0.7");
        let pc = proxy_command(&j, Path::new("/k/my key"), Path::new("/s/c.known_hosts"));
        // the shell sees the path with a space as one word, and %h:%p for OpenSSH
        let words = shlex::split(&pc).unwrap();
        assert!(words.windows(2).any(|w| w == ["-i", "/k/my key"]), "{pc}");
        assert!(words.windows(2).any(|w| w == ["-W", "%h:%p"]), "{pc}");
        let mut t = t();
        t.proxy_command = Some(pc.clone());
        let argv = ssh_command("ssh", &t, &[]);
        assert!(argv.contains(&format!("ProxyCommand={pc}")));
        assert_eq!(forward_spec("fe80::1", 22), "[fe80::1]:22");
    }

    #[test]
    fn sftp_uses_capital_p_and_no_colon_port() {
        let v = ssh_command("sftp", &t(), &[]);
        assert!(v.windows(2).any(|w| w == ["-P", "1223"]));
        assert_eq!(v.last().unwrap(), "clusteruser@127.0.0.5");
        assert!(!v.iter().any(|a| a.contains(":1223")));
    }
}
