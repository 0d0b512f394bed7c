//! `elasticluster completions bash|zsh|fish` and `elasticluster man`: shell completion
//! scripts and the man page, both generated from the command-line definitions themselves
//! (clap_complete, clap_mangen), so they never drift from the real options.

use clap::CommandFactory;

use super::Cli;
use crate::cluster::OpsError;

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to write the completion script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write `elasticluster.1` and one `elasticluster-COMMAND.1` per command into DIR
    /// instead of printing the main page.
    #[arg(long = "dir", value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
}

/// Write the completion script for `args.shell` on stdout.
pub fn completions(args: CompletionsArgs) -> Result<(), OpsError> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "elasticluster", &mut out);
    write_stdout(&out)
}

/// The man page (roff): the main page on stdout, or every page into `--dir`.
pub fn man(args: ManArgs) -> Result<(), OpsError> {
    let cmd = Cli::command();
    match args.dir {
        Some(dir) => clap_mangen::generate_to(cmd, &dir).map_err(|e| {
            OpsError::Failed(format!(
                "cannot write the man pages into `{}`: {e} — create the directory first",
                dir.display()
            ))
        }),
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .map_err(OpsError::failed)?;
            write_stdout(&out)
        }
    }
}

fn write_stdout(bytes: &[u8]) -> Result<(), OpsError> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| OpsError::Failed(format!("cannot write to stdout: {e}")))
}
