//! Banner grabs: read what a service says first, or send the probe its port expects (or a
//! plain HTTP request), and name the service from the answer, so a service on an unusual port
//! is named right.

use super::io;
use super::{Budget, Identity};
use portwatch_proto::banner::{self, ServiceMatch};
use portwatch_proto::text;
use serde_json::{Map, Value, json};
use std::net::SocketAddr;

/// Longest banner text kept in details.
const MAX_TEXT: usize = 200;

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
    let first_line = data.split(|b| *b == b'\n').next().unwrap_or_default();
    let text = text::printable(first_line, MAX_TEXT);
    let mut banner = Map::new();
    if !text.is_empty() {
        banner.insert("text".into(), json!(text));
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
        None => text.chars().take(60).collect(),
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
    fn unknown_bytes_are_kept_as_text_only() {
        let data = b"\x01\x02hello\x00world\n";
        let id = describe(data, None);
        assert!(id.service.is_none());
        assert!(
            id.details["banner"]["text"]
                .as_str()
                .unwrap()
                .contains("hello")
        );
        assert!(id.details["summary"].as_str().unwrap().contains("hello"));
    }
}
