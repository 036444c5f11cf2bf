//! `portwatch scan`: parse, resolve, run the engine, render events as they arrive.

use crate::args::{ResolveArg, ScanArgs};
use crate::output::{self, RunInfo, RunTotals, ScanInfo};
use crate::progress::ProgressView;
use anyhow::{Context, Result, bail};
use portwatch_scan::engine::{ScanConfig, ScanProgress, TcpMethod, TcpPlanner};
use portwatch_scan::ports::{PortList, parse_port_spec};
use portwatch_scan::resolve::ResolveMode;
use portwatch_scan::scan::{self, TargetOptions};
use portwatch_scan::{Proto, ScanEvent};
use std::io::{BufWriter, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use tokio::sync::mpsc;

/// TCP ports scanned when neither `-p` nor `--top` is given.
pub const DEFAULT_TOP: usize = 1000;
/// UDP ports scanned when neither `-p` nor `--top` is given: UDP probes are slow to answer
/// (a silent port waits out its retries), so the default is the 100 most common.
pub const DEFAULT_TOP_UDP: usize = 100;

/// Runs the command; returns the exit code.
pub fn run(args: ScanArgs) -> Result<u8> {
    let plan = Plan::from_args(&args)?;
    let rt = super::runtime()?;
    rt.block_on(execute(&args, plan))
}

/// Everything checked before any packet is sent.
struct Plan {
    targets: Vec<String>,
    exclude: Vec<String>,
    ports: PortList,
    config: ScanConfig,
    target_opts: TargetOptions,
}

impl Plan {
    fn from_args(args: &ScanArgs) -> Result<Plan> {
        let protos: Vec<Proto> = match (args.tcp, args.udp) {
            (_, false) => vec![Proto::Tcp],
            (false, true) => vec![Proto::Udp],
            (true, true) => vec![Proto::Tcp, Proto::Udp],
        };
        let ports = match (&args.ports, args.top) {
            (Some(spec), _) => parse_port_spec(spec, &protos)?,
            (None, Some(n)) => PortList::top(n, &protos)?,
            (None, None) => {
                let mut list = PortList::default();
                for proto in &protos {
                    let n = match proto {
                        Proto::Tcp => DEFAULT_TOP,
                        Proto::Udp => DEFAULT_TOP_UDP,
                    };
                    list = list.union(&PortList::top(n, &[*proto])?);
                }
                list
            }
        };
        if args.discover_only && !crate::output::discovery::supports(args.format()) {
            bail!("--discover-only writes table, jsonl, json or csv, not xml");
        }
        let mut targets = args.targets.clone();
        if let Some(path) = &args.input_list {
            targets.extend(read_list(path)?);
        }
        if targets.is_empty() {
            bail!("no targets: give addresses, networks or hostnames, or --input-list FILE");
        }
        let mut exclude = args.exclude.clone();
        if let Some(path) = &args.exclude_file {
            exclude.extend(read_list(path)?);
        }
        let dns_servers = args
            .dns_servers
            .iter()
            .map(|s| parse_dns_server(s))
            .collect::<Result<Vec<_>>>()?;
        let mut b = ScanConfig::builder()
            .report_all(args.all)
            .assume_up(args.assume_up)
            .identify(!args.no_probes)
            .sequential(args.sequential)
            .tcp_method(match (args.syn, args.connect) {
                (true, _) => TcpMethod::Syn,
                (_, true) => TcpMethod::Connect,
                _ => TcpMethod::Auto,
            });
        if let Some(n) = args.retries {
            b = b.retries(n);
        }
        if let Some(n) = args.max_retries {
            b = b.max_retries(n);
        }
        if let Some(d) = args.min_rtt_timeout {
            b = b.min_rtt_timeout(d);
        }
        if let Some(d) = args.max_rtt_timeout {
            b = b.max_rtt_timeout(d);
        }
        if let Some(d) = args.initial_rtt_timeout {
            b = b.initial_rtt_timeout(d);
        }
        if let Some(n) = args.max_parallel {
            b = b.max_parallel(n);
        }
        if let Some(n) = args.rate {
            b = b.rate(n);
        }
        if let Some(n) = args.host_group {
            b = b.host_group(n);
        }
        Ok(Plan {
            targets,
            exclude,
            ports,
            config: b.build()?,
            target_opts: TargetOptions {
                resolve: match args.resolve {
                    ResolveArg::First => ResolveMode::First,
                    ResolveArg::All => ResolveMode::All,
                },
                dns_servers,
                confirmed_large: args.yes,
            },
        })
    }
}

fn parse_dns_server(s: &str) -> Result<SocketAddr> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let ip: IpAddr = s
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .with_context(|| format!("invalid DNS server '{s}' (expected ADDR or ADDR:PORT)"))?;
    Ok(SocketAddr::new(ip, 53))
}

