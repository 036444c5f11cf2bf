//! The evaluator against rulesets captured from real `nft -j list ruleset` output
//! (fixtures/nft/*.nft loaded in throwaway namespaces by capture.sh; ufw.* by capture-ufw.sh).

use portwatch_local::{Family, FirewallVerdict, Proto, Ruleset};

const TCP: Proto = Proto::Tcp;
const UDP: Proto = Proto::Udp;
const V4: Family = Family::V4;
const V6: Family = Family::V6;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/nft/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn ruleset(name: &str) -> Ruleset {
    Ruleset::from_json(&fixture(&format!("{name}.json"))).unwrap()
}

fn ufw() -> Ruleset {
    Ruleset::from_json_with_listing(&fixture("ufw.json"), &fixture("ufw.txt")).unwrap()
}

fn drop() -> FirewallVerdict {
    FirewallVerdict::Blocked { how: "drop".into() }
}

fn reject() -> FirewallVerdict {
    FirewallVerdict::Blocked {
        how: "reject".into(),
    }
}

fn from(sources: &[&str]) -> FirewallVerdict {
    FirewallVerdict::AllowedFrom(
        sources
            .iter()
            .map(std::string::ToString::to_string)
            .collect(),
    )
}

fn unknown_naming(verdict: &FirewallVerdict, expr: &str) {
    match verdict {
        FirewallVerdict::Unknown(why) => assert!(why.contains(expr), "{why:?} should name {expr}"),
        other => panic!("expected unknown naming {expr}, got {other:?}"),
    }
}

#[test]
fn basic_default_drop_with_sets_ranges_and_sources() {
    let r = ruleset("basic");
    assert_eq!(r.input_chains(), 1);
    for port in [22, 80, 443, 8000, 8050, 8099, 5000, 5010, 9999] {
        assert_eq!(
            r.verdict(TCP, V4, port),
            FirewallVerdict::Accepted,
            "tcp {port}"
        );
        assert_eq!(
            r.verdict(TCP, V6, port),
            FirewallVerdict::Accepted,
            "tcp6 {port}"
        );
    }
    for port in [53, 123] {
        assert_eq!(
            r.verdict(UDP, V4, port),
            FirewallVerdict::Accepted,
            "udp {port}"
        );
    }
    for port in [21, 8100, 9998, 5011] {
        assert_eq!(r.verdict(TCP, V4, port), drop(), "tcp {port}");
    }
    assert_eq!(r.verdict(UDP, V4, 22), drop());
    assert_eq!(r.verdict(TCP, V4, 139), reject());
    assert_eq!(r.verdict(UDP, V6, 137), reject());
    assert_eq!(
        r.verdict(TCP, V4, 3389),
        from(&[
            "10.0.0.0/8",
            "192.168.1.10/31",
            "192.168.1.12/30",
            "192.168.1.16/30",
            "192.168.1.20"
        ])
    );
    assert_eq!(r.verdict(TCP, V6, 3389), from(&["fd00::/8"]));
}

