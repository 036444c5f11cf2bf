//! Walks the input base chains for one packet, splitting the walk where a rule's outcome
//! depends on something unknown (the source, or an expression we cannot evaluate).

use super::matching::{Truth, evaluate};
use super::origin::Origin;
use super::rules::{Chain, Item, Match, Op, Rule, Verdict};
use super::{FirewallVerdict, Packet};

/// Most walks (paths) followed for one packet before giving up.
const MAX_PATHS: usize = 512;
/// Most rules visited over all paths (a guard against loops in a malformed ruleset).
const MAX_STEPS: usize = 50_000;
/// Deepest jump stack (the kernel allows 16).
const MAX_DEPTH: usize = 64;

/// How a path ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    /// Every base chain accepted it.
    Accept,
    /// Dropped or rejected (`drop` / `reject`).
    Block(&'static str),
    /// Cannot be followed; the text says where and why.
    Undecided(String),
}

/// The end of one path with what it assumed.
#[derive(Debug, Clone)]
struct Outcome {
    end: End,
    origin: Origin,
    assumed: Vec<(String, bool)>,
}

/// One walk in progress.
#[derive(Debug, Clone)]
struct Path {
    /// Index into the ordered base chains.
    base: usize,
    /// (chain index, next rule index), innermost last.
    stack: Vec<(usize, usize)>,
    origin: Origin,
    /// Unknown conditions assumed true or false on the way.
    assumed: Vec<(String, bool)>,
}

/// What to do after a rule.
enum Next {
    /// Go on with this path.
    Go(Path),
    /// This path is over.
    Stop,
}

/// The verdict for `packet` through `bases` (input base chains in priority order).
pub fn verdict(chains: &[Chain], bases: &[usize], packet: &Packet) -> FirewallVerdict {
    let Some(&first) = bases.first() else {
        return FirewallVerdict::NoFirewall;
    };
    let mut walker = Walker {
        chains,
        bases,
        packet,
        pending: vec![Path {
            base: 0,
            stack: vec![(first, 0)],
            origin: Origin::default(),
            assumed: Vec::new(),
        }],
        outcomes: Vec::new(),
        paths: 1,
        steps: 0,
    };
    while let Some(path) = walker.pending.pop() {
        walker.walk(path);
        if walker.paths > MAX_PATHS {
            return FirewallVerdict::Unknown(format!(
                "more than {MAX_PATHS} undecidable branches in the input chains"
            ));
        }
    }
    decide(&walker.outcomes)
}

struct Walker<'a> {
    chains: &'a [Chain],
    bases: &'a [usize],
    packet: &'a Packet,
    pending: Vec<Path>,
    outcomes: Vec<Outcome>,
    paths: usize,
    /// Rules visited so far, over all paths.
    steps: usize,
}

