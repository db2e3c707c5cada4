//! Field names: a misspelled or look-alike protective field is refused naming the field to use; a name differing
//! only in case gets a case hint; every accepted name and the usual harmless extras still pass; the 401 secret hint.

use proptest::prelude::*;

use super::super::names::check_name;
use super::super::{Envelope, brackets, fields};
use super::parse;

/// `{"ticker":"MNQ1!","action":"buy","quantity":1, <extra>}`.
fn body(extra: &str) -> String {
    format!(r#"{{"ticker":"MNQ1!","action":"buy","quantity":1,{extra}}}"#)
}

/// (extra fields, the field the rejection names, what its message must mention).
#[rustfmt::skip]
const UNREAD: &[(&str, &str, &[&str])] = &[
    // The issue's three examples.
    (r#""stoploss":40"#, "stoploss", &["is not a field pxrelay reads", "`stop_loss`", "stop_loss_ticks"]),
    (r#""stop_loss_points":10"#, "stop_loss_points", &["is not a field pxrelay reads", "`stopLoss.amount`"]),
    (r#""StopLossTicks":40"#, "StopLossTicks", &["is not a field pxrelay reads", "`stop_loss_ticks`"]),
    // Other spellings of a stop.
    (r#""stopLossTicks":40"#, "stopLossTicks", &["`stop_loss_ticks`"]),
    (r#""stop-loss-ticks":40"#, "stop-loss-ticks", &["`stop_loss_ticks`"]),
    (r#""stop loss":20990"#, "stop loss", &["`stop_loss`"]),
    (r#""stop_loss_ticks ":40"#, "stop_loss_ticks ", &["`stop_loss_ticks`"]),
    (r#""stoplos":40"#, "stoplos", &["`stop_loss`"]),
    (r#""stop_ticks":40"#, "stop_ticks", &["`stop_loss_ticks`"]),
    (r#""sl_ticks":40"#, "sl_ticks", &["`stop_loss_ticks`"]),
    (r#""slTicks":40"#, "slTicks", &["`stop_loss_ticks`"]),
    (r#""slticks":40"#, "slticks", &["`stop_loss_ticks`"]),
    (r#""sl_price":20990"#, "sl_price", &["`stop_loss`"]),
    (r#""sl_pts":10"#, "sl_pts", &["`stopLoss.amount`"]),
    (r#""stop_loss_price":20990"#, "stop_loss_price", &["`stop_loss`"]),
    (r#""stoploss":0"#, "stoploss", &["`stop_loss`"]),
    (r#""stoploss":null"#, "stoploss", &["`stop_loss`"]),
    (r#""max_loss":100"#, "max_loss", &["`stop_loss"]),
    // Targets.
    (r#""takeprofit":21010"#, "takeprofit", &["`take_profit`"]),
    (r#""TakeProfitTicks":80"#, "TakeProfitTicks", &["`take_profit_ticks`"]),
    (r#""take_profit_points":5"#, "take_profit_points", &["`takeProfit.amount`"]),
    (r#""takeprofti":21010"#, "takeprofti", &["`take_profit`"]),
    (r#""take_proft":21010"#, "take_proft", &["`take_profit`"]),
    (r#""tp_ticks":80"#, "tp_ticks", &["`take_profit_ticks`"]),
    (r#""tp1":21010"#, "tp1", &["`tp`"]),
    (r#""profit_target":21010"#, "profit_target", &["`take_profit`"]),
    (r#""target":21010"#, "target", &["`take_profit"]),
    (r#""tgt_ticks":80"#, "tgt_ticks", &["`take_profit_ticks`"]),
    // Both legs, trails, break-even, money and risk: names near the ones issue 12 reads point at them.
    (r#""bracket":{"sl":1,"tp":2}"#, "bracket", &["`stop_loss_ticks`", "`take_profit_ticks`"]),
    (r#""sl_tp":"20/40""#, "sl_tp", &["`stop_loss_ticks`", "`take_profit_ticks`"]),
    (r#""trailing_stop":5"#, "trailing_stop", &["`trail_price`", "not supported"]),
    (r#""trailAmount":5"#, "trailAmount", &["`trail_price`"]),
    (r#""break_even":1"#, "break_even", &["break-even", "`breakeven_after_ticks`"]),
    (r#""stop_loss_dollars":100"#, "stop_loss_dollars", &["in dollars", "`stop_loss_usd`", "`stop_loss_percent`"]),
    (r#""tp_usd":200"#, "tp_usd", &["`take_profit_usd`"]),
    (r#""sl_pct":1"#, "sl_pct", &["`stop_loss_percent`"]),
    (r#""max_risk":50"#, "max_risk", &["`risk_usd`", "`quantity`"]),
    // Refused whatever the action: a typo in the template shows up on its first alert.
    (r#""action":"exit","stoploss":40"#, "stoploss", &["`stop_loss`"]),
];

#[test]
fn protective_looking_fields_pxrelay_does_not_read_are_refused_naming_the_field_to_use() {
    let mut failures = Vec::new();
    for &(extra, field, mentions) in UNREAD {
        let json = body(extra);
        match parse(&json) {
            Err(e) if e.field == field && mentions.iter().all(|m| e.message.contains(m)) => {}
            other => failures.push(format!("{json}\n   want field {field} mentioning {mentions:?}\n   got  {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{} row(s) failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn a_long_made_up_name_is_shortened_in_the_error() {
    let name = format!("stoploss{}", "x".repeat(500));
    let err = parse(&body(&format!(r#""{name}":1"#))).unwrap_err();
    assert_eq!(err.field.chars().count(), 41, "{err}");
    assert!(err.field.ends_with('…') && !err.to_string().contains(&name), "{err}");
}

#[test]
fn the_issue_example_reads_as_a_sentence() {
    let err = parse(r#"{"ticker":"MNQ1!","action":"buy","quantity":1,"stoploss":40}"#).unwrap_err();
    assert_eq!(err.to_string(), format!("stoploss: {}", err.message));
    assert!(err.message.contains("did you mean `stop_loss`"), "{err}");
}

/// (payload, the field named, the spelling it should have had).
#[rustfmt::skip]
const CASE: &[(&str, &str, &str)] = &[
    (r#"{"ticker":"MNQ1!","Action":"buy"}"#, "Action", "action"),
    (r#"{"Symbol":"MNQ1!","action":"buy"}"#, "Symbol", "symbol"),
    (r#"{"TICKER":"MNQ1!","action":"buy"}"#, "TICKER", "ticker"),
    (r#"{"ticker":"MNQ1!","action":"buy","Quantity":2}"#, "Quantity", "quantity"),
    (r#"{"ticker":"MNQ1!","action":"buy","Stop_Loss_Ticks":20}"#, "Stop_Loss_Ticks", "stop_loss_ticks"),
    (r#"{"ticker":"MNQ1!","action":"buy","StopLoss":{"stopPrice":1}}"#, "StopLoss", "stopLoss"),
    (r#"{"ticker":"MNQ1!","action":"buy","SL":20990}"#, "SL", "sl"),
    (r#"{"ticker":"MNQ1!","action":"buy","TP":21010}"#, "TP", "tp"),
    (r#"{"ticker":"MNQ1!","action":"buy","Order_Type":"limit","limit_price":1}"#, "Order_Type", "order_type"),
    (r#"{"ticker":"MNQ1!","action":"buy","ID":"abc"}"#, "ID", "id"),
    (r#"{"ticker":"MNQ1!","action":"buy","limiTpRice":1}"#, "limiTpRice", "limitPrice"),
    (r#"{"ticker":"MNQ1!","action":"buy","Dollar_SL":150}"#, "Dollar_SL", "dollar_sl"),
    // Even next to the right spelling: which one the sender meant is not ours to guess.
    (r#"{"ticker":"MNQ1!","action":"buy","Action":"sell"}"#, "Action", "action"),
];

#[test]
fn names_differing_only_in_case_get_a_case_hint() {
    let mut failures = Vec::new();
    for &(json, field, right) in CASE {
        match parse(json) {
            Err(e)
                if e.field == field
                    && e.message.contains("case-sensitive")
                    && e.message.contains(&format!("`{field}` → `{right}`")) => {}
            other => failures.push(format!("{json}\n   want field {field} → {right}\n   got  {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{} row(s) failed:\n{}", failures.len(), failures.join("\n"));
}

/// Extras seen in TradingView, TradersPost and PickMyTrade messages (and in `tests/fixtures/alerts/`), plus names
/// that contain `sl`/`tp` letters without being about brackets.
#[rustfmt::skip]
const HARMLESS: &[&str] = &[
    r#""comment":"stop here","time":"2025-06-02T14:30:00Z","timenow":"2025-06-02T14:31:00Z","interval":"5","exchange":"CME""#,
    r#""close":"21000.25","open":1,"high":1,"low":1,"volume":1,"strategy":{"name":"x"},"message":"tp hit""#,
    r#""prev_market_position":"flat","market_position_size":1,"order_id":"Long","order_comment":"x""#,
    r#""signalPrice":6335.25,"extendedHours":false,"timeInForce":"day","interval_min":5"#,
    r#""date":"2025-06-02T14:31:00Z","pyramid":false,"reverse_order_close":true,"duplicate_position_allow":true"#,
    r#""multiple_accounts":[{"account_id":"A","risk_percentage":0,"quantity_multiplier":1,"stoploss":5}]"#,
    r#""platform":"RITHMIC","connection_name":"RITHMIC1","update_tp":false,"update_sl":false,"breakeven":0"#,
    r#""trail":0,"trail_stop":0,"trail_trigger":0,"trail_freq":0,"dollar_sl":0,"percentage_tp":0"#,
    r#""slippage":1,"slot":2,"slow_ma":3,"output":"x","http":"x","settlement":1,"description":"x","isLast":true"#,
    r#""tpl":"x","step":1,"top":1,"stock":"x","store":"x","prospect":"x","last_open":1"#,
];

#[test]
fn harmless_extras_are_still_ignored() {
    for extra in HARMLESS {
        let json = body(extra);
        assert!(parse(&json).is_ok(), "{json}: {:?}", parse(&json));
    }
}

#[test]
fn every_name_pxrelay_reads_passes_the_name_rule() {
    let names: Vec<_> = fields::names().chain(brackets::NAMES).collect();
    assert!(names.len() > 30, "{names:?}");
    for name in names {
        assert_eq!(check_name(name), None, "{name}");
    }
}

/// Every field name in the first column of the §3 table of `docs/tradingview.md` (`stopLoss.stopPrice` counts as
/// `stopLoss`), so the documented aliases and the code's list cannot drift apart.
#[test]
fn every_documented_field_and_alias_is_read_or_is_a_secret() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/tradingview.md");
    let doc = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (_, section) = doc.split_once("## 3. Fields").expect("§3");
    let mut documented = Vec::new();
    for row in section.lines().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|')).skip(2) {
        let first_cell = row.split('|').nth(1).expect("a cell");
        documented.extend(first_cell.split('`').skip(1).step_by(2).map(|n| n.split('.').next().unwrap_or(n)));
    }
    assert!(documented.len() > 30, "{documented:?}");
    let secret = ["secret", "passphrase", "key", "token"];
    let read: Vec<_> = fields::names().chain(brackets::NAMES).collect();
    for name in documented {
        assert!(read.contains(&name) || secret.contains(&name), "{name} is documented but not read");
    }
}

#[test]
fn secret_hint_names_a_case_variant_and_never_the_value() {
    for (field, right) in [("Secret", "secret"), ("PASSPHRASE", "passphrase"), ("Token", "token"), ("KEY", "key")] {
        let body = format!(r#"{{"ticker":"MNQ1!","action":"buy","{field}":"hunter2"}}"#);
        let envelope = Envelope::parse(body.as_bytes()).unwrap();
        assert_eq!(envelope.offered_secret(), None, "{field}");
        let hint = envelope.secret_hint().unwrap_or_else(|| panic!("{field}: no hint"));
        assert!(hint.contains(&format!("`{field}`")) && hint.contains(&format!("use `{right}`")), "{hint}");
        assert!(!hint.contains("hunter2"), "{hint}");
        assert!(!envelope.redacted_body().contains("hunter2"));
    }
}

#[test]
fn no_secret_hint_when_a_secret_is_spelled_right_or_absent() {
    let right = Envelope::parse(br#"{"ticker":"MNQ1!","action":"buy","secret":"a","Token":"b"}"#).unwrap();
    assert_eq!(right.secret_hint(), None);
    let none = Envelope::parse(br#"{"ticker":"MNQ1!","action":"buy","password":"p"}"#).unwrap();
    assert_eq!(none.secret_hint(), None);
    // A nested `Secret` is not where pxrelay looks either way.
    let nested = Envelope::parse(br#"{"ticker":"MNQ1!","action":"buy","auth":{"Secret":"x"}}"#).unwrap();
    assert_eq!(nested.secret_hint(), None);
}

/// Words that appear in harmless extra fields; names made of them must stay ignored.
const SAFE_WORDS: &[&str] = &[
    "comment", "time", "bar", "close", "open", "order", "id", "strategy", "name", "interval", "exchange", "note",
    "signal", "source", "position", "size", "market", "prev", "alert", "message", "plot", "value", "last", "index",
];

fn case_changes(name: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<bool>(), name.len()).prop_map(move |upper| {
        name.chars().zip(upper).map(|(c, u)| if u { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() }).collect()
    })
}

fn any_read_name() -> impl Strategy<Value = &'static str> {
    let names: Vec<&'static str> = fields::names().chain(brackets::NAMES).collect();
    prop::sample::select(names)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn a_read_name_in_any_other_case_is_refused_naming_the_right_spelling(
        spelled in any_read_name().prop_flat_map(|n| (Just(n), case_changes(n)))
    ) {
        let (right, got) = spelled;
        match check_name(&got) {
            None => prop_assert_eq!(got.as_str(), right, "only the exact spelling passes"),
            Some(e) => {
                prop_assert_eq!(e.field.as_ref(), got.as_str());
                // The case hint, or for `takeprofit` (one word, so more likely `take_profit` than `takeProfit`)
                // the protective message, which lists `takeProfit.limitPrice` among the accepted forms.
                let hint = format!("`{got}` → `{right}`");
                let listed = format!("`{right}");
                prop_assert!(e.message.contains(&hint) || e.message.contains(&listed), "{}", e.message);
            }
        }
    }

    #[test]
    /// Joined with `_`, `-`, a space or in camelCase. (Run together in one lower-case word they may contain a stem
    /// by accident, `last`+`open` = `lastopen` ⊃ `stop`: the rule matches stems inside a word so that `stoploss`
    /// is caught, and accepts that cost.)
    fn names_made_of_harmless_words_are_ignored(
        parts in prop::collection::vec(prop::sample::select(SAFE_WORDS), 1..4),
        sep in prop::sample::select(&["_", "-", " ", "camel"][..]),
    ) {
        let name = if sep == "camel" {
            let mut name = parts[0].to_owned();
            for p in &parts[1..] {
                name.push_str(&p[..1].to_ascii_uppercase());
                name.push_str(&p[1..]);
            }
            name
        } else {
            parts.join(sep)
        };
        prop_assume!(!fields::names().any(|n| n.eq_ignore_ascii_case(&name)));
        let json = body(&format!("{}:1", serde_json::Value::String(name.clone())));
        prop_assert!(parse(&json).is_ok(), "{}: {:?}", json, parse(&json));
    }
}
