//! Fills in iptables-nft extensions from nft's text listing.
//!
//! Rules made by iptables-nft (ufw, firewalld's iptables backend, Docker) may use xtables
//! extensions. `nft -j` shows those only as `{"xt": {"name": "conntrack"}}`, without their
//! options, but `nft -a list ruleset` prints nft's own translation of them (`ct state
//! related,established`, `fib daddr type local`, `tcp dport { 80, 443 }`). This module reads
//! that translation for the few extensions where it decides a verdict, by rule handle.

use super::rules::{Chain, Item, Key, L4, Match, Needs, Op, Val, Verdict};
use std::collections::HashMap;

/// Rule texts by (family, table, chain, handle).
pub type Listing = HashMap<(String, String, String, u64), String>;

/// Reads `nft -a list ruleset` output into rule texts keyed by handle.
pub fn parse_listing(text: &str) -> Listing {
    let mut rules = Listing::new();
    let mut depth = 0usize;
    let mut table: Option<(String, String)> = None;
    let mut chain: Option<String> = None;
    for raw in text.lines() {
        let (body, handle) = match raw.rsplit_once("# handle ") {
            Some((body, h)) => (body, h.trim().parse::<u64>().ok()),
            None => (raw, None),
        };
        let line = strip_quoted(body);
        let words: Vec<&str> = line.split_whitespace().collect();
        match (depth, words.as_slice()) {
            (0, ["table", family, name, ..]) => {
                table = Some(((*family).to_string(), unquote(name)));
            }
            (1, ["chain", name, ..]) => chain = Some(unquote(name)),
            (2, _) => {
                if let (Some((family, table)), Some(chain), Some(handle)) = (&table, &chain, handle)
                {
                    rules.insert(
                        (family.clone(), table.clone(), chain.clone(), handle),
                        body.trim().to_string(),
                    );
                }
            }
            _ => {}
        }
        let opens = line.matches('{').count();
        let closes = line.matches('}').count();
        depth = (depth + opens).saturating_sub(closes);
        if depth < 2 {
            chain = None;
        }
        if depth == 0 {
            table = None;
        }
    }
    rules
}

/// Replaces every xt item of `chains` with what its extension means for a new inbound packet,
/// using the rule's text where the meaning depends on options.
pub fn resolve(chains: &mut [Chain], listing: Option<&Listing>) {
    for chain in chains.iter_mut() {
        let key_of = |handle: u64| {
            (
                chain.family.as_str().to_string(),
                chain.table.clone(),
                chain.name.clone(),
                handle,
            )
        };
        let mut keyed: Vec<(u64, Option<String>)> = Vec::new();
        for rule in &chain.rules {
            let text = listing.and_then(|l| l.get(&key_of(rule.handle)).cloned());
            keyed.push((rule.handle, text));
        }
        for (rule, (_, text)) in chain.rules.iter_mut().zip(keyed) {
            if rule.items.iter().any(|i| matches!(i, Item::Xt { .. })) {
                rule.items = resolve_rule(&rule.items, text.as_deref());
            }
        }
    }
}

/// The rule's items with xt extensions replaced.
fn resolve_rule(items: &[Item], text: Option<&str>) -> Vec<Item> {
    let tokens: Vec<String> = text.map(tokens).unwrap_or_default();
    let count = |names: &[&str]| {
        items
            .iter()
            .filter(|i| matches!(i, Item::Xt { kind, name } if kind == "match" && names.contains(&name.as_str())))
            .count()
    };
    let mut ct = translated(text, count(&["conntrack", "state"]), || {
        ct_states(&tokens, items)
    });
    let mut fib = translated(text, count(&["addrtype"]), || fib_types(&tokens, items));
    let ports = if count(&["multiport"]) == 1 && text.is_some() {
        port_matches(&tokens, items)
    } else {
        None
    };
    let mut out = Vec::new();
    for item in items {
        let Item::Xt { kind, name } = item else {
            out.push(item.clone());
            continue;
        };
        let unknown = || Item::Undecidable(format!("xt {kind} {name}"));
        let resolved = match (kind.as_str(), name.as_str()) {
            ("target", "REJECT") => Item::Verdict(Verdict::Reject),
            (
                "target",
                "LOG" | "NFLOG" | "ULOG" | "TRACE" | "AUDIT" | "MARK" | "CONNMARK" | "CLASSIFY"
                | "TCPMSS" | "CT" | "NOTRACK" | "DSCP" | "TOS" | "SET",
            ) => Item::Effect,
            ("target", _) => Item::Verdict(Verdict::Undecidable(format!("xt target {name}"))),
            (_, "comment" | "limit" | "hashlimit") => Item::Const(true),
            // These only match packets with an ICMP header or an IPv6 extension header.
            (_, "icmp" | "icmp6" | "rt" | "frag" | "hbh" | "dst") => Item::Const(false),
            (_, "tcp") => other(Needs::Transport(L4::Tcp), "xt match tcp"),
            (_, "udp") => other(Needs::Transport(L4::Udp), "xt match udp"),
            (_, "conntrack" | "state") => {
                ct.as_mut().and_then(Iterator::next).unwrap_or_else(unknown)
            }
            (_, "addrtype") => fib
                .as_mut()
                .and_then(Iterator::next)
                .unwrap_or_else(unknown),
            (_, "multiport") => match &ports {
                Some(matches) => {
                    out.extend(matches.iter().cloned());
                    continue;
                }
                None => unknown(),
            },
            _ => unknown(),
        };
        out.push(resolved);
    }
    out
}

