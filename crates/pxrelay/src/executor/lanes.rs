//! Per-account lanes: the executor queue's one consumer, a **dispatcher**, routes every [`Work`] by its account to
//! that account's **lane** (a bounded `mpsc` and a task, created on the account's first job). A lane runs its jobs
//! one at a time in arrival order, exactly as the single executor did (a reverse's close before its entry, an
//! ambiguous outcome reconciled before the next job); lanes of different accounts run concurrently, so one account's
//! slow gateway answer, ambiguity or outage never delays another account.
//!
//! The dispatcher never waits for a lane: it checks the lane's free room and `try_send`s. A lane holds up to its
//! capacity of waiting jobs (the one running is not counted) plus [`PROTECTIVE_RESERVE`] places that only
//! risk-reducing work may take ([`Work::is_protective`]: flattens, exits, cancels, break-even moves, close-only
//! orders), so a queue filled by entries never turns away an exit. Work that finds no room is refused at once
//! through [`Worker::refuse`] (an alert: journaled `failed`, "account queue full; nothing sent"), on a task of its
//! own, while the dispatcher goes on with the next job.
//!
//! Shutdown: on cancel the dispatcher stops taking new work (the queue is closed), routes what the queue already
//! held, drops its lane senders, and waits until every lane has finished the jobs it holds. A panic in a lane is
//! re-raised by the dispatcher, so the executor task ends like the single executor did and startup reports it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use projectx::AccountId;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Work;
use crate::outcome::{AlertStatus, Outcome};
use crate::signal::Action;

/// Places in each lane that only protective work may take (beyond the lane's capacity for any work).
pub const PROTECTIVE_RESERVE: usize = 16;

/// What a lane does with its jobs; [`super::Executor`] in the application, a scripted worker in tests.
pub trait Worker: Send + Sync + 'static {
    /// Executes one job to its end (outcome journaled and answered).
    fn work(&self, work: Work) -> impl Future<Output = ()> + Send;
    /// Answers a job its account's lane had no room for: nothing was sent.
    fn refuse(&self, work: Work, waiting: usize) -> impl Future<Output = ()> + Send;
    /// The lane takes `work`, which it was handed at `since` (the wait for the account's lane); nothing by default.
    fn taken(&self, _work: &Work, _since: Instant) {}
}

impl Work {
    /// The account the work trades on (its lane).
    pub fn account_id(&self) -> AccountId {
        match self {
            Self::Alert(job) => job.account_id,
            Self::Flatten(job) => job.account_id,
        }
    }

    /// Risk-reducing work, which may use a lane's [`PROTECTIVE_RESERVE`]: a flatten, and alerts that can only close
    /// or protect (`exit`, `cancel`, `breakeven`, close-only `buy`/`sell`). Entries and reverses are not.
    pub fn is_protective(&self) -> bool {
        match self {
            Self::Flatten(_) => true,
            Self::Alert(job) => {
                job.intent.close_only || matches!(job.intent.action, Action::Exit | Action::Cancel | Action::Breakeven)
            }
        }
    }
}

/// Runs the dispatcher until `cancel` (or until every sender of `jobs` is gone), then waits for the lanes to finish
/// what they hold. `capacity` is each lane's room for waiting jobs of any kind (at least 1).
pub async fn dispatch<W: Worker>(
    worker: Arc<W>,
    mut jobs: mpsc::Receiver<Work>,
    capacity: usize,
    cancel: CancellationToken,
) {
    let mut lanes = Lanes { worker, capacity: capacity.max(1), senders: HashMap::new(), tasks: JoinSet::new() };
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => {
                jobs.close();
                break;
            }
            Some(ended) = lanes.tasks.join_next() => reraise_panic(ended),
            job = jobs.recv() => match job {
                Some(job) => lanes.route(job),
                None => break,
            },
        }
    }
    // Closed: what the queue already held still runs, in order, on its lanes.
    while let Some(job) = jobs.recv().await {
        lanes.route(job);
    }
    lanes.senders.clear();
    while let Some(ended) = lanes.tasks.join_next().await {
        reraise_panic(ended);
    }
}

