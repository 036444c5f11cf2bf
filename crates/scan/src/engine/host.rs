//! Per-host bookkeeping: timing, congestion window, counts, proof of life, and the buffer
//! that holds "filtered" results until the host is known to be up (a host that never
//! answers is reported once as down, not as thousands of filtered ports).

use super::timing::{CongestionWindow, RttEstimator};
use crate::model::{HostStatus, HostSummary, PortResult, PortState, ProbeMethod, Reason};
use crate::targets::Target;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Everything the engine tracks about one host while it is being scanned.
pub struct HostState {
    /// The host.
    pub target: Target,
    /// How its TCP ports are probed (`None` when the scan has no TCP ports).
    pub tcp: Option<ProbeMethod>,
    timing: Mutex<Timing>,
    /// Probes handed out and not yet concluded.
    inflight: AtomicU32,
    /// Copy of the congestion window, read without locking.
    cwnd: AtomicU32,
    /// Ports not yet concluded (or skipped).
    outstanding: AtomicU32,
    /// Set once anything proves the host is there.
    responded: AtomicBool,
    /// Set when the host was given up as down; no new probes are started.
    abandoned: AtomicBool,
    /// Conclusive "no proof of life" results seen so far.
    silent: AtomicU32,
    unreachable: AtomicU32,
    finalized: AtomicBool,
    /// A UDP port of this host that answered "port unreachable" (0: none yet).
    udp_canary: AtomicU32,
    counts: Counts,
    results: Mutex<Tally>,
}

struct Timing {
    rtt: RttEstimator,
    cwnd: CongestionWindow,
    max_successful_try: u8,
    udp: UdpPacing,
}

/// Spacing of UDP probes to one host. Hosts limit the ICMP errors they send (Linux: one per
/// second after a burst of six), so a closed port probed too fast looks silent. The gap
/// starts at zero and doubles (from 100 ms, up to 1 s, like nmap's UDP scan delay) each time a
/// retry is answered whose previous try was sent at the current pace, and each time a try
/// and its canary both go unanswered. Each change of pace is a new *generation*.
struct UdpPacing {
    gap: Duration,
    next: Instant,
    generation: u32,
    /// When the host's first UDP probe went out.
    first_send: Option<Instant>,
}

/// First gap once ICMP rate limiting is detected.
const UDP_FIRST_GAP: Duration = Duration::from_millis(100);
/// Longest gap between two UDP probes to one host.
const UDP_MAX_GAP: Duration = Duration::from_secs(1);
/// Time in which the most frugal common ICMP limiter (Linux: `icmp_ratelimit`, 1000 ms) earns
/// one error message, however spent its budget was.
const UDP_BUDGET_REFILL: Duration = Duration::from_secs(1);

/// What was learned from the canary probed right after a silent UDP try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canary {
    /// No canary was probed with the try.
    NotProbed,
    /// The canary answered "port unreachable": the host had budget for the try too.
    Answered,
    /// The canary stayed silent as well: the host's budget was spent.
    Silent,
}

/// What a silent UDP try says about its port ([`HostState::judge_udp_silence`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Silence {
    /// The host could have answered: the silence counts against the port.
    Counts,
    /// The host may have been out of budget: retry, the silence proves nothing.
    Inconclusive,
    /// The try and its canary both went unanswered: retry, and slow the host's pace.
    BudgetSpent,
}

#[derive(Default)]
struct Tally {
    skipped: u32,
    /// Results held back until the host proves it is up.
    held: Vec<PortResult>,
    down_reason: Option<Reason>,
}

/// Per-state counters, updated without a lock on the hot path.
#[derive(Default)]
struct Counts {
    open: AtomicU32,
    closed: AtomicU32,
    filtered: AtomicU32,
    open_filtered: AtomicU32,
}

impl Counts {
    fn add(&self, state: PortState) {
        let slot = match state {
            PortState::Open => &self.open,
            PortState::Closed => &self.closed,
            PortState::Filtered => &self.filtered,
            PortState::OpenFiltered => &self.open_filtered,
        };
        slot.fetch_add(1, Ordering::Relaxed);
    }
}

