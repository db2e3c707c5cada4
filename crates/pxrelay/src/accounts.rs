//! Which account an alert trades: the alert's `account` (name or id), else `PROJECT_X_ACCOUNT`, else the only
//! tradable account. The account list is cached for a few minutes and fetched single-flight, so webhooks do not
//! each cost an API call, not even a burst of them right after the list expired.

use std::time::Duration;

use projectx::cache::FlightCache;
use projectx::{Account, AccountId};

/// How long the account list is reused: accounts appear or lose `canTrade` rarely, and a webhook should not wait
/// for `Account/search`.
const CACHE_FOR: Duration = Duration::from_secs(300);

/// One account an alert trades, and how its size is scaled (issue 13).
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// The account.
    pub account: AccountId,
    /// Its name on the platform.
    pub name: String,
    /// The size multiplier (`*N` in `ACCOUNT_GROUPS`; 1 for a plain account).
    pub multiplier: rust_decimal::Decimal,
    /// Whether the gateway lets it trade (`canTrade`).
    pub can_trade: bool,
}

/// Picks accounts.
#[derive(Debug)]
pub struct Accounts {
    gateway: projectx::Client,
    default: Option<String>,
    /// The account list (one entry, key `()`), fetched single-flight; failures are not cached.
    cache: FlightCache<(), Vec<Account>>,
}

impl Accounts {
    /// Accounts of `gateway`, defaulting to `default` (`PROJECT_X_ACCOUNT`).
    pub fn new(gateway: projectx::Client, default: Option<String>) -> Self {
        Self { gateway, default, cache: FlightCache::new(1) }
    }

    async fn list(&self) -> Result<Vec<Account>, String> {
        self.cache
            .get_or_fetch(&(), |_| async {
                let list = self.gateway.accounts(true).await.map_err(|e| format!("could not list accounts: {e}"))?;
                Ok((list, CACHE_FOR))
            })
            .await
    }

    /// The account id for an alert that asked for `requested` (or nothing). The error explains the choice.
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

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]
mod tests {
    use std::sync::Arc;

    use super::*;

    const SEARCH: &str = "/api/Account/search";

    #[tokio::test]
    async fn a_burst_of_picks_costs_one_account_search() {
        let (sim, _, gateway) = crate::testing::sim_gateway(&[]).await;
        sim.set_latency(Duration::from_millis(100));
        let accounts = Arc::new(Accounts::new(gateway, None));
        let picks: Vec<_> = (0..20)
            .map(|_| {
                let accounts = accounts.clone();
                tokio::spawn(async move { accounts.pick(None).await })
            })
            .collect();
        for pick in picks {
            assert_eq!(pick.await.unwrap(), Ok(AccountId::new(9001)));
        }
        assert_eq!(accounts.pick(Some("sim-paper-1")).await, Ok(AccountId::new(9001)));
        assert_eq!(sim.counters().calls(SEARCH), 1);
    }

    #[tokio::test]
    async fn a_failed_listing_is_not_cached() {
        let (sim, _, gateway) = crate::testing::sim_gateway(&[]).await;
        sim.fail_next(1, 400, projectx_sim::Scope::Path(SEARCH.into()));
        let accounts = Accounts::new(gateway, None);
        let err = accounts.pick(None).await.unwrap_err();
        assert!(err.contains("could not list accounts"), "{err}");
        assert_eq!(accounts.pick(None).await, Ok(AccountId::new(9001)));
        assert_eq!(sim.counters().calls(SEARCH), 2);
    }
}
