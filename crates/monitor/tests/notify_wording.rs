//! Every rule × opened/reminder/resolved, rendered by every notifier: the title's verb, the
//! state line and the advice say what happened (issue 13).

use std::net::{IpAddr, Ipv4Addr};

use portwatch_kb::Severity;
use portwatch_monitor::alerts::{Message, MessageKind};
use portwatch_monitor::daemon::alert_for;
use portwatch_monitor::notify::{
    Alert, discord, email, ntfy, pagerduty, slack, teams, telegram, webhook,
};
use portwatch_monitor::policy::{Finding, Rule};
use portwatch_scan::{PortState, Proto};
use serde_json::Value;

/// Every rule. The match has no wildcard, so a new variant does not compile here until it is
/// listed, and then fails below until it has its own wording.
fn every_rule() -> Vec<Rule> {
    let all = [
        Rule::MustBeClosed,
        Rule::Unexpected,
        Rule::ExpectedOpen,
        Rule::HostDown,
        Rule::CannotVerify,
        Rule::AgentStale,
    ];
    for rule in all {
        match rule {
            Rule::MustBeClosed
            | Rule::Unexpected
            | Rule::ExpectedOpen
            | Rule::HostDown
            | Rule::CannotVerify
            | Rule::AgentStale => {}
        }
    }
    all.to_vec()
}

/// What a message must say.
struct Expected {
    /// The title's start (verb and target).
    starts: String,
    /// The title's end.
    ends: &'static str,
    /// The `State:` value, `None`: no state line.
    state: Option<&'static str>,
    /// The advice heading (lower case), `None`: no advice.
    advice: Option<&'static str>,
}

const SINCE_MS: i64 = 1_748_764_800_000;

fn finding(rule: Rule, vantage: &str) -> Finding {
    let (port, state) = match rule {
        Rule::MustBeClosed | Rule::Unexpected => (Some(445), Some(PortState::Open)),
        Rule::ExpectedOpen => (Some(443), Some(PortState::Closed)),
        Rule::HostDown | Rule::CannotVerify | Rule::AgentStale => (None, None),
    };
    Finding {
        group: "servers".into(),
        vantage: vantage.into(),
        host: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5)),
        hostname: Some("srv01".into()),
        port,
        proto: port.map(|_| Proto::Tcp),
        rule,
        severity: Severity::High,
        state,
        service: None,
        // An Ubuntu banner: the payload picks ufw commands wherever it gives close advice.
        answered: port.map(|_| "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10".into()),
        explain: Some("what the port is".into()),
        fix: None,
    }
}

fn expected(rule: Rule, kind: MessageKind, vantage: &str) -> Expected {
    use MessageKind as K;
    if rule == Rule::AgentStale {
        // About the agent (named in `hostname`), not a port of a group.
        let quiet = "not heard from since its last heartbeat";
        let check = Some("how to check the host");
        let (verb, ends, advice) = match kind {
            K::Opened => ("AGENT STALE", quiet, check),
            K::Reminder => ("AGENT STILL STALE", quiet, check),
            K::Resolved => ("AGENT BACK", " stale", None),
        };
        return Expected {
            starts: format!("{verb} srv01 (vantage {vantage}): "),
            ends,
            state: None,
            advice,
        };
    }
    let from = if vantage == "local" {
        String::new()
    } else {
        format!(" from {vantage}")
    };
    let target = |port: &str| match port {
        "" => format!("10.0.0.5{from} (servers): "),
        p => format!("{p} on 10.0.0.5{from} (servers): "),
    };
    let (verb, port, ends, state, advice) = match (rule, kind) {
        (Rule::MustBeClosed, K::Opened) => (
            "OPEN",
            "445/tcp",
            "must be closed",
            Some("open"),
            Some("how to close it (ufw)"),
        ),
        (Rule::MustBeClosed, K::Reminder) => (
            "STILL OPEN",
            "445/tcp",
            "must be closed",
            Some("open"),
            Some("how to close it (ufw)"),
        ),
        (Rule::MustBeClosed, K::Resolved) => (
            "CLOSED",
            "445/tcp",
            "must be closed (was open)",
            Some("closed (was open)"),
            None,
        ),
        (Rule::Unexpected, K::Opened) => (
            "OPEN",
            "445/tcp",
            "not allowed open",
            Some("open"),
            Some("how to close it (ufw)"),
        ),
        (Rule::Unexpected, K::Reminder) => (
            "STILL OPEN",
            "445/tcp",
            "not allowed open",
            Some("open"),
            Some("how to close it (ufw)"),
        ),
        (Rule::Unexpected, K::Resolved) => (
            "CLOSED",
            "445/tcp",
            "not allowed open (was open)",
            Some("closed (was open)"),
            None,
        ),
        (Rule::ExpectedOpen, K::Opened) => (
            "DOWN",
            "443/tcp",
            "expected open",
            Some("closed"),
            Some("how to bring it back"),
        ),
        (Rule::ExpectedOpen, K::Reminder) => (
            "STILL DOWN",
            "443/tcp",
            "expected open",
            Some("closed"),
            Some("how to bring it back"),
        ),
        (Rule::ExpectedOpen, K::Resolved) => (
            "UP AGAIN",
            "443/tcp",
            "expected open (was down)",
            Some("open (was closed)"),
            None,
        ),
        (Rule::HostDown, K::Opened) => {
            ("DOWN", "", "host down", None, Some("how to check the host"))
        }
        (Rule::HostDown, K::Reminder) => (
            "STILL DOWN",
            "",
            "host down",
            None,
            Some("how to check the host"),
        ),
        (Rule::HostDown, K::Resolved) => ("UP AGAIN", "", "host answers again", None, None),
        (Rule::CannotVerify, K::Opened) => (
            "CANNOT VERIFY",
            "",
            "cannot verify",
            None,
            Some("how to check the host"),
        ),
        (Rule::CannotVerify, K::Reminder) => (
            "STILL CANNOT VERIFY",
            "",
            "cannot verify",
            None,
            Some("how to check the host"),
        ),
        (Rule::CannotVerify, K::Resolved) => (
            "ANSWERS AGAIN",
            "",
            "host answers again, its rules can be verified",
            None,
            None,
        ),
        (Rule::AgentStale, _) => unreachable!("answered above"),
    };
    Expected {
        starts: format!("{verb} {}", target(port)),
        ends,
        state,
        advice,
    }
}

