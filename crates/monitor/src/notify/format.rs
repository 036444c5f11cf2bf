//! Small text helpers shared by the providers: UTC timestamps, spans, truncation, escaping.

/// Formats milliseconds since the Unix epoch as RFC 3339 in UTC, to the second
/// (`2025-06-01T08:00:05Z`).
pub fn rfc3339_utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp(ms.div_euclid(1000), 0).map_or_else(
        || format!("{ms} ms since 1970"),
        |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

/// A short human span such as `45s`, `12m`, `2h 5m` or `3d 4h`.
pub fn human_span(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// Cuts `text` to at most `max` characters, ending with `…` when it was cut.
pub fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let keep = max.saturating_sub(1);
    let mut out: String = text.chars().take(keep).collect();
    out.push('…');
    out
}

/// Cuts `text` to at most `max` bytes on a character boundary, ending with `…` when cut.
pub fn truncate_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Escapes `&`, `<` and `>` for HTML (Telegram) and Slack's mrkdwn, which share these three.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

/// Escapes the characters that CommonMark (and Discord) would read as formatting.
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '~'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_748_764_805_123), "2025-06-01T08:00:05Z");
        assert_eq!(rfc3339_utc(4_107_542_399_000), "2100-02-28T23:59:59Z");
        assert_eq!(rfc3339_utc(-1000), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339_utc(i64::MAX), "9223372036854775807 ms since 1970");
    }

    #[test]
    fn spans_read_naturally() {
        assert_eq!(human_span(45_000), "45s");
        assert_eq!(human_span(12 * 60_000), "12m");
        assert_eq!(human_span(125 * 60_000), "2h 5m");
        assert_eq!(human_span((3 * 24 + 4) * 3_600_000), "3d 4h");
    }

    #[test]
    fn truncation_keeps_characters_whole() {
        assert_eq!(truncate_chars("abcdef", 4), "abc…");
        assert_eq!(truncate_chars("abc", 4), "abc");
        let cut = truncate_bytes("ééééé", 6);
        assert!(cut.len() <= 6, "{cut}");
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_html("a<b>&c"), "a&lt;b&gt;&amp;c");
        assert_eq!(escape_markdown("smb_v1 *x*"), "smb\\_v1 \\*x\\*");
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
    }
}
