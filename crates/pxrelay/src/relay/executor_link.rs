//! `pxrelay execute`'s side of `/executor`: one outbound WebSocket to the relay (`http`→`ws`, `https`→`wss`, the
//! relay's certificate checked against the platform's roots by rustls), `Authorization: Bearer <EXECUTOR_TOKEN>`,
//! reconnected forever with jittered backoff. It connects only once the warm-up is done (token, hubs, books, recovery).
//!
//! For each alert the relay sends: journal it under the relay's id (the journal deduplicates: a resend is not
//! executed again), **then** ack; an alert older than `MAX_ALERT_AGE_SECS` since the relay received it is finished
//! `expired` and nothing is sent; otherwise it runs as a queued alert does ([`crate::routes::queued::admit`]: resolve
//! the symbol and the accounts, the executor's guards, `customTag` `pxr1-<alert id>`). Its outcome is sent back once
//! its row is final. After a reconnect the relay resends every alert it has no outcome for, and each is answered
//! from this journal (ack, and the outcome when known), so an outcome lost with a connection is sent again.
//!
//! Timelines: with each outcome, and whenever the fills writer has written events to an alert's row
//! ([`crate::fills::Fills::written`]: acknowledged, filled, legs, closed; a bracket target may fill hours later), the
//! row is read and its timeline and execution details are sent ([`ToRelay::Timeline`]). The writer is the only
//! writer of events after the outcome, so hooking it misses nothing and costs nothing while no fill happens (a poll
//! would re-read every recent alert every second for hours). The relay replaces its copy with each, so duplicates
//! are harmless; what a dropped connection may have lost in flight is covered by sending the timelines of the newest
//! [`RESEND_RECENT`] alerts again on every (re)connection (and when this link fell behind the writer).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{broadcast, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_util::sync::CancellationToken;

use super::protocol::{MAX_MESSAGE, PATH, ToExecutor, ToRelay};
use crate::journal::{Execution, NewAlert, Recorded, StoredAlert};
use crate::outcome::Answer;
use crate::state::AppState;

/// Reconnect delays: about 250 ms at first, doubling to at most 30 s.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(250), Duration::from_secs(30));

/// How often an alert's row is read for its outcome.
const OUTCOME_POLL: Duration = Duration::from_millis(20);

/// How many of the newest alerts get their timeline sent again on each (re)connection.
pub const RESEND_RECENT: u32 = 200;

/// How old (from arrival) an alert may be to get its timeline sent again on a (re)connection.
const RESEND_WITHIN: chrono::Duration = chrono::Duration::days(2);

/// The `/executor` address of the relay at `base` (`http`→`ws`, `https`→`wss`; `ws`/`wss` kept); `Err` says why.
pub fn executor_url(base: &str) -> Result<url::Url, String> {
    let mut url = url::Url::parse(base.trim()).map_err(|e| format!("RELAY_URL `{base}` is not a URL: {e}"))?;
    let scheme = match url.scheme() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        other => return Err(format!("RELAY_URL: scheme `{other}` is not accepted; use https://<relay domain>")),
    };
    url.set_scheme(scheme).map_err(|()| "RELAY_URL: the scheme cannot be changed".to_owned())?;
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("{path}{PATH}"));
    Ok(url)
}

/// What the connections share: the outcomes to send (kept across reconnects) and the alerts being waited on.
#[derive(Debug)]
struct Shared {
    state: AppState,
    outbox: mpsc::UnboundedSender<ToRelay>,
    waiting: Mutex<HashSet<String>>,
}

