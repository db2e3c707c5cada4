//! The book's rules on recorded-shape JSON: snapshot + buffered replay, late order events, flat positions,
//! expectations, P&L.

use serde_json::json;

use super::*;

const MNQ: &str = "CON.F.US.MNQ.Z25";

fn order(id: i64, status: i32, updated: &str) -> Order {
    serde_json::from_value(json!({
        "id": id, "accountId": 7, "contractId": MNQ, "creationTimestamp": "2026-11-29T14:00:00Z",
        "updateTimestamp": updated, "status": status, "type": 4, "side": 1, "size": 1, "stopPrice": 20990.25,
        "fillVolume": 0,
    }))
    .expect("an order")
}

fn position(size: i32, kind: i32) -> Position {
    serde_json::from_value(json!({
        "id": 1, "accountId": 7, "contractId": MNQ, "creationTimestamp": "2026-11-29T14:00:00Z", "type": kind,
        "size": size, "averagePrice": 21000.25,
    }))
    .expect("a position")
}

fn trade(id: i64, pnl: Option<f64>, fees: f64) -> Trade {
    serde_json::from_value(json!({
        "id": id, "accountId": 7, "contractId": MNQ, "creationTimestamp": "2026-11-29T14:00:00Z", "price": 21000.25,
        "profitAndLoss": pnl, "fees": fees, "side": 0, "size": 1, "voided": false, "orderId": 1,
    }))
    .expect("a trade")
}

fn mnq() -> ContractId {
    ContractId::new(MNQ)
}

#[test]
fn events_during_the_snapshot_are_replayed_over_it_in_order_and_nothing_is_lost() {
    let mut book = AccountBook::new();
    assert!(!book.is_live());
    book.syncing();
    // While the snapshot is in flight: the position opens, then its stop leg appears.
    assert!(book.event(BookEvent::Position(position(1, 1))).is_empty());
    book.event(BookEvent::Order(order(11, 1, "2026-11-29T14:00:01Z")));
    assert_eq!(book.position(&mnq()), 0, "buffered, not applied yet");
    // The snapshot was read before either event.
    let changes = book.snapshot(Snapshot::default());
    assert!(book.is_live());
    assert!(changes.is_empty(), "{changes:?}");
    assert_eq!(book.position(&mnq()), 1);
    assert_eq!(book.working_on(&mnq()).count(), 1);
}

#[test]
fn a_late_order_event_never_overwrites_a_newer_state() {
    let mut book = AccountBook::new();
    book.snapshot(Snapshot::default());
    book.event(BookEvent::Order(order(11, 1, "2026-11-29T14:00:05Z")));
    book.event(BookEvent::Order(order(11, 3, "2026-11-29T14:00:06Z")));
    assert_eq!(book.working_orders().count(), 0, "cancelled");
    book.event(BookEvent::Order(order(11, 1, "2026-11-29T14:00:05Z")));
    assert_eq!(book.working_orders().count(), 0, "the older 'open' event arrives late and is ignored");
}

#[test]
fn a_position_going_flat_is_reported_once_and_size_zero_means_flat() {
    let mut book = AccountBook::new();
    book.snapshot(Snapshot { positions: vec![position(2, 2)], ..Snapshot::default() });
    assert_eq!(book.position(&mnq()), -2);
    assert_eq!(book.event(BookEvent::Position(position(0, 2))), vec![Change::Flat(mnq())]);
    assert_eq!(book.event(BookEvent::Position(position(0, 2))), vec![], "already flat");
    // A snapshot after a reconnect that no longer lists an open position reports it flat too.
    book.event(BookEvent::Position(position(1, 1)));
    book.syncing();
    assert_eq!(book.snapshot(Snapshot::default()), vec![Change::Flat(mnq())]);
}

#[test]
fn an_expectation_stands_until_the_next_position_event() {
    let mut book = AccountBook::new();
    book.snapshot(Snapshot::default());
    book.expect(&mnq(), 2);
    assert_eq!(book.position(&mnq()), 2, "read from the place answer before any event");
    book.event(BookEvent::Position(position(2, 1)));
    assert_eq!(book.position(&mnq()), 2);
    book.expect(&mnq(), 0);
    assert_eq!(book.position(&mnq()), 0);
    book.event(BookEvent::Position(position(0, 1)));
    assert_eq!(book.position(&mnq()), 0);
}

#[test]
fn realized_pnl_and_fees_add_up_todays_trades_once_each() {
    let mut book = AccountBook::new();
    book.snapshot(Snapshot { trades: vec![trade(1, None, 0.37)], ..Snapshot::default() });
    book.event(BookEvent::Trade(trade(2, Some(25.0), 0.37)));
    book.event(BookEvent::Trade(trade(2, Some(25.0), 0.37)));
    assert_eq!(book.realized_pnl(), Decimal::from(25));
    assert_eq!(book.fees(), Decimal::new(74, 2));
}

#[test]
fn snapshot_orders_join_search_open_and_the_days_search_so_suspended_legs_are_kept() {
    // searchOpen: the open stop (1) as of 14:00; the day's search: the same order newer, a Suspended (8) leg that
    // searchOpen hides, and a filled one.
    let open = vec![order(1, 1, "2026-11-29T14:00:00Z")];
    let mut newer = order(1, 1, "2026-11-29T14:05:00Z");
    newer.stop_price = Some(rust_decimal::Decimal::new(2_098_000, 2));
    let searched = vec![newer.clone(), order(2, 8, "2026-11-29T14:01:00Z"), order(3, 2, "2026-11-29T14:02:00Z")];
    let working = Snapshot::working_orders(open, searched);
    assert_eq!(working.iter().map(|o| o.id.get()).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(working[0], newer, "the later update wins");
}
