//! `export` / `import`: a cluster's state, known_hosts and inventory (and optionally its SSH
//! keys) in a ZIP file, to manage the cluster from another machine or storage directory.

use std::path::PathBuf;

use crate::cluster::state::ClusterState;
use crate::cluster::{OpsError, Workspace};
use crate::storage::validate_cluster_name;

#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    pub cluster: String,
    /// Replace the ZIP file if it exists.
    pub overwrite: bool,
    /// Also store the SSH key pair.
    pub save_keys: bool,
    /// Default `NAME.zip`.
    pub output_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub file: PathBuf,
    pub rename: Option<String>,
}

/// `export`: not available yet (inputs are checked, nothing is written).
pub fn export(ws: &Workspace, args: ExportOptions) -> Result<(), OpsError> {
    let storage = ws.storage()?;
    let state = ws.load(&storage, &args.cluster)?;
    let mut out = args
        .output_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.zip", state.name)));
    if out.extension().is_none_or(|e| e != "zip") {
        out.as_mut_os_string().push(".zip");
    }
    if out.exists() && !args.overwrite {
        return Err(OpsError::Failed(format!(
            "ZIP file `{}` already exists — pass --overwrite or -o ANOTHER.zip",
            out.display()
        )));
    }
    Err(OpsError::NotAvailable {
        command: "export",
        message: format!(
            "cannot write `{}`: export is not part of this build yet; nothing was written",
            out.display()
        ),
    })
}

/// `import`: not available yet (inputs are checked, nothing is changed).
pub fn import(ws: &Workspace, args: ImportOptions) -> Result<(), OpsError> {
    if !args.file.is_file() {
        return Err(OpsError::Failed(format!(
            "cannot read `{}`: no such file — give the ZIP written by `elasticluster export`",
            args.file.display()
        )));
    }
    if let Some(n) = &args.rename {
        validate_cluster_name(n)?;
        if ws.storage()?.load::<ClusterState>(n)?.is_some() {
            return Err(OpsError::Failed(format!(
                "a cluster named `{n}` already exists — choose another --rename NAME"
            )));
        }
    }
    Err(OpsError::NotAvailable {
        command: "import",
        message: format!(
            "cannot import `{}`: import is not part of this build yet; nothing was changed",
            args.file.display()
        ),
    })
}