/// Whether the front end wants a concluded result or only its count
/// ([`super::ScanConfig::report_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// The result is emitted (held back until the host proves up, unless assumed up).
    Shown,
    /// The result is only counted.
    Counted,
}

/// How a host is known to be up ([`super::ScanConfig::host_up`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostUp {
    /// By an answer that proves it: results are held until one comes, and a host without
    /// one is down.
    Probed,
    /// Taken as up (`assume_up`): nothing is held and the host is never called down.
    Assumed,
}

/// What a recorded result asks the engine to emit now.
pub enum Emit {
    /// Nothing (held back or not reported).
    Nothing,
    /// These results.
    Results(Vec<PortResult>),
}

impl HostState {
    /// Starts tracking `target` with `ports` ports to conclude, its TCP ports probed by `tcp`.
    pub fn new(
        target: Target,
        ports: u32,
        tcp: Option<ProbeMethod>,
        rtt: RttEstimator,
        cwnd: CongestionWindow,
    ) -> Self {
        HostState {
            target,
            tcp,
            timing: Mutex::new(Timing {
                rtt,
                cwnd,
                max_successful_try: 1,
                udp: UdpPacing {
                    gap: Duration::ZERO,
                    next: Instant::now(),
                    generation: 0,
                    first_send: None,
                },
            }),
            inflight: AtomicU32::new(0),
            cwnd: AtomicU32::new(cwnd.get()),
            outstanding: AtomicU32::new(ports),
            responded: AtomicBool::new(false),
            abandoned: AtomicBool::new(false),
            silent: AtomicU32::new(0),
            unreachable: AtomicU32::new(0),
            finalized: AtomicBool::new(false),
            udp_canary: AtomicU32::new(0),
            counts: Counts::default(),
            results: Mutex::new(Tally::default()),
        }
    }

    fn timing(&self) -> std::sync::MutexGuard<'_, Timing> {
        self.timing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.results
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether another probe may start now (window not full, host not given up).
    pub fn has_capacity(&self) -> bool {
        !self.is_abandoned()
            && self.inflight.load(Ordering::Relaxed) < self.cwnd.load(Ordering::Relaxed)
    }

