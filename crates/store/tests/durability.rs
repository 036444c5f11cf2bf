//! Opening, refusing, surviving: bad URLs, newer schemas, read-only databases, full disks,
//! processes killed mid-transaction, concurrent writers, export and import.

mod common;

use anyhow::{Context, Result, bail, ensure};
use common::{
    Kind, OpenStore, TestDb, open_on, outcome, pg_admin_url, port, run_scan, with_details,
};
use portwatch_store::{AlertStateRow, Effects, NewOutboxMessage, Store, StoreError};
use portwatch_testkit::psql;
use serde_json::{Value, json};
use sqlx::Connection;
use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

const FIXTURE: &str = env!("CARGO_BIN_EXE_portwatch-store-fixture");

both_backends!(
    newer_schema_is_refused_untouched,
    read_only_database_is_refused_and_intact,
    kill_inside_finish_loses_nothing,
    kill_at_a_random_moment_keeps_history_consistent,
    four_processes_write_concurrently,
);

/// What opening failed with, as the user reads it (empty when it opened).
fn error_text(e: &Result<Store, StoreError>) -> String {
    e.as_ref()
        .err()
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// Writes a history with one open port (22 on 10.0.0.1) to `db` and closes the store.
async fn one_open_port(db: &TestDb) -> Result<()> {
    let store = db.open().await?;
    run_scan(&store, &open_on("10.0.0.1", &[22], &[22])).await?;
    store.close().await;
    Ok(())
}

fn parse_lines(stdout: &[u8]) -> Result<Vec<Value>> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).with_context(|| format!("fixture printed {l}")))
        .collect()
}

#[tokio::test]
async fn bad_urls_and_unopenable_paths_say_what_to_do() -> Result<()> {
    for url in ["mysql://localhost/x", "sqlite::memory:", "sqlite://"] {
        let e = Store::open(url).await;
        ensure!(matches!(e, Err(StoreError::BadUrl { .. })), "{url}: {e:?}");
    }
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("file"), b"x")?;
    let e = Store::open(&format!("sqlite://{}/file/sub/h.db", dir.path().display())).await;
    let msg = error_text(&e);
    ensure!(matches!(e, Err(StoreError::CreateDir { .. })), "{e:?}");
    ensure!(
        msg.contains("file/sub") && msg.contains("choose another database"),
        "{msg}"
    );
    // Not a database at all.
    std::fs::write(dir.path().join("junk.db"), vec![7u8; 8192])?;
    let e = Store::open(&format!("sqlite://{}/junk.db", dir.path().display())).await;
    ensure!(matches!(e, Err(StoreError::CannotOpen { .. })), "{e:?}");
    // PostgreSQL: no such database, nothing listening.
    let e = Store::open(&common::pg_db_url("pwtest_does_not_exist")).await;
    let msg = error_text(&e);
    ensure!(
        matches!(e, Err(StoreError::Connect { .. })) && msg.contains("createdb"),
        "{msg}"
    );
    let e = Store::open("postgres://postgres:secret@127.0.0.1:1/x").await;
    let msg = error_text(&e);
    ensure!(matches!(e, Err(StoreError::Connect { .. })), "{e:?}");
    ensure!(
        !msg.contains("secret") && msg.contains("server runs"),
        "{msg}"
    );
    let default = Store::default_url()?;
    ensure!(default.starts_with("sqlite://") && default.ends_with("portwatch/portwatch.db"));
    Ok(())
}

async fn newer_schema_is_refused_untouched(db: TestDb) -> Result<()> {
    one_open_port(&db).await?;
    let checksum = match db.kind {
        Kind::Sqlite => "X'00'",
        Kind::Postgres => "'\\x00'::bytea",
    };
    db.exec(&format!(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', TRUE, {checksum}, 0)"
    ))
    .await?;
    let before = db.counts().await?;
    let e = Store::open(&db.url).await;
    let msg = error_text(&e);
    let known = Store::known_schema_version();
    ensure!(
        matches!(
            e,
            Err(StoreError::NewerSchema { found: 9999, known: k, .. }) if k == known
        ),
        "{e:?}"
    );
    ensure!(
        msg.contains(&format!(
            "was written by a newer portwatch (schema 9999, this build knows up to {known})"
        )),
        "{msg}"
    );
    ensure!(db.counts().await? == before);
    ensure!(
        db.scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE version = 9999")
            .await?
            == 1
    );
    Ok(())
}

