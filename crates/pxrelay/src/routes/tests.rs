//! Every [`ApiError`] variant through a router (`oneshot`): status, the one body shape, and the webhook metric's
//! outcome label taken from the variant; then the router's own answers (unknown path, wrong method, body too large).

use axum::body::Body;
use axum::extract::Path;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode};
use axum::routing::post;
use axum::{Router, middleware};
use tower::ServiceExt;

use crate::error::ApiError;
use crate::metrics::WebhookOutcome;
use crate::state::{AppState, Mode};
use crate::testing::test_state;

/// One example of every variant with the answer it must give. The `match` in [`expected`] has no wildcard, so a new
/// variant does not compile until it is listed there; [`examples`] must then list it too (the count check below).
fn examples() -> Vec<ApiError> {
    let s = || "text".to_owned();
    vec![
        ApiError::WebhookDisabled,
        ApiError::ShuttingDown,
        ApiError::NotReady(s()),
        ApiError::Forbidden,
        ApiError::Unauthorized(s()),
        ApiError::BadPayload(s()),
        ApiError::BadQuery(s()),
        ApiError::InvalidSymbol(s()),
        ApiError::UnknownSymbol(s()),
        ApiError::UnknownAlertSymbol(s()),
        ApiError::SymbolNotAllowed(s()),
        ApiError::BadAccount(s()),
        ApiError::AlertNotFound(s()),
        ApiError::RouteNotFound { method: "GET".into(), path: "/x".into() },
        ApiError::MethodNotAllowed { method: "GET".into(), path: "/webhook".into() },
        ApiError::PayloadTooLarge { limit: 10 },
        ApiError::GatewaySlow,
        ApiError::Gateway(s()),
        ApiError::QuoteUnavailable(s()),
        ApiError::JournalUnavailable(s()),
        ApiError::Busy,
        ApiError::Internal(s()),
    ]
}

const VARIANTS: usize = 22;

fn expected(e: &ApiError) -> (u16, &'static str, WebhookOutcome) {
    use WebhookOutcome::{Failed, Rejected, Unauthorized};
    match e {
        ApiError::WebhookDisabled => (503, "webhook_disabled", Failed),
        ApiError::ShuttingDown => (503, "shutting_down", Failed),
        ApiError::NotReady(_) => (503, "not_ready", Failed),
        ApiError::Forbidden => (403, "forbidden", Unauthorized),
        ApiError::Unauthorized(_) => (401, "unauthorized", Unauthorized),
        ApiError::BadPayload(_) => (400, "bad_payload", Rejected),
        ApiError::BadQuery(_) => (400, "bad_request", Rejected),
        ApiError::InvalidSymbol(_) => (400, "invalid_symbol", Rejected),
        ApiError::UnknownSymbol(_) => (404, "unknown_symbol", Rejected),
        ApiError::UnknownAlertSymbol(_) => (422, "unknown_symbol", Rejected),
        ApiError::SymbolNotAllowed(_) => (422, "symbol_not_allowed", Rejected),
        ApiError::BadAccount(_) => (422, "bad_account", Rejected),
        ApiError::AlertNotFound(_) => (404, "not_found", Rejected),
        ApiError::RouteNotFound { .. } => (404, "not_found", Rejected),
        ApiError::MethodNotAllowed { .. } => (405, "method_not_allowed", Rejected),
        ApiError::PayloadTooLarge { .. } => (413, "payload_too_large", Rejected),
        ApiError::GatewaySlow => (503, "gateway_slow", Failed),
        ApiError::Gateway(_) => (502, "gateway_error", Failed),
        ApiError::QuoteUnavailable(_) => (503, "quote_unavailable", Failed),
        ApiError::JournalUnavailable(_) => (503, "journal_unavailable", Failed),
        ApiError::Busy => (503, "busy", Failed),
        ApiError::Internal(_) => (500, "internal", Failed),
    }
}

async fn probe(Path(i): Path<usize>) -> ApiError {
    examples().swap_remove(i)
}

async fn json(resp: axum::response::Response) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
    let body =
        serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)));
    (status, body)
}

fn assert_shape(body: &serde_json::Value) {
    let fields = body.as_object().expect("an object");
    assert_eq!(fields.len(), 2, "exactly error and message: {body}");
    assert!(fields["error"].is_string() && !fields["message"].as_str().unwrap_or_default().is_empty(), "{body}");
}

