//! Dashboard and API benchmark fixture: fills a SQLite store with HOSTS hosts (two scans, a
//! few open ports each, risky ones among them, and firing violations), serves the real router
//! (with the monitor, its schedule not started) on a loopback port, and then either
//!
//! - `--render N`: fetches the overview, a host page and an API page N times each and prints
//!   one JSON line per page with the median, p99 and maximum latency in milliseconds; or
//! - `--serve`: prints one JSON line with the address, an admin token and a session cookie (for
//!   wrk) and serves until stdin closes.
//!
//! Usage: web_bench [--hosts 10000] (--render 50 | --serve)

use portwatch_kb::Severity;
use portwatch_model::ports::PortList;
use portwatch_model::{PortResult, PortState, Proto};
use portwatch_monitor::alerts::{Entry, Status};
use portwatch_monitor::policy::{Finding, Rule};
use portwatch_store::{AlertStateRow, Effects, HostOutcome, NewScan, ScanOutcome, Store};
use portwatch_web::AppState;
use portwatch_web::auth::Role;
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

/// The ports every host is scanned on.
const PORTS: [u16; 8] = [22, 80, 139, 443, 445, 3306, 3389, 8080];

/// The configuration the pages show: one group over all hosts.
const CONFIG: &str = "[[group]]\nname = \"office\"\ntargets = [\"10.20.0.0/16\"]\nevery = \"1h\"\n\
                      ports = \"22,80,139,443,445,3306,3389,8080\"\n\
                      [group.policy]\nmust_be_closed = [\"T:139,445,3389\"]\nseverity = \"critical\"\n";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Fallible<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<usize>().ok())
    };
    let hosts = value("--hosts").unwrap_or(10_000);
    let dir = tempfile::tempdir()?;
    let store = Store::open(&format!("sqlite://{}/bench.db", dir.path().display())).await?;
    let seeded = Instant::now();
    let addrs = fill(&store, hosts).await?;
    eprintln!(
        "web_bench: {hosts} hosts stored in {:.1} s",
        seeded.elapsed().as_secs_f64()
    );
    let (token, _) =
        portwatch_web::auth::tokens::create(&store, "bench-admin", Role::Admin).await?;
    // As `portwatch run` serves it: with the monitor (its alert book restored from the store),
    // whose schedule is not started so that nothing scans.
    let settings = portwatch_monitor::config::parse(CONFIG, std::path::Path::new("bench.toml"))?;
    let daemon = portwatch_monitor::daemon::Daemon::new(settings, store.clone()).await?;
    let state = AppState::new(store, Some(daemon), Some(CONFIG.to_string()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let app = portwatch_web::router(state);
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    let base = format!("http://{addr}");
    // reqwest is built without a TLS provider of its own (the binary picks ring).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let login = client
        .post(format!("{base}/login"))
        .form(&[("token", token.as_str())])
        .send()
        .await?;
    let cookie = login
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .collect::<Vec<_>>()
        .join("; ");
    if cookie.is_empty() {
        return Err(format!("login gave {} and no cookie", login.status()).into());
    }
    let host = addrs[addrs.len() / 2];
    if let Some(rounds) = value("--render") {
        for (name, path, bearer) in [
            ("overview", "/".to_string(), false),
            ("overview page 50", "/?page=50".to_string(), false),
            ("host page", format!("/hosts/{host}"), false),
            (
                "api hosts (limit 100)",
                "/api/v1/hosts?limit=100".to_string(),
                true,
            ),
        ] {
            let mut ms = Vec::with_capacity(rounds);
            let mut bytes = 0;
            for _ in 0..rounds.max(1) {
                let mut req = client.get(format!("{base}{path}"));
                if bearer {
                    req = req.bearer_auth(&token);
                }
                let started = Instant::now();
                let resp = req.send().await?;
                let status = resp.status();
                let body = resp.bytes().await?;
                ms.push(started.elapsed().as_secs_f64() * 1000.0);
                if !status.is_success() {
                    return Err(format!("GET {path}: {status}").into());
                }
                bytes = body.len();
            }
            ms.sort_by(f64::total_cmp);
            let pick = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
            println!(
                "{}",
                json!({"page": name, "path": path, "hosts": hosts, "requests": ms.len(),
                       "median_ms": round2(pick(0.5)), "p99_ms": round2(pick(0.99)),
                       "max_ms": round2(pick(1.0)), "bytes": bytes})
            );
        }
        return Ok(());
    }
    println!(
        "{}",
        json!({"base": base, "token": token, "cookie": cookie, "host": host.to_string(),
               "hosts": hosts})
    );
    // Serve until the harness closes stdin.
    tokio::task::spawn_blocking(|| {
        let mut sink = [0u8; 64];
        let mut stdin = std::io::stdin();
        while std::io::Read::read(&mut stdin, &mut sink).unwrap_or(0) > 0 {}
    })
    .await?;
    Ok(())
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Stores two scans of `hosts` hosts (host i has 22 and 443 open; every third
/// also 80; every tenth 445 and 139; every 50th 3389; the second scan opens 8080 on every
/// seventh), with a firing violation per risky port. Returns the addresses.
async fn fill(store: &Store, hosts: usize) -> Fallible<Vec<IpAddr>> {
    let addrs: Vec<IpAddr> = (0..hosts)
        .map(|i| IpAddr::V4(Ipv4Addr::new(10, 20, (i / 250) as u8, (i % 250 + 1) as u8)))
        .collect();
    let mut violations = Vec::new();
    for round in 0..2 {
        let mut results = Vec::new();
        for (i, addr) in addrs.iter().enumerate() {
            let mut open = vec![22, 443];
            if i % 3 == 0 {
                open.push(80);
            }
            if i % 10 == 0 {
                open.extend([139, 445]);
            }
            if i % 50 == 0 {
                open.push(3389);
            }
            if round == 1 && i % 7 == 0 {
                open.push(8080);
            }
            for port in open {
                results.push(open_result(*addr, port)?);
                if round == 1 && matches!(port, 139 | 445 | 3389) {
                    violations.push(violation(*addr, port)?);
                }
            }
        }
        let coverage = PortList {
            tcp: PORTS.to_vec(),
            udp: vec![],
        };
        let id = store
            .begin_scan(&NewScan {
                source: "monitor:office".into(),
                vantage: portwatch_store::LOCAL_VANTAGE.into(),
                args: vec![],
                targets: vec!["10.20.0.0/16".into()],
                ports: coverage.clone(),
            })
            .await?;
        let outcome = ScanOutcome {
            hosts: addrs
                .iter()
                .map(|a| HostOutcome {
                    addr: *a,
                    hostname: None,
                    up: true,
                })
                .collect(),
            coverage,
            results,
            identified: true,
        };
        let effects = Effects {
            alert_states: std::mem::take(&mut violations),
            outbox: vec![],
            ..Default::default()
        };
        store.finish_scan(id, &outcome, &effects).await?;
    }
    Ok(addrs)
}

fn open_result(addr: IpAddr, port: u16) -> Fallible<PortResult> {
    let service = match port {
        22 => "ssh",
        80 | 8080 => "http",
        139 => "netbios-ssn",
        443 => "https",
        445 => "microsoft-ds",
        3306 => "mysql",
        _ => "ms-wbt-server",
    };
    Ok(serde_json::from_value(json!({
        "host": addr, "hostname": null, "port": port, "proto": "tcp", "state": "open",
        "reason": "syn-ack", "service": service, "rtt_ms": 0.3, "details": {}
    }))?)
}

fn violation(addr: IpAddr, port: u16) -> Fallible<AlertStateRow> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    let since = i64::try_from(now)? - 3_600_000;
    let finding = Finding {
        group: "office".into(),
        vantage: "local".into(),
        host: addr,
        hostname: None,
        port: Some(port),
        proto: Some(Proto::Tcp),
        rule: Rule::MustBeClosed,
        severity: Severity::Critical,
        state: Some(PortState::Open),
        service: None,
        answered: None,
        explain: None,
        fix: None,
    };
    let entry = Entry {
        status: Status::Firing,
        since_ms: since,
        streak: 0,
        notified_ms: Some(since),
        reminded_ms: None,
        acknowledged: false,
        silenced_until_ms: None,
        resolved_ms: None,
        finding: finding.clone(),
    };
    Ok(portwatch_monitor::daemon::state_row(
        &finding.key(),
        Some(&entry),
        since,
    ))
}
