//! Reads an [`Intent`] out of the parsed object: aliases, defaults, and the rules that tie fields together.

use rust_decimal::Decimal;
use serde_json::Value;

use super::values::{Object, describe, identifier, pick, price, text, whole};
use super::{Action, Intent, OrderKind, Sentiment, SignalError, brackets, names};

const SYMBOL: [&str; 3] = ["symbol", "ticker", "instrument"];
const ACTION: [&str; 4] = ["action", "side", "signal", "data"];
const SENTIMENT: [&str; 2] = ["sentiment", "market_position"];
const QUANTITY: [&str; 4] = ["quantity", "qty", "size", "contracts"];
const ORDER_TYPE: [&str; 2] = ["order_type", "orderType"];
const LIMIT_PRICE: [&str; 2] = ["limit_price", "limitPrice"];
const STOP_PRICE: [&str; 2] = ["stop_price", "stopPrice"];
const TRAIL_PRICE: [&str; 2] = ["trail_price", "trailPrice"];
/// PickMyTrade and TradersPost put a limit or stop order's price in `price`; only read when the specific field
/// is absent and the order type needs a price (for market orders `price` is informational and ignored).
const GENERIC_PRICE: [&str; 1] = ["price"];
const ALERT_ID: [&str; 3] = ["id", "alert_id", "signal_id"];
/// The position to end on (`{{strategy.position_size}}`, signed).
const TARGET: [&str; 2] = ["target_position", "position_size"];
/// Largest accepted `target_position`, in contracts either way: far above any real limit, so a typo is refused.
const MAX_TARGET: i64 = 100_000;
/// The alert's own timestamp, most precise first: TradingView `{{timenow}}` (the firing time), `alertTimestamp`,
/// TradersPost's `time` (its templates fill it with `{{timenow}}`), PickMyTrade's `date`. The first present wins;
/// they need not agree (`time` may hold the bar time while `timenow` holds the firing time).
const TIMESTAMP: [&str; 4] = ["timenow", "alertTimestamp", "time", "date"];

/// Size the entry by risk, in dollars (`executor::sizing`).
const RISK_USD: [&str; 1] = ["risk_usd"];
/// Move the stop to break-even once the open profit reaches this many ticks.
const BREAKEVEN_AFTER: [&str; 1] = ["breakeven_after_ticks"];
/// Ticks beyond the average entry price for a break-even stop.
const OFFSET: [&str; 1] = ["offset_ticks"];
/// Largest `breakeven_after_ticks` and `offset_ticks`: the bracket cap, as a stop never sits further away.
const MAX_BREAKEVEN_TICKS: u32 = super::MAX_BRACKET_TICKS;

/// PickMyTrade's list of targets; only an empty list is accepted.
const ADVANCE_TP_SL: &str = "advance_tp_sl";

/// Every top-level name [`intent`] reads or validates, except the brackets (`brackets::NAMES`) and the secret
/// fields (taken out before, see `body`).
pub(super) fn names() -> impl Iterator<Item = &'static str> {
    let read: [&[&'static str]; 17] = [
        &SYMBOL,
        &ACTION,
        &SENTIMENT,
        &QUANTITY,
        &ORDER_TYPE,
        &LIMIT_PRICE,
        &STOP_PRICE,
        &TRAIL_PRICE,
        &GENERIC_PRICE,
        &super::accounts::ACCOUNT,
        &super::accounts::ACCOUNTS,
        &ALERT_ID,
        &TIMESTAMP,
        &TARGET,
        &RISK_USD,
        &BREAKEVEN_AFTER,
        &OFFSET,
    ];
    read.into_iter().flatten().copied().chain(UNSUPPORTED_NONZERO.iter().map(|&(name, _)| name)).chain([ADVANCE_TP_SL])
}

/// TradingView tickers are short (`COMEX_MINI:MGC1!` is 16); anything much longer is not a symbol.
const MAX_SYMBOL_CHARS: usize = 40;
const MAX_ALERT_ID_CHARS: usize = 64;

const ACTIONS_ACCEPTED: &str =
    "buy, long, sell, short, exit, close, flat, flatten, reverse, cancel, breakeven, move_to_breakeven";
const ORDER_TYPES_ACCEPTED: &str = "market (MKT), limit (LMT), stop (STP), trailing_stop";
const QUANTITY_WHAT: &str = "a whole number of contracts, at least 1 (e.g. 1 or \"2\")";

