//! Details from a UDP service's answer: the typed answer from the proto crate, or a
//! `malformed response` note when it does not parse.

use super::{Identity, malformed, netbios};
use portwatch_proto::udp::{self, SERVICES, UdpAnswer};
use serde_json::{Value, json};

/// Details for the datagram `bytes` that came back from UDP `port`.
pub fn udp(port: u16, bytes: &[u8]) -> Identity {
    let Some(&(_, service)) = SERVICES.iter().find(|(p, _)| *p == port) else {
        let mut id = Identity::default();
        id.details.insert(
            "response".into(),
            json!({ "bytes": bytes.len(), "hex": hex::encode(&bytes[..bytes.len().min(32)]) }),
        );
        return id;
    };
    match udp::parse_answer(service, bytes) {
        Ok(UdpAnswer::NetbiosNs(status)) => {
            let (details, summary) = netbios::describe(&status);
            let mut id = Identity::default();
            id.details.insert("netbios".into(), details);
            id.with_summary(summary)
        }
        Ok(answer) => {
            let mut id = Identity::default();
            let key = match service {
                "domain" => "dns",
                other => other,
            };
            let value = serde_json::to_value(&answer).unwrap_or(Value::Null);
            // The enum's variant tag adds nothing next to the key: keep the inner value.
            let inner = match value {
                Value::Object(mut m) if m.len() == 1 => {
                    m.values_mut().next().map(Value::take).unwrap_or_default()
                }
                other => other,
            };
            id.details.insert(key.into(), inner);
            id.with_summary(answer.summary())
        }
        Err(e) => malformed(service, e),
    }
}

/// Formats Unix seconds as an RFC 3339 UTC timestamp (a server's clock so far off that no
/// calendar date fits is shown as its number of seconds).
pub fn utc(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).map_or_else(
        || format!("{secs} s since 1970"),
        |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_795_435_200), "2026-11-23T12:00:00Z");
        assert_eq!(utc(-1), "1969-12-31T23:59:59Z");
        assert_eq!(utc(i64::MAX), "9223372036854775807 s since 1970");
    }

    #[test]
    fn garbage_is_a_malformed_response_not_a_panic() {
        let id = udp(137, b"\x00\x01garbage");
        assert!(
            id.details["error"]
                .as_str()
                .unwrap()
                .starts_with("malformed response")
        );
        let id = udp(40000, b"anything");
        assert_eq!(id.details["response"]["bytes"], 8);
    }
}