async fn read_only_database_is_refused_and_intact(db: TestDb) -> Result<()> {
    one_open_port(&db).await?;
    let before = db.counts().await?;
    let (ro_url, undo) = match db.kind {
        Kind::Sqlite => (format!("{}?mode=ro", db.url), None),
        Kind::Postgres => {
            let name = db.url.rsplit('/').next().unwrap_or_default().to_string();
            psql(
                &pg_admin_url(),
                &format!("ALTER DATABASE {name} SET default_transaction_read_only = on"),
            );
            (
                db.url.clone(),
                Some(format!(
                    "ALTER DATABASE {name} RESET default_transaction_read_only"
                )),
            )
        }
    };
    let e = Store::open(&ro_url).await;
    if let Some(undo) = undo {
        psql(&pg_admin_url(), &undo);
    }
    let msg = error_text(&e);
    ensure!(matches!(e, Err(StoreError::ReadOnly { .. })), "{e:?}");
    ensure!(
        msg.contains("read-only") && msg.contains("nothing was changed"),
        "{msg}"
    );
    ensure!(db.counts().await? == before);
    let store = db.open().await?;
    ensure!(
        store
            .hosts()
            .await?
            .first()
            .is_some_and(|h| h.open_ports == 1)
    );
    Ok(())
}

