//! Property tests: nothing a sender can put in a body makes the parser (or the functions that consume its
//! output) panic.

use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Map, Number, Value};

use super::super::{alert_key, bracket_ticks, custom_tag, parse_alert};

/// Every field name the parser reads, plus a few it does not.
const KEYS: &[&str] = &[
    "timenow",
    "time",
    "alertTimestamp",
    "symbol",
    "ticker",
    "instrument",
    "action",
    "side",
    "signal",
    "data",
    "sentiment",
    "market_position",
    "quantity",
    "qty",
    "size",
    "contracts",
    "order_type",
    "orderType",
    "limit_price",
    "limitPrice",
    "stop_price",
    "stopPrice",
    "trail_price",
    "trailPrice",
    "price",
    "stop_loss_ticks",
    "take_profit_ticks",
    "stop_loss",
    "take_profit",
    "stopLoss",
    "takeProfit",
    "sl",
    "tp",
    "amount",
    "percent",
    "type",
    "account",
    "account_id",
    "accountId",
    "id",
    "alert_id",
    "signal_id",
    "secret",
    "passphrase",
    "key",
    "token",
    "dollar_sl",
    "percentage_tp",
    "risk_percentage",
    "trail",
    "advance_tp_sl",
    "multiple_accounts",
    "date",
    "unknown",
];

/// Texts that exercise the readers: valid words, numbers in odd spellings, placeholders, junk.
const WORDS: &[&str] = &[
    "buy",
    "SELL",
    "long",
    "short",
    "exit",
    "flat",
    "reverse",
    "cancel",
    "hold",
    "market",
    "LMT",
    "stop",
    "trailing_stop",
    "stop_limit",
    "bullish",
    "MNQ1!",
    "CME_MINI:MNQ1!",
    "",
    " ",
    "0",
    "-0",
    "1",
    "1.0",
    "1.5",
    "-1",
    "1e3",
    "1e-3",
    "1E+28",
    "9e999",
    "79228162514264337593543950335",
    "0.0000000000000000000000000001",
    "1_000",
    "0x10",
    "NaN",
    "inf",
    "{{ticker}}",
    "{{strategy.order.action}}",
    "{{",
    "}}",
    "é",
    "\u{0}",
    "1.",
    ".5",
    "+2",
    "--1",
    "1e",
    "e5",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        prop::sample::select(WORDS).prop_map(|w| Value::String(w.to_owned())),
        ".{0,12}".prop_map(Value::String),
    ]
}

fn object_of(value: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
    prop::collection::vec((prop::sample::select(KEYS), value), 0..12)
        .prop_map(|pairs| Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<Map<_, _>>()))
}

fn jsonish() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 6, |inner| {
        prop_oneof![prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array), object_of(inner)]
    })
}

fn exercise(body: &[u8]) {
    if let Ok(alert) = parse_alert(body) {
        let key = alert_key(&alert.intent, chrono::Utc::now(), u64::MAX);
        assert!(key.alert_id.len() <= 64 && custom_tag(&key.alert_id, 1).len() <= 50, "{key:?}");
        for side in [projectx::OrderSide::Bid, projectx::OrderSide::Ask] {
            for tick in [Decimal::new(25, 2), Decimal::new(1, 28), Decimal::MAX] {
                let _ = bracket_ticks(&alert.intent, side, alert.intent.order.price().or(Some(Decimal::ONE)), tick);
                let _ = alert.intent.order.check_tick_aligned(tick);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        exercise(&body);
    }

    #[test]
    fn arbitrary_json_objects_never_panic(obj in object_of(jsonish())) {
        let mut body = obj.to_string().into_bytes();
        exercise(&body);
        body.push(b'=');
        exercise(&body);
    }

    #[test]
    fn valid_core_fields_with_arbitrary_extras_parse(extras in object_of(scalar()), qty in 1u32..10_000) {
        let Value::Object(mut map) = extras else { unreachable!() };
        for k in KEYS {
            if !matches!(*k, "unknown" | "multiple_accounts") {
                map.remove(*k);
            }
        }
        map.insert("ticker".into(), Value::String("MNQ1!".into()));
        map.insert("action".into(), Value::String("buy".into()));
        map.insert("quantity".into(), Value::String(qty.to_string()));
        let alert = parse_alert(Value::Object(map).to_string().as_bytes()).map_err(|e| e.to_string());
        prop_assert_eq!(alert.map(|a| a.intent.quantity), Ok(qty));
    }

    #[test]
    fn custom_tags_are_bounded_ascii_and_distinct(a in ".{0,80}", b in ".{0,80}", la: u8, lb: u8) {
        let (ta, tb) = (custom_tag(&a, la), custom_tag(&b, lb));
        prop_assert!(ta.len() <= 50 && ta.is_ascii());
        prop_assert_eq!(ta == tb, (a, la) == (b, lb));
    }
}
