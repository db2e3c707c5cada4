//! Session tokens: HS256 JWTs signed with a random per-simulator secret, carrying `sub`, `iat`,
//! `exp` and a unique `jti`. Revocation is cheap: every token's `jti` starts with a sequence number,
//! so "revoke everything issued so far" is one watermark, and logout adds a single `jti` to a set.
//! Expiry is checked here against the wall clock (not by `jsonwebtoken`, whose default leeway is 60 s).

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// The claims inside every token the simulator issues.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Claims {
    /// The user name the token was issued to.
    pub(crate) sub: String,
    /// Issue time, seconds since the epoch.
    pub(crate) iat: i64,
    /// Expiry, seconds since the epoch; the token is rejected from this second on.
    pub(crate) exp: i64,
    /// `"<sequence>-<random hex>"`: unique per token, the sequence drives `revoke_all`.
    pub(crate) jti: String,
}

impl Claims {
    fn sequence(&self) -> Option<u64> {
        self.jti.split_once('-')?.0.parse().ok()
    }
}

/// Why a bearer token was refused; every variant becomes the same bare 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejected {
    /// Bad signature, bad encoding, wrong algorithm or missing claims.
    Invalid,
    /// `exp` has passed.
    Expired,
    /// Revoked by `revoke_all_tokens` or logout.
    Revoked,
}

/// Issues and verifies tokens. Shared by the REST gate (and, later, the hubs' `access_token` check).
pub(crate) struct Tokens {
    username: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Written by issue/revoke, read by verify; held for a statement, never across `.await`.
    state: Mutex<TokenState>,
}

struct TokenState {
    /// Lifetime of tokens from login and validate (`SimHandle::set_token_lifetime`).
    lifetime: Duration,
    /// Sequence number of the next token.
    next_sequence: u64,
    /// Tokens with a sequence below this were revoked by `revoke_all`.
    revoked_below: u64,
    /// Individually revoked `jti`s (logout).
    revoked: HashSet<String>,
}

impl Tokens {
    pub(crate) fn new(username: &str, lifetime: Duration) -> Self {
        let secret: Vec<u8> = std::iter::repeat_with(|| fastrand::u8(..)).take(32).collect();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims = HashSet::new();
        Self {
            username: username.to_owned(),
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
            validation,
            state: Mutex::new(TokenState { lifetime, next_sequence: 1, revoked_below: 0, revoked: HashSet::new() }),
        }
    }

    /// A token with the configured lifetime (login and validate).
    pub(crate) fn issue_default(&self) -> String {
        let lifetime = self.state.lock().lifetime;
        self.issue(lifetime)
    }

    /// A token valid for `lifetime` from now; `exp` is rounded down to the second, so a token never
    /// outlives its `exp` claim.
    pub(crate) fn issue(&self, lifetime: Duration) -> String {
        let now = unix_now();
        let expires = now.checked_add(lifetime).unwrap_or(Duration::MAX);
        self.sign(secs(now), secs(expires))
    }

    /// A correctly signed token that expired an hour ago.
    pub(crate) fn issue_expired(&self) -> String {
        let now = secs(unix_now());
        self.sign(now - 7200, now - 3600)
    }

    pub(crate) fn set_lifetime(&self, lifetime: Duration) {
        self.state.lock().lifetime = lifetime;
    }

    /// Every token issued so far stops working; tokens issued later are unaffected.
    pub(crate) fn revoke_all(&self) {
        let mut state = self.state.lock();
        state.revoked_below = state.next_sequence;
        state.revoked.clear();
    }

    /// Revokes one token (logout).
    pub(crate) fn revoke(&self, claims: &Claims) {
        self.state.lock().revoked.insert(claims.jti.clone());
    }

    /// Checks signature, expiry and revocation.
    pub(crate) fn verify(&self, token: &str) -> Result<Claims, Rejected> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| Rejected::Invalid)?
            .claims;
        let expiry = u64::try_from(claims.exp).map_or(UNIX_EPOCH, |s| UNIX_EPOCH + Duration::from_secs(s));
        if SystemTime::now() >= expiry {
            return Err(Rejected::Expired);
        }
        let sequence = claims.sequence().ok_or(Rejected::Invalid)?;
        let state = self.state.lock();
        if sequence < state.revoked_below || state.revoked.contains(&claims.jti) {
            return Err(Rejected::Revoked);
        }
        Ok(claims)
    }

    fn sign(&self, iat: i64, exp: i64) -> String {
        let sequence = {
            let mut state = self.state.lock();
            let sequence = state.next_sequence;
            state.next_sequence += 1;
            sequence
        };
        let claims =
            Claims { sub: self.username.clone(), iat, exp, jti: format!("{sequence}-{:016x}", fastrand::u64(..)) };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of plain claims with an in-memory key cannot fail")
    }
}

fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_tokens_in_the_same_second_differ_and_both_verify() {
        let tokens = Tokens::new("u", Duration::from_secs(60));
        let (a, b) = (tokens.issue_default(), tokens.issue_default());
        assert_ne!(a, b);
        assert_eq!(tokens.verify(&a).unwrap().sub, "u");
        assert!(tokens.verify(&b).is_ok());
    }

    #[test]
    fn expired_revoked_and_foreign_tokens_are_refused() {
        let tokens = Tokens::new("u", Duration::from_secs(60));
        assert_eq!(tokens.verify(&tokens.issue_expired()).unwrap_err(), Rejected::Expired);
        assert_eq!(tokens.verify(&tokens.issue(Duration::ZERO)).unwrap_err(), Rejected::Expired);
        let other = Tokens::new("u", Duration::from_secs(60));
        assert_eq!(tokens.verify(&other.issue_default()).unwrap_err(), Rejected::Invalid);
        assert_eq!(tokens.verify("not.a.jwt").unwrap_err(), Rejected::Invalid);
        let old = tokens.issue_default();
        tokens.revoke_all();
        let new = tokens.issue_default();
        assert_eq!(tokens.verify(&old).unwrap_err(), Rejected::Revoked);
        let claims = tokens.verify(&new).unwrap();
        tokens.revoke(&claims);
        assert_eq!(tokens.verify(&new).unwrap_err(), Rejected::Revoked);
    }
}
