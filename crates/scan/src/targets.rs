//! Target specifications: addresses, CIDR, ranges (`10.0.0.1-20`, `10.0.1-3.*`), hostnames,
//! exclusions, and the lazy expansion of all of them into addresses.

use crate::error::{Result, ScanError};
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// Addresses beyond which a scan needs explicit confirmation (`--yes`): a /16.
pub const CONFIRM_ABOVE: u128 = 65_536;

/// One target token as the user wrote it, parsed but not yet resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    /// A single address.
    Addr(IpAddr),
    /// A CIDR block (every address in it, like nmap).
    Net(IpNet),
    /// An inclusive range between two addresses of the same family.
    Range(IpAddr, IpAddr),
    /// nmap-style IPv4 octet ranges: `10.0.1-3.1-254`, `192.168.*.1`, `10.0.0.1,3,5`.
    Octets(Box<[Vec<(u8, u8)>; 4]>),
    /// A hostname, resolved before the scan.
    Host(String),
}

impl TargetSpec {
    /// Parses one token.
    pub fn parse(token: &str) -> Result<TargetSpec> {
        let t = token.trim();
        if t.is_empty() {
            return Err(invalid(token, "empty target"));
        }
        let unbracketed = t
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(t);
        if let Ok(addr) = unbracketed.parse::<IpAddr>() {
            return Ok(TargetSpec::Addr(addr));
        }
        if let Some((addr, len)) = t.split_once('/') {
            return parse_cidr(token, addr, len);
        }
        if looks_like_ipv4_pattern(t) {
            return parse_ipv4_pattern(token, t);
        }
        if let Some((a, b)) = t.split_once('-')
            && let (Ok(a), Ok(b)) = (a.parse::<Ipv6Addr>(), b.parse::<Ipv6Addr>())
        {
            if a > b {
                return Err(invalid(token, "range end is below its start"));
            }
            return Ok(TargetSpec::Range(IpAddr::V6(a), IpAddr::V6(b)));
        }
        if t.contains(':') {
            return Err(invalid(token, "not a valid IPv6 address"));
        }
        validate_hostname(token, t)?;
        if t.contains('.') && std::path::Path::new(t).is_file() {
            return Err(invalid(
                token,
                "this is a file in the current directory, not a hostname (not sent to DNS); \
                 read targets from it with -iL, or write output to it with -o",
            ));
        }
        Ok(TargetSpec::Host(t.to_string()))
    }

    /// How many addresses this spec expands to (hostnames count as one).
    pub fn count(&self) -> u128 {
        match self {
            TargetSpec::Addr(_) | TargetSpec::Host(_) => 1,
            TargetSpec::Net(net) => {
                let host_bits = u32::from(net.max_prefix_len() - net.prefix_len());
                1u128.checked_shl(host_bits).unwrap_or(u128::MAX)
            }
            TargetSpec::Range(a, b) => addr_to_u128(*b) - addr_to_u128(*a) + 1,
            TargetSpec::Octets(octets) => octets
                .iter()
                .map(|ranges| {
                    ranges
                        .iter()
                        .map(|(lo, hi)| u128::from(hi - lo) + 1)
                        .sum::<u128>()
                })
                .product(),
        }
    }

    /// Whether `addr` is covered by this spec (hostnames never match: they are resolved first).
    pub fn contains(&self, addr: IpAddr) -> bool {
        match self {
            TargetSpec::Addr(a) => *a == addr,
            TargetSpec::Host(_) => false,
            TargetSpec::Net(net) => net.contains(&addr),
            TargetSpec::Range(a, b) => {
                a.is_ipv4() == addr.is_ipv4()
                    && (addr_to_u128(*a)..=addr_to_u128(*b)).contains(&addr_to_u128(addr))
            }
            TargetSpec::Octets(octets) => match addr {
                IpAddr::V4(v4) => v4
                    .octets()
                    .iter()
                    .zip(octets.iter())
                    .all(|(o, ranges)| ranges.iter().any(|(lo, hi)| (lo..=hi).contains(&o))),
                IpAddr::V6(_) => false,
            },
        }
    }
}

