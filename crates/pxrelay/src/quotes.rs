//! `QuoteService`: what `GET /quote/{symbol}` and `pxrelay quote` answer.
//!
//! A symbol is resolved to the active contract, subscribed on demand (bounded by `MAX_QUOTE_SUBSCRIPTIONS`; at the
//! limit the least recently read on-demand subscription gives way: `quotes/subscriptions.rs`), and answered from the
//! streamed quote when it is fresh. When it is not, the newest 1-minute bar's close (partial bar included) stands in
//! as `last`; bars are cached per contract for a few seconds and fetched single-flight per contract, so `/quote`
//! load costs at most one History call per contract per `BARS_CACHE_SECS`.

mod subscriptions;

use std::time::Duration;

use chrono::{DateTime, Utc};
use projectx::cache::FlightCache;
use projectx::contracts::ContractResolver;
use projectx::{BarUnit, BarsRequest, ContractId, MarketHub, ResolveError};
use rust_decimal::Decimal;
use serde::Serialize;
use tokio::time::Instant;

/// How long a freshly subscribed contract waits for its first streamed snapshot before falling back to bars.
const FIRST_QUOTE_WAIT: Duration = Duration::from_millis(750);
/// Most contracts whose bars answer is kept (far more than the gateway lists contracts a relay would quote).
const MAX_BARS_ENTRIES: usize = 256;
/// A bars fetch that takes longer than this (e.g. queued behind the History budget) is abandoned.
const BARS_TIMEOUT: Duration = Duration::from_secs(2);
/// A bar older than this means the market is closed or the data is old.
const BAR_STALE_AFTER: chrono::TimeDelta = chrono::TimeDelta::minutes(2);

/// Quote answering options.
#[derive(Clone, Debug)]
pub struct QuoteSettings {
    /// A streamed quote older than this is stale and bars are tried instead.
    pub max_age: Duration,
    /// The feed counts as stale (for `/ready`) when no quote arrived for this long.
    pub stale_after: Duration,
    /// Bars answers are reused for this long.
    pub bars_ttl: Duration,
}

/// The answer of `/quote/{symbol}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QuoteView {
    /// The symbol as asked (trimmed, uppercased).
    pub symbol: String,
    /// The contract it resolved to.
    pub contract_id: ContractId,
    /// Best bid (streamed quotes only).
    pub bid: Option<Decimal>,
    /// Best ask (streamed quotes only).
    pub ask: Option<Decimal>,
    /// Last price (streamed) or the newest bar's close (bars).
    pub last: Option<Decimal>,
    /// Session volume (streamed) or the bar's volume (bars).
    pub volume: Option<Decimal>,
    /// `signalr` or `bars`.
    pub source: &'static str,
    /// Milliseconds since the data was received.
    pub age_ms: u64,
    /// Whether the data is older than the freshness limit.
    pub stale: bool,
    /// The gateway's time of the data.
    pub timestamp: Option<DateTime<Utc>>,
}

/// Why no quote could be given.
#[derive(Debug, thiserror::Error)]
pub enum QuoteError {
    /// The symbol did not resolve (invalid or unknown), or the gateway failed while resolving it.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// Neither a streamed quote nor bars are available.
    #[error("no quote available for {contract_id}: {reason}")]
    Unavailable {
        /// The contract.
        contract_id: ContractId,
        /// What was tried.
        reason: String,
    },
}

#[derive(Clone, Debug)]
struct BarsQuote {
    close: Decimal,
    volume: i64,
    bar_time: DateTime<Utc>,
    fetched_at: Instant,
}

/// Answers quotes. Shared by the HTTP handlers (behind an `Arc`).
#[derive(Debug)]
pub struct QuoteService {
    resolver: ContractResolver,
    market: MarketHub,
    gateway: projectx::Client,
    settings: QuoteSettings,
    /// Latest bars answer per contract, for `bars_ttl`, fetched single-flight per contract.
    bars: FlightCache<ContractId, BarsQuote>,
    /// Which contracts are subscribed on demand or for `QUOTE_SYMBOLS`, and which one gives way at the limit.
    subscriptions: subscriptions::Subscriptions,
}

impl QuoteService {
    /// A service over the resolver, the market hub and the REST client.
    pub fn new(
        resolver: ContractResolver,
        market: MarketHub,
        gateway: projectx::Client,
        settings: QuoteSettings,
    ) -> Self {
        Self {
            resolver,
            market,
            gateway,
            settings,
            bars: FlightCache::new(MAX_BARS_ENTRIES),
            subscriptions: subscriptions::Subscriptions::default(),
        }
    }

    /// The contract resolver.
    pub fn resolver(&self) -> &ContractResolver {
        &self.resolver
    }

    /// Streamed quotes younger than this are fresh.
    pub fn max_age(&self) -> Duration {
        self.settings.max_age
    }