/// PickMyTrade fields that change risk or size in ways pxrelay does not implement. Ignoring them would trade
/// without the protection or size the trader asked for, so a non-zero value is refused instead.
const UNSUPPORTED_NONZERO: [(&str, &str); 2] = [
    (
        "risk_percentage",
        "sizing by a percent of the account is not supported; give `quantity`, or `risk_usd` (dollars at risk)",
    ),
    ("trail", "trailing stop-loss management is not supported; use `order_type` trailing_stop for an entry"),
];

/// The position the sender expects after the order (`{{strategy.market_position}}` or TradersPost sentiment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MarketPosition {
    Long,
    Short,
    Flat,
}

/// Order types as named in payloads, before their price is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Market,
    Limit,
    Stop,
    TrailingStop,
}

pub(super) fn intent(obj: &Object) -> Result<Intent, SignalError> {
    // First, so `Action` is answered with its spelling rather than "action is missing".
    names::check(obj)?;
    let (_, symbol) = pick(obj, &SYMBOL, read_symbol)?.ok_or_else(|| {
        SignalError::new(
            "symbol",
            "is missing or empty; send the instrument, e.g. \"symbol\": \"{{ticker}}\" or \"MNQ1!\" (also accepted as `ticker` \
             or `instrument`)",
        )
    })?;
    let target_position = pick(obj, &TARGET, |f, v| signed_whole(f, v, MAX_TARGET))?.map(|(_, t)| t);
    let action = match (pick(obj, &ACTION, read_action)?, target_position) {
        (Some((field, action @ (Action::Exit | Action::Reverse | Action::Cancel | Action::Breakeven))), Some(_)) => {
            return Err(SignalError::new(
                field,
                format!(
                    "is {} while `target_position` is given; a target is reached by buys and sells: drop one of them",
                    action.as_str()
                ),
            ));
        }
        (Some(found), _) => Some(found),
        (None, Some(_)) => Some(("action", Action::Target)),
        (None, None) => None,
    };
    let (_, action) = action.ok_or_else(|| {
        SignalError::new(
            "action",
            format!(
                "is missing or empty; send one of {ACTIONS_ACCEPTED}, e.g. \"action\": \"{{{{strategy.order.action}}}}\" (also \
                 accepted as `side`, `signal` or `data`)"
            ),
        )
    })?;
    let stated = pick(obj, &SENTIMENT, read_sentiment)?;
    let close_only = match stated {
        Some((field, MarketPosition::Flat)) if action == Action::Reverse => {
            return Err(SignalError::new(
                field,
                "is flat, which contradicts action reverse (reverse ends in the opposite position); send exit to \
                 close, or drop the sentiment",
            ));
        }
        Some((_, MarketPosition::Flat)) => true,
        Some((_, MarketPosition::Long | MarketPosition::Short)) | None => false,
    };
    // Long or short is the side the position must end on (the executor's plan); reverse ignores it.
    let sentiment = match stated {
        Some((_, MarketPosition::Long)) if action != Action::Reverse => Some(Sentiment::Long),
        Some((_, MarketPosition::Short)) if action != Action::Reverse => Some(Sentiment::Short),
        _ => None,
    };
    for (field, hint) in UNSUPPORTED_NONZERO {
        refuse_nonzero(obj, field, hint)?;
    }
    if let Some(v @ Value::Array(items)) = obj.get(ADVANCE_TP_SL)
        && !items.is_empty()
    {
        return Err(SignalError::new(
            ADVANCE_TP_SL,
            format!("multiple targets are not supported (got {}); send one `tp` and one `sl`", describe(v)),
        ));
    }
    // Exit closes the whole position and cancel touches orders only: their quantity is not read (PickMyTrade
    // close alerts may carry 0), so it is the default 1.
    let quantity = if matches!(action, Action::Exit | Action::Cancel | Action::Breakeven) {
        1
    } else {
        pick(obj, &QUANTITY, |f, v| whole(f, v, 1, u32::MAX, QUANTITY_WHAT))?.map_or(1, |(_, q)| q)
    };
    let order = order_kind(obj)?;
    // Brackets are validated whatever the action (a typo should not pass silently) but only kept on entries:
    // a strategy template usually sends the same fields with its exit orders, where they mean nothing.
    let stop_loss = brackets::stop_loss(obj)?;
    let take_profit = brackets::take_profit(obj)?;
    let (account, accounts) = super::accounts::read(obj)?;
    let alert_id = pick(obj, &ALERT_ID, |f, v| identifier(f, v, MAX_ALERT_ID_CHARS))?.map(|(_, id)| id);
    let sent_at = match TIMESTAMP.iter().find_map(|&f| obj.get(f).map(|v| (f, v))) {
        Some((field, v)) => timestamp(field, v)?,
        None => None,
    };
    let risk_usd = pick(obj, &RISK_USD, super::values::price)?;
    let breakeven_after = pick(obj, &BREAKEVEN_AFTER, |f, v| whole(f, v, 0, MAX_BREAKEVEN_TICKS, BREAKEVEN_WHAT))?
        .filter(|(_, n)| *n > 0);
    let offset = pick(obj, &OFFSET, |f, v| whole(f, v, 0, MAX_BREAKEVEN_TICKS, OFFSET_WHAT))?;
    let mut intent = Intent {
        symbol: symbol.to_owned(),
        action,
        close_only,
        sentiment,
        quantity,
        order,
        stop_loss,
        take_profit,
        account,
        accounts,
        alert_id,
        target_position,
        sent_at,
        risk_usd: risk_usd.map(|(_, r)| r),
        breakeven_after_ticks: breakeven_after.map(|(_, n)| n),
        offset_ticks: offset.map(|(_, n)| n),
    };
    if !intent.is_entry() {
        intent.stop_loss = None;
        intent.take_profit = None;
        intent.risk_usd = None;
        intent.breakeven_after_ticks = None;
    }
    check_risk_fields(&intent, risk_usd.map(|(f, _)| f), breakeven_after.map(|(f, _)| f), offset.map(|(f, _)| f))?;
    if intent.action != Action::Breakeven && intent.breakeven_after_ticks.is_none() {
        intent.offset_ticks = None;
    }
    Ok(intent)
}

