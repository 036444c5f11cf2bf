//! `portwatch run` (the daemon) and `portwatch watch` (the one-line monitor): the same engine,
//! configured from a file or from flags, with signals: SIGTERM/SIGINT stop cleanly, SIGHUP
//! reloads the file (a bad new file is rejected and the old one keeps running).

use crate::args::{LogFormat, RunArgs, WatchArgs};
use anyhow::{Context, Result, bail};
use portwatch_kb::Severity;
use portwatch_monitor::alerts::AlertRules;
use portwatch_monitor::config::{self, RawGroup, RawPolicy, Settings};
use portwatch_monitor::daemon::{Daemon, Event};
use portwatch_monitor::notify::{NotifierConfig, NotifierEntry};
use portwatch_web::auth::Role;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// Sets up structured logs on stderr.
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PORTWATCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// The configuration `run` uses without `--config`: this machine's risky ports, every 5 minutes.
pub const DEFAULT_CONFIG: &str = r#"# Built-in default: watch this machine's exposure. Every listening socket is read from the
# socket table when it opens or closes (and every 5 minutes); one bound to an address other
# than loopback on a risky port is a violation, rated with the firewall's verdict.
[[group]]
name = "this-machine"
source = "local"
every = "5m"
[group.policy]
must_be_closed = ["risky"]
"#;

/// Where the dashboard listens by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// `portwatch run`.
pub fn run_daemon(args: RunArgs) -> Result<u8> {
    init_logging(args.log_format);
    let settings = match &args.config {
        Some(path) => config::load(path)?,
        None => config::parse(DEFAULT_CONFIG, Path::new("<built-in default>"))?,
    };
    let database = args.db.database.clone().or(settings.database.clone());
    let listen: std::net::SocketAddr = match (args.listen, &settings.listen) {
        (Some(l), _) => l,
        (None, Some(text)) => text
            .parse()
            .with_context(|| format!("listen = \"{text}\" is not ADDR:PORT"))?,
        (None, None) => DEFAULT_LISTEN.parse()?,
    };
    let config_text = match &args.config {
        Some(path) => std::fs::read_to_string(path).ok(),
        None => Some(DEFAULT_CONFIG.to_string()),
    };
    super::runtime()?.block_on(async move {
        let store = crate::db::open(database.as_deref(), None).await?;
        let mut listener = None;
        if !args.no_web {
            let live = store.tokens().await?.iter().filter(|t| t.revoked_at.is_none()).count();
            portwatch_web::check_listen_safety(listen, live)?;
            // A taken address stops the start, before any scan or token.
            let bound = portwatch_web::bind(listen).await?;
            let url = format!("http://{}/", bound.local_addr().unwrap_or(listen));
            listener = Some(bound);
            if live == 0 {
                let (token, _) =
                    portwatch_web::auth::tokens::create(&store, "first-run", Role::Admin).await?;
                if args.log_format == LogFormat::Json {
                    tracing::warn!(token = %token, url = %url, "no API token existed, so an admin token was created (shown only once)");
                } else {
                    eprintln!(
                        "portwatch: no API token existed, so an admin token was created (shown only once):\n  \
                         {token}\nsign in at {url} with it; more with `portwatch token create`"
                    );
                }
            }
        }
        tracing::info!(database = store.name(), groups = settings.groups.len(), "portwatch starting");
        let daemon = Daemon::new(settings, store.clone()).await?;
        let shutdown = CancellationToken::new();
        spawn_signals(daemon.clone(), args.config.clone(), shutdown.clone())?;
        spawn_event_log(&daemon);
        let web = listener.map(|listener| {
            let state = portwatch_web::AppState::new(store, Some(daemon.clone()), config_text);
            let stop = shutdown.clone();
            tokio::spawn(async move {
                let served = portwatch_web::serve_on(state, listener, stop.clone()).await;
                // The dashboard is part of the service: without it, stop rather than run blind.
                stop.cancel();
                served
            })
        });
        daemon.run(shutdown.clone()).await;
        if let Some(web) = web {
            match web.await {
                Ok(Err(e)) => return Err(e.into()),
                Err(e) => return Err(anyhow::anyhow!("web server stopped: {e}")),
                Ok(Ok(())) => {}
            }
        }
        tracing::info!("portwatch stopped");
        Ok(crate::exit::OK)
    })
}

