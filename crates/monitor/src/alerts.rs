//! The alert state machine, one entry per (group, vantage, host, port, rule). A violation is
//! confirmed by re-probing before it alerts, alerts once, reminds while it lasts, and sends a
//! resolve once its absence is confirmed the same way. The whole book is plain data, saved
//! with the scan that changed it, so a restart picks up where it left off.

use crate::policy::{Finding, Rule};
use portwatch_scan::Proto;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

/// How alerts behave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRules {
    /// Consecutive observations (the scan, then re-probes) before a violation alerts or a
    /// recovery resolves; at least 1.
    pub confirmations: u32,
    /// Delay before a re-probe (longer than a flap that should not alert).
    pub confirm_after: Duration,
    /// Remind at this interval while a violation lasts (`None`: never).
    pub remind_every: Option<Duration>,
    /// Send a message when a violation is resolved.
    pub send_resolved: bool,
    /// When to send a resolve that is confirmed during a maintenance window.
    pub resolve_in_window: ResolveInWindow,
}

/// When a resolve confirmed during a maintenance window is sent (`resolve_in_window`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ResolveInWindow {
    /// Held until the window ends, then sent (unless the violation came back meanwhile).
    #[default]
    AtEnd,
    /// Sent at once, window or not.
    AtOnce,
}

impl ResolveInWindow {
    /// The config spellings, for messages.
    pub const NAMES: &'static str = "\"at-end\" or \"at-once\"";

    /// Parses the config spelling.
    pub fn parse(text: &str) -> Option<ResolveInWindow> {
        match text.trim() {
            "at-end" => Some(ResolveInWindow::AtEnd),
            "at-once" => Some(ResolveInWindow::AtOnce),
            _ => None,
        }
    }
}

impl Default for AlertRules {
    fn default() -> Self {
        AlertRules {
            confirmations: 2,
            confirm_after: Duration::from_millis(750),
            remind_every: Some(Duration::from_hours(4)),
            send_resolved: true,
            resolve_in_window: ResolveInWindow::AtEnd,
        }
    }
}

/// Where an entry is in its life (stored spellings written out, see [`Status::as_str`]).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[strum(serialize_all = "lowercase")]
pub enum Status {
    /// Seen, not yet confirmed.
    #[serde(rename = "pending")]
    Pending,
    /// Confirmed and announced (or silenced).
    #[serde(rename = "firing")]
    Firing,
    /// Was firing; its absence is being confirmed (or, with `resolved_ms`, it is confirmed
    /// and the resolve waits for a maintenance window to end).
    #[serde(rename = "resolving")]
    Resolving,
}

impl Status {
    /// The stored spelling (the store's `status` column and the entry JSON).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One tracked violation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Where it is in its life.
    pub status: Status,
    /// When the violation was first seen (ms).
    pub since_ms: i64,
    /// Consecutive observations in the current direction.
    pub streak: u32,
    /// When the opening message went out (ms); `None` while silenced or pending.
    pub notified_ms: Option<i64>,
    /// When the last reminder went out.
    pub reminded_ms: Option<i64>,
    /// Acknowledged by an admin: no reminders.
    #[serde(default)]
    pub acknowledged: bool,
    /// Silenced by an admin until this time (ms): no messages until then.
    #[serde(default)]
    pub silenced_until_ms: Option<i64>,
    /// When its end was confirmed during a maintenance window (ms): the resolve is held until
    /// the window ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_ms: Option<i64>,
    /// The latest finding (what answered, severity…).
    pub finding: Finding,
}

/// Version of the stored entry encoding (the `v` field of an alert-state row's JSON). Rows
/// without `v` are version 0: what portwatch wrote before the field existed, the same fields
/// without `resolved_ms`. Raise it when the JSON changes in a way older readers get wrong, and
/// keep reading every older version here.
pub const STATE_VERSION: u64 = 1;

