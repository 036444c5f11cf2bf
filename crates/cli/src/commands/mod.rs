//! One module per command; each returns the process exit code.

pub mod agent;
pub mod check;
pub mod config;
pub mod daemon;
pub mod diff;
pub mod explain;
pub mod fix;
pub mod history;
pub mod init;
pub mod local;
pub mod scan;
pub mod token;
pub mod transfer;

use crate::args::{Cli, Command};

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Scan(args) => scan::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Fix(args) => fix::run(args),
        Command::Check(args) => check::run(args),
        Command::Init(args) => init::run(args),
        Command::Config(args) => config::run(args),
        Command::Diff(args) => diff::run(args),
        Command::History(args) => history::run_history(args),
        Command::Hosts(args) => history::run_hosts(args),
        Command::Export(args) => transfer::run_export(args),
        Command::Import(args) => transfer::run_import(args),
        Command::Prune(args) => transfer::run_prune(args),
        Command::Watch(args) => daemon::run_watch(args),
        Command::Run(args) => daemon::run_daemon(args),
        Command::Token(args) => token::run(args),
        Command::Agent(args) => agent::run(args),
        Command::Notify(args) => match args.command {
            crate::args::NotifyCommand::Test { config } => daemon::run_notify_test(&config),
        },
        Command::Local(args) => local::run(args),
    }
}

/// The async runtime every command shares: one worker per core.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
