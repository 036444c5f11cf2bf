//! The overview's exposure: how many risky ports were open on each of the last 30 days, what
//! is open now by where it can be reached from (the internet, the LAN, this machine only), and
//! each host's worst open port, all computed from the state spans in one pass.
//!
//! A port counts on a day when one of its `open` spans overlaps that day (UTC), once however
//! many spans it had that day. Its rating is [`Ratings::severity`]: the knowledge base's
//! severity where the port is reachable from (the vantage's reach, by the monitor's rule:
//! [`portwatch_monitor::config::vantage::named`]), raised to the severity of the violation the monitor tracks for
//! it, if any. A port is risky when that is `high` or `critical`. Without the violation's
//! severity, a port that a group rates `critical` (its `severity` key) but the knowledge base
//! does not, or any port on loopback, counted nowhere: the chart showed 0 while a critical
//! violation was firing.
//!
//! The series is computed from one query over the spans of the window, and cached. The cache key changes with every complete scan
//! that found a host up (the only scans that open or close spans), with the day, with the
//! ratings, and after [`MAX_AGE_MS`] (pruning). With more than [`INLINE_HOSTS`] hosts, a
//! changed key serves the previous series while a background task computes the new one, so
//! pages stay fast.

use super::error::PageError;
use super::format::{DAY_MS, now_ms};
use super::source::Violation;
use crate::state::AppState;
use portwatch_kb::Severity;
use portwatch_model::{PortState, Proto};
use portwatch_monitor::config::{Settings, Vantage};
use portwatch_store::{HostRow, SpanRow};
use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// How ports are rated: each vantage's reach (from the configuration) and the severity of
/// every violation tracked for a port.
#[derive(Debug, Clone, Default)]
pub struct Ratings {
    reach: BTreeMap<String, Vantage>,
    violations: BTreeMap<(IpAddr, String, u16, Proto), Severity>,
}

impl Ratings {
    /// The ratings of the configuration in force and the tracked violations.
    pub fn new(settings: Option<&Settings>, violations: &[Violation]) -> Ratings {
        let mut r = Ratings::default();
        for g in settings.iter().flat_map(|s| s.groups.iter()) {
            for v in &g.vantages {
                r.add_vantage(v);
            }
        }
        for v in violations {
            if let Some((port, proto)) = v.port_proto {
                r.add_violation(v.addr, &v.vantage, port, proto, v.severity);
            }
        }
        r
    }

    /// Rates what `vantage` sees by its reach (the first declaration of a name wins).
    pub fn add_vantage(&mut self, vantage: &Vantage) {
        self.reach
            .entry(vantage.name.clone())
            .or_insert_with(|| vantage.clone());
    }

    /// Records a tracked violation of `severity` about `port` of `addr` seen from `vantage`.
    pub fn add_violation(
        &mut self,
        addr: IpAddr,
        vantage: &str,
        port: u16,
        proto: Proto,
        severity: Severity,
    ) {
        let e = self
            .violations
            .entry((addr, vantage.to_string(), port, proto))
            .or_insert(severity);
        *e = (*e).max(severity);
    }

    /// From where a host seen from `vantage` can be reached: the monitor's rule
    /// ([`portwatch_monitor::config::vantage::named`]: the configured vantage's reach, else
    /// the built-in one's, else the class of the address).
    pub fn exposure(&self, addr: IpAddr, vantage: &str) -> portwatch_kb::Exposure {
        portwatch_monitor::config::vantage::named(self.reach.values(), vantage).exposure_of(addr)
    }

    /// How serious an open `port` of `addr` seen from `vantage` is: the knowledge base's
    /// severity where it is reachable, or the tracked violation's when that is worse.
    pub fn severity(&self, addr: IpAddr, vantage: &str, port: u16, proto: Proto) -> Severity {
        let kb = portwatch_kb::risk(port, proto.transport()).at(self.exposure(addr, vantage));
        let policy = self
            .violations
            .get(&(addr, vantage.to_string(), port, proto))
            .copied()
            .unwrap_or(Severity::None);
        kb.max(policy)
    }

    /// A digest of the ratings, for the cache key.
    fn fingerprint(&self) -> u64 {
        let mut h = DefaultHasher::new();
        for (name, v) in &self.reach {
            name.hash(&mut h);
            format!("{:?}", v.reach).hash(&mut h);
        }
        for (k, sev) in &self.violations {
            k.hash(&mut h);
            (*sev as u8).hash(&mut h);
        }
        h.finish()
    }
}

