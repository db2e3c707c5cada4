//! `History/retrieveBars` (its own rate budget: 50 / 30 s by default).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::endpoint::RETRIEVE_BARS;
use crate::enums::BarUnit;
use crate::{Client, ContractId, Error};

/// A `retrieveBars` request. All fields are required by the gateway.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BarsRequest {
    /// Contract id (a string, whatever the docs table says).
    pub contract_id: ContractId,
    /// Live vs sim data subscription.
    pub live: bool,
    /// Window start.
    pub start_time: DateTime<Utc>,
    /// Window end.
    pub end_time: DateTime<Utc>,
    /// Bar unit.
    pub unit: BarUnit,
    /// Units per bar (5 with `Minute` = 5-minute bars).
    pub unit_number: i32,
    /// Maximum bars (≤ 20,000); the most recent ones of the window are kept.
    pub limit: i32,
    /// Include the still-forming bar.
    pub include_partial_bar: bool,
}

/// One OHLCV bar.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    /// Bar start time.
    pub t: DateTime<Utc>,
    /// Open.
    pub o: Decimal,
    /// High.
    pub h: Decimal,
    /// Low.
    pub l: Decimal,
    /// Close.
    pub c: Decimal,
    /// Volume.
    pub v: i64,
}

impl Client {
    /// `History/retrieveBars`, returned **oldest first** (the gateway answers newest first).
    pub async fn retrieve_bars(&self, req: &BarsRequest) -> Result<Vec<Bar>, Error> {
        #[derive(Deserialize)]
        struct Resp {
            bars: Vec<Bar>,
        }
        let mut r: Resp = self.call(&RETRIEVE_BARS, req).await?;
        r.bars.sort_by_key(|b| b.t);
        Ok(r.bars)
    }
}