fn parse_cidr(token: &str, addr: &str, len: &str) -> Result<TargetSpec> {
    let addr = addr
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .map_err(|_| {
            if looks_like_ipv4_pattern(addr) {
                match parse_ipv4_pattern(token, addr) {
                    Err(e) => e,
                    Ok(_) => invalid(token, "CIDR needs a single address before '/'"),
                }
            } else {
                invalid(token, &format!("'{addr}' is not an IP address"))
            }
        })?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix: u8 = len
        .parse()
        .ok()
        .filter(|p| *p <= max)
        .ok_or_else(|| invalid(token, &format!("prefix length '{len}' must be 0-{max}")))?;
    let net = IpNet::new(addr, prefix).map_err(|e| invalid(token, &e.to_string()))?;
    Ok(TargetSpec::Net(net.trunc()))
}

fn looks_like_ipv4_pattern(t: &str) -> bool {
    t.contains('.')
        && t.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b',' | b'*'))
}

fn parse_ipv4_pattern(token: &str, t: &str) -> Result<TargetSpec> {
    // A full range "a.b.c.d-e.f.g.h".
    if let Some((a, b)) = t.split_once('-')
        && let (Ok(a), Ok(b)) = (a.parse::<Ipv4Addr>(), b.parse::<Ipv4Addr>())
    {
        if a > b {
            return Err(invalid(token, "range end is below its start"));
        }
        return Ok(TargetSpec::Range(IpAddr::V4(a), IpAddr::V4(b)));
    }
    let parts: Vec<&str> = t.split('.').collect();
    if parts.len() != 4 {
        return Err(invalid(
            token,
            &format!("an IPv4 address has 4 octets, found {}", parts.len()),
        ));
    }
    let mut octets: [Vec<(u8, u8)>; 4] = Default::default();
    for (slot, part) in octets.iter_mut().zip(&parts) {
        *slot = parse_octet(token, part)?;
    }
    let all_single = octets.iter().all(|o| o.len() == 1 && o[0].0 == o[0].1);
    if all_single {
        let [a, b, c, d] = [
            octets[0][0].0,
            octets[1][0].0,
            octets[2][0].0,
            octets[3][0].0,
        ];
        return Ok(TargetSpec::Addr(IpAddr::V4(Ipv4Addr::new(a, b, c, d))));
    }
    Ok(TargetSpec::Octets(Box::new(octets)))
}

fn parse_octet(token: &str, part: &str) -> Result<Vec<(u8, u8)>> {
    if part.is_empty() {
        return Err(invalid(token, "empty octet"));
    }
    let mut ranges = Vec::new();
    for item in part.split(',') {
        let (lo, hi) = match item {
            "*" => (0, 255),
            _ => {
                if let Some((a, b)) = item.split_once('-') {
                    (
                        if a.is_empty() { 0 } else { octet(token, a)? },
                        if b.is_empty() { 255 } else { octet(token, b)? },
                    )
                } else {
                    let v = octet(token, item)?;
                    (v, v)
                }
            }
        };
        if lo > hi {
            return Err(invalid(
                token,
                &format!("octet range {lo}-{hi} is reversed"),
            ));
        }
        ranges.push((lo, hi));
    }
    Ok(ranges)
}

fn octet(token: &str, text: &str) -> Result<u8> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(token, &format!("'{text}' is not an octet")));
    }
    text.parse::<u8>()
        .map_err(|_| invalid(token, &format!("octet {text} is out of range 0-255")))
}

fn validate_hostname(token: &str, t: &str) -> Result<()> {
    let name = t.strip_suffix('.').unwrap_or(t);
    if name.len() > 253 {
        return Err(invalid(token, "hostname is longer than 253 characters"));
    }
    for label in name.split('.') {
        let ok_chars = label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if label.is_empty() || label.len() > 63 || !ok_chars || label.starts_with('-') {
            return Err(invalid(
                token,
                "not an IP address, CIDR, range or valid hostname",
            ));
        }
    }
    Ok(())
}

