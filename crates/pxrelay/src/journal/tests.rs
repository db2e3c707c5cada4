//! The journal's tests. Those about what a journal does run on both stores ([`Backend`]: a SQLite file, and a
//! database on a real PostgreSQL server started for the test process by `pgtest`); those about the SQLite file
//! (its migrations from old versions, its lock file) on SQLite only; those about many processes on Postgres only.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};
use secrecy::SecretString;

use super::sqlite::MIGRATIONS;
use super::*;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pxrelay-journal-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("data").join("journal.db")
}

/// Where a test's journal lives; [`Backend::open`] opens it (again).
#[derive(Debug)]
enum Backend {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Backend {
    /// The same test journal on each store: a fresh file and a fresh database.
    fn both(name: &str) -> [Backend; 2] {
        let url = pgtest::shared().fresh_database("journal").expect("a fresh Postgres database");
        [Backend::Sqlite(temp(name)), Backend::Postgres(url)]
    }

    fn database(&self) -> Database {
        match self {
            Self::Sqlite(path) => Database::Sqlite(path.clone()),
            Self::Postgres(url) => Database::Postgres(SecretString::from(url.clone())),
        }
    }

    /// Opens the journal; a Postgres one as the leader (the next epoch), as a single SQLite process always is.
    async fn open(&self, window: Duration, mode: Mode) -> Journal {
        let j = self.try_open(window, mode).await.unwrap_or_else(|e| panic!("{self:?}: {e}"));
        if let Some(store) = j.postgres() {
            store.lead_for_test().await;
        }
        j
    }

