//! Command-line grammar (clap). nmap spellings users type by habit (`-iL`, `-Pn`, `-sU`,
//! `-sT`, `-sS`, `--top-ports`) are accepted as aliases.

use clap::{Args, Parser, Subcommand, ValueEnum};
use portwatch_monitor::config::{RawGroup, RawPolicy};
use std::ffi::OsString;
use std::path::PathBuf;

/// Rewrites nmap-style multi-letter short options into their long forms before clap sees them,
/// and refuses the nmap options portwatch has no equivalent for with a hint naming what to
/// use instead (the error is the message to print).
pub fn normalize(args: impl IntoIterator<Item = OsString>) -> Result<Vec<OsString>, String> {
    let mut out = Vec::new();
    for a in args {
        let Some(text) = a.to_str() else {
            out.push(a);
            continue;
        };
        let mapped: &[&str] = match text {
            "-iL" => &["--input-list"],
            "-Pn" => &["--assume-up"],
            "-sU" => &["--udp"],
            "-sT" => &["--tcp", "--connect"],
            "-sn" => &["--discover-only"],
            "-oX" => &["--format=xml", "--output"],
            "-oN" => &["--format=table", "--output"],
            "-oG" => {
                return Err("nmap's grepable output (-oG) is not supported: use -oX FILE.xml,                             -o FILE.csv or -o FILE.jsonl"
                    .into());
            }
            "-oA" => {
                return Err("-oA (all formats at once) is not supported: pick one, e.g.                             -o BASE.xml (nmap XML) or -o BASE.jsonl"
                    .into());
            }
            "-sS" => &["--syn"],
            "-sV" => {
                return Err("-sV is not needed: services are identified by default                             (--no-probes turns it off); leave -sV out"
                    .into());
            }
            t if t.len() == 3 && t.starts_with("-T") && t.as_bytes()[2].is_ascii_digit() => {
                return Err(format!(
                    "nmap timing templates ({t}) are not supported: set --rate N, \
                     --max-parallel N or --max-rtt-timeout DURATION instead"
                ));
            }
            _ => {
                out.push(a);
                continue;
            }
        };
        out.extend(mapped.iter().map(OsString::from));
    }
    Ok(out)
}

/// Examples shown at the end of `scan --help`.
const SCAN_EXAMPLES: &str = "\
Examples:
  portwatch scan 10.0.0.0/24 -p 22,80,443           # a network, some ports
  portwatch scan fileserver -p T:139,445,U:137,138  # NetBIOS names, SMB dialects, signing
  portwatch scan 127.0.0.1 -p-                      # all 65,535 ports
  portwatch scan 127.0.0.1 --udp                    # the 100 most common UDP ports
  portwatch scan -iL hosts.txt --top 100 --format jsonl
  portwatch scan 10.0.1-3.* --exclude 10.0.2.1 --all -o scan.xml   # format from the name
  portwatch scan 192.168.1.0/24 --discover-only     # which hosts are up, and why (nmap -sn)";

/// The help of `watch --confirm-after`, from the alert rules' real default.
fn confirm_after_help() -> String {
    let d = portwatch_monitor::alerts::AlertRules::default().confirm_after;
    format!(
        "Delay before a confirmation re-probe (default {})",
        humantime_ms(d)
    )
}

