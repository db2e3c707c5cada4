//! `HubClient`: the supervisor that keeps one hub connection alive forever.
//!
//! Each attempt asks the [`TokenProvider`] for a token (so a rotated token is used on the very next connect),
//! connects, and runs a session: server invocations go out **in order** through one bounded channel, completions
//! resolve the matching [`HubClient::invoke`], and `server_timeout` of inbound silence ends the session.
//!
//! Reconnects: a **planned** end ([`Disconnect::is_planned`]: [`HubClient::reconnect`], or a server Close with
//! `allowReconnect: true` after the connection lived a second) reconnects at once and leaves the failure streak
//! alone, so routine restarts and rotations never grow the delays. Failures (a lost socket, server timeout, Close
//! without `allowReconnect`, a failed attempt) raise the streak: the first failure after a connection that was up
//! retries at once, later ones wait a jittered exponential backoff on the streak, which a connection that stayed up
//! `stable_after` resets. It never gives up; it stops only when its cancellation token fires, and then sends a Close
//! message first.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use secrecy::SecretString;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::connection::{self, ConnectError, Connection};
use crate::handler::{self, Dispatched, InvocationHandler};
use crate::protocol::{self, Incoming};

/// A server Close "with reconnect" counts as planned only for a connection that lived at least this long.
const PLANNED_MIN_LIFE: Duration = Duration::from_secs(1);

/// A boxed future, for the object-safe [`TokenProvider`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A token for one connection attempt. `id` identifies it when reporting it refused.
#[derive(Clone, Debug)]
pub struct AccessToken {
    /// The bearer value (goes into `access_token`).
    pub value: SecretString,
    /// The provider's identifier for this token (e.g. a revision number).
    pub id: u64,
}

/// Supplies tokens; called again before **every** connection attempt.
pub trait TokenProvider: Send + Sync + 'static {
    /// A currently valid token (may wait for a refresh).
    fn token(&self) -> BoxFuture<'_, Result<AccessToken, String>>;
    /// The hub refused token `id` (401 on upgrade, or Close without `allowReconnect`): refresh before the next try.
    fn refused(&self, id: u64);
}

/// Timing and transport options.
#[derive(Clone, Debug)]
pub struct HubConfig {
    /// Hub URL, `https://…/hubs/market` (http/https are mapped to ws/wss).
    pub url: url::Url,
    /// Negotiate (v1) before connecting; the default skips it, as ProjectX's example does.
    pub negotiate: bool,
    /// Upgrade + handshake deadline (15 s).
    pub handshake_timeout: Duration,
    /// Send a ping after this much outbound silence (15 s).
    pub keep_alive: Duration,
    /// Give the connection up after this much inbound silence (30 s).
    pub server_timeout: Duration,
    /// Wait this long for an invocation's completion (15 s).
    pub invocation_timeout: Duration,
    /// Delay between attempts.
    pub backoff: Backoff,
    /// A connection that lived this long resets the backoff (60 s).
    pub stable_after: Duration,
    /// Capacity of the event channel (1024).
    pub event_capacity: usize,
}

impl HubConfig {
    /// Defaults matching ASP.NET Core's and the official JS client's timings.
    pub fn new(url: url::Url) -> Self {
        Self {
            url,
            negotiate: false,
            handshake_timeout: Duration::from_secs(15),
            keep_alive: Duration::from_secs(15),
            server_timeout: Duration::from_secs(30),
            invocation_timeout: Duration::from_secs(15),
            backoff: Backoff::try_new(Duration::from_millis(500), Duration::from_secs(30))
                .expect("constant bounds are valid"),
            stable_after: Duration::from_secs(60),
            event_capacity: 1024,
        }
    }
}

/// Why a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Disconnect {
    /// No frame for `server_timeout`.
    ServerTimeout,
    /// The server sent Close.
    Closed {
        /// The server's reason.
        error: Option<String>,
        /// Whether it invited a reconnect (we reconnect either way; without it the token is refreshed first).
        allow_reconnect: bool,
    },
    /// The socket failed or closed.
    Lost(String),
    /// [`HubClient::reconnect`] was called.
    Requested(String),
}

impl Disconnect {
    /// A planned end: a requested reconnect, or a server Close with `allowReconnect: true` (a restart, a token
    /// rotation on the server's side). The supervisor reconnects at once and does not count it as a failure, unless
    /// the server closed a connection younger than one second (a server that closes every connection at once is
    /// failing, and backs off like any failure).
    pub fn is_planned(&self) -> bool {
        matches!(self, Self::Requested(_) | Self::Closed { allow_reconnect: true, .. })
    }
}

