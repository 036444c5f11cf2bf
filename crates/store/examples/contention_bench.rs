//! Write contention: `--tasks` concurrent writers in this process, each finishing `--scans`
//! small scans (8 hosts × 16 ports, a few changes each) on one database. Run several
//! processes at once to measure contention between processes. Prints one JSON line.
//!
//! `contention_bench --url URL [--tasks 4] [--scans 50]`

use portwatch_model::ports::PortList;
use portwatch_store::{Effects, HostOutcome, NewScan, ScanOutcome, Store};
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

type Fallible<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn outcome(task: u32, round: u32) -> Fallible<ScanOutcome> {
    let ports: Vec<u16> = (1..=16).collect();
    let hosts: Vec<HostOutcome> = (1..=8u8)
        .map(|i| HostOutcome {
            addr: IpAddr::V4(Ipv4Addr::new(10, 7, 0, i)),
            hostname: None,
            up: true,
        })
        .collect();
    let mut results = Vec::new();
    for h in &hosts {
        for p in &ports {
            if (u32::from(*p) * 7 + round * 13 + task).is_multiple_of(5) {
                results.push(serde_json::from_value(json!({
                    "host": h.addr, "hostname": null, "port": p, "proto": "tcp", "state": "open",
                    "reason": "syn-ack", "service": null, "rtt_ms": null
                }))?);
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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Fallible<()> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let (mut url, mut tasks, mut scans) = (String::new(), 4u32, 50u32);
    for pair in argv.chunks(2) {
        match pair {
            [f, v] if f == "--url" => url = v.clone(),
            [f, v] if f == "--tasks" => tasks = v.parse()?,
            [f, v] if f == "--scans" => scans = v.parse()?,
            other => return Err(format!("unknown arguments {other:?}").into()),
        }
    }
    let store = Store::open(&url).await?;
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut worst = 0f64;
                for round in 0..scans {
                    let o = outcome(task + std::process::id(), round)?;
                    let t = Instant::now();
                    let id = store
                        .begin_scan(&NewScan {
                            source: "check".into(),
                            vantage: portwatch_store::LOCAL_VANTAGE.into(),
                            args: vec![],
                            targets: vec![],
                            ports: o.coverage.clone(),
                        })
                        .await?;
                    store.finish_scan(id, &o, &Effects::default()).await?;
                    worst = worst.max(t.elapsed().as_secs_f64() * 1000.0);
                }
                Ok::<f64, Box<dyn std::error::Error + Send + Sync>>(worst)
            })
        })
        .collect();
    let mut worst = 0f64;
    for h in handles {
        worst = worst.max(h.await??);
    }
    let secs = started.elapsed().as_secs_f64();
    store.close().await;
    println!(
        "{}",
        json!({
            "tasks": tasks, "scans_per_task": scans, "seconds": (secs * 1000.0).round() / 1000.0,
            "scans_per_s": (f64::from(tasks * scans) / secs).round(),
            "worst_scan_ms": worst.round(),
        })
    );
    Ok(())
}
