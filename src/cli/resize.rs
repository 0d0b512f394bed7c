//! `elasticluster resize NAME [-a N:KIND,...] [-r N:KIND,...] [-t TEMPLATE] [--no-setup] [--yes]`.

use super::{CliError, Context, PROVIDER_PENDING};
use crate::cluster::parse_node_counts;

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
    let state = ctx.cluster(&storage, &args.cluster)?;
    let template = args
        .template
        .clone()
        .unwrap_or_else(|| state.template.clone());
    let (_config, _t) = ctx.template(&template)?;
    for (kind, n) in &remove {
        let have = state.nodes_of(kind).count();
        if *n as usize > have {
            return Err(CliError::Failed(format!(
                "cannot remove {n} {kind} nodes from cluster `{}`: it has {have}",
                state.name
            )));
        }
    }
    Err(CliError::NotAvailable {
        command: "resize",
        message: format!("cannot resize cluster `{}`: {PROVIDER_PENDING}", state.name),
    })
}
