//! The overview's exposure chart: how many risky ports were open on each of the last 30 days,
//! computed from the state spans.
//!
//! A port counts on a day when one of its `open` spans overlaps that day (UTC), once however
//! many spans it had that day. It is risky when the knowledge base rates it `high` or
//! `critical` where the host is ([`portwatch_kb::severity_at`]): never on loopback, the LAN
//! rating for private addresses, the internet rating otherwise.
//!
//! The series is computed from one query over the spans of the window, and cached. The cache key changes with every complete scan
//! that found a host up (the only scans that open or close spans), with the day, and after
//! [`MAX_AGE_MS`] (pruning). With more than [`INLINE_HOSTS`] hosts, a changed key serves the
//! previous series while a background task computes the new one, so pages stay fast.

use super::error::PageError;
use super::format::{DAY_MS, now_ms};
use crate::state::AppState;
use portwatch_kb::Severity;
use portwatch_scan::PortState;
use portwatch_store::{HostRow, SpanRow};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

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

/// The series and when it was computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    /// Oldest day first; the last one is today.
    pub days: Vec<Day>,
    /// When it was computed (ms).
    pub computed_at: i64,
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

/// Adds one host's spans (as `history` returns them: grouped by transport and port) to `series`.
pub fn add_host(series: &mut Exposure, addr: IpAddr, spans: &[SpanRow], now: i64) {
    let Some(first) = series.days.first().map(|d| d.start_ms) else {
        return;
    };
    let class = portwatch_kb::Exposure::of(addr);
    let mut i = 0;
    while i < spans.len() {
        let (port, proto) = (spans[i].port, spans[i].proto);
        let mut mask = 0u32;
        while i < spans.len() && spans[i].port == port && spans[i].proto == proto {
            let s = &spans[i];
            if s.snapshot.state == PortState::Open {
                // A span still current lasts until now; an instant span still counts on its day.
                let to = s.to_at.unwrap_or(now).max(s.from_at + 1);
                mask |= day_mask(first, s.from_at, to);
            }
            i += 1;
        }
        if mask == 0 {
            continue;
        }
        let severity = portwatch_kb::risk(port, proto.transport()).at(class);
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
}

/// Computes the series from the store, in one query over the spans of the window.
pub async fn compute(state: &AppState, now: i64) -> Result<Exposure, PageError> {
    let mut series = empty(now);
    let spans = state.store().spans_since(first_day(now)).await?;
    for host in spans.chunk_by(|a, b| a.host == b.host) {
        add_host(&mut series, host[0].host, host, now);
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
}

impl Key {
    fn of(hosts: &[HostRow], now: i64) -> Key {
        Key {
            hosts: hosts.len(),
            last_seen: hosts
                .iter()
                .filter_map(|h| h.last_seen_at)
                .max()
                .unwrap_or(0),
            open: hosts.iter().map(|h| h.open_ports).sum(),
            day: now.div_euclid(DAY_MS),
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
        let c = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = c.key == Some(key)
            && c.value
                .as_ref()
                .is_some_and(|v| now - v.computed_at < MAX_AGE_MS);
        (c.value.clone(), fresh)
    }

    fn store(&self, key: Key, value: Arc<Exposure>) {
        let mut c = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        c.key = Some(key);
        c.value = Some(value);
        c.refreshing = false;
    }

    /// The series for `hosts` (the store's host list, just read) at `now`.
    pub async fn get(
        self: &Arc<Self>,
        state: &AppState,
        hosts: &[HostRow],
        now: i64,
    ) -> Result<Served, PageError> {
        let key = Key::of(hosts, now);
        let (cached, fresh) = self.lookup(key, now);
        if let (Some(v), true) = (&cached, fresh) {
            return Ok(Served {
                exposure: v.clone(),
                stale: false,
            });
        }
        if let Some(v) = cached.filter(|_| hosts.len() > INLINE_HOSTS) {
            self.refresh_in_background(state, key);
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
        let value = Arc::new(compute(state, now).await?);
        self.store(key, value.clone());
        Ok(Served {
            exposure: value,
            stale: false,
        })
    }

    fn refresh_in_background(self: &Arc<Self>, state: &AppState, key: Key) {
        {
            let mut c = self.cached.lock().unwrap_or_else(|p| p.into_inner());
            if c.refreshing {
                return;
            }
            c.refreshing = true;
        }
        let (me, state) = (self.clone(), state.clone());
        tokio::spawn(async move {
            let _one_at_a_time = me.computing.lock().await;
            match compute(&state, now_ms()).await {
                Ok(v) => me.store(key, Arc::new(v)),
                Err(_) => {
                    me.cached
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .refreshing = false;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portwatch_scan::{Proto, Reason};
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

    #[test]
    fn counts_each_risky_port_once_per_day_it_was_open() {
        let now = 40 * DAY_MS + 3_600_000;
        let mut s = empty(now);
        let today = s.days[DAYS - 1].start_ms;
        assert_eq!(today, 40 * DAY_MS);
        let lan: IpAddr = "10.0.0.5".parse().unwrap();
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
        add_host(&mut s, lan, &spans, now);
        let totals: Vec<u32> = s.days.iter().map(Day::total).collect();
        assert_eq!(&totals[DAYS - 3..], &[1, 1, 1]);
        assert_eq!(totals[..DAYS - 3].iter().sum::<u32>(), 0);
        assert_eq!(s.days[DAYS - 1].high, 1);

        // The same port on an internet address is critical.
        let mut s = empty(now);
        add_host(&mut s, "203.0.113.9".parse().unwrap(), &spans[2..3], now);
        assert_eq!((s.days[DAYS - 1].critical, s.days[DAYS - 1].high), (1, 0));

        // On loopback it is reachable from this machine only: not a risky exposure.
        for host in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            let mut s = empty(now);
            add_host(&mut s, host.parse().unwrap(), &spans[2..3], now);
            assert_eq!(s.days[DAYS - 1].total(), 0, "{host}");
        }
    }
}