/// What one host (seen from one vantage) has open now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostNow {
    /// From where it can be reached.
    pub exposure: portwatch_kb::Exposure,
    /// Its worst open port's rating (`none` with nothing open).
    pub worst: Severity,
    /// Ports open now.
    pub open: u32,
    /// Of those, rated `high` or `critical`.
    pub risky: u32,
}

/// What is open now from one place: the internet, the LAN or this machine only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    /// The exposure class.
    pub exposure: portwatch_kb::Exposure,
    /// Hosts with at least one open port there.
    pub hosts: u32,
    /// Open ports.
    pub open: u32,
    /// Of those, rated `high`.
    pub high: u32,
    /// Of those, rated `critical`.
    pub critical: u32,
}

/// Days shown.
pub const DAYS: usize = 30;
/// Up to this many hosts, a changed series is computed before the page is answered.
pub const INLINE_HOSTS: usize = 2_000;
/// A series older than this is recomputed even when no scan changed anything.
pub const MAX_AGE_MS: i64 = 10 * 60 * 1000;

/// Risky ports open on one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day {
    /// Midnight UTC that starts the day (ms).
    pub start_ms: i64,
    /// Ports rated `high`.
    pub high: u32,
    /// Ports rated `critical`.
    pub critical: u32,
}

impl Day {
    /// Both together.
    pub fn total(&self) -> u32 {
        self.high + self.critical
    }
}

/// The series, what is open now, and when it was computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    /// Oldest day first; the last one is today.
    pub days: Vec<Day>,
    /// Each host (address and vantage) with a port open now.
    pub hosts: HashMap<(IpAddr, String), HostNow>,
    /// What is open now, widest reach first (internet, LAN, loopback).
    pub reach: [Reach; 3],
    /// When it was computed (ms).
    pub computed_at: i64,
}

impl Exposure {
    /// What `addr` seen from `vantage` has open now, if anything.
    pub fn host(&self, addr: IpAddr, vantage: &str) -> Option<&HostNow> {
        self.hosts.get(&(addr, vantage.to_string()))
    }
}

/// The first day of the window that ends with the day of `now`.
fn first_day(now: i64) -> i64 {
    now.div_euclid(DAY_MS) * DAY_MS - (DAYS as i64 - 1) * DAY_MS
}

/// An empty series for the window ending on the day of `now`.
pub fn empty(now: i64) -> Exposure {
    let first = first_day(now);
    Exposure {
        days: (0..DAYS as i64)
            .map(|i| Day {
                start_ms: first + i * DAY_MS,
                high: 0,
                critical: 0,
            })
            .collect(),
        hosts: HashMap::new(),
        reach: [
            portwatch_kb::Exposure::Internet,
            portwatch_kb::Exposure::Lan,
            portwatch_kb::Exposure::Loopback,
        ]
        .map(|exposure| Reach {
            exposure,
            hosts: 0,
            open: 0,
            high: 0,
            critical: 0,
        }),
        computed_at: now,
    }
}

/// The days of the window a span `[from, to)` overlaps, as a bit mask (bit 0: first day).
fn day_mask(first: i64, from: i64, to: i64) -> u32 {
    let mut mask = 0u32;
    for i in 0..DAYS {
        let start = first + i as i64 * DAY_MS;
        if from < start + DAY_MS && to > start {
            mask |= 1 << i;
        }
    }
    mask
}

