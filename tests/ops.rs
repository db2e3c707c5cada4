//! Operations endpoints end to end: `/ready` follows the hub and the token, `/metrics` is valid Prometheus text with
//! every family, `/status` shows the counters.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::time::Duration;

use projectx_sim::{Scope, SimConfig, SimHandle};
use pxrelay_e2e::{TestApp, env_for, spawn_app, start_sim};
use serde_json::json;

const SECRET: &str = "ops-secret-9c2e";

async fn app(sim: &SimHandle, extra: &[(&str, &str)]) -> TestApp {
    let mut env = env_for(sim);
    env.insert("WEBHOOK_SECRET".into(), SECRET.into());
    env.insert("QUOTE_SYMBOLS".into(), "MNQ".into());
    for (k, v) in extra {
        env.insert((*k).into(), (*v).into());
    }
    spawn_app(sim.clone(), env).await.unwrap()
}

async fn ready_becomes(app: &TestApp, code: u16, within: Duration) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let (c, body) = app.get_json("/ready").await;
        if c == code {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "/ready stayed {c}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn ready_follows_the_market_hub_and_the_token() {
    let sim = start_sim(SimConfig::default()).await;
    sim.set_quotes_per_second(20);
    let app = app(&sim, &[("MARKET_STALE_SECS", "2")]).await;
    ready_becomes(&app, 200, Duration::from_secs(5)).await;
    assert_eq!(app.get_json("/health").await.0, 200);

    sim.refuse_hub_connects_for(Duration::from_secs(2));
    sim.drop_hub_connections();
    let body = ready_becomes(&app, 503, Duration::from_secs(3)).await;
    assert_eq!(body["checks"]["market"]["ok"], false, "{body}");
    assert_eq!(app.get_json("/health").await.0, 200, "liveness does not depend on the gateway");
    ready_becomes(&app, 200, Duration::from_secs(10)).await;

    // Revoked token, and the gateway refuses logins for a while: not ready until a new token is in hand.
    sim.revoke_all_tokens();
    sim.fail_for(Duration::from_secs(2), 503, Scope::Auth);
    sim.drop_hub_connections();
    let body = ready_becomes(&app, 503, Duration::from_secs(3)).await;
    // The hub's reconnect meets a 401, which marks the token refused; no new one can be had while logins fail.
    assert_eq!(body["checks"]["market"]["ok"], false, "{body}");
    ready_becomes(&app, 200, Duration::from_secs(20)).await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_carry_every_family() {
    let sim = start_sim(SimConfig::default()).await;
    sim.set_quotes_per_second(10);
    let app = app(&sim, &[]).await;
    let body = json!({"secret": SECRET, "symbol": "MNQ", "action": "buy", "id": "m1"});
    app.alert(body.clone()).await;
    app.alert(body).await;
    app.alert(json!({"secret": "nope", "symbol": "MNQ", "action": "buy"})).await;
    app.get_json("/quote/MNQ").await;
    let text = app.http.get(format!("http://{}/metrics", app.addr)).send().await.unwrap().text().await.unwrap();
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
    let names: std::collections::BTreeSet<&str> = scrape.samples.iter().map(|s| s.metric.as_str()).collect();
    for family in [
        "pxrelay_webhooks_total",
        "pxrelay_orders_total",
        "pxrelay_alert_ack_seconds",
        "pxrelay_gateway_request_seconds",
        "pxrelay_token_refreshes_total",
        "pxrelay_hub_reconnects_total",
        "pxrelay_quotes_received_total",
        "pxrelay_quote_age_seconds",
        "pxrelay_http_requests_total",
    ] {
        assert!(names.contains(family), "{family} missing from:\n{text}");
    }
    let value = |metric: &str, label: (&str, &str)| {
        scrape.samples.iter().find(|s| s.metric == metric && s.labels.get(label.0) == Some(label.1)).map(|s| {
            match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            }
        })
    };
    assert_eq!(value("pxrelay_webhooks_total", ("outcome", "accepted")), Some(1.0), "{text}");
    assert_eq!(value("pxrelay_webhooks_total", ("outcome", "duplicate")), Some(1.0));
    assert_eq!(value("pxrelay_webhooks_total", ("outcome", "unauthorized")), Some(1.0));
    assert_eq!(value("pxrelay_orders_total", ("outcome", "placed")), Some(1.0));
    assert!(text.contains(r#"route="/quote/{symbol}""#), "labels are route templates: {text}");
    assert!(!text.contains("m1") && !text.contains(SECRET), "no alert ids or secrets in labels");
    let (_, status) = app.get_json("/status").await;
    assert_eq!(status["webhooks"]["accepted"], 1);
    assert_eq!(status["webhooks"]["duplicate"], 1);
    assert!(status["journal"].as_str().unwrap().ends_with("journal.db"));
    app.stop().await.unwrap();
}
