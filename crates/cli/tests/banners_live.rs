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
#[path = "common/lab.rs"]
mod lab;
#[path = "common/netns.rs"]
mod netns;

use common::{json_lines, portwatch, stderr, stdout};
use lab::{
    Lab, Site, binary, deb_version, run, start_mariadb, start_postgres, start_rabbitmq,
    upstream_version,
};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

const HOST: &str = "10.239.1.2";
const SITE: Site = Site {
    ns: "pwo-banners",
    root: "pwo-banh",
    peer: "pwo-bann",
    ours: "10.239.1.1",
    host: HOST,
    // This test's whole range.
    range: "10.239.0.0/16",
    shared_by: None,
};

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
    lab.start_unshared("sshd", &["-m"], &script);
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
    let mut lab = Lab::new(&SITE);
    start_sshd(&mut lab);
    start_vsftpd(&mut lab);
    start_smtp(&mut lab, &python);
    start_nginx(&mut lab);
    start_mariadb(&mut lab, "10.239.%");
    start_postgres(&mut lab);
    start_redis(&mut lab);
    start_rabbitmq(&mut lab, "pwobanners@localhost");
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
    lab.wait_listening("rabbitmq", 5672, Duration::from_mins(2));

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
