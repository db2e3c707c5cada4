//! What one dashboard refresh shows, gathered in one place from what already exists: the `/status` value
//! ([`crate::routes::status::status`], so the page and the JSON never disagree), the last [`ALERTS`] journal rows
//! ([`crate::journal::Journal::list`], as `GET /alerts` lists them), the quote cache of the subscribed contracts
//! (never the network) and each account's P&L curve for today.
//!
//! The P&L curve is the account's **realized P&L minus fees** after each of today's fills (the user hub's trades
//! since the trading day started, [`crate::market_time::MarketClock::trading_day_start`]; voided trades skipped):
//! the same trades and the same figure `DAILY_LOSS_LIMIT` counts ([`crate::risk::day`]), drawn as a step line from
//! 0 at the day's start. Its last point is now, at the day P&L with the open P&L included (when every position has
//! a quote), so the line ends where the "day P&L" figure reads.

use axum::extract::State;
use chrono::{DateTime, Utc};
use projectx::AccountId;
use rust_decimal::Decimal;
use serde_json::Value;

use crate::journal::StoredAlert;
use crate::state::AppState;

/// Alerts listed.
pub const ALERTS: u32 = 50;

/// One dashboard refresh.
#[derive(Debug)]
pub struct Snapshot {
    /// The `/status` value.
    pub status: Value,
    /// The subscribed contracts' latest quotes, by contract id.
    pub quotes: Vec<QuoteRow>,
    /// The newest [`ALERTS`] journal rows, newest first; `Err` says why the journal could not be read.
    pub alerts: Result<Vec<StoredAlert>, String>,
    /// Today's P&L curve per account (see the module doc).
    pub curves: Vec<(AccountId, Curve)>,
}

/// A subscribed contract's latest streamed quote.
#[derive(Debug)]
pub struct QuoteRow {
    /// The contract id, e.g. `CON.F.US.MNQ.Z25`.
    pub contract: String,
    /// Best bid, best ask, last trade.
    pub bid: Option<Decimal>,
    /// Best ask.
    pub ask: Option<Decimal>,
    /// Last trade.
    pub last: Option<Decimal>,
    /// Milliseconds since the last update; `None` before the first.
    pub age_ms: Option<u128>,
    /// Older than `QUOTE_MAX_AGE_SECS` (or none yet): not used as a price.
    pub stale: bool,
}

/// A P&L curve: `(time, USD)` points in time order, starting at 0 at the day's start.
#[derive(Debug, Default)]
pub struct Curve {
    /// The points.
    pub points: Vec<(DateTime<Utc>, Decimal)>,
}

/// Gathers a [`Snapshot`].
pub async fn gather(state: &AppState) -> Snapshot {
    let status = crate::routes::status::status(State(state.clone())).await.0;
    let alerts = state.webhook.journal.list(ALERTS).await.map_err(|e| format!("the journal could not be read: {e}"));
    Snapshot { quotes: quotes(state), curves: curves(state, &status), status, alerts }
}

fn quotes(state: &AppState) -> Vec<QuoteRow> {
    let market = state.quotes.market();
    let max_age = state.quotes.max_age();
    market
        .status()
        .subscriptions
        .into_iter()
        .map(|id| {
            let quote = market.quotes().get(&id);
            let age = quote.as_ref().map(|q| q.received_at.elapsed());
            QuoteRow {
                contract: id.to_string(),
                bid: quote.as_ref().and_then(|q| q.bid()),
                ask: quote.as_ref().and_then(|q| q.ask()),
                last: quote.as_ref().and_then(|q| q.last()),
                age_ms: age.map(|a| a.as_millis()),
                stale: age.is_none_or(|a| a > max_age),
            }
        })
        .collect()
}

fn curves(state: &AppState, status: &Value) -> Vec<(AccountId, Curve)> {
    let clock = state.risk.clock();
    let now = clock.now();
    let start = clock.trading_day_start(now);
    state
        .books
        .accounts()
        .into_iter()
        .filter_map(|account| {
            let (mut trades, _) = state.books.live_day(account, start)?;
            trades.retain(|t| !t.voided);
            trades.sort_by_key(|t| t.creation_timestamp);
            let mut total = Decimal::ZERO;
            let mut points = vec![(start, Decimal::ZERO)];
            for trade in &trades {
                total += trade.profit_and_loss.unwrap_or_default() - trade.fees;
                points.push((trade.creation_timestamp, total));
            }
            let day_pnl = status["accounts"]
                .as_array()
                .and_then(|all| all.iter().find(|a| a["id"].as_i64() == Some(i64::from(account.get()))))
                .and_then(|a| serde_json::from_value::<Decimal>(a["risk"]["day_pnl"].clone()).ok());
            points.push((now, day_pnl.unwrap_or(total)));
            Some((account, Curve { points }))
        })
        .collect()
}
