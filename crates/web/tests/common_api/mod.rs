//! Support for the API tests: a fresh database (a temporary SQLite file, or a PostgreSQL
//! database `pwtest_<time>_<random>` dropped afterwards), history written through the store
//! API, a real monitor daemon over the same store, tokens, and the real router on a random
//! loopback port. Every request goes over HTTP.

#![allow(dead_code)]

#[path = "../common_http/mod.rs"]
mod common_http;

use anyhow::{Context, Result};
use portwatch_kb::Severity;
use portwatch_model::ports::PortList;
use portwatch_model::{PortResult, PortState, Proto};
use portwatch_monitor::alerts::{Entry, Status};
use portwatch_monitor::daemon::Daemon;
use portwatch_monitor::policy::{Finding, Rule};
use portwatch_store::{
    AlertStateRow, Effects, HostOutcome, NewOutboxMessage, NewScan, ScanId, ScanOutcome, Store,
};
use portwatch_web::AppState;
use portwatch_web::auth::{Role, tokens};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// Runs each named `async fn(TestDb) -> anyhow::Result<()>` on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($($t:tt)*) => { portwatch_testkit::both_backends!($($t)*); };
}

/// A temporary database (portwatch-testkit's).
pub use portwatch_testkit::TestDb;

/// Keys of the violations the fixture puts in the alert book.
pub const KEY_445: &str = "file-servers|10.0.0.5|445/tcp|MustBeClosed";
/// Pending.
pub const KEY_139: &str = "file-servers|10.0.0.5|139/tcp|MustBeClosed";
/// Resolving.
pub const KEY_8080: &str = "web-servers|192.0.2.10|8080/tcp|Unexpected";

/// Ids of the scans the fixture wrote.
#[derive(Debug, Clone, Copy)]
pub struct Seed {
    /// Complete: 10.0.0.5 139+445, 10.0.0.6 22, 192.0.2.10 443, 10.0.0.7 nothing.
    pub first: ScanId,
    /// Complete: 445 closed on 10.0.0.5, 80 opened on 10.0.0.6.
    pub second: ScanId,
    /// Still running.
    pub running: ScanId,
    /// Failed.
    pub failed: ScanId,
    /// A "scan now" request still pending: another replica asked for group `retired`, which
    /// this configuration no longer has, so no scan ever runs for it.
    pub request: i64,
}

/// A running API over a seeded store.
pub struct Api {
    /// The database.
    pub db: TestDb,
    /// The store (the same the server uses).
    pub store: Store,
    /// The server's state.
    pub state: AppState,
    /// The daemon, when started with one.
    pub daemon: Option<Arc<Daemon>>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The server's address.
    pub addr: SocketAddr,
    /// An admin token.
    pub admin: String,
    /// Its id.
    pub admin_id: i64,
    /// A viewer token.
    pub viewer: String,
    /// The port the `local` group must see closed (a listener held open by the fixture).
    pub watched_port: u16,
    /// Scans written by the fixture.
    pub seed: Seed,
    /// HTTP client.
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    _watched: tokio::net::TcpListener,
}

