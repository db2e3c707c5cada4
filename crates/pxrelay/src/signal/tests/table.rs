//! The table: one payload per row, expected intent or the field a rejection must name.

use super::{Action, Distance, Intent, OrderKind, buy, dec, parse};
use crate::signal::Sentiment;

enum Expect {
    Ok(Box<Intent>),
    Err(&'static str),
}

fn ok(change: impl FnOnce(&mut Intent)) -> Expect {
    let mut intent = buy();
    change(&mut intent);
    Expect::Ok(Box::new(intent))
}

fn same() -> Expect {
    Expect::Ok(Box::new(buy()))
}

/// Sets what an alert naming accounts parses to: `account` as given, and the names.
fn accounts(intent: &mut Intent, account: &str, names: &[&str]) {
    intent.account = Some(account.to_owned());
    intent.accounts = names.iter().map(|n| (*n).to_owned()).collect();
}

fn err(field: &'static str) -> Expect {
    Expect::Err(field)
}

/// Wraps the extra fields into a payload with symbol MNQ1! and action buy unless the row overrides them.
fn body(extra: &str) -> String {
    let mut fields = Vec::new();
    if !["\"symbol\"", "\"ticker\"", "\"instrument\""].iter().any(|k| extra.contains(k)) {
        fields.push(r#""symbol":"MNQ1!""#.to_owned());
    }
    if !["\"action\"", "\"side\"", "\"signal\"", "\"data\""].iter().any(|k| extra.contains(k)) {
        fields.push(r#""action":"buy""#.to_owned());
    }
    if !extra.is_empty() {
        fields.push(extra.to_owned());
    }
    format!("{{{}}}", fields.join(","))
}

#[rustfmt::skip]
fn rows() -> Vec<(&'static str, Expect)> {
    use Action::{Cancel, Exit, Reverse, Sell};
    vec![
        // Symbol and its aliases.
        (r#""symbol":"MNQ1!""#, same()),
        (r#""ticker":"MNQ1!""#, same()),
        (r#""instrument":"  MNQ1!  ""#, same()),
        (r#""symbol":"CME_MINI:MNQ1!""#, ok(|i| i.symbol = "CME_MINI:MNQ1!".into())),
        (r#""symbol":"MNQ1!","ticker":"MNQ1!""#, same()),
        (r#""symbol":"MNQ1!","ticker":"MES1!""#, err("symbol")),
        (r#""symbol":"""#, err("symbol")),
        (r#""symbol":null"#, err("symbol")),
        (r#""symbol":"MNQ 1!""#, err("symbol")),
        (r#""symbol":"MNQ\u00001!""#, err("symbol")),
        (r#""symbol":"ABCDEFGHIJABCDEFGHIJABCDEFGHIJABCDEFGHIJX""#, err("symbol")),
        (r#""symbol":["MNQ"]"#, err("symbol")),
        (r#""ticker":"{{ticker}}""#, err("ticker")),
        // Action and its aliases.
        (r#""action":"BUY""#, same()),
        (r#""action":"long""#, same()),
        (r#""side":"Long""#, same()),
        (r#""action":"sell""#, ok(|i| i.action = Sell)),
        (r#""side":"short""#, ok(|i| i.action = Sell)),
        (r#""signal":"exit""#, ok(|i| i.action = Exit)),
        (r#""action":"close""#, ok(|i| i.action = Exit)),
        (r#""data":"flat""#, ok(|i| i.action = Exit)),
        (r#""action":"FLATTEN""#, ok(|i| i.action = Exit)),
        (r#""data":"reverse""#, ok(|i| i.action = Reverse)),
        (r#""action":"cancel""#, ok(|i| i.action = Cancel)),
        (r#""action":"buy","side":"long""#, same()),
        (r#""action":"buy","side":"sell""#, err("action")),
        (r#""action":"hold""#, err("action")),
        (r#""action":"""#, err("action")),
        (r#""action":1"#, err("action")),
        (r#""action":{"type":"buy"}"#, err("action")),
        (r#""action":"{{strategy.order.action}}""#, err("action")),
        // Sentiment: TradersPost / {{strategy.market_position}}.
        (r#""action":"sell","sentiment":"flat""#, ok(|i| { i.action = Sell; i.close_only = true })),
        (r#""action":"sell","market_position":"FLAT""#, ok(|i| { i.action = Sell; i.close_only = true })),
        (r#""action":"buy","sentiment":"flat""#, ok(|i| i.close_only = true)),
        (r#""action":"buy","market_position":"short""#, ok(|i| i.sentiment = Some(Sentiment::Short))),
        (r#""action":"sell","market_position":"long""#, ok(|i| { i.action = Sell; i.sentiment = Some(Sentiment::Long) })),
        (r#""action":"buy","market_position":"long""#, ok(|i| i.sentiment = Some(Sentiment::Long))),
        (r#""action":"buy","sentiment":"bullish""#, ok(|i| i.sentiment = Some(Sentiment::Long))),
        (r#""action":"sell","sentiment":"bearish""#, ok(|i| { i.action = Sell; i.sentiment = Some(Sentiment::Short) })),
        (r#""action":"reverse","market_position":"short""#, ok(|i| i.action = Reverse)),
        // Target position: signed; alone it is the action; with exit/reverse/cancel it is a contradiction.
        (r#""target_position":-2"#, ok(|i| i.target_position = Some(-2))),
        (r#""position_size":"0""#, ok(|i| i.target_position = Some(0))),
        (r#""position_size":"1.5""#, err("position_size")),
        (r#""target_position":1e9"#, err("target_position")),
        (r#""target_position":2,"position_size":3"#, err("target_position")),
        (r#""action":"exit","target_position":0"#, err("action")),
        (r#""action":"cancel","position_size":1"#, err("action")),
        (r#""action":"exit","sentiment":"flat""#, ok(|i| { i.action = Exit; i.close_only = true })),
        (r#""action":"reverse","sentiment":"flat""#, err("sentiment")),
        (r#""sentiment":"sideways""#, err("sentiment")),
        (r#""sentiment":"flat","market_position":"long""#, err("sentiment")),
        (r#""market_position":"{{strategy.market_position}}""#, err("market_position")),
        // Quantity.
        (r#""quantity":3"#, ok(|i| i.quantity = 3)),
        (r#""qty":"3""#, ok(|i| i.quantity = 3)),
        (r#""size":3.0"#, ok(|i| i.quantity = 3)),
        (r#""contracts":" 2.00 ""#, ok(|i| i.quantity = 2)),
        (r#""quantity":"""#, same()),
        (r#""quantity":null"#, same()),
        (r#""quantity":0"#, err("quantity")),
        (r#""quantity":"0""#, err("quantity")),
        (r#""quantity":-1"#, err("quantity")),
        (r#""quantity":1.5"#, err("quantity")),
        (r#""quantity":"abc""#, err("quantity")),
        (r#""quantity":"1e2""#, ok(|i| i.quantity = 100)),
        (r#""quantity":"0x10""#, err("quantity")),
        (r#""quantity":"1_000""#, err("quantity")),
        (r#""quantity":99999999999"#, err("quantity")),
        (r#""quantity":true"#, err("quantity")),
        (r#""qty":"{{strategy.order.contracts}}""#, err("qty")),
        (r#""quantity":1,"qty":2"#, err("quantity")),
        (r#""quantity":2,"qty":"2""#, ok(|i| i.quantity = 2)),
        (r#""action":"exit","quantity":0"#, ok(|i| i.action = Exit)),
        (r#""action":"cancel","quantity":"abc""#, ok(|i| i.action = Cancel)),
        // Order type and prices.
        (r#""order_type":"market""#, same()),
        (r#""orderType":"MKT""#, same()),
        (r#""order_type":"limit","limit_price":21000.25"#, ok(|i| i.order = OrderKind::Limit(dec("21000.25")))),
        (r#""orderType":"LMT","limitPrice":"21000.25""#, ok(|i| i.order = OrderKind::Limit(dec("21000.25")))),
        (r#""order_type":"LMT","price":"21000.5""#, ok(|i| i.order = OrderKind::Limit(dec("21000.5")))),
        (r#""order_type":"limit","limit_price":21000,"price":20000"#, ok(|i| i.order = OrderKind::Limit(dec("21000")))),
        (r#""order_type":"limit""#, err("limit_price")),
        (r#""order_type":"limit","limit_price":0"#, err("limit_price")),
        (r#""order_type":"limit","limit_price":-5"#, err("limit_price")),
        (r#""order_type":"limit","limit_price":"21,000""#, err("limit_price")),
        (r#""order_type":"limit","limit_price":"{{close}}""#, err("limit_price")),
        (r#""order_type":"limit","limit_price":1,"limitPrice":2"#, err("limit_price")),
        (r#""order_type":"stop","stop_price":21010"#, ok(|i| i.order = OrderKind::Stop(dec("21010")))),
        (r#""order_type":"STP","stopPrice":"21010""#, ok(|i| i.order = OrderKind::Stop(dec("21010")))),
        (r#""order_type":"stop""#, err("stop_price")),
        (r#""order_type":"trailing_stop","trail_price":20990"#, ok(|i| i.order = OrderKind::TrailingStop(dec("20990")))),
        (r#""orderType":"Trailing-Stop","trailPrice":20990"#, ok(|i| i.order = OrderKind::TrailingStop(dec("20990")))),
        (r#""order_type":"trailing_stop","price":20990"#, err("trail_price")),
        (r#""order_type":"stop_limit","stop_price":1,"limit_price":1"#, err("order_type")),
        (r#""order_type":"STPLMT""#, err("order_type")),
        (r#""order_type":"iceberg""#, err("order_type")),
        (r#""order_type":"limit","orderType":"market","limit_price":1"#, err("order_type")),
        (r#""limit_price":21000"#, err("limit_price")),
        (r#""order_type":"limit","limit_price":21000,"stop_price":20000"#, err("stop_price")),
        (r#""price":"21000.25""#, same()),
        (r#""price":"{{close}}""#, same()),
        // Brackets.
        (r#""stop_loss_ticks":20,"take_profit_ticks":"40""#,
            ok(|i| { i.stop_loss = Some(Distance::Ticks(20)); i.take_profit = Some(Distance::Ticks(40)) })),
        (r#""stop_loss":20990.25,"take_profit":"21010""#,
            ok(|i| { i.stop_loss = Some(Distance::Price(dec("20990.25"))); i.take_profit = Some(Distance::Price(dec("21010"))) })),
        (r#""sl":"20990","tp":0"#, ok(|i| i.stop_loss = Some(Distance::Price(dec("20990"))))),
        (r#""sl":0,"tp":"0""#, same()),
        (r#""stopLoss":{"type":"stop","stopPrice":20990},"takeProfit":{"limitPrice":21010}"#,
            ok(|i| { i.stop_loss = Some(Distance::Price(dec("20990"))); i.take_profit = Some(Distance::Price(dec("21010"))) })),
        (r#""stopLoss":{"amount":10},"takeProfit":{"amount":"20.5"}"#,
            ok(|i| { i.stop_loss = Some(Distance::Points(dec("10"))); i.take_profit = Some(Distance::Points(dec("20.5"))) })),
        (r#""stopLoss":null"#, same()),
        (r#""stopLoss":{"type":"trailing_stop","trailAmount":5}"#, err("stopLoss.type")),
        (r#""stopLoss":{"type":"stop_limit","stopPrice":1,"limitPrice":1}"#, err("stopLoss.type")),
        (r#""stopLoss":{"type":"stop","percent":5}"#, ok(|i| i.stop_loss = Some(Distance::Percent(dec("5"))))),
        (r#""takeProfit":{"percent":"0.5"}"#, ok(|i| i.take_profit = Some(Distance::Percent(dec("0.5"))))),
        (r#""takeProfit":{"percent":100}"#, err("takeProfit.percent")),
        (r#""stopLoss":{"percent":1},"stop_loss_percent":2"#, err("stop_loss_percent")),
        (r#""takeProfit":{"pnlAmount":100}"#, err("takeProfit.pnlAmount")),
        (r#""stopLoss":{"type":"stop"}"#, err("stopLoss")),
        (r#""stopLoss":20990"#, err("stopLoss")),
        (r#""stopLoss":{"stopPrice":1,"amount":1}"#, err("stopLoss.stopPrice")),
        (r#""stop_loss_ticks":0"#, same()),
        (r#""stop_loss_ticks":1000"#, ok(|i| i.stop_loss = Some(Distance::Ticks(1000)))),
        (r#""stop_loss_ticks":1001"#, err("stop_loss_ticks")),
        (r#""stop_loss_ticks":-20"#, err("stop_loss_ticks")),
        (r#""take_profit_ticks":2.5"#, err("take_profit_ticks")),
        (r#""stop_loss":-1"#, err("stop_loss")),
        (r#""stop_loss":20990,"sl":"20990.00""#, ok(|i| i.stop_loss = Some(Distance::Price(dec("20990"))))),
        (r#""stop_loss":20990,"sl":20980"#, err("stop_loss")),
        (r#""stop_loss_ticks":20,"stop_loss":20990"#, err("stop_loss_ticks")),
        (r#""take_profit":21010,"takeProfit":{"amount":10}"#, err("take_profit")),
        (r#""action":"exit","stop_loss_ticks":20,"take_profit":21010"#, ok(|i| i.action = Exit)),
        (r#""action":"sell","sentiment":"flat","stop_loss_ticks":20"#, ok(|i| { i.action = Sell; i.close_only = true })),
        (r#""action":"reverse","stop_loss_ticks":20"#, ok(|i| { i.action = Reverse; i.stop_loss = Some(Distance::Ticks(20)) })),
        (r#""action":"exit","stop_loss_ticks":-1"#, err("stop_loss_ticks")),
        // PickMyTrade extras.
        (r#""dollar_sl":0,"percentage_sl":"0","dollar_tp":0.0,"percentage_tp":null,"risk_percentage":"0","trail":0"#, same()),
        (r#""dollar_sl":150"#, ok(|i| i.stop_loss = Some(Distance::Usd(dec("150"))))),
        (r#""percentage_tp":"2""#, ok(|i| i.take_profit = Some(Distance::Percent(dec("2"))))),
        (r#""risk_percentage":1"#, err("risk_percentage")),
        // Issue 12: dollars, percent, risk sizing and break-even.
        (r#""stop_loss_usd":50,"dollar_sl":"50.0""#, ok(|i| i.stop_loss = Some(Distance::Usd(dec("50"))))),
        (r#""stop_loss_usd":50,"stop_loss_ticks":40"#, err("stop_loss_ticks")),
        (r#""take_profit_usd":-5"#, err("take_profit_usd")),
        (r#""risk_usd":100,"stop_loss_ticks":40"#,
            ok(|i| { i.risk_usd = Some(dec("100")); i.stop_loss = Some(Distance::Ticks(40)) })),
        (r#""risk_usd":100"#, err("risk_usd")),
        (r#""risk_usd":100,"stop_loss_usd":50"#, err("risk_usd")),
        (r#""target_position":2,"stop_loss_usd":50"#, err("stop_loss_usd")),
        (r#""target_position":2,"take_profit_usd":50"#, err("take_profit_usd")),
        (r#""action":"exit","risk_usd":100"#, ok(|i| i.action = Exit)),
        (r#""action":"breakeven""#, ok(|i| i.action = Action::Breakeven)),
        (r#""action":"move_to_breakeven","offset_ticks":2,"quantity":0"#,
            ok(|i| { i.action = Action::Breakeven; i.offset_ticks = Some(2) })),
        (r#""action":"breakeven","target_position":1"#, err("action")),
        (r#""stop_loss_ticks":40,"breakeven_after_ticks":20,"offset_ticks":1"#,
            ok(|i| { i.stop_loss = Some(Distance::Ticks(40)); i.breakeven_after_ticks = Some(20); i.offset_ticks = Some(1) })),
        (r#""stop_loss_ticks":40,"breakeven_after_ticks":0,"offset_ticks":1"#, ok(|i| i.stop_loss = Some(Distance::Ticks(40)))),
        (r#""breakeven_after_ticks":20"#, err("breakeven_after_ticks")),
        (r#""stop_loss_ticks":40,"breakeven_after_ticks":4,"offset_ticks":4"#, err("offset_ticks")),
        (r#""stop_loss_ticks":40,"breakeven_after_ticks":1001"#, err("breakeven_after_ticks")),
        (r#""trail":1"#, err("trail")),
        (r#""advance_tp_sl":[{"tp":1,"quantity":1}]"#, err("advance_tp_sl")),
        (r#""advance_tp_sl":[]"#, same()),
        (r#""multiple_accounts":[{"account_id":"X","quantity_multiplier":1}],"pyramid":true,"note":"{{timenow}}""#, same()),
        // Account and alert id.
        (r#""account":"PRAC-V2-1234""#, ok(|i| accounts(i, "PRAC-V2-1234", &["PRAC-V2-1234"]))),
        (r#""account_id":12345"#, ok(|i| accounts(i, "12345", &["12345"]))),
        (r#""accountId":"12345""#, ok(|i| accounts(i, "12345", &["12345"]))),
        (r#""account":" evals , PA-9012 ""#, ok(|i| accounts(i, "evals , PA-9012", &["evals", "PA-9012"]))),
        (r#""accounts":["evals"," PA-9012 ",12345]"#, ok(|i| accounts(i, "evals,PA-9012,12345", &["evals", "PA-9012", "12345"]))),
        (r#""accounts":"evals,PA-9012""#, ok(|i| accounts(i, "evals,PA-9012", &["evals", "PA-9012"]))),
        (r#""accounts":[]"#, same()),
        (r#""accounts":null"#, same()),
        (r#""accounts":["evals",""]"#, err("accounts")),
        (r#""accounts":[["evals"]]"#, err("accounts")),
        (r#""accounts":[true]"#, err("accounts")),
        (r#""accounts":{"evals":1}"#, err("accounts")),
        (r#""account":"evals,,PA-9012""#, err("account")),
        (r#""account":"A","accounts":["B"]"#, err("accounts")),
        (r#""account_id":"A","accounts":"B""#, err("accounts")),
        (r#""account":"""#, same()),
        (r#""account":"A","account_id":"B""#, err("account")),
        (r#""id":"abc-1""#, ok(|i| i.alert_id = Some("abc-1".into()))),
        (r#""alert_id":" abc-1 ""#, ok(|i| i.alert_id = Some("abc-1".into()))),
        (r#""signal_id":42"#, ok(|i| i.alert_id = Some("42".into()))),
        (r#""id":"Ünïcode ok""#, ok(|i| i.alert_id = Some("Ünïcode ok".into()))),
        (r#""id":"0123456789012345678901234567890123456789012345678901234567890123""#,
            ok(|i| i.alert_id = Some("0123456789012345678901234567890123456789012345678901234567890123".into()))),
        (r#""id":"01234567890123456789012345678901234567890123456789012345678901234""#, err("id")),
        (r#""id":"bell\u0007""#, err("id")),
        (r#""id":"a","alert_id":"b""#, err("id")),
        (r#""id":["a"]"#, err("id")),
        // Unknown fields are ignored.
        (r#""strategy":{"name":"x"},"comment":"{{strategy.order.comment}}","bar":"{{time}}""#, same()),
    ]
}

#[test]
fn payload_table() {
    let mut failures = Vec::new();
    for (extra, expect) in rows() {
        let json = body(extra);
        let got = parse(&json);
        let fine = match (&expect, &got) {
            (Expect::Ok(want), Ok(intent)) => **want == *intent,
            (Expect::Err(field), Err(e)) => e.field == *field && !e.message.is_empty(),
            _ => false,
        };
        if !fine {
            let want = match expect {
                Expect::Ok(i) => format!("Ok({i:?})"),
                Expect::Err(f) => format!("Err(field {f})"),
            };
            failures.push(format!("{json}\n   want {want}\n   got  {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{} row(s) failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn missing_symbol_and_action_are_named() {
    assert_eq!(parse(r#"{"action":"buy"}"#).unwrap_err().field, "symbol");
    assert_eq!(parse(r#"{"symbol":"MNQ1!"}"#).unwrap_err().field, "action");
    assert_eq!(parse("{}").unwrap_err().field, "symbol");
    let target = parse(r#"{"symbol":"MNQ1!","target_position":-1}"#).unwrap();
    assert_eq!((target.action, target.target_position), (Action::Target, Some(-1)), "a target needs no action");
}
