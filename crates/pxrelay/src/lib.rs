//! pxrelay: receives TradingView webhooks and turns them into ProjectX Gateway orders.
//!
//! Layout:
//! - [`cli`]: `serve [--sim [--reset]]`, `relay`, `execute [--relay URL]`, `token`, `quote`, `doctor`.
//! - [`doctor`]: `pxrelay doctor`, the read-only pre-flight (session, accounts, symbols, hubs, clock, budget).
//! - [`config`]: layered settings with plain environment variable names, validated before anything binds.
//! - [`startup`]: [`startup::App`]: build (journal, simulator in sim mode, gateway client, market hub, executor,
//!   listener) and `run_until_stopped`.
//! - [`warmup`]: the startup steps that need the gateway (first token, quote subscriptions, recovery,
//!   `ALLOWED_SYMBOLS`), run after the listener is bound; webhooks answer 503 `not_ready` until they are done.
//! - [`routes`]: `/health`, `/ready`, `/status`, `/metrics`, `/quote/{symbol}`, `/webhook`, `/alerts`, `/kill`,
//!   `/user-hub/resume`; the
//!   secret check they share (`routes::secret`).
//! - [`routes::dashboard`]: the page at `GET /` (maud templates, live panels polled every 500 ms, kill switch, flatten
//!   all, the alert-message builder); [`access`]: who may use it (`DASHBOARD_PASSWORD`, sessions, `Origin` checks).
//! - [`error`]: [`error::ApiError`], every HTTP refusal with its status, JSON code and metric outcome.
//! - [`signal`]: webhook payload → validated intent. [`journal`]: SQLite alert journal and dedup store.
//! - [`outcome`]: [`outcome::AlertStatus`], [`outcome::Outcome`] and the webhook's [`outcome::Answer`].
//! - [`executor`]: the order executor (queue, guards, reconciliation by `customTag`, the bracket reference price).
//! - [`fills`]: which alert an order or trade belongs to (entry, close, stop or target leg): fills, legs, closes and
//!   realized P&L on the alerts' timelines, slippage.
//! - [`hours`]: trading hours: `MARKET_HOURS` (CME's break and weekend), `TRADING_WINDOWS`, the `FLAT_BY` block and
//!   its scheduler; entries refused with the time they are allowed again.
//! - [`legs`]: `CANCEL_ON_FLAT`, which working orders belong to a position that went flat, and their cancel round.
//! - [`accounts`]: account selection.
//! - [`logout`]: another session on the same login (repeated `GatewayLogout`): the entry refusal, the `/ready` and
//!   `/status` texts, the error log when the user hub's re-login pause starts.
//! - [`risk`]: the daily loss limit and profit target (`DAILY_LOSS_LIMIT`, `DAILY_PROFIT_TARGET`): the day's P&L,
//!   the monitor that blocks (and flattens) an account once per breach, blocks kept in the journal for the day.
//! - [`notify`]: notifications (`NOTIFY_URLS`): Discord, Telegram, Slack or generic JSON, from bounded drop-oldest
//!   queues and background senders, never on the order path; outage notices for the token and the hubs.
//! - [`quotes`]: [`quotes::QuoteService`]: symbol → contract → streamed quote, or 1-minute bars when stale.
//! - [`state`]: [`state::AppState`] and [`state::Mode`].
//! - [`relay`]: `pxrelay relay` (the public webhook, no broker credentials) and `pxrelay execute --relay <url>`
//!   (the trader's own machine executes what the relay sends over an outbound WebSocket).
//! - [`telemetry`]: JSON or pretty logs. [`shutdown`]: SIGTERM/SIGINT.

pub mod access;
pub mod accounts;
pub mod books;
pub mod cli;
pub mod config;
pub mod contract_refresh;
pub mod doctor;
pub mod error;
pub mod executor;
pub mod fills;
pub mod flat_by;
pub mod hours;
pub mod journal;
pub mod leader;
pub mod legs;
pub mod logout;
pub mod market_time;
pub mod metrics;
pub mod mode;
pub mod notify;
pub mod outcome;
pub mod pnl;
pub mod provenance;
pub mod quotes;
pub mod relay;
pub mod risk;
pub mod routes;
pub mod shutdown;
pub mod signal;
pub mod startup;
pub mod state;
pub mod telemetry;
#[cfg(test)]
mod testing;
pub mod warmup;
