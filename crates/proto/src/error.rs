//! The one error type of this crate: what went wrong while decoding bytes from the network.

/// Why a parser rejected its input, naming the structure or field that was being read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// The input ended before a field was complete.
    #[error("{what}: truncated, needed {needed} bytes but only {got} are available")]
    Truncated {
        /// The field or structure being read.
        what: &'static str,
        /// Bytes the field needs, counted from the start of the input.
        needed: usize,
        /// Bytes the input holds.
        got: usize,
    },
    /// A field holds a value the format does not allow.
    #[error("{what}: malformed: {detail}")]
    Malformed {
        /// The field or structure being read.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// The input is well formed but is not the message that was expected.
    #[error("{what}: unexpected: {detail}")]
    Unexpected {
        /// The message or field being checked.
        what: &'static str,
        /// What was found instead.
        detail: String,
    },
    /// An encoder was asked to build something the format cannot carry.
    #[error("{what}: cannot encode: {detail}")]
    Unencodable {
        /// The message or field being built.
        what: &'static str,
        /// Why it cannot be built.
        detail: String,
    },
    /// `udp::parse_answer` was called with a service name it has no parser for.
    #[error("no UDP answer parser for service {0:?}")]
    UnknownService(String),
}

/// Result alias used by every parser in this crate.
pub type Result<T> = std::result::Result<T, ProtoError>;

impl ProtoError {
    /// Shorthand for [`ProtoError::Malformed`].
    pub(crate) fn malformed(what: &'static str, detail: impl Into<String>) -> Self {
        Self::Malformed {
            what,
            detail: detail.into(),
        }
    }

    /// Shorthand for [`ProtoError::Unexpected`].
    pub(crate) fn unexpected(what: &'static str, detail: impl Into<String>) -> Self {
        Self::Unexpected {
            what,
            detail: detail.into(),
        }
    }
}
