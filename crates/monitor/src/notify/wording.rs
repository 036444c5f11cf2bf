//! What a message says happened, per rule and kind: the title's verb and tail, the state
//! line and which advice follows. Every notifier renders from here, so a title, its state
//! and its advice cannot disagree.

use crate::policy::Rule;

use super::alert::AlertKind;

/// The end of a title, after `(group): `.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// The rule's label (`must be closed`).
    Rule,
    /// The rule's label and what it was: `must be closed (was open)`.
    RuleWas(&'static str),
    /// A sentence of its own (`host answers again`).
    Says(&'static str),
}

/// The `State:` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateLine {
    /// The state the scan saw, as stored in the alert.
    Observed,
    /// A fixed state, then the one seen when the violation began: `open (was closed)`.
    NowWasObserved(&'static str),
    /// A fixed state: `closed (was open)`.
    Now(&'static str),
}

/// The advice that follows the facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advice {
    /// `How to close it`, with the fix commands.
    Close,
    /// `How to bring it back`: check the service and the path to it.
    BringBack,
    /// `How to check the host`: is it up and reachable.
    CheckHost,
    /// Nothing to do.
    None,
}

/// The wording of one (rule, kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wording {
    /// The title's first words (`OPEN`, `STILL DOWN`, `CLOSED`).
    pub verb: &'static str,
    /// The title's end.
    pub tail: Tail,
    /// The state line.
    pub state: StateLine,
    /// The advice.
    pub advice: Advice,
}

const fn w(verb: &'static str, tail: Tail, state: StateLine, advice: Advice) -> Wording {
    Wording {
        verb,
        tail,
        state,
        advice,
    }
}

/// The wording for `kind` of a violation of `rule` (`None`: a rule this version does not
/// know, from a message queued by another version).
pub fn wording(rule: Option<Rule>, kind: AlertKind) -> Wording {
    use Advice as A;
    use AlertKind as K;
    use StateLine as S;
    use Tail as T;
    let Some(rule) = rule else {
        let advice = match kind {
            K::Opened | K::Reminder | K::Test => A::Close,
            K::Resolved => A::None,
        };
        return w(kind.headline(), T::Rule, S::Observed, advice);
    };
    if kind == K::Test {
        return w("TEST", T::Rule, S::Observed, A::Close);
    }
    match (rule, kind) {
        (Rule::MustBeClosed | Rule::Unexpected, K::Opened) => {
            w("OPEN", T::Rule, S::Observed, A::Close)
        }
        (Rule::MustBeClosed | Rule::Unexpected, K::Reminder) => {
            w("STILL OPEN", T::Rule, S::Observed, A::Close)
        }
        (Rule::MustBeClosed | Rule::Unexpected, _) => w(
            "CLOSED",
            T::RuleWas("open"),
            S::Now("closed (was open)"),
            A::None,
        ),
        (Rule::ExpectedOpen, K::Opened) => w("DOWN", T::Rule, S::Observed, A::BringBack),
        (Rule::ExpectedOpen, K::Reminder) => w("STILL DOWN", T::Rule, S::Observed, A::BringBack),
        (Rule::ExpectedOpen, _) => w(
            "UP AGAIN",
            T::RuleWas("down"),
            S::NowWasObserved("open"),
            A::None,
        ),
        (Rule::HostDown, K::Opened) => w("DOWN", T::Rule, S::Observed, A::CheckHost),
        (Rule::HostDown, K::Reminder) => w("STILL DOWN", T::Rule, S::Observed, A::CheckHost),
        (Rule::HostDown, _) => w(
            "UP AGAIN",
            T::Says("host answers again"),
            S::Observed,
            A::None,
        ),
        (Rule::CannotVerify, K::Opened) => w("CANNOT VERIFY", T::Rule, S::Observed, A::CheckHost),
        (Rule::CannotVerify, K::Reminder) => {
            w("STILL CANNOT VERIFY", T::Rule, S::Observed, A::CheckHost)
        }
        (Rule::CannotVerify, _) => w(
            "ANSWERS AGAIN",
            T::Says("host answers again, its rules can be verified"),
            S::Observed,
            A::None,
        ),
        // The agent's title is its own (`Alert::title`): only the verb comes from here.
        (Rule::AgentStale, K::Opened) => w("AGENT STALE", T::Rule, S::Observed, A::CheckHost),
        (Rule::AgentStale, K::Reminder) => {
            w("AGENT STILL STALE", T::Rule, S::Observed, A::CheckHost)
        }
        (Rule::AgentStale, _) => w("AGENT BACK", T::Rule, S::Observed, A::None),
    }
}

/// Every rule, for reading a rule back from its label.
const RULES: [Rule; 6] = [
    Rule::MustBeClosed,
    Rule::Unexpected,
    Rule::ExpectedOpen,
    Rule::HostDown,
    Rule::CannotVerify,
    Rule::AgentStale,
];

/// The rule whose label is `label` (the alert stores the label).
pub fn rule_of(label: &str) -> Option<Rule> {
    RULES.into_iter().find(|r| r.label() == label)
}