/// What the client reports, in order, on its event channel.
#[derive(Debug)]
pub enum HubEvent {
    /// A connection is up and handshaken: (re)subscribe now.
    Connected {
        /// Increases with every connection.
        connection: u64,
    },
    /// The connection ended.
    Disconnected {
        /// Which connection.
        connection: u64,
        /// Why.
        reason: Disconnect,
    },
    /// An attempt failed or a connection ended badly; the next attempt follows after `delay`. Not sent for a
    /// planned end (the next attempt starts at once) nor for the first failure after a connection that was up.
    Reconnecting {
        /// Failures in a row since the last stable connection ([`HubClient::failure_streak`]).
        attempt: u32,
        /// The wait before the next attempt.
        delay: Duration,
        /// The last failure.
        error: String,
    },
    /// The server invoked a client method (e.g. `GatewayQuote`).
    Invocation {
        /// Method name.
        target: String,
        /// The raw `arguments` array.
        arguments: Box<RawValue>,
    },
}

/// The connection state, published on a watch channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HubStatus {
    /// Attempting to connect.
    Connecting,
    /// Connected since `since`.
    Connected {
        /// When the handshake completed.
        since: Instant,
        /// Which connection.
        connection: u64,
    },
    /// Waiting before the next attempt.
    Backoff {
        /// Failed attempts so far.
        attempt: u32,
        /// Until when.
        until: Instant,
    },
    /// Stopped by its cancellation token.
    Stopped,
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvokeError {
    /// No connection right now (it will be re-established; resubscribe on `Connected`).
    #[error("not connected to the hub")]
    NotConnected,
    /// The connection dropped before the completion arrived.
    #[error("the connection was lost before the hub answered")]
    ConnectionLost,
    /// No completion within the invocation timeout.
    #[error("the hub did not answer within {0:?}")]
    Timeout(Duration),
    /// The hub answered with an error (e.g. "Unknown hub method 'X'").
    #[error("the hub refused the call: {0}")]
    Hub(String),
    /// The client has stopped.
    #[error("the hub client has stopped")]
    Stopped,
}

type Reply = oneshot::Sender<Result<Option<Box<RawValue>>, InvokeError>>;

#[derive(Debug)]
enum Command {
    Invoke { target: String, arguments: Vec<serde_json::Value>, reply: Option<Reply> },
    Reconnect(String),
}

/// Counters shared with the handle.
#[derive(Debug, Default)]
struct Stats {
    connects: AtomicU64,
    disconnects: AtomicU64,
    /// Milliseconds since `Supervisor::base` at the last inbound frame (0 = none yet).
    last_frame_ms: AtomicU64,
    /// The supervisor's failure streak (the backoff counter).
    failure_streak: AtomicU32,
}

/// A cheap, clonable handle to a running hub client.
#[derive(Clone, Debug)]
pub struct HubClient {
    cmds: mpsc::Sender<Command>,
    status: watch::Receiver<HubStatus>,
    stats: Arc<Stats>,
    base: Instant,
    invocation_timeout: Duration,
}

impl HubClient {
    /// Starts the supervisor task. Events arrive on the returned receiver (bounded: the supervisor waits when the
    /// consumer lags, so nothing is lost or reordered). The task ends when `cancel` fires.
    pub fn start(
        cfg: HubConfig,
        tokens: Arc<dyn TokenProvider>,
        cancel: CancellationToken,
    ) -> (Self, mpsc::Receiver<HubEvent>, JoinHandle<()>) {
        Self::start_inner(cfg, tokens, None, cancel)
    }

    /// Like [`start`](Self::start), with `handler` taking the invocations of the targets it wants, on the
    /// connection's task (see [`InvocationHandler`]); the others arrive as events.
    pub fn start_with_handler(
        cfg: HubConfig,
        tokens: Arc<dyn TokenProvider>,
        handler: Arc<dyn InvocationHandler>,
        cancel: CancellationToken,
    ) -> (Self, mpsc::Receiver<HubEvent>, JoinHandle<()>) {
        Self::start_inner(cfg, tokens, Some(handler), cancel)
    }

