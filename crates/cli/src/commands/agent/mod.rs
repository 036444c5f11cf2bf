//! `portwatch agent`: scans from where it stands for a server's jobs. It connects out only
//! (no listening port), long-polls for a job of its token's vantage, runs it with the engine of
//! `portwatch run`, renews the claim while scanning, spools the outcome to disk before pushing
//! it, and pushes until the server has answered for it, retrying with backoff and jitter
//! across server restarts and network cuts. Spooled outcomes are pushed first at start.

mod http;
mod spool;

use anyhow::{Result, bail};
use http::{Answer, Server};
use portwatch_monitor::job::JobSpec;
use spool::{Spool, Spooled};
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Arguments of `portwatch agent`.
#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// The server's base URL (http:// or https://), e.g. https://portwatch.example:8080.
    /// Name every replica of the server (repeat the option or separate URLs with commas):
    /// the agent keeps to the one that answers and moves to another when it cannot be reached.
    #[arg(long, value_name = "URL", required = true, value_delimiter = ',')]
    pub server: Vec<String>,
    /// An agent token (`portwatch token create --role agent --vantage NAME`).
    #[arg(
        long,
        env = "PORTWATCH_AGENT_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: String,
    /// Trust only the CA certificates in this PEM file for the server (default: the system's roots).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Where finished results wait until the server has them (default: ./portwatch-agent-spool).
    #[arg(long, value_name = "DIR")]
    pub spool: Option<PathBuf>,
    /// Most results waiting in the spool; when full, no new job is taken until they are delivered.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_spool: u32,
    /// The agent's name in the server's agent list (default: this machine's hostname).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Log format.
    #[arg(long, value_enum, default_value_t = crate::args::LogFormat::Text)]
    pub log_format: crate::args::LogFormat,
}

/// First wait after a failed request.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// Longest wait between tries.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Exponential backoff with jitter: 1 s, 2 s, 4 s … capped at 30 s, each drawn from the upper
/// half of its step so that agents cut off together do not come back together.
#[derive(Debug)]
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new() -> Self {
        Backoff { next: BACKOFF_MIN }
    }

    fn reset(&mut self) {
        self.next = BACKOFF_MIN;
    }

    fn wait(&mut self) -> Duration {
        let step = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        let half = step / 2;
        half + half.mul_f64(jitter())
    }
}

/// A number in [0, 1) that differs between calls and processes.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "agent".to_string())
}

/// Runs the command.
pub fn run(args: AgentArgs) -> Result<u8> {
    super::daemon::init_logging(args.log_format);
    let name = args.name.clone().unwrap_or_else(hostname);
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        bail!("--name must be 1 to 128 printable characters");
    }
    let server = Server::new(&args.server, &args.token, args.ca.as_deref(), &name)?;
    let spool = Spool::open(
        &args
            .spool
            .clone()
            .unwrap_or_else(|| PathBuf::from("portwatch-agent-spool")),
    )?;
    super::runtime()?.block_on(async move {
        let agent = Agent {
            server,
            spool,
            max_spool: args.max_spool as usize,
        };
        agent.run().await
    })
}

struct Agent {
    server: Server,
    spool: Spool,
    max_spool: usize,
}

impl Agent {
    async fn run(&self) -> Result<u8> {
        tracing::info!(servers = %self.server.bases(), name = %self.server.name(), "agent starting");
        let mut backoff = Backoff::new();
        loop {
            self.deliver_spool().await?;
            if self.spool.len() >= self.max_spool {
                tokio::time::sleep(backoff.wait()).await;
                continue;
            }
            match self.server.poll(None).await {
                Answer::Ok(Some(offer)) => {
                    backoff.reset();
                    self.run_job(offer).await?;
                }
                Answer::Ok(None) => backoff.reset(),
                Answer::Refused(message) => bail!("{message}"),
                Answer::Retry(e) => {
                    let wait = backoff.wait();
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "cannot reach the server");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Pushes every spooled outcome until the server has answered for each.
    async fn deliver_spool(&self) -> Result<()> {
        let mut backoff = Backoff::new();
        for (path, item) in self.spool.items()? {
            loop {
                match self.server.push(&item).await {
                    Answer::Ok(status) => {
                        tracing::info!(job = item.id, attempt = item.attempt, status = %status, failed = item.error.is_some(), "job finished and delivered");
                        self.spool.remove(&path);
                        break;
                    }
                    Answer::Refused(message) => bail!("{message}"),
                    Answer::Retry(e) => {
                        let wait = backoff.wait();
                        tracing::warn!(job = item.id, attempt = item.attempt, error = %e, retry_in_ms = wait.as_millis() as u64, "cannot push a result yet; it stays in the spool");
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs one job while renewing its claim; spools its outcome unless the claim was lost.
    async fn run_job(&self, offer: http::Offer) -> Result<()> {
        tracing::info!(
            job = offer.id,
            attempt = offer.attempt,
            lease_ms = offer.lease_ms,
            "job taken; scanning"
        );
        let lost = CancellationToken::new();
        let renewer = {
            let server = self.server.clone();
            let lost = lost.clone();
            let (id, attempt, token) = (offer.id, offer.attempt, offer.token.clone());
            let every = Duration::from_millis((offer.lease_ms.max(300) / 3).unsigned_abs());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    match server.renew(id, attempt, &token).await {
                        Answer::Ok(()) => {}
                        Answer::Refused(message) => {
                            tracing::warn!(job = id, attempt, reason = %message, "claim lost; the job is abandoned");
                            lost.cancel();
                            return;
                        }
                        Answer::Retry(e) => {
                            tracing::warn!(job = id, attempt, error = %e, "cannot renew the claim; still scanning");
                        }
                    }
                    let _ = server.poll(Some(id)).await;
                }
            })
        };
        let started = std::time::Instant::now();
        let outcome = match serde_json::from_value::<JobSpec>(offer.spec.clone()) {
            Err(e) => Err(format!("the job's spec cannot be read by this agent: {e}")),
            Ok(spec) => {
                tokio::select! {
                    r = portwatch_monitor::runner::scan_job(&spec) => r.map_err(|e| e.to_string()),
                    () = lost.cancelled() => {
                        renewer.abort();
                        return Ok(());
                    }
                }
            }
        };
        renewer.abort();
        let item = match outcome {
            Ok(result) => {
                let open: usize = result.hosts.iter().map(|h| h.results.len()).sum();
                tracing::debug!(
                    job = offer.id,
                    attempt = offer.attempt,
                    hosts = result.host_count(),
                    open,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "job scanned"
                );
                Spooled {
                    id: offer.id,
                    attempt: offer.attempt,
                    token: offer.token,
                    result: Some(serde_json::to_value(&result)?),
                    error: None,
                }
            }
            Err(e) => {
                tracing::warn!(job = offer.id, attempt = offer.attempt, error = %e, "job failed");
                Spooled {
                    id: offer.id,
                    attempt: offer.attempt,
                    token: offer.token,
                    result: None,
                    error: Some(e),
                }
            }
        };
        self.spool.put(&item)?;
        Ok(())
    }
}
