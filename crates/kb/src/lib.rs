//! portwatch-kb: portwatch's offline port knowledge base, compiled into the binary.
//!
//! It owns the exposure model ([`Exposure`]: loopback, LAN, internet, and which severity
//! applies where), the IANA port registry ([`registry`]), common names and unofficial
//! assignments ([`aliases`]), the top-ports ranking ([`top_ports`]), the curated risk pages
//! ([`pages`]), port explanations ([`explain`]) and remediation plans ([`fix`]).
//! Pure data and logic: no network or file I/O at run time, no terminal code, no async.

#![deny(missing_docs)]

pub mod aliases;
mod error;
mod explain;
mod exposure;
pub mod fix;
mod lookup;
pub mod pages;
pub mod registry;
mod severity;
mod top;
mod transport;

pub use aliases::Alias;
pub use error::{KbError, Result};
pub use explain::{Explanation, TransportRisk, explain, explain_name};
pub use exposure::{Exposure, is_private, severity_at, unmap};
pub use lookup::{
    Risk, port_transports, resolve_name, risk, risky_ports, service_name, service_ports,
};
pub use pages::Page;
pub use registry::RegistryEntry;
pub use severity::Severity;
pub use top::{top_ports, top_ports_max};
pub use transport::Transport;
