//! The README's "First paper trade in one minute" block, run as written against the real binary: the secret from
//! its run command, the alert from its `curl`, then the journal and `/status` it points to. If the README changes
//! so that the block no longer works, this fails.

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::Duration;

const README: &str = include_str!("../../../README.md");

/// The text of the section titled `title`, up to the next `## ` heading.
fn section(title: &str) -> &'static str {
    let start = README.find(&format!("## {title}")).unwrap_or_else(|| panic!("README has no section `{title}`"));
    let rest = &README[start + 3..];
    &rest[..rest.find("\n## ").unwrap_or(rest.len())]
}

/// The text between `before` and the next `after` in `text`.
fn between<'a>(text: &'a str, before: &str, after: &str) -> &'a str {
    let start = text.find(before).unwrap_or_else(|| panic!("`{before}` not found in:\n{text}")) + before.len();
    let len = text[start..].find(after).unwrap_or_else(|| panic!("`{after}` not found after `{before}`"));
    &text[start..start + len]
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_paper_trade_block_places_a_paper_order_and_shows_it() {
    let block = section("First paper trade in one minute");
    let secret = between(block, "WEBHOOK_SECRET=", " cargo run");
    assert!(between(block, secret, "\n").ends_with("cargo run --release -- serve --sim"), "{block}");
    let alert = between(block, "-d '", "'");
    let bearer = between(block, "authorization: Bearer ", "'");
    assert_eq!(bearer, secret, "the README reads the journal with the same secret");
    assert!(block.contains("curl -s localhost:8080/webhook") && block.contains("curl -s localhost:8080/status"));

    let journal = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("readme-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&journal);
    let mut child = Command::new(env!("CARGO_BIN_EXE_pxrelay"))
        .env_clear()
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .args(["serve", "--sim"])
        .env("WEBHOOK_SECRET", secret)
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("LOG_FORMAT", "json")
        .env("DATABASE_URL", &journal)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = {
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        // The port is bound first; webhooks are accepted once the warm-up (first token, …) logs that they are.
        let (mut listening, mut ready) = (None, false);
        for line in lines.by_ref().map_while(Result::ok) {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if v["message"] == "pxrelay listening" {
                listening = v["addr"].as_str().map(str::to_owned);
            }
            ready |= v["message"] == "ready: webhooks are accepted";
            if listening.is_some() && ready {
                break;
            }
        }
        let listening = listening.filter(|_| ready).expect("pxrelay listening and ready");
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        listening
    };
    projectx::tls::install_crypto_provider();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let answer: serde_json::Value = http
        .post(format!("http://{addr}/webhook"))
        .header("content-type", "application/json")
        .body(alert.to_owned())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"], "placed", "{answer}");
    assert_eq!(answer["orders"].as_array().map(Vec::len), Some(1), "{answer}");
    let alerts: serde_json::Value = http
        .get(format!("http://{addr}/alerts"))
        .header("authorization", format!("Bearer {bearer}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(alerts["alerts"][0]["status"], "placed", "{alerts}");
    assert_eq!(alerts["alerts"][0]["alert_id"], answer["alert_id"], "{alerts}");
    let status: serde_json::Value =
        http.get(format!("http://{addr}/status")).send().await.unwrap().json().await.unwrap();
    assert_eq!((status["mode"].as_str(), status["webhooks"]["accepted"].as_u64()), (Some("sim"), Some(1)), "{status}");
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    let _ = std::fs::remove_file(&journal);
}
