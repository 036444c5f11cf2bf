//! Every parser against hostile input: arbitrary bytes, every truncation of
//! every captured fixture, and fixtures with mutated length and count fields.
//! The only acceptable outcomes are `Ok` or a descriptive `Err`; a panic fails
//! the test, and every parser must finish promptly.

use std::time::{Duration, Instant};

use portwatch_proto::netbios::{NetbiosName, NodeStatus, SessionResponse, session};
use portwatch_proto::smb::parse_negotiate_response;
use portwatch_proto::udp::{self, SERVICES};
use portwatch_proto::{ProtoError, banner};
use proptest::prelude::*;

type Parser = fn(&[u8]);

fn ignore<T>(_: T) {}

/// Each fixture with the parser that reads it.
const FIXTURES: &[(&str, Parser)] = &[
    ("nbstat_samba.bin", |b| ignore(NodeStatus::parse(b))),
    ("session_named_response.bin", |b| {
        ignore(SessionResponse::parse(b));
    }),
    ("nt1_smb1_classic.bin", |b| {
        ignore(parse_negotiate_response(b));
    }),
    ("nt1_smb1_extended.bin", |b| {
        ignore(parse_negotiate_response(b));
    }),
    ("nt1_smb1_with_smb2.bin", |b| {
        ignore(parse_negotiate_response(b));
    }),
    ("nt1_smb2_all.bin", |b| ignore(parse_negotiate_response(b))),
    ("sig_smb2_all.bin", |b| ignore(parse_negotiate_response(b))),
    ("nt1_smb2_upto_302.bin", |b| {
        ignore(parse_negotiate_response(b));
    }),
    ("sig_smb2_202.bin", |b| ignore(parse_negotiate_response(b))),
    ("udp_dns_dnsmasq.bin", |b| {
        ignore(udp::parse_answer("domain", b));
    }),
    ("udp_tftp_dnsmasq.bin", |b| {
        ignore(udp::parse_answer("tftp", b));
    }),
    ("udp_snmp_v2c_netsnmp.bin", |b| {
        ignore(udp::parse_answer("snmp", b));
    }),
    ("udp_snmpv3_netsnmp.bin", |b| {
        ignore(udp::parse_answer("snmp", b));
    }),
    ("banner_mysql.bin", |b| ignore(banner::identify(b))),
    ("banner_postgres_error.bin", |b| ignore(banner::identify(b))),
    ("banner_amqp.bin", |b| ignore(banner::identify(b))),
    ("banner_mqtt.bin", |b| ignore(banner::identify(b))),
];

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Runs every parser this crate has on `bytes`.
fn run_all_parsers(bytes: &[u8]) {
    ignore(NodeStatus::parse(bytes));
    ignore(SessionResponse::parse(bytes));
    ignore(session::frame_len(bytes));
    ignore(session::unframe(bytes));
    ignore(parse_negotiate_response(bytes));
    ignore(NetbiosName::decode_first_level(bytes));
    for &(_, service) in SERVICES {
        ignore(udp::parse_answer(service, bytes));
    }
    if let Some(m) = banner::identify(bytes) {
        assert!(
            banner::SERVICE_NAMES.contains(&m.service),
            "{} not listed",
            m.service
        );
        let line = m.summary();
        assert!(
            !line.chars().any(char::is_control),
            "control character in {line:?}"
        );
    }
}

#[test]
fn every_truncation_of_every_fixture() {
    for (name, parse) in FIXTURES {
        let full = fixture(name);
        for len in 0..=full.len() {
            parse(&full[..len]);
            run_all_parsers(&full[..len]);
        }
    }
}

#[test]
fn truncated_smb_answers_are_errors_that_say_so() {
    let full = fixture("nt1_smb2_all.bin");
    for len in 0..full.len() {
        let err = parse_negotiate_response(&full[..len]).unwrap_err();
        assert!(
            matches!(err, ProtoError::Truncated { .. }),
            "len {len}: {err}"
        );
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn huge_inputs_finish_quickly() {
    // A long run of bytes that each parser could misread as lengths, labels or pointers.
    for fill in [0x00u8, 0x20, 0x3f, 0xc0, 0xff] {
        let big = vec![fill; 1 << 20];
        let start = Instant::now();
        run_all_parsers(&big);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "fill {fill:#04x} took {:?}",
            start.elapsed()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1500)) {
        run_all_parsers(&bytes);
    }

    /// Whatever a server sends, its printable form has no control character and no
    /// replacement character, and a non-empty answer always has one.
    #[test]
    fn banner_view_is_printable(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let found = banner::identify(&bytes);
        let v = banner::view(&bytes, found.as_ref());
        prop_assert!(v.text.is_none() || v.escaped.is_none());
        for line in [&v.text, &v.escaped].into_iter().flatten() {
            prop_assert!(!line.chars().any(char::is_control), "{line:?}");
            prop_assert!(!line.contains('\u{fffd}'), "{line:?}");
        }
        if let Some(escaped) = &v.escaped {
            prop_assert!(escaped.chars().all(|c| c.is_ascii_graphic() || c == ' ' || c == '…'));
        }
        prop_assert_eq!(v.line().is_some(), !bytes.is_empty());
    }

    #[test]
    fn mutated_fixtures(
        which in 0..FIXTURES.len(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let (name, parse) = FIXTURES[which];
        let mut bytes = fixture(name);
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        parse(&bytes);
        run_all_parsers(&bytes);
    }

    /// Length and count fields set to extremes: NBSTAT name count and RDLENGTH,
    /// SMB2 context offset/count, SMB1 WordCount/ByteCount, DNS counts, BER lengths.
    #[test]
    fn mutated_length_fields(which in 0..8usize, value in prop_oneof![Just(0u16), Just(1), Just(0x7fff), Just(0xffff), any::<u16>()]) {
        let (name, offsets): (&str, &[usize]) = match which {
            0 => ("nbstat_samba.bin", &[54, 56]),
            1 => ("nt1_smb2_all.bin", &[70, 120, 122]),
            2 => ("sig_smb2_all.bin", &[120, 124]),
            3 => ("nt1_smb1_classic.bin", &[32, 67]),
            4 => ("nt1_smb1_extended.bin", &[32, 67]),
            5 => ("udp_dns_dnsmasq.bin", &[4, 6, 40]),
            6 => ("udp_snmp_v2c_netsnmp.bin", &[1, 14, 34]),
            _ => ("udp_snmpv3_netsnmp.bin", &[1, 6, 22]),
        };
        for &offset in offsets {
            let mut bytes = fixture(name);
            if offset + 2 <= bytes.len() {
                bytes[offset..offset + 2].copy_from_slice(&value.to_le_bytes());
            }
            run_all_parsers(&bytes);
            let mut bytes = fixture(name);
            if offset + 2 <= bytes.len() {
                bytes[offset..offset + 2].copy_from_slice(&value.to_be_bytes());
            }
            run_all_parsers(&bytes);
        }
    }

    #[test]
    fn name_encoding_round_trips(name in "[A-Z0-9 ]{0,15}", suffix in any::<u8>()) {
        let n = NetbiosName::new(&name, suffix);
        let back = NetbiosName::decode_first_level(&n.encode_first_level()).unwrap();
        prop_assert_eq!(back, n);
        prop_assert_eq!(back.name(), name.trim());
    }

    #[test]
    fn framing_round_trips(payload in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let framed = session::frame(&payload).unwrap();
        prop_assert_eq!(session::frame_len(&framed), Some(framed.len()));
        prop_assert_eq!(session::unframe(&framed).unwrap(), payload.as_slice());
    }
}