    /// Counts a probe as started.
    pub fn probe_started(&self) {
        self.inflight.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a probe as concluded (no longer in flight).
    pub fn probe_ended(&self) {
        self.inflight.fetch_sub(1, Ordering::Relaxed);
    }

    /// The congestion window as it stands.
    #[cfg(test)]
    pub fn window(&self) -> u32 {
        self.cwnd.load(Ordering::Relaxed)
    }

    /// The timeout for the next try.
    pub fn timeout(&self) -> Duration {
        self.timing().rtt.timeout()
    }

    /// How many tries a port gets before it is called filtered: one more than the most any
    /// answered port needed, at least two, at most `1 + max_retries`.
    pub fn allowed_tries(&self, min_retries: u8, max_retries: u8) -> u8 {
        let needed = self.timing().max_successful_try.saturating_add(1);
        needed.max(1 + min_retries).min(1 + max_retries)
    }

    /// Folds an answer into timing and the window; `try_no` starts at 1.
    pub fn on_answer(&self, try_no: u8, rtt: Option<Duration>) {
        let mut t = self.timing();
        if let Some(rtt) = rtt {
            t.rtt.sample(rtt);
        }
        if try_no > 1 {
            // The earlier try went unanswered although the port answers: a loss.
            t.cwnd.on_loss();
            t.max_successful_try = t.max_successful_try.max(try_no);
        } else {
            t.cwnd.on_answer();
        }
        self.cwnd.store(t.cwnd.get(), Ordering::Relaxed);
    }

    /// Reserves the next UDP send slot: when to send, and the pacing generation it belongs to.
    pub fn reserve_udp_slot(&self) -> (Instant, u32) {
        self.reserve_udp_slot_at(Instant::now())
    }

    /// [`HostState::reserve_udp_slot`] with `now` given.
    fn reserve_udp_slot_at(&self, now: Instant) -> (Instant, u32) {
        let mut t = self.timing();
        let at = t.udp.next.max(now);
        t.udp.next = at + t.udp.gap;
        t.udp.first_send.get_or_insert(at);
        (at, t.udp.generation)
    }

    /// What a silent UDP try sent at `sent_at` says about its port: the engine's one rule for
    /// UDP silence. Hosts ration their ICMP errors, so a closed port may be silent; a silence
    /// counts only when the host has shown it could have answered it.
    /// - A canary was probed right after the try: the silence counts if the canary answered
    ///   (the limiter hands out tokens in arrival order, so the try had one to spare); if the
    ///   canary was silent too, the budget is spent.
    /// - No canary was probed, but the host has one: it does send errors and may have been out
    ///   of budget, so the try is inconclusive (its retry probes the canary).
    /// - The host has no canary: the silence counts if the try was sent at least
    ///   [`UDP_BUDGET_REFILL`] after the host's first UDP probe. By then a host whose budget
    ///   was spent has earned an error again (silent probes spend none), so a closed port
    ///   probed then would have answered and become the canary. An earlier silence is
    ///   inconclusive, and the host's next probes wait for that moment instead of using up
    ///   tries. A host with nothing closed to say (everything dropped or open|filtered, or no
    ///   ICMP at all) is thus concluded one refill after its first probe, at full pace.
    ///
    /// The canary is looked at when the silence is judged, a timeout after the send: an
    /// answer that came in meanwhile (from any port) is known by then.
    pub fn judge_udp_silence(&self, canary: Canary, sent_at: Instant) -> Silence {
        match canary {
            Canary::Answered => return Silence::Counts,
            Canary::Silent => return Silence::BudgetSpent,
            Canary::NotProbed if self.udp_canary().is_some() => return Silence::Inconclusive,
            Canary::NotProbed => {}
        }
        let mut t = self.timing();
        let Some(refilled) = t.udp.first_send.map(|first| first + UDP_BUDGET_REFILL) else {
            return Silence::Inconclusive;
        };
        if sent_at >= refilled {
            return Silence::Counts;
        }
        t.udp.next = t.udp.next.max(refilled);
        Silence::Inconclusive
    }

    /// A UDP port answered on try `try_no`; `previous_generation` is when the try before it
    /// was sent. An answer to a retry whose lost predecessor was sent at the current pace
    /// means the pace is too fast: double the gap.
    pub fn on_udp_answer(&self, try_no: u8, previous_generation: u32) {
        let mut t = self.timing();
        if try_no > 1 && previous_generation == t.udp.generation && t.udp.gap < UDP_MAX_GAP {
            t.udp.gap = (t.udp.gap * 2).clamp(UDP_FIRST_GAP, UDP_MAX_GAP);
            t.udp.generation += 1;
            t.udp.next = Instant::now() + t.udp.gap;
        }
    }

    /// An inconclusive UDP try (the port and the canary both silent): the host's ICMP budget
    /// ran out, so slow down.
    pub fn on_udp_inconclusive(&self) {
        let mut t = self.timing();
        if t.udp.gap < UDP_MAX_GAP {
            t.udp.gap = (t.udp.gap * 2).clamp(UDP_FIRST_GAP, UDP_MAX_GAP);
            t.udp.generation += 1;
        }
    }

    /// Remembers a UDP port that answered "port unreachable", to serve as the canary.
    pub fn set_udp_canary(&self, port: u16) {
        self.udp_canary
            .store(u32::from(port) + 1, Ordering::Relaxed);
    }

    /// The canary port, if any UDP port of this host answered "port unreachable".
    pub fn udp_canary(&self) -> Option<u16> {
        match self.udp_canary.load(Ordering::Relaxed) {
            0 => None,
            n => u16::try_from(n - 1).ok(),
        }
    }

    /// Smoothed RTT so far.
    pub fn srtt(&self) -> Option<Duration> {
        self.timing().rtt.srtt()
    }

    /// Whether the host was given up as down.
    pub fn is_abandoned(&self) -> bool {
        self.abandoned.load(Ordering::Relaxed)
    }

    /// Whether a result with `reason` that the front end did not ask for can be dropped after
    /// counting it: it proves nothing new about the host. Such results skip `record`.
    pub fn count_only(&self, state: PortState, reason: Reason) -> bool {
        if reason.proves_host_up() && self.responded.load(Ordering::Relaxed) {
            self.counts.add(state);
            return true;
        }
        false
    }

    /// Records a concluded port. `report` says whether the front end wants this result
    /// (it always counts). [`HostUp::Assumed`] disables holding and the down verdict.
    pub fn record(&self, result: PortResult, report: Report, up: HostUp) -> Emit {
        self.counts.add(result.state);
        let proof = result.reason.proves_host_up();
        let mut tally = self.tally();
        if proof {
            let first = !self.responded.swap(true, Ordering::Relaxed);
            let mut out = if first {
                std::mem::take(&mut tally.held)
            } else {
                Vec::new()
            };
            if report == Report::Shown {
                out.push(result);
            }
            return Emit::Results(out);
        }
        if matches!(result.reason, Reason::HostUnreach | Reason::NetUnreach) {
            self.unreachable.fetch_add(1, Ordering::Relaxed);
        }
        self.silent.fetch_add(1, Ordering::Relaxed);
        tally.down_reason.get_or_insert(result.reason);
        if report == Report::Counted {
            return Emit::Nothing;
        }
        if up == HostUp::Assumed || self.responded.load(Ordering::Relaxed) {
            Emit::Results(vec![result])
        } else {
            tally.held.push(result);
            Emit::Nothing
        }
    }

    /// Whether the evidence says the host is down and the rest of its ports should be
    /// skipped: no proof of life, and either several unreachable answers or many silent ports.
    pub fn should_abandon(&self, silent_limit: u32, unreachable_limit: u32) -> bool {
        !self.responded.load(Ordering::Relaxed)
            && (self.silent.load(Ordering::Relaxed) >= silent_limit
                || self.unreachable.load(Ordering::Relaxed) >= unreachable_limit)
    }

    /// Gives the host up as down: no new probes start; the dispatcher skips its other ports.
    pub fn give_up(&self) {
        self.abandoned.store(true, Ordering::Relaxed);
    }

    /// Counts `n` ports as skipped and concluded; true when this concluded the host.
    pub fn skip(&self, n: u32) -> bool {
        if n == 0 {
            return false;
        }
        self.tally().skipped += n;
        self.conclude(n)
    }

    /// Whether every port of the host is concluded (or skipped).
    pub fn is_concluded(&self) -> bool {
        self.outstanding.load(Ordering::Acquire) == 0
    }

    /// Marks `n` ports as concluded; true when this was the last of them.
    pub fn conclude(&self, n: u32) -> bool {
        n > 0 && self.outstanding.fetch_sub(n, Ordering::AcqRel) == n
    }

    /// The host's summary and any held results to emit with it; `None` if already done.
    pub fn finish(&self, up: HostUp) -> Option<(HostSummary, Vec<PortResult>)> {
        if self.finalized.swap(true, Ordering::AcqRel) {
            return None;
        }
        let mut tally = self.tally();
        let up = up == HostUp::Assumed || self.responded.load(Ordering::Relaxed);
        let held = std::mem::take(&mut tally.held);
        let c = &self.counts;
        let (open, closed, filtered, open_filtered) = (
            c.open.load(Ordering::Relaxed),
            c.closed.load(Ordering::Relaxed),
            c.filtered.load(Ordering::Relaxed),
            c.open_filtered.load(Ordering::Relaxed),
        );
        let summary = HostSummary {
            host: self.target.addr,
            hostname: self.target.hostname.as_deref().map(str::to_string),
            status: if up { HostStatus::Up } else { HostStatus::Down },
            reason: if up {
                None
            } else {
                tally.down_reason.or(Some(Reason::Timeout))
            },
            ports_scanned: open + closed + filtered + open_filtered,
            ports_skipped: tally.skipped,
            open,
            closed,
            filtered,
            open_filtered,
            srtt_ms: self.srtt().map(|d| d.as_secs_f64() * 1e3),
            tcp_method: self.tcp,
        };
        Some((summary, if up { held } else { Vec::new() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::timing::TimeoutBounds;

    fn host() -> HostState {
        let target = Target {
            addr: "10.242.3.2".parse().unwrap(),
            hostname: None,
        };
        HostState::new(
            target,
            2,
            None,
            RttEstimator::new(TimeoutBounds::default()),
            CongestionWindow::new(64, 4, 1024),
        )
    }

    const NOT_PROBED: Canary = Canary::NotProbed;

    #[test]
    fn without_a_canary_silence_counts_from_one_refill_after_the_first_probe() {
        let host = host();
        let t0 = Instant::now();
        assert_eq!(host.reserve_udp_slot_at(t0).0, t0);
        // Tries sent with the first ones find the budget as an earlier scan left it.
        assert_eq!(
            host.judge_udp_silence(NOT_PROBED, t0),
            Silence::Inconclusive
        );
        let almost = (t0 + UDP_BUDGET_REFILL)
            .checked_sub(Duration::from_millis(1))
            .unwrap();
        assert_eq!(
            host.judge_udp_silence(NOT_PROBED, almost),
            Silence::Inconclusive
        );
        // One refill later the host could have answered.
        let refilled = t0 + UDP_BUDGET_REFILL;
        assert_eq!(
            host.judge_udp_silence(NOT_PROBED, refilled),
            Silence::Counts
        );
        let later = t0 + 5 * UDP_BUDGET_REFILL;
        assert_eq!(host.judge_udp_silence(NOT_PROBED, later), Silence::Counts);
    }

    #[test]
    fn an_early_silence_holds_the_next_probes_until_the_refill() {
        let host = host();
        let t0 = Instant::now();
        host.reserve_udp_slot_at(t0);
        let judged = t0 + Duration::from_millis(100);
        assert_eq!(
            host.judge_udp_silence(NOT_PROBED, t0),
            Silence::Inconclusive
        );
        let (at, _) = host.reserve_udp_slot_at(judged);
        assert_eq!(at, t0 + UDP_BUDGET_REFILL);
        // The pace itself is unchanged: the probes after it go out together.
        assert_eq!(host.reserve_udp_slot_at(judged).0, t0 + UDP_BUDGET_REFILL);
        assert_eq!(host.judge_udp_silence(NOT_PROBED, at), Silence::Counts);
    }

    #[test]
    fn later_slots_do_not_move_the_first_probe() {
        let host = host();
        let t0 = Instant::now();
        host.reserve_udp_slot_at(t0);
        host.reserve_udp_slot_at(t0 + Duration::from_secs(3));
        let refilled = t0 + UDP_BUDGET_REFILL;
        assert_eq!(
            host.judge_udp_silence(NOT_PROBED, refilled),
            Silence::Counts
        );
    }

    #[test]
    fn silence_before_any_reserved_probe_is_inconclusive() {
        let host = host();
        let now = Instant::now();
        assert_eq!(
            host.judge_udp_silence(NOT_PROBED, now),
            Silence::Inconclusive
        );
    }

    #[test]
    fn once_a_port_answered_only_an_answering_canary_makes_silence_count() {
        let host = host();
        let t0 = Instant::now();
        host.reserve_udp_slot_at(t0);
        host.set_udp_canary(20001);
        assert_eq!(host.udp_canary(), Some(20001));
        let later = t0 + 5 * UDP_BUDGET_REFILL;
        // The host sends errors: a try with no canary beside it may have found none left.
        assert_eq!(
            host.judge_udp_silence(NOT_PROBED, later),
            Silence::Inconclusive
        );
        assert_eq!(
            host.judge_udp_silence(Canary::Silent, later),
            Silence::BudgetSpent
        );
        assert_eq!(
            host.judge_udp_silence(Canary::Answered, t0),
            Silence::Counts
        );
    }
}
