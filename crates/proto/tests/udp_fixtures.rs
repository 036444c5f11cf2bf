//! UDP parsers against answers captured from real servers (nmbd, dnsmasq, Net-SNMP)
//! in a throwaway network namespace (see tests/capture/).

use portwatch_proto::udp::snmp::SnmpVersion;
use portwatch_proto::udp::tftp::TftpAnswer;
use portwatch_proto::udp::{UdpAnswer, parse_answer, probe_for_with_id};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The probes were sent with id 0x5057; each answer must match its probe.
fn parse_matching(port: u16, name: &str) -> UdpAnswer {
    let probe = probe_for_with_id(port, 0x5057).unwrap();
    let answer = parse_answer(probe.service, &fixture(name)).unwrap();
    assert!(
        probe.matches(&answer),
        "{name}: id {:?} vs {:?}",
        probe.id,
        answer.id()
    );
    answer
}

#[test]
fn nbns_node_status() {
    let a = parse_matching(137, "nbstat_samba.bin");
    assert_eq!(
        a.summary(),
        "NetBIOS PWSAMBA1 (PWTEST) workstation, file-server, master-browser, MAC 00:00:00:00:00:00"
    );
}

#[test]
fn dnsmasq_version_bind() {
    let a = parse_matching(53, "udp_dns_dnsmasq.bin");
    let UdpAnswer::Dns(m) = &a else {
        panic!("{a:?}")
    };
    assert!(m.flags.authoritative);
    assert_eq!(m.txt_answers(), ["dnsmasq-2.90"]);
    assert_eq!(a.summary(), "DNS NOERROR, version.bind: \"dnsmasq-2.90\"");
}

#[test]
fn dnsmasq_tftp_error() {
    let a = parse_matching(69, "udp_tftp_dnsmasq.bin");
    let UdpAnswer::Tftp(TftpAnswer::Error { code, message }) = &a else {
        panic!("{a:?}")
    };
    assert_eq!(*code, 1);
    assert!(message.contains("not found"), "{message}");
}

#[test]
fn net_snmp_v2c_sys_descr() {
    let a = parse_matching(161, "udp_snmp_v2c_netsnmp.bin");
    let UdpAnswer::Snmp(s) = &a else {
        panic!("{a:?}")
    };
    assert_eq!(s.version, SnmpVersion::V2c);
    assert_eq!(s.sys_descr(), Some("portwatch fixture agent"));
    assert_eq!(
        a.summary(),
        "SNMPv2c community \"public\": portwatch fixture agent"
    );
}

#[test]
fn net_snmp_v3_report() {
    let a = parse_answer("snmp", &fixture("udp_snmpv3_netsnmp.bin")).unwrap();
    let UdpAnswer::Snmp(s) = &a else {
        panic!("{a:?}")
    };
    assert_eq!(s.version, SnmpVersion::V3);
    assert_eq!(s.request_id, 0x5057);
    assert_eq!(s.pdu_type, Some(0xa8));
    // Net-SNMP engine ids start with enterprise 8072 in the RFC 3411 format.
    assert!(s.engine_id.as_deref().unwrap().starts_with("80001f88"));
    // The report carries usmStatsUnknownEngineIDs.0.
    assert_eq!(s.varbinds[0].0, "1.3.6.1.6.3.15.1.1.4.0");
    assert!(a.summary().starts_with("SNMPv3 engine 80001f88"));
}
