//! Named leases: one holder at a time, with a fencing token.
//!
//! A lease is taken when it is free (never taken, released, or past its expiry) and renewed
//! by its holder before it runs out. Its token grows by one on every change of holder, and a
//! write made under the lease ([`crate::Effects::fence`]) is refused once the token moved on,
//! so a holder that paused past its expiry cannot write after another one took over. Times
//! are the caller's (Unix ms), so a test moves them by hand.

use crate::db::{DbRow, Sql, Tx};
use crate::error::{Result, StoreError};
use crate::model::{Fence, LeaseRow, LeaseTicket};
use crate::store::{Store, WriteKind};

impl Store {
    /// Takes the lease `name` for `holder` until `now_ms + ttl_ms` if it is free at `now_ms`
    /// or already `holder`'s; `None` while another holder has it. Atomic across processes: one
    /// `INSERT … ON CONFLICT DO UPDATE … WHERE` (under the row lock on PostgreSQL, the write
    /// lock on SQLite), so of many holders trying at once exactly one gets it.
    pub async fn lease_acquire(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<Option<LeaseTicket>> {
        let op = "take a lease";
        if holder.is_empty() {
            return Err(StoreError::Usage {
                op,
                reason: "the holder of a lease needs a name".into(),
            });
        }
        let expires_at = now_ms.saturating_add(ttl_ms.max(1));
        let sql = Sql::new(
            "INSERT INTO leases (name, holder, token, acquired_at, expires_at) VALUES ($1, $2, 1, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET \
             token = CASE WHEN leases.holder = excluded.holder THEN leases.token ELSE leases.token + 1 END, \
             acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at ELSE excluded.acquired_at END, \
             holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at <= excluded.acquired_at \
             RETURNING token",
        )
        .bind(name)
        .bind(holder)
        .bind(now_ms)
        .bind(expires_at);
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        let row = tx.fetch_optional(&sql).await.map_err(self.err(op))?;
        tx.commit().await.map_err(self.err(op))?;
        row.map(|r| {
            Ok(LeaseTicket {
                name: name.to_string(),
                holder: holder.to_string(),
                token: r.int("token").map_err(self.err(op))?,
                expires_at,
            })
        })
        .transpose()
    }

    /// Extends a held lease to `now_ms + ttl_ms`; false when it is no longer the ticket's
    /// (another holder took it, or it was released). A lease past its expiry that nobody took
    /// meanwhile is still the ticket's and is renewed. On success the ticket's expiry moves.
    pub async fn lease_renew(
        &self,
        ticket: &mut LeaseTicket,
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<bool> {
        let op = "renew a lease";
        let expires_at = now_ms.saturating_add(ttl_ms.max(1));
        let sql = Sql::new(
            "UPDATE leases SET expires_at = $1 WHERE name = $2 AND holder = $3 AND token = $4",
        )
        .bind(expires_at)
        .bind(ticket.name.as_str())
        .bind(ticket.holder.as_str())
        .bind(ticket.token);
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        let changed = tx.execute(&sql).await.map_err(self.err(op))?;
        tx.commit().await.map_err(self.err(op))?;
        if changed == 1 {
            ticket.expires_at = expires_at;
        }
        Ok(changed == 1)
    }

    /// Gives a held lease up at once (the next holder takes it with the next token); false if
    /// it was no longer the ticket's.
    pub async fn lease_release(&self, ticket: &LeaseTicket) -> Result<bool> {
        let op = "release a lease";
        let sql = Sql::new(
            "UPDATE leases SET holder = '', expires_at = 0 WHERE name = $1 AND holder = $2 AND token = $3",
        )
        .bind(ticket.name.as_str())
        .bind(ticket.holder.as_str())
        .bind(ticket.token);
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        let changed = tx.execute(&sql).await.map_err(self.err(op))?;
        tx.commit().await.map_err(self.err(op))?;
        Ok(changed == 1)
    }

    /// The lease `name` as stored (its holder may have let it expire), or `None` if it was
    /// never taken.
    pub async fn lease_holder(&self, name: &str) -> Result<Option<LeaseRow>> {
        let op = "read a lease";
        let mut tx = self.read_tx(op).await?;
        let row = tx
            .fetch_optional(
                &Sql::new(
                    "SELECT name, holder, token, acquired_at, expires_at FROM leases WHERE name = $1",
                )
                .bind(name),
            )
            .await
            .map_err(self.err(op))?;
        row.map(|r| self.lease_row(&r, op)).transpose()
    }

    /// Frees the lease `name` if its holder is a process of this machine that is gone (its
    /// name is a [`Store::claimant`]), so a restarted daemon need not wait for the lease of
    /// the one killed before it. True if it freed it.
    pub async fn lease_release_dead(&self, name: &str) -> Result<bool> {
        let Some(row) = self.lease_holder(name).await? else {
            return Ok(false);
        };
        let mut parts = row.holder.rsplitn(3, '/');
        let (_n, pid, machine) = (parts.next(), parts.next(), parts.next());
        let dead = machine == Some(self.inner.machine.as_str())
            && pid
                .and_then(|p| p.parse::<i64>().ok())
                .is_some_and(|p| !crate::scans::process_alive(p));
        if !dead {
            return Ok(false);
        }
        self.lease_release(&LeaseTicket {
            name: row.name,
            holder: row.holder,
            token: row.token,
            expires_at: row.expires_at,
        })
        .await
    }

    /// Inside a write transaction: refuses the transaction's writes unless `fence`'s lease
    /// still has its token. On PostgreSQL the lease row stays share-locked until the commit,
    /// so a takeover waits for the writes to land (or be refused) instead of passing them.
    pub(crate) async fn check_fence(
        &self,
        tx: &mut Tx,
        fence: &Fence,
        op: &'static str,
    ) -> Result<()> {
        let lock = match self.dialect() {
            crate::db::Dialect::Sqlite => "",
            crate::db::Dialect::Postgres => " FOR SHARE",
        };
        let sql = Sql::new(format!(
            "SELECT token FROM leases WHERE name = $1 AND token = $2{lock}"
        ))
        .bind(fence.lease.as_str())
        .bind(fence.token);
        let held = tx.fetch_optional(&sql).await.map_err(self.err(op))?;
        if held.is_none() {
            return Err(StoreError::Fenced {
                db: self.inner.name.clone(),
                op,
                lease: fence.lease.clone(),
                token: fence.token,
            });
        }
        Ok(())
    }

    fn lease_row(&self, r: &DbRow, op: &'static str) -> Result<LeaseRow> {
        let e = self.err(op);
        Ok(LeaseRow {
            name: r.text("name").map_err(&e)?,
            holder: r.text("holder").map_err(&e)?,
            token: r.int("token").map_err(&e)?,
            acquired_at: r.int("acquired_at").map_err(&e)?,
            expires_at: r.int("expires_at").map_err(&e)?,
        })
    }
}
