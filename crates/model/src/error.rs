//! Errors of the model crate: a port spec or `--top` count that cannot be turned into a
//! [`PortList`](crate::ports::PortList), naming the offending input.

/// A port list could not be made; the scan crate turns it into its `ScanError` with the same
/// message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortSpecError {
    /// A port spec token could not be understood.
    #[error("invalid port spec '{token}': {reason}")]
    InvalidPort {
        /// The token as the user wrote it.
        token: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The number of top ports is out of the knowledge base's range.
    #[error("invalid option --top: {reason}")]
    InvalidTop {
        /// What is wrong.
        reason: String,
    },
}
