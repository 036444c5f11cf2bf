//! SMB dialects, SMB1, signing, server GUID and clock, over 445 (direct) or 139 (inside a
//! NetBIOS session). One connection per dialect, all at once: a server answers a negotiate
//! with a single dialect, so listing what it supports takes one negotiate per dialect.

use super::io::{self, Conn};
use super::{Budget, Identity};
use portwatch_proto::ProtoError;
use portwatch_proto::netbios::session::{self, SessionResponse};
use portwatch_proto::smb::smb1::{self, CLASSIC_DIALECTS, Smb1NegotiateResponse};
use portwatch_proto::smb::smb2::{self, Dialect, Smb2NegotiateResponse};
use portwatch_proto::smb::{NegotiateResponse, parse_negotiate_response};
use serde_json::{Map, Value, json};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

/// How a connection becomes ready for SMB messages.
#[derive(Debug, Clone)]
pub enum Carrier {
    /// SMB straight over TCP (445).
    Direct,
    /// Inside a NetBIOS session opened with this called name (139).
    Session(String),
}

/// Everything the negotiates taught.
#[derive(Debug, Default)]
pub struct SmbFacts {
    /// SMB1's answer, when the server accepted an SMB1 dialect.
    pub smb1: Option<(String, Smb1NegotiateResponse)>,
    /// SMB2+ dialects the server accepted, lowest first, with their answers.
    pub smb2: Vec<(Dialect, Smb2NegotiateResponse)>,
    /// Answers that could not be parsed.
    pub malformed: Vec<String>,
    /// Any negotiate got an answer (even a refusal).
    pub answered: bool,
}

/// Opens a connection ready for SMB, or says why not (for 139: the session response).
pub async fn open(addr: SocketAddr, carrier: &Carrier, budget: Budget) -> Result<Conn, String> {
    let mut conn = io::connect(addr, budget.connect)
        .await
        .map_err(|e| e.to_string())?;
    if let Carrier::Session(called) = carrier {
        let request = session::session_request(called, "PORTWATCH");
        let answer = io::exchange_frame(&mut conn, &request, budget.exchange)
            .await
            .map_err(|e| format!("session request: {e}"))?;
        match SessionResponse::parse(&answer) {
            Ok(SessionResponse::Positive) => {}
            Ok(SessionResponse::Negative { code, meaning }) => {
                return Err(format!("negative session response {code:#04x}: {meaning}"));
            }
            Ok(other) => return Err(format!("unexpected session response: {other:?}")),
            Err(e) => return Err(format!("malformed session response: {e}")),
        }
    }
    Ok(conn)
}

fn random_bytes<const N: usize>() -> [u8; N] {
    static COUNTER: AtomicU64 = AtomicU64::new(0x005e_ed0f_9a7c);
    let mut out = [0u8; N];
    let mut state = COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
    for chunk in out.chunks_mut(8) {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let bytes = state.to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    out
}

enum Answer {
    Smb1(Smb1NegotiateResponse),
    Smb2(Smb2NegotiateResponse),
    Refused,
    Malformed(String),
    Silent,
}

async fn negotiate(
    addr: SocketAddr,
    carrier: &Carrier,
    budget: Budget,
    request: Vec<u8>,
) -> Answer {
    let Ok(mut conn) = open(addr, carrier, budget).await else {
        return Answer::Silent;
    };
    let Ok(framed) = session::frame(&request) else {
        return Answer::Silent;
    };
    let frame = match io::exchange_frame(&mut conn, &framed, budget.exchange).await {
        Ok(f) => f,
        // A server that closes the connection refuses the dialect.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Answer::Refused,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Answer::Refused,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            return Answer::Malformed(e.to_string());
        }
        Err(_) => return Answer::Silent,
    };
    let payload = match session::unframe(&frame) {
        Ok(p) => p,
        Err(e) => return Answer::Malformed(e.to_string()),
    };
    match parse_negotiate_response(payload) {
        Ok(NegotiateResponse::Smb1(r)) => Answer::Smb1(r),
        Ok(NegotiateResponse::Smb2(r)) => Answer::Smb2(r),
        // An error status (e.g. STATUS_NOT_SUPPORTED) is a refusal, not garbage.
        Err(ProtoError::Unexpected { .. }) => Answer::Refused,
        Err(e) => Answer::Malformed(e.to_string()),
    }
}

