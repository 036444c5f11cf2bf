//! The message every notifier renders: what happened to which port, and how to fix it.

use std::fmt::Write;
use std::net::IpAddr;

use portwatch_kb::Severity;
use portwatch_scan::Proto;
use serde::{Deserialize, Serialize};

use super::format::{escape_markdown, hex, human_span, rfc3339_utc};
use super::wording::{self, Advice, StateLine, Tail, Wording};

/// What an alert announces.
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
    strum::VariantArray,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum AlertKind {
    /// A confirmed violation began.
    Opened,
    /// The violation is still there.
    Reminder,
    /// The violation is over (confirmed).
    Resolved,
    /// A test message asked for by a person; nothing changed.
    Test,
}

impl AlertKind {
    /// The lowercase name (`opened`, `reminder`, `resolved`, `test`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The word that starts a title when the rule is unknown (`OPEN`, `REMINDER`,
    /// `RESOLVED`, `TEST`); [`Alert::title`] uses the rule's own verb.
    pub fn headline(self) -> &'static str {
        match self {
            AlertKind::Opened => "OPEN",
            AlertKind::Reminder => "REMINDER",
            AlertKind::Resolved => "RESOLVED",
            AlertKind::Test => "TEST",
        }
    }
}

/// One alert as stored in the outbox (JSON) and handed to every notifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Idempotency key of this message: a retry of the same message carries the same key.
    pub key: String,
    /// What the alert announces.
    pub kind: AlertKind,
    /// The target group whose policy was violated.
    pub group: String,
    /// Where the port was seen from (`local`: this server).
    #[serde(default = "local_vantage")]
    pub vantage: String,
    /// The host.
    pub host: IpAddr,
    /// The host's name, when known.
    pub hostname: Option<String>,
    /// The port (`None` for a host-wide finding).
    pub port: Option<u16>,
    /// The port's transport.
    pub proto: Option<Proto>,
    /// The policy rule, e.g. `must be closed`.
    pub rule: String,
    /// How bad it is.
    pub severity: Severity,
    /// The port state seen when the violation was confirmed (`open`, `closed`, …).
    pub state: Option<String>,
    /// The service name, when known.
    pub service: Option<String>,
    /// One line on what answered (NetBIOS name, SMB dialects, banner…).
    pub answered: Option<String>,
    /// The scan's protocol details (`details` of the scan output).
    pub details: serde_json::Value,
    /// When the violation began (ms since the Unix epoch).
    pub since_ms: i64,
    /// When this message was decided (ms since the Unix epoch).
    pub at_ms: i64,
    /// What the port is and why it matters (the knowledge base's `explain`).
    pub explain: Option<String>,
    /// Commands that close the port.
    pub fix: Vec<String>,
    /// The platform the commands are for (`ufw`, `windows`, …).
    pub fix_platform: Option<String>,
}

fn local_vantage() -> String {
    crate::config::vantage::LOCAL.to_string()
}

impl Alert {
    /// `445/tcp on 10.0.0.5`, or the address alone for a host-wide alert; seen from a vantage
    /// other than `local`, ` from VANTAGE` follows.
    pub fn target(&self) -> String {
        let target = match self.port_label() {
            Some(port) => format!("{port} on {}", self.host),
            None => self.host.to_string(),
        };
        match self.remote_vantage() {
            Some(v) => format!("{target} from {v}"),
            None => target,
        }
    }

    /// The vantage, unless it is this server's own.
    pub fn remote_vantage(&self) -> Option<&str> {
        (self.vantage != crate::config::vantage::LOCAL).then_some(self.vantage.as_str())
    }

    /// `445/tcp reachable from internet` (`443/tcp not reachable from internet` for a port
    /// expected open, `seen from internet` for a host-wide alert), for an alert from a
    /// vantage other than `local`.
    pub fn reachability(&self) -> Option<String> {
        let v = self.remote_vantage()?;
        Some(match self.port_label() {
            Some(port) if self.wording().advice == Advice::BringBack => {
                format!("{port} not reachable from {v}")
            }
            Some(port) => format!("{port} reachable from {v}"),
            None => format!("seen from {v}"),
        })
    }

    /// `445/tcp`, when the alert is about a port.
    pub fn port_label(&self) -> Option<String> {
        self.port.map(|port| match self.proto {
            Some(proto) => format!("{port}/{proto}"),
            None => port.to_string(),
        })
    }

    /// The host as people read it: `10.0.0.5 (filesrv01)`.
    pub fn host_label(&self) -> String {
        match &self.hostname {
            Some(name) if !name.is_empty() => format!("{} ({name})", self.host),
            _ => self.host.to_string(),
        }
    }

    /// What this message says happened: the one place that picks title verb, state line
    /// and advice for the alert's rule and kind.
    pub fn wording(&self) -> Wording {
        wording::wording(wording::rule_of(&self.rule), self.kind)
    }

