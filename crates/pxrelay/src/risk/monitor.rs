//! The risk monitor: one task on the app's `TaskTracker`, stopped by its cancellation token, that checks every
//! watched account's day P&L against `DAILY_LOSS_LIMIT` / `DAILY_PROFIT_TARGET` and acts once per breach
//! ([`super::DailyRisk::record`], then the flatten with `DAILY_LOSS_ACTION=flatten`).
//!
//! Why a short tick ([`CHECK_EVERY`]) rather than waking on each event: the day P&L moves with two sources, the
//! account books (fills, positions) and the quote cache (marks), and neither offers a change notification; a
//! 250 ms tick reads both from memory (no gateway call: the contracts resolve from the resolver's cache), so a
//! breach is acted on within a quarter of a second plus the flatten, well inside the 2 s the issue asks, at a cost
//! of a few map reads per account per tick. It is never a busy loop (`interval` with `Delay`), and every wait sits
//! in a `select!` with the cancellation.
//!
//! The contracts of open positions are subscribed for good ([`QuoteService::watch`] by contract id) the first time
//! they are seen, so their open P&L is known; a position without a quote leaves the day unknown and nothing is
//! decided on it (visible in `/status` as `day_pnl: null`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use projectx::ContractId;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{BreachAction, DailyRisk};
use crate::books::Books;
use crate::executor::Work;
use crate::executor::flatten::{self, FlattenScope};
use crate::quotes::QuoteService;

/// How often the monitor reads the books and the quote cache.
pub const CHECK_EVERY: Duration = Duration::from_millis(250);

/// The risk monitor (see the module docs).
#[derive(Debug)]
pub struct Monitor {
    /// The limits and blocks.
    pub risk: Arc<DailyRisk>,
    /// The account books: which accounts are watched, their trades and positions.
    pub books: Arc<Books>,
    /// Marks (the quote cache) and contracts (the resolver).
    pub quotes: Arc<QuoteService>,
    /// The executor queue the flatten goes through (awaited, never dropped).
    pub jobs: mpsc::Sender<Work>,
    /// Each new block is told here (`blocked`; never waits).
    pub notify: crate::notify::Notifier,
}

impl Monitor {
    /// Checks every [`CHECK_EVERY`] until `cancel`; returns at once when no limit is set.
    pub async fn run(self, cancel: CancellationToken) {
        // With neither global limits nor any `ACCOUNT_LIMITS` daily limit there is nothing to watch. The per-account
        // limits are known once the warm-up has checked the accounts, so the first ticks may pass before that.
        let mut watched: HashSet<ContractId> = HashSet::new();
        let mut every = tokio::time::interval(CHECK_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => return,
                _ = every.tick() => {}
            }
            if !self.risk.is_active() {
                continue;
            }
            let contracts = self.books.position_contracts();
            for contract in &contracts {
                if watched.contains(contract) {
                    continue;
                }
                match self.quotes.watch(contract.as_str()).await {
                    Ok(_) => {
                        watched.insert(contract.clone());
                    }
                    Err(e) => {
                        tracing::warn!(contract.id = %contract, error = %e, "risk monitor: could not subscribe an open position's quotes; its open P&L is unknown")
                    }
                }
            }
            let marks = crate::pnl::marks(&self.quotes, contracts).await;
            for account in self.books.accounts() {
                if !self.risk.settings_for(account).is_active() {
                    continue;
                }
                let Some(pnl) = self.risk.day(&self.books, account, &marks).and_then(|d| d.total()) else { continue };
                let Some(block) = self.risk.breach(account, pnl) else { continue };
                let (action, by) = (block.action, block.reason());
                let name = self.books.account_name(account).unwrap_or_else(|| account.to_string());
                self.notify.emit(blocked_notice(&block, &name, self.risk.until(&block)));
                self.risk.record(block).await;
                if action == BreachAction::Flatten {
                    tokio::select! {
                        biased;
                        () = cancel.cancelled() => return,
                        report = flatten::request(&self.jobs, account, FlattenScope::All, by) => match report {
                            Ok(report) => tracing::warn!(account.id = %account, id = %report.id, status = %report.status, closed = report.closed.len(), cancelled = report.cancelled.len(), "daily risk flatten done"),
                            Err(e) => tracing::error!(account.id = %account, error = %e, "daily risk flatten not run"),
                        },
                    }
                }
            }
        }
    }
}

/// An account (`account`, its name) blocked for the day; `until` is when entries are allowed again.
fn blocked_notice(block: &super::Block, account: &str, until: chrono::DateTime<chrono::Utc>) -> crate::notify::Notice {
    crate::notify::Notice::new(
        crate::notify::EventKind::Blocked,
        format!(
            "{account} blocked: {}; entries refused until {} ({})",
            block.reason(),
            until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            block.action.as_str()
        ),
    )
    .account(account)
    .field("account_id", block.account_id.to_string())
    .field("kind", block.kind.as_str())
    .field("day_pnl", block.day_pnl.to_string())
    .field("threshold", block.threshold.to_string())
    .field("action", block.action.as_str())
    .field("until", until.to_rfc3339())
}
