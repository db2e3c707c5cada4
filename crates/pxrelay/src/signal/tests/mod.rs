//! Unit tests for the payload parser: a table of payloads → intent or rejected field, then the envelope rules
//! (secret, redaction, body shapes). Bracket maths, ids, fixtures and property tests have their own files.

mod brackets;
mod fixtures;
mod ids;
mod names;
mod props;
mod table;

use std::str::FromStr;

use rust_decimal::Decimal;

use super::{Action, Distance, Envelope, Intent, OrderKind, SignalError, parse_alert};

/// Parses `json` as a webhook body and returns the intent.
fn parse(json: &str) -> Result<Intent, SignalError> {
    parse_alert(json.as_bytes()).map(|a| a.intent)
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("test decimal")
}

/// `buy 1 MNQ1! at market`, the intent most table rows start from.
fn buy() -> Intent {
    Intent {
        symbol: "MNQ1!".to_owned(),
        action: Action::Buy,
        close_only: false,
        sentiment: None,
        quantity: 1,
        order: OrderKind::Market,
        stop_loss: None,
        take_profit: None,
        account: None,
        accounts: Vec::new(),
        alert_id: None,
        target_position: None,
        sent_at: None,
        risk_usd: None,
        breakeven_after_ticks: None,
        offset_ticks: None,
    }
}

