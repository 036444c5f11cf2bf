//! What one try of a probe learned, for every transport.

use crate::model::{PortState, Reason};
use std::net::SocketAddr;

/// The result of one try (or of the identification that follows an open port).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A final answer for this try.
    Answer(PortState, Reason),
    /// The TCP handshake completed; `local` is our end, used to spot self-connects.
    Connected {
        /// Our end of the connection.
        local: SocketAddr,
    },
    /// A SYN-ACK answered a raw SYN: open (no connection exists, so nothing to confirm).
    HalfOpen,
    /// A UDP datagram came back.
    Response(Vec<u8>),
    /// Identification of an open port finished.
    Identified(Box<crate::identify::Identity>),
    /// No answer within the timeout (UDP: and no canary was probed with the try).
    Timeout,
    /// UDP: no answer, and a canary (a port known closed) was probed right after the try.
    Silent {
        /// The canary answered: the host had ICMP budget to spare for the try.
        clean: bool,
    },
    /// The kernel refused to start the probe (out of descriptors, ports or buffers): retry later.
    Pushback,
}
