//! `elasticluster start TEMPLATE [-n NAME] [--nodes N:KIND,...] [--no-setup]`.

use super::{CliError, Context, PROVIDER_PENDING};
use crate::cluster::parse_node_counts;
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
    if let Some(existing) = storage.load(&name)? {
        if existing.template != template.name {
            return Err(CliError::Failed(format!(
                "cluster `{name}` already exists and was started from template `{}` — pick another name with -n NAME",
                existing.template
            )));
        }
    }
    let nodes: Vec<String> = template
        .kinds_in_order()
        .map(|(k, v)| format!("{} {k}", v.count))
        .collect();
    Err(CliError::NotAvailable {
        command: "start",
        message: format!(
            "template `{}` is valid ({} nodes) but cannot start cluster `{name}`: {PROVIDER_PENDING}",
            template.name,
            nodes.join(", ")
        ),
    })
}
