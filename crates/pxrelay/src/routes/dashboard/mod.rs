//! The dashboard at `GET /`: one server-rendered page (maud templates, checked at compile time) showing the mode,
//! token, hubs, kill switch and risk blocks, quotes, each account's positions, orders, orphans, P&L and daily-loss
//! room with today's P&L curve, and the last 50 alerts; its live part is re-rendered by the server and swapped in
//! by a few lines of plain JS polling `GET /dashboard/live` every 500 ms (so an event shows within a second,
//! without a reload or a JS build step). Actions: the kill switch on/off and "flatten all", through the same code
//! as `POST /kill` ([`crate::routes::kill::switch`]); and the alert-message builder ([`builder`]).
//!
//! Access ([`crate::access`]): `DASHBOARD_PASSWORD` → `GET /login` form, a session cookie, `POST /logout`; every action
//! is a POST needing the session and this host's `Origin` (403 otherwise). Without a password it is open in sim
//! mode and off (404 naming `DASHBOARD_PASSWORD`) in live mode. No page carries a token, key or secret.
//!
//! Routes: `GET /`, `GET|POST /login`, `POST /logout`, `GET /dashboard/live`, `GET /dashboard/alerts/{id}`,
//! `POST /dashboard/kill` (`{"enabled": bool}`), `POST /dashboard/flatten`, `POST /dashboard/builder`.

pub mod builder;
mod chart;
pub(crate) mod panels;
pub mod snapshot;
pub(crate) mod view;

#[cfg(test)]
mod tests;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;

use crate::access::{self, Access, Policy, Verdict};
use crate::journal::Journal;
use crate::state::AppState;

/// The dashboard's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/dashboard/live", get(live))
        .route("/dashboard/alerts/{id}", get(entry))
        .route("/dashboard/kill", post(kill))
        .route("/dashboard/flatten", post(flatten))
        .route("/dashboard/builder", post(build))
}

/// The hint a live `serve` or `execute` without a password answers with.
pub const OFF_HINT: &str = "The dashboard is off: this instance trades live and DASHBOARD_PASSWORD is not set. Set \
                            DASHBOARD_PASSWORD to turn it on (docs/configuration.md); in --sim mode it is open without one.";

/// [`refuse_as`] with `serve`'s [`OFF_HINT`].
fn refuse(verdict: Verdict, page: bool, action: bool) -> Option<Response> {
    refuse_as(verdict, page, action, OFF_HINT)
}

/// Why a request was turned away, as its answer: 404 with `off_hint` when off; a redirect to the login form for a
/// page; 401 for the live fragment (the page's script then goes to the login form); 403 for an action.
pub(crate) fn refuse_as(verdict: Verdict, page: bool, action: bool, off_hint: &str) -> Option<Response> {
    let html = |code: StatusCode, text: &str| (code, Html(format!("<!DOCTYPE html><p>{text}</p>"))).into_response();
    match verdict {
        Verdict::Allowed => None,
        Verdict::Off => Some(html(StatusCode::NOT_FOUND, off_hint)),
        Verdict::ForeignOrigin => Some(html(
            StatusCode::FORBIDDEN,
            "Forbidden: this action must come from the dashboard's own page (Origin).",
        )),
        Verdict::NeedsLogin if action => Some(html(StatusCode::FORBIDDEN, "Forbidden: log in first (/login).")),
        Verdict::NeedsLogin if page => Some(redirect("/login", None)),
        Verdict::NeedsLogin => Some(html(StatusCode::UNAUTHORIZED, "Log in first (/login).")),
    }
}

fn redirect(to: &'static str, cookie: Option<HeaderValue>) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(LOCATION, HeaderValue::from_static(to))]).into_response();
    if let Some(cookie) = cookie {
        response.headers_mut().insert(SET_COOKIE, cookie);
    }
    response
}

/// Pages are never cached: they are live.
pub(crate) fn fresh(markup: maud::Markup) -> Response {
    ([(CACHE_CONTROL, "no-store")], Html(markup.into_string())).into_response()
}

async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(refusal) = refuse(state.dashboard.check(&headers, false), true, false) {
        return refusal;
    }
    let snapshot = snapshot::gather(&state).await;
    let mut names: Vec<String> = state.webhook.accounts.describe().into_values().map(|a| a.name).collect();
    names.sort();
    names.extend(state.webhook.accounts.groups().iter().map(|g| g.name.clone()));
    let mode = match (state.mode, state.webhook.guards.dry_run) {
        (_, true) => format!("{} · dry run", state.mode),
        (mode, false) => mode.to_string(),
    };
    let can_log_out = state.dashboard.policy() == Policy::Login;
    fresh(view::page(&mode, panels::live(&snapshot), builder::form(&names), can_log_out))
}

