//! API tokens: `pw_` followed by 32 random bytes in hex; only their SHA-256 is stored.

use ring::rand::SecureRandom;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a token may do.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase", parse_err_ty = String, parse_err_fn = unknown_role)]
pub enum Role {
    /// Read everything.
    Viewer,
    /// Read everything and act: scan now, acknowledge, silence.
    Admin,
    /// An agent of one vantage: only the agent endpoints (poll, renew, push results).
    Agent,
}

impl Role {
    /// `viewer`, `admin` or `agent`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn unknown_role(s: &str) -> String {
    format!("unknown role '{s}' (expected viewer, admin or agent)")
}

/// A new random token.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    random_fill(&mut bytes);
    format!("pw_{}", hex(&bytes))
}

/// The hash stored for a token.
pub fn hash(token: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, token.trim().as_bytes()).as_ref())
}

/// Fills `bytes` from the system's random generator. A failing generator is fatal: tokens,
/// sessions and CSRF tokens could not be trusted.
pub(crate) fn random_fill(bytes: &mut [u8]) {
    ring::rand::SystemRandom::new()
        .fill(bytes)
        .expect("the system random generator works");
}

/// Whether `text` looks like one of our tokens (cheap check before a store lookup).
pub fn well_formed(text: &str) -> bool {
    text.len() == 67 && text.starts_with("pw_") && text[3..].bytes().all(|b| b.is_ascii_hexdigit())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Creates a token in the store; returns the token text (shown once) and its id.
pub async fn create(
    store: &portwatch_store::Store,
    name: &str,
    role: Role,
) -> portwatch_store::Result<(String, i64)> {
    let token = generate();
    let id = store
        .create_token(name, role.as_str(), &hash(&token))
        .await?;
    Ok((token, id))
}

/// Creates an agent token bound to `vantage`; returns the token text (shown once) and its id.
pub async fn create_agent(
    store: &portwatch_store::Store,
    name: &str,
    vantage: &str,
) -> portwatch_store::Result<(String, i64)> {
    let token = generate();
    let id = store
        .create_token_for(name, Role::Agent.as_str(), Some(vantage), &hash(&token))
        .await?;
    Ok((token, id))
}

/// Whether `name` may name a vantage: 1 to 64 characters of ASCII letters, digits, `-`, `_`
/// and `.`, starting with a letter or digit.
pub fn valid_vantage(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_well_formed_and_hashed() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(well_formed(&a));
        assert!(!well_formed("pw_short") && !well_formed(&a.replace("pw_", "xx_")));
        assert_eq!(hash(&a).len(), 64);
        assert_ne!(hash(&a), hash(&b));
    }
}
