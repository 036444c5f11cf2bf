//! Snapshot tests of `fix` plans and their error messages.

use ipnet::IpNet;
use portwatch_kb::fix::{self, FixPlan, Platform, Stage};
use portwatch_kb::{KbError, Transport};

/// A plan as plain text: one `[stage] say` line and one `$ run` line per step.
fn render(plan: &FixPlan) -> String {
    let mut out = format!(
        "port {} {:?} on {} from {:?} (proven here: {})\n",
        plan.port,
        plan.transports,
        plan.platform,
        plan.source.map(|n| n.to_string()),
        plan.proven_here
    );
    for caution in &plan.cautions {
        out.push_str(&format!("! {caution}\n"));
    }
    for step in &plan.steps {
        out.push_str(&format!(
            "[{:?} {:?}] {}\n    $ {}\n",
            step.stage, step.kind, step.say, step.run
        ));
    }
    out
}

fn net(text: &str) -> IpNet {
    text.parse().unwrap()
}

#[test]
fn ufw_445_with_source() {
    let plan = fix::plan(
        445,
        Some(Transport::Tcp),
        Platform::Ufw,
        Some(net("10.0.0.0/24")),
    )
    .unwrap();
    insta::assert_snapshot!(render(&plan));
}

#[test]
fn firewalld_445() {
    let plan = fix::plan(445, None, Platform::Firewalld, None).unwrap();
    insta::assert_snapshot!(render(&plan));
}

#[test]
fn nftables_137_with_ipv6_source() {
    let plan = fix::plan(137, None, Platform::Nftables, Some(net("2001:db8::/32"))).unwrap();
    insta::assert_snapshot!(render(&plan));
}

#[test]
fn iptables_139() {
    let plan = fix::plan(139, None, Platform::Iptables, Some(net("192.168.1.0/24"))).unwrap();
    insta::assert_snapshot!(render(&plan));
}

#[test]
fn windows_445_and_with_source() {
    let plan = fix::plan(445, None, Platform::Windows, None).unwrap();
    insta::assert_snapshot!("windows_445", render(&plan));
    let plan = fix::plan(445, None, Platform::Windows, Some(net("10.1.0.0/16"))).unwrap();
    insta::assert_snapshot!("windows_445_source", render(&plan));
}

#[test]
fn macos_139() {
    let plan = fix::plan(139, None, Platform::Macos, Some(net("10.0.0.0/8"))).unwrap();
    insta::assert_snapshot!(render(&plan));
}

#[test]
fn samba_139_and_445() {
    let plan = fix::plan(139, None, Platform::Samba, None).unwrap();
    insta::assert_snapshot!("samba_139", render(&plan));
    let plan = fix::plan(445, None, Platform::Samba, Some(net("10.0.0.0/24"))).unwrap();
    insta::assert_snapshot!("samba_445_source", render(&plan));
}

#[test]
fn json_shape() {
    let plan = fix::plan(138, None, Platform::Ufw, None).unwrap();
    insta::assert_json_snapshot!(plan);
}

#[test]
fn stages_come_in_order() {
    for &platform in Platform::ALL {
        let plan = fix::plan(445, None, platform, None).unwrap();
        let stages: Vec<Stage> = plan.steps.iter().map(|s| s.stage).collect();
        let rank = |s: &Stage| match s {
            Stage::Close => 0,
            Stage::Harden => 1,
            Stage::Verify => 2,
        };
        assert!(
            stages.windows(2).all(|w| rank(&w[0]) <= rank(&w[1])),
            "{platform}"
        );
        assert!(stages.contains(&Stage::Close), "{platform}");
        assert!(stages.contains(&Stage::Verify), "{platform}");
        assert!(
            plan.steps
                .iter()
                .all(|s| !s.say.is_empty() && !s.run.is_empty())
        );
    }
}

