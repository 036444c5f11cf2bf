//! The host list read a page at a time (filters, order by address then vantage, LIMIT/OFFSET),
//! the same on SQLite and PostgreSQL and the same as filtering `Store::hosts` in memory.

mod common;

use anyhow::{Result, ensure};
use common::{OpenStore, TestDb, new_scan, port};
use portwatch_model::PortResult;
use portwatch_model::ports::PortList;
use portwatch_store::{Effects, HostFilter, HostOutcome, HostRow, ScanOutcome, Store};

both_backends!(
    host_pages_match_the_filtered_list,
    host_pages_order_addresses_as_addresses
);

/// Records a complete scan from `vantage` of `hosts` (address, hostname) on `ports`.
async fn scan(
    store: &Store,
    vantage: &str,
    hosts: &[(&str, Option<&str>)],
    ports: &[u16],
    results: Vec<PortResult>,
) -> Result<()> {
    let o = ScanOutcome {
        identified: true,
        hosts: hosts
            .iter()
            .map(|(a, name)| HostOutcome {
                addr: a.parse().unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
                hostname: name.map(str::to_string),
                up: true,
            })
            .collect(),
        coverage: PortList {
            tcp: ports.to_vec(),
            udp: vec![],
        },
        results,
    };
    let mut new = new_scan(&o);
    new.vantage = vantage.to_string();
    let id = store.begin_scan(&new).await?;
    store.finish_scan(id, &o, &Effects::default()).await?;
    Ok(())
}

/// What the web layer did before: the whole list, filtered in memory.
fn expected(all: &[HostRow], f: &HostFilter) -> Vec<HostRow> {
    let q = f.q.as_ref().map(|q| q.to_ascii_lowercase());
    all.iter()
        .filter(|h| f.has_open.is_none_or(|want| (h.open_ports > 0) == want))
        .filter(|h| f.vantage.as_ref().is_none_or(|v| &h.vantage == v))
        .filter(|h| {
            q.as_deref().is_none_or(|q| {
                h.addr.to_string().contains(q)
                    || h.hostname
                        .as_deref()
                        .is_some_and(|n| n.to_ascii_lowercase().contains(q))
            })
        })
        .cloned()
        .collect()
}

async fn host_pages_match_the_filtered_list(db: TestDb) -> Result<()> {
    let store = db.open().await?;
    scan(
        &store,
        "local",
        &[
            ("10.0.0.10", Some("Files_Srv")),
            ("10.0.0.2", None),
            ("fd00::1", Some("lab-six")),
        ],
        &[22, 445],
        vec![port("10.0.0.10", 445, "open"), port("fd00::1", 22, "open")],
    )
    .await?;
    scan(
        &store,
        "lan",
        &[("10.0.0.2", Some("printer"))],
        &[80],
        vec![port("10.0.0.2", 80, "open")],
    )
    .await?;
    let all = store.hosts().await?;
    ensure!(all.len() == 4, "{all:?}");

    let filter = |q: Option<&str>, has_open: Option<bool>, vantage: Option<&str>| HostFilter {
        q: q.map(str::to_string),
        has_open,
        vantage: vantage.map(str::to_string),
    };
    let filters = [
        (None, None, None),
        (Some("files_"), None, None),
        (Some("FILES"), None, None),
        (Some("_"), None, None),
        (Some("0.0.1"), None, None),
        (Some("FD00"), None, None),
        (Some("%"), None, None),
        (None, Some(true), None),
        (None, Some(false), None),
        (None, None, Some("lan")),
        (None, None, Some("internet")),
        (Some("10.0.0"), Some(true), Some("local")),
    ]
    .map(|(q, has_open, vantage)| filter(q, has_open, vantage));
    for f in &filters {
        let want = expected(&all, f);
        for (limit, offset) in [(500, 0), (1, 0), (2, 1), (2, 3), (3, 4), (1, u32::MAX)] {
            let page = store.host_page(f, limit, offset).await?;
            let slice: Vec<HostRow> = want
                .iter()
                .skip(offset as usize)
                .take(limit as usize)
                .cloned()
                .collect();
            ensure!(
                page.hosts == slice && page.total == want.len() as u64,
                "{f:?} limit {limit} offset {offset}: {page:?}, expected {slice:?} of {}",
                want.len()
            );
        }
    }
    // Spot checks that the filters above do select something.
    let one = |f: HostFilter| {
        let store = store.clone();
        async move { store.host_page(&f, 500, 0).await }
    };
    let files = one(filter(Some("files_"), None, None)).await?;
    ensure!(
        files.total == 1 && files.hosts[0].addr.to_string() == "10.0.0.10",
        "{files:?}"
    );
    let closed = one(filter(None, Some(false), None)).await?;
    ensure!(
        closed.total == 1 && closed.hosts[0].addr.to_string() == "10.0.0.2",
        "{closed:?}"
    );
    Ok(())
}

async fn host_pages_order_addresses_as_addresses(db: TestDb) -> Result<()> {
    let store = db.open().await?;
    let addrs = [
        "fd00::10",
        "10.0.0.10",
        "9.0.0.1",
        "fd00::2",
        "10.0.0.2",
        "::1",
        "10.0.0.1",
    ];
    let hosts: Vec<(&str, Option<&str>)> = addrs.iter().map(|a| (*a, None)).collect();
    scan(&store, "local", &hosts, &[22], vec![]).await?;
    scan(&store, "lan", &[("10.0.0.2", None)], &[22], vec![]).await?;
    let page = store.host_page(&HostFilter::default(), 500, 0).await?;
    let got: Vec<(String, &str)> = page
        .hosts
        .iter()
        .map(|h| (h.addr.to_string(), h.vantage.as_str()))
        .collect();
    let want: Vec<(String, &str)> = [
        ("9.0.0.1", "local"),
        ("10.0.0.1", "local"),
        ("10.0.0.2", "lan"),
        ("10.0.0.2", "local"),
        ("10.0.0.10", "local"),
        ("::1", "local"),
        ("fd00::2", "local"),
        ("fd00::10", "local"),
    ]
    .into_iter()
    .map(|(a, v)| (a.to_string(), v))
    .collect();
    ensure!(got == want, "{got:?}");
    ensure!(
        page.hosts == store.hosts().await?,
        "same order as Store::hosts"
    );
    Ok(())
}
