//! The monitor's delivery under faults, with the real `portwatch watch` daemon: a notifier that
//! hangs does not hold back the others, and a daemon killed after the peer got a message but
//! before it was recorded sends it again (at least once) with the same idempotency key, and a
//! delivery the database cannot record is not sent again meanwhile.

mod common;
use common::{ChildGuard, free_port};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a [`Peer`] answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// 200 to everything.
    Answer,
    /// Records the request, then never answers and keeps the connection open.
    Hang,
}

/// One request: the idempotency key header and the body's event.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Got {
    key: String,
    event: String,
    body_key: String,
}

/// A webhook receiver that records each request before it decides whether to answer.
struct Peer {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Got>>>,
    hang: Arc<AtomicBool>,
    /// Connections held without an answer that the client has not closed yet.
    held_open: Arc<AtomicUsize>,
}

impl Peer {
    fn start(mode: Mode) -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = Peer {
            addr,
            got: Arc::default(),
            hang: Arc::new(AtomicBool::new(mode == Mode::Hang)),
            held_open: Arc::default(),
        };
        let (got, hang, held) = (peer.got.clone(), peer.hang.clone(), peer.held_open.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (got, hang, held) = (got.clone(), hang.clone(), held.clone());
                std::thread::spawn(move || serve(conn, &got, &hang, &held));
            }
        });
        peer
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    fn wait(&self, limit: Duration, pred: impl Fn(&[Got]) -> bool) -> Vec<Got> {
        let end = Instant::now() + limit;
        loop {
            let got = self.got();
            if pred(&got) || Instant::now() > end {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn serve(conn: TcpStream, got: &Mutex<Vec<Got>>, hang: &AtomicBool, held: &AtomicUsize) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let (mut length, mut key) = (0usize, String::new());
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = v.trim().parse().unwrap_or(0),
                "x-portwatch-key" => key = v.trim().to_string(),
                _ => {}
            }
        }
    }
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    got.lock().unwrap().push(Got {
        key,
        event: json["event"].as_str().unwrap_or("?").to_string(),
        body_key: json["idempotency_key"].as_str().unwrap_or("?").to_string(),
    });
    let mut conn = conn;
    if hang.load(Ordering::SeqCst) {
        held.fetch_add(1, Ordering::SeqCst);
        // Until the client gives up (its timeout) or dies, or the test lets it answer.
        let _ = conn.set_read_timeout(Some(Duration::from_millis(50)));
        let mut sink = [0u8; 64];
        let closed = loop {
            match conn.read(&mut sink) {
                Ok(0) => break true,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break true,
            }
            if !hang.load(Ordering::SeqCst) {
                break false;
            }
        };
        held.fetch_sub(1, Ordering::SeqCst);
        if closed {
            return;
        }
    }
    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
}

fn watch(port: u16, hooks: &[String], db: &str) -> ChildGuard {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portwatch"));
    cmd.args(["watch", "127.0.0.1", "--must-be-closed", &port.to_string()])
        .args(["--every", "1s", "--confirm-after", "1s", "--database", db]);
    for h in hooks {
        cmd.args(["--notify", &format!("webhook={h}")]);
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start portwatch watch");
    ChildGuard(child)
}

fn db(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("pw.db").display())
}

#[test]
fn a_hanging_notifier_does_not_hold_back_the_others() {
    // webhook-1 hangs (accepts, reads, never answers); webhook-2 answers. The old delivery
    // loop sent them in turn and the second waited for the first one's 10 s timeout.
    let hang = Peer::start(Mode::Hang);
    let good = Peer::start(Mode::Answer);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _w = watch(port, &[hang.url(), good.url()], &db(&dir));
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    hang.wait(Duration::from_secs(20), |g| !g.is_empty());
    assert_eq!(
        hang.held_open.load(Ordering::SeqCst),
        1,
        "the hanging peer got the alert"
    );
    let got = good.wait(Duration::from_secs(20), |g| !g.is_empty());
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].event, "opened");
    assert_eq!(
        hang.held_open.load(Ordering::SeqCst),
        1,
        "the good peer got the alert while the hanging one still held its request"
    );
    drop(listener);
}

