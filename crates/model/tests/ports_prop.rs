//! Property tests of the port-spec parser: any input gives a list or a clear error (never a
//! panic), what a spec says is exactly what it selects, and a list written as a spec reads back
//! the same.

use portwatch_model::Proto;
use portwatch_model::ports::{PortList, parse_port_spec};
use proptest::prelude::*;
use std::collections::BTreeSet;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn a_list_written_as_a_spec_reads_back_the_same(
        tcp in prop::collection::btree_set(1u16..=65535, 0..40),
        udp in prop::collection::btree_set(1u16..=65535, 0..40),
    ) {
        let list = PortList { tcp: tcp.into_iter().collect(), udp: udp.into_iter().collect() };
        let spec = list.to_spec();
        if list.is_empty() {
            prop_assert_eq!(spec, "");
        } else {
            prop_assert_eq!(parse_port_spec(&spec, &[Proto::Tcp]).ok(), Some(list), "{}", spec);
        }
    }

    #[test]
    fn port_spec_never_panics(s in "\\PC{0,40}") {
        let _ = parse_port_spec(&s, &[Proto::Tcp]);
    }

    #[test]
    fn port_spec_from_ascii_soup_never_panics(s in "[TUtu:0-9,\\- a-z]{0,30}") {
        if let Err(e) = parse_port_spec(&s, &[Proto::Tcp, Proto::Udp]) {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn port_spec_selects_exactly_what_it_lists(
        items in prop::collection::vec((1u16..=65535, 0u16..50, any::<bool>()), 1..8)
    ) {
        let mut tcp = BTreeSet::new();
        let mut udp = BTreeSet::new();
        let mut parts = Vec::new();
        for (start, len, is_udp) in items {
            let end = start.saturating_add(len);
            let set = if is_udp { &mut udp } else { &mut tcp };
            set.extend(start..=end);
            let prefix = if is_udp { "U:" } else { "T:" };
            parts.push(if start == end {
                format!("{prefix}{start}")
            } else {
                format!("{prefix}{start}-{end}")
            });
        }
        let list = parse_port_spec(&parts.join(","), &[Proto::Tcp]).unwrap();
        prop_assert_eq!(list.tcp, tcp.into_iter().collect::<Vec<_>>());
        prop_assert_eq!(list.udp, udp.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn out_of_range_ports_are_rejected_naming_the_token(p in 65536u64..10_000_000) {
        let err = parse_port_spec(&p.to_string(), &[Proto::Tcp]).unwrap_err().to_string();
        prop_assert!(err.contains(&p.to_string()), "{}", err);
    }
}
