//! The messages between `pxrelay relay` and `pxrelay execute` over the `/executor` WebSocket, one JSON object per
//! text frame, tagged by `type`. Both sides use these types, so they cannot drift apart.
//!
//! Relay → executor: [`ToExecutor::Alert`] (every journaled alert without a final outcome, in arrival order: on each
//! connection, and whenever a new one is journaled). Executor → relay: [`ToRelay::Ack`] once the alert is in the
//! executor's own journal, then [`ToRelay::Outcome`] with its answer, and [`ToRelay::Timeline`] with its timeline
//! and execution details: with the outcome, and again each time the executor's row gains events (fills arrive after
//! the outcome, a bracket target's maybe hours later). Delivery is at-least-once; the executor's journal deduplicates
//! by `alert_id`, so a resend is acknowledged (and answered) again, never executed again; a timeline replaces the
//! previous one, so a resend is harmless too.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::journal::{Execution, StoredAlert, TimelineEvent};
use crate::outcome::Answer;
use crate::signal::Intent;

/// The largest message either side accepts, in bytes: the webhook body limit (an alert carries its redacted body)
/// plus room for the intent and the envelope.
pub const MAX_MESSAGE: usize = 2 * crate::routes::webhook::BODY_LIMIT;

/// The WebSocket path on the relay.
pub const PATH: &str = "/executor";

/// What the relay sends.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToExecutor {
    /// An alert to execute: the relay's journal key, when the relay received it (its age counts from here for
    /// `MAX_ALERT_AGE_SECS`), its body with the secret fields removed (the webhook secret is never sent), and the
    /// validated intent.
    Alert {
        /// The relay's alert id; the executor journals the alert under the same id.
        alert_id: String,
        /// When the relay received the webhook.
        received_at: DateTime<Utc>,
        /// The body as journaled by the relay: secret fields removed.
        raw_body: String,
        /// The validated intent.
        intent: Intent,
    },
}

/// What the executor sends.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToRelay {
    /// The alert is in the executor's journal (sent once per delivery, so again for a resend).
    Ack {
        /// The alert id.
        alert_id: String,
    },
    /// The alert's final outcome at the executor (`placed`, `rejected`, `expired`, …), as its webhook answer.
    Outcome {
        /// The alert id.
        alert_id: String,
        /// The answer, as `serve` would have answered the webhook.
        answer: Answer,
    },
    /// The alert's whole timeline at the executor, but for its own `received` and `journaled` (`sent`,
    /// `acknowledged`, `filled`, `legs`, `closed`: each `{"event", "at", ...fields}` as `GET /alerts/{id}` shows
    /// them), and what the executor learned on the way. The relay replaces its copy with it.
    Timeline {
        /// The alert id.
        alert_id: String,
        /// The events, in time order.
        events: Vec<TimelineEvent>,
        /// `{"reference_price", "position_source"}` (decimal or `null`; `book`, `rest` or `null`).
        execution: Execution,
    },
}

impl ToRelay {
    /// The [`ToRelay::Timeline`] of a row of the executor's journal.
    pub fn timeline_of(row: &StoredAlert) -> Self {
        Self::Timeline {
            alert_id: row.alert_id.clone(),
            events: row.timeline.iter().filter(|e| !e.event.with_the_alert()).cloned().collect(),
            execution: Execution { reference_price: row.reference_price, position_source: row.position_source },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_tagged_json() {
        let ack = ToRelay::Ack { alert_id: "a1".into() };
        let text = serde_json::to_string(&ack).unwrap();
        assert_eq!(text, r#"{"type":"ack","alert_id":"a1"}"#);
        assert_eq!(serde_json::from_str::<ToRelay>(&text).unwrap(), ack);
        let outcome = ToRelay::Outcome { alert_id: "a1".into(), answer: Answer::pending("a1".into()) };
        let text = serde_json::to_string(&outcome).unwrap();
        assert!(text.starts_with(r#"{"type":"outcome","alert_id":"a1","answer":{"#), "{text}");
        assert_eq!(serde_json::from_str::<ToRelay>(&text).unwrap(), outcome);
    }

    #[test]
    fn a_timeline_round_trips_with_its_numbers_and_prices_exact() {
        let text = r#"{"type":"timeline","alert_id":"a1","events":[
            {"event":"filled","at":"2026-01-02T03:04:05.000006Z","order_id":7,"price":21000.25,"size":1,
             "fees":0.37,"side":"buy","role":"entry","tick_size":0.25}],
            "execution":{"reference_price":4512.1,"position_source":"book"}}"#;
        let message: ToRelay = serde_json::from_str(text).unwrap();
        let ToRelay::Timeline { events, execution, .. } = &message else { panic!("{message:?}") };
        assert_eq!(events[0].data["price"].to_string(), "21000.25");
        assert_eq!(events[0].data["order_id"].as_i64(), Some(7));
        assert_eq!(execution.reference_price, Some("4512.1".parse().unwrap()));
        assert_eq!(execution.position_source, Some(crate::journal::PositionSource::Book));
        let again: ToRelay = serde_json::from_str(&serde_json::to_string(&message).unwrap()).unwrap();
        assert_eq!(again, message);
    }
}
