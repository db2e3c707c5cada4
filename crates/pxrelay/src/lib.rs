//! pxrelay: receives TradingView webhooks and turns them into ProjectX Gateway orders.
//!
//! Layout:
//! - [`cli`]: `serve [--sim]`, `token`.
//! - [`config`]: layered settings with plain environment variable names, validated before anything binds.
//! - [`startup`]: [`startup::App`]: build (simulator in sim mode, gateway client, `ensure_valid_token`, listener,
//!   token refresher) and `run_until_stopped`.
//! - [`routes`]: `/health`, `/status`, `/quote/{symbol}`, `/webhook`, `/alerts`, `/kill`.
//! - [`signal`]: webhook payload → validated intent. [`journal`]: SQLite alert journal and dedup store.
//! - [`executor`]: the order executor (queue, guards, reconciliation). [`accounts`]: account selection.
//! - [`quotes`]: [`quotes::QuoteService`]: symbol → contract → streamed quote, or 1-minute bars when stale.
//! - [`state`]: [`state::AppState`] and [`state::Mode`].
//! - [`telemetry`]: JSON or pretty logs. [`shutdown`]: SIGTERM/SIGINT.

pub mod accounts;
pub mod cli;
pub mod config;
pub mod executor;
pub mod journal;
pub mod metrics;
pub mod quotes;
pub mod routes;
pub mod shutdown;
pub mod signal;
pub mod startup;
pub mod state;
pub mod telemetry;
#[cfg(test)]
mod testing;
