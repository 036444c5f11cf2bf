//! What a path through the rules has assumed about where the packet comes from.
//!
//! The packet's source address and input interface are unknown: a rule that tests them splits
//! the walk into "from there" and "from elsewhere". An [`Origin`] collects those assumptions,
//! refuses contradictory ones (so impossible paths are dropped), and describes the sources a
//! path is limited to.

use ipnet::IpNet;

/// A test on the packet's origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pred {
    /// The source address is in one of these networks.
    Source(Vec<IpNet>),
    /// The input interface is one of these names (never `lo`).
    Iface(Vec<String>),
}

/// Assumptions about the origin along one path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The source lies in one of these networks (`None`: anywhere).
    nets: Option<Vec<IpNet>>,
    /// The source lies in none of these.
    not_nets: Vec<IpNet>,
    /// The input interface is one of these (`None`: any but `lo`).
    ifaces: Option<Vec<String>>,
    /// The input interface is none of these.
    not_ifaces: Vec<String>,
}

impl Origin {
    /// The origin with `pred` assumed to hold (or not); `None` when that contradicts what is
    /// already assumed.
    pub fn assume(&self, pred: &Pred, holds: bool) -> Option<Origin> {
        let mut next = self.clone();
        match (pred, holds) {
            (Pred::Source(set), true) => {
                let narrowed: Vec<IpNet> = match &self.nets {
                    None => set.clone(),
                    Some(current) => intersect(current, set),
                };
                let left: Vec<IpNet> = narrowed
                    .into_iter()
                    .filter(|n| !covered(n, &self.not_nets))
                    .collect();
                if left.is_empty() {
                    return None;
                }
                next.nets = Some(left);
            }
            (Pred::Source(set), false) => {
                if let Some(current) = &self.nets
                    && current.iter().all(|n| covered(n, set))
                {
                    return None;
                }
                next.not_nets.extend(set.iter().copied());
            }
            (Pred::Iface(names), true) => {
                let narrowed: Vec<String> = match &self.ifaces {
                    None => names.clone(),
                    Some(current) => current
                        .iter()
                        .filter(|n| names.contains(n))
                        .cloned()
                        .collect(),
                };
                let left: Vec<String> = narrowed
                    .into_iter()
                    .filter(|n| !self.not_ifaces.contains(n))
                    .collect();
                if left.is_empty() {
                    return None;
                }
                next.ifaces = Some(left);
            }
            (Pred::Iface(names), false) => {
                if let Some(current) = &self.ifaces
                    && current.iter().all(|n| names.contains(n))
                {
                    return None;
                }
                next.not_ifaces.extend(names.iter().cloned());
            }
        }
        Some(next)
    }

    /// Whether the path only admits some sources.
    pub fn is_limited(&self) -> bool {
        self.nets.is_some() || self.ifaces.is_some()
    }

    /// The admitted sources as text: `10.0.0.0/8`, `192.0.2.7`, `10.0.0.0/8 via eth1`, `via eth0`.
    pub fn describe(&self) -> Vec<String> {
        let via = self
            .ifaces
            .as_ref()
            .map(|names| format!("via {}", names.join("|")));
        match (&self.nets, via) {
            (Some(nets), via) => nets
                .iter()
                .map(|n| {
                    let net = if n.prefix_len() == n.max_prefix_len() {
                        n.addr().to_string()
                    } else {
                        n.to_string()
                    };
                    match &via {
                        Some(via) => format!("{net} {via}"),
                        None => net,
                    }
                })
                .collect(),
            (None, Some(via)) => vec![via],
            (None, None) => Vec::new(),
        }
    }
}

/// Whether `net` lies inside one of `set`.
fn covered(net: &IpNet, set: &[IpNet]) -> bool {
    set.iter().any(|s| s.contains(net))
}

/// The networks inside both lists (CIDR blocks either nest or are disjoint).
fn intersect(a: &[IpNet], b: &[IpNet]) -> Vec<IpNet> {
    let mut out = Vec::new();
    for x in a {
        for y in b {
            let inner = if x.contains(y) {
                Some(*y)
            } else if y.contains(x) {
                Some(*x)
            } else {
                None
            };
            if let Some(inner) = inner
                && !out.contains(&inner)
            {
                out.push(inner);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Pred {
        Pred::Source(list.iter().map(|n| n.parse().unwrap()).collect())
    }

    #[test]
    fn narrowing_and_contradictions() {
        let any = Origin::default();
        let ten = any.assume(&nets(&["10.0.0.0/8"]), true).unwrap();
        assert_eq!(ten.describe(), ["10.0.0.0/8"]);
        let sub = ten.assume(&nets(&["10.1.0.0/16"]), true).unwrap();
        assert_eq!(sub.describe(), ["10.1.0.0/16"]);
        assert!(ten.assume(&nets(&["192.168.0.0/16"]), true).is_none());
        assert!(ten.assume(&nets(&["0.0.0.0/0"]), false).is_none());
        let not_ten = any.assume(&nets(&["10.0.0.0/8"]), false).unwrap();
        assert!(!not_ten.is_limited());
        assert!(not_ten.assume(&nets(&["10.2.0.0/16"]), true).is_none());
        let host = any.assume(&nets(&["192.0.2.7/32"]), true).unwrap();
        assert_eq!(host.describe(), ["192.0.2.7"]);
    }

    #[test]
    fn interfaces() {
        let eth0 = Pred::Iface(vec!["eth0".into()]);
        let eth1 = Pred::Iface(vec!["eth1".into()]);
        let via0 = Origin::default().assume(&eth0, true).unwrap();
        assert_eq!(via0.describe(), ["via eth0"]);
        assert!(via0.assume(&eth1, true).is_none());
        assert!(via0.assume(&eth0, false).is_none());
        let both = via0.assume(&nets(&["10.0.0.0/8"]), true).unwrap();
        assert_eq!(both.describe(), ["10.0.0.0/8 via eth0"]);
    }
}