#[test]
fn secret_is_taken_from_any_secret_field_and_removed_from_the_journal_copy() {
    for field in ["secret", "passphrase", "key", "token"] {
        let body = format!(r#"{{"symbol":"MNQ1!","action":"buy","{field}":"s3cr3t"}}"#);
        let alert = parse_alert(body.as_bytes()).unwrap();
        assert_eq!(alert.offered_secret.as_deref(), Some("s3cr3t"), "{field}");
        assert!(!alert.redacted_body.contains("s3cr3t"), "{field}: {}", alert.redacted_body);
        assert_eq!(alert.intent, buy());
    }
}

#[test]
fn secret_is_kept_exactly_as_sent() {
    let alert = parse_alert(br#"{"symbol":"MNQ1!","action":"buy","secret":" a b "}"#).unwrap();
    assert_eq!(alert.offered_secret.as_deref(), Some(" a b "));
    let alert = parse_alert(br#"{"symbol":"MNQ1!","action":"buy","token":123456}"#).unwrap();
    assert_eq!(alert.offered_secret.as_deref(), Some("123456"));
}

#[test]
fn alert_without_secret_offers_none() {
    let alert = parse_alert(br#"{"symbol":"MNQ1!","action":"buy"}"#).unwrap();
    assert_eq!(alert.offered_secret, None);
}

#[test]
fn two_different_secrets_are_rejected_without_echoing_either() {
    let err =
        parse_alert(br#"{"symbol":"MNQ1!","action":"buy","secret":"one-value","token":"two-value"}"#).unwrap_err();
    assert_eq!(err.field, "secret");
    assert!(err.message.contains("`secret`") && err.message.contains("`token`"), "{err}");
    assert!(!err.to_string().contains("one-value") && !err.to_string().contains("two-value"), "{err}");
    // The same secret twice is fine.
    let ok = parse_alert(br#"{"symbol":"MNQ1!","action":"buy","secret":"x","token":"x"}"#).unwrap();
    assert_eq!(ok.offered_secret.as_deref(), Some("x"));
}

#[test]
fn nested_and_oddly_cased_secret_fields_are_redacted() {
    let body = br#"{"symbol":"MNQ1!","action":"buy","Password":"p1","multiple_accounts":[{"token":"t1",
        "account_id":"A"}],"extra":{"API_KEY":"k1","keep":1.50}}"#;
    let alert = parse_alert(body).unwrap();
    for secret in ["p1", "t1", "k1"] {
        assert!(!alert.redacted_body.contains(secret), "{secret} in {}", alert.redacted_body);
    }
    // Numbers keep their text (arbitrary_precision), other fields stay.
    assert!(alert.redacted_body.contains("1.50") && alert.redacted_body.contains("account_id"));
}

#[test]
fn debug_output_never_shows_the_secret() {
    let alert = parse_alert(br#"{"symbol":"MNQ1!","action":"buy","secret":"hunter2"}"#).unwrap();
    assert!(!format!("{alert:?}").contains("hunter2"));
    let envelope = Envelope::parse(br#"{"symbol":"MNQ1!","action":"buy","secret":"hunter2"}"#).unwrap();
    assert!(!format!("{envelope:?}").contains("hunter2"));
}

#[test]
fn envelope_yields_the_secret_even_when_the_trading_fields_are_bad() {
    let envelope = Envelope::parse(br#"{"symbol":"MNQ1!","action":"hold","secret":"s"}"#).unwrap();
    assert_eq!(envelope.offered_secret(), Some("s"));
    assert_eq!(envelope.intent().unwrap_err().field, "action");
    assert!(!envelope.redacted_body().contains("\"s\""));
}

#[test]
fn body_errors_say_a_json_object_is_expected_with_an_example() {
    for body in ["", "   \n", "buy MNQ now", "[1,2]", "\"buy\"", "42", "null", "{\"symbol\":", "{'a':1}", "="] {
        let err = parse_alert(body.as_bytes()).unwrap_err();
        assert_eq!(err.field, "body", "{body:?}");
        assert!(err.message.contains("JSON object"), "{body:?}: {err}");
        assert!(err.message.contains(r#""action":"buy""#), "{body:?}: {err}");
    }
    assert_eq!(parse_alert(&[0xff, 0xfe, b'{', b'}']).unwrap_err().field, "body");
}

#[test]
fn body_error_does_not_echo_the_body() {
    let err = parse_alert(br#"{"secret":"hunter2", "symbol": ZZTOP}"#).unwrap_err();
    assert_eq!(err.field, "body");
    assert!(!err.message.contains("hunter2") && !err.message.contains("ZZTOP"), "{err}");
}

#[test]
fn text_plain_body_with_whitespace_bom_and_trailing_equals_is_accepted() {
    let mut body = "\u{feff}".as_bytes().to_vec();
    body.extend_from_slice(b"  {\"symbol\":\"MNQ1!\",\"action\":\"buy\"}= \r\n");
    assert_eq!(parse_alert(&body).unwrap().intent, buy());
    assert_eq!(parse(" {\"symbol\":\"MNQ1!\",\"action\":\"buy\"}\n=\n").unwrap(), buy());
}

#[test]
fn error_displays_as_field_colon_message() {
    let err = parse(r#"{"symbol":"MNQ1!","action":"hold"}"#).unwrap_err();
    assert_eq!(err.to_string(), format!("action: {}", err.message));
    for accepted in ["buy", "long", "sell", "short", "exit", "close", "flat", "flatten", "reverse", "cancel"] {
        assert!(err.message.contains(accepted), "{err}");
    }
    assert!(err.message.contains("\"hold\""), "{err}");
}

#[test]
fn unfilled_strategy_placeholder_is_explained() {
    let err = parse(r#"{"ticker":"MNQ1!","action":"{{strategy.order.action}}"}"#).unwrap_err();
    assert_eq!(err.field, "action");
    assert!(err.message.contains("{{strategy.order.action}}") && err.message.contains("not filled"), "{err}");
    assert!(err.message.contains("strategy"), "{err}");
    let err = parse(r#"{"ticker":"{{ticker}}","action":"buy"}"#).unwrap_err();
    assert_eq!(err.field, "ticker");
    assert!(err.message.contains("{{ticker}}"), "{err}");
}

#[test]
fn conflicting_aliases_name_both_fields() {
    let err = parse(r#"{"symbol":"MNQ1!","ticker":"MES1!","action":"buy"}"#).unwrap_err();
    assert_eq!(err.field, "symbol");
    assert!(err.message.contains("`symbol`") && err.message.contains("`ticker`"), "{err}");
    assert!(err.message.contains("\"MNQ1!\"") && err.message.contains("\"MES1!\""), "{err}");
}

#[test]
fn order_type_error_lists_the_accepted_types() {
    let err = parse(r#"{"symbol":"MNQ1!","action":"buy","order_type":"stop_limit","limit_price":1,"stop_price":1}"#)
        .unwrap_err();
    assert_eq!(err.field, "order_type");
    for accepted in ["market", "limit", "stop", "trailing_stop"] {
        assert!(err.message.contains(accepted), "{err}");
    }
}

#[test]
fn intent_serialises_decimals_as_exact_text() {
    let mut intent = buy();
    intent.order = OrderKind::Limit(dec("21000.25"));
    intent.stop_loss = Some(Distance::Ticks(20));
    intent.take_profit = Some(Distance::Price(dec("21040.50")));
    let json = serde_json::to_value(&intent).unwrap();
    assert_eq!(json["action"], "buy");
    assert_eq!(json["order"], serde_json::json!({"type": "limit", "price": "21000.25"}));
    assert_eq!(json["stop_loss"], serde_json::json!({"unit": "ticks", "value": 20}));
    assert_eq!(json["take_profit"], serde_json::json!({"unit": "price", "value": "21040.50"}));
    assert_eq!(serde_json::to_value(OrderKind::Market).unwrap(), serde_json::json!({"type": "market"}));
}

#[test]
fn order_kind_maps_to_gateway_types_and_reference_prices() {
    use projectx::OrderType;
    assert_eq!(OrderKind::Market.order_type(), OrderType::Market);
    assert_eq!(OrderKind::Limit(dec("1")).order_type(), OrderType::Limit);
    assert_eq!(OrderKind::Stop(dec("1")).order_type(), OrderType::Stop);
    assert_eq!(OrderKind::TrailingStop(dec("1")).order_type(), OrderType::TrailingStop);
    assert_eq!(OrderKind::Market.price(), None);
    assert_eq!(OrderKind::Stop(dec("2.5")).price(), Some(dec("2.5")));
    assert_eq!(Action::Buy.side(), Some(projectx::OrderSide::Bid));
    assert_eq!(Action::Sell.side(), Some(projectx::OrderSide::Ask));
    assert_eq!(Action::Exit.side(), None);
}

#[test]
fn an_intent_journaled_before_the_accounts_field_still_reads_and_names_its_account() {
    let mut old = serde_json::to_value(Intent { account: Some("evals, PA-9012".into()), ..buy() }).unwrap();
    assert!(old.get("accounts").is_none(), "an empty list is not written");
    old.as_object_mut().unwrap().remove("accounts");
    let read: Intent = serde_json::from_value(old).unwrap();
    assert!(read.accounts.is_empty());
    assert_eq!(read.requested_accounts(), ["evals", "PA-9012"]);
    assert!(buy().requested_accounts().is_empty(), "none: the default");
    let parsed = parse(r#"{"symbol":"MNQ1!","action":"buy","accounts":["evals",12345]}"#).unwrap();
    assert_eq!(parsed.requested_accounts(), ["evals", "12345"]);
    let back: Intent = serde_json::from_str(&serde_json::to_string(&parsed).unwrap()).unwrap();
    assert_eq!(back, parsed, "the list round-trips through the journal's JSON");
}