fn spawn_signals(
    daemon: Arc<Daemon>,
    config: Option<PathBuf>,
    shutdown: CancellationToken,
) -> Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => { tracing::info!("SIGTERM: stopping"); shutdown.cancel(); return; }
                _ = int.recv() => { tracing::info!("SIGINT: stopping"); shutdown.cancel(); return; }
                _ = hup.recv() => {
                    let Some(path) = &config else {
                        tracing::warn!("SIGHUP: no --config file to reload");
                        continue;
                    };
                    match config::load(path) {
                        Ok(new) => match daemon.reload(new).await {
                            Ok(()) => tracing::info!(config = %path.display(), "SIGHUP: configuration reloaded"),
                            Err(e) => tracing::error!(error = %e, "SIGHUP: new configuration rejected; the old one keeps running"),
                        },
                        Err(e) => tracing::error!(error = %e, "SIGHUP: new configuration rejected; the old one keeps running"),
                    }
                }
            }
        }
    });
    Ok(())
}

fn spawn_event_log(daemon: &Arc<Daemon>) {
    let mut events = daemon.subscribe();
    tokio::spawn(async move {
        while let Ok(e) = events.recv().await {
            match e {
                Event::Scanned {
                    group,
                    scan,
                    confirmation,
                    hosts,
                    violations,
                    elapsed_s,
                } => tracing::info!(
                    group,
                    scan,
                    confirmation,
                    hosts = hosts.0,
                    up = hosts.1,
                    violations,
                    elapsed_s,
                    "scan recorded"
                ),
                Event::ScanFailed { group, error } => tracing::error!(group, error, "scan failed"),
                Event::Queued(a) => {
                    tracing::warn!(alert = %a.title(), key = %a.key, "alert queued")
                }
                Event::Delivered {
                    channel,
                    title,
                    status,
                } => tracing::info!(channel, alert = %title, status, "alert delivered"),
                Event::DeliveryFailed {
                    channel,
                    title,
                    error,
                } => {
                    tracing::warn!(channel, alert = %title, error, "delivery failed; will retry")
                }
            }
        }
    });
}

/// `portwatch watch`: one group from flags, printing state changes as they happen.
pub fn run_watch(args: WatchArgs) -> Result<u8> {
    let origin = Path::new("<command line>");
    if args.must_be_closed.is_none() && args.allowed_open.is_none() && args.expected_open.is_none()
    {
        bail!("give a policy: --must-be-closed, --allowed-open and/or --expected-open");
    }
    let one = |v: &Option<String>| v.iter().cloned().collect::<Vec<_>>();
    let group = config::group_from_raw(
        RawGroup {
            name: "watch".into(),
            targets: args.targets.clone(),
            exclude: args.exclude.clone(),
            ports: args.ports.clone(),
            every: Some(args.every.clone()),
            policy: Some(RawPolicy {
                must_be_closed: one(&args.must_be_closed),
                allowed_open: args.allowed_open.as_ref().map(|a| vec![a.clone()]),
                expected_open: one(&args.expected_open),
                severity: args.severity.clone(),
            }),
            ..Default::default()
        },
        origin,
    )?;
    let mut notifiers = Vec::new();
    for (i, spec) in args.notify.iter().enumerate() {
        let config = NotifierConfig::from_cli(spec).with_context(|| format!("--notify {spec}"))?;
        let kind = spec.split('=').next().unwrap_or("notify");
        notifiers.push(NotifierEntry {
            name: format!("{kind}-{}", i + 1),
            config,
        });
    }
    let defaults = AlertRules::default();
    let dur = |t: &Option<String>, d: Duration| -> Result<Duration> {
        Ok(match t {
            Some(t) => portwatch_monitor::duration::parse(t).map_err(anyhow::Error::msg)?,
            None => d,
        })
    };
    let remind = dur(
        &args.remind_every,
        defaults.remind_every.unwrap_or_default(),
    )?;
    let settings = Settings {
        path: origin.to_path_buf(),
        database: None,
        listen: None,
        keep: None,
        groups: vec![group],
        alerts: AlertRules {
            confirmations: args.confirmations.unwrap_or(defaults.confirmations).max(1),
            confirm_after: dur(&args.confirm_after, defaults.confirm_after)?,
            remind_every: (!remind.is_zero()).then_some(remind),
            send_resolved: true,
        },
        max_concurrent_scans: 1,
        notifiers,
    };
    init_logging(args.log_format);
    super::runtime()?.block_on(async move {
        let store = crate::db::open(args.db.url(), None).await?;
        let daemon = Daemon::new(settings, store).await?;
        let shutdown = CancellationToken::new();
        spawn_signals(daemon.clone(), None, shutdown.clone())?;
        let mut events = daemon.subscribe();
        let printer = tokio::spawn(async move {
            while let Ok(e) = events.recv().await {
                print_event(&e);
            }
        });
        daemon.run(shutdown).await;
        printer.abort();
        Ok(crate::exit::OK)
    })
}

