//! The warm-up: the part of startup that needs the gateway, run as a task after the listener is bound, so that
//! `/health` answers (and Railway's deploy health check passes) while the gateway is down.
//!
//! In order: the first session token (`ensure_valid_token()`: transient failures such as a 503 are retried with
//! backoff; a definitive refusal ends the warm-up), the `QUOTE_SYMBOLS` subscriptions, the recovery of alerts the
//! previous run left unfinished, the check that every account `ACCOUNT_GROUPS`, `ACCOUNT_LIMITS` and
//! `PROJECT_X_ACCOUNT` name exists (an unknown one is a [`ConfigError`]: exit 78; one that cannot trade is fine,
//! `/status` shows it), and the resolution of `ALLOWED_SYMBOLS`. Until all of it is done, `/ready` is 503
//! naming the step it waits for and every webhook is refused with 503 `not_ready` before anything is journaled, so
//! the executor gets nothing to run. A definitive refusal, or a symbol the gateway does not list (a
//! [`ConfigError`]: exit 78), ends the warm-up with an error and the process exits with it. Once ready, the book of
//! every configured account (else the default account's) is watched in the background ([`crate::books`]; positions
//! are read over REST until it is live), so `/status.accounts[]` lists each.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use projectx::backoff::Backoff;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::ConfigError;
use crate::error::ApiError;
use crate::journal::Journal;
use crate::quotes::{QuoteError, QuoteService};

/// The step the warm-up is at. Only moves forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// A standby on a Postgres journal (issue 14): waiting for the leader lock; alerts are journaled for the leader.
    Standby,
    /// Waiting for the first session token (logins are retried while the gateway answers with errors).
    Token,
    /// Subscribing `QUOTE_SYMBOLS`.
    QuoteSymbols,
    /// Closing out the alerts the previous run left unfinished.
    Recovery,
    /// Checking that every configured account exists.
    Accounts,
    /// Resolving `ALLOWED_SYMBOLS` to products.
    AllowedSymbols,
    /// Done: webhooks are accepted.
    Ready,
}

impl Stage {
    /// `token`, `quote_symbols`, `recovery`, `accounts`, `allowed_symbols` or `ready` (shown by `/status` and `/ready`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standby => "standby",
            Self::Token => "token",
            Self::QuoteSymbols => "quote_symbols",
            Self::Recovery => "recovery",
            Self::Accounts => "accounts",
            Self::AllowedSymbols => "allowed_symbols",
            Self::Ready => "ready",
        }
    }

    /// What a caller is waiting for at this step, as a phrase for a person.
    pub fn waiting_for(self) -> &'static str {
        match self {
            Self::Standby => "the leader lock (another instance leads; alerts are journaled for it)",
            Self::Token => {
                "the first session token from the gateway (the login is retried while the gateway answers with errors)"
            }
            Self::QuoteSymbols => "the QUOTE_SYMBOLS subscriptions",
            Self::Recovery => "the recovery of alerts the previous run left unfinished",
            Self::Accounts => {
                "the check of the configured accounts (ACCOUNT_GROUPS, ACCOUNT_LIMITS, PROJECT_X_ACCOUNT)"
            }
            Self::AllowedSymbols => "the resolution of ALLOWED_SYMBOLS",
            Self::Ready => "nothing",
        }
    }
}

/// How far the warm-up is, and what it produced. Shared through [`crate::state::AppState::warmup`].
#[derive(Debug)]
pub struct Warmup {
    /// The current step. Written by the warm-up task only; read by `/ready`, `/status`, the webhook, and the token
    /// refresher, which starts once the first token is in hand.
    stage: watch::Sender<Stage>,
    /// `ALLOWED_SYMBOLS` as product ids (`F.US.MNQ`; empty = all). Set once by the warm-up task, just before the
    /// stage becomes [`Stage::Ready`]; read by the webhook.
    allowed_products: OnceLock<Vec<String>>,
}

impl Default for Warmup {
    fn default() -> Self {
        Self::new()
    }
}

impl Warmup {
    /// Nothing done yet: waiting for the first token.
    pub fn new() -> Self {
        Self { stage: watch::Sender::new(Stage::Token), allowed_products: OnceLock::new() }
    }

    /// A standby's warm-up (Postgres journal): nothing is done until this instance leads ([`Steps::leadership`]).
    pub fn standby() -> Self {
        Self { stage: watch::Sender::new(Stage::Standby), allowed_products: OnceLock::new() }
    }

