//! `executor_down`: notifies once no executor has been connected to the relay for `NOTIFY_OUTAGE_SECS`, once per
//! outage, then once when one is back ([`crate::notify::outage::Outage`], as for the token and the hubs).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::link::Link;
use crate::notify::outage::{CHECK_EVERY, Change, Outage};
use crate::notify::{EventKind, Notice, Notifier};

/// Reads [`Link::connected`] every [`CHECK_EVERY`] until `cancel`; returns at once when `executor_down` is not wanted.
pub async fn run(link: Arc<Link>, notify: Notifier, after: Duration, cancel: CancellationToken) {
    if !notify.wants(EventKind::ExecutorDown) {
        return;
    }
    let mut outage = Outage::default();
    let mut every = tokio::time::interval(CHECK_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            _ = every.tick() => {}
        }
        if let Some(change) = outage.reading(!link.connected(), tokio::time::Instant::now(), after) {
            notify.emit(notice(change));
        }
    }
}

fn notice(change: Change) -> Notice {
    match change {
        Change::Down { for_ } => Notice::new(
            EventKind::ExecutorDown,
            format!(
                "no executor has been connected to the relay for {} s: alerts are journaled but not executed \
                 (is the trading PC on, awake and online?)",
                for_.as_secs()
            ),
        )
        .field("state", "down")
        .field("down_secs", for_.as_secs()),
        Change::Recovered { lasted } => Notice::new(
            EventKind::ExecutorDown,
            format!("recovered: the executor is connected again after {} s", lasted.as_secs()),
        )
        .field("state", "recovered")
        .field("down_secs", lasted.as_secs()),
    }
}
