//! Prints every request this crate encodes, one `name<TAB>hex` line each, for
//! `tests/capture/capture.py`, which sends them to throwaway test servers and
//! saves the answers as fixtures. No I/O beyond stdout.

use portwatch_proto::netbios::{nbstat, session};
use portwatch_proto::smb::{smb1, smb2};
use portwatch_proto::{banner, udp};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() {
    let guid = *b"portwatch-guid!!";
    let salt = [0x5a; 32];
    let mut out: Vec<(&str, Vec<u8>)> = vec![
        ("nbstat", nbstat::node_status_request(0x5057)),
        (
            "session_named",
            session::session_request("PWSAMBA1", "PORTWATCH"),
        ),
        (
            "session_smbserver",
            session::session_request(session::SMBSERVER, "PORTWATCH"),
        ),
        (
            "smb1_classic",
            smb1::negotiate_request(smb1::CLASSIC_DIALECTS),
        ),
        (
            "smb1_extended",
            smb1::negotiate_request_extended(smb1::CLASSIC_DIALECTS),
        ),
        (
            "smb1_with_smb2",
            smb1::negotiate_request_extended(smb1::CLASSIC_AND_SMB2_DIALECTS),
        ),
        ("smb1_lanman_only", smb1::negotiate_request(&["LANMAN1.0"])),
        (
            "smb2_all",
            smb2::negotiate_request(&smb2::Dialect::ALL, guid, salt),
        ),
        (
            "smb2_202",
            smb2::negotiate_request(&[smb2::Dialect::Smb202], guid, salt),
        ),
        (
            "smb2_upto_302",
            smb2::negotiate_request(&smb2::Dialect::ALL[..4], guid, salt),
        ),
    ];
    out.extend(extra());
    for (name, bytes) in out {
        println!("{name}\t{}", hex(&bytes));
    }
}

fn extra() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    for &(port, _) in udp::SERVICES {
        if let Some(probe) = udp::probe_for_with_id(port, 0x5057) {
            out.push((udp_name(port), probe.payload));
        }
    }
    out.push(("udp_snmpv3", udp::snmp::v3_discovery_request(0x5057)));
    // Loopback services of the development machine, named tcp_<fixture>@<port>.
    let tcp: [(&'static str, u16); 6] = [
        ("tcp_mysql@3306", 3306),
        ("tcp_postgres@5432", 5432),
        ("tcp_redis@6379", 6379),
        ("tcp_mqtt@1883", 1883),
        ("tcp_amqp@5672", 5672),
        ("tcp_http@80", 80),
    ];
    for (name, port) in tcp {
        let payload = banner::tcp_probe_for(port, "127.0.0.1")
            .map(|p| p.payload)
            .unwrap_or_default();
        out.push((name, payload));
    }
    out
}

fn udp_name(port: u16) -> &'static str {
    // Leak is fine in a one-shot example: names must be 'static to sit beside the others.
    Box::leak(format!("udp_{port}").into_boxed_str())
}
