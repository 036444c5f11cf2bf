//! Banner grabs: read what a service says first, or send the probe its port expects (or a
//! plain HTTP request), and name the service from the answer, so a service on an unusual port
//! is named right.

use super::io;
use super::{Budget, Identity};
use portwatch_proto::banner::{self, ServiceMatch};
use serde_json::{Map, Value, json};
use std::net::SocketAddr;

/// Identifies the service on `addr` from its greeting or its answer to a probe.
pub async fn identify(addr: SocketAddr, budget: Budget) -> Identity {
    let Ok(mut conn) = io::connect(addr, budget.connect).await else {
        return Identity::default();
    };
    let host = addr.ip().to_string();
    let probe = banner::tcp_probe_for(addr.port(), &host);
    let mut data = match &probe {
        Some(p) => {
            io::send(&mut conn, &p.payload).await;
            io::read_greeting(&mut conn, budget.exchange).await
        }
        None => io::read_greeting(&mut conn, budget.greeting).await,
    };
    if data.is_empty() && probe.is_none() {
        let generic = banner::generic_probe(&host);
        if io::send(&mut conn, &generic.payload).await {
            data = io::read_greeting(&mut conn, budget.exchange).await;
        }
    }
    describe(&data, banner::identify(&data))
}

fn describe(data: &[u8], found: Option<ServiceMatch>) -> Identity {
    if data.is_empty() {
        return Identity::default();
    }
    let shown = banner::view(data, found.as_ref());
    let mut banner = Map::new();
    if let Some(text) = &shown.text {
        banner.insert("text".into(), json!(text));
    }
    if let Some(escaped) = &shown.escaped {
        banner.insert("escaped".into(), json!(escaped));
    }
    let mut id = Identity::default();
    let summary = match found {
        Some(m) => {
            for (key, value) in [
                ("product", &m.product),
                ("version", &m.version),
                ("info", &m.info),
            ] {
                if let Some(v) = value {
                    banner.insert(key.into(), json!(v));
                }
            }
            id.service = Some(m.service.to_string());
            m.summary()
        }
        // Unrecognised but talkative: show what it said.
        None => shown.line().unwrap_or_default().chars().take(60).collect(),
    };
    id.details.insert("banner".into(), Value::Object(banner));
    id.with_summary(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_greeting_names_the_service() {
        let data = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n";
        let id = describe(data, banner::identify(data));
        assert_eq!(id.service.as_deref(), Some("ssh"));
        assert_eq!(id.details["banner"]["product"], "OpenSSH");
        assert!(id.details["summary"].as_str().unwrap().contains("9.2p1"));
    }

    #[test]
    fn unknown_bytes_are_kept_escaped() {
        let data = b"\x01\x02hello\x00world\n";
        let id = describe(data, None);
        assert!(id.service.is_none());
        assert_eq!(
            id.details["banner"]["escaped"],
            "\\x01\\x02hello\\0world\\n"
        );
        assert!(id.details["banner"].get("text").is_none());
        assert!(id.details["summary"].as_str().unwrap().contains("hello"));
    }

    #[test]
    fn binary_answers_are_shown_by_their_facts_not_their_bytes() {
        let data = b"N";
        let id = describe(data, banner::identify(data));
        assert_eq!(id.service.as_deref(), Some("postgresql"));
        assert!(id.details["banner"].get("text").is_none());
        assert_eq!(id.details["banner"]["escaped"], "N");
        assert_eq!(
            id.details["summary"],
            "postgresql PostgreSQL (SSL not supported)"
        );
    }
}