impl Drop for Api {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn result(host: &str, port: u16, service: Option<&str>, details: Value) -> Result<PortResult> {
    let mut r: PortResult = serde_json::from_value(json!({
        "host": host, "hostname": null, "port": port, "proto": "tcp", "state": "open",
        "reason": "syn-ack", "service": service, "rtt_ms": 0.2
    }))?;
    if let Value::Object(m) = details {
        r.details = m;
    }
    Ok(r)
}

fn outcome(
    hosts: &[(&str, Option<&str>, bool)],
    ports: &[u16],
    results: Vec<PortResult>,
) -> ScanOutcome {
    ScanOutcome {
        identified: true,
        hosts: hosts
            .iter()
            .map(|(a, name, up)| HostOutcome {
                addr: a.parse().unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
                hostname: name.map(str::to_string),
                up: *up,
            })
            .collect(),
        coverage: PortList {
            tcp: ports.to_vec(),
            udp: vec![],
        },
        results,
    }
}

async fn run_scan(store: &Store, o: &ScanOutcome) -> Result<ScanId> {
    let id = store
        .begin_scan(&NewScan {
            source: "scan".into(),
            vantage: portwatch_store::LOCAL_VANTAGE.into(),
            args: vec!["portwatch".into(), "scan".into()],
            targets: o.hosts.iter().map(|h| h.addr.to_string()).collect(),
            ports: o.coverage.clone(),
        })
        .await?;
    store.finish_scan(id, o, &Effects::default()).await?;
    Ok(id)
}

fn finding(group: &str, host: &str, port: u16, rule: Rule, severity: Severity) -> Result<Finding> {
    Ok(Finding {
        group: group.into(),
        vantage: "local".into(),
        host: host.parse()?,
        hostname: None,
        port: Some(port),
        proto: Some(Proto::Tcp),
        rule,
        severity,
        state: Some(PortState::Open),
        service: None,
        answered: None,
        explain: Some("a port that should be closed".into()),
        fix: None,
    })
}

fn state_row(
    key: &str,
    status: Status,
    since: i64,
    notified: Option<i64>,
    f: Finding,
) -> Result<AlertStateRow> {
    let entry = Entry {
        status,
        since_ms: since,
        streak: 0,
        notified_ms: notified,
        reminded_ms: None,
        acknowledged: false,
        silenced_until_ms: None,
        resolved_ms: None,
        finding: f,
    };
    Ok(AlertStateRow {
        key: key.into(),
        status: format!("{status:?}").to_lowercase(),
        since,
        data: serde_json::to_value(&entry)?,
        updated_at: since,
        version: 0,
    })
}

fn message(key: &str, channel: &str, kind: &str, port: u16) -> NewOutboxMessage {
    NewOutboxMessage {
        idempotency_key: format!("{key}|{channel}"),
        channel: channel.into(),
        payload: json!({
            "key": key, "kind": kind, "group": "file-servers", "host": "10.0.0.5",
            "hostname": null, "port": port, "proto": "tcp", "rule": "must be closed",
            "severity": "critical", "state": "open", "service": null, "answered": null,
            "details": null, "since_ms": 1_700_000_000_000_i64, "at_ms": 1_700_000_060_000_i64,
            "explain": null, "fix": [], "fix_platform": null
        }),
    }
}

/// Writes the fixture's history, alert states and outbox through the store API.
async fn seed(store: &Store) -> Result<Seed> {
    let smb = json!({"netbios": {"name": "FILESRV01", "workgroup": "CORP"}});
    let hosts = [
        ("10.0.0.5", Some("filesrv01"), true),
        ("10.0.0.6", None, true),
        ("10.0.0.7", None, true),
        ("192.0.2.10", Some("www.example.test"), true),
    ];
    let ports = [22, 80, 139, 443, 445];
    let first = run_scan(
        store,
        &outcome(
            &hosts,
            &ports,
            vec![
                result("10.0.0.5", 139, Some("netbios-ssn"), smb.clone())?,
                result("10.0.0.5", 445, Some("microsoft-ds"), json!({}))?,
                result("10.0.0.6", 22, Some("ssh"), json!({}))?,
                result("192.0.2.10", 443, Some("https"), json!({}))?,
            ],
        ),
    )
    .await?;
    let second = run_scan(
        store,
        &outcome(
            &hosts,
            &ports,
            vec![
                result("10.0.0.5", 139, Some("netbios-ssn"), smb)?,
                result("10.0.0.6", 22, Some("ssh"), json!({}))?,
                result("10.0.0.6", 80, Some("http"), json!({}))?,
                result("192.0.2.10", 443, Some("https"), json!({}))?,
            ],
        ),
    )
    .await?;
    let scan = NewScan {
        source: "check".into(),
        vantage: portwatch_store::LOCAL_VANTAGE.into(),
        args: vec![],
        targets: vec!["10.0.0.0/30".into()],
        ports: PortList {
            tcp: vec![22],
            udp: vec![],
        },
    };
    let running = store.begin_scan(&scan).await?;
    let failed = store.begin_scan(&scan).await?;
    store.fail_scan(failed, "no route to host").await?;
    let t = 1_700_000_000_000_i64;
    store
        .write_effects(&Effects {
            alert_states: vec![
                state_row(
                    KEY_445,
                    Status::Firing,
                    t,
                    Some(t + 1_000),
                    finding(
                        "file-servers",
                        "10.0.0.5",
                        445,
                        Rule::MustBeClosed,
                        Severity::Critical,
                    )?,
                )?,
                state_row(
                    KEY_139,
                    Status::Pending,
                    t + 5_000,
                    None,
                    finding(
                        "file-servers",
                        "10.0.0.5",
                        139,
                        Rule::MustBeClosed,
                        Severity::High,
                    )?,
                )?,
                state_row(
                    KEY_8080,
                    Status::Resolving,
                    t,
                    Some(t + 1_000),
                    finding(
                        "web-servers",
                        "192.0.2.10",
                        8080,
                        Rule::Unexpected,
                        Severity::Medium,
                    )?,
                )?,
            ],
            outbox: vec![
                message("a|opened", "ops", "opened", 445),
                message("b|reminder", "ops", "reminder", 445),
                message("c|opened", "mail", "opened", 139),
            ],
            ..Default::default()
        })
        .await?;
    // The oldest message went out; the others are pending.
    let rows = store.outbox_recent(10, 0).await?;
    let oldest = rows.last().context("the outbox is empty")?;
    store.outbox_delivered(oldest.id, t + 2_000).await?;
    // Asked now: requests asked for more than a day ago are forgotten by the leader.
    let request = store
        .scan_request_add("retired", portwatch_monitor::daemon::now_ms())
        .await?
        .id;
    Ok(Seed {
        first,
        second,
        running,
        failed,
        request,
    })
}

/// The daemon's configuration: groups that only ever scan 127.0.0.1, on a yearly schedule
/// (nothing runs unless asked).
fn config(watched: u16) -> String {
    let mut text = String::from(
        "[alerts]\nconfirmations = 2\nconfirm_after = \"200ms\"\nremind_every = \"0\"\n\n\
         [defaults.scan]\nretries = 0\nprobes = false\n",
    );
    for (name, policy) in [
        (
            "local",
            format!("must_be_closed = [\"T:{watched}\"]\nseverity = \"high\""),
        ),
        (
            "file-servers",
            "must_be_closed = [\"T:137-139,445\"]\nseverity = \"critical\"".into(),
        ),
        ("web-servers", "allowed_open = [\"22\", \"443\"]".into()),
    ] {
        text.push_str(&format!(
            "\n[[group]]\nname = \"{name}\"\ntargets = [\"127.0.0.1\"]\ncron = \"0 0 1 1 *\"\n\
             [group.policy]\n{policy}\n"
        ));
    }
    text
}

impl Api {
    /// Opens the store on `db`, seeds it, starts a daemon (when `with_daemon`) and serves.
    pub async fn start(db: TestDb, with_daemon: bool) -> Result<Api> {
        common_http::install_tls_provider();
        let store = Store::open(&db.url).await?;
        let seed = seed(&store).await?;
        let (admin, admin_id) = tokens::create(&store, "ci-admin", Role::Admin).await?;
        let (viewer, _) = tokens::create(&store, "ci-viewer", Role::Viewer).await?;
        let watched = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let watched_port = watched.local_addr()?.port();
        let shutdown = CancellationToken::new();
        let text = config(watched_port);
        let daemon = if with_daemon {
            Some(common_http::daemon_for(&text, &store, Some(shutdown.clone())).await?)
        } else {
            None
        };
        let state = AppState::new(store.clone(), daemon.clone(), Some(text));
        let addr = common_http::serve_router(state.clone(), shutdown.clone()).await?;
        Ok(Api {
            db,
            store,
            state,
            daemon,
            base: format!("http://{addr}"),
            addr,
            admin,
            admin_id,
            viewer,
            watched_port,
            seed,
            client: common_http::client(),
            shutdown,
            _watched: watched,
        })
    }

