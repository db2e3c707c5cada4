//! `/api/Order/*`, `/api/Position/*` and `/api/Trade/search`. Each handler decodes the body, runs
//! one operation on the exchange under its lock, and maps the domain `Reason` to the endpoint's own
//! errorCode enum (they differ per endpoint: closeContract and partialCloseContract are shifted).

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;

use super::{ApiJson, decimal_opt, ok, reply, timestamp, timestamp_opt};
use crate::orders::{Bracket, Modify, OPEN, PlaceOrder, Reason, Refusal};
use crate::state::Shared;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Place {
    account_id: i32,
    contract_id: String,
    #[serde(rename = "type")]
    order_type: i32,
    side: i32,
    size: i32,
    #[serde(default, deserialize_with = "decimal_opt")]
    limit_price: Option<Decimal>,
    #[serde(default, deserialize_with = "decimal_opt")]
    stop_price: Option<Decimal>,
    #[serde(default, deserialize_with = "decimal_opt")]
    trail_price: Option<Decimal>,
    #[serde(default)]
    custom_tag: Option<String>,
    #[serde(default)]
    stop_loss_bracket: Option<BracketBody>,
    #[serde(default)]
    take_profit_bracket: Option<BracketBody>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub(super) struct BracketBody {
    ticks: i32,
    #[serde(rename = "type")]
    order_type: i32,
}

impl From<BracketBody> for Bracket {
    fn from(b: BracketBody) -> Self {
        Self { ticks: b.ticks, order_type: b.order_type }
    }
}

pub(super) async fn place(State(shared): State<Arc<Shared>>, ApiJson(req): ApiJson<Place>) -> Response {
    let order = PlaceOrder {
        account_id: req.account_id,
        contract_id: req.contract_id,
        order_type: req.order_type,
        side: req.side,
        size: req.size,
        limit_price: req.limit_price,
        stop_price: req.stop_price,
        trail_price: req.trail_price,
        custom_tag: req.custom_tag,
        stop_loss: req.stop_loss_bracket.map(Bracket::from),
        take_profit: req.take_profit_bracket.map(Bracket::from),
    };
    let (order_id, outcome) = shared.trade(|exchange| exchange.place(order, Utc::now())).await;
    answer(outcome, json!({ "orderId": order_id }), |reason| match reason {
        Reason::AccountNotFound => 1,
        Reason::Rejected => 2,
        Reason::ContractNotFound => 8,
        Reason::ContractNotActive => 9,
        Reason::AccountRejected => 10,
        _ => 7,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ModifyBody {
    account_id: i32,
    order_id: i64,
    #[serde(default)]
    size: Option<i32>,
    #[serde(default, deserialize_with = "decimal_opt")]
    limit_price: Option<Decimal>,
    #[serde(default, deserialize_with = "decimal_opt")]
    stop_price: Option<Decimal>,
    #[serde(default, deserialize_with = "decimal_opt")]
    trail_price: Option<Decimal>,
}

pub(super) async fn modify(State(shared): State<Arc<Shared>>, ApiJson(req): ApiJson<ModifyBody>) -> Response {
    let change = Modify {
        size: req.size,
        limit_price: req.limit_price,
        stop_price: req.stop_price,
        trail_price: req.trail_price,
    };
    let outcome = shared.trade(|exchange| exchange.modify(req.account_id, req.order_id, change, Utc::now())).await;
    answer(outcome, json!({}), |reason| match reason {
        Reason::AccountNotFound => 1,
        Reason::OrderNotFound => 2,
        Reason::Rejected => 3,
        Reason::AccountRejected => 6,
        Reason::ContractNotFound => 7,
        _ => 5,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OrderRef {
    account_id: i32,
    order_id: i64,
}

pub(super) async fn cancel(State(shared): State<Arc<Shared>>, ApiJson(req): ApiJson<OrderRef>) -> Response {
    let outcome = shared.trade(|exchange| exchange.cancel(req.account_id, req.order_id, Utc::now())).await;
    answer(outcome, json!({}), |reason| match reason {
        Reason::AccountNotFound => 1,
        Reason::OrderNotFound => 2,
        Reason::Rejected => 3,
        Reason::AccountRejected => 6,
        _ => 5,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TimeRange {
    account_id: i32,
    #[serde(deserialize_with = "timestamp")]
    start_timestamp: DateTime<Utc>,
    #[serde(default, deserialize_with = "timestamp_opt")]
    end_timestamp: Option<DateTime<Utc>>,
}

impl TimeRange {
    fn contains(&self, t: DateTime<Utc>) -> bool {
        t >= self.start_timestamp && self.end_timestamp.is_none_or(|end| t <= end)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AccountOnly {
    account_id: i32,
}

pub(super) async fn search(State(shared): State<Arc<Shared>>, ApiJson(req): ApiJson<TimeRange>) -> Response {
    let exchange = shared.exchange.lock();
    if let Err(refusal) = exchange.book.account(req.account_id) {
        return reply(1, Some(refusal.message), json!({ "orders": null }));
    }
    let orders: Vec<_> =
        exchange.book.orders.iter().filter(|o| o.account_id == req.account_id && req.contains(o.created)).collect();
    ok(json!({ "orders": orders }))
}

pub(super) async fn search_open(State(shared): State<Arc<Shared>>, ApiJson(req): ApiJson<AccountOnly>) -> Response {
    let exchange = shared.exchange.lock();
    if let Err(refusal) = exchange.book.account(req.account_id) {
        return reply(1, Some(refusal.message), json!({ "orders": null }));
    }
    let orders: Vec<_> =
        exchange.book.orders.iter().filter(|o| o.account_id == req.account_id && o.status == OPEN).collect();
    ok(json!({ "orders": orders }))
}

pub(super) async fn search_by_id(State(shared): State<Arc<Shared>>, ApiJson(req): ApiJson<OrderRef>) -> Response {
    let exchange = shared.exchange.lock();
    match exchange.book.orders.iter().find(|o| o.id == req.order_id && o.account_id == req.account_id) {
        Some(order) => ok(json!({ "order": order })),
        None => reply(1, Some(format!("Order {} not found.", req.order_id)), json!({ "order": null })),
    }
}

pub(super) async fn positions(State(shared): State<Arc<Shared>>, ApiJson(req): ApiJson<AccountOnly>) -> Response {
    let exchange = shared.exchange.lock();
    if let Err(refusal) = exchange.book.account(req.account_id) {
        return reply(1, Some(refusal.message), json!({ "positions": null }));
    }
    let positions: Vec<_> = exchange.book.positions.iter().filter(|p| p.account_id == req.account_id).collect();
    ok(json!({ "positions": positions }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Close {
    account_id: i32,
    contract_id: String,
}

pub(super) async fn close(State(shared): State<Arc<Shared>>, ApiJson(req): ApiJson<Close>) -> Response {
    let outcome = shared.trade(|exchange| exchange.close(req.account_id, &req.contract_id, None, Utc::now())).await;
    answer(outcome.map(drop), json!({}), |reason| match reason {
        Reason::AccountNotFound => 1,
        Reason::PositionNotFound => 2,
        Reason::ContractNotFound => 3,
        Reason::ContractNotActive => 4,
        Reason::Rejected => 5,
        Reason::AccountRejected => 8,
        _ => 7,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PartialClose {
    account_id: i32,
    contract_id: String,
    size: i32,
}

pub(super) async fn partial_close(State(shared): State<Arc<Shared>>, ApiJson(req): ApiJson<PartialClose>) -> Response {
    let outcome =
        shared.trade(|exchange| exchange.close(req.account_id, &req.contract_id, Some(req.size), Utc::now())).await;
    answer(outcome.map(drop), json!({}), |reason| match reason {
        Reason::AccountNotFound => 1,
        Reason::PositionNotFound => 2,
        Reason::ContractNotFound => 3,
        Reason::ContractNotActive => 4,
        Reason::InvalidCloseSize => 5,
        Reason::Rejected => 6,
        Reason::AccountRejected => 9,
        _ => 8,
    })
}

pub(super) async fn trades(State(shared): State<Arc<Shared>>, ApiJson(req): ApiJson<TimeRange>) -> Response {
    let exchange = shared.exchange.lock();
    if let Err(refusal) = exchange.book.account(req.account_id) {
        return reply(1, Some(refusal.message), json!({ "trades": null }));
    }
    let trades: Vec<_> =
        exchange.book.trades.iter().filter(|t| t.account_id == req.account_id && req.contains(t.created)).collect();
    ok(json!({ "trades": trades }))
}

/// Success, or the refusal under this endpoint's code; the payload is sent either way.
fn answer(outcome: Result<(), Refusal>, payload: serde_json::Value, code: impl Fn(Reason) -> i32) -> Response {
    match outcome {
        Ok(()) => ok(payload),
        Err(refusal) => reply(code(refusal.reason), Some(refusal.message), payload),
    }
}
