//! The engine's workers driven by a scripted prober under tokio's paused clock: retries,
//! timeouts, the congestion window, the retry cap and the down verdict, deterministic and in
//! milliseconds of test time. Nothing here opens a socket.

use super::dispatch::Probe;
use super::host::HostState;
use super::prober::Prober;
use super::timing::within_timeout;
use super::{Outcome, ScanConfig, ScanProgress, Started, TryFuture, run_with};
use crate::error::Result;
use crate::model::{HostStatus, HostSummary, PortResult, PortState, Proto, Reason, ScanEvent};
use crate::ports::parse_port_spec;
use crate::targets::{Target, TargetIter};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// What the scripted host does with one try.
#[derive(Debug, Clone, Copy)]
enum Reply {
    /// Nothing comes back.
    Silent,
    /// "Connection refused" after this many ms.
    Closed(u64),
    /// "Host unreachable" after this many ms.
    Unreachable(u64),
}

/// One try the engine started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Try {
    port: u16,
    number: u8,
    /// Milliseconds of test time since the scan started.
    at_ms: u64,
    /// The host's congestion window when the try started.
    window: u32,
}

type Script = Box<dyn Fn(u16, u8) -> Reply + Send + Sync>;

/// A prober answering from a script, each try waiting on the host's timeout as the real
/// probers do, and logging every start.
struct Scripted {
    script: Script,
    started: Instant,
    recheck: Duration,
    log: Arc<Mutex<Vec<Try>>>,
    host: Arc<Mutex<Option<Arc<HostState>>>>,
}

impl Prober for Scripted {
    type Local = ();

    fn start(&self, probe: Probe, (): &mut ()) -> Result<Started> {
        let sent = Instant::now();
        self.host
            .lock()
            .unwrap()
            .get_or_insert_with(|| probe.host.clone());
        self.log.lock().unwrap().push(Try {
            port: probe.port,
            number: probe.try_no,
            at_ms: u64::try_from((sent - self.started).as_millis()).unwrap(),
            window: probe.host.window(),
        });
        let reply = (self.script)(probe.port, probe.try_no);
        let recheck = self.recheck;
        Ok(Started::Waiting(Box::pin(async move {
            let host = probe.host.clone();
            let answer = async move {
                let (ms, outcome) = match reply {
                    Reply::Silent => std::future::pending().await,
                    Reply::Closed(ms) => (ms, (PortState::Closed, Reason::ConnRefused)),
                    Reply::Unreachable(ms) => (ms, (PortState::Filtered, Reason::HostUnreach)),
                };
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Outcome::Answer(outcome.0, outcome.1)
            };
            let outcome = within_timeout(answer, sent, || host.timeout(), recheck)
                .await
                .unwrap_or(Outcome::Timeout);
            (probe, outcome, sent.elapsed())
        })))
    }

    fn identify(&self, probe: Probe) -> TryFuture {
        Box::pin(async move {
            (
                probe,
                Outcome::Identified(Box::default()),
                Duration::from_millis(1),
            )
        })
    }
}

/// What a scripted scan of one host did.
struct Run {
    tries: Vec<Try>,
    ports: Vec<PortResult>,
    host: HostSummary,
    /// The host's congestion window at the end.
    window: u32,
}

impl Run {
    fn tries_of(&self, port: u16) -> Vec<Try> {
        self.tries
            .iter()
            .filter(|t| t.port == port)
            .copied()
            .collect()
    }

    fn result(&self, port: u16) -> (PortState, Reason) {
        let r = self.ports.iter().find(|r| r.port == port).unwrap();
        (r.state, r.reason)
    }
}

/// Scans TCP `ports` of one host, one worker, every result reported, as `script` answers.
async fn scan(
    cfg: ScanConfig,
    ports: &str,
    script: impl Fn(u16, u8) -> Reply + Send + Sync + 'static,
) -> Run {
    let ports = parse_port_spec(ports, &[Proto::Tcp]).unwrap();
    let (tx, mut rx) = mpsc::channel(100_000);
    let log = Arc::new(Mutex::new(Vec::new()));
    let host = Arc::new(Mutex::new(None));
    let targets: TargetIter = Box::new(std::iter::once(Target {
        addr: "192.0.2.7".parse().unwrap(),
        hostname: None,
    }));
    let prober = Scripted {
        script: Box::new(script),
        started: Instant::now(),
        recheck: cfg.timeouts.min,
        log: log.clone(),
        host: host.clone(),
    };
    run_with(
        &cfg,
        targets,
        1,
        &ports,
        tx,
        Arc::new(ScanProgress::default()),
        |_| prober,
    )
    .await
    .unwrap();
    let (mut results, mut summary) = (Vec::new(), None);
    while let Ok(event) = rx.try_recv() {
        match event {
            ScanEvent::Port(r) => results.push(r),
            ScanEvent::Host(h) => summary = Some(h),
        }
    }
    let window = host.lock().unwrap().as_ref().unwrap().window();
    let tries = log.lock().unwrap().clone();
    Run {
        tries,
        ports: results,
        host: summary.unwrap(),
        window,
    }
}

fn config() -> ScanConfig {
    ScanConfig::builder()
        .workers(1)
        .report_all(true)
        .identify(false)
        .sequential(true)
        .build()
        .unwrap()
}

/// (try, ms since the scan started) of each try.
fn timeline(tries: &[Try]) -> Vec<(u8, u64)> {
    tries.iter().map(|t| (t.number, t.at_ms)).collect()
}

