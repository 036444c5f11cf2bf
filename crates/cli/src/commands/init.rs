//! `portwatch init [FILE]`: write the commented example configuration.

use crate::args::InitArgs;
use anyhow::{Context, Result, bail};
use std::io::Write;

/// Runs the command.
pub fn run(args: InitArgs) -> Result<u8> {
    let text = portwatch_monitor::config::EXAMPLE;
    if args.file.as_os_str() == "-" {
        std::io::stdout().write_all(text.as_bytes())?;
        return Ok(crate::exit::OK);
    }
    if args.file.exists() && !args.force {
        bail!(
            "{} exists; pass --force to overwrite it",
            args.file.display()
        );
    }
    std::fs::write(&args.file, text)
        .with_context(|| format!("cannot write {}", args.file.display()))?;
    eprintln!(
        "wrote {}; check it with `portwatch config check {}`",
        args.file.display(),
        args.file.display()
    );
    Ok(crate::exit::OK)
}
