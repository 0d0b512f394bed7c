//! Running the setup on a cluster whose nodes are up, and recording which nodes it set up,
//! so that when nodes join or leave later those get only what depends on the list of nodes.

use crate::cluster::provision::{setup_and_report, SetupScope};
use crate::cluster::session::Session;
use crate::cluster::OpsError;
use crate::config::ClusterTemplate;
use crate::report::Reporter;

/// Set the cluster up (`scope` says which nodes get everything); on success every node is
/// marked configured.
pub(super) fn configure(
    session: &Session,
    template: &ClusterTemplate,
    scope: SetupScope,
    extra: &[String],
    verbosity: u8,
    report: &Reporter,
) -> Result<(), OpsError> {
    let st = session.state();
    setup_and_report(
        &st,
        template,
        &session.storage,
        extra,
        verbosity,
        report,
        scope,
    )?;
    let set_up: Vec<String> = st.nodes.iter().map(|n| n.name.clone()).collect();
    session.update(|s| {
        for n in s.nodes.iter_mut().filter(|n| set_up.contains(&n.name)) {
            n.configured = true;
        }
    })
}
