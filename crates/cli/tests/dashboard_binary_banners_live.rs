//! The dashboard's host page with the binary answers of real servers: MariaDB, PostgreSQL and
//! RabbitMQ run inside a network namespace of this test's own (`pwa-dash`, 10.242.2.2, reached
//! from 10.242.2.1), each with its data and logs in a scratch directory. `portwatch scan
//! --save` records them in a SQLite store, `portwatch run` serves that store on loopback, and
//! the host page, fetched over HTTP after signing in, must show each server's decoded facts
//! (a Software row) and never its raw bytes: no Banner row for these ports, no replacement
//! character, no control character.
//!
//! Needs root and the servers' packages (scripts/install-test-deps.sh installs them without
//! starting their services). The machine's own instances are never touched.

mod common;

use common::{ChildGuard, free_port, portwatch, stderr, stdout};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NS: &str = "pwa-dash";
const VETH: &str = "pwa-dashh";
const PEER: &str = "pwa-dashn";
const HOST: &str = "10.242.2.2";
const OURS: &str = "10.242.2.1";
/// The whole range of this helper's tests, blackholed in the root namespace while one runs.
const RANGE: &str = "10.242.0.0/16";

/// The test host: a namespace, a veth pair, a scratch directory and the servers started in it.
/// Everything is removed on drop, also when the test fails.
struct Lab {
    dir: PathBuf,
    servers: Vec<(String, ChildGuard)>,
}

