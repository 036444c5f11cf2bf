//! Wire codecs for portwatch's protocol probes.
//!
//! This crate owns the bytes: it builds the requests the scanner sends
//! (NetBIOS name and session service, SMB1/SMB2 negotiation, UDP service
//! probes, TCP banner probes) and turns what comes back into typed values.
//!
//! It must not do I/O: no sockets, no files, no clocks, no async runtime.
//! Everything here is a pure function of its arguments, so the scan crate can
//! drive it and the tests can check it byte for byte. Parsers take untrusted
//! network input and return [`Result`]; they never panic, never loop without a
//! bound, and never allocate from a length field that the input size does not
//! back up. Strings taken from the network are capped and stripped of control
//! characters.
//!
//! Dependencies: `thiserror` only; `serde` derives behind the `serde` feature.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod banner;
pub mod error;
mod head;
pub mod netbios;
mod reader;
#[cfg(feature = "serde")]
mod serde_static;
pub mod smb;
pub mod text;
pub mod udp;

pub use error::{ProtoError, Result};

/// A fixed label (service name, error meaning) taken from one of this crate's tables.
///
/// It is an alias rather than `&'static str` written out so that, with the
/// `serde` feature, result types deserialise from any buffer: the label is
/// looked up in the tables instead of being borrowed from the input.
pub type Label = &'static str;
