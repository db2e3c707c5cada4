//! The dispatcher with a scripted worker: jobs whose alert id starts with `hang` wait for the test's gate; every
//! start, end and refusal is reported on a channel the test reads in order.

use std::sync::Arc;
use std::time::Duration;

use projectx::{AccountId, Contract};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::{PROTECTIVE_RESERVE, Worker, dispatch};
use crate::executor::{Job, Work};

/// Reports what it does as `start <id>`, `end <id>`, `refused <id> (<waiting>)`.
struct Scripted {
    events: mpsc::UnboundedSender<String>,
    gate: watch::Receiver<bool>,
}

impl Worker for Scripted {
    async fn work(&self, work: Work) {
        let id = alert_id(&work);
        let _ = self.events.send(format!("start {id}"));
        if id.starts_with("hang") {
            let _ = self.gate.clone().wait_for(|open| *open).await;
        }
        let _ = self.events.send(format!("end {id}"));
    }

    async fn refuse(&self, work: Work, waiting: usize) {
        let _ = self.events.send(format!("refused {} ({waiting})", alert_id(&work)));
    }
}

fn alert_id(work: &Work) -> String {
    match work {
        Work::Alert(job) => job.alert_id.clone(),
        Work::Flatten(job) => job.by.clone(),
    }
}

fn job(id: &str, account: i32, body: &str) -> Work {
    let intent = crate::signal::parse_alert(body.as_bytes()).expect("a valid test alert").intent;
    let contract = Contract {
        id: "CON.F.US.MNQ.Z25".into(),
        name: "MNQZ5".into(),
        description: "Micro E-mini Nasdaq-100: December 2025".into(),
        tick_size: "0.25".parse().expect("a decimal"),
        tick_value: "0.5".parse().expect("a decimal"),
        active_contract: true,
        symbol_id: Some("F.US.MNQ".into()),
    };
    let (reply, _) = oneshot::channel();
    Work::Alert(Box::new(Job {
        alert_id: id.into(),
        intent,
        contract: Arc::new(contract),
        account_id: AccountId::new(account),
        received_at: chrono::Utc::now(),
        arrived: tokio::time::Instant::now(),
        touch: None,
        reply,
    }))
}

fn entry(id: &str, account: i32) -> Work {
    job(id, account, r#"{"symbol":"MNQ","action":"buy"}"#)
}

fn exit(id: &str, account: i32) -> Work {
    job(id, account, r#"{"symbol":"MNQ","action":"exit"}"#)
}

/// A dispatcher with lanes of `capacity`, its queue, the event stream, the gate and the cancel token.
struct Harness {
    jobs: mpsc::Sender<Work>,
    events: mpsc::UnboundedReceiver<String>,
    gate: watch::Sender<bool>,
    cancel: CancellationToken,
    dispatcher: tokio::task::JoinHandle<()>,
}

fn start(capacity: usize) -> Harness {
    let (events_tx, events) = mpsc::unbounded_channel();
    let (gate, gate_rx) = watch::channel(false);
    let (jobs, queue) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let worker = Arc::new(Scripted { events: events_tx, gate: gate_rx });
    let dispatcher = tokio::spawn(dispatch(worker, queue, capacity, cancel.clone()));
    Harness { jobs, events, gate, cancel, dispatcher }
}

impl Harness {
    /// The next event (a test that waits more than 5 s for one has failed).
    async fn next(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(5), self.events.recv())
            .await
            .expect("an event within 5 s")
            .expect("the worker is alive")
    }

    /// The next `n` events, sorted (for events of concurrent lanes, whose interleaving is free).
    async fn next_sorted(&mut self, n: usize) -> Vec<String> {
        let mut got = Vec::new();
        for _ in 0..n {
            got.push(self.next().await);
        }
        got.sort();
        got
    }

    async fn send(&self, work: Work) {
        self.jobs.send(work).await.expect("the dispatcher takes work");
    }
}

#[tokio::test]
async fn an_account_whose_job_hangs_does_not_delay_another_accounts_job() {
    let mut h = start(8);
    h.send(entry("hang-1", 1)).await;
    assert_eq!(h.next().await, "start hang-1");
    h.send(exit("after-1", 1)).await;
    h.send(entry("other-2", 2)).await;
    assert_eq!(h.next().await, "start other-2", "account 2 runs while account 1 hangs");
    assert_eq!(h.next().await, "end other-2");
    assert!(h.events.try_recv().is_err(), "account 1's second job waits behind its first");
    h.gate.send_replace(true);
    assert_eq!(h.next().await, "end hang-1");
    assert_eq!(h.next().await, "start after-1", "then account 1's jobs go on in arrival order");
    assert_eq!(h.next().await, "end after-1");
}

#[tokio::test]
async fn a_full_lane_refuses_entries_keeps_room_for_exits_and_never_blocks_other_accounts() {
    let mut h = start(1);
    h.send(entry("hang-a", 1)).await;
    assert_eq!(h.next().await, "start hang-a");
    h.send(entry("queued-b", 1)).await;
    h.send(entry("refused-c", 1)).await;
    assert_eq!(h.next().await, "refused refused-c (1)", "one entry waits: the lane of capacity 1 is full");
    for n in 0..PROTECTIVE_RESERVE {
        h.send(exit(&format!("exit-{n:02}"), 1)).await;
    }
    h.send(exit("exit-over", 1)).await;
    assert_eq!(h.next().await, format!("refused exit-over ({})", 1 + PROTECTIVE_RESERVE), "the reserve is bounded");
    h.send(entry("other", 2)).await;
    assert_eq!(h.next_sorted(2).await, ["end other", "start other"], "account 2 is not held up by account 1");
    h.gate.send_replace(true);
    assert_eq!(h.next().await, "end hang-a");
    let mut order = vec![];
    for _ in 0..(1 + PROTECTIVE_RESERVE) * 2 {
        order.push(h.next().await);
    }
    let started: Vec<&str> = order.iter().filter_map(|e| e.strip_prefix("start ")).collect();
    let mut expected = vec!["queued-b".to_owned()];
    expected.extend((0..PROTECTIVE_RESERVE).map(|n| format!("exit-{n:02}")));
    assert_eq!(started, expected, "the admitted jobs run in arrival order");
}

#[tokio::test]
async fn on_cancel_the_lanes_finish_what_they_hold_and_then_the_dispatcher_ends() {
    let mut h = start(8);
    h.send(entry("hang-1", 1)).await;
    assert_eq!(h.next().await, "start hang-1");
    h.send(exit("held-1", 1)).await;
    h.send(entry("hang-2", 2)).await;
    assert_eq!(h.next().await, "start hang-2");
    h.cancel.cancel();
    tokio::task::yield_now().await;
    assert!(!h.dispatcher.is_finished(), "lanes still hold work");
    h.gate.send_replace(true);
    let rest = h.next_sorted(4).await;
    assert_eq!(rest, ["end hang-1", "end hang-2", "end held-1", "start held-1"]);
    tokio::time::timeout(Duration::from_secs(5), h.dispatcher).await.expect("the dispatcher ends").expect("no panic");
    assert!(h.jobs.send(entry("late", 1)).await.is_err(), "no new work after cancel");
}