#[tokio::test]
async fn every_variant_answers_its_status_code_and_one_shape_and_counts_its_own_outcome() {
    assert_eq!(examples().len(), VARIANTS, "examples() lists every variant once");
    let state: AppState = test_state(Mode::Sim);
    let metrics = state.metrics.clone();
    let app = Router::new()
        .route("/probe/{i}", post(probe))
        .layer(middleware::from_fn_with_state(state.clone(), crate::routes::webhook::count_webhooks))
        .with_state(state);
    for (i, example) in examples().iter().enumerate() {
        let (status, code, outcome) = expected(example);
        let before = metrics.webhook_count(outcome);
        let resp =
            app.clone().oneshot(Request::post(format!("/probe/{i}")).body(Body::empty()).unwrap()).await.unwrap();
        let (got, body) = json(resp).await;
        assert_eq!((got, body["error"].as_str()), (status, Some(code)), "{example:?}: {body}");
        assert_shape(&body);
        assert_eq!(metrics.webhook_count(outcome), before + 1, "{example:?} counts as {outcome:?}");
    }
}

#[tokio::test]
async fn the_routers_own_answers_are_json_too() {
    let app = crate::routes::router(test_state(Mode::Sim));
    let cases: [(Request<Body>, u16, &str); 6] = [
        (Request::post("/webhooks").body(Body::from("{}")).unwrap(), 404, "not_found"),
        (Request::get("/webhook").body(Body::empty()).unwrap(), 405, "method_not_allowed"),
        (Request::get("/kill").body(Body::empty()).unwrap(), 405, "method_not_allowed"),
        (Request::get("/user-hub/resume").body(Body::empty()).unwrap(), 405, "method_not_allowed"),
        (Request::post("/user-hub/resume?secret=x").body(Body::empty()).unwrap(), 503, "webhook_disabled"),
        (Request::get("/alerts/a1?secret=x").body(Body::empty()).unwrap(), 503, "webhook_disabled"),
    ];
    for (req, status, code) in cases {
        let what = format!("{} {}", req.method(), req.uri());
        let (got, body) = json(app.clone().oneshot(req).await.unwrap()).await;
        assert_eq!((got, body["error"].as_str()), (status, Some(code)), "{what}: {body}");
        assert_shape(&body);
    }
    let (_, body) = json(
        app.clone().oneshot(Request::get("/nope?secret=SHOULD-NOT-SHOW").body(Body::empty()).unwrap()).await.unwrap(),
    )
    .await;
    assert!(!body.to_string().contains("SHOULD-NOT-SHOW"), "the query is never echoed: {body}");
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_json_413() {
    let mut state = test_state(Mode::Sim);
    let mut hooks = std::sync::Arc::try_unwrap(state.webhook).expect("the only handle");
    hooks.secret = Some("s".to_owned().into());
    state.webhook = std::sync::Arc::new(hooks);
    let app = crate::routes::router(state).layer(MockConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 9))));
    let big = vec![b' '; crate::routes::webhook::BODY_LIMIT + 1];
    let req = Request::post("/webhook?secret=s").body(Body::from(big)).unwrap();
    let resp = app.oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let (_, body) = json(resp).await;
    assert_eq!(body["error"], "payload_too_large", "{body}");
    assert_shape(&body);
}

#[tokio::test]
async fn a_webhook_before_the_warm_up_finished_is_a_503_not_ready_and_nothing_is_journaled() {
    let mut state = test_state(Mode::Sim);
    let mut hooks = std::sync::Arc::try_unwrap(state.webhook).expect("the only handle");
    hooks.secret = Some("s".to_owned().into());
    state.webhook = std::sync::Arc::new(hooks);
    state.warmup = std::sync::Arc::new(crate::warmup::Warmup::new());
    let journal = state.webhook.journal.clone();
    let metrics = state.metrics.clone();
    let app = crate::routes::router(state).layer(MockConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 9))));
    let body = r#"{"secret":"s","symbol":"MNQ","action":"buy","id":"early-1"}"#;
    let resp = app.oneshot(Request::post("/webhook").body(Body::from(body)).unwrap()).await.unwrap();
    let (status, body) = json(resp).await;
    assert_eq!((status, body["error"].as_str()), (503, Some("not_ready")), "{body}");
    assert_shape(&body);
    assert!(body["message"].as_str().unwrap().contains("session token"), "says what it waits for: {body}");
    assert_eq!(metrics.webhook_count(WebhookOutcome::Failed), 1);
    assert!(journal.get("early-1").await.unwrap().is_none(), "nothing journaled");
    assert!(journal.list(10).await.unwrap().is_empty());
}