fn invalid(token: &str, reason: &str) -> ScanError {
    ScanError::InvalidTarget {
        token: token.to_string(),
        reason: reason.to_string(),
    }
}

pub(crate) fn addr_to_u128(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// One address to scan, with the name the user gave for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The address.
    pub addr: IpAddr,
    /// The hostname it came from, if any.
    pub hostname: Option<Arc<str>>,
}

/// A spec after hostname resolution: only address forms remain.
#[derive(Debug, Clone)]
enum Resolved {
    Spec(TargetSpec),
    Named(Arc<str>, Vec<IpAddr>),
}

/// The full set of targets after resolution, expanded lazily and minus the exclusions.
#[derive(Debug, Clone, Default)]
pub struct TargetSet {
    items: Vec<Resolved>,
    exclude: Vec<TargetSpec>,
}

impl TargetSet {
    /// Builds a set from parsed specs whose hostnames were resolved to `names`
    /// (pairs of hostname and its addresses, in the order the specs name them).
    pub fn new(
        specs: Vec<TargetSpec>,
        mut names: Vec<(String, Vec<IpAddr>)>,
        exclude: Vec<TargetSpec>,
    ) -> Self {
        names.reverse();
        let items = specs
            .into_iter()
            .filter_map(|spec| match spec {
                TargetSpec::Host(h) => {
                    let (name, addrs) = names.pop()?;
                    debug_assert_eq!(name, h);
                    Some(Resolved::Named(Arc::from(name.as_str()), addrs))
                }
                other => Some(Resolved::Spec(other)),
            })
            .collect();
        TargetSet { items, exclude }
    }

    /// Addresses before exclusions are applied.
    pub fn count(&self) -> u128 {
        self.items
            .iter()
            .map(|item| match item {
                Resolved::Spec(spec) => spec.count(),
                Resolved::Named(_, addrs) => addrs.len() as u128,
            })
            .fold(0u128, u128::saturating_add)
    }

    /// Fails unless the set is small enough or the user confirmed (`--yes`).
    pub fn check_size(&self, confirmed: bool) -> Result<()> {
        let count = self.count();
        if count > CONFIRM_ABOVE && !confirmed {
            return Err(ScanError::TooManyTargets { count });
        }
        Ok(())
    }

    /// Every target address in order, skipping exclusions.
    pub fn iter(&self) -> TargetIter {
        self.clone().into_iter()
    }
}

/// Owned iterator over a [`TargetSet`]'s addresses.
pub type TargetIter = Box<dyn Iterator<Item = Target> + Send>;

impl IntoIterator for &TargetSet {
    type Item = Target;
    type IntoIter = TargetIter;

    fn into_iter(self) -> TargetIter {
        self.iter()
    }
}

impl IntoIterator for TargetSet {
    type Item = Target;
    type IntoIter = TargetIter;

    fn into_iter(self) -> TargetIter {
        let exclude: Arc<[TargetSpec]> = self.exclude.into();
        Box::new(
            self.items
                .into_iter()
                .flat_map(expand)
                .filter(move |t| !exclude.iter().any(|x| x.contains(t.addr))),
        )
    }
}

fn expand(item: Resolved) -> TargetIter {
    let plain = |addr| Target {
        addr,
        hostname: None,
    };
    match item {
        Resolved::Named(name, addrs) => Box::new(addrs.into_iter().map(move |addr| Target {
            addr,
            hostname: Some(name.clone()),
        })),
        Resolved::Spec(TargetSpec::Addr(a)) => Box::new(std::iter::once(plain(a))),
        Resolved::Spec(TargetSpec::Host(_)) => Box::new(std::iter::empty()),
        Resolved::Spec(TargetSpec::Net(net)) => {
            Box::new(span(net.network(), net.broadcast()).map(plain))
        }
        Resolved::Spec(TargetSpec::Range(a, b)) => Box::new(span(a, b).map(plain)),
        Resolved::Spec(TargetSpec::Octets(octets)) => Box::new(octet_product(*octets).map(plain)),
    }
}

