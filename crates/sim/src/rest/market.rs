//! `/api/Account/search`, `/api/Contract/*` and `/api/History/retrieveBars`: read-only views of the
//! exchange. `live` flags are ignored like any unknown property (there is one data feed).

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiJson, ok, reply, timestamp};
use crate::config::SimAccount;
use crate::market::{BarQuery, BarsError, bars};
use crate::state::Shared;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AccountSearch {
    #[serde(default)]
    only_active_accounts: bool,
}

pub(super) async fn account_search(
    State(shared): State<Arc<Shared>>,
    ApiJson(req): ApiJson<AccountSearch>,
) -> Response {
    let accounts: Vec<Value> = shared
        .exchange
        .lock()
        .book
        .accounts
        .iter()
        .filter(|a| a.can_trade || !req.only_active_accounts)
        .map(SimAccount::to_wire)
        .collect();
    ok(json!({ "accounts": accounts }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ContractSearch {
    search_text: String,
}

pub(super) async fn contract_search(
    State(shared): State<Arc<Shared>>,
    ApiJson(req): ApiJson<ContractSearch>,
) -> Response {
    let contracts = shared.exchange.lock().market.search(&req.search_text);
    ok(json!({ "contracts": contracts }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ContractById {
    contract_id: String,
}

pub(super) async fn contract_by_id(State(shared): State<Arc<Shared>>, ApiJson(req): ApiJson<ContractById>) -> Response {
    match shared.exchange.lock().market.get(&req.contract_id) {
        Some(contract) => ok(json!({ "contract": contract })),
        None => reply(1, Some(format!("Contract {} not found.", req.contract_id)), json!({ "contract": null })),
    }
}

/// `{live}`: any JSON object is accepted.
#[derive(Debug, Deserialize)]
pub(super) struct Available {}

pub(super) async fn contract_available(State(shared): State<Arc<Shared>>, ApiJson(_): ApiJson<Available>) -> Response {
    let contracts = shared.exchange.lock().market.all().to_vec();
    ok(json!({ "contracts": contracts }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RetrieveBars {
    contract_id: String,
    #[serde(deserialize_with = "timestamp")]
    start_time: DateTime<Utc>,
    #[serde(deserialize_with = "timestamp")]
    end_time: DateTime<Utc>,
    unit: i32,
    unit_number: i32,
    limit: i32,
    #[serde(default)]
    include_partial_bar: bool,
}

pub(super) async fn retrieve_bars(State(shared): State<Arc<Shared>>, ApiJson(req): ApiJson<RetrieveBars>) -> Response {
    let Some(contract) = shared.exchange.lock().market.get(&req.contract_id).cloned() else {
        return reply(1, Some(format!("Contract {} not found.", req.contract_id)), json!({ "bars": null }));
    };
    let query = BarQuery {
        start: req.start_time,
        end: req.end_time,
        unit: req.unit,
        unit_number: req.unit_number,
        limit: req.limit,
        include_partial_bar: req.include_partial_bar,
    };
    match bars(&contract, &query, Utc::now()) {
        Ok(bars) => ok(json!({ "bars": bars })),
        Err(error) => {
            let message = match error {
                BarsError::Unit => format!("Invalid unit ({}).", req.unit),
                BarsError::UnitNumber => {
                    format!("Invalid unit number ({}).", req.unit_number)
                }
                BarsError::Limit => format!("Invalid limit ({}). Limit must be between 1 and 20000.", req.limit),
            };
            reply(error as i32, Some(message), json!({ "bars": null }))
        }
    }
}
