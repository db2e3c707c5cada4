//! `Position/searchOpen`, `closeContract`, `partialCloseContract`. The closes move money and are never retried.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{AccountOnly, Nothing};
use crate::endpoint::{POSITION_CLOSE, POSITION_PARTIAL_CLOSE, POSITION_SEARCH_OPEN};
use crate::enums::PositionType;
use crate::{AccountId, Client, ContractId, Error};

/// An open position (`positions[]`, also the user hub's `GatewayUserPosition`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Position {
    /// Position id.
    pub id: i32,
    /// Account.
    pub account_id: AccountId,
    /// Contract id.
    pub contract_id: ContractId,
    /// Opened.
    pub creation_timestamp: DateTime<Utc>,
    /// Long or short.
    #[serde(rename = "type")]
    pub position_type: PositionType,
    /// Contracts, always positive (direction is `position_type`).
    pub size: i32,
    /// Average entry price.
    pub average_price: Decimal,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Close<'a> {
    account_id: AccountId,
    contract_id: &'a ContractId,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<i32>,
}

impl Client {
    /// `Position/searchOpen`.
    pub async fn open_positions(&self, account_id: AccountId) -> Result<Vec<Position>, Error> {
        #[derive(Deserialize)]
        struct Resp {
            positions: Vec<Position>,
        }
        let r: Resp = self.call(&POSITION_SEARCH_OPEN, &AccountOnly { account_id }).await?;
        Ok(r.positions)
    }

    /// `Position/closeContract`: flattens the whole position with a market order. Never retried.
    pub async fn close_position(&self, account_id: AccountId, contract_id: &ContractId) -> Result<(), Error> {
        let _: Nothing = self.call(&POSITION_CLOSE, &Close { account_id, contract_id, size: None }).await?;
        Ok(())
    }

    /// `Position/partialCloseContract`: closes `size` contracts. Never retried.
    pub async fn partial_close_position(
        &self,
        account_id: AccountId,
        contract_id: &ContractId,
        size: i32,
    ) -> Result<(), Error> {
        let body = Close { account_id, contract_id, size: Some(size) };
        let _: Nothing = self.call(&POSITION_PARTIAL_CLOSE, &body).await?;
        Ok(())
    }
}
