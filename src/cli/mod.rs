//! The command line: global options, one module per subcommand (its clap args and a `run()`
//! that turns them into an options value and calls one `cluster::ops` function), and the
//! exit code of each error. No domain logic lives here; only `main` prints errors and exits.
//!
//! Exit codes: 0 success, 1 error, 2 usage error (clap), 3 [`EXIT_NOT_AVAILABLE`]: the
//! command exists and its inputs were checked, but this build cannot do the work yet;
//! 4 [`EXIT_NOT_READY`]: the nodes are up but the setup failed or the scheduler does not see
//! every worker.

pub mod completions;
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

use crate::cluster::ops::Answer;
use crate::cluster::{OpsError, Workspace};

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

/// Start, set up and tear down compute clusters.
#[derive(Debug, Parser)]
#[command(
    name = "elasticluster",
    version,
    about = "Start, set up and tear down compute clusters on Azure (ElastiCluster in Rust)",
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
    /// Print the shell completion script for bash, zsh or fish.
    Completions(completions::CompletionsArgs),
    /// Print the man page (roff), e.g. `elasticluster man | man -l -`; `--dir DIR` writes one page per command.
    Man(completions::ManArgs),
}

/// The exit code for an operation's error (see the module doc).
pub fn exit_code(e: &OpsError) -> i32 {
    match e {
        OpsError::Usage(_) => EXIT_USAGE,
        OpsError::NotAvailable { .. } => EXIT_NOT_AVAILABLE,
        OpsError::NotReady(_) => EXIT_NOT_READY,
        _ => EXIT_ERROR,
    }
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The global options as the library's [`Workspace`].
pub fn workspace(cli: &Cli) -> Workspace {
    let expand = |p: &Path| crate::config::expand_path(&p.to_string_lossy(), None);
    Workspace {
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

/// Run the parsed command.
pub fn run(cli: Cli) -> Result<(), OpsError> {
    let ctx = workspace(&cli);
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
        Command::Completions(a) => completions::completions(a),
        Command::Man(a) => completions::man(a),
    }
}

/// The way questions are answered: `--yes` answers them; otherwise the terminal is asked
/// (`question [yN] ` on stderr, yes only for y/yes), and without a terminal nobody can be
/// asked.
pub fn confirmer(yes: bool) -> impl Fn(&str) -> Answer {
    move |question: &str| {
        use std::io::{IsTerminal, Write};
        if yes {
            return Answer::Yes;
        }
        if !std::io::stdin().is_terminal() {
            return Answer::CannotAsk;
        }
        // On stderr: stdout may carry JSON events.
        eprint!("{question} [yN] ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        if std::io::stdin().read_line(&mut answer).is_err() {
            return Answer::No;
        }
        match answer.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => Answer::Yes,
            _ => Answer::No,
        }
    }
}