    /// How long without quotes makes the feed stale.
    pub fn stale_after(&self) -> Duration {
        self.settings.stale_after
    }

    /// The market hub.
    pub fn market(&self) -> &MarketHub {
        &self.market
    }

    /// Resolves `symbol` and subscribes it for good (the path for `QUOTE_SYMBOLS`, at startup and daily): never
    /// evicted; at the limit it evicts the least recently read on-demand subscription. When the symbol now
    /// resolves to another contract (a roll), the previous one becomes an ordinary on-demand subscription.
    pub async fn watch(&self, symbol: &str) -> Result<ContractId, QuoteError> {
        let contract = self.resolver.resolve(symbol).await?;
        if let Err(e) = self.subscriptions.watch(&self.market, symbol, &contract.id).await {
            tracing::warn!(symbol, contract.id = %contract.id, error = %e, "quote subscription failed");
        }
        Ok(contract.id.clone())
    }

    /// After a roll away from `old` (found when the gateway refused an order on it as not active): every
    /// `QUOTE_SYMBOLS` entry on it is resolved again (the resolver has forgotten `old`) and subscribed to its new
    /// contract, so the quotes move with the orders.
    pub async fn rolled(&self, old: &ContractId) {
        for symbol in self.subscriptions.watchers_of(old) {
            match self.watch(&symbol).await {
                Ok(new) => {
                    tracing::info!(symbol, contract.id = %old, new_contract.id = %new, "quote subscription moved after a roll")
                }
                Err(e) => {
                    tracing::warn!(symbol, contract.id = %old, error = %e, "could not move a quote subscription after a roll")
                }
            }
        }
    }

    /// The best quote available for `symbol`.
    pub async fn quote(&self, symbol: &str) -> Result<QuoteView, QuoteError> {
        let contract = self.resolver.resolve(symbol).await?;
        let id = &contract.id;
        let symbol = symbol.trim().to_uppercase();
        self.subscriptions.touch(id);
        let fresh_subscription =
            !self.market.is_subscribed(id) && self.subscriptions.subscribe_on_demand(&self.market, id).await;
        if fresh_subscription {
            let deadline = Instant::now() + FIRST_QUOTE_WAIT;
            while self.market.quotes().get(id).is_none() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let streamed = self.market.quotes().get(id).map(|q| {
            let age = q.received_at.elapsed();
            QuoteView {
                symbol: symbol.clone(),
                contract_id: id.clone(),
                bid: q.bid(),
                ask: q.ask(),
                last: q.last(),
                volume: q.volume(),
                source: "signalr",
                age_ms: age.as_millis() as u64,
                stale: age > self.settings.max_age,
                timestamp: q.gateway_time(),
            }
        });
        if let Some(view) = streamed.as_ref().filter(|v| !v.stale) {
            return Ok(view.clone());
        }
        match self.bars_quote(id).await {
            Ok(b) => Ok(QuoteView {
                symbol,
                contract_id: id.clone(),
                bid: None,
                ask: None,
                last: Some(b.close),
                volume: Some(Decimal::from(b.volume)),
                source: "bars",
                age_ms: b.fetched_at.elapsed().as_millis() as u64,
                stale: Utc::now() - b.bar_time > BAR_STALE_AFTER,
                timestamp: Some(b.bar_time),
            }),
            // A stale streamed quote, marked as such, beats no answer.
            Err(reason) => streamed.ok_or_else(|| QuoteError::Unavailable { contract_id: id.clone(), reason }),
        }
    }

    async fn bars_quote(&self, contract_id: &ContractId) -> Result<BarsQuote, String> {
        self.bars.get_or_fetch(contract_id, |_| self.fetch_bars(contract_id)).await
    }

    /// The newest 1-minute bar of the last 30 minutes, served for `bars_ttl`.
    async fn fetch_bars(&self, contract_id: &ContractId) -> Result<(BarsQuote, Duration), String> {
        let now = Utc::now();
        let req = BarsRequest {
            contract_id: contract_id.clone(),
            live: false,
            start_time: now - chrono::TimeDelta::minutes(30),
            end_time: now,
            unit: BarUnit::Minute,
            unit_number: 1,
            limit: 5,
            include_partial_bar: true,
        };
        let bars = match tokio::time::timeout(BARS_TIMEOUT, self.gateway.retrieve_bars(&req)).await {
            Err(_) => return Err("bars request timed out".into()),
            Ok(Err(e)) => return Err(format!("bars request failed: {e}")),
            Ok(Ok(bars)) => bars,
        };
        let newest = bars.last().ok_or_else(|| "no bars in the last 30 minutes".to_owned())?;
        let quote = BarsQuote { close: newest.c, volume: newest.v, bar_time: newest.t, fetched_at: Instant::now() };
        Ok((quote, self.settings.bars_ttl))
    }
}
