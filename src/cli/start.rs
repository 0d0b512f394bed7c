//! `elasticluster start TEMPLATE [-n NAME] [--nodes N:KIND,...] [--no-setup]`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use super::{CliError, Context};
use crate::cluster::ledger::StateLedger;
use crate::cluster::{self, ops, parse_node_counts, ClusterState};
use crate::config::CloudConfig;
use crate::progress::Progress;
use crate::providers::{self, Ledger};
use crate::storage::validate_cluster_name;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Template to start (`[cluster/TEMPLATE]` in the configuration).
    pub cluster: String,
    /// Name of the cluster (default: the template name).
    #[arg(short = 'n', long = "name", value_name = "NAME")]
    pub name: Option<String>,
    /// Override node counts, e.g. `--nodes 4:compute,1:frontend`.
    #[arg(long = "nodes", value_name = "N:KIND[,N:KIND...]")]
    pub nodes: Option<String>,
    /// Only start the VMs, do not run the setup.
    #[arg(long = "no-setup")]
    pub no_setup: bool,
}

pub(crate) fn fail(e: impl std::fmt::Display) -> CliError {
    CliError::Failed(e.to_string())
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let (_config, mut template) = ctx.template(&args.cluster)?;
    if let Some(spec) = &args.nodes {
        let counts =
            parse_node_counts(spec).map_err(|e| CliError::Usage(format!("--nodes: {e}")))?;
        template
            .override_counts(&counts)
            .map_err(|e| CliError::Usage(format!("--nodes: {e}")))?;
    }
    let name = args.name.clone().unwrap_or_else(|| template.name.clone());
    validate_cluster_name(&name)?;
    let storage = ctx.storage()?;
    let _lock = storage.lock(&name)?;
    let mut state = match storage.load(&name)? {
        Some(existing) => {
            if existing.template != template.name {
                return Err(CliError::Failed(format!(
                    "cluster `{name}` already exists and was started from template `{}` — pick another name with -n NAME",
                    existing.template
                )));
            }
            eprintln!("Resuming cluster `{name}`: creating only what is missing.");
            existing
        }
        None => ClusterState::plan(&name, &template),
    };
    let CloudConfig::AzureClassic(cloud) = &template.cloud;
    let sandbox = cloud.emulator.then(|| {
        crate::sandbox::Sandbox::new(
            cloud
                .emulator_state_dir
                .clone()
                .unwrap_or_else(|| storage.dir().join("sandbox")),
        )
    });
    let endpoint = match &sandbox {
        None => None,
        Some(sb) => {
            let ep = sb
                .ensure_running(&mut |line| eprintln!("sandbox: {line}"))
                .map_err(fail)?;
            Some(crate::providers::azure_classic::config::Endpoint {
                subscription_id: ep.subscription_id.clone(),
                certificate: ep.certificate.clone(),
                management_url: ep.management_url.clone(),
                ca_certificate: Some(ep.ca_certificate.clone()),
            })
        }
    };
    state.provider = providers::snapshot_for_template(&template, endpoint).map_err(fail)?;
    if let (Some(sb), Some(ep)) = (&sandbox, sandbox.as_ref().and_then(|sb| sb.running())) {
        crate::sandbox::record(&mut state, sb, &ep);
    }
    // The cluster exists on disk before anything is asked of the cloud.
    storage.save(&state)?;
    let provider = providers::from_snapshot(&state.provider)
        .map_err(fail)?
        .ok_or_else(|| fail("internal: no provider settings"))?;
    let ledger = Arc::new(StateLedger::new(storage.clone(), state));
    let min_nodes: BTreeMap<String, usize> = template
        .kinds_in_order()
        .map(|(k, v)| (k.to_string(), v.min as usize))
        .collect();
    let st = ledger.state();
    let counts: Vec<String> = st
        .kinds()
        .iter()
        .map(|k| format!("{} {k}", st.nodes_of(k).count()))
        .collect();
    eprintln!(
        "Starting cluster `{name}` with {} nodes ({}).",
        st.nodes.len(),
        counts.join(", ")
    );
    let scale = ops::time_scale();
    let req = cluster::start::StartRequest {
        nodes: ops::node_requests(&st),
        min_nodes,
        ssh_user: st.login.image_user.clone(),
        ssh_private_key: st.login.user_key_private.clone(),
        known_hosts: storage.known_hosts_path(&name),
        startup_timeout: Duration::from_secs(template.azure.startup_timeout.max(1)),
        probe_ssh: !ops::skip_ssh_wait(),
        poll_interval: Duration::from_secs(2)
            .mul_f64(scale)
            .max(Duration::from_millis(20)),
        ssh_timeout: Duration::from_secs(10),
    };
    let progress = Progress::new(ctx.verbosity == 0);
    let rt = ops::runtime().map_err(fail)?;
    let outcome = rt.block_on(cluster::start::start(
        provider.as_ref(),
        ledger.clone() as Arc<dyn Ledger>,
        &req,
        &progress,
    ));
    // Whatever happened, record what the cloud says about the nodes now.
    let infos = rt
        .block_on(provider.nodes(ledger.clone() as Arc<dyn Ledger>))
        .unwrap_or_default();
    let reachable: BTreeSet<String> = match &outcome {
        Ok(o) if req.probe_ssh => o.ready.iter().map(|n| n.name.clone()).collect(),
        _ => BTreeSet::new(),
    };
    // Nodes the provider no longer knows were dropped (their VMs deleted): forget them too,
    // so a later `start` resumes the same set. Before any plan, the provider knows nothing.
    let known: BTreeSet<String> = infos.iter().map(|i| i.name.clone()).collect();
    ledger
        .update(|s| {
            ops::apply_node_infos(s, &infos, &reachable);
            if !known.is_empty() {
                s.nodes.retain(|n| known.contains(&n.name));
            }
        })
        .map_err(fail)?;
    let out = outcome.map_err(|e| fail(format!("cluster `{name}`: {e}")))?;
    for (n, why) in &out.dropped {
        eprintln!("warning: node {n} was removed: {why}");
    }
    let st = ledger.state();
    eprintln!("Cluster `{name}` has {} nodes up.", out.ready.len());
    if args.no_setup {
        println!("{}", st.nodes_listing());
        return Ok(());
    }
    println!("Configuring the cluster `{name}` (this too may take a while...)");
    setup_and_report(ctx, &storage, &st, &template, &[])
}

