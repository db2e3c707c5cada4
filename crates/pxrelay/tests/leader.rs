//! Issue 14 through the real binary: two `pxrelay serve` processes on one PostgreSQL journal (a real server started
//! for this test process by `pgtest`) and one simulator. One leads and executes; the other journals alerts for it.
//! Every alert executed exactly once, in order; the lead handed over on SIGTERM, `kill -9` and a cut session.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

mod support;

use std::sync::Arc;
use std::time::Duration;

use projectx_sim::Scope;
use serde_json::{Value, json};
use support::{Instance, SECRET, WAIT_MS, assert_once_each, database, placed, sim};
use tokio::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_execute_200_alternating_alerts_exactly_once_in_order_and_answer_within_the_wait() {
    let (sim, db, http) = (sim().await, database("two"), reqwest::Client::new());
    let a = Instance::start(&sim, &db);
    let (status_a, _) = a.wait_role(&http, "leader", Duration::from_secs(30)).await;
    let b = Instance::start(&sim, &db);
    let status_b = {
        b.wait_role_only(&http, "standby", Duration::from_secs(10)).await;
        b.status(&http).await
    };
    assert_eq!((status_a["role"].as_str(), status_a["epoch"].as_i64()), (Some("leader"), Some(1)));
    assert_eq!((status_b["role"].as_str(), status_b["epoch"].as_i64()), (Some("standby"), None));
    let ready_b = http.get(format!("http://{}/ready", b.addr)).send().await.unwrap();
    assert_eq!(ready_b.status().as_u16(), 200, "a standby is ready: it journals alerts for the leader");
    let logins_before = sim.counters().auth_calls();
    let mut ids = Vec::new();
    let mut slowest = Duration::ZERO;
    for i in 0..200 {
        let id = format!("two-{i:03}");
        let to = if i % 2 == 0 { &a } else { &b };
        let (code, answer, took) = to.alert(&http, &id).await.unwrap();
        if code != 200 {
            let logs: Vec<String> = [&a, &b]
                .iter()
                .flat_map(|i| {
                    i.lines
                        .lock()
                        .unwrap()
                        .iter()
                        .filter(|l| l.contains(&id) || l.contains("queue"))
                        .cloned()
                        .collect::<Vec<_>>()
                })
                .collect();
            panic!("{id} via {}: {answer} after {took:?}; logs: {logs:#?}", to.addr);
        }
        assert_eq!((code, answer["status"].as_str()), (200, Some("placed")), "{id} via {}: {answer}", to.addr);
        assert!(took < Duration::from_millis(WAIT_MS), "{id}: answered in {took:?}");
        slowest = slowest.max(took);
        ids.push(id);
    }
    eprintln!("200 alternating alerts: slowest answer {slowest:?}");
    assert_once_each(&sim, &ids);
    assert_eq!(placed(&sim), ids, "the sim received them in the order they were sent (one account)");
    assert_eq!(sim.counters().auth_calls(), logins_before, "the standby never logged in (one session per user)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_to_the_leader_while_alerts_stream_hands_the_lead_over_within_a_second_losing_and_doubling_nothing() {
    let (sim, db, http) = (sim().await, database("term"), reqwest::Client::new());
    let mut a = Instance::start(&sim, &db);
    a.wait_role(&http, "leader", Duration::from_secs(30)).await;
    let b = Instance::start(&sim, &db);
    b.wait_role_only(&http, "standby", Duration::from_secs(10)).await;
    // Alerts stream to both, one every 10 ms, from a task of their own; SIGTERM lands in the middle. From then on
    // new alerts go to the standby only, as the platform's router stops sending to a stopping replica; those already
    // on their way to the leader are still answered by it.
    let a_stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender = {
        let (http, a_addr, b_addr, a_stopping) = (http.clone(), a.addr.clone(), b.addr.clone(), a_stopping.clone());
        tokio::spawn(async move {
            let mut accepted = Vec::new();
            for i in 0..120 {
                let id = format!("term-{i:03}");
                let to_a = i % 2 == 0 && !a_stopping.load(std::sync::atomic::Ordering::SeqCst);
                let addr = if to_a { &a_addr } else { &b_addr };
                let body = json!({"secret": SECRET, "symbol": "MNQ", "action": "buy", "quantity": 1, "id": id});
                let sent = http.post(format!("http://{addr}/webhook")).json(&body).send();
                match sent.await {
                    Ok(r) if matches!(r.status().as_u16(), 200 | 202) => accepted.push(id),
                    other => eprintln!("{id} to {addr}: not accepted: {:?}", other.map(|r| r.status())),
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            accepted
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    a_stopping.store(true, std::sync::atomic::Ordering::SeqCst);
    a.signal("-TERM");
    let handover = b.wait_role_only(&http, "leader", Duration::from_secs(5)).await;
    assert!(handover <= Duration::from_secs(1), "the standby led {handover:?} after SIGTERM");
    assert!(a.wait_exit(Duration::from_secs(10)).success(), "a SIGTERM stop is a clean exit");
    let accepted = sender.await.unwrap();
    assert_eq!(accepted.len(), 120, "every alert is accepted (200, or 202 while the lead changes hands)");
    // Everything accepted is executed once, by one leader or the other.
    let deadline = Instant::now() + Duration::from_secs(20);
    while placed(&sim).len() < accepted.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("SIGTERM: standby led after {handover:?}; {} alerts accepted", accepted.len());
    assert_once_each(&sim, &accepted);
    assert_eq!(b.status(&http).await["epoch"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_of_the_leader_with_an_order_in_flight_is_reconciled_by_custom_tag_to_exactly_one_order() {
    let (sim, db, http) = (sim().await, database("kill"), reqwest::Client::new());
    let mut a = Instance::start(&sim, &db);
    a.wait_role(&http, "leader", Duration::from_secs(30)).await;
    let b = Instance::start(&sim, &db);
    b.wait_role_only(&http, "standby", Duration::from_secs(10)).await;
    // The order is placed at once, its answer held for 3 s: pxrelay dies between the send and the answer.
    sim.set_latency_for(Scope::Path("/api/Order/place".into()), Duration::from_secs(3));
    let in_flight = {
        let http = http.clone();
        let addr = a.addr.clone();
        tokio::spawn(async move {
            let body = json!({"secret": SECRET, "symbol": "MNQ", "action": "buy", "quantity": 1, "id": "kill-1"});
            http.post(format!("http://{addr}/webhook")).json(&body).send().await.map(|r| r.status().as_u16())
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while placed(&sim).is_empty() {
        assert!(Instant::now() < deadline, "the order never reached the sim");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let killed = Instant::now();
    a.signal("-KILL");
    a.wait_exit(Duration::from_secs(5));
    // Its session ends with the process, and the lock with it: the standby leads within a second.
    b.wait_role_only(&http, "leader", Duration::from_secs(5)).await;
    let took = killed.elapsed();
    assert!(took <= Duration::from_secs(1), "the standby led {took:?} after kill -9");
    eprintln!("kill -9: the standby led after {took:?}");
    assert!(in_flight.await.unwrap().is_err(), "the sender got no answer from the killed leader");
    sim.set_latency_for(Scope::Path("/api/Order/place".into()), Duration::ZERO);
    b.wait_role(&http, "leader", Duration::from_secs(30)).await;
    let row = loop {
        let row: Value = http
            .get(format!("http://{}/alerts/kill-1?secret={SECRET}", b.addr))
            .header("x-webhook-secret", SECRET)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or_default();
        if row["status"] != "received" && !row["status"].is_null() {
            break row;
        }
        assert!(Instant::now() < deadline + Duration::from_secs(20), "never reconciled: {row}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(row["status"], "placed", "{row}");
    assert!(row["path"].as_str().unwrap_or_default().contains("reconciled by customTag: 1 found"), "{row}");
    assert_once_each(&sim, &["kill-1".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_whose_database_session_is_cut_sends_nothing_more_and_stops_and_the_standby_executes() {
    let (sim, db, http) = (sim().await, database("cut"), reqwest::Client::new());
    let mut a = Instance::start(&sim, &db);
    let (status, _) = a.wait_role(&http, "leader", Duration::from_secs(30)).await;
    let b = Instance::start(&sim, &db);
    b.wait_role_only(&http, "standby", Duration::from_secs(10)).await;
    let (code, answer, _) = a.alert(&http, "cut-0").await.unwrap();
    assert_eq!((code, answer["status"].as_str()), (200, Some("placed")));
    // Cut the leader's lock session (the database ends it, as when the network between them fails).
    let lock_session = format!("{}-lock", status["instance"].as_str().unwrap());
    assert_eq!(pgtest::shared().terminate_backends(&lock_session).unwrap(), 1);
    // An alert sent to it now is not executed by it: it is fenced at once, or (before its ping notices) its send is
    // refused by the epoch check once the standby leads.
    let late = a.alert(&http, "cut-1").await;
    let exit = a.wait_exit(Duration::from_secs(10));
    assert!(!exit.success(), "a leader that lost its session stops with an error");
    assert!(a.logged("lost the database session"), "and says why");
    let (status_b, _) = b.wait_role(&http, "leader", Duration::from_secs(30)).await;
    assert_eq!(status_b["epoch"], 2);
    let accepted = matches!(&late, Ok((200 | 202, _, _)));
    let deadline = Instant::now() + Duration::from_secs(20);
    let expect = if accepted { 2 } else { 1 };
    while placed(&sim).len() < expect && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut ids = vec!["cut-0".to_owned()];
    if accepted {
        ids.push("cut-1".to_owned());
        let sql = "SELECT sent_epoch, status, claimed_epoch, path FROM alerts WHERE alert_id = 'cut-1'";
        let row = pgtest::shared().psql(db.rsplit('/').next().unwrap(), sql).unwrap();
        assert!(row.starts_with("2|placed|2|"), "sent by the new leader, never by the cut one: {row} ({late:?})");
    }
    assert_once_each(&sim, &ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kill_switch_flatten_sent_to_a_standby_is_applied_by_the_leader_and_a_standby_never_calls_the_gateway() {
    let (sim, db, http) = (sim().await, database("killrelay"), reqwest::Client::new());
    let a = Instance::start(&sim, &db);
    a.wait_role(&http, "leader", Duration::from_secs(30)).await;
    let b = Instance::start(&sim, &db);
    b.wait_role_only(&http, "standby", Duration::from_secs(10)).await;
    let (code, answer, _) = a.alert(&http, "kr-0").await.unwrap();
    assert_eq!((code, answer["status"].as_str()), (200, Some("placed")));
    let logins = sim.counters().auth_calls();
    // What needs the gateway is refused on the standby, without a login.
    let quote = http.get(format!("http://{}/quote/MNQ", b.addr)).send().await.unwrap();
    assert_eq!(quote.status().as_u16(), 503, "a standby does not quote");
    // The kill switch with flatten, sent to the standby (as a platform router may do): passed on to the leader.
    let body = json!({"enabled": true, "flatten": true});
    let response = http
        .post(format!("http://{}/kill", b.addr))
        .header("authorization", format!("Bearer {SECRET}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!((&answer["relayed_to_leader"], &answer["complete"]), (&json!(true), &json!(false)), "{answer}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = a.status(&http).await;
        let flat = sim.positions().iter().all(|p| p.size == 0);
        if status["kill_switch"] == true && flat {
            break;
        }
        assert!(Instant::now() < deadline, "the leader never applied the kill switch and flatten: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (code, answer, _) = a.alert(&http, "kr-1").await.unwrap();
    assert_eq!((code, answer["status"].as_str()), (200, Some("rejected")), "entries refused: {answer}");
    assert_eq!(sim.counters().auth_calls(), logins, "the standby never logged in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_paper_trading_instance_on_one_postgres_journal_stops_instead_of_waiting_as_a_standby() {
    let (sim, db, http) = (sim().await, database("simtwo"), reqwest::Client::new());
    let a = Instance::start_with(&sim, &db, &["--sim"]);
    a.wait_role(&http, "leader", Duration::from_secs(30)).await;
    let mut b = Instance::start_with(&sim, &db, &["--sim"]);
    let exit = tokio::task::block_in_place(|| b.wait_exit(Duration::from_secs(15)));
    assert!(!exit.success(), "each --sim process has its own simulator: a second one cannot be a standby");
    assert_eq!(a.status(&http).await["role"], "leader", "the first one leads on");
}
