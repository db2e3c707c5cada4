//! The live part of the dashboard: every panel that changes, rendered from one [`Snapshot`] and swapped in whole
//! by the page's poll (`GET /dashboard/live`, every 500 ms). Reads `/status` values by name; shows no token, key or
//! secret (none is in `/status` or the journal rows it shows).

use maud::{Markup, html};
use serde_json::Value;

use super::chart::pnl_svg;
use super::snapshot::Snapshot;
use crate::journal::StoredAlert;

/// A JSON value for a person: strings bare, `null` as a dash.
pub(crate) fn text(v: &Value) -> String {
    match v {
        Value::Null => "—".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A USD amount, green or red.
fn money(v: &Value) -> Markup {
    let n = v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok()));
    let class = match n {
        Some(n) if n < 0.0 => "neg",
        Some(_) => "pos",
        None => "",
    };
    html! { span class=(class) { (text(v)) } }
}

/// On/off as a coloured word.
pub(crate) fn flag(on: bool, yes: &str, no: &str, on_is_bad: bool) -> Markup {
    let class = if on == on_is_bad { "bad" } else { "good" };
    html! { span class=(class) { (if on { yes } else { no }) } }
}

/// The whole live fragment.
pub(super) fn live(s: &Snapshot) -> Markup {
    html! {
        (status_panel(&s.status))
        (guards_panel(&s.status))
        (quotes_panel(s))
        (accounts_panel(s))
        (alerts_panel(&s.alerts))
    }
}

fn status_panel(st: &Value) -> Markup {
    let token = &st["token"];
    let market = &st["market"];
    let user = &st["user_hub"];
    html! {
        section #status-panel.panel {
            h2 { "Connection" }
            dl {
                dt { "Mode" } dd #mode { b { (text(&st["mode"])) } @if st["dry_run"] == true { " · " span.bad { "DRY RUN" } } }
                dt { "Startup" } dd { (text(&st["startup"]["stage"])) }
                dt { "Token expires" } dd {
                    (text(&token["expires_at"]))
                    @if let Some(left) = token["seconds_left"].as_u64() { " (in " (left / 60) " min)" }
                    @if token["failures"].as_u64().unwrap_or(0) > 0 { " · " span.bad { (text(&token["failures"])) " refresh failures" } }
                }
                dt { "Market hub" } dd #market-hub {
                    (flag(market["connected"] == true, "connected", "disconnected", false))
                    " · " (market["subscriptions"].as_array().map_or(0, Vec::len)) " subscriptions · "
                    (text(&market["reconnects"])) " reconnects"
                }
                dt { "User hub" } dd #user-hub {
                    (flag(user["connected"] == true, "connected", "disconnected", false))
                    @if user["synced"] == true { " · synced" }
                    @if !st["user_hub_pause"].is_null() { " · " span.bad { "re-login paused: " (text(&st["user_hub_pause"]["reason"])) } }
                }
                dt { "Version" } dd { (text(&st["version"])) " · up " (text(&st["uptime_secs"])) " s" }
            }
        }
    }
}

fn guards_panel(st: &Value) -> Markup {
    let kill = st["kill_switch"] == true;
    let hours = &st["hours"];
    let blocked: Vec<&Value> =
        st["accounts"].as_array().into_iter().flatten().filter(|a| a["risk"]["blocked"] == true).collect();
    html! {
        section #guards.panel {
            h2 { "Kill switch & risk" }
            dl {
                dt { "Kill switch" } dd { span #kill-state class=(if kill { "bad" } else { "good" }) { (if kill { "ON" } else { "OFF" }) }
                    @if kill { " — entries refused, exits allowed" } }
                dt { "Market" } dd { (flag(hours["market_open"] == true, "open", "closed", false))
                    " · window " (flag(hours["window_open"] == true, "open", "closed", false))
                    @if hours["flat_by_block"] == true { " · " span.bad { "FLAT_BY block" } }
                    @if !hours["next_entry_allowed_at"].is_null() { " · entries from " (text(&hours["next_entry_allowed_at"])) } }
                dt { "Risk blocks" } dd #risk-blocks {
                    @if blocked.is_empty() { "none" }
                    @for a in &blocked { div.bad { (text(&a["name"])) ": " (text(&a["risk"]["blocked_reason"])) } }
                }
            }
        }
    }
}

