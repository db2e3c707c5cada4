//! One module per API area, each an `impl Client` block plus that area's wire models (camelCase, exactly as the
//! gateway spells them). Prices are `rust_decimal::Decimal`, read and written as exact JSON numbers.

pub mod accounts;
pub mod contracts;
pub mod history;
pub mod orders;
pub mod positions;
pub mod trades;

/// The payload of an endpoint that answers only with the envelope.
#[derive(serde::Deserialize)]
pub(crate) struct Nothing {}

/// `{accountId}`, the body of several per-account searches.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AccountOnly {
    pub(crate) account_id: crate::AccountId,
}

/// `{accountId, startTimestamp, endTimestamp?}`.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TimeRange {
    pub(crate) account_id: crate::AccountId,
    pub(crate) start_timestamp: chrono::DateTime<chrono::Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) end_timestamp: Option<chrono::DateTime<chrono::Utc>>,
}