/// Why a stored alert state cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// A newer portwatch wrote it.
    #[error(
        "written by a newer portwatch (state version {0}; this one reads versions 0 to {STATE_VERSION})"
    )]
    Newer(u64),
    /// Not an entry of any known version.
    #[error("not an alert state of version {version}: {message}")]
    Invalid {
        /// The version it claimed (0 when it claimed none).
        version: u64,
        /// What is wrong.
        message: String,
    },
}

/// The stored JSON of an entry, at [`STATE_VERSION`].
pub fn encode_entry(entry: &Entry) -> serde_json::Value {
    let mut value = serde_json::to_value(entry).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.insert("v".into(), STATE_VERSION.into());
    }
    value
}

/// Reads a stored entry of any version up to [`STATE_VERSION`].
pub fn decode_entry(mut data: serde_json::Value) -> Result<Entry, StateError> {
    let invalid = |version: u64, message: String| StateError::Invalid { version, message };
    let Some(map) = data.as_object_mut() else {
        return Err(invalid(0, "not a JSON object".into()));
    };
    let version = match map.remove("v") {
        None => 0,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| invalid(0, format!("`v` is {v}, not a version number")))?,
    };
    match version {
        // Version 0 has the same fields as 1 minus `resolved_ms` (which defaults to none).
        0 | 1 => serde_json::from_value(data).map_err(|e| invalid(version, e.to_string())),
        newer => Err(StateError::Newer(newer)),
    }
}

/// What the book wants sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageKind {
    /// A confirmed violation.
    #[serde(rename = "opened")]
    Opened,
    /// Still violating.
    #[serde(rename = "reminder")]
    Reminder,
    /// Confirmed over.
    #[serde(rename = "resolved")]
    Resolved,
}

impl MessageKind {
    /// The kind's part of an idempotency key. Frozen: the spellings keys have had since the
    /// first release (the variants' former `Debug` names), so a message queued by an older
    /// version and the same message decided again share a key.
    pub fn key_name(self) -> &'static str {
        match self {
            MessageKind::Opened => "Opened",
            MessageKind::Reminder => "Reminder",
            MessageKind::Resolved => "Resolved",
        }
    }
}

/// A message to send, with a key that makes it idempotent.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Opened, reminder or resolved.
    pub kind: MessageKind,
    /// Unique per message: entry key + kind + the time it refers to.
    pub idempotency_key: String,
    /// The entry's key.
    pub key: String,
    /// When the violation began.
    pub since_ms: i64,
    /// When this message was decided.
    pub at_ms: i64,
    /// The finding it is about.
    pub finding: Finding,
}

/// A port (or host) to probe again before deciding.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reprobe {
    /// The group.
    pub group: String,
    /// The vantage to probe from (the one that saw the change).
    pub vantage: String,
    /// The host.
    pub host: IpAddr,
    /// The port and transport (`None`: the host as a whole).
    pub port: Option<(u16, Proto)>,
}

/// What one observation covered: where it was made from, the hosts that answered and the
/// ports probed on them.
#[derive(Debug, Clone)]
pub struct Coverage {
    /// The vantage it was made from: only entries seen from there can be judged gone.
    pub vantage: String,
    /// Hosts judged up in this observation.
    pub up: BTreeSet<IpAddr>,
    /// Hosts judged down.
    pub down: BTreeSet<IpAddr>,
    /// (port, proto) probed on every host of the observation.
    pub ports: BTreeSet<(u16, Proto)>,
    /// Whether it is a look at every agent's heartbeat, the only observation that can judge
    /// an agent-stale entry gone (see `daemon::agents`).
    pub agents: bool,
}

impl Default for Coverage {
    fn default() -> Self {
        Coverage {
            vantage: crate::config::vantage::LOCAL.to_string(),
            up: BTreeSet::new(),
            down: BTreeSet::new(),
            ports: BTreeSet::new(),
            agents: false,
        }
    }
}

