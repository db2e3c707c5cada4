//! Contract resolution: from what an alert says (`MNQ`, `CME_MINI:NQ1!`, `ESZ5`, `CON.F.US.MNQ.Z25`) to the
//! gateway's [`Contract`], cached. A root resolves to the product's *active* contract, found by an exact product
//! match (never by name: searching `NQ` also returns the natural-gas and crude minis, and names changed format), so
//! the cache is refreshed daily by default to pick up rolls. [`parse`](parse_symbol) is pure; [`ContractResolver`]
//! does the gateway calls, with single-flight fetches, a short negative cache and a stale fallback on outages.

mod parse;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub use parse::{SymbolRef, parse_symbol};

use crate::cache::FlightCache;
use crate::{Client, Contract, ContractId};

/// Default lifetime of a resolved contract: a daily refresh, so the roll (`activeContract` moving to the next
/// month) is picked up within a day.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Lifetime of a "no such contract" answer (capped at the resolver's ttl): long enough that a misconfigured alert
/// firing in a loop costs one gateway call a minute, short enough that a newly listed contract shows up soon.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(60);
/// After a failed refresh served a stale contract, how long before the gateway is asked again (capped at the ttl).
const STALE_RETRY: Duration = Duration::from_secs(30);
/// Above this many cache entries, expired ones are dropped on insert (then the one expiring soonest).
const MAX_ENTRIES: usize = 1024;