    /// Already finished with `allowed_products` (router tests, which have no gateway).
    pub fn finished(allowed_products: Vec<String>) -> Self {
        let warmup = Self::new();
        warmup.finish(allowed_products);
        warmup
    }

    /// The current step.
    pub fn stage(&self) -> Stage {
        *self.stage.borrow()
    }

    /// Receives every step change.
    pub fn subscribe(&self) -> watch::Receiver<Stage> {
        self.stage.subscribe()
    }

    /// The allowed products once the warm-up finished; until then the webhook's refusal, 503 `not_ready`,
    /// naming the step it waits for.
    pub fn allowed_products(&self) -> Result<&[String], ApiError> {
        self.allowed_products.get().map(Vec::as_slice).ok_or_else(|| {
            ApiError::NotReady(format!(
                "pxrelay is starting and waits for {}; nothing was recorded or sent (GET /ready answers 200 once \
                 alerts are accepted)",
                self.stage().waiting_for()
            ))
        })
    }

    /// `{"ready": bool, "stage": "token", "waiting_for": "…"}` for `/status` and `/ready` (`waiting_for` only while
    /// not ready).
    pub fn status(&self) -> Value {
        let stage = self.stage();
        match stage {
            Stage::Ready => json!({"ready": true, "stage": stage.as_str()}),
            _ => json!({"ready": false, "stage": stage.as_str(), "waiting_for": stage.waiting_for()}),
        }
    }

    fn advance(&self, stage: Stage) {
        self.stage.send_if_modified(|current| {
            let forward = stage > *current;
            if forward {
                *current = stage;
            }
            forward
        });
    }

    fn finish(&self, allowed_products: Vec<String>) {
        // The products first: whoever sees `Ready` finds them.
        let _ = self.allowed_products.set(allowed_products);
        self.advance(Stage::Ready);
    }
}

/// What the warm-up works with.
#[derive(Debug)]
pub struct Steps {
    /// The gateway client (its token manager gives the first token).
    pub gateway: projectx::Client,
    /// The quote service (resolver and market hub).
    pub quotes: Arc<QuoteService>,
    /// The journal, for the recovery of unfinished alerts.
    pub journal: Journal,
    /// Account selection: the configured accounts are checked, and their books watched once the warm-up is done.
    pub accounts: Arc<crate::accounts::Accounts>,
    /// The account books.
    pub books: Arc<crate::books::Books>,
    /// `QUOTE_SYMBOLS`.
    pub quote_symbols: Vec<String>,
    /// `ALLOWED_SYMBOLS`.
    pub allowed_symbols: Vec<String>,
    /// With a Postgres journal: nothing (not even a login: TopstepX allows one session per user) until this instance
    /// leads.
    pub leadership: Option<Arc<crate::leader::Leadership>>,
}

/// Runs the warm-up until it finishes (`Ok`, webhooks accepted from then on), fails (a definitive token refusal, or
/// a [`ConfigError`] naming `QUOTE_SYMBOLS`/`ALLOWED_SYMBOLS`) or `cancel` fires (`Ok`: the process is stopping).
/// The `QUOTE_SYMBOLS` re-subscriber is spawned on `tracker`.
pub async fn run(
    warmup: Arc<Warmup>,
    steps: Steps,
    tracker: TaskTracker,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    tokio::select! {
        biased;
        () = cancel.cancelled() => Ok(()),
        result = run_steps(&warmup, steps, &tracker, &cancel) => result,
    }
}

