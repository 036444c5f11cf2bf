//! Parsers against answers captured from real Samba 4.17 (see tests/capture/).

use portwatch_proto::netbios::{NodeStatus, NodeType, SessionResponse};
use portwatch_proto::smb::smb1::{CLASSIC_AND_SMB2_DIALECTS, CLASSIC_DIALECTS, NO_DIALECT};
use portwatch_proto::smb::smb2::{Cipher, Dialect, HashAlgorithm, Signing, SigningAlgorithm};
use portwatch_proto::smb::{NegotiateResponse, parse_negotiate_response};
use portwatch_proto::{ProtoError, netbios::session};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn smb1(name: &str) -> portwatch_proto::smb::smb1::Smb1NegotiateResponse {
    match parse_negotiate_response(&fixture(name)).unwrap() {
        NegotiateResponse::Smb1(r) => r,
        other @ NegotiateResponse::Smb2(_) => panic!("{name}: expected SMB1, got {other:?}"),
    }
}

fn smb2(name: &str) -> portwatch_proto::smb::smb2::Smb2NegotiateResponse {
    match parse_negotiate_response(&fixture(name)).unwrap() {
        NegotiateResponse::Smb2(r) => r,
        other @ NegotiateResponse::Smb1(_) => panic!("{name}: expected SMB2, got {other:?}"),
    }
}

#[test]
fn nmbd_node_status() {
    let st = NodeStatus::parse(&fixture("nbstat_samba.bin")).unwrap();
    assert_eq!(st.transaction_id, 0x5057);
    assert_eq!(st.computer_name(), Some("PWSAMBA1"));
    assert_eq!(st.workgroup(), Some("PWTEST"));
    assert_eq!(
        st.user(),
        None,
        "the <03> name is the computer's own messenger name"
    );
    let suffixes: Vec<(u8, bool)> = st.names.iter().map(|e| (e.suffix, e.group)).collect();
    assert_eq!(
        suffixes,
        [
            (0x00, false),
            (0x03, false),
            (0x20, false),
            (0x01, true),
            (0x00, true),
            (0x1d, false),
            (0x1e, true)
        ]
    );
    assert!(
        st.names
            .iter()
            .all(|e| e.active && e.node_type == NodeType::B)
    );
    assert!(st.is_file_server());
    assert!(st.is_master_browser());
    assert!(!st.is_domain_controller());
    assert_eq!(st.mac_string().as_deref(), Some("00:00:00:00:00:00"));
    assert!(!st.statistics_truncated);
    assert_eq!(st.roles(), ["workstation", "file-server", "master-browser"]);
    assert_eq!(st.names[1].service(), "Messenger Service");
    assert_eq!(st.names[6].service(), "Browser Service Elections");
}

#[test]
fn nmbd_node_status_with_short_statistics() {
    // Drop most of the statistics block, as older Samba and some printers do.
    let full = fixture("nbstat_samba.bin");
    for cut in [0, 2, 6, 40] {
        let st = NodeStatus::parse(&full[..full.len() - 46 + cut]).unwrap();
        assert_eq!(st.names.len(), 7);
        assert!(st.statistics_truncated);
        assert_eq!(st.mac.is_some(), cut >= 6);
    }
}

#[test]
fn session_service_on_139() {
    for name in [
        "session_named_response.bin",
        "session_smbserver_response.bin",
    ] {
        assert_eq!(
            SessionResponse::parse(&fixture(name)).unwrap(),
            SessionResponse::Positive
        );
    }
    let r = smb1("nt1_139_smb1_classic.bin");
    assert_eq!(r.dialect_name(CLASSIC_DIALECTS), Some("NT LM 0.12"));
}

