//! `check`, `init`, `config check` and `diff` against real hosts: exit codes 0/1/2, reports
//! in every format, config errors with file, line and column.

mod common;
use common::{assert_route_is_ours, portwatch, stderr, stdout, testbed_host};
use serde_json::Value;
use std::process::Output;

fn addr(name: &str) -> String {
    let a = testbed_host(name)["addr4"].as_str().unwrap().to_string();
    assert_route_is_ours(&a);
    a
}

#[test]
fn one_liner_finds_netbios_and_smb_open() {
    let smb1 = addr("smb1");
    let out = portwatch(&[
        "check",
        &smb1,
        "--must-be-closed",
        "T:137-139,445,U:137,138",
        "--format",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "violations exit 1: {}",
        stderr(&out)
    );
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["compliant"], false);
    let v = doc["groups"][0]["violations"].as_array().unwrap();
    let ports: Vec<String> = v
        .iter()
        .map(|f| format!("{}/{}", f["port"], f["proto"].as_str().unwrap()))
        .collect();
    for p in ["139/tcp", "445/tcp", "137/udp"] {
        assert!(ports.contains(&p.to_string()), "{ports:?}");
    }
    let smb = v.iter().find(|f| f["port"] == 445).unwrap();
    assert_eq!(smb["rule"], "must-be-closed");
    assert!(
        smb["answered"].as_str().unwrap().contains("SMB1 enabled"),
        "{smb}"
    );
    assert!(
        smb["fix"]
            .as_str()
            .unwrap()
            .contains("portwatch fix 445/tcp"),
        "{smb}"
    );
    assert_eq!(doc["groups"][0]["unverified"][0]["port"], 138);
}

#[test]
fn compliant_host_exits_zero() {
    let tcp = addr("tcp");
    let out = portwatch(&["check", &tcp, "--must-be-closed", "T:139,445"]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("compliant"));
}

