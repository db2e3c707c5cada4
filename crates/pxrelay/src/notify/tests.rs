//! The senders against real HTTP receivers on 127.0.0.1 (a small axum server per test): formats, retries on 5xx
//! and 429, final refusals, the filter, and a dead receiver that never slows `emit`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::*;

/// What a receiver got: the path and the JSON body of each request, in order.
type Got = mpsc::UnboundedReceiver<(String, Value)>;

/// A status to answer, with an optional `Retry-After`.
type Answer = (u16, Option<&'static str>);

#[derive(Clone)]
struct Script {
    /// Answers to give, in order (then 200): status and an optional `Retry-After`.
    answers: Arc<parking_lot::Mutex<VecDeque<Answer>>>,
    got: mpsc::UnboundedSender<(String, Value)>,
}

async fn receive(State(s): State<Script>, uri: Uri, body: Bytes) -> impl IntoResponse {
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let _ = s.got.send((uri.path().to_owned(), json));
    let (code, retry_after) = s.answers.lock().pop_front().unwrap_or((200, None));
    let mut headers = HeaderMap::new();
    if let Some(secs) = retry_after {
        headers.insert("retry-after", secs.parse().unwrap());
    }
    (StatusCode::from_u16(code).unwrap(), headers, "ok")
}

/// A receiver on 127.0.0.1:0 answering `answers` in order, then 200. Returns its base URL and what it got.
async fn receiver(answers: &[Answer]) -> (String, Got) {
    let (got_tx, got) = mpsc::unbounded_channel();
    let script = Script { answers: Arc::new(parking_lot::Mutex::new(answers.iter().copied().collect())), got: got_tx };
    let app = Router::new().fallback(receive).with_state(script);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), got)
}

fn settings(urls: &[String], events: &str) -> NotifySettings {
    NotifySettings {
        destinations: urls.iter().map(|u| Destination::parse(u).unwrap()).collect(),
        events: EventSet::parse(events).unwrap(),
        outage_after: Duration::from_secs(60),
    }
}

/// Quick retries, so a test waits milliseconds rather than the real backoff.
const QUICK: Policy = Policy {
    attempts: 4,
    backoff: Duration::from_millis(20),
    max_delay: Duration::from_secs(5),
    timeout: Duration::from_secs(2),
};

fn start(s: &NotifySettings, metrics: &Arc<Metrics>, capacity: usize) -> (Notifier, CancellationToken) {
    let cancel = CancellationToken::new();
    let n = Notifier::start_with(s, metrics.clone(), QUICK, capacity, &TaskTracker::new(), &cancel).unwrap();
    (n, cancel)
}

async fn next(got: &mut Got) -> (String, Value) {
    tokio::time::timeout(Duration::from_secs(5), got.recv()).await.expect("a request within 5 s").unwrap()
}

fn count(metrics: &Metrics, kind: &'static str, result: &'static str) -> u64 {
    metrics.notifications.get_or_create(&crate::metrics::NotifyLabels { kind, result }).get()
}