/// Why a symbol did not resolve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The text is not a symbol in any accepted form.
    #[error(
        "invalid symbol `{input}`: {reason}; expected a root (MNQ, ES), a TradingView ticker (CME_MINI:MNQ1!, \
         MNQ2! for the next contract), a month code (MNQZ25, MNQZ5) or a contract id (CON.F.US.MNQ.Z25)"
    )]
    InvalidSymbol {
        /// The user's text (trimmed, shortened if very long).
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Well-formed, but the gateway has no such contract (for a root: no active contract of that product).
    #[error("unknown symbol `{symbol}`: the gateway lists no matching contract")]
    UnknownSymbol {
        /// The user's text.
        symbol: String,
    },
    /// The gateway could not be asked (network, 5xx, 429, auth, unexpected answer).
    #[error("contract lookup failed: {0}")]
    Gateway(#[from] crate::Error),
}

impl ResolveError {
    /// Whether the caller sent a bad or unknown symbol (answer 400/404) rather than the gateway failing
    /// (answer 502/503).
    pub fn is_client_error(&self) -> bool {
        matches!(self, Self::InvalidSymbol { .. } | Self::UnknownSymbol { .. })
    }
}

/// Resolves symbols to contracts and caches the answers. Cheap to clone; clones share the cache.
#[derive(Clone, Debug)]
pub struct ContractResolver {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Client,
    /// How long a found contract is served without asking the gateway.
    ttl: Duration,
    /// How long a "not found" answer is served: `min(ttl, NEGATIVE_TTL)`.
    negative_ttl: Duration,
    /// Answers by [`SymbolRef::cache_key`] (`None`: the gateway said there is no such contract), fetched
    /// single-flight per key; an expired found contract stays as the stale fallback.
    cache: FlightCache<String, Option<Arc<Contract>>>,
    /// What each found key was resolved from, so [`ContractResolver::refresh_ahead`] can ask again before the
    /// answer expires. At most [`MAX_ENTRIES`] (the cache's own cap): a key pushed out of the cache is dropped here at
    /// the next refresh.
    found: parking_lot::Mutex<HashMap<String, SymbolRef>>,
}

impl ContractResolver {
    /// A resolver over `client` whose answers live for `ttl` (use [`DEFAULT_TTL`] outside tests).
    pub fn new(client: Client, ttl: Duration) -> Self {
        let inner = Inner {
            client,
            ttl,
            negative_ttl: ttl.min(NEGATIVE_TTL),
            cache: FlightCache::new(MAX_ENTRIES),
            found: parking_lot::Mutex::default(),
        };
        Self { inner: Arc::new(inner) }
    }

    /// Resolves `symbol` (any form [`parse_symbol`] accepts) to a contract: a root to its product's active
    /// contract (`2!` to the one after it), a month code or contract id to that contract, active or not.
    ///
    /// Served from the cache while fresh. When a refresh fails with a retryable gateway error (network, 429, 5xx)
    /// and an earlier answer exists, that answer is returned with a warning and the gateway is asked again
    /// after at most 30 s.
    pub async fn resolve(&self, symbol: &str) -> Result<Arc<Contract>, ResolveError> {
        let sym = parse_symbol(symbol)?;
        let key = sym.cache_key();
        let found = self.inner.cache.get_or_fetch(&key, |last| self.refresh(&key, &sym, last.flatten())).await?;
        let found = found.ok_or_else(|| unknown(&sym))?;
        let mut known = self.inner.found.lock();
        if known.len() < MAX_ENTRIES && !known.contains_key(&key) {
            known.insert(key, sym);
        }
        Ok(found)
    }

    /// Asks the gateway again for every symbol resolved so far whose answer is older than half the resolver's ttl,
    /// and stores the new answer fresh for a full ttl; returns how many were asked. Called periodically (pxrelay:
    /// hourly), so an alert never pays the daily refresh's `Contract/search` round trip on its order's path
    /// (issue 17): the answer it reads is always fresh. A roll is picked up by this refresh as by the alert's
    /// own. A failed refresh leaves the current answer (still fresh for at least half the ttl) and is tried again at
    /// the next call. Calls are sequential (one per symbol, a handful per day inside the rate budget).
    pub async fn refresh_ahead(&self) -> usize {
        let now = tokio::time::Instant::now();
        let half = self.inner.ttl / 2;
        let due: Vec<(String, SymbolRef)> = {
            let mut known = self.inner.found.lock();
            known.retain(|key, _| self.inner.cache.last(key).flatten().is_some());
            known
                .iter()
                .filter(|(key, _)| self.inner.cache.fresh_until(key).is_none_or(|until| until <= now + half))
                .map(|(k, s)| (k.clone(), s.clone()))
                .collect()
        };
        for (key, sym) in &due {
            match self.fetch(sym).await {
                Ok(Some(contract)) => {
                    let contract = Arc::new(contract);
                    if contract.id.as_str() != key {
                        self.inner.cache.insert(contract.id.to_string(), Some(contract.clone()), self.inner.ttl);
                    }
                    self.inner.cache.insert(key.clone(), Some(contract), self.inner.ttl);
                }
                // Gone at the gateway: the next alert's own resolve says so (and caches the "not found").
                Ok(None) => {
                    self.inner.cache.invalidate(key);
                }
                Err(error) => {
                    tracing::warn!(symbol = sym.input(), error = %error, "refreshing a contract ahead of expiry failed");
                }
            }
        }
        due.len()
    }

    /// Forgets what `symbol` resolved to, and every other cached answer naming the same contract (its own id,
    /// other spellings of the root), so the next resolve asks the gateway. For a contract the gateway stopped
    /// accepting (a roll): the stale fallback is forgotten too. Returns the forgotten contract, if any; an invalid
    /// symbol has nothing cached.
    pub fn invalidate(&self, symbol: &str) -> Option<Arc<Contract>> {
        let key = parse_symbol(symbol).ok()?.cache_key();
        let forgotten = self.inner.cache.invalidate(&key).flatten();
        if let Some(contract) = &forgotten {
            tracing::debug!(symbol, contract.id = %contract.id, "contract resolution forgotten");
            self.inner.cache.invalidate_if(|_, cached| cached.as_ref().is_some_and(|c| c.id == contract.id));
        }
        forgotten
    }

    /// Forgets every answer, so the next resolve of each symbol asks the gateway (tests, forced refresh).
    pub fn invalidate_all(&self) {
        self.inner.cache.invalidate_all();
    }

    /// Asks the gateway; the answer and how long it is served. `last` is the previous found contract for this
    /// key, served again for `STALE_RETRY` when the gateway fails retryably.
    async fn refresh(
        &self,
        key: &str,
        sym: &SymbolRef,
        last: Option<Arc<Contract>>,
    ) -> Result<(Option<Arc<Contract>>, Duration), crate::Error> {
        tracing::debug!(symbol = sym.input(), key, "resolving symbol at the gateway");
        match self.fetch(sym).await {
            Ok(Some(contract)) => {
                let contract = Arc::new(contract);
                if contract.id.as_str() != key {
                    // A later lookup by the contract's own id then costs nothing either.
                    self.inner.cache.insert(contract.id.to_string(), Some(contract.clone()), self.inner.ttl);
                }
                Ok((Some(contract), self.inner.ttl))
            }
            Ok(None) => Ok((None, self.inner.negative_ttl)),
            Err(error) => {
                let Some(contract) = last.filter(|_| error.is_retryable()) else { return Err(error) };
                tracing::warn!(
                    symbol = sym.input(),
                    contract.id = %contract.id,
                    error = %error,
                    "contract refresh failed, serving the previous answer"
                );
                Ok((Some(contract), self.inner.ttl.min(STALE_RETRY)))
            }
        }
    }

    /// One gateway look-up; `Ok(None)` when the gateway has no matching contract.
    async fn fetch(&self, sym: &SymbolRef) -> Result<Option<Contract>, crate::Error> {
        let client = &self.inner.client;
        let (root, next) = match sym {
            SymbolRef::Root { root, next, .. } => (root, *next),
            _ => {
                let id = ContractId::new(sym.contract_id().unwrap_or_default());
                return match client.contract_by_id(&id).await {
                    Ok(contract) => Ok(Some(contract)),
                    Err(crate::Error::Rejected { name: "ContractNotFound", .. }) => Ok(None),
                    Err(e) => Err(e),
                };
            }
        };
        // Search by the ProjectX root first; if that finds nothing (the search matches names, which may use the
        // CME spelling, e.g. `NQZ5` for ENQ), try the CME root. The filter keeps the exact product either way.
        for text in std::iter::once(root.as_str()).chain(parse::exchange_root(root)) {
            let found = client.search_contracts(text, false).await?;
            let product: Vec<Contract> = found.into_iter().filter(|c| is_product(c, root)).collect();
            if let Some(pick) = pick(product, next) {
                return Ok(Some(pick));
            }
        }
        Ok(None)
    }
}

fn unknown(sym: &SymbolRef) -> ResolveError {
    ResolveError::UnknownSymbol { symbol: sym.input().to_owned() }
}

/// Exactly this product: `symbolId == F.US.<root>`, or without a `symbolId`, an id under `CON.F.US.<root>.`.
fn is_product(contract: &Contract, root: &str) -> bool {
    match contract.symbol_id.as_deref().filter(|s| !s.is_empty()) {
        Some(symbol_id) => symbol_id.strip_prefix("F.US.") == Some(root),
        None => contract
            .id
            .as_str()
            .strip_prefix("CON.F.US.")
            .and_then(|rest| rest.strip_prefix(root))
            .is_some_and(|rest| rest.starts_with('.')),
    }
}

/// The active contract (earliest expiry if the gateway ever flags two), or with `next` the first contract of the
/// product expiring after it.
fn pick(product: Vec<Contract>, next: bool) -> Option<Contract> {
    // Unparseable ids sort last, so they are never preferred over a well-formed one.
    let expiry = |c: &Contract| parse::expiry(c.id.as_str()).unwrap_or((u16::MAX, usize::MAX));
    let active = product.iter().filter(|c| c.active_contract).min_by_key(|c| expiry(c))?;
    if !next {
        return Some(active.clone());
    }
    let after = parse::expiry(active.id.as_str())?;
    product.into_iter().filter(|c| parse::expiry(c.id.as_str()).is_some_and(|e| e > after)).min_by_key(|c| expiry(c))
}
