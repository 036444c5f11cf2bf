//! `nft -j list ruleset` → the evaluator's model.
//!
//! Tables, chains and sets are read first, then rules, so objects may come in any order.
//! Expressions the evaluator does not understand become [`Item::Undecidable`] naming them;
//! only malformed JSON or objects missing required fields are errors.

use super::rules::{
    BaseChain, Chain, Item, Key, L4, Match, Needs, Op, Rule, TableFamily, Val, Verdict,
};
use crate::error::{LocalError, Result};
use crate::model::Family;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Identifies a chain, set or map: (family, table, name).
type Name = (TableFamily, String, String);

/// Named sets and verdict maps of the ruleset.
#[derive(Default)]
struct Named {
    sets: HashMap<Name, Vec<Val>>,
    vmaps: HashMap<Name, Vec<(Vec<Val>, Value)>>,
}

/// Parses the JSON text into chains (input base chains marked).
pub fn parse_ruleset(json: &str) -> Result<Vec<Chain>> {
    let doc: Value = serde_json::from_str(json).map_err(|e| bad(format!("not JSON: {e}")))?;
    let objects = doc
        .get("nftables")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no top-level \"nftables\" array".into()))?;
    let mut chains: Vec<Chain> = Vec::new();
    let mut index: HashMap<Name, usize> = HashMap::new();
    let mut named = Named::default();
    for object in objects {
        let Some((kind, body)) = single_entry(object) else {
            return Err(bad(format!(
                "object is not {{\"kind\": {{...}}}}: {object}"
            )));
        };
        let Some(body) = body.as_object() else {
            continue;
        };
        match kind {
            "chain" => {
                let Some(name) = name_of(body, "name")? else {
                    continue;
                };
                let base = base_chain(body);
                index.insert(name.clone(), chains.len());
                chains.push(Chain {
                    family: name.0,
                    table: name.1,
                    name: name.2,
                    base,
                    rules: Vec::new(),
                });
            }
            "set" | "map" => {
                let Some(name) = name_of(body, "name")? else {
                    continue;
                };
                let elems = body
                    .get("elem")
                    .cloned()
                    .unwrap_or(Value::Array(Vec::new()));
                let is_vmap =
                    kind == "map" && body.get("map").and_then(Value::as_str) == Some("verdict");
                if is_vmap {
                    named
                        .vmaps
                        .insert(name, map_entries(&elems, &Named::default()));
                } else if kind == "set"
                    && let Ok(values) = values(&elems, name.0, &name.1, &Named::default())
                {
                    named.sets.insert(name, values);
                }
            }
            _ => {}
        }
    }
    for object in objects {
        let Some(("rule", Value::Object(body))) = single_entry(object) else {
            continue;
        };
        let Some((family, table, chain)) = name_of(body, "chain")? else {
            continue;
        };
        let Some(&at) = index.get(&(family, table.clone(), chain.clone())) else {
            return Err(bad(format!("rule for undeclared chain {table} {chain}")));
        };
        let handle = body.get("handle").and_then(Value::as_u64).unwrap_or(0);
        let exprs = body.get("expr").and_then(Value::as_array).ok_or_else(|| {
            bad(format!(
                "rule {handle} in {table} {chain} has no \"expr\" array"
            ))
        })?;
        let items = exprs
            .iter()
            .map(|e| item(e, family, &table, &named, &index))
            .collect();
        chains[at].rules.push(Rule { handle, items });
    }
    Ok(chains)
}

fn bad(reason: String) -> LocalError {
    LocalError::NftJson { reason }
}

/// The only `(key, value)` of a one-entry object.
fn single_entry(v: &Value) -> Option<(&str, &Value)> {
    let map = v.as_object()?;
    if map.len() != 1 {
        return None;
    }
    map.iter().next().map(|(k, v)| (k.as_str(), v))
}

