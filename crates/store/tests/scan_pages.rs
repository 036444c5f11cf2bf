//! The scan list read a page at a time (filters, keyset cursor, LIMIT/OFFSET) and the newest
//! scan of each source, the same on SQLite and PostgreSQL.

mod common;

use anyhow::{Result, ensure};
use common::{OpenStore, TestDb, new_scan, outcome, port};
use portwatch_store::{Effects, ScanFilter, ScanId, ScanStatus, Store};

const A: &str = "10.0.0.1";

both_backends!(
    pages_follow_the_keyset_cursor,
    filters_match_status_source_and_vantage,
    limit_and_offset_page_in_sql,
    latest_scan_of_each_source,
);

/// Begins a scan from `source` and `vantage` and leaves it `status` (running, complete or
/// failed).
async fn scan(store: &Store, source: &str, vantage: &str, status: ScanStatus) -> Result<ScanId> {
    let o = outcome(&[(A, true)], &[22], vec![port(A, 22, "open")]);
    let mut new = new_scan(&o);
    new.source = source.to_string();
    new.vantage = vantage.to_string();
    let id = store.begin_scan(&new).await?;
    match status {
        ScanStatus::Complete => {
            store.finish_scan(id, &o, &Effects::default()).await?;
        }
        ScanStatus::Failed => store.fail_scan(id, "test failure").await?,
        _ => {}
    }
    Ok(id)
}

fn ids(page: &portwatch_store::ScanPage) -> Vec<i64> {
    page.scans.iter().map(|s| s.id.0).collect()
}

async fn pages_follow_the_keyset_cursor(db: TestDb) -> Result<()> {
    let store = db.open().await?;
    let empty = store.scan_page(&ScanFilter::default(), 10, 0).await?;
    ensure!(empty.scans.is_empty() && empty.total == 0, "{empty:?}");

    let mut made = Vec::new();
    for _ in 0..7 {
        made.push(scan(&store, "scan", "local", ScanStatus::Complete).await?.0);
    }
    made.reverse();
    let mut seen = Vec::new();
    let mut filter = ScanFilter::default();
    loop {
        let page = store.scan_page(&filter, 3, 0).await?;
        ensure!(page.scans.len() <= 3, "{page:?}");
        let Some(last) = page.scans.last() else { break };
        filter.before = Some(last.id);
        seen.extend(ids(&page));
    }
    ensure!(seen == made, "pages {seen:?}, scans {made:?}");

    // The total counts what matches with the cursor too.
    let after_third = ScanFilter {
        before: Some(ScanId(made[2])),
        ..ScanFilter::default()
    };
    let page = store.scan_page(&after_third, 2, 0).await?;
    ensure!(ids(&page) == made[3..5] && page.total == 4, "{page:?}");
    Ok(())
}

async fn filters_match_status_source_and_vantage(db: TestDb) -> Result<()> {
    let store = db.open().await?;
    let c1 = scan(&store, "monitor:web", "local", ScanStatus::Complete).await?;
    let f1 = scan(&store, "monitor:web", "local", ScanStatus::Failed).await?;
    let c2 = scan(&store, "scan", "lan", ScanStatus::Complete).await?;
    let r1 = scan(&store, "monitor:db", "lan", ScanStatus::Running).await?;
    let c3 = scan(&store, "monitor:web", "lan", ScanStatus::Complete).await?;

    let page = |f: ScanFilter| {
        let store = store.clone();
        async move { store.scan_page(&f, 50, 0).await }
    };
    let all = page(ScanFilter::default()).await?;
    ensure!(
        ids(&all) == vec![c3.0, r1.0, c2.0, f1.0, c1.0] && all.total == 5,
        "{all:?}"
    );
    let complete = page(ScanFilter {
        status: Some(ScanStatus::Complete),
        ..ScanFilter::default()
    })
    .await?;
    ensure!(
        ids(&complete) == vec![c3.0, c2.0, c1.0] && complete.total == 3,
        "{complete:?}"
    );
    let web = page(ScanFilter {
        source: Some("monitor:web".into()),
        ..ScanFilter::default()
    })
    .await?;
    ensure!(ids(&web) == vec![c3.0, f1.0, c1.0], "{web:?}");
    let web_lan_complete = page(ScanFilter {
        status: Some(ScanStatus::Complete),
        source: Some("monitor:web".into()),
        vantage: Some("lan".into()),
        before: None,
    })
    .await?;
    ensure!(
        ids(&web_lan_complete) == vec![c3.0] && web_lan_complete.total == 1,
        "{web_lan_complete:?}"
    );
    let web_before = page(ScanFilter {
        source: Some("monitor:web".into()),
        before: Some(c3),
        ..ScanFilter::default()
    })
    .await?;
    ensure!(
        ids(&web_before) == vec![f1.0, c1.0] && web_before.total == 2,
        "{web_before:?}"
    );
    let none = page(ScanFilter {
        status: Some(ScanStatus::Incomplete),
        ..ScanFilter::default()
    })
    .await?;
    ensure!(none.scans.is_empty() && none.total == 0, "{none:?}");
    Ok(())
}

