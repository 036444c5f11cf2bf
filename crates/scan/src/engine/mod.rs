//! The scan engine: workers (one per core) pull probes from a shared dispatcher, start TCP
//! connects and UDP sends, take answers that are known at once, await the rest with per-host
//! adaptive timeouts, retry silence, identify what answers on open ports, and report results
//! as they are concluded.

mod dispatch;
mod host;
mod icmp;
pub mod limits;
mod outcome;
mod plan;
mod prober;
pub mod syn;
mod tcp;
pub mod timing;
mod udp;

#[cfg(test)]
mod scripted_tests;

pub use outcome::Outcome;
pub use plan::TcpPlanner;

use crate::error::{Result, ScanError};
use crate::identify::{self, Identity};
use crate::model::{PortResult, PortState, Proto, Reason, ScanEvent};
use crate::ports::PortList;
use crate::targets::{TargetIter, TargetSet};
use dispatch::{Dispatcher, Probe, port_order};
use futures::FutureExt;
use futures::stream::{FuturesUnordered, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use host::{Canary, Emit, HostState, HostUp, Report, Silence};
use prober::{NetProber, Prober};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use timing::{CongestionWindow, RttEstimator, TimeoutBounds};
use tokio::sync::{Notify, mpsc};

/// Defaults, in one place.
pub mod defaults {
    use std::time::Duration;
    /// Retries of a silent port before it is called filtered (more when loss is seen).
    pub const RETRIES: u8 = 1;
    /// Never more retries than this.
    pub const MAX_RETRIES: u8 = 6;
    /// Hosts probed at the same time.
    pub const HOST_GROUP: usize = 256;
    /// Initial per-host congestion window.
    pub const INITIAL_WINDOW: u32 = 64;
    /// Smallest per-host window after losses.
    pub const MIN_WINDOW: u32 = 4;
    /// Largest window of a host probed with SYNs, unless `--max-parallel` says otherwise. A
    /// connect holds a descriptor, so the descriptor budget bounds connects in flight; a raw
    /// SYN holds nothing, and a window that grows with every answer grows past what the
    /// machine can answer in time. Measured here (1-65535 on one host, bench/syn.py): 512
    /// took 0.68-0.76 s on a netns host and 0.51-0.76 s on loopback where the unbounded window
    /// took 0.79-0.91 s and 1.13-1.28 s.
    pub const SYN_HOST_WINDOW: u32 = 512;
    /// Silent ports (after retries) with no proof of life before a host is called down.
    pub const DOWN_AFTER_SILENT: u32 = 128;
    /// Unreachable answers with no proof of life before a host is called down.
    pub const DOWN_AFTER_UNREACHABLE: u32 = 16;
    /// Minimum probe timeout.
    pub const MIN_RTT_TIMEOUT: Duration = Duration::from_millis(100);
    /// Maximum probe timeout.
    pub const MAX_RTT_TIMEOUT: Duration = Duration::from_secs(10);
    /// Timeout before a host's first RTT sample.
    pub const INITIAL_RTT_TIMEOUT: Duration = Duration::from_secs(1);
    /// Tries of a UDP port at most, however the pacing changes.
    pub const UDP_MAX_TRIES: u8 = 15;
    /// Ports probed first, so a live host proves itself early (the most common open ports).
    pub const DISCOVERY_PORTS: &[u16] = &[
        80, 443, 22, 21, 25, 3389, 445, 139, 135, 53, 8080, 23, 110, 143, 993, 995, 3306, 8443,
    ];
}

/// How TCP ports are probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TcpMethod {
    /// Decided per target ([`TcpPlanner`]): SYN probes for other machines when the process
    /// may open raw sockets, connects for this machine (loopback and its own addresses) and
    /// for every target without that privilege.
    Auto,
    /// Half-open SYN probes from a raw socket ([`syn`]) for every target; needs root or
    /// CAP_NET_RAW.
    Syn,
    /// Full connects through the kernel for every target; needs no privilege.
    #[default]
    Connect,
}

