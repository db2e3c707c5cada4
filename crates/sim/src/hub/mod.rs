//! The SignalR market and user hubs, speaking the JSON hub protocol over WebSocket like
//! ProjectX's `/hubs/market` and `/hubs/user` (ASP.NET Core SignalR behind them).
//!
//! - `protocol`: pure framing, handshake, parsing and record encoding.
//! - `routes`: the HTTP side: negotiate, the upgrade with its 503/401/404/409 answers.
//! - `session`: one connection's life: handshake, reader (dispatch, client timeout) and writer
//!   (outbox, keep-alive pings, framing, Close).
//! - `market` / `quote`: market-hub methods, quote/trade/depth state and the quote ticker.
//! - `user`: user-hub methods and the fan-out of exchange events.
//! - `chaos`: hub misbehaviour on demand (freeze, drop, close, refuse, no pings, framing,
//!   `GatewayLogout`).
//!
//! Everything a publisher needs sits in one `Registry` behind one `parking_lot` mutex, held for a
//! statement or a short block and never across an `.await`. Publishers never block: each
//! connection has a bounded outbox that they `try_send` one shared, already serialised record
//! into; a full outbox drops the record and counts it (and the next quote for that subscription
//! becomes a full snapshot again).

mod chaos;
pub(crate) mod market;
mod protocol;
mod quote;
mod routes;
mod session;
mod user;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use parking_lot::{Mutex, MutexGuard};
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;

use crate::config::{SimConfig, UserEventShape};

pub(crate) use routes::router;

use market::Tape;

/// Which hub a connection is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HubKind {
    /// `/hubs/market`: quotes, market trades, depth.
    Market,
    /// `/hubs/user`: accounts, orders, positions, fills.
    User,
}

/// An open hub connection (handshake done), for assertions.
#[derive(Clone, Debug)]
pub struct HubConnectionInfo {
    /// Server-side id, increasing from 1 in handshake order.
    pub id: u64,
    /// The hub it is connected to.
    pub hub: HubKind,
    /// The `jti` claim of the token it connected with (never the token itself).
    pub token_id: String,
    /// Current subscriptions, sorted: `quotes:<contractId>`, `trades:<contractId>`,
    /// `depth:<contractId>` on the market hub; `accounts`, `orders:<accountId>`,
    /// `positions:<accountId>`, `trades:<accountId>` on the user hub.
    pub subscriptions: Vec<String>,
    /// Parsed client messages after the handshake (pings included).
    pub messages_received: u64,
    /// `GatewayQuote` records queued for this connection.
    pub quotes_sent: u64,
}

/// Hub counters since start.
#[derive(Clone, Debug, Default)]
pub struct HubCounters {
    /// Successful handshakes.
    pub connects: u64,
    /// Upgrades and negotiates answered 401 (missing, garbage, expired or revoked token).
    pub rejected_upgrades: u64,
    /// Upgrades and negotiates answered 503 by `refuse_hub_connects_for`.
    pub refused_upgrades: u64,
    /// Successful `Subscribe*` invocations (with or without an invocation id).
    pub subscribe_calls: u64,
    /// `GatewayQuote` records queued, all connections together.
    pub quotes_sent: u64,
    /// Connections dropped because the client sent nothing for `client_timeout`.
    pub client_timeouts: u64,
    /// Ping messages (type 6) received from clients.
    pub pings_received: u64,
    /// Connections ended by `drop_hub_connections` or `close_hub_connections`.
    pub closed_by_chaos: u64,
    /// Successful `POST .../negotiate` calls.
    pub negotiations: u64,
    /// Handshakes refused with `{"error": ...}` or timed out.
    pub bad_handshakes: u64,
    /// User-hub events (`GatewayUser*`) queued, all connections together.
    pub user_events_sent: u64,
    /// Records dropped because a connection's outbox was full (a lagging client).
    pub messages_dropped: u64,
    /// `GatewayLogout` messages queued by `log_out_sessions`, all user-hub connections together.
    pub logouts_sent: u64,
}

/// How the server cuts its outgoing records into WebSocket frames (`SimHandle::set_hub_framing`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HubFraming {
    /// Whatever is queued when the writer wakes goes out in one text frame (several records per
    /// frame under load, one when idle).
    #[default]
    Batched,
    /// Exactly one record per text frame.
    Single,
    /// Like `Batched`, but every frame is cut in two text frames at its middle, so records span
    /// frames.
    Split,
    /// Like `Batched`, but in binary frames.
    Binary,
}

impl HubFraming {
    fn from_u8(n: u8) -> Self {
        match n {
            1 => Self::Single,
            2 => Self::Split,
            3 => Self::Binary,
            _ => Self::Batched,
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            Self::Batched => 0,
            Self::Single => 1,
            Self::Split => 2,
            Self::Binary => 3,
        }
    }
}

/// Timing from `SimConfig`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HubSettings {
    pub(crate) keep_alive: Duration,
    pub(crate) client_timeout: Duration,
    pub(crate) handshake_timeout: Duration,
}

