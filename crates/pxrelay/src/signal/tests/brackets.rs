//! `bracket_ticks`: signs, tick grid, wrong side, range; and `OrderKind::check_tick_aligned`.

use projectx::OrderSide::{Ask, Bid, Other};
use rust_decimal::Decimal;

use super::super::bracket_ticks;
use super::{Distance, Intent, OrderKind, buy, dec};

fn with(stop: Option<Distance>, target: Option<Distance>) -> Intent {
    Intent { stop_loss: stop, take_profit: target, ..buy() }
}

fn quarter() -> Decimal {
    dec("0.25")
}

#[test]
fn tick_brackets_are_negative_stop_positive_target_for_a_long() {
    let intent = with(Some(Distance::Ticks(20)), Some(Distance::Ticks(40)));
    assert_eq!(bracket_ticks(&intent, Bid, None, quarter()), Ok((Some(-20), Some(40))));
}

#[test]
fn tick_brackets_are_positive_stop_negative_target_for_a_short() {
    let intent = with(Some(Distance::Ticks(20)), Some(Distance::Ticks(40)));
    assert_eq!(bracket_ticks(&intent, Ask, None, quarter()), Ok((Some(20), Some(-40))));
}

#[test]
fn price_brackets_are_measured_from_the_reference() {
    let intent = with(Some(Distance::Price(dec("20990"))), Some(Distance::Price(dec("21010.25"))));
    assert_eq!(bracket_ticks(&intent, Bid, Some(dec("21000")), quarter()), Ok((Some(-40), Some(41))));
    let intent = with(Some(Distance::Price(dec("21010"))), Some(Distance::Price(dec("20990"))));
    assert_eq!(bracket_ticks(&intent, Ask, Some(dec("21000")), quarter()), Ok((Some(40), Some(-40))));
}

#[test]
fn point_brackets_become_ticks() {
    let intent = with(Some(Distance::Points(dec("10"))), Some(Distance::Points(dec("2.5"))));
    assert_eq!(bracket_ticks(&intent, Bid, None, quarter()), Ok((Some(-40), Some(10))));
    assert_eq!(bracket_ticks(&intent, Ask, None, quarter()), Ok((Some(40), Some(-10))));
}

#[test]
fn long_stop_above_entry_is_rejected() {
    let intent = with(Some(Distance::Price(dec("21010"))), None);
    let err = bracket_ticks(&intent, Bid, Some(dec("21000")), quarter()).unwrap_err();
    assert_eq!(err.field, "stop_loss");
    assert!(err.message.contains("wrong side") && err.message.contains("below"), "{err}");
    assert!(err.message.contains("long"), "{err}");
}

#[test]
fn long_target_below_entry_is_rejected() {
    let intent = with(None, Some(Distance::Price(dec("20990"))));
    assert_eq!(bracket_ticks(&intent, Bid, Some(dec("21000")), quarter()).unwrap_err().field, "take_profit");
}

#[test]
fn short_stop_below_entry_is_rejected() {
    let intent = with(Some(Distance::Price(dec("20990"))), None);
    let err = bracket_ticks(&intent, Ask, Some(dec("21000")), quarter()).unwrap_err();
    assert_eq!(err.field, "stop_loss");
    assert!(err.message.contains("short") && err.message.contains("above"), "{err}");
}

#[test]
fn short_target_above_entry_is_rejected() {
    let intent = with(None, Some(Distance::Price(dec("21010"))));
    assert_eq!(bracket_ticks(&intent, Ask, Some(dec("21000")), quarter()).unwrap_err().field, "take_profit");
}

#[test]
fn bracket_at_the_entry_price_is_rejected() {
    let intent = with(Some(Distance::Price(dec("21000"))), None);
    assert_eq!(bracket_ticks(&intent, Bid, Some(dec("21000")), quarter()).unwrap_err().field, "stop_loss");
}