fn print_event(e: &Event) {
    let now = super::history::when(portwatch_monitor::daemon::now_ms());
    let line = match e {
        Event::Scanned {
            scan,
            confirmation,
            hosts,
            violations,
            elapsed_s,
            ..
        } => format!(
            "{now} {} #{scan}: {} host{} ({} up), {violations} violation{} ({elapsed_s:.2} s)",
            if *confirmation {
                "confirmation"
            } else {
                "scan"
            },
            hosts.0,
            if hosts.0 == 1 { "" } else { "s" },
            hosts.1,
            if *violations == 1 { "" } else { "s" },
        ),
        Event::ScanFailed { error, .. } => format!("{now} scan failed: {error}"),
        Event::Queued(a) => {
            let sev = if a.kind == portwatch_monitor::notify::AlertKind::Resolved {
                String::new()
            } else {
                format!(" [{}]", a.severity.to_string().to_uppercase())
            };
            let mut s = format!("{now} {}{sev}", a.title());
            if let Some(answered) = &a.answered {
                s.push_str(&format!("\n    answered: {answered}"));
            }
            s
        }
        Event::Delivered {
            channel, status, ..
        } => format!("{now} delivered to {channel}: {status}"),
        Event::DeliveryFailed { channel, error, .. } => {
            format!("{now} delivery to {channel} failed (will retry): {error}")
        }
    };
    println!("{line}");
}

/// `portwatch notify test`: one test message through every configured notifier.
pub fn run_notify_test(config_path: &Path) -> Result<u8> {
    let settings = config::load(config_path)?;
    if settings.notifiers.is_empty() {
        bail!("{}: no [[notify]] entries", config_path.display());
    }
    super::runtime()?.block_on(async move {
        let now = portwatch_monitor::daemon::now_ms();
        let alert = portwatch_monitor::notify::Alert {
            key: format!("test|{now}"),
            kind: portwatch_monitor::notify::AlertKind::Test,
            group: "test".into(),
            host: "127.0.0.1".parse()?,
            hostname: None,
            port: Some(445),
            proto: Some(portwatch_scan::Proto::Tcp),
            rule: "must be closed".into(),
            severity: Severity::Low,
            state: None,
            service: Some("microsoft-ds".into()),
            answered: None,
            details: serde_json::Value::Null,
            since_ms: now,
            at_ms: now,
            explain: Some("A test message: nothing changed.".into()),
            fix: vec![],
            fix_platform: None,
        };
        let mut failed = 0;
        for entry in &settings.notifiers {
            let notifier = portwatch_monitor::notify::build(&entry.name, &entry.config)?;
            match notifier.send(&alert).await {
                Ok(d) => println!("{}: ok ({})", entry.name, d.status),
                Err(e) => {
                    failed += 1;
                    println!("{}: FAILED ({e})", entry.name);
                }
            }
        }
        Ok(if failed == 0 {
            crate::exit::OK
        } else {
            crate::exit::FINDINGS
        })
    })
}