/// The undocumented user-hub message that ends a session (API notes §9.23).
const LOGOUT_TARGET: &str = "GatewayLogout";

/// Records queued per connection before new ones are dropped.
const OUTBOX: usize = 8192;

/// `t + d`, saturating far in the future instead of panicking, so a huge `keep_alive` or
/// `client_timeout` simply means "never".
fn deadline(t: Instant, d: Duration) -> Instant {
    t.checked_add(d).unwrap_or_else(|| t + Duration::from_secs(30 * 365 * 24 * 60 * 60))
}

/// What a connection's tasks should do next; set by chaos, shutdown, or the reader itself.
#[derive(Clone, Debug)]
pub(super) enum Control {
    Run,
    /// Drop the socket without a Close message or close frame.
    Abort,
    /// Flush the outbox, send this record (a type-7 Close) if any, then a close frame.
    Close(Option<Utf8Bytes>),
}

/// The hubs' shared state. Atomics hold the knobs the writer and ticker read on every loop.
pub(crate) struct Hubs {
    pub(crate) settings: HubSettings,
    /// `SimConfig::user_event_shape`; fixed at start.
    pub(crate) user_event_shape: UserEventShape,
    /// Written by connections, publishers and the handle; see the module doc.
    registry: Mutex<Registry>,
    /// Quotes per second per subscribed contract; written by the handle, read by the ticker.
    rate: AtomicU32,
    /// Server pings on/off; written by the handle, read by writers.
    pings: AtomicBool,
    /// `HubFraming` as a number; written by the handle, read by writers.
    framing: AtomicU8,
    /// Wakes an idle ticker: rate change, new quote subscription, unfreeze.
    wake: Notify,
    /// True (or closed) once the simulator stops; every hub task ends then.
    stopped: watch::Receiver<bool>,
}

impl Hubs {
    pub(crate) fn new(cfg: &SimConfig, stopped: watch::Receiver<bool>) -> Self {
        Self {
            settings: HubSettings {
                keep_alive: cfg.keep_alive,
                client_timeout: cfg.client_timeout,
                handshake_timeout: cfg.handshake_timeout,
            },
            user_event_shape: cfg.user_event_shape,
            registry: Mutex::new(Registry::default()),
            rate: AtomicU32::new(cfg.quotes_per_second),
            pings: AtomicBool::new(true),
            framing: AtomicU8::new(HubFraming::Batched.to_u8()),
            wake: Notify::new(),
            stopped,
        }
    }

    /// The registry, locked. Callers holding the exchange lock may take it; never the reverse.
    pub(crate) fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock()
    }

    pub(crate) fn counters(&self) -> HubCounters {
        self.registry().conns.counters.clone()
    }

    pub(crate) fn connections(&self) -> Vec<HubConnectionInfo> {
        let registry = self.registry();
        registry
            .conns
            .map
            .iter()
            .map(|(&id, conn)| HubConnectionInfo {
                id,
                hub: conn.kind,
                token_id: conn.token_id.clone(),
                subscriptions: conn.subscriptions.iter().cloned().collect(),
                messages_received: conn.messages_received,
                quotes_sent: conn.quotes_sent,
            })
            .collect()
    }

    pub(crate) fn set_rate(&self, per_contract: u32) {
        self.rate.store(per_contract, Ordering::Relaxed);
        self.wake.notify_one();
    }

    fn framing(&self) -> HubFraming {
        HubFraming::from_u8(self.framing.load(Ordering::Relaxed))
    }

    fn pings_enabled(&self) -> bool {
        self.pings.load(Ordering::Relaxed)
    }

    /// Answers an invocation with an error Completion (nothing without an invocation id).
    fn fail(&self, conn: u64, call: &protocol::Invocation, error: &str) {
        self.registry().complete(conn, call.id.as_deref(), Err(error));
    }
}

/// Connections, subscriptions, quote state, counters and hub chaos state.
#[derive(Default)]
pub(crate) struct Registry {
    /// Open connections and the counters (together so delivery can update both).
    conns: Conns,
    /// Topic → subscribed connection → "the next quote must be a full snapshot" (quotes only).
    topics: HashMap<String, BTreeMap<u64, bool>>,
    /// Latest quote (and topic names) per contract, created on first subscribe or price change.
    tapes: HashMap<String, Tape>,
    /// `freeze_quotes(true)`: market data is computed but not sent.
    frozen: bool,
    /// `refuse_hub_connects_for`: upgrades get 503 until then.
    refuse_until: Option<Instant>,
    /// Negotiated connection ids (`id=` on the upgrade) → hub and whether a socket used it.
    negotiated: HashMap<String, Negotiation>,
    next_id: u64,
}

#[derive(Debug)]
struct Negotiation {
    kind: HubKind,
    used: bool,
}

#[derive(Default)]
struct Conns {
    map: BTreeMap<u64, Conn>,
    counters: HubCounters,
}

