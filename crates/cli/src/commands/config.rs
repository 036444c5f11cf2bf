//! `portwatch config check FILE`: validate a configuration and say what it will do.

use crate::args::{ConfigArgs, ConfigCommand};
use anyhow::Result;
use portwatch_monitor::config::{self, Schedule};

/// Runs the command.
pub fn run(args: ConfigArgs) -> Result<u8> {
    match args.command {
        ConfigCommand::Check { file } => {
            let settings = config::load(&file)?;
            println!(
                "{}: valid, {} group{}",
                file.display(),
                settings.groups.len(),
                if settings.groups.len() == 1 { "" } else { "s" }
            );
            for g in &settings.groups {
                let when = match &g.schedule {
                    Schedule::Every(d) => format!("every {}", human(*d)),
                    Schedule::Cron(c) => format!("cron \"{}\"", c.as_str()),
                };
                let rules = |p: &config::Policy| {
                    format!(
                        "must be closed: {}, allowed open: {}, expected open: {}",
                        p.must_be_closed.len(),
                        p.allowed_open
                            .as_ref()
                            .map_or("any".to_string(), |a| a.len().to_string()),
                        p.expected_open.len(),
                    )
                };
                let split = match &g.shard {
                    None => String::new(),
                    Some(s) => {
                        let count =
                            portwatch_monitor::shard::plan(&g.targets, &g.exclude, &g.ports, s)
                                .map_or_else(
                                    |e| format!("cannot be split: {e}"),
                                    |p| {
                                        format!(
                                            "{} shard{}",
                                            p.len(),
                                            if p.len() == 1 { "" } else { "s" }
                                        )
                                    },
                                );
                        let per = |n: Option<u64>, what: &str| {
                            n.map_or(format!("all {what}"), |n| format!("{n} {what}"))
                        };
                        format!(
                            ", in {count} of {} × {}",
                            per(s.addresses, "addresses"),
                            per(s.ports, "ports")
                        )
                    }
                };
                let head = format!(
                    "  {}: {} target{}, {} port{}, {when}{split}",
                    g.name,
                    g.targets.len(),
                    if g.targets.len() == 1 { "" } else { "s" },
                    g.ports.len(),
                    if g.ports.len() == 1 { "" } else { "s" },
                );
                let only_local =
                    g.vantages.len() == 1 && g.vantages[0].name == portwatch_store::LOCAL_VANTAGE;
                if only_local {
                    println!("{head}; {}", rules(&g.policy));
                } else {
                    println!("{head}; seen from {} vantages", g.vantages.len());
                    for v in &g.vantages {
                        println!("    from {}: {}", v.name, rules(&g.policy_for(&v.name)));
                    }
                }
            }
            Ok(crate::exit::OK)
        }
    }
}

fn human(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{}ms", d.as_millis()),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}
