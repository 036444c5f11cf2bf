//! `fix`: the ordered steps that close a port on one platform.
//!
//! A plan is text only; nothing here runs a command. Steps come in three stages: the platform's
//! own rules (firewall rules, or smb.conf access lines for Samba), then the page's service-level
//! hardening for that platform family, then how to verify the result.

mod firewall;
mod platform;
mod samba;
mod sessions;
mod verify;

use ipnet::IpNet;
use serde::Serialize;

use crate::error::{KbError, Result};
use crate::explain::checked_port;
use crate::pages::{self, FixStep};
use crate::transport::Transport;

pub use platform::Platform;
pub use sessions::{SESSION_PORTS, is_session_port};

/// Which part of a plan a step belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// The platform's rules that close the port (or limit it to `source`).
    Close,
    /// Service-level hardening from the port's page.
    Harden,
    /// Checks that the port is closed.
    Verify,
}

/// One step of a plan: what and why, and the command or configuration line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanStep {
    /// The stage the step belongs to.
    pub stage: Stage,
    /// What the step does and why, for people.
    pub say: String,
    /// The command or configuration line (placeholders look like `<host>`).
    pub run: String,
    /// What `run` is: a command to paste, lines for a file, or a boot-persistence command.
    pub kind: StepKind,
}

/// What a step's `run` text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    /// A shell command (or PowerShell line) to run as written, in order.
    Command,
    /// Lines for a configuration file, not a command.
    Config,
    /// A command that makes the change survive a reboot; it needs the distribution's service
    /// manager or package, so it is not part of what changes the running firewall.
    Persist,
}

/// The steps that close one port on one platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FixPlan {
    /// The port.
    pub port: u16,
    /// The transports the plan closes.
    pub transports: Vec<Transport>,
    /// The platform the commands are for.
    pub platform: Platform,
    /// The network still allowed in, if any.
    pub source: Option<IpNet>,
    /// Warnings to read before following the steps (what the plan cuts, a public source).
    pub cautions: Vec<String>,
    /// Whether portwatch's test suite applies this plan's close steps for real (in a network
    /// namespace) and scans the result; false: the text is reviewed, not proven here.
    pub proven_here: bool,
    /// The steps, in the order to follow them.
    pub steps: Vec<PlanStep>,
}

/// Plans how to close `port` on `platform`, optionally still allowing `source` in.
///
/// With no transport given, the plan covers the transports of the port's page, or TCP and UDP
/// when there is no page. Errors for port 0 or above 65535, for a platform that cannot filter the
/// transport (SCTP on ufw, Windows, macOS), for Samba on a port other than 137-139 and 445, and
/// for a source that is every address (`0.0.0.0/0`, `::/0`), which would open the port to all.
///
/// For a port people administer machines through ([`SESSION_PORTS`]) the firewall rules drop
/// only new connections, so established sessions stay up, and the cautions say what is cut.
pub fn plan(
    port: u32,
    transport: Option<Transport>,
    platform: Platform,
    source: Option<IpNet>,
) -> Result<FixPlan> {
    let port = checked_port(port)?;
    let transports = transports_to_close(port, transport);
    if platform == Platform::Samba && !samba::SAMBA_PORTS.contains(&port) {
        return Err(KbError::NotASambaPort { port });
    }
    if let Some(&unsupported) = transports.iter().find(|&&t| !platform.filters(t)) {
        return Err(KbError::UnsupportedTransport {
            port,
            transport: unsupported,
            platform,
        });
    }
    let source = source.map(|net| net.trunc());
    let mut cautions = Vec::new();
    if let Some(net) = source {
        sessions::check_source(port, net)?;
        cautions.extend(sessions::public_source_caution(net));
    }
    let session = is_session_port(port);
    if session && platform != Platform::Samba {
        cautions.extend(sessions::session_cautions(port, platform, source));
    }

    let mut steps = Vec::new();
    let close = match platform {
        Platform::Samba => samba::access_steps(port, source),
        _ => firewall::steps(platform, port, &transports, source, session),
    };
    steps.extend(close.into_iter().map(|s| s.at(Stage::Close)));
    steps.extend(page_steps(port, &transports, platform).into_iter().map(
        |FixStep { say, run }| PlanStep {
            stage: Stage::Harden,
            kind: page_step_kind(platform, &run),
            say,
            run,
        },
    ));
    if platform == Platform::Samba {
        steps.extend(
            samba::apply_steps(port)
                .into_iter()
                .map(|s| s.at(Stage::Harden)),
        );
    }
    steps.extend(
        verify::steps(platform, port, &transports, source)
            .into_iter()
            .map(|s| s.at(Stage::Verify)),
    );
    let proven_here = proven_here(platform, port, &transports, source);
    Ok(FixPlan {
        port,
        transports,
        platform,
        source,
        cautions,
        proven_here,
        steps,
    })
}

