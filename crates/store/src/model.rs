//! The values the store takes and returns. Times are Unix milliseconds (`i64`) everywhere.

use portwatch_model::ports::PortList;
use portwatch_model::{HostStatus, HostSummary, PortResult, PortState, Proto, Reason};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// JSON object of protocol details, as in [`PortResult::details`].
pub type Details = serde_json::Map<String, serde_json::Value>;

/// The id of a scan row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScanId(pub i64);

impl fmt::Display for ScanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a scan is in its life.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase", parse_err_ty = String, parse_err_fn = unknown_status)]
pub enum ScanStatus {
    /// Begun and not finished; its process sends heartbeats.
    Running,
    /// Finished and applied to the history.
    Complete,
    /// Its process died or stopped sending heartbeats; nothing of it was applied.
    Incomplete,
    /// Its process gave up with an error; nothing of it was applied.
    Failed,
}

impl ScanStatus {
    /// The string stored in the database.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl fmt::Display for ScanStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn unknown_status(s: &str) -> String {
    format!("unknown scan status '{s}'")
}

/// The vantage of this server itself: what every scan run here observes from.
pub const LOCAL_VANTAGE: &str = "local";

fn local_vantage() -> String {
    LOCAL_VANTAGE.to_string()
}

/// What a new scan is about, recorded when it begins.
#[derive(Debug, Clone, PartialEq)]
pub struct NewScan {
    /// Who runs it: `scan`, `check`, `monitor:GROUP`…
    pub source: String,
    /// Where it observes from ([`LOCAL_VANTAGE`] for this server). Hosts, spans and the history
    /// diff are kept apart per vantage.
    pub vantage: String,
    /// The command line (or equivalent), for the record.
    pub args: Vec<String>,
    /// The targets as the user gave them.
    pub targets: Vec<String>,
    /// The ports it will probe.
    pub ports: PortList,
}

/// One host the scan covered, and whether it answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostOutcome {
    /// Its address.
    pub addr: IpAddr,
    /// The name the user gave for it, if any.
    pub hostname: Option<String>,
    /// Whether anything proved it is there. A down host's remembered ports are left alone.
    pub up: bool,
}

/// Everything a finished scan learned.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScanOutcome {
    /// Every host the scan covered, up or down.
    pub hosts: Vec<HostOutcome>,
    /// The ports probed on every up host; a remembered port in here that is not in `results`
    /// as open (or open|filtered) is closed now.
    pub coverage: PortList,
    /// Port results; only `open` and `open|filtered` are remembered, others may be included.
    pub results: Vec<PortResult>,
    /// Whether the scan identified services. A scan that did not (a monitor's confirmation
    /// re-probe, `--no-probes`) keeps what earlier scans learned about a port still in the
    /// same state instead of recording the details as gone.
    pub identified: bool,
}

impl ScanOutcome {
    /// The outcome of a scan of `hosts` (each host's summary and its port results) over the
    /// ports `coverage`: every host, up or down, and the results found open or open|filtered,
    /// the only ones remembered. `identified` as in [`ScanOutcome::identified`].
    pub fn of_hosts<'a>(
        hosts: impl IntoIterator<Item = (&'a HostSummary, &'a [PortResult])>,
        coverage: PortList,
        identified: bool,
    ) -> Self {
        let mut outcome = ScanOutcome {
            coverage,
            identified,
            ..Default::default()
        };
        for (summary, results) in hosts {
            outcome.hosts.push(HostOutcome {
                addr: summary.host,
                hostname: summary.hostname.clone(),
                up: summary.status == HostStatus::Up,
            });
            outcome.results.extend(
                results
                    .iter()
                    .filter(|r| matches!(r.state, PortState::Open | PortState::OpenFiltered))
                    .cloned(),
            );
        }
        outcome
    }
}

/// The monitor's persisted state for one alert (opaque to the store).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertStateRow {
    /// The monitor's key for the alert.
    pub key: String,
    /// The monitor's status word.
    pub status: String,
    /// Since when the status holds.
    pub since: i64,
    /// Anything else the monitor keeps.
    pub data: serde_json::Value,
    /// When the monitor last wrote it.
    pub updated_at: i64,
    /// The row's version (optimistic concurrency). Read: the version the row has (from 1).
    /// Written: the version the writer read (0: there was no row), and the write is refused
    /// with [`crate::StoreError::Conflict`] if the row has another one by then; a written row
    /// has the next version.
    #[serde(default)]
    pub version: i64,
}

