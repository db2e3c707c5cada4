//! The daily loss limit and profit target (issue 12): `DAILY_LOSS_LIMIT`, `DAILY_PROFIT_TARGET` and
//! `DAILY_LOSS_ACTION`, per account, in the account's currency, fees included, on the day's realized + open P&L
//! ([`day`]). Prop firms close an account that breaks its daily loss limit (Topstep liquidates at it), so pxrelay
//! acts at the broker before that happens:
//! - the [`monitor`] evaluates every watched account's day (book changes and quotes, read on a short tick);
//! - on a breach it writes a [`Block`] for that account and trading day to the journal **before** acting, logs at
//!   `error`, counts it (`pxrelay_daily_risk_breaches_total{kind}`) and, with `DAILY_LOSS_ACTION=flatten` (the
//!   default), queues a flatten of the whole account ([`crate::executor::flatten`], scope `All`); `block` only
//!   refuses entries;
//! - either way the executor refuses entries for that account, naming the limit, the day P&L and when entries are
//!   allowed again (the next `SESSION_OPEN` in `MARKET_TIMEZONE`); exits are never refused;
//! - a block acts once (one flatten per breach), ends when the next trading day starts ([`MarketClock`]), and is
//!   restored at startup when it is for the current trading day and its setting is still set (unsetting the
//!   variable and restarting is the way to lift a block early).

pub mod day;
pub mod monitor;

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use projectx::{AccountId, ContractId};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::books::Books;
use crate::journal::{Journal, JournalError};
use crate::market_time::MarketClock;
use crate::metrics::Metrics;
use crate::pnl::Mark;
use day::DayPnl;

/// The journal state key (`journal_meta`) holding the blocks in force, as a JSON array of [`Block`]s.
pub const BLOCKS_STATE: &str = "daily_risk_blocks";

/// What a breach does (`DAILY_LOSS_ACTION`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreachAction {
    /// Cancel every working order and close every position of the account, then refuse entries.
    #[default]
    Flatten,
    /// Refuse entries only; positions and orders stay.
    Block,
}

impl BreachAction {
    /// `flatten` or `block`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Flatten => "flatten",
            Self::Block => "block",
        }
    }
}

impl FromStr for BreachAction {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "flatten" => Ok(Self::Flatten),
            "block" => Ok(Self::Block),
            _ => Err(()),
        }
    }
}

/// One account's own daily settings (`ACCOUNT_LIMITS` `daily_loss_limit`, `daily_profit_target`,
/// `daily_loss_action`); `None` fields fall back to the globals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccountRisk {
    /// The account's own loss limit.
    pub loss_limit: Option<Decimal>,
    /// The account's own profit target.
    pub profit_target: Option<Decimal>,
    /// The account's own breach action.
    pub action: Option<BreachAction>,
}

/// Where per-account daily settings come from (the startup adapts `ACCOUNT_LIMITS` to it), so this module does not
/// depend on the account configuration's modules.
pub trait RiskOverrides: std::fmt::Debug + Send + Sync {
    /// `account`'s own settings.
    fn for_account(&self, account: AccountId) -> AccountRisk;
    /// Whether any account has a daily loss limit or profit target of its own.
    fn any_daily_limit(&self) -> bool;
}

/// `DAILY_LOSS_LIMIT`, `DAILY_LOSS_ACTION`, `DAILY_PROFIT_TARGET`. Unset limits are `None`: nothing is checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RiskSettings {
    /// The most the day may lose (a positive amount): a day P&L at or below `−loss_limit` is a breach.
    pub loss_limit: Option<Decimal>,
    /// What a breach (of either) does.
    pub action: BreachAction,
    /// A day P&L at or above this locks in the day.
    pub profit_target: Option<Decimal>,
}

impl RiskSettings {
    /// Whether anything is checked at all.
    pub fn is_active(&self) -> bool {
        self.loss_limit.is_some() || self.profit_target.is_some()
    }

    /// The rule `day_pnl` breaks, with its threshold, if any (the loss limit first).
    pub fn breach(&self, day_pnl: Decimal) -> Option<(Kind, Decimal)> {
        if let Some(limit) = self.loss_limit.filter(|limit| day_pnl <= -*limit) {
            return Some((Kind::LossLimit, limit));
        }
        self.profit_target.filter(|target| day_pnl >= *target).map(|target| (Kind::ProfitTarget, target))
    }

    fn threshold(&self, kind: Kind) -> Option<Decimal> {
        match kind {
            Kind::LossLimit => self.loss_limit,
            Kind::ProfitTarget => self.profit_target,
        }
    }
}

/// Which rule a day broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `DAILY_LOSS_LIMIT`.
    LossLimit,
    /// `DAILY_PROFIT_TARGET`.
    ProfitTarget,
}

