//! Test harness: the same test body runs on a temporary SQLite file and on a fresh PostgreSQL
//! database (portwatch-testkit), plus the store's own fixtures.

#![allow(dead_code)]

use anyhow::{Result, bail};
use portwatch_scan::PortResult;
use portwatch_scan::ports::PortList;
use portwatch_store::{ApplyReport, Effects, HostOutcome, NewScan, ScanId, ScanOutcome, Store};
use std::collections::BTreeMap;

// Not every test file uses each of these.
#[allow(unused_imports)]
pub use portwatch_testkit::{Kind, pg_admin_url, pg_db_url};

/// Runs each named `async fn(TestDb) -> anyhow::Result<()>` on both backends.
#[macro_export]
macro_rules! both_backends {
    ($($t:tt)*) => { portwatch_testkit::both_backends!($($t)*); };
}

/// Every table of the schema, for row counts.
pub const TABLES: [&str; 7] = [
    "scans",
    "hosts",
    "target_sets",
    "target_set_hosts",
    "spans",
    "outbox",
    "alert_states",
];

/// A temporary database (portwatch-testkit's) that also opens the store.
pub struct TestDb(portwatch_testkit::TestDb);

impl From<portwatch_testkit::TestDb> for TestDb {
    fn from(db: portwatch_testkit::TestDb) -> Self {
        TestDb(db)
    }
}

impl std::ops::Deref for TestDb {
    type Target = portwatch_testkit::TestDb;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl TestDb {
    /// A new SQLite file in a temporary directory (not yet created: `Store::open` creates it).
    pub async fn sqlite() -> Result<TestDb> {
        Ok(TestDb(portwatch_testkit::TestDb::sqlite().await?))
    }

    /// A new, empty PostgreSQL database (on the test server).
    pub async fn postgres() -> Result<TestDb> {
        Ok(TestDb(portwatch_testkit::TestDb::postgres().await?))
    }

    /// Opens the store.
    pub async fn open(&self) -> Result<Store> {
        Ok(Store::open(&self.url).await?)
    }

    /// Row count of every table.
    pub async fn counts(&self) -> Result<BTreeMap<&'static str, i64>> {
        self.counts_of(&TABLES).await
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

/// A PostgreSQL cluster of the test's own, made and controlled through the script named by
/// `PORTWATCH_TEST_PG_CTL` (default: the repository's `scripts/test-pg.sh`) on a free port and a
/// private data directory, so restarting it disturbs no other test. Removed on drop.
pub struct OwnCluster {
    ctl: std::path::PathBuf,
    port: u16,
    dir: std::path::PathBuf,
}

impl OwnCluster {
    /// Creates and starts the cluster.
    pub fn up() -> Result<OwnCluster> {
        let ctl = std::env::var_os("PORTWATCH_TEST_PG_CTL")
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/test-pg.sh")
            });
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir = std::path::PathBuf::from(format!("/var/tmp/pw-store-test-pg-{port}"));
        let cluster = OwnCluster { ctl, port, dir };
        cluster.ctl("up")?;
        Ok(cluster)
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs `start`, `stop`, `restart`, `up` or `down` on it.
    pub fn ctl(&self, what: &str) -> Result<()> {
        let out = std::process::Command::new(&self.ctl)
            .arg(what)
            .env("PORTWATCH_TEST_PG_PORT", self.port.to_string())
            .env("PORTWATCH_TEST_PG_DIR", &self.dir)
            .output()?;
        if !out.status.success() {
            bail!(
                "{} {what} failed: {}",
                self.ctl.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = self.ctl("down");
    }
}
