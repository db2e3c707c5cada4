//! The webhook secret, wherever a caller may offer it, checked in one place for every route that needs it
//! (`/webhook`, `/alerts`, `/kill`):
//!
//! 1. the URL path (`/webhook/{secret}`: TradingView cannot set headers, and some users cannot edit the message),
//! 2. the query (`?secret=`),
//! 3. an `Authorization: Bearer <secret>` header (scripts, dashboards),
//! 4. the JSON body's `secret` (or `passphrase`, `key`, `token`: see `signal::Envelope`).
//!
//! The first one present is the one compared, in constant time. Nothing here logs or returns an offered value.

use std::convert::Infallible;
use std::fmt;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use secrecy::{ExposeSecret, SecretString};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use serde_json::{Value, json};

use crate::error::{ApiError, body_rejection};

/// Where a secret may be sent, for messages.
const WHERE: &str = "send it in the URL (`/webhook/<secret>` or `?secret=<secret>`), as `Authorization: Bearer \
                     <secret>`, or as the body's `\"secret\"` field";

/// The secret a request offers outside its body (path, query, bearer). `Debug` never shows it.
#[derive(Default)]
pub struct OfferedSecret {
    /// The first of path, query, bearer that was present.
    outside_body: Option<String>,
}

impl fmt::Debug for OfferedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OfferedSecret")
            .field("outside_body", &self.outside_body.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What the body says about a secret, for [`OfferedSecret::check`].
#[derive(Clone, Copy, Debug)]
pub enum BodySecret<'a> {
    /// The route takes no secret in its body (or the body has none).
    None,
    /// The body offered this secret.
    Offered(&'a str),
    /// The body could not be read, so no secret could be read from it; the text says why (never the content).
    Unreadable(&'a str),
    /// The body has no secret under an accepted name; the text is a hint such as a field differing only in case.
    Hint(&'a str),
}

impl<S: Send + Sync> FromRequestParts<S> for OfferedSecret {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "secret").map(|(_, v)| v.into_owned())
        });
        let bearer = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|v| v.trim().to_owned());
        Ok(Self { outside_body: query.or(bearer) })
    }
}

impl OfferedSecret {
    /// The secret from the URL path, which wins over the query and the header.
    pub fn with_path(self, secret: String) -> Self {
        Self { outside_body: Some(secret) }
    }

    /// `Ok` when the offered secret (outside the body first, else the body's) equals `expected`. `expected` is
    /// `None` when `WEBHOOK_SECRET` is unset: every such route is then refused with 503 `webhook_disabled`.
    pub fn check(&self, expected: Option<&SecretString>, body: BodySecret<'_>) -> Result<(), ApiError> {
        let expected = expected.ok_or(ApiError::WebhookDisabled)?;
        let offered = self.outside_body.as_deref().or(match body {
            BodySecret::Offered(s) => Some(s),
            _ => None,
        });
        match (offered, body) {
            (Some(offered), _) if secret_matches(expected, offered) => Ok(()),
            (Some(_), _) => Err(ApiError::Unauthorized("the secret is wrong".to_owned())),
            (None, BodySecret::Unreadable(why)) => Err(ApiError::Unauthorized(format!(
                "no secret was offered, and none could be read from the body because it {why}; {WHERE}"
            ))),
            (None, BodySecret::Hint(hint)) => Err(ApiError::Unauthorized(format!("no secret was offered: {hint}"))),
            (None, _) => Err(ApiError::Unauthorized(format!("no secret was offered; {WHERE}"))),
        }
    }
}