impl Lab {
    fn new() -> Lab {
        remove_namespace();
        let dir = std::env::temp_dir().join(format!("{NS}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // PostgreSQL drops privileges and must reach its files.
        set_mode(&dir, 0o755);
        let lab = Lab {
            dir,
            servers: Vec::new(),
        };
        // The blackhole keeps a scan of a vanished host from leaving the machine.
        ip(&["route", "replace", "blackhole", RANGE]);
        ip(&["netns", "add", NS]);
        ip(&["link", "add", VETH, "type", "veth", "peer", "name", PEER]);
        ip(&["link", "set", PEER, "netns", NS]);
        ip(&["addr", "add", &format!("{OURS}/24"), "dev", VETH]);
        ip(&["link", "set", VETH, "up"]);
        ip(&["-n", NS, "addr", "add", &format!("{HOST}/24"), "dev", PEER]);
        ip(&["-n", NS, "link", "set", PEER, "up"]);
        ip(&["-n", NS, "link", "set", "lo", "up"]);
        let route = stdout(
            &Command::new("ip")
                .args(["route", "get", HOST])
                .output()
                .unwrap(),
        );
        assert!(
            route.contains(&format!("dev {VETH} ")),
            "refusing to scan {HOST}: route is {route}"
        );
        lab
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn write(&self, name: &str, text: &str) -> String {
        std::fs::write(self.dir.join(name), text).unwrap();
        self.path(name)
    }

    fn mkdir(&self, name: &str) -> String {
        std::fs::create_dir_all(self.dir.join(name)).unwrap();
        self.path(name)
    }

    /// Starts `argv` inside the namespace, its output going to `<name>.log`.
    fn start(&mut self, name: &str, argv: &[&str], env: &[(&str, String)]) {
        let log = std::fs::File::create(self.dir.join(format!("{name}.log"))).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", NS])
            .args(argv)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        self.servers.push((name.to_string(), ChildGuard(child)));
    }

    /// Waits until the server called `name` accepts connections on `port`.
    fn wait_listening(&mut self, name: &str, port: u16, limit: Duration) {
        let addr: SocketAddr = format!("{HOST}:{port}").parse().unwrap();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
                return;
            }
            if let Some((_, guard)) = self.servers.iter_mut().find(|(n, _)| n == name)
                && let Ok(Some(status)) = guard.0.try_wait()
            {
                panic!("{name} exited ({status}):\n{}", self.log(name));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "{name} did not listen on {port} within {limit:?}:\n{}",
            self.log(name)
        );
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.servers.clear();
        // Processes that outlived the ones we started (PostgreSQL under runuser, epmd) are in
        // the namespace too; each of them is ours.
        remove_namespace();
        // Other tests of this range may still run; the route goes with the last namespace.
        let left = stdout(&Command::new("ip").args(["netns", "list"]).output().unwrap());
        if !left.lines().any(|l| l.starts_with("pwa-")) {
            let _ = Command::new("ip")
                .args(["route", "del", "blackhole", RANGE])
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Kills every process left in the namespace, then deletes it and the veth.
fn remove_namespace() {
    let pids = Command::new("ip")
        .args(["netns", "pids", NS])
        .stderr(Stdio::null())
        .output()
        .map(|o| stdout(&o))
        .unwrap_or_default();
    for pid in pids.split_whitespace() {
        let _ = Command::new("kill").args(["-KILL", pid]).status();
    }
    for args in [["netns", "del", NS], ["link", "del", VETH]] {
        let _ = Command::new("ip").args(args).stderr(Stdio::null()).status();
    }
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("run ip");
    assert!(
        status.success(),
        "ip {args:?} failed (this test needs root)"
    );
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Runs a setup command to completion, panicking with its output when it fails.
fn run(what: &str, cmd: &mut Command) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// `path` when it is an executable file; otherwise says which package installs it.
fn binary(path: &str, package: &str) -> String {
    assert!(
        Path::new(path).is_file(),
        "{path} not found: install {package} (scripts/install-test-deps.sh does)"
    );
    path.to_string()
}

/// The newest PostgreSQL server binaries Debian installed.
fn postgres_bin() -> PathBuf {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop()
        .map(|(_, bin)| bin)
        .expect("no initdb under /usr/lib/postgresql: install postgresql")
}

fn start_mariadb(lab: &mut Lab) {
    let mariadbd = binary("/usr/sbin/mariadbd", "mariadb-server");
    let install = binary("/usr/bin/mariadb-install-db", "mariadb-server");
    let data = lab.mkdir("mariadb");
    run(
        "mariadb-install-db",
        Command::new(install).args([
            "--no-defaults",
            &format!("--datadir={data}"),
            "--user=root",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ]),
    );
    // A fresh server greets only the hosts it has an account for.
    let init = lab.write(
        "mariadb-init.sql",
        "CREATE USER IF NOT EXISTS 'app'@'10.242.%';\n",
    );
    lab.start(
        "mariadb",
        &[
            &mariadbd,
            "--no-defaults",
            &format!("--datadir={data}"),
            "--user=root",
            &format!("--bind-address={HOST}"),
            "--port=3306",
            &format!("--socket={}", lab.path("mariadb.sock")),
            &format!("--pid-file={}", lab.path("mariadb.pid")),
            "--skip-name-resolve",
            "--skip-log-bin",
            &format!("--init-file={init}"),
        ],
        &[],
    );
}

fn start_postgres(lab: &mut Lab) {
    let bin = postgres_bin();
    let data = lab.mkdir("pg");
    let sock = lab.mkdir("pg-sock");
    run(
        "chown",
        Command::new("chown").args(["postgres:postgres", &data, &sock]),
    );
    set_mode(Path::new(&data), 0o700);
    let initdb = bin.join("initdb").display().to_string();
    run(
        "initdb",
        Command::new("runuser").args([
            "-u",
            "postgres",
            "--",
            &initdb,
            "-D",
            &data,
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
        ]),
    );
    let postgres = bin.join("postgres").display().to_string();
    lab.start(
        "postgres",
        &[
            "runuser",
            "-u",
            "postgres",
            "--",
            &postgres,
            "-D",
            &data,
            "-k",
            &sock,
            "-p",
            "5432",
            "-c",
            &format!("listen_addresses={HOST}"),
            "-c",
            "fsync=off",
        ],
        &[],
    );
}

fn start_rabbitmq(lab: &mut Lab) {
    // The server script itself: /usr/sbin/rabbitmq-server switches to the rabbitmq user and
    // the machine's own /var/lib/rabbitmq.
    let server = binary("/usr/lib/rabbitmq/bin/rabbitmq-server", "rabbitmq-server");
    let home = lab.mkdir("rabbit/home");
    let env = [
        ("HOME", home),
        // An empty env file, so /etc/rabbitmq/rabbitmq-env.conf is not read.
        (
            "RABBITMQ_CONF_ENV_FILE",
            lab.write("rabbit/rabbitmq-env.conf", ""),
        ),
        ("RABBITMQ_NODENAME", "pwadash@localhost".to_string()),
        ("RABBITMQ_NODE_IP_ADDRESS", HOST.to_string()),
        ("RABBITMQ_NODE_PORT", "5672".to_string()),
        ("RABBITMQ_MNESIA_BASE", lab.mkdir("rabbit/mnesia")),
        ("RABBITMQ_LOG_BASE", lab.mkdir("rabbit/log")),
        (
            "RABBITMQ_CONFIG_FILE",
            lab.write(
                "rabbit/rabbitmq.conf",
                &format!("listeners.tcp.default = {HOST}:5672\n"),
            ),
        ),
        (
            "RABBITMQ_ENABLED_PLUGINS_FILE",
            lab.write("rabbit/enabled_plugins", "[].\n"),
        ),
        ("RABBITMQ_PID_FILE", lab.path("rabbit/pid")),
        ("ERL_EPMD_ADDRESS", "127.0.0.1".to_string()),
    ];
    lab.start("rabbitmq", &[&server], &env);
}

/// One HTTP/1.1 request to the dashboard on loopback: (status, raw head, body).
fn http(port: u16, request: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the dashboard");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8(raw).expect("the dashboard answers UTF-8");
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

/// Signs in with `token`; the session cookie (`name=value`).
fn login(port: u16, token: &str) -> String {
    let body = format!("token={token}&next=%2F");
    let (_, head, _) = http(
        port,
        &format!(
            "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n\
             Content-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    head.lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("no session cookie in:\n{head}"))
        .to_string()
}

/// The "What answered" cell of `port`'s row in the host page's table of open ports.
fn answered_cell(html: &str, port: u16) -> &str {
    let start = html
        .find(&format!(">{port}/tcp</a></th>"))
        .unwrap_or_else(|| panic!("no row for {port}/tcp in:\n{html}"));
    let row = &html[start..];
    &row[..row.find("</tr>").expect("the row ends")]
}

#[test]
fn host_page_shows_decoded_facts_of_real_binary_banners() {
    let mut lab = Lab::new();
    start_mariadb(&mut lab);
    start_postgres(&mut lab);
    start_rabbitmq(&mut lab);
    lab.wait_listening("mariadb", 3306, Duration::from_secs(30));
    lab.wait_listening("postgres", 5432, Duration::from_secs(30));
    // RabbitMQ boots an Erlang node first; on a loaded two-core machine that takes a while.
    lab.wait_listening("rabbitmq", 5672, Duration::from_secs(120));

    let db = format!("sqlite://{}", lab.path("pw.db"));
    let out = portwatch(&[
        "scan",
        HOST,
        "-p",
        "3306,5432,5672",
        "--save",
        "--database",
        &db,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // The daemon only serves the store here: its one group watches a closed loopback port.
    let closed = free_port();
    let config = lab.write(
        "pw.toml",
        &format!(
            "[[group]]\nname = \"lab\"\ntargets = [\"127.0.0.1\"]\nevery = \"1h\"\n\
             [group.policy]\nmust_be_closed = [\"{closed}\"]\n"
        ),
    );
    let listen = free_port();
    let log = std::fs::File::create(lab.dir.join("run.log")).unwrap();
    let _daemon = ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_portwatch"))
            .args(["run", "--config", &config, "--database", &db])
            .args(["--listen", &format!("127.0.0.1:{listen}")])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start portwatch run"),
    );
    let token_file = lab.dir.join("first-run-admin-token");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(token_file.is_file()
        && TcpStream::connect(("127.0.0.1", listen)).is_ok()
        && http(
            listen,
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        )
        .0 == 200)
    {
        assert!(
            Instant::now() < deadline,
            "the dashboard did not come up:\n{}",
            lab.log("run")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let token = std::fs::read_to_string(&token_file).unwrap();
    let cookie = login(listen, token.trim());
    let (status, _, html) = http(
        listen,
        &format!(
            "GET /hosts/{HOST} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\
             Connection: close\r\n\r\n"
        ),
    );
    assert_eq!(status, 200, "{html}");

    assert!(
        !html
            .chars()
            .any(|c| c == '\u{fffd}' || (c.is_control() && !matches!(c, '\n' | '\r' | '\t'))),
        "unprintable characters in the host page:\n{html:?}"
    );
    for (port, product) in [(3306, "MariaDB"), (5432, "PostgreSQL"), (5672, "RabbitMQ")] {
        let cell = answered_cell(&html, port);
        assert!(
            cell.contains(&format!("<dt>Software</dt><dd>{product}")),
            "{port}: {cell}"
        );
        assert!(!cell.contains("<dt>Banner</dt>"), "{port}: {cell}");
        // Escaped NUL bytes (`\0`, `\x00`) are raw bytes in other clothes.
        assert!(
            !cell.contains("\\0") && !cell.contains("\\x"),
            "{port}: {cell}"
        );
    }
}
