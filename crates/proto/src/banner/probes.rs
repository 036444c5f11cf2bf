//! Request bytes for services that wait for the client to speak first.

use crate::udp::ber::{self, OCTET_STRING, SEQUENCE};

/// `GET <path> HTTP/1.0` with Host, User-Agent "portwatch" and `Accept: */*`.
/// Control characters and spaces in `host` or `path` are dropped.
pub fn http_get(host: &str, path: &str) -> Vec<u8> {
    let safe = |s: &str| {
        s.chars()
            .filter(|c| !c.is_control() && *c != ' ')
            .take(255)
            .collect::<String>()
    };
    format!(
        "GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: portwatch\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        safe(path),
        safe(host)
    )
    .into_bytes()
}

/// RDP: TPKT + X.224 Connection Request + RDP_NEG_REQ asking for TLS, CredSSP and CredSSP-EX (MS-RDPBCGR 2.2.1.1).
pub fn rdp_connection_request() -> Vec<u8> {
    vec![
        0x03, 0x00, 0x00, 0x13, // TPKT version 3, length 19
        0x0e, 0xe0, 0x00, 0x00, 0x00, 0x00,
        0x00, // X.224: length 14, CR, dst ref, src ref, class 0
        0x01, 0x00, 0x08, 0x00, // RDP_NEG_REQ, flags 0, length 8
        0x0b, 0x00, 0x00, 0x00, // PROTOCOL_SSL | PROTOCOL_HYBRID | PROTOCOL_HYBRID_EX
    ]
}

/// PostgreSQL SSLRequest: length 8, code 80877103. The server answers one byte, 'S' or 'N'.
pub fn postgres_ssl_request() -> Vec<u8> {
    let mut out = 8u32.to_be_bytes().to_vec();
    out.extend_from_slice(&80_877_103u32.to_be_bytes());
    out
}

/// Redis `PING` as a RESP array.
pub fn redis_ping() -> Vec<u8> {
    b"*1\r\n$4\r\nPING\r\n".to_vec()
}

/// Redis `INFO server` as a RESP array: the version when no password is set, and the same
/// refusals as `PING` otherwise.
pub fn redis_info() -> Vec<u8> {
    b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n".to_vec()
}

/// memcached text protocol `version`.
pub fn memcached_version() -> Vec<u8> {
    b"version\r\n".to_vec()
}

/// AMQP 0-9-1 protocol header.
pub fn amqp_header() -> Vec<u8> {
    b"AMQP\x00\x00\x09\x01".to_vec()
}

/// MQTT 3.1.1 CONNECT with a clean session, 60 s keep-alive and `client_id` (cut to 23 bytes).
pub fn mqtt_connect(client_id: &str) -> Vec<u8> {
    let id = &client_id.as_bytes()[..client_id.len().min(23)];
    let mut var = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3c];
    var.extend_from_slice(&(id.len() as u16).to_be_bytes());
    var.extend_from_slice(id);
    let mut out = vec![0x10, var.len() as u8];
    out.extend_from_slice(&var);
    out
}

/// The topic on which Mosquitto publishes its version, retained, to any subscriber.
pub const MQTT_VERSION_TOPIC: &str = "$SYS/broker/version";

/// MQTT 3.1.1 SUBSCRIBE (packet id 1, QoS 0) to [`MQTT_VERSION_TOPIC`]. Sent right behind
/// CONNECT: a broker handles the two in order, and one that refused the CONNECT has closed.
pub fn mqtt_subscribe_version() -> Vec<u8> {
    let topic = MQTT_VERSION_TOPIC.as_bytes();
    let mut var = vec![0x00, 0x01];
    var.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    var.extend_from_slice(topic);
    var.push(0x00);
    let mut out = vec![0x82, var.len() as u8];
    out.extend_from_slice(&var);
    out
}

/// X11 connection setup, little-endian, protocol 11.0, no authorisation.
pub fn x11_setup() -> Vec<u8> {
    vec![b'l', 0, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0]
}

/// LDAPv3 anonymous simple bind (RFC 4511) with `message_id`.
pub fn ldap_anonymous_bind(message_id: i32) -> Vec<u8> {
    let mut bind = ber::integer(3);
    bind.extend_from_slice(&ber::tlv(OCTET_STRING, b""));
    bind.extend_from_slice(&ber::tlv(0x80, b"")); // simple authentication, empty password
    let mut msg = ber::integer(i64::from(message_id));
    msg.extend_from_slice(&ber::tlv(0x60, &bind));
    ber::tlv(SEQUENCE, &msg)
}

