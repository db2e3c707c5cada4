//! The notices each producer sends, built here so a producer's change is one line: an alert's outcome
//! ([`outcome`]), a fill ([`fill`]), an orphan leg ([`orphan`]), (a risk flatten builds its own in `executor::flatten`, a daily block in `risk::monitor`,
//! so this module depends on neither). Messages are for a person on a phone: what, how many, where; never a URL, token or secret.

use projectx::{AccountId, ContractId};
use serde_json::Value;

use super::{EventKind, Notice};
use crate::journal::TimelineWrite;
use crate::outcome::{AlertStatus, Outcome};

/// An alert's outcome on `account` (its name): `placed`, `rejected`, `failed`, `unknown` or `expired`; `None` for
/// the statuses that do not notify.
pub fn outcome(alert_id: &str, action: &str, symbol: &str, account: &str, outcome: &Outcome) -> Option<Notice> {
    let kind = EventKind::of_status(outcome.status)?;
    let what = outcome.message.as_deref().unwrap_or(outcome.status.as_str());
    let message = match outcome.status {
        AlertStatus::Placed => format!("{action} {symbol} on {account}: {what}"),
        _ => format!("{action} {symbol} on {account} {}: {what}", outcome.status.as_str()),
    };
    Some(
        Notice::new(kind, message)
            .alert(alert_id)
            .account(account)
            .symbol(symbol)
            .field("action", action)
            .field("status", outcome.status.as_str())
            .field("path", outcome.path.clone()),
    )
}

/// One `filled` timeline event of an alert's own order (`write.data`: `price`, `size`, `side`, `role`, …).
pub fn fill(write: &TimelineWrite, account: AccountId, contract: &ContractId) -> Notice {
    let d = &write.data;
    let word = |key: &str| match &d[key] {
        Value::String(s) => s.clone(),
        Value::Null => "?".to_owned(),
        other => other.to_string(),
    };
    let message = format!("{} {} {contract} @ {} ({})", word("side"), word("size"), word("price"), word("role"));
    let mut notice = Notice::new(EventKind::Filled, message)
        .alert(write.alert_id.clone())
        .account(account.to_string())
        .symbol(contract.as_str());
    notice.at = write.at;
    for key in ["side", "size", "price", "fees", "role", "order_id"] {
        notice = notice.field(key, d[key].clone());
    }
    notice
}

/// A working order of a flat position the gateway refused to cancel.
pub fn orphan(account: &str, order: &projectx::Order, error: &str) -> Notice {
    Notice::new(
        EventKind::Orphan,
        format!(
            "order {} ({} {}) on {} is still working on a flat position and could not be cancelled ({error}): cancel it in the platform",
            order.id,
            order.size,
            order.contract_id,
            account
        ),
    )
    .account(account)
    .symbol(order.contract_id.as_str())
    .field("order_id", order.id.to_string())
}
