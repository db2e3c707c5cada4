//! A session token and what we know about it: its secret value, expiry, revision and origin.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

/// Where the current token came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenSource {
    /// The `JWT_TOKEN` the process started with.
    Env,
    /// `Auth/loginKey`.
    Login,
    /// `Auth/validate`.
    Validate,
}

/// One session token. `Debug` shows its revision, origin and expiry, never its value.
pub struct Token {
    value: SecretString,
    expires_at: DateTime<Utc>,
    /// The token counts as due for refresh once less than this is left (the margin, shortened for tokens whose
    /// whole life is shorter than a few margins, so short-lived tokens do not refresh on every call).
    lead: Duration,
    revision: u64,
    source: TokenSource,
    /// Set when the gateway answered 401 to it or refused to validate it.
    rejected: AtomicBool,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("revision", &self.revision)
            .field("source", &self.source)
            .field("expires_at", &self.expires_at)
            .field("rejected", &self.is_rejected())
            .finish_non_exhaustive()
    }
}

impl Token {
    pub(crate) fn new(
        value: SecretString,
        expires_at: DateTime<Utc>,
        lead: Duration,
        revision: u64,
        source: TokenSource,
    ) -> Self {
        Self { value, expires_at, lead, revision, source, rejected: AtomicBool::new(false) }
    }

    /// The bearer value. Expose it only to put it on the wire.
    pub fn secret(&self) -> &SecretString {
        &self.value
    }

    /// When the gateway stops accepting it (the JWT `exp`).
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }

    /// Time left before expiry (zero once expired).
    pub fn time_left(&self) -> Duration {
        (self.expires_at - Utc::now()).to_std().unwrap_or(Duration::ZERO)
    }

    /// Increases by one with every token this process obtains.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Where it came from.
    pub fn source(&self) -> TokenSource {
        self.source
    }

    /// How long before expiry a refresh is due.
    pub fn refresh_lead(&self) -> Duration {
        self.lead
    }

    /// Not expired and not rejected by the gateway: requests may still use it.
    pub fn is_usable(&self) -> bool {
        !self.is_rejected() && self.time_left() > Duration::ZERO
    }

    /// Usable with more than `lead` left.
    pub(crate) fn is_fresh(&self, lead: Duration) -> bool {
        !self.is_rejected() && self.time_left() > lead
    }

    pub(crate) fn is_rejected(&self) -> bool {
        self.rejected.load(Ordering::Acquire)
    }

    pub(crate) fn mark_rejected(&self) {
        self.rejected.store(true, Ordering::Release);
    }
}

/// The `exp` (and `iat`, when present) of a JWT, read without verifying its signature: we do not hold the
/// gateway's signing key, and we only use the expiry to schedule our own refresh. The gateway still checks the
/// signature of everything we send.
pub(crate) fn read_claims(token: &str) -> Option<(DateTime<Utc>, Option<DateTime<Utc>>)> {
    #[derive(serde::Deserialize)]
    struct Claims {
        exp: i64,
        #[serde(default)]
        iat: Option<i64>,
    }
    let mut validation = jsonwebtoken::Validation::default();
    validation.insecure_disable_signature_validation();
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims = ["exp".to_owned()].into();
    let header = jsonwebtoken::decode_header(token).ok()?;
    validation.algorithms = vec![header.alg];
    let data = jsonwebtoken::decode::<Claims>(token, &jsonwebtoken::DecodingKey::from_secret(&[]), &validation).ok()?;
    let exp = DateTime::from_timestamp(data.claims.exp, 0)?;
    let iat = data.claims.iat.and_then(|t| DateTime::from_timestamp(t, 0));
    Some((exp, iat))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &serde_json::Value) -> String {
        let key = jsonwebtoken::EncodingKey::from_secret(b"someone else's key");
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), claims, &key).unwrap()
    }

    #[test]
    fn reads_exp_and_iat_without_the_signing_key() {
        let t = jwt(&serde_json::json!({"exp": 2_000_000_000_i64, "iat": 1_999_913_600_i64, "sub": "u"}));
        let (exp, iat) = read_claims(&t).unwrap();
        assert_eq!(exp.timestamp(), 2_000_000_000);
        assert_eq!(iat.unwrap().timestamp(), 1_999_913_600);
    }

    #[test]
    fn garbage_and_tokens_without_exp_are_not_read() {
        assert!(read_claims("not-a-jwt").is_none());
        assert!(read_claims(&jwt(&serde_json::json!({"sub": "u"}))).is_none());
    }

    #[test]
    fn debug_never_shows_the_value() {
        let t = Token::new(
            SecretString::from("super-secret-token-value"),
            Utc::now(),
            Duration::from_secs(1),
            3,
            TokenSource::Env,
        );
        let shown = format!("{t:?}");
        assert!(!shown.contains("super-secret"), "{shown}");
        assert!(shown.contains("revision: 3"));
    }
}
