//! One hub connection's life after the upgrade: the handshake (with its timeout), then a reader
//! (this task: splits records, dispatches invocations, enforces the client timeout) and a writer
//! (a spawned task: drains the outbox into frames, writes a Ping after `keep_alive` without a
//! write, sends the Close). They share a `watch` of `Control` with chaos and shutdown. The
//! reader's partial-record buffer lives outside the `select!`, so a branch losing the race loses
//! no bytes.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::protocol::{self, HANDSHAKE_OK, Inbox, Incoming, MAX_PENDING, PING};
use super::{Control, HubFraming, HubKind, OUTBOX, Sent, deadline, market, user};
use crate::state::Shared;

/// How long a graceful close may take (flushing, Close message, the client's close frame).
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Most records the writer takes from the outbox per wake-up (one frame when batching).
const BATCH: usize = 256;

/// How a handshake failed.
enum Refused {
    /// Answered `{"error": ...}`.
    Bad(String),
    /// Nothing complete within the handshake timeout.
    TimedOut,
    /// The client left first.
    Gone,
}

/// Serves one upgraded socket until it closes. `token_id` is the connecting token's `jti`.
pub(super) async fn run(mut socket: WebSocket, shared: Arc<Shared>, kind: HubKind, token_id: String) {
    let hubs = &shared.hubs;
    let mut inbox = Inbox::default();
    match handshake(&mut socket, &mut inbox, hubs.settings.handshake_timeout).await {
        Ok(()) => {}
        Err(Refused::Gone) => return,
        Err(refused) => {
            hubs.registry().conns.counters.bad_handshakes += 1;
            if let Refused::Bad(error) = refused {
                tracing::debug!(hub = ?kind, %error, "hub handshake refused");
                let _ = socket.send(Message::Text(protocol::handshake_error(&error))).await;
            }
            let _ = socket.send(normal_close()).await;
            return;
        }
    }
    let (outbox, outbox_rx) = mpsc::channel(OUTBOX);
    let (written, written_rx) = watch::channel(0_u64);
    // Both receivers exist before the sender is shared, so neither can miss an early change.
    let (control, mut control_rx) = watch::channel(Control::Run);
    let writer_control = control_rx.clone();
    let control = Arc::new(control);
    let id = hubs.registry().register(kind, token_id, outbox, written_rx, Arc::clone(&control));
    if socket.send(Message::Text(Utf8Bytes::from_static(HANDSHAKE_OK))).await.is_err() {
        hubs.registry().unregister(id, &Control::Abort);
        return;
    }
    tracing::debug!(hub = ?kind, connection.id = id, "hub connection open");
    let (sink, mut stream) = socket.split();
    let mut writer = tokio::spawn(write(sink, outbox_rx, written, writer_control, Arc::clone(&shared)));
    let reader = Reader { shared: &shared, id, kind };
    if let Some(end) = reader.read(&mut stream, &mut inbox, &mut control_rx).await {
        hubs.registry().unregister(id, &end);
    }
    let graceful = matches!(*control.borrow(), Control::Close(_));
    tracing::debug!(hub = ?kind, connection.id = id, graceful, "hub connection closing");
    if graceful {
        if tokio::time::timeout(CLOSE_GRACE, &mut writer).await.is_err() {
            writer.abort();
        }
        // Give the client the chance to answer the close frame before the TCP connection goes.
        let _ =
            tokio::time::timeout(CLOSE_GRACE, async { while stream.next().await.is_some_and(|r| r.is_ok()) {} }).await;
    } else {
        writer.abort();
    }
}

/// Reads frames until a complete handshake record arrives, and checks it.
async fn handshake(socket: &mut WebSocket, inbox: &mut Inbox, limit: Duration) -> Result<(), Refused> {
    let until = deadline(Instant::now(), limit);
    loop {
        if let Some(record) = inbox.next_record() {
            return protocol::handshake(record).map_err(Refused::Bad);
        }
        if inbox.pending() > MAX_PENDING {
            return Err(Refused::Bad("The handshake request is too large.".to_owned()));
        }
        match tokio::time::timeout_at(until, socket.recv()).await {
            Err(_) => return Err(Refused::TimedOut),
            Ok(Some(Ok(Message::Text(text)))) => inbox.push(text.as_bytes()),
            Ok(Some(Ok(Message::Binary(bytes)))) => inbox.push(&bytes),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            Ok(Some(Ok(Message::Close(_)) | Err(_)) | None) => return Err(Refused::Gone),
        }
    }
}

/// The reading half of a connection.
struct Reader<'a> {
    shared: &'a Shared,
    id: u64,
    kind: HubKind,
}

