//! Test harness: the same test body runs on a temporary SQLite file and on a fresh PostgreSQL
//! database `pwtest_<time>_<random>` (dropped afterwards, even when the test fails).

#![allow(dead_code)]

use anyhow::{Result, bail};
use portwatch_scan::PortResult;
use portwatch_scan::ports::PortList;
use portwatch_store::{ApplyReport, Effects, HostOutcome, NewScan, ScanId, ScanOutcome, Store};
use sqlx::Connection;
use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The admin URL of the PostgreSQL server the tests use: `PORTWATCH_TEST_PG_URL` (set by
/// `scripts/test.sh` to the cluster it owns), else the machine's server on 127.0.0.1:5432.
pub fn pg_admin_url() -> String {
    std::env::var("PORTWATCH_TEST_PG_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// The URL of database `name` on the test server.
pub fn pg_db_url(name: &str) -> String {
    let admin = pg_admin_url();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    format!("{base}/{name}")
}

/// Every table of the schema, for row counts.
pub const TABLES: [&str; 7] = [
    "scans",
    "hosts",
    "target_sets",
    "target_set_hosts",
    "spans",
    "outbox",
    "alert_states",
];

/// Runs each named `async fn(TestDb) -> anyhow::Result<()>` on both backends.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() -> anyhow::Result<()> {
                    super::$name($crate::common::TestDb::sqlite().await?).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() -> anyhow::Result<()> {
                    super::$name($crate::common::TestDb::postgres().await?).await
                }
            }
        )*
    };
}

/// Which engine a test database is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Temporary SQLite file.
    Sqlite,
    /// Temporary PostgreSQL database.
    Postgres,
}

/// A temporary database; a PostgreSQL one is dropped when this is dropped.
pub struct TestDb {
    /// The engine.
    pub kind: Kind,
    /// Its URL.
    pub url: String,
    /// A scratch directory (holds the SQLite file).
    pub dir: tempfile::TempDir,
    pg_name: Option<String>,
}

