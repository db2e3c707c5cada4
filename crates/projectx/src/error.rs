//! The one error type of the gateway client. Callers branch on it: a [`Error::Transport`] or HTTP 429/5xx on a read
//! is worth retrying, a [`Error::Rejected`] is the gateway's business answer, and an [`Error::Ambiguous`] means a
//! money-moving call may or may not have happened and must be reconciled (by `customTag`) before anything else is
//! sent. No variant ever carries a token or an API key.

use std::time::Duration;

/// Everything a gateway call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request never reached the gateway (DNS, connect, TLS), or a read failed on the network. Safe to retry.
    #[error("request to {endpoint} failed before the gateway answered: {source}")]
    Transport {
        /// Endpoint path.
        endpoint: &'static str,
        /// The underlying network error.
        #[source]
        source: reqwest::Error,
    },
    /// The gateway answered with a non-success HTTP status (401, 429, 5xx, 400, …).
    #[error("{endpoint} returned HTTP {status}{}", retry_after.map(|d| format!(" (retry after {}s)", d.as_secs())).unwrap_or_default())]
    Status {
        /// Endpoint path.
        endpoint: &'static str,
        /// HTTP status code.
        status: u16,
        /// `Retry-After` of a 429, if any.
        retry_after: Option<Duration>,
        /// Start of the response body (at most 512 bytes), for diagnosis.
        body: String,
    },
    /// HTTP 200 with `success: false`: the gateway's business rejection, with the endpoint's own code name.
    #[error("{endpoint} rejected the request: {name} (errorCode {code}){}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Rejected {
        /// Endpoint path.
        endpoint: &'static str,
        /// The endpoint-specific `errorCode`.
        code: i64,
        /// The documented name of `code` for this endpoint.
        name: &'static str,
        /// The gateway's `errorMessage`, often null.
        message: Option<String>,
        /// Some rejected orders still carry a real `orderId`.
        order_id: Option<crate::OrderId>,
    },
    /// The response did not have the documented shape.
    #[error("unexpected {endpoint} response at `{path}`: {source}")]
    Decode {
        /// Endpoint path.
        endpoint: &'static str,
        /// JSON path of the offending value, e.g. `orders[0].status`.
        path: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A money-moving call whose outcome is unknown (timeout after sending, connection reset, 5xx, unreadable
    /// answer). The gateway may have acted: look the order up by `customTag` before sending anything else.
    #[error("{endpoint}: outcome unknown, the gateway may have acted (reconcile before retrying): {source}")]
    Ambiguous {
        /// Endpoint path.
        endpoint: &'static str,
        /// What made the outcome unknown.
        #[source]
        source: Box<Error>,
    },
    /// No valid session token could be obtained.
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// A definitive authentication failure: retrying the same thing will not help.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No usable token and nothing to log in with.
    #[error(
        "no usable session token: JWT_TOKEN is {token_state} and no credentials are configured; \
         set PROJECT_X_USERNAME and PROJECT_X_API_KEY (or a fresh JWT_TOKEN)"
    )]
    NoCredentials {
        /// `missing`, `expired`, `rejected by the gateway` or `set but is not a JWT (…)`.
        token_state: &'static str,
    },
    /// The gateway refused the API-key login.
    #[error("the gateway refused the API-key login: {reason}; check PROJECT_X_USERNAME and PROJECT_X_API_KEY{hint}")]
    LoginRejected {
        /// The provider's error (code name, number and message) or HTTP status.
        reason: String,
        /// What to do about this particular refusal.
        hint: &'static str,
    },
}