/// `(family, table, body[field])`, or `None` for families the evaluator ignores.
fn name_of(body: &Map<String, Value>, field: &str) -> Result<Option<Name>> {
    let text = |key: &str| {
        body.get(key).and_then(Value::as_str).ok_or_else(|| {
            bad(format!(
                "object without string \"{key}\": {}",
                Value::Object(body.clone())
            ))
        })
    };
    let Some(family) = TableFamily::parse(text("family")?) else {
        return Ok(None);
    };
    Ok(Some((
        family,
        text("table")?.to_string(),
        text(field)?.to_string(),
    )))
}

/// Priority and policy of a chain on the input hook; `None` for other chains.
fn base_chain(body: &Map<String, Value>) -> Option<BaseChain> {
    if body.get("hook").and_then(Value::as_str) != Some("input") {
        return None;
    }
    Some(BaseChain {
        prio: body.get("prio").and_then(Value::as_i64).unwrap_or(0),
        policy_drops: body.get("policy").and_then(Value::as_str) == Some("drop"),
    })
}

/// One rule expression.
fn item(
    expr: &Value,
    family: TableFamily,
    table: &str,
    named: &Named,
    index: &HashMap<Name, usize>,
) -> Item {
    let Some((kind, body)) = single_entry(expr) else {
        return Item::Undecidable(short(expr));
    };
    let verdict = |v: &Value| verdict(v, family, table, index);
    match kind {
        "match" => match_item(body, family, table, named),
        "counter" | "log" | "mangle" | "notrack" | "set" | "snat" | "dnat" | "masquerade"
        | "redirect" => Item::Effect,
        "limit" => Item::Const(true),
        "xt" => Item::Xt {
            kind: body
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("match")
                .to_string(),
            name: body
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string(),
        },
        "accept" | "drop" | "reject" | "jump" | "goto" | "return" | "continue" | "queue" => {
            Item::Verdict(verdict(expr))
        }
        "vmap" => {
            let key = body
                .get("key")
                .map_or(Key::Other(Needs::Nothing), |k| key(k).0);
            let text = body.get("key").map_or_else(|| "vmap".to_string(), key_text);
            let entries = match body.get("data") {
                Some(Value::String(s)) if s.starts_with('@') => named
                    .vmaps
                    .get(&(family, table.to_string(), s[1..].to_string()))
                    .cloned(),
                Some(Value::Object(o)) => o.get("set").map(|s| map_entries(s, named)),
                _ => None,
            };
            match entries {
                Some(entries) => Item::Vmap {
                    key,
                    entries: entries
                        .into_iter()
                        .map(|(vals, v)| (vals, verdict(&v)))
                        .collect(),
                    text,
                },
                None => Item::Undecidable(format!("vmap on {text}")),
            }
        }
        other => Item::Undecidable(other.to_string()),
    }
}

/// A verdict object, jump targets resolved within the rule's table.
fn verdict(v: &Value, family: TableFamily, table: &str, index: &HashMap<Name, usize>) -> Verdict {
    let Some((kind, body)) = single_entry(v) else {
        return Verdict::Undecidable(short(v));
    };
    let target = || -> Verdict {
        let name = body.get("target").and_then(Value::as_str).unwrap_or("");
        match index.get(&(family, table.to_string(), name.to_string())) {
            Some(&i) if kind == "jump" => Verdict::Jump(i),
            Some(&i) => Verdict::Goto(i),
            None => Verdict::Undecidable(format!("{kind} to unknown chain {name:?}")),
        }
    };
    match kind {
        "accept" => Verdict::Accept,
        "drop" => Verdict::Drop,
        "reject" => Verdict::Reject,
        "return" => Verdict::Return,
        "continue" => Verdict::Continue,
        "jump" | "goto" => target(),
        other => Verdict::Undecidable(other.to_string()),
    }
}

/// `{"op", "left", "right"}`.
fn match_item(body: &Value, family: TableFamily, table: &str, named: &Named) -> Item {
    let (Some(op), Some(left), Some(right)) = (
        body.get("op").and_then(Value::as_str).and_then(Op::parse),
        body.get("left"),
        body.get("right"),
    ) else {
        return Item::Undecidable(format!("match {}", short(body)));
    };
    let (key, text) = key(left);
    let values = if matches!(key, Key::TcpFlags(_)) {
        Ok(flag_values(right))
    } else {
        values(right, family, table, named)
    };
    match values {
        Ok(values) => Item::Match(Match {
            key,
            op,
            values,
            text,
        }),
        Err(what) => Item::Undecidable(format!("{text} compared with {what}")),
    }
}