/// A message for a notifier, written in the same transaction as the state that caused it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewOutboxMessage {
    /// A key unique to this message; writing the same key again is ignored.
    pub idempotency_key: String,
    /// The notifier channel it goes to.
    pub channel: String,
    /// What the notifier sends.
    pub payload: serde_json::Value,
}

/// What the monitor writes along with a scan's result.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Effects {
    /// Alert states to write (replacing rows with the same key).
    pub alert_states: Vec<AlertStateRow>,
    /// Messages to queue.
    pub outbox: Vec<NewOutboxMessage>,
    /// Jobs whose results this observation records: marked `applied` in its transaction.
    pub jobs_applied: Vec<i64>,
    /// The lease these writes are made under: when set, they are refused
    /// ([`crate::StoreError::Fenced`]) unless the lease still has this token.
    pub fence: Option<Fence>,
}

/// A lease and the token it had when its holder took it: the condition of a fenced write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The lease name.
    pub lease: String,
    /// Its token when taken.
    pub token: i64,
}

/// A lease held: what [`crate::Store::lease_renew`] and [`crate::Store::lease_release`] need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseTicket {
    /// The lease name.
    pub name: String,
    /// Who holds it.
    pub holder: String,
    /// The fencing token: one more on every change of holder.
    pub token: i64,
    /// When it runs out unless renewed (Unix ms, by the caller's clock).
    pub expires_at: i64,
}

impl LeaseTicket {
    /// The fence for writes made under this lease.
    pub fn fence(&self) -> Fence {
        Fence {
            lease: self.name.clone(),
            token: self.token,
        }
    }
}

/// A lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    /// The lease name.
    pub name: String,
    /// Its last holder (empty after a release).
    pub holder: String,
    /// The fencing token.
    pub token: i64,
    /// When the holder took it (Unix ms).
    pub acquired_at: i64,
    /// When it runs out (Unix ms); a lease is free from then on.
    pub expires_at: i64,
}

/// A remembered port state: what a span holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortSnapshot {
    /// `open` or `open|filtered`.
    pub state: PortState,
    /// Why, as seen by the scan that opened the span.
    pub reason: Reason,
    /// Service name.
    pub service: Option<String>,
    /// Protocol details.
    pub details: Details,
}

/// One port whose remembered state a scan changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanChange {
    /// The host.
    pub host: IpAddr,
    /// The host's name, if known.
    pub hostname: Option<String>,
    /// The port.
    pub port: u16,
    /// Its transport.
    pub proto: Proto,
    /// The state before (`None`: closed or filtered, i.e. not remembered).
    pub before: Option<PortSnapshot>,
    /// The state now (`None`: closed or filtered).
    pub after: Option<PortSnapshot>,
    /// Whether an earlier observation of the host from the same vantage probed this port. A
    /// port found open that no earlier observation probed (a new host, or a port the group's
    /// list just gained) was not seen to open: see [`SpanChange::opened`].
    #[serde(default)]
    pub covered_before: bool,
}

impl SpanChange {
    /// Whether the port opened: remembered now, not before, and an earlier observation from the
    /// same vantage probed it and found it closed.
    pub fn opened(&self) -> bool {
        self.before.is_none() && self.after.is_some() && self.covered_before
    }
}

/// What applying a scan did to the history.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ApplyReport {
    /// Spans opened.
    pub opened: u64,
    /// Spans closed.
    pub closed: u64,
    /// Each port whose remembered state changed, ordered by host, transport and port.
    pub changed: Vec<SpanChange>,
}

/// Counts recorded when a scan completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ScanCounts {
    /// Hosts that answered.
    pub hosts_up: u64,
    /// Hosts that did not.
    pub hosts_down: u64,
    /// `open` results on up hosts.
    pub open: u64,
    /// `open|filtered` results on up hosts.
    pub open_filtered: u64,
}