impl Walker<'_> {
    fn walk(&mut self, mut path: Path) {
        loop {
            self.steps += 1;
            if self.steps > MAX_STEPS {
                return self.finish(path, End::Undecided("the rule walk does not end".into()));
            }
            let Some(&(chain_at, rule_at)) = path.stack.last() else {
                return self.finish(path, End::Undecided("empty chain stack".into()));
            };
            let chain = &self.chains[chain_at];
            let Some(rule) = chain.rules.get(rule_at) else {
                path.stack.pop();
                if path.stack.is_empty() {
                    match self.end_of_base(path) {
                        Next::Go(p) => path = p,
                        Next::Stop => return,
                    }
                }
                continue;
            };
            if let Some(top) = path.stack.last_mut() {
                top.1 += 1;
            }
            match self.rule(path, chain, rule) {
                Next::Go(p) => path = p,
                Next::Stop => return,
            }
        }
    }

    /// Applies one rule; forks the path when the rule's match is uncertain.
    fn rule(&mut self, path: Path, chain: &Chain, rule: &Rule) -> Next {
        let mut uncertain: Vec<Truth> = Vec::new();
        let mut action: Option<Verdict> = None;
        for item in &rule.items {
            let truth = match item {
                Item::Match(m) => evaluate(m, self.packet),
                Item::Const(b) => {
                    if *b {
                        Truth::Yes
                    } else {
                        Truth::No
                    }
                }
                Item::Undecidable(text) => Truth::Unknown(text.clone()),
                Item::Xt { kind, name } => Truth::Unknown(format!("xt {kind} {name}")),
                Item::Effect => continue,
                Item::Verdict(v) => {
                    action = Some(v.clone());
                    break;
                }
                Item::Vmap { key, entries, text } => {
                    match self.vmap(key, entries, text) {
                        Some(v) => action = Some(v),
                        None => return Next::Go(path),
                    }
                    break;
                }
            };
            match truth {
                Truth::No => return Next::Go(path),
                Truth::Yes => {}
                other => uncertain.push(other),
            }
        }
        let Some(action) = action else {
            // No verdict: whether it matched changes nothing.
            return Next::Go(path);
        };
        if uncertain.is_empty() {
            return self.apply(path, &action, chain, rule);
        }
        let place = format!("{} (handle {})", chain.location(), rule.handle);
        // "Did not match": the first i conditions held and condition i did not.
        for i in 0..uncertain.len() {
            let mut branch = Some(path.clone());
            for (j, truth) in uncertain.iter().enumerate().take(i + 1) {
                branch = branch.and_then(|p| assume(p, truth, j < i, &place));
            }
            if let Some(branch) = branch {
                self.paths += 1;
                if self.paths > MAX_PATHS {
                    return self.stop(path, End::Undecided("too many undecidable branches".into()));
                }
                self.pending.push(branch);
            }
        }
        let matched = uncertain
            .iter()
            .try_fold(path, |p, truth| assume(p, truth, true, &place));
        match matched {
            Some(p) => self.apply(p, &action, chain, rule),
            None => Next::Stop,
        }
    }

    /// The verdict a verdict map gives; `None` when no entry holds the key.
    fn vmap(
        &self,
        key: &super::rules::Key,
        entries: &[(Vec<super::rules::Val>, Verdict)],
        text: &str,
    ) -> Option<Verdict> {
        for (values, verdict) in entries {
            let m = Match {
                key: key.clone(),
                op: Op::Eq,
                values: values.clone(),
                text: text.to_string(),
            };
            match evaluate(&m, self.packet) {
                Truth::Yes => return Some(verdict.clone()),
                Truth::No => {}
                _ => return Some(Verdict::Undecidable(format!("vmap on {text}"))),
            }
        }
        None
    }

    fn apply(&mut self, mut path: Path, action: &Verdict, chain: &Chain, rule: &Rule) -> Next {
        match action {
            Verdict::Accept => self.next_base(path),
            Verdict::Drop => self.stop(path, End::Block("drop")),
            Verdict::Reject => self.stop(path, End::Block("reject")),
            Verdict::Continue => Next::Go(path),
            Verdict::Jump(target) => {
                if path.stack.len() >= MAX_DEPTH {
                    return self.stop(path, End::Undecided("jumps nested too deeply".into()));
                }
                path.stack.push((*target, 0));
                Next::Go(path)
            }
            Verdict::Goto(target) => {
                if let Some(top) = path.stack.last_mut() {
                    *top = (*target, 0);
                }
                Next::Go(path)
            }
            Verdict::Return => {
                path.stack.pop();
                if path.stack.is_empty() {
                    self.end_of_base(path)
                } else {
                    Next::Go(path)
                }
            }
            Verdict::Undecidable(text) => {
                let why = format!(
                    "cannot follow `{text}` in {} (handle {})",
                    chain.location(),
                    rule.handle
                );
                self.stop(path, End::Undecided(why))
            }
        }
    }

    /// The base chain ran out of rules (or returned): its policy decides.
    fn end_of_base(&mut self, path: Path) -> Next {
        let base = &self.chains[self.bases[path.base]];
        if base.base.is_some_and(|b| b.policy_drops) {
            self.stop(path, End::Block("drop"))
        } else {
            self.next_base(path)
        }
    }

    /// Accepted by this base chain: on to the next one, or accepted for good.
    fn next_base(&mut self, mut path: Path) -> Next {
        path.base += 1;
        match self.bases.get(path.base) {
            Some(&next) => {
                path.stack = vec![(next, 0)];
                Next::Go(path)
            }
            None => self.stop(path, End::Accept),
        }
    }

    fn stop(&mut self, path: Path, end: End) -> Next {
        self.finish(path, end);
        Next::Stop
    }

    fn finish(&mut self, path: Path, end: End) {
        self.outcomes.push(Outcome {
            end,
            origin: path.origin,
            assumed: path.assumed,
        });
    }
}

