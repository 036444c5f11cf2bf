//! Shared by the dashboard's page tests and browser tests: a real server (the crate's router
//! over a temporary SQLite store, optionally with a monitor daemon), sessions, and history
//! written through the store API.

#![allow(dead_code)]

pub mod axe;
#[path = "../common_http/mod.rs"]
mod common_http;
pub mod webdriver;

pub use common_http::{client, daemon_for, install_tls_provider};

use anyhow::{Context, Result};
use portwatch_kb::Severity;
use portwatch_model::ports::PortList;
use portwatch_model::{PortResult, Proto};
use portwatch_monitor::alerts::{Entry, Status};
use portwatch_monitor::daemon::Daemon;
use portwatch_monitor::policy::{Finding, Rule};
use portwatch_store::{
    AlertStateRow, Effects, HostOutcome, NewOutboxMessage, NewScan, ScanOutcome, Store,
};
use portwatch_testkit::TestDb;
use portwatch_web::AppState;
use portwatch_web::auth::{Role, Session};
use serde_json::{Value, json};
use std::net::IpAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A hostname no page may print unescaped.
pub const HOSTILE_NAME: &str = "<script>alert('name')</script>";
/// A banner no page may print unescaped.
pub const HOSTILE_BANNER: &str = "SSH-2.0-<script>alert(\"banner\")</script>";
/// The file server of the fixture history.
pub const FILESRV: &str = "10.0.0.5";
/// The host with the hostile banner.
pub const EVIL: &str = "10.0.0.6";

