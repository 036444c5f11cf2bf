//! The daemon's clock: the system's in production, a hand-set one in tests, so schedules,
//! windows, reminders and silences are tested in milliseconds instead of waited for.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Where the daemon reads the time (Unix ms) for its decisions.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// A clock that moves only when told (tests).
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// A hand-set clock starting at `start_ms`.
    pub fn manual(start_ms: i64) -> Clock {
        Clock::Manual(Arc::new(AtomicI64::new(start_ms)))
    }

    /// Now, in Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::System => super::now_ms(),
            Clock::Manual(t) => t.load(Ordering::SeqCst),
        }
    }

    /// Sets a manual clock (no effect on the system clock).
    pub fn set_ms(&self, ms: i64) {
        if let Clock::Manual(t) = self {
            t.store(ms, Ordering::SeqCst);
        }
    }

    /// Moves a manual clock forward by `ms`.
    pub fn advance_ms(&self, ms: i64) {
        if let Clock::Manual(t) = self {
            t.fetch_add(ms, Ordering::SeqCst);
        }
    }
}