/// Validated scan options (build them with [`ScanConfig::builder`]).
#[derive(Debug, Clone)]
pub struct ScanConfig {
    retries: u8,
    max_retries: u8,
    timeouts: TimeoutBounds,
    max_parallel: usize,
    /// Whether `max_parallel` was set by the user (and then also bounds a SYN host's window).
    max_parallel_set: bool,
    rate: Option<NonZeroU32>,
    host_group: usize,
    report_all: bool,
    assume_up: bool,
    randomize: bool,
    workers: usize,
    identify: bool,
    tcp_method: TcpMethod,
    /// The plan the front end already made for this run, so both use the same one.
    tcp_planner: Option<Arc<TcpPlanner>>,
}

impl ScanConfig {
    /// A builder with the defaults.
    ///
    /// A careful scan of a slow network, every port reported, no host called down:
    ///
    /// ```
    /// use portwatch_scan::engine::{ScanConfig, TcpMethod};
    /// use std::time::Duration;
    ///
    /// let config = ScanConfig::builder()
    ///     .retries(3)
    ///     .max_rtt_timeout(Duration::from_secs(2))
    ///     .rate(200)
    ///     .report_all(true)
    ///     .assume_up(true)
    ///     .build()?;
    /// assert!(config.report_all() && config.assume_up());
    /// assert_eq!(config.tcp_method(), TcpMethod::Connect);
    /// let discovery = config.discover_options();
    /// assert_eq!(discovery.tries, 4);
    /// assert_eq!(discovery.timeouts.max, Duration::from_secs(2));
    ///
    /// // `build` checks every value.
    /// assert!(ScanConfig::builder().rate(0).build().is_err());
    /// # Ok::<(), portwatch_scan::ScanError>(())
    /// ```
    pub fn builder() -> ScanConfigBuilder {
        ScanConfigBuilder::default()
    }

    /// Whether closed and filtered ports are reported (not only counted).
    pub fn report_all(&self) -> bool {
        self.report_all
    }

    /// How TCP ports are to be probed, as asked (see [`ScanConfig::tcp_planner`]).
    pub fn tcp_method(&self) -> TcpMethod {
        self.tcp_method
    }

    /// Which method probes each target's TCP ports on this machine: the plan set with
    /// [`ScanConfig::with_tcp_planner`], or a new one from the machine as it is now; an error
    /// when SYN probes were asked for without raw-socket privilege.
    pub fn tcp_planner(&self) -> Result<Arc<TcpPlanner>> {
        match &self.tcp_planner {
            Some(planner) => Ok(planner.clone()),
            None => TcpPlanner::for_this_machine(self.tcp_method).map(Arc::new),
        }
    }

    /// The same configuration with `planner` as the plan of every run (a front end that
    /// reports the plan before the scan makes it once and passes it in).
    pub fn with_tcp_planner(&self, planner: Arc<TcpPlanner>) -> ScanConfig {
        ScanConfig {
            tcp_planner: Some(planner),
            ..self.clone()
        }
    }

    /// The largest congestion window of a host whose TCP ports are probed with `method`:
    /// the cap on probes in flight for connects, and for SYN probes
    /// [`defaults::SYN_HOST_WINDOW`] unless `--max-parallel` was given.
    pub fn host_window(&self, method: Option<crate::model::ProbeMethod>) -> u32 {
        let cap = u32::try_from(self.max_parallel).unwrap_or(u32::MAX);
        match method {
            Some(crate::model::ProbeMethod::Syn) if !self.max_parallel_set => {
                cap.min(defaults::SYN_HOST_WINDOW)
            }
            _ => cap,
        }
    }

    /// Whether every host is taken as up (no discovery, no down verdict).
    pub fn assume_up(&self) -> bool {
        self.assume_up
    }

    /// How the engine knows a host is up: assumed (`assume_up`) or probed.
    pub(crate) fn host_up(&self) -> HostUp {
        if self.assume_up {
            HostUp::Assumed
        } else {
            HostUp::Probed
        }
    }

    /// Whether a result in `state` is emitted or only counted: closed and filtered ports are
    /// emitted only with `report_all`.
    pub(crate) fn report_of(&self, state: PortState) -> Report {
        if self.report_all || state.shown_by_default() {
            Report::Shown
        } else {
            Report::Counted
        }
    }

