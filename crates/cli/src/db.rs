//! Opening the store with one precedence rule: `--database` (or `PORTWATCH_DATABASE`, which
//! clap reads for the flag) > the config file's `database` > the default SQLite file.

use anyhow::{Context, Result};
use portwatch_store::Store;

/// Opens the store named by the flag, the config, or the default location.
pub async fn open(flag: Option<&str>, config: Option<&str>) -> Result<Store> {
    let url = match flag.or(config) {
        Some(url) => url.to_string(),
        None => Store::default_url().context("no database given and no default location")?,
    };
    Ok(Store::open(&url).await?)
}

/// Saves one finished scan: its hosts, the ports it covered and what it found open.
pub async fn save_scan(
    store: &Store,
    source: &str,
    targets: &[String],
    ports: &portwatch_scan::ports::PortList,
    hosts: &[(portwatch_scan::HostSummary, Vec<portwatch_scan::PortResult>)],
) -> Result<portwatch_store::ScanId> {
    use portwatch_store::{Effects, NewScan, ScanOutcome};
    let id = store
        .begin_scan(&NewScan {
            source: source.to_string(),
            vantage: portwatch_store::LOCAL_VANTAGE.into(),
            args: std::env::args().collect(),
            targets: targets.to_vec(),
            ports: ports.clone(),
        })
        .await?;
    let outcome = ScanOutcome::of_hosts(
        hosts.iter().map(|(h, r)| (h, r.as_slice())),
        ports.clone(),
        true,
    );
    if let Err(e) = store.finish_scan(id, &outcome, &Effects::default()).await {
        let _ = store.fail_scan(id, &e.to_string()).await;
        return Err(e.into());
    }
    Ok(id)
}
