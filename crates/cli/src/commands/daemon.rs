//! `portwatch run` (the daemon) and `portwatch watch` (the one-line monitor): the same engine,
//! configured from a file or from flags, with signals: SIGTERM/SIGINT stop cleanly, SIGHUP
//! reloads the file without interrupting scans in progress, and the HTTPS certificate (a bad
//! new file or certificate is rejected and the old one keeps running; `database` and `listen`
//! changes wait for a restart, with a warning naming them).

use crate::args::{LogFormat, RunArgs, WatchArgs};
use anyhow::{Context, Result, bail};
use portwatch_kb::Severity;
use portwatch_monitor::alerts::AlertRules;
use portwatch_monitor::config::{self, RawGroup, Settings};
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
        .with_writer(std::io::stderr)
        // Colours for a person at a terminal; a journal, a file or a pipe gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
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
    let agent_stale_after = settings.cluster.agent_stale_after;
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
    let network = portwatch_web::client::Network {
        tls: args.tls_cert.is_some(),
        trusted_proxies: args.trusted_proxy.clone(),
    };
    let certificates = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) if !args.no_web => {
            Some(portwatch_web::tls::Certificates::load(cert, key)?)
        }
        _ => None,
    };
    super::runtime()?.block_on(async move {
        let store = crate::db::open(database.as_deref(), None).await?;
        let mut listener = None;
        if !args.no_web {
            let live = store
                .tokens()
                .await?
                .iter()
                .filter(|t| t.revoked_at.is_none())
                .count();
            portwatch_web::check_listen_safety(listen, live, &network, args.insecure_http)?;
            // A taken address stops the start, before any scan or token.
            let bound = portwatch_web::bind(listen).await?;
            let scheme = if network.tls { "https" } else { "http" };
            let url = format!("{scheme}://{}/", bound.local_addr().unwrap_or(listen));
            listener = Some(bound);
            if live == 0 {
                first_run_token(&store, database.as_deref(), &url).await?;
            }
        }
        tracing::info!(
            database = store.name(),
            groups = settings.groups.len(),
            "portwatch starting"
        );
        let daemon = Daemon::new(settings, store.clone()).await?;
        // This replica's own claims of `local` shards last as long as an agent's.
        daemon.set_shard_lease(args.agent_lease);
        let shutdown = CancellationToken::new();
        spawn_signals(daemon.clone(), args.config.clone(), shutdown.clone())?;
        spawn_event_log(&daemon);
        let web = listener.map(|listener| {
            let state = portwatch_web::AppState::with_network(
                store,
                Some(daemon.clone()),
                config_text,
                network,
            );
            state.set_agent_lease(args.agent_lease);
            // A live agent must be heard from well within `agent_stale_after`.
            state.set_agent_poll_wait(
                portwatch_web::state::AGENT_POLL_WAIT.min(agent_stale_after / 3),
            );
            let stop = shutdown.clone();
            if let Some(c) = &certificates {
                let _ = SERVED_CERTIFICATES.set(c.clone());
            }
            tokio::spawn(async move {
                let served = match certificates {
                    Some(c) => portwatch_web::serve_tls_on(state, listener, c, stop.clone()).await,
                    None => portwatch_web::serve_on(state, listener, stop.clone()).await,
                };
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

/// The name of the file the first-run admin token is written to.
pub const FIRST_RUN_TOKEN_FILE: &str = "first-run-admin-token";

/// Creates the first admin token and writes it to a file only this user can read (never to
/// the logs, which may be collected); the logs name the file. An interactive terminal also
/// gets the token itself.
async fn first_run_token(
    store: &portwatch_store::Store,
    database: Option<&str>,
    url: &str,
) -> Result<()> {
    let path = secrets_dir(database)?.join(FIRST_RUN_TOKEN_FILE);
    let (token, id) = portwatch_web::auth::tokens::create(store, "first-run", Role::Admin).await?;
    if let Err(e) = write_secret_file(&path, &token) {
        // Nobody could ever learn this token: do not leave it live.
        let _ = store.revoke_token(id).await;
        return Err(e);
    }
    tracing::warn!(
        file = %path.display(),
        url,
        "no API token existed, so an admin token was created; it is in the file (readable by this user only)"
    );
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprintln!(
            "portwatch: the new admin token (also in {}):\n  {token}\nsign in at {url} with it; \
             more with `portwatch token create`",
            path.display()
        );
    }
    Ok(())
}

/// Where secrets portwatch makes are kept: systemd's `StateDirectory` ($STATE_DIRECTORY), else
/// the directory of the SQLite database, else that of the default database.
fn secrets_dir(database: Option<&str>) -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("STATE_DIRECTORY").filter(|d| !d.is_empty()) {
        // systemd lists several directories separated by colons when several are configured.
        let first = dir
            .to_string_lossy()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_string();
        return Ok(PathBuf::from(first));
    }
    let sqlite_dir = |url: &str| {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))?;
        let path = Path::new(path.split('?').next()?);
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
    };
    if let Some(dir) = database.and_then(sqlite_dir) {
        return Ok(dir);
    }
    let default = portwatch_store::Store::default_url()?;
    let dir = sqlite_dir(&default).context("the default database has no directory")?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Writes `secret` to a new file at `path` with mode 0600 (an old file there is replaced, never
/// followed if it is a link).
fn write_secret_file(path: &Path, secret: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let context = || format!("cannot write the first-run token to {}", path.display());
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e).with_context(context),
        _ => {}
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(context)?;
    file.write_all(format!("{secret}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(context)
}

/// The certificates being served over HTTPS, for [`reload_tls`].
static SERVED_CERTIFICATES: std::sync::OnceLock<Arc<portwatch_web::tls::Certificates>> =
    std::sync::OnceLock::new();

/// Reads the HTTPS certificate and key files again (on SIGHUP); a bad new pair is rejected
/// and the old one keeps serving.
pub fn reload_tls() {
    let Some(certificates) = SERVED_CERTIFICATES.get() else {
        return;
    };
    match certificates.reload() {
        Ok(()) => {
            tracing::info!(cert = %certificates.cert_path().display(), "SIGHUP: TLS certificate reloaded");
        }
        Err(e) => {
            tracing::error!(error = %e, "SIGHUP: new TLS certificate rejected; the old one keeps serving");
        }
    }
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
                    reload_tls();
                    let Some(path) = &config else {
                        tracing::warn!("SIGHUP: no --config file to reload");
                        continue;
                    };
                    let loaded = std::fs::read_to_string(path)
                        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
                        .and_then(|text| Ok((config::parse(&text, path)?, text)));
                    let applied = match loaded {
                        Ok((new, text)) => daemon.reload(new, Some(text)).await.map_err(anyhow::Error::from),
                        Err(e) => Err(e),
                    };
                    match applied {
                        Ok(report) => {
                            tracing::info!(config = %path.display(), "SIGHUP: configuration reloaded; scans in progress go on");
                            for key in report.needs_restart {
                                tracing::warn!(key, "SIGHUP: `{key}` changed in the file; it takes effect only at the next restart (the old value stays in force)");
                            }
                        }
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
                    vantage,
                    scan,
                    confirmation,
                    hosts,
                    violations,
                    elapsed_s,
                } => tracing::info!(
                    group,
                    vantage,
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
                    tracing::warn!(alert = %a.title(), key = %a.key, "alert queued");
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
                    tracing::warn!(channel, alert = %title, error, "delivery failed; will retry");
                }
                Event::Leadership { leader, token } => {
                    tracing::info!(leader, token, "scheduler leadership changed");
                }
            }
        }
    });
}

/// `portwatch watch`: one group from flags, printing state changes as they happen.
pub fn run_watch(args: WatchArgs) -> Result<u8> {
    let origin = Path::new("<command line>");
    let raw = args
        .policy
        .raw_group("watch", &args.targets, args.severity.clone())?;
    let group = config::group_from_raw(
        RawGroup {
            every: Some(args.every.clone()),
            ..raw
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
            resolve_in_window: defaults.resolve_in_window,
        },
        max_concurrent_scans: 1,
        notifiers,
        // A lease of its own: a `watch` schedules beside a `run` on the same database.
        cluster: portwatch_monitor::config::Cluster {
            lease_name: format!("watch/{}", std::process::id()),
            ..Default::default()
        },
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
        Event::Leadership { leader: true, .. } => format!("{now} scheduling here"),
        Event::Leadership { leader: false, .. } => format!("{now} scheduling stopped here"),
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
            vantage: "local".into(),
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
