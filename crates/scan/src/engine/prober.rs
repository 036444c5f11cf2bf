//! The engine's seam to the network. A worker asks its [`Prober`] to start each try and to
//! identify an open port, and folds what comes back into the host's state (`Ctx::on_try`):
//! retries, timeouts, the congestion window and the down verdict know nothing of sockets.
//! A scan probes with [`NetProber`] (connects, raw SYNs, UDP datagrams); the engine's tests
//! drive the same workers with a scripted prober under tokio's paused clock. The engine is
//! generic over its prober, not `dyn`: each one is compiled for the prober it runs, so a try
//! costs no indirect call.

use super::dispatch::Probe;
use super::outcome::Outcome;
use super::tcp::{self, Start};
use super::timing::TimeoutBounds;
use super::{Started, TryFuture, syn, udp};
use crate::error::{Result, ScanError};
use crate::identify;
use crate::model::{ProbeMethod, Proto};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Starts the tries the engine decides on and identifies open ports.
pub(super) trait Prober: Send + Sync + 'static {
    /// What each worker keeps for itself from one try to the next.
    type Local: Default + Send;

    /// Starts one try of `probe`: its outcome at once, or a future that yields it.
    fn start(&self, probe: Probe, local: &mut Self::Local) -> Result<Started>;

    /// Identifies what answers on the open port of `probe`: a future yielding
    /// `Outcome::Identified`.
    fn identify(&self, probe: Probe) -> TryFuture;
}

/// The prober of a real scan: non-blocking connects, raw SYNs (opened on first use) and UDP
/// datagrams, each try waiting on the host's timeout as it stands.
pub(super) struct NetProber {
    timeouts: TimeoutBounds,
    udp_ids: AtomicU64,
    /// SYN probing, opened when the first host planned for it is probed: a scan of this
    /// machine alone never opens raw sockets.
    syn: OnceLock<Arc<syn::SynProber>>,
    /// Held while the SYN prober is being opened, so it is opened once.
    syn_opening: Mutex<()>,
}

impl NetProber {
    /// A prober waiting within `timeouts`; `seed` varies the UDP payloads' ids per scan.
    pub(super) fn new(timeouts: TimeoutBounds, seed: u64) -> Self {
        NetProber {
            timeouts,
            udp_ids: AtomicU64::new(seed | 1),
            syn: OnceLock::new(),
            syn_opening: Mutex::new(()),
        }
    }

    /// The SYN prober, opened on first use.
    fn syn_prober(&self) -> Result<Arc<syn::SynProber>> {
        if let Some(syn) = self.syn.get() {
            return Ok(syn.clone());
        }
        let _opening = self
            .syn_opening
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(syn) = self.syn.get() {
            return Ok(syn.clone());
        }
        let syn = Arc::new(syn::SynProber::open().map_err(|e| ScanError::Io {
            op: "open raw sockets for SYN probes".into(),
            source: e,
        })?);
        Ok(self.syn.get_or_init(|| syn).clone())
    }
}

impl Prober for NetProber {
    /// Sockets kept for reuse by one worker.
    type Local = tcp::SocketPool;

    fn start(&self, mut probe: Probe, pool: &mut tcp::SocketPool) -> Result<Started> {
        let addr = SocketAddr::new(probe.host.target.addr, probe.port);
        let want_detail = !addr.ip().is_loopback();
        let recheck = self.timeouts.min;
        if probe.proto == Proto::Tcp && probe.host.tcp == Some(ProbeMethod::Syn) {
            let syn = self.syn_prober()?;
            return Ok(match syn.begin(addr) {
                Ok(try_) => Started::Waiting(Box::pin(async move {
                    let host = probe.host.clone();
                    let (outcome, rtt) = try_.answer(|| host.timeout(), recheck).await;
                    (probe, outcome, rtt)
                })),
                Err((outcome, rtt)) => Started::Done(probe, outcome, rtt),
            });
        }
        match probe.proto {
            Proto::Tcp => match tcp::start(addr, want_detail, pool) {
                Ok(Start::Done(outcome, rtt)) => Ok(Started::Done(probe, outcome, rtt)),
                Ok(Start::Pending(pending)) => Ok(Started::Waiting(Box::pin(async move {
                    let host = probe.host.clone();
                    let (outcome, rtt) = pending.wait(addr, || host.timeout(), recheck).await;
                    (probe, outcome, rtt)
                }))),
                Err(e) => Err(ScanError::Io {
                    op: format!("open a TCP socket to {addr}"),
                    source: e,
                }),
            },
            Proto::Udp => {
                let (send_at, generation) = probe.host.reserve_udp_slot();
                probe.generation = generation;
                let canary = (probe.try_no > 1)
                    .then(|| probe.host.udp_canary())
                    .flatten();
                let timeout = probe.host.timeout();
                let id = self.udp_ids.fetch_add(0x9E37_79B9, Ordering::Relaxed);
                let payload = portwatch_proto::udp::probe_for_with_id(probe.port, id)
                    .map(|p| p.payload)
                    .unwrap_or_default();
                Ok(Started::Waiting(Box::pin(async move {
                    let (outcome, rtt) =
                        udp::try_port(addr, &payload, send_at, timeout, want_detail, canary).await;
                    (probe, outcome, rtt)
                })))
            }
        }
    }

    fn identify(&self, probe: Probe) -> TryFuture {
        let addr = SocketAddr::new(probe.host.target.addr, probe.port);
        let budget = identify::Budget::for_rtt(probe.host.srtt(), self.timeouts.max);
        let rtt = probe.rtt.unwrap_or_default();
        Box::pin(async move {
            let identity = identify::tcp(addr, budget).await;
            (probe, Outcome::Identified(Box::new(identity)), rtt)
        })
    }
}