    /// GET `path` with `token` (None: anonymous); the status and the body as JSON (a string
    /// when it is not JSON).
    pub async fn get_as(&self, token: Option<&str>, path: &str) -> Result<(StatusCode, Value)> {
        self.send("get", path, token, &[], None).await
    }

    /// GET `path` as admin.
    pub async fn get(&self, path: &str) -> Result<(StatusCode, Value)> {
        self.get_as(Some(&self.admin), path).await
    }

    /// GET `path` as admin, expecting 200.
    pub async fn ok(&self, path: &str) -> Result<Value> {
        let (status, body) = self.get(path).await?;
        anyhow::ensure!(status == StatusCode::OK, "GET {path}: {status} {body}");
        Ok(body)
    }

    /// POST `body` as JSON to `path` with `token`.
    pub async fn post_as(
        &self,
        token: Option<&str>,
        path: &str,
        body: &Value,
    ) -> Result<(StatusCode, Value)> {
        self.send("post", path, token, &[], Some(body)).await
    }

    /// POST as admin.
    pub async fn post(&self, path: &str, body: &Value) -> Result<(StatusCode, Value)> {
        self.post_as(Some(&self.admin), path, body).await
    }

    /// DELETE `path` with `token`.
    pub async fn delete_as(&self, token: Option<&str>, path: &str) -> Result<(StatusCode, Value)> {
        self.send("delete", path, token, &[], None).await
    }

