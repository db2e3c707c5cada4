//! A raw SignalR JSON client over tokio-tungstenite (no library in between, so the tests see the
//! wire as it is), plus simulator fixtures.

use std::collections::VecDeque;

pub(crate) use std::time::Duration;

pub(crate) use projectx_sim::{HubFraming, HubKind, Sim, SimConfig, SimHandle, UserEventShape, UserEventTiming};
pub(crate) use serde_json::{Value, json};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub(crate) const MNQ: &str = "CON.F.US.MNQ.Z25";
pub(crate) const ES: &str = "CON.F.US.EP.Z25";
pub(crate) const ACCOUNT: i32 = 9001;
pub(crate) const HANDSHAKE: &str = "{\"protocol\":\"json\",\"version\":1}\u{1e}";
const RS: char = '\u{1e}';
/// Longest wait for anything the server should send.
const PATIENCE: Duration = Duration::from_secs(5);

/// Starts a simulator with no automatic quotes (tests opt in), installing the rustls provider.
pub(crate) async fn spawn_sim(cfg: SimConfig) -> SimHandle {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Sim::start(SimConfig { quotes_per_second: 0, ..cfg }).await.expect("simulator starts")
}

pub(crate) async fn spawn_default() -> SimHandle {
    spawn_sim(SimConfig::default()).await
}

/// A token valid for ten minutes.
pub(crate) fn token(sim: &SimHandle) -> String {
    sim.issue_token(Duration::from_secs(600))
}

/// `ws://…/hubs/<hub>?access_token=<token>`.
pub(crate) fn ws_url(sim: &SimHandle, hub: HubKind, token: &str) -> String {
    let http = match hub {
        HubKind::Market => sim.market_hub_url(),
        HubKind::User => sim.user_hub_url(),
    };
    format!("{}?access_token={token}", http.replacen("http://", "ws://", 1))
}

/// How a connection ended, from the client's side.
#[derive(Debug)]
pub(crate) struct Ending {
    /// Records received before the end.
    pub(crate) records: Vec<Value>,
    /// Whether a WebSocket close frame arrived (false: the TCP connection just went).
    pub(crate) close_frame: bool,
}

/// One raw hub connection.
pub(crate) struct HubClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Bytes after the last record separator.
    tail: String,
    /// Parsed records not yet returned.
    records: VecDeque<Value>,
    pub(crate) text_frames: usize,
    pub(crate) binary_frames: usize,
}

impl HubClient {
    /// Opens the socket without a handshake.
    pub(crate) async fn open(url: &str) -> Result<Self, tungstenite::Error> {
        Self::open_request(url.into_client_request()?).await
    }

    pub(crate) async fn open_request(
        request: tungstenite::handshake::client::Request,
    ) -> Result<Self, tungstenite::Error> {
        let (ws, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Self { ws, tail: String::new(), records: VecDeque::new(), text_frames: 0, binary_frames: 0 })
    }

    /// Opens the socket and completes the handshake.
    pub(crate) async fn connect(url: &str) -> Self {
        let mut client = Self::open(url).await.expect("upgrade accepted");
        client.handshake().await;
        client
    }

    pub(crate) async fn connect_to(sim: &SimHandle, hub: HubKind) -> Self {
        Self::connect(&ws_url(sim, hub, &token(sim))).await
    }

    pub(crate) async fn handshake(&mut self) {
        self.send_text(HANDSHAKE).await;
        assert_eq!(self.next().await, Some(json!({})), "handshake answer");
    }