/// The dispatcher's state.
struct Lanes<W> {
    worker: Arc<W>,
    /// Room per lane for waiting jobs of any kind; protective work has [`PROTECTIVE_RESERVE`] more.
    capacity: usize,
    /// Written and read by the dispatcher only; each receiver is owned by its lane task. Each job goes with the
    /// instant it was handed to the lane.
    senders: HashMap<AccountId, mpsc::Sender<(Instant, Work)>>,
    /// The lane tasks and the refusals in flight; the dispatcher ends after all of them.
    tasks: JoinSet<()>,
}

impl<W: Worker> Lanes<W> {
    /// Hands `work` to its account's lane, or refuses it when the lane has no room for it. Never waits.
    fn route(&mut self, work: Work) {
        let account = work.account_id();
        let lane = self.senders.entry(account).or_insert_with(|| {
            let (tx, rx) = mpsc::channel(self.capacity + PROTECTIVE_RESERVE);
            self.tasks.spawn(run_lane(self.worker.clone(), rx));
            tracing::debug!(account.id = %account, "account lane started");
            tx
        });
        let free = lane.capacity();
        let room = if work.is_protective() { free } else { free.saturating_sub(PROTECTIVE_RESERVE) };
        let waiting = lane.max_capacity() - free;
        let refused = if room == 0 {
            work
        } else {
            // The dispatcher is the lane's only sender and the lane only frees room, so this cannot be full; a
            // closed lane (its task ended by a panic, re-raised on the next turn) refuses like a full one.
            match lane.try_send((Instant::now(), work)) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full((_, work)) | mpsc::error::TrySendError::Closed((_, work))) => work,
            }
        };
        tracing::warn!(account.id = %account, waiting, "account queue full: job refused, nothing sent");
        let worker = self.worker.clone();
        self.tasks.spawn(async move { worker.refuse(refused, waiting).await });
    }
}

/// One account's lane: its jobs one at a time, in order, until the dispatcher drops the sender and the queue is
/// empty.
async fn run_lane<W: Worker>(worker: Arc<W>, mut jobs: mpsc::Receiver<(Instant, Work)>) {
    while let Some((since, work)) = jobs.recv().await {
        worker.taken(&work, since);
        worker.work(work).await;
    }
}

fn reraise_panic(ended: Result<(), tokio::task::JoinError>) {
    if let Err(e) = ended
        && e.is_panic()
    {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[cfg(test)]
#[path = "lanes_tests.rs"]
mod tests;

// === impl Worker for Executor ===

impl Worker for super::Executor {
    async fn work(&self, work: Work) {
        match work {
            Work::Alert(job) => self.handle(*job).await,
            Work::Flatten(job) => self.flatten(job).await,
        }
    }

    /// An alert's wait for its account's lane is [`crate::metrics::Stage::Queue`].
    fn taken(&self, work: &Work, since: Instant) {
        if let Work::Alert(_) = work {
            self.metrics.stage(crate::metrics::Stage::Queue, since);
        }
    }

    /// An alert is journaled `failed` and answered; a flatten answers a `failed` report (it has no journal row:
    /// nothing was looked at or sent).
    async fn refuse(&self, work: Work, waiting: usize) {
        let account = work.account_id();
        let why = format!("account queue full ({waiting} jobs wait for account {account}); nothing sent");
        match work {
            Work::Alert(job) => {
                let outcome = Outcome::new(AlertStatus::Failed, why, "account queue full");
                if let Err(e) = self.journal.finish(&job.alert_id, &outcome).await {
                    tracing::error!(alert.id = %job.alert_id, error = %e, "could not journal an alert's outcome");
                }
                self.metrics.order(outcome.status, job.arrived.elapsed());
                tracing::warn!(alert.id = %job.alert_id, account.id = %account, outcome = %outcome.status, path = %outcome.path, reason = outcome.message.as_deref().unwrap_or_default(), "alert handled");
                let _ = job.reply.send(outcome.answer(&job.alert_id));
            }
            Work::Flatten(job) => {
                tracing::error!(account.id = %account, by = %job.by, reason = %why, "flatten not run: check the platform");
                let report = super::flatten::FlattenReport {
                    account_id: account,
                    id: format!("flatten-{account}-{}", chrono::Utc::now().timestamp_micros()),
                    status: AlertStatus::Failed,
                    closed: Vec::new(),
                    cancelled: Vec::new(),
                    left: Vec::new(),
                    errors: vec![format!("flatten not run: {why}")],
                };
                let _ = job.reply.send(report);
            }
        }
    }
}