impl Kind {
    /// The metric label: `loss_limit` or `profit_target`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LossLimit => "loss_limit",
            Self::ProfitTarget => "profit_target",
        }
    }

    /// In words, with its variable: `daily loss limit (DAILY_LOSS_LIMIT)`.
    pub fn words(self) -> &'static str {
        match self {
            Self::LossLimit => "daily loss limit (DAILY_LOSS_LIMIT)",
            Self::ProfitTarget => "daily profit target (DAILY_PROFIT_TARGET)",
        }
    }
}

/// An account blocked for one trading day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// The account.
    pub account_id: AccountId,
    /// The trading day it holds for ([`MarketClock::trading_day`]).
    pub day: NaiveDate,
    /// The rule broken.
    pub kind: Kind,
    /// The rule's amount (a positive number).
    pub threshold: Decimal,
    /// The day P&L that broke it.
    pub day_pnl: Decimal,
    /// When.
    pub at: DateTime<Utc>,
    /// What it did.
    pub action: BreachAction,
}

impl Block {
    /// `daily loss limit (DAILY_LOSS_LIMIT) 100 reached: day P&L -104.50`.
    pub fn reason(&self) -> String {
        let verb = if self.kind == Kind::LossLimit { "reached" } else { "reached, the day is locked in" };
        format!("{} {} {verb}: day P&L {}", self.kind.words(), self.threshold, self.day_pnl)
    }
}

/// The daily limits' state: settings, clock and the blocks in force. Shared as `Arc<DailyRisk>` by the monitor
/// (writes blocks), the executor (reads them to refuse entries) and `/status`.
#[derive(Debug)]
pub struct DailyRisk {
    settings: RiskSettings,
    clock: MarketClock,
    journal: Journal,
    metrics: Arc<Metrics>,
    /// Blocks by account; written by [`DailyRisk::record`] (the monitor) and pruned when their day is over; read
    /// by the executor and `/status`. A sync lock held for a statement, never across an await.
    blocks: parking_lot::Mutex<BTreeMap<AccountId, Block>>,
    /// Per-account overrides (`ACCOUNT_LIMITS`): an account's own values replace the globals for it
    /// ([`DailyRisk::settings_for`]). None until [`DailyRisk::with_limits`].
    limits: Option<Arc<dyn RiskOverrides>>,
}

impl DailyRisk {
    /// No blocks yet.
    pub fn new(settings: RiskSettings, clock: MarketClock, journal: Journal, metrics: Arc<Metrics>) -> Self {
        Self { settings, clock, journal, metrics, blocks: parking_lot::Mutex::new(BTreeMap::new()), limits: None }
    }

    /// [`Self::new`] with the journal's blocks for the current trading day whose rule is still set.
    pub async fn restore(
        settings: RiskSettings,
        clock: MarketClock,
        journal: Journal,
        metrics: Arc<Metrics>,
    ) -> Result<Self, JournalError> {
        let saved = journal.state(BLOCKS_STATE).await?;
        let risk = Self::new(settings, clock, journal, metrics);
        let blocks: Vec<Block> = match saved.map(|text| serde_json::from_str(&text)) {
            None => Vec::new(),
            Some(Ok(blocks)) => blocks,
            Some(Err(e)) => {
                tracing::error!(error = %e, "the journal's daily risk blocks could not be read: none restored");
                Vec::new()
            }
        };
        let today = risk.clock.trading_day(risk.clock.now());
        for block in blocks {
            // Per-account limits are not known yet (the warm-up reads them): today's blocks are kept, and one whose
            // limit is no longer set is dropped when it is next read ([`DailyRisk::block_of`]).
            if block.day == today {
                tracing::warn!(account.id = %block.account_id, reason = %block.reason(), "daily risk block restored from the journal: entries are refused until the next session open");
                risk.blocks.lock().insert(block.account_id, block);
            }
        }
        Ok(risk)
    }

    /// The global settings (`DAILY_*`).
    pub fn settings(&self) -> &RiskSettings {
        &self.settings
    }

    /// The same state reading per-account overrides from `limits` (`ACCOUNT_LIMITS`).
    pub fn with_limits(self, limits: Arc<dyn RiskOverrides>) -> Self {
        Self { limits: Some(limits), ..self }
    }

    /// Whether any account has a daily limit: the globals, or an `ACCOUNT_LIMITS` entry.
    pub fn is_active(&self) -> bool {
        self.settings.is_active() || self.limits.as_ref().is_some_and(|l| l.any_daily_limit())
    }

    /// `account`'s settings: its `ACCOUNT_LIMITS` values where it has them, else the globals.
    pub fn settings_for(&self, account: AccountId) -> RiskSettings {
        let own = self.limits.as_ref().map(|l| l.for_account(account)).unwrap_or_default();
        RiskSettings {
            loss_limit: own.loss_limit.or(self.settings.loss_limit),
            profit_target: own.profit_target.or(self.settings.profit_target),
            action: own.action.unwrap_or(self.settings.action),
        }
    }

    /// The market clock (trading day, session open).
    pub fn clock(&self) -> &MarketClock {
        &self.clock
    }

