//! `ACCOUNT_GROUPS` and `ACCOUNT_LIMITS`: which accounts an alert can fan out to, with what size multiplier, and
//! the guards that differ per account. Pure parsing (no gateway): whether each named account exists is checked at
//! startup, once the gateway answers (`crate::warmup`).
//!
//! Environment form (one line, for Railway dashboards):
//! - `ACCOUNT_GROUPS=evals=50KTC-1234*1,50KTC-5678*2;funded=PA-9012` — groups separated by `;`, members by `,`,
//!   each an account name or id with an optional `*N` size multiplier (default 1, may be fractional: `*0.5`).
//! - `ACCOUNT_LIMITS=50KTC-1234:max_contracts=2,daily_loss_limit=1000;PA-9012:max_contracts=5` — accounts separated
//!   by `;`, settings by `,`.
//!
//! The `--config` file may give the same as TOML tables (`[accounts.groups]` with `evals = ["50KTC-1234*1", …]` or
//! `evals = "50KTC-1234*1,…"`; `[accounts.limits."50KTC-1234"]` with `max_contracts = 2`); the environment variable,
//! when set, replaces the file's table as a whole (as every variable overrides its key).

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

/// The largest size multiplier accepted: far above any real use, so a typo (`*20` for `*2.0`) is the user's.
const MAX_MULTIPLIER: Decimal = Decimal::ONE_HUNDRED;

/// Characters that separate parts of the environment forms, so they cannot be part of a name.
const SEPARATORS: [char; 5] = ['=', ',', ';', '*', ':'];

/// One member of a group: an account as configured (name or id, not yet checked against the login) and the
/// multiplier applied to every alert's size for it (`*N`, default 1; the scaled size rounds down).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Account name (matched case-insensitively) or numeric id, as written.
    pub account: String,
    /// Size multiplier, `0 < m <= 100`.
    pub multiplier: Decimal,
}

/// A named set of accounts an alert can name in `account`/`accounts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountGroup {
    /// The group's name as written (matched case-insensitively).
    pub name: String,
    /// Its accounts, in the configured order (no account twice).
    pub members: Vec<Member>,
}

/// `ACCOUNT_GROUPS`: every configured group, in the configured order. Empty when unset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountGroups {
    groups: Vec<AccountGroup>,
}

impl AccountGroups {
    /// Parses the environment form `name=acct*N,acct;name2=…` (blank parts between `;` are ignored). The error
    /// says what was wrong and what is accepted (the caller prefixes the variable's name).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut rows = Vec::new();
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((name, members)) = part.split_once('=') else {
                return Err(format!("`{part}` is not a group; expected name=account*N,account (e.g. {EXAMPLE})"));
            };
            rows.push((name.to_owned(), members.split(',').map(str::to_owned).collect::<Vec<_>>()));
        }
        Self::from_rows(rows)
    }

    /// Builds the groups from `(name, members)` rows, each member `account` or `account*N` (the TOML table form,
    /// and the environment form once split). Checks names, multipliers and duplicates.
    pub fn from_rows(rows: Vec<(String, Vec<String>)>) -> Result<Self, String> {
        let mut groups: Vec<AccountGroup> = Vec::new();
        for (name, members) in rows {
            let name = checked_name(&name, "group name")?;
            if groups.iter().any(|g| g.name.eq_ignore_ascii_case(&name)) {
                return Err(format!("group `{name}` is defined twice"));
            }
            let mut parsed: Vec<Member> = Vec::new();
            for member in members.iter().map(|m| m.trim()).filter(|m| !m.is_empty()) {
                let member = parse_member(member).map_err(|e| format!("group `{name}`: {e}"))?;
                if parsed.iter().any(|m| m.account.eq_ignore_ascii_case(&member.account)) {
                    return Err(format!("group `{name}`: account `{}` is listed twice", member.account));
                }
                parsed.push(member);
            }
            if parsed.is_empty() {
                return Err(format!("group `{name}` has no account; expected e.g. {name}=50KTC-1234*1,PA-9012*2"));
            }
            groups.push(AccountGroup { name, members: parsed });
        }
        Ok(Self { groups })
    }

    /// The group called `name` (any case).
    pub fn get(&self, name: &str) -> Option<&AccountGroup> {
        self.groups.iter().find(|g| g.name.eq_ignore_ascii_case(name.trim()))
    }

    /// Every group, in the configured order.
    pub fn iter(&self) -> impl Iterator<Item = &AccountGroup> {
        self.groups.iter()
    }

    /// No group configured.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The names of the groups `account` (a configured member text: name or id) belongs to.
    pub fn groups_of<'a>(&'a self, matches: impl Fn(&str) -> bool + 'a) -> impl Iterator<Item = &'a str> + 'a {
        self.groups.iter().filter(move |g| g.members.iter().any(|m| matches(&m.account))).map(|g| g.name.as_str())
    }
}

const EXAMPLE: &str = "evals=50KTC-1234*1,50KTC-5678*2;funded=PA-9012";

