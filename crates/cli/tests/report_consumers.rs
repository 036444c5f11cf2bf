//! Reports read by the real programs that consume them (installed by
//! scripts/install-test-deps.sh): the XML output checked by `xmllint` against nmap's own DTD,
//! `portwatch diff` reading XML that nmap itself wrote, and the JUnit report of `check` read by
//! Python's `junitparser` (its counts, and each failure's name, type, message and text against
//! the same check's JSON violations) and validated against a schema of Jenkins' JUnit
//! requirements.
//! Every scan here is of 127.0.0.1, on ports whose state the test sets.

mod common;

use common::{portwatch, repo_root, stderr, stdout};
use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

/// nmap's DTD as the nmap package installs it.
const NMAP_DTD: &str = "/usr/share/nmap/nmap.dtd";

/// A listening port (open while the listener lives) and a port nothing listens on.
fn open_and_closed() -> (TcpListener, u16, u16) {
    let open = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let open_port = open.local_addr().unwrap().port();
    (open, open_port, closed_port)
}

/// Runs a consumer that scripts/install-test-deps.sh installs.
fn consumer(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}); scripts/install-test-deps.sh installs it")
        })
}

fn text_of(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `xmllint --dtdvalid` of `file` against nmap's DTD.
fn validate_with_nmap_dtd(file: &Path) -> Output {
    consumer(
        "xmllint",
        &["--noout", "--dtdvalid", NMAP_DTD, file.to_str().unwrap()],
    )
}

/// nmap's own connect scan of `ports` on 127.0.0.1 as XML in `file` (no DNS, no ping).
fn nmap_xml(ports: &str, file: &Path) {
    let out = consumer(
        "nmap",
        &[
            "-n",
            "-Pn",
            "-sT",
            "-p",
            ports,
            "127.0.0.1",
            "-oX",
            file.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "nmap: {}", text_of(&out));
}

/// portwatch's XML of `ports` on 127.0.0.1 in `file`.
fn portwatch_xml(ports: &str, file: &Path) {
    let out = portwatch(&[
        "scan",
        "127.0.0.1",
        "-p",
        ports,
        "--format",
        "xml",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// The XML breaks nmap's DTD in one place only, the documented one: `scanner="portwatch"`
/// where the DTD allows only "nmap". With that one value changed the document is valid.
#[test]
fn xml_output_meets_nmaps_dtd_except_the_scanner_name() {
    let dir = tempfile::tempdir().unwrap();
    let (_open, open, closed) = open_and_closed();
    let ours = dir.path().join("portwatch.xml");
    portwatch_xml(&format!("{open},{closed}"), &ours);

    let out = validate_with_nmap_dtd(&ours);
    let said = text_of(&out);
    assert!(
        !out.status.success(),
        "expected the scanner deviation: {said}"
    );
    let errors: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("validity error"))
        .collect();
    assert_eq!(errors.len(), 1, "{said}");
    assert!(
        errors[0].contains("\"portwatch\" for attribute scanner of nmaprun"),
        "{said}"
    );

    let text = std::fs::read_to_string(&ours).unwrap();
    assert_eq!(text.matches(r#"scanner="portwatch""#).count(), 1, "{text}");
    let as_nmap = dir.path().join("as-nmap.xml");
    std::fs::write(
        &as_nmap,
        text.replace(r#"scanner="portwatch""#, r#"scanner="nmap""#),
    )
    .unwrap();
    let out = validate_with_nmap_dtd(&as_nmap);
    assert!(out.status.success(), "{}\n{text}", text_of(&out));
}

/// `portwatch diff` reads XML that nmap wrote: between two nmap scans, and between an nmap
/// scan and a portwatch one, it reports the port that closed and the one that opened, on the
/// same host.
#[test]
fn diff_reads_xml_written_by_nmap() {
    let dir = tempfile::tempdir().unwrap();
    let (first, was_open, was_closed) = open_and_closed();
    let ports = format!("{was_open},{was_closed}");
    let before = dir.path().join("nmap-before.xml");
    nmap_xml(&ports, &before);
    drop(first);
    let reopened = TcpListener::bind(("127.0.0.1", was_closed)).unwrap();
    let after_nmap = dir.path().join("nmap-after.xml");
    nmap_xml(&ports, &after_nmap);
    let after_ours = dir.path().join("portwatch-after.xml");
    portwatch_xml(&ports, &after_ours);
    drop(reopened);

    for after in [&after_nmap, &after_ours] {
        let out = portwatch(&[
            "diff",
            before.to_str().unwrap(),
            after.to_str().unwrap(),
            "--format",
            "json",
        ]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        // Service names may differ between the two scanners; the states may not.
        let changes: BTreeSet<(String, u64, String)> = doc["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["kind"] != "service" && c["kind"] != "details")
            .map(|c| {
                (
                    c["host"].as_str().unwrap_or_default().to_string(),
                    c["port"].as_u64().unwrap_or(0),
                    c["kind"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let expected = BTreeSet::from([
            (
                "127.0.0.1".to_string(),
                u64::from(was_open),
                "closed".to_string(),
            ),
            (
                "127.0.0.1".to_string(),
                u64::from(was_closed),
                "opened".to_string(),
            ),
        ]);
        assert_eq!(changes, expected, "{}", stdout(&out));
    }
}

/// `check` of 127.0.0.1 in `format`, both ports must be closed and `closed` expected open:
/// two violations (exit 1); its report.
fn check_open_and_closed(open: u16, closed: u16, format: &str) -> Vec<u8> {
    let out = portwatch(&[
        "check",
        "127.0.0.1",
        "--must-be-closed",
        &format!("T:{open},{closed}"),
        "--expected-open",
        &format!("T:{closed}"),
        "--no-save",
        "--format",
        format,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    out.stdout
}

/// Python's junitparser reads `check --format junit` and counts what the run found: one
/// suite, three cases, two failures (an open port that must be closed, a closed port that must
/// be open), no error; and the report validates against a schema of Jenkins' requirements.
#[test]
fn junit_report_is_read_by_junitparser_and_meets_jenkins_schema() {
    let dir = tempfile::tempdir().unwrap();
    let (_open, open, closed) = open_and_closed();
    let junit = check_open_and_closed(open, closed, "junit");
    let report = dir.path().join("report.xml");
    std::fs::write(&report, &junit).unwrap();

    let script = r#"
import json, sys
from junitparser import JUnitXml, Failure, Error, Skipped
xml = JUnitXml.fromfile(sys.argv[1])
suites = []
for suite in xml:
    results = [type(r).__name__ for case in suite for r in case.result]
    suites.append({
        "name": suite.name, "tests": suite.tests, "failures": suite.failures,
        "errors": suite.errors, "skipped": suite.skipped,
        "cases": sum(1 for _ in suite),
        "failed": results.count("Failure"), "erred": results.count("Error"),
    })
print(json.dumps(suites))
"#;
    let read = consumer("python3", &["-c", script, report.to_str().unwrap()]);
    assert!(read.status.success(), "junitparser: {}", text_of(&read));
    let suites: serde_json::Value = serde_json::from_slice(&read.stdout).unwrap();
    assert_eq!(
        suites,
        serde_json::json!([{
            "name": "command-line", "tests": 3, "failures": 2, "errors": 0, "skipped": 0,
            "cases": 3, "failed": 2, "erred": 0,
        }]),
        "{}",
        String::from_utf8_lossy(&junit)
    );

    let schema = repo_root().join("crates/cli/tests/consumers/junit-jenkins.xsd");
    let valid = consumer(
        "xmllint",
        &[
            "--noout",
            "--schema",
            schema.to_str().unwrap(),
            report.to_str().unwrap(),
        ],
    );
    assert!(valid.status.success(), "{}", text_of(&valid));
}

/// Each case junitparser reads from `check --format junit`: its class name, name, and each
/// result's kind, type, message and text, as JSON (`[[classname, name, [[kind, type,
/// message, text]…]]…]`).
const JUNIT_CASES: &str = r"
import json, sys
from junitparser import JUnitXml
cases = []
for suite in JUnitXml.fromfile(sys.argv[1]):
    for case in suite:
        results = [[type(r).__name__, r.type, r.message, r.text] for r in case.result]
        cases.append([case.classname, case.name, results])
print(json.dumps(sorted(cases)))
";

/// What junitparser reads as failures is what the same check reports as violations in its
/// JSON report: one failing case per violation, named by port and rule, typed by severity,
/// its message naming host, port and state and its text the fix or the explanation; the
/// rule the scan met is a case without a result.
#[test]
fn junit_failures_read_by_junitparser_match_the_json_violations() {
    let dir = tempfile::tempdir().unwrap();
    let (_open, open, closed) = open_and_closed();
    let check = |format: &str| check_open_and_closed(open, closed, format);
    let json: serde_json::Value = serde_json::from_slice(&check("json")).unwrap();
    let report = dir.path().join("report.xml");
    std::fs::write(&report, check("junit")).unwrap();

    let read = consumer("python3", &["-c", JUNIT_CASES, report.to_str().unwrap()]);
    assert!(read.status.success(), "junitparser: {}", text_of(&read));
    let cases: serde_json::Value = serde_json::from_slice(&read.stdout).unwrap();

    let violations = json["groups"][0]["violations"].as_array().unwrap();
    assert_eq!(violations.len(), 2, "{json}");
    let class = "portwatch.command-line.127.0.0.1";
    let mut expected: Vec<serde_json::Value> = violations
        .iter()
        .map(|v| {
            let (port, proto, rule) = (&v["port"], v["proto"].as_str().unwrap(), &v["rule"]);
            let rule = rule.as_str().unwrap().replace('-', " ");
            let text = if v["fix"].is_null() {
                &v["explain"]
            } else {
                &v["fix"]
            };
            serde_json::json!([
                class,
                format!("{port}/{proto} {rule}"),
                [[
                    "Failure",
                    v["severity"],
                    format!(
                        "{} {port}/{proto} is {} ({rule})",
                        v["host"].as_str().unwrap(),
                        v["state"].as_str().unwrap()
                    ),
                    text,
                ]],
            ])
        })
        .collect();
    expected.push(serde_json::json!([
        class,
        format!("{closed}/tcp must be closed"),
        []
    ]));
    expected.sort_by_key(std::string::ToString::to_string);
    let mut got = cases.as_array().unwrap().clone();
    got.sort_by_key(std::string::ToString::to_string);
    assert_eq!(got, expected, "{json}");
}
