//! Ingest benchmark: many scans of many hosts with few changes, to show that the database grows
//! with the changes and not with the scans. Prints one JSON line.
//!
//! `ingest_bench --url URL [--scans 1000] [--hosts 1000] [--ports 100] [--open 3] [--changes 50]`

use portwatch_model::PortResult;
use portwatch_model::ports::PortList;
use portwatch_store::{Dialect, Effects, HostOutcome, NewScan, ScanOutcome, Store};
use serde_json::json;
use sqlx::Connection;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

struct Args {
    url: String,
    scans: u32,
    hosts: u32,
    ports: u16,
    open: u16,
    changes: u32,
}

fn parse_args() -> Fallible<Args> {
    let mut a = Args {
        url: String::new(),
        scans: 1000,
        hosts: 1000,
        ports: 100,
        open: 3,
        changes: 50,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let [flag, value] = pair else {
            return Err(format!("flag {pair:?} has no value").into());
        };
        match flag.as_str() {
            "--url" => a.url.clone_from(value),
            "--scans" => a.scans = value.parse()?,
            "--hosts" => a.hosts = value.parse()?,
            "--ports" => a.ports = value.parse()?,
            "--open" => a.open = value.parse()?,
            "--changes" => a.changes = value.parse()?,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    if a.url.is_empty() {
        return Err("--url is required".into());
    }
    if a.hosts > 60_000 || a.open >= a.ports {
        return Err("at most 60000 hosts, and --open below --ports".into());
    }
    Ok(a)
}

fn host_addr(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 200, (i / 250) as u8, (i % 250) as u8 + 1))
}

fn open_result(host: IpAddr, port: u16) -> Fallible<PortResult> {
    Ok(serde_json::from_value(json!({
        "host": host, "hostname": null, "port": port, "proto": "tcp", "state": "open",
        "reason": "syn-ack", "service": "http", "rtt_ms": 0.2,
        "details": {"banner": "HTTP/1.1 200 OK"}
    }))?)
}

/// Database size in bytes: the SQLite file after a full checkpoint, or pg_database_size.
async fn db_size(url: &str, dialect: Dialect) -> Fallible<i64> {
    match dialect {
        Dialect::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(url).await?;
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&mut c)
                .await?;
            let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
                .fetch_one(&mut c)
                .await?;
            let size: i64 = sqlx::query_scalar("PRAGMA page_size")
                .fetch_one(&mut c)
                .await?;
            c.close().await?;
            Ok(pages * size)
        }
        Dialect::Postgres => {
            let mut c = sqlx::PgConnection::connect(url).await?;
            let size: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
                .fetch_one(&mut c)
                .await?;
            c.close().await?;
            Ok(size)
        }
    }
}

/// PostgreSQL: bytes of portwatch's own tables (with indexes), without the catalog.
async fn pg_tables_size(url: &str) -> Fallible<i64> {
    let mut c = sqlx::PgConnection::connect(url).await?;
    let size: i64 = sqlx::query_scalar(
        "SELECT CAST(SUM(pg_total_relation_size(c.oid)) AS BIGINT) FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relkind = 'r'",
    )
    .fetch_one(&mut c)
    .await?;
    c.close().await?;
    Ok(size)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Fallible<()> {
    let a = parse_args()?;
    // RUST_LOG=sqlx=debug shows every statement with its time.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let store = Store::open(&a.url).await?;
    let dialect = store.dialect();
    let ports: Vec<u16> = (1..=a.ports).collect();
    let mut open: BTreeSet<(u32, u16)> = BTreeSet::new();
    for h in 0..a.hosts {
        for k in 0..a.open {
            open.insert((h, 1 + (h as u16 * 7 + k * 31) % a.ports));
        }
    }
    let every = (a.scans / (a.changes + 1)).max(1);
    let hosts: Vec<HostOutcome> = (0..a.hosts)
        .map(|h| HostOutcome {
            addr: host_addr(h),
            hostname: None,
            up: true,
        })
        .collect();
    let mut changes_done = 0u32;
    let mut finish_ms: Vec<f64> = Vec::with_capacity(a.scans as usize);
    let (mut opened, mut closed) = (0u64, 0u64);
    let mut size_after_first = 0;
    let started = Instant::now();
    for scan in 0..a.scans {
        if scan > 0 && scan % every == 0 && changes_done < a.changes {
            // One port changes state: alternately a new port opens and an open one closes.
            let h = (changes_done * 97) % a.hosts;
            if changes_done.is_multiple_of(2) {
                let p = (1..=a.ports)
                    .find(|p| !open.contains(&(h, *p)))
                    .unwrap_or(1);
                open.insert((h, p));
            } else if let Some(first) = open.iter().find(|(oh, _)| *oh == h).copied() {
                open.remove(&first);
            }
            changes_done += 1;
        }
        let results = open
            .iter()
            .map(|(h, p)| open_result(host_addr(*h), *p))
            .collect::<Fallible<Vec<_>>>()?;
        let outcome = ScanOutcome {
            identified: true,
            hosts: hosts.clone(),
            coverage: PortList {
                tcp: ports.clone(),
                udp: vec![],
            },
            results,
        };
        let t = Instant::now();
        let id = store
            .begin_scan(&NewScan {
                source: "monitor:bench".into(),
                vantage: portwatch_store::LOCAL_VANTAGE.into(),
                args: vec!["portwatch".into(), "run".into()],
                targets: vec!["10.200.0.0/22".into()],
                ports: outcome.coverage.clone(),
            })
            .await?;
        let r = store.finish_scan(id, &outcome, &Effects::default()).await?;
        finish_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        opened += r.opened;
        closed += r.closed;
        if scan == 0 {
            size_after_first = db_size(&a.url, dialect).await?;
        }
    }
    let total_s = started.elapsed().as_secs_f64();
    store.close().await;
    let size_after_all = db_size(&a.url, dialect).await?;
    let tables = match dialect {
        Dialect::Postgres => Some(pg_tables_size(&a.url).await?),
        Dialect::Sqlite => None,
    };
    let mut sorted = finish_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let pct = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    let growth = size_after_all - size_after_first;
    let first_ms = finish_ms.first().copied().unwrap_or(0.0);
    println!(
        "{}",
        json!({
            "backend": match dialect { Dialect::Sqlite => "sqlite", Dialect::Postgres => "postgres" },
            "scans": a.scans, "hosts": a.hosts, "ports": a.ports, "open_per_host": a.open,
            "changes": changes_done, "spans_opened": opened, "spans_closed": closed,
            "ingest_s": (total_s * 100.0).round() / 100.0,
            "first_scan_ms": first_ms.round(),
            "scan_ms_p50": (pct(0.5) * 10.0).round() / 10.0,
            "scan_ms_p99": (pct(0.99) * 10.0).round() / 10.0,
            "size_after_1_scan": size_after_first,
            "size_after_all": size_after_all,
            "growth_bytes": growth,
            "bytes_per_change": growth / i64::from(changes_done.max(1)),
            "bytes_per_scan": growth / i64::from(a.scans.saturating_sub(1).max(1)),
            "pg_tables_bytes": tables,
        })
    );
    Ok(())
}