    pub(crate) async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("frame sent");
    }

    pub(crate) async fn send_binary(&mut self, bytes: &[u8]) {
        self.ws.send(Message::binary(bytes.to_vec())).await.expect("frame sent");
    }

    /// Sends one message record.
    pub(crate) async fn send(&mut self, message: Value) {
        self.send_text(&format!("{message}{RS}")).await;
    }

    /// Sends an invocation (with an id when given).
    pub(crate) async fn call(&mut self, id: Option<&str>, target: &str, arguments: Value) {
        let mut message = json!({ "type": 1, "target": target, "arguments": arguments });
        if let Some(id) = id {
            message["invocationId"] = json!(id);
        }
        self.send(message).await;
    }

    /// Invokes with an id and returns its Completion; records that came first stay queued.
    pub(crate) async fn invoke(&mut self, id: &str, target: &str, arguments: Value) -> Value {
        self.call(Some(id), target, arguments).await;
        let mut before = Vec::new();
        loop {
            let record = self.next().await.expect("a completion before the socket closed");
            if record["type"] == 3 && record["invocationId"] == id {
                for r in before.into_iter().rev() {
                    self.records.push_front(r);
                }
                return record;
            }
            before.push(record);
        }
    }

    /// The next record (pings included), or `None` once the socket closed. Panics after 5 s.
    pub(crate) async fn next(&mut self) -> Option<Value> {
        tokio::time::timeout(PATIENCE, self.read()).await.expect("the server answered within 5 s")
    }

    /// The next record within `d`, if any (`None` on silence or close).
    pub(crate) async fn next_within(&mut self, d: Duration) -> Option<Value> {
        tokio::time::timeout(d, self.read()).await.ok().flatten()
    }

    /// The next record that is not a Ping.
    pub(crate) async fn next_message(&mut self) -> Value {
        loop {
            let record = self.next().await.expect("a message before the socket closed");
            if record != json!({ "type": 6 }) {
                return record;
            }
        }
    }

    /// The next invocation of `target` (skipping pings and other targets).
    pub(crate) async fn next_event(&mut self, target: &str) -> Value {
        loop {
            let record = self.next_message().await;
            if record["type"] == 1 && record["target"] == target {
                return record;
            }
        }
    }

    /// Bytes the server has written to this connection that the client has not read yet (peeked
    /// at in the kernel's receive buffer without waiting, so it tells what is already there).
    pub(crate) fn bytes_waiting(&self) -> usize {
        assert!(self.records.is_empty() && self.tail.is_empty(), "records already read are waiting");
        let MaybeTlsStream::Plain(tcp) = self.ws.get_ref() else { panic!("the tests use plain ws://") };
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
        match socket2::SockRef::from(tcp).peek(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
            Err(e) => panic!("peek failed: {e}"),
        }
    }

    /// Targets and data of the next `n` invocations (pings skipped); user events carry exactly
    /// one argument.
    pub(crate) async fn user_events(&mut self, n: usize) -> Vec<(String, Value)> {
        let mut events = Vec::new();
        while events.len() < n {
            let record = self.next_message().await;
            assert_eq!(record["type"], 1, "{record}");
            let arguments = record["arguments"].as_array().expect("an arguments array");
            assert_eq!(arguments.len(), 1, "user events carry one data object: {record}");
            events.push((record["target"].as_str().expect("a target").to_owned(), arguments[0].clone()));
        }
        events
    }

    /// A user-hub connection subscribed to the account's orders, positions and trades, and to
    /// accounts.
    pub(crate) async fn user_feeds(sim: &SimHandle, account: i32) -> Self {
        let mut hub = Self::connect_to(sim, HubKind::User).await;
        let answer = hub.invoke("a", "SubscribeAccounts", json!([])).await;
        assert_eq!(answer.get("error"), None, "{answer}");
        for (id, target) in ["SubscribeOrders", "SubscribePositions", "SubscribeTrades"].iter().enumerate() {
            let answer = hub.invoke(&format!("s{id}"), target, json!([account])).await;
            assert_eq!(answer.get("error"), None, "{answer}");
        }
        hub
    }

    /// Reads until the server ends the connection.
    pub(crate) async fn ending(mut self) -> Ending {
        let mut records: Vec<Value> = self.records.drain(..).collect();
        let mut close_frame = false;
        let read_to_end = async {
            while let Some(frame) = self.ws.next().await {
                match frame {
                    Ok(Message::Text(text)) => records.extend(split(&mut self.tail, text.as_str())),
                    Ok(Message::Close(_)) => close_frame = true,
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        };
        tokio::time::timeout(PATIENCE, read_to_end).await.expect("the server ended the connection within 5 s");
        Ending { records, close_frame }
    }

    async fn read(&mut self) -> Option<Value> {
        loop {
            if let Some(record) = self.records.pop_front() {
                return Some(record);
            }
            let text = match self.ws.next().await? {
                Ok(Message::Text(text)) => {
                    self.text_frames += 1;
                    text.as_str().to_owned()
                }
                Ok(Message::Binary(bytes)) => {
                    self.binary_frames += 1;
                    String::from_utf8(bytes.to_vec()).expect("UTF-8 JSON in binary frames")
                }
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            };
            let parsed = split(&mut self.tail, &text);
            self.records.extend(parsed);
        }
    }
}

/// Appends `text` to `tail` and returns the complete records, parsed.
fn split(tail: &mut String, text: &str) -> Vec<Value> {
    tail.push_str(text);
    let Some(end) = tail.rfind(RS) else {
        return Vec::new();
    };
    let complete: String = tail.drain(..=end).collect();
    complete
        .split_terminator(RS)
        .map(|record| serde_json::from_str(record).unwrap_or_else(|e| panic!("bad record {record:?}: {e}")))
        .collect()
}

/// The HTTP status of a refused upgrade.
pub(crate) async fn refused_status(url: &str) -> u16 {
    match HubClient::open(url).await {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("expected an HTTP refusal, the upgrade was accepted"),
    }
}

/// Polls `check` every 10 ms for up to 5 s.
pub(crate) async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The `jti` of a simulator token, read without checking the signature.
pub(crate) fn jti(token: &str) -> String {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.insecure_disable_signature_validation();
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let key = jsonwebtoken::DecodingKey::from_secret(b"");
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation).expect("a JWT").claims;
    claims["jti"].as_str().expect("a jti claim").to_owned()
}

