//! portwatch-store: the history of what every scan found, on SQLite (embedded default) or
//! PostgreSQL, with the same behaviour on both.
//!
//! The history is stored as *state spans*: one row per remembered port state (`open`,
//! `open|filtered`) from the scan that found it to the scan that found it gone, so the
//! database grows with changes, not with scans × ports. The crate also keeps the monitor's
//! alert states and an outbox of notifier messages, written in the same transaction as the
//! scan that caused them.
//!
//! It owns the schema (versioned migrations per dialect under `migrations/`) and depends only
//! on `portwatch-scan` for the result model; it knows nothing of terminals, HTTP or policies.
//! See the crate's README for the schema and the rules.

mod apply;
mod canon;
mod db;
mod diff;
mod error;
mod host_pages;
mod jobs;
mod last_seen;
mod leases;
mod model;
mod open;
mod outbox;
mod prune;
mod queries;
pub mod redact;
mod scan_pages;
mod scan_requests;
mod scans;
mod store;
mod tokens;
mod transfer;

pub use db::Dialect;
pub use error::{Result, StoreError};
pub use host_pages::{HostFilter, HostPage};
pub use jobs::{AgentRow, AgentSeen, Completion, JobClaim, JobRow, JobStatus, NewJob};
pub use model::{
    AlertStateRow, ApplyReport, ClaimTicket, Details, Effects, Fence, HostOutcome, HostRow,
    LOCAL_VANTAGE, LeaseRow, LeaseTicket, NewOutboxMessage, NewScan, OutboxClaim, OutboxRow,
    PortSnapshot, PruneReport, ScanCounts, ScanId, ScanOutcome, ScanRow, ScanStatus, SpanChange,
    SpanRow,
};
pub use scan_pages::{ScanFilter, ScanPage};
pub use scan_requests::{ScanRequestRow, ScanRequestState};
pub use scans::STALE_AFTER_MS;
pub use store::{PG_HISTORY_LOCK, Store};
pub use tokens::TokenRow;
pub use transfer::EXPORT_FORMAT;