impl TestDb {
    /// A new SQLite file in a temporary directory (not yet created: `Store::open` creates it).
    pub async fn sqlite() -> Result<TestDb> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}/sub/history.db", dir.path().display());
        Ok(TestDb {
            kind: Kind::Sqlite,
            url,
            dir,
            pg_name: None,
        })
    }

    /// A new, empty PostgreSQL database (on the test server).
    pub async fn postgres() -> Result<TestDb> {
        ensure_server().await?;
        sweep_stale().await;
        let secs = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let name = format!("pwtest_{secs}_{random:016x}");
        let mut admin = sqlx::PgConnection::connect(&pg_admin_url()).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        Ok(TestDb {
            kind: Kind::Postgres,
            url: pg_db_url(&name),
            dir: tempfile::tempdir()?,
            pg_name: Some(name),
        })
    }

    /// Opens the store.
    pub async fn open(&self) -> Result<Store> {
        Ok(Store::open(&self.url).await?)
    }

    /// Runs one statement outside the store.
    pub async fn exec(&self, sql: &str) -> Result<()> {
        match self.kind {
            Kind::Sqlite => {
                let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&self.url)?;
                let mut c = sqlx::SqliteConnection::connect_with(&opts).await?;
                sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                    .execute(&mut c)
                    .await?;
                c.close().await?;
            }
            Kind::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url).await?;
                sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                    .execute(&mut c)
                    .await?;
                c.close().await?;
            }
        }
        Ok(())
    }

    /// One integer from a query outside the store.
    pub async fn scalar(&self, sql: &str) -> Result<i64> {
        let v: i64 = match self.kind {
            Kind::Sqlite => {
                let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&self.url)?;
                let mut c = sqlx::SqliteConnection::connect_with(&opts).await?;
                let v = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
                    .fetch_one(&mut c)
                    .await?;
                c.close().await?;
                v
            }
            Kind::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url).await?;
                let v = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
                    .fetch_one(&mut c)
                    .await?;
                c.close().await?;
                v
            }
        };
        Ok(v)
    }

    /// From now on, counts every row inserted, updated or deleted in any table of the schema,
    /// by table (row triggers that add a row to `pw_writes`); read with [`TestDb::take_writes`].
    pub async fn count_writes(&self) -> Result<()> {
        let tables = self
            .texts(match self.kind {
                Kind::Sqlite => {
                    "SELECT name FROM sqlite_master WHERE type = 'table' \
                     AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'"
                }
                Kind::Postgres => {
                    "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() \
                     AND tablename <> '_sqlx_migrations'"
                }
            })
            .await?;
        self.exec("CREATE TABLE pw_writes (tbl TEXT NOT NULL)")
            .await?;
        if self.kind == Kind::Postgres {
            self.exec(
                "CREATE FUNCTION pw_count_write() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN INSERT INTO pw_writes VALUES (TG_TABLE_NAME); RETURN NULL; END $$",
            )
            .await?;
        }
        for t in tables {
            match self.kind {
                Kind::Sqlite => {
                    for (what, on) in [("i", "INSERT"), ("u", "UPDATE"), ("d", "DELETE")] {
                        self.exec(&format!(
                            "CREATE TRIGGER pw_{what}_{t} AFTER {on} ON {t} FOR EACH ROW \
                             BEGIN INSERT INTO pw_writes VALUES ('{t}'); END"
                        ))
                        .await?;
                    }
                }
                Kind::Postgres => {
                    self.exec(&format!(
                        "CREATE TRIGGER pw_count_{t} AFTER INSERT OR UPDATE OR DELETE ON {t} \
                         FOR EACH ROW EXECUTE FUNCTION pw_count_write()"
                    ))
                    .await?;
                }
            }
        }
        Ok(())
    }

    /// The rows written per table since [`TestDb::count_writes`] or the last call, then
    /// forgets them.
    pub async fn take_writes(&self) -> Result<BTreeMap<String, i64>> {
        let mut out = BTreeMap::new();
        for t in self.texts("SELECT tbl FROM pw_writes").await? {
            *out.entry(t).or_insert(0) += 1;
        }
        self.exec("DELETE FROM pw_writes").await?;
        Ok(out)
    }

    /// The first column of every row of a query outside the store, as text.
    pub async fn texts(&self, sql: &str) -> Result<Vec<String>> {
        Ok(match self.kind {
            Kind::Sqlite => {
                let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&self.url)?;
                let mut c = sqlx::SqliteConnection::connect_with(&opts).await?;
                let v = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
                    .fetch_all(&mut c)
                    .await?;
                c.close().await?;
                v
            }
            Kind::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url).await?;
                let v = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
                    .fetch_all(&mut c)
                    .await?;
                c.close().await?;
                v
            }
        })
    }

    /// Row count of every table.
    pub async fn counts(&self) -> Result<BTreeMap<&'static str, i64>> {
        let mut out = BTreeMap::new();
        for t in TABLES {
            out.insert(t, self.scalar(&format!("SELECT COUNT(*) FROM {t}")).await?);
        }
        Ok(out)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            // A thread with its own runtime: drop may run inside (or after) the test's runtime.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    let _ = rt.block_on(drop_database(&name));
                }
            })
            .join();
        }
    }
}

async fn drop_database(name: &str) -> Result<()> {
    let mut admin = sqlx::PgConnection::connect(&pg_admin_url()).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    admin.close().await?;
    Ok(())
}

