//! Which quote subscriptions pxrelay holds at the market hub, and which one gives way at the limit.
//!
//! Two kinds share the hub's `MAX_QUOTE_SUBSCRIPTIONS` slots: **watched** contracts (`QUOTE_SYMBOLS`, subscribed
//! by [`QuoteService::watch`](super::QuoteService::watch)), which are never evicted, and **on-demand** ones
//! (subscribed by `/quote` for a contract nobody watches). When a new subscription of either kind finds the hub
//! full, the on-demand subscription read least recently by `/quote` is unsubscribed at the hub first, so the
//! contracts people are actually asking about keep streaming and a daily `QUOTE_SYMBOLS` re-subscribe after a roll
//! always finds room.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use projectx::{ContractId, MarketHub, SubscribeError};
use tokio::time::Instant;

/// An on-demand subscription (lock, evictions, the hub's completion) takes at most this long; the contract stays
/// desired at the hub if the completion is merely late.
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(1);

/// The subscription bookkeeping of a [`QuoteService`](super::QuoteService).
#[derive(Debug, Default)]
pub(super) struct Subscriptions {
    /// On-demand contract id → when `/quote` last read it. Written by every `/quote` read of an on-demand contract
    /// (one hash lookup), by on-demand subscribes and by evictions; a sync lock held for a statement.
    on_demand: parking_lot::Mutex<HashMap<ContractId, Instant>>,
    /// `QUOTE_SYMBOLS` entry → the contract it is subscribed to. Written by `watch` only; never evicted.
    watched: parking_lot::Mutex<HashMap<String, ContractId>>,
    /// Held (across awaits, hence tokio's mutex) while a subscription is made, evictions included, so two callers
    /// needing room never pick the same victim or overshoot the limit.
    changing: tokio::sync::Mutex<()>,
}

impl Subscriptions {
    /// The `QUOTE_SYMBOLS` entries subscribed to `contract_id`.
    pub(super) fn watchers_of(&self, contract_id: &ContractId) -> Vec<String> {
        self.watched.lock().iter().filter(|(_, c)| *c == contract_id).map(|(symbol, _)| symbol.clone()).collect()
    }

    /// Records a `/quote` read of `contract_id` (a no-op unless it is an on-demand subscription).
    pub(super) fn touch(&self, contract_id: &ContractId) {
        if let Some(read) = self.on_demand.lock().get_mut(contract_id) {
            *read = Instant::now();
        }
    }

    /// Subscribes `contract_id` on demand, evicting the least recently read on-demand subscription if the hub is
    /// full. `true` when it is subscribed now (by this call or a concurrent one), so a first quote is worth
    /// waiting for; `false` (logged) when it could not be, and the caller answers from bars.
    pub(super) async fn subscribe_on_demand(&self, market: &MarketHub, contract_id: &ContractId) -> bool {
        let attempt = async {
            let _turn = self.changing.lock().await;
            if market.is_subscribed(contract_id) {
                return Ok(());
            }
            // Tracked before asking: a caller that times out after the command went out never leaves an
            // untracked (so never evictable) subscription behind.
            self.on_demand.lock().insert(contract_id.clone(), Instant::now());
            let result = self.subscribe_making_room(market, contract_id).await;
            if result.is_err() {
                self.on_demand.lock().remove(contract_id);
            }
            result
        };
        match tokio::time::timeout(SUBSCRIBE_WAIT, attempt).await {
            Ok(Ok(())) => true,
            Err(_) => {
                tracing::warn!(contract.id = %contract_id, "quote subscription not confirmed in time");
                false
            }
            Ok(Err(SubscribeError::Full(n))) => {
                tracing::warn!(
                    contract.id = %contract_id,
                    limit = n,
                    "subscription limit reached by QUOTE_SYMBOLS alone; answering from bars"
                );
                false
            }
            Ok(Err(e)) => {
                tracing::warn!(contract.id = %contract_id, error = %e, "on-demand quote subscription failed");
                false
            }
        }
    }

    /// Subscribes `contract_id` for the `QUOTE_SYMBOLS` entry `symbol`, evicting an on-demand subscription if the
    /// hub is full. A contract the symbol named before (a roll) becomes on-demand, evictable like any other.
    pub(super) async fn watch(
        &self,
        market: &MarketHub,
        symbol: &str,
        contract_id: &ContractId,
    ) -> Result<(), SubscribeError> {
        let _turn = self.changing.lock().await;
        let previous = self.watched.lock().insert(symbol.to_owned(), contract_id.clone());
        self.on_demand.lock().remove(contract_id);
        let result = self.subscribe_making_room(market, contract_id).await;
        let released = previous.filter(|old| old != contract_id && !self.watched_ids().contains(old));
        if let Some(old) = released.filter(|old| market.is_subscribed(old)) {
            tracing::info!(symbol, contract.id = %old, new_contract.id = %contract_id, "QUOTE_SYMBOLS entry moved to another contract; the old one may now be evicted");
            self.on_demand.lock().insert(old, Instant::now());
        }
        result
    }

