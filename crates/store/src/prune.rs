//! Forgetting old history: closed spans and the scans nothing refers to any more.

use crate::canon::now_ms;
use crate::db::Sql;
use crate::error::Result;
use crate::last_seen;
use crate::model::PruneReport;
use crate::store::{Store, WriteKind};
use std::time::Duration;

impl Store {
    /// Deletes spans that ended before now − `keep`, then finished scans older than that which
    /// no remaining span or host refers to (a host's newest covering scan says when it was last
    /// seen), then target sets no scan uses. Current spans, and
    /// the scans they start from, are never touched. Scan jobs applied or failed before the
    /// cutoff go too; live ones (queued, claimed, done) stay.
    pub async fn prune(&self, keep: Duration) -> Result<PruneReport> {
        let op = "prune old history";
        let keep_ms = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
        let cutoff = now_ms().saturating_sub(keep_ms);
        let mut tx = self.write_tx(op, WriteKind::History).await?;
        let spans = tx
            .execute(
                &Sql::new(
                    "DELETE FROM spans WHERE to_scan IN \
                     (SELECT id FROM scans WHERE finished_at < $1 AND status = 'complete')",
                )
                .bind(cutoff),
            )
            .await
            .map_err(self.err(op))?;
        let scans = tx
            .execute(
                &Sql::new(format!(
                    "DELETE FROM scans WHERE status <> 'running' \
                     AND COALESCE(finished_at, started_at) < $1 \
                     AND NOT EXISTS (SELECT 1 FROM spans WHERE spans.from_scan = scans.id) \
                     AND NOT EXISTS (SELECT 1 FROM spans WHERE spans.to_scan = scans.id) \
                     AND id NOT IN (SELECT last_scan_id FROM hosts WHERE last_scan_id IS NOT NULL) \
                     AND id NOT IN (SELECT ls.id FROM hosts JOIN scans ls ON ls.seq = {}\
                      WHERE hosts.down_at_scan IS NULL)",
                    last_seen::newest_covering_seq("hosts.id")
                ))
                .bind(cutoff),
            )
            .await
            .map_err(self.err(op))?;
        let target_sets = tx
            .execute(&Sql::new(
                "DELETE FROM target_sets WHERE NOT EXISTS \
                 (SELECT 1 FROM scans WHERE scans.target_set_id = target_sets.id)",
            ))
            .await
            .map_err(self.err(op))?;
        let jobs = tx
            .execute(
                &Sql::new(
                    "DELETE FROM jobs WHERE status IN ('applied', 'failed') \
                     AND COALESCE(finished_at, created_at) < $1",
                )
                .bind(cutoff),
            )
            .await
            .map_err(self.err(op))?;
        tx.commit().await.map_err(self.err(op))?;
        Ok(PruneReport {
            spans,
            scans,
            target_sets,
            jobs,
        })
    }
}
