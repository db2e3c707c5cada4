//! The body as received: trimmed, parsed as one JSON object, its secret taken out and a redacted copy kept.
//!
//! This is split from reading the trading fields so the route can check the secret first and answer 401 without
//! telling an unauthenticated sender anything about the payload.

use std::fmt;

use serde_json::Value;

use super::values::Object;
use super::{Alert, Intent, SignalError, fields};

/// Body fields that may carry the webhook secret (exact, lowercase names), in precedence order for messages.
const SECRET_FIELDS: [&str; 4] = ["secret", "passphrase", "key", "token"];

/// Field names (compared case-insensitively, at any depth) removed from the journal copy. Wider than
/// [`SECRET_FIELDS`]: removing too much from a log copy costs nothing, leaking a broker token costs a lot.
const REDACTED_FIELDS: [&str; 8] = ["secret", "passphrase", "key", "token", "password", "api_key", "apikey", "pin"];

const EXAMPLE: &str = r#"{"symbol":"MNQ1!","action":"buy","quantity":1}"#;

/// A webhook body parsed far enough to authenticate it.
#[derive(Clone)]
pub struct Envelope {
    /// See [`Alert::offered_secret`].
    offered_secret: Option<String>,
    /// See [`Alert::redacted_body`].
    redacted_body: String,
    /// The top-level object with the secret fields removed.
    fields: Object,
    /// When no secret field is spelled right: a top-level name differing from one only in case (`Secret`), and
    /// the right spelling. Names only, never the value.
    secret_misspelled: Option<(String, &'static str)>,
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("offered_secret", &self.offered_secret.as_ref().map(|_| "<redacted>"))
            .field("redacted_body", &self.redacted_body)
            .finish_non_exhaustive()
    }
}

impl Envelope {
    /// Parses the raw body (`application/json` or `text/plain`): surrounding whitespace, a UTF-8 byte-order mark
    /// and one stray trailing `=` (form encoding) are ignored; what is left must be a JSON object.
    pub fn parse(body: &[u8]) -> Result<Self, SignalError> {
        let trimmed = trim(body);
        if trimmed.is_empty() {
            return Err(SignalError::new("body", format!("is empty; a JSON object is expected, e.g. {EXAMPLE}")));
        }
        let mut fields = match serde_json::from_slice::<Value>(trimmed) {
            Ok(Value::Object(map)) => map,
            Ok(other) => {
                let got = match other {
                    Value::Array(_) => "a list",
                    Value::String(_) => "a string",
                    Value::Number(_) => "a number",
                    Value::Bool(_) => "true/false",
                    Value::Null | Value::Object(_) => "null",
                };
                return Err(SignalError::new("body", format!("a JSON object is expected, e.g. {EXAMPLE}; got {got}")));
            }
            // serde_json's message names a position only, never the content, so it cannot echo a secret.
            Err(e) => {
                let what = if trimmed.first() == Some(&b'{') { "is not valid JSON" } else { "is not JSON" };
                return Err(SignalError::new(
                    "body",
                    format!(
                        "{what} ({e}); a JSON object is expected, e.g. {EXAMPLE}. In TradingView, put the JSON in \
                         the alert's Message box and check quotes and commas"
                    ),
                ));
            }
        };
        let offered_secret = take_secret(&mut fields)?;
        let secret_misspelled = if offered_secret.is_none() { misspelled_secret(&fields) } else { None };
        redact_map(&mut fields);
        let redacted_body = serde_json::to_string(&fields).expect("a map with string keys always serialises");
        Ok(Self { offered_secret, redacted_body, fields, secret_misspelled })
    }

    /// A sentence for the 401 answer when the body offers no secret under an accepted name but has a top-level
    /// field whose name differs from one only in case (`"Secret"`, `"PASSPHRASE"`): "the body has `Secret`; field
    /// names are case-sensitive: use `secret`". `None` otherwise. Contains field names only, never a value.
    pub fn secret_hint(&self) -> Option<String> {
        self.secret_misspelled
            .as_ref()
            .map(|(got, right)| format!("the body has `{got}`; field names are case-sensitive: use `{right}`"))
    }

    /// The secret the body offered, if any (never log it).
    pub fn offered_secret(&self) -> Option<&str> {
        self.offered_secret.as_deref()
    }

    /// The body with every secret-like field removed, as compact JSON.
    pub fn redacted_body(&self) -> &str {
        &self.redacted_body
    }

    /// Reads and validates the trading fields.
    pub fn intent(&self) -> Result<Intent, SignalError> {
        fields::intent(&self.fields)
    }

    /// Validates the trading fields and keeps the secret and redacted body alongside.
    pub fn into_alert(self) -> Result<Alert, SignalError> {
        let intent = self.intent()?;
        Ok(Alert { intent, offered_secret: self.offered_secret, redacted_body: self.redacted_body })
    }
}

/// Strips whitespace, a byte-order mark, and one trailing `=` (then whitespace again).
fn trim(body: &[u8]) -> &[u8] {
    let body = body.trim_ascii();
    let body = body.strip_prefix("\u{feff}".as_bytes()).unwrap_or(body);
    let body = body.strip_suffix(b"=").unwrap_or(body);
    body.trim_ascii()
}

/// Removes the top-level secret fields and returns the offered secret. Several secret fields must agree; the
/// message never shows their values.
fn take_secret(fields: &mut Object) -> Result<Option<String>, SignalError> {
    let mut offered: Option<(&'static str, String)> = None;
    for name in SECRET_FIELDS {
        let text = match fields.remove(name) {
            Some(Value::String(s)) => s,
            Some(Value::Number(n)) => n.as_str().to_owned(),
            // `null`, objects and the like carry no secret; they are still removed from the journal copy.
            _ => continue,
        };
        match &offered {
            None => offered = Some((name, text)),
            Some((first, kept)) if *kept != text => {
                return Err(SignalError::new(
                    "secret",
                    format!("`{first}` and `{name}` carry different values; send the webhook secret in one field"),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(offered.map(|(_, text)| text))
}

/// The first top-level name that is a secret field spelled in another case (`Secret` → `secret`).
fn misspelled_secret(fields: &Object) -> Option<(String, &'static str)> {
    fields.keys().find_map(|name| {
        SECRET_FIELDS.iter().find(|s| s.eq_ignore_ascii_case(name) && **s != name.as_str()).map(|s| (name.clone(), *s))
    })
}

/// Removes secret-like fields from `map` and every object nested in it.
fn redact_map(map: &mut Object) {
    map.retain(|k, _| !REDACTED_FIELDS.iter().any(|r| k.eq_ignore_ascii_case(r)));
    map.values_mut().for_each(redact);
}

fn redact(v: &mut Value) {
    match v {
        Value::Object(map) => redact_map(map),
        Value::Array(items) => items.iter_mut().for_each(redact),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}
