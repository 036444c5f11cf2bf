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

/// Runs a loopback scan of one closed-or-open port writing to `file` in a fresh directory,
/// and returns what the file holds.
fn scan_to(extra: &[&str], file: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file);
    let path_s = path.to_str().unwrap();
    let mut args = vec!["scan", "127.0.0.1", "-p", "9", "--all", "--no-progress"];
    args.extend_from_slice(extra);
    args.push(path_s);
    let out = portwatch(&args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    std::fs::read_to_string(&path).unwrap()
}

#[test]
fn output_format_follows_the_file_extension() {
    assert!(scan_to(&["-o"], "scan.xml").starts_with("<?xml"));
    let json: serde_json::Value = serde_json::from_str(&scan_to(&["-o"], "scan.json")).unwrap();
    assert!(json.is_object());
    let jsonl = scan_to(&["-o"], "scan.jsonl");
    let first = jsonl.lines().next().unwrap();
    assert!(
        serde_json::from_str::<serde_json::Value>(first).is_ok(),
        "{jsonl}"
    );
    let csv = scan_to(&["-o"], "scan.csv");
    assert!(csv.lines().next().unwrap().contains(','), "{csv}");
    let txt = scan_to(&["-o"], "scan.txt");
    assert!(!txt.starts_with('<') && !txt.starts_with('{'), "{txt}");
    // An explicit --format wins over the extension.
    assert!(scan_to(&["--format", "csv", "-o"], "scan.xml").contains(','));
}

#[test]
fn nmap_output_options_map_to_format_and_file() {
    assert!(scan_to(&["-oX"], "out.xml").starts_with("<?xml"));
    let txt = scan_to(&["-oN"], "out.nmap");
    assert!(!txt.starts_with('<') && !txt.starts_with('{'), "{txt}");
}

#[test]
fn help_pages_show_examples_and_real_defaults() {
    let out = portwatch(&["scan", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("Examples:"), "{help}");
    assert!(
        help.contains("portwatch scan 10.0.0.0/24 -p 22,80,443"),
        "{help}"
    );
    let out = portwatch(&["watch", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("(default 750ms)"), "{help}");
    assert!(!help.contains("default 3s"), "{help}");
    for cmd in ["explain", "fix"] {
        let out = portwatch(&[cmd, "--help"]);
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("-f, --format"), "{cmd}: {help}");
    }
}

#[test]
fn short_format_flag_on_explain_and_fix() {
    let out = portwatch(&["explain", "445", "-f", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(serde_json::from_slice::<serde_json::Value>(&out.stdout).is_ok());
    let out = portwatch(&["fix", "445", "--platform", "ufw", "-f", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(serde_json::from_slice::<serde_json::Value>(&out.stdout).is_ok());
}
