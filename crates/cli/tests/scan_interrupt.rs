//! A scan that behaves like a good Unix tool: Ctrl-C (SIGINT) keeps what was found, in every
//! output format, marked as interrupted, exit 130; `--format jsonl` streams each result as
//! soon as it is final; on a terminal, the progress bar is cleared first. Loopback only, no DNS.
//!
//! The slow target is this machine: one port that accepts at once, and one whose accept
//! queue is full (`listen(0)` plus one connection never accepted), so the kernel drops every
//! further SYN and the port stays unanswered for as long as the scan's timeout (60 s here).

mod common;
use common::{ChildGuard, wait_for};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A loopback host with one open port and one port that never answers.
struct SlowTarget {
    open: u16,
    silent: u16,
    /// Connections the open port accepted so far.
    accepted: Arc<AtomicUsize>,
    _silent_listener: socket2::Socket,
    _filler: TcpStream,
}

impl SlowTarget {
    fn new() -> SlowTarget {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        {
            let accepted = accepted.clone();
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    accepted.fetch_add(1, Ordering::SeqCst);
                    drop(conn);
                }
            });
        }
        let silent_listener = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )
        .unwrap();
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        silent_listener.bind(&any.into()).unwrap();
        silent_listener.listen(0).unwrap();
        let silent = silent_listener
            .local_addr()
            .unwrap()
            .as_socket()
            .unwrap()
            .port();
        // Fills the accept queue: from now on the kernel drops SYNs to `silent`.
        let filler = TcpStream::connect(("127.0.0.1", silent)).unwrap();
        SlowTarget {
            open,
            silent,
            accepted,
            _silent_listener: silent_listener,
            _filler: filler,
        }
    }

    /// `portwatch scan` of both ports by connect scanning (as root the default would be SYN
    /// probes, which never complete the handshake the test waits for), without probes (the open
    /// port is concluded by its connect), waiting 60 s for each unanswered try.
    fn scan(&self, extra: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_portwatch"));
        cmd.args([
            "scan",
            "127.0.0.1",
            "-p",
            &format!("{},{}", self.open, self.silent),
            "--connect",
            "--no-probes",
            "--no-progress",
            "--min-rtt-timeout",
            "60s",
            "--max-rtt-timeout",
            "60s",
        ])
        .args(extra)
        .stdin(Stdio::null());
        cmd
    }
}

fn interrupt(child: &ChildGuard) {
    let status = Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -INT failed");
}

/// Waits (generously) for the child to exit after the interrupt.
fn exit_status(child: &mut ChildGuard) -> ExitStatus {
    let mut status = None;
    wait_for(
        "the interrupted scan to exit",
        Duration::from_mins(1),
        || {
            status = child.0.try_wait().expect("poll the scan");
            status.is_some()
        },
    );
    status.unwrap()
}

