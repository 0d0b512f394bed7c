//! `elasticluster export NAME [--overwrite] [--save-keys] [-o FILE]`.

use std::path::PathBuf;

use super::Workspace;
use crate::cluster::ops::{self, ExportOptions};
use crate::cluster::OpsError;

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

pub fn run(ws: &Workspace, args: Args) -> Result<(), OpsError> {
    ops::export(
        ws,
        ExportOptions {
            cluster: args.cluster,
            overwrite: args.overwrite,
            save_keys: args.save_keys,
            output_file: args.output_file,
        },
    )
}
