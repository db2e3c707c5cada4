//! Dollar and percent risk (issue 12): the one place that turns `risk_usd`, brackets in dollars
//! (`stop_loss_usd`, PickMyTrade `dollar_sl`) and brackets in percent of the price (`stop_loss_percent`,
//! `stopLoss.percent`, PickMyTrade `percentage_sl`) into contracts and ticks. It needs the contract's tick size and
//! tick value (USD per tick per contract, the gateway's `tickValue`), which signal parsing does not know, so the
//! executor calls [`size`] once the contract is resolved (and the webhook's pre-check calls it to refuse a bad
//! alert before it is journaled).
//!
//! The rules (`docs/tradingview.md` §3):
//! - percent → ticks = ⌊reference × percent ÷ 100 ÷ tick size⌋ (reference: the entry's own price, else the fresh
//!   market price, [`super::reference::bracket_reference`]);
//! - `risk_usd` → quantity = ⌊risk ÷ (stop ticks × tick value)⌋, refused when not even 1 contract fits, capped at
//!   `MAX_CONTRACTS`; a stop in points is counted up to whole ticks, a price stop from the reference;
//! - dollars → ticks = ⌊amount ÷ (tick value × quantity)⌋ (the alert's quantity, after `risk_usd` sizing).
//!
//! Every conversion rounds **toward the entry** (down in magnitude): never a wider stop, a larger loss or a larger
//! size than the alert asked for. A conversion that rounds to 0 is refused. Each step adds a note showing its
//! arithmetic, which the executor puts in front of the answer's message.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::signal::{Distance, Intent, SignalError};

/// An intent whose size and brackets need no tick value or price any more, and how it got there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sized {
    /// The intent with `quantity` set from `risk_usd` (then `risk_usd: None`) and every dollar or percent bracket
    /// turned into [`Distance::Ticks`].
    pub intent: Intent,
    /// The arithmetic of each conversion, for the answer (`risk_usd 100 ÷ (40 ticks × $0.50) = 5 contracts`).
    pub notes: Vec<String>,
}

/// Converts `intent`'s dollar and percent risk for a contract of `tick_size` and `tick_value` (USD per tick per
/// contract). `reference` is the entry reference price (needed for percent brackets and for `risk_usd` with a
/// price stop); `max_contracts` is `MAX_CONTRACTS`. An intent without such fields comes back unchanged.
pub fn size(
    intent: &Intent,
    tick_size: Decimal,
    tick_value: Decimal,
    reference: Option<Decimal>,
    max_contracts: u32,
) -> Result<Sized, SignalError> {
    let mut out = Sized { intent: intent.clone(), notes: Vec::new() };
    if !intent.needs_sizing() {
        return Ok(out);
    }
    if tick_size <= Decimal::ZERO || tick_value <= Decimal::ZERO {
        return Err(SignalError::new(
            "symbol",
            format!(
                "the contract's tick size {tick_size} or tick value {tick_value} cannot size dollar or percent risk"
            ),
        ));
    }
    for (field, leg) in
        [("stop_loss_percent", &mut out.intent.stop_loss), ("take_profit_percent", &mut out.intent.take_profit)]
    {
        if let Some(Distance::Percent(pct)) = *leg {
            let (ticks, note) = percent_ticks(field, pct, reference, tick_size)?;
            *leg = Some(Distance::Ticks(ticks));
            out.notes.push(note);
        }
    }
    if let Some(risk) = out.intent.risk_usd.take() {
        let stop = stop_ticks(out.intent.stop_loss, reference, tick_size)?;
        let (quantity, note) = risk_quantity(risk, stop, tick_value, max_contracts)?;
        out.intent.quantity = quantity;
        out.notes.push(note);
    }
    let quantity = out.intent.quantity;
    for (field, leg) in [("stop_loss_usd", &mut out.intent.stop_loss), ("take_profit_usd", &mut out.intent.take_profit)]
    {
        if let Some(Distance::Usd(amount)) = *leg {
            let (ticks, note) = usd_ticks(field, amount, tick_value, quantity)?;
            *leg = Some(Distance::Ticks(ticks));
            out.notes.push(note);
        }
    }
    Ok(out)
}

/// `stop_loss_usd` / `take_profit_usd`: ⌊amount ÷ (tick value × quantity)⌋ ticks, refused when 0.
pub fn usd_ticks(
    field: &'static str,
    amount: Decimal,
    tick_value: Decimal,
    quantity: u32,
) -> Result<(u32, String), SignalError> {
    let per_tick = tick_value * Decimal::from(quantity);
    let exact = amount.checked_div(per_tick).ok_or_else(|| SignalError::new(field, "is out of range"))?;
    let ticks = whole(field, exact)?;
    let contracts = if quantity == 1 { "1 contract".to_owned() } else { format!("{quantity} contracts") };
    let arithmetic = format!("{field} {} ÷ ({} × {contracts})", usd(amount), usd(tick_value));
    if ticks == 0 {
        return Err(SignalError::new(
            field,
            format!("{arithmetic} = {} ticks, less than 1 tick; nothing sent", shown(exact)),
        ));
    }
    Ok((ticks, format!("{arithmetic} = {}{ticks} ticks", rounded_from(exact, ticks))))
}

