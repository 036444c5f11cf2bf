//! The monitor's delivery under faults, with the real `portwatch watch` daemon: a notifier that
//! hangs does not hold back the others, and a daemon killed after the peer got a message but
//! before it was recorded sends it again (at least once) with the same idempotency key, and a
//! delivery the database cannot record is not sent again meanwhile. A full disk (SQLite on a
//! small tmpfs) and a PostgreSQL outage: scans fail and are logged, and once the database is
//! back the alerts held meanwhile arrive, each once. Two daemons on one database send each
//! message once.

mod common;
use common::{ChildGuard, OwnCluster, TestDb, free_port, pg_admin_url, pg_db, psql};
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
    let child = watch_command(port, hooks, db)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start portwatch watch");
    ChildGuard(child)
}

fn watch_command(port: u16, hooks: &[String], db: &str) -> Command {
    let mut cmd = common::watch_command(port);
    cmd.args(["--database", db]);
    for h in hooks {
        cmd.args(["--notify", &format!("webhook={h}")]);
    }
    cmd
}

/// A `portwatch watch` whose printed lines (one per scan, failed scan, queued alert and
/// delivery) the test reads as they come.
struct Watched {
    _child: ChildGuard,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Watched {
    fn start(port: u16, hooks: &[String], db: &str) -> Watched {
        let mut child = watch_command(port, hooks, db)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start portwatch watch");
        let out = child.stdout.take().expect("piped stdout");
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Watched {
            _child: ChildGuard(child),
            lines,
        }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Recorded scans so far (`scan #N` / `confirmation #N` lines).
    fn recorded(&self) -> usize {
        self.count(is_recorded)
    }

    /// Scans that could not be recorded so far.
    fn failed(&self) -> usize {
        self.count(|l| l.contains(" scan failed: "))
    }

    fn count(&self, pred: impl Fn(&str) -> bool) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| pred(l))
            .count()
    }

    /// Waits until `pred` holds for the counts, up to `limit`; fails the test with the lines
    /// printed so far if it never does.
    fn wait(&self, what: &str, limit: Duration, pred: impl Fn(&Watched) -> bool) {
        let end = Instant::now() + limit;
        while !pred(self) {
            assert!(
                Instant::now() < end,
                "{what}: not within {limit:?}; printed:\n{}",
                self.lines().join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn is_recorded(line: &str) -> bool {
    line.contains(" scan #") || line.contains(" confirmation #")
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

/// Makes new sessions of `db` read-only (or writable again) and ends the current ones, so the
/// daemon's pool reconnects into the new setting.
fn set_read_only(db: &TestDb, on: bool) {
    let name = db.pg_name().expect("a PostgreSQL database");
    let set = if on {
        format!("ALTER DATABASE {name} SET default_transaction_read_only = on")
    } else {
        format!("ALTER DATABASE {name} RESET default_transaction_read_only")
    };
    psql(&pg_admin_url(), &set);
    psql(
        &pg_admin_url(),
        &format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{name}'"
        ),
    );
}

#[test]
fn a_delivery_the_database_cannot_record_is_sent_once_and_recorded_later() {
    // The peer holds the alert's request; meanwhile the database turns read-only, so the
    // daemon cannot record the delivery when the peer answers. Before, the unrecorded
    // message was due again at once and re-sent every second.
    let pg = pg_db();
    let peer = Peer::start(Mode::Hang);
    let port = free_port();
    let _l = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let _w = watch(port, &[peer.url()], &pg.url);
    let got = peer.wait(Duration::from_secs(20), |g| !g.is_empty());
    assert_eq!(got.len(), 1, "{got:?}");
    set_read_only(&pg, true);
    peer.hang.store(false, Ordering::SeqCst); // now it answers 200
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        peer.got().len(),
        1,
        "not re-sent while the record fails: {:?}",
        peer.got()
    );
    let url = pg.url.clone();
    assert_eq!(
        psql(
            &url,
            "SELECT count(*) FROM outbox WHERE delivered_at IS NULL"
        ),
        "1"
    );
    set_read_only(&pg, false);
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

/// A small tmpfs mounted on a directory of its own, unmounted (lazily, so a process still
/// holding a file there does not stop it) when the test ends.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "mount a tmpfs (needs root)");
        Tmpfs { dir }
    }

    fn db(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("pw.db").display())
    }

    /// Fills the file system to the last byte with a filler file; returns its path.
    fn fill(&self) -> std::path::PathBuf {
        let path = self.dir.path().join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 4096];
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                Err(e) => panic!("filling the tmpfs: {e}"),
            }
        }
        // The last partial page too.
        while f.write(&[0u8]).is_ok_and(|n| n == 1) {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// The messages not marked delivered in the database at `url`.
fn undelivered(url: &str) -> Vec<portwatch_store::OutboxRow> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let store = portwatch_store::Store::open(url)
                .await
                .expect("open the store");
            let due = store
                .outbox_due(i64::MAX, 1000)
                .await
                .expect("read the outbox");
            store.close().await;
            due
        })
}