async fn run_steps(
    warmup: &Warmup,
    steps: Steps,
    tracker: &TaskTracker,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    let Steps { gateway, quotes, journal, accounts, books, quote_symbols, allowed_symbols, leadership } = steps;
    if let Some(leadership) = leadership {
        let mut role = leadership.subscribe();
        role.wait_for(|r| matches!(r, crate::leader::Role::Leader { .. }))
            .await
            .context("the leader lock task ended")?;
        warmup.advance(Stage::Token);
    }
    let token = gateway.tokens().ensure_valid_token().await.context("authenticating with the gateway")?;
    tracing::info!(
        token.source = ?token.source(),
        token.expires_at = %token.expires_at(),
        token.seconds_left = token.time_left().as_secs(),
        "session token ready"
    );
    warmup.advance(Stage::QuoteSymbols);
    watch_symbols(&quotes, &quote_symbols, tracker, cancel).await?;
    warmup.advance(Stage::Recovery);
    if let Some(store) = journal.postgres() {
        // Taken on by an earlier leader and never sent: back to the queue, executed in arrival order once ready.
        match store.requeue_unsent().await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(alerts = n, "an earlier leader left alerts unsent: queued again"),
            Err(e) => tracing::error!(error = %e, "could not queue the alerts an earlier leader left unsent"),
        }
    }
    crate::executor::reconcile::recover_unfinished(&journal, &gateway).await;
    crate::contract_refresh::prime_from_journal(&quotes, &journal).await;
    crate::contract_refresh::keep_fresh(quotes.clone(), tracker, cancel);
    match journal.placed_order_ids(chrono::Utc::now() - PLACED_LOOKBACK).await {
        Ok(ids) => books.seed_placed(ids),
        Err(e) => {
            tracing::error!(error = %e, "could not read the orders placed before the restart: their positions show as foreign")
        }
    }
    warmup.advance(Stage::Accounts);
    let configured = configured_accounts(&accounts).await?;
    warmup.advance(Stage::AllowedSymbols);
    let products = allowed_products(&quotes, &allowed_symbols).await?;
    warmup.finish(products);
    tracing::info!("ready: webhooks are accepted");
    settle_unknown_on_resync(journal, gateway, books.clone(), tracker, cancel);
    watch_accounts(accounts, configured, books, tracker, cancel);
    Ok(())
}

