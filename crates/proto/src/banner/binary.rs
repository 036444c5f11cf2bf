//! Binary protocols that answer a probe: RDP, AMQP, MQTT, X11, LDAP.

use super::ServiceMatch;
use crate::reader::Reader;
use crate::text;
use crate::udp::ber;

/// RDP: an X.224 Connection Confirm carrying RDP_NEG_RSP or RDP_NEG_FAILURE (MS-RDPBCGR 2.2.1.2).
pub(super) fn rdp(data: &[u8]) -> Option<ServiceMatch> {
    let mut r = Reader::new(data);
    if r.u8("").ok()? != 3 || r.u8("").ok()? != 0 {
        return None;
    }
    let tpkt_len = usize::from(r.u16_be("").ok()?);
    let _x224_len = r.u8("").ok()?;
    let code = r.u8("").ok()?;
    if tpkt_len < 11 || code & 0xf0 != 0xd0 {
        return None;
    }
    r.skip(5, "").ok()?; // dst ref, src ref, class
    let m = ServiceMatch::new("rdp").product("Microsoft Terminal Services");
    let Ok(kind) = r.u8("") else {
        return Some(m.info("no negotiation response (legacy RDP security)"));
    };
    r.skip(3, "").ok()?; // flags, length
    let value = r.u32_le("").ok()?;
    let info = match kind {
        0x02 => format!("selected {}", rdp_protocol(value)),
        0x03 => format!("negotiation failure: {}", rdp_failure(value)),
        _ => return None,
    };
    Some(m.info(info))
}

fn rdp_protocol(p: u32) -> &'static str {
    match p {
        0 => "standard RDP security",
        1 => "TLS",
        2 => "CredSSP (NLA)",
        4 => "RDSTLS",
        8 => "CredSSP with early user authorization (NLA)",
        _ => "unknown protocol",
    }
}

fn rdp_failure(code: u32) -> &'static str {
    match code {
        1 => "TLS required by server",
        2 => "TLS not allowed by server",
        3 => "no certificate on server",
        4 => "inconsistent flags",
        5 => "CredSSP (NLA) required by server",
        6 => "TLS with user authentication required by server",
        _ => "unknown failure code",
    }
}

/// AMQP: Connection.Start with server properties, or the server's own protocol header.
pub(super) fn amqp(data: &[u8]) -> Option<ServiceMatch> {
    if let Some(rest) = data.strip_prefix(b"AMQP") {
        let v = rest.get(..4)?;
        return Some(ServiceMatch::new("amqp").info(format!(
            "server wants protocol {}-{}-{}-{}",
            v[0], v[1], v[2], v[3]
        )));
    }
    let mut r = Reader::new(data);
    if r.u8("").ok()? != 1 || r.u16_be("").ok()? != 0 {
        return None;
    }
    let size = r.u32_be("").ok()? as usize;
    if r.u16_be("").ok()? != 10 || r.u16_be("").ok()? != 10 || size < 4 {
        return None;
    }
    let (major, minor) = (r.u8("").ok()?, r.u8("").ok()?);
    let table_len = r.u32_be("").ok()? as usize;
    let table = r.rest().get(..table_len).unwrap_or(r.rest());
    let props = amqp_table_strings(table);
    let get = |k: &str| {
        props
            .iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.as_str())
    };
    let m = ServiceMatch::new("amqp")
        .product(get("product").unwrap_or(""))
        .version(get("version").unwrap_or(""))
        .info(format!(
            "AMQP {major}-{minor}{}",
            get("platform")
                .map(|p| format!(", {p}"))
                .unwrap_or_default()
        ));
    Some(m)
}

