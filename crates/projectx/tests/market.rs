//! The market task against the simulator's real SignalR hub: quotes merge, subscriptions are replayed after drops,
//! token rotation moves the feed to a new connection with no gap in the quotes (ten in a row), a planned Close
//! reconnects at once every time, a refused rotation keeps the old connection and retries, no connection while
//! nothing is subscribed, 401s reconnect with a new token, the stale watchdog reconnects a frozen feed.
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

fn id(contract: &str) -> ContractId {
    ContractId::new(contract)
}

const ES: &str = "CON.F.US.EP.Z25";

struct Feed {
    sim: SimHandle,
    client: projectx::Client,
    market: MarketHub,
    cancel: CancellationToken,
}

async fn feed(stale_after: Duration) -> Feed {
    let fast = Backoff::try_new(Duration::from_millis(20), Duration::from_millis(200)).unwrap();
    feed_with(stale_after, Some(fast), None).await
}

/// `backoff`: the hub's (`None`: the production default, 500 ms doubling to 30 s). `token_lifetime`: tokens that
/// short, refreshed ahead of expiry by the token manager's background refresher (so rotations keep coming).
async fn feed_with(stale_after: Duration, backoff: Option<Backoff>, token_lifetime: Option<Duration>) -> Feed {
    let sim = sim().await;
    sim.set_quotes_per_second(0);
    if let Some(lifetime) = token_lifetime {
        sim.set_token_lifetime(lifetime);
    }
    let client = client(config(&sim, Some(credentials(&sim)), None));
    client.tokens().ensure_valid_token().await.unwrap();
    let mut cfg = MarketConfig::new(sim.market_hub_url().parse().unwrap());
    if let Some(backoff) = backoff {
        cfg.hub.backoff = backoff;
    }
    cfg.stale_after = stale_after;
    cfg.max_subscriptions = 3;
    let cancel = CancellationToken::new();
    if token_lifetime.is_some() {
        tokio::spawn(client.tokens().clone().run_refresher(cancel.clone()));
    }
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
    f.market.subscribe(&id(MNQ)).await.unwrap();
    connected(&f).await;
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
    f.market.subscribe(&id(MNQ)).await.unwrap();
    connected(&f).await;
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
    f.market.subscribe(&id(MNQ)).await.unwrap();
    connected(&f).await;
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
    f.market.subscribe(&id(MNQ)).await.unwrap();
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
    f.sim.set_quotes_per_second(20);
    f.market.subscribe(&id(MNQ)).await.unwrap();
    connected(&f).await;
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
    f.market.subscribe(&id(MNQ)).await.unwrap();
    connected(&f).await;
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

/// Tracks the quote stream of one contract from outside: the largest gap between consecutive merged quotes.
struct GapMeter {
    updates: u64,
    last: Option<tokio::time::Instant>,
    largest: Duration,
}

impl GapMeter {
    fn new() -> Self {
        Self { updates: 0, last: None, largest: Duration::ZERO }
    }

    /// Looks at the book; a poll that misses quotes in between only makes the measured gap larger.
    fn sample(&mut self, book: &projectx::QuoteBook, contract: &str) {
        let Some(q) = book.get(&id(contract)) else { return };
        if q.updates == self.updates {
            return;
        }
        if let Some(last) = self.last {
            self.largest = self.largest.max(q.received_at.saturating_duration_since(last));
        }
        (self.updates, self.last) = (q.updates, Some(q.received_at));
    }
}

/// Ten token rotations in a row (4 s tokens, refreshed about every 1.3 s) with the production backoff: each one
/// opens the new connection and resubscribes before closing the old, so the quote stream never pauses.
#[tokio::test]
async fn ten_token_rotations_in_a_row_leave_no_gap_in_the_quotes() {
    let f = feed_with(Duration::from_secs(30), None, Some(Duration::from_secs(4))).await;
    f.sim.set_quotes_per_second(50);
    f.market.subscribe(&id(MNQ)).await.unwrap();
    let book = f.market.quotes().clone();
    eventually("quotes", || book.get(&id(MNQ)).is_some_and(|q| q.updates > 3)).await;
    let mut gaps = GapMeter::new();
    let mut tokens_seen = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while f.market.status().token_reconnects < 10 {
        assert!(tokio::time::Instant::now() < deadline, "10 rotations did not happen: {:?}", f.market.status());
        gaps.sample(&book, MNQ);
        let status = f.market.status();
        assert!(gaps.largest < Duration::from_secs(1), "a {:?} gap in the quotes by {status:?}", gaps.largest);
        tokens_seen.extend(f.sim.hub_connections().into_iter().map(|c| c.token_id));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    gaps.sample(&book, MNQ);
    tokens_seen.extend(f.sim.hub_connections().into_iter().map(|c| c.token_id));
    eprintln!("largest gap between quotes over 10 rotations: {:?}", gaps.largest);
    assert!(gaps.largest < Duration::from_secs(1), "a {:?} gap in the quotes", gaps.largest);
    assert!(tokens_seen.len() >= 11, "connections with {} different tokens", tokens_seen.len());
    let status = f.market.status();
    assert!(status.connected, "{status:?}");
    assert_eq!(status.reconnects, 0, "no connection was lost: {status:?}");
    // The old connections were closed: at most the current one and a rotation's candidate are open.
    let sim = f.sim.clone();
    eventually("at most two connections", || sim.hub_connections().len() <= 2).await;
    f.cancel.cancel();
}

/// A server Close with allowReconnect (a restart) is reconnected at once every time, with the production backoff
/// whose second delay would be 0.5 to 1 s; a dropped socket after it is still retried at once (the first failure).
#[tokio::test]
async fn a_planned_close_reconnects_at_once_every_time() {
    let f = feed_with(Duration::from_secs(30), None, None).await;
    f.market.subscribe(&id(MNQ)).await.unwrap();
    connected(&f).await;
    for round in 1..=3 {
        // Younger connections closed "with reconnect" count as failures (a server closing every connection).
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let before = f.sim.hub_counters().connects;
        let closed = tokio::time::Instant::now();
        f.sim.close_hub_connections(Some("restart"), true);
        let sim = f.sim.clone();
        eventually("resubscribed on a new connection", || {
            sim.hub_counters().connects > before && sim.hub_connections().iter().any(|c| !c.subscriptions.is_empty())
        })
        .await;
        assert!(closed.elapsed() < Duration::from_millis(400), "round {round}: took {:?}", closed.elapsed());
    }
    assert_eq!(f.market.status().reconnects, 3);
    let before = f.sim.hub_counters().connects;
    let dropped = tokio::time::Instant::now();
    f.sim.drop_hub_connections();
    let sim = f.sim.clone();
    eventually("reconnected after a drop", || sim.hub_counters().connects > before).await;
    assert!(dropped.elapsed() < Duration::from_millis(400), "took {:?}", dropped.elapsed());
    f.cancel.cancel();
}

/// With nothing subscribed there is no connection, and token rotations do not open one; the first subscribe
/// connects and quotes flow; unsubscribing the last contract closes the connection again.
#[tokio::test]
async fn nothing_subscribed_means_no_connection_across_rotations() {
    let f = feed_with(Duration::from_secs(30), None, Some(Duration::from_secs(3))).await;
    f.sim.set_quotes_per_second(20);
    let first = f.client.tokens().status().revision;
    let tokens = f.client.tokens().clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while tokens.status().revision < first + 3 {
        assert!(tokio::time::Instant::now() < deadline, "the token did not rotate: {:?}", tokens.status());
        assert_eq!(f.sim.hub_counters().connects, 0, "connected with nothing subscribed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = f.market.status();
    assert!(!status.connected && status.subscriptions.is_empty(), "{status:?}");
    assert_eq!(f.sim.hub_counters().connects, 0);
    assert_eq!(f.sim.hub_counters().negotiations + f.sim.hub_counters().rejected_upgrades, 0);
    f.market.subscribe(&id(MNQ)).await.unwrap();
    assert!(f.market.is_connected(), "the first subscribe waits for the connection");
    let book = f.market.quotes().clone();
    eventually("quotes flow", || book.get(&id(MNQ)).is_some_and(|q| q.updates > 3)).await;
    assert_eq!(f.market.status().subscriptions, vec![id(MNQ)]);
    f.market.unsubscribe(&id(MNQ)).await;
    let sim = f.sim.clone();
    eventually("the connection closed", || sim.hub_connections().is_empty()).await;
    assert!(!f.market.status().connected);
    f.cancel.cancel();
}

/// A rotation whose new connection is refused (503) keeps the old connection and its quotes, retries with backoff,
/// and switches once the hub accepts connections again.
#[tokio::test]
async fn a_failed_rotation_keeps_the_old_connection_and_retries() {
    let f = feed(Duration::from_secs(30)).await;
    f.sim.set_quotes_per_second(50);
    f.market.subscribe(&id(MNQ)).await.unwrap();
    connected(&f).await;
    let book = f.market.quotes().clone();
    eventually("quotes", || book.get(&id(MNQ)).is_some_and(|q| q.updates > 3)).await;
    let first = f.sim.hub_connections()[0].token_id.clone();
    let refused = f.sim.hub_counters().refused_upgrades;
    f.sim.refuse_hub_connects_for(Duration::from_secs(2));
    f.client.tokens().login_now().await.unwrap();
    let sim = f.sim.clone();
    let mut gaps = GapMeter::new();
    eventually("new connections refused twice", || {
        gaps.sample(&book, MNQ);
        sim.hub_counters().refused_upgrades >= refused + 2
    })
    .await;
    let conns = f.sim.hub_connections();
    assert_eq!(conns.len(), 1, "{conns:?}");
    assert_eq!(conns[0].token_id, first, "the old connection stays");
    assert!(f.market.is_connected());
    assert_eq!(f.market.status().token_reconnects, 0);
    eventually("switched once the hub accepts connections", || {
        gaps.sample(&book, MNQ);
        let conns = sim.hub_connections();
        conns.len() == 1 && conns[0].token_id != first && !conns[0].subscriptions.is_empty()
    })
    .await;
    assert!(gaps.largest < Duration::from_secs(1), "a {:?} gap in the quotes", gaps.largest);
    let status = f.market.status();
    assert_eq!((status.token_reconnects, status.reconnects), (1, 0), "{status:?}");
    f.cancel.cancel();
}