fn humantime_ms(d: std::time::Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// portwatch: find open ports, explain their risk, and keep the dangerous ones closed.
#[derive(Debug, Parser)]
#[command(name = "portwatch", version, about, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan hosts for open TCP (and UDP) ports, like nmap -sT, faster.
    #[command(after_help = SCAN_EXAMPLES)]
    Scan(ScanArgs),
    /// What a port is, its history, its risk from the LAN and from the internet.
    Explain(ExplainArgs),
    /// The commands that close a port on a platform (printed, never run).
    Fix(FixArgs),
    /// Scan once and judge against a policy: exit 0 compliant, 1 violations, 2 errors.
    Check(CheckArgs),
    /// Write a commented example configuration.
    Init(InitArgs),
    /// Work with configuration files.
    Config(ConfigArgs),
    /// What changed between two scans (files, stored scans, or a host's last two): exit 1 if anything.
    Diff(DiffArgs),
    /// The timeline of a host's ports: when each opened, closed, and what answered.
    History(HistoryArgs),
    /// Every host the store knows, with last-seen and open-port counts.
    Hosts(HostsArgs),
    /// Write the whole history as JSON lines.
    Export(ExportArgs),
    /// Load a history written by `export` into an empty database.
    Import(ImportArgs),
    /// Delete closed history older than a duration (current state is kept).
    Prune(PruneArgs),
    /// Watch hosts and alert when a port that must be closed opens, and when it closes again.
    Watch(WatchArgs),
    /// The daemon: scheduled scans, history, alerts (the main job).
    Run(RunArgs),
    /// Notifier tools.
    Notify(NotifyArgs),
    /// API and dashboard tokens.
    Token(TokenArgs),
    /// Run an agent: scan from where it stands for a server's jobs (connects out only).
    Agent(crate::commands::agent::AgentArgs),
    /// This machine's listening sockets: process, exposure, risk, firewall verdict (like ss -tulpn).
    Local(crate::commands::local::LocalArgs),
}

/// Output formats of `scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScanFormat {
    /// A table per host, for people.
    Table,
    /// One JSON object per port result, streamed as found.
    Jsonl,
    /// One JSON document at the end.
    Json,
    /// Comma-separated values with a header, streamed.
    Csv,
    /// nmap-compatible XML (readable by ndiff and nmap XML tools).
    Xml,
}

/// Output formats of commands that print a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextOrJson {
    /// For people.
    Text,
    /// For programs.
    Json,
}

/// How many addresses of a hostname to scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResolveArg {
    /// The first address (IPv4 preferred).
    First,
    /// Every address.
    All,
}

