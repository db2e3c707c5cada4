//! The user task against the simulator's real SignalR user hub: an order placed over REST arrives as typed Order,
//! Position, Trade and Account events after the `Connected` marker; dropped sockets are resubscribed under a new
//! epoch; token rotations switch connections with every fill delivered exactly once and no marker; unknown accounts
//! are refused and nothing watched means no connection. `GatewayLogout` (which the simulator never sends) is driven
//! through the signalr crate's scripted fake hub: a re-login and reconnect, then the pause after three, its end, and
//! the operator's resume.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

mod common;
#[path = "../../signalr/tests/fake_hub/mod.rs"]
mod fake_hub;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use fake_hub::{FakeHub, Push};
use projectx::{
    AccountId, OrderSide, OrderStatus, OrderType, PlaceOrder, UserConfig, UserEvent, UserHub, UserUpdate, WatchError,
};
use projectx_sim::{SimConfig, SimHandle};
use signalr::Backoff;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const MNQ: &str = "CON.F.US.MNQ.Z25";

struct Hub {
    sim: SimHandle,
    client: projectx::Client,
    user: UserHub,
    events: mpsc::Receiver<UserUpdate>,
    cancel: CancellationToken,
}

fn fast() -> Backoff {
    Backoff::try_new(Duration::from_millis(20), Duration::from_millis(200)).unwrap()
}

/// A user hub on the simulator's `/hubs/user` (or `url`), tokens from the simulator. `token_lifetime`: tokens that
/// short, refreshed ahead of expiry by the background refresher (so rotations keep coming).
async fn hub_with(token_lifetime: Option<Duration>, url: Option<url::Url>, pause: Duration) -> Hub {
    hub_on(SimConfig::default(), token_lifetime, url, |cfg| cfg.logout_pause = pause).await
}

/// A user hub on a simulator configured by `sim_cfg` (without its REST rate limit, the client has none either),
/// with the user hub options changed by `tweak`.
async fn hub_on(
    sim_cfg: SimConfig,
    token_lifetime: Option<Duration>,
    url: Option<url::Url>,
    tweak: impl FnOnce(&mut UserConfig),
) -> Hub {
    let unlimited = sim_cfg.general_limit.is_none();
    let sim = sim_with(sim_cfg).await;
    if let Some(lifetime) = token_lifetime {
        sim.set_token_lifetime(lifetime);
    }
    let mut cfg = config(&sim, Some(credentials(&sim)), None);
    if unlimited {
        cfg.general_limit = projectx::RateLimit { requests: 1_000_000, window: Duration::from_secs(60) };
    }
    let client = client(cfg);
    client.tokens().ensure_valid_token().await.unwrap();
    let mut cfg = UserConfig::new(url.unwrap_or_else(|| sim.user_hub_url().parse().unwrap()));
    cfg.hub.backoff = fast();
    tweak(&mut cfg);
    let cancel = CancellationToken::new();
    if token_lifetime.is_some() {
        tokio::spawn(client.tokens().clone().run_refresher(cancel.clone()));
    }
    let (user, _task) = UserHub::start(cfg, client.tokens().clone(), cancel.clone());
    let events = user.take_events().unwrap();
    assert!(user.take_events().is_none(), "one consumer");
    Hub { sim, client, user, events, cancel }
}

async fn hub() -> Hub {
    hub_with(None, None, Duration::from_secs(900)).await
}

/// Receives updates until one matches `done` (included), for up to 5 s.
async fn until(
    events: &mut mpsc::Receiver<UserUpdate>,
    what: &str,
    mut done: impl FnMut(&UserUpdate) -> bool,
) -> Vec<UserUpdate> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(update)) => {
                let last = done(&update);
                seen.push(update);
                if last {
                    return seen;
                }
            }
            Ok(None) => panic!("the stream ended waiting for {what}: {seen:#?}"),
            Err(_) => panic!("timed out waiting for {what}: {seen:#?}"),
        }
    }
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

fn connected(epoch: u64) -> impl Fn(&UserUpdate) -> bool {
    move |u| u.event == UserEvent::Connected { epoch }
}

fn market(side: OrderSide, tag: &str) -> PlaceOrder {
    PlaceOrder {
        account_id: ACCOUNT,
        contract_id: MNQ.into(),
        order_type: OrderType::Market,
        side,
        size: 1,
        limit_price: None,
        stop_price: None,
        trail_price: None,
        custom_tag: Some(tag.into()),
        stop_loss_bracket: None,
        take_profit_bracket: None,
    }
}

