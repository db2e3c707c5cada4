//! Router tests of the relay's dashboard (no socket): off without a password, the login, what the page holds.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use tower::ServiceExt;

use crate::access::Access;
use crate::journal::{Event, Execution, Journal, NewAlert, TimelineWrite};
use crate::mode::Mode;
use crate::outcome::{AlertStatus, Outcome};
use crate::relay::Relay;

const HOST: &str = "127.0.0.1:8080";
const TOKEN: &str = "EXECTOKEN-dash-test-5c1e9a7f3b2d";
const HOOK_SECRET: &str = "hook-secret-relay-dash-81d4";

fn relay(password: Option<&str>) -> Arc<Relay> {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("pxrelay-relay-dash-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Arc::new(Relay {
        journal: Journal::open(&dir.join("j.db"), Duration::from_secs(60), Mode::Live).expect("journal"),
        secret: Some(HOOK_SECRET.into()),
        ip_allowlist: false,
        wait: Duration::from_millis(10),
        duplicate_window: Duration::from_secs(60),
        token: TOKEN.into(),
        link: Arc::default(),
        metrics: crate::metrics::Metrics::new(),
        started: tokio::time::Instant::now(),
        dashboard: Access::new(password.map(Into::into), Mode::Live),
    })
}

async fn send(relay: &Arc<Relay>, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let resp = crate::relay::http::router(relay.clone()).oneshot(req).await.unwrap();
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

async fn log_in(relay: &Arc<Relay>, password: &str) -> (StatusCode, Option<String>) {
    let req = Request::post("/login")
        .header("host", HOST)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("password={password}")))
        .unwrap();
    let (status, headers, _) = send(relay, req).await;
    let cookie = headers.get("set-cookie").map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned());
    (status, cookie)
}

/// One relayed alert the executor placed and reported filled at 21000.5 against 21000.25 (1 tick of slippage).
async fn filled_alert(relay: &Relay, id: &str) {
    let received = Utc::now() - chrono::TimeDelta::seconds(1);
    let intent = crate::signal::parse_alert(br#"{"symbol":"MNQ","action":"buy"}"#).expect("a valid alert").intent;
    let alert = NewAlert {
        alert_id: id.into(),
        received_at: received,
        raw_body: r#"{"symbol":"MNQ","action":"buy"}"#.into(),
        intent,
        contract_id: None,
        account_id: None,
        content: None,
        parent_id: None,
    };
    relay.journal.record(alert).await.unwrap();
    relay.journal.mark_sent(id, crate::journal::Sending::Tagged).await.unwrap();
    let outcome = Outcome::new(AlertStatus::Placed, "order placed", "placed");
    relay.journal.finish(id, &outcome).await.unwrap();
    let fill = serde_json::json!({"order_id": 7, "trade_id": 1, "price": 21000.5, "size": 1, "fees": 0.37,
                                  "side": "buy", "role": "entry", "tick_size": 0.25});
    let at = Utc::now();
    let events = vec![TimelineWrite { alert_id: id.into(), event: Event::Filled, at, data: fill }];
    let execution = Execution { reference_price: Some("21000.25".parse().unwrap()), position_source: None };
    assert!(relay.journal.replace_timeline(id, events, execution).await.unwrap());
}

#[tokio::test]
async fn without_a_password_the_relay_dashboard_is_off_naming_the_variable() {
    let relay = relay(None);
    for path in ["/", "/dashboard/live", "/login", "/dashboard/alerts/x"] {
        let (status, _, body) = send(&relay, get(path, None)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(body.contains("DASHBOARD_PASSWORD"), "{path}: {body}");
    }
    assert_eq!(log_in(&relay, "anything").await, (StatusCode::NOT_FOUND, None));
}

#[tokio::test]
async fn after_login_the_page_shows_the_executor_and_the_relayed_alerts_fill_and_no_secret() {
    let relay = relay(Some("relay-pw-3e"));
    filled_alert(&relay, "relay-dash-alert-1").await;
    let (status, headers, _) = send(&relay, get("/", None)).await;
    assert_eq!((status, &headers["location"]), (StatusCode::SEE_OTHER, &"/login".parse().unwrap()));
    assert_eq!(send(&relay, get("/dashboard/live", None)).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(log_in(&relay, "wrong").await, (StatusCode::UNAUTHORIZED, None));

    let (status, cookie) = log_in(&relay, "relay-pw-3e").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = cookie.expect("a session cookie");
    let (status, _, page) = send(&relay, get("/", Some(&cookie))).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    for part in
        ["executor-panel", "executor-link", "not connected", "executor-backlog", "executor-note", "/dashboard/live"]
    {
        assert!(page.contains(part), "{part} missing: {page}");
    }
    assert!(page.contains(r#"data-alert-id="relay-dash-alert-1""#), "{page}");
    assert!(page.contains("/dashboard/alerts/relay-dash-alert-1"), "the row links to the entry");
    assert!(page.contains("status placed"), "the outcome");
    assert!(page.contains(" → filled"), "the timeline");
    assert!(page.contains("21000.5") && page.contains("+1.0 ticks"), "fill price and slippage: {page}");
    assert!(!page.contains("kill-on") && !page.contains("builder-form"), "no broker action on the relay");

    let (status, _, live) = send(&relay, get("/dashboard/live", Some(&cookie))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(live.contains("executor-panel") && live.contains("relay-dash-alert-1"));
    let (status, _, entry) = send(&relay, get("/dashboard/alerts/relay-dash-alert-1", Some(&cookie))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(entry.contains("21000.5"), "{entry}");

    for text in [&page, &live, &entry] {
        assert!(!text.contains(TOKEN) && !text.contains(HOOK_SECRET) && !text.contains("relay-pw-3e"));
    }
}
