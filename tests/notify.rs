//! Notifications (issue 15) through the real app against the simulator, with local receivers on 127.0.0.1 standing
//! in for Discord, Telegram and a generic webhook: a filled alert reaches all three within 2 s; a receiver that
//! never answers, flooded with 1,000 events, slows no alert and its queue stays bounded; the user hub down longer
//! than `NOTIFY_OUTAGE_SECS` gives one `hub_down`, then one recovery (and a failing token one `token_failing`);
//! orphan legs, a kill-switch flatten, a refused alert and a daily loss breach are each told.

#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use projectx_sim::SimHandle;
use pxrelay::notify::{EventKind, Notice, Notifier};
use pxrelay_e2e::{MNQ, TestApp, alert, app_on, quiet_sim};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What a receiver got: each request's path and JSON body, in order.
type Got = mpsc::UnboundedReceiver<(String, Value)>;

async fn record(State(got): State<mpsc::UnboundedSender<(String, Value)>>, uri: Uri, body: Bytes) -> &'static str {
    let _ = got.send((uri.path().to_owned(), serde_json::from_slice(&body).unwrap_or(Value::Null)));
    "ok"
}

/// A receiver on 127.0.0.1:0 answering 200 to everything; its base URL and what it got.
async fn receiver() -> (String, Got) {
    let (tx, got) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, Router::new().fallback(record).with_state(tx)).await });
    (format!("http://{addr}"), got)
}

/// A receiver that accepts connections and never answers (each send waits for its timeout).
async fn dead_receiver() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (format!("http://{addr}/hook"), task)
}

/// The next request before `deadline`.
async fn next_by(got: &mut Got, deadline: Instant, what: &str) -> (String, Value) {
    match tokio::time::timeout_at(deadline, got.recv()).await {
        Ok(Some(request)) => request,
        _ => panic!("{what}: nothing arrived in time"),
    }
}

/// Waits until the default account's book is live (fills are attributed from the user hub).
async fn book_live(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, status) = app.get_json("/status").await;
        if status["accounts"][0]["live"] == true {
            return;
        }
        assert!(Instant::now() < deadline, "the book never went live: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn trading_sim() -> SimHandle {
    let sim = quiet_sim().await;
    sim.set_price(MNQ, Decimal::new(21_000, 0));
    sim
}

#[tokio::test]
async fn a_filled_alert_reaches_a_discord_a_telegram_and_a_generic_receiver_within_two_seconds() {
    let (base, mut got) = receiver().await;
    let urls = format!("{base}/api/webhooks/123/tok,{base}/bot42:SECRET/sendMessage?chat_id=-1001,{base}/hook");
    let sim = trading_sim().await;
    let app = app_on(&sim, &[("NOTIFY_URLS", &urls)]).await;
    book_live(&app).await;
    let sent = Instant::now();
    let (code, body) = app.alert(alert(json!({"action": "buy", "quantity": 1, "id": "n-1"}))).await;
    assert_eq!((code, body["status"].as_str()), (200, Some("placed")), "{body}");
    let deadline = sent + Duration::from_secs(2);
    let mut requests = Vec::new();
    for _ in 0..3 {
        requests.push(next_by(&mut got, deadline, "three notifications within 2 s of the alert").await);
    }
    requests.sort_by(|a, b| a.0.cmp(&b.0));
    let (discord, telegram, generic) = (&requests[0], &requests[1], &requests[2]);
    assert_eq!(discord.0, "/api/webhooks/123/tok");
    let content = discord.1["content"].as_str().unwrap();
    assert!(content.starts_with("pxrelay filled: buy 1 ") && content.contains("n-1"), "{content}");
    assert_eq!(telegram.0, "/bot42:SECRET/sendMessage");
    assert_eq!((telegram.1["chat_id"].as_str(), telegram.1["text"].as_str()), (Some("-1001"), Some(content)));
    assert_eq!(generic.0, "/hook");
    let g = &generic.1;
    assert_eq!(
        (g["event"].as_str(), g["alert_id"].as_str(), g["symbol"].as_str()),
        (Some("filled"), Some("n-1"), Some(MNQ))
    );
    assert_eq!((g["side"].as_str(), g["size"].as_i64(), g["role"].as_str()), (Some("buy"), Some(1), Some("entry")));
    let fill_price: Decimal = g["price"].to_string().parse().unwrap();
    assert_eq!(fill_price, sim.trades()[0].price, "{g}");
    assert!(g["account"].is_string() && g["at"].as_str().unwrap().ends_with('Z'), "{g}");
    // One of each: `placed` is not in the default NOTIFY_EVENTS, and the fill is told once.
    assert!(tokio::time::timeout(Duration::from_millis(500), got.recv()).await.is_err(), "a fourth notification");
    let (_, metrics) = app.get_json("/status").await;
    assert!(!metrics.to_string().contains("SECRET"), "no notification URL in /status");
    app.stop().await.unwrap();
}

