//! Work an alert's lane does **after** the alert was answered (issue 17: an exit answers after one gateway round
//! trip).
//!
//! When pxrelay closes a position (an `exit`, or a close that ends flat), the position's working orders (its
//! bracket legs, which the gateway leaves working: gateway notes §9) are cancelled per `CANCEL_ON_FLAT`
//! ([`crate::books::Books::tidy_flat`]). Those cancels used to sit between the close and the answer: an exit with
//! two legs cost three round trips before TradingView heard back. Now the close's outcome is journaled and answered
//! first, and the cancels run next **in the same lane, before the account's next job**, so the rule "nothing else
//! is sent on that account before the tidy" is unchanged; only the answer comes earlier. A close followed by an
//! entry in the same alert (a `reverse`, a close-then-open with brackets) still tidies before its entry: the old
//! legs must be gone before the new position exists.
//!
//! One lane runs one job at a time per account, so the tidies waiting for an account belong to the job running
//! on it.

use std::collections::HashMap;

use projectx::{AccountId, ContractId, OrderId};

/// A `tidy_flat` to run once the running job of the account was answered.
#[derive(Debug)]
pub(super) struct Tidy {
    pub(super) contract: ContractId,
    /// Why the position is flat (logged with the cancels).
    pub(super) why: &'static str,
    /// Orders never to cancel (those the alert just placed).
    pub(super) keep: Vec<OrderId>,
}

/// The tidies waiting per account (see the module doc).
#[derive(Debug, Default)]
pub(super) struct AfterAnswer {
    waiting: parking_lot::Mutex<HashMap<AccountId, Vec<Tidy>>>,
}

impl AfterAnswer {
    /// Notes `tidy` for the job running on `account`.
    pub(super) fn defer(&self, account: AccountId, tidy: Tidy) {
        self.waiting.lock().entry(account).or_default().push(tidy);
    }

    /// Takes what waits for `account` (empty when nothing does).
    pub(super) fn take(&self, account: AccountId) -> Vec<Tidy> {
        self.waiting.lock().remove(&account).unwrap_or_default()
    }
}