/// Runs a shell script in a private mount namespace (its mounts vanish with it).
fn in_mount_namespace(script: &str) -> Result<Vec<Value>> {
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-euc", script])
        .env("FIX", FIXTURE)
        .output()?;
    let lines = parse_lines(&out.stdout)?;
    ensure!(
        out.status.success(),
        "script failed: {lines:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(lines)
}

/// Runs a shell script in a private mount namespace, a tmpfs of `size` mounted on a new
/// temporary directory first; `script` gets the directory's path.
fn in_tmpfs(size: &str, script: impl FnOnce(&str) -> String) -> Result<Vec<Value>> {
    let dir = tempfile::tempdir()?;
    let d = dir.path().display().to_string();
    in_mount_namespace(&format!(
        "mount -t tmpfs -o size={size} tmpfs {d}\n{}",
        script(&d)
    ))
}

/// A read-only mount fails even for root; a read-only file and directory fail for a normal user.
#[test]
fn read_only_filesystem_and_permissions_are_refused() -> Result<()> {
    let lines = in_tmpfs("16m", |d| {
        format!(
            "$FIX churn sqlite://{d}/h.db 3 a
             $FIX count sqlite://{d}/h.db
             mount -o remount,ro {d}
             $FIX open sqlite://{d}/h.db
             mount -o remount,rw {d}
             $FIX count sqlite://{d}/h.db
             mkdir {d}/locked && cp {d}/h.db {d}/locked/h.db
             chmod 0755 {d} && chmod 0444 {d}/locked/h.db && chmod 0555 {d}/locked
             setpriv --reuid=65534 --regid=65534 --clear-groups $FIX open sqlite://{d}/locked/h.db
             cmp {d}/h.db {d}/locked/h.db && echo '{{\"same\":true}}'
             mkdir {d}/mine && cp {d}/h.db {d}/mine/h.db && chown 65534 {d}/mine && chmod 0 {d}/mine/h.db
             setpriv --reuid=65534 --regid=65534 --clear-groups $FIX open sqlite://{d}/mine/h.db"
        )
    })?;
    ensure!(lines.len() == 7, "{lines:?}");
    ensure!(lines[6]["error"] == "CannotOpen", "{}", lines[6]);
    let msg = lines[6]["message"].as_str().unwrap_or_default();
    ensure!(
        msg.contains("mine/h.db") && msg.contains("not readable"),
        "{msg}"
    );
    ensure!(lines[1] == lines[3], "data changed: {lines:?}");
    ensure!(
        lines[1]["complete"] == 3 && lines[1]["integrity"] == "ok",
        "{lines:?}"
    );
    for refused in [&lines[2], &lines[4]] {
        ensure!(refused["error"] == "ReadOnly", "{refused}");
        let msg = refused["message"].as_str().unwrap_or_default();
        ensure!(msg.contains("h.db") && msg.contains("writable"), "{msg}");
    }
    ensure!(lines[5]["same"] == true);
    Ok(())
}

#[test]
fn full_disk_is_reported_and_loses_nothing() -> Result<()> {
    let lines = in_tmpfs("6m", |d| {
        format!(
            "head -c 1048576 /dev/zero > {d}/ballast
             $FIX fill sqlite://{d}/h.db
             rm {d}/ballast
             $FIX count sqlite://{d}/h.db"
        )
    })?;
    ensure!(lines.len() == 2, "{lines:?}");
    let (full, count) = (&lines[0], &lines[1]);
    ensure!(
        full["error"] == "DiskFull" && full["at"] == "finish",
        "{full}"
    );
    let msg = full["message"].as_str().unwrap_or_default();
    ensure!(
        msg.contains("h.db") && msg.contains("disk is full") && msg.contains("free space"),
        "{msg}"
    );
    let committed = full["committed"].as_u64().unwrap_or(0);
    ensure!(
        committed >= 1,
        "the disk filled before the first scan: {full}"
    );
    // The scan that hit the full disk was rolled back; reopening gave it up as incomplete.
    ensure!(count["complete"].as_u64() == Some(committed), "{count}");
    ensure!(count["scans"].as_u64() == Some(committed + 1), "{count}");
    ensure!(
        count["current_spans"] == 10_000 && count["integrity"] == "ok",
        "{count}"
    );
    Ok(())
}

/// The same process goes on after the disk was full: the failed commit is rolled back, the
/// writer connection it poisoned is replaced, and the scan that failed is finished once there
/// is room again.
#[test]
fn writes_resume_in_the_same_process_once_the_disk_has_room() -> Result<()> {
    let lines = in_tmpfs("12m", |d| {
        format!(
            "dd if=/dev/zero of={d}/ballast bs=1M count=6 status=none
             $FIX recover sqlite://{d}/h.db {d}/ballast
             $FIX count sqlite://{d}/h.db"
        )
    })?;
    ensure!(lines.len() == 5, "{lines:?}");
    ensure!(
        lines[0]["error"] == "DiskFull" && lines[0]["at"] == "finish",
        "{}",
        lines[0]
    );
    ensure!(
        ["DiskFull", "ok"].contains(&lines[1]["while_full"].as_str().unwrap_or_default()),
        "{}",
        lines[1]
    );
    ensure!(lines[2]["retried"] == "ok", "{}", lines[2]);
    let committed = lines[3]["committed"].as_u64().unwrap_or(0);
    ensure!(committed >= 2, "{}", lines[3]);
    let count = &lines[4];
    ensure!(
        count["complete"].as_u64() == Some(committed)
            && count["scans"].as_u64() == Some(committed)
            && count["integrity"] == "ok",
        "{count}"
    );
    Ok(())
}

/// A PostgreSQL restart between two writes: the pool drops the dead connections and the next
/// write succeeds, as does a read; the history from before the restart is intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_mid_run_the_next_write_succeeds() -> Result<()> {
    let cluster = common::OwnCluster::up()?;
    let store = Store::open(&cluster.url()).await?;
    let o = open_on("10.0.0.1", &[22, 80], &[22]);
    run_scan(&store, &o).await?;
    // Every pooled connection is busy once, so several stale ones sit in the pool.
    let (a, b, c, d) = tokio::join!(store.hosts(), store.hosts(), store.hosts(), store.hosts());
    for r in [a, b, c, d] {
        r?;
    }
    cluster.ctl("restart")?;
    let o2 = open_on("10.0.0.1", &[22, 80], &[80]);
    let (_, report) = run_scan(&store, &o2)
        .await
        .context("first write after the restart")?;
    ensure!(report.opened == 1 && report.closed == 1, "{report:?}");
    store
        .write_effects(&Effects {
            alert_states: vec![],
            outbox: vec![NewOutboxMessage {
                idempotency_key: "after-restart".into(),
                channel: "webhook".into(),
                payload: json!({}),
            }],
            ..Default::default()
        })
        .await?;
    ensure!(store.outbox_due(i64::MAX, 10).await?.len() == 1);
    ensure!(store.scans(10, None).await?.len() == 2);
    store.close().await;
    Ok(())
}