    /// The same configuration with `assume_up` set (hosts that discovery found up).
    pub(crate) fn with_assume_up(&self, yes: bool) -> ScanConfig {
        ScanConfig {
            assume_up: yes,
            ..self.clone()
        }
    }

    /// The configuration of a connect-based liveness check: every result reported, no
    /// identification.
    pub(crate) fn for_liveness(&self) -> ScanConfig {
        ScanConfig {
            report_all: true,
            identify: false,
            assume_up: false,
            ..self.clone()
        }
    }

    /// Host discovery's share of the settings: tries, timeout bounds, rate.
    pub fn discover_options(&self) -> crate::discover::DiscoverOptions {
        crate::discover::DiscoverOptions {
            tries: 1 + self.retries,
            timeouts: self.timeouts,
            rate: self.rate,
        }
    }
}

/// Builder for [`ScanConfig`]; `build()` checks every value.
#[derive(Debug, Clone, Default)]
pub struct ScanConfigBuilder {
    retries: Option<u8>,
    max_retries: Option<u8>,
    min_rtt_timeout: Option<Duration>,
    max_rtt_timeout: Option<Duration>,
    initial_rtt_timeout: Option<Duration>,
    max_parallel: Option<usize>,
    rate: Option<u32>,
    host_group: Option<usize>,
    report_all: bool,
    assume_up: bool,
    sequential: bool,
    workers: Option<usize>,
    no_identify: bool,
    tcp_method: TcpMethod,
}

impl ScanConfigBuilder {
    /// Retries of a silent port (at least this many; more when losses are seen).
    pub fn retries(mut self, n: u8) -> Self {
        self.retries = Some(n);
        self
    }
    /// Upper bound of retries.
    pub fn max_retries(mut self, n: u8) -> Self {
        self.max_retries = Some(n);
        self
    }
    /// Lower bound of the adaptive timeout.
    pub fn min_rtt_timeout(mut self, d: Duration) -> Self {
        self.min_rtt_timeout = Some(d);
        self
    }
    /// Upper bound of the adaptive timeout.
    pub fn max_rtt_timeout(mut self, d: Duration) -> Self {
        self.max_rtt_timeout = Some(d);
        self
    }
    /// Timeout before the first RTT sample of a host.
    pub fn initial_rtt_timeout(mut self, d: Duration) -> Self {
        self.initial_rtt_timeout = Some(d);
        self
    }
    /// Cap on probes awaiting an answer at once (default: what the descriptor limit allows).
    pub fn max_parallel(mut self, n: usize) -> Self {
        self.max_parallel = Some(n);
        self
    }
    /// Cap on connects started per second.
    pub fn rate(mut self, per_second: u32) -> Self {
        self.rate = Some(per_second);
        self
    }
    /// Hosts probed at the same time.
    pub fn host_group(mut self, n: usize) -> Self {
        self.host_group = Some(n);
        self
    }
    /// Report closed and filtered ports too.
    pub fn report_all(mut self, yes: bool) -> Self {
        self.report_all = yes;
        self
    }
    /// Never call a host down; probe every port (nmap's `-Pn`).
    pub fn assume_up(mut self, yes: bool) -> Self {
        self.assume_up = yes;
        self
    }
    /// Probe ports in ascending order instead of common-first-then-shuffled.
    pub fn sequential(mut self, yes: bool) -> Self {
        self.sequential = yes;
        self
    }
    /// Identify what answers on open ports (NetBIOS, SMB, banners); on by default.
    pub fn identify(mut self, yes: bool) -> Self {
        self.no_identify = !yes;
        self
    }
    /// How TCP ports are probed (default: connects).
    pub fn tcp_method(mut self, method: TcpMethod) -> Self {
        self.tcp_method = method;
        self
    }
    /// Worker tasks (default: one per core).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }

