//! A real HTTP receiver for webhook tests: records every request, and can be told to answer
//! 503 (down) for a while.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// Request path.
    pub path: String,
    /// Headers, lower-cased names.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
    /// When it arrived.
    pub at: Instant,
}

impl Received {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// A running receiver.
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
    down: Arc<AtomicBool>,
}

impl Receiver {
    /// Starts a receiver on a free loopback port.
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let down = Arc::new(AtomicBool::new(false));
        let (g, d) = (got.clone(), down.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (g, d) = (g.clone(), d.clone());
                std::thread::spawn(move || handle(conn, &g, &d));
            }
        });
        Receiver { addr, got, down }
    }

    /// The URL of `path` on this receiver.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answer 503 to everything (true) or 200 (false).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Requests accepted (answered 200) so far.
    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `pred` holds for the accepted requests, up to `limit`.
    pub fn wait_for(&self, limit: Duration, pred: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let end = Instant::now() + limit;
        loop {
            let got = self.received();
            if pred(&got) || Instant::now() > end {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A webhook message about a port: (event, group, vantage, host, port).
pub type PortEvent = (String, String, String, String, u64);

/// The messages about a port, sorted. The body names the vantage twice, at the top and in
/// the alert: both must agree.
pub fn port_events(got: &[Received]) -> Vec<PortEvent> {
    let mut out: Vec<PortEvent> = got
        .iter()
        .map(Received::json)
        .filter_map(|j| {
            let a = &j["alert"];
            let port = a["port"].as_u64()?;
            assert_eq!(j["vantage"], a["vantage"], "{j}");
            let s = |v: &serde_json::Value| v.as_str().unwrap_or("?").to_string();
            Some((
                s(&j["event"]),
                s(&a["group"]),
                s(&a["vantage"]),
                s(&a["host"]),
                port,
            ))
        })
        .collect();
    out.sort();
    out
}

/// A [`PortEvent`].
pub fn port_event(event: &str, group: &str, vantage: &str, host: &str, port: u64) -> PortEvent {
    (
        event.into(),
        group.into(),
        vantage.into(),
        host.into(),
        port,
    )
}

fn handle(conn: std::net::TcpStream, got: &Mutex<Vec<Received>>, down: &AtomicBool) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
            if k == "content-length" {
                length = v.parse().unwrap_or(0);
            }
            headers.push((k, v));
        }
    }
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    let mut conn = conn;
    if down.load(Ordering::SeqCst) {
        let _ = conn.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return;
    }
    got.lock().unwrap().push(Received {
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    });
    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
}
