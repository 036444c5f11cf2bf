//! What an alert message says: built from the alert book's message and the knowledge base,
//! with the fix commands for the host's platform when a banner gives it away.

use crate::alerts::{Message, MessageKind};
use crate::notify::wording::{Advice, wording};
use crate::notify::{Alert, AlertKind};
use portwatch_kb::fix::{self, Platform, Stage};

/// Guesses the host's platform from what answered (an SSH or HTTP banner naming the OS).
fn platform_hint(answered: Option<&str>) -> Option<Platform> {
    let text = answered?.to_ascii_lowercase();
    if text.contains("ubuntu") {
        Some(Platform::Ufw)
    } else if text.contains("debian") || text.contains("raspbian") {
        Some(Platform::Nftables)
    } else if ["red hat", "centos", "fedora", "rocky", "almalinux"]
        .iter()
        .any(|w| text.contains(w))
    {
        Some(Platform::Firewalld)
    } else if text.contains("windows") || text.contains("microsoft") {
        Some(Platform::Windows)
    } else {
        None
    }
}

/// The notifier message for an alert-book message.
pub fn alert_for(m: &Message) -> Alert {
    let f = &m.finding;
    let kind = match m.kind {
        MessageKind::Opened => AlertKind::Opened,
        MessageKind::Reminder => AlertKind::Reminder,
        MessageKind::Resolved => AlertKind::Resolved,
    };
    // Close commands only where the message advises closing (never for a port that is
    // expected open, nor once the violation is over).
    let closes = wording(Some(f.rule), kind).advice == Advice::Close;
    let platform = platform_hint(f.answered.as_deref()).filter(|_| closes);
    let fix = match (f.port, platform) {
        _ if !closes => Vec::new(),
        (Some(port), Some(p)) => fix::plan(
            u32::from(port),
            f.proto.map(portwatch_scan::Proto::transport),
            p,
            None,
        )
        .map(|plan| {
            plan.steps
                .into_iter()
                .filter(|s| s.stage != Stage::Verify)
                .map(|s| s.run)
                .collect()
        })
        .unwrap_or_default(),
        _ => f.fix.iter().cloned().collect(),
    };
    Alert {
        key: m.idempotency_key.clone(),
        kind,
        group: f.group.clone(),
        vantage: f.vantage.clone(),
        host: f.host,
        hostname: f.hostname.clone(),
        port: f.port,
        proto: f.proto,
        rule: f.rule.label().to_string(),
        severity: f.severity,
        state: f.state.map(|s| s.to_string()),
        service: f.service.clone(),
        answered: f.answered.clone(),
        details: serde_json::Value::Null,
        since_ms: m.since_ms,
        at_ms: m.at_ms,
        explain: f.explain.clone(),
        fix,
        fix_platform: platform.map(|p| p.to_string()),
    }
}
