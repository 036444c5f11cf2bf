//! When each group runs: its interval or cron schedule, with jitter so many groups do not
//! fire together, one scan of a group at a time, under the global cap.

use super::Daemon;
use crate::config::{Group, Schedule};
use crate::job::ScanKind;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Jitter: up to 5% of the interval (at most 30 s), different for every group and round.
fn jitter(group: &str, round: u64, interval: Duration) -> Duration {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    group.hash(&mut h);
    round.hash(&mut h);
    let spread = (interval / 20).min(Duration::from_secs(30));
    if spread.is_zero() {
        return Duration::ZERO;
    }
    Duration::from_nanos(h.finish() % spread.as_nanos().max(1) as u64)
}

/// How long to wait before the next run, given when the last one started, the time now and
/// (for a cron schedule) the occurrence the last timed run was for (Unix ms; cron expressions
/// are evaluated in UTC). For a cron schedule also the occurrence waited for: the next one
/// after both `now_ms` and `fired_ms`, so a timer that fires a little before the clock reaches
/// an occurrence does not run that occurrence twice.
pub(super) fn next_delay(
    group: &Group,
    round: u64,
    last_start: Option<Instant>,
    now_ms: i64,
    fired_ms: Option<i64>,
) -> (Duration, Option<i64>) {
    match &group.schedule {
        Schedule::Every(every) => {
            let base = match last_start {
                // The first run comes soon, spread over a few seconds across groups.
                None => Duration::ZERO,
                Some(start) => every.saturating_sub(start.elapsed()),
            };
            let spread = if last_start.is_none() {
                (*every).min(Duration::from_secs(5))
            } else {
                *every
            };
            (base + jitter(&group.name, round, spread), None)
        }
        Schedule::Cron(cron) => {
            use chrono::TimeZone;
            let from_ms = fired_ms.map_or(now_ms, |f| f.max(now_ms));
            let Some(from) = chrono::Utc.timestamp_millis_opt(from_ms).single() else {
                return (Duration::from_hours(1), None);
            };
            match cron.find_next_occurrence(&from, false) {
                Ok(next) => {
                    let at = next.timestamp_millis();
                    let wait = u64::try_from(at.saturating_sub(now_ms)).unwrap_or(0);
                    (Duration::from_millis(wait), Some(at))
                }
                Err(_) => (Duration::from_hours(1), None),
            }
        }
    }
}

/// What started a full scan of a group.
#[derive(Debug, Clone)]
pub(super) enum Cause {
    /// The group's interval or cron schedule came due.
    Scheduled,
    /// Someone asked for it now (`POST /api/v1/scans`, the dashboard's "scan now", on this
    /// replica or another): the requests it runs for, which can cancel it. `None` for a wake
    /// that no stored request stands behind (a `local` group's socket change).
    Requested(Option<RequestRun>),
}

/// The requests a requested scan runs for, and how a cancel reaches it.
#[derive(Debug, Clone)]
pub(super) struct RequestRun {
    /// The stored requests it serves (pending ones of the group are served together).
    pub(super) ids: Arc<[i64]>,
    /// Cancelled once every one of them is cancelled.
    pub(super) cancel: CancellationToken,
    /// Set when the cancel stopped an observation or kept one from starting.
    pub(super) stopped: Arc<AtomicBool>,
}

/// One run of a group from its vantages: a full scan, or the re-probes that confirm findings.
#[derive(Debug, Clone)]
pub(super) enum Run {
    /// The group's targets and ports, for this reason.
    Full(Cause),
    /// Only these re-probes (each names its vantage).
    Confirm(Vec<crate::alerts::Reprobe>),
}

impl Run {
    /// What the run's scans are for: a full run is a round, re-probes a confirmation.
    pub(super) fn kind(&self) -> ScanKind {
        match self {
            Run::Full(_) => ScanKind::Round,
            Run::Confirm(_) => ScanKind::Confirmation,
        }
    }

    /// The `kind` label this run is counted under in `portwatch_scans_total` and
    /// `portwatch_scan_duration_seconds`.
    pub(super) fn metric_kind(&self) -> &'static str {
        match self {
            Run::Full(Cause::Scheduled) => "scheduled",
            Run::Full(Cause::Requested(_)) => "requested",
            Run::Confirm(_) => "confirmation",
        }
    }

    /// The requests this run was started for, if a request started it.
    pub(super) fn request(&self) -> Option<&RequestRun> {
        match self {
            Run::Full(Cause::Requested(Some(r))) => Some(r),
            _ => None,
        }
    }

    /// Resolves when the requests this run was started for are cancelled (noting that the
    /// cancel stopped something); never for a scheduled run or a confirmation.
    pub(super) async fn cancelled(&self) {
        match self.request() {
            Some(r) => {
                r.cancel.cancelled().await;
                r.stopped.store(true, Ordering::SeqCst);
            }
            None => std::future::pending().await,
        }
    }
}

impl Daemon {
    pub(super) async fn group_loop(
        self: Arc<Self>,
        group: Group,
        trigger: Arc<Notify>,
        stop: CancellationToken,
        retire: CancellationToken,
        generation: u64,
    ) {
        let mut last_start = None;
        let mut fired = None;
        let mut round = generation << 32;
        loop {
            let (delay, occurrence) =
                next_delay(&group, round, last_start, self.clock.now_ms(), fired);
            round += 1;
            let cause = tokio::select! {
                () = tokio::time::sleep(delay) => {
                    fired = occurrence.or(fired);
                    Cause::Scheduled
                }
                () = trigger.notified() => match self.claim_requests(&group).await {
                    Some(run) => Cause::Requested(Some(run)),
                    // A local group's socket watcher wakes it without a request.
                    None if group.source == crate::config::Source::Local => Cause::Requested(None),
                    // Every request was cancelled before its scan started (or another wake
                    // found them taken): nothing to run.
                    None => continue,
                },
                () = retire.cancelled() => return,
            };
            last_start = Some(Instant::now());
            let request = match &cause {
                Cause::Requested(Some(r)) => Some(r.clone()),
                _ => None,
            };
            // Only a shutdown, or a cancel of the requests a scan runs for, interrupts it; a
            // reload that retires this loop lets the scan (and its confirmations) finish first.
            let going = self.scan_group_now(&group, Run::Full(cause), &stop).await;
            if let Some(r) = request {
                self.finish_requests(&r, !going).await;
            }
            if !going || retire.is_cancelled() {
                return;
            }
        }
    }

