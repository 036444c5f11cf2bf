//! The outbox: every queued message is sent until its notifier accepts it, with exponential
//! backoff (and the peer's Retry-After), surviving restarts because the queue is in the store.
//! Delivery is at least once: a message is claimed in the store before it is sent (so several
//! processes on one database do not send it at the same time), and a process killed after the
//! peer got it but before it was recorded sends it again, with the same idempotency key, once
//! its claim has lapsed. Each notifier is served by its own task, so a notifier that hangs
//! delays only its own messages. A delivery the store fails to record (full disk, read-only
//! database) is remembered here and its record retried with backoff; meanwhile this process
//! does not send that message again. Reminders are decided here too.

use super::{Daemon, Event, now_ms};
use crate::notify::Alert;
use portwatch_store::{ClaimTicket, OutboxClaim};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// First retry delay; doubles per attempt.
const BACKOFF_BASE: Duration = Duration::from_secs(2);
/// Longest delay between attempts.
const BACKOFF_MAX: Duration = Duration::from_mins(15);
/// How often the outbox is polled when nothing wakes it.
const POLL: Duration = Duration::from_secs(1);
/// How long a claim on a message lasts: longer than one channel's batch of sends normally
/// takes (a send gives up after the notifier timeout, 10 s by default; after the first failure
/// the rest of the batch is released). A process that dies holding claims delays those
/// messages by this much; then another process (or this one, restarted) sends them.
const LEASE: Duration = Duration::from_mins(2);
/// Messages claimed per poll.
const BATCH: u32 = 100;
/// How often old history is pruned when the config sets `keep`.
const PRUNE_EVERY: Duration = Duration::from_hours(6);
/// How often reminders are checked.
const REMINDER_TICK: Duration = Duration::from_secs(15);