    /// Checks every value and returns the configuration.
    pub fn build(self) -> Result<ScanConfig> {
        let bad = |option, reason: &str| ScanError::InvalidOption {
            option,
            reason: reason.to_string(),
        };
        let retries = self.retries.unwrap_or(defaults::RETRIES);
        let max_retries = self
            .max_retries
            .unwrap_or(defaults::MAX_RETRIES.max(retries));
        if retries > 20 || max_retries > 20 {
            return Err(bad("--retries", "at most 20 retries"));
        }
        if retries > max_retries {
            return Err(bad("--retries", "more than --max-retries"));
        }
        let timeouts = TimeoutBounds {
            min: self.min_rtt_timeout.unwrap_or(defaults::MIN_RTT_TIMEOUT),
            max: self.max_rtt_timeout.unwrap_or(defaults::MAX_RTT_TIMEOUT),
            initial: self
                .initial_rtt_timeout
                .unwrap_or(defaults::INITIAL_RTT_TIMEOUT),
        };
        if timeouts.min.is_zero() {
            return Err(bad("--min-rtt-timeout", "must be above zero"));
        }
        if timeouts.min > timeouts.max {
            return Err(bad("--min-rtt-timeout", "is above --max-rtt-timeout"));
        }
        let initial = timeouts.initial.clamp(timeouts.min, timeouts.max);
        let timeouts = TimeoutBounds {
            initial,
            ..timeouts
        };
        let budget = limits::probe_socket_budget();
        let max_parallel = match self.max_parallel {
            Some(0) => return Err(bad("--max-parallel", "must be at least 1")),
            Some(n) => n.min(budget),
            None => budget,
        };
        let rate = match self.rate {
            Some(0) => return Err(bad("--rate", "must be at least 1 per second")),
            Some(r) => NonZeroU32::new(r),
            None => None,
        };
        let workers = self
            .workers
            .unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
            })
            .clamp(1, 64)
            .min(max_parallel);
        Ok(ScanConfig {
            retries,
            max_retries,
            timeouts,
            max_parallel,
            max_parallel_set: self.max_parallel.is_some(),
            rate,
            host_group: self.host_group.unwrap_or(defaults::HOST_GROUP).max(1),
            report_all: self.report_all,
            assume_up: self.assume_up,
            randomize: !self.sequential,
            workers,
            identify: !self.no_identify,
            tcp_method: self.tcp_method,
            tcp_planner: None,
        })
    }
}

/// Live counters a front end can show while the scan runs.
#[derive(Debug, Default)]
pub struct ScanProgress {
    /// (host, port) pairs planned.
    pub total: AtomicU64,
    /// (host, port) pairs concluded or skipped.
    pub done: AtomicU64,
    /// Open ports found so far.
    pub open: AtomicU64,
}

/// Totals of a finished scan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanTotals {
    /// Hosts scanned.
    pub hosts: u64,
    /// Hosts found up.
    pub hosts_up: u64,
    /// Ports concluded.
    pub ports: u64,
    /// Open ports.
    pub open: u64,
    /// Closed ports.
    pub closed: u64,
    /// Filtered ports.
    pub filtered: u64,
    /// open|filtered ports.
    pub open_filtered: u64,
}

/// Runs a scan of `targets` × `ports` (TCP and UDP), sending events as results are
/// concluded. Returns when every host is finished or the receiver is dropped.
pub async fn run(
    cfg: &ScanConfig,
    targets: &TargetSet,
    ports: &PortList,
    events: mpsc::Sender<ScanEvent>,
    progress: Arc<ScanProgress>,
) -> Result<()> {
    run_on(
        cfg,
        targets.iter(),
        targets.count(),
        ports,
        events,
        progress,
    )
    .await
}

/// [`run`] over `count` targets from an iterator.
pub async fn run_on(
    cfg: &ScanConfig,
    targets: TargetIter,
    count: u128,
    ports: &PortList,
    events: mpsc::Sender<ScanEvent>,
    progress: Arc<ScanProgress>,
) -> Result<()> {
    let bounds = cfg.timeouts;
    run_with(cfg, targets, count, ports, events, progress, |seed| {
        NetProber::new(bounds, seed)
    })
    .await
}

