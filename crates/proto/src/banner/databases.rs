//! Database servers: MySQL/MariaDB, PostgreSQL, SQL Server, MongoDB.

use super::ServiceMatch;
use crate::reader::Reader;
use crate::text;

/// MySQL/MariaDB: the v10 handshake greeting, or the error packet sent instead
/// (e.g. 1130 "Host ... is not allowed to connect").
pub(super) fn mysql(data: &[u8]) -> Option<ServiceMatch> {
    let mut r = Reader::new(data);
    let len = u32::from_le_bytes([r.u8("").ok()?, r.u8("").ok()?, r.u8("").ok()?, 0]) as usize;
    let seq = r.u8("").ok()?;
    if seq != 0 || !(3..=0x4000).contains(&len) {
        return None;
    }
    let payload = r.rest().get(..len).unwrap_or(r.rest());
    match payload.first()? {
        0x0a => {
            let end = payload[1..].iter().position(|&b| b == 0)?;
            let version = text::printable(&payload[1..=end], 80);
            if !version.starts_with(|c: char| c.is_ascii_digit()) {
                return None;
            }
            // MariaDB prefixes "5.5.5-" for old clients: "5.5.5-10.11.4-MariaDB-1~deb12u1".
            let shown = version.strip_prefix("5.5.5-").unwrap_or(&version);
            let (product, number) = if shown.contains("MariaDB") {
                ("MariaDB", shown.split('-').next().unwrap_or(shown))
            } else {
                ("MySQL", shown)
            };
            Some(
                ServiceMatch::new("mysql")
                    .product(product)
                    .version(number)
                    .info(format!("server version {version}")),
            )
        }
        0xff if payload.len() >= 3 => {
            let code = u16::from_le_bytes([payload[1], payload[2]]);
            if !(1000..5000).contains(&code) {
                return None;
            }
            let msg = text::printable(&payload[3..], 160);
            let product = if msg.contains("MariaDB") {
                "MariaDB"
            } else {
                "MySQL"
            };
            Some(
                ServiceMatch::new("mysql")
                    .product(product)
                    .info(format!("error {code}: {msg}")),
            )
        }
        _ => None,
    }
}

/// PostgreSQL: the one-byte answer to SSLRequest, or the backend messages
/// that answer a StartupMessage (Authentication requests, ErrorResponse).
/// No version: the server sends `server_version` (a ParameterStatus) only after
/// authentication succeeds, and a scanner does not log in.
pub(super) fn postgres(data: &[u8]) -> Option<ServiceMatch> {
    let m = ServiceMatch::new("postgresql").product("PostgreSQL");
    match data {
        b"S" => return Some(m.info("SSL supported")),
        b"N" => return Some(m.info("SSL not supported")),
        _ => {}
    }
    let mut r = Reader::new(data);
    let mut auth = None;
    for _ in 0..8 {
        let kind = r.u8("").ok()?;
        let len = r.u32_be("").ok()? as usize;
        if !(4..=8192).contains(&len) {
            return None;
        }
        let body = r.rest().get(..len - 4).unwrap_or(r.rest());
        match kind {
            b'R' => {
                let code = u32::from_be_bytes(body.get(..4)?.try_into().ok()?);
                auth = Some(match code {
                    0 => "authentication ok (trust)",
                    3 => "password authentication",
                    5 => "MD5 password authentication",
                    10 => "SASL (SCRAM) authentication",
                    _ => "authentication requested",
                });
            }
            b'E' => return postgres_error(body).map(|info| m.info(info)),
            _ => return None,
        }
        if r.skip(len - 4, "").is_err() {
            break;
        }
    }
    auth.map(|a| m.info(a))
}

/// "SEVERITY CODE: message" from the fields of an ErrorResponse.
fn postgres_error(fields: &[u8]) -> Option<String> {
    let mut severity = None;
    let mut message = None;
    let mut code = None;
    for field in fields.split(|&b| b == 0).take(32) {
        let Some((&kind, value)) = field.split_first() else {
            break;
        };
        let value = text::printable(value, 160);
        match kind {
            b'S' => severity = Some(value),
            b'M' => message = Some(value),
            b'C' => code = Some(value),
            b'V' | b'F' | b'L' | b'R' | b'D' | b'H' | b'P' | b'W' => {}
            _ => return None,
        }
    }
    Some(format!(
        "{} {}: {}",
        severity?,
        code.unwrap_or_default(),
        message?
    ))
}