/// Connects to `url` and executes what the relay sends, reconnecting forever, until `cancel`.
pub async fn run(state: AppState, url: url::Url, token: SecretString, cancel: CancellationToken) {
    let written = state.books.fills().map(|f| f.written());
    let mut stage = state.warmup.subscribe();
    tokio::select! {
        () = cancel.cancelled() => return,
        ready = stage.wait_for(|s| *s == crate::warmup::Stage::Ready) => if ready.is_err() { return },
    }
    let (outbox, mut outgoing) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared { state, outbox, waiting: Mutex::new(HashSet::new()) });
    if let Some(written) = written {
        tokio::spawn(forward_timelines(shared.clone(), written, cancel.clone()));
    }
    let backoff = projectx::backoff::Backoff::try_new(BACKOFF.0, BACKOFF.1).expect("valid bounds");
    let mut attempt = 0u32;
    loop {
        let connected = tokio::select! {
            () = cancel.cancelled() => return,
            c = connect(&url, &token) => c,
        };
        match connected {
            Ok(socket) => {
                attempt = 0;
                tracing::info!(relay = %without_credentials(&url), "connected to the relay");
                resend_recent(&shared).await;
                let why = session(&shared, socket, &mut outgoing, &cancel).await;
                if cancel.is_cancelled() {
                    return;
                }
                tracing::warn!(relay = %without_credentials(&url), reason = %why, "disconnected from the relay; reconnecting");
                if why.contains(super::link::REPLACED_REASON) {
                    // Another executor may be using this token: it must not flip-flop with this one every few
                    // hundred milliseconds, so wait the longest delay.
                    tracing::error!(
                        "the relay closed this connection because another executor with the same EXECUTOR_TOKEN \
                         connected: run only one; reconnecting in up to {} s",
                        BACKOFF.1.as_secs()
                    );
                    attempt = u32::MAX - 1;
                }
            }
            // tungstenite's error names the HTTP status (401 for a wrong token), never the request's headers.
            Err(e) => {
                tracing::warn!(relay = %without_credentials(&url), error = %e, attempt, "could not connect to the relay")
            }
        }
        attempt = attempt.saturating_add(1);
        let delay = backoff.delay(attempt);
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// The URL as logged: no user or password.
fn without_credentials(url: &url::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &url::Url, token: &SecretString) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let mut request = url.as_str().into_client_request()?;
    let mut bearer = axum::http::HeaderValue::from_str(&format!("Bearer {}", token.expose_secret())).map_err(|_| {
        tokio_tungstenite::tungstenite::Error::Url(tokio_tungstenite::tungstenite::error::UrlError::UnableToConnect(
            "EXECUTOR_TOKEN is not a valid header value".into(),
        ))
    })?;
    bearer.set_sensitive(true);
    request.headers_mut().insert(axum::http::header::AUTHORIZATION, bearer);
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let connecting = tokio_tungstenite::connect_async_with_config(request, Some(config), false);
    let (socket, _) = tokio::time::timeout(Duration::from_secs(15), connecting)
        .await
        .map_err(|_| tokio_tungstenite::tungstenite::Error::Io(std::io::ErrorKind::TimedOut.into()))??;
    Ok(socket)
}

/// One connection: alerts in, acks and outcomes out, until it ends; returns why.
async fn session(
    shared: &Arc<Shared>,
    socket: Socket,
    outgoing: &mut mpsc::UnboundedReceiver<ToRelay>,
    cancel: &CancellationToken,
) -> String {
    let (mut tx, mut rx) = socket.split();
    loop {
        tokio::select! {
            () = cancel.cancelled() => {
                let _ = tx.close().await;
                return "stopping".to_owned();
            }
            out = outgoing.recv() => {
                let Some(out) = out else { return "outbox closed".to_owned() };
                let Ok(text) = serde_json::to_string(&out) else { continue };
                if text.len() > MAX_MESSAGE {
                    // The relay would close the connection on it, and it would be sent again after each reconnect.
                    tracing::error!(bytes = text.len(), limit = MAX_MESSAGE, "a message for the relay is too large: not sent");
                    continue;
                }
                if let Err(e) = tx.send(Message::Text(text.into())).await {
                    return format!("send failed: {e}");
                }
            }
            message = rx.next() => match message {
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<ToExecutor>(text.as_str()) {
                    Ok(alert) => take(shared, alert).await,
                    Err(e) => tracing::warn!(error = %e, "unreadable message from the relay ignored"),
                },
                Some(Ok(Message::Close(Some(frame)))) => {
                    return format!("closed by the relay ({}): {}", u16::from(frame.code), frame.reason);
                }
                Some(Ok(Message::Close(_))) | None => return "closed by the relay".to_owned(),
                Some(Err(e)) => return format!("receive failed: {e}"),
                // Pings are answered by tungstenite itself (on the next read or write).
                Some(Ok(_)) => {}
            },
        }
    }
}

/// One alert from the relay: journal, ack, then expire or run it, and report its outcome once known.
async fn take(shared: &Arc<Shared>, message: ToExecutor) {
    let ToExecutor::Alert { alert_id, received_at, raw_body, intent } = message;
    let state = &shared.state;
    let journal = &state.webhook.journal;
    let record = NewAlert {
        alert_id: alert_id.clone(),
        received_at,
        raw_body,
        intent: intent.clone(),
        contract_id: None,
        account_id: None,
        content: None,
        parent_id: None,
    };
    let recorded = match journal.record(record).await {
        Ok(r) => r,
        Err(e) => {
            // Not acked: the relay sends it again after the next reconnect.
            tracing::error!(alert.id = %alert_id, error = %e, "could not journal an alert from the relay; not acknowledged");
            return;
        }
    };
    let _ = shared.outbox.send(ToRelay::Ack { alert_id: alert_id.clone() });
    match recorded {
        Recorded::Duplicate(row) => {
            tracing::info!(alert.id = %alert_id, status = row.status.as_str(), "alert from the relay already journaled: not executed again");
            match crate::routes::queued::answer_of(&row) {
                Some(answer) => {
                    report(shared, alert_id, answer);
                    send_timeline(shared, &row);
                }
                None => wait_and_report(shared, alert_id),
            }
        }
        Recorded::New => {
            tracing::info!(alert.id = %alert_id, "alert from the relay journaled");
            let waited = (Utc::now() - received_at).to_std().unwrap_or_default();
            let arrived = tokio::time::Instant::now().checked_sub(waited).unwrap_or_else(tokio::time::Instant::now);
            let max_age = state.webhook.guards.max_age;
            if let Some(expired) = crate::executor::expired(intent.sent_at, arrived, max_age) {
                tracing::warn!(alert.id = %alert_id, reason = expired.message.as_deref().unwrap_or_default(), "stale alert from the relay: nothing sent");
                if let Err(e) = journal.finish(&alert_id, &expired).await {
                    tracing::error!(alert.id = %alert_id, error = %e, "could not journal an alert's outcome");
                }
                return report(shared, alert_id.clone(), expired.answer(&alert_id));
            }
            match journal.get(&alert_id).await {
                Ok(Some(row)) => crate::routes::queued::admit(state, row).await,
                other => {
                    tracing::error!(alert.id = %alert_id, error = ?other.err(), "a journaled alert could not be read back")
                }
            }
            wait_and_report(shared, alert_id);
        }
    }
}