impl Reader<'_> {
    /// Reads and dispatches until the connection should end. `None`: someone else (chaos) already
    /// decided how; `Some`: the reader's own decision.
    async fn read(
        &self,
        stream: &mut SplitStream<WebSocket>,
        inbox: &mut Inbox,
        control: &mut watch::Receiver<Control>,
    ) -> Option<Control> {
        let hubs = &self.shared.hubs;
        let mut stopped = hubs.stopped.clone();
        let mut last_message = Instant::now();
        loop {
            while let Some(record) = inbox.next_record() {
                last_message = Instant::now();
                if let Some(end) = self.handle(record) {
                    return Some(end);
                }
            }
            if inbox.pending() > MAX_PENDING {
                return Some(error_close("InvalidDataException: The message exceeds the maximum message size."));
            }
            let frame = tokio::select! {
                biased;
                _ = control.changed() => return None,
                _ = stopped.wait_for(|stop| *stop) => return Some(Control::Abort),
                () = tokio::time::sleep_until(deadline(last_message, hubs.settings.client_timeout)) => {
                    hubs.registry().conns.counters.client_timeouts += 1;
                    tracing::debug!(hub = ?self.kind, connection.id = self.id, "hub client timed out");
                    return Some(Control::Abort);
                }
                frame = stream.next() => frame,
            };
            match frame {
                Some(Ok(Message::Text(text))) => inbox.push(text.as_bytes()),
                Some(Ok(Message::Binary(bytes))) => inbox.push(&bytes),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => return Some(Control::Abort),
            }
        }
    }

    /// Handles one record; `Some` ends the connection.
    fn handle(&self, record: &[u8]) -> Option<Control> {
        let incoming = match protocol::parse(record) {
            Ok(incoming) => incoming,
            Err(detail) => {
                tracing::debug!(hub = ?self.kind, connection.id = self.id, %detail, "hub protocol violation");
                return Some(error_close(&detail));
            }
        };
        {
            let mut registry = self.shared.hubs.registry();
            if let Some(conn) = registry.conns.map.get_mut(&self.id) {
                conn.messages_received += 1;
            }
            if incoming == Incoming::Ping {
                registry.conns.counters.pings_received += 1;
            }
        }
        match incoming {
            Incoming::Invocation(call) => match self.kind {
                HubKind::Market => market::invoke(self.shared, self.id, &call),
                HubKind::User => user::invoke(self.shared, self.id, &call),
            },
            Incoming::StreamInvocation(call) => {
                let error = format!("Streaming is not supported: '{}' is not a streaming method.", call.target);
                if let Some(invocation_id) = &call.id {
                    let record = protocol::completion(invocation_id, Err(&error));
                    self.shared.hubs.registry().conns.send(self.id, &record, Sent::Other);
                }
            }
            Incoming::Close => return Some(Control::Close(None)),
            Incoming::Ping | Incoming::Ignored => {}
        }
        None
    }
}

/// A Close message for a protocol violation (ASP.NET closes the connection on those).
fn error_close(detail: &str) -> Control {
    Control::Close(Some(protocol::close(Some(&format!("Connection closed with an error. {detail}")), false)))
}

fn normal_close() -> Message {
    Message::Close(Some(CloseFrame { code: close_code::NORMAL, reason: Utf8Bytes::from_static("") }))
}

/// The writing half: outbox → frames, keep-alive pings, and the final Close. `written` counts the
/// outbox records written to the socket (for `Receipt::delivered`).
async fn write(
    mut sink: SplitSink<WebSocket, Message>,
    mut outbox: mpsc::Receiver<Utf8Bytes>,
    written: watch::Sender<u64>,
    mut control: watch::Receiver<Control>,
    shared: Arc<Shared>,
) {
    let hubs = &shared.hubs;
    let mut batch = Vec::with_capacity(BATCH);
    let mut last_write = Instant::now();
    loop {
        tokio::select! {
            biased;
            _ = control.changed() => {
                let end = control.borrow().clone();
                if let Control::Close(close) = end {
                    while let Ok(record) = outbox.try_recv() {
                        batch.push(record);
                    }
                    batch.extend(close);
                    let goodbye = async {
                        send_records(&mut sink, &mut batch, hubs.framing()).await?;
                        sink.send(normal_close()).await
                    };
                    let _ = tokio::time::timeout(CLOSE_GRACE, goodbye).await;
                }
                return;
            }
            n = outbox.recv_many(&mut batch, BATCH) => {
                if n == 0 || send_records(&mut sink, &mut batch, hubs.framing()).await.is_err() {
                    return;
                }
                written.send_modify(|count| *count += n as u64);
                last_write = Instant::now();
            }
            () = tokio::time::sleep_until(deadline(last_write, hubs.settings.keep_alive)) => {
                if hubs.pings_enabled() && sink.send(Message::Text(Utf8Bytes::from_static(PING))).await.is_err() {
                    return;
                }
                last_write = Instant::now();
            }
        }
    }
}

/// Writes (and empties) `batch` as `framing` says.
async fn send_records(
    sink: &mut SplitSink<WebSocket, Message>,
    batch: &mut Vec<Utf8Bytes>,
    framing: HubFraming,
) -> Result<(), axum::Error> {
    if batch.is_empty() {
        return Ok(());
    }
    if framing == HubFraming::Single {
        for record in batch.drain(..) {
            sink.feed(Message::Text(record)).await?;
        }
        return sink.flush().await;
    }
    let joined = if batch.len() == 1 {
        batch.pop().expect("the batch has one record")
    } else {
        let mut text = String::with_capacity(batch.iter().map(|r| r.len()).sum());
        batch.drain(..).for_each(|record| text.push_str(record.as_str()));
        Utf8Bytes::from(text)
    };
    batch.clear();
    match framing {
        HubFraming::Binary => sink.send(Message::Binary(Bytes::from(joined))).await,
        HubFraming::Split if joined.len() > 1 => {
            let text = joined.as_str();
            let mut middle = text.len() / 2;
            while !text.is_char_boundary(middle) {
                middle += 1;
            }
            sink.feed(Message::Text(Utf8Bytes::from(&text[..middle]))).await?;
            sink.feed(Message::Text(Utf8Bytes::from(&text[middle..]))).await?;
            sink.flush().await
        }
        _ => sink.send(Message::Text(joined)).await,
    }
}
