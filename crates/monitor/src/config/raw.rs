//! The configuration as written: serde types that reject unknown keys.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The whole file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Database URL (`sqlite://PATH` or `postgres://…`).
    pub database: Option<String>,
    /// Address of the dashboard and API (`run`).
    pub listen: Option<String>,
    /// How long history is kept (e.g. `400d`).
    pub keep: Option<String>,
    /// Values every group inherits.
    #[serde(default)]
    pub defaults: RawDefaults,
    /// Target groups.
    #[serde(default, rename = "group")]
    pub groups: Vec<RawGroup>,
    /// How alerts behave.
    #[serde(default)]
    pub alerts: RawAlerts,
    /// Where alerts go.
    #[serde(default)]
    pub notify: Vec<crate::notify::NotifierEntry>,
    /// Vantages besides the built-in `local`, `lan` and `internet` (`[vantage.NAME]`).
    #[serde(default)]
    pub vantage: BTreeMap<String, RawVantage>,
    /// Replicas on one database (`[cluster]`).
    #[serde(default)]
    pub cluster: RawCluster,
}

/// Replicas on one database (`[cluster]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    /// How long the scheduler lease lasts without renewal (e.g. `15s`).
    pub lease: Option<String>,
    /// How long an agent may go unheard before an agent-stale alert (e.g. `1m`).
    pub agent_stale_after: Option<String>,
}

/// A vantage of the config's own (`[vantage.dmz]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVantage {
    /// How what it sees is rated: `lan`, `internet`, or `address` (by each host's address).
    pub reach: Option<String>,
}

/// How alerts behave (`[alerts]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlerts {
    /// Observations (the scan, then re-probes) that confirm a change; default 2.
    pub confirmations: Option<u32>,
    /// Delay before a re-probe; default `3s`.
    pub confirm_after: Option<String>,
    /// Reminder interval while a violation lasts (`0` for none); default `4h`.
    pub remind_every: Option<String>,
    /// Send a message when a violation ends; default true.
    pub send_resolved: Option<bool>,
    /// Scans running at once at most; default 4.
    pub max_concurrent_scans: Option<usize>,
    /// When a resolve confirmed during a maintenance window is sent: `at-end` (default) or
    /// `at-once`.
    pub resolve_in_window: Option<String>,
}

/// A maintenance window during which a group's alerts are held back.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSilence {
    /// Start, RFC 3339 (`2026-11-24T22:00:00Z`).
    pub from: Option<String>,
    /// End, RFC 3339.
    pub until: Option<String>,
    /// A recurring start, as a cron expression (with `for`).
    pub cron: Option<String>,
    /// Length of a recurring window (e.g. `2h`).
    #[serde(rename = "for")]
    pub length: Option<String>,
    /// Why (shown in the dashboard).
    pub reason: Option<String>,
}

/// Values every group inherits unless it sets its own.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    /// Scan interval (e.g. `5m`).
    pub every: Option<String>,
    /// Scan options.
    #[serde(default)]
    pub scan: RawScanOptions,
}

/// One group of targets.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGroup {
    /// Unique name.
    pub name: String,
    /// What the group watches: `scan` (the default: scan `targets`) or `local` (this
    /// machine's own listening sockets, continuously).
    pub source: Option<RawSource>,
    /// Addresses, CIDRs, ranges, hostnames (a `local` group has none).
    #[serde(default)]
    pub targets: Vec<String>,
    /// Targets to leave out.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Ports to scan besides the policy's own: a port spec like `"1-1024,U:161"`, or a list
    /// like the policy keys (`["1-1024", "U:161"]`, numbers allowed), kept as one spec.
    #[serde(default, deserialize_with = "spec_or_list")]
    pub ports: Option<String>,
    /// The N most common TCP ports, scanned besides the policy's own.
    pub top: Option<usize>,
    /// Scan interval (e.g. `5m`).
    pub every: Option<String>,
    /// Scan schedule as a cron expression (instead of `every`).
    pub cron: Option<String>,
    /// Scan options.
    #[serde(default)]
    pub scan: RawScanOptions,
    /// The vantages it is observed from (default `["local"]`, this server).
    pub vantages: Option<Vec<String>>,
    /// The policy.
    pub policy: Option<RawPolicy>,
    /// Notifiers for this group's alerts (default: all of them).
    pub notify: Option<Vec<String>>,
    /// Maintenance windows.
    #[serde(default)]
    pub silence: Vec<RawSilence>,
    /// This group's `resolve_in_window` (default: the one of `[alerts]`).
    pub resolve_in_window: Option<String>,
    /// How a round's scan is split into shards (default: one shard).
    pub shard: Option<RawShard>,
}

