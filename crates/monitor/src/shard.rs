//! Splitting one round of a group into shards (address blocks × port ranges) and merging
//! the shards' scans back into one observation of the group.
//!
//! Address blocks are cut from the group's addresses after exclusion, in address order
//! (IPv4, then IPv6, then hostnames, each hostname counting as one address). A block is
//! written as a few compact tokens (a CIDR when it is one, else a range), never as a list of
//! its addresses. Port ranges are cut from the group's ports in order (TCP, then UDP).
//! The plan depends only on the configuration, so every replica and every round names the
//! same shards the same way.

use crate::config::Sharding;
use crate::runner::{GroupScan, HostScan};
use portwatch_scan::ports::PortList;
use portwatch_scan::targets::TargetSpec;
use portwatch_scan::{HostStatus, Proto};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The most shards one round may have (each is a job row and a result to merge).
pub const MAX_SHARDS: u128 = 100_000;

/// One shard of a round: its name (unique within the group and stable across rounds), its
/// target tokens and its ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// `a{block}/p{range} {first address}-{last address} {first port}-{last port}`.
    pub name: String,
    /// Target tokens of the block.
    pub targets: Vec<String>,
    /// The ports of the range.
    pub ports: PortList,
}

/// An inclusive span of addresses of one family (`v6` false: IPv4 as a number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Span {
    v6: bool,
    lo: u128,
    hi: u128,
}

impl Span {
    fn len(&self) -> u128 {
        self.hi - self.lo + 1
    }
}

fn addr(v6: bool, n: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(n))
    } else {
        IpAddr::V4(Ipv4Addr::from(u32::try_from(n).unwrap_or(u32::MAX)))
    }
}

fn number(a: IpAddr) -> (bool, u128) {
    match a {
        IpAddr::V4(a) => (false, u128::from(u32::from(a))),
        IpAddr::V6(a) => (true, u128::from(a)),
    }
}

/// The spans a parsed token covers (none for a hostname).
fn spans_of(spec: &TargetSpec) -> Vec<Span> {
    match spec {
        TargetSpec::Addr(a) => {
            let (v6, n) = number(*a);
            vec![Span { v6, lo: n, hi: n }]
        }
        TargetSpec::Net(net) => {
            let (v6, lo) = number(net.network());
            let (_, hi) = number(net.broadcast());
            vec![Span { v6, lo, hi }]
        }
        TargetSpec::Range(a, b) => {
            let (v6, lo) = number(*a);
            let (_, hi) = number(*b);
            vec![Span { v6, lo, hi }]
        }
        TargetSpec::Octets(octets) => {
            let mut prefixes: Vec<u128> = vec![0];
            for ranges in &octets[..3] {
                prefixes = prefixes
                    .iter()
                    .flat_map(|p| {
                        ranges.iter().flat_map(move |(lo, hi)| {
                            (*lo..=*hi).map(move |o| (p << 8) | u128::from(o))
                        })
                    })
                    .collect();
            }
            prefixes
                .iter()
                .flat_map(|p| {
                    octets[3].iter().map(move |(lo, hi)| Span {
                        v6: false,
                        lo: (p << 8) | u128::from(*lo),
                        hi: (p << 8) | u128::from(*hi),
                    })
                })
                .collect()
        }
        TargetSpec::Host(_) => Vec::new(),
    }
}

/// Sorted spans without overlaps, adjacent ones joined.
fn merged(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort();
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(last) if last.v6 == s.v6 && s.lo <= last.hi.saturating_add(1) => {
                last.hi = last.hi.max(s.hi);
            }
            _ => out.push(s),
        }
    }
    out
}

/// `spans` without the (merged) `gone`.
fn subtract(spans: Vec<Span>, gone: &[Span]) -> Vec<Span> {
    let mut out = Vec::new();
    for s in spans {
        let mut rest = Some(s);
        for g in gone.iter().filter(|g| g.v6 == s.v6) {
            let Some(r) = rest else { break };
            if g.hi < r.lo || g.lo > r.hi {
                continue;
            }
            if g.lo > r.lo {
                out.push(Span { hi: g.lo - 1, ..r });
            }
            rest = (g.hi < r.hi).then(|| Span { lo: g.hi + 1, ..r });
        }
        out.extend(rest);
    }
    out
}

