//! What every signed-in page carries in its frame: who is signed in, whether they may act,
//! the CSRF token for forms, which section is current, and what the last action did.

use crate::auth::{Role, User};

/// Sections of the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The overview.
    Overview,
    /// A host page (reached from the overview).
    Hosts,
    /// A port page.
    Ports,
    /// The configuration.
    Config,
}

/// Whether a page offers the dashboard's actions (scan, acknowledge, silence) to an admin:
/// only with the monitor running in this process ([`crate::state::AppState::actions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actions {
    /// Action buttons are shown to an admin.
    Offered,
    /// No action buttons, for anyone.
    Withheld,
}

/// The page frame's data.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The token name the user signed in with.
    pub user: String,
    /// `admin` or `viewer`.
    pub role: &'static str,
    /// Whether action buttons are shown: an admin, with the monitor running in this process.
    pub can_act: bool,
    /// The session's CSRF token, carried by every form.
    pub csrf: String,
    /// The current section.
    pub section: Section,
    /// This page's path (with query), where actions return to.
    pub here: String,
    /// What the last action did, shown once after its redirect.
    pub flash: Option<Flash>,
}

/// What an action did, for the page it returns to: a sentence and, when the action can be
/// undone, the form that undoes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    /// What was done, in one or two sentences.
    pub message: String,
    /// The undoing action.
    pub undo: Option<Undo>,
    /// A scan request the page follows while it runs (its script asks the API and, when the
    /// scan ends, refreshes the page's figures).
    pub watch: Option<i64>,
}

/// A form that undoes what a flash reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undo {
    /// Where it posts (a dashboard action path).
    pub action: String,
    /// Its button's text.
    pub label: String,
}

impl Chrome {
    /// The frame for `user` on a page of `section` at `here`, with or without `actions`.
    pub fn new(user: &User, section: Section, here: String, actions: Actions) -> Self {
        Chrome {
            user: user.name.clone(),
            role: user.role.as_str(),
            can_act: actions == Actions::Offered && user.role == Role::Admin,
            csrf: user
                .session
                .as_ref()
                .map(|s| s.csrf.clone())
                .unwrap_or_default(),
            section,
            here,
            flash: None,
        }
    }

    /// The frame with the flash the session had waiting (taken: it shows once).
    pub fn with_flash(mut self, flash: Option<Flash>) -> Self {
        self.flash = flash;
        self
    }

    /// The current section's name: `overview`, `hosts`, `ports` or `config`.
    pub fn section_name(&self) -> &'static str {
        match self.section {
            Section::Overview => "overview",
            Section::Hosts => "hosts",
            Section::Ports => "ports",
            Section::Config => "config",
        }
    }
}