    /// DELETE as admin.
    pub async fn delete(&self, path: &str) -> Result<(StatusCode, Value)> {
        self.delete_as(Some(&self.admin), path).await
    }

    /// A session cookie value for the admin (or viewer) token, signed in like the login does,
    /// expiring `exp_offset_s` from now, and its CSRF token.
    pub async fn session(&self, role: Role, exp_offset_s: i64) -> Result<(String, String)> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let token = if role == Role::Admin {
            &self.admin
        } else {
            &self.viewer
        };
        let signed_in_at = now + exp_offset_s - portwatch_web::auth::SESSION_SECONDS;
        let s = self
            .state
            .sign_in(token, signed_in_at)
            .await?
            .context("the harness's token signs in")?;
        Ok((s.encode(self.state.session_key()), s.csrf))
    }

    /// Sends `request` (a whole HTTP/1.1 request, CRLF line ends) as bytes on a new
    /// connection; returns the status and the body.
    pub async fn raw(&self, request: &[u8]) -> Result<(u16, String, String)> {
        let mut s = tokio::net::TcpStream::connect(self.addr).await?;
        s.write_all(request).await?;
        let mut buf = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await??;
        let text = String::from_utf8_lossy(&buf).to_string();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Ok((status, head.to_string(), body.to_string()))
    }
}

/// The status and JSON body of an answer (a JSON string when the body is not JSON).
pub async fn answer(r: reqwest::Response) -> Result<(StatusCode, Value)> {
    let status = r.status();
    let text = r.text().await?;
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok((status, body))
}

/// Percent-encodes everything but unreserved characters.
pub fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The `error` text of an error body (empty if it has none).
pub fn error_of(body: &Value) -> String {
    body.get("error")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Waits until `check` returns Some, polling it, for at most `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    portwatch_testkit::eventually("condition", Duration::from_secs(secs), check).await
}

/// Every API route as (method, path template as in the OpenAPI document).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/hosts"),
    ("get", "/api/v1/hosts/{addr}"),
    ("get", "/api/v1/hosts/{addr}/history"),
    ("get", "/api/v1/scans"),
    ("post", "/api/v1/scans"),
    ("get", "/api/v1/scans/{id}"),
    ("get", "/api/v1/scans/requests/{id}"),
    ("delete", "/api/v1/scans/requests/{id}"),
    ("get", "/api/v1/violations"),
    ("post", "/api/v1/violations/{key}/ack"),
    ("delete", "/api/v1/violations/{key}/ack"),
    ("post", "/api/v1/violations/{key}/silence"),
    ("delete", "/api/v1/violations/{key}/silence"),
    ("get", "/api/v1/alerts"),
    ("get", "/api/v1/policies"),
    ("get", "/api/v1/ports/{port}"),
    ("get", "/api/v1/agents"),
    ("post", "/api/v1/agent/poll"),
    ("post", "/api/v1/agent/jobs/{id}/renew"),
    ("put", "/api/v1/agent/jobs/{id}/attempts/{attempt}"),
    ("get", "/api/openapi.json"),
    ("get", "/api/docs/"),
];

impl Api {
    /// `template` with its parameters filled in with values that exist.
    pub fn fill(&self, template: &str) -> String {
        template
            .replace(
                "/scans/requests/{id}",
                &format!("/scans/requests/{}", self.seed.request),
            )
            .replace("{addr}", "10.0.0.5")
            .replace("{id}", &self.seed.first.0.to_string())
            .replace("{key}", &enc(KEY_445))
            .replace("{port}", "445")
            .replace("{attempt}", "1")
    }

    /// A valid body for a POST or PUT route (None for GET).
    pub fn body_for(&self, method: &str, template: &str) -> Option<Value> {
        (method == "post" || method == "put").then(|| {
            if template.ends_with("/silence") {
                json!({"for": "1h"})
            } else if template.ends_with("/scans") {
                json!({"group": "file-servers"})
            } else {
                json!({})
            }
        })
    }

    /// Sends `method` to `path` with a bearer token (or none) and extra headers.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value)> {
        let url = format!("{}{path}", self.base);
        let mut req = match method {
            "post" => self.client.post(url),
            "put" => self.client.put(url),
            "delete" => self.client.delete(url),
            _ => self.client.get(url),
        };
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        answer(req.send().await?).await
    }
}
