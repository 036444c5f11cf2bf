//! WS-Discovery (OASIS 2009 / the 2005 draft Windows uses): a SOAP-over-UDP Probe on 3702.

use crate::error::{ProtoError, Result};
use crate::text;

/// The MessageID a probe with `id` carries (answers repeat it in RelatesTo).
pub fn message_id(id: u32) -> String {
    format!("urn:uuid:{id:08x}-7077-4000-8000-706f72747761")
}

/// Builds a Probe with no type filter, so every target service answers.
pub fn probe(id: u32) -> Vec<u8> {
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="utf-8"?>"#,
            r#"<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" "#,
            r#"xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" "#,
            r#"xmlns:wsd="http://schemas.xmlsoap.org/ws/2005/04/discovery">"#,
            "<soap:Header>",
            "<wsa:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</wsa:To>",
            "<wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</wsa:Action>",
            "<wsa:MessageID>{}</wsa:MessageID>",
            "</soap:Header>",
            "<soap:Body><wsd:Probe/></soap:Body>",
            "</soap:Envelope>"
        ),
        message_id(id)
    )
    .into_bytes()
}

/// The fields of a ProbeMatches answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct WsDiscoveryAnswer {
    /// The Action URI (ends in ProbeMatches for an answer).
    pub action: Option<String>,
    /// RelatesTo: the MessageID of our probe.
    pub relates_to: Option<String>,
    /// Types: what the device is (e.g. `wsdp:Device pub:Computer`).
    pub types: Option<String>,
    /// XAddrs: where to reach the device's metadata.
    pub xaddrs: Option<String>,
}

impl WsDiscoveryAnswer {
    /// Parses a SOAP envelope by locating elements by their local name (no XML parser).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "WS-Discovery answer";
        let doc = String::from_utf8_lossy(&bytes[..bytes.len().min(64 * 1024)]);
        if !doc.contains("Envelope") {
            return Err(ProtoError::unexpected(WHAT, "no SOAP envelope"));
        }
        let answer = Self {
            action: element_text(&doc, "Action"),
            relates_to: element_text(&doc, "RelatesTo"),
            types: element_text(&doc, "Types"),
            xaddrs: element_text(&doc, "XAddrs"),
        };
        if answer.action.is_none() && answer.types.is_none() {
            return Err(ProtoError::malformed(
                WHAT,
                "neither Action nor Types present",
            ));
        }
        Ok(answer)
    }

    /// One readable line.
    pub fn summary(&self) -> String {
        format!(
            "WS-Discovery {} types {} at {}",
            self.action
                .as_deref()
                .and_then(|a| a.rsplit('/').next())
                .unwrap_or("answer"),
            self.types.as_deref().unwrap_or("?"),
            self.xaddrs.as_deref().unwrap_or("?")
        )
    }
}

/// Text of the first element whose local name is `local` (prefix ignored).
fn element_text(doc: &str, local: &str) -> Option<String> {
    let mut search = doc;
    while let Some(lt) = search.find('<') {
        let after = &search[lt + 1..];
        let end_name = after.find(['>', ' ', '/'])?;
        let name = &after[..end_name];
        let local_name = name.rsplit(':').next().unwrap_or(name);
        if local_name == local && !name.starts_with('/') {
            let gt = after.find('>')?;
            let body = &after[gt + 1..];
            let close = body.find('<').unwrap_or(body.len());
            return Some(text::clean_str(&body[..close], text::MAX_TEXT));
        }
        search = after;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_and_match() {
        let p = String::from_utf8(probe(0xab)).unwrap();
        assert!(p.contains(
            "<wsa:MessageID>urn:uuid:000000ab-7077-4000-8000-706f72747761</wsa:MessageID>"
        ));
        assert!(p.contains("<wsd:Probe/>"));
        let answer = br#"<?xml version="1.0"?><soap:Envelope xmlns:soap="x"><soap:Header>
<wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsa:Action>
<wsa:RelatesTo>urn:uuid:000000ab-7077-4000-8000-706f72747761</wsa:RelatesTo></soap:Header>
<soap:Body><wsd:ProbeMatches><wsd:ProbeMatch><wsd:Types>wsdp:Device pub:Computer</wsd:Types>
<wsd:XAddrs>http://10.0.0.5:5357/abc</wsd:XAddrs></wsd:ProbeMatch></wsd:ProbeMatches></soap:Body></soap:Envelope>"#;
        let a = WsDiscoveryAnswer::parse(answer).unwrap();
        assert_eq!(a.relates_to.as_deref(), Some(message_id(0xab).as_str()));
        assert_eq!(a.types.as_deref(), Some("wsdp:Device pub:Computer"));
        assert_eq!(
            a.summary(),
            "WS-Discovery ProbeMatches types wsdp:Device pub:Computer at http://10.0.0.5:5357/abc"
        );
        assert!(WsDiscoveryAnswer::parse(b"<html>").is_err());
    }
}