/// Run the setup on a started cluster and tell the user honestly whether it is ready.
pub(crate) fn setup_and_report(
    ctx: &Context,
    storage: &crate::storage::Storage,
    state: &ClusterState,
    template: &crate::config::ClusterTemplate,
    extra: &[String],
) -> Result<(), CliError> {
    let name = &state.name;
    let timeout = Duration::from_secs(template.azure.startup_timeout.clamp(30, 300));
    let report = crate::setup::from_cluster::setup_cluster(
        state,
        &template.setup,
        storage.dir(),
        &storage.known_hosts_path(name),
        extra,
        ctx.verbosity,
        timeout,
    );
    let not_ready = |why: String| {
        CliError::NotReady(format!(
            "WARNING: YOUR CLUSTER IS NOT READY YET! {why}\nFix the cause and re-run `elasticluster setup {name}`."
        ))
    };
    match report {
        Err(e) => Err(not_ready(e.to_string())),
        Ok(r) if !r.readiness.ready => Err(not_ready(format!(
            "the scheduler does not see every worker (missing: {}): {}",
            r.readiness.missing.join(", "),
            r.readiness.detail
        ))),
        Ok(r) => {
            match r.outcome.changed {
                Some(false) => println!("Setup of `{name}` changed nothing (already configured)."),
                Some(true) => println!("Setup of `{name}` done."),
                None => {}
            }
            println!("Your cluster `{name}` is ready!");
            println!("{}", state.summary());
            Ok(())
        }
    }
}
