//! Bad input: one clear line naming the offending token, exit code 2, never a panic,
//! and no packet sent.

mod common;
use common::{portwatch, stderr};
use std::net::UdpSocket;

fn assert_usage_error(args: &[&str], needle: &str) {
    let out = portwatch(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    let first = err.lines().next().unwrap_or_default();
    assert!(
        first.contains(needle),
        "{args:?}: expected {needle:?} in {first:?}"
    );
    assert!(first.contains("error"), "{args:?}: {first:?}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
}

#[test]
fn bad_address_names_the_octet() {
    assert_usage_error(&["scan", "300.1.1.1", "-p", "80"], "'300.1.1.1'");
    assert_usage_error(&["scan", "300.1.1.1", "-p", "80"], "octet 300");
}

#[test]
fn bad_ports_name_the_token() {
    assert_usage_error(&["scan", "127.0.0.1", "-p", "0"], "'0'");
    assert_usage_error(&["scan", "127.0.0.1", "-p", "70000"], "70000");
    assert_usage_error(&["scan", "127.0.0.1", "-p", "5-1"], "'5-1'");
    assert_usage_error(
        &["scan", "127.0.0.1", "-p", "80,nosuchservice"],
        "nosuchservice",
    );
    assert_usage_error(&["scan", "127.0.0.1", "-p", "X:80"], "'X:80'");
}

#[test]
fn unreadable_target_list_names_the_file() {
    assert_usage_error(
        &["scan", "-iL", "/nonexistent/targets.txt", "-p", "80"],
        "/nonexistent/targets.txt",
    );
}

#[test]
fn huge_range_needs_yes() {
    assert_usage_error(&["scan", "10.0.0.0/8", "-p", "80"], "--yes");
    assert_usage_error(&["scan", "10.0.0.0/15", "-p", "80"], "131072");
}

#[test]
fn bad_options_are_usage_errors() {
    assert_usage_error(&["scan", "127.0.0.1", "-p", "80", "--rate", "0"], "--rate");
    assert_usage_error(&["scan", "127.0.0.1", "--top", "999999"], "--top");
    assert_usage_error(&["scan", "127.0.0.1", "-p", "80", "--top", "5"], "--top");
    assert_usage_error(
        &[
            "scan",
            "127.0.0.1",
            "-p",
            "80",
            "--min-rtt-timeout",
            "3parsecs",
        ],
        "parsecs",
    );
    let out = portwatch(&["scan", "127.0.0.1", "-p", "80", "--format", "yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let out = portwatch(&["scan", "-p", "80"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no targets"));
}

/// A DNS server on loopback that answers every query with NXDOMAIN, so the test never asks
/// a real resolver.
fn nxdomain_server() -> std::net::SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, peer)) = sock.recv_from(&mut buf) {
            if n < 12 {
                continue;
            }
            let mut reply = buf[..n].to_vec();
            reply[2] = 0x81 | (buf[2] & 0x01); // response, recursion desired copied
            reply[3] = 0x83; // recursion available, rcode 3 = NXDOMAIN
            let _ = sock.send_to(&reply, peer);
        }
    });
    addr
}

#[test]
fn unresolvable_hostname_names_the_host() {
    let dns = nxdomain_server().to_string();
    assert_usage_error(
        &[
            "scan",
            "no-such-host.invalid",
            "-p",
            "80",
            "--dns-servers",
            &dns,
        ],
        "'no-such-host.invalid'",
    );
}

#[test]
fn nmap_options_without_equivalent_get_a_hint() {
    assert_usage_error(&["scan", "127.0.0.1", "-oG", "out.gnmap"], "-oG");
    assert_usage_error(&["scan", "127.0.0.1", "-oG", "out.gnmap"], "-oX");
    assert_usage_error(&["scan", "127.0.0.1", "-oA", "base"], "-o BASE.xml");
    assert_usage_error(&["scan", "127.0.0.1", "-T4"], "--rate");
    assert_usage_error(&["scan", "127.0.0.1", "-sV"], "--no-probes");
}

/// A loopback UDP port with nothing behind it: a DNS query sent there would get no answer,
/// and the test sees whether one arrived.
fn silent_dns() -> (UdpSocket, String) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_nonblocking(true).unwrap();
    let addr = sock.local_addr().unwrap().to_string();
    (sock, addr)
}

#[test]
fn existing_file_name_is_not_sent_to_dns() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("out.xml"), "").unwrap();
    let (sock, dns) = silent_dns();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portwatch"))
        .current_dir(dir.path())
        .args(["scan", "out.xml", "-p", "80", "--dns-servers", &dns])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("'out.xml'") && err.contains("not a hostname"),
        "{err}"
    );
    let mut buf = [0u8; 512];
    assert!(sock.recv_from(&mut buf).is_err(), "a DNS query was sent");
}

#[test]
fn path_target_is_refused_without_dns() {
    let (sock, dns) = silent_dns();
    assert_usage_error(
        &["scan", "results/out.xml", "-p", "80", "--dns-servers", &dns],
        "'results/out.xml'",
    );
    let mut buf = [0u8; 512];
    assert!(sock.recv_from(&mut buf).is_err(), "a DNS query was sent");
}

#[test]
fn resolver_errors_have_no_debug_output() {
    let dns = nxdomain_server().to_string();
    let out = portwatch(&[
        "scan",
        "no-such-host.invalid",
        "-p",
        "80",
        "--dns-servers",
        &dns,
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("Query {") && !err.contains("Name("), "{err}");
    assert!(err.contains("no such host"), "{err}");
}

#[test]
fn mistyped_platform_gets_did_you_mean() {
    assert_usage_error(&["fix", "445", "--platform", "ufv"], "did you mean 'ufw'");
    assert_usage_error(
        &["fix", "445", "--platform", "iptable"],
        "did you mean 'iptables'",
    );
}
