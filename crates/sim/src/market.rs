//! Contracts, their last prices, and synthetic history. Bars are a seeded random walk on the
//! contract's tick grid that ends at the current price: the newest bar closes exactly at the last
//! price, so a client may use it as "last". Bars are aligned to whole units since the Unix epoch
//! (weeks count as 7 days and months as 30 days) and returned newest first, like the real gateway.

use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::config::SimContract;

/// Most contracts `/api/Contract/search` returns.
const SEARCH_CAP: usize = 20;
/// Most bars one `retrieveBars` call may ask for.
const MAX_BARS: i32 = 20_000;

/// The contract table. Plain data: it lives inside the exchange lock with the order book.
#[derive(Debug)]
pub(crate) struct Market {
    contracts: Vec<SimContract>,
}

impl Market {
    pub(crate) fn new(contracts: Vec<SimContract>) -> Self {
        Self { contracts }
    }

    /// Case-insensitive substring match on name or id, at most 20 results.
    pub(crate) fn search(&self, text: &str) -> Vec<SimContract> {
        let needle = text.to_uppercase();
        self.contracts
            .iter()
            .filter(|c| c.name.to_uppercase().contains(&needle) || c.id.to_uppercase().contains(&needle))
            .take(SEARCH_CAP)
            .cloned()
            .collect()
    }

    pub(crate) fn get(&self, id: &str) -> Option<&SimContract> {
        self.contracts.iter().find(|c| c.id == id)
    }

    pub(crate) fn all(&self) -> &[SimContract] {
        &self.contracts
    }

    /// Makes `id` the active contract of its product (a roll): every other contract with the same `symbol_id` becomes
    /// inactive. False if the contract is unknown.
    pub(crate) fn roll_to(&mut self, id: &str) -> bool {
        let Some(product) = self.get(id).map(|c| c.symbol_id.clone()) else { return false };
        for c in self.contracts.iter_mut().filter(|c| c.symbol_id == product) {
            c.active = c.id == id;
        }
        true
    }

    /// Sets the last price; false if the contract is unknown.
    pub(crate) fn set_price(&mut self, id: &str, price: Decimal) -> bool {
        match self.contracts.iter_mut().find(|c| c.id == id) {
            Some(contract) => {
                contract.price = price;
                true
            }
            None => false,
        }
    }
}

/// One OHLCV bar as `retrieveBars` sends it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Bar {
    /// Bar start.
    pub(crate) t: DateTime<Utc>,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub(crate) o: Decimal,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub(crate) h: Decimal,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub(crate) l: Decimal,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub(crate) c: Decimal,
    pub(crate) v: i64,
}

/// A validated-on-use `retrieveBars` request (the contract is looked up by the caller).
#[derive(Debug)]
pub(crate) struct BarQuery {
    pub(crate) start: DateTime<Utc>,
    pub(crate) end: DateTime<Utc>,
    pub(crate) unit: i32,
    pub(crate) unit_number: i32,
    pub(crate) limit: i32,
    pub(crate) include_partial_bar: bool,
}

/// `retrieveBars` refusals, with their codes (1 = ContractNotFound is the caller's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BarsError {
    Unit = 2,
    UnitNumber = 3,
    Limit = 4,
}

/// Bars newest first: at most `limit` bars starting inside `[start, min(end, now)]`; the still-forming
/// bar (the one containing `now`) only with `include_partial_bar`.
pub(crate) fn bars(contract: &SimContract, q: &BarQuery, now: DateTime<Utc>) -> Result<Vec<Bar>, BarsError> {
    let unit_secs: i64 = match q.unit {
        1 => 1,
        2 => 60,
        3 => 3_600,
        4 => 86_400,
        5 => 7 * 86_400,
        6 => 30 * 86_400,
        _ => return Err(BarsError::Unit),
    };
    if q.unit_number < 1 {
        return Err(BarsError::UnitNumber);
    }
    if !(1..=MAX_BARS).contains(&q.limit) {
        return Err(BarsError::Limit);
    }
    let step = unit_secs.saturating_mul(i64::from(q.unit_number));
    let last = q.end.min(now).timestamp();
    let mut newest = last.div_euclid(step) * step;
    if !q.include_partial_bar && newest + step > now.timestamp() {
        newest -= step;
    }
    let start = q.start.timestamp();
    let starts: Vec<i64> = (0..i64::from(q.limit)).map(|i| newest - i * step).take_while(|&t| t >= start).collect();
    Ok(walk(contract, &starts, newest, step))
}

