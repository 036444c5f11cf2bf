//! Session cookies: `v1.<payload>.<mac>` where the payload names the session, its token, an
//! expiry and the session's CSRF token, and the MAC is HMAC-SHA256 under the process's session
//! key. A tampered or expired cookie is simply not a session. A valid cookie is only half of a
//! session: the server keeps the other half (see [`crate::state::Sessions`]), which logout
//! removes and which checks the token on every request.

use super::tokens::Role;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::hmac;
use serde::{Deserialize, Serialize};

/// Cookie name.
pub const SESSION_COOKIE: &str = "portwatch_session";
/// How long a session lasts.
pub const SESSION_SECONDS: i64 = 12 * 3600;

/// A signed-in dashboard user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The session's id (random), the key of its server-side record.
    pub sid: String,
    /// The token it signed in with.
    pub token_id: i64,
    /// That token's name (as of the current request).
    pub name: String,
    /// Its role (as of the current request: the token's role in the store wins).
    pub role: Role,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// The CSRF token every form must carry.
    pub csrf: String,
}

fn mac_key(key: &[u8; 32]) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, key)
}

impl Session {
    /// A new session for a token, with a fresh CSRF token.
    pub fn new(token_id: i64, name: &str, role: Role, now: i64) -> Session {
        let mut csrf = [0u8; 24];
        super::tokens::random_fill(&mut csrf);
        let mut sid = [0u8; 16];
        super::tokens::random_fill(&mut sid);
        Session {
            sid: super::tokens::hex(&sid),
            token_id,
            name: name.to_string(),
            role,
            exp: now + SESSION_SECONDS,
            csrf: super::tokens::hex(&csrf),
        }
    }

    /// The cookie value.
    pub fn encode(&self, key: &[u8; 32]) -> String {
        let payload = B64.encode(serde_json::to_vec(self).unwrap_or_default());
        let sig = B64.encode(hmac::sign(&mac_key(key), payload.as_bytes()));
        format!("v1.{payload}.{sig}")
    }

    /// The session in a cookie value, if it is ours, untampered and unexpired.
    pub fn decode(key: &[u8; 32], value: &str, now: i64) -> Option<Session> {
        let mut parts = value.split('.');
        let (Some("v1"), Some(payload), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let sig = B64.decode(sig).ok()?;
        hmac::verify(&mac_key(key), payload.as_bytes(), &sig).ok()?;
        let session: Session = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
        (session.exp > now).then_some(session)
    }

    /// Whether `provided` is this session's CSRF token (constant time).
    pub fn csrf_ok(&self, provided: &str) -> bool {
        use subtle::ConstantTimeEq;
        !provided.is_empty() && self.csrf.as_bytes().ct_eq(provided.as_bytes()).into()
    }

    /// The `Set-Cookie` header value that stores this session.
    pub fn set_cookie(&self, key: &[u8; 32]) -> String {
        format!(
            "{SESSION_COOKIE}={}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={SESSION_SECONDS}",
            self.encode(key)
        )
    }
}

/// The `Set-Cookie` value that ends a session.
pub fn clear_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_tamper_and_expiry() {
        let key = [7u8; 32];
        let s = Session::new(3, "ops", Role::Admin, 1000);
        let v = s.encode(&key);
        assert_eq!(Session::decode(&key, &v, 1001), Some(s.clone()));
        assert_eq!(Session::decode(&[8u8; 32], &v, 1001), None, "another key");
        assert_eq!(
            Session::decode(&key, &v, 1000 + SESSION_SECONDS),
            None,
            "expired"
        );
        let mut forged = s.clone();
        forged.role = Role::Admin;
        forged.token_id = 99;
        let payload = B64.encode(serde_json::to_vec(&forged).unwrap());
        let sig = v.rsplit('.').next().unwrap();
        assert_eq!(
            Session::decode(&key, &format!("v1.{payload}.{sig}"), 1001),
            None,
            "tampered"
        );
        assert_eq!(Session::decode(&key, "garbage", 1001), None);
        assert!(s.csrf_ok(&s.csrf) && !s.csrf_ok("") && !s.csrf_ok("x"));
    }
}
