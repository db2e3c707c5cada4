//! The dashboard in a real headless Chromium driven through chromedriver (WebDriver, with the fantoccini client):
//! log in, see the status panel, send a webhook and see the alert appear without a reload, flip the kill switch
//! both ways, flatten all through its confirmation, test an alert in the builder, and save a screenshot to
//! `target/dashboard.png`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`apt-get install -y chromium chromium-driver`); without them
//! [`Chromedriver::start`] panics saying so: this test fails, it never skips. `CHROMEDRIVER` and `CHROME_BIN` name
//! other binaries.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use pxrelay_e2e::{TestApp, alert, app_on, mnq_position, start_sim};
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio::time::Instant;

const PASSWORD: &str = "browser-pw-71c2";

/// How to install what is missing.
const INSTALL: &str = "the dashboard's browser test needs Chromium and chromedriver: \
                       `sudo apt-get install -y chromium chromium-driver` (Debian/Ubuntu), or set CHROMEDRIVER and \
                       CHROME_BIN to their paths";

/// How often the waits below look again: short, because the alert's arrival is timed against a 1 s bound
/// (fantoccini's own default is 250 ms).
const POLL: Duration = Duration::from_millis(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trader_logs_in_watches_an_alert_arrive_and_flips_the_kill_switch() {
    let sim = start_sim(projectx_sim::SimConfig::default()).await;
    let app = app_on(&sim, &[("DASHBOARD_PASSWORD", PASSWORD), ("QUOTE_SYMBOLS", "MNQ")]).await;
    let driver = Chromedriver::start().await;
    let browser = driver.session(1400, 2000).await;
    // The steps run in their own task so that a failing step still closes the browser and stops chromedriver
    // (a panic here would otherwise leave Chromium running); the failure is then re-raised.
    let steps = tokio::spawn(steps(browser.clone(), app, sim));
    let outcome = steps.await;
    browser.close().await.expect("the browser closes");
    driver.stop().await;
    if let Err(failed) = outcome {
        std::panic::resume_unwind(failed.into_panic());
    }
}

async fn steps(browser: Client, app: TestApp, sim: projectx_sim::SimHandle) {
    let base = format!("http://{}", app.addr);

    // Not logged in: the page sends the browser to the login form.
    browser.goto(&format!("{base}/")).await.expect("the page opens");
    let (field, _) = wait_for(&browser, "#password", Duration::from_secs(10)).await;
    field.send_keys(PASSWORD).await.expect("the password is typed");
    let (button, _) = wait_for(&browser, "#login", Duration::from_secs(1)).await;
    button.click().await.expect("the click lands");

    let (panel, _) = wait_for(&browser, "#status-panel", Duration::from_secs(10)).await;
    let text = text_of(&panel).await;
    assert!(text.contains("Connection") && text.contains("live"), "{text}");
    wait_for(&browser, "#market-hub .good", Duration::from_secs(10)).await;

    // A marker that a reload would wipe.
    eval(&browser, "window.__no_reload = 'still here'; return null;").await;
    let (code, answer) = app.alert(alert(json!({"action": "buy", "quantity": 1, "stop_loss_ticks": 40}))).await;
    assert_eq!(code, 200, "{answer}");
    let id = answer["alert_id"].as_str().expect("an alert id").to_owned();
    let (row, took) = wait_for(&browser, &format!("tr[data-alert-id=\"{id}\"]"), Duration::from_secs(5)).await;
    println!("the alert appeared on the page {} ms after the webhook's answer", took.as_millis());
    assert!(took < Duration::from_secs(1), "the alert took {took:?} to appear (must be within 1 s)");
    assert_eq!(eval(&browser, "return window.__no_reload;").await, "still here", "the page was not reloaded");
    let row_text = text_of(&row).await;
    assert!(row_text.contains("MNQ") && row_text.contains("buy"), "{row_text}");
    wait_for(&browser, &format!("tr[data-alert-id=\"{id}\"] .status.placed"), Duration::from_secs(5)).await;
    let timeline =
        wait_for_text(&browser, &format!("tr[data-alert-id=\"{id}\"] td.timeline"), "filled", Duration::from_secs(5))
            .await;
    assert!(timeline.starts_with("received → "), "{timeline}");
    wait_for(&browser, "div.account svg.pnl", Duration::from_secs(5)).await;

    // Kill switch on, then off, from the page; the relay's own /status agrees.
    let (on, _) = wait_for(&browser, "#kill-on", Duration::from_secs(1)).await;
    on.click().await.expect("the click lands");
    wait_for(&browser, "#kill-state.bad", Duration::from_secs(2)).await;
    assert_eq!(app.get_json("/status").await.1["kill_switch"], true);
    let (off, _) = wait_for(&browser, "#kill-off", Duration::from_secs(1)).await;
    off.click().await.expect("the click lands");
    wait_for(&browser, "#kill-state.good", Duration::from_secs(2)).await;
    assert_eq!(app.get_json("/status").await.1["kill_switch"], false);

    // The builder: its message, checked by the parser, and a dry run listing the request.
    let (test, _) = wait_for(&browser, "#test-alert", Duration::from_secs(1)).await;
    test.click().await.expect("the click lands");
    let (result, _) = wait_for(&browser, "#test-result:not(:empty)", Duration::from_secs(5)).await;
    let dry = text_of(&result).await;
    assert!(dry.contains("/api/Order/place") && dry.contains("nothing was journaled or sent"), "{dry}");
    let message = text_of(&wait_for(&browser, "#message", Duration::from_secs(1)).await.0).await;
    assert!(message.contains("YOUR_WEBHOOK_SECRET") && !message.contains(pxrelay_e2e::SECRET), "{message}");

    let png = browser.screenshot().await.expect("a screenshot");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/dashboard.png");
    std::fs::create_dir_all(path.parent().expect("target/")).expect("target/ can be created");
    std::fs::write(&path, &png).expect("the screenshot is written");
    println!("screenshot: {}", path.display());

    // Flatten all, through the confirmation: the position is closed and the kill switch is on.
    assert_eq!(mnq_position(&sim), 1);
    let (flatten, _) = wait_for(&browser, "#flatten", Duration::from_secs(1)).await;
    flatten.click().await.expect("the click lands");
    let question = accept_dialog(&browser).await;
    assert!(question.starts_with("Flatten all"), "{question}");
    wait_for(&browser, "#kill-state.bad", Duration::from_secs(5)).await;
    let start = tokio::time::Instant::now();
    while mnq_position(&sim) != 0 {
        assert!(start.elapsed() < Duration::from_secs(5), "flatten all left the position open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    app.stop().await.expect("pxrelay stops cleanly");
}

/// A running chromedriver, killed by its PID when stopped or dropped.
#[derive(Debug)]
struct Chromedriver {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    url: String,
}

/// The binary named by `var`, else the first of `names` on `PATH`.
fn find(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Ok(path) = std::env::var(var) {
        return Some(PathBuf::from(path)).filter(|p| p.exists());
    }
    let dirs = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&dirs).flat_map(|d| names.iter().map(move |n| d.join(n))).find(|p| p.is_file())
}

impl Chromedriver {
    /// Starts chromedriver on a free 127.0.0.1 port and waits until it answers `/status` ready.
    async fn start() -> Self {
        let binary =
            find("CHROMEDRIVER", &["chromedriver"]).unwrap_or_else(|| panic!("chromedriver not found; {INSTALL}"));
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            probe.local_addr().expect("bound").port()
        };
        let child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{} could not start ({e}); {INSTALL}", binary.display()));
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(resp) = http.get(format!("{url}/status")).send().await {
                let body: Value = resp.json().await.unwrap_or_default();
                if body["value"]["ready"] == true {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not become ready in 20 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { child, url }
    }

    /// A headless Chromium of `width`×`height` pixels, over plain HTTP (chromedriver is on 127.0.0.1: no TLS).
    async fn session(&self, width: u32, height: u32) -> Client {
        let chrome = find("CHROME_BIN", &["chromium", "chromium-browser", "google-chrome"])
            .unwrap_or_else(|| panic!("Chromium not found; {INSTALL}"));
        let caps = json!({"goog:chromeOptions": {
            "binary": chrome,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     format!("--window-size={width},{height}")],
        }});
        let Value::Object(caps) = caps else { unreachable!("a JSON object") };
        ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("no browser session: {e}; {INSTALL}"))
    }

    /// Kills chromedriver by its PID and reaps it.
    async fn stop(mut self) {
        let pid = self.child.id();
        self.child.kill().await.unwrap_or_else(|e| panic!("chromedriver (pid {pid:?}) could not be stopped: {e}"));
    }
}

/// Waits up to `within` for an element matching `css`; returns it and how long it took. On a timeout the panic
/// shows the page's address and the start of its text.
async fn wait_for(browser: &Client, css: &str, within: Duration) -> (Element, Duration) {
    let start = Instant::now();
    match browser.wait().at_most(within).every(POLL).for_element(Locator::Css(css)).await {
        Ok(element) => (element, start.elapsed()),
        Err(CmdError::WaitTimeout) => {
            let page = eval(browser, "return location.href + '\\n' + document.body.innerText.slice(0, 2000);").await;
            panic!("`{css}` did not appear within {within:?}; the page: {}", page.as_str().unwrap_or_default());
        }
        Err(e) => panic!("WebDriver, looking for `{css}`: {e}"),
    }
}

/// Waits up to `within` until the element matching `css` shows `needle` in its text; returns that text.
async fn wait_for_text(browser: &Client, css: &str, needle: &str, within: Duration) -> String {
    let start = Instant::now();
    loop {
        match browser.find(Locator::Css(css)).await {
            Ok(element) => {
                let text = text_of(&element).await;
                if text.contains(needle) {
                    return text;
                }
                assert!(start.elapsed() < within, "`{css}` did not show `{needle}` within {within:?}: {text}");
            }
            Err(e) if e.is_no_such_element() => {
                assert!(start.elapsed() < within, "`{css}` did not appear within {within:?}");
            }
            Err(e) => panic!("WebDriver, looking for `{css}`: {e}"),
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The element's rendered text.
async fn text_of(element: &Element) -> String {
    element.text().await.expect("the element's text")
}

/// Runs `script` (a function body) in the page and returns its result.
async fn eval(browser: &Client, script: &str) -> Value {
    browser.execute(script, vec![]).await.unwrap_or_else(|e| panic!("WebDriver, running a script: {e}"))
}

/// Accepts the open `confirm`/`alert` dialog, waiting up to 5 s for it; returns its text.
async fn accept_dialog(browser: &Client) -> String {
    let start = Instant::now();
    loop {
        match browser.get_alert_text().await {
            Ok(text) => {
                browser.accept_alert().await.expect("the dialog is accepted");
                return text;
            }
            Err(e) if e.is_no_such_alert() => assert!(start.elapsed() < Duration::from_secs(5), "no dialog opened"),
            Err(e) => panic!("WebDriver, reading the dialog: {e}"),
        }
        tokio::time::sleep(POLL).await;
    }
}
