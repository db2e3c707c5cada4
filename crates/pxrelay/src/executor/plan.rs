//! From a buy/sell alert and the current position to the orders that reach the position the alert means. Pure: no
//! I/O, table-tested (position short / flat / long × action × sentiment).
//!
//! Two steps, each one rule:
//! 1. [`target`]: the signed position (contracts, long > 0) the alert asks for. Without a sentiment it is the plain
//!    net (`buy q` adds q). With `market_position`/`sentiment` long or short (the side the position must end on,
//!    TradersPost's and TradingView's meaning): the net when it ends on that side (this keeps TradingView's own
//!    strategy reversal — short 1, `buy 2` + long — at long 1); an order against the stated side (`sell` + long) is
//!    reduce-only, capped at flat; an order towards it that would not reach it (`buy 1` + long while short 3) covers
//!    the position and enters `quantity` on the stated side (TradersPost's side swap). `flat` is close-only and
//!    handled before this (`Intent::close_only`).
//! 2. [`plan`]: the orders from the current position to the target: a closing part (reduces or closes, never
//!    carries brackets) and an opening part (opens or adds, carries the alert's brackets sized to it). An order that
//!    crosses zero becomes a close, then an entry of the remainder — as `reverse` does. `MAX_CONTRACTS` applies to the
//!    opening part and to the resulting position, never to the closing part ([`Plan::check_limit`]).

use projectx::OrderSide;

use crate::signal::{Action, Sentiment};

/// The signed position `action` (buy or sell) of `quantity` with `sentiment` asks for, from `position`.
/// Other actions are not buys or sells: their target is the position itself.
pub fn target(position: i64, action: Action, quantity: u32, sentiment: Option<Sentiment>) -> i64 {
    let q = i64::from(quantity);
    let (delta, stated) = match action {
        Action::Buy => (q, sentiment.map(|s| s == Sentiment::Long)),
        Action::Sell => (-q, sentiment.map(|s| s == Sentiment::Short)),
        Action::Exit | Action::Reverse | Action::Cancel | Action::Target | Action::Breakeven => return position,
    };
    let net = position + delta;
    // The stated side as a sign: +1 long, -1 short.
    let side = match sentiment {
        None => return net,
        Some(Sentiment::Long) => 1,
        Some(Sentiment::Short) => -1,
    };
    if net.signum() == side {
        return net;
    }
    match stated {
        // Towards the stated side but short of it: cover, then `quantity` on the stated side.
        Some(true) => side * q,
        // Against the stated side: reduce-only, never past flat (nothing when there is nothing on the stated side).
        _ if position.signum() == side => 0,
        _ => position,
    }
}

/// One order of a plan: which side and how many contracts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    /// Buy or sell.
    pub side: OrderSide,
    /// Contracts, at least 1.
    pub size: i64,
}

/// The orders from a position to a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The position now (signed contracts).
    pub from: i64,
    /// The position after both parts (signed contracts).
    pub to: i64,
    /// Reduces or closes the current position; never carries brackets.
    pub close: Option<Part>,
    /// Opens or adds; carries the alert's brackets, sized to this part.
    pub open: Option<Part>,
}

impl Plan {
    /// Whether the closing part closes the whole position.
    pub fn closes_all(&self) -> bool {
        self.close.is_some_and(|c| c.size == self.from.abs())
    }

    /// `MAX_CONTRACTS`: the opening part and the resulting position must fit; the closing part always may go.
    /// `Err` says which limit and by how much.
    pub fn check_limit(&self, max: u32) -> Result<(), String> {
        let max = i64::from(max);
        let Some(open) = self.open else { return Ok(()) };
        if open.size > max {
            return Err(format!("the entry of {} contracts exceeds MAX_CONTRACTS {max}", open.size));
        }
        if self.to.abs() > max {
            return Err(format!("the position would be {} contracts, beyond MAX_CONTRACTS {max}", self.to));
        }
        Ok(())
    }
}

