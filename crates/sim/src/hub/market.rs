//! The market hub: `Subscribe`/`UnsubscribeContractQuotes`, `…ContractTrades` and
//! `…ContractMarketDepth`, the publishing of `GatewayQuote`, `GatewayTrade` and `GatewayDepth`,
//! and the ticker that random-walks the price of every quoted contract.
//!
//! The hub's `lastPrice` is the exchange's last price: every price change (ticker step or
//! `SimHandle::set_price`) is made under the exchange lock and published before it is released,
//! so quotes, market fills and bars always agree. A subscriber's first quote (and its first after
//! a dropped record or a freeze) is a full snapshot; later ones are deltas. One serialisation per
//! quote is shared by every subscriber.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use chrono::Utc;
use serde_json::Value;
use tokio::time::Instant;

use super::protocol::{self, Invocation};
use super::quote::{Levels, Quote};
use super::{Conns, Registry, Sent};
use crate::config::SimContract;
use crate::state::Shared;

/// Shortest ticker sleep; faster rates emit several quotes per contract per wake-up.
const MIN_PERIOD: Duration = Duration::from_millis(10);
/// Most steps per contract per wake-up (with `MIN_PERIOD`: 100 000 quotes/s per contract), so an
/// absurd rate cannot hold the exchange lock for long; the excess is skipped, not queued.
const MAX_STEPS: f64 = 1_000.0;

/// The three market feeds and their topic prefixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Feed {
    Quotes,
    Trades,
    Depth,
}

impl Feed {
    fn topic(self, contract_id: &str) -> String {
        match self {
            Self::Quotes => format!("quotes:{contract_id}"),
            Self::Trades => format!("trades:{contract_id}"),
            Self::Depth => format!("depth:{contract_id}"),
        }
    }
}

/// A contract's market data and its topic names, built once so publishing a quote looks its
/// subscribers up without formatting anything.
pub(super) struct Tape {
    pub(super) quote: Quote,
    quotes: String,
    trades: String,
    depth: String,
}

impl Tape {
    fn new(contract: &SimContract) -> Self {
        Self {
            quote: Quote::new(contract, Utc::now()),
            quotes: Feed::Quotes.topic(&contract.id),
            trades: Feed::Trades.topic(&contract.id),
            depth: Feed::Depth.topic(&contract.id),
        }
    }
}

/// The contract's tape, created on first use. Call with the exchange lock held.
fn tape<'a>(tapes: &'a mut HashMap<String, Tape>, contract: &SimContract) -> &'a mut Tape {
    if !tapes.contains_key(&contract.id) {
        tapes.insert(contract.id.clone(), Tape::new(contract));
    }
    tapes.get_mut(&contract.id).expect("the tape was just inserted")
}

/// Runs one market-hub invocation and queues its Completion (when it has an id) before any
/// snapshot it triggers.
pub(super) fn invoke(shared: &Shared, conn: u64, call: &Invocation) {
    let (feed, subscribe) = match call.target.to_ascii_lowercase().as_str() {
        "subscribecontractquotes" => (Feed::Quotes, true),
        "unsubscribecontractquotes" => (Feed::Quotes, false),
        "subscribecontracttrades" => (Feed::Trades, true),
        "unsubscribecontracttrades" => (Feed::Trades, false),
        "subscribecontractmarketdepth" => (Feed::Depth, true),
        "unsubscribecontractmarketdepth" => (Feed::Depth, false),
        _ => return shared.hubs.fail(conn, call, &format!("Unknown hub method '{}'", call.target)),
    };
    let contract_id = match call.string_arg() {
        Ok(id) => id,
        Err(error) => return shared.hubs.fail(conn, call, &error),
    };
    let topic = feed.topic(contract_id);
    let invocation_id = call.id.as_deref();
    if !subscribe {
        let mut registry = shared.hubs.registry();
        registry.unsubscribe(conn, &topic);
        registry.complete(conn, invocation_id, Ok(()));
        return;
    }
    let exchange = shared.exchange.lock();
    let Some(contract) = exchange.market.get(contract_id) else {
        let error = format!(
            "An unexpected error occurred invoking '{}' on the server. HubException: Contract '{contract_id}' not found.",
            call.target
        );
        drop(exchange);
        return shared.hubs.fail(conn, call, &error);
    };
    let mut registry = shared.hubs.registry();
    registry.subscribe(conn, topic);
    registry.complete(conn, invocation_id, Ok(()));
    let quote = &mut tape(&mut registry.tapes, contract).quote;
    if quote.levels.last != contract.price.normalize() {
        quote.apply(contract.price, 0, Utc::now());
    }
    if !registry.frozen {
        registry.flush_snapshots(&contract.id);
    }
    drop(registry);
    drop(exchange);
    if feed == Feed::Quotes {
        shared.hubs.wake.notify_one();
    }
}

