//! The relay's side of `/executor`: who is connected, and one connection's delivery loop.
//!
//! Authentication: `Authorization: Bearer <EXECUTOR_TOKEN>`, compared in constant time
//! ([`crate::routes::secret::secret_matches`]). A refusal is 401, counted (`pxrelay_executor_refusals_total`) and
//! logged with the peer's address, never with what it offered.
//!
//! One executor at a time: a second one with the right token **replaces** the first (the first connection is
//! closed). A PC that slept or lost its network leaves a half-open connection the relay notices only when a ping goes
//! unanswered; refusing the newcomer would lock the trader's real executor out meanwhile. Delivery is at-least-once
//! and the executor's journal deduplicates by alert id, so a replacement never executes an alert twice.
//!
//! Delivery: on connect every alert without a final outcome (`received` or `pending`) is sent, oldest first; later,
//! whenever a new alert is journaled ([`Link::wake`]) the `received` ones not yet sent on this connection. An `ack`
//! marks the row `pending`; an `outcome` finishes it with the executor's answer; a `timeline` replaces the row's
//! events after its own `received`/`journaled` with the executor's and stores the reference price and position
//! source ([`crate::journal::Journal::replace_timeline`]), so the relay's `/alerts` shows the same fills, fill
//! price, slippage and P&L as the executor's. A timeline for an alert the relay does not have (one sent to the
//! executor directly) is ignored.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use chrono::{DateTime, Utc};
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::Relay;
use super::protocol::{ToExecutor, ToRelay};
use crate::journal::{StoredAlert, TimelineWrite};
use crate::outcome::{AlertStatus, Outcome};

/// How often the relay pings the executor (the round-trip time in `/status` comes from the pong).
pub const PING_EVERY: Duration = Duration::from_secs(5);

/// A connection whose pong is this late is taken for dead and closed (a slept PC, a lost network).
pub const PONG_TIMEOUT: Duration = Duration::from_secs(15);

/// The close code the relay sends an executor another one replaced: 4000, application-defined.
pub const REPLACED: u16 = 4000;

/// The close reason with [`REPLACED`].
pub const REPLACED_REASON: &str = "replaced by another executor with the same EXECUTOR_TOKEN";

/// How far back unfinished alerts are looked for (older ones expire at the executor anyway).
const LOOKBACK: chrono::Duration = chrono::Duration::days(2);

/// The connected executor, shared by the routes and the connection task.
#[derive(Debug, Default)]
pub struct Link {
    current: Mutex<Option<Connected>>,
    next_id: AtomicU64,
    /// Connection tasks still running (a replaced or stopped one runs until its close frame is sent).
    sessions: AtomicU64,
    /// Woken when a new alert is journaled.
    pub wake: Notify,
}

#[derive(Debug)]
struct Connected {
    id: u64,
    since: DateTime<Utc>,
    peer: SocketAddr,
    rtt: Option<Duration>,
    stop: CancellationToken,
    /// Set before `stop` when another executor took over (else the relay is stopping).
    replaced: Arc<AtomicBool>,
}

/// What `/status` shows of the executor.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LinkStatus {
    /// Whether an executor is connected.
    pub connected: bool,
    /// Since when (RFC 3339), when connected.
    pub since: Option<DateTime<Utc>>,
    /// The last ping's round-trip time, in milliseconds.
    pub rtt_ms: Option<f64>,
}

impl Link {
    /// Whether an executor is connected.
    pub fn connected(&self) -> bool {
        self.current.lock().is_some()
    }

    /// The executor's state for `/status`.
    pub fn status(&self) -> LinkStatus {
        let current = self.current.lock();
        LinkStatus {
            connected: current.is_some(),
            since: current.as_ref().map(|c| c.since),
            rtt_ms: current.as_ref().and_then(|c| c.rtt).map(|d| d.as_secs_f64() * 1000.0),
        }
    }

    /// Registers a new connection, closing the previous one (see the module docs); returns its id and stop token.
    fn connect(&self, peer: SocketAddr) -> (u64, CancellationToken, Arc<AtomicBool>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let stop = CancellationToken::new();
        let replaced = Arc::new(AtomicBool::new(false));
        let connected =
            Connected { id, since: Utc::now(), peer, rtt: None, stop: stop.clone(), replaced: replaced.clone() };
        let previous = self.current.lock().replace(connected);
        if let Some(previous) = previous {
            tracing::warn!(
                previous.peer = %previous.peer, peer = %peer,
                "a second executor connected with the right token: it replaces the first"
            );
            previous.replaced.store(true, Ordering::Relaxed);
            previous.stop.cancel();
        }
        (id, stop, replaced)
    }

