//! Prometheus metrics (`GET /metrics`, text format), with `prometheus-client`: an explicit registry, no global
//! state. Labels are bounded: route templates (never raw paths), gateway endpoint paths, outcome names, status
//! codes; never alert ids, order ids or symbols typed by users. Token, hub and quote figures are read from their
//! owners at scrape time by a collector, so there is one source of truth for each.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::outcome::AlertStatus;

/// What became of a webhook, for the `pxrelay_webhooks` counter and `/status`'s webhook counters. Refusals get
/// theirs from [`crate::error::ApiError::outcome`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WebhookOutcome {
    /// Authenticated, valid, journaled and queued.
    Accepted,
    /// Seen before: answered from the journal, nothing sent.
    Duplicate,
    /// Authenticated but not acted on (bad field, unknown symbol, …), or not a route.
    Rejected,
    /// Missing or wrong secret, or a sender outside the allowlist.
    Unauthorized,
    /// pxrelay could not take it (journal, queue, gateway, stopping).
    Failed,
}

impl WebhookOutcome {
    /// Every outcome, in `/status` order.
    pub const ALL: [Self; 5] = [Self::Accepted, Self::Duplicate, Self::Rejected, Self::Unauthorized, Self::Failed];

    /// The label text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
            Self::Rejected => "rejected",
            Self::Unauthorized => "unauthorized",
            Self::Failed => "failed",
        }
    }
}

/// An outcome label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// e.g. `accepted`, `placed`.
    pub outcome: &'static str,
}

/// Gateway request labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GatewayLabels {
    /// Endpoint path, e.g. `/api/Order/place`.
    pub endpoint: &'static str,
    /// HTTP status, `0` when no answer arrived.
    pub status: u16,
}

/// A cancel round's result label (`cancelled`, `refused`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `cancelled` or `refused`.
    pub result: &'static str,
}

/// A fill's order role label (`entry`, `close`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RoleLabel {
    /// `entry` or `close` ([`crate::fills::Role`]).
    pub role: &'static str,
}

/// A daily risk breach's kind label (`loss_limit`, `profit_target`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// `loss_limit` or `profit_target` ([`crate::risk::Kind`]).
    pub kind: &'static str,
}

/// A notification's destination kind and result.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NotifyLabels {
    /// `discord`, `telegram`, `slack` or `generic` ([`crate::notify::Kind`]).
    pub kind: &'static str,
    /// `sent`, `failed` (refused, or retries exhausted) or `dropped` (its queue was full).
    pub result: &'static str,
}

/// A webhook stage label ([`Stage`]).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabel {
    /// [`Stage::as_str`].
    pub stage: &'static str,
}

/// Where an alert's time goes, stage by stage (`pxrelay_webhook_stage_seconds{stage}`), for the benchmark's
/// breakdown of alert → order (docs/performance.md). Each stage an alert passes is observed once (`send` once per
/// gateway call); `send` is part of `execute`, the others do not overlap. A refused alert is not observed from the
/// stage that refused it on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The body read as a JSON envelope (`Envelope::parse`, and the body secret found in it).
    Parse,
    /// The secret check (path, query, bearer or body; constant time).
    Auth,
    /// The trading fields read and validated (`Envelope::intent`).
    Fields,
    /// The contract resolved (cached), the symbol allowed, brackets pre-checked, the accounts picked.
    Resolve,
    /// The alert's journal row written and the job handed to the executor queue (single-account alerts).
    Journal,
    /// Waiting in the account's lane: routed by the dispatcher → the lane takes it.
    Queue,
    /// The lane took it → its plan is sent and answered: position from the book, the plan, the journal's `sent`
    /// mark, the gateway calls (`send`).
    Execute,
    /// The gateway round trips of the plan (`Order/place`, `Position/closeContract`, with any reconciliation).
    Send,
    /// The plan answered → the outcome journaled and handed to the waiting webhook handler.
    Answer,
}

impl Stage {
    /// Every stage, in the order an alert passes them.
    pub const ALL: [Self; 9] = [
        Self::Parse,
        Self::Auth,
        Self::Fields,
        Self::Resolve,
        Self::Journal,
        Self::Queue,
        Self::Execute,
        Self::Send,
        Self::Answer,
    ];