/// Arguments of `portwatch scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Targets: addresses, CIDR (10.0.0.0/24), ranges (10.0.0.1-20, 10.0.1-3.*), hostnames.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,

    /// Read targets from FILE (one or more per line, # comments; - for stdin). Alias: -iL.
    #[arg(long = "input-list", value_name = "FILE")]
    pub input_list: Option<PathBuf>,

    /// Targets to leave out (comma-separated, same forms as targets).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub exclude: Vec<String>,

    /// Read targets to leave out from FILE.
    #[arg(long, value_name = "FILE")]
    pub exclude_file: Option<PathBuf>,

    /// Ports: 22 | 1-1024 | - (all) | T:139,445,U:137,138 | names (smb, netbios-ssn).
    #[arg(
        short = 'p',
        long = "ports",
        value_name = "SPEC",
        allow_hyphen_values = true
    )]
    pub ports: Option<String>,

    /// The N most common ports of each transport scanned (default when -p is absent: 1000 TCP,
    /// 100 UDP; the UDP table has 250). Alias: --top-ports.
    #[arg(long, alias = "top-ports", value_name = "N", conflicts_with = "ports")]
    pub top: Option<usize>,

    /// Scan UDP (unprefixed ports and --top apply to UDP). Alias: -sU.
    #[arg(long)]
    pub udp: bool,

    /// Scan TCP too when --udp is given (TCP is the default otherwise). Alias: -sT.
    #[arg(long)]
    pub tcp: bool,

    /// Probe every target's TCP ports with half-open SYNs from a raw socket, this machine's
    /// own addresses too (needs root or CAP_NET_RAW). Without --syn or --connect, other
    /// machines get SYNs when that privilege is there and connects otherwise; loopback and
    /// this machine's own addresses always get connects. Open ports are still identified by
    /// connects. Alias: -sS.
    #[arg(long, conflicts_with = "connect")]
    pub syn: bool,

    /// Probe every target's TCP ports with full connects, even where SYN probes are possible.
    #[arg(long)]
    pub connect: bool,

    /// Output format (default: from the -o file's extension, .xml .json .jsonl .csv .txt,
    /// else table). nmap's -oX FILE and -oN FILE work too.
    #[arg(long, short = 'f', value_enum)]
    pub format: Option<ScanFormat>,

    /// Write the output to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Show closed and filtered ports too (default: open and open|filtered only).
    #[arg(long)]
    pub all: bool,

    /// Scan every address a hostname has, or only the first.
    #[arg(long, value_enum, default_value_t = ResolveArg::First)]
    pub resolve: ResolveArg,

    /// DNS servers to resolve hostnames with (ADDR or ADDR:PORT, comma-separated).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub dns_servers: Vec<String>,

    /// Allow scanning more than a /16 (65,536 addresses).
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Never call a host down; probe every port even if nothing answers. Alias: -Pn.
    #[arg(long)]
    pub assume_up: bool,

    /// Only list the hosts that are up and why (arp-response, nd-response, echo-reply,
    /// timestamp-reply, syn-ack, reset; MAC, and its vendor from /usr/share/ieee-data if
    /// installed, when ARP or ND answered); no port scan. As root:
    /// ARP on directly connected subnets, IPv6 neighbour solicitation in directly connected
    /// prefixes, else ICMP echo and timestamp, TCP SYN to 443 and ACK to 80;
    /// without privilege: connects to 80 and 443. Alias: -sn.
    #[arg(long, conflicts_with_all = ["ports", "top", "udp", "assume_up"])]
    pub discover_only: bool,

    /// Retries of a silent port before it is filtered (more are used when loss is seen).
    #[arg(long, value_name = "N")]
    pub retries: Option<u8>,

    /// Upper bound for adaptive retries.
    #[arg(long, value_name = "N")]
    pub max_retries: Option<u8>,

    /// Lower bound of the adaptive probe timeout (e.g. 100ms).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub min_rtt_timeout: Option<std::time::Duration>,

    /// Upper bound of the adaptive probe timeout (e.g. 10s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub max_rtt_timeout: Option<std::time::Duration>,

    /// Timeout before a host's round-trip time is known (e.g. 1s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub initial_rtt_timeout: Option<std::time::Duration>,

    /// At most N probes awaiting an answer at once, also per SYN-probed host (default: what
    /// the file limit allows, and 512 per SYN-probed host).
    #[arg(long, value_name = "N")]
    pub max_parallel: Option<usize>,

    /// At most N probes started per second, evenly spaced (bursts of at most 1% of N).
    #[arg(long, value_name = "N")]
    pub rate: Option<u32>,

    /// Hosts scanned at the same time.
    #[arg(long, value_name = "N")]
    pub host_group: Option<usize>,

    /// Only find open ports: skip identification (NetBIOS, SMB, banners, UDP answer details).
    #[arg(long)]
    pub no_probes: bool,

    /// Probe ports in ascending order (default: common ports first, then shuffled).
    #[arg(long)]
    pub sequential: bool,

    /// No progress bar, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,

    /// Record the scan in the store (history, hosts, diff).
    #[arg(long)]
    pub save: bool,

    /// Where history is kept.
    #[command(flatten)]
    pub db: DatabaseArg,
}

impl ScanArgs {
    /// The output format: `--format`, else inferred from the `-o` file's extension, else table.
    pub fn format(&self) -> ScanFormat {
        self.format
            .or_else(|| self.output.as_deref().and_then(format_from_extension))
            .unwrap_or(ScanFormat::Table)
    }

    /// What a listing for people shows: everything under `--all`.
    pub fn shown(&self) -> crate::output::Shown {
        if self.all {
            crate::output::Shown::Everything
        } else {
            crate::output::Shown::Answering
        }
    }
}

/// The scan format a file name asks for (`.xml`, `.json`, `.jsonl`, `.csv`, `.txt`).
pub fn format_from_extension(path: &std::path::Path) -> Option<ScanFormat> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "xml" => ScanFormat::Xml,
        "json" => ScanFormat::Json,
        "jsonl" | "ndjson" => ScanFormat::Jsonl,
        "csv" => ScanFormat::Csv,
        "txt" => ScanFormat::Table,
        _ => return None,
    })
}

