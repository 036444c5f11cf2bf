//! Test databases for portwatch's tests: the same test body runs on a temporary SQLite file and
//! on a fresh PostgreSQL database `pwtest_<time>_<random>`, dropped afterwards (also when the
//! test fails or panics). See the crate's README.
//!
//! Besides: a PostgreSQL cluster of a test's own ([`OwnCluster`]), `psql` ([`psql`]), and the
//! other helpers several test files need (see the modules: [`pki`]).

use anyhow::{Result, bail};
use sqlx::Connection;
use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod cluster;
pub mod pki;
pub use cluster::{OwnCluster, psql};

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
    db_url_on(&pg_admin_url(), name)
}

/// The URL of database `name` on the server whose admin URL is `admin`.
fn db_url_on(admin: &str, name: &str) -> String {
    let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
    format!("{base}/{name}")
}

/// Runs `task` to completion on a runtime of its own, on a thread of its own (so it works
/// inside, outside and after any runtime of the caller).
fn on_own_runtime<T: Send + 'static>(
    task: impl std::future::Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(task)
    })
    .join()
    .unwrap_or_else(|_| bail!("the test database task panicked"))
}

/// Runs each named `async fn(db) -> anyhow::Result<()>` twice, as the tests `NAME::sqlite` and
/// `NAME::postgres`. The function takes a [`TestDb`], or any type made `From` one (a crate's
/// wrapper that also opens its store).
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() -> anyhow::Result<()> {
                    super::$name($crate::TestDb::sqlite().await?.into()).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() -> anyhow::Result<()> {
                    super::$name($crate::TestDb::postgres().await?.into()).await
                }
            }
        )*
    };
}

/// Evaluates `$body` with `$c` a new connection of its own to the test database `$db` (SQLite or
/// PostgreSQL, as its kind says), closed afterwards; `?` in `$body` returns from the caller.
macro_rules! on_connection {
    ($db:expr, |$c:ident| $body:expr) => {
        match $db.kind {
            Kind::Sqlite => {
                let mut $c = $db.sqlite_connection().await?;
                let v = $body;
                $c.close().await?;
                v
            }
            Kind::Postgres => {
                let mut $c = sqlx::PgConnection::connect(&$db.url).await?;
                let v = $body;
                $c.close().await?;
                v
            }
        }
    };
}

/// Polls `check` (every 50 ms) until it gives a value, for at most `within`; after that, an
/// error naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("{what}: not within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every table the tests count rows of ([`TestDb::counts`]): the whole schema but the
/// leader lease and the "scan now" requests, which a running daemon writes on its own clock.
pub const TABLES: [&str; 10] = [
    "scans",
    "hosts",
    "target_sets",
    "target_set_hosts",
    "spans",
    "outbox",
    "alert_states",
    "api_tokens",
    "jobs",
    "agents",
];

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
    /// A PostgreSQL database's name and the admin URL of its server (to drop it).
    pg: Option<(String, String)>,
}

