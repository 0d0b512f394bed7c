//! Shared by the benchmarks (not a test): the programs built beside them. An example lives
//! in `target/<profile>/examples/`; the workspace's binaries of the same profile are one
//! directory up.

use std::path::{Path, PathBuf};

/// `target/<profile>/<name>`, the program built with the same profile as this example; when
/// it is missing, says how to build it and exits.
pub fn built_program(name: &str) -> PathBuf {
    let me = std::env::current_exe().unwrap_or_default();
    match me.parent().and_then(Path::parent).map(|d| d.join(name)) {
        Some(p) if p.is_file() => p,
        found => {
            let at = found.map_or_else(
                || "the target directory".into(),
                |p| p.display().to_string(),
            );
            eprintln!(
                "{at} not found: build it with the same profile as this benchmark first \
                 (cargo build --workspace --bins --examples [--release])"
            );
            std::process::exit(1);
        }
    }
}
