//! Contracts resolved ahead of the alerts that need them (issue 17: one gateway round trip per alert).
//!
//! An alert's symbol is resolved to a contract through the resolver's cache ([`projectx::contracts`], fresh for a
//! day). Without this module, the first alert after a restart and the first alert of each day after the answer
//! expired paid a `Contract/search` round trip before their order left. Here:
//! - at warm-up, the symbols of the journal's newest [`PRIMED_ALERTS`] alerts are resolved (at most
//!   [`MAX_PRIMED`] symbols, within [`PRIME_BUDGET`]; a symbol that fails is left to its next alert);
//! - every [`REFRESH_EVERY`], [`projectx::contracts::ContractResolver::refresh_ahead`] asks the gateway again for
//!   every resolved symbol past half its lifetime, so an alert always finds a fresh answer (a roll is picked up by
//!   that refresh).
//!
//! A symbol never traded before still costs its first alert one `Contract/search` (or name it in `QUOTE_SYMBOLS`
//! or `ALLOWED_SYMBOLS`, which are resolved at warm-up too).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::journal::Journal;
use crate::quotes::QuoteService;

/// How many of the journal's newest alerts name the symbols resolved at warm-up.
pub const PRIMED_ALERTS: u32 = 200;
/// At most this many distinct symbols are resolved at warm-up.
pub const MAX_PRIMED: usize = 20;
/// The warm-up waits at most this long for the priming (a slow gateway must not hold readiness back).
pub const PRIME_BUDGET: Duration = Duration::from_secs(5);
/// How often resolved contracts past half their lifetime are asked for again.
pub const REFRESH_EVERY: Duration = Duration::from_secs(3600);

/// Resolves the symbols of the journal's recent alerts (see the module doc); returns how many resolved.
pub async fn prime_from_journal(quotes: &QuoteService, journal: &Journal) -> usize {
    let symbols: BTreeSet<String> = match journal.list(PRIMED_ALERTS).await {
        Ok(rows) => rows.into_iter().filter_map(|row| row.intent.map(|i| i.symbol)).take(MAX_PRIMED).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "could not read the journal's recent symbols; contracts resolve on first use");
            return 0;
        }
    };
    let resolve_all = async {
        let mut resolved = 0;
        for symbol in &symbols {
            match quotes.resolver().resolve(symbol).await {
                Ok(_) => resolved += 1,
                Err(e) => tracing::debug!(symbol, error = %e, "a recent symbol did not resolve at warm-up"),
            }
        }
        resolved
    };
    match tokio::time::timeout(PRIME_BUDGET, resolve_all).await {
        Ok(resolved) => {
            tracing::debug!(symbols = symbols.len(), resolved, "contracts of recent alerts resolved ahead");
            resolved
        }
        Err(_) => {
            tracing::warn!(symbols = symbols.len(), "resolving recent symbols took too long; the rest resolve on use");
            0
        }
    }
}

/// Starts the hourly [`projectx::contracts::ContractResolver::refresh_ahead`], until `cancel`.
pub fn keep_fresh(quotes: Arc<QuoteService>, tracker: &TaskTracker, cancel: &CancellationToken) {
    let cancel = cancel.child_token();
    tracker.spawn(async move {
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(REFRESH_EVERY) => {}
            }
            let asked = quotes.resolver().refresh_ahead().await;
            tracing::debug!(symbols = asked, "contracts refreshed ahead of expiry");
        }
    });
}
