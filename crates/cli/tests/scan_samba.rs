//! NetBIOS and SMB identification against real Samba servers in the test bed, checked against
//! the test bed's configuration and against what nmap's nbstat, smb-protocols and
//! smb2-security-mode scripts report for the same hosts.

mod common;
use common::{assert_route_is_ours, json_lines, portwatch, stderr, stdout, testbed};
use serde_json::Value;
use std::collections::HashMap;

fn samba_hosts() -> Vec<Value> {
    testbed()["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["role"] == "samba")
        .cloned()
        .collect()
}

fn scan(addr: &str) -> HashMap<(u64, String), Value> {
    assert_route_is_ours(addr);
    let out = portwatch(&[
        "scan",
        addr,
        "-p",
        "T:139,445,U:137,138",
        "--all",
        "--format",
        "jsonl",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    json_lines(&stdout(&out))
        .into_iter()
        .map(|v| {
            (
                (
                    v["port"].as_u64().unwrap(),
                    v["proto"].as_str().unwrap().to_string(),
                ),
                v,
            )
        })
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn samba_hosts_are_identified_as_configured() {
    for host in samba_hosts() {
        let addr = host["addr4"].as_str().unwrap();
        let name = &host["name"];
        let r = scan(addr);
        let netbios = host["netbios"].as_bool().unwrap();
        let smb = &r[&(445, "tcp".into())];
        assert_eq!(smb["state"], "open", "{name}: {smb}");
        let facts = &smb["details"]["smb"];
        assert_eq!(
            strings(&facts["dialects"]),
            strings(&host["dialects"]),
            "{name}: {facts}"
        );
        assert_eq!(facts["smb1"], host["smb1"], "{name}: {facts}");
        assert_eq!(facts["signing"], host["signing"], "{name}: {facts}");
        assert!(
            facts["server_guid"].as_str().is_some_and(|g| g.len() == 36),
            "{facts}"
        );
        let summary = smb["details"]["summary"].as_str().unwrap();
        let want = if host["smb1"] == true {
            "SMB1 enabled"
        } else {
            "SMB1 disabled"
        };
        assert!(summary.contains(want), "{summary}");
        if netbios {
            let session = &r[&(139, "tcp".into())];
            assert_eq!(session["state"], "open");
            assert_eq!(
                session["details"]["netbios"]["session"], "accepted",
                "{session}"
            );
            assert_eq!(session["details"]["netbios"]["name"], host["netbios_name"]);
            assert_eq!(
                strings(&session["details"]["smb"]["dialects"]),
                strings(&host["dialects"])
            );
            let ns = &r[&(137, "udp".into())];
            assert_eq!(
                (ns["state"].as_str(), ns["reason"].as_str()),
                (Some("open"), Some("udp-response"))
            );
            let nb = &ns["details"]["netbios"];
            assert_eq!(nb["name"], host["netbios_name"], "{nb}");
            assert_eq!(nb["workgroup"], host["workgroup"], "{nb}");
            assert_eq!(nb["file_server"], true);
            assert_eq!(nb["mac"], "00:00:00:00:00:00");
            let suffixes: Vec<&str> = nb["names"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|n| n["suffix"].as_str())
                .collect();
            for s in ["<00>", "<03>", "<20>", "<1e>"] {
                assert!(suffixes.contains(&s), "{name}: {suffixes:?}");
            }
            let dgm = &r[&(138, "udp".into())];
            assert_eq!(
                (dgm["state"].as_str(), dgm["reason"].as_str()),
                (Some("open|filtered"), Some("no-response"))
            );
        } else {
            assert_eq!(r[&(139, "tcp".into())]["state"], "closed");
            assert_eq!(r[&(137, "udp".into())]["state"], "closed");
            assert_eq!(r[&(137, "udp".into())]["reason"], "port-unreach");
        }
    }
}

/// Dialects, SMB1 and signing as nmap's scripts print them.
struct NmapView {
    dialects: Vec<String>,
    smb1: bool,
    signing: Option<String>,
    netbios_name: Option<String>,
}

fn nmap_view(addr: &str) -> NmapView {
    let out = std::process::Command::new("nmap")
        .args([
            "-n",
            "-Pn",
            "-sS",
            "-sU",
            "-p",
            "T:139,445,U:137",
            "--script",
            "nbstat,smb-protocols,smb2-security-mode",
            addr,
        ])
        .output()
        .expect("nmap is installed by scripts/install-test-deps.sh");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut view = NmapView {
        dialects: vec![],
        smb1: false,
        signing: None,
        netbios_name: None,
    };
    let mut in_dialects = false;
    for line in text.lines() {
        let l = line.trim_start_matches(['|', '_', ' ']).trim();
        if l.starts_with("dialects:") {
            in_dialects = true;
            continue;
        }
        if in_dialects {
            let word = l.split_whitespace().next().unwrap_or("");
            if l.starts_with("NT LM 0.12") {
                view.smb1 = true;
                view.dialects.push("NT LM 0.12".into());
            } else if word.len() == 3 && word.chars().all(|c| c.is_ascii_digit()) {
                let b = word.as_bytes();
                let d = match word {
                    "202" => "2.0.2".to_string(),
                    "210" => "2.1".to_string(),
                    _ => format!(
                        "{}.{}{}",
                        b[0] as char,
                        b[1] as char,
                        if b[2] == b'0' {
                            String::new()
                        } else {
                            format!(".{}", b[2] as char)
                        }
                    ),
                };
                view.dialects.push(d);
            } else {
                in_dialects = false;
            }
        }
        if l.contains("Message signing enabled and required") {
            view.signing = Some("required".into());
        } else if l.contains("Message signing enabled but not required") {
            view.signing = Some("enabled-not-required".into());
        }
        if let Some(rest) = l.strip_prefix("nbstat: NetBIOS name: ") {
            view.netbios_name = rest.split(',').next().map(String::from);
        }
    }
    view
}

#[test]
fn results_agree_with_nmap_scripts() {
    for host in samba_hosts() {
        let addr = host["addr4"].as_str().unwrap();
        let ours = scan(addr);
        let nmap = nmap_view(addr);
        let smb = &ours[&(445, "tcp".into())]["details"]["smb"];
        assert_eq!(strings(&smb["dialects"]), nmap.dialects, "{addr}: dialects");
        assert_eq!(smb["smb1"].as_bool(), Some(nmap.smb1), "{addr}: SMB1");
        assert_eq!(
            smb["signing"].as_str().map(String::from),
            nmap.signing,
            "{addr}: signing"
        );
        let ours_name = ours
            .get(&(137, "udp".into()))
            .and_then(|r| r["details"]["netbios"]["name"].as_str().map(String::from));
        assert_eq!(ours_name, nmap.netbios_name, "{addr}: NetBIOS name");
    }
}