fn report(shared: &Arc<Shared>, alert_id: String, answer: Answer) {
    let _ = shared.outbox.send(ToRelay::Outcome { alert_id, answer });
}

/// Reads the alert's row until it is final, then reports it (once per alert, whatever the resends).
fn wait_and_report(shared: &Arc<Shared>, alert_id: String) {
    if !shared.waiting.lock().insert(alert_id.clone()) {
        return;
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        let journal = shared.state.webhook.journal.clone();
        loop {
            if shared.state.shutdown.is_cancelled() {
                break;
            }
            if let Ok(Some(row)) = journal.get(&alert_id).await
                && let Some(answer) = crate::routes::queued::answer_of(&row)
            {
                report(&shared, alert_id.clone(), answer);
                send_timeline(&shared, &row);
                break;
            }
            tokio::time::sleep(OUTCOME_POLL).await;
        }
        shared.waiting.lock().remove(&alert_id);
    });
}

/// Queues `row`'s [`ToRelay::Timeline`], unless it has nothing to tell (no event besides `received`/`journaled`, no
/// execution details) or is not an alert the relay could have sent (a risk action, a fan-out's per-account row).
fn send_timeline(shared: &Shared, row: &StoredAlert) {
    if row.intent.is_none() || row.parent_id.is_some() {
        return;
    }
    let message = ToRelay::timeline_of(row);
    if let ToRelay::Timeline { events, execution, .. } = &message
        && events.is_empty()
        && *execution == Execution::default()
    {
        return;
    }
    let _ = shared.outbox.send(message);
}

/// Sends the timeline of each alert the fills writer wrote to, read after the write; on falling behind the writer,
/// those of the recent alerts. Runs until `cancel` (or the writer is gone).
async fn forward_timelines(shared: Arc<Shared>, mut written: broadcast::Receiver<String>, cancel: CancellationToken) {
    let journal = shared.state.webhook.journal.clone();
    loop {
        let first = tokio::select! {
            () = cancel.cancelled() => return,
            w = written.recv() => w,
        };
        let mut ids = match first {
            Ok(id) => vec![id],
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "the relay link fell behind the fills writer: sending recent timelines again");
                resend_recent(&shared).await;
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        // A fill comes as several batches within milliseconds: read each alert once for all that is already told.
        while let Ok(id) = written.try_recv() {
            ids.push(id);
        }
        ids.sort();
        ids.dedup();
        for id in ids {
            match journal.get(&id).await {
                Ok(Some(row)) => send_timeline(&shared, &row),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(alert.id = %id, error = %e, "could not read an alert's timeline for the relay")
                }
            }
        }
    }
}

/// Queues the timelines of the newest [`RESEND_RECENT`] alerts received within [`RESEND_WITHIN`].
async fn resend_recent(shared: &Shared) {
    let since = Utc::now() - RESEND_WITHIN;
    match shared.state.webhook.journal.list(RESEND_RECENT).await {
        Ok(rows) => {
            let recent = rows.iter().filter(|r| {
                chrono::DateTime::parse_from_rfc3339(&r.received_at).is_ok_and(|at| at.with_timezone(&Utc) >= since)
            });
            for row in recent {
                send_timeline(shared, row);
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not read the recent alerts' timelines for the relay"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relay_address_becomes_its_websocket() {
        assert_eq!(executor_url("https://relay.example.app").unwrap().as_str(), "wss://relay.example.app/executor");
        assert_eq!(executor_url("http://127.0.0.1:8080/").unwrap().as_str(), "ws://127.0.0.1:8080/executor");
        assert!(executor_url("ftp://x").unwrap_err().contains("https://"));
    }
}
