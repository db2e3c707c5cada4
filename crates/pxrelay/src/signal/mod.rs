//! TradingView alert payload → validated trading intent. Pure: no I/O, no clock, no configuration.
//!
//! The webhook route hands the raw body to [`Envelope::parse`] (or [`parse_alert`], which does both steps): the
//! body is trimmed, parsed as one JSON object, the offered secret is taken out and a redacted copy is kept for the
//! journal. [`Envelope::intent`] then reads the trading fields, accepting our own names and the common aliases used
//! by TradingView templates, TradersPost and PickMyTrade (see `docs/tradingview.md`, which lists every field).
//! Every rejection is a [`SignalError`] naming the offending field and what would have been accepted, because the
//! person reading it is a trader looking at TradingView's alert log, not a developer.
//!
//! Conversions that need market data (bracket prices → signed ticks) live in [`bracket_ticks`], which the executor
//! calls once it knows the contract's tick size and the entry price. [`alert_key`] and [`custom_tag`] derive the
//! identifiers used for deduplication and for the gateway's `customTag`.
//!
//! Unknown fields are ignored (alert messages carry extra text), except two kinds that would otherwise pass
//! silently and trade without what the sender asked for: a name differing only in case from one pxrelay reads
//! (`Action`), and a name that looks like a stop, target, trail, bracket or risk setting but is not one pxrelay
//! reads (`stoploss`). Both are refused naming the field to use instead (`names`).
//!
//! Layout: `body` (envelope, secret, redaction) · `values` (typed readers, alias agreement) · `fields` (the intent)
//! · `accounts` (which accounts and groups) · `names` (misspelled and look-alike field names) · `brackets` (stop loss / take profit) · `ids` (alert ids,
//! custom tags).

mod accounts;
mod body;
mod brackets;
mod fields;
mod ids;
mod names;
mod values;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub use body::Envelope;
pub use brackets::bracket_ticks;
pub use ids::{AlertKey, Dedup, alert_key, content_key, custom_tag};

/// The largest bracket distance ProjectX accepts, in ticks (reported cap, see the gateway notes §6.6).
pub const MAX_BRACKET_TICKS: u32 = 1000;

/// Parses a webhook body into a validated alert (secret, redacted body, intent). Equivalent to
/// `Envelope::parse(body)?.into_alert()`; use the two steps when the secret must be checked before the trading
/// fields are validated (so an unauthenticated caller never learns why its payload was wrong).
pub fn parse_alert(body: &[u8]) -> Result<Alert, SignalError> {
    Envelope::parse(body)?.into_alert()
}

/// A parsed webhook alert.
#[derive(Clone, PartialEq, Eq)]
pub struct Alert {
    /// What to trade.
    pub intent: Intent,
    /// The secret the body carried in `secret`, `passphrase`, `key` or `token` (exact text, not trimmed). Compare it
    /// in constant time and never log it; `Debug` prints it redacted.
    pub offered_secret: Option<String>,
    /// The body as compact JSON with every secret-like field removed at any depth: safe to journal.
    pub redacted_body: String,
}

impl fmt::Debug for Alert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Alert")
            .field("intent", &self.intent)
            .field("offered_secret", &self.offered_secret.as_ref().map(|_| "<redacted>"))
            .field("redacted_body", &self.redacted_body)
            .finish()
    }
}

