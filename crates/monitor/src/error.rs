//! Errors of the monitor crate, each naming the file, key or value at fault.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = MonitorError> = std::result::Result<T, E>;

/// What can go wrong with configuration and policies.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// The configuration file could not be read.
    #[error("cannot read config {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not fit the schema; the message carries line and column.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong (and what to do).
        message: String,
    },
    /// A value is well-formed TOML but means nothing valid.
    #[error("{}: {key}: {message}", path.display())]
    Invalid {
        /// The file (or `<command line>`).
        path: PathBuf,
        /// Where in the file, e.g. `group "web" policy.must_be_closed`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// An environment override could not be applied.
    #[error("environment override: {0}")]
    Env(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(String),
}
