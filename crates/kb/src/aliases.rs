//! Common names, well-known unofficial assignments and port ranges (`data/aliases.toml`).
//!
//! The IANA registry names some ports otherwise than admins do (43 is `nicname`, people say
//! `whois`), has nothing for ports everyone knows (4222, NATS), and its npm data drops ranges
//! (x11, 6000-6063). This table fills those gaps, each entry with its source.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::transport::Transport;

const ALIASES_TOML: &str = include_str!("../data/aliases.toml");

/// One common name for a port or a range of ports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alias {
    /// The lowercase name people use.
    pub name: String,
    /// The first port of the assignment.
    pub first: u16,
    /// The last port (the same as `first` for one port).
    pub last: u16,
    /// The transports it uses.
    pub transports: Vec<Transport>,
    /// What the service is, in one line.
    pub service: String,
    /// Where the assignment is documented.
    pub source: String,
}

impl Alias {
    /// Whether the alias covers `port` (on any of its transports).
    pub fn covers_port(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }

    /// The ports as people write them: `43` or `6000-6063`.
    pub fn ports(&self) -> String {
        if self.first == self.last {
            self.first.to_string()
        } else {
            format!("{}-{}", self.first, self.last)
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    alias: Vec<Alias>,
}

/// Every alias, in file order; empty if the embedded file does not parse (a test fails then).
pub fn all() -> &'static [Alias] {
    static ALIASES: OnceLock<Vec<Alias>> = OnceLock::new();
    ALIASES.get_or_init(|| parse().unwrap_or_default())
}

/// Parses the embedded table, or says what is wrong with it.
pub(crate) fn parse() -> Result<Vec<Alias>, String> {
    let file: File = toml::from_str(ALIASES_TOML).map_err(|e| e.to_string())?;
    for a in &file.alias {
        if a.name.is_empty() || a.name != a.name.to_ascii_lowercase() {
            return Err(format!(
                "alias {:?}: names are lowercase and not empty",
                a.name
            ));
        }
        if a.first == 0 || a.first > a.last {
            return Err(format!("alias {:?}: ports {}-{}", a.name, a.first, a.last));
        }
        if a.transports.is_empty() || a.service.is_empty() || a.source.is_empty() {
            return Err(format!(
                "alias {:?}: transports, service and source are required",
                a.name
            ));
        }
    }
    Ok(file.alias)
}

/// The aliases that cover `port`.
pub fn for_port(port: u16) -> Vec<&'static Alias> {
    all().iter().filter(|a| a.covers_port(port)).collect()
}

/// The aliases called `name`, ignoring letter case.
pub fn named(name: &str) -> Vec<&'static Alias> {
    let name = name.trim();
    all()
        .iter()
        .filter(|a| a.name.eq_ignore_ascii_case(name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses() {
        let aliases = parse().unwrap();
        assert!(aliases.len() >= 15);
    }

    #[test]
    fn ranges_cover_every_port_inside() {
        let x11 = named("X11");
        assert_eq!(x11.len(), 1);
        assert_eq!(x11[0].ports(), "6000-6063");
        assert!(for_port(6063).iter().any(|a| a.name == "x11"));
        assert!(for_port(6064).iter().all(|a| a.name != "x11"));
    }
}
