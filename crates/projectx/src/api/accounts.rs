//! `Account/search`.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::endpoint::ACCOUNT_SEARCH;
use crate::{AccountId, Client, Error};

/// A trading account (`accounts[]`, also the user hub's `GatewayUserAccount`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// Account id used by every other call.
    pub id: AccountId,
    /// Display name (users pick accounts by it, case-insensitively).
    pub name: String,
    /// Balance.
    pub balance: Decimal,
    /// Whether orders are accepted.
    pub can_trade: bool,
    /// Whether the platform shows it.
    #[serde(default)]
    pub is_visible: bool,
    /// Practice/evaluation account (absent in some answers).
    #[serde(default)]
    pub simulated: bool,
}

impl Client {
    /// `Account/search`: the user's accounts (`only_active` is what every SDK sends).
    pub async fn accounts(&self, only_active: bool) -> Result<Vec<Account>, Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Req {
            only_active_accounts: bool,
        }
        #[derive(Deserialize)]
        struct Resp {
            accounts: Vec<Account>,
        }
        let r: Resp = self.call(&ACCOUNT_SEARCH, &Req { only_active_accounts: only_active }).await?;
        Ok(r.accounts)
    }
}
