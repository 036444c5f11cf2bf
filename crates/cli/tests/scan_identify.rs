//! Banner identification names services on unusual ports; `--no-probes` turns it off.

mod common;
use common::{json_lines, portwatch, stderr, stdout};
use std::io::{Read, Write};
use std::net::TcpListener;

/// A server that greets every connection with `greeting`.
fn greeter(greeting: &'static [u8]) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in l.incoming().flatten() {
            let _ = conn.write_all(greeting);
        }
    });
    port
}

/// A minimal HTTP server that answers any request.
fn http_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in l.incoming().flatten() {
            let mut buf = [0u8; 1024];
            if conn.read(&mut buf).unwrap_or(0) > 0 {
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Length: 0\r\n\r\n",
                );
            }
        }
    });
    port
}

#[test]
fn services_on_unusual_ports_are_named() {
    let ssh = greeter(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n");
    let smtp = greeter(b"220 mail.example.test ESMTP Postfix (Debian/GNU)\r\n");
    let http = http_server();
    let spec = format!("{ssh},{smtp},{http}");
    let out = portwatch(&["scan", "127.0.0.1", "-p", &spec, "--format", "jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let results = json_lines(&stdout(&out));
    let by_port = |p: u16| results.iter().find(|r| r["port"] == p).unwrap().clone();
    let r = by_port(ssh);
    assert_eq!(r["service"], "ssh", "{r}");
    assert_eq!(r["details"]["banner"]["product"], "OpenSSH");
    assert_eq!(r["details"]["banner"]["version"], "9.2p1");
    let r = by_port(smtp);
    assert_eq!(r["service"], "smtp", "{r}");
    let r = by_port(http);
    assert_eq!(r["service"], "http", "{r}");
    assert!(
        r["details"]["summary"].as_str().unwrap().contains("nginx"),
        "{r}"
    );

    let plain = portwatch(&[
        "scan",
        "127.0.0.1",
        "-p",
        &spec,
        "--format",
        "jsonl",
        "--no-probes",
    ]);
    for r in json_lines(&stdout(&plain)) {
        assert!(
            r.get("details").is_none(),
            "--no-probes must not identify: {r}"
        );
        assert_eq!(r["state"], "open");
    }
}

/// A silent listener on `port` of some address in 127.77.0.0/24 (the well-known ports these
/// tests need may be taken on 127.0.0.1), and that address.
fn silent_on(port: u16) -> String {
    for last in 1..=200u8 {
        let addr = format!("127.77.0.{last}");
        if let Ok(l) = TcpListener::bind((addr.as_str(), port)) {
            std::thread::spawn(move || for _conn in l.incoming() {});
            return addr;
        }
    }
    panic!("no address of 127.77.0.0/24 has port {port} free");
}

#[test]
fn unidentified_ports_are_named_as_admins_know_them() {
    // IANA's names for these ports belong to other services (wap-wsp, sun-sr-https, esmagent).
    for (port, known, iana) in [
        (9200, "elasticsearch", "wap-wsp"),
        (6443, "kubernetes", "sun-sr-https"),
        (5601, "kibana", "esmagent"),
    ] {
        let addr = silent_on(port);
        let spec = port.to_string();
        let out = portwatch(&[
            "scan",
            &addr,
            "-p",
            &spec,
            "--format",
            "jsonl",
            "--no-probes",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let results = json_lines(&stdout(&out));
        let r = results.iter().find(|r| r["port"] == port).unwrap();
        assert_eq!(r["state"], "open", "{r}");
        assert_eq!(r["service"], known, "{r}");
        let table = portwatch(&["scan", &addr, "-p", &spec, "--no-probes"]);
        let table = stdout(&table);
        assert!(table.contains(known) && !table.contains(iana), "{table}");
    }
}
