//! What both stores read and write the same way: a row's columns as stored ([`RawRow`], parsed into a
//! [`StoredAlert`] by one function), and a refused alert's row ([`Refusal`]).

use chrono::{DateTime, Utc};
use projectx::{AccountId, ContractId};

use super::{PositionSource, StoredAlert};
use crate::mode::Mode;
use crate::outcome::{AlertStatus, Outcome};

/// The columns of `alerts` that make a [`StoredAlert`], as the database holds them (text, JSON text, integers).
#[derive(Debug)]
pub(super) struct RawRow {
    pub alert_id: String,
    pub received_at: String,
    pub raw_body: String,
    pub intent: String,
    pub contract_id: Option<String>,
    pub account_id: Option<i32>,
    pub status: String,
    pub path: Option<String>,
    pub orders: String,
    pub error: Option<String>,
    pub sent_at: Option<String>,
    pub acked_at: Option<String>,
    pub response: Option<String>,
    pub received_unix: i64,
    pub mode: String,
    pub reference_price: Option<String>,
    pub position_source: Option<String>,
    pub parent_id: Option<String>,
}

/// A conversion failure: the column's index in the `SELECT` and why.
pub(super) type ColumnError = (usize, Box<dyn std::error::Error + Send + Sync>);

impl RawRow {
    /// The row and its `received_unix`. The intent, the orders, the status and the mode are typed: a row pxrelay did
    /// not write (or a future version wrote) is an error naming the column, never a silently different value.
    pub(super) fn parse(self) -> Result<(StoredAlert, i64), ColumnError> {
        fn typed<T: serde::de::DeserializeOwned>(text: &str, i: usize) -> Result<T, ColumnError> {
            serde_json::from_str(text).map_err(|e| (i, Box::new(e) as _))
        }
        let status = self.status.parse::<AlertStatus>().map_err(|e| (6, Box::new(e) as _))?;
        let mode = self.mode.parse::<Mode>().map_err(|e| (14, Box::new(e) as _))?;
        let alert = StoredAlert {
            intent: typed(&self.intent, 3)?,
            orders: typed(&self.orders, 8)?,
            alert_id: self.alert_id,
            received_at: self.received_at,
            raw_body: self.raw_body,
            contract_id: self.contract_id.map(ContractId::from),
            account_id: self.account_id.map(AccountId::from),
            status,
            path: self.path,
            error: self.error,
            sent_at: self.sent_at,
            acked_at: self.acked_at,
            // An answer that no longer reads (written by an older version) is rebuilt from the row by the caller.
            response: self.response.and_then(|text| serde_json::from_str(&text).ok()),
            mode,
            reference_price: self.reference_price.and_then(|p| p.parse().ok()),
            position_source: match self.position_source.as_deref() {
                Some("book") => Some(PositionSource::Book),
                Some("rest") => Some(PositionSource::Rest),
                _ => None,
            },
            slippage_ticks: None,
            fill_price: None,
            realized_pnl: None,
            fills: Vec::new(),
            timeline: Vec::new(),
            parent_id: self.parent_id,
            accounts: Vec::new(),
        };
        Ok((alert, self.received_unix))
    }
}

/// A refused alert's row ([`super::Journal::record_refusal`]): finished as it is written.
#[derive(Debug)]
pub(super) struct Refusal {
    pub alert_id: String,
    pub received_at: DateTime<Utc>,
    pub raw_body: String,
    /// The intent as JSON text (`null` when the fields could not be read).
    pub intent: String,
    pub outcome: Outcome,
    /// The answer as JSON text.
    pub response: String,
}
