//! `Order/place`, `modify`, `cancel`, `search`, `searchOpen`. Place, modify and cancel move money: they are never
//! retried, and an unknown outcome comes back as [`Error::Ambiguous`] for the caller to reconcile by `customTag`.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{AccountOnly, Nothing, TimeRange};
use crate::endpoint::{ORDER_CANCEL, ORDER_MODIFY, ORDER_PLACE, ORDER_SEARCH, ORDER_SEARCH_OPEN};
use crate::enums::{OrderSide, OrderStatus, OrderType};
use crate::{AccountId, Client, ContractId, Error, OrderId};

/// A native bracket: signed ticks from the entry price (long: stop < 0, target > 0; short: the reverse).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bracket {
    /// Signed distance in ticks.
    pub ticks: i32,
    /// `Stop` for a stop loss, `Limit` for a take profit.
    #[serde(rename = "type")]
    pub order_type: OrderType,
}

/// An `Order/place` request.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlaceOrder {
    /// Account.
    pub account_id: AccountId,
    /// Contract id.
    pub contract_id: ContractId,
    /// Order type.
    #[serde(rename = "type")]
    pub order_type: OrderType,
    /// Buy or sell.
    pub side: OrderSide,
    /// Contracts (> 0).
    pub size: i32,
    /// For limit orders.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_price: Option<Decimal>,
    /// For stop orders.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_price: Option<Decimal>,
    /// For trailing stops: a price level, not a distance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trail_price: Option<Decimal>,
    /// Unique per account: the gateway rejects a second order with the same tag, which makes replays harmless.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_tag: Option<String>,
    /// Native stop-loss bracket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_loss_bracket: Option<Bracket>,
    /// Native take-profit bracket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub take_profit_bracket: Option<Bracket>,
}

/// An `Order/modify` request: only the fields given change. Start from [`ModifyOrder::new`] (no `Default`: there
/// is no default account or order).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModifyOrder {
    /// Account.
    pub account_id: AccountId,
    /// Order.
    pub order_id: OrderId,
    /// New size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<i32>,
    /// New limit price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_price: Option<Decimal>,
    /// New stop price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_price: Option<Decimal>,
    /// New trail price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trail_price: Option<Decimal>,
}

impl ModifyOrder {
    /// A modification of `order_id` in `account_id` that changes nothing yet; set the fields to change.
    pub fn new(account_id: AccountId, order_id: OrderId) -> Self {
        Self { account_id, order_id, size: None, limit_price: None, stop_price: None, trail_price: None }
    }
}

/// An order (`orders[]`, also the user hub's `GatewayUserOrder`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// Order id.
    pub id: OrderId,
    /// Account.
    pub account_id: AccountId,
    /// Contract id.
    pub contract_id: ContractId,
    /// Product id, e.g. `F.US.EP`.
    #[serde(default)]
    pub symbol_id: Option<String>,
    /// Created.
    pub creation_timestamp: DateTime<Utc>,
    /// Last change.
    #[serde(default)]
    pub update_timestamp: Option<DateTime<Utc>>,
    /// Status.
    pub status: OrderStatus,
    /// Type.
    #[serde(rename = "type")]
    pub order_type: OrderType,
    /// Side.
    pub side: OrderSide,
    /// Size.
    pub size: i32,
    /// Limit price.
    #[serde(default)]
    pub limit_price: Option<Decimal>,
    /// Stop price.
    #[serde(default)]
    pub stop_price: Option<Decimal>,
    /// Filled so far.
    #[serde(default)]
    pub fill_volume: i32,
    /// Average fill price.
    #[serde(default)]
    pub filled_price: Option<Decimal>,
    /// The tag given at placement.
    #[serde(default)]
    pub custom_tag: Option<String>,
    /// Trailing stops: the trail (newer swagger; reads back as a distance although it is placed as a price).
    #[serde(default)]
    pub trail_price: Option<Decimal>,
    /// Bracket legs: the entry order they belong to (newer swagger; absent on plain orders).
    #[serde(default)]
    pub parent_order_id: Option<OrderId>,
    /// Bracket legs: the OCO sibling (newer swagger; absent on plain orders).
    #[serde(default)]
    pub linked_order_id: Option<OrderId>,
}

impl Client {
    /// `Order/place` → the new order id. Never retried: a timeout, reset, 5xx or unreadable answer is
    /// [`Error::Ambiguous`]; a business refusal is [`Error::Rejected`] (which may still carry an `order_id`).
    pub async fn place_order(&self, order: &PlaceOrder) -> Result<OrderId, Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Resp {
            order_id: OrderId,
        }
        let r: Resp = self.call(&ORDER_PLACE, order).await?;
        Ok(r.order_id)
    }

    /// `Order/modify`. Never retried.
    pub async fn modify_order(&self, modify: &ModifyOrder) -> Result<(), Error> {
        let _: Nothing = self.call(&ORDER_MODIFY, modify).await?;
        Ok(())
    }

    /// `Order/cancel`. Never retried.
    pub async fn cancel_order(&self, account_id: AccountId, order_id: OrderId) -> Result<(), Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Req {
            account_id: AccountId,
            order_id: OrderId,
        }
        let _: Nothing = self.call(&ORDER_CANCEL, &Req { account_id, order_id }).await?;
        Ok(())
    }

    /// `Order/search`: orders created in `[start, end]` (end open when `None`). How an ambiguous placement is
    /// reconciled: look for its `customTag` here.
    pub async fn search_orders(
        &self,
        account_id: AccountId,
        start: DateTime<Utc>,
        end: Option<DateTime<Utc>>,
    ) -> Result<Vec<Order>, Error> {
        #[derive(Deserialize)]
        struct Resp {
            orders: Vec<Order>,
        }
        let body = TimeRange { account_id, start_timestamp: start, end_timestamp: end };
        let r: Resp = self.call(&ORDER_SEARCH, &body).await?;
        Ok(r.orders)
    }

    /// `Order/searchOpen`: working orders.
    pub async fn open_orders(&self, account_id: AccountId) -> Result<Vec<Order>, Error> {
        #[derive(Deserialize)]
        struct Resp {
            orders: Vec<Order>,
        }
        let r: Resp = self.call(&ORDER_SEARCH_OPEN, &AccountOnly { account_id }).await?;
        Ok(r.orders)
    }
}
