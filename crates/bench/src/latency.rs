//! Figure 1: alert → order latency. From the webhook request leaving the client to the simulator receiving
//! `Order/place` (the order's creation time in the sim), at a steady rate and as a burst on one account, and as a
//! burst spread over 10 accounts (alert i trades account i mod 10; accounts execute concurrently, each in its own
//! ordered lane). Floor: the client calling the simulator's `Order/place` directly with reqwest over kept-alive
//! connections, same count, pattern and accounts. The steady figure is measured again with the journal in PostgreSQL
//! (issue 14: a real server started by `pgtest` with `fsync=on`, the relay its leader) beside the SQLite one. Each
//! figure is followed by its stage-by-stage breakdown from pxrelay's own histograms ([`crate::stages`]).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use projectx_sim::SimHandle;
use serde_json::json;

use crate::child::{self, Relay, SECRET};
use crate::stages;
use crate::stats::{ms, triple};
use crate::{Row, Scale};

/// How a batch is sent.
#[derive(Clone, Copy, Debug)]
enum Pattern {
    Steady { per_second: u32 },
    Burst,
}

/// How long a batch's orders may take to reach the simulator after the last answer (alerts answered 202 `pending`
/// are still queued): several times the slowest burst seen (7 s for 2,000 alerts on one account, 2026-11-22).
const ORDERS_WITHIN: Duration = Duration::from_secs(30);

/// Accounts the spread burst uses.
const SPREAD: u16 = 10;

pub(crate) async fn run(binary: &PathBuf, scale: Scale) -> anyhow::Result<Vec<Row>> {
    let n = scale.pick(2000, 100);
    let mut rows = Vec::new();
    let one = [("steady 100/s", Pattern::Steady { per_second: 100 }), ("burst", Pattern::Burst)];
    // Each group of figures has its own simulator and relay; one that fails is a broken row, and the other still runs.
    let postgres = [("steady 100/s, Postgres journal", Pattern::Steady { per_second: 100 })];
    let groups = [
        (1, &one[..], false),
        (SPREAD, &[("burst across 10 accounts", Pattern::Burst)][..], false),
        (1, &postgres[..], true),
    ];
    for (accounts, patterns, on_postgres) in groups {
        if let Err(e) = figures(binary, n, accounts, patterns, on_postgres, &mut rows).await {
            let mut row = Row::new(format!("1. alert → `Order/place` received, {accounts} account(s)"), "failed", "—")
                .notes(e.to_string());
            row.broken = Some(format!("figure 1 on {accounts} account(s): {e}"));
            rows.push(row);
        }
    }
    Ok(rows)
}

/// Pushes a row for each `(label, pattern)` on a simulator with `accounts` paper accounts (alert i trades account
/// i mod `accounts`); the rows measured before a failure stay in `rows`.
async fn figures(
    binary: &PathBuf,
    n: usize,
    accounts: u16,
    patterns: &[(&str, Pattern)],
    on_postgres: bool,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let sim = child::sim(projectx_sim::SimConfig::default().with_paper_accounts(accounts)).await?;
    let mut env = child::env(&sim);
    // A durable server (fsync on, as deployed), stopped when the figure is done.
    let server =
        if on_postgres { Some(pgtest::Cluster::start_durable().map_err(|e| anyhow::anyhow!(e))?) } else { None };
    if let Some(server) = &server {
        let url = server.fresh_database("bench").map_err(|e| anyhow::anyhow!(e))?;
        env.insert("DATABASE_URL".to_owned(), url);
    }
    let relay = Relay::start(binary, &env)?;
    let http = reqwest::Client::new();
    let token = sim.issue_token(Duration::from_secs(3600));
    let ctx = Ctx { http: &http, relay: &relay, sim: &sim, token: &token, accounts };
    // Warm both paths (connections, token, contract cache, every account's lane) before measuring.
    ctx.send("warm", 20, Pattern::Steady { per_second: 200 }, Target::Relay).await?;
    ctx.send("warmf", 20, Pattern::Steady { per_second: 200 }, Target::Floor).await?;
    for &(label, pattern) in patterns {
        let before = stages::scrape(&http, &relay).await?;
        let mut relay_lat = ctx.send(&format!("r{label}"), n, pattern, Target::Relay).await?;
        let breakdown = stages::scrape(&http, &relay).await?.since(&before);
        let mut floor_lat = ctx.send(&format!("f{label}"), n, pattern, Target::Floor).await?;
        let (r_text, r50, r99) = triple(&mut relay_lat);
        let (f_text, f50, f99) = triple(&mut floor_lat);
        let spread = if accounts > 1 {
            format!("; alert i trades account i mod {accounts} (one ordered lane per account, lanes run concurrently)")
        } else {
            String::new()
        };
        rows.push(
            Row::new(
                format!("1. alert → `Order/place` received, {label}, {n} alerts (p50 / p99 / max)"),
                r_text,
                f_text,
            )
            .ratio(r50.as_secs_f64(), f50.as_secs_f64())
            .notes(format!(
                "ratio at p50; added by pxrelay: {} at p50, {} at p99 (stage by stage in the next row){spread}",
                ms(r50.saturating_sub(f50)),
                ms(r99.saturating_sub(f99))
            )),
        );
        rows.push(breakdown.row(&format!("1. {label}"), n));
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Relay,
    Floor,
}

/// What every batch of one figure shares.
struct Ctx<'a> {
    http: &'a reqwest::Client,
    relay: &'a Relay,
    sim: &'a SimHandle,
    /// The floor's bearer token.
    token: &'a str,
    /// Paper accounts on the simulator: with more than one, alert i names account i mod `accounts`.
    accounts: u16,
}