/// A span as the fewest words: an address, a CIDR when it is exactly one, else a range.
fn token(s: Span) -> String {
    let (lo, hi) = (addr(s.v6, s.lo), addr(s.v6, s.hi));
    if s.lo == s.hi {
        return lo.to_string();
    }
    let len = s.len();
    let bits = if s.v6 { 128 } else { 32 };
    if len.is_power_of_two() && s.lo.is_multiple_of(len) {
        let prefix = bits - len.trailing_zeros();
        return format!("{lo}/{prefix}");
    }
    format!("{lo}-{hi}")
}

/// One piece of a block: part of a span, or a hostname.
enum Piece {
    Span(Span),
    Host(String),
}

/// The address blocks: `size` addresses each (the last may have fewer).
fn blocks(spans: Vec<Span>, hosts: Vec<String>, size: Option<u64>) -> Vec<Vec<Piece>> {
    let size = size.map_or(u128::MAX, u128::from);
    let mut out: Vec<Vec<Piece>> = Vec::new();
    // Addresses the last block can still take.
    let mut room = 0u128;
    let take_room = |out: &mut Vec<Vec<Piece>>, room: &mut u128| {
        if *room == 0 {
            out.push(Vec::new());
            *room = size;
        }
    };
    for s in spans {
        let mut lo = s.lo;
        loop {
            take_room(&mut out, &mut room);
            let left = s.hi - lo + 1;
            let take = left.min(room);
            room -= take;
            if let Some(block) = out.last_mut() {
                block.push(Piece::Span(Span {
                    v6: s.v6,
                    lo,
                    hi: lo + take - 1,
                }));
            }
            if take == left {
                break;
            }
            lo += take;
        }
    }
    for h in hosts {
        take_room(&mut out, &mut room);
        room -= 1;
        if let Some(block) = out.last_mut() {
            block.push(Piece::Host(h));
        }
    }
    out
}

/// The port ranges: `size` (port, transport) pairs each.
fn port_ranges(ports: &PortList, size: Option<u64>) -> Vec<PortList> {
    let all: Vec<(u16, Proto)> = ports
        .tcp
        .iter()
        .map(|p| (*p, Proto::Tcp))
        .chain(ports.udp.iter().map(|p| (*p, Proto::Udp)))
        .collect();
    let size = size
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(usize::MAX)
        .min(all.len().max(1));
    all.chunks(size)
        .map(|chunk| {
            let mut list = PortList::default();
            for (p, proto) in chunk {
                match proto {
                    Proto::Tcp => list.tcp.push(*p),
                    Proto::Udp => list.udp.push(*p),
                }
            }
            list
        })
        .collect()
}

fn piece_text(p: &Piece, last: bool) -> String {
    match p {
        Piece::Span(s) => addr(s.v6, if last { s.hi } else { s.lo }).to_string(),
        Piece::Host(h) => h.clone(),
    }
}

fn port_span(ports: &PortList) -> String {
    let letter = |proto: Proto| if proto == Proto::Tcp { "T" } else { "U" };
    let first = ports
        .tcp
        .first()
        .map(|p| (*p, Proto::Tcp))
        .or(ports.udp.first().map(|p| (*p, Proto::Udp)));
    let last = ports
        .udp
        .last()
        .map(|p| (*p, Proto::Udp))
        .or(ports.tcp.last().map(|p| (*p, Proto::Tcp)));
    match (first, last) {
        (Some(a), Some(b)) if a == b => format!("{}:{}", letter(a.1), a.0),
        (Some(a), Some(b)) if a.1 == b.1 => format!("{}:{}-{}", letter(a.1), a.0, b.0),
        (Some(a), Some(b)) => format!("{}:{}-{}:{}", letter(a.1), a.0, letter(b.1), b.0),
        _ => String::new(),
    }
}