/// Delay before attempt `attempts + 1`.
pub(super) fn backoff(attempts: u64) -> Duration {
    BACKOFF_BASE
        .saturating_mul(1u32 << attempts.min(16) as u32)
        .min(BACKOFF_MAX)
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The delivery loop's memory: which notifiers have a task sending, and the outcomes that
/// were not yet recorded in the store.
#[derive(Default)]
pub(super) struct DeliveryState {
    busy: BTreeSet<String>,
    unrecorded: HashMap<i64, Unrecorded>,
}

/// An attempt's outcome the store has not accepted yet.
#[derive(Debug, Clone)]
struct Unrecorded {
    ticket: ClaimTicket,
    outcome: Outcome,
    tries: u64,
    retry_at: i64,
}

#[derive(Debug, Clone)]
enum Outcome {
    Delivered { at: i64 },
    Failed { error: String, next_attempt_at: i64 },
}

impl Daemon {
    pub(super) async fn delivery_loop(self: Arc<Self>, stop: CancellationToken) {
        let mut tasks = JoinSet::new();
        loop {
            self.start_due(now_ms(), &mut tasks).await;
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = self.outbox_wake.notified() => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                () = stop.cancelled() => break,
            }
            while tasks.try_join_next().is_some() {}
        }
        // Sends under way finish (each within its notifier's timeout) and are recorded.
        while tasks.join_next().await.is_some() {}
    }

    /// Attempts every message that is due now and waits for the attempts to end.
    pub async fn deliver_due(self: &Arc<Self>) {
        let mut tasks = JoinSet::new();
        self.start_due(now_ms(), &mut tasks).await;
        while tasks.join_next().await.is_some() {}
    }

    /// Retries the records the store refused, claims the due messages of every notifier that
    /// has no task sending, and starts one task per notifier for them.
    async fn start_due(self: &Arc<Self>, now: i64, tasks: &mut JoinSet<()>) {
        self.retry_unrecorded(now).await;
        let busy: Vec<String> = self.delivery_state().busy.iter().cloned().collect();
        let claims = match self.store.outbox_claim(now, LEASE, BATCH, &busy).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim due outbox messages");
                return;
            }
        };
        let mut by_channel: BTreeMap<String, Vec<OutboxClaim>> = BTreeMap::new();
        {
            let mut state = self.delivery_state();
            for claim in claims {
                // Sent already, record pending: claimed again only because the lease ran out.
                if let Some(u) = state.unrecorded.get_mut(&claim.ticket.id) {
                    u.ticket = claim.ticket;
                    continue;
                }
                by_channel
                    .entry(claim.message.channel.clone())
                    .or_default()
                    .push(claim);
            }
            state.busy.extend(by_channel.keys().cloned());
        }
        for (channel, claims) in by_channel {
            let me = self.clone();
            tasks.spawn(async move {
                me.send_channel(claims).await;
                me.delivery_state().busy.remove(&channel);
            });
        }
    }

    fn delivery_state(&self) -> std::sync::MutexGuard<'_, DeliveryState> {
        self.delivery
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends one notifier's claimed messages in order. After a failed attempt the others are
    /// released to wait as long as the failed one (the peer is likely down for them too).
    async fn send_channel(&self, claims: Vec<OutboxClaim>) {
        let mut rest = claims.into_iter();
        while let Some(claim) = rest.next() {
            if let Some(wait_until) = self.attempt(claim).await {
                for c in rest.by_ref() {
                    if let Err(e) = self.store.outbox_release(c.ticket, wait_until).await {
                        tracing::warn!(error = %e, "cannot release an outbox message (its claim lapses by itself)");
                    }
                }
            }
        }
    }

    /// One attempt of one message; on failure, when it will be tried again.
    async fn attempt(&self, claim: OutboxClaim) -> Option<i64> {
        let row = claim.message;
        let alert: Option<Alert> = serde_json::from_value(row.payload.clone()).ok();
        let notifier = self.notifiers.read().await.get(&row.channel).cloned();
        let title = alert
            .as_ref()
            .map_or_else(|| row.idempotency_key.clone(), Alert::title);
        let (Some(alert), Some(notifier)) = (alert, notifier) else {
            let why = format!(
                "no notifier named \"{}\" (removed from the config?)",
                row.channel
            );
            let next = now_ms() + 3_600_000;
            self.record(
                claim.ticket,
                Outcome::Failed {
                    error: why,
                    next_attempt_at: next,
                },
            )
            .await;
            return Some(next);
        };
        match notifier.send(&alert).await {
            Ok(delivery) => {
                metrics::counter!("portwatch_alerts_sent_total", "channel" => row.channel.clone())
                    .increment(1);
                self.record(claim.ticket, Outcome::Delivered { at: now_ms() })
                    .await;
                self.emit(Event::Delivered {
                    channel: row.channel,
                    title,
                    status: delivery.status,
                });
                None
            }
            Err(e) => {
                metrics::counter!("portwatch_alerts_failed_total", "channel" => row.channel.clone()).increment(1);
                let wait = if e.retryable {
                    backoff(row.attempts).max(e.retry_after.unwrap_or_default())
                } else {
                    // The peer refused it; a config fix may help, so try again much later.
                    Duration::from_hours(1)
                };
                let next = now_ms() + ms(wait);
                self.record(
                    claim.ticket,
                    Outcome::Failed {
                        error: e.to_string(),
                        next_attempt_at: next,
                    },
                )
                .await;
                self.emit(Event::DeliveryFailed {
                    channel: row.channel,
                    title,
                    error: e.to_string(),
                });
                Some(next)
            }
        }
    }

    /// Writes an attempt's outcome; if the store refuses, keeps it to retry with backoff.
    async fn record(&self, ticket: ClaimTicket, outcome: Outcome) {
        if let Err(e) = self.write_outcome(ticket, &outcome).await {
            tracing::warn!(error = %e, id = ticket.id, "cannot record an outbox delivery; will retry the record, not the send");
            let u = Unrecorded {
                ticket,
                outcome,
                tries: 1,
                retry_at: now_ms() + ms(backoff(0)),
            };
            self.delivery_state().unrecorded.insert(ticket.id, u);
        }
    }

    async fn write_outcome(
        &self,
        ticket: ClaimTicket,
        outcome: &Outcome,
    ) -> portwatch_store::Result<bool> {
        match outcome {
            Outcome::Delivered { at } => self.store.outbox_record_delivered(ticket, *at).await,
            Outcome::Failed {
                error,
                next_attempt_at,
            } => {
                self.store
                    .outbox_record_failed(ticket, error, *next_attempt_at)
                    .await
            }
        }
    }

    /// Retries the records that are due; a refused claim (another process took the message
    /// over after our lease ran out) ends the retry: that process now owns the message.
    async fn retry_unrecorded(&self, now: i64) {
        let due: Vec<Unrecorded> = self
            .delivery_state()
            .unrecorded
            .values()
            .filter(|u| u.retry_at <= now)
            .cloned()
            .collect();
        for u in due {
            match self.write_outcome(u.ticket, &u.outcome).await {
                Ok(_) => {
                    self.delivery_state().unrecorded.remove(&u.ticket.id);
                }
                Err(e) => {
                    tracing::debug!(error = %e, id = u.ticket.id, "recording an outbox delivery failed again");
                    if let Some(x) = self.delivery_state().unrecorded.get_mut(&u.ticket.id) {
                        x.tries += 1;
                        x.retry_at = now + ms(backoff(x.tries.min(6)));
                    }
                }
            }
        }
    }

    /// Prunes closed history older than the config's `keep`, at start and every few hours.
    pub(super) async fn retention_loop(self: Arc<Self>, stop: CancellationToken) {
        loop {
            if let Some(keep) = self.settings().await.keep {
                match self.store.prune(keep).await {
                    Ok(r) => tracing::info!(spans = r.spans, scans = r.scans, "pruned old history"),
                    Err(e) => tracing::warn!(error = %e, "pruning old history failed"),
                }
            }
            tokio::select! {
                () = tokio::time::sleep(PRUNE_EVERY) => {}
                () = stop.cancelled() => return,
            }
        }
    }

    pub(super) async fn reminder_loop(self: Arc<Self>, stop: CancellationToken) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(REMINDER_TICK) => {}
                () = stop.cancelled() => return,
            }
            self.remind().await;
        }
    }

    /// Decides what is due now: reminders, openings held by a silence that ended, resolves
    /// held by a maintenance window that ended (the reminder loop runs it every few seconds).
    pub async fn remind(&self) {
        let settings = self.settings().await;
        let now = self.clock.now_ms();
        let silenced = |g: &str| {
            settings
                .groups
                .iter()
                .any(|x| x.name == g && x.silenced(now))
        };
        let notifiers: Vec<String> = self.notifiers.read().await.keys().cloned().collect();
        let decided = self
            .decide(super::book::Write::Effects, |book| {
                let decision = book.tick(&settings.alerts, now, silenced);
                if decision.messages.is_empty() && decision.changed.is_empty() {
                    return None;
                }
                let alerts: Vec<Alert> = decision.messages.iter().map(super::alert_for).collect();
                Some(self.plan_of(decision.changed, alerts, |a| {
                    notifiers
                        .iter()
                        .filter(|n| {
                            // Agent alerts go to every notifier, as they go out first.
                            a.is_agent_stale()
                                || settings
                                    .groups
                                    .iter()
                                    .any(|g| g.name == a.group && g.notifies(n))
                        })
                        .cloned()
                        .collect()
                }))
            })
            .await;
        let Ok(Some(alerts)) = decided else {
            return;
        };
        for a in alerts {
            self.emit(Event::Queued(Box::new(a)));
        }
        self.outbox_wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(0), Duration::from_secs(2));
        assert_eq!(backoff(3), Duration::from_secs(16));
        assert_eq!(backoff(40), BACKOFF_MAX);
    }
}