fn quotes_panel(s: &Snapshot) -> Markup {
    html! {
        section #quotes.panel {
            h2 { "Quotes" }
            @if s.quotes.is_empty() { p.muted { "No subscriptions (QUOTE_SYMBOLS, or a symbol traded)." } }
            @else {
                table { tr { th { "Contract" } th { "Bid" } th { "Ask" } th { "Last" } th { "Age" } }
                    @for q in &s.quotes {
                        tr class=(if q.stale { "stale" } else { "" }) {
                            td { (q.contract) } td { (opt(q.bid)) } td { (opt(q.ask)) } td { (opt(q.last)) }
                            td { @match q.age_ms { Some(ms) => { (format!("{:.1} s", ms as f64 / 1000.0)) } None => { "never" } }
                                 @if q.stale { " " span.bad { "STALE" } } }
                        }
                    }
                }
            }
        }
    }
}

fn opt(d: Option<rust_decimal::Decimal>) -> String {
    d.map_or_else(|| "—".to_owned(), |d| d.to_string())
}

fn accounts_panel(s: &Snapshot) -> Markup {
    let accounts = s.status["accounts"].as_array().cloned().unwrap_or_default();
    html! {
        section #accounts.panel.wide {
            h2 { "Accounts" }
            @if accounts.is_empty() { p.muted { "No watched account yet." } }
            @for a in &accounts {
                @let id = a["id"].as_i64().unwrap_or_default();
                @let risk = &a["risk"];
                div.account data-account=(id) {
                    h3 { (text(&a["name"])) " " span.muted { "(" (id) ")" }
                        @if a["can_trade"] == false { " " span.bad { "cannot trade" } } }
                    div.figures {
                        dl {
                            dt { "Balance" } dd { (text(&a["balance"])) }
                            dt { "Realized today" } dd { (money(&a["realized_pnl_today"])) }
                            dt { "Fees today" } dd { (text(&a["fees_today"])) }
                            dt { "Open P&L" } dd { (money(&a["open_pnl"])) }
                            dt { "Day P&L" } dd { (money(&risk["day_pnl"])) }
                            dt { "Daily-loss room" } dd { @if risk["limit"].is_null() { "no DAILY_LOSS_LIMIT" }
                                @else { (text(&risk["room_left"])) " of " (text(&risk["limit"])) } }
                        }
                        @if let Some((_, curve)) = s.curves.iter().find(|(acc, _)| i64::from(acc.get()) == id) {
                            figure { (pnl_svg(curve)) figcaption { "P&L today (realized − fees, then now with open P&L)" } }
                        }
                    }
                    h4 { "Positions" }
                    (rows(&a["positions"], &[("contract_id", "Contract"), ("size", "Size"), ("average_price", "Avg"),
                        ("mark_price", "Mark"), ("open_pnl", "Open P&L"), ("opened_by", "Opened by")]))
                    h4 { "Working orders" }
                    (rows(&a["working_orders"], &[("id", "Id"), ("contract_id", "Contract"), ("side", "Side"), ("size", "Size"),
                        ("type", "Type"), ("limit_price", "Limit"), ("stop_price", "Stop")]))
                    h4 { "Orphans" }
                    (rows(&a["orphans"], &[("id", "Id"), ("contract_id", "Contract"), ("parent_order_id", "Parent"), ("error", "Why")]))
                }
            }
        }
    }
}

