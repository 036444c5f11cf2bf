//! Coverage of this machine's `/etc/services`: every name (and every alias) it gives a TCP or UDP
//! port is one portwatch knows for that port. The file is read at test time, never embedded; a
//! machine without it skips the test.

use std::collections::BTreeSet;

use portwatch_kb::{Transport, aliases, explain, resolve_name};

/// One name a services file gives a port: the entry's own name or one of its aliases.
struct Named {
    name: String,
    port: u16,
    transport: Transport,
    /// The entry's first name when `name` is one of its aliases.
    alias_of: Option<String>,
}

/// The TCP and UDP names of a services file, and how many entries were for other protocols.
fn parse(text: &str) -> (Vec<Named>, usize) {
    let mut names = Vec::new();
    let mut other_protocols = 0;
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let (Some(name), Some(port_proto)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Some((port, proto)) = port_proto.split_once('/') else {
            continue;
        };
        let (Ok(port), Ok(transport)) = (port.parse::<u16>(), proto.parse::<Transport>()) else {
            other_protocols += 1;
            continue;
        };
        names.push(Named {
            name: name.to_owned(),
            port,
            transport,
            alias_of: None,
        });
        for alias in fields {
            names.push(Named {
                name: alias.to_owned(),
                port,
                transport,
                alias_of: Some(name.to_owned()),
            });
        }
    }
    (names, other_protocols)
}

/// Whether `explain PORT/PROTO` shows `name`: as IANA's name, a page's name or alias, or a
/// common name (its other names and numbered range members included).
fn explained(name: &str, port: u16, transport: Transport) -> bool {
    let Ok(e) = explain(u32::from(port), Some(transport)) else {
        return false;
    };
    let same = |n: &str| n.eq_ignore_ascii_case(name);
    e.registry.iter().any(|r| same(r.name))
        || e.pages
            .iter()
            .any(|p| same(&p.name) || p.aliases.iter().any(|a| same(a)))
        || e.aliases.iter().any(|a| a.answers_to(name))
        || aliases::member(name).is_some_and(|(_, p)| p == port)
}

/// Whether portwatch knows `n`: `explain NAME` and port specs reach the port, and `explain PORT`
/// names it.
fn known(n: &Named) -> bool {
    resolve_name(&n.name).contains(&(n.port, n.transport))
        && explained(&n.name, n.port, n.transport)
}

/// Names of Debian's file that portwatch deliberately gives another meaning (see the header of
/// `data/aliases.toml`).
const LEFT_OUT: [(&str, u16); 2] = [("syslog", 514), ("kdc", 750)];

#[test]
fn every_name_of_this_machines_services_file_is_known() {
    // Debian's netbase package owns the file (scripts/install-test-deps.sh installs it); a
    // machine without it fails here rather than passing with nothing measured.
    let text = std::fs::read_to_string("/etc/services")
        .expect("/etc/services (Debian package netbase; scripts/install-test-deps.sh installs it)");
    let (names, other_protocols) = parse(&text);
    let (entries, alias_names): (Vec<&Named>, Vec<&Named>) =
        names.iter().partition(|n| n.alias_of.is_none());
    let missing = |list: &[&Named]| -> Vec<String> {
        list.iter()
            .filter(|n| !known(n))
            .map(|n| match &n.alias_of {
                Some(of) => format!("{} ({of}) {}/{}", n.name, n.port, n.transport),
                None => format!("{} {}/{}", n.name, n.port, n.transport),
            })
            .collect()
    };
    let missing_entries = missing(&entries);
    let missing_aliases = missing(&alias_names);
    eprintln!(
        "/etc/services: {} TCP/UDP entries, {} named ({} not: {:?}); {} aliases, {} known ({} not: \
         {:?}); {other_protocols} entries for other protocols not counted",
        entries.len(),
        entries.len() - missing_entries.len(),
        missing_entries.len(),
        missing_entries,
        alias_names.len(),
        alias_names.len() - missing_aliases.len(),
        missing_aliases.len(),
        missing_aliases,
    );
    // Every entry's own name is known; of the aliases, only the two left out on purpose may be
    // missing. A services file from another netbase release may add names: the list printed
    // above says which ones to add to data/aliases.toml or a page.
    assert!(missing_entries.is_empty(), "{missing_entries:?}");
    let unexpected: Vec<&String> = missing_aliases
        .iter()
        .filter(|m| {
            !LEFT_OUT.iter().any(|(name, port)| {
                m.starts_with(&format!("{name} (")) && m.contains(&format!(" {port}/"))
            })
        })
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:?}");
}

#[test]
fn the_parser_reads_names_aliases_and_skips_comments_and_other_protocols() {
    let text =
        "# comment\n\nwhois\t\t43/tcp\t\tnicname\t# old name\nrtmp\t\t1/ddp\nx11\t6000/tcp x11-0\n";
    let (names, other) = parse(text);
    let got: BTreeSet<(String, u16, Option<String>)> = names
        .iter()
        .map(|n| (n.name.clone(), n.port, n.alias_of.clone()))
        .collect();
    let want: BTreeSet<(String, u16, Option<String>)> = [
        ("whois", 43, None),
        ("nicname", 43, Some("whois")),
        ("x11", 6000, None),
        ("x11-0", 6000, Some("x11")),
    ]
    .into_iter()
    .map(|(n, p, a)| (n.to_owned(), p, a.map(str::to_owned)))
    .collect();
    assert_eq!(got, want);
    assert_eq!(other, 1);
}
