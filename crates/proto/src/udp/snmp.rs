//! SNMP (RFC 3416 PDUs in v1/v2c messages, RFC 3412/3414 for the v3 discovery probe).

use super::ber::{self, OCTET_STRING, SEQUENCE, Tlv};
use crate::error::{ProtoError, Result};
use crate::reader::Reader;
use crate::text;

/// sysDescr.0: the agent's one-line system description.
pub const SYS_DESCR: [u32; 9] = [1, 3, 6, 1, 2, 1, 1, 1, 0];
/// PDU tag: GetRequest.
pub const PDU_GET: u8 = 0xa0;
/// PDU tag: Response (GetResponse in v1).
pub const PDU_RESPONSE: u8 = 0xa2;
/// PDU tag: Report (v3).
pub const PDU_REPORT: u8 = 0xa8;
/// The exceptions a varbind may carry instead of a value (RFC 3416).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SnmpException {
    /// noSuchObject (tag 0x80).
    NoSuchObject,
    /// noSuchInstance (tag 0x81).
    NoSuchInstance,
    /// endOfMibView (tag 0x82).
    EndOfMibView,
}
/// Most variable bindings decoded from one PDU.
const MAX_VARBINDS: usize = 32;

/// Message version field values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SnmpVersion {
    /// SNMPv1 (0).
    V1,
    /// SNMPv2c (1).
    V2c,
    /// SNMPv3 (3).
    V3,
}

impl SnmpVersion {
    fn code(self) -> i64 {
        match self {
            SnmpVersion::V1 => 0,
            SnmpVersion::V2c => 1,
            SnmpVersion::V3 => 3,
        }
    }

    fn from_code(code: i64) -> Result<Self> {
        match code {
            0 => Ok(SnmpVersion::V1),
            1 => Ok(SnmpVersion::V2c),
            3 => Ok(SnmpVersion::V3),
            other => Err(ProtoError::malformed(
                "SNMP message",
                format!("version {other}"),
            )),
        }
    }
}

/// Builds a community-based GetRequest for one OID with a NULL value.
pub fn get_request(version: SnmpVersion, community: &str, request_id: i32, oid: &[u32]) -> Vec<u8> {
    let mut varbind = ber::oid(oid);
    varbind.extend_from_slice(&ber::tlv(ber::NULL, &[]));
    let varbind_list = ber::tlv(SEQUENCE, &ber::tlv(SEQUENCE, &varbind));
    let mut pdu = ber::integer(i64::from(request_id));
    pdu.extend_from_slice(&ber::integer(0)); // error-status
    pdu.extend_from_slice(&ber::integer(0)); // error-index
    pdu.extend_from_slice(&varbind_list);
    let mut msg = ber::integer(version.code());
    msg.extend_from_slice(&ber::tlv(OCTET_STRING, community.as_bytes()));
    msg.extend_from_slice(&ber::tlv(PDU_GET, &pdu));
    ber::tlv(SEQUENCE, &msg)
}

/// Builds an SNMPv3 engine-discovery request (no user, no auth, reportable):
/// an agent answers with a Report carrying its engine id, boots and time.
pub fn v3_discovery_request(msg_id: i32) -> Vec<u8> {
    let mut global = ber::integer(i64::from(msg_id));
    global.extend_from_slice(&ber::integer(65507)); // msgMaxSize
    global.extend_from_slice(&ber::tlv(OCTET_STRING, &[0x04])); // reportable, noAuthNoPriv
    global.extend_from_slice(&ber::integer(3)); // USM
    let mut usm = ber::tlv(OCTET_STRING, &[]); // engine id
    usm.extend_from_slice(&ber::integer(0)); // boots
    usm.extend_from_slice(&ber::integer(0)); // time
    for _ in 0..3 {
        usm.extend_from_slice(&ber::tlv(OCTET_STRING, &[])); // user, auth, priv
    }
    let mut pdu = ber::integer(i64::from(msg_id));
    pdu.extend_from_slice(&ber::integer(0));
    pdu.extend_from_slice(&ber::integer(0));
    pdu.extend_from_slice(&ber::tlv(SEQUENCE, &[]));
    let mut scoped = ber::tlv(OCTET_STRING, &[]);
    scoped.extend_from_slice(&ber::tlv(OCTET_STRING, &[]));
    scoped.extend_from_slice(&ber::tlv(PDU_GET, &pdu));
    let mut msg = ber::integer(3);
    msg.extend_from_slice(&ber::tlv(SEQUENCE, &global));
    msg.extend_from_slice(&ber::tlv(OCTET_STRING, &ber::tlv(SEQUENCE, &usm)));
    msg.extend_from_slice(&ber::tlv(SEQUENCE, &scoped));
    ber::tlv(SEQUENCE, &msg)
}