#[test]
fn smb1_nt_lm_without_extended_security() {
    let r = smb1("nt1_smb1_classic.bin");
    assert_eq!(r.dialect_index, 5);
    assert!(r.security_mode.user_level && r.security_mode.challenge_response);
    // Samba's default "server signing" leaves SMB1 signing off.
    assert_eq!(r.signing(), Signing::Disabled);
    assert_eq!(r.max_mpx, 50);
    assert!(!r.extended_security);
    assert_eq!(r.challenge_len, 8);
    assert_eq!(r.domain.as_deref(), Some("PWTEST"));
    assert_eq!(r.server_name.as_deref(), Some("PWSAMBA1"));
    assert!(r.capabilities.names().contains(&"NT_SMBS"));
    assert!(r.capabilities.names().contains(&"UNIX"));
    assert!(r.system_time.unwrap() > 1_600_000_000);
}

#[test]
fn smb1_nt_lm_with_extended_security() {
    let r = smb1("nt1_smb1_extended.bin");
    assert!(r.extended_security);
    assert!(
        r.server_guid
            .as_deref()
            .unwrap()
            .starts_with("61737770-626d-3161-"),
        "{:?}",
        r.server_guid
    );
    assert!(r.security_blob_len > 0);
    assert_eq!(r.domain, None);
}

#[test]
fn smb1_offer_answered_by_smb2_wildcard() {
    for name in ["nt1_smb1_with_smb2.bin", "sig_smb1_with_smb2.bin"] {
        let r = smb2(name);
        assert_eq!(r.dialect, Dialect::Wildcard, "{name}");
        assert_eq!(r.dialect.to_string(), "2.???");
    }
    assert_eq!(CLASSIC_AND_SMB2_DIALECTS.len(), 8);
}

#[test]
fn smb1_refused() {
    for name in [
        "nt1_smb1_lanman_only.bin",
        "sig_smb1_classic.bin",
        "sig_smb1_extended.bin",
    ] {
        let r = smb1(name);
        assert_eq!(r.dialect_index, NO_DIALECT, "{name}");
        assert!(!r.accepted());
    }
}

#[test]
fn smb2_311_contexts() {
    let nt1 = smb2("nt1_smb2_all.bin");
    let sig = smb2("sig_smb2_all.bin");
    for r in [&nt1, &sig] {
        assert_eq!(r.dialect, Dialect::Smb311);
        assert_eq!(r.preauth_hash(), Some(HashAlgorithm::Sha512));
        assert_eq!(r.cipher(), Some(Cipher::Aes128Gcm));
        assert_eq!(r.signing_algorithm(), Some(SigningAlgorithm::AesGmac));
        assert_eq!(r.max_read_size, 8 * 1024 * 1024);
        assert_eq!(r.boot_time, None);
        assert!(r.system_time > 1_600_000_000);
    }
    assert_eq!(nt1.signing, Signing::EnabledNotRequired);
    assert_eq!(sig.signing, Signing::Required);
    assert_eq!(sig.signing.to_string(), "required");
    assert_eq!(sig.server_guid, "61737770-626d-3261-0000-000000000000");
}

#[test]
fn smb2_older_dialects() {
    assert_eq!(smb2("nt1_smb2_202.bin").dialect, Dialect::Smb202);
    let r = smb2("nt1_smb2_upto_302.bin");
    assert_eq!(r.dialect, Dialect::Smb302);
    assert!(r.contexts.is_empty());
    assert_eq!(smb2("sig_smb2_upto_302.bin").signing, Signing::Required);
}

#[test]
fn smb2_error_status_is_reported() {
    let err = parse_negotiate_response(&fixture("sig_smb2_202.bin")).unwrap_err();
    assert!(matches!(err, ProtoError::Unexpected { .. }), "{err}");
    assert!(err.to_string().contains("0xc00000bb"), "{err}");
}

#[test]
fn framing_matches_captures() {
    let payload = fixture("nt1_smb2_all.bin");
    let framed = session::frame(&payload).unwrap();
    assert_eq!(session::frame_len(&framed), Some(payload.len() + 4));
    assert_eq!(session::unframe(&framed).unwrap(), payload.as_slice());
}
