//! Orders: the gateway's order model and enums, and the domain requests and refusals the REST
//! handlers exchange with the exchange (`exchange.rs`). A `Refusal` carries a `Reason` that each
//! endpoint maps to its own errorCode enum, plus the `errorMessage` to send.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::config::SimContract;

pub(crate) const OPEN: i32 = 1;
pub(crate) const FILLED: i32 = 2;
pub(crate) const CANCELLED: i32 = 3;
pub(crate) const REJECTED: i32 = 5;

pub(crate) const LIMIT: i32 = 1;
pub(crate) const MARKET: i32 = 2;
pub(crate) const STOP: i32 = 4;
pub(crate) const TRAILING_STOP: i32 = 5;
pub(crate) const JOIN_BID: i32 = 6;
pub(crate) const JOIN_ASK: i32 = 7;

pub(crate) const BUY: i32 = 0;
pub(crate) const SELL: i32 = 1;

/// An order as the gateway reports it (`orders[]`, `order`); serializes to the wire shape.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimOrder {
    /// Order id (also given to rejected orders).
    pub id: i64,
    /// Owning account.
    pub account_id: i32,
    /// Contract id as sent by the client.
    pub contract_id: String,
    /// Product id of the contract (empty when the contract is unknown).
    pub symbol_id: String,
    /// `creationTimestamp`.
    #[serde(rename = "creationTimestamp")]
    pub created: DateTime<Utc>,
    /// `updateTimestamp`: last fill, modify or cancel.
    #[serde(rename = "updateTimestamp")]
    pub updated: Option<DateTime<Utc>>,
    /// OrderStatus: 1 Open, 2 Filled, 3 Cancelled, 5 Rejected.
    pub status: i32,
    /// OrderType (`type` on the wire): 1 Limit, 2 Market, 4 Stop, 5 TrailingStop, 6 JoinBid, 7 JoinAsk.
    #[serde(rename = "type")]
    pub order_type: i32,
    /// OrderSide: 0 buy, 1 sell.
    pub side: i32,
    /// Contracts.
    pub size: i32,
    /// Limit price (Limit, JoinBid, JoinAsk, take-profit children).
    #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
    pub limit_price: Option<Decimal>,
    /// Stop price (Stop and stop-loss children).
    #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
    pub stop_price: Option<Decimal>,
    /// Trail price (TrailingStop).
    #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
    pub trail_price: Option<Decimal>,
    /// Filled quantity.
    pub fill_volume: i32,
    /// Fill price, once filled.
    #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
    pub filled_price: Option<Decimal>,
    /// Client tag, unique per account among accepted orders.
    pub custom_tag: Option<String>,
    /// For bracket children: the entry order's id.
    pub parent_order_id: Option<i64>,
    /// For bracket children: the OCO sibling's id (the other leg), when the entry had both legs.
    pub linked_order_id: Option<i64>,
    /// Why the order was rejected (the place call's `errorMessage`); not on the wire.
    #[serde(skip)]
    pub rejection: Option<String>,
}

/// Why an operation was refused; each endpoint maps it to its own `errorCode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    AccountNotFound,
    AccountRejected,
    ContractNotFound,
    ContractNotActive,
    OrderNotFound,
    PositionNotFound,
    InvalidCloseSize,
    Rejected,
}

/// A refusal with the `errorMessage` to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) reason: Reason,
    pub(crate) message: String,
}

pub(crate) fn refuse<T>(reason: Reason, message: String) -> Result<T, Refusal> {
    Err(Refusal { reason, message })
}

/// An `Order/place` request after JSON decoding.
#[derive(Debug, Clone)]
pub(crate) struct PlaceOrder {
    pub(crate) account_id: i32,
    pub(crate) contract_id: String,
    pub(crate) order_type: i32,
    pub(crate) side: i32,
    pub(crate) size: i32,
    pub(crate) limit_price: Option<Decimal>,
    pub(crate) stop_price: Option<Decimal>,
    pub(crate) trail_price: Option<Decimal>,
    pub(crate) custom_tag: Option<String>,
    pub(crate) stop_loss: Option<Bracket>,
    pub(crate) take_profit: Option<Bracket>,
}

/// A bracket: signed ticks from the entry fill and the child's order type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bracket {
    pub(crate) ticks: i32,
    pub(crate) order_type: i32,
}

/// An `Order/modify` request: only the given fields change.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Modify {
    pub(crate) size: Option<i32>,
    pub(crate) limit_price: Option<Decimal>,
    pub(crate) stop_price: Option<Decimal>,
    pub(crate) trail_price: Option<Decimal>,
}

pub(crate) fn new_order(
    id: i64,
    account_id: i32,
    contract: &SimContract,
    order_type: i32,
    side: i32,
    size: i32,
    now: DateTime<Utc>,
) -> SimOrder {
    SimOrder {
        id,
        account_id,
        contract_id: contract.id.clone(),
        symbol_id: contract.symbol_id.clone(),
        created: now,
        updated: None,
        status: OPEN,
        order_type,
        side,
        size,
        limit_price: None,
        stop_price: None,
        trail_price: None,
        fill_volume: 0,
        filled_price: None,
        custom_tag: None,
        parent_order_id: None,
        linked_order_id: None,
        rejection: None,
    }
}

/// The price a working order fills at when the last price is `last`, or `None` if it does not
/// trigger. Limits (and JoinBid/JoinAsk, which are limits) fill when the price reaches them: a buy
/// at or below its limit, a sell at or above; `at_placement` (the order was just placed or modified)
/// fills a marketable limit at `last`, which is at or better than the limit, else a resting limit
/// reached by a move fills at its own price. Stops trigger when the price reaches them (a buy at or
/// above its stop, a sell at or below) and fill at `last`, so a jump through a stop slips.
/// Trailing stops never trigger here (unsupported).
pub(crate) fn trigger(order: &SimOrder, last: Decimal, at_placement: bool) -> Option<Decimal> {
    if order.status != OPEN {
        return None;
    }
    let buy = order.side == BUY;
    match order.order_type {
        LIMIT | JOIN_BID | JOIN_ASK => {
            let limit = order.limit_price?;
            let reached = if buy { last <= limit } else { last >= limit };
            reached.then_some(if at_placement { last } else { limit })
        }
        STOP => {
            let stop = order.stop_price?;
            let reached = if buy { last >= stop } else { last <= stop };
            reached.then_some(last)
        }
        _ => None,
    }
}

pub(crate) fn fill_order(order: &mut SimOrder, price: Decimal, now: DateTime<Utc>) {
    order.status = FILLED;
    order.fill_volume = order.size;
    order.filled_price = Some(price.normalize());
    order.updated = Some(now);
}