/// An exact JSON number.
pub(crate) fn num(text: &str) -> Value {
    Value::Number(text.parse().expect("a number literal"))
}

/// A REST call with a bearer token; the JSON envelope.
pub(crate) async fn rest(sim: &SimHandle, token: &str, path: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", sim.base_url()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request reaches the simulator");
    assert!(response.status().is_success(), "{path}: {}", response.status());
    response.json().await.expect("a JSON envelope")
}

/// A market order for the default account through REST; asserts success.
pub(crate) async fn market_order(sim: &SimHandle, token: &str, contract: &str, side: i32, size: i32) {
    let body = json!({ "accountId": ACCOUNT, "contractId": contract, "type": 2, "side": side, "size": size });
    let placed = rest(sim, token, "/api/Order/place", body).await;
    assert_eq!(placed["success"], true, "{placed}");
}

/// `Order/place` with `body`; asserts success and returns the order id.
pub(crate) async fn place(sim: &SimHandle, token: &str, body: Value) -> i64 {
    let placed = rest(sim, token, "/api/Order/place", body).await;
    assert_eq!(placed["success"], true, "{placed}");
    placed["orderId"].as_i64().expect("an order id")
}

/// A market buy on MNQ for `account` with a stop loss and a take profit (signed ticks).
pub(crate) fn bracketed_buy(account: i32, size: i32, stop_ticks: i32, target_ticks: i32) -> Value {
    json!({
        "accountId": account, "contractId": MNQ, "type": 2, "side": 0, "size": size,
        "stopLossBracket": { "ticks": stop_ticks, "type": 4 },
        "takeProfitBracket": { "ticks": target_ticks, "type": 1 },
    })
}

/// A decimal from a JSON number's exact text.
pub(crate) fn dec(value: &Value) -> rust_decimal::Decimal {
    value.to_string().parse().unwrap_or_else(|_| panic!("{value} is not a decimal"))
}
