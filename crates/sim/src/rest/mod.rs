//! The REST half of the fake gateway: the axum router for every `/api/...` endpoint, the response
//! envelope, and a JSON body extractor that behaves like ASP.NET model binding (property names are
//! matched case-insensitively, unknown properties are ignored, malformed bodies and missing required
//! fields get a 400 ProblemDetails body, decimals must be JSON numbers). The gate middleware in
//! `gate.rs` runs in front of every route.

mod gate;
mod market;
mod session;
mod trading;

use std::str::FromStr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};

use crate::state::Shared;

/// Every REST route, behind the gate (counters, chaos, rate limits, bearer auth, latency).
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/Status/ping", get(session::ping))
        .route("/api/Auth/loginKey", post(session::login_key))
        .route("/api/Auth/validate", post(session::validate))
        .route("/api/Auth/logout", post(session::logout))
        .route("/api/Account/search", post(market::account_search))
        .route("/api/Contract/search", post(market::contract_search))
        .route("/api/Contract/searchById", post(market::contract_by_id))
        .route("/api/Contract/available", post(market::contract_available))
        .route("/api/History/retrieveBars", post(market::retrieve_bars))
        .route("/api/Order/place", post(trading::place))
        .route("/api/Order/modify", post(trading::modify))
        .route("/api/Order/cancel", post(trading::cancel))
        .route("/api/Order/search", post(trading::search))
        .route("/api/Order/searchOpen", post(trading::search_open))
        .route("/api/Order/searchById", post(trading::search_by_id))
        .route("/api/Position/searchOpen", post(trading::positions))
        .route("/api/Position/closeContract", post(trading::close))
        .route("/api/Position/partialCloseContract", post(trading::partial_close))
        .route("/api/Trade/search", post(trading::trades))
        .layer(middleware::from_fn_with_state(shared.clone(), gate::gate))
        .with_state(shared)
}

/// The envelope every endpoint answers with: `success`, `errorCode`, `errorMessage` plus the
/// endpoint's payload fields (which must be a JSON object).
pub(super) fn reply(code: i32, message: Option<String>, payload: Value) -> Response {
    let mut body = Map::new();
    body.insert("success".into(), Value::Bool(code == 0));
    body.insert("errorCode".into(), code.into());
    body.insert("errorMessage".into(), message.map_or(Value::Null, Value::String));
    if let Value::Object(fields) = payload {
        body.extend(fields);
    }
    axum::Json(Value::Object(body)).into_response()
}

/// A success envelope.
pub(super) fn ok(payload: Value) -> Response {
    reply(0, None, payload)
}

/// A JSON request body, decoded like ASP.NET would (see the module doc).
pub(super) struct ApiJson<T>(pub(super) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let bytes = Bytes::from_request(req, state).await.map_err(IntoResponse::into_response)?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| problem(&e.to_string()))?;
        serde_json::from_value(canonical_keys(value)).map(ApiJson).map_err(|e| problem(&e.to_string()))
    }
}

/// Request property names in their canonical spelling; incoming names are matched ignoring case.
const KNOWN_FIELDS: &[&str] = &[
    "userName",
    "apiKey",
    "onlyActiveAccounts",
    "searchText",
    "live",
    "contractId",
    "startTime",
    "endTime",
    "unit",
    "unitNumber",
    "limit",
    "includePartialBar",
    "accountId",
    "orderId",
    "type",
    "side",
    "size",
    "limitPrice",
    "stopPrice",
    "trailPrice",
    "customTag",
    "stopLossBracket",
    "takeProfitBracket",
    "ticks",
    "startTimestamp",
    "endTimestamp",
];

fn canonical_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, v)| {
                    let key =
                        KNOWN_FIELDS.iter().find(|k| k.eq_ignore_ascii_case(&key)).map_or(key, |k| (*k).to_owned());
                    (key, canonical_keys(v))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(canonical_keys).collect()),
        other => other,
    }
}

/// A 400 in ASP.NET ProblemDetails shape.
fn problem(detail: &str) -> Response {
    let body = json!({
        "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
        "title": "One or more validation errors occurred.",
        "status": 400,
        "errors": { "$": [detail] },
        "traceId": format!("00-{:032x}-{:016x}-00", fastrand::u128(..), fastrand::u64(..)),
    });
    let headers = [(header::CONTENT_TYPE, "application/problem+json; charset=utf-8")];
    (StatusCode::BAD_REQUEST, headers, body.to_string()).into_response()
}

/// An optional decimal that must be a JSON number (System.Text.Json refuses strings by default).
pub(super) fn decimal_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    let text = number.as_str();
    Decimal::from_str(text)
        .or_else(|_| Decimal::from_scientific(text))
        .map(Some)
        .map_err(|_| D::Error::custom(format!("{text} is not a valid decimal")))
}

/// A timestamp: RFC 3339 with any offset, or without an offset (taken as UTC).
pub(super) fn timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(d)?;
    parse_time(&text).ok_or_else(|| D::Error::custom(format!("{text:?} is not a valid timestamp")))
}

/// An optional timestamp (see [`timestamp`]).
pub(super) fn timestamp_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(text) => {
            parse_time(&text).map(Some).ok_or_else(|| D::Error::custom(format!("{text:?} is not a valid timestamp")))
        }
    }
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .or_else(|_| NaiveDateTime::from_str(text).map(|t| t.and_utc()))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Sample {
        user_name: String,
        #[serde(default, deserialize_with = "decimal_opt")]
        limit_price: Option<Decimal>,
        #[serde(deserialize_with = "timestamp")]
        start_time: DateTime<Utc>,
    }

    fn decode(text: &str) -> Result<Sample, serde_json::Error> {
        serde_json::from_value(canonical_keys(serde_json::from_str(text).unwrap()))
    }

    #[test]
    fn names_bind_ignoring_case_and_decimals_stay_exact() {
        let s = decode(
            r#"{"USERNAME":"u","limitprice":6335.250000000,"startTime":"2025-07-18T21:00:01.268009+00:00","x":1}"#,
        )
        .unwrap();
        assert_eq!(s.user_name, "u");
        assert_eq!(s.limit_price.unwrap().to_string(), "6335.250000000");
        assert_eq!(s.start_time.to_rfc3339(), "2025-07-18T21:00:01.268009+00:00");
        let s = decode(r#"{"userName":"u","limitPrice":null,"startTime":"2025-01-20T15:47:39"}"#).unwrap();
        assert_eq!((s.limit_price, s.start_time.to_rfc3339().as_str()), (None, "2025-01-20T15:47:39+00:00"));
    }

    #[test]
    fn strings_for_decimals_and_missing_fields_are_refused() {
        assert!(decode(r#"{"userName":"u","limitPrice":"1.25","startTime":"2025-01-20T15:47:39Z"}"#).is_err());
        assert!(decode(r#"{"limitPrice":1.25,"startTime":"2025-01-20T15:47:39Z"}"#).is_err());
    }
}