#[test]
fn price_off_the_tick_grid_is_rejected_with_the_nearest_prices() {
    let intent = with(Some(Distance::Price(dec("20990.10"))), None);
    let err = bracket_ticks(&intent, Bid, Some(dec("21000")), quarter()).unwrap_err();
    assert_eq!(err.field, "stop_loss");
    assert!(err.message.contains("20990.1") && err.message.contains("0.25"), "{err}");
    assert!(err.message.contains("20990 or 20990.25"), "{err}");
}

#[test]
fn points_that_are_not_whole_ticks_are_rejected() {
    let intent = with(None, Some(Distance::Points(dec("10.1"))));
    assert_eq!(bracket_ticks(&intent, Bid, None, quarter()).unwrap_err().field, "take_profit");
}

#[test]
fn reference_off_the_grid_rounds_to_the_nearest_tick() {
    let intent = with(Some(Distance::Price(dec("20990"))), None);
    assert_eq!(bracket_ticks(&intent, Bid, Some(dec("21000.1")), quarter()), Ok((Some(-40), None)));
}

#[test]
fn price_bracket_without_reference_is_rejected() {
    let intent = with(Some(Distance::Price(dec("20990"))), None);
    let err = bracket_ticks(&intent, Bid, None, quarter()).unwrap_err();
    assert_eq!(err.field, "stop_loss");
    assert!(err.message.contains("ticks"), "{err}");
}

#[test]
fn more_than_1000_ticks_is_rejected() {
    let intent = with(Some(Distance::Price(dec("20749.75"))), None);
    let err = bracket_ticks(&intent, Bid, Some(dec("21000")), quarter()).unwrap_err();
    assert!(err.message.contains("1001") && err.message.contains("1000"), "{err}");
    let intent = with(Some(Distance::Price(dec("20750"))), None);
    assert_eq!(bracket_ticks(&intent, Bid, Some(dec("21000")), quarter()), Ok((Some(-1000), None)));
    let intent = with(None, Some(Distance::Points(dec("1000"))));
    assert_eq!(bracket_ticks(&intent, Bid, None, quarter()).unwrap_err().field, "take_profit");
}

#[test]
fn unusable_tick_size_or_side_is_rejected() {
    let intent = with(Some(Distance::Ticks(1)), None);
    assert_eq!(bracket_ticks(&intent, Bid, None, Decimal::ZERO).unwrap_err().field, "tick_size");
    assert_eq!(bracket_ticks(&intent, Bid, None, dec("-0.25")).unwrap_err().field, "tick_size");
    assert_eq!(bracket_ticks(&intent, Other(7), None, quarter()).unwrap_err().field, "side");
}

#[test]
fn no_brackets_give_no_ticks() {
    assert_eq!(bracket_ticks(&buy(), Bid, None, quarter()), Ok((None, None)));
}

#[test]
fn extreme_values_error_instead_of_overflowing() {
    let huge = Decimal::MAX;
    let intent = with(Some(Distance::Price(huge)), Some(Distance::Points(huge)));
    assert!(bracket_ticks(&intent, Ask, Some(Decimal::MIN), dec("0.0000000000000000000000000001")).is_err());
    assert!(bracket_ticks(&intent, Bid, Some(Decimal::MIN), Decimal::MAX).is_err());
}

#[test]
fn order_prices_are_checked_against_the_tick_grid() {
    assert!(OrderKind::Market.check_tick_aligned(quarter()).is_ok());
    assert!(OrderKind::Limit(dec("21000.25")).check_tick_aligned(quarter()).is_ok());
    assert_eq!(OrderKind::Limit(dec("21000.3")).check_tick_aligned(quarter()).unwrap_err().field, "limit_price");
    assert_eq!(OrderKind::Stop(dec("1.3")).check_tick_aligned(quarter()).unwrap_err().field, "stop_price");
    assert_eq!(OrderKind::TrailingStop(dec("1.1")).check_tick_aligned(quarter()).unwrap_err().field, "trail_price");
    // Treasury-style fractional ticks.
    assert!(OrderKind::Limit(dec("117.03125")).check_tick_aligned(dec("0.03125")).is_ok());
}
