//! What every handler shares: the store, the daemon (when this process runs one), the session
//! key, the login rate limiter, the metrics handle, and the configuration text (shown
//! read-only).

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use portwatch_monitor::daemon::Daemon;
use portwatch_store::{HostRow, Store};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    /// When each token's last use was written to the store, so that a busy client costs one
    /// write a minute rather than one per request.
    token_touched: Mutex<HashMap<i64, Instant>>,
    /// The host list as of a history version (see [`Store::hosts_version`]); loading it is
    /// the costliest read of the pages, and it changes only when a scan completes.
    hosts: tokio::sync::Mutex<Option<CachedHosts>>,
}

/// The host list with the history version it was read at.
type CachedHosts = ((i64, i64), Arc<Vec<HostRow>>);

/// How often a token's `last used` time is written at most.
pub const TOKEN_TOUCH_EVERY: Duration = Duration::from_secs(60);

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
                token_touched: Mutex::new(HashMap::new()),
                hosts: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Every host, as [`Store::hosts`] lists them, from a cache that a completed scan (or
    /// pruning, or an import) invalidates. Concurrent callers share one load.
    pub async fn hosts(&self) -> portwatch_store::Result<Arc<Vec<HostRow>>> {
        let version = self.inner.store.hosts_version().await?;
        let mut cached = self.inner.hosts.lock().await;
        if let Some((v, hosts)) = cached.as_ref()
            && *v == version
        {
            return Ok(hosts.clone());
        }
        let hosts = Arc::new(self.inner.store.hosts().await?);
        *cached = Some((version, hosts.clone()));
        Ok(hosts)
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

    /// Whether token `id`'s use should be written now (at most once per [`TOKEN_TOUCH_EVERY`]).
    pub fn token_use_due(&self, id: i64) -> bool {
        let now = Instant::now();
        let Ok(mut touched) = self.inner.token_touched.lock() else {
            return true;
        };
        match touched.get(&id) {
            Some(at) if now.duration_since(*at) < TOKEN_TOUCH_EVERY => false,
            _ => {
                touched.insert(id, now);
                true
            }
        }
    }

    /// The configuration text in force, if any: the daemon's after a reload, else the file
    /// as it was at start.
    pub async fn config_text(&self) -> Option<String> {
        if let Some(d) = &self.inner.daemon
            && let Some(text) = d.config_text().await
        {
            return Some(text);
        }
        self.inner.config_text.clone()
    }
}
