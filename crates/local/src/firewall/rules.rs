//! The evaluator's model of an nftables ruleset: only what decides a new inbound packet.

use crate::model::Family;
use std::net::IpAddr;

/// The family of an nftables table; other families (arp, bridge, netdev) are not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "lowercase")]
pub enum TableFamily {
    /// `ip`: IPv4 only.
    Ip,
    /// `ip6`: IPv6 only.
    Ip6,
    /// `inet`: both.
    Inet,
}

impl TableFamily {
    /// Parses the JSON family name; `None` for families that never see input packets here.
    pub fn parse(name: &str) -> Option<TableFamily> {
        name.parse().ok()
    }

    /// Whether packets of `family` traverse this table's chains.
    pub fn sees(self, family: Family) -> bool {
        matches!(
            (self, family),
            (TableFamily::Inet, _) | (TableFamily::Ip, Family::V4) | (TableFamily::Ip6, Family::V6)
        )
    }

    /// The nft keyword.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A chain with its rules; `base` is set for chains attached to the input hook.
#[derive(Debug, Clone)]
pub struct Chain {
    /// Table family.
    pub family: TableFamily,
    /// Table name.
    pub table: String,
    /// Chain name.
    pub name: String,
    /// Priority and policy when this is a base chain on the input hook.
    pub base: Option<BaseChain>,
    /// The rules in order.
    pub rules: Vec<Rule>,
}

impl Chain {
    /// `family table chain`, for messages.
    pub fn location(&self) -> String {
        format!("{} {} {}", self.family.as_str(), self.table, self.name)
    }
}

/// What makes a chain a base chain of the input hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaseChain {
    /// Priority: lower runs first.
    pub prio: i64,
    /// Verdict when the chain ends without one.
    pub policy_drops: bool,
}

/// One rule: conditions and statements in order, usually ending in a verdict.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The kernel's handle (for messages).
    pub handle: u64,
    /// Expressions in order.
    pub items: Vec<Item>,
}

/// One expression of a rule.
#[derive(Debug, Clone)]
pub enum Item {
    /// A comparison of a packet property with values.
    Match(Match),
    /// A condition whose value is known whatever the packet (e.g. `limit`: assumed to pass).
    Const(bool),
    /// A condition or statement that cannot be evaluated; the text names it.
    Undecidable(String),
    /// A statement without influence on the verdict (counter, log, ...).
    Effect,
    /// A verdict.
    Verdict(Verdict),
    /// A verdict map: the verdict of the first entry whose values hold the key.
    Vmap {
        /// What is looked up.
        key: Key,
        /// Values → verdict.
        entries: Vec<(Vec<Val>, Verdict)>,
        /// The key as text, for messages.
        text: String,
    },
    /// An iptables-nft extension the JSON does not describe; resolved with the text listing.
    Xt {
        /// `match` or `target`.
        kind: String,
        /// The extension name (`conntrack`, `REJECT`, ...).
        name: String,
    },
}

/// `left op right`.
#[derive(Debug, Clone)]
pub struct Match {
    /// The packet property.
    pub key: Key,
    /// The comparison.
    pub op: Op,
    /// The right-hand side (alternatives).
    pub values: Vec<Val>,
    /// The left side as text, for messages.
    pub text: String,
}

/// Comparison operators of `match`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `>`.
    Gt,
    /// `<=`.
    Le,
    /// `>=`.
    Ge,
    /// `in`: membership, or "any of these bits" for flag keys.
    In,
}

impl Op {
    /// Parses the JSON operator.
    pub fn parse(op: &str) -> Option<Op> {
        Some(match op {
            "==" => Op::Eq,
            "!=" => Op::Ne,
            "<" => Op::Lt,
            ">" => Op::Gt,
            "<=" => Op::Le,
            ">=" => Op::Ge,
            "in" => Op::In,
            _ => return None,
        })
    }
}

/// Transport selector of a payload expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4 {
    /// `tcp`.
    Tcp,
    /// `udp`.
    Udp,
    /// `th`: any transport header with ports.
    Any,
    /// Another transport (sctp, dccp, udplite): never our packet.
    Other,
}

/// A prerequisite an expression carries implicitly (nft adds it when the rule is loaded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Nothing.
    Nothing,
    /// The packet is of this IP family.
    Family(Family),
    /// The packet has this transport header.
    Transport(L4),
}

/// A packet property the evaluator knows about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// Destination port of the transport header.
    Dport(L4),
    /// Source port: unknown for a packet from anyone.
    Sport(L4),
    /// `meta l4proto`.
    L4Proto,
    /// `ip protocol` (IPv4 only).
    IpProtocol,
    /// `ip6 nexthdr` (IPv6 only).
    Ip6Nexthdr,
    /// `meta nfproto`.
    NfProto,
    /// `meta protocol` (ethertype).
    MetaProtocol,
    /// Source address of a family.
    Saddr(Family),
    /// Destination address of a family.
    Daddr(Family),
    /// `meta iifname`.
    Iifname,
    /// `meta iif`.
    Iif,
    /// `ct state`.
    CtState,
    /// `ct direction`.
    CtDirection,
    /// `meta pkttype`.
    Pkttype,
    /// `fib daddr type` (also with `. iif`).
    FibDaddrType,
    /// `fib saddr type`.
    FibSaddrType,
    /// `tcp flags`, optionally masked (`tcp flags & (syn|ack)`).
    TcpFlags(Option<Vec<String>>),
    /// Anything else: undecidable unless its prerequisite fails.
    Other(Needs),
}

/// A right-hand value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val {
    /// A number.
    Num(u64),
    /// A word or address.
    Str(String),
    /// `a-b`.
    Range(Box<Val>, Box<Val>),
    /// `addr/len`.
    Prefix(IpAddr, u8),
    /// A combination of flag names (`syn|ack`).
    Flags(Vec<String>),
}

/// A verdict statement, with jump targets resolved to chain indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `accept`.
    Accept,
    /// `drop`.
    Drop,
    /// `reject`.
    Reject,
    /// `jump CHAIN`.
    Jump(usize),
    /// `goto CHAIN`.
    Goto(usize),
    /// `return`.
    Return,
    /// `continue`.
    Continue,
    /// A verdict that cannot be followed (queue, missing chain); the text names it.
    Undecidable(String),
}
