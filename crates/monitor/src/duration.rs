//! Human durations for options and config: `250ms`, `2s`, `1m30s`, `5m`, `1h`, `400d`.

use std::time::Duration;

/// The longest duration accepted, in seconds (about 317 years).
const MAX_SECS: u128 = 10_000_000_000;
const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Parses a duration made of number+unit pairs (`ms`, `s`, `m`, `h`, `d`, `w`); a bare
/// number means seconds. Numbers may have a decimal fraction (`1.5s`); the sum is exact to
/// the nanosecond (digits beyond a nanosecond are dropped).
pub fn parse(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    if t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        if let Some(nanos) = decimal_nanos(t, NANOS_PER_SEC) {
            return from_nanos(nanos, text);
        }
    } else if let Ok(secs) = t.parse::<f64>() {
        // A signed, infinite or exponent-form number: only plain decimals are durations.
        if !secs.is_finite() || !(0.0..=1e10).contains(&secs) {
            return Err(format!("'{text}' is out of range"));
        }
        return Err(format!(
            "'{text}' is not a duration (try 500ms, 10s, 5m, 1h)"
        ));
    }
    let mut total: u128 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!(
                "'{text}' is not a duration (try 500ms, 10s, 5m, 1h)"
            ));
        }
        let number = &rest[..num_len];
        if decimal_nanos(number, 1).is_none() {
            return Err(format!("'{text}' is not a duration"));
        }
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit_nanos: u128 = match &rest[..unit_len] {
            "ms" => 1_000_000,
            "s" | "sec" => NANOS_PER_SEC,
            "m" | "min" => 60 * NANOS_PER_SEC,
            "h" => 3600 * NANOS_PER_SEC,
            "d" => 86_400 * NANOS_PER_SEC,
            "w" => 604_800 * NANOS_PER_SEC,
            other => {
                return Err(format!(
                    "unknown unit '{other}' in '{text}' (use ms, s, m, h, d or w)"
                ));
            }
        };
        let nanos = decimal_nanos(number, unit_nanos).unwrap_or(u128::MAX);
        total = total.saturating_add(nanos);
        rest = &rest[unit_len..];
    }
    from_nanos(total, text)
}

/// `number` (digits with at most one `.` and at least one digit) times `unit_nanos`, in
/// nanoseconds, saturating; `None` when `number` is not a decimal number.
fn decimal_nanos(number: &str, unit_nanos: u128) -> Option<u128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return None;
    }
    let mut nanos: u128 = 0;
    for d in whole.bytes() {
        nanos = nanos
            .saturating_mul(10)
            .saturating_add(u128::from(d - b'0'));
    }
    nanos = nanos.saturating_mul(unit_nanos);
    // Each fraction digit is worth a tenth of the one before; 18 digits are below a
    // nanosecond of the longest unit, so the rest cannot change the result.
    let mut place = unit_nanos;
    let mut part: u128 = 0;
    let mut scale: u128 = 1;
    for d in fraction.bytes().take(18) {
        part = part * 10 + u128::from(d - b'0');
        scale *= 10;
    }
    if scale > 1 {
        place = place.saturating_mul(part) / scale;
        nanos = nanos.saturating_add(place);
    }
    Some(nanos)
}

fn from_nanos(nanos: u128, text: &str) -> Result<Duration, String> {
    if nanos > MAX_SECS * NANOS_PER_SEC {
        return Err(format!("'{text}' is out of range"));
    }
    let secs =
        u64::try_from(nanos / NANOS_PER_SEC).map_err(|_| format!("'{text}' is out of range"))?;
    let sub = u32::try_from(nanos % NANOS_PER_SEC).unwrap_or(0);
    Ok(Duration::new(secs, sub))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("400d").unwrap(), Duration::from_hours(9600));
        assert!(parse("5 parsecs").is_err());
        assert!(parse("-1s").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn fractions_are_exact() {
        assert_eq!(parse("0.1").unwrap(), Duration::from_millis(100));
        assert_eq!(parse("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse("0.3s").unwrap(), Duration::from_millis(300));
        assert_eq!(parse("1.1ms").unwrap(), Duration::from_micros(1100));
        assert_eq!(parse("0.5h").unwrap(), Duration::from_mins(30));
        assert_eq!(parse(".5m").unwrap(), Duration::from_secs(30));
        assert_eq!(parse("0.000000001s").unwrap(), Duration::from_nanos(1));
        assert_eq!(
            parse("1w2d3h4m5s6ms").unwrap(),
            Duration::new(788_645, 6_000_000)
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(parse("  ").unwrap_err(), "empty duration");
        assert_eq!(parse("-1").unwrap_err(), "'-1' is out of range");
        assert_eq!(parse("inf").unwrap_err(), "'inf' is out of range");
        assert_eq!(
            parse("-1s").unwrap_err(),
            "'-1s' is not a duration (try 500ms, 10s, 5m, 1h)"
        );
        assert_eq!(
            parse("10000000001").unwrap_err(),
            "'10000000001' is out of range"
        );
        assert_eq!(
            parse("99999999999999999999999999999999999999999w").unwrap_err(),
            "'99999999999999999999999999999999999999999w' is out of range"
        );
        assert!(parse("10000000000").is_ok());
        assert_eq!(parse("1.2.3s").unwrap_err(), "'1.2.3s' is not a duration");
        assert_eq!(parse(".s").unwrap_err(), "'.s' is not a duration");
        assert_eq!(parse("1.2.3").unwrap_err(), "'1.2.3' is not a duration");
        assert_eq!(
            parse("s").unwrap_err(),
            "'s' is not a duration (try 500ms, 10s, 5m, 1h)"
        );
        assert_eq!(
            parse("5 parsecs").unwrap_err(),
            "unknown unit ' parsecs' in '5 parsecs' (use ms, s, m, h, d or w)"
        );
    }
}