impl Registry {
    /// Publishes the contract's new price (a ticker step with `traded` volume, or `set_price`):
    /// a quote delta, a top-of-book depth update when bid/ask moved, and a market trade when
    /// something traded. Call with the exchange lock held, right after the price changed.
    pub(crate) fn price_moved(&mut self, contract: &SimContract, traded: Option<u64>) {
        let Self { tapes, topics, conns, frozen, .. } = self;
        let tape = tape(tapes, contract);
        let quote = &mut tape.quote;
        let before: Levels = quote.levels;
        quote.apply(contract.price, traded.unwrap_or(0), Utc::now());
        if *frozen {
            return;
        }
        let quote = &tape.quote;
        let id = contract.id.as_str();
        if let Some(subscribers) = topics.get_mut(&tape.quotes) {
            let (mut snapshot, mut delta) = (None, None);
            for (&conn, needs_snapshot) in subscribers.iter_mut() {
                if *needs_snapshot {
                    let record = snapshot.get_or_insert_with(|| quote_record(id, quote, None));
                    *needs_snapshot = !conns.send(conn, record, Sent::Quote);
                } else {
                    let record = delta.get_or_insert_with(|| quote_record(id, quote, Some(&before)));
                    *needs_snapshot = !conns.send(conn, record, Sent::Quote);
                }
            }
        }
        if quote.book_moved(&before)
            && let Some(subscribers) = topics.get_mut(&tape.depth)
        {
            let (mut snapshot, mut update) = (None, None);
            for (&conn, needs_snapshot) in subscribers.iter_mut() {
                let record = if *needs_snapshot {
                    snapshot.get_or_insert_with(|| protocol::event("GatewayDepth", &(id, quote.depth_snapshot())))
                } else {
                    update.get_or_insert_with(|| protocol::event("GatewayDepth", &(id, quote.depth_update())))
                };
                *needs_snapshot = !conns.send(conn, record, Sent::Other);
            }
        }
        if let Some(volume) = traded
            && let Some(subscribers) = topics.get(&tape.trades)
        {
            let record = protocol::event("GatewayTrade", &(id, quote.trade(&before, volume)));
            for &conn in subscribers.keys() {
                conns.send(conn, &record, Sent::Other);
            }
        }
    }

    /// Sends the full quote and depth snapshot to every subscriber of the contract still waiting
    /// for one (new, lagged or unfrozen subscriptions).
    pub(super) fn flush_snapshots(&mut self, contract_id: &str) {
        let Self { tapes, topics, conns, .. } = self;
        let Some(tape) = tapes.get(contract_id) else {
            return;
        };
        let quote = &tape.quote;
        flush(topics.get_mut(&tape.quotes), conns, Sent::Quote, || quote_record(contract_id, quote, None));
        flush(topics.get_mut(&tape.depth), conns, Sent::Other, || {
            protocol::event("GatewayDepth", &(contract_id, quote.depth_snapshot()))
        });
    }

    /// `push_quote`: exactly this `GatewayQuote` to every quote subscriber of the contract (after
    /// a pending snapshot); nothing while frozen.
    pub(crate) fn push_quote(&mut self, contract_id: &str, data: &Value) {
        if self.frozen {
            return;
        }
        self.flush_snapshots(contract_id);
        let record = protocol::event("GatewayQuote", &(contract_id, data));
        self.broadcast(&Feed::Quotes.topic(contract_id), &record, Sent::Quote);
    }

    /// Contracts with at least one quote subscriber (none while frozen).
    fn quoted_contracts(&self) -> Vec<String> {
        if self.frozen {
            return Vec::new();
        }
        self.topics.keys().filter_map(|topic| topic.strip_prefix("quotes:")).map(str::to_owned).collect()
    }
}

