//! Arbitrary input to the parsers and the evaluator: an answer or an error, never a panic.

use portwatch_local::proc_net::{TABLES, parse_line, parse_table};
use portwatch_local::{Family, Proto, Ruleset};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Words that occur in nft JSON, so random documents reach deep into the parser.
const WORDS: &[&str] = &[
    "tcp",
    "udp",
    "th",
    "ip",
    "ip6",
    "inet",
    "dport",
    "sport",
    "saddr",
    "daddr",
    "protocol",
    "nexthdr",
    "flags",
    "l4proto",
    "nfproto",
    "iifname",
    "iif",
    "state",
    "new",
    "established",
    "lo",
    "eth0",
    "input",
    "c2",
    "@s",
    "@m",
    "accept",
    "drop",
    "reject",
    "syn",
    "ack",
    "local",
    "daddr",
    "type",
    "10.0.0.0",
    "::1",
    "fe80::",
    "192.0.2.1",
    "==",
    "!=",
    "in",
    "<",
    ">=",
    "conntrack",
    "recent",
    "multiport",
    "addrtype",
    "REJECT",
    "LOG",
    "match",
    "target",
];
const KEYS: &[&str] = &[
    "match", "op", "left", "right", "payload", "protocol", "field", "meta", "key", "ct", "fib",
    "result", "flags", "set", "range", "prefix", "addr", "len", "elem", "val", "jump", "goto",
    "target", "vmap", "data", "xt", "name", "type", "accept", "drop", "reject", "return",
    "continue", "counter", "log", "limit", "&", "concat", "queue",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(WORDS).prop_map(str::to_string),
        "[a-z@:./0-9]{0,8}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (0u64..70000).prop_map(|n| json!(n)),
        any::<i64>().prop_map(|n| json!(n)),
        word().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 48, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((proptest::sample::select(KEYS), inner), 1..3).prop_map(
                |pairs| {
                    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                }
            ),
        ]
    })
}

/// Expressions shaped like real ones (known left sides, verdicts, jumps that may loop).
fn plausible_expr() -> impl Strategy<Value = Value> {
    let left = prop_oneof![
        proptest::sample::select(&["tcp", "udp", "th", "ip", "ip6", "sctp"][..]).prop_flat_map(
            |p| proptest::sample::select(
                &["dport", "sport", "saddr", "daddr", "flags", "protocol"][..]
            )
            .prop_map(move |f| json!({"payload": {"protocol": p, "field": f}}))
        ),
        proptest::sample::select(&["l4proto", "nfproto", "iifname", "iif", "pkttype", "mark"][..])
            .prop_map(|k| json!({"meta": {"key": k}})),
        proptest::sample::select(&["state", "direction", "mark"][..])
            .prop_map(|k| json!({"ct": {"key": k}})),
        Just(json!({"fib": {"result": "type", "flags": ["daddr"]}})),
        Just(json!({"&": [{"payload": {"protocol": "tcp", "field": "flags"}}, ["syn", "ack"]]})),
    ];
    let right = prop_oneof![
        json_value(),
        (0u64..70000).prop_map(|n| json!(n)),
        (0u64..70000, 0u64..70000).prop_map(|(a, b)| json!({"range": [a, b]})),
        Just(json!("@s")),
        Just(json!({"prefix": {"addr": "10.0.0.0", "len": 8}})),
        Just(json!({"prefix": {"addr": "fe80::", "len": 200}})),
        Just(json!({"set": ["new", "lo", 22, {"range": ["10.0.0.1", "10.0.0.9"]}]})),
    ];
    let op = proptest::sample::select(&["==", "!=", "in", "<", ">", "<=", ">=", "~"][..]);
    prop_oneof![
        3 => (op, left, right).prop_map(|(op, l, r)| json!({"match": {"op": op, "left": l, "right": r}})),
        1 => proptest::sample::select(&["input", "c2", "nowhere"][..])
            .prop_flat_map(|t| proptest::sample::select(&["jump", "goto"][..])
                .prop_map(move |k| json!({ k: {"target": t} }))),
        1 => proptest::sample::select(&["accept", "drop", "reject", "return", "continue", "queue"][..])
            .prop_map(|v| json!({ v: null })),
        1 => proptest::sample::select(&["conntrack", "recent", "multiport", "addrtype", "REJECT", "LOG"][..])
            .prop_map(|n| json!({"xt": {"type": "match", "name": n}})),
        1 => Just(json!({"vmap": {"key": {"payload": {"protocol": "tcp", "field": "dport"}}, "data": "@m"}})),
        1 => json_value(),
    ]
}

