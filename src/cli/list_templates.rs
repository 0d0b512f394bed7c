//! `elasticluster list-templates [PATTERN...]`: templates matching any of the glob patterns.

use super::Workspace;
use crate::cluster::ops;
use crate::cluster::OpsError;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Shell-style patterns (`*`, `?`, `[..]`); a template is listed if it matches any.
    pub patterns: Vec<String>,
}

pub fn run(ws: &Workspace, args: Args) -> Result<(), OpsError> {
    ops::list_templates(ws, &args.patterns)
}
