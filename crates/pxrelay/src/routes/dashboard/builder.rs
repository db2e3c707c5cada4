//! The alert-message builder: symbol, template, order type, brackets (ticks, points or USD) and account → the exact
//! JSON to paste into TradingView's Message box and the webhook URL, checked by the webhook's own parser
//! ([`Envelope::parse`] → [`Envelope::intent`]). TradingView's placeholders (`{{strategy.order.action}}`,
//! `{{timenow}}` …) are checked with sample values (`buy`, `1`, `long`, now).
//!
//! The secret is never shown: the message carries [`SECRET_PLACEHOLDER`], which the trader replaces with their
//! `WEBHOOK_SECRET` (the page says so). "Test it" also runs the webhook's checks that read the gateway (the symbol
//! resolved, `ALLOWED_SYMBOLS`, the brackets against the tick grid, the accounts: `routes::webhook::prepare`) and
//! shows, per account, the requests the executor would send from the position the account book holds now, built
//! with the executor's own pieces ([`plan`], [`sizing`], [`signal::bracket_ticks`]). Nothing is journaled and
//! nothing is sent to the gateway.

use axum::http::HeaderMap;
use maud::{Markup, html};
use projectx::{OrderType, PlaceOrder};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::executor::{plan, reference, sizing};
use crate::signal::{self, Action, Envelope};
use crate::state::AppState;

/// What the message carries instead of the secret.
pub const SECRET_PLACEHOLDER: &str = "YOUR_WEBHOOK_SECRET";

/// The builder's fields, as the page's form sends them (JSON).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Form {
    /// The symbol (`MNQ`, `MNQ1!`), or `{{ticker}}`.
    pub symbol: String,
    /// `strategy`, `buy`, `sell`, `exit` or `reverse`.
    pub template: String,
    /// `market`, `limit` or `stop`.
    pub order_type: String,
    /// The limit or stop price (a number, or a placeholder such as `{{close}}`).
    pub price: String,
    /// Contracts for `buy`/`sell`/`reverse`.
    pub quantity: String,
    /// `ticks`, `points` or `usd`.
    pub unit: String,
    /// Stop-loss distance in `unit`; empty for none.
    pub stop_loss: String,
    /// Take-profit distance in `unit`; empty for none.
    pub take_profit: String,
    /// An account name or id, a group, or empty for the default.
    pub account: String,
    /// Run the "test it" dry run too.
    pub test: bool,
}

