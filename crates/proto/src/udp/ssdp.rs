//! SSDP discovery (UPnP Device Architecture 2.0 §1.3): M-SEARCH and its HTTP-over-UDP answer.

use crate::error::{ProtoError, Result};
use crate::head::Head;

/// Builds a unicast M-SEARCH for all devices and services.
pub fn m_search() -> Vec<u8> {
    concat!(
        "M-SEARCH * HTTP/1.1\r\n",
        "HOST: 239.255.255.250:1900\r\n",
        "MAN: \"ssdp:discover\"\r\n",
        "MX: 1\r\n",
        "ST: ssdp:all\r\n",
        "USER-AGENT: portwatch/1 UPnP/2.0 portwatch/1\r\n",
        "\r\n"
    )
    .as_bytes()
    .to_vec()
}

/// A parsed SSDP search response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SsdpAnswer {
    /// HTTP status code (200 for a match).
    pub status: u16,
    /// SERVER header: OS, UPnP version and product.
    pub server: Option<String>,
    /// LOCATION header: URL of the device description.
    pub location: Option<String>,
    /// ST header: the search target matched.
    pub st: Option<String>,
    /// USN header: unique service name.
    pub usn: Option<String>,
}

impl SsdpAnswer {
    /// Parses an `HTTP/1.1 200 OK` search response.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "SSDP response";
        let head = Head::parse(bytes, WHAT)?;
        let Some((proto, status, _)) = head.status() else {
            return Err(ProtoError::malformed(
                WHAT,
                format!("status line {:?}", head.start_line),
            ));
        };
        if !proto.starts_with("HTTP/") {
            return Err(ProtoError::unexpected(WHAT, format!("protocol {proto:?}")));
        }
        let field = |name: &str| head.get(name).map(str::to_string);
        Ok(Self {
            status,
            server: field("server"),
            location: field("location"),
            st: field("st"),
            usn: field("usn"),
        })
    }

    /// One readable line.
    pub fn summary(&self) -> String {
        let mut line = format!("SSDP {}", self.status);
        for (label, value) in [
            ("server", &self.server),
            ("location", &self.location),
            ("st", &self.st),
        ] {
            if let Some(v) = value {
                line.push_str(&format!(", {label} {v}"));
            }
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_answer() {
        let req = m_search();
        assert!(req.starts_with(b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n"));
        assert!(req.ends_with(b"\r\n\r\n"));
        let a = SsdpAnswer::parse(
            b"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: upnp:rootdevice\r\n\
              USN: uuid:1234::upnp:rootdevice\r\nEXT:\r\nSERVER: Linux/5.10 UPnP/1.0 MiniUPnPd/2.3\r\n\
              LOCATION: http://192.168.1.1:5000/rootDesc.xml\r\n\r\n",
        )
        .unwrap();
        assert_eq!(a.status, 200);
        assert_eq!(
            a.server.as_deref(),
            Some("Linux/5.10 UPnP/1.0 MiniUPnPd/2.3")
        );
        assert_eq!(
            a.location.as_deref(),
            Some("http://192.168.1.1:5000/rootDesc.xml")
        );
        assert_eq!(a.usn.as_deref(), Some("uuid:1234::upnp:rootdevice"));
        assert!(SsdpAnswer::parse(b"NOTIFY * HTTP/1.1\r\n\r\n").is_err());
    }
}
