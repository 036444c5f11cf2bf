//! Errors of the local crate: each names the file or command and what is wrong with it.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = LocalError> = std::result::Result<T, E>;

/// Everything that can go wrong while looking at this machine's sockets and firewall.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// A kernel table or system file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line of a `/proc/net` socket table is not in the kernel's format.
    #[error("{table} line {line}: {reason}")]
    ProcNetLine {
        /// The table (`tcp`, `udp6`, ...).
        table: &'static str,
        /// The 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The output of `nft -j list ruleset` is not JSON of the expected shape.
    #[error("nft ruleset JSON: {reason}")]
    NftJson {
        /// What is wrong with it.
        reason: String,
    },
}