/// A pxrelay of its own (the test needs its notifier), against `sim` with `extra`.
struct Relay {
    addr: std::net::SocketAddr,
    notify: Notifier,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn relay(sim: &SimHandle, extra: &[(&str, &str)]) -> Relay {
    let mut env = pxrelay_e2e::env_for(sim);
    env.insert("WEBHOOK_SECRET".into(), pxrelay_e2e::SECRET.into());
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let settings = pxrelay::config::Settings::load(None, &env).unwrap();
    let app = pxrelay::startup::App::build(settings, pxrelay::state::Mode::Live).await.unwrap();
    let (addr, notify, warm) = (app.local_addr(), app.state().notify.clone(), app.state().warmup.clone());
    let books = app.state().books.clone();
    let stop = CancellationToken::new();
    let task = tokio::spawn(app.run_until(stop.clone().cancelled_owned()));
    warm.subscribe().wait_for(|s| *s == pxrelay::warmup::Stage::Ready).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !books.accounts().iter().any(|a| books.live_state(*a).is_some()) {
        assert!(Instant::now() < deadline, "the default account's book goes live");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Relay { addr, notify, stop, task }
}

/// Sends `n` alerts (buy, sell, buy, …; ids `<tag>-<i>`) and returns each one's round trip, sorted.
async fn latencies(relay: &Relay, tag: &str, n: usize, between: impl Fn()) -> Vec<Duration> {
    let http = reqwest::Client::new();
    let mut took = Vec::new();
    for i in 0..n {
        between();
        let action = if i % 2 == 0 { "buy" } else { "sell" };
        let started = Instant::now();
        let resp = http
            .post(format!("http://{}/webhook", relay.addr))
            .json(&alert(json!({"action": action, "quantity": 1, "id": format!("{tag}-{i}")})))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        took.push(started.elapsed());
        // A sell after the buy closes the long.
        let expected = if action == "buy" { "placed" } else { "closed" };
        assert_eq!((status.as_u16(), body["status"].as_str()), (200, Some(expected)), "{body}");
    }
    took.sort();
    took
}

#[tokio::test]
async fn a_thousand_events_against_a_dead_receiver_never_slow_an_alert_and_the_queue_stays_bounded() {
    const ALERTS: usize = 10;
    // Without notifications.
    let sim = trading_sim().await;
    let plain = relay(&sim, &[]).await;
    let baseline = latencies(&plain, "plain", ALERTS, || {}).await;
    plain.stop.cancel();
    plain.task.await.unwrap().unwrap();

    // With a receiver that never answers: 1,000 events at once, then 100 more before each alert.
    let (dead, held) = dead_receiver().await;
    let sim = trading_sim().await;
    let flooded = relay(&sim, &[("NOTIFY_URLS", &dead), ("NOTIFY_EVENTS", "all")]).await;
    let flood = |n: usize| {
        let started = Instant::now();
        for i in 0..n {
            flooded.notify.emit(Notice::new(EventKind::Failed, format!("flood {i}")).alert(format!("f-{i}")));
        }
        started.elapsed()
    };
    let emits = flood(1000);
    assert!(emits < Duration::from_millis(100), "1,000 emits took {emits:?}: emit must never wait");
    let capacity = flooded.notify.capacity();
    assert_eq!(capacity, pxrelay::notify::queue::CAPACITY);
    assert!(flooded.notify.queued()[0] <= capacity, "{:?}", flooded.notify.queued());
    let loaded = latencies(&flooded, "flooded", ALERTS, || {
        flood(100);
    })
    .await;

    // Medians compared, with a generous bound: the point is that nothing waits on the dead receiver (whose every
    // send waits 10 s for its timeout).
    let (base_median, loaded_median) = (baseline[ALERTS / 2], loaded[ALERTS / 2]);
    eprintln!("alert latency, sorted: without {baseline:?}; with the dead receiver {loaded:?}");
    assert!(
        loaded_median <= base_median * 3 + Duration::from_millis(100),
        "median alert latency {loaded_median:?} with the dead receiver vs {base_median:?} without ({baseline:?} / {loaded:?})"
    );
    assert!(loaded[ALERTS - 1] < Duration::from_secs(2), "slowest alert {:?}", loaded[ALERTS - 1]);
    // Memory: the queue never holds more than its capacity; the rest were dropped, and counted.
    let (queued, dropped) = (flooded.notify.queued()[0], flooded.notify.dropped()[0]);
    let emitted = 1000 + 100 * ALERTS as u64;
    assert!(queued <= capacity, "{queued} queued");
    assert!(dropped >= emitted - capacity as u64 - 1, "{dropped} dropped of {emitted}");
    let metrics = reqwest::get(format!("http://{}/metrics", flooded.addr)).await.unwrap().text().await.unwrap();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("pxrelay_notifications_total{") && l.contains("result=\"dropped\""))
        .unwrap_or_else(|| panic!("the dropped counter in /metrics:\n{metrics}"));
    assert!(line.contains("kind=\"generic\""), "{line}");
    let counted: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(counted >= dropped, "{line} vs {dropped}");
    flooded.stop.cancel();
    flooded.task.await.unwrap().unwrap();
    held.abort();
}

#[tokio::test]
async fn the_user_hub_down_longer_than_notify_outage_secs_gives_one_hub_down_then_one_recovery() {
    let (base, mut got) = receiver().await;
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[("NOTIFY_URLS", &format!("{base}/hook")), ("NOTIFY_OUTAGE_SECS", "1")]).await;
    book_live(&app).await;
    // Down for 3 s: dropped, and reconnects refused meanwhile.
    sim.refuse_hub_connects_for(Duration::from_secs(3));
    sim.drop_hub_connections();
    let dropped = Instant::now();
    let (_, down) = next_by(&mut got, dropped + Duration::from_secs(5), "hub_down").await;
    assert_eq!(
        (down["event"].as_str(), down["hub"].as_str(), down["state"].as_str()),
        (Some("hub_down"), Some("user"), Some("down")),
        "{down}"
    );
    assert!(dropped.elapsed() >= Duration::from_secs(1), "not before NOTIFY_OUTAGE_SECS");
    let (_, up) = next_by(&mut got, dropped + Duration::from_secs(20), "the recovery").await;
    assert_eq!(
        (up["event"].as_str(), up["hub"].as_str(), up["state"].as_str()),
        (Some("hub_down"), Some("user"), Some("recovered")),
        "{up}"
    );
    assert!(up["down_secs"].as_u64().unwrap() >= 1, "{up}");
    book_live(&app).await;
    // Nothing more: once per outage (two outage periods of quiet).
    assert!(tokio::time::timeout(Duration::from_secs(2), got.recv()).await.is_err(), "a third notification");
    app.stop().await.unwrap();
}