#[test]
fn chains_jumps_gotos_returns_vmaps_and_priorities() {
    let r = ruleset("chains");
    assert_eq!(r.input_chains(), 3);
    // th dport matches both transports.
    assert_eq!(r.verdict(TCP, V4, 7000), drop());
    assert_eq!(r.verdict(UDP, V6, 7000), drop());
    // meta nfproto ipv6 jumps to a chain that returns before its second rule.
    assert_eq!(r.verdict(TCP, V6, 7200), drop());
    assert_eq!(r.verdict(TCP, V4, 7200), FirewallVerdict::Accepted);
    assert_eq!(r.verdict(TCP, V6, 7201), FirewallVerdict::Accepted);
    // `ip protocol tcp goto tcp_in` skips the rest of input for IPv4 only.
    assert_eq!(r.verdict(TCP, V4, 7100), FirewallVerdict::Accepted);
    assert_eq!(r.verdict(TCP, V6, 7100), drop());
    assert_eq!(r.verdict(TCP, V4, 7500), drop());
    // meta l4proto udp jumps; return comes back; ranges reject.
    assert_eq!(r.verdict(UDP, V4, 7300), drop());
    assert_eq!(r.verdict(UDP, V4, 7301), FirewallVerdict::Accepted);
    assert_eq!(r.verdict(UDP, V4, 7305), reject());
    assert_eq!(r.verdict(UDP, V4, 7311), FirewallVerdict::Accepted);
    // Verdict map.
    assert_eq!(r.verdict(TCP, V4, 7400), drop());
    assert_eq!(r.verdict(TCP, V4, 7401), FirewallVerdict::Accepted);
    assert_eq!(r.verdict(TCP, V4, 7402), reject());
    // Accept ends one chain only: the ip6 table at priority -10 drops 7401 first, and the ip
    // table at priority 10 drops 7600 after inet accepted it.
    assert_eq!(r.verdict(TCP, V6, 7401), drop());
    assert_eq!(r.verdict(TCP, V4, 7600), drop());
    assert_eq!(r.verdict(TCP, V6, 7600), FirewallVerdict::Accepted);
    assert_eq!(r.verdict(TCP, V6, 7700), drop());
    assert_eq!(r.verdict(TCP, V4, 7700), FirewallVerdict::Accepted);
}

#[test]
fn unknown_only_where_it_changes_the_answer() {
    let r = ruleset("unknown");
    unknown_naming(&r.verdict(TCP, V4, 8100), "meta mark");
    unknown_naming(&r.verdict(TCP, V4, 8101), "tcp sport");
    // Dropping one source still lets everyone else in.
    assert_eq!(r.verdict(TCP, V4, 8102), FirewallVerdict::Accepted);
    assert_eq!(r.verdict(TCP, V6, 8102), FirewallVerdict::Accepted);
    // A mark test in a rule without a verdict, or in a rule for another port, changes nothing.
    assert_eq!(r.verdict(TCP, V4, 8103), FirewallVerdict::Accepted);
    assert_eq!(r.verdict(TCP, V4, 8106), FirewallVerdict::Accepted);
    assert_eq!(r.verdict(UDP, V4, 8100), FirewallVerdict::Accepted);
    assert_eq!(r.verdict(TCP, V4, 8104), from(&["via eth0"]));
    assert_eq!(r.verdict(TCP, V4, 8105), drop());
}

#[test]
fn ufw_ruleset_with_its_text_listing() {
    let r = ufw();
    for family in [V4, V6] {
        assert_eq!(r.verdict(TCP, family, 22), FirewallVerdict::Accepted);
        assert_eq!(r.verdict(TCP, family, 80), FirewallVerdict::Accepted);
        assert_eq!(r.verdict(TCP, family, 443), FirewallVerdict::Accepted);
        assert_eq!(r.verdict(UDP, family, 53), FirewallVerdict::Accepted);
        assert_eq!(r.verdict(TCP, family, 445), drop());
        assert_eq!(r.verdict(TCP, family, 139), reject());
        assert_eq!(r.verdict(TCP, family, 8080), drop());
        assert_eq!(r.verdict(UDP, family, 5353), drop());
    }
    // `ufw limit`: rate limiting by xt recent, whose options nft does not show.
    unknown_naming(&r.verdict(TCP, V4, 2222), "xt match recent");
    // In this capture ufw left the IPv6 limit chains empty, so the policy drops it.
    assert_eq!(r.verdict(TCP, V6, 2222), drop());
    assert_eq!(r.verdict(TCP, V4, 3389), from(&["10.0.0.0/8"]));
    assert_eq!(r.verdict(TCP, V6, 3389), drop());
    unknown_naming(&r.verdict(UDP, V4, 68), "udp sport");
}

#[test]
fn ufw_json_alone_is_honest_about_xt() {
    let r = Ruleset::from_json(&fixture("ufw.json")).unwrap();
    unknown_naming(&r.verdict(TCP, V4, 22), "xt match conntrack");
}

