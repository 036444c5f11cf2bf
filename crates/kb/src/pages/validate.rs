//! Checks that every embedded page follows the schema and agrees with the others.

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::Serialize;

use super::{FixStep, PAGE_SOURCES, Page};
use crate::severity::Severity;
use crate::transport::Transport;

/// One thing wrong with one page file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The page file name (e.g. `00445.toml`).
    pub file: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

/// Parses and checks every embedded page; an empty list means all is well.
pub fn validate() -> Vec<Problem> {
    validate_sources(PAGE_SOURCES)
}

/// Parses and checks the given (file name, TOML text) pages.
pub(crate) fn validate_sources(sources: &[(&str, &str)]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut pages = Vec::new();
    for (file, text) in sources {
        match toml::from_str::<Page>(text) {
            Ok(page) => pages.push((*file, page)),
            Err(e) => problems.push(problem(file, format!("does not parse: {e}"))),
        }
    }
    for (file, page) in &pages {
        let mut report = |message: String| problems.push(problem(file, message));
        check_fields(page, &mut report);
        check_file_name(file, page, &mut report);
        check_attacks(page, &mut report);
    }
    check_across_pages(&pages, &mut problems);
    problems
}

fn problem(file: &str, message: String) -> Problem {
    Problem {
        file: file.to_owned(),
        message,
    }
}

fn check_fields(page: &Page, report: &mut impl FnMut(String)) {
    let texts = [
        ("name", &page.name),
        ("title", &page.title),
        ("summary", &page.summary),
        ("description", &page.description),
        ("history", &page.history),
        ("lan_risk", &page.lan_risk),
        ("internet_risk", &page.internet_risk),
        ("safe_policy", &page.safe_policy),
    ];
    for (field, value) in texts {
        if value.trim().is_empty() {
            report(format!("field `{field}` is empty"));
        }
    }
    if page.port == 0 {
        report("port 0 is not a port a service listens on".to_owned());
    }
    for (field, list) in [
        ("transports", page.transports.len()),
        ("software", page.software.len()),
        ("tags", page.tags.len()),
    ] {
        if list == 0 {
            report(format!("field `{field}` is an empty list"));
        }
    }
    let unique: HashSet<_> = page.transports.iter().collect();
    if unique.len() != page.transports.len() {
        report("field `transports` lists a transport twice".to_owned());
    }
    for (field, list) in [
        ("software", &page.software),
        ("aliases", &page.aliases),
        ("tags", &page.tags),
    ] {
        if list.iter().any(|item| item.trim().is_empty()) {
            report(format!("field `{field}` has an empty entry"));
        }
    }
    for (field, list) in [("aliases", &page.aliases), ("tags", &page.tags)] {
        if let Some(bad) = list.iter().find(|item| !is_keyword(item)) {
            report(format!(
                "field `{field}` entry {bad:?} must be lowercase letters, digits, '-', '_' or '.'"
            ));
        }
    }
    if page
        .aliases
        .iter()
        .any(|a| a.eq_ignore_ascii_case(&page.name))
    {
        report("an alias repeats the page's own name".to_owned());
    }
    if let Some(known) = &page.known_as {
        // One of the aliases, so every lookup by name already reaches it.
        if !page.aliases.contains(known) {
            report(format!(
                "field `known_as` {known:?} must be one of the page's `aliases`"
            ));
        }
    }
    if page.related.contains(&page.port) {
        report("field `related` lists the page's own port".to_owned());
    }
    // The headline already says "Port N is <title>"; a title that repeats it reads twice.
    if page
        .title
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("port ")
    {
        report(
            "field `title` starts with \"Port\": the headline names the port already".to_owned(),
        );
    }
    let steps = [
        ("fix.linux", &page.fix.linux),
        ("fix.windows", &page.fix.windows),
        ("fix.macos", &page.fix.macos),
        ("fix.samba", &page.fix.samba),
    ];
    for (field, list) in steps {
        if list
            .iter()
            .any(|FixStep { say, run }| say.trim().is_empty() || run.trim().is_empty())
        {
            report(format!("a `{field}` step has an empty `say` or `run`"));
        }
    }
}

