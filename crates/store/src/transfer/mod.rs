//! Export and import of the whole history as JSON lines, the same on both dialects, so a
//! SQLite history can move to PostgreSQL (and back) with its ids and relations intact.

mod export;
mod import;

use portwatch_model::{PortState, Proto, Reason};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Version of the export format (the `format` of the header line).
pub const EXPORT_FORMAT: u32 = 1;

/// The vantage of lines written before vantages existed.
fn local_vantage() -> String {
    crate::model::LOCAL_VANTAGE.to_string()
}

/// One line of an export.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum Line {
    Header {
        format: u32,
        schema: i64,
    },
    Host {
        id: i64,
        addr: IpAddr,
        hostname: Option<String>,
        first_seen_at: Option<i64>,
        last_seen_at: Option<i64>,
        last_scan_id: Option<i64>,
        #[serde(default = "local_vantage")]
        vantage: String,
        #[serde(default)]
        probed: Option<String>,
    },
    TargetSet {
        id: i64,
        hosts: Vec<i64>,
    },
    Scan {
        id: i64,
        seq: Option<i64>,
        started_at: i64,
        finished_at: Option<i64>,
        status: String,
        source: String,
        args: Vec<String>,
        targets: Vec<String>,
        ports: String,
        pid: Option<i64>,
        machine: Option<String>,
        heartbeat_at: Option<i64>,
        target_set_id: Option<i64>,
        hosts_up: Option<i64>,
        hosts_down: Option<i64>,
        open_ports: Option<i64>,
        open_filtered_ports: Option<i64>,
        error: Option<String>,
        #[serde(default = "local_vantage")]
        vantage: String,
    },
    Span {
        id: i64,
        host_id: i64,
        port: u16,
        proto: Proto,
        state: PortState,
        reason: Reason,
        service: Option<String>,
        details: serde_json::Map<String, serde_json::Value>,
        from_scan: i64,
        to_scan: Option<i64>,
    },
    AlertState {
        key: String,
        status: String,
        since: i64,
        data: serde_json::Value,
        updated_at: i64,
    },
    Outbox {
        id: i64,
        created_at: i64,
        idempotency_key: String,
        channel: String,
        payload: serde_json::Value,
        attempts: i64,
        next_attempt_at: i64,
        delivered_at: Option<i64>,
        last_error: Option<String>,
    },
}

/// Tables in import order, with whether rows have an identity id.
pub(super) const TABLES: [(&str, bool); 7] = [
    ("hosts", true),
    ("target_sets", true),
    ("target_set_hosts", false),
    ("scans", true),
    ("spans", true),
    ("alert_states", false),
    ("outbox", true),
];