    /// Whether it is about an agent gone quiet rather than a port (the agent's name is in
    /// `hostname`, when it was last heard from in `answered`).
    pub fn is_agent_stale(&self) -> bool {
        self.rule == crate::policy::Rule::AgentStale.label()
    }

    /// `AGENT STALE lan-1 (vantage lan): not heard from since …`, or
    /// `AGENT BACK lan-1 (vantage lan): heard from again after 2m stale`.
    fn agent_title(&self, verb: &str) -> String {
        let name = self.hostname.as_deref().unwrap_or_default();
        match self.kind {
            AlertKind::Resolved => format!(
                "{verb} {name} (vantage {}): heard from again after {} stale",
                self.vantage,
                human_span(self.at_ms - self.since_ms)
            ),
            _ => format!(
                "{verb} {name} (vantage {}): not heard from since {}",
                self.vantage,
                self.answered.as_deref().unwrap_or("its last heartbeat")
            ),
        }
    }

    /// One line: `OPEN 445/tcp on 10.0.0.5 (file-servers): must be closed`,
    /// `CLOSED 445/tcp on 10.0.0.5 (file-servers): must be closed (was open)`,
    /// `DOWN 443/tcp on 10.0.0.7 (web): expected open`.
    pub fn title(&self) -> String {
        let w = self.wording();
        if self.is_agent_stale() {
            return self.agent_title(w.verb);
        }
        let tail = match w.tail {
            Tail::Rule => self.rule.clone(),
            Tail::RuleWas(was) => format!("{} (was {was})", self.rule),
            Tail::Says(text) => text.to_string(),
        };
        format!("{} {} ({}): {tail}", w.verb, self.target(), self.group)
    }

    /// The `State:` line's value, if there is one.
    pub fn state_line(&self) -> Option<String> {
        let seen = self.state.as_deref().filter(|s| !s.is_empty());
        match self.wording().state {
            StateLine::Observed => seen.map(str::to_string),
            StateLine::Now(now) => Some(now.to_string()),
            StateLine::NowWasObserved(now) => Some(match seen {
                Some(seen) => format!("{now} (was {seen})"),
                None => now.to_string(),
            }),
        }
    }

    /// The advice after the facts: a heading and its lines, unless there is nothing to do.
    pub fn advice(&self) -> Option<AdviceText> {
        let port = self.port_label().unwrap_or_else(|| "the port".into());
        let from = match self.remote_vantage() {
            Some(v) => format!("from {v}"),
            None => "from this server".to_string(),
        };
        match self.wording().advice {
            Advice::Close if !self.fix.is_empty() => Some(AdviceText {
                heading: self.fix_heading(),
                lines: self.fix.clone(),
                commands: true,
            }),
            Advice::Close | Advice::None => None,
            Advice::BringBack => Some(AdviceText {
                heading: "How to bring it back".into(),
                lines: vec![
                    format!(
                        "Check that the service on {} is running and listening on {port}.",
                        self.host
                    ),
                    format!("Check that no firewall blocks {port} {from}."),
                ],
                commands: false,
            }),
            Advice::CheckHost => Some(AdviceText {
                heading: "How to check the host".into(),
                lines: vec![format!(
                    "Check that {} is up and reachable {from} (power, network, firewall).",
                    self.host
                )],
                commands: false,
            }),
        }
    }

    /// One sentence on what this message means.
    pub fn lead(&self) -> String {
        if self.is_agent_stale() && self.kind == AlertKind::Opened {
            return format!(
                "portwatch has not heard from agent {} for longer than [cluster] \
                 agent_stale_after: nothing is checked from vantage {} meanwhile.",
                self.hostname.as_deref().unwrap_or_default(),
                self.vantage
            );
        }
        match self.kind {
            AlertKind::Opened => match self.reachability() {
                Some(seen) => format!(
                    "portwatch confirmed a violation of the \"{}\" policy of group {}: {seen}.",
                    self.rule, self.group
                ),
                None => format!(
                    "portwatch confirmed a violation of the \"{}\" policy of group {}.",
                    self.rule, self.group
                ),
            },
            AlertKind::Reminder => format!(
                "This violation is still present after {}.",
                human_span(self.at_ms - self.since_ms)
            ),
            AlertKind::Resolved => format!(
                "This violation is over after {}.",
                human_span(self.at_ms - self.since_ms)
            ),
            AlertKind::Test => {
                "This is a test message from portwatch; no port changed.".to_string()
            }
        }
    }

