//! The rules' arithmetic, the block's words, and a block's life: journaled, restored the same trading day (only
//! while its variable is set), ended by the next session open.

use std::sync::Arc;

use super::*;
use crate::executor::AccountBlock;
use crate::mode::Mode;

fn settings(limit: Option<i64>, target: Option<i64>) -> RiskSettings {
    RiskSettings {
        loss_limit: limit.map(Decimal::from),
        action: BreachAction::Flatten,
        profit_target: target.map(Decimal::from),
    }
}

#[test]
fn a_loss_at_the_limit_breaks_it_and_a_profit_at_the_target_locks_the_day() {
    let s = settings(Some(100), Some(300));
    assert_eq!(s.breach(Decimal::from(-99)), None);
    assert_eq!(s.breach(Decimal::from(-100)), Some((Kind::LossLimit, Decimal::from(100))));
    assert_eq!(s.breach("-100.01".parse().unwrap()), Some((Kind::LossLimit, Decimal::from(100))));
    assert_eq!(s.breach(Decimal::from(299)), None);
    assert_eq!(s.breach(Decimal::from(300)), Some((Kind::ProfitTarget, Decimal::from(300))));
    assert_eq!(settings(None, None).breach(Decimal::from(-1_000_000)), None);
    assert!(!settings(None, None).is_active());
}

#[test]
fn the_action_reads_flatten_or_block() {
    assert_eq!("Flatten".parse(), Ok(BreachAction::Flatten));
    assert_eq!("block".parse(), Ok(BreachAction::Block));
    assert_eq!("close".parse::<BreachAction>(), Err(()));
}

#[test]
fn the_reason_names_the_variable_the_amount_and_the_day_pnl() {
    let block = Block {
        account_id: AccountId::new(7),
        day: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
        kind: Kind::LossLimit,
        threshold: Decimal::from(100),
        day_pnl: "-104.50".parse().unwrap(),
        at: Utc::now(),
        action: BreachAction::Flatten,
    };
    assert_eq!(block.reason(), "daily loss limit (DAILY_LOSS_LIMIT) 100 reached: day P&L -104.50");
}

fn journal() -> Journal {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("pxrelay-risk-{}-{n}", std::process::id()));
    Journal::open(&dir.join("j.db"), std::time::Duration::from_secs(60), Mode::Live).unwrap()
}

/// A market clock reading whatever `at` holds.
fn clock_at(at: &Arc<parking_lot::Mutex<DateTime<Utc>>>) -> MarketClock {
    let at = at.clone();
    MarketClock::default().with_now(Arc::new(move || *at.lock()))
}

#[tokio::test]
async fn a_block_is_restored_the_same_trading_day_and_ends_at_the_next_session_open_in_chicago() {
    let journal = journal();
    // Sunday 2026-11-01, 16:30 CST (the day Chicago leaves daylight saving time): Monday's session opens at
    // 17:00 CST = 23:00 UTC, not 22:00.
    let now = Arc::new(parking_lot::Mutex::new("2026-11-01T22:30:00Z".parse::<DateTime<Utc>>().unwrap()));
    let account = AccountId::new(7);
    let risk = DailyRisk::new(settings(Some(100), None), clock_at(&now), journal.clone(), Metrics::new());
    assert_eq!(risk.breach(account, Decimal::from(-99)), None);
    let block = risk.breach(account, Decimal::from(-120)).unwrap();
    assert_eq!((block.kind, block.day), (Kind::LossLimit, NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()));
    risk.record(block.clone()).await;
    assert_eq!(risk.breach(account, Decimal::from(-500)), None, "once per breach");
    assert_eq!(risk.until(&block), "2026-11-01T23:00:00Z".parse::<DateTime<Utc>>().unwrap());
    let (why, todo) = risk.refusal(account).unwrap();
    assert_eq!(why, block.reason());
    assert_eq!(todo, "; entries are allowed again at 2026-11-01 17:00 CST (the next session open)");

    // A restart the same trading day keeps it; one whose variable was unset does not.
    let restored =
        DailyRisk::restore(settings(Some(100), None), clock_at(&now), journal.clone(), Metrics::new()).await.unwrap();
    assert_eq!(restored.block_of(account), Some(block.clone()));
    let unset =
        DailyRisk::restore(settings(None, Some(50)), clock_at(&now), journal.clone(), Metrics::new()).await.unwrap();
    assert_eq!(unset.block_of(account), None);

    // 17:00 CST: a new trading day, no block, and a restart then restores none.
    *now.lock() = "2026-11-01T23:00:00Z".parse().unwrap();
    assert_eq!(restored.block_of(account), None);
    assert_eq!(restored.refusal(account), None);
    let next_day =
        DailyRisk::restore(settings(Some(100), None), clock_at(&now), journal, Metrics::new()).await.unwrap();
    assert_eq!(next_day.block_of(account), None);
}

/// Fixed per-account overrides.
#[derive(Debug)]
struct Overrides(std::collections::HashMap<AccountId, AccountRisk>);

impl RiskOverrides for Overrides {
    fn for_account(&self, account: AccountId) -> AccountRisk {
        self.0.get(&account).copied().unwrap_or_default()
    }

    fn any_daily_limit(&self) -> bool {
        self.0.values().any(|r| r.loss_limit.is_some() || r.profit_target.is_some())
    }
}

#[test]
fn an_accounts_own_limits_replace_the_globals_for_it_only() {
    let now = Arc::new(parking_lot::Mutex::new("2026-12-01T16:00:00Z".parse::<DateTime<Utc>>().unwrap()));
    let (own, other) = (AccountId::new(1), AccountId::new(2));
    let tight =
        AccountRisk { loss_limit: Some(Decimal::from(50)), action: Some(BreachAction::Block), ..Default::default() };
    let limits = Arc::new(Overrides(std::collections::HashMap::from([(own, tight)])));
    let risk = DailyRisk::new(settings(Some(500), None), clock_at(&now), journal(), Metrics::new())
        .with_limits(limits.clone());
    assert!(risk.is_active());
    assert_eq!(risk.settings_for(own).loss_limit, Some(Decimal::from(50)));
    assert_eq!(risk.settings_for(own).action, BreachAction::Block);
    assert_eq!(risk.settings_for(other), settings(Some(500), None), "the globals for an account without its own");
    let block = risk.breach(own, Decimal::from(-60)).expect("past its own $50");
    assert_eq!((block.threshold, block.action), (Decimal::from(50), BreachAction::Block));
    assert_eq!(risk.breach(other, Decimal::from(-60)), None, "within the global $500");
    // Only an ACCOUNT_LIMITS daily limit, no global one: still active.
    let risk = DailyRisk::new(settings(None, None), clock_at(&now), journal(), Metrics::new()).with_limits(limits);
    assert!(risk.is_active() && risk.settings_for(other).loss_limit.is_none());
}
