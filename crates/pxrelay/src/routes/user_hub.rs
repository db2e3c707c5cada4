//! `POST /user-hub/resume`: ends the user hub's re-login pause at once (the operator closed the other session on
//! this login; see [`crate::logout`]). With the secret, by the same rules as `/kill` ([`super::secret`]); the body
//! is empty, `{}` or carries only the secret. The hub then logs in and reconnects, and entries are accepted again
//! once it is back. Not paused: 200 with `resumed: false`, nothing changes.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::secret::{OfferedSecret, control_body};
use crate::error::ApiError;
use crate::state::AppState;

/// Largest accepted body: it carries at most the secret.
const BODY_LIMIT: usize = 4 * 1024;

/// `/user-hub/resume`.
pub fn router() -> Router<AppState> {
    Router::new().route("/user-hub/resume", post(resume))
}

async fn resume(
    State(state): State<AppState>,
    offered: OfferedSecret,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let _body = control_body(&offered, state.webhook.secret.as_ref(), body, BODY_LIMIT)?;
    let hub = state.books.hub();
    let before = hub.status();
    if !before.logged_out_by_other_session {
        return Ok(Json(json!({
            "resumed": false,
            "message": "the user hub is not paused: nothing to resume",
            "user_hub": before,
        })));
    }
    hub.resume().await;
    tracing::warn!(
        logouts = before.logouts,
        "user hub re-login resumed by an operator (POST /user-hub/resume): logging in and reconnecting; if the other \
         session is still active it will be logged out"
    );
    Ok(Json(json!({
        "resumed": true,
        "message": "the user hub logs in and reconnects now; entries are accepted again once /ready is 200",
    })))
}
