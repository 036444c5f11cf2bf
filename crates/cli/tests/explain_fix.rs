//! `explain` and `fix`: the knowledge base for people and programs, clear errors for bad
//! input, and the risk each open port carries in scan output.

mod common;
use common::{json_lines, portwatch, stderr, stdout};
use serde_json::Value;

fn ok(args: &[&str]) -> String {
    let out = portwatch(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

fn usage_error(args: &[&str], needle: &str) {
    let out = portwatch(args);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains(needle), "{args:?}: {err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn explain_smb_for_people() {
    let text = ok(&["explain", "445"]);
    for needle in [
        "SMB",
        "EternalBlue",
        "CVE-2017-0144",
        "critical",
        "Safe policy",
        "139",
        "portwatch fix 445",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(
        !text.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
}

#[test]
fn explain_by_name_and_transport() {
    let doc: Value = serde_json::from_str(&ok(&["explain", "smb", "--format", "json"])).unwrap();
    assert_eq!(doc[0]["port"], 445);
    let doc: Value =
        serde_json::from_str(&ok(&["explain", "netbios-ssn", "--format", "json"])).unwrap();
    assert_eq!(doc[0]["port"], 139);
    let doc: Value =
        serde_json::from_str(&ok(&["explain", "137/udp", "--format", "json"])).unwrap();
    assert_eq!(doc["port"], 137);
    assert_eq!(doc["transport"], "udp");
    assert_eq!(doc["risks"][0]["transport"], "udp");
    let page = &doc["pages"][0];
    for field in [
        "summary",
        "description",
        "history",
        "software",
        "lan_severity",
        "internet_severity",
        "lan_risk",
        "internet_risk",
        "safe_policy",
        "related",
        "attacks",
    ] {
        assert!(!page[field].is_null(), "page field {field} missing: {page}");
    }
}

#[test]
fn explain_registered_and_unassigned_ports() {
    let doc: Value = serde_json::from_str(&ok(&["explain", "6379", "--format", "json"])).unwrap();
    assert_eq!(doc["assigned"], true);
    let doc: Value = serde_json::from_str(&ok(&["explain", "65000", "--format", "json"])).unwrap();
    assert_eq!(doc["assigned"], false);
    assert!(doc["headline"].as_str().unwrap().contains("unassigned"));
}

#[test]
fn explain_bad_input() {
    usage_error(&["explain", "0"], "port 0");
    usage_error(&["explain", "70000"], "70000");
    usage_error(&["explain", "no-such-service"], "no-such-service");
    usage_error(&["explain", "445/xyz"], "xyz");
}

#[test]
fn fix_prints_commands_per_platform() {
    let ufw = ok(&["fix", "445", "--platform", "ufw"]);
    assert!(ufw.contains("ufw prepend deny"), "{ufw}");
    assert!(ufw.contains("never changes the system"));
    let limited = ok(&["fix", "445", "--platform", "ufw", "--source", "10.0.0.0/8"]);
    assert!(limited.contains("from 10.0.0.0/8"), "{limited}");
    let nft = ok(&["fix", "139", "--platform", "nftables"]);
    assert!(nft.contains("nft") && nft.contains("139"), "{nft}");
    let windows = ok(&["fix", "445", "--platform", "windows"]);
    assert!(windows.contains("New-NetFirewallRule"), "{windows}");
    assert!(
        windows.contains("Set-SmbServerConfiguration -EnableSMB1Protocol $false"),
        "{windows}"
    );
    let samba = ok(&["fix", "139", "--platform", "samba"]);
    assert!(samba.contains("disable netbios = yes"), "{samba}");
    let samba = ok(&["fix", "smb", "--platform", "samba"]);
    assert!(samba.contains("server min protocol = SMB2"), "{samba}");
    let json: Value = serde_json::from_str(&ok(&[
        "fix",
        "3389",
        "--platform",
        "iptables",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(json["port"], 3389);
    assert!(
        json["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["stage"] == "verify")
    );
}

#[test]
fn fix_bad_input() {
    usage_error(&["fix", "139", "--platform", "solaris"], "ufw, firewalld");
    usage_error(&["fix", "22", "--platform", "samba"], "139");
    usage_error(&["fix", "0", "--platform", "ufw"], "port 0");
    usage_error(
        &["fix", "445", "--platform", "ufw", "--source", "10.0.0.0/99"],
        "not a network",
    );
}

#[test]
fn scan_results_carry_risk() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    let lines = json_lines(&ok(&[
        "scan",
        "127.0.0.1",
        "-p",
        &port,
        "--format",
        "jsonl",
        "--no-probes",
    ]));
    let risk = &lines[0]["risk"];
    assert!(
        risk["lan"].is_string() && risk["internet"].is_string(),
        "{risk}"
    );
    assert_eq!(risk["explain"], format!("portwatch explain {port}/tcp"));
    let table = ok(&["scan", "127.0.0.1", "-p", &port, "--no-probes"]);
    // Loopback is its own exposure class, rated as `portwatch local` rates it: none.
    assert!(
        table.contains("RISK") && table.contains("none (loopback)"),
        "{table}"
    );
}

#[test]
fn explain_related_ports_use_curated_titles_and_common_names() {
    let es = ok(&["explain", "9300"]);
    assert!(!es.contains("wap-wsp"), "{es}");
    let nats = ok(&["explain", "4222"]);
    assert!(
        nats.contains("NATS") && !nats.contains("unassigned"),
        "{nats}"
    );
    let bo = ok(&["explain", "31337"]);
    assert!(
        bo.starts_with("Port 31337 is Back Orifice")
            && bo.contains("(back-orifice; IANA name eldim)"),
        "{bo}"
    );
    let imap = ok(&["explain", "143"]);
    assert!(imap.contains("Also called: imap4, imap2."), "{imap}");
    let hprop = ok(&["explain", "hprop"]);
    assert!(
        hprop.contains("754/tcp  krb-prop, kprop, krb_prop, krb5_prop, hprop"),
        "{hprop}"
    );
    let whois = ok(&["explain", "whois"]);
    assert!(
        whois.contains("43/tcp") && whois.contains("RFC 3912"),
        "{whois}"
    );
    for (port, name) in [
        ("31337", "Back Orifice"),
        ("12345", "NetBus"),
        ("27374", "SubSeven"),
    ] {
        let doc: Value = serde_json::from_str(&ok(&["explain", port, "--format", "json"])).unwrap();
        let text = doc.to_string();
        assert!(text.contains(name), "{port}: {text}");
        let paged: Vec<&Value> = doc["risks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["page"] == true)
            .collect();
        assert!(
            !paged.is_empty()
                && paged
                    .iter()
                    .all(|r| r["internet"] == "critical" && r["lan"] == "high"),
            "{port}: {}",
            doc["risks"]
        );
    }
}

#[test]
fn fix_refuses_everything_sources_and_cautions_on_session_ports() {
    usage_error(
        &["fix", "445", "--platform", "ufw", "--source", "0.0.0.0/0"],
        "every address",
    );
    usage_error(
        &["fix", "445", "--platform", "nftables", "--source", "::/0"],
        "every address",
    );
    let ssh = ok(&["fix", "22", "--platform", "iptables"]);
    assert!(ssh.contains("--dport 22 --syn -j DROP"), "{ssh}");
    assert!(
        ssh.contains("Caution") && ssh.contains("--source <your-network>"),
        "{ssh}"
    );
    assert!(ssh.contains("# Proven:"), "{ssh}");
    let firewalld = ok(&["fix", "139", "--platform", "firewalld"]);
    assert!(firewalld.contains("# Proven:"), "{firewalld}");
    let windows = ok(&["fix", "139", "--platform", "windows"]);
    assert!(
        windows.contains("# Not proven here") && windows.contains("a system other than"),
        "{windows}"
    );
    let udp = ok(&[
        "fix",
        "137/udp",
        "--platform",
        "nftables",
        "--source",
        "10.0.0.0/24",
    ]);
    assert!(
        udp.contains("# Not proven here") && udp.contains("not one like this"),
        "{udp}"
    );
    let public = ok(&["fix", "445", "--platform", "ufw", "--source", "8.8.8.0/24"]);
    assert!(public.contains("public internet addresses"), "{public}");
}