/// Arguments of `portwatch explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A port (445), a port and transport (445/tcp) or a service name (smb, netbios-ssn).
    #[arg(value_name = "PORT|NAME")]
    pub subject: String,
    /// Output: text for people, json for programs (an object for a port, an array for a name).
    #[arg(long, short = 'f', value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

/// Arguments of `portwatch fix`.
#[derive(Debug, Args)]
pub struct FixArgs {
    /// A port (139), a port and transport (137/udp) or a service name.
    #[arg(value_name = "PORT|NAME")]
    pub port: String,
    /// ufw, firewalld, nftables, iptables, windows, macos or samba.
    #[arg(long, short = 'P', value_name = "PLATFORM")]
    pub platform: String,
    /// Keep the port open to this trusted network only (CIDR).
    #[arg(long, value_name = "CIDR", value_parser = parse_cidr)]
    pub source: Option<ipnet::IpNet>,
    /// Transport when the port is given without one (default: the page's, or both).
    #[arg(long, value_name = "tcp|udp")]
    pub proto: Option<String>,
    /// Output: text for people, json for programs.
    #[arg(long, short = 'f', value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
}

/// Report formats of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// For people.
    Table,
    /// For programs.
    Json,
    /// JUnit XML for CI systems.
    Junit,
}

/// The policy flags `check` and `watch` share: a one-group policy's rules given on the
/// command line, and what to scan besides its ports. (`watch` words the rules' help its own
/// way, see [`WatchArgs`].)
#[derive(Debug, Args)]
pub struct PolicyFlags {
    /// Ports that must be closed, e.g. T:137-139,445,U:137,138 or risky.
    #[arg(long, value_name = "PORTS", allow_hyphen_values = true)]
    pub must_be_closed: Option<String>,
    /// Ports allowed open; anything else open is a violation (the top 1000 TCP ports are scanned).
    #[arg(long, value_name = "PORTS", allow_hyphen_values = true)]
    pub allowed_open: Option<String>,
    /// Ports that must be open.
    #[arg(long, value_name = "PORTS", allow_hyphen_values = true)]
    pub expected_open: Option<String>,
    /// More ports to scan besides the policy's.
    #[arg(
        short = 'p',
        long = "ports",
        value_name = "SPEC",
        allow_hyphen_values = true
    )]
    pub ports: Option<String>,
    /// Targets to leave out.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub exclude: Vec<String>,
}

impl PolicyFlags {
    /// The one group these flags describe, named `name`, over `targets`, its violations of
    /// `severity`; an error when no rule was given.
    pub fn raw_group(
        &self,
        name: &str,
        targets: &[String],
        severity: Option<String>,
    ) -> anyhow::Result<RawGroup> {
        if self.must_be_closed.is_none()
            && self.allowed_open.is_none()
            && self.expected_open.is_none()
        {
            anyhow::bail!("give a policy: --must-be-closed, --allowed-open and/or --expected-open");
        }
        let one = |v: &Option<String>| v.iter().cloned().collect::<Vec<_>>();
        Ok(RawGroup {
            name: name.into(),
            targets: targets.to_vec(),
            exclude: self.exclude.clone(),
            ports: self.ports.clone(),
            policy: Some(RawPolicy {
                must_be_closed: one(&self.must_be_closed),
                allowed_open: self.allowed_open.as_ref().map(|a| vec![a.clone()]),
                expected_open: one(&self.expected_open),
                severity,
                ..Default::default()
            }),
            ..Default::default()
        })
    }
}

