//! The market task against the simulator's real SignalR hub: quotes merge, subscriptions are replayed after drops,
//! token rotation and 401s reconnect with a new token, the stale watchdog reconnects a frozen feed.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

mod common;

use std::time::Duration;

use common::*;
use projectx::market::MarketConfig;
use projectx::{ContractId, MarketHub, SubscribeError};
use projectx_sim::SimHandle;
use rust_decimal::Decimal;
use signalr::Backoff;
use tokio_util::sync::CancellationToken;

const MNQ: &str = "CON.F.US.MNQ.Z25";
const ES: &str = "CON.F.US.EP.Z25";

fn id(contract: &str) -> ContractId {
    ContractId::new(contract)
}

struct Feed {
    sim: SimHandle,
    client: projectx::Client,
    market: MarketHub,
    cancel: CancellationToken,
}

async fn feed(stale_after: Duration) -> Feed {
    let sim = sim().await;
    sim.set_quotes_per_second(0);
    let client = client(config(&sim, Some(credentials(&sim)), None));
    client.tokens().ensure_valid_token().await.unwrap();
    let mut cfg = MarketConfig::new(sim.market_hub_url().parse().unwrap());
    cfg.hub.backoff = Backoff::try_new(Duration::from_millis(20), Duration::from_millis(200)).unwrap();
    cfg.stale_after = stale_after;
    cfg.max_subscriptions = 3;
    let cancel = CancellationToken::new();
    let (market, _task) = MarketHub::start(cfg, client.tokens().clone(), cancel.clone());
    Feed { sim, client, market, cancel }
}

/// Polls `check` every 20 ms for up to 5 s.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..250 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for: {what}");
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

async fn connected(f: &Feed) {
    let m = f.market.clone();
    eventually("hub connected", || m.is_connected()).await;
}

#[tokio::test]
async fn the_snapshot_and_partial_deltas_merge_into_the_book() {
    let f = feed(Duration::from_secs(30)).await;
    connected(&f).await;
    f.market.subscribe(&id(MNQ)).await.unwrap();
    let book = f.market.quotes().clone();
    eventually("snapshot", || book.get(&id(MNQ)).is_some_and(|q| q.bid().is_some() && q.ask().is_some())).await;
    let before = book.get(&id(MNQ)).unwrap();
    f.sim.push_quote(
        MNQ,
        serde_json::json!({"symbol": "F.US.MNQ", "bestBid": 21001.75, "timestamp": "2026-11-22T21:00:00Z"}),
    );
    eventually("delta", || book.get(&id(MNQ)).is_some_and(|q| q.bid() == Some(d("21001.75")))).await;
    let after = book.get(&id(MNQ)).unwrap();
    assert_eq!(after.ask(), before.ask(), "absent fields are unchanged");
    assert_eq!(after.last(), before.last());
    assert_eq!(after.volume(), before.volume());
    f.sim.push_quote(MNQ, serde_json::json!({"symbol": "F.US.MNQ", "lastPrice": null, "bestAsk": 21002.25}));
    eventually("second delta", || book.get(&id(MNQ)).is_some_and(|q| q.ask() == Some(d("21002.25")))).await;
    assert_eq!(book.get(&id(MNQ)).unwrap().last(), before.last(), "null is unchanged, never zero");
    assert!(f.market.status().quotes_received >= 3);
    f.cancel.cancel();
}

#[tokio::test]
async fn subscriptions_are_replayed_after_the_hub_drops_every_socket() {
    let f = feed(Duration::from_secs(30)).await;
    connected(&f).await;
    f.market.subscribe(&id(MNQ)).await.unwrap();
    f.market.subscribe(&id(ES)).await.unwrap();
    let dropped = tokio::time::Instant::now();
    f.sim.drop_hub_connections();
    let sim = f.sim.clone();
    eventually("resubscribed on a new connection", || {
        sim.hub_counters().connects >= 2 && sim.hub_connections().iter().any(|c| c.subscriptions.len() == 2)
    })
    .await;
    assert!(dropped.elapsed() < Duration::from_secs(3), "took {:?}", dropped.elapsed());
    let book = f.market.quotes().clone();
    f.sim.push_quote(ES, serde_json::json!({"lastPrice": 6400.5}));
    eventually("quotes flow again", || book.get(&id(ES)).is_some_and(|q| q.last() == Some(d("6400.5")))).await;
    let status = f.market.status();
    assert!(status.reconnects >= 1, "{status:?}");
    assert_eq!(status.subscriptions, vec![id(ES), id(MNQ)]);
    f.cancel.cancel();
}