/// The message's fields in order: JSON text for a person to paste.
fn message(form: &Form) -> Vec<(&'static str, Value)> {
    let mut fields: Vec<(&'static str, Value)> = vec![("secret", SECRET_PLACEHOLDER.into())];
    let symbol = form.symbol.trim();
    fields.push(("symbol", if symbol.is_empty() { "{{ticker}}" } else { symbol }.into()));
    let quantity = form.quantity.trim().parse::<u32>().map_or_else(|_| Value::from(1), Value::from);
    match form.template.as_str() {
        "strategy" => {
            fields.push(("action", "{{strategy.order.action}}".into()));
            fields.push(("quantity", "{{strategy.order.contracts}}".into()));
            fields.push(("market_position", "{{strategy.market_position}}".into()));
        }
        "exit" => fields.push(("action", "exit".into())),
        other => {
            let action = if matches!(other, "sell" | "reverse") { other } else { "buy" };
            fields.push(("action", action.into()));
            fields.push(("quantity", quantity));
        }
    }
    if form.template != "exit" {
        let price = number_or_text(&form.price);
        match form.order_type.as_str() {
            "limit" => fields.extend([("order_type", "limit".into()), ("limit_price", price)]),
            "stop" => fields.extend([("order_type", "stop".into()), ("stop_price", price)]),
            _ => {}
        }
        for (leg, text) in [("stop", &form.stop_loss), ("take", &form.take_profit)] {
            let Some(value) = Some(number_or_text(text)).filter(|v| !text.trim().is_empty() && !v.is_null()) else {
                continue;
            };
            let stop = leg == "stop";
            match form.unit.as_str() {
                "points" => fields.push((if stop { "stopLoss" } else { "takeProfit" }, json!({ "amount": value }))),
                "usd" => fields.push((if stop { "stop_loss_usd" } else { "take_profit_usd" }, value)),
                _ => fields.push((if stop { "stop_loss_ticks" } else { "take_profit_ticks" }, value)),
            }
        }
    }
    if !form.account.trim().is_empty() {
        fields.push(("account", form.account.trim().into()));
    }
    fields.push(("time", "{{timenow}}".into()));
    fields
}

fn number_or_text(text: &str) -> Value {
    let text = text.trim();
    serde_json::from_str::<serde_json::Number>(text).map_or_else(|_| Value::from(text), Value::Number)
}

/// `fields` as one line of JSON, in order.
fn to_text(fields: &[(&str, Value)]) -> String {
    let inner: Vec<String> = fields.iter().map(|(k, v)| format!("{}: {v}", Value::from(*k))).collect();
    format!("{{{}}}", inner.join(", "))
}

/// The message with TradingView's placeholders filled with samples, for the parser.
fn sample(text: &str) -> String {
    text.replace("{{strategy.order.action}}", "buy")
        .replace("{{strategy.order.contracts}}", "1")
        .replace("{{strategy.market_position}}", "long")
        .replace("{{ticker}}", "MNQ")
        .replace("{{timenow}}", &chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// The builder's answer: `message` (to paste), `webhook_url`, `check` (`ok` and the parsed `intent`, or `error`
/// naming the field), and with `test`, `test` (per account: the `requests` that would be sent, or `error`).
pub async fn build(state: &AppState, headers: &HeaderMap, form: &Form) -> Value {
    let fields = message(form);
    let text = to_text(&fields);
    let scheme = if crate::access::over_https(headers) { "https" } else { "http" };
    let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost:8080");
    let parsed = Envelope::parse(sample(&text).as_bytes()).and_then(|e| e.intent());
    let check = match &parsed {
        Ok(intent) => json!({ "ok": true, "intent": intent }),
        Err(e) => json!({ "ok": false, "error": e.to_string() }),
    };
    let mut answer = json!({
        "message": text,
        "webhook_url": format!("{scheme}://{host}/webhook"),
        "secret_note": format!("Replace {SECRET_PLACEHOLDER} with your WEBHOOK_SECRET before pasting: this page never shows it."),
        "webhooks_enabled": state.webhook.secret.is_some(),
        "check": check,
    });
    if let (true, Ok(intent)) = (form.test, parsed) {
        answer["test"] = dry_run(state, intent).await;
    }
    answer
}

/// The "test it" run: the webhook's gateway-reading checks, then the requests per account (module doc).
async fn dry_run(state: &AppState, intent: signal::Intent) -> Value {
    if let Err(e) = crate::routes::queued::refuse_on_standby(state, "the dry run") {
        return json!({ "ok": false, "error": e.to_string() });
    }
    let (contract, targets) = match crate::routes::webhook::prepare(state, &intent).await {
        Ok(found) => found,
        Err(e) => return json!({ "ok": false, "error": e.to_string() }),
    };
    let mut accounts = Vec::new();
    for target in targets {
        let position = state.books.position(target.account, &contract.id);
        let requests = requests(state, &intent, &contract, target.account, position.unwrap_or(0)).await;
        accounts.push(json!({
            "account": target.account,
            "name": target.name,
            "position_now": position,
            "requests": requests.as_ref().ok(),
            "error": requests.err(),
        }));
    }
    json!({ "ok": true, "contract": contract.id, "accounts": accounts, "note": "dry run: nothing was journaled or sent" })
}

/// The requests for one account from `position` (signed contracts).
async fn requests(
    state: &AppState,
    intent: &signal::Intent,
    contract: &projectx::Contract,
    account: projectx::AccountId,
    position: i64,
) -> Result<Vec<Value>, String> {
    let close = json!({ "endpoint": "/api/Position/closeContract", "body": { "accountId": account, "contractId": contract.id } });
    let to = match intent.action {
        Action::Cancel => {
            return Ok(vec![json!({ "endpoint": "/api/Order/cancel", "body": "each working order of the contract" })]);
        }
        Action::Breakeven => {
            return Ok(vec![
                json!({ "endpoint": "/api/Order/modify", "body": "the stop-loss leg, to the average entry price" }),
            ]);
        }
        Action::Exit => return Ok(if position == 0 { vec![] } else { vec![close] }),
        Action::Reverse if position == 0 => return Err("no position to reverse: nothing would be sent".into()),
        Action::Reverse => -position.signum() * i64::from(intent.quantity),
        Action::Target => intent.target_position.unwrap_or(position),
        // `flat` (TradersPost): only closes the opposite position, never opens.
        Action::Buy if intent.close_only => {
            if position < 0 {
                0
            } else {
                position
            }
        }
        Action::Sell if intent.close_only => {
            if position > 0 {
                0
            } else {
                position
            }
        }
        _ => plan::target(position, intent.action, intent.quantity, intent.sentiment),
    };
    let plan = plan::plan(position, to);
    let mut out = Vec::new();
    if let Some(part) = plan.close {
        out.push(if plan.closes_all() { close } else { place(intent, contract, account, part.side, part.size, None)? });
    }
    if let Some(open) = plan.open {
        let streamed = || std::future::ready(crate::routes::webhook::streamed_market_price(state, contract));
        let reference = reference::bracket_reference(intent, streamed).await.price();
        let cap = state.webhook.guards.max_contracts_for(account);
        let sized =
            sizing::size(intent, contract.tick_size, contract.tick_value, reference, cap).map_err(|e| e.to_string())?;
        let ticks = signal::bracket_ticks(&sized.intent, open.side, reference, contract.tick_size)
            .map_err(|e| e.to_string())?;
        out.push(place(&sized.intent, contract, account, open.side, open.size, Some(ticks))?);
    }
    Ok(out)
}

/// An `Order/place` request as the executor builds it.
fn place(
    intent: &signal::Intent,
    contract: &projectx::Contract,
    account: projectx::AccountId,
    side: projectx::OrderSide,
    size: i64,
    brackets: Option<(Option<i32>, Option<i32>)>,
) -> Result<Value, String> {
    let (sl, tp) = brackets.unwrap_or((None, None));
    let order = PlaceOrder {
        account_id: account,
        contract_id: contract.id.clone(),
        order_type: intent.order.order_type(),
        side,
        size: i32::try_from(size).map_err(|_| "quantity is too large".to_owned())?,
        limit_price: matches!(intent.order, signal::OrderKind::Limit(_)).then(|| intent.order.price()).flatten(),
        stop_price: matches!(intent.order, signal::OrderKind::Stop(_)).then(|| intent.order.price()).flatten(),
        trail_price: matches!(intent.order, signal::OrderKind::TrailingStop(_)).then(|| intent.order.price()).flatten(),
        custom_tag: Some(signal::custom_tag("dashboard-test", 1)),
        stop_loss_bracket: sl.map(|ticks| projectx::Bracket { ticks, order_type: OrderType::Stop }),
        take_profit_bracket: tp.map(|ticks| projectx::Bracket { ticks, order_type: OrderType::Limit }),
    };
    Ok(json!({ "endpoint": "/api/Order/place", "body": order }))
}

/// The builder's form (static: the live poll never replaces it). `accounts` fills the account suggestions.
pub fn form(accounts: &[String]) -> Markup {
    html! {
        section #builder.panel.wide {
            h2 { "Alert-message builder" }
            form #builder-form {
                label { "Symbol " input name="symbol" value="MNQ" size="10"; }
                label { " Template " select name="template" {
                    option value="strategy" { "strategy (action + market position)" }
                    option value="buy" { "indicator: buy" } option value="sell" { "indicator: sell" }
                    option value="exit" { "exit" } option value="reverse" { "reverse" } } }
                label { " Qty " input name="quantity" value="1" size="3"; }
                label { " Order " select name="order_type" { option value="market" { "market" } option value="limit" { "limit" } option value="stop" { "stop" } } }
                label { " Price " input name="price" size="8" placeholder="limit/stop"; }
                br;
                label { "Brackets in " select name="unit" { option value="ticks" { "ticks" } option value="points" { "points" } option value="usd" { "USD" } } }
                label { " Stop loss " input name="stop_loss" value="40" size="5"; }
                label { " Take profit " input name="take_profit" value="80" size="5"; }
                label { " Account or group " input name="account" list="account-names" size="14" placeholder="default"; }
                datalist #account-names { @for a in accounts { option value=(a) {} } }
                " " button type="button" #test-alert { "Test it (dry run)" }
            }
            p { "Webhook URL: " code #webhook-url {} }
            p.muted #secret-note {}
            pre #message {}
            p #check {}
            pre #test-result {}
        }
    }
}
