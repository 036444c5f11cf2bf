//! The outbox: every queued message is sent until its notifier accepts it, with exponential
//! backoff (and the peer's Retry-After), surviving restarts because the queue is in the store.
//! Reminders are decided here too.

use super::{Daemon, Event, now_ms};
use crate::notify::Alert;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// First retry delay; doubles per attempt.
const BACKOFF_BASE: Duration = Duration::from_secs(2);
/// Longest delay between attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(15 * 60);
/// How often the outbox is polled when nothing wakes it.
const POLL: Duration = Duration::from_secs(1);
/// How often old history is pruned when the config sets `keep`.
const PRUNE_EVERY: Duration = Duration::from_secs(6 * 3600);
/// How often reminders are checked.
const REMINDER_TICK: Duration = Duration::from_secs(15);

/// Delay before attempt `attempts + 1`.
pub(super) fn backoff(attempts: u64) -> Duration {
    BACKOFF_BASE
        .saturating_mul(1u32 << attempts.min(16) as u32)
        .min(BACKOFF_MAX)
}

impl Daemon {
    pub(super) async fn delivery_loop(self: Arc<Self>, stop: CancellationToken) {
        loop {
            self.deliver_due().await;
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = self.outbox_wake.notified() => {}
                () = stop.cancelled() => return,
            }
        }
    }

    /// Attempts every message that is due now.
    pub async fn deliver_due(&self) {
        let Ok(due) = self.store.outbox_due(now_ms(), 100).await else {
            return;
        };
        for row in due {
            let alert: Option<Alert> = serde_json::from_value(row.payload.clone()).ok();
            let notifier = self.notifiers.read().await.get(&row.channel).cloned();
            let title = alert
                .as_ref()
                .map(Alert::title)
                .unwrap_or_else(|| row.idempotency_key.clone());
            let (Some(alert), Some(notifier)) = (alert, notifier) else {
                let why = format!(
                    "no notifier named \"{}\" (removed from the config?)",
                    row.channel
                );
                let _ = self
                    .store
                    .outbox_failed(row.id, &why, now_ms() + 3_600_000)
                    .await;
                continue;
            };
            match notifier.send(&alert).await {
                Ok(delivery) => {
                    metrics::counter!("portwatch_alerts_sent_total", "channel" => row.channel.clone()).increment(1);
                    let _ = self.store.outbox_delivered(row.id, now_ms()).await;
                    self.emit(Event::Delivered {
                        channel: row.channel,
                        title,
                        status: delivery.status,
                    });
                }
                Err(e) => {
                    metrics::counter!("portwatch_alerts_failed_total", "channel" => row.channel.clone()).increment(1);
                    let wait = if e.retryable {
                        backoff(row.attempts).max(e.retry_after.unwrap_or_default())
                    } else {
                        // The peer refused it; a config fix may help, so try again much later.
                        Duration::from_secs(3600)
                    };
                    let _ = self
                        .store
                        .outbox_failed(row.id, &e.to_string(), now_ms() + wait.as_millis() as i64)
                        .await;
                    self.emit(Event::DeliveryFailed {
                        channel: row.channel,
                        title,
                        error: e.to_string(),
                    });
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
        let mut book = self.book.lock().await;
        let before = book.clone();
        let decision = book.tick(&settings.alerts, now, silenced);
        if decision.messages.is_empty() && decision.changed.is_empty() {
            return;
        }
        let alerts: Vec<Alert> = decision.messages.iter().map(super::alert_for).collect();
        let notifiers: Vec<String> = self.notifiers.read().await.keys().cloned().collect();
        let effects = super::effects_of(
            &decision,
            &alerts,
            |a| {
                notifiers
                    .iter()
                    .filter(|n| {
                        settings
                            .groups
                            .iter()
                            .any(|g| g.name == a.group && g.notifies(n))
                    })
                    .cloned()
                    .collect()
            },
            now,
        );
        if self.store.write_effects(&effects).await.is_err() {
            *book = before;
            return;
        }
        drop(book);
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
