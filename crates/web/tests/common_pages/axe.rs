//! The accessibility check of the browser test: axe-core, installed from the npm registry at
//! a pinned version by scripts/install-test-deps.sh, injected into the page the browser shows
//! through WebDriver (the page's content security policy does not apply to the driver's
//! scripts) and run there against WCAG 2.0, 2.1 and 2.2 A and AA rules and axe's best
//! practices. Nothing is fetched while the test runs.

use super::webdriver::Browser;
use anyhow::{Context, Result, anyhow};
use serde::Deserialize;
use std::time::Duration;

/// Where scripts/install-test-deps.sh puts axe-core.
pub const AXE_JS: &str = "/var/cache/portwatch-test/node_modules/axe-core/axe.min.js";

/// One rule the page breaks, as axe reports it.
#[derive(Debug, Clone, Deserialize)]
pub struct Violation {
    /// The rule (`color-contrast`, `label`…).
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: Option<String>,
    /// What the rule asks for.
    pub help: String,
    /// CSS selectors of the offending elements.
    pub nodes: Vec<String>,
}

impl Violation {
    /// Whether it is one the test refuses: serious or critical.
    pub fn is_serious(&self) -> bool {
        matches!(self.impact.as_deref(), Some("serious" | "critical"))
    }
}

/// Runs axe-core on the page `browser` shows and returns every violation it finds.
pub async fn check(browser: &Browser) -> Result<Vec<Violation>> {
    let axe = std::fs::read_to_string(AXE_JS).with_context(|| {
        format!("read {AXE_JS}: install axe-core with scripts/install-test-deps.sh")
    })?;
    let script = format!(
        "{axe}\n;\nconst done = arguments[arguments.length - 1];\n\
         axe.run(document, {{ runOnly: {{ type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', \
         'wcag21aa', 'wcag22aa', 'best-practice'] }}, resultTypes: ['violations'] }})\n\
         .then(r => done(JSON.stringify(r.violations.map(v => ({{ id: v.id, impact: v.impact, \
         help: v.help, nodes: v.nodes.map(n => n.target.join(' ')) }})))))\n\
         .catch(e => done('axe failed: ' + e));"
    );
    let answer = browser
        .execute_async(&script, Duration::from_mins(1))
        .await?;
    let text = answer
        .as_str()
        .ok_or_else(|| anyhow!("axe answered {answer}"))?;
    if text.starts_with("axe failed") {
        return Err(anyhow!("{text}"));
    }
    serde_json::from_str(text).with_context(|| format!("read axe's answer {text}"))
}
