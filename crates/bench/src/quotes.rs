//! Figures 3 and 5: quote ingestion (the market task's path: `signalr::HubClient` → `decode_gateway_quote` →
//! `QuoteBook::merge`) against a bare tokio-tungstenite reader that only splits records and parses JSON; and the
//! footprint of the pxrelay process (binary size, start-to-ready with a valid JWT, RSS idle with both hubs, 10
//! accounts and 50 subscriptions, and after an hour's worth of quotes at 1,000/s).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::{SinkExt, StreamExt};
use projectx::market::{QuoteBook, decode_gateway_quote};
use projectx_sim::{SimConfig, SimContract, SimHandle};
use signalr::{AccessToken, BoxFuture, HubClient, HubConfig, HubEvent, TokenProvider};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::child::{self, Relay};
use crate::stats::{ms, summary};
use crate::{Row, Scale};

/// Total quote rate asked of the simulator (it sends what it can).
const TARGET_RATE: u32 = 60_000;

fn contracts(n: usize) -> Vec<SimContract> {
    let base = projectx_sim::default_contracts().remove(0);
    (0..n)
        .map(|i| SimContract {
            id: format!("CON.F.US.B{i}.Z25"),
            name: format!("B{i}Z5"),
            symbol_id: format!("F.US.B{i}"),
            ..base.clone()
        })
        .collect()
}

struct Fixed(String);

impl TokenProvider for Fixed {
    fn token(&self) -> BoxFuture<'_, Result<AccessToken, String>> {
        let value = self.0.clone();
        Box::pin(async move { Ok(AccessToken { value: value.into(), id: 1 }) })
    }
    fn refused(&self, _: u64) {}
}

/// Messages per second and send → merge lag samples.
struct Measured {
    per_second: f64,
    lags: Vec<Duration>,
}

fn lag(stamp: Option<&str>) -> Option<Duration> {
    let sent: DateTime<Utc> = stamp?.parse().ok()?;
    (Utc::now() - sent).to_std().ok()
}

/// Subscribes with the simulator's ticker stopped (a full event channel would hold up the completions, the same
/// reason the market task runs its invocations beside its event loop), then turns the ticker on and measures.
async fn pipeline(sim: &SimHandle, ids: &[String], secs: Duration, rate: u32) -> anyhow::Result<Measured> {
    sim.set_quotes_per_second(0);
    let cancel = CancellationToken::new();
    let provider = Arc::new(Fixed(sim.issue_token(Duration::from_secs(3600))));
    let (hub, mut events, task) =
        HubClient::start(HubConfig::new(sim.market_hub_url().parse()?), provider, cancel.clone());
    let book = QuoteBook::default();
    while !matches!(events.recv().await, Some(HubEvent::Connected { .. })) {}
    for id in ids {
        hub.invoke("SubscribeContractQuotes", vec![id.clone().into()]).await?;
    }
    sim.set_quotes_per_second(rate);
    let (mut count, mut lags) = (0u64, Vec::new());
    let deadline = tokio::time::Instant::now() + secs;
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
        if let HubEvent::Invocation { target, arguments } = event
            && target == "GatewayQuote"
        {
            let (contract, updates) = decode_gateway_quote(&arguments)?;
            for u in updates {
                let stamp = u.timestamp;
                book.merge(&contract, u);
                count += 1;
                if count % 16 == 0 {
                    lags.extend(stamp.and_then(|t| (Utc::now() - t).to_std().ok()));
                }
            }
        }
    }
    sim.set_quotes_per_second(0);
    cancel.cancel();
    let _ = task.await;
    Ok(Measured { per_second: count as f64 / secs.as_secs_f64(), lags })
}