/// A running dashboard.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The state it serves.
    pub state: AppState,
    /// The store.
    pub store: Store,
    /// The daemon, when the server has one.
    pub daemon: Option<Arc<Daemon>>,
    stop: CancellationToken,
    _db: TestDb,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A fresh SQLite database (portwatch-testkit's) and the store on it.
pub async fn fresh_store() -> Result<(TestDb, Store)> {
    let db = TestDb::sqlite().await?;
    let store = Store::open(&db.url).await?;
    Ok((db, store))
}

/// The configuration of the page tests' monitor.
pub fn config_text(port: u16) -> String {
    format!(
        "[alerts]\nconfirmations = 2\nconfirm_after = \"200ms\"\nremind_every = \"0\"\n\n\
         [[notify]]\nname = \"ops\"\ntype = \"webhook\"\nurl = \"https://hooks.example.invalid/T0PSECRET\"\n\n\
         [[group]]\nname = \"lab\"\ntargets = [\"127.0.0.1\"]\nevery = \"1s\"\n\
         [group.policy]\nmust_be_closed = [\"{port}\"]\n\n\
         [[group]]\nname = \"file-servers\"\ntargets = [\"{FILESRV}\"]\nevery = \"1h\"\n\
         [group.policy]\nmust_be_closed = [\"T:139,445\"]\nseverity = \"critical\"\n"
    )
}

/// Serves the crate's router over `store` (with `daemon` and `config`) on a free loopback port.
pub async fn serve(
    db: TestDb,
    store: Store,
    daemon: Option<Arc<Daemon>>,
    config: Option<String>,
) -> Result<Server> {
    let state = AppState::new(store.clone(), daemon.clone(), config);
    let stop = CancellationToken::new();
    let addr = common_http::serve_router(state.clone(), stop.clone()).await?;
    Ok(Server {
        base: format!("http://{addr}"),
        state,
        store,
        daemon,
        stop,
        _db: db,
    })
}

/// A server over the fixture history, with a (not running) daemon when `with_daemon`.
pub async fn fixture(with_daemon: bool) -> Result<Server> {
    let (db, store) = fresh_store().await?;
    fill_history(&store).await?;
    let text = config_text(9);
    let daemon = if with_daemon {
        Some(daemon_for(&text, &store, None).await?)
    } else {
        None
    };
    serve(db, store, daemon, Some(text)).await
}

/// A server with a (not running) daemon configured by `text`, over an empty store.
pub async fn configured(text: &str) -> Result<Server> {
    let (db, store) = fresh_store().await?;
    let daemon = daemon_for(text, &store, None).await?;
    serve(db, store, Some(daemon), Some(text.to_string())).await
}

/// A group with two maintenance windows: a fixed one that covers now, whose reason is
/// `reason`, and a weekly one.
pub fn windows_config(reason: &str) -> String {
    format!(
        "[[group]]\nname = \"lab\"\ntargets = [\"127.0.0.1\"]\nevery = \"1h\"\n\
         [group.policy]\nmust_be_closed = [\"T:445\"]\n\
         [[group.silence]]\nfrom = \"2000-01-01T00:00:00Z\"\nuntil = \"2099-01-01T00:00:00Z\"\nreason = {reason:?}\n\
         [[group.silence]]\ncron = \"0 2 * * SUN\"\nfor = \"2h\"\nreason = \"Sunday backups\"\n"
    )
}

impl Server {
    /// A session cookie (`name=value`) for a new token of `role`, minted like the login does.
    pub async fn cookie(&self, role: Role) -> Result<String> {
        let (token, _) =
            portwatch_web::auth::tokens::create(&self.store, role.as_str(), role).await?;
        let session = self
            .state
            .sign_in(&token, now_secs())
            .await?
            .context("a new token signs in")?;
        Ok(cookie_pair(&session.set_cookie(self.state.session_key())))
    }

    /// The CSRF token inside a session cookie made by [`Server::cookie`].
    pub fn csrf_of(&self, cookie: &str) -> Result<String> {
        let value = cookie.split_once('=').map_or("", |(_, v)| v);
        let s = Session::decode(self.state.session_key(), value, now_secs())
            .context("the cookie is not a session")?;
        Ok(s.csrf)
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A session cookie for a new token of `role` ([`Server::cookie`]) and its CSRF token.
    pub async fn session(&self, role: Role) -> Result<(String, String)> {
        let cookie = self.cookie(role).await?;
        let csrf = self.csrf_of(&cookie)?;
        Ok((cookie, csrf))
    }

    /// GET `path` with the session `cookie` (redirects not followed).
    pub async fn get_with(&self, cookie: &str, path: &str) -> Result<reqwest::Response> {
        Ok(client()
            .get(self.url(path))
            .header("cookie", cookie)
            .send()
            .await?)
    }

    /// The static file at `path`, served without a session with status 200 and a content
    /// type starting with `content_type`: its text.
    pub async fn asset(&self, path: &str, content_type: &str) -> Result<String> {
        let r = client().get(self.url(path)).send().await?;
        assert_eq!(r.status(), reqwest::StatusCode::OK, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()?
                .starts_with(content_type),
            "{path}: {:?}",
            r.headers()["content-type"]
        );
        Ok(r.text().await?)
    }

    /// The body of `path` as the session `cookie` sees it.
    pub async fn page(&self, cookie: &str, path: &str) -> Result<String> {
        Ok(self.get_with(cookie, path).await?.text().await?)
    }
}

/// `name=value` of a `Set-Cookie` header value.
pub fn cookie_pair(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn now_ms() -> i64 {
    portwatch_monitor::daemon::now_ms()
}

/// An open TCP port result with `details`.
pub fn open(
    host: &str,
    hostname: Option<&str>,
    port: u16,
    service: &str,
    details: Value,
) -> PortResult {
    serde_json::from_value(json!({
        "host": host, "hostname": hostname, "port": port, "proto": "tcp", "state": "open",
        "reason": "syn-ack", "service": service, "rtt_ms": 0.2, "details": details
    }))
    .expect("a port result")
}

/// Records one complete scan of `hosts` (all up) covering `ports`, with `results` and `effects`.
pub async fn record_scan(
    store: &Store,
    source: &str,
    hosts: &[(&str, Option<&str>)],
    ports: &[u16],
    results: Vec<PortResult>,
    effects: Effects,
) -> Result<()> {
    let coverage = PortList {
        tcp: ports.to_vec(),
        udp: vec![],
    };
    let id = store
        .begin_scan(&NewScan {
            source: source.into(),
            vantage: portwatch_store::LOCAL_VANTAGE.into(),
            args: vec![],
            targets: hosts.iter().map(|(h, _)| h.to_string()).collect(),
            ports: coverage.clone(),
        })
        .await?;
    let outcome = ScanOutcome {
        identified: true,
        hosts: hosts
            .iter()
            .map(|(h, name)| HostOutcome {
                addr: h.parse().expect("an address"),
                hostname: name.map(str::to_string),
                up: true,
            })
            .collect(),
        coverage,
        results,
    };
    store.finish_scan(id, &outcome, &effects).await?;
    Ok(())
}

/// A firing must-be-closed violation of `group` on `host:port/tcp`, as the monitor saves it.
pub fn violation_row(
    group: &str,
    host: &str,
    hostname: Option<&str>,
    port: u16,
    answered: &str,
) -> (String, AlertStateRow) {
    let since = now_ms() - 3_600_000;
    let finding = Finding {
        group: group.into(),
        vantage: "local".into(),
        host: host.parse().expect("an address"),
        hostname: hostname.map(str::to_string),
        port: Some(port),
        proto: Some(Proto::Tcp),
        rule: Rule::MustBeClosed,
        severity: Severity::Critical,
        state: Some(portwatch_model::PortState::Open),
        service: Some("microsoft-ds".into()),
        answered: Some(answered.into()),
        explain: None,
        fix: None,
    };
    let key = finding.key();
    let entry = Entry {
        status: Status::Firing,
        since_ms: since,
        streak: 0,
        notified_ms: Some(since),
        reminded_ms: None,
        acknowledged: false,
        silenced_until_ms: None,
        resolved_ms: None,
        finding,
    };
    let row = portwatch_monitor::daemon::state_row(&key, Some(&entry), since);
    (key, row)
}

/// An outbox message (as the daemon queues them) about `host:port`.
pub fn outbox_message(key: &str, host: &str, port: u16, channel: &str) -> NewOutboxMessage {
    let alert = json!({
        "key": format!("{key}|Opened|1"), "kind": "opened", "group": "file-servers",
        "host": host, "hostname": null, "port": port, "proto": "tcp", "rule": "must be closed",
        "severity": "critical", "state": "open", "service": "microsoft-ds", "answered": null,
        "details": null, "since_ms": now_ms(), "at_ms": now_ms(), "explain": null, "fix": [],
        "fix_platform": null
    });
    NewOutboxMessage {
        idempotency_key: format!("{key}|Opened|1|{channel}"),
        channel: channel.into(),
        payload: alert,
    }
}

/// The fixture history: a Samba file server with NetBIOS and SMB details and a firing
/// violation with its alert, a host with a hostile name and banner, and 250 quiet hosts (so
/// the host list has two pages).
pub async fn fill_history(store: &Store) -> Result<()> {
    let smb = json!({
        "netbios": {"name": "FILESRV01", "workgroup": "CORP", "names": [
            {"name": "FILESRV01", "suffix": "<20>", "group": false, "active": true, "service": "file server"}]},
        "smb": {"dialects": ["NT LM 0.12", "2.0.2", "3.1.1"], "smb1": true, "signing": "enabled-not-required"}
    });
    // First the file server with only 139 open, then 445 opens too (a timeline with history).
    record_scan(
        store,
        "monitor:file-servers",
        &[(FILESRV, Some("filesrv01"))],
        &[139, 445],
        vec![open(
            FILESRV,
            Some("filesrv01"),
            139,
            "netbios-ssn",
            json!({}),
        )],
        Effects::default(),
    )
    .await?;
    let (key, row) = violation_row(
        "file-servers",
        FILESRV,
        Some("filesrv01"),
        445,
        "FILESRV01, SMB 3.1.1, SMB1 on",
    );
    let (evil_key, evil_row) = violation_row(
        "file-servers",
        EVIL,
        Some(HOSTILE_NAME),
        445,
        HOSTILE_BANNER,
    );
    record_scan(
        store,
        "monitor:file-servers",
        &[(FILESRV, Some("filesrv01")), (EVIL, Some(HOSTILE_NAME))],
        &[22, 139, 445],
        vec![
            open(FILESRV, Some("filesrv01"), 139, "netbios-ssn", json!({})),
            open(FILESRV, Some("filesrv01"), 445, "microsoft-ds", smb),
            open(
                EVIL,
                Some(HOSTILE_NAME),
                22,
                "ssh",
                json!({"banner": {"text": HOSTILE_BANNER}}),
            ),
            open(EVIL, Some(HOSTILE_NAME), 445, "microsoft-ds", json!({})),
        ],
        Effects {
            alert_states: vec![row, evil_row],
            outbox: vec![
                outbox_message(&key, FILESRV, 445, "ops"),
                outbox_message(&key, FILESRV, 445, "mail"),
                outbox_message(&evil_key, EVIL, 445, "ops"),
            ],
            ..Default::default()
        },
    )
    .await?;
    let quiet: Vec<String> = (0..250)
        .map(|i| format!("10.1.{}.{}", i / 200, i % 200 + 1))
        .collect();
    let hosts: Vec<(&str, Option<&str>)> = quiet.iter().map(|h| (h.as_str(), None)).collect();
    let results = quiet
        .iter()
        .map(|h| {
            open(
                h,
                None,
                22,
                "ssh",
                json!({"banner": {"text": "SSH-2.0-OpenSSH_9.2p1"}}),
            )
        })
        .collect();
    record_scan(store, "scan", &hosts, &[22], results, Effects::default()).await?;
    Ok(())
}

/// The key of the file server's violation.
pub fn filesrv_key() -> String {
    violation_row("file-servers", FILESRV, None, 445, "").0
}

/// Parses an address (for readability in tests).
pub fn ip(text: &str) -> IpAddr {
    text.parse().expect("an address")
}
