//! Issue 17 through the real binary: `kill -9` of `pxrelay serve` (SQLite journal, `synchronous=NORMAL`) at seeded
//! random points while 200 mixed alerts stream in (buys and sells on one account, some with brackets, some exits),
//! restarting on the same journal file after each kill. A process crash loses nothing the journal returned from, so:
//! every alert answered 2xx is in the journal with a final status; no alert has two orders for one leg at the
//! simulator, and every tagged order belongs to one alert; and every row a kill left unfinished was settled by the
//! startup recovery consistently with the simulator's orders (docs/decisions/0008-journal-durability.md).
//!
//! The seed is printed; `CRASH_SEED=<n>` replays one.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use support::{Instance, SECRET, sim};
use tokio::time::Instant;

/// Alerts in the stream.
const ALERTS: usize = 200;
/// Kills during the stream (then one more after it, before the last restart).
const KILLS: usize = 8;
/// Concurrent senders (TradingView sends alerts of different charts at once).
const SENDERS: usize = 4;
/// The simulator's status of a rejected order (`OrderStatus::Rejected`).
const REJECTED: i32 = 5;

/// splitmix64: a small seeded generator, so a failing run can be replayed from its printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The `i`th alert's body: mostly buys and sells of 1–2 contracts (a third with brackets), some exits.
fn body(rng: &mut Rng, i: usize) -> Value {
    let id = format!("c{i:03}");
    let roll = rng.below(10);
    if roll == 0 {
        return json!({"secret": SECRET, "symbol": "MNQ", "action": "exit", "id": id});
    }
    let action = if roll.is_multiple_of(2) { "buy" } else { "sell" };
    let mut body = json!({"secret": SECRET, "symbol": "MNQ", "action": action, "quantity": 1 + rng.below(2), "id": id});
    if rng.below(3) == 0 {
        body["stop_loss_ticks"] = json!(40);
        body["take_profit_ticks"] = json!(80);
    }
    body
}

/// What a sender got for one alert.
#[derive(Clone, Debug)]
enum Sent {
    /// A 2xx answer: accepted (its status).
    Accepted(String),
    /// No answer (the process died) or a refusal before journaling (503 while stopping or starting).
    Unanswered,
}

