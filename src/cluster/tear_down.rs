//! Tearing a cluster down (for `stop`): delete every cloud resource of the cluster through the provider, then — only if
//! nothing is left — the cluster's local files (state, known_hosts, inventory).
//!
//! Never deletes local files while the ledger still lists resources: they are the only way
//! to find and delete the survivors later.

use std::path::PathBuf;
use std::sync::Arc;

use crate::progress::Progress;
use crate::providers::{
    CloudProvider, Events, Ledger, ProviderError, ProviderEvent, TeardownOptions, TeardownReport,
};
use crate::report::Reporter;

#[derive(Clone, Debug, Default)]
pub struct StopRequest {
    /// Local files to remove once the cloud is clean (known_hosts, inventory; the caller
    /// removes the state file itself, under its lock).
    pub local_files: Vec<PathBuf>,
    /// Where deletion events go (`--json-events`).
    pub report: Reporter,
}

#[derive(Debug)]
pub struct StopOutcome {
    pub report: TeardownReport,
    /// True when the ledger is empty: the caller may delete the state.
    pub clean: bool,
}

pub async fn tear_down(
    provider: &dyn CloudProvider,
    ledger: Arc<dyn Ledger>,
    req: &StopRequest,
    progress: &Progress,
) -> Result<StopOutcome, ProviderError> {
    let bar = progress.bar("deleting", 0);
    let events: Events = {
        let bar = bar.clone();
        let report = req.report.clone();
        Arc::new(move |e| match e {
            ProviderEvent::Planned { resources, .. } => bar.set_length(resources as u64),
            ProviderEvent::Deleted { kind, name } => {
                bar.inc(1);
                let what = format!("{kind} {name}");
                report.resource("resource", &what, "deleted", None);
                bar.set_message(what);
            }
            _ => {}
        })
    };
    let report = provider
        .teardown(ledger.clone(), TeardownOptions::default(), events)
        .await?;
    for (what, why) in &report.remaining {
        req.report.resource("resource", what, "failed", Some(why));
    }
    for (what, owner) in &report.left_alone {
        req.report.resource(
            "resource",
            what,
            "left_alone",
            Some(&format!("not this cluster's ({owner})")),
        );
    }
    let clean = ledger.resources().is_empty() && report.remaining.is_empty();
    bar.finish(if clean {
        "all deleted"
    } else {
        "some resources remain"
    });
    if clean {
        for f in &req.local_files {
            match std::fs::remove_file(f) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!("cannot remove {}: {e}", f.display()),
            }
        }
    }
    Ok(StopOutcome { report, clean })
}
