//! Opening a database: URLs, the default location, connection settings, schema migrations.

use crate::db::{Dialect, Sql, Tx};
use crate::error::{Result, StoreError};
use crate::store::{Backend, Inner, SQLITE_BUSY_TIMEOUT, Store};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// How many connections read a SQLite database at once.
const SQLITE_READERS: u32 = 4;
/// How many connections a store keeps to PostgreSQL.
const PG_CONNECTIONS: u32 = 8;

impl Store {
    /// Opens (creating if needed) the database at `url` and brings its schema up to date:
    /// `sqlite://PATH` (`sqlite:///abs/path`; `?mode=ro` opens read-only and is refused with
    /// [`StoreError::ReadOnly`]) or `postgres://USER[:PASS]@HOST[:PORT]/DB`.
    /// Scans left `running` by dead processes become `incomplete`, and their outbox claims end.
    pub async fn open(url: &str) -> Result<Store> {
        let store = match Dialect::of_url(url)? {
            Dialect::Sqlite => open_sqlite(url).await?,
            Dialect::Postgres => open_postgres(url).await?,
        };
        store.recover_stale_scans().await?;
        store.release_dead_claims().await?;
        Ok(store)
    }

    /// The default database: SQLite at `$XDG_DATA_HOME/portwatch/portwatch.db`, else
    /// `~/.local/share/portwatch/portwatch.db`.
    pub fn default_url() -> Result<String> {
        let nonempty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let base = match nonempty("XDG_DATA_HOME").map(PathBuf::from) {
            Some(p) if p.is_absolute() => p,
            _ => nonempty("HOME")
                .map(|h| PathBuf::from(h).join(".local").join("share"))
                .ok_or(StoreError::NoDefaultLocation)?,
        };
        let path = base.join("portwatch").join("portwatch.db");
        Ok(format!("sqlite://{}", path.display()))
    }

    /// The newest schema version this build knows.
    pub fn known_schema_version() -> i64 {
        SQLITE_MIGRATIONS
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or(0)
    }
}

impl Dialect {
    /// The engine a database URL names, checked without connecting (so a configuration can be
    /// checked before it is used): `sqlite:` or `postgres://`/`postgresql://`; any other
    /// scheme (mysql://, a bare path…) is refused with the ones supported.
    pub fn of_url(url: &str) -> Result<Dialect> {
        if url.starts_with("sqlite:") {
            return Ok(Dialect::Sqlite);
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Dialect::Postgres);
        }
        let reason = match url.split_once("://") {
            Some((scheme, _)) if !scheme.is_empty() => {
                format!("'{scheme}' is not a supported database (only SQLite and PostgreSQL are)")
            }
            _ => "it has no scheme".into(),
        };
        Err(StoreError::BadUrl {
            url: crate::redact::credentials(url),
            reason,
        })
    }
}

