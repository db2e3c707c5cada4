//! Market data for one contract: the latest quote and how it is written on the wire, either as a
//! full snapshot (every documented `GatewayQuote` field) or as a partial delta (only the fields
//! that changed, plus `symbol`, `lastUpdated` and `timestamp`), and the simple `GatewayTrade` and
//! `GatewayDepth` arrays. Prices are exact decimals on the tick grid written as JSON numbers;
//! bid and ask sit one tick either side of the last price.

use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::config::SimContract;

/// DomType values used here.
const DOM_ASK: i32 = 1;
const DOM_BID: i32 = 2;
const DOM_BEST_ASK: i32 = 3;
const DOM_BEST_BID: i32 = 4;
const DOM_RESET: i32 = 6;
/// Levels per side in the depth snapshot sent on subscribe.
const DEPTH_LEVELS: i64 = 5;

/// The latest quote of one contract.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Quote {
    symbol: String,
    symbol_name: String,
    tick: Decimal,
    /// The numbers; `Copy`, so a publisher can keep the previous ones to compute a delta.
    pub(super) levels: Levels,
    /// `timestamp` and `lastUpdated`, RFC 3339 with milliseconds.
    stamp: String,
}

/// A quote's numbers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Levels {
    pub(super) last: Decimal,
    bid: Decimal,
    ask: Decimal,
    open: Decimal,
    high: Decimal,
    low: Decimal,
    /// Previous session close: the contract's price when the simulator first quoted it.
    prev_close: Decimal,
    volume: u64,
}

impl Levels {
    fn change(&self) -> Decimal {
        (self.last - self.prev_close).normalize()
    }

    fn change_percent(&self) -> Decimal {
        if self.prev_close.is_zero() {
            return Decimal::ZERO;
        }
        (self.change() / self.prev_close * Decimal::ONE_HUNDRED).round_dp(2).normalize()
    }
}

/// The `GatewayQuote` data object; absent fields are left out.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct QuoteData<'a> {
    symbol: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    symbol_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none", with = "rust_decimal::serde::arbitrary_precision_option")]
    last_price: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none", with = "rust_decimal::serde::arbitrary_precision_option")]
    best_bid: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none", with = "rust_decimal::serde::arbitrary_precision_option")]
    best_ask: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none", with = "rust_decimal::serde::arbitrary_precision_option")]
    change: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none", with = "rust_decimal::serde::arbitrary_precision_option")]
    change_percent: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none", with = "rust_decimal::serde::arbitrary_precision_option")]
    open: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none", with = "rust_decimal::serde::arbitrary_precision_option")]
    high: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none", with = "rust_decimal::serde::arbitrary_precision_option")]
    low: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    volume: Option<u64>,
    last_updated: &'a str,
    timestamp: &'a str,
}

/// One `GatewayTrade` entry.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TradeEntry<'a> {
    symbol_id: &'a str,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    price: Decimal,
    timestamp: &'a str,
    /// TradeLogType: 0 buy, 1 sell (the aggressor).
    #[serde(rename = "type")]
    kind: i32,
    volume: u64,
}

/// One `GatewayDepth` entry.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DepthEntry<'a> {
    timestamp: &'a str,
    #[serde(rename = "type")]
    kind: i32,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    price: Decimal,
    volume: u64,
    current_volume: u64,
}

impl Quote {
    pub(super) fn new(contract: &SimContract, now: DateTime<Utc>) -> Self {
        let tick = if contract.tick_size > Decimal::ZERO { contract.tick_size } else { Decimal::ONE };
        let price = contract.price.normalize();
        let root = contract.symbol_id.rsplit('.').next().unwrap_or_default();
        let levels = Levels {
            last: price,
            bid: price,
            ask: price,
            open: price,
            high: price,
            low: price,
            prev_close: price,
            volume: fastrand::u64(10_000..50_000),
        };
        let mut quote = Self {
            symbol: contract.symbol_id.clone(),
            symbol_name: format!("/{root}"),
            tick,
            levels,
            stamp: stamp(now),
        };
        quote.set_book();
        quote
    }

    /// The contract's minimum price increment (1 if it has none).
    pub(super) fn tick(&self) -> Decimal {
        self.tick
    }

    /// Moves to a new last price; `traded` contracts are added to the session volume.
    pub(super) fn apply(&mut self, price: Decimal, traded: u64, now: DateTime<Utc>) {
        let levels = &mut self.levels;
        levels.last = price.normalize();
        levels.high = levels.high.max(levels.last);
        levels.low = levels.low.min(levels.last);
        levels.volume += traded;
        self.stamp = stamp(now);
        self.set_book();
    }

    fn set_book(&mut self) {
        let levels = &mut self.levels;
        levels.bid = (levels.last - self.tick).max(Decimal::ZERO).normalize();
        levels.ask = (levels.last + self.tick).normalize();
    }

