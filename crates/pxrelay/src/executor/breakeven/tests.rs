//! The break-even rule on MNQ (tick 0.25).

use std::str::FromStr;

use projectx::{ContractId, Order, OrderId};
use rust_decimal::Decimal;

use super::{Decision, Held, Move, decide, level};

const MNQ: &str = "CON.F.US.MNQ.Z26";

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("test decimal")
}

/// A working order: `kind` 4 stop, 5 trailing stop, 1 limit; `side` 0 buy, 1 sell.
fn order(id: i64, kind: i32, side: i32, stop: Option<&str>) -> Order {
    serde_json::from_value(serde_json::json!({
        "id": id, "accountId": 1, "contractId": MNQ, "creationTimestamp": "2026-01-01T00:00:00Z",
        "status": 1, "type": kind, "side": side, "size": 1, "fillVolume": 0, "stopPrice": stop,
    }))
    .expect("an order")
}

fn long(average: &str) -> Option<Held> {
    Some(Held { signed: 1, average: dec(average) })
}

fn run(held: Option<Held>, working: &[Order], offset: u32, market: Option<&str>) -> Decision {
    decide(held, &ContractId::from(MNQ), working, offset, dec("0.25"), market.map(dec))
}

#[test]
fn a_long_stop_forty_ticks_under_moves_up_to_the_average() {
    let working = [order(7, 4, 1, Some("20990")), order(8, 1, 1, None)];
    let decision = run(long("21000"), &working, 0, Some("21005"));
    assert_eq!(
        decision,
        Decision::Move {
            level: dec("21000"),
            moves: vec![Move { order_id: OrderId::from(7), from: dec("20990"), to: dec("21000") }]
        }
    );
}

#[test]
fn the_level_rounds_away_from_a_loss_and_adds_the_offset_on_the_profit_side() {
    assert_eq!(level(Held { signed: 2, average: dec("21000.125") }, 0, dec("0.25")), dec("21000.25"));
    assert_eq!(level(Held { signed: -2, average: dec("21000.125") }, 0, dec("0.25")), dec("21000"));
    assert_eq!(level(Held { signed: 1, average: dec("21000") }, 2, dec("0.25")), dec("21000.5"));
    assert_eq!(level(Held { signed: -1, average: dec("21000") }, 2, dec("0.25")), dec("20999.5"));
}

#[test]
fn a_stop_already_at_or_beyond_break_even_is_never_loosened() {
    let working = [order(7, 4, 1, Some("21002"))];
    let Decision::Noop(message) = run(long("21000"), &working, 0, None) else { panic!("expected a noop") };
    assert!(message.contains("never loosened"), "{message}");
    // A short's buy stop under the average is already past break-even.
    let short = Some(Held { signed: -1, average: dec("21000") });
    assert!(matches!(run(short, &[order(9, 4, 0, Some("20998"))], 0, None), Decision::Noop(_)));
    let moved = run(short, &[order(9, 4, 0, Some("21010"))], 1, None);
    assert!(matches!(moved, Decision::Move { level, .. } if level == dec("20999.75")));
}

#[test]
fn flat_no_stop_leg_or_only_trailing_and_opening_side_legs_are_noops() {
    assert!(matches!(run(None, &[order(7, 4, 1, Some("20990"))], 0, None), Decision::Noop(_)));
    let others = [order(7, 5, 1, Some("20990")), order(8, 4, 0, Some("20990"))];
    let Decision::Noop(message) = run(long("21000"), &others, 0, None) else { panic!("expected a noop") };
    assert!(message.contains("no working stop-loss leg"), "{message}");
}

#[test]
fn a_level_at_or_through_the_market_is_refused() {
    let working = [order(7, 4, 1, Some("20990"))];
    let Decision::Refused(message) = run(long("21000"), &working, 0, Some("20999.75")) else { panic!("refused") };
    assert!(message.contains("would trigger at once"), "{message}");
    assert!(matches!(run(long("21000"), &working, 0, Some("21000")), Decision::Refused(_)));
}