/// [`run_on`] with the prober `prober` makes from the scan's seed.
async fn run_with<P: Prober>(
    cfg: &ScanConfig,
    targets: TargetIter,
    count: u128,
    ports: &PortList,
    events: mpsc::Sender<ScanEvent>,
    progress: Arc<ScanProgress>,
    prober: impl FnOnce(u64) -> P,
) -> Result<()> {
    if ports.is_empty() {
        return Ok(());
    }
    let total = count.saturating_mul(ports.len() as u128);
    progress
        .total
        .fetch_add(u64::try_from(total).unwrap_or(u64::MAX), Ordering::Relaxed);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id());
    let order = port_order(
        &ports.tcp,
        &ports.udp,
        defaults::DISCOVERY_PORTS,
        cfg.randomize,
        seed,
    );
    let port_count = ports.len() as u32;
    let bounds = cfg.timeouts;
    let windows = cfg.clone();
    let planner = (!ports.tcp.is_empty())
        .then(|| cfg.tcp_planner())
        .transpose()?;
    let new_host = Box::new(move |target: crate::targets::Target| {
        let tcp = planner.as_ref().map(|p| p.method_for(target.addr));
        HostState::new(
            target,
            port_count,
            tcp,
            RttEstimator::new(bounds),
            CongestionWindow::new(
                defaults::INITIAL_WINDOW,
                defaults::MIN_WINDOW,
                windows.host_window(tcp),
            ),
        )
    });
    let dispatcher = Dispatcher::new(targets, order, cfg.host_group, new_host);
    let rate = cfg.rate.map(pacer);
    let ctx = Arc::new(Ctx {
        dispatcher: Mutex::new(dispatcher),
        cfg: cfg.clone(),
        events,
        progress,
        capacity: Notify::new(),
        rate,
        fatal: Mutex::new(None),
        prober: prober(seed),
    });
    let per_worker = (cfg.max_parallel / cfg.workers).max(1);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..cfg.workers {
        workers.spawn(worker(ctx.clone(), per_worker));
    }
    while let Some(joined) = workers.join_next().await {
        if let Err(e) = joined
            && e.is_panic()
        {
            std::panic::resume_unwind(e.into_panic());
        }
    }
    let fatal = ctx
        .fatal
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    match fatal {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// A limiter of `per_second` starts, evenly spaced: bursts of at most 1% of the rate (at
/// least one start), so that no second sees more than the rate and a bit, while a high rate
/// still catches up after a late timer. (A quota's default burst is the whole rate: twice
/// the rate in the first second.)
pub(crate) fn pacer(per_second: NonZeroU32) -> DefaultDirectRateLimiter {
    let burst = NonZeroU32::new(per_second.get() / 100).unwrap_or(NonZeroU32::MIN);
    RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst))
}

struct Ctx<P> {
    dispatcher: Mutex<Dispatcher>,
    cfg: ScanConfig,
    events: mpsc::Sender<ScanEvent>,
    progress: Arc<ScanProgress>,
    capacity: Notify,
    rate: Option<DefaultDirectRateLimiter>,
    fatal: Mutex<Option<ScanError>>,
    /// Starts the tries and identifications the workers decide on.
    prober: P,
}

type TryFuture = Pin<Box<dyn std::future::Future<Output = (Probe, Outcome, Duration)> + Send>>;

/// Batch of probes a worker takes from the dispatcher under one lock.
const TAKE_BATCH: usize = 64;
/// Probes started between two yields to the scheduler.
const YIELD_EVERY: u32 = 256;

/// A worker stops early when the receiver is gone or a fatal error was recorded.
struct Stop;

/// What the worker does after a try was folded in.
enum Next {
    /// The port is concluded (or nothing else to do).
    Done,
    /// Try again: at the front of the queue (confirmations) or at the back (retries).
    Requeue(Probe, bool),
    /// The port is open: identify what answers before reporting it.
    Identify(Probe),
}

/// How a probe was started.
enum Started {
    /// The answer was known at once.
    Done(Probe, Outcome, Duration),
    /// The answer will come from this future.
    Waiting(TryFuture),
}

