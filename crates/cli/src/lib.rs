//! The `portwatch` command line: argument parsing, output rendering, progress, exit codes.
//! A thin layer over the engine crates; it owns no scanning or storage logic.

pub mod args;
pub mod commands;
pub mod db;
pub mod exit;
pub mod output;
mod progress;
pub mod text;

use clap::Parser;
use std::process::ExitCode;

/// Parses the command line, runs the command and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let argv = match args::normalize(std::env::args_os()) {
        Ok(argv) => argv,
        Err(msg) => {
            eprintln!("portwatch: error: {msg}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let cli = match args::Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => exit::report(&e),
    }
}