/// Negotiates SMB1 (classic dialects) and each SMB2+ dialect alone, all at once.
pub async fn negotiate_all(addr: SocketAddr, carrier: &Carrier, budget: Budget) -> SmbFacts {
    let smb1 = negotiate(
        addr,
        carrier,
        budget,
        smb1::negotiate_request(CLASSIC_DIALECTS),
    );
    let smb2 = futures::future::join_all(Dialect::ALL.iter().map(|&d| {
        let request = smb2::negotiate_request(&[d], random_bytes(), random_bytes());
        async move { (d, negotiate(addr, carrier, budget, request).await) }
    }));
    let (smb1, smb2) = futures::join!(smb1, smb2);
    let mut facts = SmbFacts::default();
    let take = |answer: &Answer, facts: &mut SmbFacts| match answer {
        Answer::Silent => {}
        Answer::Malformed(e) => {
            facts.answered = true;
            facts.malformed.push(e.clone());
        }
        _ => facts.answered = true,
    };
    take(&smb1, &mut facts);
    if let Answer::Smb1(r) = smb1
        && r.accepted()
        && let Some(name) = r.dialect_name(CLASSIC_DIALECTS)
    {
        facts.smb1 = Some((name.to_string(), r));
    }
    for (dialect, answer) in smb2 {
        take(&answer, &mut facts);
        if let Answer::Smb2(r) = answer
            && r.dialect == dialect
        {
            facts.smb2.push((dialect, r));
        }
    }
    facts
}

/// SMB facts as `details.smb` and a readable line.
pub fn describe(facts: &SmbFacts) -> (Option<Value>, String) {
    if !facts.answered {
        return (None, String::new());
    }
    let mut smb = Map::new();
    let mut dialects: Vec<String> = Vec::new();
    if let Some((name, _)) = &facts.smb1 {
        dialects.push(name.clone());
    }
    dialects.extend(facts.smb2.iter().map(|(d, _)| d.to_string()));
    smb.insert("dialects".into(), json!(dialects));
    smb.insert("smb1".into(), json!(facts.smb1.is_some()));
    let best = facts.smb2.last().map(|(_, r)| r);
    let signing = best
        .map(|r| r.signing.to_string())
        .or_else(|| facts.smb1.as_ref().map(|(_, r)| r.signing().to_string()));
    if let Some(s) = &signing {
        smb.insert("signing".into(), json!(s));
    }
    if let Some((_, r)) = &facts.smb1 {
        smb.insert("smb1_signing".into(), json!(r.signing().to_string()));
        if let Some(d) = &r.domain {
            smb.insert("domain".into(), json!(d));
        }
        if let Some(s) = &r.server_name {
            smb.insert("server".into(), json!(s));
        }
    }
    if let Some(r) = best {
        smb.insert("max_dialect".into(), json!(r.dialect.to_string()));
        smb.insert("server_guid".into(), json!(r.server_guid));
        smb.insert("system_time".into(), json!(super::udp::utc(r.system_time)));
        if let Some(boot) = r.boot_time {
            smb.insert("boot_time".into(), json!(super::udp::utc(boot)));
        }
        smb.insert("capabilities".into(), json!(r.capabilities.names()));
        if let Some(c) = r.cipher() {
            smb.insert("cipher".into(), json!(format!("{c:?}")));
        }
    } else if let Some((_, r)) = &facts.smb1 {
        if let Some(t) = r.system_time {
            smb.insert("system_time".into(), json!(super::udp::utc(t)));
        }
        if let Some(g) = &r.server_guid {
            smb.insert("server_guid".into(), json!(g));
        }
    }
    if !facts.malformed.is_empty() {
        smb.insert(
            "error".into(),
            json!(format!(
                "malformed response: {}",
                facts.malformed.join("; ")
            )),
        );
    }
    (Some(Value::Object(smb)), summary(facts, signing.as_deref()))
}

fn summary(facts: &SmbFacts, signing: Option<&str>) -> String {
    let mut parts = Vec::new();
    match (facts.smb2.first(), facts.smb2.last()) {
        (Some((lo, _)), Some((hi, _))) if lo != hi => parts.push(format!("SMB {lo}\u{2013}{hi}")),
        (Some((only, _)), _) => parts.push(format!("SMB {only}")),
        _ => parts.push("no SMB2".to_string()),
    }
    parts.push(
        if facts.smb1.is_some() {
            "SMB1 enabled"
        } else {
            "SMB1 disabled"
        }
        .to_string(),
    );
    if let Some(s) = signing {
        parts.push(
            match s {
                "required" => "signing required",
                "enabled-not-required" => "signing not required",
                _ => "signing disabled",
            }
            .to_string(),
        );
    }
    if facts.smb2.is_empty() && facts.smb1.is_none() {
        return "SMB: no dialect accepted".to_string();
    }
    parts.join(", ")
}

/// Identifies SMB on 445.
pub async fn identify_direct(addr: SocketAddr, budget: Budget) -> Identity {
    let facts = negotiate_all(addr, &Carrier::Direct, budget).await;
    let (smb, line) = describe(&facts);
    let mut id = Identity::default();
    if let Some(smb) = smb {
        id.details.insert("smb".into(), smb);
    }
    id.with_summary(line)
}