/// A ruleset document with two chains, a set, a map and random rules.
fn ruleset_doc() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(
            (
                proptest::sample::select(&["input", "c2"][..]),
                prop::collection::vec(plausible_expr(), 0..5),
            ),
            0..12,
        ),
        json_value(),
        any::<bool>(),
    )
        .prop_map(|(rules, set_elems, drops)| {
            let mut objects = vec![
                json!({"table": {"family": "inet", "name": "t", "handle": 1}}),
                json!({"chain": {"family": "inet", "table": "t", "name": "input", "handle": 1,
                    "type": "filter", "hook": "input", "prio": 0,
                    "policy": if drops { "drop" } else { "accept" }}}),
                json!({"chain": {"family": "inet", "table": "t", "name": "c2", "handle": 2}}),
                json!({"set": {"family": "inet", "table": "t", "name": "s", "handle": 3,
                    "type": "inet_service", "elem": set_elems.clone()}}),
                json!({"map": {"family": "inet", "table": "t", "name": "m", "handle": 4,
                    "type": "inet_service", "map": "verdict", "elem": set_elems}}),
            ];
            for (i, (chain, expr)) in rules.into_iter().enumerate() {
                objects.push(
                    json!({"rule": {"family": "inet", "table": "t", "chain": chain,
                    "handle": i + 10, "expr": expr}}),
                );
            }
            json!({ "nftables": objects }).to_string()
        })
}

fn ask_everything(r: &Ruleset) {
    for proto in [Proto::Tcp, Proto::Udp] {
        for family in [Family::V4, Family::V6] {
            for port in [22, 80, 0, 65535] {
                let _ = r.verdict(proto, family, port);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn proc_net_lines_never_panic(line in "\\PC{0,200}") {
        let _ = parse_line(Proto::Tcp, &line);
        let _ = parse_table(TABLES[1], &format!("header\n{line}\n"));
    }

    #[test]
    fn proc_net_like_lines_never_panic(
        addr in "[0-9A-Fa-f]{0,33}",
        port in "[0-9A-Fa-fx]{0,5}",
        rest in prop::collection::vec("[0-9A-F:]{0,10}", 0..12),
    ) {
        let line = format!("  0: {addr}:{port} {addr}:{port} {}", rest.join(" "));
        let _ = parse_line(Proto::Udp, &line);
    }

    #[test]
    fn nft_text_never_panics(text in "\\PC{0,300}") {
        let _ = Ruleset::from_json(&text);
    }

    #[test]
    fn nft_json_values_never_panic(v in json_value()) {
        if let Ok(r) = Ruleset::from_json(&v.to_string()) {
            ask_everything(&r);
        }
        let wrapped = json!({ "nftables": [v] }).to_string();
        if let Ok(r) = Ruleset::from_json(&wrapped) {
            ask_everything(&r);
        }
    }

}

proptest! {
    // Random jumps make loops, which the evaluator walks until its step budget: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn nft_rulesets_evaluate_without_panic(doc in ruleset_doc(), listing in "\\PC{0,200}") {
        if let Ok(r) = Ruleset::from_json(&doc) {
            ask_everything(&r);
        }
        if let Ok(r) = Ruleset::from_json_with_listing(&doc, &listing) {
            ask_everything(&r);
        }
    }
}
