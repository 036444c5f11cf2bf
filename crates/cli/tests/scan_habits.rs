//! Defaults and habits that must just work: UDP without `-p`, output formats inferred from
//! the `-o` file name, nmap's `-oX`/`-oN`. Loopback only, no DNS.

mod common;
use common::{portwatch, stderr};

/// `numservices` of the XML `<scaninfo>` line for `proto`.
fn numservices(xml: &str, proto: &str) -> Option<usize> {
    let needle = format!(r#"protocol="{proto}" numservices=""#);
    let rest = &xml[xml.find(&needle)? + needle.len()..];
    rest[..rest.find('"')?].parse().ok()
}

#[test]
fn udp_without_ports_scans_the_default_udp_top() {
    let out = portwatch(&[
        "scan",
        "127.0.0.1",
        "--udp",
        "--no-probes",
        "--no-progress",
        "--format",
        "xml",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let xml = String::from_utf8_lossy(&out.stdout);
    assert_eq!(numservices(&xml, "udp"), Some(100), "{xml}");
    assert_eq!(numservices(&xml, "tcp"), None, "{xml}");
}
