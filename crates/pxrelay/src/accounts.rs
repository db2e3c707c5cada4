//! Which accounts an alert trades: the alert's `account`/`accounts` (names, ids, `ACCOUNT_GROUPS` groups, or a
//! list of them), else `PROJECT_X_ACCOUNT`, else the only tradable account ([`Accounts::targets`]; the rules are in
//! `resolve`). The account list (every account of the login, tradable or not, so one that cannot trade is reported
//! rather than unknown) is cached for a few minutes and fetched single-flight, so webhooks do not each cost an API
//! call, not even a burst of them right after the list expired. Also: the startup check of every configured
//! account ([`Accounts::check_configured`]) and the per-account limits by id ([`LimitsById`]).

mod resolve;

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use projectx::cache::FlightCache;
use projectx::{Account, AccountId};

use crate::config::{AccountLimits, AccountSettings};
pub use resolve::{Target, scaled, scaled_target};

/// How long the account list is reused: accounts appear or lose `canTrade` rarely, and a webhook should not wait
/// for `Account/search`.
const CACHE_FOR: Duration = Duration::from_secs(300);

/// Picks accounts.
#[derive(Debug)]
pub struct Accounts {
    gateway: projectx::Client,
    /// `PROJECT_X_ACCOUNT`: a name, id, group or list.
    default: Option<String>,
    /// `ACCOUNT_GROUPS` and `ACCOUNT_LIMITS` as configured (names not yet checked).
    settings: AccountSettings,
    /// `ACCOUNT_LIMITS` by account id: filled by [`Accounts::check_configured`] at startup, read by the executor's
    /// guards (shared with them).
    limits: Arc<LimitsById>,
    /// The account list (one entry, key `()`), fetched single-flight; failures are not cached.
    cache: FlightCache<(), Vec<Account>>,
}

impl Accounts {
    /// Accounts of `gateway`, defaulting to `default` (`PROJECT_X_ACCOUNT`), without groups or limits.
    pub fn new(gateway: projectx::Client, default: Option<String>) -> Self {
        Self {
            gateway,
            default,
            settings: AccountSettings::default(),
            limits: Arc::default(),
            cache: FlightCache::new(1),
        }
    }

    /// These accounts with `ACCOUNT_GROUPS`/`ACCOUNT_LIMITS`; `limits` is filled by [`Accounts::check_configured`]
    /// (give the executor's guards the same one).
    pub fn with_settings(self, settings: AccountSettings, limits: Arc<LimitsById>) -> Self {
        Self { settings, limits, ..self }
    }

    /// `ACCOUNT_GROUPS`.
    pub fn groups(&self) -> &crate::config::AccountGroups {
        &self.settings.groups
    }

    /// Every account of the login (`Account/search` with `onlyActiveAccounts: false`), cached.
    pub async fn list(&self) -> Result<Vec<Account>, String> {
        self.cache
            .get_or_fetch(&(), |_| async {
                let list = self.gateway.accounts(false).await.map_err(|e| format!("could not list accounts: {e}"))?;
                Ok((list, CACHE_FOR))
            })
            .await
    }

    /// The accounts an alert that asked for `requested` (names, ids, groups, comma-separated lists; empty = the
    /// default) trades, with their multipliers; accounts that cannot trade are included with `can_trade: false`.
    /// The error (unknown names, or the listing failed) lists the groups and accounts there are.
    pub async fn targets(&self, requested: &[String]) -> Result<Vec<Target>, String> {
        let list = self.list().await?;
        resolve::targets(&list, &self.settings.groups, self.default.as_deref(), requested)
    }