#[test]
fn empty_ruleset_is_no_firewall() {
    let r =
        Ruleset::from_json(r#"{"nftables": [{"metainfo": {"json_schema_version": 1}}]}"#).unwrap();
    assert_eq!(r.verdict(TCP, V4, 22), FirewallVerdict::NoFirewall);
    // An ip-only table leaves IPv6 unfiltered.
    let json = fixture("chains.json");
    let r = Ruleset::from_json(&json).unwrap();
    assert_ne!(r.verdict(TCP, V6, 1), FirewallVerdict::NoFirewall);
}

#[test]
fn malformed_json_is_an_error_not_a_panic() {
    for bad in ["", "{", "[]", r#"{"nftables": 3}"#, r#"{"nftables": [1]}"#] {
        assert!(Ruleset::from_json(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn misc_flags_named_vmap_negations_and_return_lists() {
    use portwatch_local::firewall::Packet;
    let r = ruleset("misc");
    assert_eq!(r.verdict(TCP, V4, 9500), drop());
    assert_eq!(
        r.verdict(TCP, V4, 9501),
        from(&["10.0.0.0/8", "192.168.0.0/16"])
    );
    assert_eq!(r.verdict(TCP, V6, 9501), drop());
    assert_eq!(r.verdict(TCP, V4, 9000), FirewallVerdict::Accepted);
    assert_eq!(r.verdict(UDP, V6, 9000), FirewallVerdict::Accepted);
    assert_eq!(r.verdict(TCP, V4, 9100), from(&["192.0.2.0/24"]));
    assert_eq!(r.verdict(TCP, V6, 9100), FirewallVerdict::Accepted);
    assert_eq!(r.verdict(TCP, V6, 9200), from(&["fd00::/8", "fe80::/10"]));
    assert_eq!(r.verdict(TCP, V4, 9200), reject());
    assert_eq!(r.verdict(TCP, V4, 9400), drop());
    assert_eq!(r.verdict(TCP, V6, 9400), FirewallVerdict::Accepted);
    // The destination address decides 9600: unknown for a wildcard socket, known for one bound
    // to an address.
    unknown_naming(&r.verdict(TCP, V4, 9600), "ip daddr");
    let to = |addr: &str| Packet {
        proto: TCP,
        family: V4,
        dport: 9600,
        daddr: Some(addr.parse().unwrap()),
    };
    assert_eq!(
        r.verdict_for(&to("198.51.100.1")),
        FirewallVerdict::Accepted
    );
    assert_eq!(r.verdict_for(&to("198.51.100.2")), drop());
    unknown_naming(&r.verdict(TCP, V4, 9700), "ct mark");
    assert_eq!(
        r.verdict(UDP, V4, 9800),
        from(&["203.0.113.0/24", "via eth1"])
    );
    assert_eq!(r.verdict(UDP, V6, 9800), from(&["via eth1"]));
    assert_eq!(r.verdict(TCP, V4, 9999), drop());
}

#[test]
fn iptables_nft_extensions_read_from_the_listing() {
    let r = Ruleset::from_json_with_listing(&fixture("iptables.json"), &fixture("iptables.txt"))
        .unwrap();
    for port in [80, 443, 8005, 22] {
        assert_eq!(
            r.verdict(TCP, V4, port),
            FirewallVerdict::Accepted,
            "tcp {port}"
        );
    }
    assert_eq!(r.verdict(TCP, V6, 22), FirewallVerdict::Accepted);
    assert_eq!(r.verdict(TCP, V6, 80), drop());
    assert_eq!(r.verdict(TCP, V4, 8011), drop());
    assert_eq!(r.verdict(TCP, V4, 25), reject());
    assert_eq!(r.verdict(UDP, V4, 500), from(&["10.1.0.0/16 via eth1"]));
    assert_eq!(r.verdict(UDP, V4, 5061), FirewallVerdict::Accepted);
    assert_eq!(r.verdict(UDP, V4, 5062), drop());
    unknown_naming(&r.verdict(TCP, V4, 3306), "xt match recent");
}
