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

#[path = "common/cluster.rs"]
mod cluster;
mod common;
#[path = "common/lab.rs"]
mod lab;
#[path = "common/netns.rs"]
mod netns;

use cluster::{dashboard_login as login, http_exchange, split_response};
use common::{ChildGuard, free_port, portwatch, stderr};
use lab::{Lab, Site, start_mariadb, start_postgres, start_rabbitmq};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const HOST: &str = "10.242.2.2";
const SITE: Site = Site {
    ns: "pwa-dash",
    root: "pwa-dashh",
    peer: "pwa-dashn",
    ours: "10.242.2.1",
    host: HOST,
    // The whole range of this helper's tests; the route goes with the last `pwa-` namespace.
    range: "10.242.0.0/16",
    shared_by: Some("pwa-"),
};

/// One HTTP/1.1 request to the dashboard on loopback: (status, raw head, body).
fn http(port: u16, request: &str) -> (u16, String, String) {
    let raw = http_exchange(
        &format!("127.0.0.1:{port}"),
        request,
        Duration::from_secs(10),
    )
    .expect("the dashboard answers (in UTF-8)");
    let (status, head, body) = split_response(&raw);
    (status, head.to_string(), body.to_string())
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
    let mut lab = Lab::new(&SITE);
    start_mariadb(&mut lab, "10.242.%");
    start_postgres(&mut lab);
    start_rabbitmq(&mut lab, "pwadash@localhost");
    lab.wait_listening("mariadb", 3306, Duration::from_secs(30));
    lab.wait_listening("postgres", 5432, Duration::from_secs(30));
    // RabbitMQ boots an Erlang node first; on a loaded two-core machine that takes a while.
    lab.wait_listening("rabbitmq", 5672, Duration::from_mins(2));

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
