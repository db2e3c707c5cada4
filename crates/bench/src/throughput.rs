//! Figures 2 and 4: webhook throughput (64 concurrent senders; dry-run and sim-placed) and `/quote` throughput
//! (64 connections). Floors: an axum handler returning a constant over the same HTTP stack, and, for placed
//! alerts, the simulator's `Order/place` called directly at the same concurrency. Load comes from `wrk` when it is
//! installed (`apt-get install wrk`), else from a built-in tokio loop (the table says which).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::child::{self, Relay, SECRET};
use crate::stats::{ms, summary};
use crate::{Row, Scale};

const CONNECTIONS: usize = 64;

/// Throughput and p99 of one load run.
struct Load {
    per_second: f64,
    p99: Duration,
    errors: u64,
    tool: &'static str,
}

impl Load {
    fn text(&self) -> String {
        let errors = if self.errors > 0 { format!(", {} non-2xx", self.errors) } else { String::new() };
        format!("{:.0}/s, p99 {}{errors}", self.per_second, ms(self.p99))
    }
}

pub(crate) async fn webhooks(binary: &PathBuf, scale: Scale) -> anyhow::Result<Vec<Row>> {
    let secs = scale.secs(10, 2);
    let floor = floor_server().await?;
    let floor_load = load(&format!("http://{floor}/constant"), Some("floor"), secs).await?;
    let mut rows = Vec::new();
    for dry in [true, false] {
        let sim = child::sim(projectx_sim::SimConfig::default()).await?;
        let mut env = child::env(&sim);
        env.insert("DRY_RUN".into(), dry.to_string());
        let relay = Relay::start(binary, &env)?;
        let url = relay.url(&format!("/webhook/{SECRET}"));
        let relay_load = load(&url, Some(if dry { "dry" } else { "live" }), secs).await?;
        let (floor_text, floor_rate) = if dry {
            (format!("{} (axum constant handler)", floor_load.text()), floor_load.per_second)
        } else {
            let token = sim.issue_token(Duration::from_secs(3600));
            let direct = direct_orders(&sim, &token, secs).await?;
            (format!("{} (`Order/place` direct)", direct.text()), direct.per_second)
        };
        rows.push(
            Row::new(
                format!("2. webhook throughput, {}, {CONNECTIONS} senders", if dry { "DRY_RUN" } else { "sim-placed" }),
                relay_load.text(),
                floor_text,
            )
            .ratio(floor_rate, relay_load.per_second)
            .notes(format!(
                "ratio = floor rate / pxrelay rate; every alert trades the one account, whose alerts execute one at \
                 a time in arrival order by design; load: {}",
                relay_load.tool
            )),
        );
    }
    Ok(rows)
}

