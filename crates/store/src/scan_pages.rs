//! Reading the scan list a page at a time: filtered, newest first, paged in SQL (a keyset
//! cursor `before`, or LIMIT/OFFSET), and the newest scan of each of a few sources.

use crate::db::{Sql, batches, placeholders};
use crate::error::Result;
use crate::model::{ScanId, ScanRow, ScanStatus};
use crate::scans::SCAN_COLUMNS;
use crate::store::Store;
use std::collections::BTreeMap;

/// Which scans [`Store::scan_page`] returns; every field given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanFilter {
    /// Only scans with this status.
    pub status: Option<ScanStatus>,
    /// Only scans from this source (`scan`, `monitor:GROUP`, …).
    pub source: Option<String>,
    /// Only scans from this vantage.
    pub vantage: Option<String>,
    /// Only scans older than this one (smaller id): the keyset cursor, the last id of the
    /// previous page.
    pub before: Option<ScanId>,
}

/// One page of the scan list.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanPage {
    /// The scans of the page, newest (highest id) first.
    pub scans: Vec<ScanRow>,
    /// How many scans match the filter in all (cursor included), whatever the page.
    pub total: u64,
}

impl ScanFilter {
    /// ` WHERE …` for the fields given (nothing when none is), its arguments bound to `sql`.
    fn condition(&self, sql: &mut Sql) {
        let mut parts = Vec::new();
        let mut add = |sql: &mut Sql, column: &str, arg: crate::db::Arg| {
            sql.push(arg);
            parts.push(format!("{column} ${}", sql.len()));
        };
        if let Some(status) = self.status {
            add(sql, "s.status =", status.as_str().into());
        }
        if let Some(source) = &self.source {
            add(sql, "s.source =", source.as_str().into());
        }
        if let Some(vantage) = &self.vantage {
            add(sql, "s.vantage =", vantage.as_str().into());
        }
        if let Some(before) = self.before {
            add(sql, "s.id <", before.0.into());
        }
        if !parts.is_empty() {
            sql.append_text(&format!(" WHERE {}", parts.join(" AND ")));
        }
    }
}

impl Store {
    /// The scans matching `filter`, newest first: at most `limit` of them after skipping
    /// `offset`, with how many match in all. Both are read in one transaction, so they agree.
    pub async fn scan_page(
        &self,
        filter: &ScanFilter,
        limit: u32,
        offset: u32,
    ) -> Result<ScanPage> {
        let op = "list a page of scans";
        let mut count = Sql::new("SELECT COUNT(*) AS n FROM scans s");
        filter.condition(&mut count);
        let mut page = Sql::new(format!("SELECT {SCAN_COLUMNS} FROM scans s"));
        filter.condition(&mut page);
        page.append_text(" ORDER BY s.id DESC");
        let (scans, total) = self
            .counted_page(op, &count, page, limit, offset, |r| self.scan_row(r, op))
            .await?;
        Ok(ScanPage { scans, total })
    }

    /// The newest scan (highest id, any status) of each of `sources` that has one, by source,
    /// found by SQL (one query per few thousand sources), not by reading recent scans.
    pub async fn latest_scans(&self, sources: &[String]) -> Result<BTreeMap<String, ScanRow>> {
        let op = "read the newest scan of each source";
        let mut latest = BTreeMap::new();
        if sources.is_empty() {
            return Ok(latest);
        }
        let mut tx = self.read_tx(op).await?;
        for chunk in batches(self.dialect(), sources, |s| 8 + s.len()) {
            let mut sql = Sql::dynamic(format!(
                "SELECT {SCAN_COLUMNS} FROM scans s WHERE s.id IN \
                 (SELECT MAX(id) FROM scans WHERE source IN ({}) GROUP BY source)",
                placeholders(1, chunk.len())
            ));
            for s in chunk {
                sql.push(s.as_str());
            }
            for row in tx.fetch_all(&sql).await.map_err(self.err(op))? {
                let scan = self.scan_row(&row, op)?;
                latest.insert(scan.source.clone(), scan);
            }
        }
        Ok(latest)
    }
}
