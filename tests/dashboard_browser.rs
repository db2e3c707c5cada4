//! The dashboard in a real headless Chromium driven through chromedriver (WebDriver): log in, see the status
//! panel, send a webhook and see the alert appear without a reload, flip the kill switch both ways, flatten all
//! through its confirmation, test an alert in the builder, and save a screenshot to `target/dashboard.png`.
//! Without Chromium or chromedriver this test fails saying how to install them (`webdriver`); it never skips.

mod webdriver;

use std::sync::Arc;
use std::time::Duration;

use pxrelay_e2e::{TestApp, alert, app_on, mnq_position, start_sim};
use serde_json::json;
use webdriver::{Chromedriver, Session};

const PASSWORD: &str = "browser-pw-71c2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trader_logs_in_watches_an_alert_arrive_and_flips_the_kill_switch() {
    let sim = start_sim(projectx_sim::SimConfig::default()).await;
    let app = app_on(&sim, &[("DASHBOARD_PASSWORD", PASSWORD), ("QUOTE_SYMBOLS", "MNQ")]).await;
    let driver = Chromedriver::start().await;
    let browser = Arc::new(Session::new(&driver, 1400, 2000).await);
    // The steps run in their own task so that a failing step still closes the browser and stops chromedriver
    // (a panic here would otherwise leave Chromium running); the failure is then re-raised.
    let steps = tokio::spawn(steps(browser.clone(), app, sim));
    let outcome = steps.await;
    browser.quit().await;
    driver.stop().await;
    if let Err(failed) = outcome {
        std::panic::resume_unwind(failed.into_panic());
    }
}

async fn steps(browser: Arc<Session>, app: TestApp, sim: projectx_sim::SimHandle) {
    let base = format!("http://{}", app.addr);

    // Not logged in: the page sends the browser to the login form.
    browser.goto(&format!("{base}/")).await;
    let (field, _) = browser.wait_for("#password", Duration::from_secs(10)).await;
    browser.type_into(&field, PASSWORD).await;
    let (button, _) = browser.wait_for("#login", Duration::from_secs(1)).await;
    browser.click(&button).await;

    let (panel, _) = browser.wait_for("#status-panel", Duration::from_secs(10)).await;
    let text = browser.text(&panel).await;
    assert!(text.contains("Connection") && text.contains("live"), "{text}");
    browser.wait_for("#market-hub .good", Duration::from_secs(10)).await;

    // A marker that a reload would wipe.
    browser.eval("window.__no_reload = 'still here'; return null;").await;
    let (code, answer) = app.alert(alert(json!({"action": "buy", "quantity": 1, "stop_loss_ticks": 40}))).await;
    assert_eq!(code, 200, "{answer}");
    let id = answer["alert_id"].as_str().expect("an alert id").to_owned();
    let (row, took) = browser.wait_for(&format!("tr[data-alert-id=\"{id}\"]"), Duration::from_secs(5)).await;
    println!("the alert appeared on the page {} ms after the webhook's answer", took.as_millis());
    assert!(took < Duration::from_secs(1), "the alert took {took:?} to appear (must be within 1 s)");
    assert_eq!(browser.eval("return window.__no_reload;").await, "still here", "the page was not reloaded");
    let row_text = browser.text(&row).await;
    assert!(row_text.contains("MNQ") && row_text.contains("buy"), "{row_text}");
    browser.wait_for(&format!("tr[data-alert-id=\"{id}\"] .status.placed"), Duration::from_secs(5)).await;
    let timeline = browser
        .wait_for_text(&format!("tr[data-alert-id=\"{id}\"] td.timeline"), "filled", Duration::from_secs(5))
        .await;
    assert!(timeline.starts_with("received → "), "{timeline}");
    browser.wait_for("div.account svg.pnl", Duration::from_secs(5)).await;

    // Kill switch on, then off, from the page; the relay's own /status agrees.
    let (on, _) = browser.wait_for("#kill-on", Duration::from_secs(1)).await;
    browser.click(&on).await;
    browser.wait_for("#kill-state.bad", Duration::from_secs(2)).await;
    assert_eq!(app.get_json("/status").await.1["kill_switch"], true);
    let (off, _) = browser.wait_for("#kill-off", Duration::from_secs(1)).await;
    browser.click(&off).await;
    browser.wait_for("#kill-state.good", Duration::from_secs(2)).await;
    assert_eq!(app.get_json("/status").await.1["kill_switch"], false);

    // The builder: its message, checked by the parser, and a dry run listing the request.
    let (test, _) = browser.wait_for("#test-alert", Duration::from_secs(1)).await;
    browser.click(&test).await;
    let (result, _) = browser.wait_for("#test-result:not(:empty)", Duration::from_secs(5)).await;
    let dry = browser.text(&result).await;
    assert!(dry.contains("/api/Order/place") && dry.contains("nothing was journaled or sent"), "{dry}");
    let message = browser.text(&browser.wait_for("#message", Duration::from_secs(1)).await.0).await;
    assert!(message.contains("YOUR_WEBHOOK_SECRET") && !message.contains(pxrelay_e2e::SECRET), "{message}");

    let png = browser.screenshot().await;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/dashboard.png");
    std::fs::create_dir_all(path.parent().expect("target/")).expect("target/ can be created");
    std::fs::write(&path, &png).expect("the screenshot is written");
    println!("screenshot: {}", path.display());

    // Flatten all, through the confirmation: the position is closed and the kill switch is on.
    assert_eq!(mnq_position(&sim), 1);
    let (flatten, _) = browser.wait_for("#flatten", Duration::from_secs(1)).await;
    browser.click(&flatten).await;
    let question = browser.accept_dialog().await;
    assert!(question.starts_with("Flatten all"), "{question}");
    browser.wait_for("#kill-state.bad", Duration::from_secs(5)).await;
    let start = tokio::time::Instant::now();
    while mnq_position(&sim) != 0 {
        assert!(start.elapsed() < Duration::from_secs(5), "flatten all left the position open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    app.stop().await.expect("pxrelay stops cleanly");
}
