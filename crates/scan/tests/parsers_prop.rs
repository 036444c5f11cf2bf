//! Property tests of the target parser, the neighbour-advertisement parser and the CSV reader:
//! any input gives a value or a clear error (never a panic), and what RFC 4180 writes reads
//! back the same. The port-spec parser's are in `crates/model/tests/ports_prop.rs`.

use portwatch_scan::csv;
use portwatch_scan::discover::wire;
use portwatch_scan::targets::{TargetSet, TargetSpec};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn target_parser_never_panics(s in "\\PC{0,60}") {
        let _ = TargetSpec::parse(&s);
    }

    #[test]
    fn target_ipv4ish_soup_never_panics(s in "[0-9.*,\\-/\\[\\]:a-f]{0,30}") {
        if let Ok(spec) = TargetSpec::parse(&s) {
            let _ = spec.count();
        }
    }

    #[test]
    fn cidr_expands_to_its_size_and_stays_inside(addr in any::<u32>(), prefix in 22u8..=32) {
        let token = format!("{}/{prefix}", Ipv4Addr::from(addr));
        let spec = TargetSpec::parse(&token).unwrap();
        let expected = 1u128 << (32 - prefix);
        prop_assert_eq!(spec.count(), expected);
        let set = TargetSet::new(vec![spec.clone()], vec![], vec![]);
        let addrs: Vec<IpAddr> = set.iter().map(|t| t.addr).collect();
        prop_assert_eq!(addrs.len() as u128, expected);
        prop_assert!(addrs.iter().all(|a| spec.contains(*a)));
    }

    #[test]
    fn last_octet_range_matches_its_count(a in any::<[u8; 3]>(), lo in 0u8..=255, len in 0u8..=255) {
        let hi = lo.saturating_add(len);
        let token = format!("{}.{}.{}.{lo}-{hi}", a[0], a[1], a[2]);
        let spec = TargetSpec::parse(&token).unwrap();
        prop_assert_eq!(spec.count(), u128::from(hi - lo) + 1);
        let set = TargetSet::new(vec![spec], vec![], vec![]);
        prop_assert_eq!(set.iter().count(), usize::from(hi - lo) + 1);
    }

    #[test]
    fn octets_above_255_name_the_octet(o in 256u32..100_000) {
        let token = format!("10.{o}.0.1");
        let err = TargetSpec::parse(&token).unwrap_err().to_string();
        prop_assert!(err.contains(&o.to_string()), "{}", err);
    }

    #[test]
    fn neighbour_advertisements_from_the_wire_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        let _ = wire::parse_neighbor_advert(&bytes);
    }

    #[test]
    fn a_neighbour_advertisement_reads_back_its_target_and_mac(
        target in any::<u128>(),
        mac in any::<[u8; 6]>(),
        pad in 0usize..3,
    ) {
        let target = std::net::Ipv6Addr::from(target);
        let mut na = wire::neighbor_solicitation(mac, target).to_vec();
        na[0] = 136;
        na[24] = 2;
        // Options this parser does not know are stepped over by their length.
        for _ in 0..pad {
            na.extend_from_slice(&[14, 1, 0, 0, 0, 0, 0, 0]);
        }
        let got = wire::parse_neighbor_advert(&na).expect("an advertisement");
        prop_assert_eq!(got.target, target);
        prop_assert_eq!(got.mac, Some(mac));
    }
}

/// One field as RFC 4180 writes it: in quotes, with its quotes doubled, when it holds a quote,
/// a comma or a line break.
fn csv_field(f: &str) -> String {
    if f.contains(['"', ',', '\r', '\n']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f.to_string()
    }
}

/// Rows of fields made of the characters CSV treats specially, and letters. A row of one
/// empty field is an empty line, which is no record: none is made.
fn csv_table() -> impl Strategy<Value = Vec<Vec<String>>> {
    prop::collection::vec(prop::collection::vec("[a\",\r\n ]{0,6}", 1..5), 0..8).prop_map(|rows| {
        rows.into_iter()
            .filter(|r| !(r.len() == 1 && r[0].is_empty()))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn csv_reads_back_what_rfc4180_writes(
        rows in csv_table(),
        crlf in any::<bool>(),
        last_break in any::<bool>(),
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut text = rows
            .iter()
            .map(|r| r.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","))
            .collect::<Vec<_>>()
            .join(eol);
        if last_break {
            text.push_str(eol);
        }
        let back: Vec<Vec<String>> = csv::records(&text).collect();
        prop_assert_eq!(back, rows, "{:?}", text);
    }

    #[test]
    fn csv_without_quotes_is_lines_split_at_commas(
        lines in prop::collection::vec("[ab, ]{0,8}", 0..8),
        crlf in any::<bool>(),
    ) {
        let text = lines.join(if crlf { "\r\n" } else { "\n" });
        let want: Vec<Vec<String>> = lines
            .iter()
            .filter(|l| !l.is_empty())
            .map(|l| l.split(',').map(String::from).collect())
            .collect();
        prop_assert_eq!(csv::records(&text).collect::<Vec<_>>(), want);
    }

    #[test]
    fn csv_never_panics_and_never_gives_an_empty_record(s in "\\PC{0,80}") {
        for record in csv::records(&s) {
            prop_assert!(!record.is_empty());
            prop_assert!(record.len() > 1 || !record[0].is_empty(), "{:?}", s);
        }
    }

    #[test]
    fn csv_soup_of_quotes_commas_and_breaks_never_panics(s in "[a\",\r\n]{0,60}") {
        let n = csv::records(&s).count();
        prop_assert!(n <= s.len());
    }
}