/// Every account `ACCOUNT_GROUPS`, `ACCOUNT_LIMITS` and `PROJECT_X_ACCOUNT` name (to watch), once checked: an
/// unknown one is a [`ConfigError`] naming it and its variable; a failed listing is retried with backoff.
async fn configured_accounts(accounts: &crate::accounts::Accounts) -> anyhow::Result<Vec<projectx::AccountId>> {
    let backoff = Backoff::default();
    let mut attempt = 0;
    loop {
        match accounts.check_configured().await {
            Ok(Ok(ids)) => return Ok(ids),
            Ok(Err(problems)) => return Err(ConfigError { problems }.into()),
            Err(e) => {
                attempt += 1;
                let delay = backoff.delay(attempt);
                tracing::warn!(error = %e, attempt, retry_in_ms = delay.as_millis() as u64, "could not check the configured accounts yet");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// How far back the journal's order ids are loaded at startup ([`crate::books::Books::seed_placed`]): positions
/// and bracket legs of orders placed within it are pxrelay's after a restart (a position held longer shows as
/// `unknown` anyway: its opening fill is older than the book's trades).
const PLACED_LOOKBACK: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// Settles alerts left `unknown` ([`crate::executor::reconcile::resolve_unknown`]) after every book resync (and
/// so once at startup, when the first book goes live): a resync means the gateway answers again.
fn settle_unknown_on_resync(
    journal: crate::journal::Journal,
    gateway: projectx::Client,
    books: Arc<crate::books::Books>,
    tracker: &TaskTracker,
    cancel: &CancellationToken,
) {
    let cancel = cancel.child_token();
    let mut resyncs = books.resyncs();
    tracker.spawn(async move {
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                changed = resyncs.changed() => if changed.is_err() { return },
            }
            let settled = crate::executor::reconcile::resolve_unknown(&journal, &gateway).await;
            if settled > 0 {
                tracing::info!(settled, "alerts left unknown were settled after the account books resynced");
            }
        }
    });
}

/// Watches the books of the `configured` accounts in the background, or without any, the default account's (the
/// user hub's first connect must not hold up readiness; until a book is live, positions are read over REST). No
/// configured and no default account (several tradable accounts and no `PROJECT_X_ACCOUNT`) → nothing is watched
/// until an alert picks one.
fn watch_accounts(
    accounts: Arc<crate::accounts::Accounts>,
    configured: Vec<projectx::AccountId>,
    books: Arc<crate::books::Books>,
    tracker: &TaskTracker,
    cancel: &CancellationToken,
) {
    let cancel = cancel.child_token();
    tracker.spawn(async move {
        let watch = async {
            if !configured.is_empty() {
                for account in configured {
                    books.watch(account).await;
                }
                return;
            }
            match accounts.pick(None).await {
                Ok(account) => books.watch(account).await,
                Err(e) => tracing::info!(reason = %e, "no default account: books are watched as alerts pick accounts"),
            }
        };
        tokio::select! {
            () = cancel.cancelled() => {}
            () = watch => {}
        }
    });
}

/// The background token refresher, started once the warm-up holds the first token: until then the warm-up is the
/// one caller that logs in (a second would only queue behind it, and after a definitive refusal report it twice).
pub async fn refresher(tokens: projectx::TokenManager, mut stage: watch::Receiver<Stage>, cancel: CancellationToken) {
    let has_token = async { stage.wait_for(|s| *s > Stage::Token).await.is_ok() };
    tokio::select! {
        biased;
        () = cancel.cancelled() => return,
        ok = has_token => if !ok {
            return;
        },
    }
    tokens.run_refresher(cancel).await;
}

/// An entry of `variable` that the gateway does not list (or that is not a symbol): a configuration problem.
fn unknown_symbol(variable: &str, symbol: &str, e: &projectx::ResolveError) -> anyhow::Error {
    ConfigError { problems: vec![format!("{variable}: `{symbol}`: {e}")] }.into()
}

/// Subscribes `QUOTE_SYMBOLS`. A symbol the gateway does not list stops startup (a typo should not go unnoticed):
/// a [`ConfigError`]; a gateway failure is logged and retried by a background task, which also re-resolves every
/// symbol daily so contract rolls are picked up.
async fn watch_symbols(
    quotes: &Arc<QuoteService>,
    symbols: &[String],
    tracker: &TaskTracker,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    let mut retry = false;
    for symbol in symbols {
        match quotes.watch(symbol).await {
            Ok(contract) => tracing::info!(symbol, contract.id = %contract, "subscribed to quotes"),
            Err(QuoteError::Resolve(e)) if e.is_client_error() => {
                return Err(unknown_symbol("QUOTE_SYMBOLS", symbol, &e));
            }
            Err(e) => {
                tracing::warn!(symbol, error = %e, "could not subscribe yet; retrying in the background");
                retry = true;
            }
        }
    }
    if symbols.is_empty() {
        return Ok(());
    }
    let (quotes, symbols, cancel) = (quotes.clone(), symbols.to_vec(), cancel.child_token());
    tracker.spawn(async move {
        loop {
            let wait = if retry { Duration::from_secs(60) } else { Duration::from_secs(24 * 3600) };
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            retry = false;
            for symbol in &symbols {
                if let Err(e) = quotes.watch(symbol).await {
                    tracing::warn!(symbol, error = %e, "re-subscribing a QUOTE_SYMBOLS entry failed");
                    retry = true;
                }
            }
        }
    });
    Ok(())
}

/// `ALLOWED_SYMBOLS` → product ids (`F.US.MNQ`). A symbol the gateway does not list stops startup (a
/// [`ConfigError`]); a gateway failure is retried with backoff (webhooks wait meanwhile).
async fn allowed_products(quotes: &QuoteService, symbols: &[String]) -> anyhow::Result<Vec<String>> {
    let backoff = Backoff::default();
    let mut products = Vec::new();
    for symbol in symbols {
        let mut attempt = 0;
        let contract = loop {
            match quotes.resolver().resolve(symbol).await {
                Ok(contract) => break contract,
                Err(e) if e.is_client_error() => return Err(unknown_symbol("ALLOWED_SYMBOLS", symbol, &e)),
                Err(e) => {
                    attempt += 1;
                    let delay = backoff.delay(attempt);
                    tracing::warn!(symbol, error = %e, attempt, retry_in_ms = delay.as_millis() as u64, "could not resolve an ALLOWED_SYMBOLS entry yet");
                    tokio::time::sleep(delay).await;
                }
            }
        };
        products.push(contract.symbol_id.clone().unwrap_or_else(|| contract.id.to_string()));
    }
    Ok(products)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_products_are_there_once_the_stage_is_ready_and_the_refusal_names_the_step_before() {
        let warmup = Warmup::new();
        let refusal = warmup.allowed_products().unwrap_err();
        assert!(refusal.to_string().contains("session token"), "{refusal}");
        assert_eq!(warmup.status()["stage"], "token");
        warmup.advance(Stage::AllowedSymbols);
        assert!(warmup.allowed_products().unwrap_err().to_string().contains("ALLOWED_SYMBOLS"));
        warmup.advance(Stage::Token);
        assert_eq!(warmup.stage(), Stage::AllowedSymbols, "the stage never moves back");
        warmup.finish(vec!["F.US.MNQ".into()]);
        assert_eq!(warmup.allowed_products().unwrap(), ["F.US.MNQ".to_owned()]);
        assert_eq!(warmup.status(), json!({"ready": true, "stage": "ready"}));
    }
}
