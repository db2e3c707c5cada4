//! A small W3C WebDriver client (https://www.w3.org/TR/webdriver2/) over reqwest, and chromedriver started on a
//! free port and stopped by its PID: what the dashboard's browser test needs (navigate, find, type, click, read
//! text, run a script, accept a `confirm`, screenshot). Written here rather than taken from fantoccini, which
//! would add ~30 crates to Cargo.lock (the `webdriver` crate's ICU segmenter, a second `http`, `time`, `cookie`)
//! for these ten HTTP calls.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`apt-get install -y chromium chromium-driver`); without them
//! [`Chromedriver::start`] panics saying so: the browser test fails, it never skips. `CHROMEDRIVER` and
//! `CHROME_BIN` name other binaries.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How to install what is missing.
const INSTALL: &str = "the dashboard's browser test needs Chromium and chromedriver: \
                       `sudo apt-get install -y chromium chromium-driver` (Debian/Ubuntu), or set CHROMEDRIVER and \
                       CHROME_BIN to their paths";

/// A running chromedriver, killed by its PID when stopped or dropped.
#[derive(Debug)]
pub(crate) struct Chromedriver {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub(crate) url: String,
}

fn find(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Ok(path) = std::env::var(var) {
        return Some(PathBuf::from(path)).filter(|p| p.exists());
    }
    let dirs = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&dirs).flat_map(|d| names.iter().map(move |n| d.join(n))).find(|p| p.is_file())
}

/// The Chromium binary.
pub(crate) fn chrome_binary() -> PathBuf {
    find("CHROME_BIN", &["chromium", "chromium-browser", "google-chrome"])
        .unwrap_or_else(|| panic!("Chromium not found; {INSTALL}"))
}

impl Chromedriver {
    /// Starts chromedriver on a free 127.0.0.1 port and waits until it answers `/status` ready.
    pub(crate) async fn start() -> Self {
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
            let ready = http.get(format!("{url}/status")).send().await.ok();
            if let Some(resp) = ready {
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

    /// Kills chromedriver by its PID and reaps it.
    pub(crate) async fn stop(mut self) {
        let pid = self.child.id();
        self.child.kill().await.unwrap_or_else(|e| panic!("chromedriver (pid {pid:?}) could not be stopped: {e}"));
    }
}

/// One browser session.
#[derive(Debug)]
pub(crate) struct Session {
    http: reqwest::Client,
    base: String,
}

impl Session {
    /// A headless Chromium of `width`×`height`.
    pub(crate) async fn new(driver: &Chromedriver, width: u32, height: u32) -> Self {
        let http = reqwest::Client::new();
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": chrome_binary(),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     format!("--window-size={width},{height}")],
        }}}});
        let resp: Value = http
            .post(format!("{}/session", driver.url))
            .json(&caps)
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .expect("JSON");
        let id = resp["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no browser session: {resp}; {INSTALL}"));
        Self { base: format!("{}/session/{id}", driver.url), http }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp: Value = req.send().await.expect("chromedriver answers").json().await.expect("JSON");
        if let Some(error) = resp["value"]["error"].as_str() {
            panic!("WebDriver {path}: {error}: {}", resp["value"]["message"]);
        }
        resp["value"].clone()
    }

    /// Opens `url`.
    pub(crate) async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    /// The element matching `css` now, if any.
    pub(crate) async fn try_find(&self, css: &str) -> Option<String> {
        let found =
            self.call(reqwest::Method::POST, "/elements", Some(json!({"using": "css selector", "value": css}))).await;
        found.as_array()?.first()?.get(ELEMENT)?.as_str().map(str::to_owned)
    }

    /// Waits up to `within` for an element matching `css`; returns its reference and how long it took.
    pub(crate) async fn wait_for(&self, css: &str, within: Duration) -> (String, Duration) {
        let start = Instant::now();
        loop {
            if let Some(id) = self.try_find(css).await {
                return (id, start.elapsed());
            }
            if start.elapsed() >= within {
                let page = self.eval("return location.href + '\\n' + document.body.innerText.slice(0, 2000);").await;
                panic!("`{css}` did not appear within {within:?}; the page: {}", page.as_str().unwrap_or_default());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits up to `within` until the element matching `css` shows `needle` in its text; returns that text.
    pub(crate) async fn wait_for_text(&self, css: &str, needle: &str, within: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some(id) = self.try_find(css).await {
                let text = self.text(&id).await;
                if text.contains(needle) {
                    return text;
                }
                assert!(start.elapsed() < within, "`{css}` did not show `{needle}` within {within:?}: {text}");
            }
            assert!(start.elapsed() < within, "`{css}` did not appear within {within:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Types `text` into the element.
    pub(crate) async fn type_into(&self, element: &str, text: &str) {
        self.call(reqwest::Method::POST, &format!("/element/{element}/value"), Some(json!({"text": text}))).await;
    }

    /// Clicks the element.
    pub(crate) async fn click(&self, element: &str) {
        self.call(reqwest::Method::POST, &format!("/element/{element}/click"), Some(json!({}))).await;
    }

    /// The element's rendered text.
    pub(crate) async fn text(&self, element: &str) -> String {
        self.call(reqwest::Method::GET, &format!("/element/{element}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Runs `script` (a function body) in the page and returns its result.
    pub(crate) async fn eval(&self, script: &str) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": []}))).await
    }

    /// Accepts the open `confirm`/`alert` dialog, waiting up to 5 s for it; returns its text.
    pub(crate) async fn accept_dialog(&self) -> String {
        let start = Instant::now();
        loop {
            let resp: Value = self
                .http
                .get(format!("{}/alert/text", self.base))
                .send()
                .await
                .expect("answers")
                .json()
                .await
                .expect("JSON");
            if let Some(text) = resp["value"].as_str() {
                self.call(reqwest::Method::POST, "/alert/accept", Some(json!({}))).await;
                return text.to_owned();
            }
            assert!(start.elapsed() < Duration::from_secs(5), "no dialog opened");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A PNG of the viewport.
    pub(crate) async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let data = self.call(reqwest::Method::GET, "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD.decode(data.as_str().expect("base64 text")).expect("valid base64")
    }

    /// Closes the browser.
    pub(crate) async fn quit(&self) {
        self.call(reqwest::Method::DELETE, "", None).await;
    }
}