/// One validated trading intent, independent of the payload dialect it came in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// The symbol as given, trimmed (`CME_MINI:MNQ1!`, `MNQ`, `MNQZ2025`); the contract resolver maps it.
    pub symbol: String,
    /// What to do.
    pub action: Action,
    /// Only close an opposite position, never open or add: `sentiment`/`market_position` was `flat` (TradersPost
    /// semantics: `sell` + flat closes a long and never opens a short; `buy` + flat closes a short and never
    /// opens a long). `exit` + flat is also close-only; `reverse` + flat is rejected.
    pub close_only: bool,
    /// The side the position must end on (`sentiment`/`market_position` long, bullish, short, bearish) for a buy
    /// or sell; `None` without one, for flat (that is [`Intent::close_only`]) and for the other actions. The executor
    /// turns it into the orders that reach it (`executor::plan`; `docs/tradingview.md` §4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentiment: Option<Sentiment>,
    /// Contracts, at least 1; 1 when the payload gives none. Not read for `exit` and `cancel` (always 1 there).
    pub quantity: u32,
    /// Entry order type and its price.
    pub order: OrderKind,
    /// Protective stop; `None` when not given, zero, or the intent is not an entry.
    pub stop_loss: Option<Distance>,
    /// Profit target; `None` when not given, zero, or the intent is not an entry.
    pub take_profit: Option<Distance>,
    /// `account` (or `account_id`/`accountId`) as given, trimmed: an account name or id, an `ACCOUNT_GROUPS`
    /// group, or a comma-separated list of them; for `accounts: [..]`, its names joined with `,`. `None` means the
    /// configured default. Fan-out reads [`Intent::requested_accounts`].
    pub account: Option<String>,
    /// The names in `account`/`accounts`, in order (not yet resolved: `crate::accounts::Accounts::targets`);
    /// empty means the default. Journal rows written before it have none: read [`Intent::requested_accounts`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
    /// The sender's alert id (≤ 64 printable characters); `None` means one is derived ([`alert_key`]).
    pub alert_id: Option<String>,
    /// `target_position` (`position_size`, TradingView's `{{strategy.position_size}}`): the signed position (long > 0,
    /// short < 0, 0 flat) the account must end on; when given it alone sizes the order (`action` and `quantity`, if
    /// present, do not), and repeating it is harmless (already there → `noop`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_position: Option<i64>,
    /// The alert's own timestamp (`timenow`, `alertTimestamp`, `time` or PickMyTrade's `date`, first present wins),
    /// UTC: part of the duplicate key, and an alert older than `MAX_ALERT_AGE_SECS` by it is never sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<chrono::DateTime<chrono::Utc>>,
    /// `risk_usd`: size the entry by risk, in account currency (USD): quantity = ⌊risk ÷ (stop ticks × tick
    /// value)⌋, capped by `MAX_CONTRACTS` (`executor::sizing`). Only on entries with a stop loss and without
    /// `target_position`; it replaces `quantity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_usd: Option<Decimal>,
    /// `breakeven_after_ticks`: on an entry with a stop loss, move the stop to break-even once the open profit
    /// reaches this many ticks (`executor::breakeven_watch`), once. 1..=1000; `None` when absent or 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakeven_after_ticks: Option<u32>,
    /// `offset_ticks`: ticks beyond the average entry price the break-even stop goes (a long's stop at avg +
    /// offset, a short's at avg − offset); for `breakeven` and for the move `breakeven_after_ticks` makes. 0..=1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_ticks: Option<u32>,
}

impl Intent {
    /// The account names, ids and groups the alert asked for ([`Intent::accounts`]; for an intent journaled before
    /// that field, `account` split at commas); empty means the default.
    pub fn requested_accounts(&self) -> Vec<String> {
        if !self.accounts.is_empty() {
            return self.accounts.clone();
        }
        let text = self.account.as_deref().unwrap_or("");
        text.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned).collect()
    }

    /// Whether this intent may open or add to a position (and so may carry brackets).
    pub fn is_entry(&self) -> bool {
        matches!(self.action, Action::Buy | Action::Sell | Action::Reverse | Action::Target) && !self.close_only
    }

    /// Whether a bracket is given as a price, so converting it to ticks needs the entry price.
    pub fn has_price_bracket(&self) -> bool {
        [&self.stop_loss, &self.take_profit]
            .iter()
            .any(|d| matches!(d, Some(Distance::Price(_) | Distance::Percent(_))))
    }

    /// Whether converting the brackets or the size needs the contract's tick value or a price (`risk_usd`, a
    /// bracket in dollars or percent): `executor::sizing` does that before anything else.
    pub fn needs_sizing(&self) -> bool {
        self.risk_usd.is_some()
            || [&self.stop_loss, &self.take_profit]
                .iter()
                .any(|d| matches!(d, Some(Distance::Usd(_) | Distance::Percent(_))))
    }
}

/// The side a position must end on after a buy or sell, as the sender states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sentiment {
    /// `long`, `bullish`.
    Long,
    /// `short`, `bearish`.
    Short,
}

/// What the alert asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// `buy`, `long`.
    Buy,
    /// `sell`, `short`.
    Sell,
    /// `exit`, `close`, `flat`, `flatten`: close the whole position.
    Exit,
    /// `reverse`: close the current position, then enter the other way.
    Reverse,
    /// `cancel`: cancel the contract's working orders.
    Cancel,
    /// No `action`, but a `target_position`: the one order that takes the position there.
    Target,
    /// `breakeven`, `move_to_breakeven`: move the stop-loss leg of the open position to the average entry price ±
    /// `offset_ticks` (`Order/modify`); never loosens a stop.
    Breakeven,
}