/// Starts the fixture with `args`; its output, line by line.
fn fixture_lines(args: &[&str]) -> Result<(Child, Lines<BufReader<ChildStdout>>)> {
    let mut child = Command::new(FIXTURE)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("no stdout")?;
    Ok((child, BufReader::new(stdout).lines()))
}

async fn kill_inside_finish_loses_nothing(db: TestDb) -> Result<()> {
    let (mut child, mut lines) = fixture_lines(&["hold", &db.url])?;
    let mut committed = Value::Null;
    let deadline = Instant::now() + Duration::from_mins(2);
    let inside = loop {
        ensure!(
            Instant::now() < deadline,
            "fixture never got inside the transaction"
        );
        let Some(line) = lines.next() else {
            let _ = child.kill();
            bail!("fixture ended early");
        };
        let v: Value = serde_json::from_str(&line?)?;
        if v.get("committed").is_some() {
            committed = v;
        } else if v.get("inside").is_some() {
            break v;
        }
    };
    child.kill()?; // SIGKILL
    child.wait()?; // reaped: its pid is gone, not a zombie
    let store = db.open().await?;
    let held = portwatch_store::ScanId(inside["inside"].as_i64().unwrap_or(0));
    let first = portwatch_store::ScanId(committed["committed"].as_i64().unwrap_or(0));
    let row = store.scan(held).await?.context("held scan missing")?;
    ensure!(
        row.status == portwatch_store::ScanStatus::Incomplete,
        "{row:?}"
    );
    ensure!(
        row.error.as_deref().is_some_and(|e| e.contains("ended")),
        "{row:?}"
    );
    ensure!(
        inside["closed"].as_u64() > Some(0),
        "nothing was rewritten: {inside}"
    );
    let opened = committed["opened"].as_i64().unwrap_or(-1);
    ensure!(db.scalar("SELECT COUNT(*) FROM spans").await? == opened);
    ensure!(
        db.scalar("SELECT COUNT(*) FROM spans WHERE to_scan IS NULL")
            .await?
            == opened
    );
    let open_now: u64 = store.hosts().await?.iter().map(|h| h.open_ports).sum();
    ensure!(open_now == opened as u64);
    ensure!(store.open_at(first).await?.len() as i64 == opened);
    sqlite_intact(&db, Some(store)).await?;
    Ok(())
}

async fn kill_at_a_random_moment_keeps_history_consistent(db: TestDb) -> Result<()> {
    let (mut child, mut lines) = fixture_lines(&["loop", &db.url])?;
    let mut commits = 0;
    while commits < 2 {
        let Some(line) = lines.next() else {
            bail!("fixture ended early");
        };
        if line?.contains("committed") {
            commits += 1;
        }
    }
    // Somewhere inside the next begin/finish (nanosecond clock as a cheap random number).
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .subsec_nanos();
    std::thread::sleep(Duration::from_millis(u64::from(nanos % 400)));
    child.kill()?;
    child.wait()?;
    let store = db.open().await?;
    let scans = store.scans(1000, None).await?;
    ensure!(
        scans
            .iter()
            .all(|s| s.status != portwatch_store::ScanStatus::Running)
    );
    // Every big outcome opens exactly 10,000 ports: whichever scan was applied last, that is
    // the current state, with no half-applied scan mixed in.
    let current = db
        .scalar("SELECT COUNT(*) FROM spans WHERE to_scan IS NULL")
        .await?;
    ensure!(current == 10_000, "current spans: {current}");
    let latest = scans
        .iter()
        .filter(|s| s.status == portwatch_store::ScanStatus::Complete)
        .max_by_key(|s| s.seq)
        .context("no complete scan")?;
    ensure!(store.open_at(latest.id).await?.len() == 10_000);
    sqlite_intact(&db, Some(store)).await?;
    Ok(())
}