async fn floor_reader(sim: &SimHandle, ids: &[String], secs: Duration, rate: u32) -> anyhow::Result<Measured> {
    sim.set_quotes_per_second(0);
    let url = format!(
        "{}?access_token={}",
        sim.market_hub_url().replacen("http", "ws", 1),
        sim.issue_token(Duration::from_secs(3600))
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    ws.send(Message::text(signalr::protocol::HANDSHAKE)).await?;
    for (i, id) in ids.iter().enumerate() {
        let record =
            signalr::protocol::invocation(Some(&i.to_string()), "SubscribeContractQuotes", &[id.clone().into()]);
        ws.send(Message::text(record)).await?;
    }
    sim.set_quotes_per_second(rate);
    let (mut count, mut lags) = (0u64, Vec::new());
    let mut pending: Vec<u8> = Vec::new();
    let deadline = tokio::time::Instant::now() + secs;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, ws.next()).await {
        let bytes = match frame {
            Message::Text(t) => t.as_bytes().to_vec(),
            Message::Binary(b) => b.to_vec(),
            _ => continue,
        };
        pending.extend_from_slice(&bytes);
        let mut start = 0;
        while let Some(end) = pending[start..].iter().position(|b| *b == signalr::protocol::RS) {
            let v: serde_json::Value = serde_json::from_slice(&pending[start..start + end]).unwrap_or_default();
            start += end + 1;
            if v["target"] == "GatewayQuote" {
                count += 1;
                if count % 16 == 0 {
                    lags.extend(lag(v["arguments"][1]["timestamp"].as_str()));
                }
            }
        }
        pending.drain(..start);
    }
    sim.set_quotes_per_second(0);
    Ok(Measured { per_second: count as f64 / secs.as_secs_f64(), lags })
}

pub(crate) async fn ingestion(scale: Scale) -> anyhow::Result<Vec<Row>> {
    let secs = scale.secs(8, 1);
    let mut rows = Vec::new();
    for n in [1usize, 10, 50] {
        let sim = child::sim(SimConfig { contracts: contracts(n), ..SimConfig::default() }).await?;
        let ids: Vec<String> = (0..n).map(|i| format!("CON.F.US.B{i}.Z25")).collect();
        let rate = TARGET_RATE / n as u32;
        let mut ours = pipeline(&sim, &ids, secs, rate).await?;
        let mut floor = floor_reader(&sim, &ids, secs, rate).await?;
        let (o50, o99, _) = summary(&mut ours.lags);
        let (f50, f99, _) = summary(&mut floor.lags);
        rows.push(
            Row::new(
                format!("3. quote ingestion, {n} contract(s): msgs/s; lag sim send → merged (p50 / p99)"),
                format!("{:.0}/s; {} / {}", ours.per_second, ms(o50), ms(o99)),
                format!("{:.0}/s; {} / {}", floor.per_second, ms(f50), ms(f99)),
            )
            .ratio(floor.per_second, ours.per_second)
            .notes(format!(
                "ratio = floor rate / pxrelay rate; sim asked for {TARGET_RATE}/s in total and sends what it can, \
                 in the same process; lag resolution 1 ms (the quote timestamp has milliseconds)"
            )),
        );
    }
    Ok(rows)
}

/// Subscriptions of the footprint figure (the default `MAX_QUOTE_SUBSCRIPTIONS`) and its accounts.
const FOOTPRINT_SYMBOLS: usize = 50;
const FOOTPRINT_ACCOUNTS: u16 = 10;

/// Quotes per second per contract while the footprint figure pumps its hour-equivalent: 60,000/s in total.
const PUMP_PER_CONTRACT: u32 = 1_200;

