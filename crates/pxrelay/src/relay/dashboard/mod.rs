//! The relay's dashboard at `GET /`: the executor link (connected, since, round-trip time, backlog, refused
//! connections: the `executor` value of the relay's `/status`, [`super::http::executor_status`]) and the last 50
//! alerts of the relay's journal with the timeline, outcome, fill price and slippage the executor reported (the
//! panel `serve`'s dashboard shows, [`crate::routes::dashboard::panels::alerts_panel`]), each linking to its full
//! entry. Positions, quotes, the kill switch and "flatten all" need the broker, so they are on the executor's own
//! dashboard on the trader's PC; the page says so.
//!
//! Same page shell, 500 ms poll of `GET /dashboard/live`, login form and session as `serve`'s dashboard
//! ([`crate::routes::dashboard`], [`crate::access`]): `DASHBOARD_PASSWORD` → `GET|POST /login`, a session cookie,
//! `POST /logout` (this host's `Origin`). The relay has no sim mode, so without a password it is off: 404 with
//! [`OFF_HINT`]. No page carries `EXECUTOR_TOKEN`, the webhook secret or any other secret: the executor value has
//! none and journal rows hold the redacted body only.
//!
//! Routes: `GET /`, `GET|POST /login`, `POST /logout`, `GET /dashboard/live`, `GET /dashboard/alerts/{id}`.

#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};
use serde_json::Value;

use super::Relay;
use crate::access::Policy;
use crate::routes::dashboard::panels::{alerts_panel, flag, text};
use crate::routes::dashboard::snapshot::ALERTS;
use crate::routes::dashboard::{self as pages, view};

type Shared = Arc<Relay>;

/// The relay's answer while `DASHBOARD_PASSWORD` is not set.
pub const OFF_HINT: &str = "The relay's dashboard is off: DASHBOARD_PASSWORD is not set. Set DASHBOARD_PASSWORD \
                            on the relay to turn it on (docs/relay.md).";

/// The dashboard's routes, for [`super::http::router`].
pub fn router() -> Router<Shared> {
    Router::new()
        .route("/", get(index))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/dashboard/live", get(live))
        .route("/dashboard/alerts/{id}", get(entry))
}

/// `Some(answer)` when `headers` may not read: see [`pages::refuse_as`].
fn refused(relay: &Relay, headers: &HeaderMap, page: bool) -> Option<Response> {
    pages::refuse_as(relay.dashboard.check(headers, false), page, false, OFF_HINT)
}

async fn index(State(relay): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(refusal) = refused(&relay, &headers, true) {
        return refusal;
    }
    let can_log_out = relay.dashboard.policy() == Policy::Login;
    pages::fresh(view::shell("relay", live_panels(&relay).await, executor_note(), can_log_out, ""))
}

async fn live(State(relay): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(refusal) = refused(&relay, &headers, false) {
        return refusal;
    }
    pages::fresh(live_panels(&relay).await)
}

async fn entry(State(relay): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Some(refusal) = refused(&relay, &headers, true) {
        return refusal;
    }
    pages::journal_entry(&relay.journal, &id).await
}

async fn login_form(State(relay): State<Shared>) -> Response {
    pages::login_page(&relay.dashboard, OFF_HINT)
}

async fn login(State(relay): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    pages::log_in(&relay.dashboard, &headers, &body, OFF_HINT)
}

async fn logout(State(relay): State<Shared>, headers: HeaderMap) -> Response {
    pages::log_out(&relay.dashboard, &headers)
}

/// The refreshed part: the executor link and the last [`ALERTS`] alerts.
async fn live_panels(relay: &Relay) -> Markup {
    let executor = super::http::executor_status(relay).await;
    let alerts = relay.journal.list(ALERTS).await.map_err(|e| format!("the journal could not be read: {e}"));
    html! {
        (executor_panel(&executor, relay.started.elapsed().as_secs()))
        (alerts_panel(&alerts))
    }
}

fn executor_panel(ex: &Value, uptime_secs: u64) -> Markup {
    let backlog = ex["backlog"].as_u64();
    html! {
        section #executor-panel.panel {
            h2 { "Executor" }
            dl {
                dt { "Link" } dd #executor-link {
                    (flag(ex["connected"] == true, "connected", "not connected", false))
                    @if ex["connected"] != true { " — alerts are journaled and sent when `pxrelay execute` connects" }
                }
                dt { "Since" } dd { (text(&ex["since"])) }
                dt { "Round trip" } dd { @match ex["rtt_ms"].as_f64() { Some(ms) => { (format!("{ms:.1} ms")) } None => { "—" } } }
                dt { "Backlog" } dd #executor-backlog {
                    @match backlog { Some(0) => { "0" } Some(n) => { span.bad { (n) " not yet acknowledged" } }
                                     None => { span.bad { "the journal could not be read" } } }
                }
                dt { "Refused" } dd { (text(&ex["refused"])) " connection(s) with a wrong or missing token" }
                dt { "Version" } dd { (env!("CARGO_PKG_VERSION")) " · up " (uptime_secs) " s" }
            }
        }
    }
}

/// Where the rest is: the executor's own dashboard.
fn executor_note() -> Markup {
    html! {
        section #executor-note.panel {
            h2 { "Positions, quotes, kill switch" }
            p {
                "This relay holds no broker credentials. Positions, orders, quotes, P&L, the kill switch and "
                "“flatten all” are on the executor's own dashboard: " code { "http://127.0.0.1:<PORT>/" }
                " on the trader's PC, where " code { "pxrelay execute" } " runs (docs/relay.md)."
            }
        }
    }
}