/// A variable binding's value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SnmpValue {
    /// INTEGER.
    Integer(i64),
    /// OCTET STRING, as cleaned text.
    Text(String),
    /// NULL.
    Null,
    /// OBJECT IDENTIFIER in dotted form.
    Oid(String),
    /// IpAddress.
    IpAddress(String),
    /// Counter32, Gauge32, TimeTicks or Counter64.
    Unsigned(u64),
    /// An exception in place of a value (v2c and later).
    Exception(SnmpException),
    /// Any other type, kept as tag and length.
    Other {
        /// The BER tag.
        tag: u8,
        /// Value length.
        len: usize,
    },
}

/// A parsed SNMP answer (v1/v2c Response, or the cleartext parts of a v3 message).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SnmpAnswer {
    /// Message version.
    pub version: SnmpVersion,
    /// Community string (v1/v2c).
    pub community: Option<String>,
    /// Authoritative engine id in hex (v3).
    pub engine_id: Option<String>,
    /// Engine boots (v3).
    pub engine_boots: Option<i64>,
    /// Engine time in seconds (v3).
    pub engine_time: Option<i64>,
    /// PDU tag (0xa2 response, 0xa8 report); None if the v3 PDU is encrypted.
    pub pdu_type: Option<u8>,
    /// Request id (v1/v2c: the request's; v3: msgID).
    pub request_id: i64,
    /// error-status of the PDU (0 = noError).
    pub error_status: i64,
    /// error-index of the PDU.
    pub error_index: i64,
    /// Variable bindings, OID in dotted form.
    pub varbinds: Vec<(String, SnmpValue)>,
}

impl SnmpAnswer {
    /// Parses an SNMP message that answers one of this module's requests.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut outer = Reader::new(bytes);
        let msg = ber::expect(&mut outer, SEQUENCE, "SNMP message")?;
        let mut r = Reader::new(msg);
        let version = SnmpVersion::from_code(ber::decode_integer(
            ber::expect(&mut r, ber::INTEGER, "SNMP version")?,
            "SNMP version",
        )?)?;
        if version == SnmpVersion::V3 {
            return parse_v3(&mut r);
        }
        let community = text::printable(ber::expect(&mut r, OCTET_STRING, "SNMP community")?, 64);
        let pdu = ber::read_tlv(&mut r, "SNMP PDU")?;
        let mut answer = parse_pdu(pdu)?;
        answer.version = version;
        answer.community = Some(community);
        Ok(answer)
    }

    /// The sysDescr.0 text, if the agent returned it.
    pub fn sys_descr(&self) -> Option<&str> {
        let wanted = "1.3.6.1.2.1.1.1.0";
        self.varbinds.iter().find_map(|(oid, value)| match value {
            SnmpValue::Text(t) if oid == wanted => Some(t.as_str()),
            _ => None,
        })
    }

    /// The error-status mnemonic (RFC 3416), e.g. "noError" or "noSuchName".
    pub fn error_name(&self) -> &'static str {
        match self.error_status {
            0 => "noError",
            1 => "tooBig",
            2 => "noSuchName",
            3 => "badValue",
            4 => "readOnly",
            5 => "genErr",
            6 => "noAccess",
            16 => "authorizationError",
            _ => "otherError",
        }
    }

    /// One readable line.
    pub fn summary(&self) -> String {
        if self.version == SnmpVersion::V3 {
            return format!(
                "SNMPv3 engine {} (boots {}, time {}s)",
                self.engine_id.as_deref().unwrap_or("?"),
                self.engine_boots.unwrap_or(0),
                self.engine_time.unwrap_or(0)
            );
        }
        let v = if self.version == SnmpVersion::V1 {
            "v1"
        } else {
            "v2c"
        };
        let community = self.community.as_deref().unwrap_or("");
        match self.sys_descr() {
            Some(descr) => format!("SNMP{v} community {community:?}: {descr}"),
            None => format!("SNMP{v} community {community:?}: {}", self.error_name()),
        }
    }
}