/// `stop_loss_percent` / `take_profit_percent`: ⌊reference × percent ÷ 100 ÷ tick size⌋ ticks, refused when 0
/// or when no reference price is known.
pub fn percent_ticks(
    field: &'static str,
    percent: Decimal,
    reference: Option<Decimal>,
    tick_size: Decimal,
) -> Result<(u32, String), SignalError> {
    let Some(price) = reference else {
        return Err(SignalError::new(
            field,
            "is a percent of the entry price, but no entry price is known (no fresh quote for a market order); give \
             the distance in ticks instead",
        ));
    };
    let points = price * percent / Decimal::ONE_HUNDRED;
    let exact = points.checked_div(tick_size).ok_or_else(|| SignalError::new(field, "is out of range"))?;
    let ticks = whole(field, exact)?;
    let arithmetic = format!(
        "{field} {}% of {} = {} points ÷ tick size {}",
        percent.normalize(),
        price.normalize(),
        shown(points),
        tick_size.normalize()
    );
    if ticks == 0 {
        return Err(SignalError::new(field, format!("{arithmetic} is less than 1 tick; nothing sent")));
    }
    Ok((ticks, format!("{arithmetic} = {}{ticks} ticks", rounded_from(exact, ticks))))
}

/// `risk_usd`: ⌊risk ÷ (stop ticks × tick value)⌋ contracts, refused when 0, capped at `max_contracts`.
pub fn risk_quantity(
    risk: Decimal,
    stop_ticks: u32,
    tick_value: Decimal,
    max_contracts: u32,
) -> Result<(u32, String), SignalError> {
    let per_contract = Decimal::from(stop_ticks) * tick_value;
    let exact = risk.checked_div(per_contract).ok_or_else(|| SignalError::new("risk_usd", "is out of range"))?;
    let fits = whole("risk_usd", exact)?;
    let arithmetic = format!("risk_usd {} ÷ ({stop_ticks} ticks × {})", usd(risk), usd(tick_value));
    if fits == 0 {
        return Err(SignalError::new(
            "risk_usd",
            format!(
                "{arithmetic} = {} contracts: not even 1 contract fits (1 contract risks {}); nothing sent",
                shown(exact),
                usd(per_contract)
            ),
        ));
    }
    let contracts = |n: u32| if n == 1 { "1 contract".to_owned() } else { format!("{n} contracts") };
    let note = format!("{arithmetic} = {}{}", rounded_from(exact, fits), contracts(fits));
    if fits > max_contracts {
        return Ok((max_contracts, format!("{note}, capped at MAX_CONTRACTS = {max_contracts}")));
    }
    Ok((fits, note))
}

/// The stop's distance in whole ticks, for `risk_usd`: ticks as given, points counted up to whole ticks (a larger
/// stop means fewer contracts), a price measured from `reference` (rounded as `bracket_ticks` rounds it).
fn stop_ticks(stop: Option<Distance>, reference: Option<Decimal>, tick_size: Decimal) -> Result<u32, SignalError> {
    let exact = match stop {
        Some(Distance::Ticks(n)) => return Ok(n),
        Some(Distance::Points(points)) => (points / tick_size).ceil(),
        Some(Distance::Price(level)) => {
            let Some(entry) = reference else {
                return Err(SignalError::new(
                    "risk_usd",
                    "sizes from a stop given as a price, but no entry price is known (no fresh quote for a market \
                     order); give the stop in ticks",
                ));
            };
            ((level - entry).abs() / tick_size).round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
        }
        None | Some(Distance::Usd(_)) | Some(Distance::Percent(_)) => {
            return Err(SignalError::new("risk_usd", "needs a stop loss in ticks, points, price or percent"));
        }
    };
    match exact.to_u32().filter(|&n| n > 0) {
        Some(n) => Ok(n),
        None => Err(SignalError::new("risk_usd", "cannot size from a stop at the entry price (0 ticks)")),
    }
}

/// ⌊exact⌋ as a whole count (exact ≥ 0).
fn whole(field: &'static str, exact: Decimal) -> Result<u32, SignalError> {
    exact.floor().to_u32().ok_or_else(|| SignalError::new(field, format!("{} is out of range", shown(exact))))
}

/// `33.33 → ` when `exact` was rounded down to `n`; empty when it was whole.
fn rounded_from(exact: Decimal, n: u32) -> String {
    if exact == Decimal::from(n) { String::new() } else { format!("{} → ", shown(exact)) }
}

/// A number for a person: at most 2 decimals, no trailing zeros.
fn shown(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::ToZero).normalize()
}

/// Dollars: `$0.50`, `$100.00`, `$0.125`.
fn usd(d: Decimal) -> String {
    let d = d.normalize();
    if d.scale() <= 2 { format!("${d:.2}") } else { format!("${d}") }
}

#[cfg(test)]
mod tests;
