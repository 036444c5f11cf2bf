//! `config check` names the line and column of a bad value (as it does for syntax errors),
//! refuses databases portwatch cannot use, and takes a group's `ports` as a list too.

mod common;
use common::{portwatch, stderr, stdout};

/// Runs `config check` on `text`; returns (exit code, stdout, stderr).
fn check(text: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pw.toml");
    std::fs::write(&path, text).unwrap();
    let out = portwatch(&["config", "check", path.to_str().unwrap()]);
    (out.status.code(), stdout(&out), stderr(&out))
}

/// The `FILE:LINE:COLUMN:` prefix of the error, as (line, column).
fn place(err: &str) -> (usize, usize) {
    let rest = &err[err.find("pw.toml:").expect(err) + "pw.toml:".len()..];
    let mut parts = rest.splitn(3, ':');
    let line = parts.next().unwrap().parse().expect(err);
    let column = parts.next().unwrap().parse().expect(err);
    (line, column)
}

const GROUP: &str = "[[group]]\nname = \"web\"\ntargets = [\"127.0.0.1\"]\n";

#[test]
fn value_errors_name_line_and_column() {
    let cases = [
        // (text, line, column, what the message must say)
        (
            format!("{GROUP}[group.policy]\nmust_be_closed = [\"22\", \"99999\"]\n"),
            5,
            25,
            "99999",
        ),
        (
            format!("{GROUP}cron = \"not a cron\"\n[group.policy]\nmust_be_closed = [\"22\"]\n"),
            4,
            8,
            "cron",
        ),
        (
            format!(
                "{GROUP}ports = \"22\"\n[group.policy]\nseverity = \"dire\"\nmust_be_closed = [\"22\"]\n"
            ),
            6,
            12,
            "severity",
        ),
        (
            format!("{GROUP}ports = \"22\"\n{GROUP}ports = \"80\"\n"),
            6,
            8,
            "used twice",
        ),
        (
            "[[group]]\nname = \"web\"\ntargets = [\"10.0.0.300/99\"]\nports = \"22\"\n"
                .to_string(),
            3,
            12,
            "10.0.0.300/99",
        ),
    ];
    for (text, line, column, needle) in cases {
        let (code, _, err) = check(&text);
        assert_eq!(code, Some(2), "{text}\n{err}");
        assert_eq!(place(&err), (line, column), "{text}\n{err}");
        assert!(err.contains(needle), "{text}\n{err}");
    }
}

#[test]
fn unsupported_database_urls_are_refused_naming_the_supported_ones() {
    let (code, _, err) = check(&format!(
        "database = \"mysql://pw:secret@db/portwatch\"\n{GROUP}ports = \"22\"\n"
    ));
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(place(&err), (1, 12), "{err}");
    assert!(err.contains("'mysql' is not a supported database"), "{err}");
    assert!(err.contains("sqlite://PATH or postgres://"), "{err}");
    assert!(
        !err.contains("secret"),
        "the password stays out of messages: {err}"
    );
}

#[test]
fn group_ports_take_a_list_like_the_policy_keys() {
    let (code, out, err) = check(&format!("{GROUP}ports = [\"20-22\", 80, \"U:161\"]\n"));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("web: 1 target, 5 ports"), "{out}");
    let (code, _, err) = check(&format!("{GROUP}ports = [true]\n"));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not a port spec"), "{err}");
}