fn sqlite_query_params(url: &str) -> Vec<(String, String)> {
    url.split_once('?')
        .map(|(_, q)| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

async fn open_sqlite(url: &str) -> Result<Store> {
    let bad = |reason: String| StoreError::BadUrl {
        url: url.to_string(),
        reason,
    };
    let options = SqliteConnectOptions::from_str(url).map_err(|e| bad(e.to_string()))?;
    let path = options.get_filename().to_path_buf();
    let params = sqlite_query_params(url);
    if path.as_os_str().is_empty()
        || url.contains(":memory:")
        || params.iter().any(|(k, v)| k == "mode" && v == "memory")
    {
        return Err(bad(
            "an in-memory or empty path keeps no history; give a file path".into(),
        ));
    }
    let read_only = params.iter().any(|(k, v)| k == "mode" && v == "ro");
    let name = path.display().to_string();
    if !read_only {
        create_parent(&name, &path)?;
        check_access(&name, &path)?;
    }
    let options = options
        .create_if_missing(!read_only)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .foreign_keys(true)
        .synchronous(SqliteSynchronous::Normal)
        .collation(
            crate::host_pages::ADDR_COLLATION,
            crate::host_pages::compare_addrs,
        );
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .after_release(|conn, _| Box::pin(crate::store::fit_for_reuse(conn)))
        .acquire_timeout(Duration::from_mins(2))
        .connect_with(options.clone())
        .await
        .map_err(|e| StoreError::from_sqlx(Dialect::Sqlite, &name, "open the database", e))?;
    let reader = SqlitePoolOptions::new()
        .max_connections(SQLITE_READERS)
        .after_release(|conn, _| Box::pin(crate::store::fit_for_reuse(conn)))
        .acquire_timeout(Duration::from_mins(1))
        .connect_lazy_with(options);
    let machine = machine_name();
    let store = Store {
        inner: Arc::new(Inner {
            backend: Backend::Sqlite { writer, reader },
            name,
            claimant: crate::store::new_claimant(&machine),
            jobs_queued: tokio::sync::Notify::new(),
            machine,
        }),
    };
    store.ensure_wal().await?;
    store.migrate().await?;
    Ok(store)
}

fn create_parent(name: &str, path: &Path) -> Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => std::fs::create_dir_all(dir)
            .map_err(|source| StoreError::CreateDir {
                db: name.to_string(),
                path: dir.to_path_buf(),
                source,
            }),
        _ => Ok(()),
    }
}

/// Says clearly, before SQLite does it obscurely, that the file cannot be read, or that it or
/// its directory (where the WAL and shared-memory files live) cannot be written: a read-only
/// mount, or permissions.
fn check_access(name: &str, path: &Path) -> Result<()> {
    use nix::unistd::{AccessFlags, access};
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if path.exists()
        && let Err(errno) = access(path, AccessFlags::R_OK)
    {
        return Err(StoreError::CannotOpen {
            db: name.to_string(),
            reason: format!("the file is not readable: {}", errno.desc()),
        });
    }
    let mut checks = vec![(dir, "its directory")];
    if path.exists() {
        checks.push((path.to_path_buf(), "the file"));
    }
    for (p, what) in checks {
        if let Err(errno) = access(&p, AccessFlags::W_OK) {
            return Err(StoreError::ReadOnly {
                db: name.to_string(),
                reason: format!("{what} {} is not writable: {}", p.display(), errno.desc()),
            });
        }
    }
    Ok(())
}

async fn open_postgres(url: &str) -> Result<Store> {
    let name = crate::redact::credentials(url);
    let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::BadUrl {
        url: name.clone(),
        reason: e.to_string(),
    })?;
    let options = options.application_name("portwatch");
    // One direct connection first: the pool would retry a refused connection until its
    // timeout and then only say that it timed out.
    let probe = options
        .connect()
        .await
        .map_err(|e| StoreError::from_sqlx(Dialect::Postgres, &name, "connect", e))?;
    probe
        .close()
        .await
        .map_err(|e| StoreError::from_sqlx(Dialect::Postgres, &name, "connect", e))?;
    let pool = PgPoolOptions::new()
        .max_connections(PG_CONNECTIONS)
        .after_release(|conn, _| Box::pin(crate::store::fit_for_reuse(conn)))
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await
        .map_err(|e| StoreError::from_sqlx(Dialect::Postgres, &name, "connect", e))?;
    let machine = machine_name();
    let store = Store {
        inner: Arc::new(Inner {
            backend: Backend::Postgres(pool),
            name,
            claimant: crate::store::new_claimant(&machine),
            jobs_queued: tokio::sync::Notify::new(),
            machine,
        }),
    };
    store.refuse_read_only_postgres().await?;
    store.migrate().await?;
    Ok(store)
}

/// The name of this machine, as recorded with each scan.
fn machine_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".to_string())
}