    /// The facts an admin needs, as (label, value) pairs in reading order.
    pub fn facts(&self) -> Vec<(&'static str, String)> {
        let mut facts = vec![("Host", self.host_label())];
        if let Some(port) = self.port_label() {
            facts.push(("Port", port));
        }
        if let Some(v) = self.remote_vantage() {
            facts.push(("Seen from", v.to_string()));
        }
        if let Some(state) = self.state_line() {
            facts.push(("State", state));
        }
        let answered = if self.is_agent_stale() {
            "Last heard"
        } else {
            "Answered"
        };
        let optional = [("Service", &self.service), (answered, &self.answered)];
        for (label, value) in optional {
            if let Some(value) = value.as_ref().filter(|v| !v.is_empty()) {
                facts.push((label, value.clone()));
            }
        }
        facts.push(("Group", self.group.clone()));
        facts.push(("Policy", self.rule.clone()));
        facts.push(("Severity", self.severity.to_string()));
        let (since, at) = (rfc3339_utc(self.since_ms), rfc3339_utc(self.at_ms));
        match self.kind {
            AlertKind::Opened => {
                facts.push(("Since", since));
                facts.push(("Confirmed", at));
            }
            AlertKind::Reminder => {
                let span = human_span(self.at_ms - self.since_ms);
                facts.push(("Since", format!("{since} (for {span})")));
            }
            AlertKind::Resolved => {
                facts.push(("Began", since));
                facts.push(("Ended", at));
            }
            AlertKind::Test => facts.push(("Sent", at)),
        }
        facts
    }

    /// `How to close it (ufw)`, the heading above the fix commands.
    pub fn fix_heading(&self) -> String {
        match &self.fix_platform {
            Some(platform) if !platform.is_empty() => format!("How to close it ({platform})"),
            _ => "How to close it".to_string(),
        }
    }

    /// The scan details as compact JSON, unless empty.
    pub fn details_json(&self) -> Option<String> {
        match &self.details {
            serde_json::Value::Null => None,
            serde_json::Value::Object(map) if map.is_empty() => None,
            other => Some(other.to_string()),
        }
    }

    /// A key shared by the Opened, Reminder and Resolved messages of one violation (group,
    /// host, port, rule and start time), for PagerDuty's `dedup_key` and email threading.
    pub fn incident_key(&self) -> String {
        let port = self.port_label().unwrap_or_else(|| "host".into());
        let mut readable = format!(
            "portwatch:{}:{}:{port}:{}:{}",
            self.group, self.host, self.rule, self.since_ms
        );
        if let Some(v) = self.remote_vantage() {
            readable.push_str(&format!(":from-{v}"));
        }
        if readable.len() <= 200 {
            return readable;
        }
        let digest = ring::digest::digest(&ring::digest::SHA256, readable.as_bytes());
        format!("portwatch:{}", hex(digest.as_ref()))
    }

    /// The plain-text body: title, what it means, the facts, what the port is, how to
    /// close it, the scan details and the key.
    pub fn text(&self) -> String {
        let mut out = format!("{}\n\n{}\n\n", self.title(), self.lead());
        let facts = self.facts();
        let width = facts.iter().map(|(l, _)| l.len()).max().unwrap_or(0) + 1;
        for (label, value) in &facts {
            let _ = writeln!(out, "{:<width$} {value}", format!("{label}:"));
        }
        if let Some(explain) = self.explain.as_deref().filter(|e| !e.is_empty()) {
            let _ = write!(out, "\nWhat it is\n{}\n", indent(explain));
        }
        if let Some(advice) = self.advice() {
            let _ = write!(out, "\n{}\n", advice.heading);
            for line in &advice.lines {
                let _ = writeln!(out, "  {line}");
            }
        }
        if let Some(details) = self.details_json() {
            let _ = write!(out, "\nDetails: {details}\n");
        }
        let _ = write!(out, "\n-- \nportwatch alert {}\n", self.key);
        out
    }

    /// The same content in CommonMark: bold title, a list of facts, a fenced block of fix
    /// commands.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "**{}**\n\n{}\n\n",
            escape_markdown(&self.title()),
            escape_markdown(&self.lead())
        );
        for (label, value) in self.facts() {
            let _ = writeln!(out, "- **{label}:** {}", escape_markdown(&value));
        }
        if let Some(explain) = self.explain.as_deref().filter(|e| !e.is_empty()) {
            let _ = write!(out, "\n**What it is:** {}\n", escape_markdown(explain));
        }
        if let Some(advice) = self.advice() {
            let heading = escape_markdown(&advice.heading);
            if advice.commands {
                let _ = write!(
                    out,
                    "\n**{heading}:**\n\n```sh\n{}\n```\n",
                    advice.lines.join("\n").replace("```", "'''")
                );
            } else {
                let _ = write!(out, "\n**{heading}:**\n\n");
                for line in &advice.lines {
                    let _ = writeln!(out, "- {}", escape_markdown(line));
                }
            }
        }
        if let Some(details) = self.details_json() {
            let _ = write!(out, "\n**Details:** `{}`\n", details.replace('`', "'"));
        }
        out
    }
}

/// The advice of a message as rendered: `How to close it (ufw)` and its commands, or
/// `How to bring it back` and what to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdviceText {
    /// The heading.
    pub heading: String,
    /// The lines under it.
    pub lines: Vec<String>,
    /// Whether the lines are shell commands (shown as code) or sentences.
    pub commands: bool,
}

/// Indents every line by two spaces.
fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("  {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}