/// Arguments of `portwatch check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Targets for a policy given with flags (instead of --config).
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Policy file (see `portwatch init`).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Check only these groups of the file.
    #[arg(long, value_name = "NAME")]
    pub group: Vec<String>,
    /// The policy's rules and what to scan.
    #[command(flatten)]
    pub policy: PolicyFlags,
    /// Severity of violations (default: the knowledge base's, for where each host is).
    #[arg(long, value_name = "SEVERITY")]
    pub severity: Option<String>,
    /// Report format.
    #[arg(long, short = 'f', value_enum, default_value_t = CheckFormat::Table)]
    pub format: CheckFormat,
    /// Write the report to FILE.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Accept hosts that answer nothing (down, unreachable, filtered): report them as not
    /// verified but do not fail with exit 2 because of them.
    #[arg(long)]
    pub allow_down: bool,
    /// Do not record the scans in the store.
    #[arg(long)]
    pub no_save: bool,
    /// Where history is kept.
    #[command(flatten)]
    pub db: DatabaseArg,
}

/// Arguments of `portwatch diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The earlier scan: a file (portwatch jsonl, nmap XML) or a stored scan id.
    pub before: Option<String>,
    /// The later scan.
    pub after: Option<String>,
    /// Compare the last two stored scans of this host instead.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
    /// Where history is kept.
    #[command(flatten)]
    pub db: DatabaseArg,
}

/// Arguments of `portwatch history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// HOST, HOST:PORT or HOST:PORT/udp.
    #[arg(value_name = "HOST[:PORT]")]
    pub subject: String,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
    /// Where history is kept.
    #[command(flatten)]
    pub db: DatabaseArg,
}

/// Arguments of `portwatch hosts`.
#[derive(Debug, Args)]
pub struct HostsArgs {
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = TextOrJson::Text)]
    pub format: TextOrJson,
    /// Where history is kept.
    #[command(flatten)]
    pub db: DatabaseArg,
}

/// Arguments of `portwatch export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Where history is kept.
    #[command(flatten)]
    pub db: DatabaseArg,
}

/// Arguments of `portwatch import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A file written by `portwatch export` (- for standard input).
    pub file: PathBuf,
    /// Where history is kept.
    #[command(flatten)]
    pub db: DatabaseArg,
}

/// Arguments of `portwatch prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Keep this much closed history, e.g. 400d.
    #[arg(long, value_name = "DURATION")]
    pub keep: Option<String>,
    /// Where history is kept.
    #[command(flatten)]
    pub db: DatabaseArg,
}

/// The database option of every command that touches the store.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArg {
    /// Database: sqlite://PATH or postgres://… (default: the config's, then SQLite under your
    /// data directory).
    #[arg(long, env = "PORTWATCH_DATABASE", value_name = "URL", global = true)]
    pub database: Option<String>,
}

impl DatabaseArg {
    /// The URL given, if any.
    pub fn url(&self) -> Option<&str> {
        self.database.as_deref()
    }
}

/// Log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    Text,
    /// JSON objects for log collectors.
    Json,
}

/// Arguments of `portwatch run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Configuration file (default: watch this machine's risky ports every 5 minutes).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where history is kept.
    #[command(flatten)]
    pub db: DatabaseArg,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Dashboard and API address (default: the config's `listen`, then 127.0.0.1:8080).
    #[arg(long, env = "PORTWATCH_LISTEN", value_name = "ADDR:PORT")]
    pub listen: Option<std::net::SocketAddr>,
    /// Do not serve the dashboard and API.
    #[arg(long)]
    pub no_web: bool,
    /// Serve HTTPS with this certificate chain (PEM, leaf first); reloaded on SIGHUP.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// A TLS reverse proxy in front (address or CIDR, repeatable): its X-Forwarded-For and
    /// X-Forwarded-Proto are believed, from it only.
    #[arg(long, value_name = "CIDR", value_parser = parse_cidr)]
    pub trusted_proxy: Vec<ipnet::IpNet>,
    /// Allow plain HTTP on a non-loopback address without a trusted proxy (tokens and
    /// cookies then cross the network in clear).
    #[arg(long)]
    pub insecure_http: bool,
    /// How long an agent's claim of a job lasts unless renewed (the agent renews it while it
    /// scans; a job whose agent went silent this long goes to another agent).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_lease)]
    pub agent_lease: std::time::Duration,
}