/// TDS PRELOGIN (MS-TDS 2.2.6.5) with VERSION, ENCRYPTION (not supported), INSTOPT, THREADID and MARS.
pub fn mssql_prelogin() -> Vec<u8> {
    // Option table: token, offset (u16 BE), length (u16 BE); data follows the 0xFF terminator.
    let options: [(u8, &[u8]); 5] = [
        (0x00, &[0, 0, 0, 0, 0, 0]), // VERSION
        (0x01, &[0x02]),             // ENCRYPTION: ENCRYPT_NOT_SUP
        (0x02, &[0x00]),             // INSTOPT: empty instance name
        (0x03, &[0, 0, 0, 0]),       // THREADID
        (0x04, &[0x00]),             // MARS off
    ];
    let table_len = options.len() * 5 + 1;
    let mut table = Vec::with_capacity(table_len);
    let mut data = Vec::new();
    for (token, value) in options {
        table.push(token);
        table.extend_from_slice(&((table_len + data.len()) as u16).to_be_bytes());
        table.extend_from_slice(&(value.len() as u16).to_be_bytes());
        data.extend_from_slice(value);
    }
    table.push(0xff);
    let total = 8 + table.len() + data.len();
    let mut out = vec![0x12, 0x01];
    out.extend_from_slice(&(total as u16).to_be_bytes());
    out.extend_from_slice(&[0x00, 0x00, 0x00, 0x00]); // SPID, packet id, window
    out.extend_from_slice(&table);
    out.extend_from_slice(&data);
    out
}

/// MongoDB OP_MSG `{hello: 1, $db: "admin"}` with `request_id`.
pub fn mongodb_hello(request_id: i32) -> Vec<u8> {
    let mut doc = Vec::new();
    doc.push(0x10); // int32
    doc.extend_from_slice(b"hello\0");
    doc.extend_from_slice(&1i32.to_le_bytes());
    doc.push(0x02); // string
    doc.extend_from_slice(b"$db\0");
    doc.extend_from_slice(&6i32.to_le_bytes());
    doc.extend_from_slice(b"admin\0");
    doc.push(0x00);
    let mut bson = ((doc.len() + 4) as i32).to_le_bytes().to_vec();
    bson.extend_from_slice(&doc);
    let total = 16 + 4 + 1 + bson.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as i32).to_le_bytes());
    out.extend_from_slice(&request_id.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes()); // responseTo
    out.extend_from_slice(&2013i32.to_le_bytes()); // OP_MSG
    out.extend_from_slice(&0u32.to_le_bytes()); // flagBits
    out.push(0); // section kind 0: body
    out.extend_from_slice(&bson);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_get_bytes() {
        assert_eq!(
            http_get("10.0.0.5:8080", "/"),
            b"GET / HTTP/1.0\r\nHost: 10.0.0.5:8080\r\nUser-Agent: portwatch\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        assert!(http_get("a\r\nX: y", "/").starts_with(b"GET / HTTP/1.0\r\nHost: aX:y\r\n"));
    }

    #[test]
    fn binary_probe_bytes() {
        assert_eq!(rdp_connection_request().len(), 19);
        assert_eq!(postgres_ssl_request(), [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
        assert_eq!(
            mqtt_connect("portwatch"),
            b"\x10\x15\x00\x04MQTT\x04\x02\x00\x3c\x00\x09portwatch"
        );
        assert_eq!(
            ldap_anonymous_bind(1),
            [0x30, 0x0c, 2, 1, 1, 0x60, 7, 2, 1, 3, 4, 0, 0x80, 0]
        );
    }

    #[test]
    fn prelogin_layout() {
        let p = mssql_prelogin();
        assert_eq!(&p[..8], &[0x12, 0x01, 0x00, 47, 0, 0, 0, 0]);
        // VERSION at offset 26 (5 options * 5 + terminator), length 6.
        assert_eq!(&p[8..13], &[0x00, 0x00, 26, 0x00, 6]);
        assert_eq!(&p[13..18], &[0x01, 0x00, 32, 0x00, 1]);
        assert_eq!(p[33], 0xff);
        assert_eq!(p.len(), 47);
    }

    #[test]
    fn mongodb_hello_layout() {
        let m = mongodb_hello(7);
        assert_eq!(
            i32::from_le_bytes(m[..4].try_into().unwrap()) as usize,
            m.len()
        );
        assert_eq!(&m[4..8], &7i32.to_le_bytes());
        assert_eq!(&m[12..16], &2013i32.to_le_bytes());
        let bson_len = i32::from_le_bytes(m[21..25].try_into().unwrap()) as usize;
        assert_eq!(21 + bson_len, m.len());
        assert_eq!(*m.last().unwrap(), 0);
    }
}