/// Adds one host's spans (as `history` returns them: one host and vantage, grouped by
/// transport and port) to `series`, rated by `ratings`.
pub fn add_host(series: &mut Exposure, spans: &[SpanRow], now: i64, ratings: &Ratings) {
    let (Some(first), Some(head)) = (series.days.first().map(|d| d.start_ms), spans.first()) else {
        return;
    };
    let (addr, vantage) = (head.host, head.vantage.as_str());
    let exposure = ratings.exposure(addr, vantage);
    let mut current = HostNow {
        exposure,
        worst: Severity::None,
        open: 0,
        risky: 0,
    };
    let (mut high_now, mut critical_now) = (0, 0);
    let mut i = 0;
    while i < spans.len() {
        let (port, proto) = (spans[i].port, spans[i].proto);
        let (mut mask, mut open_now) = (0u32, false);
        while i < spans.len() && spans[i].port == port && spans[i].proto == proto {
            let s = &spans[i];
            if s.snapshot.state == PortState::Open {
                // A span still current lasts until now; an instant span still counts on its day.
                let to = s.to_at.unwrap_or(now).max(s.from_at + 1);
                mask |= day_mask(first, s.from_at, to);
                open_now |= s.to_at.is_none();
            }
            i += 1;
        }
        if mask == 0 && !open_now {
            continue;
        }
        let severity = ratings.severity(addr, vantage, port, proto);
        if open_now {
            current.open += 1;
            current.worst = current.worst.max(severity);
            match severity {
                Severity::Critical => critical_now += 1,
                Severity::High => high_now += 1,
                _ => {}
            }
        }
        for (bit, day) in series.days.iter_mut().enumerate() {
            if mask & (1 << bit) != 0 {
                match severity {
                    Severity::Critical => day.critical += 1,
                    Severity::High => day.high += 1,
                    _ => {}
                }
            }
        }
    }
    if current.open == 0 {
        return;
    }
    current.risky = high_now + critical_now;
    if let Some(r) = series.reach.iter_mut().find(|r| r.exposure == exposure) {
        r.hosts += 1;
        r.open += current.open;
        r.high += high_now;
        r.critical += critical_now;
    }
    series.hosts.insert((addr, vantage.to_string()), current);
}

/// Computes the series from the store, in one query over the spans of the window.
pub async fn compute(state: &AppState, now: i64, ratings: &Ratings) -> Result<Exposure, PageError> {
    let mut series = empty(now);
    let spans = state.store().spans_since(first_day(now)).await?;
    for host in spans.chunk_by(|a, b| a.host == b.host && a.vantage == b.vantage) {
        add_host(&mut series, host, now, ratings);
    }
    series.computed_at = now_ms().max(now);
    Ok(series)
}

/// What identifies the history a series was computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    hosts: usize,
    last_seen: i64,
    open: u64,
    day: i64,
    ratings: u64,
}

impl Key {
    fn of(hosts: &[HostRow], now: i64, ratings: &Ratings) -> Key {
        Key {
            hosts: hosts.len(),
            last_seen: hosts
                .iter()
                .filter_map(|h| h.last_seen_at)
                .max()
                .unwrap_or(0),
            open: hosts.iter().map(|h| h.open_ports).sum(),
            day: now.div_euclid(DAY_MS),
            ratings: ratings.fingerprint(),
        }
    }
}

#[derive(Default)]
struct Cached {
    key: Option<Key>,
    value: Option<Arc<Exposure>>,
    refreshing: bool,
}

/// The series, cached per router (see the module docs).
#[derive(Default)]
pub struct ExposureCache {
    cached: Mutex<Cached>,
    computing: tokio::sync::Mutex<()>,
}

/// What [`ExposureCache::get`] answers.
pub struct Served {
    /// The series.
    pub exposure: Arc<Exposure>,
    /// Whether a newer one is being computed.
    pub stale: bool,
}

impl ExposureCache {
    fn lookup(&self, key: Key, now: i64) -> (Option<Arc<Exposure>>, bool) {
        let c = self
            .cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let fresh = c.key == Some(key)
            && c.value
                .as_ref()
                .is_some_and(|v| now - v.computed_at < MAX_AGE_MS);
        (c.value.clone(), fresh)
    }

    fn store(&self, key: Key, value: Arc<Exposure>) {
        let mut c = self
            .cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        c.key = Some(key);
        c.value = Some(value);
        c.refreshing = false;
    }

    /// The series for `hosts` (the store's host list, just read) at `now`, rated by `ratings`.
    pub async fn get(
        self: &Arc<Self>,
        state: &AppState,
        hosts: &[HostRow],
        now: i64,
        ratings: Ratings,
    ) -> Result<Served, PageError> {
        let key = Key::of(hosts, now, &ratings);
        let (cached, fresh) = self.lookup(key, now);
        if let (Some(v), true) = (&cached, fresh) {
            return Ok(Served {
                exposure: v.clone(),
                stale: false,
            });
        }
        if let Some(v) = cached.filter(|_| hosts.len() > INLINE_HOSTS) {
            self.refresh_in_background(state, key, ratings);
            return Ok(Served {
                exposure: v,
                stale: true,
            });
        }
        let _one_at_a_time = self.computing.lock().await;
        if let (Some(v), true) = self.lookup(key, now) {
            return Ok(Served {
                exposure: v,
                stale: false,
            });
        }
        let value = Arc::new(compute(state, now, &ratings).await?);
        self.store(key, value.clone());
        Ok(Served {
            exposure: value,
            stale: false,
        })
    }

