//! Router tests of the dashboard (no socket): who gets in, which actions are refused, what the page holds.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

use crate::access::{Access, COOKIE_NAME};
use crate::state::{AppState, Mode};

const HOST: &str = "127.0.0.1:8080";
const ORIGIN: &str = "http://127.0.0.1:8080";

fn state(mode: Mode, password: Option<&str>) -> AppState {
    let mut state = crate::testing::test_state(mode);
    state.dashboard = Arc::new(Access::new(password.map(Into::into), mode));
    state
}

async fn send(state: &AppState, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let resp = crate::routes::router(state.clone()).oneshot(req).await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut req = Request::get(path).header("host", HOST);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.body(Body::empty()).unwrap()
}

fn post(path: &str, cookie: Option<&str>, origin: Option<&str>, body: &str) -> Request<Body> {
    let mut req = Request::post(path).header("host", HOST).header("content-type", "application/json");
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    req.body(Body::from(body.to_owned())).unwrap()
}

async fn log_in(state: &AppState, password: &str) -> (StatusCode, Option<String>) {
    let req = Request::post("/login")
        .header("host", HOST)
        .header("origin", ORIGIN)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("password={password}")))
        .unwrap();
    let (status, headers, _) = send(state, req).await;
    let cookie = headers.get("set-cookie").map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned());
    (status, cookie)
}

#[tokio::test]
async fn live_mode_without_a_password_answers_404_naming_the_variable() {
    let state = state(Mode::Live, None);
    for req in [get("/", None), get("/dashboard/live", None), post("/dashboard/kill", None, Some(ORIGIN), "{}")] {
        let (status, _, body) = send(&state, req).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("DASHBOARD_PASSWORD"), "{body}");
    }
}

#[tokio::test]
async fn sim_mode_without_a_password_is_open_but_actions_still_need_the_origin() {
    let state = state(Mode::Sim, None);
    let (status, _, page) = send(&state, get("/", None)).await;
    assert_eq!(status, StatusCode::OK);
    for panel in ["status-panel", "kill-state", "quotes", "accounts", "alerts", "builder-form", "flatten"] {
        assert!(page.contains(panel), "{panel} missing");
    }
    let on = r#"{"enabled": true}"#;
    let (status, _, _) = send(&state, post("/dashboard/kill", None, None, on)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no Origin");
    let (status, _, _) = send(&state, post("/dashboard/kill", None, Some("http://evil.example"), on)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another Origin");
    assert!(!state.webhook.guards.kill_switch.load(Ordering::Relaxed), "nothing changed");
    let (status, _, body) = send(&state, post("/dashboard/kill", None, Some(ORIGIN), on)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(state.webhook.guards.kill_switch.load(Ordering::Relaxed));
    let (_, _, live) = send(&state, get("/dashboard/live", None)).await;
    assert!(live.contains(r#"id="kill-state" class="bad">ON"#), "{live}");
}

#[tokio::test]
async fn a_wrong_password_gives_no_session_and_actions_need_session_and_origin() {
    let state = state(Mode::Live, Some("s3cret-pw"));
    let (status, cookie) = log_in(&state, "wrong").await;
    assert_eq!((status, cookie), (StatusCode::UNAUTHORIZED, None));
    let (status, headers, _) = send(&state, get("/", None)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/login");
    assert_eq!(send(&state, get("/dashboard/live", None)).await.0, StatusCode::UNAUTHORIZED);
    let forged = format!("{COOKIE_NAME}=0000");
    assert_eq!(send(&state, get("/dashboard/live", Some(&forged))).await.0, StatusCode::UNAUTHORIZED);

    let (status, cookie) = log_in(&state, "s3cret-pw").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = cookie.expect("a session cookie");
    assert_eq!(send(&state, get("/", Some(&cookie))).await.0, StatusCode::OK);

    let on = r#"{"enabled": true}"#;
    for (who, origin) in
        [(None, Some(ORIGIN)), (Some(cookie.as_str()), Some("http://evil.example")), (Some(cookie.as_str()), None)]
    {
        for path in ["/dashboard/kill", "/dashboard/flatten", "/dashboard/builder"] {
            let (status, _, _) = send(&state, post(path, who, origin, on)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path} {who:?} {origin:?}");
        }
    }
    assert!(!state.webhook.guards.kill_switch.load(Ordering::Relaxed));
    let (status, _, _) = send(&state, post("/dashboard/kill", Some(&cookie), Some(ORIGIN), on)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(state.webhook.guards.kill_switch.load(Ordering::Relaxed));

    let (status, _, _) = send(&state, post("/logout", Some(&cookie), Some(ORIGIN), "")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(send(&state, get("/dashboard/live", Some(&cookie))).await.0, StatusCode::UNAUTHORIZED, "logged out");
}

#[tokio::test]
async fn the_builder_shows_a_placeholder_never_the_secret_and_checks_with_the_parser() {
    let mut state = state(Mode::Sim, None);
    let mut hooks = Arc::try_unwrap(state.webhook).expect("the only reference");
    hooks.secret = Some("hook-secret-9f3a".into());
    state.webhook = Arc::new(hooks);
    let form = r#"{"symbol": "MNQ", "template": "buy", "quantity": "2", "order_type": "market", "unit": "ticks",
                   "stop_loss": "40", "take_profit": "80", "account": ""}"#;
    let (status, _, body) = send(&state, post("/dashboard/builder", None, Some(ORIGIN), form)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(!body.contains("hook-secret-9f3a"));
    let message = answer["message"].as_str().unwrap();
    assert!(
        message.starts_with(r#"{"secret": "YOUR_WEBHOOK_SECRET", "symbol": "MNQ", "action": "buy", "quantity": 2"#),
        "{message}"
    );
    assert!(message.contains(r#""stop_loss_ticks": 40"#) && message.contains(r#""time": "{{timenow}}""#), "{message}");
    assert_eq!(answer["check"]["ok"], true, "{answer}");
    assert_eq!(answer["check"]["intent"]["quantity"], 2);
    assert_eq!(answer["webhook_url"], "http://127.0.0.1:8080/webhook");

    let bad = r#"{"symbol": "MNQ", "template": "buy", "order_type": "limit", "price": "", "unit": "ticks"}"#;
    let (_, _, body) = send(&state, post("/dashboard/builder", None, Some(ORIGIN), bad)).await;
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["check"]["ok"], false);
    assert!(answer["check"]["error"].as_str().unwrap().contains("limit_price"), "{answer}");

    let (_, _, page) = send(&state, get("/", None)).await;
    assert!(!page.contains("hook-secret-9f3a"));
}
