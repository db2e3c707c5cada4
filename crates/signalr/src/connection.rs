//! One connection's life: the WebSocket upgrade (token in `access_token`), the handshake under a timeout, and a
//! writer task that owns the socket's sink and sends a type-6 ping whenever `keep_alive` passes without an
//! outbound frame, so a slow consumer on the read side can never starve keep-alive.

use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::protocol::{self, RecordBuffer};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why a connection attempt failed. Never contains the URL (it carries the token).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// HTTP 401 on the upgrade (or on negotiate): the token was refused.
    #[error("the hub refused the token (HTTP 401)")]
    Unauthorized,
    /// Another HTTP status on the upgrade or negotiate.
    #[error("the hub answered HTTP {0}")]
    Status(u16),
    /// Network or WebSocket failure.
    #[error("connection failed: {0}")]
    Io(String),
    /// The server refused or garbled the handshake.
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// No handshake answer in time.
    #[error("no handshake answer within {0:?}")]
    Timeout(Duration),
}

/// An open, handshaken connection.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) reader: SplitStream<Ws>,
    /// Frames to send; the writer task owns the sink.
    pub(crate) outbound: mpsc::Sender<Message>,
    writer: JoinHandle<()>,
    /// Bytes received after the handshake answer in the same frame, and partial records.
    pub(crate) records: RecordBuffer,
}

/// Builds the WebSocket URL: `http`→`ws`, `https`→`wss`, plus `access_token` (and `id` after negotiate).
pub(crate) fn ws_url(
    base: &url::Url,
    token: &SecretString,
    connection_token: Option<&str>,
) -> Result<url::Url, ConnectError> {
    let mut url = base.clone();
    let scheme = match base.scheme() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        other => return Err(ConnectError::Io(format!("unsupported URL scheme `{other}`"))),
    };
    url.set_scheme(scheme).map_err(|()| ConnectError::Io("cannot set the WebSocket scheme".into()))?;
    {
        let mut q = url.query_pairs_mut();
        if let Some(id) = connection_token {
            q.append_pair("id", id);
        }
        q.append_pair("access_token", token.expose_secret());
    }
    Ok(url)
}

/// `POST {hub}/negotiate?negotiateVersion=1` → the connection token to pass as `id`.
pub(crate) async fn negotiate(
    http: &reqwest::Client,
    base: &url::Url,
    token: &SecretString,
) -> Result<String, ConnectError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Negotiated {
        connection_token: Option<String>,
        connection_id: Option<String>,
        error: Option<String>,
    }
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| ConnectError::Io("hub URL cannot have a path".into()))?
        .pop_if_empty()
        .push("negotiate");
    url.query_pairs_mut().append_pair("negotiateVersion", "1");
    let resp = http
        .post(url)
        .bearer_auth(token.expose_secret())
        .send()
        .await
        .map_err(|e| ConnectError::Io(e.without_url().to_string()))?;
    match resp.status().as_u16() {
        200 => {}
        401 => return Err(ConnectError::Unauthorized),
        s => return Err(ConnectError::Status(s)),
    }
    let n: Negotiated = resp.json().await.map_err(|e| ConnectError::Handshake(e.without_url().to_string()))?;
    if let Some(e) = n.error {
        return Err(ConnectError::Handshake(e));
    }
    n.connection_token
        .or(n.connection_id)
        .ok_or_else(|| ConnectError::Handshake("negotiate gave no connection id".into()))
}

impl Connection {
    /// Upgrades, sends the handshake and waits for its answer, all within `timeout`.
    pub(crate) async fn open(url: url::Url, timeout: Duration, keep_alive: Duration) -> Result<Self, ConnectError> {
        tokio::time::timeout(timeout, Self::open_inner(url, keep_alive))
            .await
            .map_err(|_| ConnectError::Timeout(timeout))?
    }

    async fn open_inner(url: url::Url, keep_alive: Duration) -> Result<Self, ConnectError> {
        let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await.map_err(|e| match e {
            tungstenite::Error::Http(resp) if resp.status() == 401 => ConnectError::Unauthorized,
            tungstenite::Error::Http(resp) => ConnectError::Status(resp.status().as_u16()),
            other => ConnectError::Io(describe(&other)),
        })?;
        ws.send(Message::text(protocol::HANDSHAKE)).await.map_err(|e| ConnectError::Io(describe(&e)))?;
        let mut records = RecordBuffer::default();
        loop {
            let frame = ws
                .next()
                .await
                .ok_or_else(|| ConnectError::Handshake("closed before answering".into()))?
                .map_err(|e| ConnectError::Io(describe(&e)))?;
            match frame {
                Message::Text(t) => records.extend(t.as_bytes()),
                Message::Binary(b) => records.extend(&b),
                Message::Close(_) => return Err(ConnectError::Handshake("closed before answering".into())),
                _ => continue,
            }
            if let Some(record) = records.next_record() {
                protocol::parse_handshake(record).map_err(ConnectError::Handshake)?;
                break;
            }
        }
        records.compact();
        let (sink, reader) = ws.split();
        let (outbound, rx) = mpsc::channel(256);
        let writer = tokio::spawn(write_loop(sink, rx, keep_alive));
        Ok(Self { reader, outbound, writer, records })
    }

    /// Sends a Close record and a WebSocket close frame, then waits (briefly) for the writer to flush.
    pub(crate) async fn close(self) {
        let Self { outbound, writer, .. } = self;
        let _ = outbound.send(Message::text(protocol::CLOSE)).await;
        let _ = outbound.send(Message::Close(None)).await;
        drop(outbound);
        let _ = tokio::time::timeout(Duration::from_secs(1), writer).await;
    }

    /// Drops the connection without ceremony (it is already broken).
    pub(crate) fn abort(self) {
        self.writer.abort();
    }
}

async fn write_loop(mut sink: SplitSink<Ws, Message>, mut rx: mpsc::Receiver<Message>, keep_alive: Duration) {
    let mut last_write = Instant::now();
    loop {
        let msg = tokio::select! {
            m = rx.recv() => match m {
                Some(m) => m,
                None => break,
            },
            () = tokio::time::sleep_until(last_write + keep_alive) => Message::text(protocol::PING),
        };
        let closing = matches!(msg, Message::Close(_));
        if sink.send(msg).await.is_err() {
            return;
        }
        last_write = Instant::now();
        if closing {
            break;
        }
    }
    let _ = sink.close().await;
}

/// A WebSocket error as text, without anything that could hold the URL.
pub(crate) fn describe(e: &tungstenite::Error) -> String {
    match e {
        tungstenite::Error::Url(_) => "invalid hub URL".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_switches_to_websocket_schemes_and_carries_the_encoded_token() {
        let token = SecretString::from("a+b/c=");
        let u = ws_url(&"https://rtc.topstepx.com/hubs/market".parse().unwrap(), &token, None).unwrap();
        assert_eq!(u.as_str(), "wss://rtc.topstepx.com/hubs/market?access_token=a%2Bb%2Fc%3D");
        let u = ws_url(&"http://127.0.0.1:5/hubs/user".parse().unwrap(), &token, Some("ct")).unwrap();
        assert_eq!(u.as_str(), "ws://127.0.0.1:5/hubs/user?id=ct&access_token=a%2Bb%2Fc%3D");
        assert!(ws_url(&"ftp://x/hubs".parse().unwrap(), &token, None).is_err());
    }
}
