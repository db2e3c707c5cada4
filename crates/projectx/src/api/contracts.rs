//! `Contract/search`, `Contract/searchById`, `Contract/available`.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::endpoint::{CONTRACT_AVAILABLE, CONTRACT_SEARCH, CONTRACT_SEARCH_BY_ID};
use crate::{Client, ContractId, Error};

/// A futures contract.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contract {
    /// Contract id, e.g. `CON.F.US.MNQ.Z25`. Treat as opaque.
    pub id: ContractId,
    /// Exchange-style code, e.g. `MNQZ5` (format has changed over time; do not match on it).
    pub name: String,
    /// Human description.
    #[serde(default)]
    pub description: String,
    /// Minimum price increment.
    pub tick_size: Decimal,
    /// USD per tick per contract.
    pub tick_value: Decimal,
    /// Whether this is the current front/active contract.
    #[serde(default)]
    pub active_contract: bool,
    /// Product id, e.g. `F.US.MNQ` (absent in the oldest answers).
    #[serde(default)]
    pub symbol_id: Option<String>,
}

#[derive(Deserialize)]
struct Many {
    contracts: Vec<Contract>,
}

impl Client {
    /// `Contract/search`: substring search on the name, at most 20 results (searching `NQ` also finds other
    /// products). `live` selects the live data subscription; SDKs send `false`.
    pub async fn search_contracts(&self, text: &str, live: bool) -> Result<Vec<Contract>, Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Req<'a> {
            search_text: &'a str,
            live: bool,
        }
        let r: Many = self.call(&CONTRACT_SEARCH, &Req { search_text: text, live }).await?;
        Ok(r.contracts)
    }

    /// `Contract/searchById` (expired contracts resolve too). Unknown id → [`Error::Rejected`] `ContractNotFound`.
    pub async fn contract_by_id(&self, contract_id: &ContractId) -> Result<Contract, Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Req<'a> {
            contract_id: &'a ContractId,
        }
        #[derive(Deserialize)]
        struct Resp {
            contract: Contract,
        }
        let r: Resp = self.call(&CONTRACT_SEARCH_BY_ID, &Req { contract_id }).await?;
        Ok(r.contract)
    }

    /// `Contract/available`: every tradable contract of the firm.
    pub async fn available_contracts(&self, live: bool) -> Result<Vec<Contract>, Error> {
        #[derive(Serialize)]
        struct Req {
            live: bool,
        }
        let r: Many = self.call(&CONTRACT_AVAILABLE, &Req { live }).await?;
        Ok(r.contracts)
    }
}
