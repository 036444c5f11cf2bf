//! `portwatch check`: scan once, judge against the policy, report, and exit 0 (compliant),
//! 1 (violations) or 2 (errors, or hosts that answered nothing and so were not verified,
//! unless `--allow-down`). Policies come from a config file or from flags.

use crate::args::{CheckArgs, CheckFormat};
use crate::output::check::{self, GroupReport};
use anyhow::{Context, Result, bail};
use portwatch_monitor::config::{self, Group};
use portwatch_monitor::runner;
use std::io::Write;
use std::path::Path;

/// Runs the command.
pub fn run(args: CheckArgs) -> Result<u8> {
    let (groups, database) = groups(&args)?;
    let rt = super::runtime()?;
    let reports = rt.block_on(async {
        let store = if args.no_save {
            None
        } else {
            Some(crate::db::open(args.db.url(), database.as_deref()).await?)
        };
        let mut reports = Vec::new();
        for group in &groups {
            let scan = runner::scan_group(group, None)
                .await
                .with_context(|| format!("scan of group \"{}\"", group.name))?;
            if let Some(store) = &store {
                let hosts: Vec<_> = scan
                    .hosts
                    .iter()
                    .map(|h| (h.summary.clone(), h.results.clone()))
                    .collect();
                crate::db::save_scan(
                    store,
                    &format!("check:{}", group.name),
                    &group.targets,
                    &scan.ports,
                    &hosts,
                )
                .await
                .with_context(|| format!("cannot save the scan in {}", store.name()))?;
            }
            let verdicts = scan.evaluate(group);
            let not_verified = check::not_verified(group, &scan);
            reports.push(GroupReport {
                scan,
                verdicts,
                not_verified,
                allow_down: args.allow_down,
            });
        }
        anyhow::Ok(reports)
    })?;
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write report {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    match args.format {
        CheckFormat::Table => check::table(&mut out, &reports)?,
        CheckFormat::Json => check::json(&mut out, &reports)?,
        CheckFormat::Junit => check::junit(&mut out, &reports)?,
    }
    out.flush()?;
    let (violations, _) = check::totals(&reports);
    let blind: Vec<String> = reports
        .iter()
        .filter(|r| !r.allow_down)
        .flat_map(|r| r.not_verified.iter().map(std::string::ToString::to_string))
        .collect();
    if !blind.is_empty() {
        eprintln!(
            "portwatch: not verified: {} answered nothing (down, unreachable or filtered), so \
             its ports could not be checked; --allow-down accepts that",
            blind.join(", ")
        );
        return Ok(crate::exit::USAGE);
    }
    Ok(if violations == 0 {
        crate::exit::OK
    } else {
        crate::exit::FINDINGS
    })
}

fn groups(args: &CheckArgs) -> Result<(Vec<Group>, Option<String>)> {
    match (&args.config, args.targets.is_empty()) {
        (Some(_), false) => bail!(
            "give either --config FILE or targets with --must-be-closed/--allowed-open/--expected-open, not both"
        ),
        (Some(path), true) => {
            let settings = config::load(path)?;
            let chosen: Vec<Group> = settings
                .groups
                .clone()
                .into_iter()
                .filter(|g| args.group.is_empty() || args.group.contains(&g.name))
                .collect();
            if let Some(missing) = args
                .group
                .iter()
                .find(|n| !chosen.iter().any(|g| &&g.name == n))
            {
                bail!("{}: no group named \"{missing}\"", path.display());
            }
            if chosen.is_empty() {
                bail!("{}: no groups to check", path.display());
            }
            Ok((chosen, settings.database))
        }
        (None, true) => bail!(
            "nothing to check: give --config FILE, or targets and --must-be-closed/--allowed-open/--expected-open"
        ),
        (None, false) => {
            let raw =
                args.policy
                    .raw_group("command-line", &args.targets, args.severity.clone())?;
            let group = config::group_from_raw(raw, Path::new("<command line>"))?;
            Ok((vec![group], None))
        }
    }
}