    /// Every field.
    pub(super) fn snapshot(&self) -> QuoteData<'_> {
        let l = &self.levels;
        QuoteData {
            symbol: &self.symbol,
            symbol_name: Some(&self.symbol_name),
            last_price: Some(l.last),
            best_bid: Some(l.bid),
            best_ask: Some(l.ask),
            change: Some(l.change()),
            change_percent: Some(l.change_percent()),
            open: Some(l.open),
            high: Some(l.high),
            low: Some(l.low),
            volume: Some(l.volume),
            last_updated: &self.stamp,
            timestamp: &self.stamp,
        }
    }

    /// The fields that differ from `before`, plus the identity and time fields.
    pub(super) fn delta(&self, before: &Levels) -> QuoteData<'_> {
        let (l, b) = (&self.levels, before);
        let changed = |now: Decimal, then: Decimal| (now != then).then_some(now);
        QuoteData {
            symbol: &self.symbol,
            symbol_name: None,
            last_price: changed(l.last, b.last),
            best_bid: changed(l.bid, b.bid),
            best_ask: changed(l.ask, b.ask),
            change: changed(l.change(), b.change()),
            change_percent: changed(l.change_percent(), b.change_percent()),
            open: changed(l.open, b.open),
            high: changed(l.high, b.high),
            low: changed(l.low, b.low),
            volume: (l.volume != b.volume).then_some(l.volume),
            last_updated: &self.stamp,
            timestamp: &self.stamp,
        }
    }

    /// Whether the top of book moved since `before`.
    pub(super) fn book_moved(&self, before: &Levels) -> bool {
        self.levels.bid != before.bid || self.levels.ask != before.ask
    }

    /// A market trade at the last price; the aggressor is the side the price moved to.
    pub(super) fn trade(&self, before: &Levels, volume: u64) -> [TradeEntry<'_>; 1] {
        let kind = match self.levels.last.cmp(&before.last) {
            std::cmp::Ordering::Greater => 0,
            std::cmp::Ordering::Less => 1,
            std::cmp::Ordering::Equal => fastrand::i32(0..=1),
        };
        [TradeEntry { symbol_id: &self.symbol, price: self.levels.last, timestamp: &self.stamp, kind, volume }]
    }

    /// Top-of-book update: best bid and ask with their sizes.
    pub(super) fn depth_update(&self) -> Vec<DepthEntry<'_>> {
        vec![self.level(DOM_BEST_BID, self.levels.bid), self.level(DOM_BEST_ASK, self.levels.ask)]
    }

    /// The book on subscribe: a Reset, best bid/ask, then `DEPTH_LEVELS` levels per side.
    pub(super) fn depth_snapshot(&self) -> Vec<DepthEntry<'_>> {
        let (bid, ask) = (self.levels.bid, self.levels.ask);
        let reset =
            DepthEntry { timestamp: &self.stamp, kind: DOM_RESET, price: Decimal::ZERO, volume: 0, current_volume: 0 };
        let mut entries = vec![reset, self.level(DOM_BEST_BID, bid), self.level(DOM_BEST_ASK, ask)];
        for i in 0..DEPTH_LEVELS {
            let offset = self.tick * Decimal::from(i);
            if bid - offset > Decimal::ZERO {
                entries.push(self.level(DOM_BID, (bid - offset).normalize()));
            }
            entries.push(self.level(DOM_ASK, (ask + offset).normalize()));
        }
        entries
    }

    fn level(&self, kind: i32, price: Decimal) -> DepthEntry<'_> {
        let volume = fastrand::u64(1..=60);
        DepthEntry { timestamp: &self.stamp, kind, price, volume, current_volume: volume }
    }
}

fn stamp(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contracts::default_contracts;

    #[test]
    fn snapshot_has_every_field_and_delta_only_what_changed() {
        let contract = &default_contracts()[0];
        let t0 = DateTime::parse_from_rfc3339("2025-11-20T15:47:39Z").unwrap().to_utc();
        let mut quote = Quote::new(contract, t0);
        let full = serde_json::to_value(quote.snapshot()).unwrap();
        assert_eq!(full.as_object().unwrap().len(), 13, "{full}");
        assert_eq!((full["symbol"].as_str(), full["symbolName"].as_str()), (Some("F.US.MNQ"), Some("/MNQ")));
        assert_eq!((full["lastPrice"].to_string(), full["bestBid"].to_string()), ("21000.25".into(), "21000".into()));
        assert_eq!(full["timestamp"], "2025-11-20T15:47:39.000Z");
        let before = quote.levels;
        quote.apply("21000.75".parse().unwrap(), 0, t0);
        let delta = serde_json::to_value(quote.delta(&before)).unwrap();
        let mut keys: Vec<_> = delta.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        let expected = ["bestAsk", "bestBid", "change", "high", "lastPrice", "lastUpdated", "symbol", "timestamp"];
        assert_eq!(keys, expected, "changePercent rounds to 0.00 both times, so it is unchanged");
        assert_eq!(delta["change"].to_string(), "0.5");
    }
}