pub(crate) async fn quote_endpoint(binary: &PathBuf, scale: Scale) -> anyhow::Result<Vec<Row>> {
    let secs = scale.secs(10, 2);
    let sim = child::sim(projectx_sim::SimConfig::default()).await?;
    sim.set_quotes_per_second(20);
    let mut env = child::env(&sim);
    env.insert("QUOTE_SYMBOLS".into(), "MNQ".into());
    let relay = Relay::start(binary, &env)?;
    let http = reqwest::Client::new();
    for _ in 0..100 {
        let q: serde_json::Value = http.get(relay.url("/quote/MNQ")).send().await?.json().await?;
        if q["source"] == "signalr" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let relay_load = load(&relay.url("/quote/MNQ"), None, secs).await?;
    let floor = floor_server().await?;
    let floor_load = load(&format!("http://{floor}/constant"), None, secs).await?;
    Ok(vec![
        Row::new(format!("4. `GET /quote/MNQ`, {CONNECTIONS} connections"), relay_load.text(), floor_load.text())
            .ratio(floor_load.per_second, relay_load.per_second)
            .notes(format!(
                "ratio = floor rate / pxrelay rate; floor: axum handler returning a constant; load: {}",
                relay_load.tool
            )),
    ])
}

/// An axum server answering a constant on GET and POST `/constant`.
async fn floor_server() -> anyhow::Result<std::net::SocketAddr> {
    let app = axum::Router::new().route(
        "/constant",
        axum::routing::get(|| async { "{\"status\":\"ok\"}" }).post(|| async { "{\"status\":\"ok\"}" }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// Runs the load: POSTs of unique alerts when `alerts` names a run, else GETs.
async fn load(url: &str, alerts: Option<&str>, secs: Duration) -> anyhow::Result<Load> {
    if Command::new("wrk").arg("--version").output().is_ok() {
        return wrk(url, alerts, secs);
    }
    builtin(url, alerts, secs).await
}

fn wrk(url: &str, alerts: Option<&str>, secs: Duration) -> anyhow::Result<Load> {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t2", &format!("-c{CONNECTIONS}"), &format!("-d{}s", secs.as_secs()), "--latency"]);
    if let Some(run) = alerts {
        let script = std::env::temp_dir().join(format!("pxrelay-bench-{}-{run}.lua", std::process::id()));
        std::fs::write(
            &script,
            format!(
                r#"local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
local n = 0
function request()
  n = n + 1
  local side = (n % 2 == 0) and "buy" or "sell"
  local body = '{{"symbol":"MNQ","action":"' .. side .. '","id":"{run}-' .. tid .. '-' .. n .. '"}}'
  return wrk.format("POST", nil, {{["Content-Type"] = "application/json"}}, body)
end
"#
            ),
        )?;
        cmd.arg("-s").arg(&script);
    }
    let out = cmd.arg(url).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let per_second = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("unexpected wrk output:\n{text}"))?;
    let p99 =
        text.lines().find_map(|l| l.trim().strip_prefix("99%")).map_or(Duration::ZERO, |v| wrk_duration(v.trim()));
    let errors = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Ok(Load { per_second, p99, errors, tool: "wrk -t2 -c64" })
}

/// `12.34ms`, `850.00us`, `1.20s`.
fn wrk_duration(text: &str) -> Duration {
    let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len());
    let value: f64 = text[..split].parse().unwrap_or(0.0);
    let secs = match &text[split..] {
        "us" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" => value * 60.0,
        _ => 0.0,
    };
    Duration::from_secs_f64(secs)
}

async fn builtin(url: &str, alerts: Option<&str>, secs: Duration) -> anyhow::Result<Load> {
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + secs;
    let mut tasks = Vec::new();
    for worker in 0..CONNECTIONS {
        let (http, url, run) = (http.clone(), url.to_owned(), alerts.map(str::to_owned));
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut errors, mut n) = (Vec::new(), 0u64, 0u64);
            while tokio::time::Instant::now() < deadline {
                n += 1;
                let started = tokio::time::Instant::now();
                let req = match &run {
                    Some(run) => {
                        let side = if n % 2 == 0 { "buy" } else { "sell" };
                        http.post(&url)
                            .json(&json!({"symbol": "MNQ", "action": side, "id": format!("{run}-{worker}-{n}")}))
                    }
                    None => http.get(&url),
                };
                match req.send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        latencies.push(started.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await?;
        all.extend(l);
        errors += e;
    }
    let per_second = all.len() as f64 / secs.as_secs_f64();
    let (_, p99, _) = summary(&mut all);
    Ok(Load { per_second, p99, errors, tool: "built-in tokio loop (wrk not installed)" })
}

/// The floor for placed alerts: `Order/place` straight to the simulator at the same concurrency.
async fn direct_orders(sim: &projectx_sim::SimHandle, token: &str, secs: Duration) -> anyhow::Result<Load> {
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + secs;
    let url = format!("{}/api/Order/place", sim.base_url());
    let mut tasks = Vec::new();
    for worker in 0..CONNECTIONS {
        let (http, url, token) = (http.clone(), url.clone(), token.to_owned());
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut n) = (Vec::new(), 0u32);
            while tokio::time::Instant::now() < deadline {
                n += 1;
                let body = json!({"accountId": 9001, "contractId": "CON.F.US.MNQ.Z25", "type": 2, "side": n % 2,
                                  "size": 1, "customTag": format!("direct-{worker}-{n}")});
                let started = tokio::time::Instant::now();
                if http.post(&url).bearer_auth(&token).json(&body).send().await.is_ok_and(|r| r.status().is_success()) {
                    latencies.push(started.elapsed());
                }
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await?);
    }
    let per_second = all.len() as f64 / secs.as_secs_f64();
    let (_, p99, _) = summary(&mut all);
    Ok(Load { per_second, p99, errors: 0, tool: "built-in tokio loop" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_durations_parse() {
        assert_eq!(wrk_duration("12.50ms"), Duration::from_micros(12_500));
        assert_eq!(wrk_duration("850.00us"), Duration::from_micros(850));
        assert_eq!(wrk_duration("1.20s"), Duration::from_millis(1200));
    }
}
