//! `elasticluster list`: the clusters in the storage directory.

use super::Workspace;
use crate::cluster::ops;
use crate::cluster::OpsError;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(ws: &Workspace, _args: Args) -> Result<(), OpsError> {
    ops::list(ws)
}