const BREAKEVEN_WHAT: &str = "a whole number of ticks of open profit from 1 to 1000 (0 for none)";
const OFFSET_WHAT: &str = "a whole number of ticks from 0 to 1000 beyond the average entry price";

/// The rules tying `risk_usd`, `breakeven_after_ticks` and `offset_ticks` to the rest of an entry (checked after
/// the brackets of non-entries were dropped, so an exit carrying a template's fields is not refused). The field
/// arguments are the spellings found, for the messages.
fn check_risk_fields(
    intent: &Intent,
    risk: Option<&'static str>,
    after: Option<&'static str>,
    offset: Option<&'static str>,
) -> Result<(), SignalError> {
    use super::Distance;
    if let Some(field) = risk.filter(|_| intent.risk_usd.is_some()) {
        if intent.target_position.is_some() {
            return Err(SignalError::new(
                field,
                "cannot size an alert that gives `target_position` (the target is the size); drop one of them",
            ));
        }
        match intent.stop_loss {
            None => {
                return Err(SignalError::new(
                    field,
                    "needs a stop loss to size from (risk ÷ (stop ticks × tick value)); add `stop_loss_ticks` or \
                     another stop field",
                ));
            }
            Some(Distance::Usd(_)) => {
                return Err(SignalError::new(
                    field,
                    "cannot size from a stop in dollars (the stop's ticks would depend on the size); give the stop in \
                     ticks, points, price or percent",
                ));
            }
            Some(_) => {}
        }
    }
    let dollars = |d: Option<Distance>| matches!(d, Some(Distance::Usd(_)));
    if intent.target_position.is_some() && (dollars(intent.stop_loss) || dollars(intent.take_profit)) {
        let field = if dollars(intent.stop_loss) { "stop_loss_usd" } else { "take_profit_usd" };
        return Err(SignalError::new(
            field,
            "cannot be used with `target_position`: dollars become ticks over the order's size, which only the \
             position at execution decides; give the bracket in ticks, points, price or percent",
        ));
    }
    if let Some(field) = after.filter(|_| intent.breakeven_after_ticks.is_some())
        && intent.stop_loss.is_none()
    {
        return Err(SignalError::new(
            field,
            "needs a stop loss to move (there is no stop leg without one); add `stop_loss_ticks` or another stop field",
        ));
    }
    if let (Some(field), Some(after), Some(offset)) = (offset, intent.breakeven_after_ticks, intent.offset_ticks)
        && offset >= after
    {
        return Err(SignalError::new(
            field,
            format!(
                "is {offset}, not less than `breakeven_after_ticks` {after}: the stop would be moved to or past the \
                 price that triggers the move"
            ),
        ));
    }
    Ok(())
}

