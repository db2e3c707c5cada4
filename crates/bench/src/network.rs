//! Figure 8: real-network mode. The simulator answers every REST call [`CALL_LATENCY`] late — "40 ms per call": the
//! request is processed when it arrives and its answer then waits 40 ms, as a gateway about 20 ms away each way
//! would look. Only REST is slowed (`SimHandle::set_latency`: the gate in front of `/api/*`); the SignalR hubs are
//! not, so fills and position events arrive at loopback speed. The latency is set once pxrelay is ready and warm (its
//! login, contract lookups and first orders ran at loopback speed), so every slowed call is on the alerts' path.
//!
//! Measured, alert by alert on one account whose book is live: alert sent → the webhook's answer received, which
//! pxrelay gives once the gateway acknowledged the order (and the outcome is journaled). Per round, three alerts:
//! - **entry**: `buy 1` (sentiment long) from flat → one `Order/place`;
//! - **reverse**: `sell 2` with sentiment short while long 1, as a TradingView strategy reversal sends it → one
//!   `Order/place` of 2 (the position crosses zero in one order);
//! - **exit**: `exit` while short 1 → one `Position/closeContract`.
//!
//! **First alert after a long idle** (beside the busy-connection alerts above): the simulator then behaves like the
//! load balancer in front of the live gateway, closing a connection quiet for [`IDLE_CLOSE`], and holds each new
//! connection's first request for [`CONNECT_DELAY`] (TCP + TLS 1.3 handshakes: 2 round trips at this latency);
//! pxrelay runs with `GATEWAY_KEEPWARM_SECS=1`. Each sample is an entry sent after [`QUIET`] of silence (longer than
//! the idle close, so what happens to a connection in ten minutes of silence happens here in seconds), then an exit
//! to go flat. Its floor is the busy figures' direct calls (a warm connection at the same latency). The row says how
//! many REST connections pxrelay opened across the quiet periods (0 when its connection stayed warm).
//!
//! Floor, interleaved with the alerts so both see the same moments: one direct `Order/place` by a `projectx::Client`
//! of its own (on another account), with the same latency: what the order costs without pxrelay. The target is
//! pxrelay ≤ 1.1× the floor at p50. The rows also say which REST calls pxrelay made during the run (one per alert is
//! the goal), and the alerts' stage-by-stage breakdown ([`crate::stages`]). A wrong answer (not `placed` / `closed`)
//! is a correctness failure.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use projectx::{AccountId, ContractId, OrderSide, OrderType, PlaceOrder};
use projectx_sim::{SimAccount, SimConfig, SimHandle};
use serde_json::json;

use crate::child::{self, Relay, SECRET};
use crate::stats::{ms, triple};
use crate::{Row, Scale, stages};

/// Added by the simulator to every REST answer while the figures run.
pub(crate) const CALL_LATENCY: Duration = Duration::from_millis(40);

/// The load balancer's idle timeout the simulator copies for the idle figure (a real one: 60 s or more).
const IDLE_CLOSE: Duration = Duration::from_millis(2500);
/// The silence before each "first alert after a long idle": longer than [`IDLE_CLOSE`].
const QUIET: Duration = Duration::from_secs(4);
/// A new connection's TCP + TLS 1.3 handshakes: 2 round trips of [`CALL_LATENCY`].
const CONNECT_DELAY: Duration = Duration::from_millis(80);

/// The contract every order is for (the simulator's default MNQ month, which the alerts' `MNQ` resolves to).
const CONTRACT: &str = "CON.F.US.MNQ.Z25";

/// How long pxrelay may take to have its account's book live after it is ready.
const BOOK_LIVE_WITHIN: Duration = Duration::from_secs(30);

/// One alert of a round.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Entry,
    Reverse,
    Exit,
}

/// A round's alerts, in order: flat → long 1 → short 1 → flat.
const ROUND: [Kind; 3] = [Kind::Entry, Kind::Reverse, Kind::Exit];

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Self::Entry => "entry",
            Self::Reverse => "reverse",
            Self::Exit => "exit",
        }
    }

    /// What the alert is and the call it needs.
    fn what(self) -> &'static str {
        match self {
            Self::Entry => "`buy 1` (sentiment long) from flat: one `Order/place`",
            Self::Reverse => "`sell 2` (sentiment short) while long 1: one `Order/place` of 2",
            Self::Exit => "`exit` while short 1: one `Position/closeContract`",
        }
    }

    fn alert(self, id: &str) -> serde_json::Value {
        match self {
            Self::Entry => json!({"symbol": "MNQ", "action": "buy", "quantity": 1, "sentiment": "long", "id": id}),
            Self::Reverse => json!({"symbol": "MNQ", "action": "sell", "quantity": 2, "sentiment": "short", "id": id}),
            Self::Exit => json!({"symbol": "MNQ", "action": "exit", "id": id}),
        }
    }

    /// The answer's `status` when the gateway took it.
    fn acknowledged(self) -> &'static str {
        match self {
            Self::Entry | Self::Reverse => "placed",
            Self::Exit => "closed",
        }
    }
}

