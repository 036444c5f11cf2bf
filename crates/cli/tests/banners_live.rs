//! Banners of real servers, live: OpenSSH, vsftpd, aiosmtpd, nginx, MariaDB, PostgreSQL, Redis,
//! RabbitMQ and Mosquitto run inside a network namespace of this test's own (`pwo-banners`,
//! 10.239.1.2, reached from 10.239.1.1), each with its configuration, data and logs in a
//! scratch directory, on its standard port. `portwatch scan` from the root namespace must name
//! each service with the product and version the installed package has (read from dpkg), and
//! binary answers (MariaDB, PostgreSQL, RabbitMQ, Mosquitto) must never reach the table, the
//! JSON or the dashboard's Banner row as raw bytes.
//!
//! Needs root and the servers' packages (scripts/install-test-deps.sh installs them without
//! starting their services). The machine's own instances of these servers are never touched:
//! ours listen only inside the namespace, on their own data directories.

mod common;

use common::{ChildGuard, json_lines, portwatch, stderr, stdout};
use serde_json::Value;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NS: &str = "pwo-banners";
const VETH: &str = "pwo-banh";
const PEER: &str = "pwo-bann";
const HOST: &str = "10.239.1.2";
const OURS: &str = "10.239.1.1";
/// This test's whole range, blackholed in the root namespace while it runs.
const RANGE: &str = "10.239.0.0/16";

/// An SMTP server on port 25 of the address given, built from aiosmtpd's own classes so that
/// its greeting names a fixed host instead of asking the resolver for this machine's name.
const SMTP_SERVER: &str = r#"
import asyncio, sys
from aiosmtpd.handlers import Sink
from aiosmtpd.smtp import SMTP

async def main(addr):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Sink(), hostname="mail.pwo.test"), addr, 25)
    await server.serve_forever()

asyncio.run(main(sys.argv[1]))
"#;

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
        // Servers that drop privileges (PostgreSQL, nginx's workers) must reach their files.
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
        let out = Command::new("ip")
            .args(["route", "get", HOST])
            .output()
            .unwrap();
        let route = stdout(&out);
        assert!(
            route.contains(&format!("dev {VETH} ")),
            "refusing to scan {HOST}: route is {route}"
        );
        lab
    }

    /// A path in the scratch directory, as text.
    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// Writes a file in the scratch directory and returns its path.
    fn write(&self, name: &str, text: &str) -> String {
        std::fs::write(self.dir.join(name), text).unwrap();
        self.path(name)
    }

    /// Makes a directory in the scratch directory and returns its path.
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
        // Processes that outlived the ones we started (PostgreSQL under runuser, epmd, nginx's
        // workers) are in the namespace too; each of them is ours.
        remove_namespace();
        let _ = Command::new("ip")
            .args(["route", "del", "blackhole", RANGE])
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Kills every process left in the test namespace, then deletes it and the veth.
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
    let _ = Command::new("ip")
        .args(["netns", "del", NS])
        .stderr(Stdio::null())
        .status();
    let _ = Command::new("ip")
        .args(["link", "del", VETH])
        .stderr(Stdio::null())
        .status();
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

/// `path` when it is an executable file; otherwise the test cannot go on, and says which
/// package the test command installs it from.
fn binary(path: &str, package: &str) -> String {
    assert!(
        Path::new(path).is_file(),
        "{path} not found: install {package} (scripts/install-test-deps.sh does)"
    );
    path.to_string()
}

/// The upstream version of an installed Debian package: `1:9.2p1-2+deb12u6` is `9.2p1`.
fn upstream_version(package: &str) -> String {
    let full = deb_version(package);
    let no_epoch = full.split_once(':').map_or(full.as_str(), |(_, v)| v);
    no_epoch
        .rsplit_once('-')
        .map_or(no_epoch, |(v, _)| v)
        .to_string()
}

/// The full version of an installed Debian package.
fn deb_version(package: &str) -> String {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", package])
        .output()
        .expect("run dpkg-query");
    let v = stdout(&out).trim().to_string();
    assert!(
        out.status.success() && !v.is_empty(),
        "{package} is not installed (scripts/install-test-deps.sh installs it)"
    );
    v
}