#[test]
fn page_steps_follow_the_platform_family() {
    let has = |port, platform, text: &str| {
        fix::plan(port, None, platform, None)
            .unwrap()
            .steps
            .iter()
            .any(|s| s.stage == Stage::Harden && s.run.contains(text))
    };
    assert!(has(
        445,
        Platform::Windows,
        "Set-SmbServerConfiguration -EnableSMB1Protocol $false"
    ));
    assert!(has(137, Platform::Windows, "SetTcpipNetbios"));
    assert!(has(445, Platform::Ufw, "systemctl disable --now smbd nmbd"));
    assert!(has(445, Platform::Samba, "server min protocol = SMB2"));
    assert!(!has(445, Platform::Ufw, "Set-SmbServerConfiguration"));
}

#[test]
fn plain_rules_match_the_expected_commands() {
    let runs = |port, t, platform, source: Option<IpNet>| -> Vec<String> {
        fix::plan(port, t, platform, source)
            .unwrap()
            .steps
            .into_iter()
            .map(|s| s.run)
            .collect()
    };
    let tcp = Some(Transport::Tcp);
    assert!(
        runs(8081, tcp, Platform::Ufw, None).contains(&"sudo ufw prepend deny 8081/tcp".to_owned())
    );
    assert!(
        runs(8081, tcp, Platform::Nftables, None)
            .contains(&"sudo nft insert rule inet filter input tcp dport 8081 drop".to_owned())
    );
    assert!(
        runs(8081, tcp, Platform::Nftables, Some(net("10.0.0.0/8"))).contains(
            &"sudo nft insert rule inet filter input ip saddr 10.0.0.0/8 tcp dport 8081 accept"
                .to_owned()
        )
    );
    assert!(
        runs(8081, tcp, Platform::Macos, None)
            .iter()
            .any(|r| r.contains("'block in quick proto tcp from any to any port 8081'"))
    );
    assert!(runs(8081, tcp, Platform::Windows, None).contains(
        &"New-NetFirewallRule -DisplayName \"portwatch: block TCP 8081\" -Direction Inbound -Protocol TCP -LocalPort 8081 -Action Block".to_owned()
    ));
    assert!(
        runs(2905, Some(Transport::Sctp), Platform::Iptables, None)
            .contains(&"sudo ip6tables -I INPUT -p sctp --dport 2905 -j DROP".to_owned())
    );
}

#[test]
fn host_bits_of_the_source_are_dropped() {
    let plan = fix::plan(445, None, Platform::Ufw, Some(net("10.0.0.77/24"))).unwrap();
    assert_eq!(plan.source, Some(net("10.0.0.0/24")));
}

#[test]
fn port_without_page_closes_tcp_and_udp() {
    let plan = fix::plan(31_999, None, Platform::Iptables, None).unwrap();
    assert_eq!(plan.transports, [Transport::Tcp, Transport::Udp]);
}

#[test]
fn errors_name_what_is_wrong() {
    let err = fix::plan(80, None, Platform::Samba, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "fix for port 80 on samba: the samba platform only applies to ports 137, 138, 139 and 445"
    );
    let err = fix::plan(70_000, None, Platform::Ufw, None).unwrap_err();
    assert_eq!(err, KbError::PortOutOfRange { value: 70_000 });
    assert_eq!(
        err.to_string(),
        "port 70000 is out of range: ports are 1-65535"
    );
    let err = fix::plan(0, None, Platform::Ufw, None).unwrap_err();
    assert_eq!(err, KbError::PortOutOfRange { value: 0 });
    let err = fix::plan(2905, Some(Transport::Sctp), Platform::Ufw, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "fix for port 2905/sctp on ufw: ufw cannot filter sctp by port"
    );
}

fn runs(port: u32, platform: Platform, source: Option<IpNet>) -> Vec<String> {
    fix::plan(port, None, platform, source)
        .unwrap()
        .steps
        .into_iter()
        .filter(|s| s.stage == Stage::Close)
        .map(|s| s.run)
        .collect()
}

