//! The hub client against a scripted fake hub: handshake, invocations and completions, ordered delivery across
//! split and batched frames, keep-alive, server timeout, Close with and without allowReconnect, 401 on upgrade,
//! drops, reconnect on request with a fresh token, planned reconnects that never grow the backoff, graceful stop,
//! negotiate.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

mod fake_hub;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fake_hub::{FakeHub, Push};
use parking_lot::Mutex;
use secrecy::SecretString;
use signalr::{
    AccessToken, Backoff, BoxFuture, Disconnect, HubClient, HubConfig, HubEvent, InvocationHandler, InvokeError,
    TokenProvider,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Hands out `token-1`, `token-2`, …: a new one after each refusal.
#[derive(Default)]
struct Tokens {
    current: AtomicU64,
    refused: Mutex<Vec<u64>>,
    calls: AtomicU64,
}

impl TokenProvider for Tokens {
    fn token(&self) -> BoxFuture<'_, Result<AccessToken, String>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::Relaxed);
            let id = self.current.load(Ordering::Relaxed) + 1;
            Ok(AccessToken { value: SecretString::from(format!("token-{id}")), id })
        })
    }
    fn refused(&self, id: u64) {
        self.refused.lock().push(id);
        let _ = self.current.compare_exchange(id - 1, id, Ordering::Relaxed, Ordering::Relaxed);
    }
}

type Answer = Result<Option<Box<serde_json::value::RawValue>>, InvokeError>;

/// An invocation's answer in a comparable form.
fn shown(answer: Answer) -> Result<Option<String>, InvokeError> {
    answer.map(|r| r.map(|v| v.get().to_owned()))
}

fn config(hub: &FakeHub) -> HubConfig {
    let mut cfg = HubConfig::new(hub.url());
    cfg.backoff = Backoff::try_new(Duration::from_millis(20), Duration::from_millis(100)).unwrap();
    cfg.invocation_timeout = Duration::from_secs(2);
    cfg.handshake_timeout = Duration::from_secs(2);
    cfg
}

struct Running {
    client: HubClient,
    events: mpsc::Receiver<HubEvent>,
    tokens: Arc<Tokens>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn start(cfg: HubConfig) -> Running {
    rustls::crypto::ring::default_provider().install_default().ok();
    let tokens = Arc::new(Tokens::default());
    let cancel = CancellationToken::new();
    let (client, events, task) = HubClient::start(cfg, tokens.clone(), cancel.clone());
    Running { client, events, tokens, cancel, task }
}

impl Running {
    async fn next(&mut self) -> HubEvent {
        tokio::time::timeout(Duration::from_secs(5), self.events.recv()).await.expect("an event in time").unwrap()
    }

    async fn next_connected(&mut self) -> u64 {
        loop {
            if let HubEvent::Connected { connection } = self.next().await {
                return connection;
            }
        }
    }

