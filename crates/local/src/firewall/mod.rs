//! Would the host firewall let a new connection in? An evaluator of nftables rulesets.
//!
//! [`Ruleset::from_json`] reads `nft -j list ruleset`; [`Ruleset::verdict`] follows a NEW
//! packet from another machine (unknown source, any interface but `lo`, unicast to a local
//! address, plain headers) through every base chain on the `input` hook of the tables that see
//! its family, in priority order: a drop or reject anywhere is final, an accept ends only that
//! chain. Jumps, gotos, returns, named and anonymous sets, ranges, prefixes and verdict maps
//! are followed. Where the answer depends on the source address or input interface, the
//! verdict lists the sources that get in; where it depends on an expression the evaluator does
//! not understand, the verdict is unknown and names it. It never guesses "blocked".
//!
//! Not evaluated: `prerouting` and `ingress` hooks (a drop there also stops the packet), and
//! legacy iptables (x_tables) rules, which nft does not show.

mod eval;
mod listing;
mod matching;
mod origin;
mod parse;
mod rules;
mod verdict;

pub use verdict::FirewallVerdict;

use crate::error::Result;
use crate::model::{Family, Proto};
use rules::Chain;
use std::net::IpAddr;
use std::process::Command;

/// The packet whose fate is asked: NEW, from an unknown source on a non-loopback interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    /// Transport.
    pub proto: Proto,
    /// IP family.
    pub family: Family,
    /// Destination port.
    pub dport: u16,
    /// Destination address, when the socket is bound to one (else any local unicast address).
    pub daddr: Option<IpAddr>,
}

/// An nftables ruleset, ready to answer verdict questions.
#[derive(Debug, Clone)]
pub struct Ruleset {
    chains: Vec<Chain>,
    /// Base chains on the input hook, by priority (stable for equal priorities).
    inputs: Vec<usize>,
}

impl Ruleset {
    /// Parses `nft -j list ruleset` output. iptables-nft extensions (`xt`) whose options
    /// matter stay undecidable; [`Ruleset::from_json_with_listing`] resolves them.
    pub fn from_json(json: &str) -> Result<Ruleset> {
        Ruleset::build(json, None)
    }

    /// Parses `nft -j list ruleset` output, reading the options of iptables-nft extensions
    /// from `listing`, the output of `nft -a list ruleset` taken at the same time.
    pub fn from_json_with_listing(json: &str, listing: &str) -> Result<Ruleset> {
        Ruleset::build(json, Some(&listing::parse_listing(listing)))
    }

    fn build(json: &str, listing: Option<&listing::Listing>) -> Result<Ruleset> {
        let mut chains = parse::parse_ruleset(json)?;
        listing::resolve(&mut chains, listing);
        let mut inputs: Vec<usize> = (0..chains.len())
            .filter(|&i| chains[i].base.is_some())
            .collect();
        inputs.sort_by_key(|&i| chains[i].base.map_or(0, |b| b.prio));
        Ok(Ruleset { chains, inputs })
    }

    /// Reads the live ruleset with `nft`; `None` (and a note saying why) when `nft` is missing,
    /// not permitted, or prints something unreadable.
    pub fn load(notes: &mut Vec<String>) -> Option<Ruleset> {
        let json = match run_nft(&["-j", "list", "ruleset"]) {
            Ok(json) => json,
            Err(why) => {
                notes.push(format!("firewall verdicts are unknown: {why}"));
                return None;
            }
        };
        let parsed = if json.contains("\"xt\"") {
            match run_nft(&["-a", "list", "ruleset"]) {
                Ok(text) => Ruleset::from_json_with_listing(&json, &text),
                Err(_) => Ruleset::from_json(&json),
            }
        } else {
            Ruleset::from_json(&json)
        };
        match parsed {
            Ok(ruleset) => Some(ruleset),
            Err(e) => {
                notes.push(format!("firewall verdicts are unknown: {e}"));
                None
            }
        }
    }

    /// The verdict for a new inbound packet of `proto`/`family` to `port` on any local address.
    pub fn verdict(&self, proto: Proto, family: Family, port: u16) -> FirewallVerdict {
        self.verdict_for(&Packet {
            proto,
            family,
            dport: port,
            daddr: None,
        })
    }

    /// The verdict for `packet`.
    pub fn verdict_for(&self, packet: &Packet) -> FirewallVerdict {
        let bases: Vec<usize> = self
            .inputs
            .iter()
            .copied()
            .filter(|&i| self.chains[i].family.sees(packet.family))
            .collect();
        eval::verdict(&self.chains, &bases, packet)
    }

    /// How many base chains hook `input`.
    pub fn input_chains(&self) -> usize {
        self.inputs.len()
    }
}

/// Runs `nft ARGS` and returns its standard output, or a sentence saying why not.
fn run_nft(args: &[&str]) -> std::result::Result<String, String> {
    let output = Command::new("nft").args(args).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            "nft is not installed".to_string()
        } else {
            format!("cannot run nft: {e}")
        }
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr.lines().next().unwrap_or("").trim();
        let hint = if first.contains("Operation not permitted") && !first.contains("root") {
            " (run as root)"
        } else {
            ""
        };
        return Err(format!("nft {} failed: {first}{hint}", args.join(" ")));
    }
    String::from_utf8(output.stdout)
        .map_err(|_| format!("nft {} printed non-UTF-8", args.join(" ")))
}

/// Whether legacy iptables tables are loaded (their rules are invisible to nft).
pub fn legacy_iptables_loaded() -> bool {
    ["/proc/net/ip_tables_names", "/proc/net/ip6_tables_names"]
        .iter()
        .any(|p| std::fs::read_to_string(p).is_ok_and(|t| !t.trim().is_empty()))
}