/// The closing and opening parts from `from` to `to` (signed contracts).
pub fn plan(from: i64, to: i64) -> Plan {
    let side = |delta: i64| if delta > 0 { OrderSide::Bid } else { OrderSide::Ask };
    let part = |delta: i64| (delta != 0).then(|| Part { side: side(delta), size: delta.abs() });
    let (close, open) = if from == 0 || from.signum() == to.signum() {
        // Same side (or from flat): one part, closing when it shrinks the position, opening when it grows it.
        if to.abs() < from.abs() { (part(to - from), None) } else { (None, part(to - from)) }
    } else {
        // Crossing zero or ending flat: close everything first, then open the rest on the other side.
        (part(-from), part(to))
    };
    Plan { from, to, close, open }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: OrderSide = OrderSide::Bid;
    const S: OrderSide = OrderSide::Ask;

    fn part(side: OrderSide, size: i64) -> Option<Part> {
        Some(Part { side, size })
    }

    /// Position short 2 / flat / long 2 × buy/sell 1 or 4 × no sentiment, long, short: the target position.
    #[test]
    fn the_target_of_every_position_action_and_sentiment() {
        use Sentiment::{Long, Short};
        #[rustfmt::skip]
        let table: &[(i64, Action, u32, Option<Sentiment>, i64)] = &[
            // no sentiment: the plain net
            (-2, Action::Buy, 1, None, -1), (0, Action::Buy, 1, None, 1), (2, Action::Buy, 1, None, 3),
            (-2, Action::Sell, 1, None, -3), (0, Action::Sell, 1, None, -1), (2, Action::Sell, 1, None, 1),
            (-2, Action::Buy, 4, None, 2), (2, Action::Sell, 4, None, -2),
            // buy + long: the net when it ends long, else cover and enter `quantity` long
            (-1, Action::Buy, 1, Some(Long), 1), (-3, Action::Buy, 1, Some(Long), 1), (-1, Action::Buy, 2, Some(Long), 1),
            (0, Action::Buy, 1, Some(Long), 1), (2, Action::Buy, 1, Some(Long), 3), (-2, Action::Buy, 4, Some(Long), 2),
            // sell + long: reduce-only, capped at flat; nothing when not long
            (2, Action::Sell, 1, Some(Long), 1), (2, Action::Sell, 4, Some(Long), 0), (1, Action::Sell, 1, Some(Long), 0),
            (0, Action::Sell, 1, Some(Long), 0), (-2, Action::Sell, 1, Some(Long), -2),
            // sell + short and buy + short: the mirror image
            (1, Action::Sell, 1, Some(Short), -1), (3, Action::Sell, 1, Some(Short), -1), (1, Action::Sell, 2, Some(Short), -1),
            (0, Action::Sell, 1, Some(Short), -1), (-2, Action::Sell, 1, Some(Short), -3),
            (-2, Action::Buy, 1, Some(Short), -1), (-2, Action::Buy, 4, Some(Short), 0), (0, Action::Buy, 1, Some(Short), 0),
            (2, Action::Buy, 1, Some(Short), 2),
            // not a buy or sell: unchanged
            (2, Action::Exit, 1, None, 2), (-2, Action::Cancel, 1, Some(Long), -2),
        ];
        for &(position, action, quantity, sentiment, want) in table {
            assert_eq!(
                target(position, action, quantity, sentiment),
                want,
                "{position} {action:?} {quantity} {sentiment:?}"
            );
        }
    }

    #[test]
    fn plans_close_before_they_open_and_only_the_opening_part_is_an_entry() {
        #[rustfmt::skip]
        let table: &[(i64, i64, Option<Part>, Option<Part>)] = &[
            (0, 0, None, None),
            (0, 2, None, part(B, 2)), (0, -2, None, part(S, 2)),
            (1, 3, None, part(B, 2)), (-1, -3, None, part(S, 2)),
            (3, 1, part(S, 2), None), (-3, -1, part(B, 2), None),
            (2, 0, part(S, 2), None), (-2, 0, part(B, 2), None),
            (-2, 2, part(B, 2), part(B, 2)), (2, -1, part(S, 2), part(S, 1)), (-6, 6, part(B, 6), part(B, 6)),
        ];
        for &(from, to, close, open) in table {
            let p = plan(from, to);
            assert_eq!((p.close, p.open), (close, open), "{from} -> {to}");
        }
        assert!(plan(2, -1).closes_all() && !plan(3, 1).closes_all());
    }

    #[test]
    fn max_contracts_limits_the_entry_and_the_result_never_the_close() {
        assert_eq!(plan(-6, 6).check_limit(10), Ok(()), "short 6, the strategy's reversal buy 12: a 6-lot entry");
        assert!(plan(-6, 6).check_limit(5).unwrap_err().contains("entry of 6"));
        assert!(plan(4, 7).check_limit(5).unwrap_err().contains("position would be 7"));
        assert_eq!(plan(12, 0).check_limit(10), Ok(()), "closing more than the limit is always allowed");
    }
}
