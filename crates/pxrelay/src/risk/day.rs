//! The day's P&L of an account, the figure `DAILY_LOSS_LIMIT` and `DAILY_PROFIT_TARGET` are checked against:
//! realized P&L minus fees of the account's trades since the trading day started ([`MarketClock::trading_day_start`],
//! 17:00 Chicago the evening before by default), plus the open P&L of its positions at their marks
//! ([`crate::pnl::open_pnl`]: the quote cache's last price). Voided trades count for nothing.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use projectx::{ContractId, Position, Trade};
use rust_decimal::Decimal;

use crate::pnl::{self, Mark};

/// The parts of a day's P&L (USD, the account's currency).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayPnl {
    /// Realized P&L of the day's closing fills (before fees).
    pub realized: Decimal,
    /// Fees of the day's fills.
    pub fees: Decimal,
    /// Open P&L of the positions at their marks; `None` when a position has no mark (no quote yet).
    pub open: Option<Decimal>,
}

impl DayPnl {
    /// `realized − fees + open`; `None` while an open position cannot be priced (the day's figure is unknown then,
    /// and nothing is decided on it).
    pub fn total(&self) -> Option<Decimal> {
        self.open.map(|open| self.realized - self.fees + open)
    }
}

/// The day's P&L from the trades since `day_start` and the open `positions` priced at `marks`.
pub fn day_pnl<'a>(
    trades: impl IntoIterator<Item = &'a Trade>,
    day_start: DateTime<Utc>,
    positions: impl IntoIterator<Item = &'a Position>,
    marks: &HashMap<ContractId, Mark>,
) -> DayPnl {
    let today: Vec<&Trade> = trades.into_iter().filter(|t| !t.voided && t.creation_timestamp >= day_start).collect();
    let realized = today.iter().filter_map(|t| t.profit_and_loss).sum();
    let fees = today.iter().map(|t| t.fees).sum();
    let open = positions.into_iter().map(|p| marks.get(&p.contract_id).and_then(|m| pnl::open_pnl(p, m))).sum();
    DayPnl { realized, fees, open }
}

#[cfg(test)]
mod tests {
    use projectx::{AccountId, OrderId, OrderSide, PositionType};

    use super::*;
    use crate::market_time::MarketClock;

    const MNQ: &str = "CON.F.US.MNQ.Z25";

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn trade(id: i64, at: &str, pnl: Option<i64>, fees: &str, voided: bool) -> Trade {
        Trade {
            id,
            account_id: AccountId::new(7),
            contract_id: ContractId::from(MNQ),
            creation_timestamp: utc(at),
            price: Decimal::new(21_000, 0),
            profit_and_loss: pnl.map(Decimal::from),
            fees: fees.parse().unwrap(),
            side: OrderSide::Bid,
            size: 1,
            voided,
            order_id: OrderId::new(id),
        }
    }

    fn long(size: i32, average: i64) -> Position {
        Position {
            id: 1,
            account_id: AccountId::new(7),
            contract_id: ContractId::from(MNQ),
            creation_timestamp: utc("2026-12-01T15:00:00Z"),
            position_type: PositionType::Long,
            size,
            average_price: Decimal::from(average),
        }
    }

    fn marks(price: Option<&str>) -> HashMap<ContractId, Mark> {
        let mark = Mark {
            symbol: "MNQZ5".into(),
            tick_size: Decimal::new(25, 2),
            tick_value: Decimal::new(50, 2),
            price: price.map(|p| p.parse().unwrap()),
        };
        HashMap::from([(ContractId::from(MNQ), mark)])
    }

    #[test]
    fn realized_minus_fees_plus_open_counts_only_the_trading_days_fills() {
        // Tuesday 2026-12-01's day starts Monday 17:00 CST = 23:00 UTC.
        let start = MarketClock::default().trading_day_start(utc("2026-12-01T16:00:00Z"));
        let trades = [
            trade(1, "2026-11-30T22:59:59Z", Some(-500), "0.37", false), // Monday's day: not counted
            trade(2, "2026-11-30T23:00:00Z", Some(-40), "0.37", false),
            trade(3, "2026-12-01T14:00:00Z", None, "0.37", false),
            trade(4, "2026-12-01T15:00:00Z", Some(-1000), "0.37", true), // voided
        ];
        // 1 MNQ long from 21000 marked at 20990: −40 ticks × $0.50 = −$20.
        let day = day_pnl(&trades, start, &[long(1, 21_000)], &marks(Some("20990")));
        assert_eq!(day.realized, Decimal::from(-40));
        assert_eq!(day.fees, "0.74".parse::<Decimal>().unwrap());
        assert_eq!(day.open, Some(Decimal::from(-20)));
        assert_eq!(day.total(), Some("-60.74".parse().unwrap()));
    }

    #[test]
    fn a_position_without_a_mark_leaves_the_day_unknown_and_none_is_zero_open() {
        let start = utc("2026-11-30T23:00:00Z");
        let trades = [trade(2, "2026-12-01T10:00:00Z", Some(25), "1.00", false)];
        assert_eq!(day_pnl(&trades, start, &[long(1, 21_000)], &marks(None)).total(), None);
        assert_eq!(day_pnl(&trades, start, &[], &marks(None)).total(), Some(Decimal::from(24)));
    }

    #[test]
    fn across_the_daylight_saving_change_the_day_starts_at_five_pm_local() {
        // Sunday 2026-11-01 Chicago leaves CDT: Monday's day starts Sunday 17:00 CST = 23:00 UTC, not 22:00.
        let start = MarketClock::default().trading_day_start(utc("2026-11-02T15:00:00Z"));
        let trades = [
            trade(1, "2026-11-01T22:30:00Z", Some(-100), "0", false), // 16:30 CST Sunday: the weekend's day
            trade(2, "2026-11-01T23:00:00Z", Some(-10), "0", false),
        ];
        assert_eq!(day_pnl(&trades, start, &[], &marks(None)).total(), Some(Decimal::from(-10)));
    }
}