impl TestDb {
    /// A new SQLite file in a temporary directory, `sub/history.db` (neither exists yet: the
    /// store creates them when it opens the URL).
    #[allow(clippy::unused_async)] // async as `postgres()` is, so a test picks either alike
    pub async fn sqlite() -> Result<TestDb> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}/sub/history.db", dir.path().display());
        Ok(TestDb {
            kind: Kind::Sqlite,
            url,
            dir,
            pg: None,
        })
    }

    /// A new, empty PostgreSQL database on the test server ([`pg_admin_url`]). Databases that
    /// killed test runs left behind (older than an hour) are dropped first.
    pub async fn postgres() -> Result<TestDb> {
        TestDb::postgres_on(&pg_admin_url()).await
    }

    /// A new, empty PostgreSQL database on the server whose admin URL is `admin` (the test
    /// server, or an [`OwnCluster`]).
    pub async fn postgres_on(admin: &str) -> Result<TestDb> {
        ensure_server(admin).await?;
        sweep_stale(admin).await;
        let secs = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let name = format!("pwtest_{secs}_{random:016x}");
        let mut conn = sqlx::PgConnection::connect(admin).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        Ok(TestDb {
            kind: Kind::Postgres,
            url: db_url_on(admin, &name),
            dir: tempfile::tempdir()?,
            pg: Some((name, admin.to_string())),
        })
    }

    /// [`TestDb::postgres`] for a test without a runtime of its own.
    pub fn postgres_blocking() -> Result<TestDb> {
        TestDb::postgres_blocking_on(&pg_admin_url())
    }

    /// [`TestDb::postgres_on`] for a test without a runtime of its own.
    pub fn postgres_blocking_on(admin: &str) -> Result<TestDb> {
        let admin = admin.to_string();
        on_own_runtime(async move { TestDb::postgres_on(&admin).await })
    }

    /// The PostgreSQL database's name (`None` on SQLite).
    pub fn pg_name(&self) -> Option<&str> {
        self.pg.as_ref().map(|(name, _)| name.as_str())
    }

    /// The row count of every table in [`TABLES`].
    pub async fn counts(&self) -> Result<BTreeMap<&'static str, i64>> {
        self.counts_of(&TABLES).await
    }

    /// Runs one statement outside the store.
    pub async fn exec(&self, sql: &str) -> Result<()> {
        let q = sqlx::AssertSqlSafe(sql.to_string());
        on_connection!(self, |c| {
            sqlx::query(q).execute(&mut c).await?;
        });
        Ok(())
    }

    /// One integer from a query run outside the store.
    pub async fn scalar(&self, sql: &str) -> Result<i64> {
        let q = sqlx::AssertSqlSafe(sql.to_string());
        Ok(on_connection!(self, |c| sqlx::query_scalar(q)
            .fetch_one(&mut c)
            .await?))
    }

    /// The first column of every row of a query run outside the store, as text.
    pub async fn texts(&self, sql: &str) -> Result<Vec<String>> {
        let q = sqlx::AssertSqlSafe(sql.to_string());
        Ok(on_connection!(self, |c| sqlx::query_scalar(q)
            .fetch_all(&mut c)
            .await?))
    }

    /// The row count of each of `tables`.
    pub async fn counts_of(&self, tables: &[&'static str]) -> Result<BTreeMap<&'static str, i64>> {
        let mut out = BTreeMap::new();
        for t in tables {
            out.insert(*t, self.scalar(&format!("SELECT COUNT(*) FROM {t}")).await?);
        }
        Ok(out)
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

    async fn sqlite_connection(&self) -> Result<sqlx::SqliteConnection> {
        let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&self.url)?;
        Ok(sqlx::SqliteConnection::connect_with(&opts).await?)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((name, admin)) = self.pg.take() {
            // Drop may run inside (or after) the test's runtime.
            let _ = on_own_runtime(async move { drop_database(&admin, &name).await });
        }
    }
}

async fn drop_database(admin: &str, name: &str) -> Result<()> {
    let mut conn = sqlx::PgConnection::connect(admin).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await?;
    conn.close().await?;
    Ok(())
}

/// Waits briefly for the test server; it is never started from here (that would change the
/// machine's own cluster): `scripts/test.sh` starts the one the tests own.
async fn ensure_server(admin: &str) -> Result<()> {
    for _ in 0..50 {
        if sqlx::PgConnection::connect(admin).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!(
        "PostgreSQL does not answer at {admin} (run scripts/test.sh, or set PORTWATCH_TEST_PG_URL)"
    )
}

/// Drops test databases left by killed test runs (older than an hour).
async fn sweep_stale(admin_url: &str) {
    let Ok(mut admin) = sqlx::PgConnection::connect(admin_url).await else {
        return;
    };
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE 'pwtest\\_%'")
            .fetch_all(&mut admin)
            .await
            .unwrap_or_default();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for name in names {
        let created: u64 = name
            .split('_')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(now);
        if now.saturating_sub(created) > 3600 {
            let _ = drop_database(admin_url, &name).await;
        }
    }
    let _ = admin.close().await;
}
