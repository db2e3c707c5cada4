//! What the multi-process tests share: a `pxrelay serve` process of the real binary on a given journal and simulator,
//! the simulator, fresh Postgres databases on the test process's `pgtest` server, and the order log by alert id.
#![allow(dead_code, unreachable_pub, reason = "each test file uses part of it")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use projectx_sim::{Sim, SimConfig, SimHandle};
use serde_json::{Value, json};
use tokio::time::Instant;

pub const SECRET: &str = "WHSECRET-leader-5c2e";
/// Long enough for a standby's answer to come back with the leader's outcome on a loaded 2-core machine.
pub const WAIT_MS: u64 = 2500;

/// One `pxrelay serve` process.
pub struct Instance {
    child: Child,
    /// Where it listens.
    pub addr: String,
    /// Its process id.
    pub pid: u32,
    /// Its log lines so far (JSON).
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl Instance {
    /// Starts the binary on `database` against `sim` and waits until it listens.
    pub fn start(sim: &SimHandle, database: &str) -> Instance {
        Self::start_with(sim, database, &[])
    }

    /// [`Self::start`] with more arguments after `serve` (e.g. `--sim`).
    pub fn start_with(sim: &SimHandle, database: &str, args: &[&str]) -> Instance {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pxrelay"))
            .arg("serve")
            .args(args)
            .env_clear()
            .current_dir(env!("CARGO_TARGET_TMPDIR"))
            .envs([
                ("HOST", "127.0.0.1"),
                ("PORT", "0"),
                ("LOG_FORMAT", "json"),
                ("RUST_LOG", "info"),
                ("MARKET_HOURS", "always"),
                ("MAX_CONTRACTS", "1000"),
                // The simulator's rate limit is off: 200 alerts in seconds would otherwise wait for the gateway's
                // 200-per-minute budget (correctly: but this test is about leadership, not the budget).
                ("RATE_LIMIT_REQUESTS", "1000000"),
                ("WEBHOOK_SECRET", SECRET),
                ("DATABASE_URL", database),
                ("PROJECT_X_API_URL", &sim.base_url()),
                ("PROJECT_X_MARKET_HUB_URL", &sim.market_hub_url()),
                ("PROJECT_X_USER_HUB_URL", &sim.user_hub_url()),
                ("PROJECT_X_USERNAME", sim.username()),
                ("PROJECT_X_API_KEY", sim.api_key()),
            ])
            .env("WEBHOOK_WAIT_MS", WAIT_MS.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let pid = child.id();
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let kept = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let parsed: Value = serde_json::from_str(&line).unwrap_or_default();
                if parsed["message"] == "pxrelay listening" {
                    let _ = tx.send(parsed["addr"].as_str().unwrap_or_default().to_owned());
                }
                kept.lock().unwrap().push(line);
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(30)).expect("pxrelay listens");
        Instance { child, addr, pid, lines }
    }

    pub async fn status(&self, http: &reqwest::Client) -> Value {
        match http.get(format!("http://{}/status", self.addr)).send().await {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => Value::Null,
        }
    }

    /// Polls `/status` until its `role` is `role`; returns the status and how long it took.
    pub async fn wait_role(&self, http: &reqwest::Client, role: &str, within: Duration) -> (Value, Duration) {
        let started = Instant::now();
        loop {
            let status = self.status(http).await;
            if status["role"] == role && (role != "leader" || status["startup"]["ready"] == true) {
                return (status, started.elapsed());
            }
            assert!(started.elapsed() < within, "{} never became {role} within {within:?}: {status}", self.addr);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Polls `/status` until `role` shows (the warm-up may still run).
    pub async fn wait_role_only(&self, http: &reqwest::Client, role: &str, within: Duration) -> Duration {
        let started = Instant::now();
        while self.status(http).await["role"] != role {
            assert!(started.elapsed() < within, "{} never became {role} within {within:?}", self.addr);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        started.elapsed()
    }

    pub async fn alert(&self, http: &reqwest::Client, id: &str) -> Result<(u16, Value, Duration), reqwest::Error> {
        let body = json!({"secret": SECRET, "symbol": "MNQ", "action": "buy", "quantity": 1, "id": id});
        let started = Instant::now();
        let response = http.post(format!("http://{}/webhook", self.addr)).json(&body).send().await?;
        let code = response.status().as_u16();
        Ok((code, response.json().await.unwrap_or_default(), started.elapsed()))
    }

    pub fn signal(&self, signal: &str) {
        assert!(Command::new("kill").args([signal, &self.pid.to_string()]).status().unwrap().success());
    }

    pub fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "pxrelay {} did not exit within {within:?}", self.pid);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn logged(&self, message: &str) -> bool {
        self.lines.lock().unwrap().iter().any(|l| l.contains(message))
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub async fn sim() -> SimHandle {
    projectx::tls::install_crypto_provider();
    let sim = Sim::start(SimConfig { general_limit: None, ..SimConfig::default() }).await.unwrap();
    sim.set_quotes_per_second(0);
    sim
}

pub fn database(name: &str) -> String {
    pgtest::shared().fresh_database(name).unwrap()
}

/// The orders at the sim, by the alert id in their `customTag` (`pxr1-<id>`), in the order the sim received them.
pub fn placed(sim: &SimHandle) -> Vec<String> {
    let mut orders = sim.orders();
    orders.sort_by_key(|o| o.id);
    orders.iter().filter_map(|o| o.custom_tag.as_deref()?.strip_prefix("pxr1-").map(str::to_owned)).collect()
}

pub fn assert_once_each(sim: &SimHandle, ids: &[String]) {
    let placed = placed(sim);
    for id in ids {
        let n = placed.iter().filter(|p| *p == id).count();
        assert_eq!(n, 1, "alert {id} has {n} orders at the sim");
    }
    assert_eq!(placed.len(), ids.len(), "no order without an accepted alert: {placed:?}");
}