/// Reads whitespace-separated tokens from a file (or stdin for `-`), skipping `#` comments.
fn read_list(path: &Path) -> Result<Vec<String>> {
    let mut text = String::new();
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read target list from standard input")?;
    } else {
        text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read target list {}", path.display()))?;
    }
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(str::split_whitespace)
        .map(str::to_string)
        .collect())
}

/// `--discover-only`: list which hosts are up and why; no port scan.
async fn discover_only(
    args: &ScanArgs,
    plan: &Plan,
    targets: &portwatch_scan::targets::TargetSet,
) -> Result<u8> {
    if !portwatch_scan::discover::privileged() {
        eprintln!(
            "portwatch: note: no raw-socket privilege (root or CAP_NET_RAW): hosts are \
             checked by connects to TCP 80 and 443"
        );
    }
    let started = Instant::now();
    let hosts = scan::discover_hosts(&plan.config, targets).await?;
    let elapsed = started.elapsed();
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write output file {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout())),
    };
    output::discovery::write(args.format(), &mut *out, &hosts, args.shown(), elapsed)
        .context("cannot write output")?;
    if args.format() != crate::args::ScanFormat::Table || args.output.is_some() {
        eprintln!("{}", output::discovery::summary(&hosts, elapsed));
    }
    Ok(crate::exit::OK)
}

