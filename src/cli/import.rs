//! `elasticluster import FILE [--rename NAME]`.

use std::path::PathBuf;

use super::Workspace;
use crate::cluster::ops::{self, ImportOptions};
use crate::cluster::OpsError;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// ZIP file written by `elasticluster export`.
    pub file: PathBuf,
    /// Import the cluster under this name.
    #[arg(long, value_name = "NAME")]
    pub rename: Option<String>,
}

pub fn run(ws: &Workspace, args: Args) -> Result<(), OpsError> {
    ops::import(
        ws,
        ImportOptions {
            file: args.file,
            rename: args.rename,
        },
    )
}
