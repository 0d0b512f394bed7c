//! `elasticluster export NAME [--overwrite] [--save-keys] [-o FILE]`.

use std::path::PathBuf;

use super::{CliError, Context};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Cluster to export.
    pub cluster: String,
    /// Replace the ZIP file if it exists.
    #[arg(long)]
    pub overwrite: bool,
    /// Also store the SSH keys in the ZIP file.
    #[arg(long = "save-keys")]
    pub save_keys: bool,
    /// ZIP file to write (default: NAME.zip).
    #[arg(short = 'o', long = "output-file", value_name = "FILE")]
    pub output_file: Option<PathBuf>,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let storage = ctx.storage()?;
    let state = ctx.cluster(&storage, &args.cluster)?;
    let mut out = args
        .output_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.zip", state.name)));
    if out.extension().is_none_or(|e| e != "zip") {
        out.as_mut_os_string().push(".zip");
    }
    if out.exists() && !args.overwrite {
        return Err(CliError::Failed(format!(
            "ZIP file `{}` already exists — pass --overwrite or -o ANOTHER.zip",
            out.display()
        )));
    }
    Err(CliError::NotAvailable {
        command: "export",
        message: format!(
            "cannot write `{}`: export is not part of this build yet; nothing was written",
            out.display()
        ),
    })
}