#[tokio::test]
async fn an_order_placed_over_rest_arrives_as_typed_order_position_trade_and_account_events() {
    let mut h = hub().await;
    h.user.watch_account(ACCOUNT).await.unwrap();
    let first = until(&mut h.events, "the Connected marker", connected(1)).await;
    assert_eq!(first.len(), 1, "nothing before the marker: {first:?}");
    let status = h.user.status();
    assert!(status.connected && status.synced && status.epoch == 1, "{status:?}");
    assert_eq!(status.accounts, vec![ACCOUNT]);
    let subs = h.sim.hub_connections()[0].subscriptions.clone();
    assert_eq!(subs, ["accounts", "orders:9001", "positions:9001", "trades:9001"], "{subs:?}");

    let id = h.client.place_order(&market(OrderSide::Bid, "buy-1")).await.unwrap();
    let mut kinds = BTreeMap::new();
    let mut pending = ["order", "position", "trade", "account"].to_vec();
    let seen = until(&mut h.events, "order, position, trade and account", |u| {
        let kind = match &u.event {
            UserEvent::Order(o) if o.status == OrderStatus::Filled => "order",
            UserEvent::Position(_) => "position",
            UserEvent::Trade(_) => "trade",
            UserEvent::Account(_) => "account",
            _ => "",
        };
        pending.retain(|k| *k != kind);
        pending.is_empty()
    })
    .await;
    for u in &seen {
        assert_eq!((u.epoch, u.synced), (1, true), "{u:?}");
        match &u.event {
            UserEvent::Order(o) => {
                kinds.insert("order", ());
                assert_eq!((o.id, o.account_id, o.contract_id.as_str()), (id, ACCOUNT, MNQ));
                assert_eq!(o.custom_tag.as_deref(), Some("buy-1"));
            }
            UserEvent::Position(p) => {
                kinds.insert("position", ());
                assert_eq!((p.size, p.position_type), (1, projectx::PositionType::Long));
            }
            UserEvent::Trade(t) => {
                kinds.insert("trade", ());
                assert_eq!((t.order_id, t.size, t.side), (id, 1, OrderSide::Bid));
            }
            UserEvent::Account(a) => {
                kinds.insert("account", ());
                assert_eq!(a.id, ACCOUNT);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(kinds.len(), 4, "{seen:#?}");
    let filled = seen.iter().any(|u| matches!(&u.event, UserEvent::Order(o) if o.status == OrderStatus::Filled));
    assert!(filled, "{seen:#?}");

    h.client.close_position(ACCOUNT, &MNQ.into()).await.unwrap();
    until(&mut h.events, "the flat position", |u| matches!(&u.event, UserEvent::Position(p) if p.size == 0)).await;
    let status = h.user.status();
    assert!(status.events >= 8 && status.last_event_age_ms.is_some() && status.undecodable == 0, "{status:?}");
    h.cancel.cancel();
}

#[tokio::test]
async fn dropped_connections_are_resubscribed_under_a_new_epoch_and_events_flow_again() {
    let mut h = hub().await;
    h.user.watch_account(ACCOUNT).await.unwrap();
    until(&mut h.events, "Connected 1", connected(1)).await;
    for epoch in 2..=3 {
        h.sim.drop_hub_connections();
        let seen = until(&mut h.events, "the next Connected", connected(epoch)).await;
        assert_eq!(seen[0].event, UserEvent::Disconnected { epoch: epoch - 1 }, "{seen:#?}");
        assert_eq!(seen.len(), 2, "{seen:#?}");
        let subs = h.sim.hub_connections()[0].subscriptions.len();
        assert_eq!(subs, 4, "resubscribed: accounts + three per account");
    }
    let id = h.client.place_order(&market(OrderSide::Ask, "sell-1")).await.unwrap();
    let seen = until(&mut h.events, "the fill", |u| matches!(&u.event, UserEvent::Trade(t) if t.order_id == id)).await;
    assert!(seen.iter().all(|u| u.epoch == 3 && u.synced), "{seen:#?}");
    let status = h.user.status();
    assert_eq!((status.epoch, status.reconnects), (3, 2), "{status:?}");
    assert!(status.synced, "{status:?}");
    h.cancel.cancel();
}

/// Tokens of 4 s (refreshed about every 1.3 s): each rotation opens the new connection, resubscribes, drains the
/// old one behind a barrier and switches. Two tasks place market orders back to back the whole time (no rate
/// limit), so events keep arriving on both connections around every switch: every fill arrives exactly once, every
/// order's snapshots arrive in order ending Filled, all in one epoch with no marker.
#[tokio::test]
async fn token_rotations_under_a_stream_of_orders_deliver_every_event_once_in_order_without_a_marker() {
    let sim_cfg = SimConfig { general_limit: None, ..SimConfig::default() };
    let mut h = hub_on(sim_cfg, Some(Duration::from_secs(4)), None, |_| {}).await;
    h.user.watch_account(ACCOUNT).await.unwrap();
    until(&mut h.events, "Connected 1", connected(1)).await;
    let stop = CancellationToken::new();
    let mut placers = tokio::task::JoinSet::new();
    for n in 0..2 {
        let (client, stop) = (h.client.clone(), stop.clone());
        placers.spawn(async move {
            let mut placed = 0;
            while !stop.is_cancelled() {
                let side = if placed % 2 == 0 { OrderSide::Bid } else { OrderSide::Ask };
                client.place_order(&market(side, &format!("rot-{n}-{placed}"))).await.unwrap();
                placed += 1;
            }
            placed
        });
    }
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while h.user.status().token_reconnects < 3 {
        assert!(Instant::now() < deadline, "3 rotations did not happen: {:?}", h.user.status());
        tokio::select! {
            Some(update) = h.events.recv() => seen.push(update),
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
    stop.cancel();
    let mut placed = 0;
    while let Some(n) = placers.join_next().await {
        placed += n.unwrap();
    }
    // One more order after the last switch, then everything up to its fill.
    let last = h.client.place_order(&market(OrderSide::Bid, "rot-last")).await.unwrap();
    placed += 1;
    seen.extend(
        until(&mut h.events, "the last fill", |u| matches!(&u.event, UserEvent::Trade(t) if t.order_id == last)).await,
    );
    let markers: Vec<_> = seen
        .iter()
        .filter(|u| matches!(u.event, UserEvent::Connected { .. } | UserEvent::Disconnected { .. }))
        .collect();
    assert!(markers.is_empty(), "no gap, so no marker: {markers:#?}");
    assert!(seen.iter().all(|u| u.epoch == 1 && u.synced), "one epoch");
    let mut trades = BTreeMap::new();
    let mut orders: BTreeMap<projectx::OrderId, Vec<OrderStatus>> = BTreeMap::new();
    for u in &seen {
        match &u.event {
            UserEvent::Trade(t) => *trades.entry(t.id).or_insert(0) += 1,
            UserEvent::Order(o) => orders.entry(o.id).or_default().push(o.status),
            _ => {}
        }
    }
    let sim_trades: Vec<i64> = h.sim.trades().iter().map(|t| t.id).collect();
    assert_eq!(sim_trades.len(), placed, "one fill per market order");
    assert_eq!(trades.keys().copied().collect::<Vec<_>>(), sim_trades, "every fill delivered");
    let twice: Vec<_> = trades.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "each fill exactly once: {twice:?}");
    assert_eq!(orders.len(), placed, "every order's snapshots delivered");
    for (id, statuses) in &orders {
        assert_eq!(statuses.last(), Some(&OrderStatus::Filled), "order {id}: {statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == OrderStatus::Filled).count(), 1, "order {id}: {statuses:?}");
    }
    let status = h.user.status();
    eprintln!("{placed} orders, {} updates over 3 rotations: {status:?}", seen.len());
    assert_eq!(status.reconnects, 0, "no connection was lost: {status:?}");
    let sim = h.sim.clone();
    eventually("the old connections closed", || sim.hub_connections().len() == 1).await;
    h.cancel.cancel();
}

/// A consumer that stops reading: the small channels fill, the hub stops reading the connection (commands still
/// answer), and once it reads again every event is there, in order; nothing was dropped.
#[tokio::test]
async fn a_slow_consumer_loses_nothing_and_commands_still_answer() {
    let sim_cfg = SimConfig { general_limit: None, ..SimConfig::default() };
    let mut h = hub_on(sim_cfg, None, None, |cfg| {
        cfg.event_capacity = 8;
        cfg.hub.event_capacity = 8;
    })
    .await;
    h.user.watch_account(ACCOUNT).await.unwrap();
    until(&mut h.events, "Connected 1", connected(1)).await;
    let mut ids = Vec::new();
    for n in 0..150 {
        let side = if n % 2 == 0 { OrderSide::Bid } else { OrderSide::Ask };
        ids.push(h.client.place_order(&market(side, &format!("slow-{n}"))).await.unwrap());
    }
    let hub = h.user.clone();
    eventually("the outbox backs up", || hub.status().queued >= 256).await;
    let answered = tokio::time::timeout(Duration::from_secs(1), h.user.watch_account(ACCOUNT)).await;
    assert_eq!(answered, Ok(Ok(())), "commands are answered while the consumer is stalled");
    let last = *ids.last().unwrap();
    let seen =
        until(&mut h.events, "the last fill", |u| matches!(&u.event, UserEvent::Trade(t) if t.order_id == last)).await;
    let fills: Vec<_> = seen
        .iter()
        .filter_map(|u| match &u.event {
            UserEvent::Trade(t) => Some(t.order_id),
            _ => None,
        })
        .collect();
    assert_eq!(fills, ids, "every fill, in order");
    let status = h.user.status();
    assert_eq!((status.epoch, status.reconnects), (1, 0), "{status:?}");
    h.cancel.cancel();
}

/// Nothing watched: no connection. An unknown account is refused by the hub (and dropped; its connection, left
/// with nothing to watch, closes after its epoch's markers); a real one connects under the next epoch, and
/// unwatching it ends that epoch and closes the connection.
#[tokio::test]
async fn unknown_accounts_are_refused_and_nothing_watched_means_no_connection() {
    let mut h = hub().await;
    assert_eq!(h.sim.hub_counters().connects, 0);
    let err = h.user.watch_account(AccountId::new(4242)).await.unwrap_err();
    assert!(matches!(err, WatchError::Hub(_)), "{err:?}");
    assert!(!h.user.is_watching(AccountId::new(4242)));
    let seen = until(&mut h.events, "epoch 1 ends", |u| u.event == UserEvent::Disconnected { epoch: 1 }).await;
    let events: Vec<_> = seen.iter().map(|u| &u.event).collect();
    assert_eq!(events, [&UserEvent::Connected { epoch: 1 }, &UserEvent::Disconnected { epoch: 1 }]);
    let sim = h.sim.clone();
    eventually("the connection closed again", || sim.hub_connections().is_empty()).await;
    h.user.watch_account(ACCOUNT).await.unwrap();
    h.user.watch_account(ACCOUNT).await.unwrap();
    until(&mut h.events, "Connected 2", connected(2)).await;
    assert_eq!(h.sim.hub_connections().len(), 1);
    h.user.unwatch_account(ACCOUNT).await;
    let seen = until(&mut h.events, "Disconnected 2", |u| u.event == UserEvent::Disconnected { epoch: 2 }).await;
    assert_eq!(seen.len(), 1, "{seen:#?}");
    eventually("no connection", || sim.hub_connections().is_empty()).await;
    let status = h.user.status();
    assert!(!status.connected && !status.synced && status.accounts.is_empty(), "{status:?}");
    assert_eq!(status.reconnects, 0, "closing because nothing is watched is not a reconnect");
    h.cancel.cancel();
}

// === GatewayLogout, through the scripted fake hub ===

fn logout_frame() -> Push {
    Push::Frame("{\"type\":1,\"target\":\"GatewayLogout\",\"arguments\":[]}\u{1e}".to_owned())
}

/// A user hub on the fake hub (which completes every Subscribe*), logging in at the simulator.
async fn fake_hub(pause: Duration) -> (Hub, FakeHub) {
    let fake = FakeHub::start().await;
    let h = hub_with(None, Some(fake.url()), pause).await;
    (h, fake)
}

#[tokio::test]
async fn a_gateway_logout_logs_in_again_and_reconnects_and_wrapped_events_decode_end_to_end() {
    let (mut h, fake) = fake_hub(Duration::from_secs(900)).await;
    h.user.watch_account(ACCOUNT).await.unwrap();
    until(&mut h.events, "Connected 1", connected(1)).await;
    let position = r#"{"id":3,"accountId":9001,"contractId":"CON.F.US.MNQ.Z25","creationTimestamp":"2025-11-24T15:30:00Z","type":1,"size":2,"averagePrice":21000.25}"#;
    let wrapped = format!(
        "{{\"type\":1,\"target\":\"GatewayUserPosition\",\"arguments\":[[{{\"action\":1,\"data\":{position}}}]]}}\u{1e}"
    );
    fake.push(Push::Frame(wrapped));
    let seen =
        until(&mut h.events, "the wrapped position", |u| matches!(&u.event, UserEvent::Position(p) if p.size == 2))
            .await;
    assert_eq!(seen.len(), 1);

    let logins = h.sim.counters().logins;
    let first_token = fake.seen.lock().tokens[0].clone();
    fake.push(logout_frame());
    let seen = until(&mut h.events, "Connected 2", connected(2)).await;
    assert_eq!(seen[0].event, UserEvent::Disconnected { epoch: 1 }, "{seen:#?}");
    assert_eq!(h.sim.counters().logins, logins + 1, "logged in again");
    let last_token = fake.seen.lock().tokens.last().cloned().unwrap();
    assert_ne!(last_token, first_token, "reconnected with the new token");
    let status = h.user.status();
    assert!(status.connected && status.synced && !status.logged_out_by_other_session, "{status:?}");
    assert_eq!((status.logouts, status.reconnects), (1, 1), "{status:?}");
    h.cancel.cancel();
}

/// Three logouts within ten minutes stop the re-login: no connection, the status says why and until when; after
/// the (short) pause it connects again on its own.
#[tokio::test]
async fn three_logouts_pause_the_re_login_until_the_pause_ends() {
    let (mut h, fake) = fake_hub(Duration::from_secs(2)).await;
    h.user.watch_account(ACCOUNT).await.unwrap();
    until(&mut h.events, "Connected 1", connected(1)).await;
    for epoch in 2..=3 {
        fake.push(logout_frame());
        until(&mut h.events, "the next Connected", connected(epoch)).await;
    }
    let logins = h.sim.counters().logins;
    let paused_at = chrono::Utc::now();
    fake.push(logout_frame());
    until(&mut h.events, "Disconnected 3", |u| u.event == UserEvent::Disconnected { epoch: 3 }).await;
    let status = h.user.status();
    assert!(status.logged_out_by_other_session && !status.connected, "{status:?}");
    assert!(status.logout_reason.as_deref().unwrap().contains("another session"), "{status:?}");
    let until_at = status.paused_until.unwrap();
    assert!(until_at > paused_at + chrono::Duration::milliseconds(1500), "{status:?}");
    assert_eq!(status.logouts, 3);
    eventually("the connection closed", || fake.open_connections() == 0).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(fake.open_connections(), 0, "stays disconnected during the pause");
    assert_eq!(h.sim.counters().logins, logins, "no login during the pause");
    let seen = until(&mut h.events, "Connected 4 after the pause", connected(4)).await;
    assert_eq!(seen.len(), 1, "{seen:#?}");
    let status = h.user.status();
    assert!(!status.logged_out_by_other_session && status.synced && status.paused_until.is_none(), "{status:?}");
    h.cancel.cancel();
}

#[tokio::test]
async fn an_operator_resume_ends_the_pause_at_once() {
    let (mut h, fake) = fake_hub(Duration::from_secs(900)).await;
    h.user.watch_account(ACCOUNT).await.unwrap();
    until(&mut h.events, "Connected 1", connected(1)).await;
    for epoch in 2..=3 {
        fake.push(logout_frame());
        until(&mut h.events, "the next Connected", connected(epoch)).await;
    }
    fake.push(logout_frame());
    let hub = h.user.clone();
    eventually("paused", || hub.status().logged_out_by_other_session).await;
    let paused_until = h.user.status().paused_until.unwrap();
    assert!(paused_until > chrono::Utc::now() + chrono::Duration::minutes(14), "{paused_until}");
    // Watching another account while paused is accepted and connects nothing.
    assert!(h.user.watch_account(ACCOUNT).await.is_ok());
    assert_eq!(fake.open_connections(), 0);
    h.user.resume().await;
    until(&mut h.events, "a Connected after the resume", |u| matches!(u.event, UserEvent::Connected { .. })).await;
    let status = h.user.status();
    assert!(status.connected && status.synced && !status.logged_out_by_other_session, "{status:?}");
    h.cancel.cancel();
}