    fn disconnect(&self, id: u64) {
        let mut current = self.current.lock();
        if current.as_ref().is_some_and(|c| c.id == id) {
            *current = None;
        }
    }

    fn set_rtt(&self, id: u64, rtt: Duration) {
        if let Some(c) = self.current.lock().as_mut().filter(|c| c.id == id) {
            c.rtt = Some(rtt);
        }
    }

    /// Closes the current connection (the relay is stopping) and waits, at most `within`, until its close frame is
    /// sent (code 1001: the executor reconnects at once, to the relay that replaces this one).
    pub async fn close_all(&self, within: Duration) {
        if let Some(c) = self.current.lock().take() {
            c.stop.cancel();
        }
        let deadline = tokio::time::Instant::now() + within;
        while self.sessions.load(Ordering::Relaxed) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Alerts not yet acknowledged by an executor (`received`), oldest first.
pub async fn backlog(relay: &Relay) -> Result<Vec<StoredAlert>, crate::journal::JournalError> {
    relay.journal.in_status(AlertStatus::Received, Utc::now() - LOOKBACK).await
}

/// Serves one authenticated executor connection until it closes, fails, stops answering pings, or is replaced.
pub async fn serve(relay: Arc<Relay>, socket: WebSocket, peer: SocketAddr) {
    relay.link.sessions.fetch_add(1, Ordering::Relaxed);
    let (id, stop, replaced) = relay.link.connect(peer);
    tracing::info!(peer = %peer, "executor connected");
    let (mut tx, mut rx) = socket.split();
    let mut sent: HashSet<String> = HashSet::new();
    let mut first = true;
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut ping_sent: Option<tokio::time::Instant> = None;
    let why = loop {
        match due(&relay, &sent, first).await {
            Ok(alerts) => {
                let mut failed = None;
                for alert in alerts {
                    let id = alert_id(&alert).to_owned();
                    let text = match serde_json::to_string(&alert) {
                        Ok(t) => t,
                        Err(e) => {
                            tracing::error!(alert.id = %id, error = %e, "an alert could not be encoded for the executor");
                            continue;
                        }
                    };
                    if let Err(e) = tx.send(Message::Text(text.into())).await {
                        failed = Some(format!("send failed: {e}"));
                        break;
                    }
                    tracing::info!(alert.id = %id, "alert sent to the executor");
                    sent.insert(id);
                }
                if let Some(why) = failed {
                    break why;
                }
                first = false;
            }
            Err(e) => tracing::warn!(error = %e, "could not read the alerts to send to the executor"),
        }
        tokio::select! {
            () = stop.cancelled() => {
                // Tells the executor why, so a second executor on the same token is noticed (see the module docs).
                let replaced = replaced.load(Ordering::Relaxed);
                let frame = match replaced {
                    true => CloseFrame { code: REPLACED, reason: REPLACED_REASON.into() },
                    false => CloseFrame { code: 1001, reason: "the relay is stopping".into() },
                };
                let _ = tx.send(Message::Close(Some(frame))).await;
                break if replaced { REPLACED_REASON } else { "the relay is stopping" }.to_owned();
            }
            () = relay.link.wake.notified() => {}
            _ = ping.tick() => {
                if ping_sent.is_some_and(|t| t.elapsed() > PONG_TIMEOUT) {
                    break "no pong: the executor stopped answering".to_owned();
                }
                if ping_sent.is_none() {
                    ping_sent = Some(tokio::time::Instant::now());
                }
                if let Err(e) = tx.send(Message::Ping(axum::body::Bytes::new())).await {
                    break format!("ping failed: {e}");
                }
            }
            message = rx.next() => match message {
                Some(Ok(Message::Text(text))) => handle(&relay, text.as_str()).await,
                Some(Ok(Message::Pong(_))) => {
                    if let Some(at) = ping_sent.take() {
                        relay.link.set_rtt(id, at.elapsed());
                    }
                }
                Some(Ok(Message::Close(_))) | None => break "closed by the executor".to_owned(),
                Some(Err(e)) => break format!("receive failed: {e}"),
                Some(Ok(_)) => {}
            },
        }
    };
    relay.link.disconnect(id);
    let _ = tx.close().await;
    relay.link.sessions.fetch_sub(1, Ordering::Relaxed);
    tracing::warn!(peer = %peer, reason = %why, "executor disconnected");
}

fn alert_id(message: &ToExecutor) -> &str {
    match message {
        ToExecutor::Alert { alert_id, .. } => alert_id,
    }
}

/// What to send now: on a new connection every unfinished alert (`received` and `pending`, oldest first), later the
/// `received` ones not yet sent on this connection.
async fn due(
    relay: &Relay,
    sent: &HashSet<String>,
    first: bool,
) -> Result<Vec<ToExecutor>, crate::journal::JournalError> {
    let mut rows = backlog(relay).await?;
    if first {
        rows.extend(relay.journal.in_status(AlertStatus::Pending, Utc::now() - LOOKBACK).await?);
        rows.sort_by(|a, b| a.received_at.cmp(&b.received_at));
    }
    Ok(rows
        .into_iter()
        .filter(|r| !sent.contains(&r.alert_id))
        .filter_map(|r| {
            let received_at = DateTime::parse_from_rfc3339(&r.received_at).ok()?.with_timezone(&Utc);
            let intent = r.intent?;
            Some(ToExecutor::Alert { alert_id: r.alert_id, received_at, raw_body: r.raw_body, intent })
        })
        .collect())
}

/// One message from the executor.
async fn handle(relay: &Relay, text: &str) {
    let message = match serde_json::from_str::<ToRelay>(text) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "unreadable message from the executor ignored");
            return;
        }
    };
    let journal = &relay.journal;
    match message {
        ToRelay::Ack { alert_id } => {
            let Ok(Some(row)) = journal.get(&alert_id).await else { return };
            if row.status != AlertStatus::Received {
                return;
            }
            let acked = Outcome::new(
                AlertStatus::Pending,
                "relayed: the executor has journaled it; waiting for its outcome",
                "relayed: acknowledged",
            );
            if let Err(e) = journal.finish(&alert_id, &acked).await {
                tracing::error!(alert.id = %alert_id, error = %e, "could not journal the executor's ack");
            }
        }
        ToRelay::Outcome { alert_id, answer } => {
            let Ok(Some(row)) = journal.get(&alert_id).await else { return };
            if !matches!(row.status, AlertStatus::Received | AlertStatus::Pending) {
                return;
            }
            let mut outcome =
                Outcome::new(answer.status, answer.message.clone().unwrap_or_default(), "executed by the executor");
            outcome.message = answer.message.clone();
            outcome.orders = answer.orders.clone();
            match journal.finish_answer(&alert_id, &outcome, &answer).await {
                Ok(()) => {
                    tracing::info!(alert.id = %alert_id, status = answer.status.as_str(), "outcome from the executor")
                }
                Err(e) => tracing::error!(alert.id = %alert_id, error = %e, "could not journal the executor's outcome"),
            }
        }
        ToRelay::Timeline { alert_id, events, execution } => {
            let mut writes = Vec::with_capacity(events.len());
            for e in events {
                let Ok(at) = DateTime::parse_from_rfc3339(&e.at) else {
                    tracing::warn!(alert.id = %alert_id, at = %e.at, "a timeline event from the executor has no valid time: timeline ignored");
                    return;
                };
                let data = serde_json::Value::Object(e.data);
                writes.push(TimelineWrite {
                    alert_id: alert_id.clone(),
                    event: e.event,
                    at: at.with_timezone(&Utc),
                    data,
                });
            }
            let count = writes.len();
            match journal.replace_timeline(&alert_id, writes, execution).await {
                Ok(true) => tracing::debug!(alert.id = %alert_id, events = count, "timeline from the executor"),
                Ok(false) => {
                    tracing::debug!(alert.id = %alert_id, "timeline of an alert the relay does not have: ignored")
                }
                Err(e) => {
                    tracing::error!(alert.id = %alert_id, error = %e, "could not journal the executor's timeline")
                }
            }
        }
    }
}
