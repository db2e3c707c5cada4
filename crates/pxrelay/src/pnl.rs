//! Open P&L of a position at a mark price (issue 11's operator view: `/status.accounts[].open_pnl` and
//! `positions[].open_pnl`). Realized P&L is the gateway's own (`Trade.profitAndLoss`); only the open part is
//! computed here, the way the platform does: ticks moved times the contract's tick value.

use std::collections::HashMap;

use projectx::{ContractId, Position};
use rust_decimal::Decimal;

use projectx::book::signed_size;

/// What pricing a position needs: the contract's tick size (points) and tick value (USD per tick per contract),
/// its symbol, and the mark (the last trade price from the quote cache; `None` without a quote).
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    /// The contract's exchange name, e.g. `MNQZ5`.
    pub symbol: String,
    /// Points per tick, e.g. 0.25.
    pub tick_size: Decimal,
    /// USD per tick per contract, e.g. 0.50.
    pub tick_value: Decimal,
    /// The price the position is marked at (points), when a quote is known.
    pub price: Option<Decimal>,
}

/// The open P&L of `position` at `mark` in USD, rounded to cents: `(mark − average price) / tick size × tick value
/// × signed size` (a short gains when the price falls). `None` without a mark price or with a zero tick size.
pub fn open_pnl(position: &Position, mark: &Mark) -> Option<Decimal> {
    let price = mark.price?;
    if mark.tick_size.is_zero() {
        return None;
    }
    let ticks = (price - position.average_price) / mark.tick_size;
    Some((ticks * mark.tick_value * Decimal::from(signed_size(position))).round_dp(2))
}

/// The marks of `contracts`: the contract (resolved by id, cached) and the last price in the quote cache (a
/// subscribed contract: `QUOTE_SYMBOLS`, one `/quote` asked for, or an open position the risk monitor watches). A
/// contract that does not resolve is left out (its positions show no symbol or open P&L).
pub async fn marks(
    quotes: &crate::quotes::QuoteService,
    contracts: impl IntoIterator<Item = ContractId>,
) -> HashMap<ContractId, Mark> {
    let mut marks = HashMap::new();
    for id in contracts {
        let Ok(contract) = quotes.resolver().resolve(id.as_str()).await else { continue };
        let price = quotes.market().quotes().get(&id).and_then(|q| q.last());
        let mark = Mark {
            symbol: contract.name.clone(),
            tick_size: contract.tick_size,
            tick_value: contract.tick_value,
            price,
        };
        marks.insert(id, mark);
    }
    marks
}

#[cfg(test)]
mod tests {
    use projectx::{AccountId, ContractId, PositionType};

    use super::*;

    fn position(kind: PositionType, size: i32, average: Decimal) -> Position {
        Position {
            id: 1,
            account_id: AccountId::new(7),
            contract_id: ContractId::from("CON.F.US.MNQ.Z25"),
            creation_timestamp: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            position_type: kind,
            size,
            average_price: average,
        }
    }

    fn mnq(price: Option<Decimal>) -> Mark {
        Mark { symbol: "MNQZ5".into(), tick_size: Decimal::new(25, 2), tick_value: Decimal::new(50, 2), price }
    }

    #[test]
    fn ticks_times_tick_value_times_signed_size() {
        // 2 MNQ long from 21000.00, marked at 21010.25: 41 ticks × $0.50 × 2 = $41.00.
        let long = position(PositionType::Long, 2, Decimal::new(21_000, 0));
        assert_eq!(open_pnl(&long, &mnq(Some(Decimal::new(2_101_025, 2)))), Some(Decimal::new(4100, 2)));
        // The same move against a 3-lot short: −$61.50.
        let short = position(PositionType::Short, 3, Decimal::new(21_000, 0));
        assert_eq!(open_pnl(&short, &mnq(Some(Decimal::new(2_101_025, 2)))), Some(Decimal::new(-6150, 2)));
    }

    #[test]
    fn no_mark_no_pnl() {
        let long = position(PositionType::Long, 1, Decimal::new(21_000, 0));
        assert_eq!(open_pnl(&long, &mnq(None)), None);
        let broken = Mark { tick_size: Decimal::ZERO, ..mnq(Some(Decimal::ONE)) };
        assert_eq!(open_pnl(&long, &broken), None);
    }
}
