//! "Scan now" requests for the replica that schedules: any replica writes one, the leader
//! takes them (deleting them in the same statement, so each is taken once) and runs the
//! groups they name.

use crate::db::Sql;
use crate::error::Result;
use crate::store::{Store, WriteKind};

impl Store {
    /// Asks the scheduling replica to scan `group` now.
    pub async fn scan_request_add(&self, group: &str, now_ms: i64) -> Result<()> {
        let op = "ask the scheduler for a scan";
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        tx.execute(
            &Sql::new("INSERT INTO scan_requests (group_name, requested_at) VALUES ($1, $2)")
                .bind(group)
                .bind(now_ms),
        )
        .await
        .map_err(self.err(op))?;
        tx.commit().await.map_err(self.err(op))?;
        Ok(())
    }

    /// Takes every pending request (oldest first; each group once) and forgets them.
    pub async fn scan_requests_take(&self) -> Result<Vec<String>> {
        let op = "take the requested scans";
        let mut tx = self.write_tx(op, WriteKind::Row).await?;
        let rows = tx
            .fetch_all(&Sql::new(
                "DELETE FROM scan_requests RETURNING id, group_name",
            ))
            .await
            .map_err(self.err(op))?;
        tx.commit().await.map_err(self.err(op))?;
        let mut taken = rows
            .iter()
            .map(|r| Ok((r.int("id")?, r.text("group_name")?)))
            .collect::<std::result::Result<Vec<_>, sqlx::Error>>()
            .map_err(self.err(op))?;
        taken.sort();
        let mut groups: Vec<String> = Vec::new();
        for (_, g) in taken {
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
        Ok(groups)
    }
}