/// On SQLite: closes `store` (when given) and checks the file with `PRAGMA integrity_check`.
async fn sqlite_intact(db: &TestDb, store: Option<Store>) -> Result<()> {
    if db.kind != Kind::Sqlite {
        return Ok(());
    }
    if let Some(store) = store {
        store.close().await;
    }
    let mut c = sqlx::SqliteConnection::connect(&db.url).await?;
    let r: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut c)
        .await?;
    c.close().await?;
    ensure!(r == "ok", "integrity check: {r}");
    Ok(())
}

async fn four_processes_write_concurrently(db: TestDb) -> Result<()> {
    // Four processes start together on a database that does not exist yet (SQLite) or is
    // empty (PostgreSQL): creation, migration and 50 scans each race one another.
    let children: Vec<_> = ["p1", "p2", "p3", "p4"]
        .iter()
        .map(|tag| {
            Command::new(FIXTURE)
                .args(["churn", &db.url, "50", tag])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
        })
        .collect::<std::io::Result<_>>()?;
    let (mut opened, mut closed) = (0, 0);
    for child in children {
        let out = child.wait_with_output()?;
        let lines = parse_lines(&out.stdout)?;
        ensure!(
            out.status.success() && lines.len() == 1,
            "{lines:?} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        opened += lines[0]["opened"].as_i64().unwrap_or(-1_000_000);
        closed += lines[0]["closed"].as_i64().unwrap_or(-1_000_000);
    }
    ensure!(
        db.scalar("SELECT COUNT(*) FROM scans WHERE status = 'complete'")
            .await?
            == 200
    );
    ensure!(db.scalar("SELECT COUNT(DISTINCT seq) FROM scans").await? == 200);
    ensure!(db.scalar("SELECT MAX(seq) FROM scans").await? == 200);
    ensure!(db.scalar("SELECT COUNT(*) FROM spans").await? == opened);
    ensure!(
        db.scalar("SELECT COUNT(*) FROM spans WHERE to_scan IS NOT NULL")
            .await?
            == closed
    );
    ensure!(db.scalar("SELECT COUNT(*) FROM outbox").await? == 200);
    // Spans of one port never overlap: each closes no earlier than it opened.
    ensure!(
        db.scalar(
            "SELECT COUNT(*) FROM spans sp JOIN scans f ON f.id = sp.from_scan \
             JOIN scans t ON t.id = sp.to_scan WHERE t.seq <= f.seq"
        )
        .await?
            == 0
    );
    sqlite_intact(&db, None).await?;
    Ok(())
}

/// A history with some of everything: several scans, changes, details, a failed and a
/// running scan, pruned gaps in the ids, alert states and outbox rows in every state.
async fn varied_history(store: &Store) -> Result<()> {
    let hosts = [
        ("10.0.0.1", true),
        ("10.0.0.2", true),
        ("2001:db8::1", true),
    ];
    let ports = [22, 80, 443];
    for round in 0..5u16 {
        let mut results = vec![
            with_details(
                port("10.0.0.1", 22, "open"),
                json!({"banner": format!("SSH-{}", round / 2), "k": [1, {"b": 2, "a": 1}]}),
            ),
            port("2001:db8::1", 443, "open"),
        ];
        if round % 2 == 0 {
            results.push(port("10.0.0.2", 80, "open"));
        }
        let up = [hosts[0], (hosts[1].0, round != 3), hosts[2]];
        let o = outcome(&up, &ports, results);
        let id = store.begin_scan(&common::new_scan(&o)).await?;
        let effects = Effects {
            alert_states: vec![AlertStateRow {
                key: format!("k{}", round % 2),
                status: "firing".into(),
                since: 1000 + i64::from(round),
                data: json!({"round": round, "nested": {"z": true, "a": null}}),
                updated_at: 2000,
                // Rounds 0 and 1 create k0 and k1; each later round updates the version the
                // round two before left.
                version: i64::from(round / 2),
            }],
            outbox: vec![NewOutboxMessage {
                idempotency_key: format!("m{round}"),
                channel: "webhook".into(),
                payload: json!({"text": "é ✓ \"quoted\"", "round": round}),
            }],
            ..Default::default()
        };
        store.finish_scan(id, &o, &effects).await?;
    }
    let failed = store
        .begin_scan(&common::new_scan(&outcome(&hosts, &ports, vec![])))
        .await?;
    store.fail_scan(failed, "probe error").await?;
    store
        .begin_scan(&common::new_scan(&outcome(&hosts, &ports, vec![])))
        .await?;
    let due = store.outbox_due(i64::MAX, 10).await?;
    store.outbox_delivered(due[0].id, 123).await?;
    store.outbox_failed(due[1].id, "timeout", 456).await?;
    Ok(())
}

async fn export_text(store: &Store) -> Result<String> {
    let mut out = Vec::new();
    store.export(&mut out).await?;
    Ok(String::from_utf8(out)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_import_round_trip_sqlite_postgres_sqlite() -> Result<()> {
    let source_db = TestDb::sqlite().await?;
    let source = source_db.open().await?;
    varied_history(&source).await?;
    tokio::time::sleep(Duration::from_millis(5)).await;
    source.prune(Duration::ZERO).await?; // leaves gaps in the ids
    let first = export_text(&source).await?;
    ensure!(first.lines().count() > 15, "{first}");

    let pg_db = TestDb::postgres().await?;
    let pg = pg_db.open().await?;
    let n = pg.import(first.as_bytes()).await?;
    ensure!(n as usize == first.lines().count());
    let second = export_text(&pg).await?;
    ensure!(
        second == first,
        "PostgreSQL export differs:\n{first}\n---\n{second}"
    );

    let back_db = TestDb::sqlite().await?;
    let back = back_db.open().await?;
    back.import(second.as_bytes()).await?;
    ensure!(export_text(&back).await? == first);

    // The imported history answers like the original and keeps growing without id clashes.
    for addr in ["10.0.0.1", "2001:db8::1"] {
        let a = addr.parse()?;
        ensure!(pg.history(a, None).await? == source.history(a, None).await?);
    }
    let latest = source.scans(1, Some("10.0.0.1".parse()?)).await?;
    let latest = latest.first().context("no scan")?.id;
    ensure!(pg.open_at(latest).await? == source.open_at(latest).await?);
    let o = open_on("10.0.0.1", &[22], &[]);
    for store in [&source, &pg, &back] {
        let (id, r) = run_scan(store, &o).await?;
        ensure!(r.closed == 1, "{r:?}");
        ensure!(id.0 > latest.0);
    }

    // Import only into an empty database, and all or nothing.
    let e = pg.import(first.as_bytes()).await;
    ensure!(matches!(e, Err(StoreError::ImportNotEmpty { .. })), "{e:?}");
    let empty_db = TestDb::postgres().await?;
    let empty = empty_db.open().await?;
    let mut broken: Vec<&str> = first.lines().collect();
    let bad_at = broken.len() - 2;
    broken[bad_at] = r#"{"kind":"span","id":1}"#;
    let e = empty.import(broken.join("\n").as_bytes()).await;
    ensure!(
        matches!(e, Err(StoreError::ImportLine { line, .. }) if line as usize == bad_at + 1),
        "{e:?}"
    );
    ensure!(empty_db.counts().await?.values().all(|n| *n == 0));
    Ok(())
}