/// One open connection, as publishers and chaos see it.
struct Conn {
    kind: HubKind,
    token_id: String,
    /// Serialised records for the writer task; publishers `try_send`.
    outbox: mpsc::Sender<Utf8Bytes>,
    /// Records accepted into `outbox` since the connection opened; written by publishers.
    queued: u64,
    /// Records the writer task has written to the socket since the connection opened (it sends
    /// the count after every write); read by `Receipt::delivered`.
    written: watch::Receiver<u64>,
    /// Read by the connection's reader and writer.
    control: Arc<watch::Sender<Control>>,
    subscriptions: BTreeSet<String>,
    messages_received: u64,
    quotes_sent: u64,
}

/// Where a batch of published records stands: for each connection that got some, how many records
/// it must have written for them all to be on its socket.
#[derive(Debug, Default)]
pub(crate) struct Receipt {
    waits: Vec<(watch::Receiver<u64>, u64)>,
}

impl Receipt {
    /// Notes that `conn`'s records up to now are part of this receipt.
    fn include(&mut self, conn: &Conn) {
        self.waits.retain(|(written, _)| !written.same_channel(&conn.written));
        self.waits.push((conn.written.clone(), conn.queued));
    }

    /// Waits until every connection in the receipt has written its records, it closed, or `limit`
    /// passed (a stalled client must not hold a REST answer for long).
    pub(crate) async fn delivered(self, limit: Duration) {
        let until = Instant::now() + limit;
        for (mut written, target) in self.waits {
            // An error means the connection ended (its writer dropped the sender): nothing to wait for.
            let _ = tokio::time::timeout_at(until, written.wait_for(|&n| n >= target)).await;
        }
    }
}

/// What a delivered record counts as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sent {
    Quote,
    UserEvent,
    Other,
}

impl Conns {
    /// Queues a record for one connection; false (and counted) when it is gone or lagging.
    fn send(&mut self, id: u64, record: &Utf8Bytes, sent: Sent) -> bool {
        let Some(conn) = self.map.get_mut(&id) else {
            return false;
        };
        if conn.outbox.try_send(record.clone()).is_err() {
            self.counters.messages_dropped += 1;
            return false;
        }
        conn.queued += 1;
        match sent {
            Sent::Quote => {
                conn.quotes_sent += 1;
                self.counters.quotes_sent += 1;
            }
            Sent::UserEvent => self.counters.user_events_sent += 1,
            Sent::Other => {}
        }
        true
    }
}

impl Registry {
    /// Adds a connection that completed its handshake.
    fn register(
        &mut self,
        kind: HubKind,
        token_id: String,
        outbox: mpsc::Sender<Utf8Bytes>,
        written: watch::Receiver<u64>,
        control: Arc<watch::Sender<Control>>,
    ) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        let conn = Conn {
            kind,
            token_id,
            outbox,
            queued: 0,
            written,
            control,
            subscriptions: BTreeSet::new(),
            messages_received: 0,
            quotes_sent: 0,
        };
        self.conns.map.insert(id, conn);
        self.conns.counters.connects += 1;
        id
    }

    /// Tells a connection's tasks how to end, then removes it and its subscriptions (dropping the
    /// registry's outbox sender). The order matters: a writer that sees its outbox closed must
    /// already find the `Close` it has to send. False if it was already gone.
    fn unregister(&mut self, id: u64, end: &Control) -> bool {
        let Some(conn) = self.conns.map.remove(&id) else {
            return false;
        };
        conn.control.send_replace(end.clone());
        for topic in &conn.subscriptions {
            if let Some(subscribers) = self.topics.get_mut(topic) {
                subscribers.remove(&id);
                if subscribers.is_empty() {
                    self.topics.remove(topic);
                }
            }
        }
        true
    }

    /// Adds a subscription; the next quote on it is a full snapshot.
    fn subscribe(&mut self, id: u64, topic: String) {
        let Some(conn) = self.conns.map.get_mut(&id) else {
            return;
        };
        self.topics.entry(topic.clone()).or_default().insert(id, true);
        conn.subscriptions.insert(topic);
        self.conns.counters.subscribe_calls += 1;
    }

    fn unsubscribe(&mut self, id: u64, topic: &str) {
        if let Some(conn) = self.conns.map.get_mut(&id) {
            conn.subscriptions.remove(topic);
        }
        if let Some(subscribers) = self.topics.get_mut(topic) {
            subscribers.remove(&id);
            if subscribers.is_empty() {
                self.topics.remove(topic);
            }
        }
    }

    /// Sends a record to every subscriber of `topic`.
    fn broadcast(&mut self, topic: &str, record: &Utf8Bytes, sent: Sent) {
        if let Some(subscribers) = self.topics.get(topic) {
            for &id in subscribers.keys() {
                self.conns.send(id, record, sent);
            }
        }
    }

    /// Queues the Completion for an invocation that carried an id.
    fn complete(&mut self, id: u64, invocation_id: Option<&str>, outcome: Result<(), &str>) {
        if let Some(invocation_id) = invocation_id {
            self.conns.send(id, &protocol::completion(invocation_id, outcome), Sent::Other);
        }
    }
}
