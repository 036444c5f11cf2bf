//! The answer to "would the host firewall let a new connection to this port in?".

use serde::ser::{Serialize, SerializeMap, Serializer};
use std::fmt;

/// What the host firewall does with a NEW inbound packet to a port from another machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirewallVerdict {
    /// Every input chain lets it through.
    Accepted,
    /// Some input chain stops it; `how` is `drop` or `reject`.
    Blocked {
        /// `drop` (silently discarded) or `reject` (refused with an error).
        how: String,
    },
    /// Accepted only from these sources (networks, or `via IFACE` for an input interface).
    AllowedFrom(Vec<String>),
    /// No input chain for the packet's family: nothing filters it.
    NoFirewall,
    /// The rules could not be read or evaluated; the reason says why.
    Unknown(String),
}

impl FirewallVerdict {
    /// A short name: `accepted`, `blocked`, `allowed_from`, `no_firewall`, `unknown`.
    pub fn kind(&self) -> &'static str {
        match self {
            FirewallVerdict::Accepted => "accepted",
            FirewallVerdict::Blocked { .. } => "blocked",
            FirewallVerdict::AllowedFrom(_) => "allowed_from",
            FirewallVerdict::NoFirewall => "no_firewall",
            FirewallVerdict::Unknown(_) => "unknown",
        }
    }

    /// Whether another machine can open a connection (from anywhere, or from some sources).
    pub fn lets_in(&self) -> bool {
        matches!(
            self,
            FirewallVerdict::Accepted
                | FirewallVerdict::NoFirewall
                | FirewallVerdict::AllowedFrom(_)
        )
    }

    /// The verdict for a socket both families reach: the more open of the two, or unknown
    /// when one is unknown and the other does not let the packet in.
    pub fn either(self, other: FirewallVerdict) -> FirewallVerdict {
        use FirewallVerdict as V;
        match (self, other) {
            (a, b) if a == b => a,
            (V::Accepted, _) | (_, V::Accepted) => V::Accepted,
            (V::NoFirewall, _) | (_, V::NoFirewall) => V::NoFirewall,
            (V::Unknown(r), _) | (_, V::Unknown(r)) => V::Unknown(r),
            (V::AllowedFrom(mut a), V::AllowedFrom(b)) => {
                a.extend(b);
                a.sort();
                a.dedup();
                V::AllowedFrom(a)
            }
            (V::AllowedFrom(a), _) | (_, V::AllowedFrom(a)) => V::AllowedFrom(a),
            (blocked, _) => blocked,
        }
    }
}

impl fmt::Display for FirewallVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FirewallVerdict::Accepted => f.write_str("accepted"),
            FirewallVerdict::Blocked { how } => write!(f, "blocked ({how})"),
            FirewallVerdict::AllowedFrom(sources) => write!(f, "only from {}", sources.join(", ")),
            FirewallVerdict::NoFirewall => f.write_str("no firewall"),
            FirewallVerdict::Unknown(reason) => write!(f, "unknown: {reason}"),
        }
    }
}

impl Serialize for FirewallVerdict {
    /// `{"verdict": KIND}` plus `how`, `sources` or `reason` where the variant has one.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("verdict", self.kind())?;
        match self {
            FirewallVerdict::Blocked { how } => map.serialize_entry("how", how)?,
            FirewallVerdict::AllowedFrom(sources) => map.serialize_entry("sources", sources)?,
            FirewallVerdict::Unknown(reason) => map.serialize_entry("reason", reason)?,
            FirewallVerdict::Accepted | FirewallVerdict::NoFirewall => {}
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use FirewallVerdict as V;

    #[test]
    fn json_shape() {
        let json = |v: &V| serde_json::to_string(v).unwrap();
        assert_eq!(json(&V::Accepted), r#"{"verdict":"accepted"}"#);
        assert_eq!(
            json(&V::Blocked { how: "drop".into() }),
            r#"{"verdict":"blocked","how":"drop"}"#
        );
        assert_eq!(
            json(&V::AllowedFrom(vec!["10.0.0.0/8".into()])),
            r#"{"verdict":"allowed_from","sources":["10.0.0.0/8"]}"#
        );
        assert_eq!(
            json(&V::Unknown("x".into())),
            r#"{"verdict":"unknown","reason":"x"}"#
        );
    }

    #[test]
    fn the_more_open_family_wins() {
        let drop = || V::Blocked { how: "drop".into() };
        assert_eq!(drop().either(V::Accepted), V::Accepted);
        assert_eq!(drop().either(V::NoFirewall), V::NoFirewall);
        assert_eq!(
            drop().either(V::Unknown("u".into())),
            V::Unknown("u".into())
        );
        assert_eq!(
            V::AllowedFrom(vec!["b".into()]).either(V::AllowedFrom(vec!["a".into()])),
            V::AllowedFrom(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            drop().either(V::Blocked {
                how: "reject".into()
            }),
            drop()
        );
    }
}