fn read_symbol<'a>(field: &'static str, v: &'a Value) -> Result<Option<&'a str>, SignalError> {
    let Some(s) = text(field, v)? else { return Ok(None) };
    if s.chars().count() > MAX_SYMBOL_CHARS {
        return Err(SignalError::new(
            field,
            format!("is longer than {MAX_SYMBOL_CHARS} characters; expected a ticker such as \"CME_MINI:MNQ1!\""),
        ));
    }
    if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(SignalError::new(
            field,
            format!("{} contains spaces or control characters; expected a ticker such as \"MNQ1!\"", describe(v)),
        ));
    }
    Ok(Some(s))
}

/// A signed whole number of contracts within ±`max` (`"-2"`, `3`, `"0"`).
fn signed_whole(field: &'static str, v: &Value, max: i64) -> Result<Option<i64>, SignalError> {
    use rust_decimal::prelude::ToPrimitive;
    let Some(s) = text(field, v)? else { return Ok(None) };
    let what = format!("a whole number of contracts from -{max} to {max} (long > 0, short < 0, 0 flat)");
    let n = super::values::parse_decimal(s).filter(Decimal::is_integer).and_then(|d| d.to_i64());
    match n.filter(|n| n.abs() <= max) {
        Some(n) => Ok(Some(n)),
        None => Err(SignalError::new(field, format!("{} is not accepted; expected {what}", describe(v)))),
    }
}

/// A timestamp as TradingView and the bridges write it: RFC 3339 (`2026-11-29T14:31:59Z`, what `{{timenow}}` gives),
/// `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DDTHH:MM:SS` without a zone (taken as UTC), or unix seconds / milliseconds.
fn timestamp(field: &'static str, v: &Value) -> Result<Option<chrono::DateTime<chrono::Utc>>, SignalError> {
    use chrono::{DateTime, NaiveDateTime, Utc};
    let Some(s) = text(field, v)? else { return Ok(None) };
    let parsed = DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
                .iter()
                .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
                .map(|t| t.and_utc())
        })
        .or_else(|| match s.parse::<i64>() {
            // 10 digits are seconds until 2286; 13 digits are milliseconds.
            Ok(n) if (1_000_000_000..10_000_000_000).contains(&n) => DateTime::from_timestamp(n, 0),
            Ok(n) if (1_000_000_000_000..10_000_000_000_000).contains(&n) => DateTime::from_timestamp_millis(n),
            _ => None,
        });
    parsed.map(Some).ok_or_else(|| {
        SignalError::new(
            field,
            format!(
                "{} is not a time; expected what {{{{timenow}}}} gives (2026-11-29T14:31:59Z), \
                 \"2026-11-29 14:31:59\" (UTC) or unix seconds/milliseconds",
                describe(v)
            ),
        )
    })
}

fn read_action(field: &'static str, v: &Value) -> Result<Option<Action>, SignalError> {
    let Some(s) = text(field, v)? else { return Ok(None) };
    let is = |names: &[&str]| names.iter().any(|n| s.eq_ignore_ascii_case(n));
    let action = if is(&["buy", "long"]) {
        Action::Buy
    } else if is(&["sell", "short"]) {
        Action::Sell
    } else if is(&["exit", "close", "flat", "flatten"]) {
        Action::Exit
    } else if is(&["reverse"]) {
        Action::Reverse
    } else if is(&["cancel"]) {
        Action::Cancel
    } else if is(&["breakeven", "move_to_breakeven"]) {
        Action::Breakeven
    } else {
        return Err(SignalError::new(field, format!("{} is not an action; expected {ACTIONS_ACCEPTED}", describe(v))));
    };
    Ok(Some(action))
}

fn read_sentiment(field: &'static str, v: &Value) -> Result<Option<MarketPosition>, SignalError> {
    let Some(s) = text(field, v)? else { return Ok(None) };
    let is = |names: &[&str]| names.iter().any(|n| s.eq_ignore_ascii_case(n));
    if is(&["flat"]) {
        Ok(Some(MarketPosition::Flat))
    } else if is(&["long", "bullish"]) {
        Ok(Some(MarketPosition::Long))
    } else if is(&["short", "bearish"]) {
        Ok(Some(MarketPosition::Short))
    } else {
        Err(SignalError::new(
            field,
            format!(
                "{} is not a position; expected long, short or flat ({{{{strategy.market_position}}}}), or bullish / \
                 bearish",
                describe(v)
            ),
        ))
    }
}