/// Long-string entries of an AMQP field table, skipping other types; stops at anything unknown.
fn amqp_table_strings(table: &[u8]) -> Vec<(String, String)> {
    let mut r = Reader::new(table);
    let mut out = Vec::new();
    while r.remaining() > 0 && out.len() < 32 {
        let Ok(name_len) = r.u8("") else { break };
        let Ok(name) = r.take(usize::from(name_len), "") else {
            break;
        };
        let Ok(kind) = r.u8("") else { break };
        let skip = match kind {
            b'S' | b'x' | b'F' | b'A' => {
                let Ok(n) = r.u32_be("") else { break };
                let Ok(value) = r.take(n as usize, "") else {
                    break;
                };
                if kind == b'S' {
                    out.push((text::printable(name, 64), text::printable(value, 120)));
                }
                0
            }
            b't' | b'b' | b'B' => 1,
            b's' | b'u' => 2,
            b'I' | b'i' | b'f' => 4,
            b'D' => 5,
            b'l' | b'L' | b'd' | b'T' => 8,
            b'V' => 0,
            _ => break,
        };
        if r.skip(skip, "").is_err() {
            break;
        }
    }
    out
}

/// MQTT: CONNACK (packet type 2) with its return or reason code.
pub(super) fn mqtt(data: &[u8]) -> Option<ServiceMatch> {
    let (&first, rest) = data.split_first()?;
    let (&remaining, rest) = rest.split_first()?;
    if first != 0x20 || !(2..=127).contains(&remaining) || rest.len() < 2 || rest[0] > 1 {
        return None;
    }
    let code = rest[1];
    let meaning = match (remaining, code) {
        (_, 0) => "connection accepted",
        (2, 1) => "unacceptable protocol version",
        (2, 2) => "identifier rejected",
        (2, 3) => "server unavailable",
        (2, 4) => "bad user name or password",
        (2, 5) => "not authorized",
        (_, 0x84) => "unsupported protocol version",
        (_, 0x86) => "bad user name or password",
        (_, 0x87) => "not authorized",
        _ => "refused",
    };
    let version = if remaining == 2 { "3.1.1" } else { "5" };
    let m = ServiceMatch::new("mqtt").info(format!("MQTT {version} CONNACK: {meaning}"));
    let after = rest.get(usize::from(remaining)..).unwrap_or_default();
    Some(match mqtt_broker_version(after) {
        Some(announced) => match announced.strip_prefix("mosquitto version ") {
            Some(v) => m.product("Mosquitto").version(v),
            None => m.product(announced),
        },
        None => m,
    })
}

/// The payload of a PUBLISH on the broker's version topic among the packets that follow
/// the CONNACK (a SUBACK, then the retained message).
fn mqtt_broker_version(mut data: &[u8]) -> Option<String> {
    for _ in 0..8 {
        let (&kind, rest) = data.split_first()?;
        // Remaining length: up to four bytes, seven bits each.
        let mut len = 0usize;
        let mut used = 0;
        loop {
            let b = *rest.get(used)?;
            len |= usize::from(b & 0x7f) << (7 * used);
            used += 1;
            if b & 0x80 == 0 {
                break;
            }
            if used == 4 {
                return None;
            }
        }
        let body = rest.get(used..used.checked_add(len)?)?;
        if kind >> 4 == 3 && kind & 0x06 == 0 {
            let topic_len = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
            let topic = body.get(2..2 + topic_len)?;
            if topic == super::probes::MQTT_VERSION_TOPIC.as_bytes() {
                let announced = text::printable(&body[2 + topic_len..], 80);
                return (!announced.is_empty()).then_some(announced);
            }
        }
        data = &rest[used + len..];
    }
    None
}

/// X11: the connection setup reply (little-endian, as requested).
pub(super) fn x11(data: &[u8]) -> Option<ServiceMatch> {
    let mut r = Reader::new(data);
    let status = r.u8("").ok()?;
    let reason_len = usize::from(r.u8("").ok()?);
    let major = r.u16_le("").ok()?;
    let minor = r.u16_le("").ok()?;
    let _extra = r.u16_le("").ok()?;
    if major != 11 || status > 2 {
        return None;
    }
    let m = ServiceMatch::new("x11").info(format!("X{major}.{minor}"));
    Some(match status {
        0 => {
            let after = data.get(8..).unwrap_or(&[]);
            let reason = text::printable(&after[..reason_len.min(after.len())], 120);
            m.info(format!("X{major}.{minor}, access denied: {reason}"))
        }
        1 => {
            let vendor_len = usize::from(u16::from_le_bytes([*data.get(24)?, *data.get(25)?]));
            let vendor = text::printable(data.get(40..40 + vendor_len).unwrap_or(&[]), 80);
            m.product(vendor)
                .info(format!("X{major}.{minor}, open without authentication"))
        }
        _ => m.info(format!("X{major}.{minor}, further authentication required")),
    })
}