/// `account` or `account*N`.
fn parse_member(text: &str) -> Result<Member, String> {
    let (account, multiplier) = match text.split_once('*') {
        None => (text, Decimal::ONE),
        Some((account, factor)) => (account, multiplier(factor.trim())?),
    };
    Ok(Member { account: checked_name(account, "account")?, multiplier })
}

/// A multiplier: a plain positive decimal up to [`MAX_MULTIPLIER`] (`2`, `0.5`, `1.5`).
fn multiplier(text: &str) -> Result<Decimal, String> {
    let accepted = format!("expected a number greater than 0 and at most {MAX_MULTIPLIER}, e.g. *2 or *0.5");
    let plain = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    match Decimal::from_str(text).ok().filter(|_| plain) {
        Some(m) if m > Decimal::ZERO && m <= MAX_MULTIPLIER => Ok(m.normalize()),
        Some(m) if m.is_zero() => {
            Err(format!("multiplier `*{text}`: {accepted} (leave the account out instead of *0)"))
        }
        _ => Err(format!("multiplier `*{text}` is not accepted; {accepted}")),
    }
}

/// A trimmed, non-empty, printable name without the separators of the environment forms.
fn checked_name(text: &str, what: &str) -> Result<String, String> {
    let name = text.trim();
    if name.is_empty() {
        return Err(format!("an empty {what}; expected e.g. {EXAMPLE}"));
    }
    if name.chars().any(|c| c.is_control() || SEPARATORS.contains(&c)) {
        return Err(format!("{what} `{name}` contains one of = , ; * : or a control character"));
    }
    Ok(name.to_owned())
}

/// What to do when an account's daily loss limit is reached (the risk settings' `DAILY_LOSS_ACTION`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DailyLossAction {
    /// Close the account's managed positions and refuse entries until the next trading day.
    Flatten,
    /// Only refuse entries until the next trading day.
    Block,
}

impl FromStr for DailyLossAction {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim().to_ascii_lowercase().as_str() {
            "flatten" => Ok(Self::Flatten),
            "block" => Ok(Self::Block),
            _ => Err(()),
        }
    }
}

impl fmt::Display for DailyLossAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Flatten => "flatten",
            Self::Block => "block",
        })
    }
}

/// The guards one account overrides (`ACCOUNT_LIMITS`); `None` = the global setting applies (the caller falls
/// back: `MAX_CONTRACTS`, `DAILY_LOSS_LIMIT`, `DAILY_PROFIT_TARGET`, `DAILY_LOSS_ACTION`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccountLimits {
    /// `max_contracts`: most contracts per order and per resulting position, at least 1.
    pub max_contracts: Option<u32>,
    /// `daily_loss_limit`: account currency (USD), greater than 0.
    pub daily_loss_limit: Option<Decimal>,
    /// `daily_profit_target`: account currency (USD), greater than 0.
    pub daily_profit_target: Option<Decimal>,
    /// `daily_loss_action`: `flatten` or `block`.
    pub daily_loss_action: Option<DailyLossAction>,
}

/// `ACCOUNT_LIMITS`: per-account overrides, by account name or id as configured. Empty when unset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LimitsTable {
    rows: Vec<(String, AccountLimits)>,
}

/// The keys `ACCOUNT_LIMITS` accepts, for messages.
const LIMIT_KEYS: &str = "max_contracts, daily_loss_limit, daily_profit_target, daily_loss_action";

impl LimitsTable {
    /// Parses the environment form `account:key=value,key=value;account2:…`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut rows = Vec::new();
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((account, settings)) = part.split_once(':') else {
                return Err(format!(
                    "`{part}` is not an account's limits; expected account:key=value,… (e.g. \
                     50KTC-1234:max_contracts=2,daily_loss_limit=1000;PA-9012:max_contracts=5)"
                ));
            };
            let mut pairs = Vec::new();
            for setting in settings.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let Some((key, value)) = setting.split_once('=') else {
                    return Err(format!("`{account}`: `{setting}` is not key=value; keys: {LIMIT_KEYS}"));
                };
                pairs.push((key.trim().to_owned(), value.trim().to_owned()));
            }
            rows.push((account.to_owned(), pairs));
        }
        Self::from_rows(rows)
    }

    /// Builds the table from `(account, [(key, value)])` rows (the TOML table form, and the environment form once
    /// split).
    pub fn from_rows(rows: Vec<(String, Vec<(String, String)>)>) -> Result<Self, String> {
        let mut table: Vec<(String, AccountLimits)> = Vec::new();
        for (account, pairs) in rows {
            let account = checked_name(&account, "account")?;
            if table.iter().any(|(a, _)| a.eq_ignore_ascii_case(&account)) {
                return Err(format!("account `{account}` is listed twice"));
            }
            let mut limits = AccountLimits::default();
            for (key, value) in pairs {
                set_limit(&mut limits, &key, &value).map_err(|e| format!("`{account}`: {e}"))?;
            }
            if limits == AccountLimits::default() {
                return Err(format!("`{account}` sets no limit; keys: {LIMIT_KEYS}"));
            }
            table.push((account, limits));
        }
        Ok(Self { rows: table })
    }

    /// The overrides of the account `matches` accepts (given the configured text, a name or id): the first row
    /// that matches; all `None` when none does (the globals apply).
    pub fn find(&self, matches: impl Fn(&str) -> bool) -> AccountLimits {
        self.rows.iter().find(|(a, _)| matches(a)).map(|(_, l)| *l).unwrap_or_default()
    }

    /// The overrides configured for `id_or_name` as written (an id, or a name in any case). Use
    /// [`Self::find`] when the account is known by both (a row may name it either way).
    pub fn for_account(&self, id_or_name: &str) -> AccountLimits {
        self.find(|a| a.eq_ignore_ascii_case(id_or_name.trim()))
    }

    /// Every configured row: (account as written, its overrides).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &AccountLimits)> {
        self.rows.iter().map(|(a, l)| (a.as_str(), l))
    }

    /// No override configured.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

