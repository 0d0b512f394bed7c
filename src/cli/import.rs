//! `elasticluster import FILE [--rename NAME]`.

use std::path::PathBuf;

use super::{CliError, Context};
use crate::storage::validate_cluster_name;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// ZIP file written by `elasticluster export`.
    pub file: PathBuf,
    /// Import the cluster under this name.
    #[arg(long, value_name = "NAME")]
    pub rename: Option<String>,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    if !args.file.is_file() {
        return Err(CliError::Failed(format!(
            "cannot read `{}`: no such file — give the ZIP written by `elasticluster export`",
            args.file.display()
        )));
    }
    if let Some(n) = &args.rename {
        validate_cluster_name(n)?;
        if ctx.storage()?.load(n)?.is_some() {
            return Err(CliError::Failed(format!(
                "a cluster named `{n}` already exists — choose another --rename NAME"
            )));
        }
    }
    Err(CliError::NotAvailable {
        command: "import",
        message: format!(
            "cannot import `{}`: import is not part of this build yet; nothing was changed",
            args.file.display()
        ),
    })
}
