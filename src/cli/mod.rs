//! The command line: global options, one module per subcommand (clap args + a `run()` that
//! calls the library), the shared [`Context`], and [`CliError`] with its exit code.
//! No domain logic lives here; only `main` prints errors and exits.
//!
//! Exit codes: 0 success, 1 error, 2 usage error (clap), 3 [`EXIT_NOT_AVAILABLE`]: the
//! command exists and its inputs were checked, but this build cannot do the work yet;
//! 4 [`EXIT_NOT_READY`]: the nodes are up but the setup failed or the scheduler does not see
//! every worker.

pub mod export;
pub mod import;
pub mod list;
pub mod list_nodes;
pub mod list_templates;
pub mod remove_node;
pub mod resize;
pub mod setup;
pub mod sftp;
pub mod ssh;
pub mod start;
pub mod stop;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use crate::cluster::ClusterState;
use crate::config::{ClusterTemplate, Config, ConfigError, Diagnostics};
use crate::storage::{Storage, StorageError};

/// Success.
pub const EXIT_OK: i32 = 0;
/// Any error (bad config, missing cluster, cloud failure…).
pub const EXIT_ERROR: i32 = 1;
/// Command-line usage error (reported by clap).
pub const EXIT_USAGE: i32 = 2;
/// The command is not available in this build yet (inputs were valid, nothing was done).
pub const EXIT_NOT_AVAILABLE: i32 = 3;
/// The nodes are up but the cluster is not ready: the setup failed or the scheduler does not
/// see every worker. `elasticluster setup NAME` re-runs the setup.
pub const EXIT_NOT_READY: i32 = 4;

/// Start, set up and tear down compute clusters on Azure classic.
#[derive(Debug, Parser)]
#[command(
    name = "elasticluster",
    version,
    about = "Start, set up and tear down compute clusters on Azure classic (ElastiCluster in Rust)",
    after_help = "Exit codes: 0 ok, 1 error, 2 usage error, 3 not available in this build yet, 4 nodes up but cluster not ready (re-run `setup`)."
)]
pub struct Cli {
    /// More output: -v info, -vv debug, -vvv trace (default: warnings only).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Storage directory for cluster state [default: ~/.elasticluster/storage].
    #[arg(short = 's', long = "storage", value_name = "DIR", global = true)]
    pub storage: Option<PathBuf>,
    /// Configuration file; FILE.d/*.conf are read too, in sorted order
    /// [default: ~/.elasticluster/config].
    #[arg(short = 'c', long = "config", value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a cluster from a template, wait for SSH and set it up.
    Start(start::Args),
    /// Destroy a cluster and every cloud resource it created.
    Stop(stop::Args),
    /// Run the setup (Ansible) on a started cluster.
    Setup(setup::Args),
    /// Open an SSH session on a node (default: the frontend).
    Ssh(ssh::Args),
    /// Open an SFTP session on a node (default: the frontend).
    Sftp(sftp::Args),
    /// List the clusters in the storage directory.
    List(list::Args),
    /// Show a cluster's nodes.
    ListNodes(list_nodes::Args),
    /// List the cluster templates of the configuration.
    ListTemplates(list_templates::Args),
    /// Add or remove nodes of a started cluster.
    Resize(resize::Args),
    /// Remove one node from a started cluster.
    RemoveNode(remove_node::Args),
    /// Export a cluster's state into a ZIP file.
    Export(export::Args),
    /// Import a cluster exported with `export`.
    Import(import::Args),
}

/// Errors a command reports; `main` prints them and exits with [`CliError::exit_code`].
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Problems of one template, one per line.
    #[error("{0}")]
    Template(Diagnostics),
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Bad option values found after parsing (exit 2).
    #[error("{0}")]
    Usage(String),
    /// Valid request this build cannot carry out yet (exit 3).
    #[error("elasticluster {command}: {message}")]
    NotAvailable {
        command: &'static str,
        message: String,
    },
    /// Nodes up, but setup failed or the scheduler misses workers (exit 4).
    #[error("{0}")]
    NotReady(String),
    /// Anything else, already phrased for the user.
    #[error("{0}")]
    Failed(String),
    /// A failure from a lower layer.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::NotAvailable { .. } => EXIT_NOT_AVAILABLE,
            CliError::NotReady(_) => EXIT_NOT_READY,
            _ => EXIT_ERROR,
        }
    }
}

/// Resolved global options, handed to every command.
#[derive(Debug, Clone)]
pub struct Context {
    pub config_path: PathBuf,
    pub storage_dir: PathBuf,
    pub verbosity: u8,
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

impl Context {
    pub fn from_cli(cli: &Cli) -> Context {
        let expand = |p: &Path| crate::config::expand_path(&p.to_string_lossy(), None);
        Context {
            config_path: cli
                .config
                .as_deref()
                .map(expand)
                .unwrap_or_else(|| home().join(".elasticluster/config")),
            storage_dir: cli
                .storage
                .as_deref()
                .map(expand)
                .unwrap_or_else(|| home().join(".elasticluster/storage")),
            verbosity: cli.verbose,
        }
    }

    /// Load the configuration files.
    pub fn config(&self) -> Result<Config, CliError> {
        Ok(Config::load(&self.config_path)?)
    }

    /// Load the configuration and validate one template.
    pub fn template(&self, name: &str) -> Result<(Config, ClusterTemplate), CliError> {
        let config = self.config()?;
        let template = config.template(name).map_err(CliError::Template)?;
        Ok((config, template))
    }

    /// Open (and create if needed) the storage directory.
    pub fn storage(&self) -> Result<Storage, CliError> {
        Ok(Storage::open(&self.storage_dir)?)
    }

    /// Load a stored cluster, or a clear "no such cluster" error.
    pub fn cluster(&self, storage: &Storage, name: &str) -> Result<ClusterState, CliError> {
        storage.load(name)?.ok_or_else(|| {
            CliError::Failed(format!(
                "no cluster named `{name}` in {} — `elasticluster list` shows the clusters there; start one with `elasticluster start TEMPLATE -n {name}`",
                storage.dir().display()
            ))
        })
    }
}

/// Run the parsed command.
pub fn run(cli: Cli) -> Result<(), CliError> {
    let ctx = Context::from_cli(&cli);
    match cli.command {
        Command::Start(a) => start::run(&ctx, a),
        Command::Stop(a) => stop::run(&ctx, a),
        Command::Setup(a) => setup::run(&ctx, a),
        Command::Ssh(a) => ssh::run(&ctx, a),
        Command::Sftp(a) => sftp::run(&ctx, a),
        Command::List(a) => list::run(&ctx, a),
        Command::ListNodes(a) => list_nodes::run(&ctx, a),
        Command::ListTemplates(a) => list_templates::run(&ctx, a),
        Command::Resize(a) => resize::run(&ctx, a),
        Command::RemoveNode(a) => remove_node::run(&ctx, a),
        Command::Export(a) => export::run(&ctx, a),
        Command::Import(a) => import::run(&ctx, a),
    }
}

/// Ask `question [yN] ` on the terminal; true only for y/yes.
pub fn confirm(question: &str) -> bool {
    use std::io::Write;
    print!("{question} [yN] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}