    /// The label text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Parse => "parse",
            Self::Auth => "auth",
            Self::Fields => "fields",
            Self::Resolve => "resolve",
            Self::Journal => "journal",
            Self::Queue => "queue",
            Self::Execute => "execute",
            Self::Send => "send",
            Self::Answer => "answer",
        }
    }
}

/// HTTP request labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The route template (`/quote/{symbol}`), or `unmatched`.
    pub route: String,
    /// Status code.
    pub status: u16,
}

/// The metric families the code updates directly. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct Metrics {
    registry: parking_lot::RwLock<Registry>,
    /// Webhooks by outcome.
    pub webhooks: Family<OutcomeLabel, Counter>,
    /// Executed alerts by outcome.
    pub orders: Family<OutcomeLabel, Counter>,
    /// Webhook arrival → outcome known, seconds.
    pub alert_latency: Histogram,
    /// Gateway request latency by endpoint and status, seconds.
    pub gateway: Family<GatewayLabels, Histogram>,
    /// HTTP requests by route template and status.
    pub http: Family<HttpLabels, Counter>,
    /// Working orders of flat positions by what their cancel did (`cancelled`, `refused`: an orphan).
    pub orphan_cancels: Family<ResultLabel, Counter>,
    /// Account snapshots applied: a book gone live after a user-hub (re)connect or a new watch.
    /// `pxrelay relay`: `/executor` connections refused (a wrong or missing `EXECUTOR_TOKEN`).
    pub executor_refusals: Counter,
    pub book_resyncs: Counter,
    /// Fills of alerts' own orders, by role.
    pub fills: Family<RoleLabel, Counter>,
    /// Slippage per fill against the alert's reference price, ticks (positive = worse for the trader).
    pub slippage: Histogram,
    /// Positions read over REST because the account's book was not live.
    pub position_rest_fallbacks: Counter,
    /// Daily risk breaches (`DAILY_LOSS_LIMIT`, `DAILY_PROFIT_TARGET`), by kind.
    pub risk_breaches: Family<KindLabel, Counter>,
    /// Notifications by destination kind and result ([`crate::notify`]).
    pub notifications: Family<NotifyLabels, Counter>,
    /// Time per webhook stage, seconds, indexed like [`Stage::ALL`] (the histograms of
    /// `pxrelay_webhook_stage_seconds{stage}`, created up front so an observation takes no lock).
    stages: [Histogram; Stage::ALL.len()],
}

/// Slippage buckets in ticks: a futures market order usually fills within a tick or two of the touch; negative
/// buckets are fills better than the reference.
fn slippage_buckets() -> Histogram {
    Histogram::new([-10.0, -5.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0])
}

/// Stage buckets in seconds, 10 µs to 100 ms in steps of about 1.5× (then 250 ms, 1 s, 3 s for slow gateways): a
/// stage on loopback takes microseconds, a gateway round trip tens of milliseconds.
fn stage_buckets() -> Histogram {
    Histogram::new([
        0.000_01, 0.000_015, 0.000_02, 0.000_03, 0.000_05, 0.000_075, 0.000_1, 0.000_15, 0.000_2, 0.000_3, 0.000_5,
        0.000_75, 0.001, 0.001_5, 0.002, 0.003, 0.005, 0.007_5, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 1.0,
        3.0,
    ])
}

fn latency_buckets() -> Histogram {
    Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0])
}

