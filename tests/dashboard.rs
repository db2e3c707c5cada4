//! The dashboard over HTTP against the simulator (no browser): after a login and a traded alert, no page or answer
//! it serves holds the API key, the session token (JWT) or the webhook secret; a wrong password gets no cookie.

use pxrelay_e2e::{SECRET, TestApp, alert, app_on, quiet_sim};
use secrecy::ExposeSecret;
use serde_json::json;

const PASSWORD: &str = "dash-pw-3e9d";

async fn login(app: &TestApp, password: &str) -> (u16, Option<String>) {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("a client");
    let resp = client
        .post(format!("http://{}/login", app.addr))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("password={password}"))
        .send()
        .await
        .expect("pxrelay answers");
    let cookie = resp
        .headers()
        .get("set-cookie")
        .map(|c| c.to_str().expect("ASCII").split(';').next().unwrap_or_default().to_owned());
    (resp.status().as_u16(), cookie)
}

#[tokio::test]
async fn no_page_holds_the_api_key_the_token_or_the_webhook_secret() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[("DASHBOARD_PASSWORD", PASSWORD)]).await;
    assert_eq!(login(&app, "not-it").await, (401, None), "a wrong password gets no session");
    let (code, cookie) = login(&app, PASSWORD).await;
    assert_eq!(code, 303);
    let cookie = cookie.expect("a session cookie");

    let (code, answer) = app.alert(alert(json!({"action": "buy", "quantity": 1}))).await;
    assert_eq!(code, 200, "{answer}");
    let id = answer["alert_id"].as_str().unwrap();
    let base = format!("http://{}", app.addr);
    let mut pages = Vec::new();
    for path in ["/".to_owned(), "/dashboard/live".to_owned(), format!("/dashboard/alerts/{id}")] {
        let resp = app.http.get(format!("{base}{path}")).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        pages.push((path, resp.text().await.unwrap()));
    }
    let form =
        json!({"symbol": "MNQ", "template": "buy", "quantity": "1", "unit": "ticks", "stop_loss": "40", "test": true});
    let resp = app
        .http
        .post(format!("{base}/dashboard/builder"))
        .header("cookie", &cookie)
        .header("origin", &base)
        .json(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    pages.push(("/dashboard/builder".to_owned(), resp.text().await.unwrap()));

    let token = app.gateway.tokens().current().expect("a token after the warm-up");
    let secrets = [
        ("API key", sim.api_key().to_owned()),
        ("token", token.secret().expose_secret().to_owned()),
        ("webhook secret", SECRET.to_owned()),
    ];
    for (path, body) in &pages {
        assert!(body.contains("MNQ"), "{path} shows the alert or the builder");
        for (what, value) in &secrets {
            assert!(!body.contains(value.as_str()), "{path} holds the {what}");
        }
    }
    assert!(pages[3].1.contains("/api/Order/place"), "the dry run lists the request: {}", pages[3].1);
    app.stop().await.unwrap();
}
