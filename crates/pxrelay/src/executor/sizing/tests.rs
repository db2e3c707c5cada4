//! The sizing rules, with MNQ's numbers (tick size 0.25, tick value $0.50).

use std::str::FromStr;

use rust_decimal::Decimal;

use super::{size, usd_ticks};
use crate::signal::{Distance, Intent, parse_alert};

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("test decimal")
}

fn intent(body: &str) -> Intent {
    parse_alert(body.as_bytes()).expect("a valid alert").intent
}

/// MNQ: 0.25 tick size, $0.50 per tick; `MAX_CONTRACTS` = `max`.
fn mnq(i: &Intent, reference: Option<&str>, max: u32) -> Result<super::Sized, crate::signal::SignalError> {
    size(i, dec("0.25"), dec("0.5"), reference.map(dec), max)
}

#[test]
fn fifty_dollars_of_stop_on_two_mnq_is_fifty_ticks() {
    let i = intent(r#"{"symbol":"MNQ1!","action":"buy","quantity":2,"stop_loss_usd":50}"#);
    let sized = mnq(&i, None, 10).unwrap();
    assert_eq!(sized.intent.stop_loss, Some(Distance::Ticks(50)));
    assert_eq!(sized.intent.quantity, 2);
    assert_eq!(sized.notes, ["stop_loss_usd $50.00 ÷ ($0.50 × 2 contracts) = 50 ticks"]);
}

#[test]
fn pickmytrade_dollar_fields_are_aliases_and_round_toward_the_entry() {
    let i = intent(r#"{"symbol":"MNQ1!","action":"buy","quantity":3,"dollar_sl":50,"dollar_tp":"100"}"#);
    let sized = mnq(&i, None, 10).unwrap();
    // 50 ÷ 1.50 = 33.33: 33 ticks risks $49.50, never more than asked; 100 ÷ 1.50 = 66.67 → 66.
    assert_eq!(sized.intent.stop_loss, Some(Distance::Ticks(33)));
    assert_eq!(sized.intent.take_profit, Some(Distance::Ticks(66)));
    assert_eq!(sized.notes[0], "stop_loss_usd $50.00 ÷ ($0.50 × 3 contracts) = 33.33 → 33 ticks");
}

#[test]
fn a_dollar_stop_below_one_tick_is_refused() {
    let err = usd_ticks("stop_loss_usd", dec("0.75"), dec("0.5"), 2).unwrap_err();
    assert_eq!(err.field, "stop_loss_usd");
    assert!(err.message.contains("less than 1 tick"), "{}", err.message);
}

#[test]
fn one_hundred_dollars_of_risk_with_a_forty_tick_stop_is_five_mnq() {
    let i = intent(r#"{"symbol":"MNQ1!","action":"buy","risk_usd":100,"stop_loss_ticks":40}"#);
    let sized = mnq(&i, None, 10).unwrap();
    assert_eq!(sized.intent.quantity, 5);
    assert_eq!(sized.intent.risk_usd, None);
    assert_eq!(sized.intent.stop_loss, Some(Distance::Ticks(40)));
    assert_eq!(sized.notes, ["risk_usd $100.00 ÷ (40 ticks × $0.50) = 5 contracts"]);
}

#[test]
fn risk_sizing_is_capped_by_max_contracts_and_rounds_down() {
    let i = intent(r#"{"symbol":"MNQ1!","action":"buy","risk_usd":100,"stop_loss_ticks":40}"#);
    let sized = mnq(&i, None, 3).unwrap();
    assert_eq!(sized.intent.quantity, 3);
    assert!(sized.notes[0].ends_with("= 5 contracts, capped at MAX_CONTRACTS = 3"), "{}", sized.notes[0]);
    let i = intent(r#"{"symbol":"MNQ1!","action":"buy","risk_usd":110,"stop_loss_ticks":40}"#);
    assert_eq!(mnq(&i, None, 10).unwrap().intent.quantity, 5, "5.5 contracts fit: 5");
}

#[test]
fn risk_that_does_not_fit_one_contract_is_refused() {
    let i = intent(r#"{"symbol":"MNQ1!","action":"buy","risk_usd":15,"stop_loss_ticks":40}"#);
    let err = mnq(&i, None, 10).unwrap_err();
    assert_eq!(err.field, "risk_usd");
    assert!(err.message.contains("not even 1 contract fits (1 contract risks $20.00)"), "{}", err.message);
}

#[test]
fn risk_sizes_from_points_and_price_stops_and_then_converts_a_dollar_target() {
    // 10 points = 40 ticks.
    let i = intent(r#"{"symbol":"MNQ1!","action":"buy","risk_usd":100,"stopLoss":{"amount":10},"take_profit_usd":50}"#);
    let sized = mnq(&i, None, 10).unwrap();
    assert_eq!(sized.intent.quantity, 5);
    assert_eq!(sized.intent.take_profit, Some(Distance::Ticks(20)), "50 ÷ (0.50 × 5)");
    // A price stop 10 points under a 21000 limit entry.
    let i = intent(
        r#"{"symbol":"MNQ1!","action":"buy","order_type":"limit","limit_price":21000,"risk_usd":100,"stop_loss":20990}"#,
    );
    assert_eq!(mnq(&i, Some("21000"), 10).unwrap().intent.quantity, 5);
    assert_eq!(mnq(&i, None, 10).unwrap_err().field, "risk_usd");
}

#[test]
fn percent_of_the_entry_price_becomes_ticks_rounded_toward_the_entry() {
    let i = intent(r#"{"symbol":"MNQ1!","action":"buy","percentage_sl":0.5,"takeProfit":{"percent":"0.3"}}"#);
    let sized = mnq(&i, Some("21000.5"), 10).unwrap();
    // 0.5 % of 21000.5 = 105.0025 points = 420.01 ticks → 420; 0.3 % = 63.0015 points = 252.006 → 252.
    assert_eq!(sized.intent.stop_loss, Some(Distance::Ticks(420)));
    assert_eq!(sized.intent.take_profit, Some(Distance::Ticks(252)));
    assert_eq!(sized.notes[0], "stop_loss_percent 0.5% of 21000.5 = 105 points ÷ tick size 0.25 = 420.01 → 420 ticks");
    let err = mnq(&i, None, 10).unwrap_err();
    assert_eq!(err.field, "stop_loss_percent");
    let tiny = intent(r#"{"symbol":"MNQ1!","action":"buy","stop_loss_percent":0.0001}"#);
    assert!(mnq(&tiny, Some("21000"), 10).unwrap_err().message.contains("less than 1 tick"));
}

#[test]
fn an_intent_without_money_fields_is_unchanged() {
    let i = intent(r#"{"symbol":"MNQ1!","action":"buy","quantity":2,"stop_loss_ticks":40}"#);
    let sized = mnq(&i, None, 10).unwrap();
    assert_eq!(sized.intent, i);
    assert!(sized.notes.is_empty());
}
