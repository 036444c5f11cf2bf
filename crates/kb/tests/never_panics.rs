//! `explain` and `fix::plan` return a value or an error for any input, never a panic.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use portwatch_kb::fix::{self, Platform};
use portwatch_kb::{Transport, explain};
use proptest::prelude::*;

fn transport() -> impl Strategy<Value = Option<Transport>> {
    prop_oneof![
        Just(None),
        Just(Some(Transport::Tcp)),
        Just(Some(Transport::Udp)),
        Just(Some(Transport::Sctp)),
    ]
}

fn source() -> impl Strategy<Value = Option<IpNet>> {
    prop_oneof![
        Just(None),
        (any::<u32>(), 0u8..=32).prop_map(|(a, len)| Some(IpNet::V4(
            Ipv4Net::new(a.into(), len).expect("prefix length 0-32 is valid")
        ))),
        (any::<u128>(), 0u8..=128).prop_map(|(a, len)| Some(IpNet::V6(
            Ipv6Net::new(a.into(), len).expect("prefix length 0-128 is valid")
        ))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn explain_never_panics(port in 0u32..=70_000, t in transport()) {
        let result = explain(port, t);
        prop_assert_eq!(result.is_ok(), (1..=65_535).contains(&port));
    }

    #[test]
    fn plan_never_panics(
        port in 0u32..=70_000,
        t in transport(),
        platform in prop::sample::select(Platform::ALL.to_vec()),
        source in source(),
    ) {
        if let Ok(plan) = fix::plan(port, t, platform, source) {
            prop_assert!(!plan.steps.is_empty());
            prop_assert_eq!(u32::from(plan.port), port);
        }
    }
}

#[test]
fn every_port_explains_and_plans() {
    for port in 1..=65_535u32 {
        assert!(explain(port, None).is_ok());
    }
    for &platform in Platform::ALL {
        for port in [1, 137, 138, 139, 445, 65_535] {
            let _ = fix::plan(port, None, platform, None);
        }
    }
}