    fn start_inner(
        cfg: HubConfig,
        tokens: Arc<dyn TokenProvider>,
        handler: Option<Arc<dyn InvocationHandler>>,
        cancel: CancellationToken,
    ) -> (Self, mpsc::Receiver<HubEvent>, JoinHandle<()>) {
        let (cmd_tx, cmd_rx) = mpsc::channel(64);
        let (event_tx, event_rx) = mpsc::channel(cfg.event_capacity.max(1));
        let (status_tx, status_rx) = watch::channel(HubStatus::Connecting);
        let stats = Arc::new(Stats::default());
        let base = Instant::now();
        let handle = Self {
            cmds: cmd_tx,
            status: status_rx,
            stats: stats.clone(),
            base,
            invocation_timeout: cfg.invocation_timeout,
        };
        let http = match cfg.negotiate {
            true => Some(reqwest::Client::builder().timeout(cfg.handshake_timeout).build().unwrap_or_default()),
            false => None,
        };
        let sup = Supervisor {
            cfg,
            tokens,
            handler,
            cancel,
            cmds: cmd_rx,
            events: event_tx,
            status: status_tx,
            stats,
            base,
            http,
        };
        (handle, event_rx, tokio::spawn(sup.run()))
    }

    /// Invokes `target` with an invocation id and waits for its completion (`Ok(None)` for void methods).
    pub async fn invoke(
        &self,
        target: &str,
        arguments: Vec<serde_json::Value>,
    ) -> Result<Option<Box<RawValue>>, InvokeError> {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Invoke { target: target.to_owned(), arguments, reply: Some(reply) };
        self.cmds.send(cmd).await.map_err(|_| InvokeError::Stopped)?;
        match tokio::time::timeout(self.invocation_timeout, rx).await {
            Err(_) => Err(InvokeError::Timeout(self.invocation_timeout)),
            Ok(Err(_)) => Err(InvokeError::ConnectionLost),
            Ok(Ok(result)) => result,
        }
    }

    /// Sends an invocation without an id (the hub does not answer).
    pub async fn send(&self, target: &str, arguments: Vec<serde_json::Value>) -> Result<(), InvokeError> {
        let cmd = Command::Invoke { target: target.to_owned(), arguments, reply: None };
        self.cmds.send(cmd).await.map_err(|_| InvokeError::Stopped)
    }

    /// Ends the current connection (if any) and connects again at once, e.g. after a token rotation. Planned: the
    /// failure streak is unchanged. During a backoff wait it cuts the wait short.
    pub fn reconnect(&self, reason: &str) {
        if self.cmds.try_send(Command::Reconnect(reason.to_owned())).is_err() {
            tracing::warn!(reason, "reconnect request dropped: command queue full");
        }
    }

    /// The connection state.
    pub fn status(&self) -> watch::Receiver<HubStatus> {
        self.status.clone()
    }

    /// Successful connections since start.
    pub fn connects(&self) -> u64 {
        self.stats.connects.load(Ordering::Relaxed)
    }

    /// Connections that ended since start.
    pub fn disconnects(&self) -> u64 {
        self.stats.disconnects.load(Ordering::Relaxed)
    }

    /// Failures in a row, the backoff counter: failed attempts and connections that ended badly since the last
    /// stable connection (one that lived `stable_after`). Planned reconnects ([`Disconnect::is_planned`]) leave it
    /// unchanged.
    pub fn failure_streak(&self) -> u32 {
        self.stats.failure_streak.load(Ordering::Relaxed)
    }

    /// Time since the last inbound frame (pings included), if any arrived.
    pub fn last_frame_age(&self) -> Option<Duration> {
        let ms = self.stats.last_frame_ms.load(Ordering::Relaxed);
        (ms > 0).then(|| self.base.elapsed().saturating_sub(Duration::from_millis(ms)))
    }
}

/// How a session ended.
enum End {
    Cancelled,
    Ended(Disconnect),
}

struct Supervisor {
    cfg: HubConfig,
    tokens: Arc<dyn TokenProvider>,
    /// Sees every invocation before it becomes an event.
    handler: Option<Arc<dyn InvocationHandler>>,
    cancel: CancellationToken,
    cmds: mpsc::Receiver<Command>,
    events: mpsc::Sender<HubEvent>,
    status: watch::Sender<HubStatus>,
    stats: Arc<Stats>,
    base: Instant,
    http: Option<reqwest::Client>,
}

