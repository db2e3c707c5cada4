//! `GatewayLogout` end to end (issue 11): the simulator does what the gateway does when the same user logs in
//! elsewhere (`SimHandle::log_out_sessions`: every token revoked, `GatewayLogout` on the user hub). One logout: the
//! user hub logs in again and is back, synced, on a new token within 5 s, and trading goes on. Three within ten
//! minutes: another session keeps fighting pxrelay, so re-login pauses, `/ready` says why, entries are refused with
//! nothing sent while exits still go through, until `POST /user-hub/resume`.

#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::sync::Arc;
use std::time::Duration;

use projectx_sim::{HubKind, SimHandle};
use pxrelay_e2e::{SECRET, TestApp, alert, app_on, mnq_position, quiet_sim};
use serde_json::{Value, json};

/// The bound: a logout → the hub reconnected with a valid token within this.
const RECONNECT_WITHIN: Duration = Duration::from_secs(5);

/// Polls `/status` until `check` holds on it (deadline `within`); panics naming `what` with the last status.
async fn status_until(app: &TestApp, within: Duration, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let (code, status) = app.get_json("/status").await;
        if code == 200 && check(&status) {
            return status;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the user hub is synced on a connection later than `after_epoch`; returns `/status.user_hub`.
async fn synced_after(app: &TestApp, after_epoch: u64, within: Duration) -> Value {
    let status = status_until(app, within, "the user hub is synced on a new connection", |s| {
        s["user_hub"]["synced"] == true && s["user_hub"]["epoch"].as_u64().unwrap() > after_epoch
    })
    .await;
    status["user_hub"].clone()
}

/// Polls `/ready` until it answers `code` (deadline `within`); returns its body.
async fn ready_becomes(app: &TestApp, code: u16, within: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let (c, body) = app.get_json("/ready").await;
        if c == code {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "/ready stayed {c}: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `jti`s of the simulator's open user-hub connections.
fn user_hub_tokens(sim: &SimHandle) -> Vec<String> {
    sim.hub_connections().into_iter().filter(|c| c.hub == HubKind::User).map(|c| c.token_id).collect()
}

/// Collects the formatted log lines of the app (the tests' runtime is single-threaded, so a thread-default
/// subscriber sees every task).
#[derive(Clone, Default)]
struct Logs(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// The `ERROR` lines so far.
    fn errors(&self) -> Vec<String> {
        let text = String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned();
        text.lines().filter(|l| l.contains("ERROR")).map(str::to_owned).collect()
    }
}

async fn send(app: &TestApp, fields: Value) -> Value {
    let (code, body) = app.alert(alert(fields)).await;
    assert_eq!(code, 200, "{body}");
    body
}

#[tokio::test]
async fn one_gateway_logout_brings_the_user_hub_back_on_a_new_token_within_5_s_and_trading_goes_on() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[]).await;
    let before = synced_after(&app, 0, Duration::from_secs(5)).await;
    ready_becomes(&app, 200, Duration::from_secs(5)).await;
    let old_tokens = user_hub_tokens(&sim);
    assert_eq!(old_tokens.len(), 1, "one user-hub connection");
    let revision = app.gateway.tokens().current().unwrap().revision();

    assert_eq!(sim.log_out_sessions(), 1, "the user hub was told");
    let started = tokio::time::Instant::now();
    let after = synced_after(&app, before["epoch"].as_u64().unwrap(), RECONNECT_WITHIN).await;
    assert!(started.elapsed() < RECONNECT_WITHIN, "back after {:?}", started.elapsed());
    assert_eq!((after["logouts"].as_u64(), after["logged_out_by_other_session"].as_bool()), (Some(1), Some(false)));
    // The simulator checks the token on every upgrade, and every token from before the logout is revoked: the new
    // connection's token is a new, valid one.
    let new_tokens = user_hub_tokens(&sim);
    assert!(new_tokens.len() == 1 && new_tokens != old_tokens, "before {old_tokens:?}, after {new_tokens:?}");
    assert!(app.gateway.tokens().current().unwrap().revision() > revision, "logged in again");
    assert!(started.elapsed() < RECONNECT_WITHIN);

    let ready = ready_becomes(&app, 200, RECONNECT_WITHIN).await;
    assert_eq!(ready["checks"]["user_hub"]["ok"], true, "{ready}");
    assert_eq!(app.get_json("/health").await.0, 200, "the process is up");
    let placed = send(&app, json!({"action": "buy", "id": "after-logout"})).await;
    assert_eq!(placed["status"], "placed", "{placed}");
    assert_eq!(mnq_position(&sim), 1);
    app.stop().await.expect("pxrelay ran until it was stopped, with no error");
}

#[tokio::test]
async fn three_logouts_pause_re_login_refuse_entries_but_not_exits_until_an_operator_resumes() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[("USER_HUB_LOGOUT_PAUSE_SECS", "600")]).await;
    let mut hub = synced_after(&app, 0, Duration::from_secs(5)).await;
    let opened = send(&app, json!({"action": "buy", "id": "fight-1"})).await;
    assert_eq!((opened["status"].as_str(), mnq_position(&sim)), (Some("placed"), 1), "{opened}");

    // Two logouts: each time the hub logs in again and comes back.
    for _ in 0..2 {
        assert_eq!(sim.log_out_sessions(), 1);
        hub = synced_after(&app, hub["epoch"].as_u64().unwrap(), RECONNECT_WITHIN).await;
    }
    // The third within ten minutes: another session keeps signing in. No re-login; /ready says why.
    assert_eq!(sim.log_out_sessions(), 1);
    let ready = ready_becomes(&app, 503, RECONNECT_WITHIN).await;
    let check = &ready["checks"]["user_hub"];
    assert_eq!((check["ok"].as_bool(), check["logged_out_by_other_session"].as_bool()), (Some(false), Some(true)));
    assert!(check["reason"].as_str().unwrap().contains("another session"), "{ready}");
    let until: chrono::DateTime<chrono::Utc> = check["paused_until"].as_str().unwrap().parse().unwrap();
    let left = until - chrono::Utc::now();
    assert!(left > chrono::TimeDelta::seconds(590) && left <= chrono::TimeDelta::seconds(600), "{left}");
    assert!(check["what_to_do"].as_str().unwrap().contains("POST /user-hub/resume"), "{ready}");
    let status = status_until(&app, Duration::from_secs(1), "/status shows the pause", |s| {
        s["user_hub_pause"]["reason"].as_str().is_some_and(|r| r.contains("another session"))
    })
    .await;
    assert_eq!(
        (status["user_hub"]["connected"].as_bool(), status["user_hub"]["logouts"].as_u64()),
        (Some(false), Some(3))
    );
    let connects = sim.hub_counters().connects;

    // An entry is refused with the cause and what to do, and nothing reaches the gateway.
    let orders = sim.orders().len();
    let refused = send(&app, json!({"action": "buy", "id": "fight-2"})).await;
    assert_eq!(refused["status"], "rejected", "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("another session") && message.contains("entries are refused"), "{message}");
    assert!(message.contains("exits are still allowed") && message.contains("POST /user-hub/resume"), "{message}");
    assert_eq!(sim.orders().len(), orders, "nothing sent");
    // An exit still goes through (its REST calls log in again on the revoked token's 401).
    let closed = send(&app, json!({"action": "exit", "id": "fight-3"})).await;
    assert_eq!((closed["status"].as_str(), mnq_position(&sim)), (Some("closed"), 0), "{closed}");
    assert_eq!(sim.hub_counters().connects, connects, "the paused hub did not connect");
    assert_eq!(app.get_json("/ready").await.0, 503, "still paused");
    // One error line for the pause, naming what to do (the watcher looks once a second).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let pause_lines = |errors: Vec<String>| -> Vec<String> {
        errors.into_iter().filter(|l| l.contains("another session") && l.contains("POST /user-hub/resume")).collect()
    };
    while pause_lines(logs.errors()).is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no error line for the pause: {:?}", logs.errors());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The operator closed the other session: resume, with the secret.
    let (code, _) = app.post("/user-hub/resume", "application/json", "{}").await;
    assert_eq!(code, 401, "the secret is required");
    let (code, body) = app.post("/user-hub/resume", "application/json", &json!({"secret": SECRET}).to_string()).await;
    assert_eq!((code, body["resumed"].as_bool()), (200, Some(true)), "{body}");
    let back = synced_after(&app, hub["epoch"].as_u64().unwrap(), RECONNECT_WITHIN).await;
    assert_eq!(back["logged_out_by_other_session"], false, "{back}");
    ready_becomes(&app, 200, RECONNECT_WITHIN).await;
    let status = app.get_json("/status").await.1;
    assert_eq!(status["user_hub_pause"], Value::Null, "{status}");
    let placed = send(&app, json!({"action": "buy", "id": "fight-4"})).await;
    assert_eq!((placed["status"].as_str(), mnq_position(&sim)), (Some("placed"), 1), "{placed}");
    let (code, body) = app.post("/user-hub/resume", "application/json", &json!({"secret": SECRET}).to_string()).await;
    assert_eq!((code, body["resumed"].as_bool()), (200, Some(false)), "not paused: nothing to resume: {body}");
    assert_eq!(pause_lines(logs.errors()).len(), 1, "logged once per pause: {:?}", logs.errors());
    app.stop().await.expect("pxrelay ran until it was stopped, with no error");
}
