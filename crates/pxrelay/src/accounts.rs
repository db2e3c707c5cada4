//! Which account an alert trades: the alert's `account` (name or id), else `PROJECT_X_ACCOUNT`, else the only
//! tradable account. The account list is cached for a few minutes so webhooks do not each cost an API call.

use std::time::Duration;

use projectx::Account;
use tokio::time::Instant;

const CACHE_FOR: Duration = Duration::from_secs(300);

/// Picks accounts.
#[derive(Debug)]
pub struct Accounts {
    gateway: projectx::Client,
    default: Option<String>,
    /// The last account list and when it was read; a sync lock held for one statement.
    cache: parking_lot::Mutex<Option<(Instant, Vec<Account>)>>,
}

impl Accounts {
    /// Accounts of `gateway`, defaulting to `default` (`PROJECT_X_ACCOUNT`).
    pub fn new(gateway: projectx::Client, default: Option<String>) -> Self {
        Self { gateway, default, cache: parking_lot::Mutex::new(None) }
    }

    async fn list(&self) -> Result<Vec<Account>, String> {
        if let Some((_, list)) = self.cache.lock().as_ref().filter(|(at, _)| at.elapsed() < CACHE_FOR) {
            return Ok(list.clone());
        }
        let list = self.gateway.accounts(true).await.map_err(|e| format!("could not list accounts: {e}"))?;
        *self.cache.lock() = Some((Instant::now(), list.clone()));
        Ok(list)
    }

    /// The account id for an alert that asked for `requested` (or nothing). The error explains the choice.
    pub async fn pick(&self, requested: Option<&str>) -> Result<i32, String> {
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