#[test]
fn killed_after_the_peer_got_it_before_it_was_recorded_it_is_sent_again_with_the_same_key() {
    // The peer records the alert and holds the answer; the daemon is killed (SIGKILL) in that
    // window, so the store never learns that it was delivered.
    let peer = Peer::start(Mode::Hang);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _l = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let mut first = watch(port, &[peer.url()], &db(&dir));
    let got = peer.wait(Duration::from_secs(20), |g| !g.is_empty());
    assert_eq!(got.len(), 1, "{got:?}");
    let _ = first.0.kill();
    let _ = first.0.wait();
    peer.hang.store(false, Ordering::SeqCst);
    let _second = watch(port, &[peer.url()], &db(&dir));
    let got = peer.wait(Duration::from_secs(20), |g| g.len() >= 2);
    std::thread::sleep(Duration::from_secs(4));
    let got_all = peer.got();
    assert_eq!(got.len(), 2, "sent again after the restart: {got_all:?}");
    assert_eq!(
        got_all.len(),
        2,
        "once more, then recorded: nothing else sent: {got_all:?}"
    );
    assert_eq!(
        got_all[0], got_all[1],
        "the same message, with the same idempotency key"
    );
    assert_eq!(got_all[0].event, "opened");
    assert!(!got_all[0].key.is_empty(), "the key travels in a header");
    assert_eq!(got_all[0].key, got_all[0].body_key, "and in the body");
}

fn pg_admin() -> String {
    std::env::var("PORTWATCH_TEST_PG_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-qAt", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A database of this test's own on the test server, dropped afterwards.
struct PgDb(String);

impl PgDb {
    fn new() -> PgDb {
        let name = format!("pwfault_{}_{}", std::process::id(), free_port());
        psql(&pg_admin(), &format!("CREATE DATABASE {name}"));
        PgDb(name)
    }
    fn url(&self) -> String {
        let admin = pg_admin();
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(b, _)| b)
            .to_string();
        format!("{base}/{}", self.0)
    }
    /// Makes new sessions read-only (or writable again) and ends the current ones, so the
    /// daemon's pool reconnects into the new setting.
    fn set_read_only(&self, on: bool) {
        let name = &self.0;
        let set = if on {
            format!("ALTER DATABASE {name} SET default_transaction_read_only = on")
        } else {
            format!("ALTER DATABASE {name} RESET default_transaction_read_only")
        };
        psql(&pg_admin(), &set);
        psql(
            &pg_admin(),
            &format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{name}'"
            ),
        );
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                &pg_admin(),
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0),
            ])
            .output();
    }
}

#[test]
fn a_delivery_the_database_cannot_record_is_sent_once_and_recorded_later() {
    // The peer holds the alert's request; meanwhile the database turns read-only, so the
    // daemon cannot record the delivery when the peer answers. Before, the unrecorded
    // message was due again at once and re-sent every second.
    let pg = PgDb::new();
    let peer = Peer::start(Mode::Hang);
    let port = free_port();
    let _l = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let _w = watch(port, &[peer.url()], &pg.url());
    let got = peer.wait(Duration::from_secs(20), |g| !g.is_empty());
    assert_eq!(got.len(), 1, "{got:?}");
    pg.set_read_only(true);
    peer.hang.store(false, Ordering::SeqCst); // now it answers 200
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        peer.got().len(),
        1,
        "not re-sent while the record fails: {:?}",
        peer.got()
    );
    let url = pg.url();
    assert_eq!(
        psql(
            &url,
            "SELECT count(*) FROM outbox WHERE delivered_at IS NULL"
        ),
        "1"
    );
    pg.set_read_only(false);
    let end = Instant::now() + Duration::from_secs(30);
    while psql(
        &url,
        "SELECT count(*) FROM outbox WHERE delivered_at IS NOT NULL",
    ) != "1"
    {
        assert!(Instant::now() < end, "the delivery was never recorded");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(psql(&url, "SELECT attempts FROM outbox"), "1");
    assert_eq!(peer.got().len(), 1, "{:?}", peer.got());
}