fn message(rule: Rule, kind: MessageKind, vantage: &str) -> Alert {
    let at_ms = SINCE_MS
        + match kind {
            MessageKind::Opened => 5_000,
            MessageKind::Reminder => 4 * 3_600_000,
            MessageKind::Resolved => 2 * 3_600_000,
        };
    alert_for(&Message {
        kind,
        idempotency_key: format!("k|{rule:?}|{kind:?}"),
        key: format!("k|{rule:?}"),
        since_ms: SINCE_MS,
        at_ms,
        finding: finding(rule, vantage),
    })
}

/// One notifier's rendering: its title, its state value, and the whole message.
struct Rendered {
    channel: &'static str,
    title: Option<String>,
    state: Option<String>,
    whole: String,
}

fn fact(list: &Value, label_key: &str, label: &str, value_key: &str) -> Option<String> {
    list.as_array()?
        .iter()
        .find(|f| f[label_key] == label)
        .map(|f| f[value_key].as_str().unwrap_or_default().to_string())
}

fn state_in_text(text: &str, prefix: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .map(|v| v.trim().to_string())
}

fn render_all(a: &Alert) -> Vec<Rendered> {
    let mut out = Vec::new();
    out.push(Rendered {
        channel: "cli",
        title: Some(a.title()),
        state: None,
        whole: a.title(),
    });
    let hook = webhook::payload(a);
    out.push(Rendered {
        channel: "webhook text",
        title: hook["title"].as_str().map(String::from),
        state: state_in_text(hook["text"].as_str().unwrap(), "State:"),
        whole: hook["text"].as_str().unwrap().to_string(),
    });
    out.push(Rendered {
        channel: "webhook markdown",
        title: None,
        state: state_in_text(hook["markdown"].as_str().unwrap(), "- **State:**"),
        whole: hook["markdown"].as_str().unwrap().to_string(),
    });
    let s = slack::payload(a);
    let fields = &s["blocks"][2]["fields"];
    out.push(Rendered {
        channel: "slack",
        title: s["blocks"][0]["text"]["text"].as_str().map(String::from),
        state: fields.as_array().unwrap().iter().find_map(|f| {
            f["text"]
                .as_str()
                .unwrap()
                .strip_prefix("*State*\n")
                .map(String::from)
        }),
        whole: s.to_string(),
    });
    let d = discord::payload(a);
    out.push(Rendered {
        channel: "discord",
        title: d["content"].as_str().map(String::from),
        state: fact(&d["embeds"][0]["fields"], "name", "State", "value"),
        whole: d.to_string(),
    });
    let t = teams::card(a);
    out.push(Rendered {
        channel: "teams",
        title: t["body"][0]["text"].as_str().map(String::from),
        state: fact(&t["body"][2]["facts"], "title", "State", "value"),
        whole: t.to_string(),
    });
    let html = telegram::html(a);
    out.push(Rendered {
        channel: "telegram",
        title: html
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("<b>")?.strip_suffix("</b>"))
            .map(String::from),
        state: state_in_text(&html, "<b>State:</b>"),
        whole: html.clone(),
    });
    out.push(Rendered {
        channel: "ntfy",
        title: Some(ntfy::header_text(&a.title())),
        state: state_in_text(&a.text(), "State:"),
        whole: a.text(),
    });
    let pd = pagerduty::payload(a, "routing");
    if pd["event_action"] == "trigger" {
        out.push(Rendered {
            channel: "pagerduty",
            title: pd["payload"]["summary"].as_str().map(String::from),
            state: pd["payload"]["custom_details"]["state"]
                .as_str()
                .map(String::from),
            whole: pd.to_string(),
        });
    }
    let from: lettre::message::Mailbox = "portwatch <pw@example.test>".parse().unwrap();
    let mail = email::message(a, &from, std::slice::from_ref(&from)).unwrap();
    let formatted = String::from_utf8(mail.formatted()).unwrap();
    out.push(Rendered {
        channel: "email",
        title: mail.headers().get_raw("Subject").map(String::from),
        state: state_in_text(&formatted, "State:"),
        whole: formatted,
    });
    out
}

