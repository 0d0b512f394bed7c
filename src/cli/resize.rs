//! `elasticluster resize NAME [-a N:KIND,...] [-r N:KIND,...] [-t TEMPLATE] [--no-setup] [--yes]`.

use std::io::IsTerminal;
use std::sync::Arc;

use super::start::fail;
use super::{confirm, CliError, Context};
use crate::cluster::ledger::StateLedger;
use crate::cluster::naming::NodeNamer;
use crate::cluster::{ops, parse_node_counts, NodeRecord, NodeStatus};
use crate::providers::{self, Ledger};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Cluster to resize.
    pub cluster: String,
    /// Nodes to add, e.g. `-a 2:compute`.
    #[arg(short = 'a', long = "add", value_name = "N:KIND[,N:KIND...]")]
    pub add: Option<String>,
    /// Nodes to remove (the last ones of each kind), e.g. `-r 1:compute`.
    #[arg(short = 'r', long = "remove", value_name = "N:KIND[,N:KIND...]")]
    pub remove: Option<String>,
    /// Template to take new nodes' settings from.
    #[arg(short = 't', long = "template", value_name = "TEMPLATE")]
    pub template: Option<String>,
    /// Do not run the setup afterwards.
    #[arg(long = "no-setup")]
    pub no_setup: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let parse = |flag: &str, v: &Option<String>| -> Result<Vec<(String, u32)>, CliError> {
        match v {
            Some(s) => parse_node_counts(s).map_err(|e| CliError::Usage(format!("{flag}: {e}"))),
            None => Ok(Vec::new()),
        }
    };
    let add = parse("--add", &args.add)?;
    let remove = parse("--remove", &args.remove)?;
    if add.is_empty() && remove.is_empty() {
        return Err(CliError::Usage(
            "nothing to do — give -a N:KIND and/or -r N:KIND".into(),
        ));
    }
    let storage = ctx.storage()?;
    let _lock = storage.lock(&args.cluster)?;
    let mut state = ctx.cluster(&storage, &args.cluster)?;
    let name = state.name.clone();
    let tname = args
        .template
        .clone()
        .unwrap_or_else(|| state.template.clone());
    let (_config, template) = ctx.template(&tname)?;
    for (kind, n) in &remove {
        let have = state.nodes_of(kind).count();
        if *n as usize > have {
            return Err(CliError::Failed(format!(
                "cannot remove {n} {kind} nodes from cluster `{name}`: it has {have}"
            )));
        }
    }
    for (kind, _) in &add {
        if !template.kinds.contains_key(kind) {
            return Err(CliError::Usage(format!(
                "--add: template `{tname}` has no `{kind}` nodes to copy settings from (give `{kind}_nodes` there, or -t TEMPLATE)"
            )));
        }
    }
    // The last nodes of each kind go.
    let mut doomed: Vec<crate::cluster::NodeRecord> = Vec::new();
    for (kind, n) in &remove {
        let of_kind: Vec<_> = state.nodes_of(kind).cloned().collect();
        doomed.extend(of_kind.into_iter().rev().take(*n as usize));
    }
    if !doomed.is_empty() && !args.yes {
        let names: Vec<&str> = doomed.iter().map(|n| n.name.as_str()).collect();
        if !std::io::stdin().is_terminal() {
            return Err(CliError::Usage(format!(
                "resize would delete nodes {}: confirm with --yes when not on a terminal",
                names.join(", ")
            )));
        }
        if !confirm(&format!(
            "Do you really want to delete nodes {} of cluster `{name}`?",
            names.join(", ")
        )) {
            return Err(CliError::Failed("aborted: nothing was changed".into()));
        }
    }
    if crate::sandbox::ensure_for_state(&mut state, &mut |l| eprintln!("sandbox: {l}"))
        .map_err(fail)?
    {
        storage.save(&state)?;
    }
    let provider = providers::from_snapshot(&state.provider)
        .map_err(fail)?
        .ok_or_else(|| fail(format!("cluster `{name}` has no provider settings")))?;
    let ledger = Arc::new(StateLedger::new(storage.clone(), state));
    if !doomed.is_empty() {
        let names: Vec<String> = doomed.iter().map(|n| n.name.clone()).collect();
        let rt = ops::runtime().map_err(fail)?;
        rt.block_on(provider.delete_nodes(&names, ledger.clone() as Arc<dyn Ledger>))
            .map_err(|e| fail(format!("cluster `{name}`: {e}")))?;
        ledger
            .update(|s| s.nodes.retain(|n| !names.contains(&n.name)))
            .map_err(fail)?;
        for n in &doomed {
            ops::forget_host_key(&storage.known_hosts_path(&name), n.preferred_ip.as_deref());
        }
        eprintln!("Removed nodes {} of cluster `{name}`.", names.join(", "));
    }
    if !add.is_empty() {
        ledger
            .update(|s| {
                let mut namer = NodeNamer::with_used(s.nodes.iter().map(|n| n.name.as_str()));
                let image_user = s.login.image_user.clone();
                for (kind, n) in &add {
                    let Some(k) = template.kinds.get(kind) else {
                        continue;
                    };
                    for _ in 0..*n {
                        s.nodes.push(NodeRecord {
                            name: namer.next(kind),
                            kind: kind.clone(),
                            instance_id: None,
                            flavor: k.flavor.clone(),
                            image_id: k.image_id.clone(),
                            image_user: image_user.clone(),
                            security_group: k.security_group.clone(),
                            image_userdata: k.image_userdata.clone(),
                            status: NodeStatus::Planned,
                            preferred_ip: None,
                            ips: Vec::new(),
                            private_ip: None,
                        });
                    }
                }
            })
            .map_err(fail)?;
        super::start::bring_up(
            ctx,
            &storage,
            &ledger,
            provider.as_ref(),
            &template,
            &name,
            "Resizing",
        )?;
    }
    let st = ledger.state();
    if args.no_setup {
        println!("{}", st.nodes_listing());
        return Ok(());
    }
    println!("Configuring the cluster `{name}` (this too may take a while...)");
    super::start::setup_and_report(ctx, &storage, &st, &template, &[])
}
