//! A real mail server's banner, live: Debian's Exim (`exim4-daemon-light`) runs inside a
//! network namespace of this test's own (`pwa-exim`, 10.242.1.2, reached from 10.242.1.1) on
//! port 25, and `portwatch scan` from the root namespace names it `smtp`, Exim, with the version
//! the installed package has (read from dpkg) and the host name it greets with.
//!
//! Exim runs with the machine's own configuration under `-oX`, which makes it listen on the
//! namespace address only. It runs in private mount and UTS namespaces: its spool and log
//! directories are tmpfs mounts that vanish with it and its host name is set there, so the
//! machine's spool, logs and host name are never touched. Needs root and exim4-daemon-light
//! (scripts/install-test-deps.sh installs it without starting its service).

mod common;
#[path = "common/lab.rs"]
mod lab;
#[path = "common/netns.rs"]
mod netns;

use common::{json_lines, portwatch, stderr, stdout};
use lab::{Lab, Site, upstream_version};
use std::path::Path;
use std::time::Duration;

const HOST: &str = "10.242.1.2";
const SITE: Site = Site {
    ns: "pwa-exim",
    root: "pwa-eximh",
    peer: "pwa-eximn",
    ours: "10.242.1.1",
    host: HOST,
    // The whole range of this helper's tests; the route goes with the last `pwa-` namespace.
    range: "10.242.0.0/16",
    shared_by: Some("pwa-"),
};
const EXIM: &str = "/usr/sbin/exim4";
/// The name Exim greets with, set in its own UTS namespace.
const MAIL_NAME: &str = "mail.pwa.test";

/// Starts Exim in the namespace, in mount and UTS namespaces of its own.
fn start_exim(lab: &mut Lab) {
    let script = format!(
        "set -e\n\
         mount -t tmpfs tmpfs /var/spool/exim4\n\
         mount -t tmpfs tmpfs /var/log/exim4\n\
         chown Debian-exim:Debian-exim /var/spool/exim4 /var/log/exim4\n\
         hostname {MAIL_NAME}\n\
         exec {EXIM} -bdf -oX {HOST}:25 -oP {pid}\n",
        pid = lab.path("exim.pid")
    );
    lab.start_unshared("exim", &["-m", "-u"], &script);
}

#[test]
fn exim_is_named_with_its_version_and_greeting_host() {
    assert!(
        Path::new(EXIM).is_file(),
        "{EXIM} not found: install exim4-daemon-light (scripts/install-test-deps.sh does)"
    );
    let version = upstream_version("exim4-daemon-light");
    let mut lab = Lab::new(&SITE);
    start_exim(&mut lab);
    lab.wait_listening("exim", 25, Duration::from_secs(30));

    let out = portwatch(&["scan", HOST, "-p", "25", "--format", "jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let results = json_lines(&stdout(&out));
    let r = results
        .iter()
        .find(|r| r["port"] == 25)
        .unwrap_or_else(|| panic!("no result for 25 in {results:?}"));
    assert_eq!(r["state"], "open", "{r}");
    assert_eq!(r["service"], "smtp", "{r}");
    let banner = &r["details"]["banner"];
    assert_eq!(banner["product"], "Exim", "{r}");
    assert_eq!(banner["version"], version.as_str(), "{r}");
    assert_eq!(banner["info"], format!("host {MAIL_NAME}"), "{r}");
    let text = banner["text"].as_str().unwrap_or_else(|| panic!("{r}"));
    assert!(
        text.starts_with(&format!("220 {MAIL_NAME} ESMTP Exim {version} ")),
        "{text:?}"
    );

    // The table names it the same way.
    let table = portwatch(&["scan", HOST, "-p", "25"]);
    assert_eq!(table.status.code(), Some(0), "{}", stderr(&table));
    let text = stdout(&table);
    assert!(text.contains(&format!("Exim {version}")), "{text}");
}
