//! Issue 16 through the real binary: `pxrelay relay` (no broker credentials), `pxrelay execute --relay <url>` and the
//! simulator (in this test process) as separate processes on loopback. One test per Done-when line of the issue.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use projectx_sim::SimHandle;
use serde_json::{Value, json};
use support::{SECRET, assert_once_each, placed, sim};
use tokio::time::Instant;

/// The shared executor token (never to appear in a log).
const TOKEN: &str = "EXECTOKEN-relay-test-7f3a9c2e5b1d";

/// One pxrelay process (`relay` or `execute`).
struct Proc {
    child: Child,
    addr: String,
    pid: u32,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    /// Starts `pxrelay <args>` with exactly `envs` (plus logging) and waits until it listens.
    fn start(args: &[&str], envs: &[(&str, String)]) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pxrelay"))
            .args(args)
            .env_clear()
            .current_dir(env!("CARGO_TARGET_TMPDIR"))
            .envs([("LOG_FORMAT", "json"), ("RUST_LOG", "info"), ("HOST", "127.0.0.1")])
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let (kept, tx) = (lines.clone(), tx.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let parsed: Value = serde_json::from_str(&line).unwrap_or_default();
                    if parsed["message"] == "pxrelay listening" {
                        let _ = tx.send(parsed["addr"].as_str().unwrap_or_default().to_owned());
                    }
                    kept.lock().unwrap().push(line);
                }
            });
        }
        let addr = rx.recv_timeout(Duration::from_secs(30)).expect("pxrelay listens");
        Proc { child, addr, pid, lines }
    }

    fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    fn stop(&mut self) {
        assert!(Command::new("kill").args(["-TERM", &self.pid.to_string()]).status().unwrap().success());
        self.wait_exit();
    }

    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.wait_exit();
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "pxrelay {} did not exit", self.pid);
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A fresh SQLite journal path for `name`.
fn journal(name: &str) -> String {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("relay-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("journal.db").display().to_string()
}

fn relay_env(db: &str, port: u16, wait_ms: u64) -> Vec<(&'static str, String)> {
    vec![
        ("PORT", port.to_string()),
        ("WEBHOOK_SECRET", SECRET.to_owned()),
        ("DATABASE_URL", db.to_owned()),
        ("EXECUTOR_TOKEN", TOKEN.to_owned()),
        ("WEBHOOK_WAIT_MS", wait_ms.to_string()),
    ]
}

fn start_relay(db: &str, port: u16, wait_ms: u64) -> Proc {
    Proc::start(&["relay"], &relay_env(db, port, wait_ms))
}

fn start_executor(sim: &SimHandle, relay: &Proc, db: &str, token: &str, max_age: u64) -> Proc {
    start_executor_with(sim, relay, db, token, max_age, &[])
}

/// [`start_executor`] with more variables.
fn start_executor_with(
    sim: &SimHandle,
    relay: &Proc,
    db: &str,
    token: &str,
    max_age: u64,
    extra: &[(&str, String)],
) -> Proc {
    let mut env = vec![
        ("PORT", "0".to_owned()),
        ("MARKET_HOURS", "always".to_owned()),
        ("MAX_CONTRACTS", "1000".to_owned()),
        ("RATE_LIMIT_REQUESTS", "1000000".to_owned()),
        ("MAX_ALERT_AGE_SECS", max_age.to_string()),
        ("WEBHOOK_SECRET", SECRET.to_owned()),
        ("DATABASE_URL", db.to_owned()),
        ("EXECUTOR_TOKEN", token.to_owned()),
        ("PROJECT_X_API_URL", sim.base_url()),
        ("PROJECT_X_MARKET_HUB_URL", sim.market_hub_url()),
        ("PROJECT_X_USER_HUB_URL", sim.user_hub_url()),
        ("PROJECT_X_USERNAME", sim.username().to_owned()),
        ("PROJECT_X_API_KEY", sim.api_key().to_owned()),
    ];
    env.extend(extra.iter().cloned());
    Proc::start(&["execute", "--relay", &format!("http://{}", relay.addr)], &env)
}

async fn get(http: &reqwest::Client, addr: &str, path: &str) -> (u16, Value) {
    match http.get(format!("http://{addr}{path}")).bearer_auth(SECRET).send().await {
        Ok(r) => (r.status().as_u16(), r.json().await.unwrap_or_default()),
        Err(_) => (0, Value::Null),
    }
}

/// Polls the relay's `/status` until the executor's `connected` is `connected`.
async fn wait_connected(http: &reqwest::Client, relay: &Proc, connected: bool, within: Duration) {
    let started = Instant::now();
    loop {
        let (_, status) = get(http, &relay.addr, "/status").await;
        if status["executor"]["connected"] == connected {
            return;
        }
        assert!(started.elapsed() < within, "executor connected never became {connected}: {status}\n{}", relay.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn send(http: &reqwest::Client, relay: &Proc, id: &str) -> (u16, Value) {
    let body = json!({"secret": SECRET, "symbol": "MNQ", "action": "buy", "quantity": 1, "id": id});
    let r = http.post(format!("http://{}/webhook", relay.addr)).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

/// Polls `/alerts/{id}` at `addr` until its status is not `received`/`pending`; returns the row.
async fn wait_final(http: &reqwest::Client, addr: &str, id: &str, within: Duration) -> Value {
    let started = Instant::now();
    loop {
        let (_, row) = get(http, addr, &format!("/alerts/{id}")).await;
        if row["status"].is_string() && row["status"] != "received" && row["status"] != "pending" {
            return row;
        }
        assert!(started.elapsed() < within, "{id} at {addr} never finished: {row}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn assert_no_token(procs: &[&Proc]) {
    for p in procs {
        assert!(!p.log().contains(TOKEN), "the executor token is in the log of {}", p.pid);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_webhook_to_the_relay_is_placed_by_the_executor_and_answered_with_the_order_id() {
    let (sim, http) = (sim().await, reqwest::Client::new());
    let mut env = relay_env(&journal("placed-relay"), 0, 2500);
    env.push(("DASHBOARD_PASSWORD", "relay-dash-pw".to_owned()));
    let relay = Proc::start(&["relay"], &env);
    let (code, ready) = get(&http, &relay.addr, "/ready").await;
    assert_eq!(code, 503, "no executor yet: {ready}");
    assert!(ready["reason"].as_str().unwrap().contains("no executor"), "{ready}");
    let executor = start_executor(&sim, &relay, &journal("placed-exec"), TOKEN, 60);
    wait_connected(&http, &relay, true, Duration::from_secs(30)).await;
    assert_eq!(get(&http, &relay.addr, "/ready").await.0, 200);
    let (code, answer) = send(&http, &relay, "placed-1").await;
    assert_eq!((code, answer["status"].as_str()), (200, Some("placed")), "{answer}\n{}", relay.log());
    let orders = sim.orders();
    assert_eq!(orders.len(), 1);
    assert_eq!(answer["orders"], json!([orders[0].id]), "the relay's answer carries the sim's order id");
    assert_eq!(placed(&sim), ["placed-1"]);
    let relay_row = wait_final(&http, &relay.addr, "placed-1", Duration::from_secs(5)).await;
    let exec_row = wait_final(&http, &executor.addr, "placed-1", Duration::from_secs(5)).await;
    assert_eq!((relay_row["status"].as_str(), exec_row["status"].as_str()), (Some("placed"), Some("placed")));
    assert!(
        !relay_row["raw_body"].as_str().unwrap().contains(SECRET),
        "the webhook secret is never journaled or forwarded"
    );
    assert!(!exec_row["raw_body"].as_str().unwrap().contains(SECRET), "the executor never receives the webhook secret");
    // A bad field is refused by the relay itself (400 naming it), journaled there, and never sent on.
    let bad = json!({"secret": SECRET, "symbol": "MNQ", "action": "buy", "quantity": 0, "id": "bad-1"});
    let r = http.post(format!("http://{}/webhook", relay.addr)).json(&bad).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let (_, listed) = get(&http, &relay.addr, "/alerts").await;
    assert!(listed["alerts"].as_array().unwrap().iter().any(|a| a["status"] == "rejected"), "{listed}");
    let wrong = json!({"secret": "not-the-secret", "symbol": "MNQ", "action": "buy", "quantity": 1});
    let r = http.post(format!("http://{}/webhook", relay.addr)).json(&wrong).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let (_, status) = get(&http, &relay.addr, "/status").await;
    assert_eq!((status["role"].as_str(), status["executor"]["backlog"].as_u64()), (Some("relay"), Some(0)), "{status}");
    assert!(status["executor"]["since"].is_string(), "{status}");
    // The first ping goes out on connect: its round trip shows.
    let started = Instant::now();
    while !get(&http, &relay.addr, "/status").await.1["executor"]["rtt_ms"].is_number() {
        assert!(started.elapsed() < Duration::from_secs(15), "no round-trip time in /status");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The relay's dashboard (DASHBOARD_PASSWORD): after login, the executor link and the relayed alert's row.
    let page = relay_dashboard(&relay, "relay-dash-pw").await;
    assert!(page.contains(r#"data-alert-id="placed-1""#) && page.contains("status placed"), "{page}");
    assert!(page.contains("executor-panel") && page.contains(">connected<"), "{page}");
    assert!(!page.contains(TOKEN) && !page.contains(SECRET), "no token or secret in the page");
    assert_no_token(&[&relay, &executor]);
}

/// Logs in to the relay's dashboard with `password` and returns its page's HTML.
async fn relay_dashboard(relay: &Proc, password: &str) -> String {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let login = http
        .post(format!("http://{}/login", relay.addr))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("password={password}"))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status().as_u16(), 303, "login");
    let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let page = http.get(format!("http://{}/", relay.addr)).header("cookie", cookie).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    page.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn executor_stopped_three_alerts_restarted_within_10s_all_executed_once_in_order() {
    let (sim, http) = (sim().await, reqwest::Client::new());
    let relay = start_relay(&journal("restart-relay"), 0, 300);
    let exec_db = journal("restart-exec");
    let mut executor = start_executor(&sim, &relay, &exec_db, TOKEN, 60);
    wait_connected(&http, &relay, true, Duration::from_secs(30)).await;
    executor.stop();
    wait_connected(&http, &relay, false, Duration::from_secs(10)).await;
    assert_eq!(get(&http, &relay.addr, "/ready").await.0, 503, "an outage is visible");
    let stopped = Instant::now();
    let ids: Vec<String> = (1..=3).map(|i| format!("away-{i}")).collect();
    for id in &ids {
        let (code, answer) = send(&http, &relay, id).await;
        assert_eq!((code, answer["status"].as_str()), (202, Some("pending")), "{answer}");
        assert_eq!(answer["message"], "relayed: waiting for the executor");
    }
    let (_, status) = get(&http, &relay.addr, "/status").await;
    assert_eq!(status["executor"]["backlog"], 3, "{status}");
    assert!(sim.orders().is_empty(), "nothing executed while the executor is away");
    let executor = start_executor(&sim, &relay, &exec_db, TOKEN, 60);
    assert!(stopped.elapsed() < Duration::from_secs(10), "restarted within 10 s");
    for id in &ids {
        let row = wait_final(&http, &relay.addr, id, Duration::from_secs(30)).await;
        assert_eq!(row["status"], "placed", "{row}");
    }
    assert_once_each(&sim, &ids);
    assert_eq!(placed(&sim), ids, "in the order they were sent");
    assert_no_token(&[&relay, &executor]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn executor_away_longer_than_max_alert_age_expires_them_nothing_sent_both_journals_agree() {
    let (sim, http) = (sim().await, reqwest::Client::new());
    let relay = start_relay(&journal("expired-relay"), 0, 300);
    let exec_db = journal("expired-exec");
    let mut executor = start_executor(&sim, &relay, &exec_db, TOKEN, 2);
    wait_connected(&http, &relay, true, Duration::from_secs(30)).await;
    executor.stop();
    wait_connected(&http, &relay, false, Duration::from_secs(10)).await;
    let ids = ["old-1", "old-2"];
    for id in ids {
        assert_eq!(send(&http, &relay, id).await.0, 202);
    }
    // The alerts must be older than MAX_ALERT_AGE_SECS = 2 when the executor sees them: wait out that age.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let executor = start_executor(&sim, &relay, &exec_db, TOKEN, 2);
    for id in ids {
        let at_relay = wait_final(&http, &relay.addr, id, Duration::from_secs(30)).await;
        let at_executor = wait_final(&http, &executor.addr, id, Duration::from_secs(5)).await;
        assert_eq!((at_relay["status"].as_str(), at_executor["status"].as_str()), (Some("expired"), Some("expired")));
        assert_eq!(at_relay["error"], at_executor["error"], "both journals say the same");
        assert!(at_executor["sent_at"].is_null(), "nothing sent: {at_executor}");
    }
    assert!(sim.orders().is_empty(), "nothing reached the sim");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn relay_restarted_while_the_executor_is_connected_nothing_lost_or_doubled() {
    let (sim, http) = (sim().await, reqwest::Client::new());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let relay_db = journal("bounce-relay");
    let mut relay = start_relay(&relay_db, port, 1);
    let executor = start_executor(&sim, &relay, &journal("bounce-exec"), TOKEN, 60);
    wait_connected(&http, &relay, true, Duration::from_secs(30)).await;
    let mut ids = Vec::new();
    // Answered at once (WEBHOOK_WAIT_MS = 1), then the relay is killed while deliveries, acks and outcomes fly.
    for i in 1..=5 {
        let id = format!("bounce-{i}");
        assert_eq!(send(&http, &relay, &id).await.0, 202);
        ids.push(id);
    }
    relay.kill();
    let relay = start_relay(&relay_db, port, 1);
    wait_connected(&http, &relay, true, Duration::from_secs(30)).await;
    for i in 6..=7 {
        let id = format!("bounce-{i}");
        assert_eq!(send(&http, &relay, &id).await.0, 202);
        ids.push(id);
    }
    for id in &ids {
        let row = wait_final(&http, &relay.addr, id, Duration::from_secs(30)).await;
        assert_eq!(row["status"], "placed", "{row}");
    }
    // A graceful stop (a redeploy: SIGTERM) closes the executor's connection with 1001: it is back at once.
    let mut relay = relay;
    relay.stop();
    let relay = start_relay(&relay_db, port, 1);
    wait_connected(&http, &relay, true, Duration::from_secs(5)).await;
    assert_eq!(send(&http, &relay, "bounce-8").await.0, 202);
    ids.push("bounce-8".to_owned());
    assert_eq!(wait_final(&http, &relay.addr, "bounce-8", Duration::from_secs(30)).await["status"], "placed");
    assert_once_each(&sim, &ids);
    assert_eq!(placed(&sim), ids, "in order, none lost, none doubled");
    assert!(executor.log().contains("the relay is stopping"), "{}", executor.log());
    assert_no_token(&[&relay, &executor]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_refuses_broker_credentials_and_never_logs_the_executor_token() {
    for credential in ["PROJECT_X_API_KEY", "JWT_TOKEN"] {
        let mut env = relay_env(&journal("creds"), 0, 300);
        env.push((credential, "SOME-BROKER-CREDENTIAL".to_owned()));
        let out = Command::new(env!("CARGO_BIN_EXE_pxrelay"))
            .arg("relay")
            .env_clear()
            .current_dir(env!("CARGO_TARGET_TMPDIR"))
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{stderr}");
        assert!(stderr.contains(credential) && !stderr.contains("SOME-BROKER-CREDENTIAL"), "{stderr}");
    }
    let mut short = relay_env(&journal("short"), 0, 300);
    short.retain(|(k, _)| *k != "EXECUTOR_TOKEN");
    short.push(("EXECUTOR_TOKEN", "short-TOKEN".to_owned()));
    let out = Command::new(env!("CARGO_BIN_EXE_pxrelay"))
        .arg("relay")
        .env_clear()
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .envs(short.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(stderr.contains("EXECUTOR_TOKEN is too short") && !stderr.contains("short-TOKEN"), "{stderr}");
    // A running relay: its environment holds no broker credential (read from /proc), and its log never the token.
    let (sim, http) = (sim().await, reqwest::Client::new());
    let relay = start_relay(&journal("env-relay"), 0, 2500);
    let environ = std::fs::read(format!("/proc/{}/environ", relay.pid)).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    for name in ["PROJECT_X_API_KEY", "JWT_TOKEN", "PROJECT_X_USERNAME"] {
        assert!(
            !environ.split('\0').any(|kv| kv.starts_with(&format!("{name}="))),
            "{name} in the relay's environment"
        );
    }
    let executor = start_executor(&sim, &relay, &journal("env-exec"), TOKEN, 60);
    wait_connected(&http, &relay, true, Duration::from_secs(30)).await;
    assert_eq!(send(&http, &relay, "env-1").await.1["status"], "placed");
    assert_no_token(&[&relay, &executor]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_executor_token_is_refused_counted_and_logged_without_the_token() {
    let (sim, http) = (sim().await, reqwest::Client::new());
    let relay = start_relay(&journal("wrong-relay"), 0, 300);
    const WRONG: &str = "WRONG-executor-token-0123456789";
    let executor = start_executor(&sim, &relay, &journal("wrong-exec"), WRONG, 60);
    let started = Instant::now();
    let refused = loop {
        let metrics = http.get(format!("http://{}/metrics", relay.addr)).send().await.unwrap().text().await.unwrap();
        let refused = metrics
            .lines()
            .find_map(|l| l.strip_prefix("pxrelay_executor_refusals_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or_default();
        if refused >= 2.0 && relay.log().contains("executor connection refused") {
            break refused;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "never refused twice: {metrics}\n{}", relay.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (_, status) = get(&http, &relay.addr, "/status").await;
    assert_eq!(status["executor"]["connected"], false, "{status}");
    assert!(status["executor"]["refused"].as_u64().unwrap() >= refused as u64, "{status}");
    assert_eq!(get(&http, &relay.addr, "/ready").await.0, 503);
    let line = relay.lines.lock().unwrap().iter().find(|l| l.contains("executor connection refused")).cloned().unwrap();
    assert!(line.contains("wrong EXECUTOR_TOKEN"), "{line}");
    for p in [&relay, &executor] {
        assert!(!p.log().contains(WRONG) && !p.log().contains(TOKEN), "a token in the log of {}", p.pid);
    }
    assert!(executor.log().contains("401"), "the executor says why: {}", executor.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_executor_with_the_right_token_replaces_the_first_which_is_told_why() {
    let (sim, http) = (sim().await, reqwest::Client::new());
    let relay = start_relay(&journal("second-relay"), 0, 2500);
    let first = start_executor(&sim, &relay, &journal("second-a"), TOKEN, 60);
    wait_connected(&http, &relay, true, Duration::from_secs(30)).await;
    let second = start_executor(&sim, &relay, &journal("second-b"), TOKEN, 60);
    let started = Instant::now();
    while !(relay.log().contains("it replaces the first")
        && first.log().contains("another executor with the same EXECUTOR_TOKEN"))
    {
        assert!(started.elapsed() < Duration::from_secs(30), "no replacement:\n{}\n{}", relay.log(), first.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The second one is the one connected now (the first waits the longest backoff before trying again).
    assert_eq!(send(&http, &relay, "second-1").await.1["status"], "placed");
    let at_second = wait_final(&http, &second.addr, "second-1", Duration::from_secs(5)).await;
    assert_eq!(at_second["status"], "placed");
    assert_eq!(get(&http, &first.addr, "/alerts/second-1").await.0, 404, "the replaced executor never saw it");
    assert_no_token(&[&relay, &first, &second]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_executor_for_notify_outage_secs_sends_executor_down_then_its_recovery() {
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let kept = received.clone();
    let hook = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let kept = kept.clone();
            async move { kept.lock().unwrap().push(body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, hook).await.unwrap() });
    let (sim, http) = (sim().await, reqwest::Client::new());
    let mut env = relay_env(&journal("notify-relay"), 0, 300);
    env.push(("NOTIFY_URLS", format!("http://{hook_addr}/hook")));
    env.push(("NOTIFY_OUTAGE_SECS", "1".to_owned()));
    let relay = Proc::start(&["relay"], &env);
    let states = || -> Vec<String> {
        let seen = received.lock().unwrap();
        seen.iter().filter(|n| n["event"] == "executor_down").map(|n| n["state"].as_str().unwrap().to_owned()).collect()
    };
    let started = Instant::now();
    while states().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no executor_down: {:?}\n{}",
            received.lock().unwrap(),
            relay.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(states(), ["down"]);
    let executor = start_executor(&sim, &relay, &journal("notify-exec"), TOKEN, 60);
    wait_connected(&http, &relay, true, Duration::from_secs(30)).await;
    while states().len() < 2 {
        assert!(started.elapsed() < Duration::from_secs(40), "no recovery: {:?}", received.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(states(), ["down", "recovered"]);
    assert_no_token(&[&relay, &executor]);
}

/// The simulator's MNQ contract and tick size.
const MNQ: &str = "CON.F.US.MNQ.Z25";
const TICK: &str = "0.25";

fn dec(v: &Value) -> rust_decimal::Decimal {
    v.to_string().trim_matches('"').parse().unwrap_or_else(|_| panic!("a decimal: {v}"))
}

/// What the relay must show as the executor does: the timeline after each journal's own `received`/`journaled`,
/// the fills and what they sum up to, and the execution details.
fn executed(row: &Value) -> Value {
    let events: Vec<&Value> = row["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] != "received" && e["event"] != "journaled")
        .collect();
    json!({
        "events": events,
        "fills": row["fills"],
        "fill_price": row["fill_price"],
        "slippage_ticks": row["slippage_ticks"],
        "realized_pnl": row["realized_pnl"],
        "reference_price": row["reference_price"],
        "position_source": row["position_source"],
    })
}

/// Polls the executor's `/alerts/{id}` until `check` holds, then the relay's until it shows the same
/// [`executed`] part (each within `within`); returns the executor's row.
async fn same_at_relay(
    http: &reqwest::Client,
    (relay, executor): (&Proc, &Proc),
    id: &str,
    within: Duration,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    let at_executor = loop {
        let (_, row) = get(http, &executor.addr, &format!("/alerts/{id}")).await;
        if row.is_object() && check(&row) {
            break row;
        }
        assert!(started.elapsed() < within, "{id} at the executor: {row}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let started = Instant::now();
    loop {
        let (_, row) = get(http, &relay.addr, &format!("/alerts/{id}")).await;
        if row.is_object() && executed(&row) == executed(&at_executor) {
            let names: Vec<&str> =
                row["timeline"].as_array().unwrap().iter().filter_map(|e| e["event"].as_str()).collect();
            assert_eq!(names[..2], ["received", "journaled"], "the relay's own events first: {row}");
            return at_executor;
        }
        assert!(
            started.elapsed() < within,
            "{id}: the relay never showed the executor's execution\nrelay: {}\nexecutor: {}",
            executed(&row),
            executed(&at_executor)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_executors_fills_and_timeline_show_on_the_relay_and_a_target_filled_later_too() {
    let (sim, http) = (sim().await, reqwest::Client::new());
    let relay = start_relay(&journal("fills-relay"), 0, 2500);
    let quotes = [("QUOTE_SYMBOLS", "MNQ".to_owned())];
    let executor = start_executor_with(&sim, &relay, &journal("fills-exec"), TOKEN, 60, &quotes);
    wait_connected(&http, &relay, true, Duration::from_secs(30)).await;
    // The executor's book is live and it has seen the touch (its reference for the slippage).
    let (price, tick): (rust_decimal::Decimal, rust_decimal::Decimal) =
        ("21000".parse().unwrap(), TICK.parse().unwrap());
    let started = Instant::now();
    loop {
        sim.set_price(MNQ, price);
        let (_, status) = get(&http, &executor.addr, "/status").await;
        let (_, quote) = get(&http, &executor.addr, "/quote/MNQ").await;
        if status["accounts"][0]["live"] == true && quote["source"] == "signalr" && quote["ask"] == json!(price + tick)
        {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "book live and touch streamed: {status} {quote}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let body = json!({"secret": SECRET, "symbol": "MNQ", "action": "buy", "quantity": 1, "id": "fill-1",
                      "stop_loss_ticks": 40, "take_profit_ticks": 80});
    let r = http.post(format!("http://{}/webhook", relay.addr)).json(&body).send().await.unwrap();
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["status"], "placed", "{answer}");
    // The entry's fill and both legs, at the executor, then the same at the relay within a few seconds.
    let pair = (&relay, &executor);
    let row = same_at_relay(&http, pair, "fill-1", Duration::from_secs(5), |r| {
        let legs = r["timeline"].as_array().unwrap().iter().filter(|e| e["event"] == "legs").count();
        r["fills"].as_array().is_some_and(|f| f.len() == 1) && legs == 2
    })
    .await;
    let trade = sim.trades().into_iter().find(|t| json!(t.order_id) == row["fills"][0]["order_id"]).unwrap();
    assert_eq!((dec(&row["fills"][0]["price"]), row["fills"][0]["size"].as_i64()), (trade.price, Some(1)), "{row}");
    assert_eq!(dec(&row["fill_price"]), trade.price, "{row}");
    // A buy at market: the reference is the ask (21000.25), the sim fills at 21000: one tick better.
    assert_eq!((dec(&row["reference_price"]), &row["slippage_ticks"]), (price + tick, &json!(-1.0)), "{row}");
    assert_eq!(row["position_source"], "book", "{row}");
    // Later, the target fills: the entry's `closed` event and realized P&L reach the relay too.
    let target = row["timeline"].as_array().unwrap().iter().find(|e| e["role"] == "target").map(|e| dec(&e["price"]));
    let target = target.unwrap_or_else(|| panic!("a target leg: {row}"));
    sim.move_price_to(MNQ, target + rust_decimal::Decimal::ONE, 4);
    let row = same_at_relay(&http, pair, "fill-1", Duration::from_secs(10), |r| {
        r["timeline"].as_array().unwrap().iter().any(|e| e["event"] == "closed")
    })
    .await;
    let close = sim.trades().into_iter().rev().find(|t| t.profit_and_loss.is_some()).unwrap();
    assert_eq!(dec(&row["realized_pnl"]), close.profit_and_loss.unwrap(), "{row}");
    let (_, listed) = get(&http, &relay.addr, "/alerts").await;
    let listed = listed["alerts"].as_array().unwrap().iter().find(|a| a["alert_id"] == "fill-1").cloned().unwrap();
    assert_eq!(executed(&listed), executed(&row), "the relay's list shows it too");
    assert_no_token(&[&relay, &executor]);
}
