//! The pxrelay binary as a child process on loopback: its own process, so its RSS and start time are its own.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use projectx_sim::SimHandle;

/// The webhook secret every benchmark uses.
pub(crate) const SECRET: &str = "bench-secret";

/// The `pxrelay` binary next to this one (same profile), built first if missing.
pub(crate) fn binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().ok_or_else(|| anyhow::anyhow!("no directory for {}", exe.display()))?;
    let path = dir.join("pxrelay");
    if !path.exists() {
        let release = dir.ends_with("release");
        eprintln!("building pxrelay ({})", if release { "release" } else { "debug" });
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.args(["build", "-p", "pxrelay"]);
        if release {
            cmd.arg("--release");
        }
        anyhow::ensure!(cmd.status()?.success(), "building pxrelay failed");
    }
    Ok(path)
}

/// A running pxrelay.
pub(crate) struct Relay {
    pub(crate) child: Child,
    pub(crate) addr: String,
    _journal: PathBuf,
}

/// Environment pointing pxrelay at `sim`, with the bench's secret, a fresh journal, quiet logs and client rate
/// budgets raised: the simulator has none, and the documented 200 requests / 60 s would make every load test a
/// test of the budget.
pub(crate) fn env(sim: &SimHandle) -> HashMap<String, String> {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let journal = std::env::temp_dir().join(format!("pxrelay-bench-{}-{n}", std::process::id())).join("journal.db");
    [
        ("PROJECT_X_API_URL", sim.base_url()),
        ("PROJECT_X_MARKET_HUB_URL", sim.market_hub_url()),
        ("PROJECT_X_USER_HUB_URL", sim.user_hub_url()),
        ("PROJECT_X_USERNAME", sim.username().to_owned()),
        ("PROJECT_X_API_KEY", sim.api_key().to_owned()),
        ("WEBHOOK_SECRET", SECRET.to_owned()),
        ("HOST", "127.0.0.1".to_owned()),
        ("PORT", "0".to_owned()),
        // A live-mode relay against the simulator, whose market never closes: no CME hours (a weekend run would
        // refuse every entry).
        ("MARKET_HOURS", "always".to_owned()),
        ("LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", "warn,pxrelay::startup=info,pxrelay::warmup=info".to_owned()),
        ("RATE_LIMIT_REQUESTS", "1000000".to_owned()),
        ("HISTORY_RATE_LIMIT_REQUESTS", "1000000".to_owned()),
        ("MAX_CONTRACTS", "1000000".to_owned()),
        ("WEBHOOK_QUEUE_CAPACITY", "100000".to_owned()),
        ("WEBHOOK_WAIT_MS", "2900".to_owned()),
        ("DATABASE_URL", journal.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

impl Relay {
    /// Spawns pxrelay with exactly `env` and waits for its listening line and for its warm-up to finish (webhooks
    /// are refused with 503 `not_ready` until the first token and what follows it are done).
    pub(crate) fn start(binary: &PathBuf, env: &HashMap<String, String>) -> anyhow::Result<Self> {
        let mut child = Command::new(binary)
            .arg("serve")
            .env_clear()
            .envs(env)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let (mut addr, mut ready) = (None, false);
        let addr = loop {
            let Some(line) = lines.next() else { anyhow::bail!("pxrelay exited before it was ready") };
            let v: serde_json::Value = serde_json::from_str(&line?).unwrap_or_default();
            if v["message"] == "pxrelay listening" {
                addr = Some(v["addr"].as_str().unwrap_or_default().to_owned());
            }
            ready |= v["message"] == "ready: webhooks are accepted";
            if let (Some(addr), true) = (&addr, ready) {
                break addr.clone();
            }
        };
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        let journal = PathBuf::from(&env["DATABASE_URL"]);
        Ok(Self { child, addr, _journal: journal })
    }

    /// `http://addr`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Resident set size in KiB (Linux `/proc`).
    pub(crate) fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

/// How long a relay may take to stop after SIGTERM before it is killed: it finishes the jobs already queued, which
/// after a failed figure can be thousands.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = tokio::time::Instant::now() + STOP_GRACE;
        while matches!(self.child.try_wait(), Ok(None)) && tokio::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            eprintln!("pxrelay {} still running {} s after SIGTERM: killed", self.child.id(), STOP_GRACE.as_secs());
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if let Some(dir) = self._journal.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A simulator with no rate limits and no automatic quotes.
pub(crate) async fn sim(cfg: projectx_sim::SimConfig) -> anyhow::Result<SimHandle> {
    let sim =
        projectx_sim::Sim::start(projectx_sim::SimConfig { general_limit: None, history_limit: None, ..cfg }).await?;
    sim.set_quotes_per_second(0);
    Ok(sim)
}

/// A gateway client of its own on the simulator's credentials (the floors' caller), with a budget the benchmark
/// never reaches (the simulator has none).
pub(crate) fn direct_client(sim: &SimHandle) -> anyhow::Result<projectx::Client> {
    let mut cfg = projectx::ClientConfig::new(sim.base_url().parse()?);
    cfg.token.credentials =
        Some(projectx::Credentials { username: sim.username().to_owned(), api_key: sim.api_key().to_owned().into() });
    cfg.general_limit = projectx::RateLimit { requests: 1_000_000, window: std::time::Duration::from_secs(60) };
    Ok(projectx::Client::new(cfg)?)
}

/// A bench alert: a market buy of 1 with its own id. Every alert adds to the position, so each is exactly one
/// `Order/place` whatever order the alerts arrive in (concurrent senders reorder them; a close of the whole
/// position would be a `Position/closeContract`, not an order), and "alert → order" is measured on every alert.
/// `MAX_CONTRACTS` is raised for the bench, so the growing position is never refused.
pub(crate) fn bench_alert(id: &str) -> serde_json::Value {
    serde_json::json!({"symbol": "MNQ", "action": "buy", "quantity": 1, "id": id})
}