impl Ctx<'_> {
    /// Sends `n` alerts (or direct orders) and returns, per order, send → sim receive.
    async fn send(&self, prefix: &str, n: usize, pattern: Pattern, target: Target) -> anyhow::Result<Vec<Duration>> {
        let Self { http, relay, sim, token, accounts } = *self;
        let start = tokio::time::Instant::now();
        let mut tasks = Vec::with_capacity(n);
        for i in 0..n {
            if let Pattern::Steady { per_second } = pattern {
                tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / f64::from(per_second))).await;
            }
            let id = format!("{prefix}-{i}");
            let account = projectx_sim::SimAccount::paper((i % usize::from(accounts)) as i32 + 1).id;
            let (url, body, bearer) = match target {
                Target::Relay => {
                    let mut alert = crate::child::bench_alert(&id);
                    if accounts > 1 {
                        alert["account"] = account.to_string().into();
                    }
                    (relay.url(&format!("/webhook/{SECRET}")), alert, None)
                }
                Target::Floor => (
                    format!("{}/api/Order/place", sim.base_url()),
                    json!({"accountId": account, "contractId": "CON.F.US.MNQ.Z25", "type": 2, "side": i % 2,
                       "size": 1, "customTag": pxrelay::signal::custom_tag(&id, 1)}),
                    Some(token.to_owned()),
                ),
            };
            let http = http.clone();
            tasks.push(tokio::spawn(async move {
                let mut req = http.post(url).json(&body);
                if let Some(t) = bearer {
                    req = req.bearer_auth(t);
                }
                let sent = Utc::now();
                let status = req.send().await.map(|r| r.status().as_u16()).unwrap_or(0);
                (id, sent, status)
            }));
        }
        let mut sent_at: HashMap<String, DateTime<Utc>> = HashMap::with_capacity(n);
        let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
        for t in tasks {
            let (id, sent, status) = t.await?;
            anyhow::ensure!((200..300).contains(&status), "{prefix}: request {id} failed (HTTP {status})");
            *statuses.entry(status).or_default() += 1;
            sent_at.insert(pxrelay::signal::custom_tag(&id, 1), sent);
        }
        // An alert answered 202 `pending` (still queued after WEBHOOK_WAIT_MS) is placed later: wait for its order.
        // The figure is unchanged by the wait: it reads each order's arrival time at the simulator.
        let deadline = tokio::time::Instant::now() + ORDERS_WITHIN;
        loop {
            let latencies: Vec<Duration> = sim
                .orders()
                .iter()
                .filter_map(|o| Some((o.created - *o.custom_tag.as_ref().and_then(|t| sent_at.get(t))?).to_std()))
                .map(|d| d.unwrap_or(Duration::ZERO))
                .collect();
            if latencies.len() == n {
                return Ok(latencies);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "{prefix}: {} of {n} orders reached the simulator within {} s (answers by HTTP status: {statuses:?})",
                latencies.len(),
                ORDERS_WITHIN.as_secs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
