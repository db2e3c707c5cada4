//! pxrelay: receives TradingView webhooks and turns them into ProjectX Gateway orders.
//!
//! Layout:
//! - [`cli`]: `serve [--sim]`, `token`.
//! - [`config`]: layered settings with plain environment variable names, validated before anything binds.
//! - [`startup`]: [`startup::App`]: build (simulator in sim mode, gateway client, `ensure_valid_token`, listener,
//!   token refresher) and `run_until_stopped`.
//! - [`routes`]: `/health`, `/status`, `/quote/{symbol}`.
//! - [`quotes`]: [`quotes::QuoteService`]: symbol → contract → streamed quote, or 1-minute bars when stale.
//! - [`state`]: [`state::AppState`] and [`state::Mode`].
//! - [`telemetry`]: JSON or pretty logs. [`shutdown`]: SIGTERM/SIGINT.

pub mod cli;
pub mod config;
pub mod quotes;
pub mod routes;
pub mod shutdown;
pub mod startup;
pub mod state;
pub mod telemetry;
