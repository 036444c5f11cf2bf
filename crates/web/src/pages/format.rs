//! How values read on a page: times in UTC, ages, durations, port lists, severities, and the
//! URL pieces the pages build (path segments, local return paths).

use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use portwatch_kb::Severity;
use portwatch_model::ports::PortList;
use std::time::Duration;

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn utc(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

/// `2024-05-01 12:34 UTC`.
pub fn when(ms: i64) -> String {
    utc(ms).map_or_else(
        || "unknown".into(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

/// Machine-readable time for `<time datetime>`: `2024-05-01T12:34:56Z`.
pub fn iso(ms: i64) -> String {
    utc(ms).map_or_else(String::new, |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// `05-01` (month and day), for chart axes.
pub fn month_day(ms: i64) -> String {
    utc(ms).map_or_else(String::new, |t| t.format("%m-%d").to_string())
}

/// `12:34` (UTC time of day), for chart axes.
pub fn hour_minute(ms: i64) -> String {
    utc(ms).map_or_else(String::new, |t| t.format("%H:%M").to_string())
}

/// `2024-05` (year and month), for long chart axes.
pub fn year_month(ms: i64) -> String {
    utc(ms).map_or_else(String::new, |t| t.format("%Y-%m").to_string())
}

/// `2024-05-01`.
pub fn date(ms: i64) -> String {
    utc(ms).map_or_else(String::new, |t| t.format("%Y-%m-%d").to_string())
}

/// A span of time in the largest units that matter: `45 s`, `12 min`, `3 h 5 min`, `4 d 2 h`.
pub fn span(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => match (s % 3600) / 60 {
            0 => format!("{} h", s / 3600),
            m => format!("{} h {m} min", s / 3600),
        },
        _ => match (s % 86_400) / 3600 {
            0 => format!("{} d", s / 86_400),
            h => format!("{} d {h} h", s / 86_400),
        },
    }
}

/// How long ago `ms` was, from `now`: `3 h 5 min ago`, or `just now`.
pub fn ago(ms: i64, now: i64) -> String {
    if now - ms < 1000 {
        "just now".into()
    } else {
        format!("{} ago", span(now - ms))
    }
}

/// How long a scan took, precise below a minute: `0.84 s`, `12.3 s`, `3 min`.
pub fn duration_ms(ms: i64) -> String {
    match ms.max(0) {
        0..10_000 => format!("{:.2} s", ms as f64 / 1000.0),
        10_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => span(ms),
    }
}

/// A configured interval as people write it: `30 s`, `1 min`, `2 h`.
pub fn interval(d: Duration) -> String {
    if d.subsec_millis() != 0 && d.as_secs() < 60 {
        return format!("{} ms", d.as_millis());
    }
    span(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A port list in the compact spec form: `T:22,80-90,U:53` (`none` when empty).
pub fn port_spec(ports: &PortList) -> String {
    if ports.is_empty() {
        "none".into()
    } else {
        ports.to_spec()
    }
}

/// The CSS class of a severity badge.
pub fn severity_class(s: Severity) -> &'static str {
    match s {
        Severity::None => "sev sev-none",
        Severity::Low => "sev sev-low",
        Severity::Medium => "sev sev-medium",
        Severity::High => "sev sev-high",
        Severity::Critical => "sev sev-critical",
    }
}

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - _ . ~`).
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// As [`NOT_UNRESERVED`], but a path keeps its `/`.
const NOT_PATH: &AsciiSet = &NOT_UNRESERVED.remove(b'/');

/// Percent-encodes everything but unreserved characters, so any text fits in one path
/// segment or query value (axum decodes it back).
pub fn encode_component(text: &str) -> String {
    utf8_percent_encode(text, NOT_UNRESERVED).to_string()
}

/// Percent-encodes a path for a query value, keeping its `/` separators readable.
pub fn encode_path(path: &str) -> String {
    utf8_percent_encode(path, NOT_PATH).to_string()
}

/// A path on this site to return to after an action, or `/`: never another site, and only
/// characters that are safe in a `Location` header.
pub fn local_path(next: Option<&str>) -> String {
    let ok = |n: &str| {
        n.starts_with('/')
            && !n.starts_with("//")
            && n.len() <= 512
            && n.bytes().all(|b| {
                b.is_ascii_alphanumeric() || b"/-_.~%?=&:+".contains(&b) // no '\\', quotes or spaces
            })
    };
    match next {
        Some(n) if ok(n) => n.to_string(),
        _ => "/".into(),
    }
}

/// Paragraphs of a knowledge-base text: blank lines separate them, single line breaks are
/// only the file's wrapping.
pub fn paragraphs(text: &str) -> Vec<String> {
    text.split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_spans_read_well() {
        assert_eq!(when(0), "1970-01-01 00:00 UTC");
        assert_eq!(iso(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(span(45_000), "45 s");
        assert_eq!(span(12 * 60_000), "12 min");
        assert_eq!(span(3 * 3_600_000 + 5 * 60_000), "3 h 5 min");
        assert_eq!(span(4 * DAY_MS + 2 * 3_600_000), "4 d 2 h");
        assert_eq!(ago(10_000, 10_500), "just now");
        assert_eq!(duration_ms(840), "0.84 s");
        assert_eq!(interval(Duration::from_millis(200)), "200 ms");
        assert_eq!(interval(Duration::from_mins(1)), "1 min");
    }

    #[test]
    fn port_specs_compact_ranges() {
        let p = PortList {
            tcp: vec![445, 22, 137, 138, 139],
            udp: vec![137, 138],
        };
        assert_eq!(port_spec(&p), "T:22,137-139,445,U:137-138");
        assert_eq!(port_spec(&PortList::default()), "none");
    }

    #[test]
    fn urls_stay_on_the_site_and_encode() {
        assert_eq!(
            encode_component("g|10.0.0.5|445/tcp|MustBeClosed"),
            "g%7C10.0.0.5%7C445%2Ftcp%7CMustBeClosed"
        );
        assert_eq!(encode_component("fe80::1 é~"), "fe80%3A%3A1%20%C3%A9~");
        assert_eq!(
            encode_path("/hosts/fe80::1?page=2"),
            "/hosts/fe80%3A%3A1%3Fpage%3D2"
        );
        assert_eq!(local_path(Some("/hosts/10.0.0.5")), "/hosts/10.0.0.5");
        assert_eq!(local_path(Some("/?page=2&vpage=1")), "/?page=2&vpage=1");
        for evil in [
            "//evil.example",
            "https://x",
            "/\\evil",
            "/a\"b",
            "/a b",
            "",
        ] {
            assert_eq!(local_path(Some(evil)), "/", "{evil}");
        }
    }

    #[test]
    fn paragraphs_unwrap_lines() {
        assert_eq!(
            paragraphs("one\ntwo\n\nthree\n"),
            vec!["one two".to_string(), "three".to_string()]
        );
    }
}
