//! The configuration file: groups of targets with what to scan, how often, and the policy
//! their ports must follow. All fields are optional except a group's name and targets;
//! unknown keys are errors with the file, line and column; precedence is flags > environment
//! (`PORTWATCH_DATABASE`, `PORTWATCH_LISTEN`) > file > defaults.

mod example;
mod locate;
mod located;
mod raw;
mod shard;
mod silence;
mod validate;
pub mod vantage;

pub use example::EXAMPLE;
pub use raw::{
    RawAlerts, RawCluster, RawConfig, RawGroup, RawPolicy, RawScanOptions, RawShard, RawSilence,
    RawSource, RawVantage, RawVantagePolicy,
};
pub use shard::Sharding;
pub use silence::{Silence, parse_instant};
pub use validate::{
    Cluster, DEFAULT_AGENT_STALE_AFTER, DEFAULT_LEASE, Group, Policy, ScanOptions, Schedule,
    Settings, Source, VantagePolicy, parse_port_set,
};
pub use vantage::{Reach, Vantage};

use crate::error::{MonitorError, Result};
use std::path::Path;

/// Environment variables that override file values: `PORTWATCH_DATABASE`, `PORTWATCH_LISTEN`.
pub const ENV_OVERRIDES: &[&str] = &["PORTWATCH_DATABASE", "PORTWATCH_LISTEN"];

/// Validates one group given outside a file (the command-line one-liners); `origin` names
/// where it came from in messages.
pub fn group_from_raw(raw: RawGroup, origin: &Path) -> Result<Group> {
    validate::group(
        raw,
        &RawScanOptions::default(),
        validate::DEFAULT_EVERY,
        &[],
        &vantage::Known::default(),
        origin,
    )
}

/// Reads, parses and validates a configuration file, then applies environment overrides.
pub fn load(path: &Path) -> Result<Settings> {
    let text = std::fs::read_to_string(path).map_err(|source| MonitorError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// Parses and validates configuration text (`path` is only used in messages).
pub fn parse(text: &str, path: &Path) -> Result<Settings> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| syntax_error(text, path, &e))?;
    located::check(text, path)?;
    let raw = apply_env(raw, env_var)?;
    validate::validate(raw, path).map_err(|e| located_at(text, e))
}

/// A value error with its line and column when its key is written in `text`.
fn located_at(text: &str, e: MonitorError) -> MonitorError {
    let MonitorError::Invalid { path, key, message } = e else {
        return e;
    };
    match locate::offset_of(text, &key, &message) {
        Some(offset) => {
            let (line, column) = line_col(text, offset);
            MonitorError::Syntax {
                path,
                line,
                column,
                message: format!("{key}: {message}"),
            }
        }
        None => MonitorError::Invalid { path, key, message },
    }
}

/// The process environment as [`apply_env`] reads it: unset is `None`, a value that is not
/// UTF-8 is an error naming the variable.
fn env_var(name: &str) -> Result<Option<String>> {
    match std::env::var(name) {
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(MonitorError::Env(format!("{name} is not valid UTF-8")))
        }
    }
}

/// Replaces the file's `database` and `listen` with the [`ENV_OVERRIDES`] that are set.
fn apply_env(
    mut raw: RawConfig,
    var: impl Fn(&str) -> Result<Option<String>>,
) -> Result<RawConfig> {
    if let Some(database) = var("PORTWATCH_DATABASE")? {
        raw.database = Some(database);
    }
    if let Some(listen) = var("PORTWATCH_LISTEN")? {
        raw.listen = Some(listen);
    }
    Ok(raw)
}

