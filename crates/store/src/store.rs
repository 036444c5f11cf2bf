//! The `Store` handle: pools, the database's display name, and how transactions begin.

use crate::db::{Dialect, Sql, Tx};
use crate::error::{Result, StoreError};
use sqlx::{PgPool, SqlitePool};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long one SQLite connection waits for another writer before giving up a try.
pub(crate) const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How many times a write transaction tries to get the SQLite write lock.
const SQLITE_LOCK_TRIES: u32 = 3;
/// PostgreSQL advisory lock that serialises the writers of the history (one `finish_scan` at
/// a time); public so that a test can hold a scan's transaction where it waits for it.
pub const PG_HISTORY_LOCK: i64 = 0x706f_7274_7761_7463;

/// A handle on one portwatch database (SQLite file or PostgreSQL database). Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) backend: Backend,
    /// The database as shown in messages: a file path, or a URL without its password.
    pub(crate) name: String,
    /// This machine's name, recorded with each scan and used to recognise our dead processes.
    pub(crate) machine: String,
    /// This instance's name on the outbox messages it claims (see `Store::claimant`).
    pub(crate) claimant: String,
    /// Woken when this process queues a job (long-polling claimers wait on it).
    pub(crate) jobs_queued: tokio::sync::Notify,
}

/// A claimant name unique to this opened store: machine, process id, and a counter.
pub(crate) fn new_claimant(machine: &str) -> String {
    static OPENED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = OPENED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{machine}/{}/{n}", std::process::id())
}

pub(crate) enum Backend {
    /// One writer connection (SQLite allows one writer; in-process writers queue on the pool
    /// rather than spinning on the file lock) and a few readers (WAL lets them read meanwhile).
    Sqlite {
        writer: SqlitePool,
        reader: SqlitePool,
    },
    /// One pool; writers of the history take an advisory lock.
    Postgres(PgPool),
}

/// Whether a write transaction must be serialised with other history writers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteKind {
    /// Changes spans, scan order or whole tables (finish, import, prune).
    History,
    /// Touches single rows only (heartbeat, outbox bookkeeping).
    Row,
}

/// Whether a connection handed back to its pool may serve again. A transaction dropped
/// without commit queues a ROLLBACK; the ping runs it. When that ROLLBACK fails (SQLite has
/// already rolled back by itself after a COMMIT failed on a full disk, or the server went
/// away), the driver still counts a transaction as open and would refuse every later BEGIN on
/// this connection, so it is closed and the pool opens a fresh one.
pub(crate) async fn fit_for_reuse<C: sqlx::Connection>(conn: &mut C) -> Result<bool, sqlx::Error> {
    conn.ping().await?;
    if conn.is_in_transaction() {
        tracing::warn!("a database connection was left inside a failed transaction; replacing it");
        return Ok(false);
    }
    Ok(true)
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("database", &self.inner.name)
            .finish()
    }
}

impl Store {
    /// Which engine this store uses.
    pub fn dialect(&self) -> Dialect {
        match self.inner.backend {
            Backend::Sqlite { .. } => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The database as named in messages (file path, or URL without password).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Closes every connection; pending operations finish first.
    pub async fn close(&self) {
        match &self.inner.backend {
            Backend::Sqlite { writer, reader } => {
                reader.close().await;
                writer.close().await;
            }
            Backend::Postgres(pool) => pool.close().await,
        }
    }

    /// Turns a driver error from `op` into a [`StoreError`] naming this database.
    pub(crate) fn err(&self, op: &'static str) -> impl Fn(sqlx::Error) -> StoreError + '_ {
        move |e| StoreError::from_sqlx(self.dialect(), &self.inner.name, op, e)
    }

    /// A stored value this build cannot read.
    pub(crate) fn corrupt(&self, op: &'static str, reason: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            db: self.inner.name.clone(),
            op,
            reason: reason.into(),
        }
    }

    /// Begins a write transaction holding the write lock from its first statement, so it can
    /// never fail half-way with "database is locked".
    pub(crate) async fn write_tx(&self, op: &'static str, kind: WriteKind) -> Result<Tx> {
        match &self.inner.backend {
            Backend::Sqlite { writer, .. } => {
                let started = Instant::now();
                let mut tries = 0;
                loop {
                    tries += 1;
                    match writer.begin_with("BEGIN IMMEDIATE").await {
                        Ok(tx) => return Ok(Tx::Sqlite(tx)),
                        Err(e) => {
                            let e = self.err(op)(e);
                            if !e.is_busy() || tries >= SQLITE_LOCK_TRIES {
                                return Err(match e {
                                    StoreError::Busy { db, op, .. } => StoreError::Busy {
                                        db,
                                        op,
                                        waited_s: started.elapsed().as_secs(),
                                    },
                                    other => other,
                                });
                            }
                            tracing::debug!(database = %self.inner.name, op, tries, "write lock busy, retrying");
                            tokio::time::sleep(Duration::from_millis(50 * u64::from(tries))).await;
                        }
                    }
                }
            }
            Backend::Postgres(pool) => {
                let tx = pool.begin().await.map_err(self.err(op))?;
                let mut tx = Tx::Pg(tx);
                if kind == WriteKind::History {
                    tx.execute(&Sql::new("SELECT pg_advisory_xact_lock($1)").bind(PG_HISTORY_LOCK))
                        .await
                        .map_err(self.err(op))?;
                }
                Ok(tx)
            }
        }
    }

    /// The integer `column` of the first row `sql` returns in `tx`, or `None` for no row
    /// (a `COUNT(*)`, a `MAX`, an `INSERT ... RETURNING id`).
    pub(crate) async fn first_int(
        &self,
        tx: &mut Tx,
        sql: &Sql,
        column: &str,
        op: &'static str,
    ) -> Result<Option<i64>> {
        tx.fetch_optional(sql)
            .await
            .map_err(self.err(op))?
            .map(|r| r.int(column))
            .transpose()
            .map_err(self.err(op))
    }

    /// Begins a read transaction: one consistent snapshot for the queries of one call.
    pub(crate) async fn read_tx(&self, op: &'static str) -> Result<Tx> {
        match &self.inner.backend {
            Backend::Sqlite { reader, .. } => {
                Ok(Tx::Sqlite(reader.begin().await.map_err(self.err(op))?))
            }
            Backend::Postgres(pool) => {
                let tx = pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await
                    .map_err(self.err(op))?;
                Ok(Tx::Pg(tx))
            }
        }
    }

    /// One page of a filtered list: `page` (its WHERE and ORDER BY written) cut to `limit`
    /// rows after `offset`, each read by `row`, and how many rows match in all (`count`, a
    /// `COUNT(*) AS n` over the same filter). Both are read in one transaction, so they agree.
    pub(crate) async fn counted_page<T>(
        &self,
        op: &'static str,
        count: &Sql,
        mut page: Sql,
        limit: u32,
        offset: u32,
        row: impl Fn(&crate::db::DbRow) -> Result<T>,
    ) -> Result<(Vec<T>, u64)> {
        page.append_text(&format!(
            " LIMIT ${} OFFSET ${}",
            page.len() + 1,
            page.len() + 2
        ));
        page.push(i64::from(limit));
        page.push(i64::from(offset));
        let mut tx = self.read_tx(op).await?;
        let total = self.first_int(&mut tx, count, "n", op).await?.unwrap_or(0);
        let rows = tx.fetch_all(&page).await.map_err(self.err(op))?;
        let items = rows.iter().map(row).collect::<Result<Vec<_>>>()?;
        Ok((items, total.max(0).unsigned_abs()))
    }
}
