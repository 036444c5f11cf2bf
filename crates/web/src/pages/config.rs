//! `GET /config`: the configuration file as written (read-only, with secrets hidden) and the
//! groups it defines, with their schedules and policies as portwatch understood them.

use super::error::PageError;
use super::format::{self, port_spec};
use super::layout::{Chrome, Section};
use super::render;
use super::source;
use crate::auth::Page;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::response::Response;

/// A group as configured.
pub struct GroupConfig {
    name: String,
    targets: String,
    exclude: String,
    ports: String,
    schedule: String,
    must_be_closed: String,
    allowed_open: String,
    expected_open: String,
    severity: String,
    notify: String,
    silences: usize,
}

/// The alert rules as configured.
pub struct AlertConfig {
    confirmations: u32,
    confirm_after: String,
    remind_every: String,
    send_resolved: bool,
    max_concurrent_scans: usize,
    notifiers: String,
}

#[derive(Template)]
#[template(path = "config.html")]
struct ConfigPage {
    chrome: Chrome,
    text: Option<String>,
    groups: Vec<GroupConfig>,
    alerts: Option<AlertConfig>,
    live: bool,
}

/// `GET /config`.
pub async fn config(
    State(state): State<AppState>,
    Page(user): Page,
) -> Result<Response, PageError> {
    let settings = source::settings(&state).await;
    let groups = settings
        .iter()
        .flat_map(|s| s.groups.iter())
        .map(|g| GroupConfig {
            name: g.name.clone(),
            targets: g.targets.join(", "),
            exclude: g.exclude.join(", "),
            ports: port_spec(&g.ports),
            schedule: source::schedule(g),
            must_be_closed: port_spec(&g.policy.must_be_closed),
            allowed_open: g
                .policy
                .allowed_open
                .as_ref()
                .map_or_else(|| "any".into(), port_spec),
            expected_open: port_spec(&g.policy.expected_open),
            severity: g
                .policy
                .severity
                .map_or_else(|| "from the knowledge base".into(), |s| s.to_string()),
            notify: g
                .notify
                .as_ref()
                .map_or_else(|| "every notifier".into(), |n| n.join(", ")),
            silences: g.silences.len(),
        })
        .collect();
    let alerts = settings.as_ref().map(|s| AlertConfig {
        confirmations: s.alerts.confirmations,
        confirm_after: format::interval(s.alerts.confirm_after),
        remind_every: s
            .alerts
            .remind_every
            .map_or_else(|| "never".into(), format::interval),
        send_resolved: s.alerts.send_resolved,
        max_concurrent_scans: s.max_concurrent_scans,
        notifiers: if s.notifiers.is_empty() {
            "none".into()
        } else {
            s.notifiers
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        },
    });
    let page = ConfigPage {
        chrome: Chrome::new(
            &user,
            Section::Config,
            "/config".into(),
            state.daemon().is_some(),
        ),
        text: state.config_text().await.as_deref().map(redact),
        groups,
        alerts,
        live: state.daemon().is_some(),
    };
    Ok(render(&page))
}

/// Notifier keys shown as written; every other value of a `[[notify]]` table (URLs with
/// tokens, secrets, addresses) is hidden.
const NOTIFY_SHOWN: [&str; 2] = ["name", "type"];

/// The configuration text without secrets: values inside `[[notify]]` tables other than
/// their name and type, and passwords in URLs (`scheme://user:password@host`).
pub fn redact(text: &str) -> String {
    let mut in_notify = false;
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            in_notify = trimmed
                .trim_start_matches('[')
                .trim_start()
                .starts_with("notify");
        }
        let hidden = match trimmed.split_once('=') {
            Some((key, _)) if in_notify && !trimmed.starts_with('#') => {
                let key = key.trim();
                (!NOTIFY_SHOWN.contains(&key)).then(|| {
                    let indent = &line[..line.len() - trimmed.len()];
                    format!("{indent}{key} = \"(hidden)\"")
                })
            }
            _ => None,
        };
        out.push_str(&hidden.unwrap_or_else(|| hide_url_passwords(line)));
        out.push('\n');
    }
    out
}

/// Replaces the password of every `scheme://user:password@` in a line with `***`.
fn hide_url_passwords(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c == '"' || c == '\'' || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match (authority.rfind('@'), authority.find(':')) {
            (Some(at), Some(colon)) if colon < at => {
                out.push_str(&authority[..colon]);
                out.push_str(":***");
                out.push_str(&authority[at..]);
            }
            _ => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_hidden() {
        let text = "database = \"postgres://pw:s3cret@db/pw\"\n[[notify]]\nname = \"ops\"\ntype = \"webhook\"\nurl = \"https://hooks.example/T0K3N\"\nsecret = \"abc\"\n[[group]]\nname = \"g\"\n";
        let r = redact(text);
        assert!(
            !r.contains("s3cret") && !r.contains("T0K3N") && !r.contains("abc"),
            "{r}"
        );
        assert!(r.contains("postgres://pw:***@db/pw"), "{r}");
        assert!(
            r.contains("name = \"ops\"") && r.contains("type = \"webhook\""),
            "{r}"
        );
        assert!(
            r.contains("url = \"(hidden)\"") && r.contains("name = \"g\""),
            "{r}"
        );
    }
}
