//! A progress bar with rate and ETA on stderr, only when stderr is a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use portwatch_scan::engine::ScanProgress;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Draws `progress` until the returned handle is dropped or finished.
pub struct ProgressView {
    bar: ProgressBar,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ProgressView {
    /// Starts drawing if `enabled` and stderr is a terminal.
    pub fn start(progress: Arc<ScanProgress>, enabled: bool) -> Self {
        if !enabled || !std::io::stderr().is_terminal() {
            return ProgressView {
                bar: ProgressBar::hidden(),
                task: None,
            };
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} ports {per_sec} ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let view = bar.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tick.tick().await;
                view.set_length(progress.total.load(Ordering::Relaxed));
                view.set_position(progress.done.load(Ordering::Relaxed));
                view.set_message(format!("{} open", progress.open.load(Ordering::Relaxed)));
            }
        });
        ProgressView {
            bar,
            task: Some(task),
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