#[tokio::test]
async fn a_token_rotation_reconnects_the_hub_with_the_new_token() {
    let f = feed(Duration::from_secs(30)).await;
    connected(&f).await;
    f.market.subscribe(&id(MNQ)).await.unwrap();
    let sim = f.sim.clone();
    eventually("one connection", || sim.hub_connections().len() == 1).await;
    let first = f.sim.hub_connections()[0].token_id.clone();
    f.client.tokens().login_now().await.unwrap();
    eventually("reconnected with another token", || {
        let conns = sim.hub_connections();
        conns.len() == 1 && conns[0].token_id != first && !conns[0].subscriptions.is_empty()
    })
    .await;
    assert_eq!(f.market.status().token_reconnects, 1);
    let book = f.market.quotes().clone();
    f.sim.push_quote(MNQ, serde_json::json!({"lastPrice": 21003.5}));
    eventually("quotes continue", || book.get(&id(MNQ)).is_some_and(|q| q.last() == Some(d("21003.5")))).await;
    f.cancel.cancel();
}

#[tokio::test]
async fn a_401_on_upgrade_forces_a_refresh_before_the_next_attempt() {
    let f = feed(Duration::from_secs(30)).await;
    connected(&f).await;
    let logins = f.sim.counters().logins;
    f.sim.revoke_all_tokens();
    f.sim.drop_hub_connections();
    let sim = f.sim.clone();
    eventually("a 401, a login, and a connection again", || {
        sim.hub_counters().rejected_upgrades >= 1 && sim.counters().logins > logins && sim.hub_connections().len() == 1
    })
    .await;
    f.cancel.cancel();
}

#[tokio::test]
async fn a_frozen_feed_is_reconnected_by_the_stale_watchdog() {
    let f = feed(Duration::from_millis(400)).await;
    connected(&f).await;
    f.sim.set_quotes_per_second(20);
    f.market.subscribe(&id(MNQ)).await.unwrap();
    let book = f.market.quotes().clone();
    eventually("quotes", || book.get(&id(MNQ)).is_some_and(|q| q.updates > 3)).await;
    f.sim.freeze_quotes(true);
    let m = f.market.clone();
    eventually("stale reconnect", || m.status().stale_reconnects >= 1).await;
    f.sim.freeze_quotes(false);
    let before = f.market.status().quotes_received;
    let m = f.market.clone();
    eventually("quotes again after the reconnect", || m.status().quotes_received > before + 3).await;
    assert!(f.sim.hub_counters().connects >= 2);
    f.cancel.cancel();
}

#[tokio::test]
async fn unknown_contracts_are_refused_and_the_subscription_count_is_bounded() {
    let f = feed(Duration::from_secs(30)).await;
    connected(&f).await;
    let err = f.market.subscribe(&id("CON.F.US.NOPE.Z25")).await.unwrap_err();
    assert!(matches!(err, SubscribeError::Hub(_)), "{err:?}");
    assert!(!f.market.is_subscribed(&id("CON.F.US.NOPE.Z25")));
    for c in [MNQ, ES, "CON.F.US.MES.Z25"] {
        f.market.subscribe(&id(c)).await.unwrap();
    }
    assert_eq!(f.market.subscribe(&id("CON.F.US.ENQ.Z25")).await, Err(SubscribeError::Full(3)));
    f.market.subscribe(&id(MNQ)).await.unwrap();
    f.market.unsubscribe(&id(ES)).await;
    f.market.subscribe(&id("CON.F.US.ENQ.Z25")).await.unwrap();
    f.cancel.cancel();
}

/// No quotes flow for two minutes, four times the simulator's 30 s client timeout: the client's keep-alive pings
/// keep the connection, and no reconnect happens.
#[tokio::test]
async fn the_connection_survives_two_quiet_minutes_against_a_30_second_client_timeout() {
    let f = feed(Duration::from_secs(600)).await;
    connected(&f).await;
    f.market.subscribe(&id(MNQ)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(120)).await;
    let hub = f.sim.hub_counters();
    assert_eq!(hub.connects, 1, "{hub:?}");
    assert_eq!(hub.client_timeouts, 0, "{hub:?}");
    assert!(hub.pings_received >= 6, "a ping every 15 s: {hub:?}");
    assert_eq!(f.market.status().reconnects, 0);
    let book = f.market.quotes().clone();
    f.sim.push_quote(MNQ, serde_json::json!({"lastPrice": 21004.75}));
    eventually("still receiving", || book.get(&id(MNQ)).is_some_and(|q| q.last() == Some(d("21004.75")))).await;
    f.cancel.cancel();
}
