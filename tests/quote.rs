//! `GET /quote/{symbol}` end to end: streamed quotes, on-demand subscription, the bars fallback when the stream
//! is stale, its cache protecting the History budget, and the error answers.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::time::Duration;

use projectx_sim::{HubKind, Scope, SimConfig};
use pxrelay_e2e::{TestApp, env_for, spawn_app, start_sim};
use rust_decimal::Decimal;

const MNQ: &str = "CON.F.US.MNQ.Z25";
const ES: &str = "CON.F.US.EP.Z25";
const BARS: &str = "/api/History/retrieveBars";

async fn app_with(extra: &[(&str, &str)]) -> TestApp {
    let sim = start_sim(SimConfig::default()).await;
    sim.set_quotes_per_second(0);
    let mut env = env_for(&sim);
    env.insert("QUOTE_SYMBOLS".into(), "MNQ".into());
    for (k, v) in extra {
        env.insert((*k).into(), (*v).into());
    }
    spawn_app(sim, env).await.unwrap()
}

fn dec(v: &serde_json::Value) -> Decimal {
    v.to_string().parse().unwrap()
}

/// Polls `/quote/{symbol}` until `check` accepts the body (5 s at most).
async fn quote_until(app: &TestApp, symbol: &str, check: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    for _ in 0..100 {
        let (code, body) = app.get_json(&format!("/quote/{symbol}")).await;
        if code == 200 && check(&body) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let last = app.get_json(&format!("/quote/{symbol}")).await;
    let status = app.get_json("/status").await;
    panic!("no matching quote for {symbol}: {last:?} {status:?} {:?}", app.sim.hub_connections());
}

#[tokio::test]
async fn a_subscribed_symbol_is_answered_from_the_stream() {
    let app = app_with(&[]).await;
    quote_until(&app, "MNQ", |b| b["source"] == "signalr").await;
    app.sim.push_quote(MNQ, serde_json::json!({"symbol": "F.US.MNQ", "bestBid": 21000.25, "bestAsk": 21000.5, "lastPrice": 21000.5, "volume": 1234, "timestamp": "2026-11-22T21:00:00Z"}));
    let q = quote_until(&app, "MNQ", |b| b["source"] == "signalr" && b["volume"] == 1234).await;
    assert_eq!(q["contract_id"], MNQ);
    assert_eq!(q["symbol"], "MNQ");
    assert_eq!(dec(&q["bid"]), "21000.25".parse::<Decimal>().unwrap());
    assert_eq!(dec(&q["ask"]), "21000.5".parse::<Decimal>().unwrap());
    assert_eq!(q["stale"], false);
    assert!(q["age_ms"].as_u64().unwrap() < 5000);
    for form in ["mnq", "MNQ1!", "CME_MINI:MNQ1!", "CON.F.US.MNQ.Z25"] {
        let (code, body) = app.get_json(&format!("/quote/{form}")).await;
        assert_eq!((code, body["contract_id"].as_str()), (200, Some(MNQ)), "{form}");
    }
    let (_, status) = app.get_json("/status").await;
    assert_eq!(status["market"]["connected"], true);
    assert_eq!(status["market"]["subscriptions"], serde_json::json!([MNQ]));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn another_symbol_is_subscribed_on_demand() {
    let app = app_with(&[]).await;
    let q = quote_until(&app, "ES", |b| b["source"] == "signalr").await;
    assert_eq!(q["contract_id"], ES);
    let (_, status) = app.get_json("/status").await;
    assert_eq!(status["market"]["subscriptions"], serde_json::json!([ES, MNQ]));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_stale_stream_falls_back_to_bars_cached_under_load() {
    let app = app_with(&[("QUOTE_MAX_AGE_SECS", "1"), ("BARS_CACHE_SECS", "30")]).await;
    quote_until(&app, "MNQ", |b| b["source"] == "signalr").await;
    app.sim.freeze_quotes(true);
    app.sim.set_price(MNQ, "21111.75".parse().unwrap());
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let before = app.sim.counters().calls(BARS);
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (http, addr) = (app.http.clone(), app.addr);
            tokio::spawn(async move {
                let r = http.get(format!("http://{addr}/quote/MNQ")).send().await.unwrap();
                (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap())
            })
        })
        .collect();
    for t in tasks {
        let (code, body) = t.await.unwrap();
        assert_eq!(code, 200);
        assert_eq!(body["source"], "bars", "{body}");
        assert_eq!(dec(&body["last"]), "21111.75".parse::<Decimal>().unwrap());
        assert!(body["bid"].is_null());
    }
    let c = app.sim.counters();
    assert_eq!(c.calls(BARS) - before, 1, "100 requests, one bars call: {c:?}");
    assert_eq!(c.rate_limited, 0);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_and_invalid_symbols_get_clear_json_errors() {
    let app = app_with(&[]).await;
    let (code, body) = app.get_json("/quote/ZZZ").await;
    assert_eq!((code, body["error"].as_str()), (404, Some("unknown_symbol")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("ZZZ"));
    let (code, body) = app.get_json("/quote/M%24Q").await;
    assert_eq!((code, body["error"].as_str()), (400, Some("invalid_symbol")), "{body}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn neither_stream_nor_bars_is_a_503() {
    let app = app_with(&[]).await;
    app.sim.refuse_hub_connects_for(Duration::from_secs(30));
    app.sim.drop_hub_connections();
    app.sim.fail_for(Duration::from_secs(30), 503, Scope::Path(BARS.into()));
    let (code, body) = app.get_json("/quote/ES").await;
    assert_eq!((code, body["error"].as_str()), (503, Some("quote_unavailable")), "{body}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn an_unknown_quote_symbol_stops_startup_naming_the_variable() {
    let sim = start_sim(SimConfig::default()).await;
    let mut env = env_for(&sim);
    env.insert("QUOTE_SYMBOLS".into(), "MNQ,NOPE".into());
    let err = spawn_app(sim, env).await.unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("QUOTE_SYMBOLS") && text.contains("NOPE"), "{text}");
}

#[tokio::test]
async fn a_quote_reaches_quote_within_half_a_second_of_startup() {
    let sim = start_sim(SimConfig::default()).await;
    let mut env = env_for(&sim);
    env.insert("QUOTE_SYMBOLS".into(), "MNQ".into());
    let started = tokio::time::Instant::now();
    let app = spawn_app(sim, env).await.unwrap();
    let q = quote_until(&app, "MNQ", |b| b["source"] == "signalr").await;
    let took = started.elapsed();
    assert!(took < Duration::from_millis(500), "first streamed quote after {took:?}: {q}");
    app.stop().await.unwrap();
}

/// A frozen feed: `/quote` keeps answering from the stream with a growing `age_ms`, reports `stale:true` once the
/// quote is older than QUOTE_MAX_AGE_SECS (while bars are unavailable), and serves bars once they are.
#[tokio::test]
async fn a_frozen_feed_ages_then_goes_stale_then_falls_back_to_bars() {
    let app = app_with(&[("QUOTE_MAX_AGE_SECS", "1"), ("MARKET_STALE_SECS", "600")]).await;
    quote_until(&app, "MNQ", |b| b["source"] == "signalr").await;
    app.sim.freeze_quotes(true);
    app.sim.fail_for(Duration::from_secs(600), 503, Scope::Path(BARS.into()));
    let first = quote_until(&app, "MNQ", |b| b["source"] == "signalr").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let later = quote_until(&app, "MNQ", |b| b["source"] == "signalr").await;
    assert!(later["age_ms"].as_u64() > first["age_ms"].as_u64(), "{first} then {later}");
    let stale = quote_until(&app, "MNQ", |b| b["stale"] == true).await;
    assert_eq!(stale["source"], "signalr", "{stale}");
    app.sim.clear_chaos();
    let bars = quote_until(&app, "MNQ", |b| b["source"] == "bars").await;
    assert_eq!(bars["stale"], false, "{bars}");
    app.stop().await.unwrap();
}

const MES: &str = "CON.F.US.MES.Z25";
const GC: &str = "CON.F.US.GCE.Z25";

/// The contracts subscribed at the simulator's market hub (its one market connection), sorted.
fn hub_quote_subscriptions(app: &TestApp) -> Vec<String> {
    let conns = app.sim.hub_connections();
    let market: Vec<_> = conns.iter().filter(|c| c.hub == HubKind::Market).collect();
    assert!(market.len() <= 1, "one market connection: {conns:?}");
    let mut contracts: Vec<String> = market
        .iter()
        .flat_map(|c| c.subscriptions.iter())
        .filter_map(|s| s.strip_prefix("quotes:").map(str::to_owned))
        .collect();
    contracts.sort();
    contracts
}

/// Polls the simulator's hub until exactly `want` (sorted) is subscribed (5 s at most).
async fn hub_subscriptions_become(app: &TestApp, want: &[&str]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let have = hub_quote_subscriptions(app);
        if have == want {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "hub subscriptions {have:?}, want {want:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn at_the_limit_the_least_recently_read_on_demand_subscription_is_evicted() {
    let sim = start_sim(SimConfig::default()).await;
    sim.set_quotes_per_second(0);
    let mut env = env_for(&sim);
    env.insert("MAX_QUOTE_SUBSCRIPTIONS".into(), "2".into());
    let app = spawn_app(sim, env).await.unwrap();
    quote_until(&app, "ES", |b| b["source"] == "signalr").await;
    quote_until(&app, "MES", |b| b["source"] == "signalr").await;
    hub_subscriptions_become(&app, &[ES, MES]).await;
    // ES is read again, so MES is now the least recently read.
    quote_until(&app, "ES", |b| b["source"] == "signalr").await;
    let gold = quote_until(&app, "GC", |b| b["source"] == "signalr").await;
    assert_eq!(gold["contract_id"], GC);
    hub_subscriptions_become(&app, &[ES, GC]).await;
    let (_, status) = app.get_json("/status").await;
    assert_eq!(status["market"]["subscriptions"], serde_json::json!([ES, GC]));
    // MES asked again: it comes back and takes the slot of the least recently read one, now ES.
    quote_until(&app, "MES", |b| b["source"] == "signalr").await;
    hub_subscriptions_become(&app, &[GC, MES]).await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_quote_symbols_subscription_is_never_the_one_evicted() {
    let app = app_with(&[("MAX_QUOTE_SUBSCRIPTIONS", "2")]).await;
    quote_until(&app, "ES", |b| b["source"] == "signalr").await;
    hub_subscriptions_become(&app, &[ES, MNQ]).await;
    // MNQ (QUOTE_SYMBOLS) was never read through /quote, yet ES is the one that gives way.
    quote_until(&app, "MES", |b| b["source"] == "signalr").await;
    hub_subscriptions_become(&app, &[MES, MNQ]).await;
    quote_until(&app, "MNQ", |b| b["source"] == "signalr").await;
    quote_until(&app, "GC", |b| b["source"] == "signalr").await;
    hub_subscriptions_become(&app, &[GC, MNQ]).await;
    app.stop().await.unwrap();
}
