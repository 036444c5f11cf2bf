//! Who schedules: replicas on one database take turns holding the store's lease
//! [`SCHEDULER`]. The holder (the leader) runs the group loops, confirmations, reminders and
//! retention, and its writes carry the lease's fence, so once another replica took over, a
//! leader that paused cannot write alert states or queue messages any more. Every replica
//! delivers the outbox. A single daemon takes the lease at once and behaves as if alone.
//!
//! The leader renews the lease every third of `[cluster] lease`; a follower tries to take it
//! as often. When a renewal says the lease is lost (or the store does not answer until the
//! lease's expiry by the daemon's clock), the leader stops its loops at once, interrupting
//! scans in progress, and follows. On taking the lease a replica reloads the alert book
//! from the store, so it continues where the last leader stopped.

use super::{Daemon, Event};
use portwatch_store::{Fence, LeaseTicket};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The lease whose holder schedules the scans (`[cluster]`'s `lease_name` by default).
pub const SCHEDULER: &str = "scheduler";

/// How often the leader looks at the "scan now" requests (new ones written by other replicas,
/// cancels).
const SCAN_REQUEST_POLL: Duration = Duration::from_secs(1);

/// This replica's part, as the API shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leadership {
    /// Whether this replica schedules now.
    pub leader: bool,
    /// This replica's name as a lease holder.
    pub me: String,
    /// The fencing token of its current (or last) term as leader.
    pub token: Option<i64>,
}

/// The state the daemon keeps: what the API shows and the fence of the current term.
#[derive(Debug, Default)]
pub(super) struct Term {
    pub(super) leader: bool,
    /// The fence of the current or last term, kept after stepping down so that a write still
    /// under way from that term is refused rather than made unfenced.
    pub(super) fence: Option<Fence>,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Daemon {
    /// This replica's part in scheduling.
    pub fn leadership(&self) -> Leadership {
        let term = self.term();
        Leadership {
            leader: term.leader,
            me: self.store.claimant().to_string(),
            token: term.fence.as_ref().map(|f| f.token),
        }
    }

    fn term(&self) -> std::sync::MutexGuard<'_, Term> {
        self.term
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The fence the writes of the current term carry (`None` before any term).
    pub(super) fn fence(&self) -> Option<Fence> {
        self.term().fence.clone()
    }

    /// Takes turns at scheduling until `shutdown`, which ends the loops and releases the
    /// lease if held.
    pub(super) async fn leadership_loop(self: Arc<Self>, shutdown: CancellationToken) {
        let name = self.settings().await.cluster.lease_name.clone();
        // The lease of a daemon of this machine that was killed is free at once.
        if let Err(e) = self.store.lease_release_dead(&name).await {
            tracing::warn!(error = %e, "cannot check the scheduler lease");
        }
        let me = self.store.claimant().to_string();
        loop {
            let ttl = self.settings().await.cluster.lease;
            let now = self.clock.now_ms();
            match self.store.lease_acquire(&name, &me, ms(ttl), now).await {
                Ok(Some(ticket)) => {
                    if self.lead(ticket, &shutdown).await {
                        return;
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot try to take the scheduler lease"),
            }
            tokio::select! {
                () = tokio::time::sleep(ttl / 3) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// One term as leader: reloads the book, schedules, renews; true when it ended by
    /// `shutdown` (the lease is then released), false when the lease was lost.
    async fn lead(self: &Arc<Self>, mut ticket: LeaseTicket, shutdown: &CancellationToken) -> bool {
        let fence = ticket.fence();
        // Refresh the copy in memory (each decision reads the book again anyway).
        self.read_copy().await;
        *self.term() = Term {
            leader: true,
            fence: Some(fence.clone()),
        };
        tracing::info!(token = fence.token, "this replica now schedules the scans");
        self.emit(Event::Leadership {
            leader: true,
            token: fence.token,
        });
        // Requests an earlier leader was running ended with it.
        self.interrupt_earlier_requests().await;
        let term = shutdown.child_token();
        let scheduling = {
            let me = self.clone();
            let term = term.clone();
            tokio::spawn(async move { me.schedule(term).await })
        };
        let requests = {
            let me = self.clone();
            let term = term.clone();
            tokio::spawn(async move {
                let polls = std::sync::atomic::AtomicU32::new(0);
                loop {
                    me.poll_scan_requests(&polls).await;
                    tokio::select! {
                        () = tokio::time::sleep(SCAN_REQUEST_POLL) => {}
                        () = term.cancelled() => return,
                    }
                }
            })
        };
        let stopped = loop {
            let ttl = self.settings().await.cluster.lease;
            tokio::select! {
                () = tokio::time::sleep(ttl / 3) => {}
                () = shutdown.cancelled() => break true,
            }
            let now = self.clock.now_ms();
            match self.store.lease_renew(&mut ticket, ms(ttl), now).await {
                Ok(true) => {}
                Ok(false) => break false,
                Err(e) if now < ticket.expires_at => {
                    tracing::warn!(error = %e, "cannot renew the scheduler lease; retrying");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot renew the scheduler lease before it ran out");
                    break false;
                }
            }
        };
        term.cancel();
        self.term().leader = false;
        if !stopped {
            tracing::warn!(
                token = fence.token,
                "the scheduler lease was lost; this replica stops scheduling and follows"
            );
        }
        let _ = scheduling.await;
        let _ = requests.await;
        if stopped && let Err(e) = self.store.lease_release(&ticket).await {
            tracing::warn!(error = %e, "cannot release the scheduler lease");
        }
        self.emit(Event::Leadership {
            leader: false,
            token: fence.token,
        });
        stopped
    }
}
