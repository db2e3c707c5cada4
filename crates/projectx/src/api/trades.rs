//! `Trade/search`: half-turn fills.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::TimeRange;
use crate::endpoint::TRADE_SEARCH;
use crate::enums::OrderSide;
use crate::{AccountId, Client, ContractId, Error, OrderId};

/// A fill (`trades[]`, also the user hub's `GatewayUserTrade`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trade {
    /// Trade id.
    pub id: i64,
    /// Account.
    pub account_id: AccountId,
    /// Contract id.
    pub contract_id: ContractId,
    /// When it filled.
    pub creation_timestamp: DateTime<Utc>,
    /// Fill price.
    pub price: Decimal,
    /// Realised P&L of a closing fill; `None` for a fill that opened or added to a position.
    #[serde(default)]
    pub profit_and_loss: Option<Decimal>,
    /// Fees.
    #[serde(default)]
    pub fees: Decimal,
    /// Side.
    pub side: OrderSide,
    /// Contracts.
    pub size: i32,
    /// Voided by the platform.
    #[serde(default)]
    pub voided: bool,
    /// The order that filled.
    pub order_id: OrderId,
}

impl Client {
    /// `Trade/search`: fills in `[start, end]` (end open when `None`).
    pub async fn search_trades(
        &self,
        account_id: AccountId,
        start: DateTime<Utc>,
        end: Option<DateTime<Utc>>,
    ) -> Result<Vec<Trade>, Error> {
        #[derive(Deserialize)]
        struct Resp {
            trades: Vec<Trade>,
        }
        let body = TimeRange { account_id, start_timestamp: start, end_timestamp: end };
        let r: Resp = self.call(&TRADE_SEARCH, &body).await?;
        Ok(r.trades)
    }
}