fn parse_pdu(pdu: Tlv<'_>) -> Result<SnmpAnswer> {
    const WHAT: &str = "SNMP PDU";
    if pdu.tag != PDU_RESPONSE && pdu.tag != PDU_REPORT {
        return Err(ProtoError::unexpected(
            WHAT,
            format!("PDU type {:#04x}", pdu.tag),
        ));
    }
    let mut p = Reader::new(pdu.value);
    let request_id = ber::decode_integer(ber::expect(&mut p, ber::INTEGER, WHAT)?, WHAT)?;
    let error_status = ber::decode_integer(ber::expect(&mut p, ber::INTEGER, WHAT)?, WHAT)?;
    let error_index = ber::decode_integer(ber::expect(&mut p, ber::INTEGER, WHAT)?, WHAT)?;
    let list = ber::expect(&mut p, SEQUENCE, "SNMP varbind list")?;
    let mut l = Reader::new(list);
    let mut varbinds = Vec::new();
    while l.remaining() > 0 && varbinds.len() < MAX_VARBINDS {
        let vb = ber::expect(&mut l, SEQUENCE, "SNMP varbind")?;
        let mut v = Reader::new(vb);
        let oid = ber::decode_oid(ber::expect(&mut v, ber::OID, "SNMP varbind name")?)?;
        let value = decode_value(ber::read_tlv(&mut v, "SNMP varbind value")?)?;
        varbinds.push((oid, value));
    }
    Ok(SnmpAnswer {
        version: SnmpVersion::V2c,
        community: None,
        engine_id: None,
        engine_boots: None,
        engine_time: None,
        pdu_type: Some(pdu.tag),
        request_id,
        error_status,
        error_index,
        varbinds,
    })
}

fn decode_value(t: Tlv<'_>) -> Result<SnmpValue> {
    const WHAT: &str = "SNMP value";
    Ok(match t.tag {
        ber::INTEGER => SnmpValue::Integer(ber::decode_integer(t.value, WHAT)?),
        OCTET_STRING => SnmpValue::Text(text::printable(t.value, text::MAX_TEXT * 2)),
        ber::NULL => SnmpValue::Null,
        ber::OID => SnmpValue::Oid(ber::decode_oid(t.value)?),
        0x40 if t.value.len() == 4 => SnmpValue::IpAddress(
            std::net::Ipv4Addr::new(t.value[0], t.value[1], t.value[2], t.value[3]).to_string(),
        ),
        0x41 | 0x42 | 0x43 | 0x46 => SnmpValue::Unsigned(ber::decode_unsigned(t.value, WHAT)?),
        0x80 => SnmpValue::Exception(SnmpException::NoSuchObject),
        0x81 => SnmpValue::Exception(SnmpException::NoSuchInstance),
        0x82 => SnmpValue::Exception(SnmpException::EndOfMibView),
        tag => SnmpValue::Other {
            tag,
            len: t.value.len(),
        },
    })
}

