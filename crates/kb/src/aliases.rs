//! Common names, well-known unofficial assignments and port ranges (`data/aliases.toml`).
//!
//! The IANA registry names some ports otherwise than admins do (43 is `nicname`, people say
//! `whois`), has nothing for ports everyone knows (4222, NATS), and its npm data drops ranges
//! (x11, 6000-6063). This table fills those gaps, each entry with its source. An entry may carry
//! other names for the same assignment (`also`), and a range may name its members by number
//! (`numbered`: x11-3 is display 3, port 6003).

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
    /// Other lowercase names for the same assignment (older spellings, daemon names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<String>,
    /// Whether each port of the range is also called `NAME-N`, N counted from 0 at `first`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub numbered: bool,
    /// Whether scan output names the port by this name rather than IANA's, because IANA's
    /// assignment there is another service (9001 is `tor-orport`, not `etlservicemgr`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preferred: bool,
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

    /// Every name of the entry: `name`, then `also`.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str()).chain(self.also.iter().map(String::as_str))
    }

    /// Whether `name` is one of the entry's names, ignoring letter case.
    pub fn answers_to(&self, name: &str) -> bool {
        self.names().any(|n| n.eq_ignore_ascii_case(name))
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
    parse_text(ALIASES_TOML)
}

fn parse_text(text: &str) -> Result<Vec<Alias>, String> {
    let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
    for a in &file.alias {
        if let Some(bad) = a
            .names()
            .find(|n| n.is_empty() || *n != n.to_ascii_lowercase())
        {
            return Err(format!(
                "alias {:?}: names are lowercase and not empty ({bad:?})",
                a.name
            ));
        }
        if a.numbered && a.first == a.last {
            return Err(format!("alias {:?}: only a range can be numbered", a.name));
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
    for (i, a) in file.alias.iter().enumerate().filter(|(_, a)| a.preferred) {
        let clash = file.alias[..i].iter().find(|b| {
            b.preferred
                && b.first <= a.last
                && a.first <= b.last
                && b.transports.iter().any(|t| a.transports.contains(t))
        });
        if let Some(b) = clash {
            return Err(format!(
                "aliases {:?} and {:?} are both preferred for the same port",
                b.name, a.name
            ));
        }
    }
    Ok(file.alias)
}

/// The preferred name of `port` on `transport` (see [`Alias::preferred`]), if one is.
pub fn preferred(port: u16, transport: Transport) -> Option<&'static Alias> {
    all()
        .iter()
        .find(|a| a.preferred && a.covers_port(port) && a.transports.contains(&transport))
}

/// The aliases that cover `port`.
pub fn for_port(port: u16) -> Vec<&'static Alias> {
    all().iter().filter(|a| a.covers_port(port)).collect()
}

/// The aliases called `name` (by their name or one in `also`), ignoring letter case.
pub fn named(name: &str) -> Vec<&'static Alias> {
    let name = name.trim();
    all().iter().filter(|a| a.answers_to(name)).collect()
}

/// A numbered member of a range (`x11-3`): the range and the port the number stands for.
pub fn member(name: &str) -> Option<(&'static Alias, u16)> {
    let (base, number) = name.trim().rsplit_once('-')?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // "x11-03" is not a name anybody writes; only the plain decimal counts.
    if number.len() > 1 && number.starts_with('0') {
        return None;
    }
    let offset: u16 = number.parse().ok()?;
    all().iter().find_map(|a| {
        let port = a.first.checked_add(offset)?;
        (a.numbered && a.answers_to(base) && port <= a.last).then_some((a, port))
    })
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

    #[test]
    fn numbered_members_stand_for_one_port_of_their_range() {
        assert_eq!(
            member("x11-0").map(|(a, p)| (a.name.as_str(), p)),
            Some(("x11", 6000))
        );
        assert_eq!(member("X11-7").map(|(_, p)| p), Some(6007));
        assert_eq!(member("x11-63").map(|(_, p)| p), Some(6063));
        for outside in [
            "x11-64",
            "x11-",
            "x11-03",
            "x11-x",
            "x11",
            "whois-1",
            "x11-99999",
        ] {
            assert_eq!(member(outside), None, "{outside}");
        }
    }

    #[test]
    fn one_preferred_name_per_port_and_transport() {
        let entry = |name: &str, first: u16, last: u16, transports: &str| {
            format!(
                "[[alias]]\nname = \"{name}\"\npreferred = true\nfirst = {first}\nlast = {last}\n\
                 transports = {transports}\nservice = \"s\"\nsource = \"src\"\n"
            )
        };
        let clash = entry("a", 9001, 9001, r#"["tcp"]"#) + &entry("b", 9000, 9002, r#"["tcp"]"#);
        let err = parse_text(&clash).unwrap_err();
        assert!(err.contains("both preferred"), "{err}");
        let apart = entry("a", 9001, 9001, r#"["tcp"]"#) + &entry("b", 9001, 9001, r#"["udp"]"#);
        assert_eq!(parse_text(&apart).map(|a| a.len()), Ok(2));
        assert_eq!(
            preferred(9001, Transport::Tcp).map(|a| a.name.as_str()),
            Some("tor-orport")
        );
        assert_eq!(preferred(9091, Transport::Tcp), None);
    }

    #[test]
    fn other_names_find_the_entry() {
        let kprop = named("hprop");
        assert!(kprop.iter().any(|a| a.first == 754), "{kprop:?}");
    }
}