/// Sends `snapshot()` (serialised once, and only if needed) to the subscribers flagged as
/// needing one.
fn flush(
    subscribers: Option<&mut BTreeMap<u64, bool>>,
    conns: &mut Conns,
    sent: Sent,
    snapshot: impl FnOnce() -> Utf8Bytes,
) {
    let Some(subscribers) = subscribers else {
        return;
    };
    let mut waiting = subscribers.iter_mut().filter(|(_, needs_snapshot)| **needs_snapshot).peekable();
    if waiting.peek().is_none() {
        return;
    }
    let record = snapshot();
    for (&conn, needs_snapshot) in waiting {
        *needs_snapshot = !conns.send(conn, &record, sent);
    }
}

/// A `GatewayQuote` record: the full quote, or the delta since `before`.
fn quote_record(contract_id: &str, quote: &Quote, before: Option<&Levels>) -> Utf8Bytes {
    match before {
        None => protocol::event("GatewayQuote", &(contract_id, quote.snapshot())),
        Some(before) => protocol::event("GatewayQuote", &(contract_id, quote.delta(before))),
    }
}

/// The quote ticker: while some contract has quote subscribers and the rate is above 0, moves
/// each such contract's price by -1, 0 or +1 tick `quotes_per_second` times a second and
/// publishes every step; each step also fills the working orders it reaches (`matching.rs`). Sleeps on `wake` when idle; ends when the simulator stops.
pub(crate) async fn run_ticker(shared: Arc<Shared>) {
    let hubs = &shared.hubs;
    let mut stopped = hubs.stopped.clone();
    let mut rng = fastrand::Rng::new();
    let mut credit = 0.0_f64;
    let mut last = Instant::now();
    loop {
        let rate = hubs.rate.load(Ordering::Relaxed);
        let contracts = if rate == 0 { Vec::new() } else { hubs.registry().quoted_contracts() };
        let period = if contracts.is_empty() {
            None
        } else {
            Some(Duration::from_secs_f64(1.0 / f64::from(rate)).max(MIN_PERIOD))
        };
        tokio::select! {
            _ = stopped.wait_for(|stop| *stop) => return,
            () = hubs.wake.notified() => {}
            () = sleep_or_forever(period) => {}
        }
        let now = Instant::now();
        if period.is_none() {
            (credit, last) = (0.0, now);
            continue;
        }
        // Quotes due since the last step; after a stall the backlog is skipped, not replayed.
        credit = (credit + f64::from(rate) * now.duration_since(last).as_secs_f64()).min(MAX_STEPS);
        last = now;
        let due = credit.floor();
        credit -= due;
        let due = due as u32; // a whole number in 0..=MAX_STEPS: exact
        if due > 0 {
            step(&shared, &contracts, due, &mut rng);
        }
    }
}

async fn sleep_or_forever(period: Option<Duration>) {
    match period {
        Some(period) => tokio::time::sleep(period).await,
        None => std::future::pending().await,
    }
}

/// `due` random-walk steps for each contract, each published as it happens.
fn step(shared: &Shared, contracts: &[String], due: u32, rng: &mut fastrand::Rng) {
    let mut exchange = shared.exchange.lock();
    let mut registry = shared.hubs.registry();
    if registry.frozen {
        return;
    }
    for id in contracts {
        for _ in 0..due {
            let Some(contract) = exchange.market.get(id) else {
                break;
            };
            let tick = tape(&mut registry.tapes, contract).quote.tick();
            let moved = match rng.u8(0..8) {
                0 | 1 => contract.price - tick,
                2 | 3 => contract.price + tick,
                _ => contract.price,
            };
            exchange.market.set_price(id, moved.max(tick).normalize());
            let contract = exchange.market.get(id).expect("the contract was found just above");
            registry.price_moved(contract, Some(rng.u64(1..=5)));
            exchange.cross(id, Utc::now());
            if !exchange.book.events.is_empty() {
                let events = std::mem::take(&mut exchange.book.events);
                registry.publish_user_events(&events, shared.hubs.user_event_shape);
            }
        }
    }
}
