//! The vantage rules checked with their place in the file: the same checks `validate` makes
//! (it calls the same functions), run first on a spanned reading of the text so a mistake is
//! reported at its line and column.

use super::raw::{RawSource, RawVantage};
use super::shard::check_count;
use super::validate::{check_from, group_vantages};
use super::vantage;
use super::{Source, line_col};
use crate::error::{MonitorError, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use toml::Spanned;

#[derive(Deserialize)]
struct Doc {
    #[serde(default)]
    vantage: BTreeMap<Spanned<String>, RawVantage>,
    #[serde(default)]
    group: Vec<Group>,
}

#[derive(Deserialize)]
struct Group {
    name: Option<String>,
    source: Option<RawSource>,
    vantages: Option<Spanned<Vec<Spanned<String>>>>,
    policy: Option<Policy>,
    shard: Option<Shard>,
}

#[derive(Deserialize)]
struct Shard {
    addresses: Option<Spanned<u64>>,
    ports: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
struct Policy {
    #[serde(default)]
    from: BTreeMap<Spanned<String>, toml::Value>,
}

/// Checks `[vantage.*]`, every group's `vantages`, `[group.policy.from.*]` tables and `shard`.
pub(super) fn check(text: &str, path: &Path) -> Result<()> {
    let Ok(doc) = toml::from_str::<Doc>(text) else {
        // The full reading reports what is wrong with the text itself.
        return Ok(());
    };
    let at = |offset: usize, message: String| {
        let (line, column) = line_col(text, offset);
        MonitorError::Syntax {
            path: path.to_path_buf(),
            line,
            column,
            message,
        }
    };
    let raw: BTreeMap<String, RawVantage> = doc
        .vantage
        .iter()
        .map(|(k, v)| (k.get_ref().clone(), v.clone()))
        .collect();
    let known = match vantage::declared(&raw) {
        Ok(known) => known,
        Err((key, message)) => {
            let name = key.trim_start_matches("vantage.").split('.').next();
            let offset = doc
                .vantage
                .keys()
                .find(|k| Some(k.get_ref().as_str()) == name)
                .map_or(0, |k| k.span().start);
            return Err(at(offset, format!("{key}: {message}")));
        }
    };
    for g in &doc.group {
        let name = g.name.as_deref().unwrap_or("");
        let source = match g.source {
            Some(RawSource::Local) => Source::Local,
            _ => Source::Scan,
        };
        let names: Option<Vec<String>> = g
            .vantages
            .as_ref()
            .map(|v| v.get_ref().iter().map(|n| n.get_ref().clone()).collect());
        let vantages = match group_vantages(names.as_deref(), source, &known) {
            Ok(v) => v,
            Err(message) => {
                let list = g.vantages.as_ref();
                // Point at the first name that is wrong, else at the list.
                let offset = list
                    .and_then(|l| {
                        l.get_ref()
                            .iter()
                            .find(|n| message.contains(&format!("'{}'", n.get_ref())))
                            .map(|n| n.span().start)
                    })
                    .or(list.map(|l| l.span().start))
                    .unwrap_or(0);
                return Err(at(offset, format!("group \"{name}\" vantages: {message}")));
            }
        };
        for key in g.policy.iter().flat_map(|p| p.from.keys()) {
            if let Err(message) = check_from(key.get_ref(), &vantages) {
                return Err(at(
                    key.span().start,
                    format!("group \"{name}\" policy.from.{}: {message}", key.get_ref()),
                ));
            }
        }
        let counts = g.shard.iter().flat_map(|s| {
            [("addresses", &s.addresses), ("ports", &s.ports)]
                .into_iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
        });
        for (key, value) in counts {
            if let Err(message) = check_count(key, *value.get_ref()) {
                return Err(at(
                    value.span().start,
                    format!("group \"{name}\" {message}"),
                ));
            }
        }
    }
    Ok(())
}
