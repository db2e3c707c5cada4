//! Each alert's **timeline** (issue 11, migrations/0005_timeline.sql): `received`, `journaled`, `sent`,
//! `acknowledged`, `filled`, `legs`, `closed`, each with its time and fields, and what `GET /alerts` derives from
//! it: the fills, the volume-weighted fill price, the slippage in ticks and the realized P&L.
//!
//! Who writes what: the journal writes `received`, `journaled` (with the alert) and `sent` (before each
//! money-moving call, as `sent_at` always was); everything else comes from [`crate::fills`] through its writer task,
//! off the alert's hot path. Times are the gateway's for fills (the trade's `creationTimestamp`), pxrelay's clock
//! otherwise, written by [`stamp`] so that text order is time order.

use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A timeline event's name (the `event` field, and the CHECK list of `alert_events.event`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The webhook arrived (the alert's `received_at`).
    Received,
    /// The alert was written to the journal.
    Journaled,
    /// A money-moving call (`Order/place`, `Position/closeContract`, `Order/cancel`) is about to be sent.
    Sent,
    /// The gateway answered a call: `order_id` (absent for `Position/closeContract`, which returns none).
    Acknowledged,
    /// One fill of one of the alert's own orders: `order_id`, `trade_id`, `price`, `size`, `fees` (USD), `side`
    /// (`buy`|`sell`), `role` (`entry`|`close`), `tick_size`. Partial fills are one event each.
    Filled,
    /// One bracket leg of the alert's entry became known: `order_id`, `role` (`stop`|`target`), `price`.
    Legs,
    /// A position the alert opened, or closed, was (partly) closed: `realized_pnl` (the gateway's `profitAndLoss`
    /// of the closing fill, USD, **before fees**), `fees` (that fill's, USD), `exit_price`, `size`, `order_id`,
    /// `by` (`alert`|`stop`|`target`|`flatten`|`other`), `alerts` (the entry alerts whose position it closed) and,
    /// when an alert closed it, `closed_by` (that alert's id).
    Closed,
}

impl Event {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Journaled => "journaled",
            Self::Sent => "sent",
            Self::Acknowledged => "acknowledged",
            Self::Filled => "filled",
            Self::Legs => "legs",
            Self::Closed => "closed",
        }
    }

    /// Whether the journal writes it with the alert itself (`received`, `journaled`): each journal has its own, so
    /// a timeline copied from another journal ([`super::Journal::replace_timeline`]) never carries them.
    pub fn with_the_alert(self) -> bool {
        matches!(self, Self::Received | Self::Journaled)
    }
}

/// One event to append to an alert's timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct TimelineWrite {
    /// The alert.
    pub alert_id: String,
    /// Which event.
    pub event: Event,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Its fields (a JSON object).
    pub data: Value,
}

/// One event as `GET /alerts/{id}` shows it: `{"event", "at", ...fields}` (read back the same way, e.g. from the
/// executor's `timeline` message to the relay, [`crate::relay::protocol::ToRelay::Timeline`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineEvent {
    /// The event's name.
    pub event: Event,
    /// RFC 3339, UTC.
    pub at: String,
    /// The event's fields.
    #[serde(flatten)]
    pub data: Map<String, Value>,
}

/// One fill of the alert's own orders (from its `filled` events).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fill {
    /// The order that filled.
    pub order_id: Option<i64>,
    /// Fill price.
    pub price: Decimal,
    /// Contracts.
    pub size: i64,
    /// Fees of this fill, USD.
    pub fees: Decimal,
    /// RFC 3339 (the gateway's trade time).
    pub at: String,
    /// `buy` or `sell`.
    pub side: String,
    /// `entry` or `close`.
    pub role: String,
}

/// What the timeline sums up to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// The fills.
    pub fills: Vec<Fill>,
    /// Volume-weighted fill price.
    pub fill_price: Option<Decimal>,
    /// Volume-weighted slippage in ticks against the reference (see [`slippage_ticks`]).
    pub slippage_ticks: Option<f64>,
    /// Sum of the `closed` events' `realized_pnl` (USD, before fees).
    pub realized_pnl: Option<Decimal>,
}

/// A time as the timeline writes it: RFC 3339, UTC, microseconds, `Z` (fixed width, so text order is time order).
pub fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Slippage in ticks of `fills` (`(buy?, price, size)`) against `reference`: `(fill − reference) / tick` for a buy,
/// `(reference − fill) / tick` for a sell (positive = worse for the trader), volume-weighted, rounded to 2 decimals.
/// `None` without a reference, a positive tick size or fills.
pub fn slippage_ticks(
    reference: Option<Decimal>,
    tick_size: Decimal,
    fills: impl IntoIterator<Item = (bool, Decimal, i64)>,
) -> Option<f64> {
    let reference = reference?;
    if tick_size <= Decimal::ZERO {
        return None;
    }
    let (mut weighted, mut volume) = (Decimal::ZERO, 0i64);
    for (buy, price, size) in fills {
        let worse = if buy { price - reference } else { reference - price };
        weighted += worse * Decimal::from(size);
        volume += size;
    }
    if volume <= 0 {
        return None;
    }
    (weighted / Decimal::from(volume) / tick_size).round_dp(2).to_f64()
}

