//! Shared by the notify tests: a sample alert and a real HTTP receiver on 127.0.0.1 that
//! records every request and answers with scripted replies.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use portwatch_kb::Severity;
use portwatch_monitor::notify::{Alert, AlertKind};
use portwatch_scan::Proto;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// 2025-06-01T08:00:00Z.
pub const SINCE_MS: i64 = 1_748_764_800_000;

/// An SMB port open on a file server, as the monitor would report it.
pub fn alert(kind: AlertKind) -> Alert {
    let at_ms = match kind {
        AlertKind::Opened | AlertKind::Test => SINCE_MS + 5_000,
        AlertKind::Reminder => SINCE_MS + 4 * 3_600_000,
        AlertKind::Resolved => SINCE_MS + 2 * 3_600_000 + 5 * 60_000,
    };
    Alert {
        key: format!(
            "file-servers|10.0.0.5|445/tcp|must-be-closed|{}|{at_ms}",
            kind.as_str()
        ),
        kind,
        group: "file-servers".into(),
        vantage: "local".into(),
        host: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5)),
        hostname: Some("filesrv01".into()),
        port: Some(445),
        proto: Some(Proto::Tcp),
        rule: "must be closed".into(),
        severity: Severity::High,
        state: Some("open".into()),
        service: Some("microsoft-ds".into()),
        answered: Some(
            "NetBIOS FILESRV01 (CORP); SMB 2.0.2, 3.1.1; signing enabled, not required".into(),
        ),
        details: json!({"smb": {"dialects": ["2.0.2", "3.1.1"], "smb1": false}}),
        since_ms: SINCE_MS,
        at_ms,
        explain: Some(
            "SMB file sharing. Reachable SMB is how WannaCry & NotPetya spread <between> networks."
                .into(),
        ),
        fix: vec![
            "sudo ufw deny 445/tcp".into(),
            "sudo ufw deny 139/tcp".into(),
        ],
        fix_platform: Some("ufw".into()),
    }
}

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("the body is UTF-8")
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn status(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A real HTTP/1.1 server on 127.0.0.1:0; answers 200 "ok" once the script runs out.
pub struct Receiver {
    pub addr: SocketAddr,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    replies: Arc<Mutex<VecDeque<Reply>>>,
    task: JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let replies = Arc::new(Mutex::new(VecDeque::new()));
        let (rec, rep) = (recorded.clone(), replies.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (rec, rep) = (rec.clone(), rep.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(req, rec.clone(), rep.clone()));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver {
            addr,
            recorded,
            replies,
            task,
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Queues the answer to the next request.
    pub fn reply(&self, reply: Reply) {
        self.replies.lock().unwrap().push_back(reply);
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.recorded.lock().unwrap().clone()
    }

    /// The only request so far.
    pub fn single(&self) -> Recorded {
        let all = self.requests();
        assert_eq!(all.len(), 1, "expected exactly one request, got {all:#?}");
        all[0].clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    req: Request<Incoming>,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    replies: Arc<Mutex<VecDeque<Reply>>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(std::string::ToString::to_string)
        .unwrap_or_default();
    let headers = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    recorded.lock().unwrap().push(Recorded {
        method,
        path,
        headers,
        body,
    });
    let reply = replies
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| Reply::status(200, "ok"));
    let mut response = Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() = StatusCode::from_u16(reply.status).expect("valid status");
    for (name, value) in reply.headers {
        response.headers_mut().insert(
            hyper::header::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            hyper::header::HeaderValue::from_str(&value).expect("header value"),
        );
    }
    Ok(response)
}

/// A port on 127.0.0.1 where nothing listens (bound, then closed).
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A listener that accepts connections and never answers; dropped with the handle.
pub async fn silent_listener() -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    (addr, task)
}

/// What to do when a test peer is missing.
pub const INSTALL_HINT: &str = "run scripts/install-test-deps.sh (as root)";

/// Fails the test (never skips it) when `python3` cannot import `module`.
pub fn require_python_module(module: &str) {
    let ok = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "python3 with {module} is needed by this test: {INSTALL_HINT}"
    );
}

/// A self-signed certificate for 127.0.0.1 and localhost made by `openssl req -x509`
/// (EC P-256: quick to make); returns (cert.pem, key.pem).
pub fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args([
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(
        status.is_ok_and(|s| s.success()),
        "openssl req -x509 failed: {INSTALL_HINT}"
    );
    (cert, key)
}
