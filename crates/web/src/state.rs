//! What every handler shares: the store, the daemon (when this process runs one), the session
//! key and the sessions signed in, the login rate limiter, the network settings (TLS, trusted
//! proxies), the metrics handle, and the configuration text (shown read-only).

use crate::auth::{Role, Session};
use crate::client::Network;
use crate::pages::layout::{Actions, Flash};
use crate::ratelimit::LoginLimiter;
use portwatch_monitor::daemon::Daemon;
use portwatch_store::{HostRow, Store};
use std::collections::HashMap;
use std::net::IpAddr;
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
    sessions: Sessions,
    login_limiter: Mutex<LoginLimiter>,
    network: Arc<Network>,
    config_text: Option<String>,
    /// When each token's last use was written to the store, so that a busy client costs one
    /// write a minute rather than one per request.
    token_touched: Mutex<HashMap<i64, Instant>>,
    /// The host list as of a history version (see [`Store::hosts_version`]); loading it is
    /// the costliest read of the pages, and it changes only when a scan completes.
    hosts: tokio::sync::Mutex<Option<CachedHosts>>,
    /// How long an agent's claim of a job lasts unless renewed, in ms.
    agent_lease_ms: std::sync::atomic::AtomicI64,
    /// How long an agent's poll waits for a job, in ms.
    agent_poll_ms: std::sync::atomic::AtomicU64,
    /// Cancelled when the server stops, so long polls end at once.
    stopping: tokio_util::sync::CancellationToken,
}

/// How long an agent's claim lasts unless renewed, by default.
pub const AGENT_LEASE: Duration = Duration::from_secs(30);

/// How long an agent's poll waits for a job at most, by default.
pub const AGENT_POLL_WAIT: Duration = Duration::from_secs(20);

/// The host list with the history version it was read at.
type CachedHosts = ((i64, i64), Arc<Vec<HostRow>>);

/// How often a token's `last used` time is written at most.
pub const TOKEN_TOUCH_EVERY: Duration = Duration::from_mins(1);

/// Login attempts allowed per client address and minute.
pub const LOGIN_ATTEMPTS_PER_MINUTE: u32 = 5;

/// The login rate limit's window.
pub const LOGIN_WINDOW: Duration = Duration::from_mins(1);

impl AppState {
    /// State over `store`, with the daemon if this process runs one, and the configuration
    /// file's text if there is one, reached over plain HTTP with no trusted proxy. The session
    /// key is random per process: sessions end when the server restarts.
    pub fn new(store: Store, daemon: Option<Arc<Daemon>>, config_text: Option<String>) -> Self {
        Self::with_network(store, daemon, config_text, Network::default())
    }

    /// [`AppState::new`], reached as `network` says (TLS, trusted proxies).
    pub fn with_network(
        store: Store,
        daemon: Option<Arc<Daemon>>,
        config_text: Option<String>,
        network: Network,
    ) -> Self {
        let mut session_key = [0u8; 32];
        // A failing system RNG would be fatal for security; sessions could not be trusted.
        crate::auth::tokens::random_fill(&mut session_key);
        crate::metrics::install();
        AppState {
            inner: Arc::new(Inner {
                store,
                daemon,
                session_key,
                sessions: Sessions::default(),
                login_limiter: Mutex::new(LoginLimiter::new(
                    LOGIN_ATTEMPTS_PER_MINUTE,
                    LOGIN_WINDOW,
                    crate::ratelimit::MAX_CLIENTS,
                )),
                network: Arc::new(network),
                config_text,
                token_touched: Mutex::new(HashMap::new()),
                hosts: tokio::sync::Mutex::new(None),
                agent_lease_ms: std::sync::atomic::AtomicI64::new(AGENT_LEASE.as_millis() as i64),
                agent_poll_ms: std::sync::atomic::AtomicU64::new(AGENT_POLL_WAIT.as_millis() as u64),
                stopping: tokio_util::sync::CancellationToken::new(),
            }),
        }
    }

