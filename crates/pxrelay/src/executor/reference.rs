//! The entry reference price for brackets given as prices: the one rule, used by the webhook's pre-check (before
//! anything is journaled) and by the executor (when the order is built).
//!
//! A bracket given as an absolute price (`stop_loss_price`) is sent to the gateway as signed ticks from the entry,
//! so it needs the entry price. A limit or stop entry fixes it (its own price); a market (or trailing) entry has
//! none, so the market's price stands in: the last trade, else the bid, else the ask — and only a **fresh** one, since
//! a stale quote would put the native stop where the alert did not ask for it. Brackets in ticks or points need no
//! reference at all.
//!
//! The **slippage** reference is another rule ([`at_arrival`]): the price the trader could see when the alert
//! arrived — an order's own limit/stop price, else the touch of a fresh streamed quote (the ask for a buy, the bid
//! for a sell), else none (no slippage is computed then).

use std::future::Future;

use rust_decimal::Decimal;

use crate::signal::{Intent, OrderKind};

/// The best bid and ask of a fresh streamed quote, taken when an alert arrives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Touch {
    /// Best bid.
    pub bid: Option<Decimal>,
    /// Best ask.
    pub ask: Option<Decimal>,
}

/// The slippage reference of an order on `side`: its own limit or stop price, else the touch at arrival (the ask
/// for a buy, the bid for a sell); `None` without a touch (no fresh quote when the alert arrived).
pub fn at_arrival(order: OrderKind, side: projectx::OrderSide, touch: Option<Touch>) -> Option<Decimal> {
    if let Some(own) = order.entry_price() {
        return Some(own);
    }
    let touch = touch?;
    match side {
        projectx::OrderSide::Bid => touch.ask,
        _ => touch.bid,
    }
}

/// What an intent's brackets are measured from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reference {
    /// No bracket is given as a price: ticks and points need no reference.
    NotNeeded,
    /// The price the signed ticks are counted from.
    Price(Decimal),
    /// A price bracket on a market entry with no fresh market price: the brackets cannot be converted now.
    Unavailable,
}

impl Reference {
    /// The price, when there is one.
    pub fn price(self) -> Option<Decimal> {
        match self {
            Self::Price(p) => Some(p),
            Self::NotNeeded | Self::Unavailable => None,
        }
    }
}

/// The reference for `intent`'s brackets. `fresh_market_price` is asked only when the rule needs it (a price
/// bracket on an entry without a price of its own); it answers a fresh price or `None` (see [`market_price`]).
pub async fn bracket_reference<F>(intent: &Intent, fresh_market_price: impl FnOnce() -> F) -> Reference
where
    F: Future<Output = Option<Decimal>>,
{
    if let Some(own) = intent.order.entry_price() {
        return Reference::Price(own);
    }
    if !intent.has_price_bracket() {
        return Reference::NotNeeded;
    }
    match fresh_market_price().await {
        Some(p) => Reference::Price(p),
        None => Reference::Unavailable,
    }
}

/// The market's price from a quote: the last trade, else the bid, else the ask.
pub fn market_price(last: Option<Decimal>, bid: Option<Decimal>, ask: Option<Decimal>) -> Option<Decimal> {
    last.or(bid).or(ask)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(body: &str) -> Intent {
        crate::signal::parse_alert(body.as_bytes()).expect("a valid test alert").intent
    }

    async fn reference(body: &str, market: Option<Decimal>) -> (Reference, bool) {
        let asked = std::cell::Cell::new(false);
        let r = bracket_reference(&intent(body), || {
            asked.set(true);
            std::future::ready(market)
        })
        .await;
        (r, asked.get())
    }

    #[tokio::test]
    async fn the_entry_price_wins_then_a_fresh_market_price_and_only_when_a_price_bracket_needs_it() {
        let market = Some(Decimal::new(210_005, 1));
        let limit = r#"{"symbol":"MNQ","action":"buy","order_type":"limit","limit_price":21000,"stop_loss":20990}"#;
        assert_eq!(reference(limit, market).await, (Reference::Price(Decimal::from(21000)), false));
        let priced = r#"{"symbol":"MNQ","action":"buy","stop_loss":20990}"#;
        assert_eq!(reference(priced, market).await, (Reference::Price(Decimal::new(210_005, 1)), true));
        assert_eq!(reference(priced, None).await, (Reference::Unavailable, true));
        let ticks = r#"{"symbol":"MNQ","action":"buy","stop_loss_ticks":40}"#;
        assert_eq!(reference(ticks, market).await, (Reference::NotNeeded, false));
    }

    #[test]
    fn the_slippage_reference_is_the_own_price_else_the_far_touch_else_none() {
        use projectx::OrderSide::{Ask, Bid};
        let touch = Some(Touch { bid: Some(Decimal::from(100)), ask: Some(Decimal::from(101)) });
        assert_eq!(at_arrival(OrderKind::Market, Bid, touch), Some(Decimal::from(101)), "a buy pays the ask");
        assert_eq!(at_arrival(OrderKind::Market, Ask, touch), Some(Decimal::from(100)), "a sell hits the bid");
        assert_eq!(at_arrival(OrderKind::Limit(Decimal::from(99)), Bid, touch), Some(Decimal::from(99)));
        assert_eq!(at_arrival(OrderKind::Stop(Decimal::from(98)), Ask, None), Some(Decimal::from(98)));
        assert_eq!(at_arrival(OrderKind::Market, Bid, None), None, "no fresh quote: no reference");
    }

    #[test]
    fn the_market_price_is_the_last_trade_else_the_bid_else_the_ask() {
        let (l, b, a) = (Some(Decimal::ONE), Some(Decimal::TWO), Some(Decimal::TEN));
        assert_eq!(market_price(l, b, a), l);
        assert_eq!(market_price(None, b, a), b);
        assert_eq!(market_price(None, None, a), a);
        assert_eq!(market_price(None, None, None), None);
    }
}