/// LDAP: an LDAPMessage whose operation is a response (bind, search done, extended).
pub(super) fn ldap(data: &[u8]) -> Option<ServiceMatch> {
    let mut r = Reader::new(data);
    let msg = ber::expect(&mut r, ber::SEQUENCE, "").ok()?;
    let mut m = Reader::new(msg);
    let id = ber::decode_integer(ber::expect(&mut m, ber::INTEGER, "").ok()?, "").ok()?;
    let op = ber::read_tlv(&mut m, "").ok()?;
    let name = match op.tag {
        0x61 => "bind",
        0x65 => "search",
        0x78 => "extended",
        _ => return None,
    };
    let mut o = Reader::new(op.value);
    let code = ber::decode_integer(ber::expect(&mut o, 0x0a, "").ok()?, "").ok()?;
    let _matched = ber::expect(&mut o, ber::OCTET_STRING, "").ok()?;
    let diag = text::printable(ber::expect(&mut o, ber::OCTET_STRING, "").ok()?, 120);
    let outcome = match code {
        0 => "success".to_string(),
        other => format!("result {other}"),
    };
    let mut info = format!("{name} response {outcome} (message {id})");
    if !diag.is_empty() {
        info.push_str(&format!(": {diag}"));
    }
    Some(ServiceMatch::new("ldap").info(info))
}

#[cfg(test)]
mod tests {
    use super::super::identify;

    #[test]
    fn rdp_answers() {
        let ok = [
            3, 0, 0, 0x13, 0x0e, 0xd0, 0, 0, 0x12, 0x34, 0, 2, 0x1f, 8, 0, 2, 0, 0, 0,
        ];
        assert_eq!(
            identify(&ok).unwrap().info.as_deref(),
            Some("selected CredSSP (NLA)")
        );
        let fail = [
            3, 0, 0, 0x13, 0x0e, 0xd0, 0, 0, 0x12, 0x34, 0, 3, 0, 8, 0, 5, 0, 0, 0,
        ];
        assert_eq!(
            identify(&fail).unwrap().info.as_deref(),
            Some("negotiation failure: CredSSP (NLA) required by server")
        );
    }

    #[test]
    fn mosquitto_announces_its_version() {
        let mut answer = vec![0x20, 2, 0, 0, 0x90, 3, 0, 1, 0];
        let topic = b"$SYS/broker/version";
        let payload = b"mosquitto version 2.0.11";
        answer.extend_from_slice(&[0x31, (2 + topic.len() + payload.len()) as u8, 0, 19]);
        answer.extend_from_slice(topic);
        answer.extend_from_slice(payload);
        let m = identify(&answer).unwrap();
        assert_eq!(
            m.summary(),
            "mqtt Mosquitto 2.0.11 (MQTT 3.1.1 CONNACK: connection accepted)"
        );
        // Cut anywhere after the CONNACK, it is still MQTT, without a version.
        for cut in 4..answer.len() {
            let m = identify(&answer[..cut]).unwrap();
            assert_eq!((m.service, m.version), ("mqtt", None), "{cut}");
        }
    }

    #[test]
    fn mqtt_x11_ldap() {
        assert_eq!(
            identify(&[0x20, 2, 0, 5]).unwrap().info.as_deref(),
            Some("MQTT 3.1.1 CONNACK: not authorized")
        );
        let mut x = vec![0, 12, 11, 0, 0, 0, 3, 0];
        x.extend_from_slice(b"No protocol");
        assert!(
            identify(&x)
                .unwrap()
                .info
                .unwrap()
                .contains("access denied: No protocol")
        );
        let bind_ok = [0x30, 0x0c, 2, 1, 1, 0x61, 7, 0x0a, 1, 0, 4, 0, 4, 0];
        assert_eq!(
            identify(&bind_ok).unwrap().info.as_deref(),
            Some("bind response success (message 1)")
        );
    }
}
