//! portwatch's monitoring logic: the configuration file (groups of targets, scan options,
//! schedules, policies), policy evaluation ("must be closed", "allowed open", "expected
//! open"), and (with the daemon) the scheduler, alert state machine and notifiers.
//!
//! Must not depend on: terminals, HTTP servers, a particular database. It drives the scan
//! engine and hands results to whoever stores or prints them.

pub mod alerts;
pub mod config;
pub mod daemon;
pub mod diff;
pub mod duration;
pub mod error;
pub mod job;
pub mod local_source;
pub mod notify;
pub mod policy;
pub mod runner;
pub mod shard;

pub use error::{MonitorError, Result};