/// A cell: the gateway's numeric `side` and `type` as words (ProjectX: side 0 buy, 1 sell; type 1 limit, 2
/// market, 4 stop, 5 trailing stop, 6 join bid, 7 join ask), anything else as [`text`].
fn cell(field: &str, v: &Value) -> String {
    let word = match (field, v.as_i64()) {
        ("side", Some(0)) => "buy",
        ("side", Some(1)) => "sell",
        ("type", Some(1)) => "limit",
        ("type", Some(2)) => "market",
        ("type", Some(4)) => "stop",
        ("type", Some(5)) => "trailing stop",
        ("type", Some(6)) => "join bid",
        ("type", Some(7)) => "join ask",
        _ => return text(v),
    };
    word.to_owned()
}

/// A table of `list`'s objects, one column per `(field, heading)`; "none" when empty.
fn rows(list: &Value, columns: &[(&str, &str)]) -> Markup {
    let items = list.as_array().cloned().unwrap_or_default();
    html! {
        @if items.is_empty() { p.muted { "none" } }
        @else {
            table { tr { @for (_, h) in columns { th { (h) } } }
                @for item in &items { tr { @for (f, _) in columns { td { (cell(f, &item[*f])) } } } } }
        }
    }
}

/// The last alerts: `alerts` as [`crate::journal::Journal::list`] gives them (newest first), or why the journal could
/// not be read. Each row links to `/dashboard/alerts/{id}` (the full entry). Shared with the relay's dashboard
/// ([`crate::relay::dashboard`]), whose rows carry the timeline and fills the executor reported.
pub(crate) fn alerts_panel(alerts: &Result<Vec<StoredAlert>, String>) -> Markup {
    html! {
        section #alerts.panel.wide {
            h2 { "Last " (super::snapshot::ALERTS) " alerts" }
            @match alerts {
                Err(why) => { p.bad { (why) } }
                Ok(list) if list.is_empty() => { p.muted { "No alert yet." } }
                Ok(list) => {
                    table {
                        tr { th { "Received" } th { "Alert" } th { "Symbol" } th { "Action" } th { "Account" } th { "Outcome" }
                             th { "Latency" } th { "Timeline" } th { "Fill" } th { "Slippage" } th { "Message" } }
                        @for a in list { (alert_row(a)) }
                    }
                }
            }
        }
    }
}

fn alert_row(a: &StoredAlert) -> Markup {
    let received = chrono::DateTime::parse_from_rfc3339(&a.received_at).ok();
    let since = |at: &str| {
        let at = chrono::DateTime::parse_from_rfc3339(at).ok()?;
        Some((at - received?).num_milliseconds())
    };
    let latency = a.acked_at.as_deref().and_then(since);
    let intent = a.intent.as_ref();
    let message = a.error.clone().or_else(|| a.response.as_ref().and_then(|r| r.message.clone()));
    html! {
        tr.alert data-alert-id=(a.alert_id) {
            td { (received.map_or_else(|| a.received_at.clone(), |r| r.format("%H:%M:%S%.3f").to_string())) }
            td { a href=(format!("/dashboard/alerts/{}", urlencode(&a.alert_id))) { (short(&a.alert_id)) } }
            td { (intent.map_or("—", |i| i.symbol.as_str())) }
            td { (intent.map_or("—", |i| i.action.as_str())) }
            td { (a.account_id.map_or_else(|| "—".to_owned(), |id| id.to_string())) }
            td { span class=(format!("status {}", a.status.as_str())) { (a.status.as_str()) } }
            td { (latency.map_or_else(|| "—".to_owned(), |ms| format!("{ms} ms"))) }
            td.timeline { "received"
                @for e in &a.timeline { @if e.event.as_str() != "received" {
                    " → " (e.event.as_str()) @if let Some(ms) = since(&e.at) { " +" (ms) "ms" } } } }
            td { (opt(a.fill_price)) }
            td { (a.slippage_ticks.map_or_else(|| "—".to_owned(), |t| format!("{t:+.1} ticks"))) }
            td.msg { (message.unwrap_or_default()) }
        }
    }
}

/// The first 16 characters of a long id.
fn short(id: &str) -> String {
    if id.chars().count() > 16 { format!("{}…", id.chars().take(16).collect::<String>()) } else { id.to_owned() }
}

/// `id` for a URL path segment.
pub(super) fn urlencode(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