/// Requests until one whose generic `event` is `event` (others are skipped), within 5 s.
async fn event(got: &mut Got, event: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, body) = next_by(got, deadline, event).await;
        if body["event"] == event {
            return body;
        }
    }
}

#[tokio::test]
async fn orphan_legs_a_kill_switch_flatten_and_a_refused_alert_are_notified() {
    let (base, mut got) = receiver().await;
    let sim = trading_sim().await;
    let app = app_on(&sim, &[("NOTIFY_URLS", &format!("{base}/hook"))]).await;
    book_live(&app).await;
    let send = |fields: Value| app.alert(alert(fields));
    let (_, body) = send(json!({"action": "buy", "id": "o-1", "stop_loss_ticks": 40, "take_profit_ticks": 80})).await;
    assert_eq!(body["status"], "placed", "{body}");
    let deadline = Instant::now() + Duration::from_secs(2);
    while sim.orders().iter().filter(|o| o.status == 1).count() < 2 {
        assert!(Instant::now() < deadline, "the entry's two legs work");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Both leg cancels refused after the exit: two orphans.
    sim.fail_next(2, 500, projectx_sim::Scope::Path("/api/Order/cancel".into()));
    let (_, body) = send(json!({"action": "exit", "id": "o-2"})).await;
    assert_eq!(body["status"], "closed", "{body}");
    for _ in 0..2 {
        let orphan = event(&mut got, "orphan").await;
        assert!(orphan["message"].as_str().unwrap().contains("cancel it in the platform"), "{orphan}");
        assert!(orphan["order_id"].is_string() && orphan["symbol"] == MNQ, "{orphan}");
    }
    // A new position, then the kill switch with flatten: `flattened`; then an entry: `rejected`.
    let (_, body) = send(json!({"action": "buy", "id": "o-3"})).await;
    assert_eq!(body["status"], "placed", "{body}");
    let kill = json!({"secret": pxrelay_e2e::SECRET, "enabled": true, "flatten": true});
    let (code, body) = app.post("/kill", "application/json", &kill.to_string()).await;
    assert_eq!(code, 200, "{body}");
    let flattened = event(&mut got, "flattened").await;
    assert_eq!(
        (flattened["by"].as_str(), flattened["status"].as_str()),
        (Some("kill switch"), Some("closed")),
        "{flattened}"
    );
    assert!(flattened["closed"].as_u64().unwrap() >= 1, "{flattened}");
    let (_, body) = send(json!({"action": "buy", "id": "o-4"})).await;
    assert_eq!(body["status"], "rejected", "{body}");
    let rejected = event(&mut got, "rejected").await;
    assert_eq!((rejected["alert_id"].as_str(), rejected["symbol"].as_str()), (Some("o-4"), Some("MNQ")), "{rejected}");
    assert!(rejected["message"].as_str().unwrap().contains("kill switch"), "{rejected}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_daily_loss_limit_breach_is_notified_as_blocked_then_flattened() {
    let (base, mut got) = receiver().await;
    let sim = trading_sim().await;
    let app = app_on(&sim, &[("NOTIFY_URLS", &format!("{base}/hook")), ("DAILY_LOSS_LIMIT", "50")]).await;
    book_live(&app).await;
    let (_, body) = app
        .alert(alert(
            json!({"action": "buy", "quantity": 1, "stop_loss_ticks": 400, "take_profit_ticks": 400, "id": "d-1"}),
        ))
        .await;
    assert_eq!(body["status"], "placed", "{body}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, status) = app.get_json("/status").await;
        if status["accounts"][0]["risk"]["day_pnl"].is_number() {
            break;
        }
        assert!(Instant::now() < deadline, "the day P&L is known: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // 30 points down: $60 open loss, past the $50 limit.
    sim.move_price_to(MNQ, Decimal::new(20_970, 0), 6);
    let blocked = event(&mut got, "blocked").await;
    assert_eq!(
        (blocked["kind"].as_str(), blocked["action"].as_str()),
        (Some("loss_limit"), Some("flatten")),
        "{blocked}"
    );
    assert!(blocked["message"].as_str().unwrap().contains("DAILY_LOSS_LIMIT"), "{blocked}");
    assert!(blocked["until"].is_string() && blocked["account"].is_string(), "{blocked}");
    let flattened = event(&mut got, "flattened").await;
    assert!(flattened["by"].as_str().unwrap().starts_with("daily loss limit"), "{flattened}");
    assert_eq!(flattened["status"], "closed", "{flattened}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_failing_session_token_longer_than_notify_outage_secs_gives_one_token_failing_then_one_recovery() {
    let (base, mut got) = receiver().await;
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[("NOTIFY_URLS", &format!("{base}/hook")), ("NOTIFY_OUTAGE_SECS", "1")]).await;
    // Logins fail for 3 s, and the current token is revoked: the next request meets a 401 and the refresh fails.
    sim.fail_for(Duration::from_secs(3), 503, projectx_sim::Scope::Auth);
    sim.revoke_all_tokens();
    let started = Instant::now();
    let _ = app.get_json("/quote/MNQ").await;
    // The user hub meets the 401 too, so a `hub_down` may come and go in between: one of each state per outage.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen: Vec<(String, String, Instant)> = Vec::new();
    let settled = |seen: &[(String, String, Instant)]| {
        let has = |e: &str, s: &str| seen.iter().any(|(ev, st, _)| ev == e && st == s);
        has("token_failing", "recovered") && (!has("hub_down", "down") || has("hub_down", "recovered"))
    };
    while !settled(&seen) {
        let (_, body) = next_by(&mut got, deadline, "token_failing down and recovered").await;
        seen.push((
            body["event"].as_str().unwrap().to_owned(),
            body["state"].as_str().unwrap().to_owned(),
            Instant::now(),
        ));
    }
    // Nothing more: once per outage.
    while let Ok(Some((_, body))) = tokio::time::timeout(Duration::from_secs(2), got.recv()).await {
        seen.push((
            body["event"].as_str().unwrap().to_owned(),
            body["state"].as_str().unwrap().to_owned(),
            Instant::now(),
        ));
    }
    let of = |e: &str| seen.iter().filter(|(ev, _, _)| ev == e).map(|(_, st, _)| st.as_str()).collect::<Vec<_>>();
    assert_eq!(of("token_failing"), ["down", "recovered"], "{seen:?}");
    assert!(matches!(of("hub_down").as_slice(), [] | ["down", "recovered"]), "{seen:?}");
    let first = seen.iter().find(|(ev, _, _)| ev == "token_failing").unwrap().2;
    assert!(first.duration_since(started) >= Duration::from_secs(1), "not before NOTIFY_OUTAGE_SECS");
    app.stop().await.unwrap();
}