/// The path with an uncertain condition assumed to hold or not; `None` if impossible.
fn assume(mut path: Path, truth: &Truth, holds: bool, place: &str) -> Option<Path> {
    match truth {
        Truth::Unknown(text) => {
            // The same expression in the same rule has one value for one packet.
            let condition = format!("cannot evaluate `{text}` in {place}");
            match path.assumed.iter().find(|(c, _)| *c == condition) {
                Some((_, earlier)) if *earlier != holds => return None,
                Some(_) => {}
                None => path.assumed.push((condition, holds)),
            }
            Some(path)
        }
        Truth::Origin { pred, holds: sense } => {
            path.origin = path.origin.assume(pred, *sense == holds)?;
            Some(path)
        }
        Truth::Yes if holds => Some(path),
        Truth::No if !holds => Some(path),
        Truth::Yes | Truth::No => None,
    }
}

/// Most distinct undecidable conditions weighed against each other for one packet.
const MAX_CONDITIONS: usize = 10;

/// The verdict over every path. Each undecidable condition has one true value for the real
/// packet; the answer is known only if every combination of values gives the same verdict
/// (source-dependent splits are combined within each combination). Otherwise the verdict is
/// unknown and names a condition whose value changes it.
fn decide(outcomes: &[Outcome]) -> FirewallVerdict {
    let mut conditions: Vec<&String> = Vec::new();
    for (c, _) in outcomes.iter().flat_map(|o| o.assumed.iter()) {
        if !conditions.contains(&c) {
            conditions.push(c);
        }
    }
    if conditions.is_empty() {
        let all: Vec<&Outcome> = outcomes.iter().collect();
        return combine(&all);
    }
    if conditions.len() > MAX_CONDITIONS {
        return FirewallVerdict::Unknown(format!(
            "{} (and {} more undecidable conditions)",
            conditions[0],
            conditions.len() - 1
        ));
    }
    let verdict_under = |values: u32| -> Option<FirewallVerdict> {
        let consistent: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| {
                o.assumed.iter().all(|(c, s)| {
                    let bit = conditions.iter().position(|x| *x == c).unwrap_or(0);
                    (values >> bit & 1 == 1) == *s
                })
            })
            .collect();
        (!consistent.is_empty()).then(|| combine(&consistent))
    };
    let combos = 1u32 << conditions.len();
    let verdicts: Vec<Option<FirewallVerdict>> = (0..combos).map(verdict_under).collect();
    let mut seen = verdicts.iter().flatten();
    let Some(first) = seen.next() else {
        return FirewallVerdict::Unknown("no consistent path through the rules".into());
    };
    if seen.all(|v| v == first) {
        return first.clone();
    }
    for (bit, condition) in conditions.iter().enumerate() {
        let flips = (0..combos).any(|values| {
            let other = values ^ (1 << bit);
            matches!((&verdicts[values as usize], &verdicts[other as usize]), (Some(a), Some(b)) if a != b)
        });
        if flips {
            return FirewallVerdict::Unknown((*condition).clone());
        }
    }
    FirewallVerdict::Unknown((*conditions[0]).clone())
}

/// The verdict over some paths, their unknown assumptions taken as facts.
fn combine(outcomes: &[&Outcome]) -> FirewallVerdict {
    if let Some(why) = outcomes.iter().find_map(|o| match &o.end {
        End::Undecided(why) => Some(why.clone()),
        _ => None,
    }) {
        return FirewallVerdict::Unknown(why);
    }
    let accepted: Vec<&&Outcome> = outcomes.iter().filter(|o| o.end == End::Accept).collect();
    if accepted.is_empty() {
        let how = outcomes
            .iter()
            .find_map(|o| match o.end {
                End::Block(how) => Some(how),
                _ => None,
            })
            .unwrap_or("drop");
        return FirewallVerdict::Blocked {
            how: how.to_string(),
        };
    }
    if accepted.len() == outcomes.len() || accepted.iter().any(|o| !o.origin.is_limited()) {
        return FirewallVerdict::Accepted;
    }
    let mut sources: Vec<String> = accepted.iter().flat_map(|o| o.origin.describe()).collect();
    sources.sort();
    sources.dedup();
    FirewallVerdict::AllowedFrom(sources)
}