#[test]
fn allowed_and_expected_open() {
    let tcp = addr("tcp");
    let host = testbed_host("tcp");
    let open: Vec<u64> = host["truth"]["tcp"]["open"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(serde_json::Value::as_u64)
        .collect();
    let allowed: Vec<String> = open
        .iter()
        .take(3)
        .map(std::string::ToString::to_string)
        .collect();
    let out = portwatch(&[
        "check",
        &tcp,
        "--allowed-open",
        &allowed.join(","),
        "--expected-open",
        "4998",
        "--format",
        "junit",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let xml = stdout(&out);
    assert!(
        xml.contains("<testsuites") && xml.contains("<failure"),
        "{xml}"
    );
    assert!(xml.contains("4998/tcp expected open"), "{xml}");
    for p in &allowed {
        assert!(
            !xml.contains(&format!("name=\"{p}/tcp not allowed open\"")),
            "{p} is allowed"
        );
    }
    let unexpected = open.iter().skip(3).filter(|p| **p <= 1000).count();
    assert!(
        xml.matches("not allowed open").count() >= unexpected,
        "{xml}"
    );
}

#[test]
fn config_file_groups() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pw.toml");
    let (smb2, tcp) = (addr("smb2"), addr("tcp"));
    std::fs::write(
        &path,
        format!(
            "[[group]]\nname = \"files\"\ntargets = [\"{smb2}\"]\n[group.policy]\nmust_be_closed = [\"risky\"]\n\n\
             [[group]]\nname = \"clean\"\ntargets = [\"{tcp}\"]\n[group.policy]\nmust_be_closed = [\"T:139,445\"]\n"
        ),
    )
    .unwrap();
    let p = path.to_str().unwrap();
    let out = portwatch(&["config", "check", p]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("2 groups"));
    let out = portwatch(&["check", "--config", p, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["groups"][0]["group"], "files");
    assert!(
        !doc["groups"][0]["violations"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        doc["groups"][1]["violations"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let out = portwatch(&["check", "--config", p, "--group", "clean"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = portwatch(&["check", "--config", p, "--group", "nope"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bad_configs_name_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[[group]]\nname = \"a\"\ntargets = [\"10.0.0.1\"]\n\n[group.policy]\nmust_be_open = [\"22\"]\n").unwrap();
    let p = path.to_str().unwrap();
    for cmd in [vec!["config", "check", p], vec!["check", "--config", p]] {
        let out = portwatch(&cmd);
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        assert!(err.contains(&format!("{p}:6:1")), "{err}");
        assert!(
            err.contains("must_be_open") && err.contains("expected_open"),
            "{err}"
        );
    }
    let out = portwatch(&["config", "check", "/nonexistent/pw.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/pw.toml"));
    let out = portwatch(&["check", "10.0.0.1"]);
    assert_eq!(out.status.code(), Some(2), "a one-liner needs a policy");
}

#[test]
fn init_writes_a_valid_commented_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portwatch.toml");
    let p = path.to_str().unwrap();
    assert_eq!(portwatch(&["init", p]).status.code(), Some(0));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("# ") && text.contains("must_be_closed"));
    assert_eq!(portwatch(&["config", "check", p]).status.code(), Some(0));
    assert_eq!(
        portwatch(&["init", p]).status.code(),
        Some(2),
        "no overwrite without --force"
    );
    assert_eq!(portwatch(&["init", p, "--force"]).status.code(), Some(0));
}

#[test]
fn diff_files_like_ndiff() {
    let dir = tempfile::tempdir().unwrap();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    let a = dir.path().join("a.xml");
    let b = dir.path().join("b.jsonl");
    let scan_to = |format: &str, path: &std::path::Path| {
        portwatch(&[
            "scan",
            "127.0.0.1",
            "-p",
            &port,
            "--format",
            format,
            "--no-probes",
            "-o",
            path.to_str().unwrap(),
        ])
    };
    scan_to("xml", &a);
    drop(l);
    scan_to("jsonl", &b);
    let out = portwatch(&["diff", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("- {port}/tcp")),
        "{}",
        stdout(&out)
    );
    let out = portwatch(&[
        "diff",
        a.to_str().unwrap(),
        a.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(doc["changes"].as_array().unwrap().is_empty());
    let garbage = dir.path().join("g.txt");
    std::fs::write(&garbage, "hello").unwrap();
    let out = portwatch(&["diff", a.to_str().unwrap(), garbage.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}

/// `portwatch check TARGET --must-be-closed T:139,445 --no-save EXTRA…`.
fn check_139_445(target: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "check",
        target,
        "--must-be-closed",
        "T:139,445",
        "--no-save",
    ];
    args.extend_from_slice(extra);
    portwatch(&args)
}

/// Fails unless `out` exited with `code`, showing what it printed.
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}{}",
        stdout(out),
        stderr(out)
    );
}

/// An address on the test bed's `tcp` link that no host holds: probes get no answer at all.
fn silent_addr() -> String {
    let tcp = addr("tcp");
    let silent = format!("{}.99", tcp.rsplit_once('.').unwrap().0);
    assert_ne!(silent, tcp);
    assert_route_is_ours(&silent);
    silent
}

#[test]
fn host_that_answers_nothing_is_not_verified_and_exits_2() {
    let silent = silent_addr();
    let out = check_139_445(&silent, &[]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("not verified") && err.contains(&silent),
        "{err}"
    );
    assert!(err.contains("--allow-down"), "{err}");
    let table = stdout(&out);
    assert!(
        table.contains("NOT VERIFIED") && !table.contains("compliant"),
        "{table}"
    );

    let out = check_139_445(&silent, &["--allow-down"]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("allowed"), "{}", stdout(&out));
}

#[test]
fn not_verified_is_a_distinct_status_in_json_and_junit() {
    let silent = silent_addr();
    let out = check_139_445(&silent, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["status"], "not-verified");
    assert_eq!(doc["compliant"], false);
    assert_eq!(doc["violations"], 0);
    assert_eq!(doc["groups"][0]["not_verified"][0]["host"], silent.as_str());
    assert_eq!(
        doc["groups"][0]["not_verified"][0]["status"],
        "not-verified"
    );

    let out = check_139_445(&silent, &["--format", "junit"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let xml = stdout(&out);
    assert!(xml.contains(r#"<error type="not-verified""#), "{xml}");
    let suite = xml
        .lines()
        .find(|l| l.trim_start().starts_with("<testsuite "))
        .unwrap();
    assert!(
        suite.contains(r#"errors="1""#) && suite.contains(r#"failures="0""#),
        "{suite}"
    );
    assert!(
        xml.contains(r#"<testsuites name="portwatch check" tests="1" failures="0" errors="1">"#),
        "{xml}"
    );
}

#[test]
fn down_addresses_inside_an_answering_range_are_not_errors() {
    let tcp = addr("tcp");
    let base = tcp.rsplit_once('.').unwrap().0.to_string();
    let range = format!("{base}.2-3");
    assert_route_is_ours(&format!("{base}.3"));
    let out = check_139_445(&range, &[]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("compliant"), "{}", stdout(&out));
}

#[test]
fn config_check_shows_each_vantages_rules() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pw.toml");
    std::fs::write(
        &path,
        "[[group]]\nname = \"files\"\ntargets = [\"10.0.5.0/28\"]\nvantages = [\"lan\", \"internet\"]\n\
         [group.policy]\nmust_be_closed = [\"T:22,139,445\"]\n[group.policy.from.lan]\nallow = [\"T:139,445\"]\n",
    )
    .unwrap();
    let out = portwatch(&["config", "check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("files: 1 target, 3 ports, every 5m; seen from 2 vantages"),
        "{text}"
    );
    assert!(
        text.contains("    from lan: must be closed: 1, allowed open: any"),
        "{text}"
    );
    assert!(
        text.contains("    from internet: must be closed: 3, allowed open: any"),
        "{text}"
    );
}
