//! Vantage points: where a group is observed from, and how what a vantage sees is rated.
//!
//! `local` is this server (its own view of the network, or its socket table for a local
//! group); `lan` and `internet` are built in; a config names others with
//! `[vantage.NAME] reach = "lan" | "internet" | "address"`.

use portwatch_kb::Exposure;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The vantage of this server itself.
pub const LOCAL: &str = portwatch_store::LOCAL_VANTAGE;

/// The vantages every config knows, with their reach.
const BUILT_IN: [(&str, Reach); 3] = [
    (LOCAL, Reach::Address),
    ("lan", Reach::Fixed(Exposure::Lan)),
    ("internet", Reach::Fixed(Exposure::Internet)),
];

/// How the ports a vantage finds open are rated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// By each host's own address (loopback, private or public), as a scan from this server.
    Address,
    /// At one exposure: what `internet` reaches is reachable from the internet, whatever the
    /// address looks like.
    Fixed(Exposure),
}

impl Reach {
    /// The config spellings, for messages.
    pub const NAMES: &'static str = "\"lan\", \"internet\" or \"address\"";

    /// Parses `reach = "…"`.
    pub fn parse(text: &str) -> Result<Reach, String> {
        match text {
            "lan" => Ok(Reach::Fixed(Exposure::Lan)),
            "internet" => Ok(Reach::Fixed(Exposure::Internet)),
            "address" => Ok(Reach::Address),
            other => Err(format!("reach '{other}': expected {}", Reach::NAMES)),
        }
    }
}

/// One vantage a group is observed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vantage {
    /// Its name (`local`, `lan`, `internet`, `dmz`…).
    pub name: String,
    /// How what it sees is rated.
    pub reach: Reach,
}

impl Vantage {
    /// This server.
    pub fn local() -> Vantage {
        Vantage {
            name: LOCAL.to_string(),
            reach: Reach::Address,
        }
    }

    /// Whether this is the server's own vantage.
    pub fn is_local(&self) -> bool {
        self.name == LOCAL
    }

    /// The exposure a port open on `addr`, as seen from here, is rated at.
    pub fn exposure_of(&self, addr: IpAddr) -> Exposure {
        match self.reach {
            Reach::Address => Exposure::of(addr),
            Reach::Fixed(e) => e,
        }
    }
}

/// The vantage called `name` for rating what was seen from it: the first of `configured` with
/// that name, else the built-in one, else one rated by address. A span stored under a vantage
/// the configuration no longer declares is rated by this same rule everywhere (dashboard,
/// `/metrics`).
pub fn named<'a>(configured: impl IntoIterator<Item = &'a Vantage>, name: &str) -> Vantage {
    configured
        .into_iter()
        .find(|v| v.name == name)
        .cloned()
        .or_else(|| Known::default().get(name).ok())
        .unwrap_or_else(|| Vantage {
            name: name.to_string(),
            reach: Reach::Address,
        })
}

/// Checks a vantage name: 1 to 32 of `a-z`, `0-9` and `-`.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "vantage name '{name}': use 1 to 32 lowercase letters, digits and '-'"
        ))
    }
}

/// The vantages a config declares (`[vantage.NAME]`), checked: valid names, not a built-in
/// one, a known reach.
pub fn declared(raw: &BTreeMap<String, super::raw::RawVantage>) -> Result<Known, (String, String)> {
    let mut known: BTreeMap<String, Reach> = BUILT_IN
        .iter()
        .map(|(n, r)| ((*n).to_string(), *r))
        .collect();
    for (name, v) in raw {
        let key = format!("vantage.{name}");
        check_name(name).map_err(|m| (key.clone(), m))?;
        if BUILT_IN.iter().any(|(n, _)| n == name) {
            return Err((
                key,
                format!("'{name}' is built in; declare only vantages of your own"),
            ));
        }
        let reach = match v.reach.as_deref() {
            Some(r) => Reach::parse(r).map_err(|m| (format!("{key}.reach"), m))?,
            None => {
                return Err((
                    format!("{key}.reach"),
                    format!("say how what it sees is rated: reach = {}", Reach::NAMES),
                ));
            }
        };
        known.insert(name.clone(), reach);
    }
    Ok(Known(known))
}

/// Every vantage a config may name, with its reach.
#[derive(Debug, Clone)]
pub struct Known(BTreeMap<String, Reach>);

impl Default for Known {
    fn default() -> Self {
        Known(
            BUILT_IN
                .iter()
                .map(|(n, r)| ((*n).to_string(), *r))
                .collect(),
        )
    }
}

impl Known {
    /// The vantage called `name`, or why there is none.
    pub fn get(&self, name: &str) -> Result<Vantage, String> {
        check_name(name)?;
        match self.0.get(name) {
            Some(reach) => Ok(Vantage {
                name: name.to_string(),
                reach: *reach,
            }),
            None => Err(format!(
                "no vantage named '{name}' (known: {}); declare it with [vantage.{name}] reach = \"internet\"",
                self.0.keys().cloned().collect::<Vec<_>>().join(", ")
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_reach() {
        assert!(check_name("dmz-2").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("Lan").is_err());
        assert!(check_name(&"a".repeat(33)).is_err());
        let k = Known::default();
        let addr: IpAddr = "10.0.0.5".parse().unwrap();
        assert_eq!(
            k.get("internet").unwrap().exposure_of(addr),
            Exposure::Internet
        );
        assert_eq!(k.get("local").unwrap().exposure_of(addr), Exposure::Lan);
        assert!(k.get("dmz").unwrap_err().contains("[vantage.dmz]"));
    }

    #[test]
    fn named_prefers_the_configuration_then_built_ins_then_the_address() {
        let public: IpAddr = "203.0.113.7".parse().unwrap();
        let private: IpAddr = "10.0.0.5".parse().unwrap();
        let configured = [
            Vantage {
                name: "dmz".into(),
                reach: Reach::Fixed(Exposure::Internet),
            },
            Vantage {
                name: "dmz".into(),
                reach: Reach::Fixed(Exposure::Lan),
            },
            Vantage {
                name: "lan".into(),
                reach: Reach::Fixed(Exposure::Internet),
            },
        ];
        assert_eq!(
            named(&configured, "dmz").exposure_of(private),
            Exposure::Internet
        );
        assert_eq!(
            named(&configured, "lan").exposure_of(private),
            Exposure::Internet
        );
        assert_eq!(
            named([], "internet").exposure_of(private),
            Exposure::Internet
        );
        assert_eq!(named([], "lan").exposure_of(public), Exposure::Lan);
        assert_eq!(named([], "local").exposure_of(private), Exposure::Lan);
        let gone = named([], "old-site");
        assert_eq!(gone.name, "old-site");
        assert_eq!(gone.exposure_of(private), Exposure::Lan);
        assert_eq!(gone.exposure_of(public), Exposure::Internet);
        let lo: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(gone.exposure_of(lo), Exposure::Loopback);
    }
}