#[tokio::test]
async fn each_kind_of_destination_gets_its_format() {
    let (base, mut got) = receiver(&[]).await;
    let urls = [
        format!("{base}/api/webhooks/1/tok"),
        format!("{base}/bot1:tok/sendMessage?chat_id=42"),
        format!("{base}/services/T/B/tok"),
        format!("{base}/hook"),
    ];
    let metrics = Metrics::new();
    let (n, _cancel) = start(&settings(&urls, DEFAULT_EVENTS), &metrics, 8);
    n.emit(Notice::new(EventKind::Filled, "buy 1 @ 100").alert("a1").account("PRAC").symbol("MNQ"));
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(next(&mut got).await);
    }
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    let text = "pxrelay filled: buy 1 @ 100 · account PRAC · symbol MNQ · alert a1";
    assert_eq!(seen[0], ("/api/webhooks/1/tok".to_owned(), serde_json::json!({"content": text})));
    assert_eq!(seen[1], ("/bot1:tok/sendMessage".to_owned(), serde_json::json!({"chat_id": "42", "text": text})));
    assert_eq!(seen[2].0, "/hook");
    assert_eq!(
        (&seen[2].1["event"], &seen[2].1["alert_id"], &seen[2].1["symbol"]),
        (&"filled".into(), &"a1".into(), &"MNQ".into())
    );
    assert_eq!(seen[3], ("/services/T/B/tok".to_owned(), serde_json::json!({"text": text})));
    for kind in ["discord", "telegram", "slack", "generic"] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while count(&metrics, kind, "sent") == 0 {
            assert!(tokio::time::Instant::now() < deadline, "{kind} counted as sent");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[tokio::test]
async fn a_receiver_answering_500_twice_then_200_gets_the_notice_delivered_once() {
    let (base, mut got) = receiver(&[(500, None), (503, None)]).await;
    let metrics = Metrics::new();
    let (n, _cancel) = start(&settings(&[format!("{base}/hook")], "all"), &metrics, 8);
    n.emit(Notice::new(EventKind::Rejected, "kill switch").alert("r1"));
    for _ in 0..3 {
        assert_eq!(next(&mut got).await.1["alert_id"], "r1");
    }
    // Sent after the third attempt, and never again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while count(&metrics, "generic", "sent") == 0 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(tokio::time::timeout(Duration::from_millis(300), got.recv()).await.is_err(), "a fourth request");
    assert_eq!((count(&metrics, "generic", "sent"), count(&metrics, "generic", "failed")), (1, 0));
}

#[tokio::test]
async fn a_429_waits_for_its_retry_after_and_a_400_is_not_retried() {
    let (base, mut got) = receiver(&[(429, Some("1")), (400, None)]).await;
    let metrics = Metrics::new();
    let (n, _cancel) = start(&settings(&[format!("{base}/services/a/b/c")], "all"), &metrics, 8);
    n.emit(Notice::new(EventKind::Failed, "one"));
    n.emit(Notice::new(EventKind::Failed, "two"));
    next(&mut got).await;
    let first = tokio::time::Instant::now();
    let (_, body) = next(&mut got).await;
    assert!(first.elapsed() >= Duration::from_millis(900), "Retry-After: 1 honoured, not the 20 ms backoff");
    assert!(body["text"].as_str().unwrap().contains("one"));
    // The retry was refused with 400: final. The second notice is next.
    let (_, body) = next(&mut got).await;
    assert!(body["text"].as_str().unwrap().contains("two"), "{body}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while count(&metrics, "slack", "sent") == 0 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(count(&metrics, "slack", "failed"), 1);
}

#[tokio::test]
async fn kinds_not_in_notify_events_are_not_sent() {
    let (base, mut got) = receiver(&[]).await;
    let metrics = Metrics::new();
    let (n, _cancel) = start(&settings(&[format!("{base}/hook")], "filled"), &metrics, 8);
    assert!(n.wants(EventKind::Filled) && !n.wants(EventKind::Placed));
    n.emit(Notice::new(EventKind::Placed, "not this"));
    n.emit(Notice::new(EventKind::Filled, "this"));
    assert_eq!(next(&mut got).await.1["message"], "this");
    assert!(!Notifier::disabled().wants(EventKind::Filled));
    Notifier::disabled().emit(Notice::new(EventKind::Filled, "nowhere"));
}

#[tokio::test]
async fn a_receiver_that_never_answers_never_slows_emit_and_its_queue_stays_bounded() {
    // Accepts connections and never answers: each attempt waits for its timeout.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            sockets.push(s);
        }
    });
    let metrics = Metrics::new();
    let (n, cancel) = start(&settings(&[format!("http://{addr}/hook")], "all"), &metrics, 16);
    let started = tokio::time::Instant::now();
    for i in 0..1000 {
        n.emit(Notice::new(EventKind::Filled, format!("n{i}")));
    }
    let took = started.elapsed();
    assert!(took < Duration::from_millis(200), "1000 emits took {took:?}");
    assert!(n.queued()[0] <= 16, "{:?}", n.queued());
    // At most one was taken by the sender; the rest beyond the queue's 16 were dropped and counted.
    assert!(n.dropped()[0] >= 1000 - 16 - 1, "{:?}", n.dropped());
    assert_eq!(count(&metrics, "generic", "dropped"), n.dropped()[0]);
    cancel.cancel();
    held.abort();
}
