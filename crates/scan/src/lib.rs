//! portwatch's scan engine.
//!
//! Owns: target parsing, hostname resolution, host discovery (ARP, ICMP, TCP pings over raw
//! sockets), the TCP and UDP probing engines with adaptive timing, and the events they report.
//! The result model and the port specs are `portwatch-model`'s, re-exported here as [`model`]
//! and [`ports`].
//! Must not depend on: terminals, output formats, storage, HTTP. The engine reports results
//! as [`model::ScanEvent`]s on a channel; front ends decide what to print or store.

pub mod csv;
pub mod discover;
pub mod engine;
pub mod error;
pub mod identify;
pub mod model;
pub mod resolve;
pub mod scan;
pub mod targets;

pub use portwatch_model::ports;

pub use error::{Result, ScanError};
pub use model::{
    HostStatus, HostSummary, PortResult, PortRisk, PortState, ProbeMethod, Proto, Reason,
    SUMMARY_DETAIL, ScanEvent, details_summary,
};
