//! The digest of everything a setup run depends on, on the control side: the embedded
//! playbooks (their version is part of the playbook's path), the inventory as written,
//! the command line and every `ANSIBLE_*` variable the run sees. `site.yml` compares it
//! with the digest each node recorded after its last complete setup (together with the
//! node's managed files, services and packages): same inputs and an unchanged node mean
//! nothing to do. It must never leave out something that changes what the playbooks do —
//! when in doubt, a value goes into the digest (a needless full run costs time, a
//! missing input would leave a node unconfigured). Only what changes nothing but the output
//! is left out (`-v`…, `ANSIBLE_VERBOSITY`, colours, callbacks, the log file): asking an
//! unchanged cluster for more detail must not set it up again.

use std::collections::BTreeMap;

use super::Invocation;

/// Environment variable carrying the digest to the playbooks.
pub const INPUTS_ENV: &str = "ELASTICLUSTER_SETUP_INPUTS";
/// Environment variable that makes the playbooks run every task whatever the check says.
pub const FULL_ENV: &str = "ELASTICLUSTER_SETUP_FULL";

/// `ANSIBLE_*` variables that only change what Ansible prints, never what it does.
const DISPLAY_ONLY_ENV: &[&str] = &[
    "ANSIBLE_VERBOSITY",
    "ANSIBLE_NOCOLOR",
    "ANSIBLE_FORCE_COLOR",
    "ANSIBLE_STDOUT_CALLBACK",
    "ANSIBLE_CALLBACKS_ENABLED",
    "ANSIBLE_CALLBACK_PLUGINS",
    "ANSIBLE_LOG_PATH",
    "ANSIBLE_DISPLAY_SKIPPED_HOSTS",
    "ANSIBLE_DISPLAY_OK_HOSTS",
    "ANSIBLE_DISPLAY_ARGS_TO_STDOUT",
    "ANSIBLE_SHOW_CUSTOM_STATS",
];

/// `-v`, `-vvvv`, `--verbose`: more output, the same run.
fn display_only_arg(arg: &str) -> bool {
    arg == "--verbose"
        || arg
            .strip_prefix('-')
            .is_some_and(|v| !v.is_empty() && v.chars().all(|c| c == 'v'))
}

/// Hex SHA-256 over the invocation, the inventory text and the caller's `ANSIBLE_*`
/// environment (which the child inherits and which wins over ours).
pub fn digest(
    invocation: &Invocation,
    inventory_text: &[u8],
    user_env: &BTreeMap<String, String>,
) -> String {
    let mut hasher = openssl::sha::Sha256::new();
    let mut field = |label: &str, value: &[u8]| {
        for part in [label.as_bytes(), value] {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
    };
    field("program", invocation.program.as_bytes());
    for arg in invocation.args.iter().filter(|a| !display_only_arg(a)) {
        field("arg", arg.as_bytes());
    }
    let counts = |k: &String| !DISPLAY_ONLY_ENV.contains(&k.as_str());
    for (k, v) in invocation.env.iter().filter(|(k, _)| counts(k)) {
        field(k, v.as_bytes());
    }
    for (k, v) in user_env
        .iter()
        .filter(|(k, _)| k.starts_with("ANSIBLE_") && counts(k))
    {
        field(k, v.as_bytes());
    }
    field("inventory", inventory_text);
    hasher.finish().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation() -> Invocation {
        Invocation {
            program: "ansible-playbook".into(),
            args: vec![
                "--inventory=/s/c.inventory".into(),
                "/s/playbooks/ab/site.yml".into(),
            ],
            env: BTreeMap::from([("ANSIBLE_FORKS".to_string(), "10".to_string())]),
        }
    }

    #[test]
    fn every_input_changes_the_digest() {
        let env = BTreeMap::new();
        let base = digest(&invocation(), b"[frontend]\nf001\n", &env);
        assert_eq!(base, digest(&invocation(), b"[frontend]\nf001\n", &env));
        assert_ne!(base, digest(&invocation(), b"[frontend]\nf002\n", &env));
        let mut more = invocation();
        more.args.insert(1, "-e".into());
        assert_ne!(base, digest(&more, b"[frontend]\nf001\n", &env));
        let mut forks = invocation();
        forks.env.insert("ANSIBLE_FORKS".into(), "11".into());
        assert_ne!(base, digest(&forks, b"[frontend]\nf001\n", &env));
        let theirs = BTreeMap::from([("ANSIBLE_STRATEGY".to_string(), "free".to_string())]);
        assert_ne!(base, digest(&invocation(), b"[frontend]\nf001\n", &theirs));
        // Only ANSIBLE_* of the caller's environment counts.
        let unrelated = BTreeMap::from([("TERM".to_string(), "xterm".to_string())]);
        assert_eq!(
            base,
            digest(&invocation(), b"[frontend]\nf001\n", &unrelated)
        );
    }

    #[test]
    fn more_output_is_the_same_run() {
        let env = BTreeMap::new();
        let base = digest(&invocation(), b"inv", &env);
        let mut verbose = invocation();
        verbose.args.insert(1, "-vvvv".into());
        verbose.args.insert(1, "--verbose".into());
        verbose
            .env
            .insert("ANSIBLE_CALLBACK_PLUGINS".into(), "/x".into());
        let loud = BTreeMap::from([("ANSIBLE_VERBOSITY".to_string(), "4".to_string())]);
        assert_eq!(base, digest(&verbose, b"inv", &loud));
        // Not every short option is verbosity.
        let mut check = invocation();
        check.args.insert(1, "-C".into());
        assert_ne!(base, digest(&check, b"inv", &env));
    }

    #[test]
    fn fields_do_not_run_into_each_other() {
        let env = BTreeMap::new();
        let mut a = invocation();
        a.args = vec!["ab".into(), "c".into()];
        let mut b = invocation();
        b.args = vec!["a".into(), "bc".into()];
        assert_ne!(digest(&a, b"", &env), digest(&b, b"", &env));
    }
}