impl Error {
    /// Whether repeating the same call could succeed and is safe: network failures before the gateway answered,
    /// 429 and 5xx. Never true for [`Error::Ambiguous`].
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Status { status, .. } => *status == 429 || (500..600).contains(status),
            _ => false,
        }
    }

    /// Whether the gateway answered 401 (token missing, expired or revoked): it did not act on the request.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Status { status: 401, .. })
    }

    /// Whether `Order/place` was refused because the account already holds an order with the same `customTag`:
    /// errorCode 2 (`OrderRejected`, the catch-all) whose message names the custom tag and says it is not unique
    /// (the gateway notes §6.6: "must be unique within the account; duplicates rejected with errorCode 2" [T]; the
    /// live text reads "The custom tag '…' is not unique within account …"). For a relay that derives the tag from
    /// the alert id this means the alert was placed before: reconcile by the tag, never treat it as a refusal.
    pub fn is_duplicate_custom_tag(&self) -> bool {
        let Self::Rejected { endpoint, code: 2, message: Some(text), .. } = self else { return false };
        if *endpoint != crate::endpoint::ORDER_PLACE.path {
            return false;
        }
        let lower = text.to_ascii_lowercase();
        let names_the_tag = lower.contains("customtag") || lower.contains("custom tag");
        names_the_tag && ["unique", "duplicate", "already"].iter().any(|w| lower.contains(w))
    }

    /// `Retry-After` carried by a 429.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The endpoint path the error belongs to, when there is one.
    pub fn endpoint(&self) -> Option<&'static str> {
        match self {
            Self::Transport { endpoint, .. }
            | Self::Status { endpoint, .. }
            | Self::Rejected { endpoint, .. }
            | Self::Decode { endpoint, .. }
            | Self::Ambiguous { endpoint, .. } => Some(endpoint),
            Self::Auth(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> Error {
        Error::Status { endpoint: "/api/Order/place", status, retry_after: None, body: String::new() }
    }

    #[test]
    fn transient_statuses_are_retryable_and_business_errors_are_not() {
        assert!(status(429).is_retryable());
        assert!(status(503).is_retryable());
        assert!(!status(400).is_retryable());
        assert!(!status(401).is_retryable());
        let rejected = Error::Rejected {
            endpoint: "/api/Order/place",
            code: 2,
            name: "OrderRejected",
            message: None,
            order_id: Some(crate::OrderId::new(7)),
        };
        assert!(!rejected.is_retryable());
        let ambiguous = Error::Ambiguous { endpoint: "/api/Order/place", source: Box::new(status(503)) };
        assert!(!ambiguous.is_retryable(), "an order with an unknown outcome must never be retried blindly");
    }

    fn place_rejected(code: i64, message: &str) -> Error {
        Error::Rejected {
            endpoint: "/api/Order/place",
            code,
            name: "OrderRejected",
            message: Some(message.into()),
            order_id: None,
        }
    }

    #[test]
    fn a_duplicate_custom_tag_is_told_apart_from_other_rejections() {
        let live = "The custom tag 'pxr-abc-1' is not unique within account 7.";
        assert!(place_rejected(2, live).is_duplicate_custom_tag());
        assert!(place_rejected(2, "customTag already exists").is_duplicate_custom_tag());
        assert!(place_rejected(2, "Duplicate CustomTag").is_duplicate_custom_tag());
        assert!(!place_rejected(2, "Invalid stop loss ticks (10).").is_duplicate_custom_tag());
        assert!(!place_rejected(2, "Order size is not unique").is_duplicate_custom_tag(), "must name the tag");
        assert!(!place_rejected(3, live).is_duplicate_custom_tag(), "only errorCode 2 means a validation refusal");
        let other_endpoint = Error::Rejected {
            endpoint: "/api/Order/modify",
            code: 2,
            name: "OrderRejected",
            message: Some(live.into()),
            order_id: None,
        };
        assert!(!other_endpoint.is_duplicate_custom_tag());
        assert!(!status(503).is_duplicate_custom_tag());
    }

    #[test]
    fn rejection_message_names_the_code_and_the_gateway_text() {
        let e = Error::Rejected {
            endpoint: "/api/Order/place",
            code: 2,
            name: "OrderRejected",
            message: Some("Invalid stop loss ticks (10).".into()),
            order_id: None,
        };
        assert_eq!(
            e.to_string(),
            "/api/Order/place rejected the request: OrderRejected (errorCode 2): Invalid stop loss ticks (10)."
        );
    }
}
