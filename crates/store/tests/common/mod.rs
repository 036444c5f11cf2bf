//! Test harness: the same test body runs on a temporary SQLite file and on a fresh PostgreSQL
//! database (portwatch-testkit), plus the store's own fixtures.

#![allow(dead_code)]

use anyhow::Result;
use portwatch_model::PortResult;
use portwatch_model::ports::PortList;
use portwatch_store::{ApplyReport, Effects, HostOutcome, NewScan, ScanId, ScanOutcome, Store};

// Not every test file uses each of these.
#[allow(unused_imports)]
pub use portwatch_testkit::{Kind, OwnCluster, TestDb, pg_admin_url, pg_db_url};

/// Runs each named `async fn(TestDb) -> anyhow::Result<()>` on both backends.
#[macro_export]
macro_rules! both_backends {
    ($($t:tt)*) => { portwatch_testkit::both_backends!($($t)*); };
}

/// Opens the store on a test database.
#[allow(async_fn_in_trait)]
pub trait OpenStore {
    /// Opens the store.
    async fn open(&self) -> Result<Store>;
}

impl OpenStore for TestDb {
    async fn open(&self) -> Result<Store> {
        Ok(Store::open(&self.url).await?)
    }
}

/// A port result, built from JSON so fields the scan crate adds later need no change here.
pub fn port(host: &str, port: u16, state: &str) -> PortResult {
    let v = serde_json::json!({
        "host": host, "hostname": null, "port": port, "proto": "tcp", "state": state,
        "reason": if state == "open" { "syn-ack" } else { "conn-refused" },
        "service": null, "rtt_ms": 0.1
    });
    match serde_json::from_value(v) {
        Ok(r) => r,
        Err(e) => panic!("test port result does not decode: {e}"),
    }
}

/// The same result with a service name.
pub fn with_service(mut r: PortResult, service: &str) -> PortResult {
    r.service = Some(service.to_string());
    r
}

/// The same result with details.
pub fn with_details(mut r: PortResult, details: serde_json::Value) -> PortResult {
    if let serde_json::Value::Object(m) = details {
        r.details = m;
    }
    r
}

/// An outcome over TCP `ports` for `hosts` (address, up).
pub fn outcome(hosts: &[(&str, bool)], ports: &[u16], results: Vec<PortResult>) -> ScanOutcome {
    ScanOutcome {
        identified: true,
        hosts: hosts
            .iter()
            .map(|(a, up)| HostOutcome {
                addr: a.parse().unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
                hostname: None,
                up: *up,
            })
            .collect(),
        coverage: PortList {
            tcp: ports.to_vec(),
            udp: vec![],
        },
        results,
    }
}

/// An outcome for `host` (up) over TCP `ports`, with `open` open (and nothing else reported).
pub fn open_on(host: &str, ports: &[u16], open: &[u16]) -> ScanOutcome {
    outcome(
        &[(host, true)],
        ports,
        open.iter().map(|&p| port(host, p, "open")).collect(),
    )
}

/// A scan record for `outcome`.
pub fn new_scan(o: &ScanOutcome) -> NewScan {
    NewScan {
        source: "test".into(),
        vantage: portwatch_store::LOCAL_VANTAGE.into(),
        args: vec!["portwatch".into(), "scan".into()],
        targets: o.hosts.iter().map(|h| h.addr.to_string()).collect(),
        ports: o.coverage.clone(),
    }
}

/// Begins and finishes a scan with no effects.
pub async fn run_scan(store: &Store, o: &ScanOutcome) -> Result<(ScanId, ApplyReport)> {
    let id = store.begin_scan(&new_scan(o)).await?;
    let report = store.finish_scan(id, o, &Effects::default()).await?;
    Ok((id, report))
}

/// Begins and finishes a scan from `vantage` with no effects.
pub async fn run_scan_from(
    store: &Store,
    vantage: &str,
    o: &ScanOutcome,
) -> Result<(ScanId, ApplyReport)> {
    let mut scan = new_scan(o);
    scan.vantage = vantage.to_string();
    let id = store.begin_scan(&scan).await?;
    let report = store.finish_scan(id, o, &Effects::default()).await?;
    Ok((id, report))
}

/// Current open ports of a host as "port/proto" strings, from `open_at`.
pub fn ports_of(spans: &[portwatch_store::SpanRow], host: &str) -> Vec<u16> {
    spans
        .iter()
        .filter(|s| s.host.to_string() == host)
        .map(|s| s.port)
        .collect()
}