/// Waits briefly for the test server; it is never started from here (that would change the
/// machine's own cluster): `scripts/test.sh` starts the one the tests own.
async fn ensure_server() -> Result<()> {
    for _ in 0..50 {
        if sqlx::PgConnection::connect(&pg_admin_url()).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!(
        "PostgreSQL does not answer at {} (run scripts/test.sh, or set PORTWATCH_TEST_PG_URL)",
        pg_admin_url()
    )
}

/// Drops test databases left by killed test runs (older than an hour).
async fn sweep_stale() {
    let Ok(mut admin) = sqlx::PgConnection::connect(&pg_admin_url()).await else {
        return;
    };
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE 'pwtest\\_%'")
            .fetch_all(&mut admin)
            .await
            .unwrap_or_default();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for name in names {
        let created: u64 = name
            .split('_')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(now);
        if now.saturating_sub(created) > 3600 {
            let _ = drop_database(&name).await;
        }
    }
    let _ = admin.close().await;
}

/// A port result, built from JSON so fields the scan crate adds later need no change here.
pub fn port(host: &str, port: u16, state: &str) -> PortResult {
    let v = serde_json::json!({
        "host": host, "hostname": null, "port": port, "proto": "tcp", "state": state,
        "reason": if state == "open" { "syn-ack" } else { "conn-refused" },
        "service": null, "rtt_ms": 0.1
    });
    match serde_json::from_value(v) {
        Ok(r) => r,
        Err(e) => panic!("test port result does not decode: {e}"),
    }
}

/// The same result with a service name.
pub fn with_service(mut r: PortResult, service: &str) -> PortResult {
    r.service = Some(service.to_string());
    r
}

/// The same result with details.
pub fn with_details(mut r: PortResult, details: serde_json::Value) -> PortResult {
    if let serde_json::Value::Object(m) = details {
        r.details = m;
    }
    r
}

/// An outcome over TCP `ports` for `hosts` (address, up).
pub fn outcome(hosts: &[(&str, bool)], ports: &[u16], results: Vec<PortResult>) -> ScanOutcome {
    ScanOutcome {
        identified: true,
        hosts: hosts
            .iter()
            .map(|(a, up)| HostOutcome {
                addr: a.parse().unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
                hostname: None,
                up: *up,
            })
            .collect(),
        coverage: PortList {
            tcp: ports.to_vec(),
            udp: vec![],
        },
        results,
    }
}

/// A scan record for `outcome`.
pub fn new_scan(o: &ScanOutcome) -> NewScan {
    NewScan {
        source: "test".into(),
        vantage: portwatch_store::LOCAL_VANTAGE.into(),
        args: vec!["portwatch".into(), "scan".into()],
        targets: o.hosts.iter().map(|h| h.addr.to_string()).collect(),
        ports: o.coverage.clone(),
    }
}

/// Begins and finishes a scan with no effects.
pub async fn run_scan(store: &Store, o: &ScanOutcome) -> Result<(ScanId, ApplyReport)> {
    let id = store.begin_scan(&new_scan(o)).await?;
    let report = store.finish_scan(id, o, &Effects::default()).await?;
    Ok((id, report))
}

/// Begins and finishes a scan from `vantage` with no effects.
pub async fn run_scan_from(
    store: &Store,
    vantage: &str,
    o: &ScanOutcome,
) -> Result<(ScanId, ApplyReport)> {
    let mut scan = new_scan(o);
    scan.vantage = vantage.to_string();
    let id = store.begin_scan(&scan).await?;
    let report = store.finish_scan(id, o, &Effects::default()).await?;
    Ok((id, report))
}

/// Current open ports of a host as "port/proto" strings, from `open_at`.
pub fn ports_of(spans: &[portwatch_store::SpanRow], host: &str) -> Vec<u16> {
    spans
        .iter()
        .filter(|s| s.host.to_string() == host)
        .map(|s| s.port)
        .collect()
}

/// A PostgreSQL cluster of the test's own, made and controlled through the script named by
/// `PORTWATCH_TEST_PG_CTL` (default: the repository's `scripts/test-pg.sh`) on a free port and a
/// private data directory, so restarting it disturbs no other test. Removed on drop.
pub struct OwnCluster {
    ctl: std::path::PathBuf,
    port: u16,
    dir: std::path::PathBuf,
}

impl OwnCluster {
    /// Creates and starts the cluster.
    pub fn up() -> Result<OwnCluster> {
        let ctl = std::env::var_os("PORTWATCH_TEST_PG_CTL")
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/test-pg.sh")
            });
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir = std::path::PathBuf::from(format!("/var/tmp/pw-store-test-pg-{port}"));
        let cluster = OwnCluster { ctl, port, dir };
        cluster.ctl("up")?;
        Ok(cluster)
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs `start`, `stop`, `restart`, `up` or `down` on it.
    pub fn ctl(&self, what: &str) -> Result<()> {
        let out = std::process::Command::new(&self.ctl)
            .arg(what)
            .env("PORTWATCH_TEST_PG_PORT", self.port.to_string())
            .env("PORTWATCH_TEST_PG_DIR", &self.dir)
            .output()?;
        if !out.status.success() {
            bail!(
                "{} {what} failed: {}",
                self.ctl.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = self.ctl("down");
    }
}
