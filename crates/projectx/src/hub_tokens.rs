//! `HubTokens`: the [`TokenManager`] as a SignalR [`TokenProvider`], shared by the market and user hub tasks.
//!
//! Each hub connection (a "link") gets its own provider, which remembers the token revision it handed out last:
//! that is how a hub task knows which revision a connection is using (to decide whether a token rotation needs a
//! new connection, or which revision to invalidate when the hub refuses it).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use signalr::{AccessToken, BoxFuture, TokenProvider};

use crate::auth::TokenManager;

/// The token manager as one link's token source; remembers which revision it handed out last.
#[derive(Debug)]
pub(crate) struct HubTokens {
    tokens: TokenManager,
    /// The revision given to the latest connection attempt (0 before the first). Written by the hub client's
    /// supervisor, read by the hub task.
    last_given: AtomicU64,
}

impl HubTokens {
    /// A provider that asks `tokens` for a valid token before every attempt.
    pub(crate) fn new(tokens: TokenManager) -> Arc<Self> {
        Arc::new(Self { tokens, last_given: AtomicU64::new(0) })
    }

    /// The token revision of the latest connection attempt (0 before the first).
    pub(crate) fn last_given(&self) -> u64 {
        self.last_given.load(Ordering::Relaxed)
    }
}

impl TokenProvider for HubTokens {
    fn token(&self) -> BoxFuture<'_, Result<AccessToken, String>> {
        Box::pin(async move {
            let token = self.tokens.ensure_valid_token().await.map_err(|e| e.to_string())?;
            self.last_given.store(token.revision(), Ordering::Relaxed);
            Ok(AccessToken { value: token.secret().clone(), id: token.revision() })
        })
    }

    fn refused(&self, id: u64) {
        self.tokens.invalidate(id);
    }
}