/// SQL Server: a TDS tabular-result packet holding the PRELOGIN answer.
pub(super) fn mssql(data: &[u8]) -> Option<ServiceMatch> {
    let mut r = Reader::new(data);
    if r.u8("").ok()? != 0x04 {
        return None;
    }
    r.skip(1, "").ok()?;
    let len = usize::from(r.u16_be("").ok()?);
    r.skip(4, "").ok()?;
    if len < 9 || len > data.len() {
        return None;
    }
    let payload = &data[8..len];
    let mut version = None;
    let mut encryption = None;
    let mut t = Reader::new(payload);
    for _ in 0..16 {
        let token = t.u8("").ok()?;
        if token == 0xff {
            break;
        }
        let offset = usize::from(t.u16_be("").ok()?);
        let size = usize::from(t.u16_be("").ok()?);
        let value = payload.get(offset..offset.checked_add(size)?)?;
        match (token, value) {
            (0x00, [major, minor, b1, b2, ..]) => {
                version = Some((*major, *minor, u16::from_be_bytes([*b1, *b2])));
            }
            (0x01, [e, ..]) => encryption = Some(*e),
            _ => {}
        }
    }
    let (major, minor, build) = version?;
    let year = match major {
        8 => "2000",
        9 => "2005",
        10 => "2008",
        11 => "2012",
        12 => "2014",
        13 => "2016",
        14 => "2017",
        15 => "2019",
        16 => "2022",
        _ => "",
    };
    let enc = match encryption {
        Some(0) => "encryption off",
        Some(1) => "encryption on",
        Some(2) => "encryption not supported",
        Some(3) => "encryption required",
        _ => "encryption unknown",
    };
    let product = if year.is_empty() {
        "Microsoft SQL Server".to_string()
    } else {
        format!("Microsoft SQL Server {year}")
    };
    Some(
        ServiceMatch::new("ms-sql-s")
            .product(product)
            .version(format!("{major}.{minor}.{build}"))
            .info(enc),
    )
}

/// MongoDB: an OP_MSG (2013) or OP_REPLY (1) answering our request.
pub(super) fn mongodb(data: &[u8]) -> Option<ServiceMatch> {
    let mut r = Reader::new(data);
    let len = r.u32_le("").ok()? as usize;
    r.skip(4, "").ok()?; // requestID
    let response_to = r.u32_le("").ok()?;
    let op = r.u32_le("").ok()?;
    if !(21..=48 * 1024 * 1024).contains(&len) || response_to == 0 {
        return None;
    }
    let doc = match op {
        2013 => {
            r.skip(4, "").ok()?; // flagBits
            if r.u8("").ok()? != 0 {
                return None;
            }
            r.rest()
        }
        1 => {
            r.skip(20, "").ok()?; // responseFlags, cursorID, startingFrom, numberReturned
            r.rest()
        }
        _ => return None,
    };
    let fields = bson_top_level(doc)?;
    let m = ServiceMatch::new("mongodb").product("MongoDB");
    let mut info = Vec::new();
    if let Some(w) = fields.iter().find(|(k, _)| k == "maxWireVersion") {
        info.push(format!("maxWireVersion {}", w.1));
    }
    if let Some(msg) = fields.iter().find(|(k, _)| k == "errmsg") {
        info.push(msg.1.clone());
    }
    Some(m.info(info.join("; ")))
}

/// Top-level int32/int64/string/bool elements of a BSON document, bounded;
/// a damaged element ends the walk and keeps what was read before it.
fn bson_top_level(doc: &[u8]) -> Option<Vec<(String, String)>> {
    let mut r = Reader::new(doc);
    let len = r.u32_le("").ok()? as usize;
    if len < 5 || len > doc.len() {
        return None;
    }
    let mut r = Reader::new(&doc[4..len - 1]);
    let mut out = Vec::new();
    while r.remaining() > 0 && out.len() < 64 {
        match bson_element(&mut r) {
            Some(Element::Kept(field)) => out.push(field),
            Some(Element::Skipped) => {}
            None => break,
        }
    }
    Some(out)
}

/// One BSON element as read: a name and value kept for the banner, or one skipped.
enum Element {
    Kept((String, String)),
    Skipped,
}