fn set_limit(limits: &mut AccountLimits, key: &str, value: &str) -> Result<(), String> {
    let money = |v: &str| {
        Decimal::from_str(v).ok().filter(|d| *d > Decimal::ZERO).ok_or_else(|| {
            format!("{key}=`{v}` is not accepted; expected an amount in account currency greater than 0, e.g. 1000")
        })
    };
    match key.to_ascii_lowercase().as_str() {
        "max_contracts" => {
            let n = value.parse::<u32>().ok().filter(|n| *n >= 1);
            limits.max_contracts = Some(
                n.ok_or_else(|| format!("max_contracts=`{value}` is not accepted; expected a whole number >= 1"))?,
            );
        }
        "daily_loss_limit" => limits.daily_loss_limit = Some(money(value)?),
        "daily_profit_target" => limits.daily_profit_target = Some(money(value)?),
        "daily_loss_action" => {
            limits.daily_loss_action = Some(
                value
                    .parse()
                    .map_err(|()| format!("daily_loss_action=`{value}` is not accepted; use `flatten` or `block`"))?,
            );
        }
        _ => return Err(format!("`{key}` is not a per-account setting; keys: {LIMIT_KEYS}")),
    }
    Ok(())
}

#[cfg(test)]
#[path = "accounts_tests.rs"]
mod tests;

/// Reading both settings out of the merged configuration: a string is the environment form, a table the TOML
/// form; any problem is recorded naming the variable.
impl super::read::Reader<'_> {
    /// `ACCOUNT_GROUPS`.
    pub(super) fn account_groups(&mut self) -> AccountGroups {
        let var = super::Var::ACCOUNT_GROUPS;
        let parsed = match self.raw(var).map(|v| v.kind) {
            None => Ok(AccountGroups::default()),
            Some(config::ValueKind::String(text)) => AccountGroups::parse(&text),
            Some(config::ValueKind::Table(table)) => table_rows(table, |v| match v.kind {
                config::ValueKind::Array(items) => {
                    items.into_iter().map(|i| i.into_string().map_err(|e| e.to_string())).collect()
                }
                _ => v.into_string().map(|s| s.split(',').map(str::to_owned).collect()).map_err(|e| e.to_string()),
            })
            .and_then(AccountGroups::from_rows),
            Some(_) => Err(format!("expected a text such as {EXAMPLE} or a table of groups")),
        };
        parsed.unwrap_or_else(|e| {
            self.problems.push(format!("{}: {e}", var.name()));
            AccountGroups::default()
        })
    }

    /// `ACCOUNT_LIMITS`.
    pub(super) fn account_limits(&mut self) -> LimitsTable {
        let var = super::Var::ACCOUNT_LIMITS;
        let parsed = match self.raw(var).map(|v| v.kind) {
            None => Ok(LimitsTable::default()),
            Some(config::ValueKind::String(text)) => LimitsTable::parse(&text),
            Some(config::ValueKind::Table(table)) => table_rows(table, |v| {
                let settings = v.into_table().map_err(|_| format!("expected a table of {LIMIT_KEYS}"))?;
                settings
                    .into_iter()
                    .map(|(k, v)| v.into_string().map(|v| (k, v)).map_err(|e| e.to_string()))
                    .collect::<Result<Vec<_>, _>>()
            })
            .and_then(LimitsTable::from_rows),
            Some(_) => Err("expected a text such as PA-9012:max_contracts=5 or a table of accounts".to_owned()),
        };
        parsed.unwrap_or_else(|e| {
            self.problems.push(format!("{}: {e}", var.name()));
            LimitsTable::default()
        })
    }
}

/// A TOML table's rows, sorted by key (the configuration keeps no order), each value read by `read`.
fn table_rows<T>(
    table: config::Map<String, config::Value>,
    read: impl Fn(config::Value) -> Result<T, String>,
) -> Result<Vec<(String, T)>, String> {
    let mut rows: Vec<(String, config::Value)> = table.into_iter().collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows.into_iter().map(|(k, v)| read(v).map(|t| (k.clone(), t)).map_err(|e| format!("`{k}`: {e}"))).collect()
}