#[tokio::test(start_paused = true)]
async fn a_silent_try_is_retried_once_the_initial_timeout_has_passed() {
    let run = scan(config(), "7", |_, number| match number {
        1 => Reply::Silent,
        _ => Reply::Closed(5),
    })
    .await;
    assert_eq!(timeline(&run.tries_of(7)), [(1, 0), (2, 1000)]);
    assert_eq!(run.result(7), (PortState::Closed, Reason::ConnRefused));
    assert_eq!((run.host.status, run.host.closed), (HostStatus::Up, 1));
}

#[tokio::test(start_paused = true)]
async fn a_waiting_try_ends_on_the_timeout_measured_meanwhile() {
    // Port 1 answers in 10 ms: srtt 10 ms + 4 x 5 ms, floored at 100 ms. Port 2's first try,
    // sent with the initial 1 s, ends 100 ms after its send, and so does its retry.
    let run = scan(config(), "1-2", |port, _| match port {
        1 => Reply::Closed(10),
        _ => Reply::Silent,
    })
    .await;
    assert_eq!(timeline(&run.tries_of(2)), [(1, 0), (2, 100)]);
    assert_eq!(run.result(2), (PortState::Filtered, Reason::Timeout));
    assert_eq!(run.result(1), (PortState::Closed, Reason::ConnRefused));
}

#[tokio::test(start_paused = true)]
async fn the_window_grows_by_one_per_answer_and_halves_on_a_drop() {
    // Ports 1-10 answer at once; port 11's first try is dropped and its retry answered.
    let run = scan(config(), "1-11", |port, number| match (port, number) {
        (11, 1) => Reply::Silent,
        _ => Reply::Closed(1),
    })
    .await;
    let first: Vec<u32> = run.tries.iter().take(11).map(|t| t.window).collect();
    assert_eq!(first, [64; 11], "every first try fits the initial window");
    let retry = run.tries_of(11)[1];
    assert_eq!((retry.at_ms, retry.window), (100, 74), "64 + 10 answers");
    assert_eq!(run.window, 37, "the drop halved 74");
    assert_eq!(run.result(11), (PortState::Closed, Reason::ConnRefused));
}

/// Port 1 needs two tries; port 2 never answers.
fn one_drop_and_one_silence(port: u16, number: u8) -> Reply {
    match (port, number) {
        (1, 2..) => Reply::Closed(10),
        _ => Reply::Silent,
    }
}

#[tokio::test(start_paused = true)]
async fn silent_ports_get_one_try_more_than_an_answered_port_needed() {
    let run = scan(config(), "1-2", one_drop_and_one_silence).await;
    assert_eq!(timeline(&run.tries_of(1)), [(1, 0), (2, 1000)]);
    // Port 1's answer on its second try (1010 ms) raises every port's tries to three.
    assert_eq!(timeline(&run.tries_of(2)), [(1, 0), (2, 1000), (3, 1100)]);
    assert_eq!(run.result(2), (PortState::Filtered, Reason::Timeout));
}

#[tokio::test(start_paused = true)]
async fn max_retries_caps_the_tries_of_a_silent_port() {
    let cfg = ScanConfig::builder()
        .workers(1)
        .report_all(true)
        .identify(false)
        .max_retries(1)
        .build()
        .unwrap();
    let run = scan(cfg, "1-2", one_drop_and_one_silence).await;
    assert_eq!(timeline(&run.tries_of(2)), [(1, 0), (2, 1000)]);
    assert_eq!(run.result(2), (PortState::Filtered, Reason::Timeout));
    assert_eq!(run.result(1), (PortState::Closed, Reason::ConnRefused));
}

#[tokio::test(start_paused = true)]
async fn a_host_with_no_proof_of_life_after_128_silent_ports_is_down() {
    let run = scan(config(), "1-1000", |_, _| Reply::Silent).await;
    let h = &run.host;
    assert_eq!(
        (h.status, h.reason),
        (HostStatus::Down, Some(Reason::Timeout))
    );
    assert!(run.ports.is_empty(), "a down host's ports are not reported");
    assert!(h.filtered >= 128, "{h:?}");
    assert!(h.ports_skipped > 0, "{h:?}");
    assert_eq!(h.ports_scanned + h.ports_skipped, 1000);
    let probed: std::collections::BTreeSet<u16> = run.tries.iter().map(|t| t.port).collect();
    assert_eq!(
        probed.len() as u32,
        h.ports_scanned,
        "no skipped port was probed"
    );
}

#[tokio::test(start_paused = true)]
async fn a_host_with_16_unreachable_answers_and_nothing_else_is_down() {
    let run = scan(config(), "1-1000", |_, _| Reply::Unreachable(1)).await;
    let h = &run.host;
    assert_eq!(
        (h.status, h.reason),
        (HostStatus::Down, Some(Reason::HostUnreach))
    );
    assert!(h.ports_skipped > 0, "{h:?}");
    assert!(
        run.tries.iter().all(|t| t.number == 1),
        "an answer is not retried"
    );
}

#[tokio::test(start_paused = true)]
async fn one_answer_keeps_a_silent_host_up_and_releases_its_held_results() {
    let run = scan(config(), "1-300", |port, _| match port {
        80 => Reply::Closed(1),
        _ => Reply::Silent,
    })
    .await;
    let h = &run.host;
    assert_eq!((h.status, h.ports_skipped), (HostStatus::Up, 0), "{h:?}");
    assert_eq!(run.ports.len(), 300);
    assert_eq!(run.result(1), (PortState::Filtered, Reason::Timeout));
}