/// The packet property on the left of a match, and its text.
fn key(left: &Value) -> (Key, String) {
    let text = key_text(left);
    let Some((kind, body)) = single_entry(left) else {
        return (Key::Other(Needs::Nothing), text);
    };
    let field = |name: &str| body.get(name).and_then(Value::as_str).unwrap_or("");
    let key = match kind {
        "payload" => payload_key(field("protocol"), field("field")),
        "meta" => match field("key") {
            "l4proto" => Key::L4Proto,
            "nfproto" => Key::NfProto,
            "protocol" => Key::MetaProtocol,
            "iifname" => Key::Iifname,
            "iif" => Key::Iif,
            "pkttype" => Key::Pkttype,
            _ => Key::Other(Needs::Nothing),
        },
        "ct" if body.get("dir").is_none() => match field("key") {
            "state" => Key::CtState,
            "direction" => Key::CtDirection,
            _ => Key::Other(Needs::Nothing),
        },
        "fib" if field("result") == "type" => {
            let flags: Vec<&str> = body
                .get("flags")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .or_else(|| body.get("flags").and_then(Value::as_str).map(|f| vec![f]))
                .unwrap_or_default();
            if flags.contains(&"daddr") && !flags.contains(&"oif") {
                Key::FibDaddrType
            } else if flags == ["saddr"] {
                Key::FibSaddrType
            } else {
                Key::Other(Needs::Nothing)
            }
        }
        "&" => match left.get("&").and_then(Value::as_array).map(Vec::as_slice) {
            Some([inner, mask]) if key(inner).0 == Key::TcpFlags(None) => {
                Key::TcpFlags(Some(flag_names(mask)))
            }
            _ => Key::Other(Needs::Nothing),
        },
        _ => Key::Other(Needs::Nothing),
    };
    (key, text)
}

fn payload_key(protocol: &str, field: &str) -> Key {
    let l4 = match protocol {
        "tcp" => Some(L4::Tcp),
        "udp" => Some(L4::Udp),
        "th" => Some(L4::Any),
        "sctp" | "dccp" | "udplite" => Some(L4::Other),
        _ => None,
    };
    let family = match protocol {
        "ip" => Some(Family::V4),
        "ip6" => Some(Family::V6),
        _ => None,
    };
    match (l4, family, field) {
        (Some(l4), _, "dport") => Key::Dport(l4),
        (Some(l4), _, "sport") => Key::Sport(l4),
        (Some(L4::Tcp), _, "flags") => Key::TcpFlags(None),
        (Some(l4), _, _) => Key::Other(Needs::Transport(l4)),
        (_, Some(Family::V4), "protocol") => Key::IpProtocol,
        (_, Some(Family::V6), "nexthdr") => Key::Ip6Nexthdr,
        (_, Some(f), "saddr") => Key::Saddr(f),
        (_, Some(f), "daddr") => Key::Daddr(f),
        (_, Some(f), _) => Key::Other(Needs::Family(f)),
        _ => Key::Other(Needs::Nothing),
    }
}

/// Short nft-like text of a left-hand expression (`tcp dport`, `meta mark`, `ct status`).
fn key_text(left: &Value) -> String {
    let Some((kind, body)) = single_entry(left) else {
        return short(left);
    };
    let field = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string()
    };
    match kind {
        "payload" if body.get("protocol").is_some() => {
            format!("{} {}", field("protocol"), field("field"))
        }
        "meta" => format!("meta {}", field("key")),
        "ct" => match body.get("dir").and_then(Value::as_str) {
            Some(dir) => format!("ct {dir} {}", field("key")),
            None => format!("ct {}", field("key")),
        },
        "fib" => format!(
            "fib {} {}",
            short(body.get("flags").unwrap_or(&Value::Null)),
            field("result")
        ),
        "&" => match left.get("&").and_then(Value::as_array).map(Vec::as_slice) {
            Some([inner, _]) => format!("{} &", key_text(inner)),
            _ => short(left),
        },
        other => other.to_string(),
    }
}

