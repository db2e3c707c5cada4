//! Sample payloads in `tests/fixtures/alerts/` (shared with the end-to-end tests), each parsed and checked.
//! Files named `invalid_*` must be rejected; every other file must be accepted.

use std::path::PathBuf;

use super::super::{Alert, SignalError, parse_alert};
use super::{Action, Distance, OrderKind, dec};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/alerts")
}

fn load(name: &str) -> Result<Alert, SignalError> {
    let body = std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"));
    parse_alert(&body)
}

#[test]
fn every_fixture_is_accepted_or_rejected_as_its_name_says() {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .expect("fixture dir")
        .map(|e| e.expect("dir entry").file_name().into_string().expect("utf-8 name"))
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert!(names.len() >= 10, "{names:?}");
    for name in names {
        let result = load(&name);
        if name.starts_with("invalid_") {
            assert!(result.is_err(), "{name} should be rejected: {result:?}");
        } else {
            let alert = result.unwrap_or_else(|e| panic!("{name} should be accepted: {e}"));
            assert!(!alert.redacted_body.contains("fixture-secret"), "{name} leaks its secret");
        }
    }
}

#[test]
fn pxrelay_format_with_ticks() {
    let alert = load("pxrelay_market_ticks.json").unwrap();
    let i = alert.intent;
    assert_eq!((i.symbol.as_str(), i.action, i.quantity), ("MNQ1!", Action::Buy, 2));
    assert_eq!((i.stop_loss, i.take_profit), (Some(Distance::Ticks(40)), Some(Distance::Ticks(80))));
    assert_eq!(i.account.as_deref(), Some("PRAC-V2-0000-0000"));
    assert_eq!(i.alert_id.as_deref(), Some("mnq-breakout-2025-06-02T14:31"));
    assert_eq!(alert.offered_secret.as_deref(), Some("fixture-secret"));
}

#[test]
fn pxrelay_format_with_limit_and_prices() {
    let i = load("pxrelay_limit_prices.json").unwrap().intent;
    assert_eq!((i.symbol.as_str(), i.action), ("CME_MINI:MES1!", Action::Sell));
    assert_eq!(i.order, OrderKind::Limit(dec("6340.25")));
    assert_eq!(i.stop_loss, Some(Distance::Price(dec("6350.25"))));
    assert_eq!(i.take_profit, Some(Distance::Price(dec("6320"))));
}

#[test]
fn tradingview_strategy_template_filled_in() {
    let alert = load("tradingview_strategy_entry.json").unwrap();
    assert_eq!((alert.intent.action, alert.intent.quantity, alert.intent.close_only), (Action::Buy, 1, false));
    assert_eq!(alert.offered_secret.as_deref(), Some("fixture-secret"));
    let close = load("tradingview_strategy_close.json").unwrap().intent;
    assert_eq!((close.action, close.close_only, close.symbol.as_str()), (Action::Sell, true, "CME_MINI:MNQ1!"));
}

#[test]
fn tradingview_indicator_sent_as_form_text() {
    let i = load("tradingview_indicator_form_encoded.json").unwrap().intent;
    assert_eq!((i.symbol.as_str(), i.action, i.quantity), ("MGC1!", Action::Sell, 1));
}

#[test]
fn traderspost_brackets_and_flat_exit() {
    let i = load("traderspost_limit_brackets.json").unwrap().intent;
    assert_eq!(i.order, OrderKind::Limit(dec("21000.25")));
    assert_eq!(i.stop_loss, Some(Distance::Price(dec("20980.25"))));
    assert_eq!(i.take_profit, Some(Distance::Price(dec("21040.25"))));
    let i = load("traderspost_amount.json").unwrap().intent;
    assert_eq!((i.action, i.quantity), (Action::Sell, 3));
    assert_eq!((i.stop_loss, i.take_profit), (Some(Distance::Points(dec("10"))), Some(Distance::Points(dec("20.5")))));
    let i = load("traderspost_exit_flat.json").unwrap().intent;
    assert_eq!((i.action, i.close_only, i.quantity, i.order), (Action::Sell, true, 2, OrderKind::Market));
}

#[test]
fn pickmytrade_entry_and_close() {
    let alert = load("pickmytrade_strategy.json").unwrap();
    let i = &alert.intent;
    assert_eq!((i.action, i.quantity, i.order), (Action::Buy, 1, OrderKind::Market));
    assert_eq!(i.stop_loss, Some(Distance::Price(dec("20975"))));
    assert_eq!(i.take_profit, Some(Distance::Price(dec("21050.25"))));
    assert_eq!(i.account.as_deref(), Some("PRAC-V2-0000-0000"));
    assert_eq!(alert.offered_secret.as_deref(), Some("fixture-secret"));
    let i = load("pickmytrade_close.json").unwrap().intent;
    assert_eq!((i.action, i.stop_loss, i.take_profit), (Action::Exit, None, None));
}

#[test]
fn invalid_fixtures_name_the_field() {
    assert_eq!(load("invalid_indicator_with_strategy_placeholders.json").unwrap_err().field, "action");
}

#[test]
fn a_pickmytrade_dollar_stop_is_read_as_dollars_for_the_executor_to_size() {
    let i = load("pickmytrade_dollar_stop.json").unwrap().intent;
    assert_eq!((i.quantity, i.stop_loss), (1, Some(super::Distance::Usd(super::dec("150")))));
}