#[test]
fn every_rule_and_kind_says_what_happened_in_every_notifier() {
    let mut checked = 0;
    for vantage in ["local", "internet"] {
        for rule in every_rule() {
            for kind in [
                MessageKind::Opened,
                MessageKind::Reminder,
                MessageKind::Resolved,
            ] {
                let want = expected(rule, kind, vantage);
                let alert = message(rule, kind, vantage);
                for r in render_all(&alert) {
                    let at = format!("{rule:?} {kind:?} from {vantage} in {}", r.channel);
                    if let Some(title) = &r.title {
                        assert!(
                            title.starts_with(&want.starts) && title.ends_with(want.ends),
                            "{at}: title {title:?}, want {:?} … {:?}",
                            want.starts,
                            want.ends
                        );
                    }
                    // The CLI line is the title alone.
                    if r.channel != "cli" {
                        assert_eq!(r.state.as_deref(), want.state, "{at}: state\n{}", r.whole);
                        let whole = r.whole.to_lowercase();
                        let closes =
                            whole.contains("how to close it") || whole.contains("ufw deny");
                        assert_eq!(
                            closes,
                            want.advice.is_some_and(|h| h.starts_with("how to close")),
                            "{at}: close advice\n{}",
                            r.whole
                        );
                        for heading in ["how to bring it back", "how to check the host"] {
                            assert_eq!(
                                whole.contains(heading),
                                want.advice == Some(heading),
                                "{at}: {heading:?}\n{}",
                                r.whole
                            );
                        }
                        if let Some(heading) = want.advice {
                            assert!(whole.contains(heading), "{at}: {heading:?}\n{}", r.whole);
                        }
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 2 * 5 * 3 * 9, "{checked}");
}

#[test]
fn the_raw_alert_carries_close_commands_only_where_it_advises_closing() {
    for rule in every_rule() {
        for kind in [
            MessageKind::Opened,
            MessageKind::Reminder,
            MessageKind::Resolved,
        ] {
            let alert = message(rule, kind, "local");
            let advises_close = expected(rule, kind, "local")
                .advice
                .is_some_and(|h| h.starts_with("how to close"));
            assert_eq!(
                !alert.fix.is_empty(),
                advises_close,
                "{rule:?} {kind:?}: {:?}",
                alert.fix
            );
        }
    }
}

#[test]
fn reminders_count_how_long_without_saying_open() {
    let alert = message(Rule::ExpectedOpen, MessageKind::Reminder, "local");
    let text = alert.text();
    assert!(
        text.contains("Since:    2025-06-01T08:00:00Z (for 4h 0m)"),
        "{text}"
    );
}

#[test]
fn a_down_port_seen_from_a_vantage_is_not_called_reachable() {
    let down = message(Rule::ExpectedOpen, MessageKind::Opened, "internet").lead();
    assert!(
        down.ends_with(": 443/tcp not reachable from internet."),
        "{down}"
    );
    let open = message(Rule::MustBeClosed, MessageKind::Opened, "internet").lead();
    assert!(
        open.ends_with(": 445/tcp reachable from internet."),
        "{open}"
    );
}