/// At most 60 characters of a JSON value, for messages.
fn short(v: &impl std::fmt::Display) -> String {
    let text = v.to_string();
    match text.char_indices().nth(60) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// Right-hand values, flattening sets, arrays and `@named` sets.
fn values(
    v: &Value,
    family: TableFamily,
    table: &str,
    named: &Named,
) -> std::result::Result<Vec<Val>, String> {
    let mut out = Vec::new();
    push_values(v, family, table, named, &mut out, 0)?;
    Ok(out)
}

fn push_values(
    v: &Value,
    family: TableFamily,
    table: &str,
    named: &Named,
    out: &mut Vec<Val>,
    depth: usize,
) -> std::result::Result<(), String> {
    if depth > 8 {
        return Err("deeply nested values".into());
    }
    let recurse = |inner: &Value, out: &mut Vec<Val>| {
        push_values(inner, family, table, named, out, depth + 1)
    };
    match v {
        Value::Number(n) => out.push(Val::Num(n.as_u64().ok_or_else(|| format!("number {n}"))?)),
        Value::String(s) => match s.strip_prefix('@') {
            Some(set) => out.extend(
                named
                    .sets
                    .get(&(family, table.to_string(), set.to_string()))
                    .ok_or_else(|| format!("set @{set} (missing or not understood)"))?
                    .iter()
                    .cloned(),
            ),
            None => out.push(Val::Str(s.clone())),
        },
        Value::Array(items) => {
            for inner in items {
                recurse(inner, out)?;
            }
        }
        Value::Object(map) => {
            let Some((kind, body)) = single_entry(v) else {
                return Err(short(v));
            };
            match kind {
                "set" => recurse(body, out)?,
                "elem" => recurse(
                    map.get("elem")
                        .and_then(|e| e.get("val"))
                        .ok_or_else(|| short(v))?,
                    out,
                )?,
                "range" => match body.as_array().map(Vec::as_slice) {
                    Some([lo, hi]) => {
                        let (mut a, mut b) = (Vec::new(), Vec::new());
                        recurse(lo, &mut a)?;
                        recurse(hi, &mut b)?;
                        match (a.as_slice(), b.as_slice()) {
                            ([a], [b]) => {
                                out.push(Val::Range(Box::new(a.clone()), Box::new(b.clone())));
                            }
                            _ => return Err(short(v)),
                        }
                    }
                    _ => return Err(short(v)),
                },
                "prefix" => {
                    let addr = body
                        .get("addr")
                        .and_then(Value::as_str)
                        .and_then(|a| a.parse().ok());
                    let len = body
                        .get("len")
                        .and_then(Value::as_u64)
                        .and_then(|l| u8::try_from(l).ok());
                    match (addr, len) {
                        (Some(addr), Some(len)) => out.push(Val::Prefix(addr, len)),
                        _ => return Err(short(v)),
                    }
                }
                _ => return Err(short(v)),
            }
        }
        Value::Null | Value::Bool(_) => return Err(short(v)),
    }
    Ok(())
}

/// Entries of a verdict map: `[[key, verdict], ...]` (or `{"set": [...]}`).
fn map_entries(v: &Value, named: &Named) -> Vec<(Vec<Val>, Value)> {
    let list = v.get("set").unwrap_or(v);
    list.as_array()
        .map(|pairs| {
            pairs
                .iter()
                .filter_map(|pair| match pair.as_array().map(Vec::as_slice) {
                    Some([k, verdict]) => {
                        let vals = values(k, TableFamily::Inet, "", named).ok()?;
                        Some((vals, verdict.clone()))
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Alternatives of a flags comparison: each a combination of flag names.
fn flag_values(v: &Value) -> Vec<Val> {
    match v.get("set").and_then(Value::as_array) {
        Some(alternatives) => alternatives
            .iter()
            .map(|a| Val::Flags(flag_names(a)))
            .collect(),
        None => vec![Val::Flags(flag_names(v))],
    }
}

/// `"syn"` or `["syn", "ack"]` → names.
fn flag_names(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}