impl Coverage {
    fn judged(&self, f: &Finding) -> bool {
        if f.rule == Rule::AgentStale || self.agents {
            return f.rule == Rule::AgentStale && self.agents;
        }
        if f.vantage != self.vantage {
            return false;
        }
        match (f.rule, f.port, f.proto) {
            (Rule::HostDown | Rule::CannotVerify, _, _) => {
                self.up.contains(&f.host) || self.down.contains(&f.host)
            }
            (_, Some(p), Some(t)) => self.up.contains(&f.host) && self.ports.contains(&(p, t)),
            _ => false,
        }
    }
}

/// The outcome of folding in one observation.
#[derive(Debug, Clone, Default)]
pub struct Decision {
    /// Messages to put in the outbox.
    pub messages: Vec<Message>,
    /// Probes to run after `confirm_after` to confirm pending changes.
    pub reprobes: Vec<Reprobe>,
    /// Entries that changed (to save).
    pub changed: BTreeMap<String, Option<Entry>>,
}

/// Every tracked violation, by key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertBook {
    /// Entries by key; read from outside through [`get`](Self::get) and [`iter`](Self::iter)
    /// so that only the monitor changes them.
    pub(crate) entries: BTreeMap<String, Entry>,
}

impl AlertBook {
    /// The entry tracked under `key`, if any.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// Every tracked entry with its key, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries.iter().map(|(k, e)| (k.as_str(), e))
    }

    /// How many entries are tracked.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many entries seen from `vantage` at `severity` are firing (announced or silenced,
    /// not pending and not on their way out).
    pub fn firing(&self, vantage: &str, severity: portwatch_kb::Severity) -> usize {
        self.entries
            .values()
            .filter(|e| e.status == Status::Firing)
            .filter(|e| e.finding.vantage == vantage && e.finding.severity == severity)
            .count()
    }

    /// The vantages the entries were seen from.
    pub fn vantages(&self) -> BTreeSet<String> {
        self.entries
            .values()
            .map(|e| e.finding.vantage.clone())
            .collect()
    }

    /// Folds in what `group`'s scan (or re-probe) from `coverage.vantage` found at `now_ms`:
    /// only entries of the same group and vantage can be resolved by it. `silenced` suppresses
    /// messages (the state still moves, and a violation still firing when the silence ends is
    /// announced then).
    pub fn observe(
        &mut self,
        group: &str,
        findings: &[Finding],
        coverage: &Coverage,
        rules: &AlertRules,
        now_ms: i64,
        silenced: bool,
    ) -> Decision {
        let mut d = Decision::default();
        let confirmations = rules.confirmations.max(1);
        let present: BTreeMap<String, &Finding> = findings.iter().map(|f| (f.key(), f)).collect();
        for (key, finding) in &present {
            let entry = self.entries.entry(key.clone()).or_insert_with(|| Entry {
                status: Status::Pending,
                since_ms: now_ms,
                streak: 0,
                notified_ms: None,
                reminded_ms: None,
                acknowledged: false,
                silenced_until_ms: None,
                resolved_ms: None,
                finding: (*finding).clone(),
            });
            // A confirmation re-probe does not identify services: keep what the scan learned.
            let answered = entry.finding.answered.take();
            entry.finding = (*finding).clone();
            if entry.finding.answered.is_none() {
                entry.finding.answered = answered;
            }
            match entry.status {
                Status::Pending => {
                    entry.streak += 1;
                    if entry.streak >= confirmations {
                        entry.status = Status::Firing;
                        entry.streak = 0;
                    } else {
                        d.reprobes.push(reprobe(group, finding));
                    }
                }
                Status::Resolving => {
                    // Back before the recovery was confirmed (or before its held resolve went
                    // out): still the same violation, and the receiver still has it open.
                    entry.status = Status::Firing;
                    entry.streak = 0;
                    entry.resolved_ms = None;
                }
                Status::Firing => {}
            }
            let quiet = silenced || entry.silenced_until_ms.is_some_and(|t| now_ms < t);
            if entry.status == Status::Firing && entry.notified_ms.is_none() && !quiet {
                entry.notified_ms = Some(now_ms);
                d.messages
                    .push(message(MessageKind::Opened, key, entry, now_ms));
            }
            d.changed.insert(key.clone(), Some(entry.clone()));
        }
        let absent: Vec<String> = self
            .entries
            .iter()
            .filter(|(k, e)| {
                e.finding.group == group && !present.contains_key(*k) && coverage.judged(&e.finding)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in absent {
            let Some(entry) = self.entries.get_mut(&key) else {
                continue;
            };
            if entry.resolved_ms.is_some() {
                // Confirmed over already; its resolve waits for the window to end.
                continue;
            }
            match entry.status {
                Status::Pending => {
                    // A flap shorter than the confirmation: forget it, say nothing.
                    self.entries.remove(&key);
                    d.changed.insert(key, None);
                    continue;
                }
                Status::Firing => {
                    entry.status = Status::Resolving;
                    entry.streak = 1;
                }
                Status::Resolving => entry.streak += 1,
            }
            if entry.streak >= confirmations {
                let announced = rules.send_resolved && entry.notified_ms.is_some();
                if announced && silenced && rules.resolve_in_window == ResolveInWindow::AtEnd {
                    // The receiver has it open: hold the resolve until the window ends.
                    entry.resolved_ms = Some(now_ms);
                    entry.streak = 0;
                    d.changed.insert(key, Some(entry.clone()));
                    continue;
                }
                let done = entry.clone();
                self.entries.remove(&key);
                if announced {
                    d.messages
                        .push(message(MessageKind::Resolved, &key, &done, now_ms));
                }
                d.changed.insert(key, None);
            } else {
                d.reprobes.push(reprobe(group, &entry.finding));
                d.changed.insert(key, Some(entry.clone()));
            }
        }
        d.reprobes.sort();
        d.reprobes.dedup();
        d
    }

    /// Reminders due at `now_ms`, openings held back by a silence that has ended, and
    /// resolves held back by a maintenance window that has ended (`silenced` tells whether a
    /// group's window is open now).
    pub fn tick(
        &mut self,
        rules: &AlertRules,
        now_ms: i64,
        silenced: impl Fn(&str) -> bool,
    ) -> Decision {
        let mut d = Decision::default();
        let released: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| e.resolved_ms.is_some() && !silenced(&e.finding.group))
            .map(|(k, _)| k.clone())
            .collect();
        for key in released {
            if let Some(done) = self.entries.remove(&key) {
                d.messages
                    .push(message(MessageKind::Resolved, &key, &done, now_ms));
                d.changed.insert(key, None);
            }
        }
        for (key, entry) in &mut self.entries {
            if entry.resolved_ms.is_some() {
                continue;
            }
            let quiet = entry.silenced_until_ms.is_some_and(|t| now_ms < t);
            if entry.status != Status::Firing || quiet || silenced(&entry.finding.group) {
                continue;
            }
            if entry.notified_ms.is_none() {
                entry.notified_ms = Some(now_ms);
                d.messages
                    .push(message(MessageKind::Opened, key, entry, now_ms));
                d.changed.insert(key.clone(), Some(entry.clone()));
                continue;
            }
            let Some(every) = rules.remind_every else {
                continue;
            };
            if entry.acknowledged {
                continue;
            }
            let last = entry
                .reminded_ms
                .or(entry.notified_ms)
                .unwrap_or(entry.since_ms);
            if now_ms - last >= every.as_millis() as i64 {
                entry.reminded_ms = Some(now_ms);
                d.messages
                    .push(message(MessageKind::Reminder, key, entry, now_ms));
                d.changed.insert(key.clone(), Some(entry.clone()));
            }
        }
        d
    }
}