    async fn next_disconnect(&mut self) -> Disconnect {
        loop {
            if let HubEvent::Disconnected { reason, .. } = self.next().await {
                return reason;
            }
        }
    }
}

#[tokio::test]
async fn invocations_complete_and_hub_errors_come_back() {
    let hub = FakeHub::start().await;
    let mut r = start(config(&hub));
    assert_eq!(r.next_connected().await, 1);
    assert_eq!(shown(r.client.invoke("SubscribeContractQuotes", vec!["CON.F.US.EP.Z25".into()]).await), Ok(None));
    let echoed = r.client.invoke("Echo", vec![serde_json::json!({"a": 1})]).await.unwrap().unwrap();
    assert_eq!(echoed.get(), r#"{"a":1}"#);
    assert_eq!(shown(r.client.invoke("Nope", vec![]).await), Err(InvokeError::Hub("Unknown hub method 'Nope'".into())));
    r.client.send("SubscribeAccounts", vec![]).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !hub.seen.lock().invocations.contains(&"SubscribeAccounts".to_owned()) {
        assert!(tokio::time::Instant::now() < deadline, "the invocation without id never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(hub.seen.lock().tokens, vec!["token-1".to_owned()]);
}

#[tokio::test]
async fn server_invocations_arrive_in_order_across_split_batched_and_binary_frames() {
    let hub = FakeHub::start().await;
    hub.script.lock().after_handshake = "{\"type\":1,\"target\":\"Q\",\"arguments\":[0]}\u{1e}".into();
    // The fake's pings are whole frames sent on a timer; one landing between two pieces of a split record would
    // corrupt it, which a real server never does (it writes whole messages). So no pings here.
    hub.script.lock().send_pings = false;
    let mut r = start(config(&hub));
    r.next_connected().await;
    // 1..=600 as a byte stream cut into frames of awkward sizes, some binary.
    let stream: String =
        (1..=600).map(|i| format!("{{\"type\":1,\"target\":\"Q\",\"arguments\":[{i}]}}\u{1e}")).collect();
    let bytes = stream.into_bytes();
    let mut i = 0;
    let mut size = 1;
    while i < bytes.len() {
        let end = (i + size).min(bytes.len());
        let chunk = bytes[i..end].to_vec();
        match String::from_utf8(chunk.clone()) {
            Ok(text) if size % 3 != 0 => hub.push(Push::Frame(text)),
            _ => hub.push(Push::Binary(chunk)),
        }
        i = end;
        size = size % 97 + 13;
    }
    let mut expected = 0;
    while expected <= 600 {
        match r.next().await {
            HubEvent::Invocation { target, arguments } => {
                assert_eq!(target, "Q");
                assert_eq!(arguments.get(), format!("[{expected}]"), "in order, none lost");
                expected += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Takes the invocations of one target, keeping their arguments.
struct Taker {
    target: &'static str,
    taken: Mutex<Vec<String>>,
}

impl InvocationHandler for Taker {
    fn wants(&self, target: &str) -> bool {
        target == self.target
    }
    fn handle(&self, record: &[u8]) {
        let call = signalr::protocol::parse_invocation::<&serde_json::value::RawValue>(record).unwrap();
        assert_eq!(call.target, self.target);
        self.taken.lock().push(call.arguments.get().to_owned());
    }
}

#[tokio::test]
async fn a_handler_takes_its_invocations_in_order_from_split_frames_and_the_rest_arrive_as_events() {
    let hub = FakeHub::start().await;
    // One handled record rides in the handshake's frame, like the hub's first quote can.
    hub.script.lock().after_handshake = "{\"type\":1,\"target\":\"H\",\"arguments\":[0]}\u{1e}".into();
    hub.script.lock().send_pings = false;
    rustls::crypto::ring::default_provider().install_default().ok();
    let taker = Arc::new(Taker { target: "H", taken: Mutex::new(Vec::new()) });
    let cancel = CancellationToken::new();
    let (_client, mut events, _task) =
        HubClient::start_with_handler(config(&hub), Arc::new(Tokens::default()), taker.clone(), cancel.clone());
    let first = tokio::time::timeout(Duration::from_secs(5), events.recv()).await.expect("connected in time");
    assert!(matches!(first, Some(HubEvent::Connected { connection: 1 })), "{first:?}");
    // Odd numbers to the handler ("H"), even ones to the event channel ("Q"), cut into frames of awkward sizes;
    // some in another field order (the target is then found by parsing, not by peeking).
    let stream: String = (1..=400)
        .map(|i| {
            let target = if i % 2 == 1 { "H" } else { "Q" };
            match i % 5 {
                0 | 3 => format!("{{\"arguments\":[{i}],\"target\":\"{target}\",\"type\":1}}\u{1e}"),
                _ => format!("{{\"type\":1,\"target\":\"{target}\",\"arguments\":[{i}]}}\u{1e}"),
            }
        })
        .collect();
    let (bytes, mut i, mut size) = (stream.into_bytes(), 0, 1);
    while i < bytes.len() {
        let end = (i + size).min(bytes.len());
        hub.push(Push::Frame(String::from_utf8(bytes[i..end].to_vec()).unwrap()));
        i = end;
        size = size % 89 + 17;
    }
    let mut expected = 2;
    while expected <= 400 {
        match tokio::time::timeout(Duration::from_secs(5), events.recv()).await.expect("an event in time").unwrap() {
            HubEvent::Invocation { target, arguments } => {
                assert_eq!((target.as_str(), arguments.get()), ("Q", format!("[{expected}]").as_str()));
                expected += 2;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // The last handled record (399) came before the last event (400), so every handled one is in.
    let taken = taker.taken.lock().clone();
    let want: Vec<String> = std::iter::once(0).chain((1..=400).step_by(2)).map(|i| format!("[{i}]")).collect();
    assert_eq!(taken, want, "every handled invocation, in order, none delivered twice");
    cancel.cancel();
}

#[tokio::test]
async fn an_idle_client_keeps_the_connection_alive_with_pings() {
    let hub = FakeHub::start().await;
    let mut cfg = config(&hub);
    cfg.keep_alive = Duration::from_millis(50);
    let mut r = start(cfg);
    r.next_connected().await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(hub.seen.lock().pings >= 5, "pings: {}", hub.seen.lock().pings);
}

#[tokio::test]
async fn a_silent_hub_is_given_up_after_the_server_timeout_and_reconnected() {
    let hub = FakeHub::start().await;
    hub.script.lock().send_pings = false;
    let mut cfg = config(&hub);
    cfg.server_timeout = Duration::from_millis(300);
    let mut r = start(cfg);
    r.next_connected().await;
    assert_eq!(r.next_disconnect().await, Disconnect::ServerTimeout);
    hub.script.lock().send_pings = true;
    assert_eq!(r.next_connected().await, 2);
}

#[tokio::test]
async fn close_with_allow_reconnect_reconnects_with_the_same_token_and_without_it_refreshes_first() {
    let hub = FakeHub::start().await;
    let mut r = start(config(&hub));
    r.next_connected().await;
    hub.push(Push::Frame("{\"type\":7,\"error\":\"maintenance\",\"allowReconnect\":true}\u{1e}".into()));
    assert_eq!(
        r.next_disconnect().await,
        Disconnect::Closed { error: Some("maintenance".into()), allow_reconnect: true }
    );
    r.next_connected().await;
    hub.push(Push::Frame("{\"type\":7,\"error\":\"auth expired\"}\u{1e}".into()));
    assert_eq!(
        r.next_disconnect().await,
        Disconnect::Closed { error: Some("auth expired".into()), allow_reconnect: false }
    );
    r.next_connected().await;
    assert_eq!(*r.tokens.refused.lock(), vec![1]);
    assert_eq!(hub.seen.lock().tokens, vec!["token-1", "token-1", "token-2"]);
}

/// Planned ends (a server Close with allowReconnect, a requested reconnect) reconnect at once, again and again, and
/// never raise the failure streak; real failures still back off.
#[tokio::test]
async fn planned_reconnects_are_immediate_and_do_not_count_as_failures() {
    let hub = FakeHub::start().await;
    let mut cfg = config(&hub);
    // A first backoff delay of 2..4 s: a planned reconnect must come far sooner.
    cfg.backoff = Backoff::try_new(Duration::from_secs(4), Duration::from_secs(8)).unwrap();
    let mut r = start(cfg);
    r.next_connected().await;
    for round in 0..3 {
        // Closes of connections younger than a second count as failures; these are older.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        hub.push(Push::Frame("{\"type\":7,\"error\":\"restart\",\"allowReconnect\":true}\u{1e}".into()));
        assert!(r.next_disconnect().await.is_planned());
        let closed = tokio::time::Instant::now();
        match r.next().await {
            HubEvent::Connected { .. } => {}
            other => panic!("round {round}: expected an immediate reconnect, got {other:?}"),
        }
        assert!(closed.elapsed() < Duration::from_millis(500), "round {round}: took {:?}", closed.elapsed());
        assert_eq!(r.client.failure_streak(), 0, "round {round}");
        r.client.reconnect("token rotated");
        assert_eq!(r.next_disconnect().await, Disconnect::Requested("token rotated".into()));
        assert!(matches!(r.next().await, HubEvent::Connected { .. }), "round {round}");
        assert_eq!(r.client.failure_streak(), 0, "round {round}");
    }
    assert_eq!(r.client.connects(), 7);
    // A real failure: the first retry after a good connection is immediate, the next one backs off.
    hub.push(Push::Drop);
    assert!(matches!(r.next_disconnect().await, Disconnect::Lost(_)));
    assert!(matches!(r.next().await, HubEvent::Connected { .. }));
    assert_eq!(r.client.failure_streak(), 1);
    hub.push(Push::Drop);
    assert!(matches!(r.next_disconnect().await, Disconnect::Lost(_)));
    match r.next().await {
        HubEvent::Reconnecting { attempt, delay, .. } => {
            assert_eq!(attempt, 2);
            assert!(delay >= Duration::from_secs(2), "{delay:?}");
        }
        other => panic!("expected a backoff, got {other:?}"),
    }
    assert_eq!(r.client.failure_streak(), 2);
    // A Close "with reconnect" from a server that closes every new connection at once is a failure too.
    r.client.reconnect("cut the wait");
    r.next_connected().await;
    hub.push(Push::Frame("{\"type\":7,\"allowReconnect\":true}\u{1e}".into()));
    assert!(r.next_disconnect().await.is_planned());
    assert!(matches!(r.next().await, HubEvent::Reconnecting { attempt: 3, .. }));
    r.cancel.cancel();
}

#[tokio::test]
async fn a_401_on_upgrade_refreshes_the_token_before_the_next_attempt() {
    let hub = FakeHub::start().await;
    hub.script.lock().refuse_tokens.push("token-1".into());
    let mut r = start(config(&hub));
    match r.next().await {
        HubEvent::Reconnecting { error, .. } => assert!(error.contains("401"), "{error}"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(r.next_connected().await, 1);
    assert_eq!(hub.seen.lock().tokens, vec!["token-1", "token-2"]);
    assert_eq!(*r.tokens.refused.lock(), vec![1]);
}

#[tokio::test]
async fn a_dropped_socket_fails_pending_calls_and_reconnects() {
    let hub = FakeHub::start().await;
    let mut r = start(config(&hub));
    r.next_connected().await;
    let client = r.client.clone();
    let pending = tokio::spawn(async move { client.invoke("Never", vec![]).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    hub.push(Push::Drop);
    assert!(matches!(r.next_disconnect().await, Disconnect::Lost(_)));
    assert_eq!(shown(pending.await.unwrap()), Err(InvokeError::ConnectionLost));
    assert_eq!(r.next_connected().await, 2);
    assert_eq!(r.client.connects(), 2);
    assert!(r.client.last_frame_age().is_some());
}

#[tokio::test]
async fn a_requested_reconnect_asks_the_provider_for_a_token_again() {
    let hub = FakeHub::start().await;
    let mut r = start(config(&hub));
    r.next_connected().await;
    r.client.reconnect("token rotated");
    assert_eq!(r.next_disconnect().await, Disconnect::Requested("token rotated".into()));
    r.next_connected().await;
    assert_eq!(r.tokens.calls.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn invoking_while_disconnected_fails_at_once() {
    let hub = FakeHub::start().await;
    hub.script.lock().refuse_tokens = vec!["token-1".into(), "token-2".into(), "token-3".into()];
    let mut cfg = config(&hub);
    cfg.backoff = Backoff::try_new(Duration::from_secs(5), Duration::from_secs(5)).unwrap();
    let mut r = start(cfg);
    assert!(matches!(r.next().await, HubEvent::Reconnecting { .. }));
    assert_eq!(shown(r.client.invoke("SubscribeContractQuotes", vec![]).await), Err(InvokeError::NotConnected));
}

#[tokio::test]
async fn stopping_sends_a_close_message_and_ends_the_task() {
    let hub = FakeHub::start().await;
    let mut r = start(config(&hub));
    r.next_connected().await;
    r.cancel.cancel();
    tokio::time::timeout(Duration::from_secs(2), r.task).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(hub.seen.lock().close_messages, 1);
    assert_eq!(*r.client.status().borrow(), signalr::HubStatus::Stopped);
}

#[tokio::test]
async fn negotiate_mode_posts_first_then_connects() {
    let hub = FakeHub::start().await;
    let mut cfg = config(&hub);
    cfg.negotiate = true;
    let mut r = start(cfg);
    r.next_connected().await;
    assert_eq!(hub.seen.lock().negotiations, 1);
    assert_eq!(shown(r.client.invoke("SubscribeContractQuotes", vec!["X".into()]).await), Ok(None));
}