/// Runs an interrupted scan writing `-o FILE` (format from the name); returns the file's
/// text and what the process wrote to stderr.
fn interrupted_scan_to(target: &SlowTarget, file: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file);
    let mut child = ChildGuard(
        target
            .scan(&["-o", path.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let before = target.accepted.load(Ordering::SeqCst);
    wait_for("the open port to be probed", Duration::from_mins(1), || {
        target.accepted.load(Ordering::SeqCst) > before
    });
    // The result follows the accepted connection within microseconds; the silent port keeps
    // the scan running for a minute, so this margin costs nothing and removes the race.
    std::thread::sleep(Duration::from_secs(2));
    interrupt(&child);
    let status = exit_status(&mut child);
    let mut err = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(130), "{file}: {err}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    (text, err)
}

fn assert_marked_on_stderr(file: &str, err: &str) {
    assert!(
        err.contains("scan interrupted, results incomplete"),
        "{file}: {err}"
    );
}

#[test]
fn ctrl_c_keeps_the_results_so_far_in_every_format_and_exits_130() {
    let target = SlowTarget::new();
    let open = target.open;

    let (xml, _) = interrupted_scan_to(&target, "scan.xml");
    assert!(xml.trim_end().ends_with("</nmaprun>"), "{xml}");
    let snap = portwatch_monitor::diff::Snapshot::parse("scan.xml", &xml)
        .unwrap_or_else(|e| panic!("{e}: {xml}"));
    assert_eq!(
        snap.hosts["127.0.0.1"].ports[&(open, "tcp".into())].state,
        "open",
        "{xml}"
    );
    assert!(
        xml.contains(r#"exit="error" errormsg="interrupted"#),
        "{xml}"
    );
    assert!(xml.contains(r#"comment="unfinished"#), "{xml}");

    let (json, err) = interrupted_scan_to(&target, "scan.json");
    let doc: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(doc["interrupted"], true, "{json}");
    let host = &doc["hosts"][0];
    assert_eq!(host["finished"], false, "{json}");
    assert_eq!(host["ports"][0]["port"], open, "{json}");
    assert_eq!(host["ports"][0]["state"], "open", "{json}");
    assert_marked_on_stderr("scan.json", &err);

    let (table, _) = interrupted_scan_to(&target, "scan.txt");
    assert!(
        table.contains(&format!("{open}/tcp")) && table.contains("open"),
        "{table}"
    );
    assert!(
        table.contains("unfinished: the scan was interrupted"),
        "{table}"
    );
    assert!(
        table
            .trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("scan interrupted, results incomplete"),
        "{table}"
    );

    // The streamed formats stay plain data (every line a result); stderr and the exit code
    // say the run was cut short.
    let (jsonl, err) = interrupted_scan_to(&target, "scan.jsonl");
    let lines = common::json_lines(&jsonl);
    assert_eq!(lines.len(), 1, "{jsonl}");
    assert_eq!(
        (lines[0]["port"].as_u64(), lines[0]["state"].as_str()),
        (Some(u64::from(open)), Some("open"))
    );
    assert_marked_on_stderr("scan.jsonl", &err);

    let (csv, err) = interrupted_scan_to(&target, "scan.csv");
    let rows: Vec<&str> = csv.lines().collect();
    assert!(rows[0].starts_with("host,hostname,port"), "{csv}");
    assert!(
        rows[1].starts_with(&format!("127.0.0.1,,{open},tcp,open,")),
        "{csv}"
    );
    assert_eq!(rows.len(), 2, "{csv}");
    assert_marked_on_stderr("scan.csv", &err);
}

#[test]
fn jsonl_streams_a_result_before_the_scan_ends() {
    let target = SlowTarget::new();
    let mut child = ChildGuard(
        target
            .scan(&["--format", "jsonl"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a line").expect("read stdout");
    // The silent port holds the scan open for a minute: the line came from a running scan.
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "the first line arrived only when the scan ended: {first}"
    );
    let r: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(r["port"], target.open, "{first}");
    assert_eq!(r["state"], "open", "{first}");
    interrupt(&child);
    assert_eq!(exit_status(&mut child).code(), Some(130));
    assert!(
        lines.next().is_none(),
        "nothing after the interrupt on stdout"
    );
}

#[test]
fn diff_reads_the_json_that_scan_writes() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().port();
    let closed = common::free_port();
    let spec = format!("{open},{closed}");
    let scan = |name: &str| {
        let path = dir.path().join(name);
        let out = common::portwatch(&[
            "scan",
            "127.0.0.1",
            "-p",
            &spec,
            "--no-probes",
            "--no-progress",
            "-o",
            path.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
        path
    };
    let before = scan("before.json");
    drop(listener);
    let after = scan("after.json");
    let diff =
        |a: &Path, b: &Path| common::portwatch(&["diff", a.to_str().unwrap(), b.to_str().unwrap()]);
    let out = diff(&before, &after);
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    let text = common::stdout(&out);
    assert!(text.contains(&format!("- {open}/tcp")), "{text}");
    let same = diff(&before, &before);
    assert_eq!(same.status.code(), Some(0), "{}", common::stderr(&same));
}

/// The pid of the `portwatch scan` whose command line holds `needle` (a scan started under
/// `script` runs as its grandchild or child, depending on the shell).
fn scan_pid(needle: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.find_map(|e| {
        let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        (args.first()? == env!("CARGO_BIN_EXE_portwatch")
            && args.get(1).map(String::as_str) == Some("scan")
            && args.iter().any(|a| a == needle))
        .then_some(pid)
    })
}

/// Runs `command` on a pseudo-terminal (util-linux's `script`), everything it draws recorded
/// in `log`.
fn on_terminal(command: &str, log: &Path) -> ChildGuard {
    ChildGuard(
        Command::new("script")
            .args(["-q", "-f", "-e", "-c", command])
            .arg(log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run script (util-linux)"),
    )
}

/// On a real terminal (a pseudo-terminal from util-linux's `script`), Ctrl-C takes the progress
/// bar off the screen before the results and the interrupted notice are written: the last
/// frame of the bar is followed by a line clear, and no frame comes after the notice.
#[test]
fn ctrl_c_on_a_terminal_clears_the_progress_bar_which_counted_the_open_port_live() {
    let target = SlowTarget::new();
    let ports = format!("{},{}", target.open, target.silent);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("terminal.log");
    let command = format!(
        "{} scan 127.0.0.1 -p {ports} --connect --no-probes --min-rtt-timeout 60s --max-rtt-timeout 60s",
        env!("CARGO_BIN_EXE_portwatch")
    );
    let mut script = on_terminal(&command, &log);
    wait_for("the open port to be probed", Duration::from_mins(1), || {
        target.accepted.load(Ordering::SeqCst) > 0
    });
    // The bar redraws every 100 ms; two seconds give it many frames before the interrupt.
    std::thread::sleep(Duration::from_secs(2));
    let mut pid = None;
    wait_for("the scan's process", Duration::from_secs(10), || {
        pid = scan_pid(&ports);
        pid.is_some()
    });
    let status = Command::new("kill")
        .args(["-INT", &pid.unwrap().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = exit_status(&mut script);
    assert_eq!(
        status.code(),
        Some(130),
        "script passes on the scan's exit code"
    );
    let screen = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned();
    let frame = "/2 ports";
    let last_frame = screen
        .rfind(frame)
        .unwrap_or_else(|| panic!("no bar drawn: {screen:?}"));
    let notice = screen
        .find("scan interrupted, results incomplete")
        .unwrap_or_else(|| panic!("no notice: {screen:?}"));
    assert!(last_frame < notice, "a frame after the notice: {screen:?}");
    // The counter counts the open port while the scan still runs (the other port is
    // unanswered until the interrupt), not only at the end.
    assert!(
        screen[..notice].contains("1 open, "),
        "no frame counts the open port before the end: {screen:?}"
    );
    let between = &screen[last_frame..notice];
    assert!(
        between.contains("\r\x1b[2K"),
        "the bar is not cleared before the notice: {between:?}"
    );
    assert!(
        screen.contains(&format!("{}/tcp", target.open)),
        "the open port is shown: {screen:?}"
    );
}

/// A scan that ends by itself on a terminal: no frame is glued to the table, a frame drawn
/// again under the table counts what the table shows (2 of 2 ports done, 1 open), the last
/// frame is cleared before the summary line, and the exit code is 0.
#[test]
fn a_scan_that_ends_on_a_terminal_clears_the_bar_and_its_frames_are_not_older_than_the_table() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().port();
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("terminal.log");
    let command = format!(
        "{} scan 127.0.0.1 -p {open},{closed} --connect --no-probes",
        env!("CARGO_BIN_EXE_portwatch")
    );
    let mut script = on_terminal(&command, &log);
    let status = exit_status(&mut script);
    assert_eq!(status.code(), Some(0));
    let screen = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned();
    let table = screen
        .find(&format!("{open}/tcp"))
        .unwrap_or_else(|| panic!("the open port is not shown: {screen:?}"));
    let line_start = screen[..table].rfind('\n').map_or(0, |i| i + 1);
    assert!(
        !screen[line_start..table].contains(" ports "),
        "a frame is glued to the table: {screen:?}"
    );
    let summary = screen
        .find("1 host scanned")
        .unwrap_or_else(|| panic!("no summary: {screen:?}"));
    assert!(table < summary, "{screen:?}");
    let under = &screen[table..summary];
    if under.contains(" ports ") {
        assert!(
            under.contains("2/2 ports 1 open, "),
            "a frame under the table is older than it: {under:?}"
        );
    }
    let last_frame = screen[..summary].rfind(" ports ").unwrap_or(0);
    assert!(
        screen[last_frame..summary].contains("\r\x1b[2K"),
        "the bar is not cleared before the summary: {screen:?}"
    );
    assert!(
        !screen[summary..].contains(" ports "),
        "a frame after the summary: {screen:?}"
    );
    drop(listener);
}