fn describe_ports(ports: &[u16]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ports.len() {
        let start = ports[i];
        let mut end = start;
        while i + 1 < ports.len() && ports[i + 1] == end + 1 {
            i += 1;
            end = ports[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// The scan types of a run (nmap's `scaninfo`, written only by the XML output): one per TCP
/// method some target is planned for, then UDP.
fn scan_types(
    ports: &PortList,
    tcp: Option<&TcpPlanner>,
    targets: &portwatch_scan::targets::TargetSet,
) -> Vec<ScanInfo> {
    let info = |kind, proto| ScanInfo {
        kind,
        proto,
        count: ports.of(proto).len(),
        services: describe_ports(ports.of(proto)),
    };
    let mut types: Vec<ScanInfo> = tcp
        .map(|tcp| tcp.methods_for(targets.iter().map(|t| t.addr)))
        .unwrap_or_default()
        .into_iter()
        .map(|method| info(method.as_str(), Proto::Tcp))
        .collect();
    if !ports.udp.is_empty() {
        types.push(info("udp", Proto::Udp));
    }
    types
}

async fn execute(args: &ScanArgs, plan: Plan) -> Result<u8> {
    let targets = scan::prepare_targets(&plan.targets, &plan.exclude, &plan.target_opts).await?;
    if args.discover_only {
        return discover_only(args, &plan, &targets).await;
    }
    // One plan of which target gets SYN probes, shared by the engine and the output.
    let tcp = if plan.ports.tcp.is_empty() {
        None
    } else {
        Some(plan.config.tcp_planner()?)
    };
    if tcp.as_ref().is_some_and(|tcp| {
        targets
            .iter()
            .any(|t| tcp.connects_for_lack_of_privilege(t.addr))
    }) {
        eprintln!(
            "portwatch: note: no raw-socket privilege (root or CAP_NET_RAW): TCP ports are \
             probed with connects instead of SYN probes"
        );
    }
    if scan::liveness(&plan.config, &targets) == scan::Liveness::ConnectFallback {
        eprintln!(
            "portwatch: note: no raw-socket privilege (root or CAP_NET_RAW): live hosts are \
             found by the port scan's connects, not by ARP/ICMP discovery"
        );
    }
    let progress = Arc::new(ScanProgress::default());
    let view = ProgressView::start(progress.clone(), !args.no_progress);
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write output file {}", path.display()))?,
        )),
        None => Box::new(BufWriter::with_capacity(
            64 * 1024,
            view.around(std::io::stdout()),
        )),
    };
    let info = RunInfo {
        args: std::env::args().collect::<Vec<_>>().join(" "),
        started: SystemTime::now(),
        services: if args.format() == crate::args::ScanFormat::Xml {
            scan_types(&plan.ports, tcp.as_deref(), &targets)
        } else {
            Vec::new()
        },
        tcp: tcp.clone(),
    };
    let mut sink = output::sink(args.format(), out, info, args.shown());
    let (tx, mut rx) = mpsc::channel::<ScanEvent>(scan::EVENT_CHANNEL);
    let started = Instant::now();
    let config = match &tcp {
        Some(tcp) => plan.config.with_tcp_planner(tcp.clone()),
        None => plan.config.clone(),
    };
    let ports = plan.ports.clone();
    if args.save {
        // Fail before scanning if the database cannot be opened.
        crate::db::open(args.db.url(), None).await?;
    }
    let interrupt = interrupt_listener()?;
    let engine = tokio::spawn({
        let progress = progress.clone();
        async move { scan::run(&config, &targets, &ports, tx, progress).await }
    });
    let mut run = Collected::new(args.save);
    let mut write_result = Ok(());
    let interrupted = tokio::select! {
        biased;
        () = interrupt => true,
        r = run.consume(&mut rx, &mut *sink) => {
            write_result = r;
            false
        }
    };
    if interrupted {
        // What the engine already sent is final: keep it, then stop the engine (its workers
        // are aborted with it, closing their sockets).
        while let Ok(event) = rx.try_recv() {
            if write_result.is_ok() {
                write_result = run.event(event, &mut *sink);
            }
        }
        engine.abort();
    }
    drop(rx);
    let engine_result = match engine.await {
        Ok(r) => Some(r),
        Err(e) if e.is_cancelled() => None,
        Err(e) => return Err(e).context("scan engine stopped"),
    };
    view.finish();
    write_result.context("cannot write output")?;
    if let Some(r) = engine_result {
        r?;
    }
    let mut totals = run.totals;
    totals.elapsed = started.elapsed();
    totals.interrupted = interrupted;
    totals.unfinished = run.unfinished.len() as u64;
    if args.save && interrupted {
        eprintln!(
            "portwatch: the scan was interrupted: not saved (history keeps whole scans only)"
        );
    } else if args.save {
        let store = crate::db::open(args.db.url(), None).await?;
        let id = crate::db::save_scan(&store, "scan", &plan.targets, &plan.ports, &run.saved)
            .await
            .with_context(|| format!("cannot save the scan in {}", store.name()))?;
        eprintln!("saved as scan #{id} in {}", store.name());
    }
    let on_stdout = sink.summary_on_stdout() && args.output.is_none();
    sink.finish(&totals).context("cannot write output")?;
    if !on_stdout {
        eprintln!("{}", totals.line());
    }
    Ok(if interrupted {
        crate::exit::INTERRUPTED
    } else {
        crate::exit::OK
    })
}

/// A future that completes on the first SIGINT (Ctrl-C). The handler is installed now, before
/// the scan starts, so an early Ctrl-C is not lost to the default action.
fn interrupt_listener() -> Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut sigint =
            signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C (SIGINT)")?;
        Ok(async move {
            sigint.recv().await;
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

/// What the front end keeps of the events: totals, the hosts with results and no verdict yet,
/// and (with `--save`) each finished host's open ports.
struct Collected {
    save: bool,
    totals: RunTotals,
    unfinished: std::collections::HashSet<IpAddr>,
    saved: Vec<(portwatch_scan::HostSummary, Vec<portwatch_scan::PortResult>)>,
    pending: std::collections::HashMap<IpAddr, Vec<portwatch_scan::PortResult>>,
}

impl Collected {
    fn new(save: bool) -> Self {
        Collected {
            save,
            totals: RunTotals::default(),
            unfinished: std::collections::HashSet::new(),
            saved: Vec::new(),
            pending: std::collections::HashMap::new(),
        }
    }

    /// Feeds every event to `sink` until the engine is done; a streaming sink is told each
    /// time the channel runs dry, so results reach the reader as soon as they are final.
    async fn consume(
        &mut self,
        rx: &mut mpsc::Receiver<ScanEvent>,
        sink: &mut dyn output::Sink,
    ) -> std::io::Result<()> {
        while let Some(event) = rx.recv().await {
            self.event(event, sink)?;
            if rx.is_empty() {
                sink.idle()?;
            }
        }
        Ok(())
    }

    fn event(&mut self, event: ScanEvent, sink: &mut dyn output::Sink) -> std::io::Result<()> {
        match &event {
            ScanEvent::Port(p) => {
                self.unfinished.insert(p.host);
                if self.save
                    && matches!(
                        p.state,
                        portwatch_scan::PortState::Open | portwatch_scan::PortState::OpenFiltered
                    )
                {
                    self.pending.entry(p.host).or_default().push(p.clone());
                }
                sink.port(p)
            }
            ScanEvent::Host(h) => {
                self.unfinished.remove(&h.host);
                if self.save {
                    let ports = self.pending.remove(&h.host).unwrap_or_default();
                    self.saved.push((h.clone(), ports));
                }
                self.totals.add(h);
                sink.host(h)
            }
        }
    }
}