    /// The block in force on `account` now; a block whose trading day is over is dropped (logged).
    pub fn block_of(&self, account: AccountId) -> Option<Block> {
        let today = self.clock.trading_day(self.clock.now());
        let mut blocks = self.blocks.lock();
        match blocks.get(&account) {
            Some(block) if block.day == today && self.settings_for(account).threshold(block.kind).is_some() => {
                Some(block.clone())
            }
            Some(_) => {
                blocks.remove(&account);
                tracing::info!(account.id = %account, "a new trading day, or its limit is no longer set: the daily risk block has ended");
                None
            }
            None => None,
        }
    }

    /// A new block for `account` if `day_pnl` breaks a rule and the account is not blocked already.
    pub fn breach(&self, account: AccountId, day_pnl: Decimal) -> Option<Block> {
        if self.block_of(account).is_some() {
            return None;
        }
        let settings = self.settings_for(account);
        let (kind, threshold) = settings.breach(day_pnl)?;
        let at = self.clock.now();
        let day = self.clock.trading_day(at);
        Some(Block { account_id: account, day, kind, threshold, day_pnl, at, action: settings.action })
    }

    /// Puts `block` in force: journaled first (so a restart keeps it), then in memory, logged at `error` and
    /// counted. A journal failure is logged and the block still holds in this process.
    pub async fn record(&self, block: Block) {
        let mut all: Vec<Block> = self.blocks.lock().values().cloned().collect();
        all.retain(|b| b.account_id != block.account_id && b.day == block.day);
        all.push(block.clone());
        let text = serde_json::to_string(&all).unwrap_or_else(|_| "[]".to_owned());
        if let Err(e) = self.journal.set_state(BLOCKS_STATE, text).await {
            tracing::error!(account.id = %block.account_id, error = %e, "could not journal the daily risk block: a restart would forget it");
        }
        self.blocks.lock().insert(block.account_id, block.clone());
        self.metrics.risk_breach(block.kind.as_str());
        tracing::error!(account.id = %block.account_id, kind = block.kind.as_str(), action = block.action.as_str(), day_pnl = %block.day_pnl, threshold = %block.threshold, until = %self.until_text(&block), "{}: entries are refused until the next session open", block.reason());
    }

    /// When entries are allowed again after `block`: the next `SESSION_OPEN` in `MARKET_TIMEZONE`.
    pub fn until(&self, block: &Block) -> DateTime<Utc> {
        self.clock.day_start(block.day + chrono::Days::new(1))
    }

    fn until_text(&self, block: &Block) -> String {
        self.clock.local(self.until(block)).format("%Y-%m-%d %H:%M %Z").to_string()
    }

    /// The day of `account` from its live book (`None` when the book is not live) with the positions at `marks`.
    pub fn day(&self, books: &Books, account: AccountId, marks: &HashMap<ContractId, Mark>) -> Option<DayPnl> {
        let start = self.clock.trading_day_start(self.clock.now());
        let (trades, positions) = books.live_day(account, start)?;
        Some(day::day_pnl(&trades, start, &positions, marks))
    }

    /// `/status.accounts[].risk`: `day_pnl` (`null` while the book is not live or a position has no quote),
    /// `realized`, `fees`, `open_pnl`, `day_start`, `limit`, `profit_target`, `action`, `room_left` (what may still
    /// be lost before the limit, never below 0; `null` without a limit or a day P&L), `blocked`, `blocked_reason`,
    /// `blocked_until`.
    pub fn status(&self, books: &Books, account: AccountId, marks: &HashMap<ContractId, Mark>) -> Value {
        let day = self.day(books, account, marks);
        let total = day.as_ref().and_then(DayPnl::total);
        let settings = self.settings_for(account);
        let room_left = settings.loss_limit.zip(total).map(|(limit, pnl)| (limit + pnl).max(Decimal::ZERO));
        let block = self.block_of(account);
        json!({
            "day_pnl": total,
            "realized": day.as_ref().map(|d| d.realized),
            "fees": day.as_ref().map(|d| d.fees),
            "open_pnl": day.as_ref().and_then(|d| d.open),
            "day_start": self.clock.trading_day_start(self.clock.now()),
            "limit": settings.loss_limit,
            "profit_target": settings.profit_target,
            "action": settings.action.as_str(),
            "room_left": room_left,
            "blocked": block.is_some(),
            "blocked_reason": block.as_ref().map(Block::reason),
            "blocked_until": block.as_ref().map(|b| self.until(b)),
        })
    }
}

/// The executor's entry refusal: the account's block in force, and when entries are allowed again (the next session
/// open, in `MARKET_TIMEZONE`).
impl crate::executor::AccountBlock for DailyRisk {
    fn refusal(&self, account: AccountId) -> Option<(String, String)> {
        let block = self.block_of(account)?;
        let todo = format!("; entries are allowed again at {} (the next session open)", self.until_text(&block));
        Some((block.reason(), todo))
    }
}

#[cfg(test)]
mod tests;