fn other(needs: Needs, text: &str) -> Item {
    Item::Match(Match {
        key: Key::Other(needs),
        op: Op::Eq,
        values: Vec::new(),
        text: text.to_string(),
    })
}

/// The translated matches, one per xt extension, when the text has exactly that many.
fn translated(
    text: Option<&str>,
    wanted: usize,
    find: impl FnOnce() -> Option<Vec<Item>>,
) -> Option<std::vec::IntoIter<Item>> {
    if wanted == 0 || text.is_none() {
        return None;
    }
    let found = find()?;
    (found.len() == wanted).then(|| found.into_iter())
}

/// Whether the JSON already has a native match whose text starts with `prefix`.
fn has_native(items: &[Item], prefix: &str) -> bool {
    items
        .iter()
        .any(|i| matches!(i, Item::Match(m) if m.text.starts_with(prefix)))
}

/// `ct state [!=] LIST` fragments; `None` if any other `ct` key is present or native ct exists.
fn ct_states(tokens: &[String], items: &[Item]) -> Option<Vec<Item>> {
    if has_native(items, "ct ") {
        return None;
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i] == "ct" {
            if tokens.get(i + 1).map(String::as_str) != Some("state") {
                return None;
            }
            let (op, words, next) = value_after(tokens, i + 2)?;
            out.push(Item::Match(Match {
                key: Key::CtState,
                op,
                values: words.into_iter().map(Val::Str).collect(),
                text: "ct state".into(),
            }));
            i = next;
        } else {
            i += 1;
        }
    }
    Some(out)
}

/// `fib daddr [. iif] type [!=] LIST` and `fib saddr type ...` fragments.
fn fib_types(tokens: &[String], items: &[Item]) -> Option<Vec<Item>> {
    if has_native(items, "fib ") {
        return None;
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i] != "fib" {
            i += 1;
            continue;
        }
        let which = tokens.get(i + 1)?.as_str();
        let mut j = i + 2;
        let mut with_oif = false;
        if tokens.get(j).map(String::as_str) == Some(".") {
            with_oif = tokens.get(j + 1).map(String::as_str) == Some("oif");
            j += 2;
        }
        if tokens.get(j).map(String::as_str) != Some("type") {
            return None;
        }
        let key = match (which, with_oif) {
            ("daddr", false) => Key::FibDaddrType,
            ("saddr", false) => Key::FibSaddrType,
            _ => return None,
        };
        let (op, words, next) = value_after(tokens, j + 1)?;
        out.push(Item::Match(Match {
            key,
            op,
            values: words.into_iter().map(Val::Str).collect(),
            text: format!("fib {which} type"),
        }));
        i = next;
    }
    Some(out)
}

