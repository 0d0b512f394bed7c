//! The operations behind the commands, one module each (`start`, `stop`, `setup`, `resize`,
//! `remove_node`, listing, `ssh`/`sftp`, export/import): each takes an options value and
//! does the whole job — lock, state, cloud, lifecycle, what the state looks like at the end.
//! The command line only turns arguments into options and prints the error.
//!
//! Questions to the user go through [`Confirm`], so an operation never touches the terminal.

mod checks;
mod configure;
mod drain;
mod follow;
mod grow;
mod list;
mod remove_node;
mod resize;
mod setup;
mod shrink;
mod ssh;
mod start;
mod stop;
mod stop_lost;
mod transfer;

pub use drain::{DrainPolicy, DEFAULT_DRAIN_TIMEOUT};
pub use list::{list, list_nodes, list_templates, ListNodesOptions};
pub use remove_node::{remove_node, RemoveNodeOptions};
pub use resize::{resize, ResizeOptions};
pub use setup::{setup, SetupOptions};
pub(crate) use ssh::jump_host;
pub use ssh::{connect_command, ConnectOptions};
pub use start::{start, StartOptions};
pub use stop::{stop, StopOptions};
pub use transfer::{export, import, ExportOptions, ImportOptions};

use super::error::OpsError;

/// What the user answered to a yes/no question.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
    /// Nobody can be asked (not on a terminal, and `--yes` not given).
    CannotAsk,
}

/// Asks the user a yes/no question.
pub type Confirm<'a> = &'a dyn Fn(&str) -> Answer;

/// Ask `question`; `Ok` only on yes. `what` says what would happen, for the error when
/// nobody can be asked; `nothing` what was (not) changed when the answer is no.
pub(crate) fn ask(
    confirm: Confirm<'_>,
    question: &str,
    what: &str,
    nothing: &str,
) -> Result<(), OpsError> {
    match confirm(question) {
        Answer::Yes => Ok(()),
        Answer::No => Err(OpsError::Failed(format!("aborted: {nothing}"))),
        Answer::CannotAsk => Err(OpsError::Usage(format!(
            "{what}: confirm with --yes when not on a terminal"
        ))),
    }
}