async fn live(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(refusal) = refuse(state.dashboard.check(&headers, false), false, false) {
        return refusal;
    }
    fresh(panels::live(&snapshot::gather(&state).await))
}

async fn entry(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Some(refusal) = refuse(state.dashboard.check(&headers, false), true, false) {
        return refusal;
    }
    journal_entry(&state.webhook.journal, &id).await
}

/// One journal entry as a page (the row as `GET /alerts/{id}` gives it, pretty-printed); 404 when there is none.
pub(crate) async fn journal_entry(journal: &Journal, id: &str) -> Response {
    match journal.get(id).await {
        Ok(Some(alert)) => {
            let pretty = serde_json::to_string_pretty(&alert).unwrap_or_default();
            fresh(view::entry(id, &pretty))
        }
        Ok(None) => {
            (StatusCode::NOT_FOUND, Html("<!DOCTYPE html><p>No such alert in the journal.</p>")).into_response()
        }
        Err(e) => {
            (StatusCode::SERVICE_UNAVAILABLE, Html(format!("<!DOCTYPE html><p>The journal could not be read: {e}</p>")))
                .into_response()
        }
    }
}

async fn login_form(State(state): State<AppState>) -> Response {
    login_page(&state.dashboard, OFF_HINT)
}

async fn login(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    log_in(&state.dashboard, &headers, &body, OFF_HINT)
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    log_out(&state.dashboard, &headers)
}

/// `GET /login`: the form under [`Policy::Login`]; the page when open; 404 with `off_hint` when off.
pub(crate) fn login_page(access: &Access, off_hint: &str) -> Response {
    match access.policy() {
        Policy::Login => fresh(view::login(None)),
        Policy::Open => redirect("/", None),
        Policy::Off => refuse_as(Verdict::Off, true, false, off_hint).unwrap_or_default(),
    }
}

/// `POST /login` with `password=...` (a form post): the session cookie and a redirect to the page. A wrong password
/// answers 401 with the form again and no cookie.
pub(crate) fn log_in(access: &Access, headers: &HeaderMap, body: &[u8], off_hint: &str) -> Response {
    match access.policy() {
        Policy::Login => {}
        Policy::Open => return redirect("/", None),
        Policy::Off => return refuse_as(Verdict::Off, true, false, off_hint).unwrap_or_default(),
    }
    let offered = url::form_urlencoded::parse(body).find(|(k, _)| k == "password").map(|(_, v)| v.into_owned());
    match offered.and_then(|p| access.login(&p)) {
        Some(token) => {
            tracing::info!("dashboard login");
            redirect("/", Some(access::cookie(Some(&token), headers)))
        }
        None => {
            tracing::warn!("dashboard login refused: wrong password");
            (StatusCode::UNAUTHORIZED, fresh(view::login(Some("Wrong password.")))).into_response()
        }
    }
}

/// `POST /logout` (this host's `Origin` needed): the session ends and its cookie is cleared.
pub(crate) fn log_out(access: &Access, headers: &HeaderMap) -> Response {
    if !access::same_origin(headers) {
        return refuse(Verdict::ForeignOrigin, false, true).unwrap_or_default();
    }
    access.logout(headers);
    redirect("/login", Some(access::cookie(None, headers)))
}

/// `{"enabled": true|false}`: the kill switch, as `POST /kill` sets it.
async fn kill(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refusal) = refuse(state.dashboard.check(&headers, true), false, true) {
        return refusal;
    }
    let enabled = serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["enabled"].as_bool());
    let Some(enabled) = enabled else {
        return (StatusCode::BAD_REQUEST, "send {\"enabled\": true} or {\"enabled\": false}").into_response();
    };
    respond(crate::routes::kill::switch(&state, enabled, false).await)
}

/// Flatten all: the kill switch on, then every watched account flattened (`POST /kill` with `flatten`).
async fn flatten(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(refusal) = refuse(state.dashboard.check(&headers, true), false, true) {
        return refusal;
    }
    respond(crate::routes::kill::switch(&state, true, true).await)
}

fn respond(result: Result<Value, crate::error::ApiError>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn build(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refusal) = refuse(state.dashboard.check(&headers, true), false, true) {
        return refusal;
    }
    match serde_json::from_slice::<builder::Form>(&body) {
        Ok(form) => Json(builder::build(&state, &headers, &form).await).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, format!("the builder's fields: {e}")).into_response(),
    }
}