/// Reads one element; `None` to stop.
fn bson_element(r: &mut Reader<'_>) -> Option<Element> {
    let kind = r.u8("").ok()?;
    let name_end = r.rest().iter().position(|&b| b == 0)?;
    let name = text::printable(r.take(name_end, "").ok()?, 64);
    r.skip(1, "").ok()?;
    let value = match kind {
        0x01 | 0x09 | 0x11 => {
            r.skip(8, "").ok()?;
            None
        }
        0x12 => Some(i64::from_le_bytes(r.array("").ok()?).to_string()),
        0x02 => {
            let n = r.u32_le("").ok()? as usize;
            let s = r.take(n, "").ok()?;
            Some(text::printable(s.strip_suffix(&[0]).unwrap_or(s), 160))
        }
        0x03 | 0x04 => {
            let n = r.u32_le("").ok()? as usize;
            r.skip(n.checked_sub(4)?, "").ok()?;
            None
        }
        0x05 => {
            let n = r.u32_le("").ok()? as usize;
            r.skip(n.checked_add(1)?, "").ok()?;
            None
        }
        0x07 => {
            r.skip(12, "").ok()?;
            None
        }
        0x08 => Some((r.u8("").ok()? != 0).to_string()),
        0x0a => None,
        0x10 => Some(i32::from_le_bytes(r.array("").ok()?).to_string()),
        0x13 => {
            r.skip(16, "").ok()?;
            None
        }
        _ => return None,
    };
    Some(value.map_or(Element::Skipped, |v| Element::Kept((name, v))))
}

#[cfg(test)]
mod tests {
    use super::super::identify;
    use super::*;

    #[test]
    fn mysql_greeting_and_error() {
        let mut g = vec![0x0a];
        g.extend_from_slice(b"5.5.5-10.11.4-MariaDB-1~deb12u1\0");
        g.extend_from_slice(&[1, 0, 0, 0]);
        let mut pkt = (g.len() as u32).to_le_bytes()[..3].to_vec();
        pkt.push(0);
        pkt.extend_from_slice(&g);
        let m = identify(&pkt).unwrap();
        assert_eq!(
            (m.service, m.product.as_deref(), m.version.as_deref()),
            ("mysql", Some("MariaDB"), Some("10.11.4"))
        );
        let mut e = vec![0xff, 0x6a, 0x04];
        e.extend_from_slice(b"Host '10.0.0.9' is not allowed to connect to this MySQL server");
        let mut pkt = (e.len() as u32).to_le_bytes()[..3].to_vec();
        pkt.push(0);
        pkt.extend_from_slice(&e);
        let m = identify(&pkt).unwrap();
        assert!(
            m.info
                .unwrap()
                .starts_with("error 1130: Host '10.0.0.9' is not allowed")
        );
    }

    #[test]
    fn postgres_answers() {
        assert_eq!(
            identify(b"N").unwrap().info.as_deref(),
            Some("SSL not supported")
        );
        let body = b"SFATAL\0VFATAL\0C28000\0Mno pg_hba.conf entry for host\0Fauth.c\0L543\0RClientAuthentication\0\0";
        let mut e = vec![b'E'];
        e.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        e.extend_from_slice(body);
        let m = identify(&e).unwrap();
        assert_eq!(
            m.info.as_deref(),
            Some("FATAL 28000: no pg_hba.conf entry for host")
        );
    }

    #[test]
    fn mssql_prelogin_answer() {
        let mut payload = vec![0x00, 0, 11, 0, 6, 0x01, 0, 17, 0, 1, 0xff];
        payload.extend_from_slice(&[15, 0, 0x07, 0xd0, 0, 0, 0x00]);
        let mut pkt = vec![0x04, 0x01];
        pkt.extend_from_slice(&((payload.len() + 8) as u16).to_be_bytes());
        pkt.extend_from_slice(&[0, 0, 1, 0]);
        pkt.extend_from_slice(&payload);
        let m = identify(&pkt).unwrap();
        assert_eq!(
            m.summary(),
            "ms-sql-s Microsoft SQL Server 2019 15.0.2000 (encryption off)"
        );
    }

    #[test]
    fn bson_is_bounded() {
        assert_eq!(bson_top_level(&[0xff, 0xff, 0xff, 0x7f, 0]), None);
        let doc = [13, 0, 0, 0, 0x10, b'a', 0, 5, 0, 0, 0, 0x99, 0];
        assert_eq!(
            bson_top_level(&doc).unwrap(),
            vec![("a".to_string(), "5".to_string())]
        );
    }
}