async fn limit_and_offset_page_in_sql(db: TestDb) -> Result<()> {
    let store = db.open().await?;
    let mut made = Vec::new();
    for i in 0..6 {
        let status = if i % 2 == 0 {
            ScanStatus::Complete
        } else {
            ScanStatus::Failed
        };
        made.push(scan(&store, "scan", "local", status).await?.0);
    }
    made.reverse();
    let all = ScanFilter::default();
    let p = store.scan_page(&all, 2, 1).await?;
    ensure!(ids(&p) == made[1..3] && p.total == 6, "{p:?}");
    let p = store.scan_page(&all, 4, 4).await?;
    ensure!(ids(&p) == made[4..6] && p.total == 6, "{p:?}");
    let p = store.scan_page(&all, 4, 6).await?;
    ensure!(p.scans.is_empty() && p.total == 6, "{p:?}");
    let p = store.scan_page(&all, 4, u32::MAX).await?;
    ensure!(p.scans.is_empty() && p.total == 6, "{p:?}");
    // made[0] is failed (the newest, i = 5); the failed ones are made[0], [2], [4].
    let failed = ScanFilter {
        status: Some(ScanStatus::Failed),
        ..ScanFilter::default()
    };
    let p = store.scan_page(&failed, 1, 1).await?;
    ensure!(ids(&p) == vec![made[2]] && p.total == 3, "{p:?}");
    Ok(())
}

async fn latest_scan_of_each_source(db: TestDb) -> Result<()> {
    let store = db.open().await?;
    let none = store.latest_scans(&["monitor:web".into()]).await?;
    ensure!(none.is_empty(), "{none:?}");

    scan(&store, "monitor:web", "local", ScanStatus::Complete).await?;
    let db_scan = scan(&store, "monitor:db", "local", ScanStatus::Complete).await?;
    scan(&store, "scan", "local", ScanStatus::Complete).await?;
    let web_failed = scan(&store, "monitor:web", "lan", ScanStatus::Failed).await?;
    // Newer scans of another source do not hide them.
    for _ in 0..3 {
        scan(&store, "scan", "local", ScanStatus::Running).await?;
    }

    let sources: Vec<String> = ["monitor:web", "monitor:db", "monitor:gone"]
        .into_iter()
        .map(String::from)
        .collect();
    let latest = store.latest_scans(&sources).await?;
    let got: Vec<(&str, i64, ScanStatus)> = latest
        .iter()
        .map(|(k, s)| (k.as_str(), s.id.0, s.status))
        .collect();
    ensure!(
        got == vec![
            ("monitor:db", db_scan.0, ScanStatus::Complete),
            ("monitor:web", web_failed.0, ScanStatus::Failed),
        ],
        "{got:?}"
    );
    ensure!(store.latest_scans(&[]).await?.is_empty());
    Ok(())
}
