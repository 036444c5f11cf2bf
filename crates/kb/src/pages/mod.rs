//! Curated risk pages: one TOML file per port in `crates/kb/pages/`, compiled in.
//!
//! `build.rs` embeds every `pages/*.toml`; they are parsed once, on first use. A page that fails to
//! parse is left out of [`all`] (it cannot panic at run time); [`validate`] reports it, and the
//! crate's tests fail on any problem. The schema is described in the crate README.

mod validate;

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::severity::Severity;
use crate::transport::Transport;

pub use validate::{Problem, validate};

include!(concat!(env!("OUT_DIR"), "/pages.rs"));

/// A risk page: what a port is, its history, its risk and how to harden it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// The port number.
    pub port: u16,
    /// The transports this page covers.
    pub transports: Vec<Transport>,
    /// The service keyword (the IANA service name where one exists).
    pub name: String,
    /// Extra lowercase names users type; unique across pages.
    pub aliases: Vec<String>,
    /// The name admins know the service by, where `name` (IANA's) belongs to another service:
    /// 9200 is `elasticsearch`, not IANA's `wap-wsp`. One of `aliases`; scan output uses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_as: Option<String>,
    /// A short human title.
    pub title: String,
    /// One or two sentences: what it is and the headline risk.
    pub summary: String,
    /// What the service is and does.
    pub description: String,
    /// Who made it, when, and how it evolved.
    pub history: String,
    /// Typical software behind the port.
    pub software: Vec<String>,
    /// Severity when reachable only from the local network.
    pub lan_severity: Severity,
    /// Severity when reachable from the whole internet.
    pub internet_severity: Severity,
    /// Why it is or is not a problem on the local network.
    pub lan_risk: String,
    /// Why it is or is not a problem on the internet.
    pub internet_risk: String,
    /// Who should reach it, what to disable, what to use instead.
    pub safe_policy: String,
    /// Other ports with a page that belong together with this one.
    pub related: Vec<u16>,
    /// Lowercase keywords.
    pub tags: Vec<String>,
    /// Notable attacks and CVE families (required when internet severity is high or critical).
    #[serde(default)]
    pub attacks: Vec<Attack>,
    /// Service-level hardening steps per platform family.
    #[serde(default)]
    pub fix: PageFix,
}

/// A notable attack or CVE family against a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attack {
    /// The attack's common name.
    pub name: String,
    /// The year it became public.
    pub year: u16,
    /// CVE ids (may be empty for a technique).
    pub cves: Vec<String>,
    /// One or two sentences about it.
    pub note: String,
}

/// Service-level hardening steps, by platform family.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageFix {
    /// Steps for Linux hosts.
    #[serde(default)]
    pub linux: Vec<FixStep>,
    /// Steps for Windows hosts (PowerShell).
    #[serde(default)]
    pub windows: Vec<FixStep>,
    /// Steps for macOS hosts.
    #[serde(default)]
    pub macos: Vec<FixStep>,
    /// Lines for Samba's `smb.conf` and related commands.
    #[serde(default)]
    pub samba: Vec<FixStep>,
}

/// One hardening step: what and why, and the command or config line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixStep {
    /// What the step does and why, in one sentence.
    pub say: String,
    /// The command or configuration line.
    pub run: String,
}

impl Page {
    /// Whether this page covers `port` on `transport`.
    pub fn covers(&self, port: u16, transport: Transport) -> bool {
        self.port == port && self.transports.contains(&transport)
    }

    /// The name to show for the service: `known_as` where the page has one, else `name`.
    pub fn known_name(&self) -> &str {
        self.known_as.as_deref().unwrap_or(&self.name)
    }

    /// Whether `name` is this page's name or one of its aliases, ignoring letter case.
    pub fn answers_to(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

/// Every page that parsed, sorted by file name (so by port).
pub fn all() -> &'static [Page] {
    static PAGES: OnceLock<Vec<Page>> = OnceLock::new();
    PAGES.get_or_init(|| {
        PAGE_SOURCES
            .iter()
            .filter_map(|(_, text)| toml::from_str(text).ok())
            .collect()
    })
}

/// The page for `port` on `transport`, if there is one.
pub fn page(port: u16, transport: Transport) -> Option<&'static Page> {
    all().iter().find(|p| p.covers(port, transport))
}

/// Every page for `port`, on any transport (two when TCP and UDP are different services).
pub fn pages_for_port(port: u16) -> Vec<&'static Page> {
    all().iter().filter(|p| p.port == port).collect()
}

/// The embedded page files: (file name, TOML text), sorted by file name.
pub fn sources() -> &'static [(&'static str, &'static str)] {
    PAGE_SOURCES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smb_page_is_embedded() {
        let smb = page(445, Transport::Tcp).unwrap();
        assert_eq!(smb.name, "microsoft-ds");
        assert!(smb.answers_to("SMB"));
        assert_eq!(smb.internet_severity, Severity::Critical);
        assert!(page(445, Transport::Udp).is_none());
    }

    #[test]
    fn name_service_page_covers_udp_and_tcp() {
        let ns = page(137, Transport::Udp).unwrap();
        assert!(std::ptr::eq(ns, page(137, Transport::Tcp).unwrap()));
        assert_eq!(pages_for_port(137).len(), 1);
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let text = PAGE_SOURCES
            .iter()
            .find(|(file, _)| *file == "00445.toml")
            .map(|(_, text)| *text)
            .unwrap();
        let with_extra = format!("colour = \"blue\"\n{text}");
        assert!(toml::from_str::<Page>(&with_extra).is_err());
    }
}
