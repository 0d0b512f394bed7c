//! Progress bars (indicatif) per phase — cloud resources, VMs, SSH — drawn on stderr only
//! when stderr is a terminal; otherwise silent (messages still go through `tracing`).
//!
//! Never writes to stdout (stdout is for command output such as `list-nodes --json`).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Clone)]
pub struct Progress {
    mp: MultiProgress,
    enabled: bool,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// One phase's bar (hidden when progress is off).
#[derive(Clone, Debug)]
pub struct Bar(ProgressBar);

impl Bar {
    pub fn inc(&self, n: u64) {
        self.0.inc(n);
    }
    pub fn set_message(&self, m: impl Into<String>) {
        self.0.set_message(m.into());
    }
    pub fn set_length(&self, n: u64) {
        self.0.set_length(n);
    }
    pub fn finish(&self, m: impl Into<String>) {
        self.0.finish_with_message(m.into());
    }
}

impl Progress {
    /// Bars only if `allowed` and stderr is a terminal.
    pub fn new(allowed: bool) -> Self {
        let enabled = allowed && std::io::stderr().is_terminal();
        let target = if enabled {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Progress {
            mp: MultiProgress::with_draw_target(target),
            enabled,
        }
    }

    /// Never draws anything.
    pub fn hidden() -> Self {
        Progress {
            mp: MultiProgress::with_draw_target(ProgressDrawTarget::hidden()),
            enabled: false,
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn bar(&self, label: &str, total: u64) -> Bar {
        if !self.enabled {
            return Bar(ProgressBar::hidden());
        }
        let pb = self.mp.add(ProgressBar::new(total));
        let style = ProgressStyle::with_template(
            "{prefix:>14} [{bar:30}] {pos}/{len} {elapsed:>4} {wide_msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        pb.set_style(style);
        pb.set_prefix(label.to_string());
        pb.enable_steady_tick(Duration::from_millis(200));
        Bar(pb)
    }

    /// A line for the user on stderr, above any bars.
    pub fn say(&self, msg: &str) {
        if self.enabled {
            let _ = self.mp.println(msg);
        } else {
            eprintln!("{msg}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_progress_has_working_noop_bars() {
        let p = Progress::hidden();
        assert!(!p.enabled());
        let b = p.bar("VMs", 3);
        b.inc(1);
        b.set_message("x");
        b.finish("done");
    }
}