impl Metrics {
    /// A registry with every family registered.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("pxrelay");
        let webhooks = Family::<OutcomeLabel, Counter>::default();
        let orders = Family::<OutcomeLabel, Counter>::default();
        let alert_latency = latency_buckets();
        let gateway = Family::<GatewayLabels, Histogram>::new_with_constructor(latency_buckets as fn() -> Histogram);
        let http = Family::<HttpLabels, Counter>::default();
        registry.register("webhooks", "Webhooks by outcome", webhooks.clone());
        registry.register("orders", "Executed alerts by outcome", orders.clone());
        registry.register("alert_ack_seconds", "Webhook arrival to known outcome", alert_latency.clone());
        registry.register("gateway_request_seconds", "Gateway request latency by endpoint and status", gateway.clone());
        registry.register("http_requests", "HTTP requests by route template and status", http.clone());
        let orphan_cancels = Family::<ResultLabel, Counter>::default();
        registry.register(
            "orphan_cancels",
            "Working orders of flat positions cancelled, or refused by the gateway (orphans)",
            orphan_cancels.clone(),
        );
        let book_resyncs = Counter::default();
        registry.register(
            "book_resyncs",
            "Account snapshots applied (a book gone live after a user hub (re)connect or a new watch)",
            book_resyncs.clone(),
        );
        let executor_refusals = Counter::default();
        registry.register(
            "executor_refusals",
            "Relay only: executor connections refused for a wrong or missing EXECUTOR_TOKEN",
            executor_refusals.clone(),
        );
        let fills = Family::<RoleLabel, Counter>::default();
        registry.register("fills", "Fills of alerts' own orders (entries and closes), by role", fills.clone());
        let slippage = slippage_buckets();
        registry.register(
            "slippage_ticks",
            "Slippage per fill against the alert's reference price at arrival, in ticks (positive = worse)",
            slippage.clone(),
        );
        let position_rest_fallbacks = Counter::default();
        registry.register(
            "position_rest_fallbacks",
            "Positions read over REST (Position/searchOpen) because the account's book was not live",
            position_rest_fallbacks.clone(),
        );
        let risk_breaches = Family::<KindLabel, Counter>::default();
        registry.register(
            "daily_risk_breaches",
            "Accounts blocked for the day by DAILY_LOSS_LIMIT (loss_limit) or DAILY_PROFIT_TARGET (profit_target)",
            risk_breaches.clone(),
        );
        let notifications = Family::<NotifyLabels, Counter>::default();
        registry.register(
            "notifications",
            "Notifications by destination kind (discord, telegram, slack, generic) and result (sent, failed, dropped)",
            notifications.clone(),
        );
        let stage_family = Family::<StageLabel, Histogram>::new_with_constructor(stage_buckets as fn() -> Histogram);
        registry.register(
            "webhook_stage_seconds",
            "Time per webhook stage (parse, auth, fields, resolve, journal, queue, execute, send (part of execute), \
             answer)",
            stage_family.clone(),
        );
        let stages = Stage::ALL.map(|stage| stage_family.get_or_create(&StageLabel { stage: stage.as_str() }).clone());
        Arc::new(Self {
            stages,
            notifications,
            registry: parking_lot::RwLock::new(registry),
            risk_breaches,
            fills,
            slippage,
            position_rest_fallbacks,
            webhooks,
            orders,
            alert_latency,
            gateway,
            http,
            orphan_cancels,
            book_resyncs,
            executor_refusals,
        })
    }

    /// Adds the collector of live figures (token, hub, quotes).
    pub fn register_live(&self, live: Live) {
        self.registry.write().register_collector(Box::new(live));
    }

    /// Counts a webhook outcome.
    pub fn webhook(&self, outcome: WebhookOutcome) {
        self.webhooks.get_or_create(&OutcomeLabel { outcome: outcome.as_str() }).inc();
    }

    /// A webhook outcome's count so far.
    pub fn webhook_count(&self, outcome: WebhookOutcome) -> u64 {
        self.webhooks.get_or_create(&OutcomeLabel { outcome: outcome.as_str() }).get()
    }

    /// Counts an executed alert by its status, and its arrival → outcome latency.
    pub fn order(&self, status: AlertStatus, latency: Duration) {
        self.orders.get_or_create(&OutcomeLabel { outcome: status.as_str() }).inc();
        self.alert_latency.observe(latency.as_secs_f64());
    }

    /// Counts `n` working orders of a flat position by the cancel's `result` (`cancelled`, `refused`).
    pub fn orphan_cancels(&self, result: &'static str, n: usize) {
        if n > 0 {
            self.orphan_cancels.get_or_create(&ResultLabel { result }).inc_by(n as u64);
        }
    }

    /// Counts a daily risk breach of `kind` (`loss_limit`, `profit_target`).
    pub fn risk_breach(&self, kind: &'static str) {
        self.risk_breaches.get_or_create(&KindLabel { kind }).inc();
    }

    /// Counts a fill of an alert's own order (`role`), and its slippage in ticks when known.
    pub fn fill(&self, role: &'static str, slippage_ticks: Option<f64>) {
        self.fills.get_or_create(&RoleLabel { role }).inc();
        if let Some(ticks) = slippage_ticks {
            self.slippage.observe(ticks);
        }
    }

    /// Observes `stage` as ended now, begun at `since`; returns now, the start of the next stage.
    pub fn stage(&self, stage: Stage, since: tokio::time::Instant) -> tokio::time::Instant {
        let now = tokio::time::Instant::now();
        self.stages[stage as usize].observe((now - since).as_secs_f64());
        now
    }

    /// Counts a notification to a destination of `kind` by `result` (`sent`, `failed`, `dropped`).
    pub fn notification(&self, kind: &'static str, result: &'static str) {
        self.notifications.get_or_create(&NotifyLabels { kind, result }).inc();
    }

    /// The gateway observer for `projectx::ClientConfig`.
    pub fn gateway_observer(self: &Arc<Self>) -> projectx::RequestObserver {
        let family = self.gateway.clone();
        projectx::RequestObserver(Arc::new(move |endpoint, status, latency| {
            family.get_or_create(&GatewayLabels { endpoint, status }).observe(latency.as_secs_f64());
        }))
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry.read()) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        out
    }
}

