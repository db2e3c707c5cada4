//! Notifications (issue 15): fills, refusals, failures, orphans, flattens, daily blocks and outages, told to a
//! trader's phone through Discord, Telegram, Slack or any webhook (`NOTIFY_URLS`, `NOTIFY_EVENTS`,
//! `NOTIFY_OUTAGE_SECS`; docs/operations.md, "Notifications").
//!
//! Sending never sits on the order path. Whoever has news (the executor, the fills, the books, the risk monitor, the
//! [`outage`] watcher) calls [`Notifier::emit`], which checks the event filter and pushes the notice on each
//! destination's bounded drop-oldest [`queue`]: a lock held for a push, never a wait, never I/O. Each destination
//! has its own [`sender`] task on the app's `TaskTracker` that formats ([`destination`]), rate-limits and POSTs,
//! retrying on 5xx and 429; a dead destination fills only its own queue.
//!
//! Layout: [`event`] (kinds, the filter, the notice) · [`notices`] (what each producer says) · [`destination`] (URL → format, redaction) · [`queue`] ·
//! [`sender`] (rate limit, retries) · [`outage`] (`token_failing`, `hub_down`).

pub mod destination;
pub mod event;
pub mod notices;
pub mod outage;
pub mod queue;
pub mod sender;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use destination::{Destination, Kind};
pub use event::{DEFAULT_EVENTS, EventKind, EventSet, Notice};
use queue::Queue;
pub use sender::Policy;

use crate::metrics::Metrics;

/// `NOTIFY_*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifySettings {
    /// `NOTIFY_URLS`: where notices go (none: notifications are off).
    pub destinations: Vec<Destination>,
    /// `NOTIFY_EVENTS`: which kinds are sent.
    pub events: EventSet,
    /// `NOTIFY_OUTAGE_SECS`: how long the token or a hub must be failing before it is announced.
    pub outage_after: Duration,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self { destinations: Vec::new(), events: EventSet::default(), outage_after: Duration::from_secs(60) }
    }
}

/// The handle every producer holds: cheap to clone; [`Notifier::emit`] never waits. A notifier without
/// destinations ([`Notifier::disabled`]) drops every notice at once.
#[derive(Clone, Debug, Default)]
pub struct Notifier {
    /// `None` when there is no destination.
    inner: Option<Arc<Inner>>,
}

#[derive(Debug)]
struct Inner {
    events: EventSet,
    /// One queue per destination, in `NOTIFY_URLS` order, with its kind (for the dropped counter's label).
    queues: Vec<(Kind, Arc<Queue>)>,
    metrics: Arc<Metrics>,
}

impl Notifier {
    /// Sends nothing.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// Starts one sender task per destination on `tracker`, stopped by `cancel`, with the default [`Policy`]; a
    /// disabled notifier when `settings` has no destination.
    pub fn start(
        settings: &NotifySettings,
        metrics: Arc<Metrics>,
        tracker: &TaskTracker,
        cancel: &CancellationToken,
    ) -> anyhow::Result<Self> {
        Self::start_with(settings, metrics, Policy::default(), queue::CAPACITY, tracker, cancel)
    }

    /// [`Notifier::start`] with a retry `policy` and a queue `capacity` per destination (tests shorten both).
    pub fn start_with(
        settings: &NotifySettings,
        metrics: Arc<Metrics>,
        policy: Policy,
        capacity: usize,
        tracker: &TaskTracker,
        cancel: &CancellationToken,
    ) -> anyhow::Result<Self> {
        if settings.destinations.is_empty() {
            return Ok(Self::disabled());
        }
        projectx::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .user_agent(concat!("pxrelay/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(policy.timeout.min(Duration::from_secs(5)))
            // A redirect could carry the body somewhere the operator did not name.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| anyhow::anyhow!("building the notification HTTP client: {}", e.without_url()))?;
        let mut queues = Vec::new();
        for destination in &settings.destinations {
            let queue = Arc::new(Queue::new(capacity));
            queues.push((destination.kind(), queue.clone()));
            let task = sender::Sender {
                destination: destination.clone(),
                queue,
                http: http.clone(),
                policy,
                metrics: metrics.clone(),
            };
            tracker.spawn(task.run(cancel.child_token()));
        }
        let labels: Vec<String> = settings.destinations.iter().map(Destination::label).collect();
        tracing::info!(destinations = ?labels, "notifications on");
        Ok(Self { inner: Some(Arc::new(Inner { events: settings.events, queues, metrics })) })
    }

    /// Whether `kind` would be sent anywhere.
    pub fn wants(&self, kind: EventKind) -> bool {
        self.inner.as_ref().is_some_and(|i| i.events.contains(kind))
    }

    /// Queues `notice` for every destination when its kind is wanted. Never waits: a full queue drops its oldest
    /// notice (counted as `dropped`).
    pub fn emit(&self, notice: Notice) {
        let Some(inner) = self.inner.as_ref().filter(|i| i.events.contains(notice.event)) else { return };
        let Some(((last_kind, last), rest)) = inner.queues.split_last() else { return };
        for (kind, queue) in rest {
            if queue.push(notice.clone()) {
                inner.metrics.notification(kind.as_str(), "dropped");
            }
        }
        if last.push(notice) {
            inner.metrics.notification(last_kind.as_str(), "dropped");
        }
    }

    /// Notices waiting, per destination in `NOTIFY_URLS` order (for tests and `/status`).
    pub fn queued(&self) -> Vec<usize> {
        self.inner.as_ref().map(|i| i.queues.iter().map(|(_, q)| q.len()).collect()).unwrap_or_default()
    }

    /// Notices dropped because a queue was full, per destination in `NOTIFY_URLS` order.
    pub fn dropped(&self) -> Vec<u64> {
        self.inner.as_ref().map(|i| i.queues.iter().map(|(_, q)| q.dropped()).collect()).unwrap_or_default()
    }

    /// The most notices each destination's queue holds.
    pub fn capacity(&self) -> usize {
        self.inner.as_ref().and_then(|i| i.queues.first()).map_or(0, |(_, q)| q.capacity())
    }
}

#[cfg(test)]
mod tests;