/// The python3 that can import aiosmtpd, and aiosmtpd's version there.
fn aiosmtpd_python() -> (String, String) {
    for python in ["python3", "/usr/bin/python3"] {
        let out = Command::new(python)
            .args(["-c", "import aiosmtpd; print(aiosmtpd.__version__)"])
            .output();
        if let Ok(out) = out
            && out.status.success()
        {
            return (python.to_string(), stdout(&out).trim().to_string());
        }
    }
    panic!("no python3 here imports aiosmtpd (scripts/install-test-deps.sh installs it)");
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

fn start_sshd(lab: &mut Lab) {
    let sshd = binary("/usr/sbin/sshd", "openssh-server");
    let key = lab.path("ssh_host_ed25519_key");
    run(
        "ssh-keygen",
        Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f", &key]),
    );
    let conf = lab.write(
        "sshd_config",
        &format!(
            "Port 22\nListenAddress {HOST}\nHostKey {key}\nPidFile {}\nUsePAM no\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\n",
            lab.path("sshd.pid")
        ),
    );
    // sshd insists on its privilege separation directory, /run/sshd; a private mount of /run
    // gives it one without creating anything on the machine.
    let script = format!(
        "mount -t tmpfs tmpfs /run && mkdir -m 755 /run/sshd && exec {sshd} -D -e -f {conf}"
    );
    lab.start(
        "sshd",
        &[
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
        ],
        &[],
    );
}

fn start_vsftpd(lab: &mut Lab) {
    let vsftpd = binary("/usr/sbin/vsftpd", "vsftpd");
    let empty = lab.mkdir("ftp-empty");
    let conf = lab.write(
        "vsftpd.conf",
        &format!(
            "listen=YES\nlisten_ipv6=NO\nlisten_address={HOST}\nlisten_port=21\nbackground=NO\n\
             anonymous_enable=NO\nlocal_enable=YES\nsecure_chroot_dir={empty}\n\
             xferlog_enable=NO\nvsftpd_log_file={}\n",
            lab.path("vsftpd-xfer.log")
        ),
    );
    lab.start("vsftpd", &[&vsftpd, &conf], &[]);
}

fn start_smtp(lab: &mut Lab, python: &str) {
    let script = lab.write("smtp.py", SMTP_SERVER);
    lab.start("aiosmtpd", &[python, &script, HOST], &[]);
}

fn start_nginx(lab: &mut Lab) {
    let nginx = binary("/usr/sbin/nginx", "nginx");
    let root = lab.mkdir("nginx");
    let temp = |name: &str| format!("{root}/{name}");
    let conf = lab.write(
        "nginx/nginx.conf",
        &format!(
            "daemon off;\npid {pid};\nerror_log {err};\nworker_processes 1;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {body};\n  proxy_temp_path {proxy};\n\
             \x20 fastcgi_temp_path {fcgi};\n  uwsgi_temp_path {uwsgi};\n  scgi_temp_path {scgi};\n\
             \x20 server {{ listen {HOST}:80; location / {{ return 200 \"portwatch test host\\n\"; }} }}\n}}\n",
            pid = temp("nginx.pid"),
            err = temp("error.log"),
            body = temp("body"),
            proxy = temp("proxy"),
            fcgi = temp("fastcgi"),
            uwsgi = temp("uwsgi"),
            scgi = temp("scgi"),
        ),
    );
    let err = temp("error.log");
    lab.start(
        "nginx",
        &[&nginx, "-e", &err, "-p", &root, "-c", &conf],
        &[],
    );
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
    // A fresh server lets root in from localhost only and refuses everyone else before its
    // greeting; an application account for the test network makes it greet our scanner.
    let init = lab.write(
        "mariadb-init.sql",
        "CREATE USER IF NOT EXISTS 'app'@'10.239.%';\n",
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
    run(
        "initdb",
        Command::new("runuser").args([
            "-u",
            "postgres",
            "--",
            &bin.join("initdb").display().to_string(),
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

fn start_redis(lab: &mut Lab) {
    let redis = binary("/usr/bin/redis-server", "redis-server");
    // Protected mode (the default) refuses every client but loopback ones when no password is
    // set; a server meant for the network turns it off or sets a password.
    lab.start(
        "redis",
        &[
            &redis,
            "--bind",
            HOST,
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            &lab.path(""),
            "--protected-mode",
            "no",
            "--daemonize",
            "no",
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
        // An empty env file, so /etc/rabbitmq/rabbitmq-env.conf (node name, interfaces) is
        // not read.
        (
            "RABBITMQ_CONF_ENV_FILE",
            lab.write("rabbit/rabbitmq-env.conf", ""),
        ),
        ("RABBITMQ_NODENAME", "pwobanners@localhost".to_string()),
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

fn start_mosquitto(lab: &mut Lab) {
    let mosquitto = binary("/usr/sbin/mosquitto", "mosquitto");
    let conf = lab.write(
        "mosquitto.conf",
        &format!(
            "listener 1883 {HOST}\nallow_anonymous true\npersistence false\nlog_dest stderr\n"
        ),
    );
    lab.start("mosquitto", &[&mosquitto, "-c", &conf], &[]);
}

/// The scan result for `port`.
fn result(results: &[Value], port: u16) -> &Value {
    results
        .iter()
        .find(|r| r["port"] == port)
        .unwrap_or_else(|| panic!("no result for port {port} in {results:?}"))
}

/// Asserts the service name and the banner's product and version of `port`.
fn assert_named(
    results: &[Value],
    port: u16,
    service: &str,
    product: &str,
    version: Option<&str>,
) -> Value {
    let r = result(results, port);
    assert_eq!(r["state"], "open", "{r}");
    assert_eq!(r["service"], service, "{r}");
    let banner = &r["details"]["banner"];
    assert_eq!(banner["product"], product, "{r}");
    if let Some(v) = version {
        assert_eq!(banner["version"], v, "{r}");
    }
    banner.clone()
}

/// A binary answer: no text line, escaped bytes with nothing unprintable, and a dashboard
/// that shows its decoded facts instead of a Banner row.
fn assert_binary(banner: &Value) {
    assert!(banner.get("text").is_none(), "{banner}");
    let escaped = banner["escaped"]
        .as_str()
        .unwrap_or_else(|| panic!("{banner}"));
    assert!(
        escaped
            .chars()
            .all(|c| c.is_ascii_graphic() || c == ' ' || c == '…'),
        "{escaped:?}"
    );
    let details: serde_json::Map<String, Value> = [("banner".to_string(), banner.clone())]
        .into_iter()
        .collect();
    let facts = portwatch_web::pages::details::facts(&details);
    assert!(
        facts.iter().all(|f| f.label != "Banner"),
        "dashboard rows {facts:?}"
    );
    assert!(facts.iter().any(|f| f.label == "Software"), "{facts:?}");
}

#[test]
fn real_servers_are_named_with_their_versions() {
    let (python, aiosmtpd_version) = aiosmtpd_python();
    let mut lab = Lab::new();
    start_sshd(&mut lab);
    start_vsftpd(&mut lab);
    start_smtp(&mut lab, &python);
    start_nginx(&mut lab);
    start_mariadb(&mut lab);
    start_postgres(&mut lab);
    start_redis(&mut lab);
    start_rabbitmq(&mut lab);
    start_mosquitto(&mut lab);
    let short = Duration::from_secs(30);
    for (name, port) in [
        ("sshd", 22),
        ("vsftpd", 21),
        ("aiosmtpd", 25),
        ("nginx", 80),
        ("mariadb", 3306),
        ("postgres", 5432),
        ("redis", 6379),
        ("mosquitto", 1883),
    ] {
        lab.wait_listening(name, port, short);
    }
    // RabbitMQ boots an Erlang node first; on a loaded two-core machine that takes a while.
    lab.wait_listening("rabbitmq", 5672, Duration::from_secs(120));

    let ports = "21,22,25,80,1883,3306,5432,5672,6379";
    let out = portwatch(&["scan", HOST, "-p", ports, "--format", "jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let results = json_lines(&stdout(&out));

    let ssh = assert_named(
        &results,
        22,
        "ssh",
        "OpenSSH",
        Some(&upstream_version("openssh-server")),
    );
    let revision = deb_version("openssh-server");
    let revision = revision.rsplit_once('-').unwrap().1;
    assert_eq!(
        ssh["info"],
        format!("protocol 2.0; Debian-{revision}"),
        "{ssh}"
    );
    assert!(
        ssh["text"]
            .as_str()
            .unwrap()
            .starts_with("SSH-2.0-OpenSSH_"),
        "{ssh}"
    );
    let ftp = assert_named(
        &results,
        21,
        "ftp",
        "vsFTPd",
        Some(&upstream_version("vsftpd")),
    );
    assert!(ftp["text"].as_str().unwrap().starts_with("220 "), "{ftp}");
    let smtp = assert_named(&results, 25, "smtp", "aiosmtpd", Some(&aiosmtpd_version));
    assert_eq!(smtp["info"], "host mail.pwo.test", "{smtp}");
    let http = assert_named(
        &results,
        80,
        "http",
        "nginx",
        Some(&upstream_version("nginx")),
    );
    assert_eq!(http["info"], "200 OK", "{http}");

    let mariadb = assert_named(
        &results,
        3306,
        "mysql",
        "MariaDB",
        Some(&upstream_version("mariadb-server")),
    );
    assert_binary(&mariadb);
    let postgres = assert_named(&results, 5432, "postgresql", "PostgreSQL", None);
    assert_eq!(postgres["info"], "SSL not supported", "{postgres}");
    assert_binary(&postgres);
    let redis = assert_named(
        &results,
        6379,
        "redis",
        "Redis",
        Some(&upstream_version("redis-server")),
    );
    assert!(redis["text"].is_string(), "{redis}");
    let rabbit = assert_named(
        &results,
        5672,
        "amqp",
        "RabbitMQ",
        Some(&upstream_version("rabbitmq-server")),
    );
    assert!(
        rabbit["info"]
            .as_str()
            .unwrap()
            .starts_with("AMQP 0-9, Erlang/OTP "),
        "{rabbit}"
    );
    assert_binary(&rabbit);
    let mqtt = assert_named(
        &results,
        1883,
        "mqtt",
        "Mosquitto",
        Some(&upstream_version("mosquitto")),
    );
    assert_binary(&mqtt);

    // The table shows the same facts and not one unprintable character.
    let table = portwatch(&["scan", HOST, "-p", ports]);
    assert_eq!(table.status.code(), Some(0), "{}", stderr(&table));
    let text = String::from_utf8(table.stdout).expect("the table is UTF-8");
    assert!(
        !text
            .chars()
            .any(|c| c == '\u{fffd}' || (c.is_control() && c != '\n')),
        "{text:?}"
    );
    for expected in [
        "OpenSSH",
        "vsFTPd",
        "aiosmtpd",
        "nginx",
        "MariaDB",
        "PostgreSQL",
        "Redis",
        "RabbitMQ",
        "Mosquitto",
    ] {
        assert!(text.contains(expected), "{expected} missing from\n{text}");
    }
}