    /// `market.subscribe`, unsubscribing the least recently read on-demand contract for as long as the hub says
    /// it is full and one is left. The caller holds `changing`.
    async fn subscribe_making_room(&self, market: &MarketHub, contract_id: &ContractId) -> Result<(), SubscribeError> {
        loop {
            match market.subscribe(contract_id).await {
                Err(SubscribeError::Full(limit)) => {
                    let Some((victim, idle)) = self.least_recently_read(market, contract_id) else {
                        return Err(SubscribeError::Full(limit));
                    };
                    tracing::info!(
                        contract.id = %victim,
                        for_contract.id = %contract_id,
                        idle_ms = idle.as_millis() as u64,
                        limit,
                        "quote subscription limit reached; unsubscribing the least recently read on-demand contract"
                    );
                    // The market task handles commands in order: this unsubscribe is done before the next subscribe.
                    market.unsubscribe(&victim).await;
                    self.on_demand.lock().remove(&victim);
                }
                other => return other,
            }
        }
    }

    /// The on-demand contract read least recently (never `except`, never a watched one) and how long ago. Forgets
    /// entries the hub no longer has (e.g. refused after subscribing): the market task handles commands in order,
    /// so after a `Full` answer every earlier subscribe has been applied and `is_subscribed` is exact.
    fn least_recently_read(&self, market: &MarketHub, except: &ContractId) -> Option<(ContractId, Duration)> {
        let watched = self.watched_ids();
        let mut on_demand = self.on_demand.lock();
        on_demand.retain(|id, _| id == except || market.is_subscribed(id));
        on_demand
            .iter()
            .filter(|(id, _)| *id != except && !watched.contains(*id))
            .min_by_key(|(_, read)| **read)
            .map(|(id, read)| (id.clone(), read.elapsed()))
    }

    fn watched_ids(&self) -> HashSet<ContractId> {
        self.watched.lock().values().cloned().collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]
mod tests {
    use std::sync::Arc;

    use tokio_util::sync::CancellationToken;
    use tokio_util::task::TaskTracker;

    use crate::quotes::QuoteService;

    const MNQ_Z25: &str = "CON.F.US.MNQ.Z25";
    const MNQ_H26: &str = "CON.F.US.MNQ.H26";
    const ES: &str = "CON.F.US.EP.Z25";
    const MES: &str = "CON.F.US.MES.Z25";

    /// A quote service against a fresh simulator with room for two subscriptions.
    async fn two_slots() -> (projectx_sim::SimHandle, Arc<QuoteService>, CancellationToken) {
        let (sim, settings, gateway) = crate::testing::sim_gateway(&[("MAX_QUOTE_SUBSCRIPTIONS", "2")]).await;
        let cancel = CancellationToken::new();
        let (quotes, _) = crate::startup::start_quotes(&settings, &gateway, &cancel, &TaskTracker::new());
        (sim, quotes, cancel)
    }

    fn subscribed(quotes: &QuoteService) -> Vec<projectx::ContractId> {
        quotes.market().status().subscriptions
    }

    #[tokio::test]
    async fn a_quote_symbols_entry_needing_room_evicts_the_least_recently_read_on_demand_one() {
        let (_sim, quotes, cancel) = two_slots().await;
        quotes.quote("ES").await.unwrap();
        quotes.quote("MES").await.unwrap();
        quotes.quote("MES").await.unwrap();
        assert_eq!(subscribed(&quotes), [ES, MES]);
        assert_eq!(quotes.watch("MNQ").await.unwrap(), MNQ_Z25);
        assert_eq!(subscribed(&quotes), [MES, MNQ_Z25], "ES was read least recently");
        // The watched contract is never a victim, even unread: the next on-demand contract evicts MES.
        quotes.quote("ES").await.unwrap();
        assert_eq!(subscribed(&quotes), [ES, MNQ_Z25]);
        cancel.cancel();
    }

    #[tokio::test]
    async fn after_a_roll_the_old_contract_of_a_quote_symbols_entry_becomes_evictable() {
        let (sim, quotes, cancel) = two_slots().await;
        assert_eq!(quotes.watch("MNQ").await.unwrap(), MNQ_Z25);
        quotes.quote("ES").await.unwrap();
        sim.roll_to(MNQ_H26);
        quotes.resolver().invalidate("MNQ");
        assert_eq!(quotes.watch("MNQ").await.unwrap(), MNQ_H26, "the daily re-subscribe finds room");
        assert_eq!(subscribed(&quotes), [MNQ_H26, MNQ_Z25], "ES gave way; the old month is still streamed");
        quotes.quote("MES").await.unwrap();
        assert_eq!(subscribed(&quotes), [MES, MNQ_H26], "the old month is now on-demand and gives way");
        quotes.quote("MES").await.unwrap();
        quotes.quote("ES").await.unwrap();
        assert_eq!(subscribed(&quotes), [ES, MNQ_H26]);
        cancel.cancel();
    }
}