#[test]
fn session_ports_keep_established_connections_and_say_what_they_cut() {
    assert!(
        runs(22, Platform::Iptables, None)
            .contains(&"sudo iptables -I INPUT -p tcp --dport 22 --syn -j DROP".to_owned())
    );
    assert!(
        runs(22, Platform::Nftables, None).contains(
            &"sudo nft insert rule inet filter input tcp dport 22 tcp flags syn / syn,ack drop"
                .to_owned()
        )
    );
    for port in fix::SESSION_PORTS {
        for &platform in Platform::ALL {
            let Ok(plan) = fix::plan(u32::from(port), None, platform, None) else {
                continue;
            };
            if platform == Platform::Samba {
                continue;
            }
            let cautions = plan.cautions.join(" ");
            assert!(
                cautions.contains("--source <your-network>"),
                "{port} {platform}: {cautions}"
            );
            assert!(
                cautions.contains("new connection"),
                "{port} {platform}: {cautions}"
            );
            // The only allow a plan removes is one for exactly the port it closes (ufw would
            // skip the deny otherwise); never another service's (the old ufw plan deleted the
            // SSH allow it had just advised).
            let closes: Vec<String> = plan
                .transports
                .iter()
                .map(|t| format!("sudo ufw delete allow {port}/{t}"))
                .collect();
            assert!(
                plan.steps
                    .iter()
                    .filter(|s| s.run.contains("delete allow"))
                    .all(|s| closes.contains(&s.run)),
                "{port} {platform}"
            );
        }
    }
    // A plan for an ordinary port drops every packet and carries no session caution.
    let smb = fix::plan(445, None, Platform::Iptables, None).unwrap();
    assert!(smb.cautions.is_empty(), "{:?}", smb.cautions);
    assert!(
        runs(445, Platform::Iptables, None)
            .iter()
            .all(|r| !r.contains("conntrack"))
    );
}

#[test]
fn everything_sources_are_refused_and_public_ones_cautioned() {
    for every in ["0.0.0.0/0", "::/0"] {
        for &platform in Platform::ALL {
            let err = fix::plan(445, None, platform, Some(net(every))).unwrap_err();
            assert!(
                matches!(err, KbError::SourceIsEverything { port: 445, .. }),
                "{err}"
            );
            let text = err.to_string();
            assert!(
                text.contains(every) && text.contains("every address"),
                "{text}"
            );
        }
    }
    let public = fix::plan(445, None, Platform::Ufw, Some(net("198.18.0.0/15"))).unwrap();
    assert!(
        public
            .cautions
            .iter()
            .any(|c| c.contains("public internet addresses"))
    );
    let private = fix::plan(445, None, Platform::Ufw, Some(net("192.168.1.0/24"))).unwrap();
    assert!(private.cautions.is_empty(), "{:?}", private.cautions);
}

#[test]
fn ufw_rules_go_to_the_top_and_enabling_keeps_other_ports() {
    let close = runs(139, Platform::Ufw, Some(net("10.0.0.0/24")));
    let deny = close
        .iter()
        .position(|r| r == "sudo ufw prepend deny 139/tcp")
        .unwrap();
    let allow = close
        .iter()
        .position(|r| r == "sudo ufw prepend allow from 10.0.0.0/24 to any port 139 proto tcp")
        .unwrap();
    assert!(
        deny < allow,
        "the allow is prepended last so it lands above the deny"
    );
    let default_allow = close
        .iter()
        .position(|r| r.ends_with("sudo ufw default allow incoming"))
        .unwrap();
    let enable = close
        .iter()
        .position(|r| r.ends_with("sudo ufw --force enable"))
        .unwrap();
    assert!(
        default_allow < enable && enable < deny && deny < allow,
        "{close:#?}"
    );
    let plan = fix::plan(139, None, Platform::Ufw, None).unwrap();
    assert!(
        plan.steps
            .iter()
            .any(|s| s.say.contains("would close every other open port"))
    );
}

