//! Maintenance windows: fixed ones (`from`/`until`) and recurring ones (`cron` + `for`).

use chrono::{DateTime, TimeZone, Utc};
use std::time::Duration;

/// A validated window during which a group's alerts are held back.
#[derive(Debug, Clone)]
pub enum Silence {
    /// Between two instants (Unix ms).
    Window {
        /// Start (ms).
        from_ms: i64,
        /// End (ms).
        until_ms: i64,
        /// Why.
        reason: Option<String>,
    },
    /// Starting at every cron occurrence, for `length`.
    Recurring {
        /// The starts.
        cron: Box<croner::Cron>,
        /// How long each window lasts.
        length: Duration,
        /// Why.
        reason: Option<String>,
    },
}

impl Silence {
    /// Whether the window covers `now_ms`.
    pub fn covers(&self, now_ms: i64) -> bool {
        match self {
            Silence::Window {
                from_ms, until_ms, ..
            } => (*from_ms..*until_ms).contains(&now_ms),
            Silence::Recurring { cron, length, .. } => {
                let Some(now) = Utc.timestamp_millis_opt(now_ms).single() else {
                    return false;
                };
                cron.find_previous_occurrence(&now, true)
                    .is_ok_and(|start| {
                        now_ms < start.timestamp_millis() + length.as_millis() as i64
                    })
            }
        }
    }

    /// When the window is, in words (times and cron in UTC): `2026-11-24T22:00:00Z to
    /// 2026-11-24T23:00:00Z` or `cron 0 2 * * SUN UTC, for 7200 s`.
    pub fn describe(&self) -> String {
        let at = |ms: i64| {
            Utc.timestamp_millis_opt(ms).single().map_or_else(
                || ms.to_string(),
                |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            )
        };
        match self {
            Silence::Window {
                from_ms, until_ms, ..
            } => format!("{} to {}", at(*from_ms), at(*until_ms)),
            Silence::Recurring { cron, length, .. } => {
                format!("cron {cron} UTC, for {} s", length.as_secs())
            }
        }
    }

    /// Why the window exists, if the config says.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Silence::Window { reason, .. } | Silence::Recurring { reason, .. } => reason.as_deref(),
        }
    }
}

/// Parses an RFC 3339 instant to Unix milliseconds.
pub fn parse_instant(text: &str) -> Result<i64, String> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("'{text}' is not an RFC 3339 time like 2026-11-24T22:00:00Z ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        let from = parse_instant("2026-11-24T22:00:00Z").unwrap();
        let w = Silence::Window {
            from_ms: from,
            until_ms: from + 3_600_000,
            reason: None,
        };
        assert!(w.covers(from + 1));
        assert!(!w.covers(from - 1));
        assert!(!w.covers(from + 3_600_000));
        let cron: croner::Cron = "0 2 * * *".parse().unwrap();
        let r = Silence::Recurring {
            cron: Box::new(cron),
            length: Duration::from_hours(2),
            reason: None,
        };
        let two_thirty = parse_instant("2026-11-24T02:30:00Z").unwrap();
        assert!(r.covers(two_thirty));
        assert!(!r.covers(two_thirty + 2 * 3_600_000));
        assert!(parse_instant("yesterday").is_err());
        assert_eq!(w.describe(), "2026-11-24T22:00:00Z to 2026-11-24T23:00:00Z");
        assert_eq!(r.describe(), "cron 0 2 * * * UTC, for 7200 s");
    }
}