/// `tcp|udp|sctp|dccp|udplite dport|sport [!=] PORTS` fragments (multiport's translation).
fn port_matches(tokens: &[String], items: &[Item]) -> Option<Vec<Item>> {
    let native_ports = items
        .iter()
        .any(|i| matches!(i, Item::Match(m) if matches!(m.key, Key::Dport(_) | Key::Sport(_))));
    if native_ports {
        return None;
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < tokens.len() {
        let l4 = match tokens[i].as_str() {
            "tcp" => L4::Tcp,
            "udp" => L4::Udp,
            "sctp" | "dccp" | "udplite" => L4::Other,
            _ => {
                i += 1;
                continue;
            }
        };
        let dport = match tokens[i + 1].as_str() {
            "dport" => true,
            "sport" => false,
            _ => {
                i += 1;
                continue;
            }
        };
        let (op, words, next) = value_after(tokens, i + 2)?;
        let values = words
            .iter()
            .map(|w| port_value(w))
            .collect::<Option<Vec<Val>>>()?;
        out.push(Item::Match(Match {
            key: if dport {
                Key::Dport(l4)
            } else {
                Key::Sport(l4)
            },
            op,
            values,
            text: format!("{} {}", tokens[i], tokens[i + 1]),
        }));
        i = next;
    }
    (!out.is_empty()).then_some(out)
}

/// `80` or `8000-8010`.
fn port_value(word: &str) -> Option<Val> {
    match word.split_once('-') {
        Some((lo, hi)) => Some(Val::Range(
            Box::new(Val::Num(lo.parse().ok()?)),
            Box::new(Val::Num(hi.parse().ok()?)),
        )),
        None => Some(Val::Num(word.parse().ok()?)),
    }
}

/// The operator and the words of a value at `tokens[at]`: `[!=] word[,word…]` or
/// `[!=] { a, b }`; also the index after it.
fn value_after(tokens: &[String], at: usize) -> Option<(Op, Vec<String>, usize)> {
    let (op, mut i) = match tokens.get(at).map(String::as_str) {
        Some("!=") => (Op::Ne, at + 1),
        Some("==") => (Op::Eq, at + 1),
        _ => (Op::Eq, at),
    };
    let split = |t: &str| -> Vec<String> {
        t.split(',')
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    };
    if tokens.get(i).map(String::as_str) == Some("{") {
        let mut words = Vec::new();
        i += 1;
        while let Some(t) = tokens.get(i) {
            i += 1;
            if t == "}" {
                return Some((op, words, i));
            }
            words.extend(split(t));
        }
        return None;
    }
    let words = split(tokens.get(i)?);
    (!words.is_empty()).then_some((op, words, i + 1))
}

/// Words of a rule text, quoted strings removed, braces as their own tokens.
fn tokens(text: &str) -> Vec<String> {
    strip_quoted(text)
        .replace('{', " { ")
        .replace('}', " } ")
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// The text with every double-quoted string replaced by `""`.
fn strip_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut quoted = false;
    let mut escaped = false;
    for c in text.chars() {
        if quoted {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
                out.push('"');
            }
        } else {
            if c == '"' {
                quoted = true;
            }
            out.push(c);
        }
    }
    out
}

fn unquote(name: &str) -> String {
    name.trim_matches('"').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rules_by_handle() {
        let text = "table ip filter { # handle 1\n\tset s { # handle 9\n\t\ttype ipv4_addr\n\t\telements = { 10.0.0.1,\n\t\t\t     10.0.0.2 }\n\t}\n\tchain INPUT { # handle 1\n\t\ttype filter hook input priority filter; policy drop;\n\t\tct state related,established counter packets 0 bytes 0 accept # handle 5\n\t\tlog prefix \"{ x\" # handle 6\n\t}\n}\ntable ip6 t { # handle 2\n\tchain c { # handle 1\n\t\ttcp dport 22 accept # handle 3\n\t}\n}\n";
        let rules = parse_listing(text);
        assert_eq!(
            rules
                .get(&("ip".into(), "filter".into(), "INPUT".into(), 5))
                .map(String::as_str),
            Some("ct state related,established counter packets 0 bytes 0 accept")
        );
        assert!(rules.contains_key(&("ip".into(), "filter".into(), "INPUT".into(), 6)));
        assert!(rules.contains_key(&("ip6".into(), "t".into(), "c".into(), 3)));
        assert_eq!(rules.len(), 3);
    }

    #[test]
    fn values_in_all_spellings() {
        let t = tokens("ct state != { new, untracked } tcp dport 80,443 log prefix \"ct state x\"");
        assert_eq!(
            value_after(&t, 2),
            Some((Op::Ne, vec!["new".into(), "untracked".into()], 7))
        );
        assert_eq!(
            value_after(&t, 9),
            Some((Op::Eq, vec!["80".into(), "443".into()], 10))
        );
        assert_eq!(t.iter().filter(|w| *w == "ct").count(), 1);
    }
}
