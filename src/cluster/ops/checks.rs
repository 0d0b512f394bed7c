//! What `start` checks before anything is created — and all `start --dry-run` does:
//! no resource under the cluster's names belongs to someone else (owner ids, from the
//! cloud's discovery), the cloud's preflight (credentials, region, images, sizes, quotas,
//! free names), the key files, and `ansible-playbook` unless `--no-setup`. Every problem is
//! one line naming the key and the fix; the dry run prints the whole report.
//!
//! Reads only; never creates, changes or saves anything.

use std::path::Path;

use crate::cluster::nodes::node_requests;
use crate::cluster::{OpsError, Session};
use crate::config::{printable, ClusterTemplate};
use crate::providers::{Discovered, Ledger, Preflight, PreflightProblem, ProviderError};
use crate::report::{Event, Reporter};

/// Every check before a start: `refuse_foreign`, then the preflight (both read the cloud,
/// at the same time: neither changes anything).
pub(super) fn check_all(
    session: &Session,
    template: &ClusterTemplate,
    no_setup: bool,
) -> Result<Preflight, OpsError> {
    let state = session.state();
    let nodes = node_requests(&state);
    let (found, pf) = session.block_on(async {
        tokio::join!(
            session.provider.discover(),
            session.provider.preflight(&nodes, session.ledger())
        )
    });
    refuse_foreign(session, found.map_err(OpsError::cloud(&state.name))?)?;
    preflight(session, template, no_setup, pf)
}

/// Refuse when something under the cluster's names (`found` by the cloud's discovery) is
/// not the cluster's: neither in its ledger nor carrying its owner id.
fn refuse_foreign(session: &Session, found: Vec<Discovered>) -> Result<(), OpsError> {
    let state = session.state();
    let name = state.name.clone();
    let known = session.ledger.resources();
    let foreign: Vec<String> = found
        .iter()
        .filter(|d| !known.iter().any(|k| k.same(&d.resource)))
        .filter(|d| d.owner.is_none() || d.owner != state.owner_id)
        // What sits inside a listed resource (a VM in a cloud service) goes with it.
        .filter(|d| d.resource.parent.is_none())
        .map(|d| {
            format!(
                "{} ({})",
                d.label,
                d.owner
                    .as_ref()
                    .map(|o| format!("owner id {o}"))
                    .unwrap_or_else(|| "no owner id".into())
            )
        })
        .collect();
    if foreign.is_empty() {
        return Ok(());
    }
    let listed = match foreign.len() {
        n if n > 10 => format!("{}, and {} more", foreign[..10].join(", "), n - 10),
        _ => foreign.join(", "),
    };
    let mut msg = format!(
        "cluster `{name}` (owner id {}) would use names already taken by resources that are not its own, so nothing was created: {listed}",
        state.owner_id.as_deref().unwrap_or("none"),
    );
    msg.push_str(
        " — give this template another `base_name`, or stop the cluster that owns them (`elasticluster stop CLUSTER`; with its state lost, `elasticluster stop TEMPLATE --force`)",
    );
    Err(OpsError::Failed(msg))
}

/// The cloud's preflight (`pf`) plus the local checks (key files; `ansible-playbook`
/// unless `no_setup`).
fn preflight(
    session: &Session,
    template: &ClusterTemplate,
    no_setup: bool,
    pf: Result<Preflight, ProviderError>,
) -> Result<Preflight, OpsError> {
    let state = session.state();
    let mut pf = pf.map_err(OpsError::cloud(&state.name))?;
    let login = &state.login;
    for (key, path, private) in [
        ("user_key_private", &login.user_key_private, true),
        ("user_key_public", &login.user_key_public, false),
    ] {
        match key_file_problem(path, private) {
            Some((problem, fix)) => pf.problems.push(PreflightProblem {
                key: Some(key.into()),
                problem,
                fix,
            }),
            None => pf
                .passed
                .push(format!("{key} {} is usable", path.display())),
        }
    }
    if !no_setup {
        let cmd = &template.setup.ansible_command;
        let program = cmd.first().map_or("ansible-playbook", String::as_str);
        let pre: Vec<String> = cmd.iter().skip(1).cloned().collect();
        match crate::setup::ansible::check_version(program, &pre) {
            Ok(v) => pf.passed.push(format!("{program} {v} is new enough")),
            Err(e) => pf.problems.push(PreflightProblem {
                key: Some("ansible_command".into()),
                problem: e.to_string(),
                fix: "or start with --no-setup and run `elasticluster setup` later".into(),
            }),
        }
    }
    Ok(pf)
}