    async fn try_open(&self, window: Duration, mode: Mode) -> Result<Journal, JournalError> {
        Journal::connect(&self.database(), window, mode).await
    }
}

fn intent(body: &str) -> Intent {
    crate::signal::parse_alert(body.as_bytes()).expect("a valid test alert").intent
}

fn alert(id: &str, at: DateTime<Utc>) -> NewAlert {
    NewAlert {
        alert_id: id.into(),
        received_at: at,
        raw_body: r#"{"symbol":"MNQ"}"#.into(),
        intent: intent(r#"{"symbol":"MNQ","action":"buy"}"#),
        contract_id: Some("CON.F.US.MNQ.Z25".into()),
        account_id: Some(AccountId::new(1)),
        content: None,
        parent_id: None,
    }
}

#[tokio::test]
async fn duplicates_within_the_window_return_the_first_outcome_across_reopen() {
    for b in Backend::both("dup") {
        let now = Utc::now();
        {
            let j = b.open(Duration::from_secs(3600), Mode::Live).await;
            assert!(matches!(j.record(alert("a1", now)).await.unwrap(), Recorded::New));
            j.mark_sent("a1", Sending::Tagged).await.unwrap();
            let outcome =
                Outcome::new(AlertStatus::Placed, "order placed", "placed").with_orders(vec![serde_json::json!(42)]);
            j.finish("a1", &outcome).await.unwrap();
        }
        let j = b.open(Duration::from_secs(3600), Mode::Live).await;
        match j.record(alert("a1", now + chrono::TimeDelta::seconds(5))).await.unwrap() {
            Recorded::Duplicate(row) => {
                assert_eq!(row.status, AlertStatus::Placed);
                assert_eq!(row.orders, serde_json::json!([42]));
                assert!(row.sent_at.is_some() && row.acked_at.is_some());
                let answer = row.response.expect("the answer is stored");
                assert_eq!((answer.status, answer.orders), (AlertStatus::Placed, vec![serde_json::json!(42)]));
            }
            Recorded::New => panic!("a duplicate was recorded as new"),
        }
        // Outside the window the id may be used again.
        let later = now + chrono::TimeDelta::hours(2);
        assert!(matches!(j.record(alert("a1", later)).await.unwrap(), Recorded::New));
        assert_eq!(j.list(10).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn an_identical_entry_within_the_content_window_is_a_duplicate_sliding_not_minute_aligned() {
    for b in Backend::both("content") {
        let j = b.open(Duration::from_secs(3600), Mode::Live).await;
        let content = Some(("k1".to_owned(), Duration::from_secs(10)));
        // 12:00:59 then 12:01:04: across a minute boundary, 5 s apart.
        let first = DateTime::parse_from_rfc3339("2026-11-29T12:00:59Z").unwrap().with_timezone(&Utc);
        let record =
            |id: &str, at: DateTime<Utc>, content: Option<(String, Duration)>| NewAlert { content, ..alert(id, at) };
        assert!(matches!(j.record(record("r1", first, content.clone())).await.unwrap(), Recorded::New));
        let again = first + chrono::TimeDelta::seconds(5);
        match j.record(record("r2", again, content.clone())).await.unwrap() {
            Recorded::Duplicate(row) => assert_eq!(row.alert_id, "r1"),
            Recorded::New => panic!("a re-delivery 5 s later must be a duplicate"),
        }
        let other = Some(("k2".to_owned(), Duration::from_secs(10)));
        assert!(matches!(j.record(record("r3", again, other)).await.unwrap(), Recorded::New), "other content");
        let later = first + chrono::TimeDelta::seconds(11);
        assert!(matches!(j.record(record("r4", later, content)).await.unwrap(), Recorded::New), "outside 10 s");
        let no_content = first + chrono::TimeDelta::seconds(12);
        assert!(matches!(j.record(record("r5", no_content, None)).await.unwrap(), Recorded::New), "exits never");
    }
}

#[tokio::test]
async fn the_intent_is_stored_and_read_back_typed() {
    for b in Backend::both("typed") {
        let j = b.open(Duration::from_secs(60), Mode::Live).await;
        let mut record = alert("t1", Utc::now());
        record.intent = intent(
            r#"{"symbol":"MNQ1!","action":"sell","quantity":3,"order_type":"limit","limit_price":21000.25,
            "stop_loss_ticks":40,"take_profit":20950.5,"id":"t1"}"#,
        );
        j.record(record.clone()).await.unwrap();
        let row = j.get("t1").await.unwrap().unwrap();
        assert_eq!(row.intent.as_ref(), Some(&record.intent));
        assert_eq!(row.status, AlertStatus::Received);
        let outcome = Outcome::new(AlertStatus::Unknown, "check the platform", "interrupted after sending");
        j.finish("t1", &outcome).await.unwrap();
        let row = j.get("t1").await.unwrap().unwrap();
        assert_eq!((row.status, row.error.as_deref()), (AlertStatus::Unknown, Some("check the platform")));
    }
}

#[tokio::test]
async fn a_status_outside_the_list_is_refused_by_the_schema() {
    for b in Backend::both("check") {
        let j = b.open(Duration::from_secs(60), Mode::Live).await;
        j.record(alert("c1", Utc::now())).await.unwrap();
        let bogus = j.execute_raw("UPDATE alerts SET status = 'placedd' WHERE alert_id = 'c1'").await;
        assert!(bogus.is_err(), "{b:?}: the CHECK constraint refuses an unknown status");
        for status in AlertStatus::ALL {
            let sql = format!("UPDATE alerts SET status = '{}' WHERE alert_id = 'c1'", status.as_str());
            j.execute_raw(&sql).await.unwrap();
        }
    }
}

#[tokio::test]
async fn a_version_1_journal_is_migrated_with_its_rows() {
    let path = temp("v1");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(&format!("BEGIN; {}; PRAGMA user_version = 1; COMMIT;", MIGRATIONS[0])).unwrap();
        let intent = serde_json::to_string(&alert("x", Utc::now()).intent).unwrap();
        conn.execute(
            "INSERT INTO alerts (alert_id, received_at, received_unix, raw_body, intent, status, orders)
             VALUES ('old', '2026-11-28T10:00:00+00:00', 1764324000, '{}', ?1, 'placed', '[7]')",
            params![intent],
        )
        .unwrap();
    }
    let j = Journal::open(&path, Duration::from_secs(60), Mode::Live).unwrap();
    let row = j.get("old").await.unwrap().expect("the row survives the migration");
    assert_eq!((row.status, row.orders), (AlertStatus::Placed, serde_json::json!([7])));
    let version = j.query_i64("PRAGMA user_version").await.unwrap();
    assert_eq!(version, MIGRATIONS.len() as i64);
}

/// A journal as version 3 (before modes) left it, with one placed row when `with_row`.
fn version_3_journal(path: &Path, with_row: bool) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let conn = Connection::open(path).unwrap();
    let v3 = MIGRATIONS[..3].join(";\n");
    conn.execute_batch(&format!("BEGIN; {v3}; PRAGMA user_version = 3; COMMIT;")).unwrap();
    if with_row {
        let intent = serde_json::to_string(&alert("x", Utc::now()).intent).unwrap();
        conn.execute(
            "INSERT INTO alerts (alert_id, received_at, received_unix, raw_body, intent, status, orders)
             VALUES ('old', '2026-11-28T10:00:00+00:00', 1764324000, '{}', ?1, 'placed', '[7]')",
            params![intent],
        )
        .unwrap();
    }
}

#[tokio::test]
async fn a_journal_written_in_sim_mode_is_refused_by_a_live_process_and_vice_versa() {
    for (written, other) in [(Mode::Sim, Mode::Live), (Mode::Live, Mode::Sim)] {
        for b in Backend::both(&format!("mode-{written}")) {
            {
                let j = b.open(Duration::from_secs(60), written).await;
                assert_eq!(j.mode(), written);
                j.record(alert("m1", Utc::now())).await.unwrap();
                assert_eq!(j.get("m1").await.unwrap().unwrap().mode, written, "every row records the mode");
                let refusal = Outcome::new(AlertStatus::Rejected, "symbol not allowed", "validation");
                let id = j.record_refusal(Utc::now(), "{}".into(), None, &refusal).await.unwrap();
                assert_eq!(j.get(&id).await.unwrap().unwrap().mode, written, "refusals too");
            }
            let err = b.try_open(Duration::from_secs(60), other).await.unwrap_err();
            match &err {
                JournalError::WrongMode { journal, process, .. } => assert_eq!((*journal, *process), (written, other)),
                e => panic!("expected WrongMode, got {e}"),
            }
            let text = err.to_string();
            assert!(text.contains("DATABASE_URL") && text.contains(&b.database().describe()), "{text}");
            assert!(text.contains(&format!("written in {written} mode")), "{text}");
            assert!(text.contains(&format!("runs in {other} mode")), "{text}");
            // Refused without taking the journal over: the rightful mode still opens it, row intact.
            let j = b.open(Duration::from_secs(60), written).await;
            assert_eq!(j.count().await.unwrap(), 2);
        }
    }
}

#[tokio::test]
async fn a_version_3_journal_with_rows_is_migrated_as_live_and_refused_in_sim_mode() {
    let path = temp("v3-rows");
    version_3_journal(&path, true);
    let err = Journal::open(&path, Duration::from_secs(60), Mode::Sim).unwrap_err();
    assert!(matches!(err, JournalError::WrongMode { journal: Mode::Live, process: Mode::Sim, .. }), "{err}");
    let j = Journal::open(&path, Duration::from_secs(60), Mode::Live).unwrap();
    let row = j.get("old").await.unwrap().expect("the row survives the migration");
    assert_eq!((row.mode, row.status, row.orders), (Mode::Live, AlertStatus::Placed, serde_json::json!([7])));
    let version = j.query_i64("PRAGMA user_version").await.unwrap();
    assert_eq!(version, MIGRATIONS.len() as i64);
    j.record(alert("new", Utc::now())).await.unwrap();
    assert_eq!(j.get("new").await.unwrap().unwrap().mode, Mode::Live);
    let bogus = j.execute_raw("UPDATE alerts SET mode = 'paper' WHERE alert_id = 'new'").await;
    assert!(bogus.is_err(), "the CHECK constraint refuses an unknown mode");
}

#[tokio::test]
async fn an_empty_version_3_journal_takes_the_mode_of_its_first_opener() {
    let path = temp("v3-empty");
    version_3_journal(&path, false);
    drop(Journal::open(&path, Duration::from_secs(60), Mode::Sim).unwrap());
    assert!(matches!(
        Journal::open(&path, Duration::from_secs(60), Mode::Live).unwrap_err(),
        JournalError::WrongMode { journal: Mode::Sim, process: Mode::Live, .. }
    ));
}

#[tokio::test]
async fn reset_empties_a_paper_journal_and_never_a_live_one() {
    for b in Backend::both("reset-sim") {
        {
            let j = b.open(Duration::from_secs(3600), Mode::Sim).await;
            j.record(alert("p1", Utc::now())).await.unwrap();
            j.record(alert("p2", Utc::now())).await.unwrap();
            assert_eq!(j.reset().await.unwrap(), 2);
            assert_eq!(j.count().await.unwrap(), 0);
        }
        let j = b.open(Duration::from_secs(3600), Mode::Sim).await;
        assert!(j.get("p1").await.unwrap().is_none(), "gone across a reopen");
        assert!(matches!(j.record(alert("p1", Utc::now())).await.unwrap(), Recorded::New), "an id can be used again");
    }
    for b in Backend::both("reset-live") {
        let j = b.open(Duration::from_secs(3600), Mode::Live).await;
        j.record(alert("l1", Utc::now())).await.unwrap();
        let err = j.reset().await.unwrap_err();
        assert!(matches!(err, JournalError::ResetLive(_)), "{err}");
        assert_eq!(j.count().await.unwrap(), 1, "a live journal keeps its rows");
    }
}

#[tokio::test]
async fn the_timeline_is_written_read_back_in_time_order_and_summed_up() {
    for b in Backend::both("timeline") {
        let j = b.open(Duration::from_secs(60), Mode::Sim).await;
        let received = Utc::now() - chrono::TimeDelta::seconds(1);
        j.record(alert("tl1", received)).await.unwrap();
        j.mark_sent("tl1", Sending::Tagged).await.unwrap();
        // A fill stamped before the acknowledgement written after it: read back in time order.
        let fill_at = Utc::now();
        let data = serde_json::json!({"order_id": 7, "trade_id": 1, "price": 21000.5, "size": 2, "fees": 0.74,
                                  "side": "buy", "role": "entry", "tick_size": 0.25});
        let ack = TimelineWrite {
            alert_id: "tl1".into(),
            event: Event::Acknowledged,
            at: fill_at + chrono::TimeDelta::milliseconds(5),
            data: serde_json::json!({"order_id": 7}),
        };
        let fill = TimelineWrite { alert_id: "tl1".into(), event: Event::Filled, at: fill_at, data };
        j.append(vec![ack, fill]).await.unwrap();
        let outcome = Outcome::new(AlertStatus::Placed, "order placed", "placed");
        let execution = Execution {
            reference_price: Some("21000.25".parse().unwrap()),
            position_source: Some(PositionSource::Book),
        };
        j.finish_with("tl1", &outcome, execution).await.unwrap();
        let row = j.get("tl1").await.unwrap().unwrap();
        let names: Vec<Event> = row.timeline.iter().map(|e| e.event).collect();
        assert_eq!(names, [Event::Received, Event::Journaled, Event::Sent, Event::Filled, Event::Acknowledged]);
        assert_eq!(row.timeline[0].at, timeline::stamp(received));
        assert_eq!((row.fills.len(), row.fills[0].size), (1, 2));
        assert_eq!(row.fill_price, Some("21000.5".parse().unwrap()));
        assert_eq!((row.slippage_ticks, row.position_source), (Some(1.0), Some(PositionSource::Book)));
        assert_eq!(j.list(10).await.unwrap()[0].timeline.len(), 5, "the list carries the timeline too");
        let bogus =
            j.execute_raw("INSERT INTO alert_events (alert_id, seq, event, at) VALUES ('tl1', 99, 'bogus', 'x')");
        assert!(bogus.await.is_err(), "the CHECK constraint refuses an unknown event");
        j.reset().await.unwrap();
        let left = j.query_i64("SELECT COUNT(*) FROM alert_events").await.unwrap();
        assert_eq!(left, 0, "a reset empties the timelines too");
    }
}

#[tokio::test]
async fn a_timeline_copied_from_another_journal_replaces_all_but_its_own_events_idempotently() {
    for b in Backend::both("replace") {
        let j = b.open(Duration::from_secs(60), Mode::Sim).await;
        let received = Utc::now() - chrono::TimeDelta::seconds(2);
        j.record(alert("rp1", received)).await.unwrap();
        // The other journal's events come after this one's `journaled` (as the executor's after the relay's).
        let base = Utc::now() + chrono::TimeDelta::milliseconds(5);
        let at = |ms: i64| base + chrono::TimeDelta::milliseconds(ms);
        let write =
            |event, ms: i64, data: serde_json::Value| TimelineWrite { alert_id: "rp1".into(), event, at: at(ms), data };
        let fill = serde_json::json!({"order_id": 7, "trade_id": 1, "price": 21000.5, "size": 1, "fees": 0.37,
                                      "side": "buy", "role": "entry", "tick_size": 0.25});
        // The other journal's own `received` is skipped: this journal keeps its own.
        let first = vec![
            write(Event::Received, -1_000, serde_json::json!({})),
            write(Event::Sent, 0, serde_json::json!({})),
            write(Event::Acknowledged, 5, serde_json::json!({"order_id": 7, "role": "entry"})),
            write(Event::Filled, 10, fill),
        ];
        let execution = Execution {
            reference_price: Some("21000.25".parse().unwrap()),
            position_source: Some(PositionSource::Book),
        };
        assert!(j.replace_timeline("rp1", first.clone(), execution).await.unwrap());
        let row = j.get("rp1").await.unwrap().unwrap();
        let names: Vec<Event> = row.timeline.iter().map(|e| e.event).collect();
        assert_eq!(names, [Event::Received, Event::Journaled, Event::Sent, Event::Acknowledged, Event::Filled]);
        assert_eq!(row.timeline[0].at, timeline::stamp(received), "its own `received` kept");
        assert_eq!(row.timeline[4].at, timeline::stamp(at(10)), "the other journal's times kept");
        assert_eq!((row.fills.len(), row.fill_price), (1, Some("21000.5".parse().unwrap())));
        assert_eq!((row.slippage_ticks, row.position_source), (Some(1.0), Some(PositionSource::Book)));
        // A later fill: the whole timeline again, grown; then the same again (a resend): nothing doubled. An
        // execution without a reference keeps the stored one.
        let mut later = first.clone();
        later.push(write(Event::Closed, 3_000, serde_json::json!({"realized_pnl": 10.5, "by": "target"})));
        for _ in 0..2 {
            assert!(j.replace_timeline("rp1", later.clone(), Execution::default()).await.unwrap());
            let row = j.get("rp1").await.unwrap().unwrap();
            assert_eq!(row.timeline.len(), 6, "{:?}", row.timeline);
            assert_eq!(row.realized_pnl, Some("10.5".parse().unwrap()));
            assert_eq!(row.reference_price, Some("21000.25".parse().unwrap()));
        }
        // Unknown alert: nothing written. Another alert's event: refused, nothing written.
        let elsewhere: Vec<TimelineWrite> =
            later.iter().map(|w| TimelineWrite { alert_id: "nope".into(), ..w.clone() }).collect();
        assert!(!j.replace_timeline("nope", elsewhere, execution).await.unwrap());
        let stray = j.query_i64("SELECT COUNT(*) FROM alert_events WHERE alert_id = 'nope'").await.unwrap();
        assert_eq!(stray, 0);
        let mut mixed = later.clone();
        mixed[1].alert_id = "other".into();
        assert!(j.replace_timeline("rp1", mixed, execution).await.is_err());
        assert_eq!(j.get("rp1").await.unwrap().unwrap().timeline.len(), 6);
    }
}

#[tokio::test]
async fn a_second_process_cannot_open_a_journal_in_use() {
    let path = temp("lock");
    let _first = Journal::open(&path, Duration::from_secs(60), Mode::Live).unwrap();
    let err = Journal::open(&path, Duration::from_secs(60), Mode::Live).unwrap_err();
    assert!(matches!(err, JournalError::Locked(_)));
    assert!(err.to_string().contains("another pxrelay process"), "{err}");
}

#[tokio::test]
async fn unfinished_alerts_are_listed() {
    for b in Backend::both("unfinished") {
        let j = b.open(Duration::from_secs(60), Mode::Live).await;
        j.record(alert("u1", Utc::now())).await.unwrap();
        assert_eq!(j.unfinished().await.unwrap().len(), 1);
        assert_eq!(j.get("u1").await.unwrap().unwrap().status, AlertStatus::Received);
        assert!(j.get("nope").await.unwrap().is_none());
    }
}

/// A Postgres test journal, opened as the leader (or not), and a second handle on the same database.
async fn postgres_pair(lead: bool) -> (Journal, Journal) {
    let b = Backend::Postgres(pgtest::shared().fresh_database("journal").expect("a fresh Postgres database"));
    let first = if lead {
        b.open(Duration::from_secs(60), Mode::Live).await
    } else {
        b.try_open(Duration::from_secs(60), Mode::Live).await.unwrap()
    };
    let second = b.try_open(Duration::from_secs(60), Mode::Live).await.unwrap();
    (first, second)
}

#[tokio::test]
async fn postgres_the_same_alert_recorded_at_once_by_two_instances_is_recorded_once() {
    let (a, b) = postgres_pair(true).await;
    for i in 0..20 {
        let id = format!("race-{i}");
        let now = Utc::now();
        let (x, y) = tokio::join!(a.record(alert(&id, now)), b.record(alert(&id, now)));
        let news = [x.unwrap(), y.unwrap()].iter().filter(|r| matches!(r, Recorded::New)).count();
        assert_eq!(news, 1, "{id}: exactly one instance records it");
    }
    assert_eq!(a.count().await.unwrap(), 20);
}

#[tokio::test]
async fn postgres_queued_alerts_are_taken_once_in_arrival_order_by_the_leader() {
    let (leader, standby) = postgres_pair(true).await;
    let standby_store = standby.postgres().unwrap().clone();
    for i in 0..5 {
        let recorded = standby_store.record_queued(alert(&format!("q{i}"), Utc::now())).await.unwrap();
        assert!(matches!(recorded, Recorded::New));
    }
    assert!(standby.unfinished().await.unwrap().is_empty(), "queued alerts are not anyone's unfinished work");
    assert!(standby_store.claim_queued(10).await.is_err(), "a standby (epoch 0) takes nothing");
    let store = leader.postgres().unwrap();
    let (first, rest) = tokio::join!(store.claim_queued(2), store.claim_queued(10));
    let mut ids: Vec<String> = first.unwrap().into_iter().chain(rest.unwrap()).map(|r| r.alert_id).collect();
    let taken = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!((taken, ids.len()), (5, 5), "each queued alert taken exactly once");
    let again = store.claim_queued(10).await.unwrap();
    assert!(again.is_empty(), "nothing is taken twice");
    // In arrival order: one claim of everything comes back oldest first.
    for i in 5..8 {
        standby_store.record_queued(alert(&format!("q{i}"), Utc::now())).await.unwrap();
    }
    let order: Vec<String> = store.claim_queued(10).await.unwrap().into_iter().map(|r| r.alert_id).collect();
    assert_eq!(order, ["q5", "q6", "q7"]);
    assert_eq!(leader.unfinished().await.unwrap().len(), 8, "taken on by the leader: its unfinished work now");
}

#[tokio::test]
async fn postgres_a_leader_whose_epoch_moved_on_is_fenced_and_sends_nothing() {
    let (old, new) = postgres_pair(true).await;
    old.record(alert("f1", Utc::now())).await.unwrap();
    old.mark_sent("f1", Sending::Tagged).await.expect("the current leader may send");
    old.record(alert("f2", Utc::now())).await.unwrap();
    let epoch = new.postgres().unwrap().lead_for_test().await;
    let err = old.mark_sent("f2", Sending::Tagged).await.unwrap_err();
    assert!(matches!(err, JournalError::Fenced { current: Some(c), .. } if c == epoch), "{err}");
    assert!(old.get("f2").await.unwrap().unwrap().sent_at.is_none(), "nothing written for the fenced send");
    assert!(old.mark_sent("f2", Sending::Tagged).await.is_err(), "and it stays fenced without asking again");
    // The fenced alert went back to the queue: the new leader takes it; what the old one sent stays for
    // reconciliation by customTag.
    let store = new.postgres().unwrap();
    assert_eq!(store.requeue_unsent().await.unwrap(), 0, "already queued again by the fence");
    let unfinished: Vec<String> = new.unfinished().await.unwrap().into_iter().map(|r| r.alert_id).collect();
    assert_eq!(unfinished, ["f1"]);
    let taken: Vec<String> = store.claim_queued(10).await.unwrap().into_iter().map(|r| r.alert_id).collect();
    assert_eq!(taken, ["f2"]);
    // An alert a former leader took on and never sent is queued again when a new leader takes over.
    new.record(alert("f3", Utc::now())).await.unwrap();
    let newest = old.postgres().unwrap().lead_for_test().await;
    assert!(newest > epoch);
    assert_eq!(old.postgres().unwrap().requeue_unsent().await.unwrap(), 2, "f2 and f3: taken on, never sent");
}

/// Issue 17 (docs/decisions/0008-journal-durability.md): with the background syncer held, only the rule's syncs
/// happen. A tagged send and a read leave the WAL unsynced; an untagged send and `durable` sync it (once: a second
/// `durable` with nothing new syncs nothing); let go, the syncer syncs what is left by itself.
#[tokio::test]
async fn sqlite_syncs_before_untagged_sends_and_on_demand_and_the_syncer_syncs_the_rest() {
    let path = temp("durable");
    let j = Journal::open(&path, Duration::from_secs(3600), Mode::Live).unwrap();
    j.hold_background_sync(true);
    let start = j.syncs();
    assert!(matches!(j.record(alert("d1", Utc::now())).await.unwrap(), Recorded::New));
    j.mark_sent("d1", Sending::Tagged).await.unwrap();
    assert!(j.get("d1").await.unwrap().is_some());
    assert_eq!((j.unsynced(), j.syncs()), (2, start), "the record and a tagged send wait for the syncer");
    j.durable().await.unwrap();
    assert_eq!((j.unsynced(), j.syncs()), (0, start + 1), "one fdatasync covers both");
    j.durable().await.unwrap();
    assert_eq!(j.syncs(), start + 1, "nothing new: no sync");
    j.mark_sent("d1", Sending::Untagged).await.unwrap();
    assert_eq!((j.unsynced(), j.syncs()), (0, start + 2), "an untagged send is on disk before it goes");
    // Concurrent callers share syncs (group commit): never more syncs than callers, all covered.
    for i in 0..8 {
        assert!(matches!(j.record(alert(&format!("g{i}"), Utc::now())).await.unwrap(), Recorded::New));
    }
    let calls: Vec<_> = (0..8).map(|_| j.durable()).collect();
    for r in futures_util::future::join_all(calls).await {
        r.unwrap();
    }
    assert_eq!(j.unsynced(), 0);
    assert!((start + 3..=start + 10).contains(&j.syncs()), "{} syncs for 8 callers", j.syncs() - start);
    let before = j.syncs();
    j.finish("d1", &Outcome::new(AlertStatus::Placed, "order placed", "placed")).await.unwrap();
    assert_eq!(j.unsynced(), 1);
    j.hold_background_sync(false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while j.unsynced() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the syncer never synced");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(j.syncs(), before + 1, "the syncer's one fdatasync");
}
