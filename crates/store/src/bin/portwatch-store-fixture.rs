//! Test fixture for the store's crash, concurrency and full-disk tests: each mode drives a
//! `Store` the way a real `portwatch` process would and reports on stdout, one JSON per line.
//!
//! Modes:
//! - `churn URL N TAG`: N scans that open and close ports; prints the sums of opened/closed.
//! - `hold URL`: commits one big scan, then stops inside the transaction of the next one
//!   (prints `inside`) and waits to be killed.
//! - `loop URL`: finishes big scans back to back forever (to be killed at a random moment).
//! - `fill URL`: finishes big scans until one fails; prints the error and the committed count.
//! - `recover URL BALLAST`: like `fill`, then tries a write on the full disk, deletes the file
//!   BALLAST and finishes the scan that failed plus one more, all in the same process.
//! - `open URL`: opens and prints the result, or the error.
//! - `count URL`: prints the number of complete scans and current spans.

use portwatch_model::PortResult;
use portwatch_model::ports::PortList;
use portwatch_store::{
    Effects, HostOutcome, NewOutboxMessage, NewScan, ScanOutcome, Store, StoreError,
};
use serde_json::json;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

type Fallible<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match run(&args).await {
        Ok(()) => 0,
        Err(e) => {
            emit(json!({"fatal": e.to_string()}));
            1
        }
    };
    std::process::exit(code);
}

fn emit(v: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// The variant name of a store error, for the tests to match on.
fn kind(e: &StoreError) -> &'static str {
    match e {
        StoreError::ReadOnly { .. } => "ReadOnly",
        StoreError::DiskFull { .. } => "DiskFull",
        StoreError::CannotOpen { .. } => "CannotOpen",
        StoreError::Busy { .. } => "Busy",
        StoreError::NewerSchema { .. } => "NewerSchema",
        StoreError::CreateDir { .. } => "CreateDir",
        _ => "Other",
    }
}

async fn run(args: &[String]) -> Fallible<()> {
    let mode = args.first().map_or("", String::as_str);
    let url = args.get(1).cloned().unwrap_or_default();
    match mode {
        "open" => {
            match Store::open(&url).await {
                Ok(s) => {
                    emit(json!({"ok": true}));
                    s.close().await;
                }
                Err(e) => emit(json!({"error": kind(&e), "message": e.to_string()})),
            }
            Ok(())
        }
        "count" => {
            let store = Store::open(&url).await?;
            let scans = store.scans(100_000, None).await?;
            let complete = scans
                .iter()
                .filter(|s| s.status == portwatch_store::ScanStatus::Complete)
                .count();
            let open: u64 = store.hosts().await?.iter().map(|h| h.open_ports).sum();
            store.close().await;
            let integrity = if url.starts_with("sqlite:") {
                use sqlx::Connection;
                let mut c = sqlx::SqliteConnection::connect(&url).await?;
                let r: String = sqlx::query_scalar("PRAGMA integrity_check")
                    .fetch_one(&mut c)
                    .await?;
                c.close().await?;
                r
            } else {
                "ok".to_string()
            };
            emit(
                json!({"complete": complete, "scans": scans.len(), "current_spans": open, "integrity": integrity}),
            );
            Ok(())
        }
        "churn" => {
            let n: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
            let tag = args.get(3).cloned().unwrap_or_default();
            churn(&url, n, &tag).await
        }
        "hold" => hold(&url).await,
        "loop" => big_loop(&url).await,
        "fill" => fill(&url).await,
        "recover" => recover(&url, args.get(2).map_or("", String::as_str)).await,
        other => Err(format!("unknown mode '{other}'").into()),
    }
}

fn result(host: IpAddr, port: u16, details: serde_json::Value) -> Fallible<PortResult> {
    Ok(serde_json::from_value(json!({
        "host": host, "hostname": null, "port": port, "proto": "tcp", "state": "open",
        "reason": "syn-ack", "service": null, "rtt_ms": null, "details": details
    }))?)
}

fn new_scan(tcp: Vec<u16>) -> NewScan {
    NewScan {
        source: "fixture".into(),
        vantage: portwatch_store::LOCAL_VANTAGE.into(),
        args: std::env::args().collect(),
        targets: vec!["10.9.0.0/24".into()],
        ports: PortList { tcp, udp: vec![] },
    }
}

/// Small scans of 8 hosts × 16 ports; which ports are open depends on the round and the tag.
async fn churn(url: &str, n: u32, tag: &str) -> Fallible<()> {
    let store = Store::open(url).await?;
    let salt: u32 = tag.bytes().map(u32::from).sum();
    let ports: Vec<u16> = (1..=16).collect();
    let (mut opened, mut closed) = (0u64, 0u64);
    for round in 0..n {
        let id = store.begin_scan(&new_scan(ports.clone())).await?;
        let hosts: Vec<HostOutcome> = (1..=8u8)
            .map(|i| HostOutcome {
                addr: IpAddr::V4(Ipv4Addr::new(10, 9, 0, i)),
                hostname: None,
                up: true,
            })
            .collect();
        let mut results = Vec::new();
        for h in &hosts {
            for p in &ports {
                let x = u32::from(*p) * 7
                    + round * 13
                    + salt
                    + u32::from(h.addr.to_string().len() as u8);
                if x.is_multiple_of(5) {
                    results.push(result(h.addr, *p, json!({}))?);
                }
            }
        }
        let effects = Effects {
            alert_states: vec![],
            outbox: vec![NewOutboxMessage {
                idempotency_key: format!("{tag}-{round}"),
                channel: "test".into(),
                payload: json!({"round": round}),
            }],
            ..Default::default()
        };
        let outcome = ScanOutcome {
            identified: true,
            hosts,
            coverage: PortList {
                tcp: ports.clone(),
                udp: vec![],
            },
            results,
        };
        let report = store.finish_scan(id, &outcome, &effects).await?;
        opened += report.opened;
        closed += report.closed;
    }
    emit(json!({"tag": tag, "scans": n, "opened": opened, "closed": closed}));
    store.close().await;
    Ok(())
}