fn is_keyword(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

/// `00445.toml` for a page that covers every transport it lists, `00514-udp.toml` for a page that
/// covers one transport of a port whose transports are different services.
fn check_file_name(file: &str, page: &Page, report: &mut impl FnMut(String)) {
    let plain = format!("{:05}.toml", page.port);
    let ok = file == plain
        || matches!(page.transports.as_slice(), [only] if file == format!("{:05}-{only}.toml", page.port));
    if !ok {
        report(format!(
            "file name does not match port {} and transports {:?} (expected {plain}{})",
            page.port,
            page.transports
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>(),
            match page.transports.as_slice() {
                [only] => format!(" or {:05}-{only}.toml", page.port),
                _ => String::new(),
            }
        ));
    }
}

fn check_attacks(page: &Page, report: &mut impl FnMut(String)) {
    if page.internet_severity >= Severity::High && page.attacks.is_empty() {
        report(format!(
            "internet_severity is {} but no [[attacks]] are listed",
            page.internet_severity
        ));
    }
    for attack in &page.attacks {
        if attack.name.trim().is_empty() || attack.note.trim().is_empty() {
            report("an attack has an empty `name` or `note`".to_owned());
        }
        if !(1970..=2100).contains(&attack.year) {
            report(format!(
                "attack {:?} has an implausible year {}",
                attack.name, attack.year
            ));
        }
        for cve in &attack.cves {
            if !is_cve_id(cve) {
                report(format!(
                    "attack {:?}: {cve:?} is not a CVE id (CVE-YYYY-NNNN)",
                    attack.name
                ));
            }
        }
    }
}

/// `CVE-\d{4}-\d{4,}`.
pub(crate) fn is_cve_id(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("CVE-") else {
        return false;
    };
    let Some((year, number)) = rest.split_once('-') else {
        return false;
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    year.len() == 4 && digits(year) && number.len() >= 4 && digits(number)
}

fn check_across_pages(pages: &[(&str, Page)], problems: &mut Vec<Problem>) {
    let mut owner_of_pair: HashMap<(u16, Transport), &str> = HashMap::new();
    let mut owner_of_alias: HashMap<String, &str> = HashMap::new();
    let names: HashMap<String, &str> = pages
        .iter()
        .map(|(file, page)| (page.name.to_ascii_lowercase(), *file))
        .collect();
    let ports: HashSet<u16> = pages.iter().map(|(_, page)| page.port).collect();

    for (file, page) in pages {
        for &transport in &page.transports {
            if let Some(other) = owner_of_pair.insert((page.port, transport), file) {
                problems.push(problem(
                    file,
                    format!("{}/{transport} is also covered by {other}", page.port),
                ));
            }
        }
        for alias in &page.aliases {
            let alias = alias.to_ascii_lowercase();
            if let Some(other) = owner_of_alias.insert(alias.clone(), file) {
                problems.push(problem(
                    file,
                    format!("alias {alias:?} is also an alias in {other}"),
                ));
            }
            if let Some(other) = names.get(&alias).filter(|other| **other != *file) {
                problems.push(problem(
                    file,
                    format!("alias {alias:?} is the name of {other}"),
                ));
            }
        }
        for related in &page.related {
            if !ports.contains(related) {
                problems.push(problem(file, format!("related port {related} has no page")));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cve_ids() {
        assert!(is_cve_id("CVE-2017-0144"));
        assert!(is_cve_id("CVE-2021-44228"));
        assert!(!is_cve_id("CVE-17-0144"));
        assert!(!is_cve_id("CVE-2017-144"));
        assert!(!is_cve_id("cve-2017-0144"));
        assert!(!is_cve_id("CVE-2017-0144 "));
        assert!(!is_cve_id("MS17-010"));
    }

    fn page_text(port: u16, transports: &str, name: &str, aliases: &str, related: &str) -> String {
        format!(
            r#"port = {port}
transports = {transports}
name = "{name}"
aliases = {aliases}
title = "t"
summary = "s"
description = "d"
history = "h"
software = ["x"]
lan_severity = "low"
internet_severity = "high"
lan_risk = "l"
internet_risk = "i"
safe_policy = "p"
related = {related}
tags = ["web"]
"#
        )
    }

    #[test]
    fn finds_cross_page_and_schema_problems() {
        let a = page_text(80, r#"["tcp"]"#, "http", r#"["www"]"#, "[8080]");
        let b = page_text(80, r#"["tcp", "udp"]"#, "www", r#"["http", "www"]"#, "[]");
        let c = format!(
            "{}extra = 1\n",
            page_text(81, r#"["tcp"]"#, "x", "[]", "[]")
        );
        let sources = [
            ("00080.toml", a.as_str()),
            ("00080-tcp.toml", b.as_str()),
            ("00081.toml", c.as_str()),
        ];
        let messages: Vec<String> = validate_sources(&sources)
            .iter()
            .map(ToString::to_string)
            .collect();
        let expect = [
            "00081.toml: does not parse",
            "00080.toml: internet_severity is high but no [[attacks]] are listed",
            "00080-tcp.toml: file name does not match port 80",
            "00080-tcp.toml: 80/tcp is also covered by 00080.toml",
            "00080-tcp.toml: alias \"www\" is also an alias in 00080.toml",
            "00080-tcp.toml: alias \"http\" is the name of 00080.toml",
            "00080.toml: alias \"www\" is the name of 00080-tcp.toml",
            "00080.toml: related port 8080 has no page",
        ];
        for e in expect {
            assert!(
                messages.iter().any(|m| m.starts_with(e)),
                "missing {e:?} in {messages:#?}"
            );
        }
    }

    #[test]
    fn titles_do_not_repeat_the_headlines_port() {
        let text = page_text(514, r#"["udp"]"#, "syslog", "[]", "[]")
            .replace(r#"title = "t""#, r#"title = "Port 514: syslog""#);
        let problems = validate_sources(&[("00514-udp.toml", text.as_str())]);
        assert!(
            problems
                .iter()
                .any(|p| p.message.contains("`title` starts with")),
            "{problems:?}"
        );
    }

    #[test]
    fn the_known_name_is_one_of_the_aliases() {
        let known = |value: &str| {
            page_text(9200, r#"["tcp"]"#, "wap-wsp", r#"["elasticsearch"]"#, "[]")
                .replace("title = ", &format!("known_as = \"{value}\"\ntitle = "))
        };
        let listed = known("elasticsearch");
        let problems = validate_sources(&[("09200.toml", listed.as_str())]);
        assert!(
            problems.iter().all(|p| !p.message.contains("known_as")),
            "{problems:?}"
        );
        let missing = known("opensearch");
        let problems = validate_sources(&[("09200.toml", missing.as_str())]);
        assert!(
            problems.iter().any(|p| p
                .message
                .contains("`known_as` \"opensearch\" must be one of")),
            "{problems:?}"
        );
    }

    #[test]
    fn single_transport_file_names() {
        let text = page_text(514, r#"["udp"]"#, "syslog", "[]", "[]");
        let problems = validate_sources(&[("00514-udp.toml", text.as_str())]);
        assert!(
            problems.iter().all(|p| !p.message.starts_with("file name")),
            "{problems:?}"
        );
        let problems = validate_sources(&[("514.toml", text.as_str())]);
        assert!(problems.iter().any(|p| p.message.starts_with("file name")));
    }
}