fn syntax_error(text: &str, path: &Path, e: &toml::de::Error) -> MonitorError {
    let (line, column) = e.span().map_or((1, 1), |span| line_col(text, span.start));
    MonitorError::Syntax {
        path: path.to_path_buf(),
        line,
        column,
        message: e.message().trim().to_string(),
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn err(text: &str) -> String {
        parse(text, &PathBuf::from("pw.toml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn environment_overrides_file_database_and_listen() {
        let text = "database = \"sqlite://file.db\"\nlisten = \"127.0.0.1:1\"\n";
        let raw: RawConfig = toml::from_str(text).unwrap();
        let env = |name: &str| -> Result<Option<String>> {
            Ok((name == "PORTWATCH_LISTEN").then(|| "127.0.0.1:2".to_string()))
        };
        let raw = apply_env(raw, env).unwrap();
        assert_eq!(raw.database.as_deref(), Some("sqlite://file.db"));
        assert_eq!(raw.listen.as_deref(), Some("127.0.0.1:2"));
        let bad = |name: &str| -> Result<Option<String>> {
            Err(MonitorError::Env(format!("{name} is not valid UTF-8")))
        };
        let e = apply_env(RawConfig::default(), bad)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "environment override: PORTWATCH_DATABASE is not valid UTF-8"
        );
    }

    #[test]
    fn example_is_valid() {
        let s = parse(EXAMPLE, &PathBuf::from("example.toml")).unwrap();
        assert_eq!(s.groups.len(), 1);
        assert_eq!(s.groups[0].source, Source::Local);
    }

    #[test]
    fn example_scanned_groups_are_valid_once_uncommented() {
        let start = EXAMPLE.find("# File servers").unwrap();
        let uncommented: String = EXAMPLE[start..]
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            // (`notify` names the example notifiers, which stay commented out.)
            .filter(|l| (l.starts_with('[') || l.contains(" = ")) && !l.starts_with("notify"))
            .map(|l| format!("{l}\n"))
            .collect();
        let text = format!("{}{uncommented}", &EXAMPLE[..start]);
        let s = parse(&text, &PathBuf::from("example.toml")).unwrap();
        let names: Vec<&str> = s.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "this-machine",
                "file-servers",
                "web-servers",
                "office",
                "campus"
            ]
        );
        assert_eq!(
            s.groups[4].shard,
            Some(Sharding {
                addresses: Some(65_536),
                ports: Some(500)
            })
        );
        let office = &s.groups[3];
        let lan = office.policy_for("lan");
        assert!(!lan.must_be_closed.tcp.contains(&445));
        assert!(
            office
                .policy_for("internet")
                .must_be_closed
                .tcp
                .contains(&445)
        );
        assert!(s.groups[1..].iter().all(|g| g.source == Source::Scan));
    }

    #[test]
    fn the_scheduler_lease_is_a_duration_in_range() {
        let path = PathBuf::from("pw.toml");
        assert_eq!(parse("", &path).unwrap().cluster.lease, DEFAULT_LEASE);
        let s = parse("[cluster]\nlease = \"2s\"\n", &path).unwrap();
        assert_eq!(s.cluster.lease, std::time::Duration::from_secs(2));
        assert_eq!(s.cluster.lease_name, "scheduler");
        let e = err("[cluster]\nlease = \"10ms\"\n");
        assert!(
            e.contains("cluster.lease") && e.contains("100ms to 1h"),
            "{e}"
        );
        let e = err("[cluster]\nlease = \"soon\"\n");
        assert!(e.contains("cluster.lease"), "{e}");
        let e = err("[cluster]\nname = \"x\"\n");
        assert!(e.contains("name"), "{e}");
    }

    #[test]
    fn agent_stale_after_is_a_duration_in_range() {
        let path = PathBuf::from("pw.toml");
        let s = parse("", &path).unwrap();
        assert_eq!(s.cluster.agent_stale_after, DEFAULT_AGENT_STALE_AFTER);
        let s = parse("[cluster]\nagent_stale_after = \"3s\"\n", &path).unwrap();
        assert_eq!(
            s.cluster.agent_stale_after,
            std::time::Duration::from_secs(3)
        );
        let e = err("[cluster]\nagent_stale_after = \"10ms\"\n");
        assert!(
            e.contains("cluster.agent_stale_after") && e.contains("1s to 7d"),
            "{e}"
        );
        let e = err("[cluster]\nagent_stale_after = \"later\"\n");
        assert!(e.contains("cluster.agent_stale_after"), "{e}");
    }

    #[test]
    fn a_local_group_has_no_targets_and_a_known_source() {
        let s = parse(
            "[[group]]\nname = \"me\"\nsource = \"local\"\n[group.policy]\nmust_be_closed = [\"risky\"]\n",
            &PathBuf::from("pw.toml"),
        )
        .unwrap();
        assert_eq!(s.groups[0].source, Source::Local);
        assert!(s.groups[0].targets.is_empty());
        assert!(s.groups[0].ports.tcp.len() == 65535 && s.groups[0].ports.udp.len() == 65535);
        let e = err(
            "[[group]]\nname = \"me\"\nsource = \"locl\"\n[group.policy]\nmust_be_closed = [\"risky\"]\n",
        );
        assert!(
            e.starts_with("pw.toml:3:"),
            "an unknown source has a position: {e}"
        );
        assert!(e.contains("locl") && e.contains("local"), "{e}");
        let e = err(
            "[[group]]\nname = \"me\"\nsource = \"local\"\ntargets = [\"10.0.0.1\"]\n[group.policy]\nmust_be_closed = [\"risky\"]\n",
        );
        assert!(
            e.contains("group \"me\" targets") && e.contains("remove `targets`"),
            "{e}"
        );
        let e = err("[[group]]\nname = \"me\"\nsource = \"local\"\n");
        assert!(e.contains("needs a policy"), "{e}");
        let e = err("[[group]]\nname = \"me\"\n[group.policy]\nmust_be_closed = [\"22\"]\n");
        assert!(e.contains("targets") && e.contains("source"), "{e}");
    }

    #[test]
    fn unknown_keys_name_line_and_column() {
        let e = err("[[group]]\nname = \"a\"\ntargets = [\"10.0.0.1\"]\npolcy = 1\n");
        assert!(e.starts_with("pw.toml:4:1:"), "{e}");
        assert!(e.contains("polcy"), "{e}");
        let e = err(
            "[[group]]\nname = \"a\"\ntargets = [\"10.0.0.1\"]\n[group.policy]\nmust_be_open = [\"22\"]\n",
        );
        assert!(
            e.contains("pw.toml:5:1") && e.contains("must_be_open"),
            "{e}"
        );
        assert!(
            e.contains("expected_open"),
            "hint lists the valid keys: {e}"
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = err(
            "[[group]]\nname = \"a\"\ntargets = [\"300.1.1.1\"]\n[group.policy]\nmust_be_closed = [\"22\"]\n",
        );
        assert!(e.contains("group \"a\"") && e.contains("300.1.1.1"), "{e}");
        let e = err(
            "[[group]]\nname = \"a\"\ntargets = [\"10.0.0.1\"]\nevery = \"5 parsecs\"\n[group.policy]\nmust_be_closed = [\"22\"]\n",
        );
        assert!(e.contains("every") && e.contains("parsecs"), "{e}");
        let e = err(
            "[[group]]\nname = \"a\"\ntargets = [\"10.0.0.1\"]\n[group.policy]\nmust_be_closed = [\"70000\"]\n",
        );
        assert!(e.contains("must_be_closed") && e.contains("70000"), "{e}");
        let e = err("[[group]]\nname = \"a\"\ntargets = [\"10.0.0.1\"]\n");
        assert!(e.contains("scans nothing"), "{e}");
        let e = err(
            "[[group]]\nname = \"a\"\ntargets = [\"10.0.0.1\"]\ncron = \"* *\"\n[group.policy]\nmust_be_closed = [\"22\"]\n",
        );
        assert!(e.contains("cron"), "{e}");
        let e = err(
            "[[group]]\nname = \"a\"\ntargets = [\"h\"]\n[group.policy]\nmust_be_closed = [\"22\"]\n[[group]]\nname = \"a\"\ntargets = [\"h\"]\n[group.policy]\nmust_be_closed = [\"22\"]\n",
        );
        assert!(e.contains("twice"), "{e}");
        let e = err("[alerts]\nresolve_in_window = \"later\"\n");
        assert!(
            e.contains("alerts.resolve_in_window") && e.contains("at-end"),
            "{e}"
        );
        let e = err(
            "[[group]]\nname = \"a\"\ntargets = [\"h\"]\nresolve_in_window = \"never\"\n[group.policy]\nmust_be_closed = [\"22\"]\n",
        );
        assert!(
            e.contains("group \"a\" resolve_in_window") && e.contains("'never'"),
            "{e}"
        );
    }

    #[test]
    fn resolve_in_window_defaults_to_at_end_and_groups_override_it() {
        use crate::alerts::ResolveInWindow;
        let s = parse(
            "[alerts]\nresolve_in_window = \"at-once\"\n[[group]]\nname = \"a\"\ntargets = [\"h\"]\nresolve_in_window = \"at-end\"\n[group.policy]\nmust_be_closed = [\"22\"]\n[[group]]\nname = \"b\"\ntargets = [\"h\"]\n[group.policy]\nmust_be_closed = [\"22\"]\n",
            &PathBuf::from("pw.toml"),
        )
        .unwrap();
        assert_eq!(s.alerts.resolve_in_window, ResolveInWindow::AtOnce);
        let of = |i: usize| s.groups[i].rules(&s.alerts).resolve_in_window;
        assert_eq!(
            (of(0), of(1)),
            (ResolveInWindow::AtEnd, ResolveInWindow::AtOnce)
        );
        let d = parse(EXAMPLE, &PathBuf::from("example.toml")).unwrap();
        assert_eq!(d.alerts.resolve_in_window, ResolveInWindow::AtEnd);
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = err("[[group]\nname = 1\n");
        assert!(e.starts_with("pw.toml:1:"), "{e}");
    }

    #[test]
    fn risky_expands_from_the_knowledge_base() {
        let s = parse(
            "[[group]]\nname = \"a\"\ntargets = [\"10.0.0.1\"]\n[group.policy]\nmust_be_closed = [\"risky\"]\n",
            &PathBuf::from("pw.toml"),
        )
        .unwrap();
        let p = &s.groups[0].policy.must_be_closed;
        assert!(
            p.tcp.contains(&445) && p.tcp.contains(&3389) && p.udp.contains(&137),
            "{p:?}"
        );
    }

    const TWO_VANTAGES: &str = "[vantage.dmz]\nreach = \"internet\"\n\
        [[group]]\nname = \"office\"\ntargets = [\"10.0.0.5\"]\nvantages = [\"lan\", \"internet\", \"dmz\"]\n\
        [group.policy]\nmust_be_closed = [\"T:139,445\"]\nallowed_open = [\"22\"]\n\
        [group.policy.from.lan]\nallow = [\"T:139,445\"]\n\
        [group.policy.from.dmz]\nmust_be_closed = [\"T:3389\"]\nseverity = \"critical\"\n";

    #[test]
    fn vantages_default_to_local_and_name_their_reach() {
        let s = parse(
            "[[group]]\nname = \"a\"\ntargets = [\"10.0.0.1\"]\n[group.policy]\nmust_be_closed = [\"22\"]\n",
            &PathBuf::from("pw.toml"),
        )
        .unwrap();
        assert_eq!(s.groups[0].vantages, vec![Vantage::local()]);
        let s = parse(TWO_VANTAGES, &PathBuf::from("pw.toml")).unwrap();
        let g = &s.groups[0];
        let names: Vec<&str> = g.vantages.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["lan", "internet", "dmz"]);
        let addr = "10.0.0.5".parse().unwrap();
        let dmz = g.vantage("dmz").unwrap();
        assert_eq!(dmz.exposure_of(addr), portwatch_kb::Exposure::Internet);
        assert_eq!(
            g.vantage("lan").unwrap().exposure_of(addr),
            portwatch_kb::Exposure::Lan
        );
        // 3389 is only in dmz's policy, and still scanned.
        assert!(g.ports.tcp.contains(&3389));
    }

    #[test]
    fn policy_for_replaces_keys_then_takes_allow_out() {
        let s = parse(TWO_VANTAGES, &PathBuf::from("pw.toml")).unwrap();
        let g = &s.groups[0];
        // internet has no `from` table: the group's policy as written.
        let internet = g.policy_for("internet");
        assert_eq!(internet.must_be_closed.tcp, vec![139, 445]);
        assert_eq!(internet.allowed_open.as_ref().unwrap().tcp, vec![22]);
        assert_eq!(internet.severity, None);
        // lan: 139 and 445 taken out of must_be_closed and allowed instead.
        let lan = g.policy_for("lan");
        assert!(lan.must_be_closed.is_empty());
        assert_eq!(lan.allowed_open.as_ref().unwrap().tcp, vec![22, 139, 445]);
        // dmz: must_be_closed and severity replaced, allowed_open inherited.
        let dmz = g.policy_for("dmz");
        assert_eq!(dmz.must_be_closed.tcp, vec![3389]);
        assert_eq!(dmz.allowed_open.as_ref().unwrap().tcp, vec![22]);
        assert_eq!(dmz.severity, Some(portwatch_kb::Severity::Critical));
        // A vantage the group does not have: the group's policy.
        assert_eq!(g.policy_for("local").must_be_closed.tcp, vec![139, 445]);
    }

    #[test]
    fn bad_vantages_name_line_and_column() {
        let group = "[[group]]\nname = \"a\"\ntargets = [\"10.0.0.1\"]\n";
        let policy = "[group.policy]\nmust_be_closed = [\"22\"]\n";
        // An unknown vantage: at the name in the list.
        let e = err(&format!("{group}vantages = [\"lan\", \"dmz\"]\n{policy}"));
        assert!(e.starts_with("pw.toml:4:20:"), "{e}");
        assert!(e.contains("'dmz'") && e.contains("[vantage.dmz]"), "{e}");
        // A bad name.
        let e = err(&format!("{group}vantages = [\"LAN\"]\n{policy}"));
        assert!(
            e.starts_with("pw.toml:4:13:") && e.contains("lowercase"),
            "{e}"
        );
        // Twice.
        let e = err(&format!("{group}vantages = [\"lan\", \"lan\"]\n{policy}"));
        assert!(e.starts_with("pw.toml:4:") && e.contains("twice"), "{e}");
        // Empty.
        let e = err(&format!("{group}vantages = []\n{policy}"));
        assert!(
            e.starts_with("pw.toml:4:12:") && e.contains("at least one"),
            "{e}"
        );
        // A `from` table for a vantage the group is not scanned from.
        let e = err(&format!(
            "{group}vantages = [\"lan\"]\n{policy}[group.policy.from.internet]\nallow = [\"22\"]\n"
        ));
        assert!(e.starts_with("pw.toml:7:20:"), "{e}");
        assert!(
            e.contains("policy.from.internet") && e.contains("not observed from"),
            "{e}"
        );
        // Without `vantages`, only `local` has a `from` table.
        let e = err(&format!(
            "{group}{policy}[group.policy.from.lan]\nallow = [\"22\"]\n"
        ));
        assert!(e.starts_with("pw.toml:6:20:"), "{e}");
        // A local group has no other vantage.
        let e = err(
            "[[group]]\nname = \"me\"\nsource = \"local\"\nvantages = [\"internet\"]\n[group.policy]\nmust_be_closed = [\"risky\"]\n",
        );
        assert!(
            e.starts_with("pw.toml:4:13:") && e.contains("socket"),
            "{e}"
        );
        // Declared vantages: a reach is required and known, built-in names are taken.
        let e = err(&format!("[vantage.dmz]\n{group}{policy}"));
        assert!(e.starts_with("pw.toml:1:10:") && e.contains("reach"), "{e}");
        let e = err(&format!("[vantage.dmz]\nreach = \"mars\"\n{group}{policy}"));
        assert!(e.starts_with("pw.toml:1:10:") && e.contains("mars"), "{e}");
        let e = err(&format!("[vantage.lan]\nreach = \"lan\"\n{group}{policy}"));
        assert!(
            e.starts_with("pw.toml:1:10:") && e.contains("built in"),
            "{e}"
        );
        // Unknown keys in a `from` table are caught by the schema, with a position.
        let e = err(&format!(
            "{group}vantages = [\"lan\"]\n{policy}[group.policy.from.lan]\nalow = [\"22\"]\n"
        ));
        assert!(e.starts_with("pw.toml:8:1:") && e.contains("alow"), "{e}");
        // Bad ports in a `from` table name the key.
        let e = err(&format!(
            "{group}vantages = [\"lan\"]\n{policy}[group.policy.from.lan]\nallow = [\"70000\"]\n"
        ));
        assert!(
            e.contains("policy.from.lan.allow") && e.contains("70000"),
            "{e}"
        );
    }

    #[test]
    fn a_shard_table_sets_addresses_and_ports_per_shard() {
        let group = "[[group]]\nname = \"big\"\ntargets = [\"10.0.0.0/16\"]\nports = \"1-100\"\n";
        let inline = parse(
            &format!("{group}shard = {{ addresses = 4096, ports = 50 }}\n"),
            &PathBuf::from("pw.toml"),
        )
        .unwrap();
        let want = Sharding {
            addresses: Some(4096),
            ports: Some(50),
        };
        assert_eq!(inline.groups[0].shard, Some(want));
        let table = parse(
            &format!("{group}[group.shard]\naddresses = 4096\nports = 50\n"),
            &PathBuf::from("pw.toml"),
        )
        .unwrap();
        assert_eq!(table.groups[0].shard, Some(want));
        let one_key = parse(
            &format!("{group}shard = {{ ports = 10 }}\n"),
            &PathBuf::from("pw.toml"),
        )
        .unwrap();
        assert_eq!(
            one_key.groups[0].shard,
            Some(Sharding {
                addresses: None,
                ports: Some(10)
            })
        );
        let plain = parse(group, &PathBuf::from("pw.toml")).unwrap();
        assert_eq!(plain.groups[0].shard, None);
        let empty = parse(&format!("{group}shard = {{}}\n"), &PathBuf::from("pw.toml")).unwrap();
        assert_eq!(empty.groups[0].shard, None);
    }

    #[test]
    fn bad_shard_keys_name_line_and_column() {
        let group = "[[group]]\nname = \"big\"\ntargets = [\"10.0.0.0/16\"]\nports = \"1-100\"\n";
        let e = err(&format!("{group}shard = {{ addresses = 0, ports = 5 }}\n"));
        assert!(
            e.starts_with("pw.toml:5:23:") && e.contains("shard.addresses must be a positive"),
            "{e}"
        );
        let e = err(&format!("{group}[group.shard]\nports = 0\n"));
        assert!(
            e.starts_with("pw.toml:6:9:") && e.contains("shard.ports must be a positive"),
            "{e}"
        );
        let e = err(&format!("{group}shard = {{ addresses = -1 }}\n"));
        assert!(e.starts_with("pw.toml:5:"), "{e}");
        let e = err(&format!("{group}shard = {{ hosts = 5 }}\n"));
        assert!(e.starts_with("pw.toml:5:") && e.contains("hosts"), "{e}");
        let e = err(
            "[[group]]\nname = \"me\"\nsource = \"local\"\nshard = { ports = 5 }\n[group.policy]\nmust_be_closed = [\"risky\"]\n",
        );
        assert!(e.contains("never split"), "{e}");
    }
}
