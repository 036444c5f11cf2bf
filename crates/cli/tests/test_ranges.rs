//! The test command removes the blackhole routes the test files leave behind from one list,
//! `scripts/test-ranges.txt`: every IPv4 /16 and IPv6 /32 a test file here names must be in
//! it (the test bed's own ranges excepted: `scripts/testbed.sh down` removes those), so a
//! new test file's range cannot be forgotten.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Ranges `scripts/testbed.sh` owns and removes itself.
const TESTBED: [&str; 2] = ["10.203.0.0/16", "fd00:203::/32"];

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read tests dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs" || e == "sh") {
            out.push(path);
        }
    }
}

/// The ranges in `text` written as `10.N.0.0/16` or `fd00:H::/32`.
fn ranges_in(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let word = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == ':' || c == '/';
    for token in text.split(|c: char| !word(c)) {
        let v4 = token
            .strip_prefix("10.")
            .and_then(|t| t.strip_suffix(".0.0/16"))
            .is_some_and(|n| !n.is_empty() && n.parse::<u8>().is_ok());
        let v6 = token
            .strip_prefix("fd00:")
            .and_then(|t| t.strip_suffix("::/32"))
            .is_some_and(|h| {
                (1..=4).contains(&h.len()) && h.chars().all(|c| c.is_ascii_hexdigit())
            });
        if v4 || v6 {
            found.insert(token.to_string());
        }
    }
    found
}

fn listed() -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/test-ranges.txt");
    fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn every_test_range_is_listed_for_the_test_command() {
    let listed = listed();
    let mut files = Vec::new();
    sources(&tests_dir(), &mut files);
    let mut used = BTreeSet::new();
    let mut missing = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).expect("read test source");
        for range in ranges_in(&text) {
            if TESTBED.contains(&range.as_str()) {
                continue;
            }
            if !listed.contains(&range) {
                missing.push(format!("{range} ({})", file.display()));
            }
            used.insert(range);
        }
    }
    assert!(
        missing.is_empty(),
        "ranges missing from scripts/test-ranges.txt: {missing:?}"
    );
    let stale: Vec<_> = listed.difference(&used).collect();
    assert!(
        stale.is_empty(),
        "scripts/test-ranges.txt lists ranges no test file uses: {stale:?}"
    );
}

#[test]
fn ranges_are_found_in_code_and_format_strings() {
    let text = r#"const RANGE: &str = "10.242.0.0/16"; ip -6 route del blackhole fd00:216::/32;
        format!("10.216.{a}.0/22") 110.1.0.0/16 10.1.0.0/24"#;
    let got: Vec<_> = ranges_in(text).into_iter().collect();
    assert_eq!(got, ["10.242.0.0/16", "fd00:216::/32"]);
}