    /// Sets how long an agent's claim of a job lasts unless renewed (at least 1 ms).
    pub fn set_agent_lease(&self, lease: Duration) {
        let ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX).max(1);
        self.inner
            .agent_lease_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// How long an agent's claim of a job lasts unless renewed, in ms.
    pub fn agent_lease_ms(&self) -> i64 {
        self.inner
            .agent_lease_ms
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sets how long an agent's poll waits for a job at most.
    pub fn set_agent_poll_wait(&self, wait: Duration) {
        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        self.inner
            .agent_poll_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// How long an agent's poll waits for a job at most.
    pub fn agent_poll_wait(&self) -> Duration {
        Duration::from_millis(
            self.inner
                .agent_poll_ms
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Cancelled when the server stops serving.
    pub fn stopping(&self) -> &tokio_util::sync::CancellationToken {
        &self.inner.stopping
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

    /// The vantages the configuration knows, with their reach: `local` and every group's
    /// (the first declaration of a name wins). What a span seen from a vantage is rated at is
    /// [`portwatch_monitor::config::vantage::named`] over these, on every page, in the API and
    /// in `/metrics`.
    pub async fn vantages(&self) -> Vec<portwatch_monitor::config::Vantage> {
        let mut out = vec![portwatch_monitor::config::Vantage::local()];
        if let Some(daemon) = self.daemon() {
            for g in &daemon.settings().await.groups {
                for v in &g.vantages {
                    if !out.iter().any(|o| o.name == v.name) {
                        out.push(v.clone());
                    }
                }
            }
        }
        out
    }

    /// The daemon, if this process runs one.
    pub fn daemon(&self) -> Option<&Arc<Daemon>> {
        self.inner.daemon.as_ref()
    }

    /// Whether pages offer actions: they need the daemon in this process.
    pub fn actions(&self) -> Actions {
        if self.daemon().is_some() {
            Actions::Offered
        } else {
            Actions::Withheld
        }
    }

    /// The key that signs session cookies.
    pub fn session_key(&self) -> &[u8; 32] {
        &self.inner.session_key
    }

    /// Signs in with `token` at `now` (Unix seconds): a new session, recorded server side, if
    /// the token is live; `None` if it is not.
    pub async fn sign_in(&self, token: &str, now: i64) -> portwatch_store::Result<Option<Session>> {
        let token = token.trim();
        if !crate::auth::tokens::well_formed(token) {
            return Ok(None);
        }
        let hash = crate::auth::tokens::hash(token);
        let Some(row) = self.inner.store.find_token(&hash).await? else {
            return Ok(None);
        };
        let role = row.role.parse::<Role>().unwrap_or(Role::Viewer);
        // An agent token opens no dashboard session: it may call only the agent endpoints.
        if role == Role::Agent {
            return Ok(None);
        }
        let session = Session::new(row.id, &row.name, role, now);
        self.inner.sessions.insert(&session, hash);
        if self.token_use_due(row.id) {
            let _ = self.inner.store.touch_token(row.id).await;
        }
        Ok(Some(session))
    }

    /// The live session a cookie value carries at `now`: signed by this process, not expired,
    /// not logged out, and its token still live. The token is read from the store on every
    /// call (one indexed read, like a bearer request), so a revocation, by this process or any
    /// other sharing the database, ends the session on its next request; the role and name
    /// come from that read too.
    pub async fn session(
        &self,
        cookie: &str,
        now: i64,
    ) -> portwatch_store::Result<Option<Session>> {
        let Some(mut session) = Session::decode(&self.inner.session_key, cookie, now) else {
            return Ok(None);
        };
        let Some(hash) = self.inner.sessions.token_hash(&session.sid, now) else {
            return Ok(None);
        };
        let row = self.inner.store.find_token(&hash).await?;
        let role = row.as_ref().and_then(|r| r.role.parse::<Role>().ok());
        let (Some(row), Some(role)) = (row, role) else {
            self.inner.sessions.remove(&session.sid);
            return Ok(None);
        };
        if row.id != session.token_id {
            return Ok(None);
        }
        if self.token_use_due(row.id) {
            let _ = self.inner.store.touch_token(row.id).await;
        }
        session.role = role;
        session.name = row.name;
        Ok(Some(session))
    }

    /// Ends a session on the server: its cookie is no session any more, here or anywhere.
    pub fn end_session(&self, session: &Session) {
        self.inner.sessions.remove(&session.sid);
    }

    /// How many sessions are recorded (expired ones until they are swept).
    pub fn session_count(&self) -> usize {
        self.inner.sessions.len()
    }

    /// Keeps `flash` for the next page `user`'s session shows (one at a time: a newer one
    /// replaces it). Without a session (a bearer token) there is no page to show it on.
    pub fn set_flash(&self, user: &crate::auth::User, flash: Flash) {
        if let Some(s) = &user.session {
            self.inner.sessions.set_flash(&s.sid, flash);
        }
    }

    /// The flash waiting for `user`'s session, taken (it shows once).
    pub fn take_flash(&self, user: &crate::auth::User) -> Option<Flash> {
        user.session
            .as_ref()
            .and_then(|s| self.inner.sessions.take_flash(&s.sid))
    }

    /// Whether `client` may try to log in now; if not, how long until it may.
    pub fn login_allowed(&self, client: IpAddr) -> Result<(), Duration> {
        match self.inner.login_limiter.lock() {
            Ok(mut limiter) => limiter.check(client, Instant::now()),
            Err(_) => Err(LOGIN_WINDOW),
        }
    }

    /// How the server is reached (TLS, trusted proxies).
    pub fn network(&self) -> &Arc<Network> {
        &self.inner.network
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

/// Most sessions kept at once; signing in beyond it ends the expired ones, then the oldest.
pub const MAX_SESSIONS: usize = 10_000;

/// The server's half of the dashboard sessions: session id -> the hash of the token it signed
/// in with and its expiry. In memory, like the key that signs the cookies, so sessions end
/// when the process does.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, SessionRecord>>,
}

struct SessionRecord {
    token_hash: String,
    exp: i64,
    /// What the session's last dashboard action did, until a page shows it.
    flash: Option<Flash>,
}

impl Sessions {
    fn insert(&self, session: &Session, token_hash: String) {
        let Ok(mut map) = self.map.lock() else {
            return;
        };
        if map.len() >= MAX_SESSIONS {
            let now = crate::auth::now_secs();
            map.retain(|_, r| r.exp > now);
        }
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, r)| r.exp)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(
            session.sid.clone(),
            SessionRecord {
                token_hash,
                exp: session.exp,
                flash: None,
            },
        );
    }

    fn token_hash(&self, sid: &str, now: i64) -> Option<String> {
        let mut map = self.map.lock().ok()?;
        match map.get(sid) {
            Some(r) if r.exp > now => Some(r.token_hash.clone()),
            Some(_) => {
                map.remove(sid);
                None
            }
            None => None,
        }
    }

    fn set_flash(&self, sid: &str, flash: Flash) {
        if let Ok(mut map) = self.map.lock()
            && let Some(r) = map.get_mut(sid)
        {
            r.flash = Some(flash);
        }
    }

    fn take_flash(&self, sid: &str) -> Option<Flash> {
        self.map.lock().ok()?.get_mut(sid)?.flash.take()
    }

    fn remove(&self, sid: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(sid);
        }
    }

    fn len(&self) -> usize {
        self.map.lock().map_or(0, |m| m.len())
    }
}
