//! Stop loss and take profit: reading every accepted spelling, and converting to ProjectX's signed ticks.
//!
//! ProjectX takes brackets as tick offsets from the fill price, signed by direction (gateway notes §6.6): a long's
//! stop is negative and its target positive, a short's the reverse. Alerts give distances in ticks, points, or
//! absolute prices; prices are converted against a reference (the entry's limit/stop price, or the current price
//! for a market entry), so a market entry's bracket lands as many ticks from the actual fill as the alert's price
//! was from the reference.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;

use super::values::{Agreed, Object, price, whole};
use super::{Distance, Intent, MAX_BRACKET_TICKS, SignalError};

/// The spellings of one bracket leg.
pub(super) struct Leg {
    /// `stop_loss_ticks`: unsigned ticks.
    pub(super) ticks: &'static str,
    /// `stop_loss`: a price.
    pub(super) price: &'static str,
    /// PickMyTrade `sl`: a price, 0 for none.
    pub(super) short: &'static str,
    /// TradersPost `stopLoss` object.
    pub(super) object: &'static str,
    /// Its price key and the full name used in messages.
    pub(super) object_price: (&'static str, &'static str),
    /// Its points key (`amount`) and the full name.
    pub(super) object_amount: (&'static str, &'static str),
    /// Its percent-of-price key (`percent`) and the full name.
    object_percent: (&'static str, &'static str),
    /// `stop_loss_usd` and PickMyTrade's `dollar_sl`: account currency for the whole order, 0 for none.
    pub(super) usd: [&'static str; 2],
    /// `stop_loss_percent` and PickMyTrade's `percentage_sl`: percent of the entry price, 0 for none.
    pub(super) percent: [&'static str; 2],
    /// TradersPost keys pxrelay cannot honour (need account or quote data, or are not native brackets).
    object_unsupported: &'static [(&'static str, &'static str)],
    /// Whether the object may carry a `type` (TradersPost stop losses do; only `stop` maps to ProjectX).
    object_has_type: bool,
    /// What a message should suggest.
    pub(super) accepted: &'static str,
}

pub(super) const STOP_LOSS: Leg = Leg {
    ticks: "stop_loss_ticks",
    price: "stop_loss",
    short: "sl",
    object: "stopLoss",
    object_price: ("stopPrice", "stopLoss.stopPrice"),
    object_amount: ("amount", "stopLoss.amount"),
    object_percent: ("percent", "stopLoss.percent"),
    usd: ["stop_loss_usd", "dollar_sl"],
    percent: ["stop_loss_percent", "percentage_sl"],
    object_unsupported: &[
        ("pnlAmount", "stopLoss.pnlAmount"),
        ("trailAmount", "stopLoss.trailAmount"),
        ("trailPercent", "stopLoss.trailPercent"),
        ("limitPrice", "stopLoss.limitPrice"),
    ],
    object_has_type: true,
    accepted: "`stop_loss_ticks` (ticks), `stop_loss` or `sl` (price), `stopLoss.stopPrice` (price), \
               `stopLoss.amount` (points), `stop_loss_usd` or `dollar_sl` (dollars), `stop_loss_percent`, \
               `percentage_sl` or `stopLoss.percent` (percent of the entry price)",
};

pub(super) const TAKE_PROFIT: Leg = Leg {
    ticks: "take_profit_ticks",
    price: "take_profit",
    short: "tp",
    object: "takeProfit",
    object_price: ("limitPrice", "takeProfit.limitPrice"),
    object_amount: ("amount", "takeProfit.amount"),
    object_percent: ("percent", "takeProfit.percent"),
    usd: ["take_profit_usd", "dollar_tp"],
    percent: ["take_profit_percent", "percentage_tp"],
    object_unsupported: &[("pnlAmount", "takeProfit.pnlAmount"), ("stopPrice", "takeProfit.stopPrice")],
    object_has_type: false,
    accepted: "`take_profit_ticks` (ticks), `take_profit` or `tp` (price), `takeProfit.limitPrice` (price), \
               `takeProfit.amount` (points), `take_profit_usd` or `dollar_tp` (dollars), `take_profit_percent`, \
               `percentage_tp` or `takeProfit.percent` (percent of the entry price)",
};

/// Every top-level name a bracket is read from.
pub(super) const NAMES: [&str; 16] = [
    STOP_LOSS.ticks,
    STOP_LOSS.price,
    STOP_LOSS.short,
    STOP_LOSS.object,
    STOP_LOSS.usd[0],
    STOP_LOSS.usd[1],
    STOP_LOSS.percent[0],
    STOP_LOSS.percent[1],
    TAKE_PROFIT.ticks,
    TAKE_PROFIT.price,
    TAKE_PROFIT.short,
    TAKE_PROFIT.object,
    TAKE_PROFIT.usd[0],
    TAKE_PROFIT.usd[1],
    TAKE_PROFIT.percent[0],
    TAKE_PROFIT.percent[1],
];

const TICKS_WHAT: &str = "a whole number of ticks from 1 to 1000 (0 for none); the side decides the sign";

/// The stop loss, in whichever form the alert gave it; every form present must agree.
pub(super) fn stop_loss(obj: &Object) -> Result<Option<Distance>, SignalError> {
    read_leg(obj, &STOP_LOSS)
}

/// The take profit, in whichever form the alert gave it; every form present must agree.
pub(super) fn take_profit(obj: &Object) -> Result<Option<Distance>, SignalError> {
    read_leg(obj, &TAKE_PROFIT)
}

fn read_leg(obj: &Object, leg: &Leg) -> Result<Option<Distance>, SignalError> {
    let mut agreed = Agreed::new();
    if let Some(v) = obj.get(leg.ticks) {
        let ticks = whole(leg.ticks, v, 0, MAX_BRACKET_TICKS, TICKS_WHAT)?;
        agreed.offer(leg.ticks, v, ticks.filter(|&n| n > 0).map(Distance::Ticks))?;
    }
    for field in [leg.price, leg.short] {
        if let Some(v) = obj.get(field) {
            agreed.offer(field, v, price(field, v)?.map(Distance::Price))?;
        }
    }
    for field in leg.usd {
        if let Some(v) = obj.get(field) {
            agreed.offer(field, v, price(field, v)?.map(Distance::Usd))?;
        }
    }
    for field in leg.percent {
        if let Some(v) = obj.get(field) {
            agreed.offer(field, v, percent(field, v)?.map(Distance::Percent))?;
        }
    }
    match obj.get(leg.object) {
        None | Some(Value::Null) => {}
        Some(Value::Object(inner)) => read_object(inner, leg, &mut agreed)?,
        Some(_) => {
            return Err(SignalError::new(
                leg.object,
                format!(
                    "expected an object such as {{\"{}\": 21000.25}}; accepted: {}",
                    leg.object_price.0, leg.accepted
                ),
            ));
        }
    }
    Ok(agreed.get().map(|(_, d)| d))
}

/// A TradersPost `stopLoss` / `takeProfit` object.
fn read_object<'a>(inner: &'a Object, leg: &Leg, agreed: &mut Agreed<'a, Distance>) -> Result<(), SignalError> {
    if leg.object_has_type
        && let Some(v) = inner.get("type")
        && let Some(kind) = super::values::text("stopLoss.type", v)?
        && !kind.eq_ignore_ascii_case("stop")
    {
        return Err(SignalError::new(
            "stopLoss.type",
            format!("{kind:?} is not supported; ProjectX native stop losses are stop-market orders: use \"stop\""),
        ));
    }
    for &(key, full) in leg.object_unsupported {
        if let Some(v) = inner.get(key)
            && !matches!(v, Value::Null)
        {
            return Err(SignalError::new(full, format!("is not supported by pxrelay; accepted: {}", leg.accepted)));
        }
    }
    let mut given = false;
    for ((key, full), make) in [
        (leg.object_price, Distance::Price as fn(Decimal) -> Distance),
        (leg.object_amount, Distance::Points as fn(Decimal) -> Distance),
    ] {
        if let Some(v) = inner.get(key) {
            given = true;
            agreed.offer(full, v, price(full, v)?.map(make))?;
        }
    }
    let (key, full) = leg.object_percent;
    if let Some(v) = inner.get(key) {
        given = true;
        agreed.offer(full, v, percent(full, v)?.map(Distance::Percent))?;
    }
    if !given {
        return Err(SignalError::new(
            leg.object,
            format!(
                "has neither `{}` (a price), `amount` (points) nor `percent`; accepted: {}",
                leg.object_price.0, leg.accepted
            ),
        ));
    }
    Ok(())
}

/// A percent of the entry price: above 0 and below 100 (0 for none).
fn percent(field: &'static str, v: &Value) -> Result<Option<Decimal>, SignalError> {
    match price(field, v)? {
        Some(p) if p >= Decimal::ONE_HUNDRED => Err(SignalError::new(
            field,
            format!("{} is not a percent of the price below 100 (e.g. 0.5 for 0.5 %)", super::values::describe(v)),
        )),
        other => Ok(other),
    }
}

/// Signed bracket ticks for ProjectX (long: stop < 0, target > 0; short: the reverse), tick-aligned (prices must
/// be on the tick grid, else error), rejected when a price is on the wrong side of `reference` (the entry price:
/// limit/stop price, or the current market price for market orders), |ticks| between 1 and 1000.
///
/// `side` is the entry order's side. `reference` is only needed when a leg is an absolute price. Legs in dollars
/// or percent must have been converted to ticks first (`executor::sizing`, which knows the tick value); here they
/// are refused.
pub fn bracket_ticks(
    intent: &Intent,
    side: projectx::OrderSide,
    reference: Option<Decimal>,
    tick_size: Decimal,
) -> Result<(Option<i32>, Option<i32>), SignalError> {
    if tick_size <= Decimal::ZERO {
        return Err(SignalError::new("tick_size", format!("{tick_size} is not a usable tick size (must be > 0)")));
    }
    let long = match side {
        projectx::OrderSide::Bid => true,
        projectx::OrderSide::Ask => false,
        projectx::OrderSide::Other(n) => {
            return Err(SignalError::new("side", format!("{n} is not a buy (0) or sell (1) side")));
        }
    };
    let ctx = Ctx { long, reference, tick_size };
    let stop = intent.stop_loss.map(|d| ctx.signed("stop_loss", d, !long)).transpose()?;
    let target = intent.take_profit.map(|d| ctx.signed("take_profit", d, long)).transpose()?;
    Ok((stop, target))
}

struct Ctx {
    long: bool,
    reference: Option<Decimal>,
    tick_size: Decimal,
}

impl Ctx {
    /// Ticks for one leg that must lie above the entry when `above`, below otherwise.
    fn signed(&self, field: &'static str, d: Distance, above: bool) -> Result<i32, SignalError> {
        let sign = if above { Decimal::ONE } else { Decimal::NEGATIVE_ONE };
        let ticks = match d {
            Distance::Ticks(n) => Decimal::from(n) * sign,
            Distance::Points(points) => on_grid(field, points, self.tick_size)? * sign,
            Distance::Usd(_) | Distance::Percent(_) => {
                return Err(SignalError::new(
                    field,
                    "in dollars or percent must be converted to ticks with the contract's tick value first",
                ));
            }
            Distance::Price(level) => {
                on_grid(field, level, self.tick_size)?;
                let Some(entry) = self.reference else {
                    return Err(SignalError::new(
                        field,
                        "is a price, but no entry price is known to measure it from (no quote for a market order); \
                         give the distance in ticks instead",
                    ));
                };
                let ticks = level
                    .checked_sub(entry)
                    .and_then(|diff| diff.checked_div(self.tick_size))
                    .ok_or_else(|| out_of_range(field))?
                    // An entry off the grid (an odd quote) should not make an on-grid level unusable.
                    .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
                if ticks.is_zero() || ticks.is_sign_positive() != above {
                    let position = if self.long { "long" } else { "short" };
                    let leg = if above == self.long { "take profit" } else { "stop loss" };
                    let rule = if above { "above" } else { "below" };
                    return Err(SignalError::new(
                        field,
                        format!(
                            "{level} is on the wrong side of the entry price {entry}: a {position}'s {leg} must be \
                             {rule} the entry"
                        ),
                    ));
                }
                ticks
            }
        };
        let magnitude = ticks.abs();
        if magnitude < Decimal::ONE || magnitude > Decimal::from(MAX_BRACKET_TICKS) {
            return Err(SignalError::new(
                field,
                format!("is {magnitude} ticks from the entry; ProjectX accepts 1 to {MAX_BRACKET_TICKS} ticks"),
            ));
        }
        ticks.to_i32().ok_or_else(|| out_of_range(field))
    }
}

/// `value / tick_size` when it is a whole number; otherwise an error naming the two nearest grid values.
pub(super) fn on_grid(field: &'static str, value: Decimal, tick_size: Decimal) -> Result<Decimal, SignalError> {
    let ticks = value.checked_div(tick_size).ok_or_else(|| out_of_range(field))?;
    if ticks.is_integer() {
        return Ok(ticks);
    }
    let below = ticks.floor().checked_mul(tick_size);
    let above = below.and_then(|b| b.checked_add(tick_size));
    let nearest = match (below, above) {
        (Some(b), Some(a)) => format!("; nearest: {} or {}", b.normalize(), a.normalize()),
        _ => String::new(),
    };
    Err(SignalError::new(
        field,
        format!("{} is not a multiple of the tick size {}{nearest}", value.normalize(), tick_size.normalize()),
    ))
}

fn out_of_range(field: &'static str) -> SignalError {
    SignalError::new(field, "is out of range")
}
