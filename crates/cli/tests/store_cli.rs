//! The store from the command line, on SQLite and PostgreSQL: saved scans, history, hosts,
//! stored diffs, moving a history from SQLite to PostgreSQL, concurrent `check` runs on one
//! SQLite file, and a read-only database refused with exit code 2.

mod common;
use common::{assert_route_is_ours, pg_db, portwatch, stderr, stdout, testbed_host};
use serde_json::Value;
use std::net::TcpListener;
use std::process::Command;

fn saved_history_round(db: &str) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    let spec = format!("{port},1");
    let save = |expect_open: bool| {
        let out = portwatch(&[
            "scan",
            "127.0.0.1",
            "-p",
            &spec,
            "--no-probes",
            "--save",
            "--database",
            db,
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(stderr(&out).contains("saved as scan #"), "{}", stderr(&out));
        let _ = expect_open;
    };
    save(true);
    save(true);
    drop(l);
    save(false);
    let out = portwatch(&[
        "history",
        &format!("127.0.0.1:{port}"),
        "--database",
        db,
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let spans = doc["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 1, "one span: opened once, closed once: {doc}");
    assert!(
        spans[0]["to_scan"].is_number(),
        "closed by the third scan: {doc}"
    );
    let out = portwatch(&["hosts", "--database", db, "--format", "json"]);
    let hosts: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(hosts[0]["addr"], "127.0.0.1");
    let out = portwatch(&["diff", "--host", "127.0.0.1", "--database", db]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the last two scans differ: {}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains(&format!("- {port}/tcp")),
        "{}",
        stdout(&out)
    );
    let out = portwatch(&["diff", "1", "2", "--database", db]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "scans 1 and 2 are the same: {}",
        stdout(&out)
    );
}

#[test]
fn history_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    saved_history_round(&format!("sqlite://{}", dir.path().join("pw.db").display()));
}

#[test]
fn history_on_postgres() {
    let pg = pg_db();
    saved_history_round(&pg.url);
}

#[test]
fn sqlite_history_moves_to_postgres_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("pw.db").display());
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    for _ in 0..2 {
        portwatch(&[
            "scan",
            "127.0.0.1",
            "-p",
            &port,
            "--no-probes",
            "--save",
            "--database",
            &sqlite,
        ]);
    }
    let dump = dir.path().join("history.jsonl");
    let out = portwatch(&[
        "export",
        "--database",
        &sqlite,
        "-o",
        dump.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let pg = pg_db();
    let out = portwatch(&["import", dump.to_str().unwrap(), "--database", &pg.url]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let again = dir.path().join("again.jsonl");
    portwatch(&[
        "export",
        "--database",
        &pg.url,
        "-o",
        again.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(&dump).unwrap(),
        std::fs::read_to_string(&again).unwrap()
    );
    let out = portwatch(&["import", dump.to_str().unwrap(), "--database", &pg.url]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "import into a non-empty database is refused"
    );
}

#[test]
fn concurrent_checks_share_one_sqlite_file() {
    let host = testbed_host("tcp");
    let addr = host["addr4"].as_str().unwrap().to_string();
    assert_route_is_ours(&addr);
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("pw.db").display());
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_portwatch"))
                .args([
                    "check",
                    &addr,
                    "--must-be-closed",
                    "T:1-200",
                    "--database",
                    &db,
                ])
                .output()
        })
        .collect();
    for out in children {
        let out = out.unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "violations, not errors: {}",
            stderr(&out)
        );
        assert!(!stderr(&out).contains("locked"), "{}", stderr(&out));
    }
    let out = portwatch(&["hosts", "--database", &db, "--format", "json"]);
    let hosts: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(hosts.as_array().unwrap().len(), 1);
}

#[test]
fn read_only_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pw.db");
    let db = format!("sqlite://{}", path.display());
    let save_scan = |db: &str| {
        portwatch(&[
            "scan",
            "127.0.0.1",
            "-p",
            "1",
            "--no-probes",
            "--save",
            "--database",
            db,
        ])
    };
    save_scan(&db);
    let out = save_scan(&format!("{db}?mode=ro"));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("read-only") || err.contains("read only"),
        "{err}"
    );
    let out = portwatch(&["hosts", "--database", "bogus://x"]);
    assert_eq!(out.status.code(), Some(2));
}