/// A key file ssh cannot use, as (problem, fix).
fn key_file_problem(path: &Path, private: bool) -> Option<(String, String)> {
    crate::config::check_key_file(path, private).err()
}

/// A dry run that found problems (listed in its report): one line.
pub(super) fn refuse_dry_run(name: &str, pf: &Preflight) -> Result<(), OpsError> {
    match pf.problems.len() {
        0 => Ok(()),
        n => Err(OpsError::Failed(format!(
            "cluster `{name}`: the dry run found {n} problem(s) that would make the start fail (listed above); nothing was created"
        ))),
    }
}

/// `Err` with one line per problem (nothing created), else `Ok`.
pub(super) fn refuse_problems(name: &str, pf: &Preflight) -> Result<(), OpsError> {
    if pf.problems.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = pf
        .problems
        .iter()
        .map(|p| format!("error: cluster `{name}`: {}", problem_line(p)))
        .collect();
    // `main` prints multi-line messages as they are: each line stands alone.
    let text = lines.join("\n");
    Err(OpsError::Failed(match lines.len() {
        1 => text.trim_start_matches("error: ").to_string(),
        _ => text,
    }))
}

/// `key: problem — fix`.
pub(super) fn problem_line(p: &PreflightProblem) -> String {
    let key = p
        .key
        .as_deref()
        .map(|k| format!("{k}: "))
        .unwrap_or_default();
    printable(&format!("{key}{} — {}", p.problem, p.fix)).into_owned()
}

/// The dry run's report: text on stdout, or `preflight` events.
pub(super) fn print_dry_run(report: &Reporter, name: &str, template: &str, pf: &Preflight) {
    if report.is_json() {
        for p in &pf.passed {
            report.event(Event {
                event: "preflight".into(),
                status: "passed".into(),
                message: Some(p.clone()),
                ..Event::default()
            });
        }
        for p in &pf.problems {
            report.event(Event {
                event: "preflight".into(),
                status: "failed".into(),
                resource: p.key.clone(),
                error: Some(problem_line(p)),
                ..Event::default()
            });
        }
        for l in pf.layout.iter().chain(&pf.quotas) {
            report.event(Event {
                event: "plan".into(),
                status: "planned".into(),
                message: Some(l.clone()),
                ..Event::default()
            });
        }
        report.event(Event {
            event: "dry_run".into(),
            status: if pf.problems.is_empty() {
                "ok"
            } else {
                "failed"
            }
            .into(),
            duration: pf.expected_start.map(|d| d.as_secs_f64()),
            message: Some("duration: the expected start time".into()),
            ..Event::default()
        });
        return;
    }
    let mut out = vec![format!(
        "Dry run of `elasticluster start {template}` for cluster `{name}`: nothing was created or saved."
    )];
    fn section(out: &mut Vec<String>, title: &str, lines: &[String]) {
        if !lines.is_empty() {
            out.push(format!("{title}:"));
            out.extend(lines.iter().map(|l| format!("  {}", printable(l))));
        }
    }
    section(&mut out, "Checks passed", &pf.passed);
    section(&mut out, "Layout", &pf.layout);
    section(&mut out, "Quota use after the start", &pf.quotas);
    if let Some(d) = pf.expected_start {
        out.push(format!(
            "Expected start time: {} (until every VM runs; SSH and setup come on top)",
            human_duration(d.as_secs())
        ));
    }
    let problems: Vec<String> = pf.problems.iter().map(problem_line).collect();
    if problems.is_empty() {
        out.push(format!(
            "No problems found: `elasticluster start {template}` would go ahead."
        ));
    } else {
        section(&mut out, "Problems (the start would fail)", &problems);
    }
    report.print(&out.join("\n"));
}

fn human_duration(secs: u64) -> String {
    match (secs / 60, secs % 60) {
        (0, s) => format!("{s} s"),
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} s"),
    }
}