impl Supervisor {
    async fn run(mut self) {
        // Failures in a row: failed attempts and connections that ended badly, reset by a stable connection.
        // Planned ends (see `Disconnect::is_planned`) neither raise nor reset it.
        let mut streak: u32 = 0;
        let mut connection: u64 = 0;
        loop {
            self.status.send_replace(HubStatus::Connecting);
            let error = match self.attempt().await {
                None => break,
                Some(Err(e)) => e,
                Some(Ok((conn, token_id))) => {
                    connection += 1;
                    self.stats.connects.fetch_add(1, Ordering::Relaxed);
                    // The handshake answer is the connection's first inbound frame.
                    let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX).max(1);
                    self.stats.last_frame_ms.store(ms, Ordering::Relaxed);
                    let since = Instant::now();
                    self.status.send_replace(HubStatus::Connected { since, connection });
                    tracing::info!(hub = %self.cfg.url, connection, "hub connected");
                    if !self.emit(HubEvent::Connected { connection }).await {
                        conn.close().await;
                        break;
                    }
                    let end = self.session(conn).await;
                    self.stats.disconnects.fetch_add(1, Ordering::Relaxed);
                    let reason = match end {
                        End::Cancelled => break,
                        End::Ended(reason) => reason,
                    };
                    if let Disconnect::Closed { allow_reconnect: false, .. } = &reason {
                        self.tokens.refused(token_id);
                    }
                    let lived = since.elapsed();
                    if lived >= self.cfg.stable_after {
                        self.set_streak(&mut streak, 0);
                    }
                    // A server that closes every connection at once "with reconnect" is failing, not planning.
                    let planned = match &reason {
                        Disconnect::Requested(_) => true,
                        Disconnect::Closed { allow_reconnect: true, .. } => lived >= PLANNED_MIN_LIFE,
                        _ => false,
                    };
                    if planned {
                        tracing::info!(hub = %self.cfg.url, connection, reason = ?reason, "hub disconnected (planned); reconnecting at once");
                    } else {
                        tracing::warn!(hub = %self.cfg.url, connection, reason = ?reason, "hub disconnected");
                    }
                    let text = format!("{reason:?}");
                    if !self.emit(HubEvent::Disconnected { connection, reason }).await {
                        break;
                    }
                    if planned {
                        continue;
                    }
                    if streak == 0 {
                        // The first retry after a connection that had been fine is immediate.
                        self.set_streak(&mut streak, 1);
                        continue;
                    }
                    text
                }
            };
            let next = streak.saturating_add(1);
            self.set_streak(&mut streak, next);
            let attempt = streak;
            let delay = self.cfg.backoff.delay(attempt);
            tracing::warn!(hub = %self.cfg.url, attempt, delay_ms = delay.as_millis() as u64, error = %error, "hub reconnecting");
            let until = Instant::now() + delay;
            self.status.send_replace(HubStatus::Backoff { attempt, until });
            if !self.emit(HubEvent::Reconnecting { attempt, delay, error }).await || !self.idle_until(until).await {
                break;
            }
        }
        self.status.send_replace(HubStatus::Stopped);
    }

    fn set_streak(&self, streak: &mut u32, value: u32) {
        *streak = value;
        self.stats.failure_streak.store(value, Ordering::Relaxed);
    }

    /// One connection attempt: `None` when cancelled.
    async fn attempt(&mut self) -> Option<Result<(Connection, u64), String>> {
        let cancel = self.cancel.clone();
        let tokens = self.tokens.clone();
        let cfg = self.cfg.clone();
        let http = self.http.clone();
        let connect = async move {
            let token = tokens.token().await.map_err(|e| format!("no token: {e}"))?;
            let id = match &http {
                Some(http) => Some(connection::negotiate(http, &cfg.url, &token.value).await),
                None => None,
            };
            let result = match id.transpose() {
                Ok(id) => match connection::ws_url(&cfg.url, &token.value, id.as_deref()) {
                    Ok(url) => Connection::open(url, cfg.handshake_timeout, cfg.keep_alive).await,
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            match result {
                Ok(conn) => Ok((conn, token.id)),
                Err(ConnectError::Unauthorized) => {
                    tokens.refused(token.id);
                    Err(ConnectError::Unauthorized.to_string())
                }
                Err(e) => Err(e.to_string()),
            }
        };
        tokio::pin!(connect);
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => return None,
                r = &mut connect => return Some(r),
                cmd = self.cmds.recv() => match cmd {
                    // Every handle is gone: nobody can use the connection, so stop.
                    None => return None,
                    cmd => self.refuse(cmd),
                },
            }
        }
    }

    /// Waits until `until`, answering commands meanwhile; a reconnect request cuts the wait. `false` if cancelled.
    async fn idle_until(&mut self, until: Instant) -> bool {
        loop {
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => return false,
                () = tokio::time::sleep_until(until) => return true,
                cmd = self.cmds.recv() => match cmd {
                    None => return false,
                    Some(Command::Reconnect(_)) => return true,
                    cmd => self.refuse(cmd),
                },
            }
        }
    }

    fn refuse(&self, cmd: Option<Command>) {
        if let Some(Command::Invoke { reply: Some(reply), .. }) = cmd {
            let _ = reply.send(Err(InvokeError::NotConnected));
        }
    }

    /// Sends an event unless cancelled first. `false` when cancelled or nobody listens.
    async fn emit(&self, event: HubEvent) -> bool {
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => false,
            r = self.events.send(event) => r.is_ok(),
        }
    }

    async fn session(&mut self, mut conn: Connection) -> End {
        let mut pending: HashMap<u64, Reply> = HashMap::new();
        let mut next_id: u64 = 0;
        let mut last_inbound = Instant::now();
        // Records that arrived in the handshake's frame.
        if let Some(end) = self.drain_records(&mut conn, &[], &mut pending).await {
            conn.close().await;
            return end;
        }
        loop {
            let deadline = last_inbound + self.cfg.server_timeout;
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => {
                    conn.close().await;
                    return End::Cancelled;
                }
                cmd = self.cmds.recv() => match cmd {
                    Some(Command::Invoke { target, arguments, reply }) => {
                        let id = reply.map(|r| {
                            next_id += 1;
                            pending.insert(next_id, r);
                            next_id.to_string()
                        });
                        let record = protocol::invocation(id.as_deref(), &target, &arguments);
                        if conn.outbound.send(Message::text(record)).await.is_err() {
                            conn.abort();
                            return End::Ended(Disconnect::Lost("writer stopped".into()));
                        }
                    }
                    Some(Command::Reconnect(reason)) => {
                        conn.close().await;
                        return End::Ended(Disconnect::Requested(reason));
                    }
                    None => {
                        conn.close().await;
                        return End::Cancelled;
                    }
                },
                frame = tokio::time::timeout_at(deadline, conn.reader.next()) => {
                    let msg = match frame {
                        Err(_) => {
                            conn.abort();
                            return End::Ended(Disconnect::ServerTimeout);
                        }
                        Ok(None) => {
                            conn.abort();
                            return End::Ended(Disconnect::Lost("the hub closed the connection".into()));
                        }
                        Ok(Some(Err(e))) => {
                            conn.abort();
                            return End::Ended(Disconnect::Lost(connection::describe(&e)));
                        }
                        Ok(Some(Ok(msg))) => msg,
                    };
                    last_inbound = Instant::now();
                    let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX).max(1);
                    self.stats.last_frame_ms.store(ms, Ordering::Relaxed);
                    // Records are decoded in place from the frame's own bytes (see `RecordBuffer::feed`).
                    let frame: &[u8] = match &msg {
                        Message::Text(t) => t.as_bytes(),
                        Message::Binary(b) => b,
                        Message::Close(frame) => {
                            conn.abort();
                            let why = frame.as_ref().map_or_else(|| "no reason".to_owned(), |f| f.reason.to_string());
                            return End::Ended(Disconnect::Lost(format!("WebSocket closed by the hub: {why}")));
                        }
                        _ => continue,
                    };
                    if let Some(end) = self.drain_records(&mut conn, frame, &mut pending).await {
                        conn.abort();
                        return end;
                    }
                }
            }
        }
    }

    /// Handles every complete record: those left in the buffer, then those of `frame` (borrowed from it, not
    /// copied); keeps the frame's incomplete tail. `Some` when the session must end.
    async fn drain_records(
        &self,
        conn: &mut Connection,
        frame: &[u8],
        pending: &mut HashMap<u64, Reply>,
    ) -> Option<End> {
        let mut records = conn.records.feed(frame);
        while let Some(record) = records.next_record() {
            let parsed = match &self.handler {
                Some(h) => match handler::dispatch(h.as_ref(), record) {
                    Dispatched::Handled => continue,
                    Dispatched::Parsed(parsed) => parsed,
                },
                None => protocol::parse(record),
            };
            let event = match parsed {
                Ok(Incoming::Invocation { target, arguments }) => {
                    HubEvent::Invocation { target: target.to_owned(), arguments: arguments.to_owned() }
                }
                Ok(Incoming::Completion { invocation_id, result }) => {
                    let reply = invocation_id.parse::<u64>().ok().and_then(|id| pending.remove(&id));
                    if let Some(reply) = reply {
                        let _ = reply.send(result.map(|r| r.map(ToOwned::to_owned)).map_err(InvokeError::Hub));
                    }
                    continue;
                }
                Ok(Incoming::Close { error, allow_reconnect }) => {
                    return Some(End::Ended(Disconnect::Closed { error, allow_reconnect }));
                }
                Ok(Incoming::Ping | Incoming::Other(_)) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "ignoring a malformed hub record");
                    continue;
                }
            };
            if !self.emit(event).await {
                return Some(End::Cancelled);
            }
        }
        None
    }
}