async fn worker<P: Prober>(ctx: Arc<Ctx<P>>, mut cap: usize) {
    let mut inflight: FuturesUnordered<TryFuture> = FuturesUnordered::new();
    let mut queue: VecDeque<Probe> = VecDeque::new();
    let mut batch = Vec::with_capacity(TAKE_BATCH);
    let mut finished = Vec::new();
    let mut local = P::Local::default();
    let floor = cap.min(16);
    loop {
        let mut pushed_back = false;
        let mut started = 0u32;
        while inflight.len() < cap {
            if queue.is_empty() {
                let room = TAKE_BATCH.min(cap - inflight.len());
                ctx.lock_dispatcher().take(&mut batch, room, &mut finished);
                queue.extend(batch.drain(..));
                for host in finished.drain(..) {
                    if ctx.finish_host(&host).await.is_err() {
                        return;
                    }
                }
                if queue.is_empty() {
                    break;
                }
            }
            let Some(probe) = queue.pop_front() else {
                break;
            };
            if let Some(rate) = &ctx.rate {
                rate.until_ready().await;
            }
            let (probe, outcome, rtt) = match ctx.prober.start(probe, &mut local) {
                Ok(Started::Done(probe, outcome, rtt)) => (probe, outcome, rtt),
                Ok(Started::Waiting(mut future)) => {
                    // SYN and UDP probes send their packet when first polled, and the probes
                    // in flight are polled only once this loop stops starting new ones: under
                    // a rate that is many paced starts later, and their packets would all go
                    // out together. Poll it now, when the limiter allowed the start.
                    if ctx.rate.is_some()
                        && let std::task::Poll::Ready(done) = futures::poll!(future.as_mut())
                    {
                        done
                    } else {
                        inflight.push(future);
                        continue;
                    }
                }
                Err(e) => {
                    ctx.fail(e);
                    return;
                }
            };
            if outcome == Outcome::Pushback {
                queue.push_front(probe);
                cap = (inflight.len() * 3 / 4).max(floor);
                pushed_back = true;
                break;
            }
            match ctx.on_try(probe, outcome, rtt).await {
                Ok(next) => follow(&ctx, next, &mut queue, &mut inflight),
                Err(Stop) => return,
            }
            started += 1;
            if started >= YIELD_EVERY {
                started = 0;
                tokio::task::yield_now().await;
                if ctx.stopped() {
                    return;
                }
            }
        }
        if inflight.is_empty() {
            if pushed_back {
                tokio::time::sleep(Duration::from_millis(2)).await;
                continue;
            }
            if queue.is_empty() && ctx.lock_dispatcher().is_exhausted() {
                return;
            }
            if ctx.stopped() {
                return;
            }
            // Every host's window is held by another worker's probes: wait for room.
            let _ = tokio::time::timeout(Duration::from_millis(5), ctx.capacity.notified()).await;
            continue;
        }
        let mut next = inflight.next().await;
        while let Some((probe, outcome, rtt)) = next {
            if outcome == Outcome::Pushback {
                cap = (inflight.len() * 3 / 4).max(floor);
            }
            match ctx.on_try(probe, outcome, rtt).await {
                Ok(n) => follow(&ctx, n, &mut queue, &mut inflight),
                Err(Stop) => return,
            }
            next = inflight.next().now_or_never().flatten();
        }
        if !pushed_back && cap < ctx.cfg.max_parallel / ctx.cfg.workers {
            cap += 1;
        }
    }
}

fn follow<P: Prober>(
    ctx: &Ctx<P>,
    next: Next,
    queue: &mut VecDeque<Probe>,
    inflight: &mut FuturesUnordered<TryFuture>,
) {
    match next {
        Next::Done => {}
        Next::Requeue(probe, true) => queue.push_front(probe),
        Next::Requeue(probe, false) => queue.push_back(probe),
        Next::Identify(probe) => inflight.push(ctx.prober.identify(probe)),
    }
}

impl<P: Prober> Ctx<P> {
    fn lock_dispatcher(&self) -> std::sync::MutexGuard<'_, Dispatcher> {
        self.dispatcher
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn fail(&self, e: ScanError) {
        self.fatal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_or_insert(e);
    }

    fn stopped(&self) -> bool {
        self.events.is_closed()
            || self
                .fatal
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .is_some()
    }

