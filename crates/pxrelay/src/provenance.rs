//! Whose position is it (issue 11): **pxrelay's** (an order pxrelay placed for an alert opened it) or **foreign**
//! (opened elsewhere: the trader in the platform, another bot, a position pxrelay's journal does not know). Foreign
//! positions are listed on `/status.accounts[].foreign` and pxrelay never touches them unless an alert says so: no
//! alert-less close, and under `CANCEL_ON_FLAT=brackets` none of their orders are cancelled.
//!
//! The rule: a position's **opening fill** is the trade on its contract whose `creationTimestamp` is closest to the
//! position's own `creationTimestamp` (the gateway stamps both from the fill that opened it), within
//! [`OPENING_FILL_TOLERANCE`]. The position is pxrelay's when that trade's order is one pxrelay placed (the ids in
//! the journal's `orders`, loaded at startup, plus those placed since). A position whose opening fill is not among
//! the book's trades (opened before the trade window, e.g. held overnight) is `unknown`: shown as such, not guessed.
//! A position opened by the trader and then added to by an alert stays foreign: the alert traded it because it said
//! so, which the rule allows.

use std::time::Duration;

use projectx::{OrderId, Position, Trade};
use serde::Serialize;

/// How far apart the opening fill's and the position's `creationTimestamp` may be (the gateway stamps both at the
/// fill; a few seconds covers rounding and a partial fill's later parts).
pub const OPENING_FILL_TOLERANCE: Duration = Duration::from_secs(5);

/// Who opened a position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenedBy {
    /// An order pxrelay placed for an alert.
    Pxrelay,
    /// An order pxrelay did not place: a foreign position.
    Foreign,
    /// The opening fill is not among the known trades.
    Unknown,
}

impl OpenedBy {
    /// The word used on `/status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pxrelay => "pxrelay",
            Self::Foreign => "foreign",
            Self::Unknown => "unknown",
        }
    }
}

/// The trade that opened `position` among `trades` (see the module docs); voided trades never count.
pub fn opening_fill<'a>(position: &Position, trades: impl IntoIterator<Item = &'a Trade>) -> Option<&'a Trade> {
    let opened = position.creation_timestamp;
    trades
        .into_iter()
        .filter(|t| t.contract_id == position.contract_id && !t.voided)
        .map(|t| ((t.creation_timestamp - opened).abs(), t))
        .filter(|(gap, _)| gap.to_std().is_ok_and(|g| g <= OPENING_FILL_TOLERANCE))
        .min_by_key(|(gap, t)| (*gap, std::cmp::Reverse(t.id)))
        .map(|(_, t)| t)
}

/// Who opened `position`, given the account's `trades` and whether an order id is one pxrelay placed.
pub fn opened_by<'a>(
    position: &Position,
    trades: impl IntoIterator<Item = &'a Trade>,
    placed_by_pxrelay: impl Fn(OrderId) -> bool,
) -> (OpenedBy, Option<OrderId>) {
    match opening_fill(position, trades) {
        None => (OpenedBy::Unknown, None),
        Some(t) if placed_by_pxrelay(t.order_id) => (OpenedBy::Pxrelay, Some(t.order_id)),
        Some(t) => (OpenedBy::Foreign, Some(t.order_id)),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeDelta, Utc};
    use projectx::{AccountId, ContractId, OrderSide, PositionType};
    use rust_decimal::Decimal;

    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + TimeDelta::seconds(secs)
    }

    fn position(contract: &str, opened: i64) -> Position {
        Position {
            id: 1,
            account_id: AccountId::new(7),
            contract_id: ContractId::from(contract),
            creation_timestamp: at(opened),
            position_type: PositionType::Long,
            size: 1,
            average_price: Decimal::new(21000, 0),
        }
    }

    fn trade(id: i64, contract: &str, order: i64, when: i64) -> Trade {
        Trade {
            id,
            account_id: AccountId::new(7),
            contract_id: ContractId::from(contract),
            creation_timestamp: at(when),
            price: Decimal::new(21000, 0),
            profit_and_loss: None,
            fees: Decimal::ZERO,
            side: OrderSide::Bid,
            size: 1,
            voided: false,
            order_id: OrderId::new(order),
        }
    }

    #[test]
    fn the_fill_closest_to_the_position_opening_decides() {
        // An exit (order 10) one second before the new position's opening fill (order 11, pxrelay's).
        let trades = [trade(1, "MNQ", 10, 99), trade(2, "MNQ", 11, 100), trade(3, "ES", 12, 100)];
        let p = position("MNQ", 100);
        assert_eq!(opened_by(&p, &trades, |id| id == OrderId::new(11)), (OpenedBy::Pxrelay, Some(OrderId::new(11))));
        assert_eq!(opened_by(&p, &trades, |id| id == OrderId::new(10)), (OpenedBy::Foreign, Some(OrderId::new(11))));
    }

    #[test]
    fn no_fill_near_the_opening_is_unknown_not_foreign() {
        let trades = [trade(1, "MNQ", 10, 100 + 3600), trade(2, "ES", 11, 100)];
        assert_eq!(opened_by(&position("MNQ", 100), &trades, |_| true), (OpenedBy::Unknown, None));
    }

    #[test]
    fn a_voided_fill_never_counts() {
        let mut voided = trade(1, "MNQ", 10, 100);
        voided.voided = true;
        assert_eq!(opened_by(&position("MNQ", 100), &[voided], |_| true), (OpenedBy::Unknown, None));
    }
}
