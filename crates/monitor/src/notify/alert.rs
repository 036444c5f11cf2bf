//! The message every notifier renders: what happened to which port, and how to fix it.

use std::fmt::Write;
use std::net::IpAddr;

use portwatch_kb::Severity;
use portwatch_scan::Proto;
use serde::{Deserialize, Serialize};

use super::format::{escape_markdown, hex, human_span, rfc3339_utc};

/// What an alert announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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
        match self {
            AlertKind::Opened => "opened",
            AlertKind::Reminder => "reminder",
            AlertKind::Resolved => "resolved",
            AlertKind::Test => "test",
        }
    }

    /// The word that starts a title (`OPEN`, `REMINDER`, `RESOLVED`, `TEST`).
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
    /// The port state seen (`open`, `closed`, …).
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

    /// `445/tcp reachable from internet` (`seen from internet` for a host-wide alert), for an
    /// alert from a vantage other than `local`.
    pub fn reachability(&self) -> Option<String> {
        let v = self.remote_vantage()?;
        Some(match self.port_label() {
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

    /// Whether it is about an agent gone quiet rather than a port (the agent's name is in
    /// `hostname`, when it was last heard from in `answered`).
    pub fn is_agent_stale(&self) -> bool {
        self.rule == crate::policy::Rule::AgentStale.label()
    }

    /// `AGENT STALE lan-1 (vantage lan): not heard from since …`, or `AGENT BACK …` when
    /// it is resolved.
    fn agent_title(&self) -> String {
        let name = self.hostname.as_deref().unwrap_or_default();
        let last = self.answered.as_deref().unwrap_or("its last heartbeat");
        match self.kind {
            AlertKind::Resolved => format!(
                "AGENT BACK {name} (vantage {}): heard from again after {} stale",
                self.vantage,
                human_span(self.at_ms - self.since_ms)
            ),
            AlertKind::Reminder => format!(
                "REMINDER AGENT STALE {name} (vantage {}): not heard from since {last}",
                self.vantage
            ),
            _ => format!(
                "AGENT STALE {name} (vantage {}): not heard from since {last}",
                self.vantage
            ),
        }
    }

    /// One line: `OPEN 445/tcp on 10.0.0.5 (file-servers): must be closed`.
    pub fn title(&self) -> String {
        if self.is_agent_stale() {
            return self.agent_title();
        }
        format!(
            "{} {} ({}): {}",
            self.kind.headline(),
            self.target(),
            self.group,
            self.rule
        )
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
        let optional = [
            ("State", &self.state),
            ("Service", &self.service),
            (
                if self.is_agent_stale() {
                    "Last heard"
                } else {
                    "Answered"
                },
                &self.answered,
            ),
        ];
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
                let open_for = human_span(self.at_ms - self.since_ms);
                facts.push(("Since", format!("{since} (open for {open_for})")));
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
        if !self.fix.is_empty() {
            let _ = write!(out, "\n{}\n", self.fix_heading());
            for command in &self.fix {
                let _ = writeln!(out, "  {command}");
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
        if !self.fix.is_empty() {
            let _ = write!(
                out,
                "\n**{}:**\n\n```sh\n{}\n```\n",
                escape_markdown(&self.fix_heading()),
                self.fix.join("\n").replace("```", "'''")
            );
        }
        if let Some(details) = self.details_json() {
            let _ = write!(out, "\n**Details:** `{}`\n", details.replace('`', "'"));
        }
        out
    }
}

/// Indents every line by two spaces.
fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("  {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}