    fn refresh_in_background(self: &Arc<Self>, state: &AppState, key: Key, ratings: Ratings) {
        {
            let mut c = self
                .cached
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if c.refreshing {
                return;
            }
            c.refreshing = true;
        }
        let (me, state) = (self.clone(), state.clone());
        tokio::spawn(async move {
            let _one_at_a_time = me.computing.lock().await;
            match compute(&state, now_ms(), &ratings).await {
                Ok(v) => me.store(key, Arc::new(v)),
                Err(_) => {
                    me.cached
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .refreshing = false;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portwatch_model::Reason;
    use portwatch_monitor::config::Reach as VantageReach;
    use portwatch_store::{PortSnapshot, ScanId};

    fn span(port: u16, from: i64, to: Option<i64>, state: PortState) -> SpanRow {
        SpanRow {
            host: "10.0.0.5".parse().unwrap(),
            vantage: "local".into(),
            hostname: None,
            port,
            proto: Proto::Tcp,
            snapshot: PortSnapshot {
                state,
                reason: Reason::SynAck,
                service: None,
                details: Default::default(),
            },
            from_scan: ScanId(1),
            from_at: from,
            to_scan: to.map(|_| ScanId(2)),
            to_at: to,
        }
    }

    /// `spans` as seen on `host` from `vantage`.
    fn on(host: &str, vantage: &str, spans: &[SpanRow]) -> Vec<SpanRow> {
        spans
            .iter()
            .cloned()
            .map(|mut s| {
                s.host = host.parse().unwrap();
                s.vantage = vantage.into();
                s
            })
            .collect()
    }

    const NOW: i64 = 40 * DAY_MS + 3_600_000;

    #[test]
    fn counts_each_risky_port_once_per_day_it_was_open() {
        let now = NOW;
        let mut s = empty(now);
        let today = s.days[DAYS - 1].start_ms;
        assert_eq!(today, 40 * DAY_MS);
        let none = Ratings::default();
        let spans = vec![
            // 445/tcp on the LAN is high: open 2 days ago for an hour, and again since yesterday
            // (two spans yesterday count once).
            span(
                445,
                today - 2 * DAY_MS,
                Some(today - 2 * DAY_MS + 3_600_000),
                PortState::Open,
            ),
            span(
                445,
                today - DAY_MS,
                Some(today - DAY_MS + 10),
                PortState::Open,
            ),
            span(445, today - DAY_MS + 10, None, PortState::Open),
            // open|filtered is not proof of an open port.
            span(3389, today - DAY_MS, None, PortState::OpenFiltered),
            // Ended before the window.
            span(445, 0, Some(DAY_MS), PortState::Open),
        ];
        add_host(&mut s, &spans, now, &none);
        let totals: Vec<u32> = s.days.iter().map(Day::total).collect();
        assert_eq!(&totals[DAYS - 3..], &[1, 1, 1]);
        assert_eq!(totals[..DAYS - 3].iter().sum::<u32>(), 0);
        assert_eq!(s.days[DAYS - 1].high, 1);

        // The same port on an internet address is critical.
        let mut s = empty(now);
        add_host(
            &mut s,
            &on("203.0.113.9", "local", &spans[2..3]),
            now,
            &none,
        );
        assert_eq!((s.days[DAYS - 1].critical, s.days[DAYS - 1].high), (1, 0));

        // On loopback it is reachable from this machine only: not a risky exposure.
        for host in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            let mut s = empty(now);
            add_host(&mut s, &on(host, "local", &spans[2..3]), now, &none);
            assert_eq!(s.days[DAYS - 1].total(), 0, "{host}");
        }
    }

    /// The bug of issue 13: a group with `severity = "critical"` fired a critical violation
    /// for a loopback port (the knowledge base rates nothing on loopback) and the chart said 0.
    #[test]
    fn a_port_with_a_tracked_violation_counts_at_the_violations_severity() {
        let today = NOW.div_euclid(DAY_MS) * DAY_MS;
        let spans = on(
            "127.0.0.1",
            "local",
            &[span(41400, today - DAY_MS, None, PortState::Open)],
        );
        let mut ratings = Ratings::default();
        let mut s = empty(NOW);
        add_host(&mut s, &spans, NOW, &ratings);
        assert_eq!(s.days[DAYS - 1].total(), 0, "the knowledge base alone");

        let addr: IpAddr = "127.0.0.1".parse().unwrap();
        ratings.add_violation(addr, "local", 41400, Proto::Tcp, Severity::Critical);
        let mut s = empty(NOW);
        add_host(&mut s, &spans, NOW, &ratings);
        assert_eq!(
            (s.days[DAYS - 2].critical, s.days[DAYS - 1].critical),
            (1, 1),
            "counted on every day it was open"
        );
        let host = s.host(addr, "local").copied().unwrap();
        assert_eq!(
            (host.worst, host.open, host.risky, host.exposure),
            (Severity::Critical, 1, 1, portwatch_kb::Exposure::Loopback)
        );
        let loopback = s.reach[2];
        assert_eq!(
            (loopback.hosts, loopback.open, loopback.critical),
            (1, 1, 1)
        );
        // Another vantage's violation does not rate this one's port.
        assert_eq!(
            ratings.severity(addr, "lan", 41400, Proto::Tcp),
            Severity::None
        );
        // The knowledge base's rating stays when it is worse than the violation's.
        ratings.add_violation(
            "203.0.113.9".parse().unwrap(),
            "local",
            445,
            Proto::Tcp,
            Severity::Medium,
        );
        assert_eq!(
            ratings.severity("203.0.113.9".parse().unwrap(), "local", 445, Proto::Tcp),
            Severity::Critical
        );
    }

    #[test]
    fn a_vantage_with_a_fixed_reach_rates_what_it_sees_there() {
        let today = NOW.div_euclid(DAY_MS) * DAY_MS;
        let spans = on(
            "10.0.0.5",
            "dmz",
            &[span(445, today - DAY_MS, None, PortState::Open)],
        );
        let mut ratings = Ratings::default();
        ratings.add_vantage(&Vantage {
            name: "dmz".into(),
            reach: VantageReach::Fixed(portwatch_kb::Exposure::Internet),
        });
        let mut s = empty(NOW);
        add_host(&mut s, &spans, NOW, &ratings);
        assert_eq!(s.days[DAYS - 1].critical, 1, "445 from the internet");
        let internet = s.reach[0];
        assert_eq!(internet.exposure, portwatch_kb::Exposure::Internet);
        assert_eq!(
            (internet.hosts, internet.open, internet.critical),
            (1, 1, 1)
        );
        assert_eq!(s.reach[1].hosts, 0, "nothing counted as LAN");

        // A closed port leaves the host out of what is open now.
        let closed = on(
            "10.0.0.6",
            "local",
            &[span(445, today - DAY_MS, Some(today + 10), PortState::Open)],
        );
        add_host(&mut s, &closed, NOW, &ratings);
        assert!(s.host("10.0.0.6".parse().unwrap(), "local").is_none());
        assert_eq!(s.days[DAYS - 1].total(), 2, "but it was open today");
    }

    /// A violation that starts firing (or changes severity) between two scans changes the
    /// cache key, so the chart is recomputed rather than served stale.
    #[test]
    fn the_cache_key_follows_the_ratings() {
        let none = Ratings::default();
        let mut rated = Ratings::default();
        let addr: IpAddr = "127.0.0.1".parse().unwrap();
        rated.add_violation(addr, "local", 41400, Proto::Tcp, Severity::Critical);
        assert_ne!(Key::of(&[], NOW, &none), Key::of(&[], NOW, &rated));
        let mut again = Ratings::default();
        again.add_violation(addr, "local", 41400, Proto::Tcp, Severity::Critical);
        assert_eq!(Key::of(&[], NOW, &rated), Key::of(&[], NOW, &again));
        again.add_violation(addr, "local", 41400, Proto::Tcp, Severity::High);
        assert_eq!(
            Key::of(&[], NOW, &rated),
            Key::of(&[], NOW, &again),
            "the worst severity of one port counts"
        );
    }
}
