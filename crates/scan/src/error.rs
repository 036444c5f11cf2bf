//! Errors of the scan crate: each names the offending input or the operation and address.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = ScanError> = std::result::Result<T, E>;

/// Everything that can go wrong while preparing or running a scan.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// A target token could not be understood.
    #[error("invalid target '{token}': {reason}")]
    InvalidTarget {
        /// The token as the user wrote it.
        token: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A port spec token could not be understood.
    #[error("invalid port spec '{token}': {reason}")]
    InvalidPort {
        /// The token as the user wrote it.
        token: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A hostname did not resolve.
    #[error("cannot resolve '{host}': {reason}")]
    Resolve {
        /// The hostname.
        host: String,
        /// The resolver's answer.
        reason: String,
    },
    /// A target list file could not be read.
    #[error("cannot read target list {}: {source}", path.display())]
    TargetFile {
        /// The path given with `-iL`.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The scan would cover more addresses than allowed without confirmation.
    #[error(
        "{count} addresses is more than a /16 (65,536); pass --yes if you really mean to scan them"
    )]
    TooManyTargets {
        /// How many addresses the targets expand to.
        count: u128,
    },
    /// No address is left to scan.
    #[error("no targets to scan{0}")]
    NoTargets(String),
    /// No port is left to scan.
    #[error("no ports to scan")]
    NoPorts,
    /// An option value is out of range or inconsistent.
    #[error("invalid option {option}: {reason}")]
    InvalidOption {
        /// The option name.
        option: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// `--syn` was asked for without the privilege raw sockets need.
    #[error(
        "--syn needs raw sockets: run as root or give the binary CAP_NET_RAW \
         (setcap cap_net_raw+ep), or use --connect"
    )]
    SynNeedsPrivilege,
    /// A system call failed in a way the engine cannot adapt to.
    #[error("{op}: {source}")]
    Io {
        /// What the engine was doing.
        op: String,
        /// The error.
        source: std::io::Error,
    },
}

impl ScanError {
    /// Whether the error is the user's input (exit code 2) rather than a runtime failure.
    pub fn is_usage(&self) -> bool {
        !matches!(self, ScanError::Io { .. })
    }
}

/// A port spec or `--top` count the model refused, as the error it always was here.
impl From<portwatch_model::PortSpecError> for ScanError {
    fn from(e: portwatch_model::PortSpecError) -> Self {
        match e {
            portwatch_model::PortSpecError::InvalidPort { token, reason } => {
                ScanError::InvalidPort { token, reason }
            }
            portwatch_model::PortSpecError::InvalidTop { reason } => ScanError::InvalidOption {
                option: "--top",
                reason,
            },
        }
    }
}
