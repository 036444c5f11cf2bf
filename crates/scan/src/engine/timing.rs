//! Per-host timing: a smoothed RTT estimator (RFC 6298, like nmap) that yields the probe
//! timeout, and a congestion window that grows with answers and halves on detected loss.

use std::time::Duration;

/// Timeout bounds and the timeout used before any RTT sample exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutBounds {
    /// Never wait less than this for an answer.
    pub min: Duration,
    /// Never wait more than this for an answer.
    pub max: Duration,
    /// Timeout before the first RTT sample.
    pub initial: Duration,
}

impl Default for TimeoutBounds {
    fn default() -> Self {
        TimeoutBounds {
            min: Duration::from_millis(100),
            max: Duration::from_secs(10),
            initial: Duration::from_secs(1),
        }
    }
}

/// Smoothed round-trip time and its variance, in microseconds.
#[derive(Debug, Clone, Copy)]
pub struct RttEstimator {
    srtt_us: f64,
    rttvar_us: f64,
    samples: u64,
    bounds: TimeoutBounds,
}

impl RttEstimator {
    /// A fresh estimator with no samples.
    pub fn new(bounds: TimeoutBounds) -> Self {
        RttEstimator {
            srtt_us: 0.0,
            rttvar_us: 0.0,
            samples: 0,
            bounds,
        }
    }

    /// Folds one measured round trip into the estimate.
    pub fn sample(&mut self, rtt: Duration) {
        let r = rtt.as_secs_f64() * 1e6;
        if self.samples == 0 {
            self.srtt_us = r;
            self.rttvar_us = r / 2.0;
        } else {
            self.rttvar_us = 0.75 * self.rttvar_us + 0.25 * (self.srtt_us - r).abs();
            self.srtt_us = 0.875 * self.srtt_us + 0.125 * r;
        }
        self.samples += 1;
    }

    /// How long to wait for an answer: srtt + 4 × rttvar within the bounds.
    pub fn timeout(&self) -> Duration {
        if self.samples == 0 {
            return self.bounds.initial;
        }
        let t = Duration::from_secs_f64((self.srtt_us + 4.0 * self.rttvar_us) / 1e6);
        t.clamp(self.bounds.min, self.bounds.max)
    }

    /// The smoothed RTT, if any sample exists.
    pub fn srtt(&self) -> Option<Duration> {
        (self.samples > 0).then(|| Duration::from_secs_f64(self.srtt_us / 1e6))
    }
}

/// Waits for `answer` until the host's timeout has passed since `sent`, reading the timeout
/// (`timeout`) again at least every `recheck` while it waits: a try sent before the host's
/// first round trip was measured (with the initial timeout, 1 s by default) ends when the
/// measured timeout says, not when the initial one would have. `None` when it timed out.
pub async fn within_timeout<T>(
    answer: impl std::future::Future<Output = T>,
    sent: tokio::time::Instant,
    timeout: impl Fn() -> Duration,
    recheck: Duration,
) -> Option<T> {
    let mut answer = std::pin::pin!(answer);
    loop {
        let deadline = sent + timeout();
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return None;
        }
        let wake = deadline.min(now + recheck);
        if let Ok(v) = tokio::time::timeout_at(wake, answer.as_mut()).await {
            return Some(v);
        }
    }
}

/// A congestion window counting probes awaiting an answer.
#[derive(Debug, Clone, Copy)]
pub struct CongestionWindow {
    cwnd: u32,
    ssthresh: u32,
    acked: u32,
    min: u32,
    max: u32,
}

impl CongestionWindow {
    /// A window starting at `initial`, never below `min` or above `max`.
    pub fn new(initial: u32, min: u32, max: u32) -> Self {
        let max = max.max(1);
        let min = min.clamp(1, max);
        CongestionWindow {
            cwnd: initial.clamp(min, max),
            ssthresh: max,
            acked: 0,
            min,
            max,
        }
    }

    /// Current window.
    pub fn get(&self) -> u32 {
        self.cwnd
    }