impl Action {
    /// The lowercase name used in the journal and in [`content_key`].
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buy => "buy",
            Self::Sell => "sell",
            Self::Exit => "exit",
            Self::Reverse => "reverse",
            Self::Cancel => "cancel",
            Self::Target => "target",
            Self::Breakeven => "breakeven",
        }
    }

    /// The order side of a buy or sell; `None` for the others (their side depends on the open position).
    pub fn side(self) -> Option<projectx::OrderSide> {
        match self {
            Self::Buy => Some(projectx::OrderSide::Bid),
            Self::Sell => Some(projectx::OrderSide::Ask),
            Self::Exit | Self::Reverse | Self::Cancel | Self::Target | Self::Breakeven => None,
        }
    }
}

/// The entry order type. Prices are as given (positive, not yet checked against the tick grid).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "price", rename_all = "snake_case")]
pub enum OrderKind {
    /// Market order (the default).
    Market,
    /// Limit order at this price (`limitPrice`).
    Limit(#[serde(serialize_with = "values::decimal_text")] Decimal),
    /// Stop order triggering at this price (`stopPrice`).
    Stop(#[serde(serialize_with = "values::decimal_text")] Decimal),
    /// Trailing stop starting at this price level (`trailPrice`, a level on place, not a distance).
    TrailingStop(#[serde(serialize_with = "values::decimal_text")] Decimal),
}

impl OrderKind {
    /// The gateway's order type.
    pub fn order_type(self) -> projectx::OrderType {
        match self {
            Self::Market => projectx::OrderType::Market,
            Self::Limit(_) => projectx::OrderType::Limit,
            Self::Stop(_) => projectx::OrderType::Stop,
            Self::TrailingStop(_) => projectx::OrderType::TrailingStop,
        }
    }

    /// The price this order carries; `None` for market orders. This is the `reference` for [`bracket_ticks`].
    pub fn price(self) -> Option<Decimal> {
        match self {
            Self::Market => None,
            Self::Limit(p) | Self::Stop(p) | Self::TrailingStop(p) => Some(p),
        }
    }

    /// The entry price the order itself fixes (limit and stop orders); market and trailing orders have none.
    pub fn entry_price(self) -> Option<Decimal> {
        match self {
            Self::Limit(p) | Self::Stop(p) => Some(p),
            Self::Market | Self::TrailingStop(_) => None,
        }
    }

    /// Rejects a price that is not a multiple of `tick_size` (the gateway would reject it with a vaguer message).
    pub fn check_tick_aligned(self, tick_size: Decimal) -> Result<(), SignalError> {
        let (field, price) = match self {
            Self::Market => return Ok(()),
            Self::Limit(p) => ("limit_price", p),
            Self::Stop(p) => ("stop_price", p),
            Self::TrailingStop(p) => ("trail_price", p),
        };
        brackets::on_grid(field, price, tick_size).map(|_| ())
    }
}

/// A bracket distance as the alert expressed it; [`bracket_ticks`] turns it into signed gateway ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "unit", content = "value", rename_all = "snake_case")]
pub enum Distance {
    /// Ticks from the entry price (1..=1000), unsigned: the side decides the sign.
    Ticks(u32),
    /// An absolute price level.
    Price(#[serde(serialize_with = "values::decimal_text")] Decimal),
    /// Points (price units) from the entry price, unsigned (TradersPost `amount`).
    Points(#[serde(serialize_with = "values::decimal_text")] Decimal),
    /// Account currency (USD) for the whole order (`stop_loss_usd`, PickMyTrade `dollar_sl`): ticks = amount ÷
    /// (tick value × quantity), rounded toward the entry (`executor::sizing`).
    Usd(#[serde(serialize_with = "values::decimal_text")] Decimal),
    /// Percent of the entry price (`stop_loss_percent`, `stopLoss.percent`, PickMyTrade `percentage_sl`): ticks =
    /// price × percent ÷ 100 ÷ tick size, rounded toward the entry (`executor::sizing`).
    Percent(#[serde(serialize_with = "values::decimal_text")] Decimal),
}

/// A rejected payload: which field, what was wrong, and what is accepted. Never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SignalError {
    /// The payload field (as the sender spelled it when known, e.g. `ticker`, or a misspelled name such as
    /// `stoploss`), or `body`. Compares with `&str` (`err.field == "symbol"`).
    pub field: Cow<'static, str>,
    /// What was wrong and what would be accepted.
    pub message: String,
}

impl SignalError {
    /// A rejection of `field` (a `&'static str` for the names pxrelay reads, a `String` for a name the sender
    /// made up).
    pub fn new(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}