/// Starts `pxrelay serve` on the journal file and waits until its warm-up (with the startup recovery) is done.
async fn start(sim: &projectx_sim::SimHandle, journal: &str, http: &reqwest::Client) -> Instance {
    let instance = Instance::start(sim, journal);
    let started = Instant::now();
    while instance.status(http).await["startup"]["ready"] != true {
        assert!(started.elapsed() < Duration::from_secs(20), "pxrelay never became ready");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    instance
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_at_random_points_during_200_alerts_loses_no_accepted_alert_and_doubles_no_order() {
    let started = Instant::now();
    let seed = std::env::var("CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    eprintln!("crash test: seed {seed} (CRASH_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let bodies: Vec<Value> = (0..ALERTS).map(|i| body(&mut rng, i)).collect();
    let (sim, http) = (sim().await, reqwest::Client::new());
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("crash-{}-{seed}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let journal = dir.join("journal.db").display().to_string();

    let next = Arc::new(AtomicUsize::new(0));
    let results: Arc<Mutex<BTreeMap<usize, Sent>>> = Arc::default();
    let mut retry: Vec<usize> = Vec::new();
    let mut kills = 0;
    let mut instance = start(&sim, &journal, &http).await;
    while next.load(Ordering::SeqCst) < ALERTS || !retry.is_empty() {
        // Alerts that got no answer are sent again first, as a sender retrying would: the journal dedups them.
        let queue = Arc::new(Mutex::new(std::mem::take(&mut retry)));
        let senders: Vec<_> = (0..SENDERS)
            .map(|_| {
                let (http, addr, bodies) = (http.clone(), instance.addr.clone(), bodies.clone());
                let (next, results, queue) = (next.clone(), results.clone(), queue.clone());
                tokio::spawn(async move {
                    loop {
                        let again = queue.lock().unwrap().pop();
                        let i = match again {
                            Some(i) => i,
                            None => match next.fetch_add(1, Ordering::SeqCst) {
                                i if i < ALERTS => i,
                                _ => return,
                            },
                        };
                        let url = format!("http://{addr}/webhook");
                        let sent = match http.post(url).json(&bodies[i]).send().await {
                            Ok(r) if r.status().is_success() => {
                                let answer: Value = r.json().await.unwrap_or_default();
                                Sent::Accepted(answer["status"].as_str().unwrap_or("?").to_owned())
                            }
                            Ok(r) => {
                                let code = r.status().as_u16();
                                let answer: Value = r.json().await.unwrap_or_default();
                                assert_eq!(
                                    code, 503,
                                    "alert {i}: only a stopping or starting process refuses: {answer}"
                                );
                                Sent::Unanswered
                            }
                            Err(_) => Sent::Unanswered,
                        };
                        let died = matches!(sent, Sent::Unanswered);
                        results.lock().unwrap().insert(i, sent);
                        if died {
                            return;
                        }
                    }
                })
            })
            .collect();
        let mut senders = futures_util::future::join_all(senders);
        let killed = if kills < KILLS {
            // A seeded random point in this kill's share of the stream: once the senders have taken a random alert
            // of it, after a random 0–20 ms more (alerts are then anywhere between arrival and answer).
            let share = (ALERTS / KILLS) as u64;
            let from = kills as u64 * share + rng.below(share);
            let jitter = Duration::from_micros(rng.below(20_000));
            let point = {
                let next = next.clone();
                async move {
                    while (next.load(Ordering::SeqCst) as u64) < from {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    tokio::time::sleep(jitter).await;
                }
            };
            tokio::select! {
                _ = &mut senders => false,
                () = point => {
                    instance.signal("-9");
                    true
                }
            }
        } else {
            false
        };
        for sender in senders.await {
            sender.unwrap();
        }
        if killed || next.load(Ordering::SeqCst) >= ALERTS {
            if !killed {
                // The stream is done: one more kill -9 with nothing in flight, so the last check reads a journal
                // that only a process crash handed over.
                instance.signal("-9");
            }
            kills += 1;
            let status = instance.wait_exit(Duration::from_secs(10));
            assert!(!status.success(), "kill -9 ends the process: {status:?}");
            retry = results
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, s)| matches!(s, Sent::Unanswered))
                .map(|(i, _)| *i)
                .collect();
            results.lock().unwrap().retain(|_, s| !matches!(s, Sent::Unanswered));
            eprintln!(
                "kill {kills} after {} alerts taken; {} unanswered, to send again",
                next.load(Ordering::SeqCst).min(ALERTS),
                retry.len()
            );
            instance = start(&sim, &journal, &http).await;
        }
    }
    // Every alert was answered once pxrelay ran long enough; now check the journal the last restart recovered.
    let results = results.lock().unwrap().clone();
    assert_eq!(results.len(), ALERTS, "every alert got an answer in the end");
    let mut rows: HashMap<String, Value> = HashMap::new();
    for i in 0..ALERTS {
        let id = format!("c{i:03}");
        let (code, row) = get(&http, &instance, &format!("/alerts/{id}?secret={SECRET}")).await;
        assert_eq!(code, 200, "accepted alert {id} ({:?}) is in the journal: {row}", results[&i]);
        assert_ne!(row["status"], "received", "{id} was settled: {row}");
        if let Sent::Accepted(answered) = &results[&i]
            && answered != "pending"
            && answered != "received"
        {
            assert_eq!(row["status"].as_str(), Some(answered.as_str()), "{id}: the journal says what was answered");
        }
        rows.insert(id, row);
    }
    // The simulator's orders: each tagged one belongs to one alert and one leg, at most once.
    let mut tagged: HashMap<String, Vec<i64>> = HashMap::new();
    let mut legs: HashMap<String, usize> = HashMap::new();
    let (mut children, mut untagged) = (0, 0);
    let orders = sim.orders();
    for order in orders.iter().filter(|o| o.status != REJECTED) {
        match order.custom_tag.as_deref() {
            Some(tag) => {
                let (leg, id) = tag.split_once('-').unwrap();
                assert!(["pxr1", "pxr2"].contains(&leg) && rows.contains_key(id), "a tag of no alert: {tag}");
                *legs.entry(tag.to_owned()).or_default() += 1;
                assert_eq!(legs[tag], 1, "two orders carry {tag}: the alert was doubled");
                tagged.entry(id.to_owned()).or_default().push(order.id);
            }
            None if order.parent_order_id.is_some() => children += 1,
            None => untagged += 1,
        }
    }
    // Every row agrees with the broker: an order under its tag if and only if it says `placed`, with those ids.
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    let mut interrupted: BTreeMap<String, usize> = BTreeMap::new();
    for (id, row) in &rows {
        let status = row["status"].as_str().unwrap().to_owned();
        let path = row["path"].as_str().unwrap_or_default();
        *by_status.entry(status.clone()).or_default() += 1;
        if path.contains("interrupted") {
            *interrupted.entry(format!("{status} ({path})")).or_default() += 1;
        }
        let at_broker = tagged.get(id).cloned().unwrap_or_default();
        assert_eq!(
            status == "placed",
            !at_broker.is_empty(),
            "{id}: {status} ({path}); orders at the sim {at_broker:?}"
        );
        let journaled: Vec<i64> = row["orders"].as_array().unwrap().iter().filter_map(Value::as_i64).collect();
        for order in &at_broker {
            assert!(journaled.contains(order), "{id}: order {order} at the sim, not in the journal's {journaled:?}");
        }
    }
    let unfinished = interrupted.values().sum::<usize>();
    eprintln!(
        "crash test: seed {seed}, {kills} kills, {ALERTS} alerts in {:?}; journal {by_status:?}; settled by recovery \
         {unfinished}: {interrupted:#?}; sim orders: {} tagged, {children} bracket legs, {untagged} closes",
        started.elapsed(),
        legs.len()
    );
    assert!(kills > KILLS, "every planned kill happened");
}

async fn get(http: &reqwest::Client, instance: &Instance, path: &str) -> (u16, Value) {
    let r = http.get(format!("http://{}{path}", instance.addr)).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}