/// What the figures share: the relay trading `relay_account`, and the floor's client trading `floor_account`.
struct Net<'a> {
    http: reqwest::Client,
    relay: &'a Relay,
    floor: projectx::Client,
    floor_account: AccountId,
}

/// One figure's samples: pxrelay's alerts and the floor's direct calls, made alternately.
struct Figure {
    label: String,
    what: String,
    relay: Vec<Duration>,
    floor: Vec<Duration>,
}

impl Figure {
    fn new(label: impl Into<String>, what: impl Into<String>) -> Self {
        Self { label: label.into(), what: what.into(), relay: Vec::new(), floor: Vec::new() }
    }

    fn row(mut self) -> Row {
        let n = self.relay.len();
        let (r_text, r50, r99) = triple(&mut self.relay);
        let (f_text, f50, f99) = triple(&mut self.floor);
        Row::new(
            format!(
                "8. real network ({} per gateway call): alert → acknowledged, {}, {n} alerts (p50 / p99 / max)",
                ms(CALL_LATENCY),
                self.label
            ),
            r_text,
            format!("{f_text} (one `Order/place` direct, same latency)"),
        )
        .ratio(r50.as_secs_f64(), f50.as_secs_f64())
        .notes(format!(
            "ratio at p50 (target ≤ 1.10); {}; acknowledged = the webhook's answer (gateway took it, outcome \
             journaled); latency on REST only (hubs not slowed); added by pxrelay: {} at p50, {} at p99",
            self.what,
            ms(r50.saturating_sub(f50)),
            ms(r99.saturating_sub(f99))
        ))
    }
}

pub(crate) async fn run(binary: &PathBuf, scale: Scale) -> anyhow::Result<Vec<Row>> {
    let rounds = scale.pick(100, 5);
    let sim = child::sim(SimConfig::default().with_paper_accounts(2)).await?;
    let relay_account = SimAccount::paper(1).id;
    let mut env = child::env(&sim);
    env.insert("PROJECT_X_ACCOUNT".into(), relay_account.to_string());
    // Quiet for a second: one keep-warm ping (the default 30 s is for a real load balancer's 60 s idle timeout).
    env.insert("GATEWAY_KEEPWARM_SECS".into(), "1".into());
    let relay = Relay::start(binary, &env)?;
    let net = Net {
        http: reqwest::Client::new(),
        relay: &relay,
        floor: child::direct_client(&sim)?,
        floor_account: AccountId::new(SimAccount::paper(2).id),
    };
    net.book_live(relay_account).await?;
    let mut problems = Vec::new();
    // Warm both paths at loopback speed: connections, tokens, the contract cache, the book's first events.
    for kind in ROUND {
        problems.extend(net.alert(kind, &format!("net-warm-{}", kind.label())).await?.1);
    }
    net.direct("warm", true).await?;
    sim.set_latency(CALL_LATENCY);
    net.direct("warm-slow", false).await?;

    // Alerts on a busy connection: one after another, each once the previous one was answered.
    let calls_before = sim.counters().calls;
    let stages_before = stages::scrape(&net.http, &relay).await?;
    let mut busy: Vec<Figure> = ROUND.map(|kind| Figure::new(kind.label(), kind.what())).into();
    let mut direct_calls = 0;
    for r in 0..rounds {
        for (kind, figure) in ROUND.into_iter().zip(&mut busy) {
            let (took, problem) = net.alert(kind, &format!("net-{r}-{}", kind.label())).await?;
            problems.extend(problem);
            figure.relay.push(took);
            figure.floor.push(net.direct(&format!("{r}-{}", kind.label()), direct_calls % 2 == 0).await?);
            direct_calls += 1;
        }
    }
    let breakdown = stages::scrape(&net.http, &relay).await?.since(&stages_before);
    let calls = relay_calls(&sim, &calls_before, direct_calls);
    let alerts = rounds * ROUND.len();

    // The first alert after a long idle, beside the busy-connection alerts above (see the module doc).
    let quiet_samples = scale.pick(5, 2);
    let floor: Vec<Duration> = busy.iter().flat_map(|f| f.floor.iter().copied()).collect();
    let mut idle = Figure::new(
        format!("first alert after a long idle ({} s quiet, longer than the gateway's idle close)", QUIET.as_secs()),
        format!(
            "`buy 1` from flat after {} s with no alert; the simulator closes connections quiet for {} s and holds a \
             new connection's first request {} (TCP + TLS handshakes); pxrelay keeps its connection warm \
             (`GATEWAY_KEEPWARM_SECS=1`); floor: the busy figures' direct calls",
            QUIET.as_secs(),
            IDLE_CLOSE.as_secs_f64(),
            ms(CONNECT_DELAY)
        ),
    );
    idle.floor = floor;
    sim.set_idle_close(Some(IDLE_CLOSE));
    sim.set_connect_delay(Some(CONNECT_DELAY));
    let connections_before = sim.counters().rest_connections;
    for q in 0..quiet_samples {
        tokio::time::sleep(QUIET).await;
        let (took, problem) = net.alert(Kind::Entry, &format!("net-idle-{q}")).await?;
        problems.extend(problem);
        idle.relay.push(took);
        problems.extend(net.alert(Kind::Exit, &format!("net-idle-{q}-exit")).await?.1);
    }
    let opened = sim.counters().rest_connections - connections_before;
    sim.set_idle_close(None);
    sim.set_connect_delay(None);
    sim.clear_chaos();

    let mut rows: Vec<Row> = busy.into_iter().map(Figure::row).collect();
    let idle_row = idle.row();
    rows.push(Row {
        notes: format!(
            "{}; REST connections pxrelay opened across the {quiet_samples} quiet periods: {opened} (0 = its \
             connection stayed warm)",
            idle_row.notes
        ),
        ..idle_row
    });
    let total: u64 = calls.values().sum();
    let by_path: Vec<String> = calls.iter().map(|(path, n)| format!("`{path}` {n}")).collect();
    let stage_row = breakdown.row(&format!("8. real network, {alerts} alerts"), alerts);
    rows.push(Row {
        notes: format!(
            "{}; REST calls pxrelay made meanwhile: {} ({:.2} per alert)",
            stage_row.notes,
            by_path.join(", "),
            total as f64 / alerts as f64
        ),
        ..stage_row
    });
    if !problems.is_empty()
        && let Some(first) = rows.first_mut()
    {
        first.broken = Some(format!("real network: {}", problems.join("; ")));
    }
    Ok(rows)
}

