//! Stable encodings: canonical JSON and its hash, compact port specs, the clock.

use portwatch_model::ports::PortList;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::{SystemTime, UNIX_EPOCH};

/// JSON with object keys sorted at every level and no insignificant whitespace, so equal
/// values always give equal text (whatever order a probe inserted keys in).
pub(crate) fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(item) = map.get(k) {
                    write_canonical(item, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Hex SHA-256 of a text.
pub(crate) fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The digest that names a target set: its members' addresses, sorted, one per line, after a
/// first line naming the vantage when it is not `local` (so the sets of one vantage keep the
/// digests they had before vantages existed, and two vantages never share a set).
pub(crate) fn set_digest(vantage: &str, addrs: &mut [String]) -> String {
    addrs.sort();
    let listing = addrs.join("\n");
    if vantage == crate::model::LOCAL_VANTAGE {
        sha256_hex(&listing)
    } else {
        sha256_hex(&format!("vantage {vantage}\n{listing}"))
    }
}

/// A port list as a compact spec (`T:22,80-90,U:53`), the form stored with each scan.
pub(crate) fn port_spec(ports: &PortList) -> String {
    let mut parts = Vec::new();
    if !ports.tcp.is_empty() {
        parts.push(format!("T:{}", ranges(&ports.tcp)));
    }
    if !ports.udp.is_empty() {
        parts.push(format!("U:{}", ranges(&ports.udp)));
    }
    parts.join(",")
}

fn ranges(ports: &[u16]) -> String {
    let mut sorted = ports.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end.wrapping_add(1) && end != u16::MAX {
            i += 1;
            end = sorted[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    out.join(",")
}

/// Now, in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a = json!({"b": 1, "a": {"z": [1, {"y": 2, "x": 3}], "c": "é\n"}});
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"c":"é\n","z":[1,{"x":3,"y":2}]},"b":1}"#
        );
    }

    #[test]
    fn port_spec_compacts_ranges() {
        let ports = PortList {
            tcp: vec![80, 22, 81, 82, 65535, 65534],
            udp: vec![53],
        };
        assert_eq!(port_spec(&ports), "T:22,80-82,65534-65535,U:53");
        assert_eq!(port_spec(&PortList::default()), "");
    }
}
