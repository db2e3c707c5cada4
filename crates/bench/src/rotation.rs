//! Figure 6: token refresh under load. Alerts at 200/s while the simulator's tokens live 13 s (so pxrelay rotates
//! about every 9 s), against the same load with a 24 h token: failed alerts (must be 0) and the worst latency.

use std::path::PathBuf;
use std::time::Duration;

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
        let body = crate::child::bench_alert(&format!("rot-{i}"));
        tasks.push(tokio::spawn(async move {
            let sent = tokio::time::Instant::now();
            // Accepted: placed within WEBHOOK_WAIT_MS, or 202 `pending` when the queue is longer than that (the
            // order is then checked at the simulator below).
            let ok = match http.post(url).json(&body).send().await {
                Ok(r) => r
                    .json::<serde_json::Value>()
                    .await
                    .is_ok_and(|v| v["status"] == "placed" || v["status"] == "pending"),
                Err(_) => false,
            };
            (ok, sent.elapsed())
        }));
    }
    let (mut refused, mut latencies) = (0, Vec::with_capacity(n));
    for t in tasks {
        let (ok, latency) = t.await?;
        refused += usize::from(!ok);
        latencies.push(latency);
    }
    // Every alert must end as exactly one order at the simulator (its customTag), pending ones included.
    let tags: std::collections::HashSet<String> =
        (0..n).map(|i| pxrelay::signal::custom_tag(&format!("rot-{i}"), 1)).collect();
    let placed_once = || {
        let mut seen = std::collections::HashMap::<String, usize>::new();
        for order in sim.orders() {
            if let Some(tag) = order.custom_tag.filter(|t| tags.contains(t)) {
                *seen.entry(tag).or_default() += 1;
            }
        }
        seen.values().filter(|&&count| count == 1).count()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while placed_once() < n && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let failed = refused.max(n - placed_once());
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
    .notes(
        "ratio = worst latency with rotation / without; latency is the webhook answer's (a 202 `pending` after \
         WEBHOOK_WAIT_MS when the queue is longer); every alert must end as exactly one order at the simulator \
         (failed must be 0)",
    );
    if failed > 0 {
        row.broken = Some(format!("{failed} alerts failed across token rotations"));
    }
    Ok(vec![row])
}