/// Walks backwards from the current price: each bar's close is the next (newer) bar's open.
fn walk(contract: &SimContract, starts: &[i64], newest: i64, step: i64) -> Vec<Bar> {
    let tick = if contract.tick_size > Decimal::ZERO { contract.tick_size } else { Decimal::ONE };
    let floor = tick;
    let mut rng = fastrand::Rng::with_seed(seed(&contract.id, newest, step));
    let mut close = contract.price;
    let mut bars = Vec::with_capacity(starts.len());
    for &t in starts {
        let open = (close + tick * Decimal::from(rng.i64(-4..=4))).max(floor);
        let high = open.max(close) + tick * Decimal::from(rng.i64(0..=3));
        let low = (open.min(close) - tick * Decimal::from(rng.i64(0..=3))).max(floor.min(close));
        bars.push(Bar {
            t: DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(t),
            o: open.normalize(),
            h: high.normalize(),
            l: low.normalize(),
            c: close.normalize(),
            v: rng.i64(1..=1_000),
        });
        close = open;
    }
    bars
}

/// FNV-1a over the inputs, so the same query at the same price yields the same bars.
fn seed(contract_id: &str, newest: i64, step: i64) -> u64 {
    let bytes = contract_id.bytes().chain(newest.to_le_bytes()).chain(step.to_le_bytes());
    bytes.fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contracts::default_contracts;

    fn query(unit: i32, unit_number: i32, limit: i32, partial: bool, now: DateTime<Utc>) -> BarQuery {
        BarQuery { start: now - TimeDelta::days(1), end: now, unit, unit_number, limit, include_partial_bar: partial }
    }

    #[test]
    fn bars_are_newest_first_on_the_grid_and_end_at_the_price() {
        let contract = &default_contracts()[0];
        let now = DateTime::parse_from_rfc3339("2025-11-20T15:47:39Z").unwrap().to_utc();
        let bars = bars(contract, &query(2, 5, 10, false, now), now).unwrap();
        assert_eq!(bars.len(), 10);
        assert_eq!(bars[0].c, contract.price);
        assert_eq!(bars[0].t.to_rfc3339(), "2025-11-20T15:40:00+00:00", "forming 15:45 bar excluded");
        assert!(bars.windows(2).all(|w| w[0].t - w[1].t == TimeDelta::minutes(5)));
        for bar in &bars {
            assert!(bar.l <= bar.o.min(bar.c) && bar.h >= bar.o.max(bar.c));
            assert!([bar.o, bar.h, bar.l, bar.c].iter().all(|p| (p % contract.tick_size).is_zero()));
        }
        let with_partial = super::bars(contract, &query(2, 5, 10, true, now), now).unwrap();
        assert_eq!(with_partial[0].t.to_rfc3339(), "2025-11-20T15:45:00+00:00");
    }

    #[test]
    fn invalid_units_and_limits_are_refused() {
        let contract = &default_contracts()[0];
        let now = DateTime::parse_from_rfc3339("2025-11-20T15:47:39Z").unwrap().to_utc();
        assert_eq!(bars(contract, &query(0, 1, 10, true, now), now), Err(BarsError::Unit));
        assert_eq!(bars(contract, &query(2, 0, 10, true, now), now), Err(BarsError::UnitNumber));
        assert_eq!(bars(contract, &query(2, 1, 0, true, now), now), Err(BarsError::Limit));
        assert_eq!(bars(contract, &query(2, 1, 20_001, true, now), now), Err(BarsError::Limit));
        let window = bars(contract, &query(3, 1, 20_000, true, now), now).unwrap();
        assert_eq!(window.len(), 24, "a one-day window of hourly bars, partial included");
        assert_eq!(window[23].t.to_rfc3339(), "2025-11-19T16:00:00+00:00");
    }
}
