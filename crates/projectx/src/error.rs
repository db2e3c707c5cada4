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
        order_id: Option<i64>,
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
    Auth(#[from] crate::auth::AuthError),
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
            order_id: Some(7),
        };
        assert!(!rejected.is_retryable());
        let ambiguous = Error::Ambiguous { endpoint: "/api/Order/place", source: Box::new(status(503)) };
        assert!(!ambiguous.is_retryable(), "an order with an unknown outcome must never be retried blindly");
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