fn reprobe(group: &str, f: &Finding) -> Reprobe {
    Reprobe {
        group: group.to_string(),
        vantage: f.vantage.clone(),
        host: f.host,
        port: f.port.zip(f.proto),
    }
}

fn message(kind: MessageKind, key: &str, entry: &Entry, now_ms: i64) -> Message {
    let stamp = match kind {
        MessageKind::Opened => entry.since_ms,
        MessageKind::Reminder | MessageKind::Resolved => now_ms,
    };
    Message {
        kind,
        idempotency_key: format!("{key}|{}|{stamp}", kind.key_name()),
        key: key.to_string(),
        since_ms: entry.since_ms,
        at_ms: now_ms,
        finding: entry.finding.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portwatch_kb::Severity;

    fn finding(port: u16) -> Finding {
        Finding {
            group: "g".into(),
            vantage: "local".into(),
            host: "10.0.0.5".parse().unwrap(),
            hostname: None,
            port: Some(port),
            proto: Some(Proto::Tcp),
            rule: Rule::MustBeClosed,
            severity: Severity::High,
            state: None,
            service: None,
            answered: None,
            explain: None,
            fix: None,
        }
    }

    fn coverage(ports: &[u16]) -> Coverage {
        Coverage {
            up: ["10.0.0.5".parse().unwrap()].into(),
            ports: ports.iter().map(|p| (*p, Proto::Tcp)).collect(),
            ..Default::default()
        }
    }

    fn from(vantage: &str, f: Finding) -> Finding {
        Finding {
            vantage: vantage.into(),
            ..f
        }
    }

    #[test]
    fn vantages_of_one_group_keep_their_own_entries() {
        let rules = AlertRules {
            confirmations: 1,
            ..Default::default()
        };
        let mut book = AlertBook::default();
        let from_lan = Coverage {
            vantage: "lan".into(),
            ..coverage(&[445])
        };
        let from_internet = Coverage {
            vantage: "internet".into(),
            ..coverage(&[445])
        };
        let d = book.observe(
            "g",
            &[from("internet", finding(445))],
            &from_internet,
            &rules,
            0,
            false,
        );
        assert_eq!(
            d.messages[0].key,
            "g|10.0.0.5|445/tcp|MustBeClosed|from:internet"
        );
        // lan sees 445 open too: a second entry, its own message.
        let d = book.observe(
            "g",
            &[from("lan", finding(445))],
            &from_lan,
            &rules,
            1,
            false,
        );
        assert_eq!(
            d.messages[0].key,
            "g|10.0.0.5|445/tcp|MustBeClosed|from:lan"
        );
        assert_eq!(book.entries.len(), 2);
        // lan sees it closed: only lan's entry resolves; what internet saw stays.
        let d = book.observe("g", &[], &from_lan, &rules, 2, false);
        assert_eq!(kinds(&d), vec![MessageKind::Resolved]);
        assert_eq!(d.messages[0].finding.vantage, "lan");
        let keys: Vec<&String> = book.entries.keys().collect();
        assert_eq!(keys, ["g|10.0.0.5|445/tcp|MustBeClosed|from:internet"]);
        // Nor does the server's own (local) view resolve it.
        let d = book.observe("g", &[], &coverage(&[445]), &rules, 3, false);
        assert!(d.messages.is_empty() && book.entries.len() == 1);
        // A reprobe goes back to the vantage that saw the change.
        let slow = AlertRules::default();
        let d = book.observe(
            "h",
            &[Finding {
                group: "h".into(),
                ..from("lan", finding(22))
            }],
            &from_lan,
            &slow,
            4,
            false,
        );
        assert_eq!(d.reprobes[0].vantage, "lan");
    }

    fn kinds(d: &Decision) -> Vec<MessageKind> {
        d.messages.iter().map(|m| m.kind).collect()
    }

    #[test]
    fn confirmed_violation_alerts_once_then_resolves_once() {
        let rules = AlertRules::default();
        let mut book = AlertBook::default();
        let cov = coverage(&[445]);
        let d = book.observe("g", &[finding(445)], &cov, &rules, 0, false);
        assert!(d.messages.is_empty(), "not confirmed yet");
        assert_eq!(d.reprobes.len(), 1);
        let d = book.observe("g", &[finding(445)], &cov, &rules, 3_000, false);
        assert_eq!(kinds(&d), vec![MessageKind::Opened]);
        assert_eq!(d.messages[0].since_ms, 0);
        for t in [60_000, 120_000] {
            let d = book.observe("g", &[finding(445)], &cov, &rules, t, false);
            assert!(d.messages.is_empty(), "alerts once");
        }
        let d = book.observe("g", &[], &cov, &rules, 180_000, false);
        assert!(d.messages.is_empty(), "recovery not confirmed yet");
        assert_eq!(d.reprobes.len(), 1);
        let d = book.observe("g", &[], &cov, &rules, 183_000, false);
        assert_eq!(kinds(&d), vec![MessageKind::Resolved]);
        assert!(book.entries.is_empty());
    }

    #[test]
    fn flap_faster_than_confirmation_raises_nothing() {
        let rules = AlertRules::default();
        let mut book = AlertBook::default();
        let cov = coverage(&[445]);
        assert!(
            book.observe("g", &[finding(445)], &cov, &rules, 0, false)
                .messages
                .is_empty()
        );
        let d = book.observe("g", &[], &cov, &rules, 3_000, false);
        assert!(d.messages.is_empty());
        assert!(book.entries.is_empty());
    }

    #[test]
    fn uncovered_ports_and_down_hosts_do_not_resolve() {
        let rules = AlertRules {
            confirmations: 1,
            ..Default::default()
        };
        let mut book = AlertBook::default();
        book.observe("g", &[finding(445)], &coverage(&[445]), &rules, 0, false);
        let d = book.observe("g", &[], &coverage(&[22]), &rules, 1_000, false);
        assert!(
            d.messages.is_empty() && !book.entries.is_empty(),
            "445 was not probed"
        );
        let down = Coverage {
            down: ["10.0.0.5".parse().unwrap()].into(),
            ports: [(445, Proto::Tcp)].into(),
            ..Default::default()
        };
        book.observe("g", &[], &down, &rules, 2_000, false);
        assert!(!book.entries.is_empty(), "a silent host proves nothing");
    }

    #[test]
    fn reminders_and_silences() {
        let rules = AlertRules {
            confirmations: 1,
            remind_every: Some(Duration::from_mins(1)),
            ..Default::default()
        };
        let mut book = AlertBook::default();
        let d = book.observe("g", &[finding(445)], &coverage(&[445]), &rules, 0, true);
        assert!(d.messages.is_empty(), "silenced");
        assert!(book.tick(&rules, 10_000, |_| true).messages.is_empty());
        assert_eq!(
            kinds(&book.tick(&rules, 20_000, |_| false)),
            vec![MessageKind::Opened]
        );
        assert!(book.tick(&rules, 50_000, |_| false).messages.is_empty());
        assert_eq!(
            kinds(&book.tick(&rules, 81_000, |_| false)),
            vec![MessageKind::Reminder]
        );
    }

    #[test]
    fn silenced_entries_stay_quiet_until_the_silence_ends() {
        let rules = AlertRules {
            confirmations: 1,
            remind_every: Some(Duration::from_mins(1)),
            ..Default::default()
        };
        let mut book = AlertBook::default();
        book.entries.insert(
            finding(445).key(),
            Entry {
                status: Status::Pending,
                since_ms: 0,
                streak: 0,
                notified_ms: None,
                reminded_ms: None,
                acknowledged: false,
                silenced_until_ms: Some(100_000),
                resolved_ms: None,
                finding: finding(445),
            },
        );
        let d = book.observe(
            "g",
            &[finding(445)],
            &coverage(&[445]),
            &rules,
            1_000,
            false,
        );
        assert!(d.messages.is_empty(), "silenced");
        assert!(book.tick(&rules, 50_000, |_| false).messages.is_empty());
        assert_eq!(
            kinds(&book.tick(&rules, 100_001, |_| false)),
            vec![MessageKind::Opened]
        );
    }

    fn resolve_in_a_window(rules: &AlertRules) -> (AlertBook, Decision) {
        let mut book = AlertBook::default();
        let cov = coverage(&[445]);
        let d = book.observe("g", &[finding(445)], &cov, rules, 0, false);
        assert_eq!(kinds(&d), vec![MessageKind::Opened]);
        let d = book.observe("g", &[], &cov, rules, 1_000, true);
        (book, d)
    }

    #[test]
    fn resolve_in_a_window_is_held_until_the_window_ends() {
        let rules = AlertRules {
            confirmations: 1,
            ..Default::default()
        };
        let (mut book, d) = resolve_in_a_window(&rules);
        assert!(d.messages.is_empty(), "held while the window is open");
        assert_eq!(book.entries.len(), 1, "kept until the resolve is sent");
        assert!(book.tick(&rules, 2_000, |_| true).messages.is_empty());
        let d = book.tick(&rules, 3_000, |_| false);
        assert_eq!(kinds(&d), vec![MessageKind::Resolved]);
        assert_eq!(d.messages[0].at_ms, 3_000);
        assert!(book.entries.is_empty());
        assert!(
            book.tick(&rules, 4_000, |_| false).messages.is_empty(),
            "once"
        );
    }

    #[test]
    fn violation_back_before_the_window_ends_cancels_the_held_resolve() {
        let rules = AlertRules {
            confirmations: 1,
            ..Default::default()
        };
        let (mut book, _) = resolve_in_a_window(&rules);
        let d = book.observe("g", &[finding(445)], &coverage(&[445]), &rules, 2_000, true);
        assert!(
            d.messages.is_empty(),
            "the receiver still has it open: nothing to say"
        );
        assert!(book.tick(&rules, 3_000, |_| false).messages.is_empty());
        assert_eq!(book.entries.values().next().unwrap().status, Status::Firing);
    }

    #[test]
    fn resolve_in_window_at_once_sends_right_away() {
        let rules = AlertRules {
            confirmations: 1,
            resolve_in_window: ResolveInWindow::AtOnce,
            ..Default::default()
        };
        let (book, d) = resolve_in_a_window(&rules);
        assert_eq!(kinds(&d), vec![MessageKind::Resolved]);
        assert!(book.entries.is_empty());
    }

    #[test]
    fn cannot_verify_resolves_when_the_host_answers_again() {
        let rules = AlertRules {
            confirmations: 1,
            ..Default::default()
        };
        let mut book = AlertBook::default();
        let blind = Finding {
            port: None,
            proto: None,
            rule: Rule::CannotVerify,
            ..finding(445)
        };
        let down = Coverage {
            down: ["10.0.0.5".parse().unwrap()].into(),
            ports: [(445, Proto::Tcp)].into(),
            ..Default::default()
        };
        let d = book.observe("g", std::slice::from_ref(&blind), &down, &rules, 0, false);
        assert_eq!(kinds(&d), vec![MessageKind::Opened]);
        assert_eq!(d.messages[0].key, "g|10.0.0.5|CannotVerify");
        let d = book.observe("g", &[blind], &down, &rules, 1_000, false);
        assert!(d.messages.is_empty(), "still blind: said once");
        let d = book.observe("g", &[], &coverage(&[445]), &rules, 2_000, false);
        assert_eq!(kinds(&d), vec![MessageKind::Resolved]);
        assert!(book.entries.is_empty());
    }

    #[test]
    fn book_survives_a_round_trip_through_json() {
        let rules = AlertRules {
            confirmations: 1,
            ..Default::default()
        };
        let mut book = AlertBook::default();
        book.observe("g", &[finding(445)], &coverage(&[445]), &rules, 0, false);
        let json = serde_json::to_string(&book).unwrap();
        let back: AlertBook = serde_json::from_str(&json).unwrap();
        assert_eq!(back, book);
    }
}