#[test]
fn samba_plans_say_that_stopping_nmbd_closes_137() {
    for port in [137, 138, 139, 445] {
        let plan = fix::plan(port, None, Platform::Samba, None).unwrap();
        let nmbd = plan
            .steps
            .iter()
            .find(|s| s.run.contains("disable --now nmbd"))
            .unwrap_or_else(|| panic!("{port}: no nmbd step"));
        let netbios = plan.steps.iter().find(|s| s.run == "disable netbios = yes");
        if let Some(netbios) = netbios {
            assert!(netbios.say.contains("137/udp"), "{port}: {}", netbios.say);
            assert_eq!(netbios.kind, fix::StepKind::Config);
        }
        assert!(
            plan.steps
                .iter()
                .any(|s| s.say.contains("137/udp") && s.say.contains("nmbd")),
            "{port}: {}",
            nmbd.say
        );
    }
}

#[test]
fn verify_step_reads_filtered_as_the_fix_holding() {
    let plan = fix::plan(139, None, Platform::Nftables, None).unwrap();
    let scan = plan
        .steps
        .iter()
        .find(|s| s.run.starts_with("portwatch scan"))
        .unwrap();
    assert_eq!(scan.run, "portwatch scan <host> -p T:139 --assume-up --all");
    assert!(
        scan.say
            .contains("The fix holds when it shows 139/tcp filtered or closed")
    );
}

#[test]
fn proof_labels_follow_the_platform() {
    for &platform in Platform::ALL {
        let plan = fix::plan(445, Some(Transport::Tcp), platform, None).unwrap();
        assert_eq!(plan.proven_here, platform.proven_here(), "{platform}");
    }
    // The one Samba plan the suite applies for real.
    assert!(
        fix::plan(139, None, Platform::Samba, None)
            .unwrap()
            .proven_here
    );
    assert!(
        !fix::plan(445, None, Platform::Samba, None)
            .unwrap()
            .proven_here
    );
    assert!(!Platform::Windows.proven_here() && !Platform::Macos.proven_here());
    assert!(Platform::Ufw.proven_here() && Platform::Firewalld.proven_here());
}

#[test]
fn proof_labels_cover_only_the_plans_the_suite_applies() {
    // fix_applied.rs applies TCP and UDP rules on every firewall it runs.
    for platform in [
        Platform::Ufw,
        Platform::Nftables,
        Platform::Iptables,
        Platform::Firewalld,
    ] {
        let tcp = fix::plan(139, None, platform, None).unwrap();
        assert_eq!(tcp.transports, [Transport::Tcp], "{platform}");
        assert!(tcp.proven_here, "{platform}");
        let udp = fix::plan(137, Some(Transport::Udp), platform, None).unwrap();
        assert!(udp.proven_here, "{platform}");
        let unpaged = fix::plan(40000, None, platform, None).unwrap();
        assert!(unpaged.transports.contains(&Transport::Udp));
        assert!(unpaged.proven_here, "{platform}");
    }
    // No SCTP rule is applied.
    assert!(
        !fix::plan(3868, Some(Transport::Sctp), Platform::Iptables, None)
            .unwrap()
            .proven_here
    );
    // Source-limited TCP plans are applied on nftables, ufw, iptables and firewalld; a
    // source-limited UDP plan nowhere.
    let lan = Some(net("10.0.0.0/24"));
    for platform in [
        Platform::Nftables,
        Platform::Ufw,
        Platform::Iptables,
        Platform::Firewalld,
    ] {
        assert!(
            fix::plan(139, None, platform, lan).unwrap().proven_here,
            "{platform}"
        );
    }
    assert!(
        !fix::plan(137, Some(Transport::Udp), Platform::Iptables, lan)
            .unwrap()
            .proven_here
    );
}
