//! A progress bar with rate and ETA on stderr, only when stderr is a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use portwatch_scan::engine::ScanProgress;
use std::io::IsTerminal;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Draws `progress` until the returned handle is dropped or finished.
pub struct ProgressView {
    bar: ProgressBar,
    gauge: Option<Gauge>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// What the bar shows, read from the engine's counters: ports done of all, and the message
/// with ports open and the rate.
#[derive(Clone)]
struct Gauge {
    progress: Arc<ScanProgress>,
    started: Instant,
}

impl Gauge {
    /// Sets the bar to the counters as they are now (it draws them at its next draw).
    fn apply(&self, bar: &ProgressBar) {
        let done = self.progress.done.load(Ordering::Relaxed);
        bar.set_length(self.progress.total.load(Ordering::Relaxed));
        bar.set_position(done);
        bar.set_message(status_message(
            done,
            self.progress.open.load(Ordering::Relaxed),
            self.started.elapsed(),
        ));
    }
}

impl ProgressView {
    /// Starts drawing if `enabled` and stderr is a terminal.
    pub fn start(progress: Arc<ScanProgress>, enabled: bool) -> Self {
        if !enabled || !std::io::stderr().is_terminal() {
            return ProgressView {
                bar: ProgressBar::hidden(),
                gauge: None,
                task: None,
            };
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} ports {msg} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let gauge = Gauge {
            progress,
            started: Instant::now(),
        };
        let (view, ticking) = (bar.clone(), gauge.clone());
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tick.tick().await;
                ticking.apply(&view);
            }
        });
        ProgressView {
            bar,
            gauge: Some(gauge),
            task: Some(task),
        }
    }

    /// Wraps the writer of standard output so that each write first takes the bar off the
    /// screen and draws it again after, with the counters as they are then: results never
    /// land on (or under) a bar frame, and the frame under them is not older than they are.
    pub fn around<W: Write>(&self, inner: W) -> AroundBar<W> {
        AroundBar {
            inner,
            bar: self.bar.clone(),
            gauge: self.gauge.clone(),
        }
    }

    /// Removes the bar from the terminal.
    pub fn finish(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        self.bar.finish_and_clear();
    }
}

/// A writer that suspends the progress bar while it writes (see [`ProgressView::around`]).
pub struct AroundBar<W> {
    inner: W,
    bar: ProgressBar,
    gauge: Option<Gauge>,
}

impl<W: Write> Write for AroundBar<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The counters already count what is about to be written; the bar must not be
        // touched inside `suspend`, which holds its lock.
        if let Some(g) = &self.gauge {
            g.apply(&self.bar);
        }
        let inner = &mut self.inner;
        self.bar.suspend(|| {
            let n = inner.write(buf)?;
            inner.flush()?;
            Ok(n)
        })
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The bar's message: ports found open so far and the mean rate, in whole ports a second.
fn status_message(done: u64, open: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
    format!("{open} open, {rate:.0}/s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_shows_open_ports_and_a_whole_rate() {
        assert_eq!(
            status_message(1234, 2, Duration::from_millis(1500)),
            "2 open, 823/s"
        );
        assert_eq!(status_message(0, 0, Duration::ZERO), "0 open, 0/s");
    }
}