fn span(first: IpAddr, last: IpAddr) -> impl Iterator<Item = IpAddr> {
    let v4 = first.is_ipv4();
    let (lo, hi) = (addr_to_u128(first), addr_to_u128(last));
    (lo..=hi).map(move |n| {
        if v4 {
            IpAddr::V4(Ipv4Addr::from(n as u32))
        } else {
            IpAddr::V6(Ipv6Addr::from(n))
        }
    })
}

fn octet_product(octets: [Vec<(u8, u8)>; 4]) -> impl Iterator<Item = IpAddr> + Send {
    let values = |i: usize| {
        octets[i]
            .iter()
            .flat_map(|&(lo, hi)| lo..=hi)
            .collect::<Vec<u8>>()
    };
    let (a, b, c, d) = (values(0), values(1), values(2), values(3));
    a.into_iter().flat_map(move |a| {
        let (b, c, d) = (b.clone(), c.clone(), d.clone());
        b.into_iter().flat_map(move |b| {
            let (c, d) = (c.clone(), d.clone());
            c.into_iter().flat_map(move |c| {
                d.clone()
                    .into_iter()
                    .map(move |d| IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(token: &str) -> Vec<String> {
        let set = TargetSet::new(vec![TargetSpec::parse(token).unwrap()], vec![], vec![]);
        set.iter().map(|t| t.addr.to_string()).collect()
    }

    #[test]
    fn forms() {
        assert_eq!(addrs("10.0.0.1-3"), ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
        assert_eq!(addrs("10.0.0.254-10.0.1.1").len(), 4);
        assert_eq!(addrs("10.0.0.0/30").len(), 4);
        assert_eq!(addrs("10.0.1-2.5"), ["10.0.1.5", "10.0.2.5"]);
        assert_eq!(addrs("10.0.0.1,3"), ["10.0.0.1", "10.0.0.3"]);
        assert_eq!(addrs("10.0.0.*").len(), 256);
        assert_eq!(addrs("::1"), ["::1"]);
        assert_eq!(addrs("[::1]"), ["::1"]);
        assert_eq!(addrs("fd00::/126").len(), 4);
        assert_eq!(addrs("fd00::1-fd00::3").len(), 3);
        assert_eq!(
            TargetSpec::parse("localhost").unwrap(),
            TargetSpec::Host("localhost".into())
        );
    }

    #[test]
    fn exclusions_apply() {
        let set = TargetSet::new(
            vec![TargetSpec::parse("10.0.0.0/29").unwrap()],
            vec![],
            vec![
                TargetSpec::parse("10.0.0.0-2").unwrap(),
                TargetSpec::parse("10.0.0.7").unwrap(),
            ],
        );
        let got: Vec<String> = set.iter().map(|t| t.addr.to_string()).collect();
        assert_eq!(got, ["10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]);
    }

    #[test]
    fn size_needs_confirmation() {
        let set = TargetSet::new(
            vec![TargetSpec::parse("10.0.0.0/15").unwrap()],
            vec![],
            vec![],
        );
        assert!(matches!(
            set.check_size(false),
            Err(ScanError::TooManyTargets { count: 131_072 })
        ));
        assert!(set.check_size(true).is_ok());
        let ok = TargetSet::new(
            vec![TargetSpec::parse("10.0.0.0/16").unwrap()],
            vec![],
            vec![],
        );
        assert!(ok.check_size(false).is_ok());
    }

    #[test]
    fn bad_tokens_name_the_problem() {
        for (token, needle) in [
            ("300.1.1.1", "octet 300"),
            ("10.0.0", "4 octets"),
            ("10.0.0.5-1", "reversed"),
            ("10.0.0.0/33", "prefix length"),
            ("::1::2", "IPv6"),
            ("bad host!", "valid hostname"),
            ("-foo", "valid hostname"),
            ("", "empty"),
        ] {
            let err = TargetSpec::parse(token).unwrap_err().to_string();
            assert!(err.contains(needle), "{token}: {err}");
        }
    }
}
