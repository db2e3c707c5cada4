//! `AppState`: what the HTTP handlers share. Cheap to clone; every field is a handle.

use std::sync::Arc;

use tokio::time::Instant;

use crate::quotes::QuoteService;

/// Where orders go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The configured ProjectX gateway: real orders.
    Live,
    /// The in-process simulator (`serve --sim`): paper trading, no credentials.
    Sim,
}

impl Mode {
    /// `live` or `sim`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Sim => "sim",
        }
    }
}

/// Shared by every handler.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Live or sim; shown on every status output.
    pub mode: Mode,
    /// The gateway client (and through it the token manager).
    pub gateway: projectx::Client,
    /// Quotes: resolver, market hub, bars fallback.
    pub quotes: Arc<QuoteService>,
    /// Process start, for uptime.
    pub started: Instant,
}
