//! TradingView webhooks end to end against the simulator: trading semantics, duplicates (also across a restart),
//! authentication, validation, ambiguous outcomes, token rotation under load, sample payloads, guards, dry run.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::time::Duration;

use projectx_sim::{Scope, SimConfig, SimHandle};
use pxrelay_e2e::{MNQ, SECRET, alert, app_on, env_for, mnq_position, quiet_sim, spawn_app, start_sim, temp_journal};
use serde_json::{Value, json};

const PLACE: &str = "/api/Order/place";

async fn sim() -> SimHandle {
    quiet_sim().await
}

fn position(sim: &SimHandle) -> i64 {
    mnq_position(sim)
}

#[tokio::test]
async fn buy_flat_reverse_and_exit_move_the_position_as_a_trader_expects() {
    let sim = sim().await;
    let app = app_on(&sim, &[]).await;
    let (code, body) = app.alert(alert(json!({"action": "buy", "quantity": 1, "id": "a1"}))).await;
    assert_eq!((code, body["status"].as_str()), (200, Some("placed")), "{body}");
    assert_eq!(body["duplicate"], false);
    assert_eq!(position(&sim), 1);
    assert_eq!(sim.counters().calls(PLACE), 1);

    let (_, body) = app.alert(alert(json!({"action": "sell", "sentiment": "flat", "quantity": 1, "id": "a2"}))).await;
    assert_eq!(body["status"], "closed", "{body}");
    assert_eq!(position(&sim), 0, "sell + flat closes the long and never opens a short");
    let (_, body) = app.alert(alert(json!({"action": "sell", "sentiment": "flat", "id": "a2b"}))).await;
    assert_eq!(body["status"], "noop", "{body}");
    assert_eq!(position(&sim), 0, "sell + flat with no long opens nothing");

    app.alert(alert(json!({"action": "buy", "id": "a3"}))).await;
    let (_, body) = app.alert(alert(json!({"action": "reverse", "quantity": 1, "id": "a4"}))).await;
    assert_eq!(body["status"], "placed", "{body}");
    assert_eq!(position(&sim), -1, "reverse: close the long, then short 1");

    let (_, body) = app.alert(alert(json!({"action": "exit", "id": "a5"}))).await;
    assert_eq!(body["status"], "closed", "{body}");
    assert_eq!(position(&sim), 0);
    let places = sim.counters().calls(PLACE);
    let (code, body) = app.alert(alert(json!({"action": "exit", "id": "a6"}))).await;
    assert_eq!((code, body["status"].as_str()), (200, Some("noop")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("no open position"), "{body}");
    assert_eq!(sim.counters().calls(PLACE), places, "nothing sent when flat");
    app.stop().await.unwrap();
}

/// `NQ1!` is the full-size E-mini, ten times `MNQ1!` per tick: every answer says which contract it traded and what a
/// tick of it is worth, so a template on the wrong chart is noticed on its first alert.
#[tokio::test]
async fn nq1_trades_the_full_size_e_mini_and_every_answer_names_the_contract_and_its_tick_value() {
    let sim = sim().await;
    let app = app_on(&sim, &[]).await;
    let (code, body) = app.alert(alert(json!({"symbol": "NQ1!", "action": "buy", "quantity": 1, "id": "nq-1"}))).await;
    assert_eq!((code, body["status"].as_str()), (200, Some("placed")), "{body}");
    assert_eq!(
        body["message"], "order placed: 1 × E-mini NASDAQ-100: December 2025 (CON.F.US.ENQ.Z25, $5.00 per tick)",
        "{body}"
    );
    let enq: Vec<_> = sim.positions().into_iter().filter(|p| p.contract_id == "CON.F.US.ENQ.Z25").collect();
    assert_eq!((enq.len(), enq.first().map(|p| p.size)), (1, Some(1)), "one full-size contract");
    assert_eq!(position(&sim), 0, "no micro");

    let (_, body) = app.alert(alert(json!({"symbol": "MNQ1!", "action": "buy", "quantity": 2, "id": "mnq-1"}))).await;
    assert_eq!(
        body["message"], "order placed: 2 × Micro E-mini Nasdaq-100: December 2025 (CON.F.US.MNQ.Z25, $0.50 per tick)",
        "{body}"
    );
    let (_, body) = app.alert(alert(json!({"symbol": "NQ1!", "action": "exit", "id": "nq-2"}))).await;
    assert_eq!(
        body["message"],
        "closed 1 contract (long) of E-mini NASDAQ-100: December 2025 (CON.F.US.ENQ.Z25, $5.00 per tick)",
        "{body}"
    );
    let (_, journal) = app.get_json(&format!("/alerts/nq-1?secret={SECRET}")).await;
    assert_eq!(journal["mode"], "live", "every journal row records the mode: {journal}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn the_same_alert_id_is_acted_on_once_also_after_a_restart() {
    let sim = sim().await;
    let journal = temp_journal();
    let db = journal.display().to_string();
    let app = app_on(&sim, &[("DATABASE_URL", &db)]).await;
    let body = alert(json!({"action": "buy", "id": "dup-1"}));
    let (_, first) = app.alert(body.clone()).await;
    assert_eq!(first["status"], "placed");
    let (code, second) = app.alert(body.clone()).await;
    assert_eq!((code, second["duplicate"].as_bool()), (200, Some(true)), "{second}");
    assert_eq!(second["orders"], first["orders"], "the original outcome is returned");
    app.stop().await.unwrap();

    let app = app_on(&sim, &[("DATABASE_URL", &db)]).await;
    let (_, third) = app.alert(body).await;
    assert_eq!(third["duplicate"], true, "{third}");
    assert_eq!(sim.counters().calls(PLACE), 1);
    assert_eq!(sim.orders().len(), 1);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_second_relay_on_the_same_journal_refuses_to_start() {
    let sim = sim().await;
    let db = temp_journal().display().to_string();
    let app = app_on(&sim, &[("DATABASE_URL", &db)]).await;
    let mut env = env_for(&sim);
    env.insert("DATABASE_URL".into(), db);
    let err = spawn_app(sim.clone(), env).await.unwrap_err();
    assert!(format!("{err:#}").contains("another pxrelay process"), "{err:#}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn secrets_are_checked_and_nothing_is_sent_for_refused_alerts() {
    let sim = sim().await;
    let app = app_on(&sim, &[]).await;
    let (code, body) = app.alert(json!({"secret": "guess-7731", "symbol": "MNQ", "action": "buy"})).await;
    assert_eq!((code, body["error"].as_str()), (401, Some("unauthorized")));
    assert!(!body.to_string().contains("guess-7731"), "the offered secret is not echoed");
    let (code, _) = app.alert(json!({"symbol": "MNQ", "action": "buy"})).await;
    assert_eq!(code, 401);
    let (code, _) = app.post("/webhook?secret=nope", "application/json", r#"{"symbol":"MNQ","action":"buy"}"#).await;
    assert_eq!(code, 401);
    assert_eq!(sim.counters().calls(PLACE), 0);
    let (code, body) = app
        .post(&format!("/webhook/{SECRET}"), "application/json", r#"{"symbol":"MNQ","action":"buy","id":"p1"}"#)
        .await;
    assert_eq!((code, body["status"].as_str()), (200, Some("placed")), "{body}");
    let (code, body) = app
        .post(&format!("/webhook?secret={SECRET}"), "application/json", r#"{"symbol":"MNQ","action":"sell","id":"q1"}"#)
        .await;
    assert_eq!((code, body["status"].as_str()), (200, Some("closed")), "the sell takes the long flat: {body}");
    // No secret could be read: the 401 says why, and never anything about the secret.
    let broken = format!(r#"{{"secret":"{SECRET}","symbol":"MNQ","action":"buy",}}"#);
    let (code, body) = app.post("/webhook", "application/json", &broken).await;
    let message = body["message"].as_str().unwrap_or_default();
    assert_eq!((code, body["error"].as_str()), (401, Some("unauthorized")), "{body}");
    assert!(message.contains("not valid JSON") && message.contains("column"), "{message}");
    assert!(message.contains("none could be read from the body"), "{message}");
    assert!(!body.to_string().contains(SECRET), "{body}");
    let (code, body) = app.alert(json!({"Secret": SECRET, "symbol": "MNQ", "action": "buy"})).await;
    assert_eq!(code, 401, "{body}");
    assert!(body["message"].as_str().unwrap_or_default().contains("use `secret`"), "{body}");
    assert!(!body.to_string().contains(SECRET), "{body}");
    let (code, body) = app.get_json(&format!("/alerts?secret={SECRET}&limit=abc")).await;
    assert_eq!((code, body["error"].as_str()), (400, Some("bad_request")), "{body}");
    assert!(body["message"].as_str().unwrap_or_default().starts_with("limit:"), "{body}");
    assert_eq!(sim.counters().calls(PLACE), 1, "only the authenticated buy was placed (the sell closed it)");
    app.stop().await.unwrap();

    let sim = self::sim().await;
    let env = env_for(&sim);
    let app = spawn_app(sim.clone(), env).await.unwrap();
    let (code, body) = app.alert(alert(json!({"action": "buy"}))).await;
    assert_eq!((code, body["error"].as_str()), (503, Some("webhook_disabled")));
    assert_eq!(sim.counters().calls(PLACE), 0);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn bad_payloads_get_400_naming_the_field_and_nothing_is_sent() {
    let sim = sim().await;
    let app = app_on(&sim, &[]).await;
    let path = format!("/webhook/{SECRET}");
    let cases: &[(&str, &str)] = &[
        ("{not json", "body"),
        (r#"{"action":"buy"}"#, "symbol"),
        (r#"{"symbol":"MNQ","action":"buy","quantity":0}"#, "quantity"),
        (r#"{"symbol":"MNQ","action":"buy","quantity":-1}"#, "quantity"),
        (r#"{"symbol":"MNQ","action":"hodl"}"#, "action"),
        (r#"{"symbol":"MNQ","action":"buy","order_type":"limit"}"#, "limit_price"),
        (
            r#"{"symbol":"MNQ","action":"buy","order_type":"limit","limit_price":21000.25,"stop_loss":21010}"#,
            "stop_loss",
        ),
    ];
    for (body, field) in cases {
        let (code, answer) = app.post(&path, "text/plain", body).await;
        assert_eq!(code, 400, "{body} -> {answer}");
        assert_eq!(answer["error"], "bad_payload");
        assert!(answer["message"].as_str().unwrap().contains(field), "{body}: message should name `{field}`: {answer}");
    }
    let (code, answer) = app.post(&path, "text/plain", r#"{"symbol":"NOPE","action":"buy"}"#).await;
    assert_eq!((code, answer["error"].as_str()), (422, Some("unknown_symbol")), "{answer}");
    assert_eq!(sim.counters().calls(PLACE), 0, "nothing reaches the gateway for a rejected alert");

    let (code, answer) = app.post(&path, "text/plain", r#"{"symbol":"MNQ","action":"buy","id":"tp"}"#).await;
    assert_eq!((code, answer["status"].as_str()), (200, Some("placed")), "a JSON alert sent as text/plain is accepted");
    let (code, _) =
        app.post(&path, "application/x-www-form-urlencoded", r#"{"symbol":"MNQ","action":"sell","id":"fe"}="#).await;
    assert_eq!(code, 200, "a stray trailing `=` from form encoding is tolerated");
    let big = format!(r#"{{"symbol":"MNQ","action":"buy","pad":"{}"}}"#, "x".repeat(70 * 1024));
    let (code, _) = app.post(&path, "application/json", &big).await;
    assert_eq!(code, 413);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_503_after_the_gateway_placed_the_order_never_duplicates_it() {
    let sim = sim().await;
    let app = app_on(&sim, &[]).await;
    app.alert(alert(json!({"action": "exit", "id": "warm"}))).await;
    sim.fail_next_after_processing(1, 503, Scope::Path(PLACE.into()));
    let (code, body) = app.alert(alert(json!({"action": "buy", "id": "amb-1"}))).await;
    assert_eq!(code, 200);
    assert_eq!(body["status"], "placed", "reconciled by customTag: {body}");
    assert_eq!(sim.counters().calls(PLACE), 1, "never re-sent");
    assert_eq!(sim.orders().len(), 1);
    assert_eq!(position(&sim), 1);
    let (_, row) = app.get_json(&format!("/alerts/amb-1?secret={SECRET}")).await;
    assert!(row["path"].as_str().unwrap().contains("reconciled by customTag: found"), "{row}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn alerts_keep_flowing_while_13_second_tokens_expire() {
    let sim = start_sim(SimConfig { token_lifetime: Duration::from_secs(13), ..SimConfig::default() }).await;
    sim.set_quotes_per_second(0);
    let app = app_on(&sim, &[("TOKEN_REFRESH_MARGIN_SECS", "4")]).await;
    for i in 0..50 {
        // Buy from flat (an order), then sell back to flat (a close of the whole position).
        let (side, want) = if i % 2 == 0 { ("buy", "placed") } else { ("sell", "closed") };
        let (code, body) = app.alert(alert(json!({"action": side, "id": format!("flow-{i}")}))).await;
        assert_eq!((code, body["status"].as_str()), (200, Some(want)), "alert {i}: {body}");
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    let placed: Vec<_> = sim.orders().into_iter().filter(|o| o.custom_tag.is_some()).collect();
    assert_eq!(placed.len(), 25, "every buy placed exactly once");
    assert_eq!(sim.counters().calls("/api/Position/closeContract"), 25, "every sell closed exactly once");
    assert!(app.gateway.tokens().status().refreshes >= 4);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn sample_payloads_from_other_tools_are_accepted() {
    // The samples name a practice account, as real payloads do; the sim gets one of that name beside its default.
    let mut cfg = SimConfig::default();
    let mut practice = cfg.accounts[0].clone();
    practice.id = 9002;
    practice.name = "PRAC-V2-0000-0000".into();
    cfg.accounts.push(practice);
    let sim = start_sim(cfg).await;
    sim.set_quotes_per_second(0);
    let app = app_on(&sim, &[("PROJECT_X_ACCOUNT", "SIM-PAPER-1")]).await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/alerts");
    let mut tried = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("invalid_") {
            continue;
        }
        let mut text = std::fs::read_to_string(&path).unwrap();
        // A recorded alert's own timestamp is from the day it was recorded; TradingView fills in the firing time, so
        // the sample is sent as if it fired now (else it is, rightly, `expired`).
        if let Ok(Value::Object(mut fields)) = serde_json::from_str::<Value>(&text) {
            for key in ["timenow", "alertTimestamp", "time", "date"] {
                if let Some(v) = fields.get_mut(key) {
                    *v = Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
                }
            }
            text = Value::Object(fields).to_string();
        }
        let (code, body) = app.post(&format!("/webhook/{SECRET}"), "text/plain", &text).await;
        assert!(code == 200 || code == 202, "{}: {code} {body}", path.display());
        for refused in ["failed", "expired"] {
            assert_ne!(body["status"], refused, "{}: {body}", path.display());
        }
        tried += 1;
    }
    assert!(tried >= 3, "fixtures present");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn random_bodies_never_cause_a_5xx() {
    let sim = sim().await;
    let app = app_on(&sim, &[("DRY_RUN", "true")]).await;
    let path = format!("/webhook/{SECRET}");
    let pieces = [
        "{",
        "}",
        "\"symbol\"",
        ":",
        "\"MNQ\"",
        ",",
        "\"action\"",
        "\"buy\"",
        "[",
        "]",
        "null",
        "1e999",
        "-0",
        "\"\\u0000\"",
        "\"quantity\"",
        "\"stop_loss\"",
        "\"secret\"",
        "=",
    ];
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..300 {
        let mut body = String::new();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let len = (rng % 24) as usize;
        for i in 0..len {
            body.push_str(pieces[((rng >> (i % 32)) as usize + i * 7) % pieces.len()]);
        }
        let (code, answer) = app.post(&path, "text/plain", &body).await;
        assert!(code < 500, "{body:?} -> {code} {answer}");
    }
    assert_eq!(sim.counters().calls(PLACE), 0);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn dry_run_answers_with_the_exact_request_and_sends_nothing() {
    let sim = sim().await;
    let app = app_on(&sim, &[("DRY_RUN", "true")]).await;
    let (code, body) = app
        .alert(alert(json!({"action": "buy", "quantity": 2, "order_type": "limit", "limit_price": 21000.25, "stop_loss_ticks": 20, "take_profit_ticks": 40, "id": "dry-1"})))
        .await;
    assert_eq!((code, body["status"].as_str()), (200, Some("dry_run")), "{body}");
    let request = &body["orders"][0]["body"];
    assert_eq!(request["contractId"], MNQ);
    assert_eq!(request["type"], 1);
    assert_eq!(request["size"], 2);
    assert_eq!(request["limitPrice"].to_string(), "21000.25");
    assert_eq!(request["stopLossBracket"], json!({"ticks": -20, "type": 4}));
    assert_eq!(request["takeProfitBracket"], json!({"ticks": 40, "type": 1}));
    assert_eq!(sim.counters().calls(PLACE), 0);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn the_kill_switch_refuses_entries_but_allows_exits_and_limits_hold() {
    let sim = sim().await;
    let app = app_on(&sim, &[("MAX_CONTRACTS", "2")]).await;
    let (_, body) = app.alert(alert(json!({"action": "buy", "quantity": 3, "id": "k0"}))).await;
    assert_eq!(body["status"], "rejected", "{body}");
    assert!(body["message"].as_str().unwrap().contains("MAX_CONTRACTS"));
    app.alert(alert(json!({"action": "buy", "quantity": 2, "id": "k1"}))).await;
    let (_, body) = app.alert(alert(json!({"action": "buy", "quantity": 1, "id": "k2"}))).await;
    assert_eq!(body["status"], "rejected", "a position of 3 would exceed the limit: {body}");
    let (code, _) = app.post("/kill", "application/json", r#"{"secret":"nope"}"#).await;
    assert_eq!(code, 401);
    let (code, body) = app.post("/kill", "application/json", &json!({"secret": SECRET}).to_string()).await;
    assert_eq!((code, body["kill_switch"].as_bool()), (200, Some(true)));
    // Long 2 with the kill switch on: a sell that only reduces is an exit, and goes through; a buy is an entry.
    let (_, body) = app.alert(alert(json!({"action": "sell", "id": "k3"}))).await;
    assert_eq!((body["status"].as_str(), position(&sim)), (Some("placed"), 1), "{body}");
    let (_, body) = app.alert(alert(json!({"action": "buy", "id": "k3b"}))).await;
    assert_eq!(body["status"], "rejected", "{body}");
    assert!(body["message"].as_str().unwrap().contains("kill switch"), "{body}");
    let (_, body) = app.alert(alert(json!({"action": "exit", "id": "k4"}))).await;
    assert_eq!(body["status"], "closed", "exits are still allowed: {body}");
    assert_eq!(position(&sim), 0);
    // Flat: a sell would open a short, refused.
    let (_, body) = app.alert(alert(json!({"action": "sell", "id": "k5"}))).await;
    assert_eq!((body["status"].as_str(), position(&sim)), (Some("rejected"), 0), "{body}");
    app.stop().await.unwrap();
}

/// Issue 17 (docs/decisions/0008-journal-durability.md), with the journal's background syncer held so only the rule's
/// syncs happen: an answer reporting an order the gateway acknowledged leaves the journal unsynced (the broker holds
/// the order under its customTag); a 202 `pending` answer (nothing at the broker yet) waits until everything
/// journaled before it is on disk; so does a refusal-as-outcome (`noop`: nothing at the broker).
#[tokio::test]
async fn an_accepted_answer_with_nothing_at_the_broker_waits_for_the_disk_and_a_placed_one_does_not() {
    let sim = sim().await;
    let app = app_on(&sim, &[("WEBHOOK_WAIT_MS", "300")]).await;
    app.journal.hold_background_sync(true);
    let syncs = app.journal.syncs();
    let (code, body) = app.alert(alert(json!({"action": "buy", "id": "dur-placed"}))).await;
    assert_eq!((code, body["status"].as_str()), (200, Some("placed")), "{body}");
    assert_eq!(app.journal.syncs(), syncs, "neither the tagged order nor its placed answer waited for a sync");
    assert!(app.journal.unsynced() > 0);
    let (code, body) = app.alert(alert(json!({"action": "cancel", "id": "dur-noop"}))).await;
    assert_eq!((code, body["status"].as_str()), (200, Some("noop")), "{body}");
    assert_eq!(app.journal.unsynced(), 0, "a noop answer waits until its row is on disk");
    assert_eq!(app.journal.syncs(), syncs + 1, "one sync");
    // The order takes 3 s at the gateway: the 202 comes at 300 ms, with the row and its sent mark on disk, and
    // nothing is written until the gateway answers.
    sim.set_latency(Duration::from_secs(3));
    let (code, body) = app.alert(alert(json!({"action": "buy", "id": "dur-pending"}))).await;
    assert_eq!((code, body["status"].as_str()), (202, Some("pending")), "{body}");
    assert_eq!(app.journal.unsynced(), 0, "the pending answer came after the sync");
    sim.set_latency(Duration::ZERO);
    app.journal.hold_background_sync(false);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_slow_gateway_gets_202_pending_and_the_outcome_lands_in_the_journal() {
    let sim = sim().await;
    let app = app_on(&sim, &[("WEBHOOK_WAIT_MS", "300")]).await;
    app.alert(alert(json!({"action": "exit", "id": "warm"}))).await;
    sim.set_latency(Duration::from_millis(400));
    let (code, body) = app.alert(alert(json!({"action": "buy", "id": "slow-1"}))).await;
    assert_eq!((code, body["status"].as_str()), (202, Some("pending")), "{body}");
    let mut row = Value::Null;
    for _ in 0..100 {
        row = app.get_json(&format!("/alerts/slow-1?secret={SECRET}")).await.1;
        if row["status"] == "placed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(row["status"], "placed", "{row}");
    assert!(row["sent_at"].is_string() && row["acked_at"].is_string());
    let (code, list) = app.get_json(&format!("/alerts?limit=5&secret={SECRET}")).await;
    assert_eq!(code, 200);
    assert_eq!(list["alerts"][0]["alert_id"], "slow-1");
    assert!(!list.to_string().contains(SECRET), "secret fields are removed from the journal");
    let (code, _) = app.get_json("/alerts").await;
    assert_eq!(code, 401);
    app.stop().await.unwrap();
}