fn events(got: &[Got]) -> Vec<&str> {
    got.iter().map(|g| g.event.as_str()).collect()
}

/// Fails unless no idempotency key arrived twice.
fn assert_each_key_once(got: &[Got]) {
    let mut seen = std::collections::BTreeSet::new();
    for g in got {
        assert!(!g.key.is_empty(), "every message carries its key: {got:?}");
        assert!(
            seen.insert(g.key.as_str()),
            "{} arrived twice: {got:?}",
            g.key
        );
    }
}

#[test]
fn a_full_disk_holds_the_resolve_until_there_is_room_and_sends_everything_once() {
    let fs = Tmpfs::mount("8m");
    let peer = Peer::start(Mode::Answer);
    let port = free_port();
    let w = Watched::start(port, &[peer.url()], &fs.db());
    w.wait("the first scan", Duration::from_secs(20), |w| {
        w.recorded() >= 1
    });
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let got = peer.wait(Duration::from_secs(20), |g| !g.is_empty());
    assert_eq!(events(&got), ["opened"], "{got:?}");

    let filler = fs.fill();
    drop(listener);
    let failed = w.failed();
    w.wait(
        "scans failing on the full disk",
        Duration::from_secs(20),
        |w| w.failed() >= failed + 3,
    );
    assert_eq!(
        events(&peer.got()),
        ["opened"],
        "nothing is sent again, and no resolve while it cannot be recorded"
    );

    std::fs::remove_file(filler).unwrap();
    let got = peer.wait(Duration::from_secs(30), |g| g.len() >= 2);
    assert_eq!(events(&got), ["opened", "resolved"], "{got:?}");
    let recorded = w.recorded();
    w.wait("scans recorded again", Duration::from_secs(20), |w| {
        w.recorded() >= recorded + 3
    });
    let got = peer.got();
    assert_eq!(events(&got), ["opened", "resolved"], "each once: {got:?}");
    assert_each_key_once(&got);
    assert!(
        undelivered(&fs.db()).is_empty(),
        "both recorded as delivered"
    );
}

#[test]
fn a_delivery_the_full_disk_cannot_record_is_sent_once_and_recorded_once_there_is_room() {
    // The peer holds its answer while the disk fills, so the delivered mark cannot be
    // written when it answers.
    let fs = Tmpfs::mount("8m");
    let peer = Peer::start(Mode::Hang);
    let port = free_port();
    let w = Watched::start(port, &[peer.url()], &fs.db());
    let _listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let got = peer.wait(Duration::from_secs(20), |g| !g.is_empty());
    assert_eq!(events(&got), ["opened"], "{got:?}");

    let filler = fs.fill();
    peer.hang.store(false, Ordering::SeqCst);
    w.wait("the peer's answer", Duration::from_secs(20), |w| {
        w.count(|l| l.contains(" delivered to webhook-1: ")) >= 1
    });
    // About 5 s of full disk: every scan fails to record, the delivery mark too.
    let failed = w.failed();
    w.wait("5 s of full disk", Duration::from_secs(30), |w| {
        w.failed() >= failed + 5
    });
    assert_eq!(
        events(&peer.got()),
        ["opened"],
        "sent once over the full disk"
    );

    std::fs::remove_file(filler).unwrap();
    let end = Instant::now() + Duration::from_secs(30);
    while !undelivered(&fs.db()).is_empty() {
        assert!(Instant::now() < end, "the delivery was never recorded");
        std::thread::sleep(Duration::from_millis(200));
    }
    let recorded = w.recorded();
    w.wait("scans recorded again", Duration::from_secs(20), |w| {
        w.recorded() >= recorded + 2
    });
    let got = peer.got();
    assert_eq!(events(&got), ["opened"], "{got:?}");
}