fn read_kind(field: &'static str, v: &Value) -> Result<Option<Kind>, SignalError> {
    let Some(s) = text(field, v)? else { return Ok(None) };
    let is = |names: &[&str]| names.iter().any(|n| loose_eq(s, n));
    let kind = if is(&["market", "mkt"]) {
        Kind::Market
    } else if is(&["limit", "lmt"]) {
        Kind::Limit
    } else if is(&["stop", "stp", "stopmarket", "stopmkt"]) {
        Kind::Stop
    } else if is(&["trailingstop", "trailing", "trail", "trailstop"]) {
        Kind::TrailingStop
    } else if is(&["stoplimit", "stplmt", "stplimit"]) {
        return Err(SignalError::new(
            field,
            format!("stop-limit orders are not supported by pxrelay; accepted: {ORDER_TYPES_ACCEPTED}"),
        ));
    } else {
        return Err(SignalError::new(
            field,
            format!("{} is not an order type; accepted: {ORDER_TYPES_ACCEPTED}", describe(v)),
        ));
    };
    Ok(Some(kind))
}

/// Case-insensitive comparison that ignores `_`, `-` and spaces (`Trailing-Stop` = `trailingstop`).
fn loose_eq(input: &str, word: &str) -> bool {
    let mut letters = input.bytes().filter(|b| !matches!(b, b'_' | b'-' | b' ')).map(|b| b.to_ascii_lowercase());
    word.bytes().all(|w| letters.next() == Some(w)) && letters.next().is_none()
}

fn order_kind(obj: &Object) -> Result<OrderKind, SignalError> {
    let kind = pick(obj, &ORDER_TYPE, read_kind)?.map_or(Kind::Market, |(_, k)| k);
    let limit = pick(obj, &LIMIT_PRICE, price)?;
    let stop = pick(obj, &STOP_PRICE, price)?;
    let trail = pick(obj, &TRAIL_PRICE, price)?;
    let (needed, name, accepted, given, make): (_, _, _, _, fn(Decimal) -> OrderKind) = match kind {
        Kind::Market => {
            if let Some((field, _)) = limit.or(stop).or(trail) {
                return Err(SignalError::new(
                    field,
                    "is set but the order type is market; send \"order_type\": \"limit\" (or stop, trailing_stop) \
                     to use it, or remove it",
                ));
            }
            return Ok(OrderKind::Market);
        }
        Kind::Limit => ("limit_price", "limit", "`limit_price`, `limitPrice` or `price`", limit, OrderKind::Limit),
        Kind::Stop => ("stop_price", "stop", "`stop_price`, `stopPrice` or `price`", stop, OrderKind::Stop),
        Kind::TrailingStop => {
            let accepted = "`trail_price` or `trailPrice` (a price level)";
            ("trail_price", "trailing_stop", accepted, trail, OrderKind::TrailingStop)
        }
    };
    for (other, field) in [(limit, "limit_price"), (stop, "stop_price"), (trail, "trail_price")] {
        if let Some((spelled, _)) = other
            && field != needed
        {
            return Err(SignalError::new(
                spelled,
                format!("does not apply to a {name} order, which takes its price in {accepted}"),
            ));
        }
    }
    let given = match given {
        Some((_, p)) => Some(p),
        None if kind != Kind::TrailingStop => pick(obj, &GENERIC_PRICE, price)?.map(|(_, p)| p),
        None => None,
    };
    given.map(make).ok_or_else(|| {
        SignalError::new(needed, format!("is missing or 0; a {name} order needs a price > 0 in {accepted}"))
    })
}

/// Refuses a non-zero value in a field pxrelay cannot honour (see [`UNSUPPORTED_NONZERO`]).
fn refuse_nonzero(obj: &Object, field: &'static str, hint: &str) -> Result<(), SignalError> {
    let Some(v) = obj.get(field) else { return Ok(()) };
    let zero = match v {
        Value::Null | Value::Bool(false) => true,
        Value::Number(_) | Value::String(_) => {
            text(field, v)?.is_none_or(|s| s.trim_start_matches(['-', '+']).bytes().all(|b| matches!(b, b'0' | b'.')))
        }
        Value::Bool(true) | Value::Array(_) | Value::Object(_) => false,
    };
    if zero {
        return Ok(());
    }
    Err(SignalError::new(field, format!("{} is not supported by pxrelay (only 0 is accepted); {hint}", describe(v))))
}