impl Store {
    /// Switches a SQLite file to WAL (readers never block the writer). The switch needs a
    /// lock that `busy_timeout` does not wait for, so it is retried here for a while.
    async fn ensure_wal(&self) -> Result<()> {
        let Backend::Sqlite { writer, .. } = &self.inner.backend else {
            return Ok(());
        };
        let op = "switch the database to WAL mode";
        let mut waited = Duration::ZERO;
        loop {
            let mode: std::result::Result<String, sqlx::Error> =
                sqlx::query_scalar("PRAGMA journal_mode = WAL")
                    .fetch_one(writer)
                    .await;
            let e = match mode {
                Ok(m) if m.eq_ignore_ascii_case("wal") => return Ok(()),
                // A read-only database cannot switch; the write check below says so clearly.
                Ok(_) => return Ok(()),
                Err(e) => self.err(op)(e),
            };
            if !e.is_busy() || waited >= SQLITE_BUSY_TIMEOUT {
                return Err(e);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
            waited += Duration::from_millis(25);
        }
    }

    async fn refuse_read_only_postgres(&self) -> Result<()> {
        let Backend::Postgres(pool) = &self.inner.backend else {
            return Ok(());
        };
        let ro: String = sqlx::query_scalar("SHOW transaction_read_only")
            .fetch_one(pool)
            .await
            .map_err(self.err("check that the database is writable"))?;
        if ro == "on" {
            return Err(StoreError::ReadOnly {
                db: self.inner.name.clone(),
                reason: "transactions are read-only (a standby, or default_transaction_read_only)"
                    .into(),
            });
        }
        Ok(())
    }

    /// Refuses a database from a newer portwatch, then applies this build's missing migrations,
    /// all under the write lock so concurrent first opens do not race.
    async fn migrate(&self) -> Result<()> {
        let op = "bring the schema up to date";
        let migrator = match self.dialect() {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
        };
        let known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
        let mut tx = self.write_tx(op, crate::store::WriteKind::History).await?;
        let exists_sql = match self.dialect() {
            Dialect::Sqlite => {
                "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
            }
            Dialect::Postgres => {
                "SELECT COUNT(*) AS n FROM pg_tables WHERE schemaname = current_schema() AND tablename = '_sqlx_migrations'"
            }
        };
        let exists = self
            .first_int(&mut tx, &Sql::new(exists_sql), "n", op)
            .await?
            .unwrap_or(0)
            > 0;
        if exists {
            let rows = tx
                .fetch_all(&Sql::new("SELECT version FROM _sqlx_migrations"))
                .await
                .map_err(self.err(op))?;
            let mut found = 0;
            let mut unknown = false;
            for row in rows {
                let v = row.int("version").map_err(self.err(op))?;
                found = found.max(v);
                unknown |= !migrator.version_exists(v);
            }
            if unknown {
                return Err(StoreError::NewerSchema {
                    db: self.inner.name.clone(),
                    found,
                    known,
                });
            }
        }
        let result = match &mut tx {
            Tx::Sqlite(t) => migrator.run(&mut **t).await,
            Tx::Pg(t) => migrator.run(&mut **t).await,
        };
        result.map_err(|e| self.migrate_error(known, e))?;
        // A write that changes nothing: SQLite lets a read-only connection begin, and an
        // up-to-date schema needs no write, so this is where a read-only database shows.
        tx.execute(&Sql::new("DELETE FROM alert_states WHERE 1 = 0"))
            .await
            .map_err(self.err("check that the database is writable"))?;
        tx.commit().await.map_err(self.err(op))
    }

    fn migrate_error(&self, known: i64, e: sqlx::migrate::MigrateError) -> StoreError {
        use sqlx::migrate::MigrateError as M;
        match e {
            M::Execute(inner) | M::ExecuteMigration(inner, _) => {
                StoreError::from_sqlx(self.dialect(), &self.inner.name, "apply a migration", inner)
            }
            M::VersionMissing(found) => StoreError::NewerSchema {
                db: self.inner.name.clone(),
                found,
                known,
            },
            source => StoreError::Migrate {
                db: self.inner.name.clone(),
                known,
                source,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sqlite_and_postgres_urls_are_accepted() {
        assert_eq!(
            Dialect::of_url("sqlite:///tmp/x.db").unwrap(),
            Dialect::Sqlite
        );
        assert_eq!(
            Dialect::of_url("postgresql://h/db").unwrap(),
            Dialect::Postgres
        );
        let e = Dialect::of_url("mysql://u:pw@h/db")
            .unwrap_err()
            .to_string();
        assert!(e.contains("'mysql' is not a supported database"), "{e}");
        assert!(e.contains("sqlite://PATH or postgres://"), "{e}");
        assert!(!e.contains("pw"), "{e}");
        let e = Dialect::of_url("/var/lib/pw.db").unwrap_err().to_string();
        assert!(e.contains("no scheme"), "{e}");
    }

    /// A SQLite file at `old.db` in a new directory, migrated up to schema `version` only, as
    /// an older release left it, and a one-connection pool on it.
    async fn sqlite_at_schema(
        version: i64,
    ) -> (tempfile::TempDir, std::path::PathBuf, sqlx::SqlitePool) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let opts = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await
            .unwrap();
        SQLITE_MIGRATIONS.run_to(version, &pool).await.unwrap();
        (dir, path, pool)
    }

    /// A SQLite history written by the release before vantages (schema 3) is rebuilt in place
    /// on open: hosts keep their ids, the spans and target sets that refer to them stay
    /// valid, every host and scan is `local`, and the next scan updates the same host row.
    #[tokio::test]
    async fn a_history_from_before_vantages_upgrades_in_place() {
        use portwatch_model::ports::PortList;
        let (_dir, path, pool) = sqlite_at_schema(3).await;
        for stmt in [
            "INSERT INTO scans (id, seq, started_at, finished_at, status, source, args, targets, ports) \
             VALUES (1, 1, 1000, 2000, 'complete', 'scan', '[]', '[\"10.0.0.1\"]', 'T:22,445')",
            "INSERT INTO hosts (id, addr, first_seen_at, last_seen_at, last_scan_id) \
             VALUES (7, '10.0.0.1', 2000, 2000, 1)",
            "INSERT INTO target_sets (id, digest, host_count) VALUES (3, 'x', 1)",
            "INSERT INTO target_set_hosts (set_id, host_id) VALUES (3, 7)",
            "UPDATE scans SET target_set_id = 3 WHERE id = 1",
            "INSERT INTO spans (host_id, port, proto, state, reason, details, details_hash, from_scan) \
             VALUES (7, 445, 'tcp', 'open', 'syn-ack', '{}', 'h', 1)",
        ] {
            sqlx::query(stmt).execute(&pool).await.unwrap();
        }
        pool.close().await;

        let store = Store::open(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let hosts = store.hosts().await.unwrap();
        assert_eq!(hosts.len(), 1);
        assert_eq!(
            (hosts[0].vantage.as_str(), hosts[0].open_ports),
            ("local", 1)
        );
        let scan = store.scan(crate::ScanId(1)).await.unwrap().unwrap();
        assert_eq!(scan.vantage, "local");
        let mut tx = store.read_tx("check").await.unwrap();
        let broken = tx
            .fetch_all(&Sql::new("PRAGMA foreign_key_check"))
            .await
            .unwrap();
        assert!(broken.is_empty(), "every reference to a host still holds");
        drop(tx);
        // The next scan of the host from this server updates row 7: 445 is still open, and
        // 22 (probed before the upgrade, where nothing was recorded) opening counts as opened.
        let id = store
            .begin_scan(&crate::NewScan {
                source: "scan".into(),
                vantage: "local".into(),
                args: vec![],
                targets: vec!["10.0.0.1".into()],
                ports: PortList {
                    tcp: vec![22, 445],
                    udp: vec![],
                },
            })
            .await
            .unwrap();
        let result = |port: u16| -> portwatch_model::PortResult {
            serde_json::from_value(serde_json::json!({
                "host": "10.0.0.1", "hostname": null, "port": port, "proto": "tcp",
                "state": "open", "reason": "syn-ack", "service": null, "rtt_ms": null
            }))
            .unwrap()
        };
        let outcome = crate::ScanOutcome {
            hosts: vec![crate::HostOutcome {
                addr: "10.0.0.1".parse().unwrap(),
                hostname: None,
                up: true,
            }],
            coverage: PortList {
                tcp: vec![22, 445],
                udp: vec![],
            },
            results: vec![result(22), result(445)],
            identified: false,
        };
        let report = store
            .finish_scan(id, &outcome, &crate::Effects::default())
            .await
            .unwrap();
        assert_eq!(report.changed.len(), 1);
        assert!(report.changed[0].port == 22 && report.changed[0].opened());
        let hosts = store.hosts().await.unwrap();
        assert_eq!(hosts.len(), 1, "the same row, not a second one");
        assert_eq!(hosts[0].open_ports, 2);
    }

    /// A history from before "last seen" came from scan rows (schema 7): a host that its newest
    /// covering scan found down keeps the time it was last seen up; one that scan found up is
    /// seen by it, and by every later scan that finds it up, without a write of its row.
    #[tokio::test]
    async fn a_history_from_before_derived_last_seen_keeps_when_hosts_were_last_up() {
        use portwatch_model::ports::PortList;
        let (_dir, path, pool) = sqlite_at_schema(7).await;
        for stmt in [
            "INSERT INTO scans (id, seq, started_at, finished_at, status, source, args, targets, ports) \
             VALUES (1, 1, 1000, 2000, 'complete', 'scan', '[]', '[]', 'T:22'), \
                    (2, 2, 2500, 3000, 'complete', 'scan', '[]', '[]', 'T:22')",
            // 10.0.0.1 was up in scan 1 only, 10.0.0.2 in both.
            "INSERT INTO hosts (id, addr, first_seen_at, last_seen_at, last_scan_id, probed) \
             VALUES (7, '10.0.0.1', 2000, 2000, 1, 'T:22'), (8, '10.0.0.2', 2000, 3000, 2, 'T:22')",
            "INSERT INTO target_sets (id, digest, host_count) VALUES (3, 'x', 2)",
            "INSERT INTO target_set_hosts (set_id, host_id) VALUES (3, 7), (3, 8)",
            "UPDATE scans SET target_set_id = 3",
        ] {
            sqlx::query(stmt).execute(&pool).await.unwrap();
        }
        pool.close().await;

        let store = Store::open(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let seen = |hosts: &[crate::HostRow]| -> Vec<(Option<i64>, Option<i64>)> {
            hosts
                .iter()
                .map(|h| (h.last_seen_at, h.last_scan_id.map(|s| s.0)))
                .collect()
        };
        let hosts = store.hosts().await.unwrap();
        assert_eq!(
            seen(&hosts),
            vec![(Some(2000), Some(1)), (Some(3000), Some(2))]
        );

        let id = store
            .begin_scan(&crate::NewScan {
                source: "scan".into(),
                vantage: "local".into(),
                args: vec![],
                targets: vec!["10.0.0.1".into(), "10.0.0.2".into()],
                ports: PortList {
                    tcp: vec![22],
                    udp: vec![],
                },
            })
            .await
            .unwrap();
        let outcome = crate::ScanOutcome {
            hosts: ["10.0.0.1", "10.0.0.2"]
                .iter()
                .map(|a| crate::HostOutcome {
                    addr: a.parse().unwrap(),
                    hostname: None,
                    up: *a == "10.0.0.2",
                })
                .collect(),
            coverage: PortList {
                tcp: vec![22],
                udp: vec![],
            },
            results: vec![],
            identified: false,
        };
        store
            .finish_scan(id, &outcome, &crate::Effects::default())
            .await
            .unwrap();
        let at = store.scan(id).await.unwrap().unwrap().finished_at;
        let hosts = store.hosts().await.unwrap();
        assert_eq!(
            seen(&hosts),
            vec![(Some(2000), Some(1)), (at, Some(id.0))],
            "the down host keeps scan 1; the up one is seen by the new scan"
        );
    }
}
