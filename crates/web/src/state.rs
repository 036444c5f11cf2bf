//! What every handler shares: the store, the daemon (when this process runs one), the session
//! key, the login rate limiter, the metrics handle, and the configuration text (shown
//! read-only).

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use portwatch_monitor::daemon::Daemon;
use portwatch_store::Store;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

/// Shared state (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    daemon: Option<Arc<Daemon>>,
    session_key: [u8; 32],
    login_limiter: DefaultKeyedRateLimiter<IpAddr>,
    config_text: Option<String>,
}

/// Login attempts allowed per client address and minute.
pub const LOGIN_ATTEMPTS_PER_MINUTE: u32 = 5;

impl AppState {
    /// State over `store`, with the daemon if this process runs one, and the configuration
    /// file's text if there is one. The session key is random per process: sessions end when
    /// the server restarts.
    pub fn new(store: Store, daemon: Option<Arc<Daemon>>, config_text: Option<String>) -> Self {
        let mut session_key = [0u8; 32];
        // A failing system RNG would be fatal for security; sessions could not be trusted.
        getrandom::fill(&mut session_key).expect("the system random generator works");
        let quota = Quota::per_minute(
            NonZeroU32::new(LOGIN_ATTEMPTS_PER_MINUTE).unwrap_or(NonZeroU32::MIN),
        );
        crate::metrics::install();
        AppState {
            inner: Arc::new(Inner {
                store,
                daemon,
                session_key,
                login_limiter: RateLimiter::keyed(quota),
                config_text,
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The daemon, if this process runs one.
    pub fn daemon(&self) -> Option<&Arc<Daemon>> {
        self.inner.daemon.as_ref()
    }

    /// The key that signs session cookies.
    pub fn session_key(&self) -> &[u8; 32] {
        &self.inner.session_key
    }

    /// Whether `client` may try to log in now.
    pub fn login_allowed(&self, client: IpAddr) -> bool {
        self.inner.login_limiter.check_key(&client).is_ok()
    }

    /// The configuration file as written, if any.
    pub fn config_text(&self) -> Option<&str> {
        self.inner.config_text.as_deref()
    }
}