    /// Folds one try's outcome: conclude the port, or say what to do next.
    async fn on_try(
        &self,
        mut probe: Probe,
        outcome: Outcome,
        rtt: Duration,
    ) -> Result<Next, Stop> {
        let host = probe.host.clone();
        let target = SocketAddr::new(host.target.addr, probe.port);
        let rtt_ms = |rtt: Duration| Some((rtt.as_secs_f64() * 1e6).round() / 1e3);
        let (state, reason, identity, rtt_ms) = match outcome {
            Outcome::Pushback => return Ok(Next::Requeue(probe, false)),
            Outcome::Timeout | Outcome::Silent { .. } => {
                let silence = match (probe.proto, outcome) {
                    (Proto::Tcp, _) => Silence::Counts,
                    (Proto::Udp, outcome) => {
                        let canary = match outcome {
                            Outcome::Silent { clean: true } => Canary::Answered,
                            Outcome::Silent { clean: false } => Canary::Silent,
                            _ => Canary::NotProbed,
                        };
                        match std::time::Instant::now().checked_sub(rtt) {
                            Some(sent_at) => host.judge_udp_silence(canary, sent_at),
                            None => Silence::Inconclusive,
                        }
                    }
                };
                if self.retry_after_silence(&mut probe, silence) {
                    return Ok(Next::Requeue(probe, false));
                }
                match probe.proto {
                    Proto::Tcp => (PortState::Filtered, Reason::Timeout, None, None),
                    Proto::Udp => (PortState::OpenFiltered, Reason::NoResponse, None, None),
                }
            }
            Outcome::Connected { local } => {
                host.on_answer(probe.try_no, Some(rtt));
                if tcp::is_self_connect(local, target) {
                    // The kernel picked the target port as our source port: nobody listens.
                    if probe.self_connects < 3 {
                        probe.self_connects += 1;
                        return Ok(Next::Requeue(probe, true));
                    }
                    (PortState::Closed, Reason::ConnRefused, None, rtt_ms(rtt))
                } else if tcp::needs_confirmation(local, target) && !probe.confirming {
                    probe.confirming = true;
                    return Ok(Next::Requeue(probe, true));
                } else if self.cfg.identify {
                    probe.rtt = Some(rtt);
                    return Ok(Next::Identify(probe));
                } else {
                    (PortState::Open, Reason::SynAck, None, rtt_ms(rtt))
                }
            }
            Outcome::HalfOpen => {
                host.on_answer(probe.try_no, Some(rtt));
                if self.cfg.identify {
                    probe.rtt = Some(rtt);
                    return Ok(Next::Identify(probe));
                }
                (PortState::Open, Reason::SynAck, None, rtt_ms(rtt))
            }
            Outcome::Identified(identity) => (
                PortState::Open,
                Reason::SynAck,
                Some(*identity),
                rtt_ms(rtt),
            ),
            Outcome::Response(bytes) => {
                host.on_answer(probe.try_no, Some(rtt));
                host.on_udp_answer(probe.try_no, probe.previous_generation);
                let identity = self.cfg.identify.then(|| identify::udp(probe.port, &bytes));
                (PortState::Open, Reason::UdpResponse, identity, rtt_ms(rtt))
            }
            Outcome::Answer(state, reason) => {
                host.on_answer(probe.try_no, Some(rtt));
                if probe.proto == Proto::Udp {
                    host.on_udp_answer(probe.try_no, probe.previous_generation);
                    if reason == Reason::PortUnreach {
                        host.set_udp_canary(probe.port);
                    }
                }
                (state, reason, None, rtt_ms(rtt))
            }
        };
        self.conclude(&host, &probe, state, reason, rtt_ms, identity)
            .await?;
        Ok(Next::Done)
    }

    /// Whether a silent port gets another try (and prepares it). A UDP silence counts against
    /// the port only as `HostState::judge_udp_silence` says; a spent budget slows the host.
    fn retry_after_silence(&self, probe: &mut Probe, silence: Silence) -> bool {
        let host = &probe.host;
        if host.is_abandoned() {
            return false;
        }
        let more = match probe.proto {
            Proto::Tcp => probe.try_no < host.allowed_tries(self.cfg.retries, self.cfg.max_retries),
            Proto::Udp => {
                match silence {
                    Silence::Counts => probe.clean_silences += 1,
                    Silence::BudgetSpent => host.on_udp_inconclusive(),
                    Silence::Inconclusive => {}
                }
                probe.clean_silences <= self.cfg.retries && probe.try_no < defaults::UDP_MAX_TRIES
            }
        };
        if more {
            probe.try_no += 1;
            probe.previous_generation = probe.generation;
        }
        more
    }