/// A big outcome: 400 hosts × 50 ports, half of them open with bulky details; `flip` changes
/// which half so that every scan rewrites most spans.
fn big_outcome(flip: u32, pad: usize) -> Fallible<ScanOutcome> {
    let ports: Vec<u16> = (1..=50).collect();
    let hosts: Vec<HostOutcome> = (0..400u32)
        .map(|i| HostOutcome {
            addr: IpAddr::V4(Ipv4Addr::new(10, 8, (i / 250) as u8, (i % 250) as u8 + 1)),
            hostname: None,
            up: true,
        })
        .collect();
    let mut results = Vec::new();
    for (i, h) in hosts.iter().enumerate() {
        for p in &ports {
            if (u32::from(*p) + i as u32 + flip).is_multiple_of(2) {
                let banner = "x".repeat(pad);
                results.push(result(h.addr, *p, json!({"banner": banner, "flip": flip}))?);
            }
        }
    }
    Ok(ScanOutcome {
        identified: true,
        hosts,
        coverage: PortList {
            tcp: ports,
            udp: vec![],
        },
        results,
    })
}

async fn hold(url: &str) -> Fallible<()> {
    let store = Store::open(url).await?;
    let outcome = big_outcome(0, 16)?;
    let id = store
        .begin_scan(&new_scan(outcome.coverage.tcp.clone()))
        .await?;
    let report = store.finish_scan(id, &outcome, &Effects::default()).await?;
    emit(json!({"committed": id.0, "opened": report.opened}));
    let outcome = big_outcome(1, 16)?;
    let id = store
        .begin_scan(&new_scan(outcome.coverage.tcp.clone()))
        .await?;
    store
        .finish_scan_with(id, &outcome, |report| {
            emit(json!({"inside": id.0, "opened": report.opened, "closed": report.closed}));
            // Stay inside the transaction (write lock held, spans rewritten, not committed)
            // until the test kills this process.
            std::thread::sleep(Duration::from_mins(2));
            Effects::default()
        })
        .await?;
    Err("hold: was not killed".into())
}

async fn big_loop(url: &str) -> Fallible<()> {
    let store = Store::open(url).await?;
    for flip in 0.. {
        let outcome = big_outcome(flip, 16)?;
        let id = store
            .begin_scan(&new_scan(outcome.coverage.tcp.clone()))
            .await?;
        emit(json!({"begun": id.0}));
        let report = store.finish_scan(id, &outcome, &Effects::default()).await?;
        emit(json!({"committed": id.0, "opened": report.opened, "closed": report.closed}));
    }
    Ok(())
}

async fn fill(url: &str) -> Fallible<()> {
    let store = Store::open(url).await?;
    let mut committed = 0u32;
    for flip in 0.. {
        let outcome = big_outcome(flip, 40)?;
        let id = match store
            .begin_scan(&new_scan(outcome.coverage.tcp.clone()))
            .await
        {
            Ok(id) => id,
            Err(e) => {
                emit(
                    json!({"error": kind(&e), "message": e.to_string(), "committed": committed, "at": "begin"}),
                );
                return Ok(());
            }
        };
        match store.finish_scan(id, &outcome, &Effects::default()).await {
            Ok(_) => committed += 1,
            Err(e) => {
                emit(
                    json!({"error": kind(&e), "message": e.to_string(), "committed": committed, "at": "finish"}),
                );
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Fills the disk, then frees it and goes on writing with the same `Store`: the writer
/// connection that saw the failed commit must not stay unusable.
async fn recover(url: &str, ballast: &str) -> Fallible<()> {
    let store = Store::open(url).await?;
    let mut committed = 0u32;
    let mut failed = None;
    for flip in 0..200 {
        let outcome = big_outcome(flip, 40)?;
        let id = match store
            .begin_scan(&new_scan(outcome.coverage.tcp.clone()))
            .await
        {
            Ok(id) => id,
            Err(e) => {
                emit(json!({"error": kind(&e), "message": e.to_string(), "at": "begin"}));
                return Ok(());
            }
        };
        match store.finish_scan(id, &outcome, &Effects::default()).await {
            Ok(_) => committed += 1,
            Err(e) => {
                emit(
                    json!({"error": kind(&e), "message": e.to_string(), "committed": committed, "at": "finish"}),
                );
                failed = Some((id, outcome));
                break;
            }
        }
    }
    let Some((id, outcome)) = failed else {
        return Err("recover: the disk never filled".into());
    };
    // Still full: a small write fails too, and says why.
    let small = Effects {
        alert_states: vec![],
        outbox: vec![NewOutboxMessage {
            idempotency_key: "after-full".into(),
            channel: "test".into(),
            payload: json!({"pad": "y".repeat(200_000)}),
        }],
        ..Default::default()
    };
    let still = store.write_effects(&small).await;
    emit(json!({"while_full": still.as_ref().err().map_or("ok", kind)}));
    std::fs::remove_file(ballast)?;
    let retried = store.finish_scan(id, &outcome, &Effects::default()).await;
    emit(
        json!({"retried": retried.as_ref().err().map_or_else(|| "ok".into(), ToString::to_string)}),
    );
    let outcome = big_outcome(7, 1)?;
    let next = store
        .begin_scan(&new_scan(outcome.coverage.tcp.clone()))
        .await?;
    store.finish_scan(next, &outcome, &small).await?;
    emit(json!({"next": next.0, "committed": committed + 2}));
    store.close().await;
    Ok(())
}