/// Figures owned elsewhere, read at scrape time.
#[derive(Debug)]
pub struct Live {
    /// Token refresh counts.
    pub tokens: projectx::TokenManager,
    /// Hub reconnects, quotes received, quote age.
    pub market: projectx::MarketHub,
    /// Keep-warm pings (`GATEWAY_KEEPWARM_SECS`).
    pub gateway: projectx::Client,
}

impl Collector for Live {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let token = self.tokens.status();
        let market = self.market.status();
        {
            let counter = ConstCounter::new(token.refreshes);
            let mut family = encoder.encode_descriptor(
                "token_refreshes",
                "Session token refreshes by result",
                None,
                counter.metric_type(),
            )?;
            counter.encode(family.encode_family(&OutcomeLabel { outcome: "success" })?)?;
            ConstCounter::new(token.failures).encode(family.encode_family(&OutcomeLabel { outcome: "failure" })?)?;
        }
        {
            let pings = self.gateway.keep_warm_stats();
            let mut family = encoder.encode_descriptor(
                "gateway_keepwarm_pings",
                "Keep-warm pings (GET /api/Status/ping after a quiet period) by outcome: sent, failed, skipped (budget busy)",
                None,
                prometheus_client::metrics::MetricType::Counter,
            )?;
            for (outcome, n) in [("sent", pings.sent), ("failed", pings.failed), ("skipped", pings.skipped)] {
                ConstCounter::new(n).encode(family.encode_family(&OutcomeLabel { outcome })?)?;
            }
        }
        let counters = [
            (
                "hub_reconnects",
                "Market hub connections lost (or restarted by the stale watchdog); token rotations are not counted",
                market.reconnects,
            ),
            (
                "hub_stale_reconnects",
                "Market hub reconnects forced by the stale-feed watchdog",
                market.stale_reconnects,
            ),
            ("quotes_received", "GatewayQuote messages merged", market.quotes_received),
        ];
        for (name, help, value) in counters {
            let c = ConstCounter::new(value);
            c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        let connected = ConstGauge::new(i64::from(market.connected));
        connected.encode(encoder.encode_descriptor(
            "hub_connected",
            "1 when the market hub is connected",
            None,
            connected.metric_type(),
        )?)?;
        let age = ConstGauge::new(market.last_quote_age_ms.map_or(-1.0, |ms| ms as f64 / 1000.0));
        age.encode(encoder.encode_descriptor(
            "quote_age_seconds",
            "Age of the newest streamed quote (-1 when none)",
            None,
            age.metric_type(),
        )?)?;
        let left = ConstGauge::new(token.seconds_left.map_or(0, |s| i64::try_from(s).unwrap_or(i64::MAX)));
        left.encode(encoder.encode_descriptor(
            "token_seconds_left",
            "Seconds until the session token expires",
            None,
            left.metric_type(),
        )?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_is_observed_under_its_own_label() {
        let metrics = Metrics::new();
        for (i, stage) in Stage::ALL.into_iter().enumerate() {
            assert_eq!(stage as usize, i, "ALL is in declaration order: {stage:?} indexes its histogram");
            for _ in 0..=i {
                metrics.stage(stage, tokio::time::Instant::now());
            }
        }
        let text = metrics.render();
        for (i, stage) in Stage::ALL.into_iter().enumerate() {
            let count = format!("pxrelay_webhook_stage_seconds_count{{stage=\"{}\"}} {}", stage.as_str(), i + 1);
            assert!(text.contains(&count), "{count} missing in:\n{text}");
        }
        assert!(text.contains(r#"pxrelay_webhook_stage_seconds_bucket{le="0.00001",stage="parse"}"#), "{text}");
    }
}