/// Figure 5: binary size; start → `/ready` with a valid `JWT_TOKEN`; RSS idle with both hubs connected (the user hub
/// watching 10 accounts named by an `ACCOUNT_GROUPS` group, the market hub 50 `QUOTE_SYMBOLS` contracts), then at half
/// and at the end of an hour's worth of quotes at 1,000/s (3.6 M quotes, sent as fast as the simulator can).
pub(crate) async fn footprint(binary: &PathBuf, scale: Scale) -> anyhow::Result<Vec<Row>> {
    let size = std::fs::metadata(binary)?.len();
    let mut all = projectx_sim::default_contracts();
    all.extend(contracts(FOOTPRINT_SYMBOLS));
    let cfg = SimConfig { contracts: all, ..SimConfig::default() }.with_paper_accounts(FOOTPRINT_ACCOUNTS);
    let sim = child::sim(cfg).await?;
    sim.set_quotes_per_second(20);
    let mut env = child::env(&sim);
    env.insert("JWT_TOKEN".into(), sim.issue_token(Duration::from_secs(24 * 3600)));
    let symbols: Vec<String> = (0..FOOTPRINT_SYMBOLS).map(|i| format!("CON.F.US.B{i}.Z25")).collect();
    env.insert("QUOTE_SYMBOLS".into(), symbols.join(","));
    let members: Vec<String> =
        (1..=i32::from(FOOTPRINT_ACCOUNTS)).map(|k| projectx_sim::SimAccount::paper(k).id.to_string()).collect();
    env.insert("ACCOUNT_GROUPS".into(), format!("all={}", members.join(",")));
    let started = tokio::time::Instant::now();
    let relay = Relay::start(binary, &env)?;
    let http = reqwest::Client::new();
    while http.get(relay.url("/ready")).send().await?.status() != 200 {
        anyhow::ensure!(started.elapsed() < Duration::from_secs(30), "pxrelay never became ready");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let ready_in = started.elapsed();
    let auth_calls = sim.counters().auth_calls();
    let floor_started = tokio::time::Instant::now();
    std::process::Command::new(binary).arg("--version").output()?;
    let floor_start = floor_started.elapsed();
    hubs_settled(&http, &relay).await?;
    // Idle: no alerts, a trickle of quotes (1/s per contract, 50/s in all).
    sim.set_quotes_per_second(1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = relay.rss_kib();

    let target = scale.pick(3_600_000u64, 20_000);
    sim.set_quotes_per_second(PUMP_PER_CONTRACT);
    let pumping = tokio::time::Instant::now();
    let (mut half, mut received) = (None, 0);
    while received < target {
        let status: serde_json::Value = http.get(relay.url("/status")).send().await?.json().await?;
        received = status["market"]["quotes_received"].as_u64().unwrap_or(0);
        if half.is_none() && received >= target / 2 {
            half = Some(relay.rss_kib());
        }
        anyhow::ensure!(pumping.elapsed() < Duration::from_secs(600), "quotes too slow: {received} of {target}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let pumped_for = pumping.elapsed();
    sim.set_quotes_per_second(0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = relay.rss_kib();
    let half = half.unwrap_or(after);
    let hours = target as f64 / 3_600_000.0;
    let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
    Ok(vec![
        Row::new("5. binary size (pxrelay, this profile)", format!("{:.1} MiB", size as f64 / 1048576.0), "—"),
        Row::new(
            format!(
                "5. start → `/ready` 200 with a valid `JWT_TOKEN` ({FOOTPRINT_SYMBOLS} symbols subscribed, \
                 {FOOTPRINT_ACCOUNTS} accounts)"
            ),
            format!("{} ({auth_calls} auth calls)", ms(ready_in)),
            format!("{} (`pxrelay --version`: process start and exit)", ms(floor_start)),
        )
        .ratio(ready_in.as_secs_f64(), floor_start.as_secs_f64()),
        Row::new(
            format!(
                "5. RSS idle (both hubs, {FOOTPRINT_ACCOUNTS} accounts, {FOOTPRINT_SYMBOLS} subscriptions) → half → \
                 after {hours:.2} h-equivalent of quotes at 1,000/s ({received} quotes in {:.0} s)",
                pumped_for.as_secs_f64()
            ),
            format!("{} → {} → {}", mib(idle), mib(half), mib(after)),
            format!("{} (idle)", mib(idle)),
        )
        .ratio(after as f64, idle as f64)
        .notes(
            "ratio = after / idle (1.00 = no growth; target: idle ≤ 16 MiB, no growth); half → after isolates \
             growth from allocator warm-up; idle = ready, user hub watching every account of an `ACCOUNT_GROUPS` \
             group, market hub subscribed to `QUOTE_SYMBOLS` (1 quote/s per contract), no alerts",
        ),
    ])
}

/// Waits until both hubs are connected: the market hub, and the user hub with every account's book live.
async fn hubs_settled(http: &reqwest::Client, relay: &Relay) -> anyhow::Result<()> {
    let started = tokio::time::Instant::now();
    loop {
        let status: serde_json::Value = http.get(relay.url("/status")).send().await?.json().await?;
        let books = status["accounts"].as_array().map_or(0, |a| a.iter().filter(|a| a["live"] == true).count());
        if status["market"]["connected"] == true
            && status["user_hub"]["synced"] == true
            && books == usize::from(FOOTPRINT_ACCOUNTS)
        {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "hubs not settled within 30 s: market {}, user hub {}, {books} of {FOOTPRINT_ACCOUNTS} books live",
            status["market"]["connected"],
            status["user_hub"]
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