/// Whether the test suite applies this plan for real (`crates/cli/tests/fix_applied.rs`, each
/// scan there over IPv4 and IPv6): on a platform that [`Platform::proven_here`], a TCP-only
/// plan with or without a source, a UDP-only plan with no source (`*_closes_137_udp_*`) and one
/// plan that closes TCP and UDP together with no source (`*_closes_137_tcp_and_udp_in_one_plan`),
/// each on iptables-nft, iptables-legacy, nftables, ufw and firewalld; and the Samba plan for
/// 139 without a source (`samba_139_plan_closes_139_and_only_stopping_nmbd_closes_137_udp`). No
/// SCTP rule is applied there, nor a source-limited UDP rule, so plans that close those are
/// reviewed text.
fn proven_here(
    platform: Platform,
    port: u16,
    transports: &[Transport],
    source: Option<IpNet>,
) -> bool {
    if platform == Platform::Samba {
        return port == 139 && source.is_none();
    }
    let tcp = transports.iter().all(|&t| t == Transport::Tcp);
    let tcp_udp = transports
        .iter()
        .all(|&t| matches!(t, Transport::Tcp | Transport::Udp));
    platform.proven_here() && (tcp || (tcp_udp && source.is_none()))
}

/// A step before it is placed in a stage.
pub(crate) struct Step {
    say: String,
    run: String,
    kind: StepKind,
}

impl Step {
    /// A command to run as written.
    pub(crate) fn new(say: impl Into<String>, run: impl Into<String>) -> Step {
        Step {
            say: say.into(),
            run: run.into(),
            kind: StepKind::Command,
        }
    }

    /// Lines for a configuration file.
    pub(crate) fn config(say: impl Into<String>, run: impl Into<String>) -> Step {
        Step {
            kind: StepKind::Config,
            ..Step::new(say, run)
        }
    }

    /// A command that makes the change survive a reboot.
    pub(crate) fn persist(say: impl Into<String>, run: impl Into<String>) -> Step {
        Step {
            kind: StepKind::Persist,
            ..Step::new(say, run)
        }
    }

    fn at(self, stage: Stage) -> PlanStep {
        PlanStep {
            stage,
            say: self.say,
            run: self.run,
            kind: self.kind,
        }
    }
}

fn transports_to_close(port: u16, asked: Option<Transport>) -> Vec<Transport> {
    if let Some(t) = asked {
        return vec![t];
    }
    let mut from_pages: Vec<Transport> = pages::pages_for_port(port)
        .iter()
        .flat_map(|p| p.transports.iter().copied())
        .collect();
    from_pages.sort_unstable();
    from_pages.dedup();
    if from_pages.is_empty() {
        // Without a page we do not know which transport the service uses: close both.
        return vec![Transport::Tcp, Transport::Udp];
    }
    from_pages
}

/// Pages write Samba hardening as smb.conf lines (`key = value`) and everything else as commands.
fn page_step_kind(platform: Platform, run: &str) -> StepKind {
    let smb_conf_line = run.contains(" = ") && !run.starts_with("sudo ");
    if platform == Platform::Samba && smb_conf_line {
        StepKind::Config
    } else {
        StepKind::Command
    }
}

/// The page's service-level steps for the platform's family, without repeats.
fn page_steps(port: u16, transports: &[Transport], platform: Platform) -> Vec<FixStep> {
    let mut steps: Vec<FixStep> = Vec::new();
    for page in pages::pages_for_port(port) {
        if !page.transports.iter().any(|t| transports.contains(t)) {
            continue;
        }
        let family = match platform {
            Platform::Ufw | Platform::Firewalld | Platform::Nftables | Platform::Iptables => {
                &page.fix.linux
            }
            Platform::Windows => &page.fix.windows,
            Platform::Macos => &page.fix.macos,
            Platform::Samba => &page.fix.samba,
        };
        for step in family {
            if !steps.contains(step) {
                steps.push(step.clone());
            }
        }
    }
    steps
}