    /// An answer arrived: slow start below the threshold, one per window above it.
    pub fn on_answer(&mut self) {
        if self.cwnd < self.ssthresh {
            self.cwnd = (self.cwnd + 1).min(self.max);
        } else {
            self.acked += 1;
            if self.acked >= self.cwnd {
                self.acked = 0;
                self.cwnd = (self.cwnd + 1).min(self.max);
            }
        }
    }

    /// A loss was detected (a retry got the answer the first try did not): halve.
    pub fn on_loss(&mut self) {
        self.ssthresh = (self.cwnd / 2).max(self.min);
        self.cwnd = self.ssthresh;
        self.acked = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_follows_samples_within_bounds() {
        let bounds = TimeoutBounds::default();
        let mut rtt = RttEstimator::new(bounds);
        assert_eq!(rtt.timeout(), bounds.initial);
        rtt.sample(Duration::from_micros(50));
        assert_eq!(rtt.timeout(), bounds.min, "LAN rtt is floored");
        let mut wan = RttEstimator::new(bounds);
        for _ in 0..20 {
            wan.sample(Duration::from_millis(300));
        }
        let t = wan.timeout();
        assert!(
            t >= Duration::from_millis(300) && t < Duration::from_millis(400),
            "{t:?}"
        );
        let mut slow = RttEstimator::new(bounds);
        slow.sample(Duration::from_secs(30));
        assert_eq!(slow.timeout(), bounds.max);
    }

    /// A try sent with the initial timeout of 1 s ends 100 ms after its send once the host's
    /// timeout drops to 100 ms while it waits; a timeout that grows keeps it waiting longer.
    #[tokio::test(start_paused = true)]
    async fn a_waiting_try_follows_the_hosts_timeout_as_it_changes() {
        use std::sync::atomic::{AtomicU64, Ordering};
        use tokio::time::Instant;
        let timeout_ms = std::sync::Arc::new(AtomicU64::new(1000));
        let current = {
            let t = timeout_ms.clone();
            move || Duration::from_millis(t.load(Ordering::Relaxed))
        };
        // How long a try that gets no answer waits when the host's timeout is `before` at its
        // send and becomes `after` once it has waited `change_at`.
        let silent_try = |before: u64, change_at: u64, after: u64| {
            let (timeout_ms, current) = (timeout_ms.clone(), current.clone());
            async move {
                timeout_ms.store(before, Ordering::Relaxed);
                let sent = Instant::now();
                let waiting = tokio::spawn(within_timeout(
                    std::future::pending::<()>(),
                    sent,
                    current,
                    Duration::from_millis(100),
                ));
                tokio::time::sleep(Duration::from_millis(change_at)).await;
                timeout_ms.store(after, Ordering::Relaxed);
                assert_eq!(waiting.await.unwrap(), None);
                sent.elapsed()
            }
        };
        let shortened = silent_try(1000, 30, 100).await;
        assert!(
            shortened >= Duration::from_millis(100) && shortened <= Duration::from_millis(130),
            "{shortened:?}"
        );
        let lengthened = silent_try(100, 50, 400).await;
        assert!(lengthened >= Duration::from_millis(400), "{lengthened:?}");

        let answered = within_timeout(
            async {
                tokio::time::sleep(Duration::from_millis(250)).await;
                7
            },
            Instant::now(),
            current,
            Duration::from_millis(100),
        )
        .await;
        assert_eq!(answered, Some(7), "an answer within the timeout is taken");
    }

    #[test]
    fn window_grows_and_halves() {
        let mut w = CongestionWindow::new(10, 4, 100);
        for _ in 0..10 {
            w.on_answer();
        }
        assert_eq!(w.get(), 20);
        w.on_loss();
        assert_eq!(w.get(), 10);
        for _ in 0..10 {
            w.on_answer();
        }
        assert_eq!(w.get(), 11, "congestion avoidance: +1 per window");
        for _ in 0..10 {
            w.on_loss();
        }
        assert_eq!(w.get(), 4);
        let mut capped = CongestionWindow::new(99, 1, 100);
        for _ in 0..10 {
            capped.on_answer();
        }
        assert_eq!(capped.get(), 100);
    }
}