    /// Runs one scan of `group` (or a confirmation re-probe) from each of its vantages at
    /// once (a confirmation only from the vantages its re-probes name). Each vantage has its
    /// own lock, so one whose agent is slow to answer holds back neither the others nor their
    /// confirmations; only an observation made in this process takes a place under the
    /// global cap. False when stopped.
    pub(super) fn scan_group_now<'a>(
        self: &'a Arc<Self>,
        group: &'a Group,
        run: Run,
        stop: &'a CancellationToken,
    ) -> futures::future::BoxFuture<'a, bool> {
        // Boxed: a confirmation schedules another run of this same function.
        Box::pin(async move {
            let observations = group.vantages.iter().filter_map(|vantage| {
                let run = match &run {
                    Run::Full(cause) => Run::Full(cause.clone()),
                    Run::Confirm(all) => {
                        let mine: Vec<_> = all
                            .iter()
                            .filter(|r| r.vantage == vantage.name)
                            .cloned()
                            .collect();
                        if mine.is_empty() {
                            return None;
                        }
                        Run::Confirm(mine)
                    }
                };
                Some(self.scan_vantage_now(group, vantage, run, stop))
            });
            futures::future::join_all(observations).await;
            !stop.is_cancelled()
        })
    }

    /// One observation of `group` from `vantage` under that pair's lock, then the
    /// confirmations it asks for.
    async fn scan_vantage_now(
        self: &Arc<Self>,
        group: &Group,
        vantage: &crate::config::Vantage,
        run: Run,
        stop: &CancellationToken,
    ) {
        let lock = self
            .group_lock(&format!("{}\u{0}{}", group.name, vantage.name))
            .await;
        let _mine = tokio::select! {
            g = lock.lock_owned() => g,
            () = stop.cancelled() => return,
            () = run.cancelled() => return,
        };
        // An agent scans remote vantages; waiting for its answer takes no local scan slot.
        let _permit = if vantage.name == portwatch_store::LOCAL_VANTAGE {
            tokio::select! {
                p = self.permits.clone().acquire_owned() => match p { Ok(p) => Some(p), Err(_) => return },
                () = stop.cancelled() => return,
                () = run.cancelled() => return,
            }
        } else {
            None
        };
        let reprobes = self.process_vantage(group, vantage, run, stop).await;
        if !reprobes.is_empty() {
            let me = self.clone();
            let group = group.clone();
            let stop = stop.clone();
            let wait = me.rules().await.confirm_after;
            tokio::spawn(async move {
                tokio::select! {
                    () = tokio::time::sleep(wait) => { me.scan_group_now(&group, Run::Confirm(reprobes), &stop).await; }
                    () = stop.cancelled() => {}
                }
            });
        }
    }

    async fn group_lock(&self, group: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.group_locks
            .lock()
            .await
            .entry(group.to_string())
            .or_default()
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-06-01T00:00:00Z, a minute boundary.
    const T0: i64 = 1_780_272_000_000;

    fn every_minute() -> Group {
        let text = "[[group]]\nname = \"g\"\ntargets = [\"127.0.0.1\"]\ncron = \"* * * * *\"\n\
                    [group.policy]\nmust_be_closed = [\"T:445\"]\n";
        let settings = crate::config::parse(text, std::path::Path::new("t.toml")).unwrap();
        settings.groups[0].clone()
    }

    #[test]
    fn a_cron_occurrence_is_waited_for_by_the_clock_and_run_once() {
        let g = every_minute();
        // 200 ms before an occurrence: wait for it.
        assert_eq!(
            next_delay(&g, 0, None, T0 - 200, None),
            (Duration::from_millis(200), Some(T0))
        );
        // The timer fired for it while the clock still reads 200 ms before it: the next
        // wait is for the following occurrence, not the same one again.
        assert_eq!(
            next_delay(&g, 1, None, T0 - 200, Some(T0)),
            (Duration::from_millis(60_200), Some(T0 + 60_000))
        );
        // Half a minute after the occurrence that ran.
        assert_eq!(
            next_delay(&g, 2, None, T0 + 30_000, Some(T0)),
            (Duration::from_secs(30), Some(T0 + 60_000))
        );
        // Exactly on an occurrence with none run yet: the next one (as before).
        assert_eq!(
            next_delay(&g, 0, None, T0, None),
            (Duration::from_mins(1), Some(T0 + 60_000))
        );
        // A clock far past the last occurrence run (a suspended machine): the next one from
        // now, not a catch-up of every missed one.
        assert_eq!(
            next_delay(&g, 3, None, T0 + 3_600_500, Some(T0)),
            (Duration::from_millis(59_500), Some(T0 + 3_660_000))
        );
    }

    #[test]
    fn jitter_is_small_and_spread() {
        let every = Duration::from_mins(5);
        let a = jitter("a", 1, every);
        let b = jitter("b", 1, every);
        assert!(a <= Duration::from_secs(15) && b <= Duration::from_secs(15));
        assert_ne!(a, b);
    }
}
