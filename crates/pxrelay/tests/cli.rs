//! The real `pxrelay` binary: exit codes and messages at startup, paper mode with no credentials, a clean stop on
//! SIGTERM, the `token` command, and no secret anywhere in the output of a full run.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use tokio::time::Instant;

use projectx_sim::{Sim, SimConfig, SimHandle};
use pxrelay::journal::{Journal, JournalError};
use pxrelay::state::Mode;

const API_KEY: &str = "APIKEY-sentinel-7f3a9c";
const WEBHOOK_SECRET: &str = "WHSECRET-sentinel-2d81";

fn pxrelay() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pxrelay"));
    // A clean environment: nothing from the developer's shell or a .env file can change the outcome.
    cmd.env_clear().current_dir(env!("CARGO_TARGET_TMPDIR")).env("HOST", "127.0.0.1").env("PORT", "0");
    // Live mode against the simulator, whose market never closes: no CME hours (a weekend run would refuse every
    // entry; tests/hours.rs covers them on a test clock).
    cmd.env("MARKET_HOURS", "always");
    // Each run its own journal: two relays must never share one (the second would refuse to start).
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let journal = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{}-{n}", std::process::id()));
    cmd.env("DATABASE_URL", journal.join("journal.db"));
    cmd
}

async fn sim() -> SimHandle {
    Sim::start(SimConfig { api_key: API_KEY.into(), ..SimConfig::default() }).await.unwrap()
}

/// Reads JSON log lines from the child's stdout until it logged both "pxrelay listening" and "ready: webhooks are
/// accepted" (the warm-up, which needs the gateway, runs after the listener is bound); returns the address, the
/// lines so far and a receiver of the lines that follow.
fn wait_ready(child: &mut Child) -> (String, Vec<String>, Receiver<String>) {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let (mut addr, mut ready) = (None, false);
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            let parsed: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            lines.push(line);
            if parsed["message"] == "pxrelay listening" {
                addr = Some(parsed["addr"].as_str().unwrap().to_owned());
            }
            ready |= parsed["message"] == "ready: webhooks are accepted";
            if let (Some(addr), true) = (&addr, ready) {
                return (addr.clone(), lines, rx);
            }
        }
    }
    panic!("pxrelay did not start listening and finish its warm-up: {lines:#?}");
}

