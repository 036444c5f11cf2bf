//! JSON shapes of the result types (built with `--features serde`, as the scan crate does).
#![cfg(feature = "serde")]

use portwatch_proto::banner::{self, ServiceMatch};
use portwatch_proto::netbios::{NodeStatus, SessionResponse};
use portwatch_proto::smb::{NegotiateResponse, parse_negotiate_response};
use portwatch_proto::udp::{self, UdpAnswer};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
    value: &T,
) -> String {
    let json = serde_json::to_string(value).unwrap();
    let back: T = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, value);
    json
}

#[test]
fn smb_and_netbios_round_trip() {
    let sig = parse_negotiate_response(&fixture("sig_smb2_all.bin")).unwrap();
    let json = round_trip(&sig);
    assert!(json.contains("\"signing\":\"required\""), "{json}");
    let NegotiateResponse::Smb2(nt1) =
        parse_negotiate_response(&fixture("nt1_smb2_all.bin")).unwrap()
    else {
        panic!("expected SMB2")
    };
    assert_eq!(
        serde_json::to_string(&nt1.signing).unwrap(),
        "\"enabled-not-required\""
    );
    round_trip(&parse_negotiate_response(&fixture("nt1_smb1_classic.bin")).unwrap());
    round_trip(&NodeStatus::parse(&fixture("nbstat_samba.bin")).unwrap());
    round_trip(&SessionResponse::parse(&[0x83, 0, 0, 1, 0x80]).unwrap());
}

#[test]
fn udp_and_banner_round_trip() {
    for (service, name) in [
        ("domain", "udp_dns_dnsmasq.bin"),
        ("snmp", "udp_snmp_v2c_netsnmp.bin"),
        ("snmp", "udp_snmpv3_netsnmp.bin"),
        ("tftp", "udp_tftp_dnsmasq.bin"),
    ] {
        round_trip(&udp::parse_answer(service, &fixture(name)).unwrap());
    }
    round_trip(&UdpAnswer::Text(
        udp::simple::TextAnswer::parse("daytime", b"now").unwrap(),
    ));
    let m: ServiceMatch = banner::identify(&fixture("banner_mysql.bin")).unwrap();
    let json = round_trip(&m);
    assert!(json.starts_with("{\"service\":\"mysql\""), "{json}");
    assert!(serde_json::from_str::<ServiceMatch>(&json.replace("mysql\"", "nonsense\"")).is_err());
}