#[test]
fn a_postgresql_restart_while_a_port_opens_alerts_once_when_it_is_back() {
    let pg = OwnCluster::up().expect("a PostgreSQL cluster of the test's own");
    let peer = Peer::start(Mode::Answer);
    let port = free_port();
    let w = Watched::start(port, &[peer.url()], &pg.url());
    w.wait("the first scan", Duration::from_secs(20), |w| {
        w.recorded() >= 1
    });
    pg.ctl("stop").unwrap();
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    // A store operation waits for a connection up to the pool's acquire timeout (30 s), so
    // an outage shorter than that only delays a scan; this one outlasts it and a scan fails.
    let failed = w.failed();
    w.wait(
        "a scan failing while PostgreSQL is down",
        Duration::from_mins(1),
        |w| w.failed() > failed,
    );
    assert!(peer.got().is_empty(), "{:?}", peer.got());
    pg.ctl("start").unwrap();
    let got = peer.wait(Duration::from_secs(30), |g| !g.is_empty());
    assert_eq!(events(&got), ["opened"], "{got:?}");
    let recorded = w.recorded();
    w.wait("scans recorded again", Duration::from_secs(20), |w| {
        w.recorded() >= recorded + 3
    });
    let got = peer.got();
    assert_eq!(events(&got), ["opened"], "once: {got:?}");
    assert!(undelivered(&pg.url()).is_empty(), "recorded as delivered");
    drop(listener);
}

/// Two daemons on one database, a port that opens and closes: whichever of them scans, the
/// receiver gets each message (idempotency key) once, and at least one opening and one
/// resolve.
fn two_daemons_on_one_database(db: &str) {
    let peer = Peer::start(Mode::Answer);
    let port = free_port();
    let a = Watched::start(port, &[peer.url()], db);
    let b = Watched::start(port, &[peer.url()], db);
    let scans = || a.recorded() + b.recorded();
    // Waits (at most 20 s) until the two daemons recorded `n` scans between them.
    let wait_scans = |n: usize, what: &str| {
        let end = Instant::now() + Duration::from_secs(20);
        while scans() < n {
            assert!(
                Instant::now() < end,
                "{what}: {:?} {:?}",
                a.lines(),
                b.lines()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_scans(2, "no scans");
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let got = peer.wait(Duration::from_secs(20), |g| !g.is_empty());
    assert!(events(&got).contains(&"opened"), "{got:?}");
    let settle = |what: &str| wait_scans(scans() + 6, what);
    settle("scans after the opening");
    drop(listener);
    let opened = events(&peer.got())
        .iter()
        .filter(|e| **e == "opened")
        .count();
    peer.wait(Duration::from_secs(30), |g| {
        g.iter().filter(|m| m.event == "resolved").count() >= opened
    });
    settle("scans after the resolve");
    let got = peer.got();
    assert_each_key_once(&got);
    let kinds = events(&got);
    assert!(
        kinds.contains(&"opened") && kinds.contains(&"resolved"),
        "{got:?}"
    );
    assert!(
        kinds.iter().all(|k| ["opened", "resolved"].contains(k)),
        "{got:?}"
    );
    assert!(
        undelivered(db).is_empty(),
        "every message recorded as delivered"
    );
}

#[test]
fn two_daemons_on_one_sqlite_file_send_each_message_once() {
    let dir = tempfile::tempdir().unwrap();
    two_daemons_on_one_database(&db(&dir));
}

#[test]
fn two_daemons_on_one_postgresql_database_send_each_message_once() {
    let pg = pg_db();
    two_daemons_on_one_database(&pg.url);
}
