//! `elasticluster list-templates [PATTERN...]`: templates matching any of the glob patterns.

use super::{CliError, Context};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Shell-style patterns (`*`, `?`, `[..]`); a template is listed if it matches any.
    pub patterns: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> Result<(), CliError> {
    let config = ctx.config()?;
    let mut patterns = Vec::new();
    for p in &args.patterns {
        patterns.push(
            glob::Pattern::new(p)
                .map_err(|e| CliError::Usage(format!("pattern `{p}` is not a valid glob: {e}")))?,
        );
    }
    let names = config.template_names();
    let matching: Vec<&String> = names
        .iter()
        .filter(|n| patterns.is_empty() || patterns.iter().any(|p| p.matches(n)))
        .collect();
    let mut good = Vec::new();
    let mut broken = Vec::new();
    for name in matching {
        match config.template(name) {
            Ok(t) => good.push(t),
            Err(d) => broken.push((name.clone(), d)),
        }
    }
    // Templates not matching the patterns are only counted (validating them logs their
    // deprecation warnings; keep that quiet).
    let unmatched_valid = names
        .iter()
        .filter(|n| !patterns.is_empty() && !patterns.iter().any(|p| p.matches(n)))
        .filter(|n| config.template(n).is_ok())
        .count();
    let valid_total = good.len() + unmatched_valid;
    println!("{valid_total} cluster templates found in configuration file.");
    if !patterns.is_empty() {
        println!(
            "{} cluster templates found matching pattern(s) '{}'",
            good.len(),
            args.patterns.join(", ")
        );
    }
    for t in &good {
        println!();
        println!("name:     {}", t.name);
        for (kind, k) in t.kinds_in_order() {
            println!("{kind} nodes: {}", k.count);
        }
    }
    if broken.is_empty() {
        return Ok(());
    }
    let mut msg = String::new();
    for (i, (name, d)) in broken.iter().enumerate() {
        if i > 0 {
            msg.push('\n');
        }
        msg.push_str(&format!("template `{name}` is not usable:\n{d}"));
    }
    Err(CliError::Failed(msg))
}