    async fn conclude(
        &self,
        host: &Arc<HostState>,
        probe: &Probe,
        state: PortState,
        reason: Reason,
        rtt_ms: Option<f64>,
        identity: Option<Identity>,
    ) -> Result<(), Stop> {
        host.probe_ended();
        self.capacity.notify_waiters();
        self.progress.done.fetch_add(1, Ordering::Relaxed);
        if state == PortState::Open {
            self.progress.open.fetch_add(1, Ordering::Relaxed);
        }
        let report = self.cfg.report_of(state);
        if report == Report::Counted && identity.is_none() && host.count_only(state, reason) {
            return self.after_conclusion(host).await;
        }
        let transport = probe.proto.transport();
        let (service, details) = match identity {
            Some(id) => (id.service, id.details),
            None => (None, serde_json::Map::new()),
        };
        let service = service
            .or_else(|| portwatch_kb::service_name(probe.port, transport).map(str::to_string));
        let result = PortResult {
            host: host.target.addr,
            hostname: host.target.hostname.as_deref().map(str::to_string),
            port: probe.port,
            proto: probe.proto,
            state,
            reason,
            service,
            rtt_ms,
            details,
            risk: matches!(state, PortState::Open | PortState::OpenFiltered)
                .then(|| crate::model::PortRisk::of(probe.port, probe.proto)),
        };
        if let Emit::Results(results) = host.record(result, report, self.cfg.host_up()) {
            for r in results {
                self.send(ScanEvent::Port(r)).await?;
            }
        }
        if self.cfg.host_up() == HostUp::Probed
            && host.should_abandon(
                defaults::DOWN_AFTER_SILENT,
                defaults::DOWN_AFTER_UNREACHABLE,
            )
        {
            host.give_up();
        }
        self.after_conclusion(host).await
    }

    async fn after_conclusion(&self, host: &Arc<HostState>) -> Result<(), Stop> {
        if host.conclude(1) {
            self.finish_host(host).await?;
        }
        Ok(())
    }

    async fn finish_host(&self, host: &Arc<HostState>) -> Result<(), Stop> {
        let Some((summary, held)) = host.finish(self.cfg.host_up()) else {
            return Ok(());
        };
        self.progress
            .done
            .fetch_add(u64::from(summary.ports_skipped), Ordering::Relaxed);
        for r in held {
            self.send(ScanEvent::Port(r)).await?;
        }
        self.send(ScanEvent::Host(summary)).await
    }

    async fn send(&self, event: ScanEvent) -> Result<(), Stop> {
        self.events.send(event).await.map_err(|_| Stop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Starts allowed at once, with no time to earn more: one at a low rate, 1% of a high one.
    fn at_once(per_second: u32) -> usize {
        let pacer = pacer(NonZeroU32::new(per_second).unwrap());
        (0..1000).take_while(|_| pacer.check().is_ok()).count()
    }

    #[test]
    fn a_syn_host_window_is_bounded_unless_max_parallel_is_given() {
        use crate::model::ProbeMethod;
        let default = ScanConfig::builder().build().unwrap();
        assert_eq!(
            default.host_window(Some(ProbeMethod::Syn)),
            defaults::SYN_HOST_WINDOW.min(default.max_parallel as u32)
        );
        assert_eq!(
            default.host_window(Some(ProbeMethod::Connect)),
            u32::try_from(default.max_parallel).unwrap_or(u32::MAX)
        );
        let wide = ScanConfig::builder().max_parallel(800).build().unwrap();
        let expected = 800.min(wide.max_parallel) as u32;
        assert_eq!(wide.host_window(Some(ProbeMethod::Syn)), expected);
        let narrow = ScanConfig::builder().max_parallel(100).build().unwrap();
        assert_eq!(narrow.host_window(Some(ProbeMethod::Syn)), 100);
    }

    #[test]
    fn the_pacer_allows_bursts_of_one_percent_of_the_rate_at_most() {
        assert_eq!(at_once(10), 1);
        assert_eq!(at_once(199), 1);
        let fast = at_once(20_000);
        assert!((200..=210).contains(&fast), "{fast}");
    }
}