/// Arguments of `portwatch token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: TokenCommand,
    /// Where history is kept.
    #[command(flatten)]
    pub db: DatabaseArg,
}

/// `portwatch token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; it is printed once and stored hashed.
    Create {
        /// viewer (read), admin (read and act) or agent (the agent endpoints only; needs --vantage).
        #[arg(long, default_value = "viewer")]
        role: String,
        /// For an agent token: the vantage its agent scans from (e.g. lan, internet, dmz).
        #[arg(long, value_name = "NAME")]
        vantage: Option<String>,
        /// A name to recognise it by.
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// List tokens (never their values).
    List,
    /// Revoke a token by id.
    Revoke {
        /// The id `token list` shows.
        id: i64,
    },
}

/// Arguments of `portwatch watch`.
#[derive(Debug, Args)]
// A watch's rules hold over time: their help says "stay" where `check`'s says "be".
#[command(
    mut_arg("must_be_closed", |a| a.help(
        "Ports that must stay closed, e.g. T:137-139,445,U:137,138 or risky"
    )),
    mut_arg("allowed_open", |a| a.help("Ports allowed open; anything else open alerts")),
    mut_arg("expected_open", |a| a.help("Ports that must stay open")),
)]
pub struct WatchArgs {
    /// Hosts to watch.
    #[arg(value_name = "TARGET", required = true)]
    pub targets: Vec<String>,
    /// The policy's rules and what to scan.
    #[command(flatten)]
    pub policy: PolicyFlags,
    /// How often to scan.
    #[arg(long, default_value = "1m", value_name = "DURATION")]
    pub every: String,
    /// Where alerts go: webhook=URL, slack=URL, discord=URL, teams=URL, ntfy=URL,
    /// pagerduty=KEY, telegram=…, email=ADDRESS (repeatable).
    #[arg(long, value_name = "KIND=VALUE")]
    pub notify: Vec<String>,
    /// Severity of violations.
    #[arg(long, value_name = "SEVERITY")]
    pub severity: Option<String>,
    /// Observations that confirm a change (default 2).
    #[arg(long, value_name = "N")]
    pub confirmations: Option<u32>,
    #[arg(long, value_name = "DURATION", help = confirm_after_help())]
    pub confirm_after: Option<String>,
    /// Reminder interval while a violation lasts (0: none; default 4h).
    #[arg(long, value_name = "DURATION")]
    pub remind_every: Option<String>,
    /// Where history is kept.
    #[command(flatten)]
    pub db: DatabaseArg,
    /// Log format (logs go to stderr; events to stdout).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Arguments of `portwatch notify`.
#[derive(Debug, Args)]
pub struct NotifyArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: NotifyCommand,
}

/// `portwatch notify` subcommands.
#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send a test message through every notifier of a config and report what each answered.
    Test {
        /// The configuration file.
        #[arg(long, short = 'c', value_name = "FILE")]
        config: PathBuf,
    },
}

/// Arguments of `portwatch init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write it (- for standard output).
    #[arg(default_value = "portwatch.toml")]
    pub file: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `portwatch config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ConfigCommand,
}

/// `portwatch config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file and summarize it.
    Check {
        /// The file.
        file: PathBuf,
    },
}

fn parse_cidr(s: &str) -> Result<ipnet::IpNet, String> {
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("'{s}' is not a network (e.g. 192.168.1.0/24)"))
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    portwatch_monitor::duration::parse(s)
}

/// A lease: a duration from 1s to 1h.
fn parse_lease(text: &str) -> Result<std::time::Duration, String> {
    let d = portwatch_monitor::duration::parse(text)?;
    if d < std::time::Duration::from_secs(1) || d > std::time::Duration::from_hours(1) {
        return Err(format!("'{text}': a lease must be from 1s to 1h"));
    }
    Ok(d)
}
