//! portwatch's result model: the plain data the scan engine produces and the store, the
//! monitor, the web and the CLI read.
//!
//! Owns: protocols, port states and reasons (the contract strings), per-port results and
//! per-host summaries with their serde forms, and the port list with its spec parser.
//! Must not depend on: sockets, async runtimes, storage, HTTP, or any portwatch crate but the
//! knowledge base (which says what a service name or a bare policy port means, and how risky a
//! port is). So the store can read results without depending on the scan engine.

pub mod error;
pub mod ports;
pub mod result;

pub use error::PortSpecError;
pub use result::{
    HostStatus, HostSummary, PortResult, PortRisk, PortState, ProbeMethod, Proto, Reason,
    SUMMARY_DETAIL, details_summary,
};