/// Waits for a line whose `message` is `message` and returns it.
fn wait_line(rx: &Receiver<String>, message: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            let parsed: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if parsed["message"] == message {
                return parsed;
            }
        }
    }
    panic!("no `{message}` line");
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap().success();
    assert!(ok);
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "pxrelay did not exit within {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_token_and_no_credentials_exit_non_zero_within_a_second_naming_the_variables() {
    let sim = sim().await;
    let started = Instant::now();
    let out = pxrelay()
        .args(["serve"])
        .env("PROJECT_X_API_URL", sim.base_url())
        .env("JWT_TOKEN", sim.issue_expired_token())
        .output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for var in ["PROJECT_X_USERNAME", "PROJECT_X_API_KEY", "JWT_TOKEN"] {
        assert!(stderr.contains(var), "{var} not named in: {stderr}");
    }
    assert_eq!(sim.counters().auth_calls(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_credentials_exit_non_zero_saying_only_why() {
    let sim = sim().await;
    let out = pxrelay()
        .args(["serve"])
        .env("PROJECT_X_API_URL", sim.base_url())
        .env("PROJECT_X_USERNAME", sim.username())
        .env("PROJECT_X_API_KEY", "wrong-key-sentinel")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(all.contains("refused the API-key login") && all.contains("PROJECT_X_API_KEY"), "{all}");
    assert!(!all.contains("retry_in_ms"), "an exiting process promises no retry: {all}");
    assert!(!all.contains("wrong-key-sentinel"), "{all}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_jwt_token_is_reported_as_not_a_jwt() {
    let out = pxrelay().args(["serve"]).env("JWT_TOKEN", "garbage-sentinel").output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("JWT_TOKEN is set but is not a JWT"), "{stderr}");
    assert!(!stderr.contains("garbage-sentinel"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_configuration_is_reported_all_at_once_before_binding() {
    let out = pxrelay().args(["serve"]).env("PORT", "http").env("LOG_FORMAT", "yaml").output().unwrap();
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("PORT") && stderr.contains("LOG_FORMAT"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_sim_runs_with_no_credentials_and_stops_cleanly_on_sigterm() {
    let mut child = pxrelay()
        .args(["serve", "--sim"])
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (addr, lines, _rest) = wait_ready(&mut child);
    assert!(lines.iter().any(|l| l.contains("SIM mode")), "the mode is visible in the logs: {lines:#?}");
    projectx::tls::install_crypto_provider();
    let status: serde_json::Value = reqwest::get(format!("http://{addr}/status")).await.unwrap().json().await.unwrap();
    assert_eq!(status["mode"], "sim");
    assert_eq!(status["token"]["source"], "login");
    sigterm(&child);
    assert!(wait_exit(&mut child, Duration::from_secs(3)).success());
}

#[tokio::test(flavor = "multi_thread")]
async fn token_command_prints_a_jwt_token_line_and_its_expiry() {
    let sim = sim().await;
    let out = pxrelay()
        .arg("token")
        .env("PROJECT_X_API_URL", sim.base_url())
        .env("PROJECT_X_USERNAME", sim.username())
        .env("PROJECT_X_API_KEY", API_KEY)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    let token = lines.next().unwrap().strip_prefix("JWT_TOKEN=").expect("a JWT_TOKEN= line");
    assert_eq!(token.split('.').count(), 3, "a JWT");
    assert!(lines.next().unwrap().starts_with("# expires "));
    assert_eq!(sim.counters().logins, 1);
    assert!(!String::from_utf8_lossy(&out.stderr).contains(token), "the token goes to stdout only");
}

/// MNQ's front month on a date (UTC), from the simulator's month rules (unit-tested there against hand-computed
/// calendars).
fn mnq_front_month(date: chrono::NaiveDate) -> String {
    projectx_sim::contracts_on(date).into_iter().find(|c| c.symbol_id == "F.US.MNQ" && c.active).unwrap().id
}

#[tokio::test(flavor = "multi_thread")]
async fn quote_command_prints_the_quote_as_json_in_sim_mode() {
    let out = pxrelay().args(["quote", "CME_MINI:MNQ1!", "--sim"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let quote: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(quote["contract_id"].as_str().unwrap().starts_with("CON.F.US.MNQ."), "{quote}");
    assert!(quote["source"] == "signalr" || quote["source"] == "bars", "{quote}");
    assert!(quote["last"].is_number(), "{quote}");
    let out = pxrelay().args(["quote", "NOPE", "--sim"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NOPE"));
}

/// Paper mode looks like today's market: the simulator lists the front months of the current date, not the fixed
/// December 2025 set the other tests use.
#[tokio::test(flavor = "multi_thread")]
async fn quote_sim_uses_the_front_month_of_the_current_date() {
    let before = chrono::Utc::now().date_naive();
    let out = pxrelay().args(["quote", "MNQ", "--sim"]).output().unwrap();
    let after = chrono::Utc::now().date_naive();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let quote: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Only a run across midnight UTC sees two dates; either day's front month is right then.
    let expected = [mnq_front_month(before), mnq_front_month(after)];
    assert!(expected.iter().any(|id| quote["contract_id"] == id.as_str()), "{quote} vs {expected:?} ({before})");
    assert!(quote["last"].is_number(), "{quote}");
}

/// A full run at debug level — startup from an env token, a background refresh through validate, status,
/// shutdown — never prints the API key or any token (every JWT starts with `eyJ`).
#[tokio::test(flavor = "multi_thread")]
async fn a_full_run_at_debug_level_logs_no_api_key_and_no_token() {
    let sim = sim().await;
    // 8 s left with a 5 s margin: the background refresher validates right after startup.
    let seed = sim.issue_token(Duration::from_secs(8));
    let mut child = pxrelay()
        .arg("serve")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "debug")
        .env("PROJECT_X_API_URL", sim.base_url())
        .env("PROJECT_X_USERNAME", sim.username())
        .env("PROJECT_X_API_KEY", API_KEY)
        .env("JWT_TOKEN", &seed)
        .env("TOKEN_REFRESH_MARGIN_SECS", "5")
        .env("WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("PROJECT_X_MARKET_HUB_URL", sim.market_hub_url())
        .env("QUOTE_SYMBOLS", "MNQ")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (addr, mut lines, rest) = wait_ready(&mut child);
    projectx::tls::install_crypto_provider();
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.counters().validates == 0 {
        assert!(Instant::now() < deadline, "no background refresh happened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = reqwest::get(format!("http://{addr}/status")).await.unwrap().text().await.unwrap();
    assert!(status.contains(r#""source":"validate""#), "{status}");
    // Alerts with the secret in the body, in the path, and a wrong one: none of them may reach the logs.
    let http = reqwest::Client::new();
    let body = format!(r#"{{"secret":"{WEBHOOK_SECRET}","symbol":"MNQ","action":"buy","id":"log-1"}}"#);
    assert_eq!(http.post(format!("http://{addr}/webhook")).body(body).send().await.unwrap().status(), 200);
    let path = format!("http://{addr}/webhook/{WEBHOOK_SECRET}");
    assert_eq!(
        http.post(path).body(r#"{"symbol":"MNQ","action":"exit","id":"log-2"}"#).send().await.unwrap().status(),
        200
    );
    let wrong = r#"{"secret":"WRONG-sentinel-41","symbol":"MNQ","action":"buy"}"#;
    assert_eq!(http.post(format!("http://{addr}/webhook")).body(wrong).send().await.unwrap().status(), 401);
    sigterm(&child);
    assert!(wait_exit(&mut child, Duration::from_secs(3)).success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    lines.extend(rest.try_iter());
    lines.push(stderr);
    lines.push(status);
    let all = lines.join("\n");
    assert!(all.contains("seeded session token") && all.contains("session token refreshed"), "{all}");
    assert!(!all.contains(API_KEY), "API key leaked");
    assert!(!all.contains(&seed), "seed token leaked");
    assert!(all.contains("alert handled"), "the alerts were logged: {all}");
    let handled = all.lines().find(|l| l.contains("alert handled") && l.contains("log-1")).unwrap();
    assert!(
        handled.contains("order placed: 1 × Micro E-mini Nasdaq-100: December 2025 (CON.F.US.MNQ.Z25, $0.50 per tick)"),
        "the log names the contract and its tick value: {handled}"
    );
    assert!(!all.contains(WEBHOOK_SECRET), "webhook secret leaked");
    assert!(!all.contains("WRONG-sentinel-41"), "an offered secret leaked");
    assert!(!all.contains("eyJ"), "a token leaked");
}

/// SIGTERM while alerts are queued: the relay stops taking new ones, finishes those it accepted, and exits 0
/// within the grace period; every accepted alert has a final state in the journal.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_with_alerts_in_flight_finishes_every_accepted_alert_and_exits_zero() {
    let sim = sim().await;
    sim.set_quotes_per_second(0);
    sim.set_latency(Duration::from_millis(80));
    let journal = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("sigterm-{}", std::process::id()))
        .join("journal.db");
    let _ = std::fs::remove_dir_all(journal.parent().unwrap());
    let mut child = pxrelay()
        .arg("serve")
        .env("LOG_FORMAT", "json")
        .env("PROJECT_X_API_URL", sim.base_url())
        .env("PROJECT_X_MARKET_HUB_URL", sim.market_hub_url())
        .env("PROJECT_X_USERNAME", sim.username())
        .env("PROJECT_X_API_KEY", API_KEY)
        .env("WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("WEBHOOK_WAIT_MS", "400")
        .env("SHUTDOWN_GRACE_SECS", "3")
        .env("DATABASE_URL", &journal)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (addr, _, _rest) = wait_ready(&mut child);
    projectx::tls::install_crypto_provider();
    let http = reqwest::Client::new();
    // Resolve the symbol and the account once, so the 400 ms answer budget of the alerts below is not spent on
    // cold caches (under a loaded CI machine that could answer 503 gateway_slow, which is not what this tests).
    let warm = http.post(format!("http://{addr}/webhook/{WEBHOOK_SECRET}")).body(r#"{"symbol":"MNQ","action":"exit"}"#);
    assert_eq!(warm.send().await.unwrap().status().as_u16(), 200);
    let sends: Vec<_> = (0..6)
        .map(|i| {
            let (http, url) = (http.clone(), format!("http://{addr}/webhook/{WEBHOOK_SECRET}"));
            let body = format!(r#"{{"symbol":"MNQ","action":"buy","id":"inflight-{i}"}}"#);
            tokio::spawn(async move { http.post(url).body(body).send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    let mut accepted = 0;
    for s in sends {
        let code = s.await.unwrap().unwrap();
        assert!(code == 200 || code == 202, "{code}");
        accepted += 1;
    }
    let stopping = Instant::now();
    sigterm(&child);
    assert!(wait_exit(&mut child, Duration::from_secs(5)).success(), "exit code 0");
    assert!(stopping.elapsed() < Duration::from_secs(3), "stopped within the grace period: {:?}", stopping.elapsed());
    let journal = pxrelay::journal::Journal::open(&journal, Duration::from_secs(3600), Mode::Live).unwrap();
    let rows = journal.list(100).await.unwrap();
    assert_eq!(rows.len(), accepted + 1, "the six and the warm-up");
    for row in &rows {
        assert_ne!(row.status, pxrelay::outcome::AlertStatus::Received, "{} has no final state", row.alert_id);
    }
    let placed = rows.iter().filter(|r| r.status == pxrelay::outcome::AlertStatus::Placed).count();
    assert_eq!(placed, accepted, "{rows:?}");
    assert_eq!(sim.orders().len(), placed, "one order per placed alert");
}

/// A refused alert is logged at `warn` with its reason (a guard's or a bad field's), never with the secret.
#[tokio::test(flavor = "multi_thread")]
async fn refusals_are_logged_at_warn_with_their_reason() {
    let mut child = pxrelay()
        .args(["serve", "--sim"])
        .env("LOG_FORMAT", "json")
        .env("WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("MAX_CONTRACTS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (addr, _, rest) = wait_ready(&mut child);
    projectx::tls::install_crypto_provider();
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/webhook/{WEBHOOK_SECRET}");
    for body in [r#"{"symbol":"MNQ","action":"buy","quantity":2}"#, r#"{"symbol":"MNQ","action":"buy","stoploss":40}"#]
    {
        http.post(&url).body(body).send().await.unwrap();
    }
    sigterm(&child);
    assert!(wait_exit(&mut child, Duration::from_secs(5)).success());
    let lines: Vec<serde_json::Value> = rest.try_iter().filter_map(|l| serde_json::from_str(&l).ok()).collect();
    let warned = |message: &str, reason: &str| {
        lines.iter().any(|l| {
            l["level"] == "warn" && l["message"] == message && l["reason"].as_str().is_some_and(|r| r.contains(reason))
        })
    };
    assert!(warned("alert handled", "MAX_CONTRACTS"), "guard refusal at warn with its reason: {lines:#?}");
    assert!(warned("webhook refused", "stoploss"), "bad field at warn with its reason: {lines:#?}");
    assert!(!format!("{lines:?}").contains(WEBHOOK_SECRET), "the secret is never logged");
}

/// A fresh, empty directory under `CARGO_TARGET_TMPDIR` (a working directory or a journal's home).
fn fresh_dir(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Stops `child` with SIGTERM and expects a clean exit.
fn stop(mut child: Child) {
    sigterm(&child);
    assert!(wait_exit(&mut child, Duration::from_secs(3)).success());
}

/// How many alerts the journal at `path` holds (opened as a paper journal).
async fn paper_alerts(path: &std::path::Path) -> u64 {
    Journal::open(path, Duration::from_secs(3600), Mode::Sim).unwrap().count().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_sim_without_database_url_keeps_its_own_journal_in_the_working_directory() {
    let dir = fresh_dir("sim-default-journal");
    let mut child = pxrelay()
        .args(["serve", "--sim"])
        .env_remove("DATABASE_URL")
        .current_dir(&dir)
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (addr, _, _rest) = wait_ready(&mut child);
    projectx::tls::install_crypto_provider();
    let status: serde_json::Value = reqwest::get(format!("http://{addr}/status")).await.unwrap().json().await.unwrap();
    assert_eq!(status["mode"], "sim");
    assert_eq!(status["journal"], "./data/pxrelay-sim.db", "{status}");
    stop(child);
    assert!(dir.join("data/pxrelay-sim.db").is_file(), "the paper journal is in the working directory");
    assert!(!dir.join("data/pxrelay.db").exists(), "the live journal is never created by a paper run");
    assert_eq!(paper_alerts(&dir.join("data/pxrelay-sim.db")).await, 0, "a paper journal");
}

#[tokio::test(flavor = "multi_thread")]
async fn pxrelay_mode_sim_runs_paper_mode_without_the_flag_and_an_invalid_mode_is_a_config_problem() {
    let dir = fresh_dir("pxrelay-mode-sim");
    let journal = dir.join("journal.db");
    let mut child = pxrelay()
        .arg("serve")
        .env("PXRELAY_MODE", "sim")
        .env("DATABASE_URL", &journal)
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (addr, lines, _rest) = wait_ready(&mut child);
    assert!(lines.iter().any(|l| l.contains("SIM mode")), "{lines:#?}");
    projectx::tls::install_crypto_provider();
    let status: serde_json::Value = reqwest::get(format!("http://{addr}/status")).await.unwrap().json().await.unwrap();
    assert_eq!((status["mode"].as_str(), status["token"]["source"].as_str()), (Some("sim"), Some("login")));
    stop(child);
    let err = Journal::open(&journal, Duration::from_secs(60), Mode::Live).unwrap_err();
    assert!(matches!(err, JournalError::WrongMode { journal: Mode::Sim, .. }), "recorded as a paper journal: {err}");

    let out = pxrelay().args(["serve", "--sim"]).env("PXRELAY_MODE", "paper").output().unwrap();
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("PXRELAY_MODE: `paper` is not accepted; use `live` or `sim`"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_sim_reset_empties_the_paper_journal_and_reset_is_refused_in_live_mode() {
    let journal = fresh_dir("sim-reset").join("paper.db");
    let run = |extra: &[&str]| {
        let mut child = pxrelay()
            .args(["serve", "--sim"])
            .args(extra)
            .env("DATABASE_URL", &journal)
            .env("WEBHOOK_SECRET", WEBHOOK_SECRET)
            .env("LOG_FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (addr, _, rest) = wait_ready(&mut child);
        (child, addr, rest)
    };
    projectx::tls::install_crypto_provider();
    let http = reqwest::Client::new();
    let buy = |addr: String| {
        let http = http.clone();
        async move {
            let body = r#"{"symbol":"MNQ","action":"buy","id":"paper-1"}"#;
            let url = format!("http://{addr}/webhook/{WEBHOOK_SECRET}");
            let answer: serde_json::Value = http.post(url).body(body).send().await.unwrap().json().await.unwrap();
            answer
        }
    };
    let (child, addr, _rest) = run(&[]);
    let first = buy(addr).await;
    assert_eq!((first["status"].as_str(), first["duplicate"].as_bool()), (Some("placed"), Some(false)), "{first}");
    stop(child);
    assert_eq!(paper_alerts(&journal).await, 1, "without --reset the paper journal keeps its alerts");

    let out = pxrelay().args(["serve", "--reset"]).env("DATABASE_URL", &journal).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "--reset without sim mode is refused");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--reset") && stderr.contains("live mode"), "{stderr}");
    assert_eq!(paper_alerts(&journal).await, 1, "a refused --reset touches nothing");

    let (child, addr, _rest) = run(&["--reset"]);
    let alerts: serde_json::Value = http
        .get(format!("http://{addr}/alerts"))
        .bearer_auth(WEBHOOK_SECRET)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(alerts["alerts"], serde_json::json!([]), "--reset emptied the paper journal");
    let again = buy(addr).await;
    assert_eq!((again["status"].as_str(), again["duplicate"].as_bool()), (Some("placed"), Some(false)), "{again}");
    stop(child);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_serve_on_a_paper_journal_exits_non_zero_naming_the_mode_before_contacting_the_gateway() {
    let sim = sim().await;
    let journal = fresh_dir("live-on-paper").join("paper.db");
    drop(Journal::open(&journal, Duration::from_secs(60), Mode::Sim).unwrap());
    let out = pxrelay()
        .arg("serve")
        .env("DATABASE_URL", &journal)
        .env("PROJECT_X_API_URL", sim.base_url())
        .env("PROJECT_X_USERNAME", sim.username())
        .env("PROJECT_X_API_KEY", API_KEY)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("was written in sim mode, and this process runs in live mode"), "{stderr}");
    assert!(stderr.contains("DATABASE_URL") && stderr.contains(journal.to_str().unwrap()), "{stderr}");
    assert_eq!(sim.counters().logins, 0, "nothing reached the gateway");
}

/// SIGTERM while an alert is in flight: the listener stays open while the executor drains, so a webhook sent now
/// (on a new connection) is answered 503 `shutting_down` instead of being refused at the TCP level; nothing is
/// journaled for it, and the alert in flight still finishes before the process exits 0.
#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_after_sigterm_while_an_alert_is_in_flight_gets_503_shutting_down() {
    let sim = sim().await;
    sim.set_quotes_per_second(0);
    let journal = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("sigterm-late-{}", std::process::id()))
        .join("journal.db");
    let _ = std::fs::remove_dir_all(journal.parent().unwrap());
    let mut child = pxrelay()
        .arg("serve")
        .env("LOG_FORMAT", "json")
        .env("PROJECT_X_API_URL", sim.base_url())
        .env("PROJECT_X_MARKET_HUB_URL", sim.market_hub_url())
        .env("PROJECT_X_USERNAME", sim.username())
        .env("PROJECT_X_API_KEY", API_KEY)
        .env("WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("WEBHOOK_WAIT_MS", "300")
        .env("SHUTDOWN_GRACE_SECS", "8")
        .env("DATABASE_URL", &journal)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (addr, _, rest) = wait_ready(&mut child);
    projectx::tls::install_crypto_provider();
    let url = format!("http://{addr}/webhook/{WEBHOOK_SECRET}");
    let send = |id: &'static str| {
        // A new client each time: a new connection, so a closed listener would show as a refused connect.
        let url = url.clone();
        async move {
            let body = format!(r#"{{"symbol":"MNQ","action":"buy","id":"{id}"}}"#);
            let resp = reqwest::Client::new().post(url).body(body).send().await.unwrap();
            (resp.status().as_u16(), resp.json::<serde_json::Value>().await.unwrap())
        }
    };
    // The first alert fills the symbol and account caches, so the next is journaled without waiting on the gateway.
    assert_eq!(send("before-1").await.0, 200);
    sim.set_latency(Duration::from_millis(1000));
    let (code, body) = send("slow-1").await;
    assert_eq!((code, body["status"].as_str()), (202, Some("pending")), "in flight: {body}");
    sigterm(&child);
    wait_line(&rest, "stopping: no new alerts; finishing those in flight");
    let (code, body) = send("late-1").await;
    assert_eq!((code, body["error"].as_str()), (503, Some("shutting_down")), "{body}");
    assert!(wait_exit(&mut child, Duration::from_secs(10)).success(), "exit code 0");
    let journal = pxrelay::journal::Journal::open(&journal, Duration::from_secs(3600), Mode::Live).unwrap();
    let slow = journal.get("slow-1").await.unwrap().expect("the alert in flight is journaled");
    assert_eq!(slow.status, pxrelay::outcome::AlertStatus::Placed, "{slow:?}");
    assert!(journal.get("late-1").await.unwrap().is_none(), "nothing journaled for the refused alert");
    assert_eq!(sim.orders().len(), 2);
}

/// A well-formed symbol the gateway does not list is a configuration problem, found only once the gateway answers
/// (in the warm-up, after the simulator started): exit 78 naming the variable and the symbol, as for any other
/// invalid setting.
#[tokio::test(flavor = "multi_thread")]
async fn a_symbol_the_gateway_does_not_list_exits_78_naming_the_variable() {
    for var in ["ALLOWED_SYMBOLS", "QUOTE_SYMBOLS"] {
        let out =
            pxrelay().args(["serve", "--sim"]).env(var, "MNX").env("WEBHOOK_SECRET", WEBHOOK_SECRET).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{var}: {stderr}");
        assert!(stderr.contains("invalid configuration") && stderr.contains(var) && stderr.contains("MNX"), "{stderr}");
    }
}
