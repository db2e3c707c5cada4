//! Pure account resolution over one `Account/search` listing: the names an alert (or `PROJECT_X_ACCOUNT`) gives →
//! [`Target`]s, the startup check of every configured account, and the size scaling of a multiplier.
//!
//! Rules (docs/configuration.md, "Account groups and per-account limits"):
//! - a requested name is a group (`ACCOUNT_GROUPS`, any case) first, else an account by id, else by name (any case);
//!   a text with commas is a list;
//! - an account reached twice (named twice, in two named groups, or directly and through a group) is traded once,
//!   with the multiplier of its **first** mention (adding them up would silently double a size);
//! - an account that exists but cannot trade is a target with `can_trade: false`: the fan-out reports it and
//!   trades the others;
//! - unknown names are one error listing every unknown name, the groups and the accounts there are.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use projectx::{Account, AccountId};

use crate::config::{AccountGroups, LimitsTable};

/// One account an alert trades, with its size multiplier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The account's id.
    pub account: AccountId,
    /// The account's display name (from the listing).
    pub name: String,
    /// Size multiplier from its group (`*N`); 1 for an account named directly.
    pub multiplier: Decimal,
    /// Whether the gateway accepts orders for it now (`canTrade`); `false` targets are reported, never traded.
    pub can_trade: bool,
}

/// `quantity × multiplier`, rounded down; 0 means the account is skipped for this alert (the caller says so).
pub fn scaled(quantity: u32, multiplier: Decimal) -> u32 {
    (Decimal::from(quantity) * multiplier).floor().to_u32().unwrap_or(u32::MAX)
}

/// A signed `target_position × multiplier`, rounded toward zero (a long of 3 at `*0.5` is 1, a short of 3 is −1),
/// so scaling never turns a position into a larger one or flips its side.
pub fn scaled_target(target: i64, multiplier: Decimal) -> i64 {
    (Decimal::from(target) * multiplier).trunc().to_i64().unwrap_or(if target < 0 { i64::MIN } else { i64::MAX })
}

/// Splits a comma-separated list of names, trimmed, blanks dropped.
pub(super) fn split_names(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').map(str::trim).filter(|n| !n.is_empty())
}

/// The account `wanted` (an id, or a name in any case) names in `list`.
pub(super) fn find<'a>(list: &'a [Account], wanted: &str) -> Option<&'a Account> {
    let wanted = wanted.trim();
    list.iter()
        .find(|a| a.id.to_string() == wanted)
        .or_else(|| list.iter().find(|a| a.name.eq_ignore_ascii_case(wanted)))
}

/// Whether the configured text `configured` (a name or id) names `account`.
pub(super) fn names(account: &Account, configured: &str) -> bool {
    let configured = configured.trim();
    account.id.to_string() == configured || account.name.eq_ignore_ascii_case(configured)
}

/// The targets of `requested` (names, groups or comma-separated lists of them); empty → `default`
/// (`PROJECT_X_ACCOUNT`, itself a name, group or list), else the only tradable account.
pub(super) fn targets(
    list: &[Account],
    groups: &AccountGroups,
    default: Option<&str>,
    requested: &[String],
) -> Result<Vec<Target>, String> {
    let wanted: Vec<&str> = if requested.is_empty() {
        match default {
            Some(d) => split_names(d).collect(),
            None => return only_tradable(list).map(|a| vec![target(a, Decimal::ONE)]),
        }
    } else {
        requested.iter().flat_map(|r| split_names(r)).collect()
    };
    if wanted.is_empty() {
        return Err("no account named; name an account or a group".to_owned());
    }
    let mut out: Vec<Target> = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    let mut add = |account: &Account, multiplier: Decimal| {
        if !out.iter().any(|t| t.account == account.id) {
            out.push(target(account, multiplier));
        }
    };
    for name in wanted {
        if let Some(group) = groups.get(name) {
            for member in &group.members {
                match find(list, &member.account) {
                    Some(account) => add(account, member.multiplier),
                    None => unknown.push(format!("`{}` (in group `{}`)", member.account, group.name)),
                }
            }
        } else if let Some(account) = find(list, name) {
            add(account, Decimal::ONE);
        } else {
            unknown.push(format!("`{name}`"));
        }
    }
    if unknown.is_empty() {
        Ok(out)
    } else {
        Err(format!("unknown {}; {}", unknown.join(", "), existing(list, groups)))
    }
}

fn target(account: &Account, multiplier: Decimal) -> Target {
    Target { account: account.id, name: account.name.clone(), multiplier, can_trade: account.can_trade }
}

/// Today's rule without a name: the one tradable account.
fn only_tradable(list: &[Account]) -> Result<&Account, String> {
    let tradable: Vec<&Account> = list.iter().filter(|a| a.can_trade).collect();
    match tradable.as_slice() {
        [one] => Ok(one),
        [] => Err("no tradable account on this login".to_owned()),
        _ => Err(format!(
            "several tradable accounts ({}): set PROJECT_X_ACCOUNT or send `account` in the alert",
            tradable.iter().map(|a| format!("{} ({})", a.name, a.id)).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// `groups: evals, funded; accounts: 50KTC-1234 (101), PA-9012 (103, cannot trade)`.
pub(super) fn existing(list: &[Account], groups: &AccountGroups) -> String {
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    let groups = if names.is_empty() { "none".to_owned() } else { names.join(", ") };
    format!("groups: {groups}; accounts: {}", account_list(list))
}

/// `50KTC-1234 (101), PA-9012 (103, cannot trade)`.
fn account_list(list: &[Account]) -> String {
    let shown: Vec<String> = list
        .iter()
        .map(|a| {
            if a.can_trade { format!("{} ({})", a.name, a.id) } else { format!("{} ({}, cannot trade)", a.name, a.id) }
        })
        .collect();
    if shown.is_empty() { "none".to_owned() } else { shown.join(", ") }
}

/// The startup check: every account `ACCOUNT_GROUPS`, `ACCOUNT_LIMITS` and `PROJECT_X_ACCOUNT` name must be in
/// `list`, and no group may be named like an account (an alert naming it would be ambiguous). `Ok` holds every
/// configured account (to watch), in configuration order without repeats; `Err` one problem per line, each naming
/// its variable.
pub(super) fn check_configured(
    list: &[Account],
    groups: &AccountGroups,
    limits: &LimitsTable,
    default: Option<&str>,
) -> Result<Vec<AccountId>, Vec<String>> {
    let mut problems = Vec::new();
    let mut found: Vec<AccountId> = Vec::new();
    let mut note = |variable: &str, configured: &str, context: String| match find(list, configured) {
        Some(a) if !found.contains(&a.id) => found.push(a.id),
        Some(_) => {}
        None => problems.push(format!(
            "{variable}: account `{configured}`{context} is not an account of this login; accounts: {}",
            account_list(list)
        )),
    };
    for group in groups.iter() {
        for member in &group.members {
            note("ACCOUNT_GROUPS", &member.account, format!(" (group `{}`)", group.name));
        }
    }
    for (account, _) in limits.iter() {
        note("ACCOUNT_LIMITS", account, String::new());
    }
    for name in default.into_iter().flat_map(split_names) {
        if groups.get(name).is_none() {
            note("PROJECT_X_ACCOUNT", name, String::new());
        }
    }
    for group in groups.iter() {
        if let Some(a) = find(list, &group.name) {
            problems.push(format!(
                "ACCOUNT_GROUPS: group `{}` has the name of the account {} ({}); rename the group",
                group.name, a.name, a.id
            ));
        }
    }
    if problems.is_empty() { Ok(found) } else { Err(problems) }
}
