//! Figure 6: token refresh under load. Alerts at 200/s while the simulator's tokens live 13 s (so pxrelay rotates
//! about every 9 s), against the same load with a 24 h token: failed alerts (must be 0) and the worst latency.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::child::{self, Relay, SECRET};
use crate::stats::{ms, summary};
use crate::{Row, Scale};

struct Run {
    failed: usize,
    sent: usize,
    p99: Duration,
    worst: Duration,
    refreshes: u64,
}

async fn flow(binary: &PathBuf, lifetime: Duration, secs: Duration) -> anyhow::Result<Run> {
    let sim =
        child::sim(projectx_sim::SimConfig { token_lifetime: lifetime, ..projectx_sim::SimConfig::default() }).await?;
    let mut env = child::env(&sim);
    env.insert("TOKEN_REFRESH_MARGIN_SECS".into(), "4".into());
    let relay = Relay::start(binary, &env)?;
    let http = reqwest::Client::new();
    let url = relay.url(&format!("/webhook/{SECRET}"));
    let n = (secs.as_secs() * 200) as usize;
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        tokio::time::sleep_until(start + Duration::from_millis(5 * i as u64)).await;
        let (http, url) = (http.clone(), url.clone());
        let side = if i % 2 == 0 { "buy" } else { "sell" };
        let body = json!({"symbol": "MNQ", "action": side, "id": format!("rot-{i}")});
        tasks.push(tokio::spawn(async move {
            let sent = tokio::time::Instant::now();
            let ok = match http.post(url).json(&body).send().await {
                Ok(r) => r.json::<serde_json::Value>().await.is_ok_and(|v| v["status"] == "placed"),
                Err(_) => false,
            };
            (ok, sent.elapsed())
        }));
    }
    let (mut failed, mut latencies) = (0, Vec::with_capacity(n));
    for t in tasks {
        let (ok, latency) = t.await?;
        failed += usize::from(!ok);
        latencies.push(latency);
    }
    let status: serde_json::Value = http.get(relay.url("/status")).send().await?.json().await?;
    let (_, p99, worst) = summary(&mut latencies);
    Ok(Run { failed, sent: n, p99, worst, refreshes: status["token"]["refreshes"].as_u64().unwrap_or(0) })
}

pub(crate) async fn run(binary: &PathBuf, scale: Scale) -> anyhow::Result<Vec<Row>> {
    let secs = scale.secs(40, 14);
    // Quick mode runs both flows at once to stay short (its numbers are not for reading); the full run keeps them
    // apart so neither disturbs the other.
    let (rotating, steady) = if scale.quick {
        tokio::try_join!(
            flow(binary, Duration::from_secs(13), secs),
            flow(binary, Duration::from_secs(24 * 3600), secs)
        )?
    } else {
        (flow(binary, Duration::from_secs(13), secs).await?, flow(binary, Duration::from_secs(24 * 3600), secs).await?)
    };
    let failed = rotating.failed + steady.failed;
    let mut row = Row::new(
        format!(
            "6. {} alerts at 200/s over {} s, token lifetime 13 s: failed; p99; worst latency",
            rotating.sent,
            secs.as_secs()
        ),
        format!(
            "{} failed; {}; {} ({} refreshes)",
            rotating.failed,
            ms(rotating.p99),
            ms(rotating.worst),
            rotating.refreshes
        ),
        format!(
            "{} failed; {}; {} (24 h token, {} refreshes)",
            steady.failed,
            ms(steady.p99),
            ms(steady.worst),
            steady.refreshes
        ),
    )
    .ratio(rotating.worst.as_secs_f64(), steady.worst.as_secs_f64())
    .notes("ratio = worst latency with rotation / without; every alert must be placed once (failed must be 0)");
    if failed > 0 {
        row.broken = Some(format!("{failed} alerts failed across token rotations"));
    }
    Ok(vec![row])
}
