//! [`ApiError`]: every refusal pxrelay's HTTP side gives, with one JSON shape everywhere:
//! `{"error": <snake_case code>, "message": <a sentence for a person>}`.
//!
//! The variant decides the HTTP status, the `error` code and the webhook metric's outcome label
//! ([`WebhookOutcome`]): nothing is worked out afterwards from a status code. The router's own answers (no such
//! route, wrong method, body too large) are variants too, so `docs/tradingview.md`'s "every answer is JSON" holds.
//! Messages never contain a secret, a token or the raw body: they name the field and what is accepted.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::metrics::WebhookOutcome;

/// A refusal or failure answered to an HTTP caller.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 503 `webhook_disabled`: no `WEBHOOK_SECRET` is configured, so nothing authenticated can be accepted.
    #[error(
        "WEBHOOK_SECRET is not set: webhooks and the endpoints that need the secret are refused; set it to any text \
         and send the same text with each alert (README: first paper trade)"
    )]
    WebhookDisabled,
    /// 503 `shutting_down`: the process is stopping (SIGTERM); TradingView should deliver elsewhere.
    #[error("pxrelay is stopping; the request was not accepted")]
    ShuttingDown,
    /// 503 `not_ready`: startup has not finished the steps that need the gateway (the first session token, the
    /// `QUOTE_SYMBOLS` subscriptions, the recovery of unfinished alerts, `ALLOWED_SYMBOLS`); nothing was recorded or
    /// sent. The text names the step it waits for ([`crate::warmup`]).
    #[error("{0}")]
    NotReady(String),
    /// 403 `forbidden`: `TRADINGVIEW_IP_ALLOWLIST` is on and the sender is not one of TradingView's addresses.
    #[error("the sender's address is not one of TradingView's (TRADINGVIEW_IP_ALLOWLIST is on)")]
    Forbidden,
    /// 401 `unauthorized`: no secret, or the wrong one. The text says where a secret is read from and, when no
    /// secret could be read at all, why (for example an invalid JSON body); never anything about the secret itself.
    #[error("{0}")]
    Unauthorized(String),
    /// 400 `bad_payload`: the alert's body or one of its fields; the text names the field and what is accepted.
    #[error("{0}")]
    BadPayload(String),
    /// 400 `bad_request`: a query parameter; the text names it and what is accepted.
    #[error("{0}")]
    BadQuery(String),
    /// 400 `invalid_symbol`: `/quote/{symbol}` with text that is not a symbol in any accepted form.
    #[error("{0}")]
    InvalidSymbol(String),
    /// 404 `unknown_symbol`: `/quote/{symbol}` for a well-formed symbol the gateway does not list.
    #[error("{0}")]
    UnknownSymbol(String),
    /// 422 `unknown_symbol`: an alert naming a symbol that is invalid or that the gateway does not list.
    #[error("{0}")]
    UnknownAlertSymbol(String),
    /// 422 `symbol_not_allowed`: the alert's symbol is outside `ALLOWED_SYMBOLS`.
    #[error("{0}")]
    SymbolNotAllowed(String),
    /// 422 `bad_account`: the alert's account (or the configured default) is not a tradable account.
    #[error("{0}")]
    BadAccount(String),
    /// 404 `not_found`: no alert with this id in the journal.
    #[error("no alert `{0}` in the journal")]
    AlertNotFound(String),
    /// 404 `not_found`: no route at this path. The text lists the routes.
    #[error(
        "no route {method} {path}; routes: POST /webhook, POST /webhook/{{secret}}, GET /quote/{{symbol}}, \
             GET /health, GET /ready, GET /status, GET /metrics, GET /alerts, GET /alerts/{{id}}, POST /kill, \
             POST /user-hub/resume, GET / (the dashboard)"
    )]
    RouteNotFound {
        /// The request's method.
        method: String,
        /// The request's path (without the query, which may carry a secret).
        path: String,
    },
    /// 405 `method_not_allowed`: the path exists with another method (`GET /webhook`).
    #[error("{method} is not accepted at {path}; see the Allow header (webhooks are POST)")]
    MethodNotAllowed {
        /// The request's method.
        method: String,
        /// The request's path (without the query).
        path: String,
    },
    /// 413 `payload_too_large`: the body is larger than the route accepts.
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 503 `gateway_slow`: resolving the symbol or account did not finish within `WEBHOOK_WAIT_MS`; nothing was
    /// recorded or sent.
    #[error("the gateway was too slow to resolve the symbol or account; nothing was recorded or sent")]
    GatewaySlow,
    /// 502 `gateway_error`: the gateway failed while a lookup was needed; nothing was sent.
    #[error("{0}")]
    Gateway(String),
    /// 503 `quote_unavailable`: neither a streamed quote nor bars are available.
    #[error("{0}")]
    QuoteUnavailable(String),
    /// 503 `journal_unavailable`: the journal could not be read or written; for an alert, nothing was sent.
    #[error("{0}")]
    JournalUnavailable(String),
    /// 503 `busy`: the executor queue is full (`WEBHOOK_QUEUE_CAPACITY`); nothing was sent.
    #[error("too many alerts in flight; nothing was sent")]
    Busy,
    /// 500 `internal`: a bug or a task that died; the text says what stopped.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadPayload(_) | Self::BadQuery(_) | Self::InvalidSymbol(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::UnknownSymbol(_) | Self::AlertNotFound(_) | Self::RouteNotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnknownAlertSymbol(_) | Self::SymbolNotAllowed(_) | Self::BadAccount(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Gateway(_) => StatusCode::BAD_GATEWAY,
            Self::WebhookDisabled
            | Self::ShuttingDown
            | Self::NotReady(_)
            | Self::GatewaySlow
            | Self::QuoteUnavailable(_)
            | Self::JournalUnavailable(_)
            | Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `error` code of the JSON body (documented in `docs/tradingview.md` and `docs/operations.md`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::WebhookDisabled => "webhook_disabled",
            Self::ShuttingDown => "shutting_down",
            Self::NotReady(_) => "not_ready",
            Self::Forbidden => "forbidden",
            Self::Unauthorized(_) => "unauthorized",
            Self::BadPayload(_) => "bad_payload",
            Self::BadQuery(_) => "bad_request",
            Self::InvalidSymbol(_) => "invalid_symbol",
            Self::UnknownSymbol(_) | Self::UnknownAlertSymbol(_) => "unknown_symbol",
            Self::SymbolNotAllowed(_) => "symbol_not_allowed",
            Self::BadAccount(_) => "bad_account",
            Self::AlertNotFound(_) | Self::RouteNotFound { .. } => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::GatewaySlow => "gateway_slow",
            Self::Gateway(_) => "gateway_error",
            Self::QuoteUnavailable(_) => "quote_unavailable",
            Self::JournalUnavailable(_) => "journal_unavailable",
            Self::Busy => "busy",
            Self::Internal(_) => "internal",
        }
    }

    /// The `pxrelay_webhooks` outcome label this refusal counts as, when it answers a webhook: the caller was not
    /// who it claimed (`unauthorized`), sent something pxrelay will not act on (`rejected`), or pxrelay could not
    /// take it (`failed`: TradingView may retry).
    pub fn outcome(&self) -> WebhookOutcome {
        match self {
            Self::Unauthorized(_) | Self::Forbidden => WebhookOutcome::Unauthorized,
            Self::BadPayload(_)
            | Self::BadQuery(_)
            | Self::InvalidSymbol(_)
            | Self::UnknownSymbol(_)
            | Self::UnknownAlertSymbol(_)
            | Self::SymbolNotAllowed(_)
            | Self::BadAccount(_)
            | Self::AlertNotFound(_)
            | Self::RouteNotFound { .. }
            | Self::MethodNotAllowed { .. }
            | Self::PayloadTooLarge { .. } => WebhookOutcome::Rejected,
            Self::WebhookDisabled
            | Self::ShuttingDown
            | Self::NotReady(_)
            | Self::GatewaySlow
            | Self::Gateway(_)
            | Self::QuoteUnavailable(_)
            | Self::JournalUnavailable(_)
            | Self::Busy
            | Self::Internal(_) => WebhookOutcome::Failed,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.code(), "message": self.to_string() });
        let mut response = (self.status(), Json(body)).into_response();
        response.extensions_mut().insert(self.outcome());
        response
    }
}

/// The router's answer for a path it does not know: JSON like every other answer.
pub async fn route_not_found(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::RouteNotFound { method: method.to_string(), path: uri.path().to_owned() }
}

/// The router's answer for a known path with the wrong method.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::MethodNotAllowed { method: method.to_string(), path: uri.path().to_owned() }
}

/// Maps a body extractor's rejection to the JSON answer (the limit, or the client hanging up mid-body).
pub fn body_rejection(rejection: &axum::extract::rejection::BytesRejection, limit: usize) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge { limit }
    } else {
        ApiError::BadPayload(format!("body: could not be read ({})", rejection.body_text()))
    }
}