/// The shards of one round of a group with `targets` (minus `exclude`) × `ports`, split as
/// `sharding` says. A hostname exclusion cannot be taken out before resolution: every shard
/// keeps the group's exclusions, so the engine leaves it out.
pub fn plan(
    targets: &[String],
    exclude: &[String],
    ports: &PortList,
    sharding: &Sharding,
) -> Result<Vec<Shard>, String> {
    let mut spans = Vec::new();
    let mut hosts = Vec::new();
    for t in targets {
        let spec = TargetSpec::parse(t).map_err(|e| e.to_string())?;
        match spec {
            TargetSpec::Host(h) => {
                if !hosts.contains(&h) {
                    hosts.push(h);
                }
            }
            other => spans.extend(spans_of(&other)),
        }
    }
    let mut gone = Vec::new();
    for t in exclude {
        gone.extend(spans_of(&TargetSpec::parse(t).map_err(|e| e.to_string())?));
    }
    let spans = subtract(merged(spans), &merged(gone));
    if spans.is_empty() && hosts.is_empty() {
        return Err("every target is excluded".into());
    }
    let addresses = spans
        .iter()
        .map(Span::len)
        .fold(hosts.len() as u128, u128::saturating_add);
    let ports_count = ports.len().max(1) as u128;
    let count = addresses.div_ceil(sharding.addresses.map_or(addresses, u128::from))
        * ports_count.div_ceil(sharding.ports.map_or(ports_count, u128::from));
    if count > MAX_SHARDS {
        return Err(format!(
            "{addresses} addresses × {ports_count} ports would make {count} shards, more than \
             {MAX_SHARDS}: raise shard.addresses or shard.ports"
        ));
    }
    let blocks = blocks(spans, hosts, sharding.addresses);
    let ranges = port_ranges(ports, sharding.ports);
    let mut shards = Vec::with_capacity(blocks.len() * ranges.len());
    for (a, block) in blocks.iter().enumerate() {
        let targets: Vec<String> = block
            .iter()
            .map(|p| match p {
                Piece::Span(s) => token(*s),
                Piece::Host(h) => h.clone(),
            })
            .collect();
        let (first, last) = (
            block
                .first()
                .map(|p| piece_text(p, false))
                .unwrap_or_default(),
            block
                .last()
                .map(|p| piece_text(p, true))
                .unwrap_or_default(),
        );
        let addresses = if first == last {
            first
        } else {
            format!("{first}-{last}")
        };
        for (p, range) in ranges.iter().enumerate() {
            shards.push(Shard {
                name: format!("a{a}/p{p} {addresses} {}", port_span(range)),
                targets: targets.clone(),
                ports: range.clone(),
            });
        }
    }
    Ok(shards)
}