fn parse_v3(r: &mut Reader<'_>) -> Result<SnmpAnswer> {
    const WHAT: &str = "SNMPv3 message";
    let global = ber::expect(r, SEQUENCE, "SNMPv3 global data")?;
    let mut g = Reader::new(global);
    let msg_id = ber::decode_integer(ber::expect(&mut g, ber::INTEGER, WHAT)?, WHAT)?;
    let _max = ber::expect(&mut g, ber::INTEGER, WHAT)?;
    let flags = ber::expect(&mut g, OCTET_STRING, "SNMPv3 msgFlags")?;
    let encrypted = flags.first().is_some_and(|f| f & 0x02 != 0);
    let sec = ber::expect(r, OCTET_STRING, "SNMPv3 security parameters")?;
    let mut s = Reader::new(sec);
    let usm = ber::expect(&mut s, SEQUENCE, "SNMPv3 USM parameters")?;
    let mut u = Reader::new(usm);
    let engine = ber::expect(&mut u, OCTET_STRING, "SNMPv3 engine id")?;
    let boots = ber::decode_integer(ber::expect(&mut u, ber::INTEGER, WHAT)?, WHAT)?;
    let time = ber::decode_integer(ber::expect(&mut u, ber::INTEGER, WHAT)?, WHAT)?;
    let mut answer = if encrypted {
        SnmpAnswer {
            version: SnmpVersion::V3,
            community: None,
            engine_id: None,
            engine_boots: None,
            engine_time: None,
            pdu_type: None,
            request_id: msg_id,
            error_status: 0,
            error_index: 0,
            varbinds: Vec::new(),
        }
    } else {
        let scoped = ber::expect(r, SEQUENCE, "SNMPv3 scoped PDU")?;
        let mut sp = Reader::new(scoped);
        ber::expect(&mut sp, OCTET_STRING, "SNMPv3 context engine id")?;
        ber::expect(&mut sp, OCTET_STRING, "SNMPv3 context name")?;
        parse_pdu(ber::read_tlv(&mut sp, "SNMPv3 PDU")?)?
    };
    answer.version = SnmpVersion::V3;
    answer.request_id = msg_id;
    answer.engine_id = Some(text::hex_joined(&engine[..engine.len().min(64)], ""));
    answer.engine_boots = Some(boots);
    answer.engine_time = Some(time);
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2c_get_sys_descr_bytes() {
        let req = get_request(SnmpVersion::V2c, "public", 0x1234, &SYS_DESCR);
        let expected: &[u8] = &[
            0x30, 0x27, // message, 39 bytes
            0x02, 0x01, 0x01, // version 1 = v2c
            0x04, 0x06, b'p', b'u', b'b', b'l', b'i', b'c', // community
            0xa0, 0x1a, // GetRequest, 26 bytes
            0x02, 0x02, 0x12, 0x34, // request-id
            0x02, 0x01, 0x00, 0x02, 0x01, 0x00, // error-status, error-index
            0x30, 0x0e, 0x30, 0x0c, // varbind list, varbind
            0x06, 0x08, 0x2b, 0x06, 0x01, 0x02, 0x01, 0x01, 0x01, 0x00, // sysDescr.0
            0x05, 0x00, // NULL
        ];
        assert_eq!(req, expected);
        assert_eq!(
            get_request(SnmpVersion::V1, "public", 0x1234, &SYS_DESCR)[4],
            0
        );
    }

    #[test]
    fn parses_response_built_from_request() {
        // Turn our request into a response: PDU tag a2 and an OCTET STRING value.
        let mut req = get_request(SnmpVersion::V2c, "public", 7, &SYS_DESCR);
        let at = req.iter().position(|&b| b == PDU_GET).unwrap();
        req[at] = PDU_RESPONSE;
        let n = req.len();
        req[n - 2] = OCTET_STRING;
        let a = SnmpAnswer::parse(&req).unwrap();
        assert_eq!(a.request_id, 7);
        assert_eq!(a.sys_descr(), Some(""));
        assert_eq!(a.summary(), "SNMPv2c community \"public\": ");
        assert!(SnmpAnswer::parse(&get_request(SnmpVersion::V2c, "p", 1, &SYS_DESCR)).is_err());
    }

    #[test]
    fn v3_discovery_layout() {
        let req = v3_discovery_request(0x42);
        assert_eq!(req[0], SEQUENCE);
        assert_eq!(usize::from(req[1]) + 2, req.len());
        assert_eq!(&req[2..5], &[2, 1, 3]);
        // Our own request parses as far as the PDU type, which is wrong for an answer.
        assert!(matches!(
            SnmpAnswer::parse(&req),
            Err(ProtoError::Unexpected { .. })
        ));
    }
}
