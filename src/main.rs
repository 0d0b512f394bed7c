//! The `elasticluster` binary: parse the command line, set up logging, run the command,
//! and turn its error into one message on stderr and an exit code (see `cli`).
//! Never panics on user input; never prints a backtrace for a user error.

use clap::Parser;
use elasticluster::cli::{self, Cli};
use elasticluster::cluster::OpsError;
use elasticluster::config::{printable, ConfigError};

fn main() {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let code = match cli::run(cli) {
        Ok(()) => cli::EXIT_OK,
        Err(e) => {
            eprintln!("{}", printable(&error_text(&e)));
            cli::exit_code(&e)
        }
    };
    std::process::exit(code);
}

/// `-v` count → level (WARN, INFO, DEBUG, TRACE); `RUST_LOG` wins when set.
fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .with_target(verbose >= 2)
        .init();
}

/// The message as printed (control characters escaped: messages quote files and servers):
/// multi-line reports (one problem per line, `FILE:LINE: …`) as
/// they are; a single-line message prefixed with `error: ` (or `not available: `).
fn error_text(e: &OpsError) -> String {
    let text = e.to_string();
    if text.contains('\n') {
        return text;
    }
    match e {
        OpsError::NotAvailable { .. } => format!("not available: {text}"),
        OpsError::Template(_) | OpsError::Config(ConfigError::Invalid(_)) => text,
        _ => format!("error: {text}"),
    }
}
