//! The alert state machine, one entry per (group, host, port, rule). A violation is
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
}

impl Default for AlertRules {
    fn default() -> Self {
        AlertRules {
            confirmations: 2,
            confirm_after: Duration::from_millis(750),
            remind_every: Some(Duration::from_secs(4 * 3600)),
            send_resolved: true,
        }
    }
}

/// Where an entry is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Seen, not yet confirmed.
    Pending,
    /// Confirmed and announced (or silenced).
    Firing,
    /// Was firing; its absence is being confirmed.
    Resolving,
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
    /// The latest finding (what answered, severity…).
    pub finding: Finding,
}

/// What the book wants sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    /// A confirmed violation.
    Opened,
    /// Still violating.
    Reminder,
    /// Confirmed over.
    Resolved,
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
    /// The host.
    pub host: IpAddr,
    /// The port and transport (`None`: the host as a whole).
    pub port: Option<(u16, Proto)>,
}

/// What one observation covered: the hosts that answered and the ports probed on them.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    /// Hosts judged up in this observation.
    pub up: BTreeSet<IpAddr>,
    /// Hosts judged down.
    pub down: BTreeSet<IpAddr>,
    /// (port, proto) probed on every host of the observation.
    pub ports: BTreeSet<(u16, Proto)>,
}

impl Coverage {
    fn judged(&self, f: &Finding) -> bool {
        match (f.rule, f.port, f.proto) {
            (Rule::HostDown, _, _) => self.up.contains(&f.host) || self.down.contains(&f.host),
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
    /// Entries by key.
    pub entries: BTreeMap<String, Entry>,
}

impl AlertBook {
    /// Folds in what `group`'s scan (or re-probe) found at `now_ms`. `silenced` suppresses
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
                    // Back before the recovery was confirmed: still the same violation.
                    entry.status = Status::Firing;
                    entry.streak = 0;
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
                let done = entry.clone();
                self.entries.remove(&key);
                if rules.send_resolved && done.notified_ms.is_some() && !silenced {
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

    /// Reminders due at `now_ms` (and openings held back by a silence that has ended).
    pub fn tick(
        &mut self,
        rules: &AlertRules,
        now_ms: i64,
        silenced: impl Fn(&str) -> bool,
    ) -> Decision {
        let mut d = Decision::default();
        for (key, entry) in self.entries.iter_mut() {
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
        idempotency_key: format!("{key}|{kind:?}|{stamp}"),
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
            down: BTreeSet::new(),
            ports: ports.iter().map(|p| (*p, Proto::Tcp)).collect(),
        }
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
            remind_every: Some(Duration::from_secs(60)),
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
            remind_every: Some(Duration::from_secs(60)),
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