/// One observation of `group` from the scans of its shards: every host once (up when any
/// shard found it up, its counts and ports added up), the ports the shards covered together,
/// from the first start to the last end, naming every shard's job.
pub fn merge(group: &str, parts: Vec<GroupScan>) -> GroupScan {
    let started = parts
        .iter()
        .map(|p| p.started)
        .min()
        .unwrap_or(std::time::UNIX_EPOCH);
    let ended = parts
        .iter()
        .map(|p| p.started + p.elapsed)
        .max()
        .unwrap_or(started);
    let mut ports = PortList::default();
    let mut jobs = Vec::new();
    let mut order: Vec<IpAddr> = Vec::new();
    let mut hosts: BTreeMap<IpAddr, HostScan> = BTreeMap::new();
    let mut local_severities = BTreeMap::new();
    for part in parts {
        ports = ports.union(&part.ports);
        jobs.extend(part.jobs);
        local_severities.extend(part.local_severities);
        for h in part.hosts {
            let Some(seen) = hosts.get_mut(&h.summary.host) else {
                order.push(h.summary.host);
                hosts.insert(h.summary.host, h);
                continue;
            };
            let (a, b) = (&mut seen.summary, &h.summary);
            if b.status == HostStatus::Up && a.status != HostStatus::Up {
                a.status = HostStatus::Up;
                a.reason = b.reason;
            }
            if a.hostname.is_none() {
                a.hostname.clone_from(&b.hostname);
            }
            a.ports_scanned += b.ports_scanned;
            a.ports_skipped += b.ports_skipped;
            a.open += b.open;
            a.closed += b.closed;
            a.filtered += b.filtered;
            a.open_filtered += b.open_filtered;
            a.srtt_ms = match (a.srtt_ms, b.srtt_ms) {
                (Some(x), Some(y)) => Some(x.min(y)),
                (x, y) => x.or(y),
            };
            seen.results.extend(h.results);
            seen.results.sort_by_key(|r| (r.proto, r.port));
        }
    }
    if hosts.values().any(|h| h.summary.status == HostStatus::Up) {
        // An up host's reason is not the down reason a shard may have given.
        for h in hosts.values_mut() {
            if h.summary.status == HostStatus::Up {
                h.summary.reason = None;
            }
        }
    }
    GroupScan {
        group: group.to_string(),
        started,
        elapsed: ended.duration_since(started).unwrap_or_default(),
        ports,
        hosts: order.into_iter().filter_map(|a| hosts.remove(&a)).collect(),
        local_severities,
        jobs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(tcp: std::ops::RangeInclusive<u16>) -> PortList {
        PortList {
            tcp: tcp.collect(),
            udp: vec![],
        }
    }

    fn sharding(addresses: Option<u64>, ports: Option<u64>) -> Sharding {
        Sharding { addresses, ports }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(std::string::ToString::to_string).collect()
    }

    #[test]
    fn a_cidr_is_cut_into_cidrs_and_the_ports_into_ranges() {
        let plan = plan(
            &strings(&["127.0.0.0/28"]),
            &[],
            &ports(1..=40),
            &sharding(Some(8), Some(20)),
        )
        .unwrap();
        let names: Vec<&str> = plan.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "a0/p0 127.0.0.0-127.0.0.7 T:1-20",
                "a0/p1 127.0.0.0-127.0.0.7 T:21-40",
                "a1/p0 127.0.0.8-127.0.0.15 T:1-20",
                "a1/p1 127.0.0.8-127.0.0.15 T:21-40",
            ]
        );
        assert_eq!(plan[0].targets, ["127.0.0.0/29"]);
        assert_eq!(plan[2].targets, ["127.0.0.8/29"]);
        assert_eq!(plan[1].ports, ports(21..=40));
    }

    #[test]
    fn a_million_addresses_stay_a_few_tokens() {
        let plan = plan(
            &strings(&["127.0.0.0/12"]),
            &[],
            &ports(1..=10),
            &sharding(Some(65_536), None),
        )
        .unwrap();
        assert_eq!(plan.len(), 16);
        assert!(plan.iter().all(|s| s.targets.len() == 1), "{plan:?}");
        assert_eq!(plan[15].targets, ["127.15.0.0/16"]);
        assert_eq!(plan[15].name, "a15/p0 127.15.0.0-127.15.255.255 T:1-10");
    }

    #[test]
    fn blocks_count_addresses_after_exclusion_and_keep_ranges_compact() {
        let plan = plan(
            &strings(&["10.0.0.0/24", "10.0.0.5", "db.internal"]),
            &strings(&["10.0.0.0-10.0.0.9"]),
            &PortList {
                tcp: vec![22],
                udp: vec![53],
            },
            &sharding(Some(100), Some(1)),
        )
        .unwrap();
        // 246 addresses and one hostname: blocks of 100, 100, 47.
        let blocks: Vec<&Vec<String>> = plan.iter().step_by(2).map(|s| &s.targets).collect();
        assert_eq!(
            blocks,
            [
                &strings(&["10.0.0.10-10.0.0.109"]),
                &strings(&["10.0.0.110-10.0.0.209"]),
                &strings(&["10.0.0.210-10.0.0.255", "db.internal"]),
            ]
        );
        assert_eq!(plan[0].name, "a0/p0 10.0.0.10-10.0.0.109 T:22");
        assert_eq!(plan[5].name, "a2/p1 10.0.0.210-db.internal U:53");
        assert_eq!(
            plan[5].ports,
            PortList {
                tcp: vec![],
                udp: vec![53]
            }
        );
    }

    #[test]
    fn no_sizes_is_one_shard_and_octet_patterns_are_spans() {
        let plan = plan(
            &strings(&["10.0.1-2.1-3", "::1"]),
            &[],
            &ports(1..=3),
            &sharding(None, None),
        )
        .unwrap();
        assert_eq!(plan.len(), 1);
        assert_eq!(
            plan[0].targets,
            ["10.0.1.1-10.0.1.3", "10.0.2.1-10.0.2.3", "::1"]
        );
        assert_eq!(plan[0].name, "a0/p0 10.0.1.1-::1 T:1-3");
        let gone = super::plan(
            &strings(&["10.0.0.1"]),
            &strings(&["10.0.0.0/24"]),
            &ports(1..=3),
            &sharding(Some(1), None),
        );
        assert_eq!(gone.unwrap_err(), "every target is excluded");
        let too_many = super::plan(
            &strings(&["10.0.0.0/8"]),
            &[],
            &ports(1..=10),
            &sharding(Some(16), Some(1)),
        )
        .unwrap_err();
        assert!(
            too_many.contains("would make 10485760 shards"),
            "{too_many}"
        );
    }
}