/// One scan as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanRow {
    /// Its id.
    pub id: ScanId,
    /// Position in the order scans were applied (complete scans only).
    pub seq: Option<i64>,
    /// When it began.
    pub started_at: i64,
    /// When it completed, failed or was given up.
    pub finished_at: Option<i64>,
    /// Its status.
    pub status: ScanStatus,
    /// Who ran it (`scan`, `check`, `monitor:GROUP`…).
    pub source: String,
    /// Where it observed from.
    #[serde(default = "local_vantage")]
    pub vantage: String,
    /// Its command line.
    pub args: Vec<String>,
    /// Its targets as given.
    pub targets: Vec<String>,
    /// Its ports, as a port spec (`T:22,80-90,U:53`).
    pub ports: String,
    /// Process id of the scanner.
    pub pid: Option<i64>,
    /// Name of the machine that ran it.
    pub machine: Option<String>,
    /// Last sign of life while running.
    pub heartbeat_at: Option<i64>,
    /// Counts (complete scans only).
    pub counts: Option<ScanCounts>,
    /// Why it failed or was given up.
    pub error: Option<String>,
}

/// One host as stored, with how many ports are remembered open now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostRow {
    /// Its address.
    pub addr: IpAddr,
    /// The vantage it was observed from (one row per address and vantage).
    #[serde(default = "local_vantage")]
    pub vantage: String,
    /// Its name, if one was ever given.
    pub hostname: Option<String>,
    /// When a complete scan first found it up.
    pub first_seen_at: Option<i64>,
    /// When a complete scan last found it up.
    pub last_seen_at: Option<i64>,
    /// That scan.
    pub last_scan_id: Option<ScanId>,
    /// Current spans (open and open|filtered ports).
    pub open_ports: u64,
}

/// A span: one remembered state of one port, from the scan that found it to the one that ended it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanRow {
    /// The host.
    pub host: IpAddr,
    /// The vantage the state was observed from.
    #[serde(default = "local_vantage")]
    pub vantage: String,
    /// The host's name, if known.
    pub hostname: Option<String>,
    /// The port.
    pub port: u16,
    /// Its transport.
    pub proto: Proto,
    /// The remembered state.
    #[serde(flatten)]
    pub snapshot: PortSnapshot,
    /// The scan that found this state.
    pub from_scan: ScanId,
    /// When that scan completed.
    pub from_at: i64,
    /// The scan that found it gone (`None`: still current).
    pub to_scan: Option<ScanId>,
    /// When that scan completed.
    pub to_at: Option<i64>,
}

/// A queued notifier message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxRow {
    /// Its id.
    pub id: i64,
    /// When it was queued.
    pub created_at: i64,
    /// Its idempotency key.
    pub idempotency_key: String,
    /// The notifier channel.
    pub channel: String,
    /// What to send.
    pub payload: serde_json::Value,
    /// Delivery attempts so far.
    pub attempts: u64,
    /// Not to be tried before this time.
    pub next_attempt_at: i64,
    /// When it was delivered.
    pub delivered_at: Option<i64>,
    /// The last delivery error.
    pub last_error: Option<String>,
}

/// Which claim of an outbox message a record is for: the message and its claim counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClaimTicket {
    /// The message's id.
    pub id: i64,
    /// Its `claim_token` when this claim was made.
    pub token: i64,
}

/// An outbox message claimed by this store instance, to be sent and then recorded with
/// [`Store::outbox_record_delivered`](crate::Store::outbox_record_delivered),
/// [`outbox_record_failed`](crate::Store::outbox_record_failed) or
/// [`outbox_release`](crate::Store::outbox_release).
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxClaim {
    /// The message.
    pub message: OutboxRow,
    /// The claim, for the record.
    pub ticket: ClaimTicket,
    /// When the claim lapses and another process may claim the message.
    pub expires_at: i64,
}

/// What pruning deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PruneReport {
    /// Closed spans deleted.
    pub spans: u64,
    /// Scans deleted.
    pub scans: u64,
    /// Target sets no scan refers to any more.
    pub target_sets: u64,
    /// Scan jobs applied or failed before the cutoff.
    #[serde(default)]
    pub jobs: u64,
}