/// Sums a timeline up against the alert's reference price.
pub fn summarize(events: &[TimelineEvent], reference: Option<Decimal>) -> Summary {
    let decimal = |v: Option<&Value>| v.and_then(|v| v.to_string().trim_matches('"').parse::<Decimal>().ok());
    let mut summary = Summary::default();
    let mut tick_size = Decimal::ZERO;
    for e in events {
        match e.event {
            Event::Filled => {
                let (Some(price), Some(size)) =
                    (decimal(e.data.get("price")), e.data.get("size").and_then(Value::as_i64))
                else {
                    continue;
                };
                tick_size = decimal(e.data.get("tick_size")).unwrap_or(tick_size);
                let text = |k: &str| e.data.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
                summary.fills.push(Fill {
                    order_id: e.data.get("order_id").and_then(Value::as_i64),
                    price,
                    size,
                    fees: decimal(e.data.get("fees")).unwrap_or_default(),
                    at: e.at.clone(),
                    side: text("side"),
                    role: text("role"),
                });
            }
            Event::Closed => {
                if let Some(pnl) = decimal(e.data.get("realized_pnl")) {
                    summary.realized_pnl = Some(summary.realized_pnl.unwrap_or_default() + pnl);
                }
            }
            _ => {}
        }
    }
    let volume: i64 = summary.fills.iter().map(|f| f.size).sum();
    if volume > 0 {
        let notional: Decimal = summary.fills.iter().map(|f| f.price * Decimal::from(f.size)).sum();
        summary.fill_price = Some((notional / Decimal::from(volume)).normalize());
    }
    summary.slippage_ticks =
        slippage_ticks(reference, tick_size, summary.fills.iter().map(|f| (f.side == "buy", f.price, f.size)));
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn slippage_is_positive_when_worse_for_the_trader_on_both_sides() {
        let tick = d("0.25");
        // A buy filled one tick above the ask: worse by 1; a sell filled one tick below the bid: worse by 1.
        assert_eq!(slippage_ticks(Some(d("100")), tick, [(true, d("100.25"), 1)]), Some(1.0));
        assert_eq!(slippage_ticks(Some(d("100")), tick, [(false, d("99.75"), 1)]), Some(1.0));
        // Better than the touch: negative.
        assert_eq!(slippage_ticks(Some(d("100")), tick, [(true, d("99.75"), 1)]), Some(-1.0));
        assert_eq!(slippage_ticks(Some(d("100")), tick, [(false, d("100.5"), 2)]), Some(-2.0));
    }

    #[test]
    fn slippage_is_volume_weighted_over_partial_fills_and_null_without_a_reference() {
        let tick = d("0.25");
        // 1 @ +0 ticks and 3 @ +2 ticks: (0·1 + 2·3) / 4 = 1.5.
        let fills = [(true, d("100"), 1), (true, d("100.5"), 3)];
        assert_eq!(slippage_ticks(Some(d("100")), tick, fills), Some(1.5));
        assert_eq!(slippage_ticks(None, tick, fills), None);
        assert_eq!(slippage_ticks(Some(d("100")), Decimal::ZERO, fills), None);
        assert_eq!(slippage_ticks(Some(d("100")), tick, []), None);
        // Rounded to 2 decimals: 1 tick over 3 contracts.
        assert_eq!(slippage_ticks(Some(d("100")), tick, [(true, d("100.25"), 1), (true, d("100"), 2)]), Some(0.33));
    }

    #[test]
    fn a_timeline_sums_up_to_fills_price_slippage_and_pnl() {
        let event = |event, data: Value| TimelineEvent {
            event,
            at: "2026-01-01T00:00:00.000000Z".into(),
            data: data.as_object().cloned().unwrap(),
        };
        let events = [
            event(Event::Acknowledged, serde_json::json!({"order_id": 7})),
            event(
                Event::Filled,
                serde_json::json!({"order_id": 7, "price": 100.25, "size": 1, "fees": 0.37, "side": "buy",
                                   "role": "entry", "tick_size": 0.25}),
            ),
            event(
                Event::Filled,
                serde_json::json!({"order_id": 7, "price": 100.75, "size": 1, "fees": 0.37, "side": "buy",
                                   "role": "entry", "tick_size": 0.25}),
            ),
            event(Event::Closed, serde_json::json!({"realized_pnl": 10.5, "by": "target"})),
            event(Event::Closed, serde_json::json!({"realized_pnl": -2, "by": "alert"})),
        ];
        let s = summarize(&events, Some(d("100.25")));
        assert_eq!(s.fills.len(), 2);
        assert_eq!((s.fills[0].order_id, s.fills[0].price, s.fills[0].fees), (Some(7), d("100.25"), d("0.37")));
        assert_eq!(s.fill_price, Some(d("100.5")));
        assert_eq!(s.slippage_ticks, Some(1.0));
        assert_eq!(s.realized_pnl, Some(d("8.5")));
        assert_eq!(summarize(&events[..1], None), Summary::default());
    }
}