/// Constant-time comparison: both sides are hashed to 32 bytes first, so neither length nor content leaks timing.
pub fn secret_matches(expected: &SecretString, offered: &str) -> bool {
    let a = ring::digest::digest(&ring::digest::SHA256, expected.expose_secret().as_bytes());
    let b = ring::digest::digest(&ring::digest::SHA256, offered.as_bytes());
    a.as_ref().iter().zip(b.as_ref()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The JSON body of a small control route (`/kill`, `/user-hub/resume`; empty = `{}`), read within `limit`, after the
/// secret check: its `secret` field counts as the body's offered secret. Returns the parsed body, or why it did not
/// parse (refused by the caller only after authentication, so an unauthenticated sender learns nothing of it).
pub fn control_body(
    offered: &OfferedSecret,
    expected: Option<&SecretString>,
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<Result<Value, String>, ApiError> {
    let body = body.map_err(|r| body_rejection(&r, limit))?;
    if body.len() > limit {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let text = std::str::from_utf8(&body).map(str::trim).unwrap_or("\u{fffd}");
    let parsed: Result<Value, String> = if text.is_empty() {
        Ok(json!({}))
    } else {
        serde_json::from_str(text).map_err(|e| format!("is not valid JSON ({e})"))
    };
    let body_secret = match &parsed {
        Ok(v) => v["secret"].as_str().map_or(BodySecret::None, BodySecret::Offered),
        Err(why) => BodySecret::Unreadable(why),
    };
    offered.check(expected, body_secret)?;
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    async fn offered(uri: &str, bearer: Option<&str>) -> OfferedSecret {
        let mut req = Request::get(uri);
        if let Some(b) = bearer {
            req = req.header(AUTHORIZATION, format!("Bearer {b}"));
        }
        let (mut parts, ()) = req.body(()).unwrap().into_parts();
        OfferedSecret::from_request_parts(&mut parts, &()).await.unwrap()
    }

    #[test]
    fn secrets_compare_by_value() {
        let s = SecretString::from("hunter2");
        assert!(secret_matches(&s, "hunter2"));
        assert!(!secret_matches(&s, "hunter3"));
        assert!(!secret_matches(&s, ""));
    }

    #[tokio::test]
    async fn every_place_is_read_and_the_path_query_bearer_body_order_holds() {
        let expected = SecretString::from("s3cret");
        let ok = |o: &OfferedSecret, body| o.check(Some(&expected), body).is_ok();
        assert!(ok(&offered("/alerts?secret=s3cret", None).await, BodySecret::None));
        assert!(ok(&offered("/alerts?limit=5&secret=s%33cret", None).await, BodySecret::None), "decoded");
        assert!(ok(&offered("/alerts", Some("s3cret")).await, BodySecret::None));
        assert!(ok(&offered("/kill", None).await, BodySecret::Offered("s3cret")));
        assert!(ok(&offered("/webhook", None).await.with_path("s3cret".into()), BodySecret::None));
        // The first present place is compared: a wrong query secret is not rescued by a right body secret.
        assert!(!ok(&offered("/kill?secret=nope", None).await, BodySecret::Offered("s3cret")));
        assert!(ok(&offered("/alerts?secret=s3cret", Some("nope")).await, BodySecret::None), "query before header");
        assert!(!ok(&offered("/alerts", None).await, BodySecret::None));
    }

    #[tokio::test]
    async fn each_refusal_says_why_without_echoing_anything_offered() {
        let expected = SecretString::from("s3cret");
        let none = offered("/webhook", None).await;
        let disabled = none.check(None, BodySecret::None).unwrap_err();
        assert_eq!(disabled, ApiError::WebhookDisabled);
        let unreadable = none.check(Some(&expected), BodySecret::Unreadable("is not valid JSON (line 1, column 47)"));
        let text = unreadable.unwrap_err().to_string();
        assert!(
            text.contains("is not valid JSON (line 1, column 47)") && text.contains("none could be read"),
            "{text}"
        );
        let wrong = offered("/webhook?secret=guess-WRONG", None).await.check(Some(&expected), BodySecret::None);
        let text = wrong.unwrap_err().to_string();
        assert!(!text.contains("guess-WRONG") && !text.contains("s3cret"), "{text}");
        let hint = none.check(Some(&expected), BodySecret::Hint("the body has `Secret`; use `secret`"));
        assert!(hint.unwrap_err().to_string().contains("use `secret`"));
    }
}
