//! A scripted fake SignalR hub for the client's tests: axum WebSocket on 127.0.0.1:0 that answers the handshake,
//! completes invocations, and lets a test push frames, close, drop, refuse, or go silent.
#![allow(dead_code, unreachable_pub, missing_debug_implementations, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use parking_lot::Mutex;
use tokio::sync::broadcast;

const RS: char = '\u{1e}';

/// What a test tells every open connection to do.
#[derive(Clone, Debug)]
pub enum Push {
    /// Send this text frame as is.
    Frame(String),
    /// Send this binary frame.
    Binary(Vec<u8>),
    /// Close the socket without a Close message.
    Drop,
}

#[derive(Debug, Default)]
pub struct Seen {
    pub tokens: Vec<String>,
    pub handshakes: u64,
    pub pings: u64,
    pub invocations: Vec<String>,
    pub close_messages: u64,
    pub negotiations: u64,
}

#[derive(Debug)]
pub struct Script {
    pub refuse_tokens: Vec<String>,
    pub send_pings: bool,
    /// Extra records appended to the handshake answer's frame.
    pub after_handshake: String,
}

#[derive(Clone)]
pub struct FakeHub {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Seen>>,
    pub script: Arc<Mutex<Script>>,
    push: broadcast::Sender<Push>,
}

#[derive(Clone)]
struct Shared {
    seen: Arc<Mutex<Seen>>,
    script: Arc<Mutex<Script>>,
    push: broadcast::Sender<Push>,
}

impl FakeHub {
    pub async fn start() -> Self {
        let (push, _) = broadcast::channel(4096);
        let seen = Arc::new(Mutex::new(Seen::default()));
        let script =
            Arc::new(Mutex::new(Script { refuse_tokens: vec![], send_pings: true, after_handshake: String::new() }));
        let shared = Shared { seen: seen.clone(), script: script.clone(), push: push.clone() };
        let app =
            axum::Router::new().route("/hub", get(upgrade)).route("/hub/negotiate", post(negotiate)).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, seen, script, push }
    }

    pub fn url(&self) -> url::Url {
        format!("http://{}/hub", self.addr).parse().unwrap()
    }

    pub fn push(&self, p: Push) {
        let _ = self.push.send(p);
    }

    pub fn open_connections(&self) -> usize {
        self.push.receiver_count()
    }
}

async fn negotiate(State(s): State<Shared>) -> Response {
    s.seen.lock().negotiations += 1;
    axum::Json(serde_json::json!({
        "negotiateVersion": 1, "connectionId": "c1", "connectionToken": "ct1",
        "availableTransports": [{"transport": "WebSockets", "transferFormats": ["Text"]}]
    }))
    .into_response()
}

async fn upgrade(
    State(s): State<Shared>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let token = q.get("access_token").cloned().unwrap_or_default();
    s.seen.lock().tokens.push(token.clone());
    if s.script.lock().refuse_tokens.contains(&token) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    ws.on_upgrade(move |socket| serve(socket, s))
}

async fn serve(mut socket: WebSocket, s: Shared) {
    let mut rx = s.push.subscribe();
    let mut buf = String::new();
    let mut handshaken = false;
    let mut ping = tokio::time::interval(std::time::Duration::from_millis(100));
    loop {
        tokio::select! {
            p = rx.recv() => match p {
                Ok(Push::Frame(t)) => { if socket.send(Message::Text(t.into())).await.is_err() { return } }
                Ok(Push::Binary(b)) => { if socket.send(Message::Binary(b.into())).await.is_err() { return } }
                Ok(Push::Drop) | Err(_) => return,
            },
            _ = ping.tick() => {
                if handshaken && s.script.lock().send_pings && socket.send(Message::Text(format!("{{\"type\":6}}{RS}").into())).await.is_err() {
                    return;
                }
            }
            m = socket.recv() => {
                let Some(Ok(m)) = m else { return };
                let Message::Text(t) = m else { continue };
                buf.push_str(t.as_str());
                while let Some(end) = buf.find(RS) {
                    let record: String = buf.drain(..=end).collect();
                    let record = &record[..record.len() - RS.len_utf8()];
                    let v: serde_json::Value = serde_json::from_str(record).unwrap();
                    if !handshaken {
                        handshaken = true;
                        s.seen.lock().handshakes += 1;
                        let extra = s.script.lock().after_handshake.clone();
                        let _ = socket.send(Message::Text(format!("{{}}{RS}{extra}").into())).await;
                        continue;
                    }
                    match v["type"].as_u64() {
                        Some(6) => s.seen.lock().pings += 1,
                        Some(7) => s.seen.lock().close_messages += 1,
                        Some(1) => {
                            let target = v["target"].as_str().unwrap_or_default().to_owned();
                            s.seen.lock().invocations.push(target.clone());
                            if let Some(id) = v["invocationId"].as_str() {
                                let answer = if target.starts_with("Subscribe") {
                                    serde_json::json!({"type": 3, "invocationId": id})
                                } else if target == "Echo" {
                                    serde_json::json!({"type": 3, "invocationId": id, "result": v["arguments"][0]})
                                } else if target == "Never" {
                                    continue;
                                } else {
                                    serde_json::json!({"type": 3, "invocationId": id, "error": format!("Unknown hub method '{target}'")})
                                };
                                let _ = socket.send(Message::Text(format!("{answer}{RS}").into())).await;
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}