    /// The startup check: every account `ACCOUNT_GROUPS`, `ACCOUNT_LIMITS` and `PROJECT_X_ACCOUNT` name exists
    /// (`Ok(Err(problems))` otherwise, one line each naming its variable: a configuration problem, exit 78). On
    /// success the per-account limits are resolved to ids ([`LimitsById`]) and every configured account is returned
    /// (to watch its book). The outer `Err` is a listing failure (retry).
    pub async fn check_configured(&self) -> Result<Result<Vec<AccountId>, Vec<String>>, String> {
        let list = self.list().await?;
        let checked =
            resolve::check_configured(&list, &self.settings.groups, &self.settings.limits, self.default.as_deref());
        if checked.is_ok() {
            let by_id = list
                .iter()
                .map(|a| (a.id, self.settings.limits.find(|configured| resolve::names(a, configured))))
                .filter(|(_, limits)| *limits != AccountLimits::default())
                .collect();
            self.limits.set(by_id);
        }
        Ok(checked)
    }

    /// What `/status` adds to each account: its name, whether it can trade and the groups it is in, by id, from
    /// the last account listing (fresh or not; made at startup by the account check). Never asks the gateway:
    /// `/status` must answer at once during a gateway or login outage. Empty before the first listing.
    pub fn describe(&self) -> HashMap<AccountId, AccountInfo> {
        let Some(list) = self.cache.last(&()) else { return HashMap::new() };
        list.iter()
            .map(|a| {
                let groups = self.settings.groups.groups_of(|configured| resolve::names(a, configured));
                let info = AccountInfo {
                    name: a.name.clone(),
                    can_trade: a.can_trade,
                    groups: groups.map(str::to_owned).collect(),
                };
                (a.id, info)
            })
            .collect()
    }

    /// The one tradable account id for an alert that asked for `requested` (a name or id, or nothing: the
    /// default). For single-account callers; groups and lists are [`Accounts::targets`]. The error explains the
    /// choice.
    pub async fn pick(&self, requested: Option<&str>) -> Result<AccountId, String> {
        let list = self.list().await?;
        let tradable: Vec<&Account> = list.iter().filter(|a| a.can_trade).collect();
        let names = || tradable.iter().map(|a| format!("{} ({})", a.name, a.id)).collect::<Vec<_>>().join(", ");
        match requested.or(self.default.as_deref()) {
            Some(wanted) => {
                let wanted = wanted.trim();
                tradable
                    .iter()
                    .find(|a| a.id.to_string() == wanted || a.name.eq_ignore_ascii_case(wanted))
                    .map(|a| a.id)
                    .ok_or_else(|| format!("account `{wanted}` is not a tradable account; tradable: {}", names()))
            }
            None => match tradable.as_slice() {
                [one] => Ok(one.id),
                [] => Err("no tradable account on this login".to_owned()),
                _ => Err(format!(
                    "several tradable accounts ({}): set PROJECT_X_ACCOUNT or send `account` in the alert",
                    names()
                )),
            },
        }
    }
}

/// One account as `/status` describes it beside its book.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountInfo {
    /// Display name.
    pub name: String,
    /// Whether the gateway accepts orders for it (`canTrade` in the listing).
    pub can_trade: bool,
    /// The `ACCOUNT_GROUPS` groups it belongs to, in configuration order.
    pub groups: Vec<String>,
}

/// `ACCOUNT_LIMITS` by account id. Set once at startup, by the warm-up's account check, before any alert runs;
/// read by the executor's guards (`Guards::max_contracts_for`). Unset or absent: no override (the globals apply).
#[derive(Debug, Default)]
pub struct LimitsById(OnceLock<HashMap<AccountId, AccountLimits>>);

impl crate::executor::ContractCaps for LimitsById {
    fn max_contracts(&self, account: AccountId) -> Option<u32> {
        self.get(account).max_contracts
    }
}

impl LimitsById {
    /// Per-account overrides by id (a test or the startup check; a second call is ignored).
    pub fn set(&self, by_id: HashMap<AccountId, AccountLimits>) {
        let _ = self.0.set(by_id);
    }

    /// Whether any account's overrides satisfy `f` (false before they are set).
    pub fn any(&self, f: impl Fn(&AccountLimits) -> bool) -> bool {
        self.0.get().is_some_and(|m| m.values().any(f))
    }

    /// The overrides of `account`; all `None` when it has none.
    pub fn get(&self, account: AccountId) -> AccountLimits {
        self.0.get().and_then(|m| m.get(&account).copied()).unwrap_or_default()
    }
}