/// The REST calls made since `before`, by path, less the floor's `direct_calls` `Order/place` calls: pxrelay's.
fn relay_calls(sim: &SimHandle, before: &BTreeMap<String, u64>, direct_calls: usize) -> BTreeMap<String, u64> {
    let mut calls: BTreeMap<String, u64> = sim
        .counters()
        .calls
        .into_iter()
        .map(|(path, n)| {
            let was = before.get(&path).copied().unwrap_or(0);
            (path, n - was)
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    if let Some(place) = calls.get_mut("/api/Order/place") {
        *place = place.saturating_sub(direct_calls as u64);
    }
    calls.retain(|_, n| *n > 0);
    calls
}

impl Net<'_> {
    /// Waits until pxrelay's book of `account` is live (positions from the book, not `Position/searchOpen`).
    async fn book_live(&self, account: i32) -> anyhow::Result<()> {
        let started = tokio::time::Instant::now();
        loop {
            let status: serde_json::Value = self.http.get(self.relay.url("/status")).send().await?.json().await?;
            let live = status["accounts"]
                .as_array()
                .is_some_and(|a| a.iter().any(|a| a["id"] == account && a["live"] == true));
            if live {
                return Ok(());
            }
            anyhow::ensure!(
                started.elapsed() < BOOK_LIVE_WITHIN,
                "account {account}'s book not live within {} s",
                BOOK_LIVE_WITHIN.as_secs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends one alert and waits for its answer: how long it took, and what was wrong with the answer, if anything.
    async fn alert(&self, kind: Kind, id: &str) -> anyhow::Result<(Duration, Option<String>)> {
        let url = self.relay.url(&format!("/webhook/{SECRET}"));
        let started = tokio::time::Instant::now();
        let answer = self.http.post(url).json(&kind.alert(id)).send().await?;
        let status = answer.status();
        let body: serde_json::Value = answer.json().await.unwrap_or_default();
        let took = started.elapsed();
        let problem = (!status.is_success() || body["status"] != kind.acknowledged()).then(|| {
            format!(
                "{} alert {id}: HTTP {status}, status {} (expected {}): {}",
                kind.label(),
                body["status"],
                kind.acknowledged(),
                body["message"]
            )
        });
        Ok((took, problem))
    }

    /// One direct market `Order/place` of 1 (a buy or a sell: the caller alternates, so the floor's account stays
    /// near flat), tagged `tag`, timed from the call to its answer.
    async fn direct(&self, tag: &str, buy: bool) -> anyhow::Result<Duration> {
        let order = PlaceOrder {
            account_id: self.floor_account,
            contract_id: ContractId::new(CONTRACT),
            order_type: OrderType::Market,
            side: if buy { OrderSide::Bid } else { OrderSide::Ask },
            size: 1,
            limit_price: None,
            stop_price: None,
            trail_price: None,
            custom_tag: Some(format!("net-floor-{tag}")),
            stop_loss_bracket: None,
            take_profit_bracket: None,
        };
        let started = tokio::time::Instant::now();
        self.floor.place_order(&order).await?;
        Ok(started.elapsed())
    }
}
