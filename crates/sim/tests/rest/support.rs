//! Shared test fixtures: a started simulator with a reqwest client and one helper per common call.

pub(crate) use std::time::Duration;

pub(crate) use projectx_sim::{RateLimit, Scope, Sim, SimConfig, SimHandle};
pub(crate) use reqwest::StatusCode;
pub(crate) use rust_decimal::Decimal;
pub(crate) use serde_json::{Value, json};

pub(crate) const MNQ: &str = "CON.F.US.MNQ.Z25";
pub(crate) const ES: &str = "CON.F.US.EP.Z25";
pub(crate) const ACCOUNT: i32 = 9001;

/// A running simulator and a client for it.
pub(crate) struct TestSim {
    pub(crate) sim: SimHandle,
    pub(crate) http: reqwest::Client,
}

/// Starts a simulator (installing the rustls provider reqwest needs first).
pub(crate) async fn spawn_sim(cfg: SimConfig) -> TestSim {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = Sim::start(cfg).await.expect("simulator starts");
    TestSim { sim, http: reqwest::Client::new() }
}

pub(crate) async fn spawn_default() -> TestSim {
    spawn_sim(SimConfig::default()).await
}

impl TestSim {
    /// POSTs JSON, with a bearer token when given; any status.
    pub(crate) async fn post(&self, path: &str, token: Option<&str>, body: Value) -> reqwest::Response {
        let mut req = self.http.post(format!("{}{path}", self.sim.base_url())).json(&body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send().await.expect("request reaches the simulator")
    }

    /// A 200 envelope's JSON.
    pub(crate) async fn call(&self, path: &str, token: &str, body: Value) -> Value {
        let resp = self.post(path, Some(token), body).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        resp.json().await.expect("JSON envelope")
    }

    /// A token from a successful `loginKey`.
    pub(crate) async fn login(&self) -> String {
        let body = json!({ "userName": self.sim.username(), "apiKey": self.sim.api_key() });
        let env: Value = self.post("/api/Auth/loginKey", None, body).await.json().await.expect("login answers JSON");
        assert_eq!(env["success"], true, "{env}");
        env["token"].as_str().expect("token").to_owned()
    }

    pub(crate) async fn place(&self, token: &str, body: Value) -> Value {
        self.call("/api/Order/place", token, body).await
    }
}

/// A market order body for the default account.
pub(crate) fn market_order(contract: &str, side: i32, size: i32) -> Value {
    json!({ "accountId": ACCOUNT, "contractId": contract, "type": 2, "side": side, "size": size })
}

/// The claims of a JWT, read without checking the signature.
pub(crate) fn claims(token: &str) -> Value {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.insecure_disable_signature_validation();
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let key = jsonwebtoken::DecodingKey::from_secret(b"");
    jsonwebtoken::decode::<Value>(token, &key, &validation).expect("a JWT with JSON claims").claims
}

pub(crate) fn dec(text: &str) -> Decimal {
    text.parse().expect("a decimal literal")
}

/// An exact JSON number (a `Decimal` would serialize as a string).
pub(crate) fn num(text: &str) -> Value {
    Value::Number(text.parse().expect("a number literal"))
}