/// How a group's scan is split (`shard = { addresses = 65536, ports = 1000 }`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawShard {
    /// Addresses per shard (default: every address in one shard).
    pub addresses: Option<u64>,
    /// Ports per shard, TCP and UDP counted together (default: every port in one shard).
    pub ports: Option<u64>,
}

/// What a group watches (`source = "scan"` or `"local"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawSource {
    /// Scan the group's targets over the network.
    Scan,
    /// Watch this machine's listening sockets.
    Local,
}

/// Port rules of a group.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    /// Ports that must never be open (port specs, or `risky`).
    #[serde(default)]
    pub must_be_closed: Vec<String>,
    /// Ports that may be open; anything else open is unexpected.
    pub allowed_open: Option<Vec<String>>,
    /// Ports that must be open; a closed one is down.
    #[serde(default)]
    pub expected_open: Vec<String>,
    /// Severity of this group's violations (default: the knowledge base's, for where the host is).
    pub severity: Option<String>,
    /// What changes as seen from one vantage (`[group.policy.from.NAME]`).
    #[serde(default)]
    pub from: BTreeMap<String, RawVantagePolicy>,
}

/// The policy as seen from one vantage: each key set here replaces the group's key of the same
/// name; `allow` then takes ports out of `must_be_closed` (see `Group::policy_for`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVantagePolicy {
    /// Replaces the group's `must_be_closed`.
    pub must_be_closed: Option<Vec<String>>,
    /// Replaces the group's `allowed_open`.
    pub allowed_open: Option<Vec<String>>,
    /// Replaces the group's `expected_open`.
    pub expected_open: Option<Vec<String>>,
    /// Replaces the group's `severity`.
    pub severity: Option<String>,
    /// Ports that may be open from this vantage: taken out of `must_be_closed`.
    #[serde(default)]
    pub allow: Vec<String>,
}

/// Scan options a group may set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScanOptions {
    /// Retries of a silent port.
    pub retries: Option<u8>,
    /// Upper bound of adaptive retries.
    pub max_retries: Option<u8>,
    /// Probes per second at most.
    pub rate: Option<u32>,
    /// Probes awaiting an answer at most.
    pub max_parallel: Option<usize>,
    /// Lower bound of the probe timeout.
    pub min_rtt_timeout: Option<String>,
    /// Upper bound of the probe timeout.
    pub max_rtt_timeout: Option<String>,
    /// Probe timeout before the RTT is known.
    pub initial_rtt_timeout: Option<String>,
    /// Never call a host down.
    pub assume_up: Option<bool>,
    /// Identify services on open ports (default true).
    pub probes: Option<bool>,
    /// Scan every address of a hostname (`all`) or the first (`first`).
    pub resolve: Option<String>,
}

/// A port spec given as one string or as a list of specs and numbers, joined with commas (an
/// empty list adds nothing).
fn spec_or_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    use serde::de::{self, SeqAccess, Visitor};
    struct Spec;
    impl<'de> Visitor<'de> for Spec {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a port spec (\"22,80,U:161\") or a list of them ([\"22\", \"U:161\"])")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(Spec)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element::<toml::Value>()? {
                match item {
                    toml::Value::String(s) => items.push(s),
                    toml::Value::Integer(n) => items.push(n.to_string()),
                    other => {
                        return Err(de::Error::custom(format!(
                            "ports: {other} is not a port spec; write ports like \"22\" or \"U:161\""
                        )));
                    }
                }
            }
            Ok((!items.is_empty()).then(|| items.join(",")))
        }
    }
    d.deserialize_option(Spec)
}
