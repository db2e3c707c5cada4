//! The README's "First paper trade in one minute" block, run as written against the real binary: the variables of
//! its run command (the secret, `ALLOWED_SYMBOLS`), the alert from its `curl` and the answer it shows (but for the
//! contract month), then the journal and `/status` it points to. If the README changes so that the block no longer
//! works, this fails.

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
    // The run command: `VAR=value … cargo run --release -- serve --sim`, its variables set exactly as written.
    let run = block.lines().find(|l| l.contains("cargo run")).expect("a run command");
    let (vars, command) = run.split_at(run.find("cargo run").unwrap());
    assert_eq!(command, "cargo run --release -- serve --sim", "{block}");
    let vars: Vec<(&str, &str)> =
        vars.split_whitespace().map(|v| v.split_once('=').unwrap_or_else(|| panic!("not VAR=value: {v}"))).collect();
    let secret = vars.iter().find(|(k, _)| *k == "WEBHOOK_SECRET").expect("WEBHOOK_SECRET is set").1;
    assert!(vars.contains(&("ALLOWED_SYMBOLS", "MNQ")), "the first steps recommend ALLOWED_SYMBOLS: {block}");
    let alert = between(block, "-d '", "'");
    let documented = between(block, r#""message":""#, r#"""#);
    let bearer = between(block, "authorization: Bearer ", "'");
    assert_eq!(bearer, secret, "the README reads the journal with the same secret");
    assert!(block.contains("curl -s localhost:8080/webhook") && block.contains("curl -s localhost:8080/status"));

    let journal = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("readme-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&journal);
    let mut child = Command::new(env!("CARGO_BIN_EXE_pxrelay"))
        .env_clear()
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .args(["serve", "--sim"])
        .envs(vars)
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
    // The README's message, but for the month: paper mode trades today's front month.
    let message = answer["message"].as_str().unwrap();
    let (product, tick) = (documented.split(':').take(2).collect::<Vec<_>>().join(":"), between(documented, ", ", ")"));
    assert!(message.starts_with(&product) && message.ends_with(&format!(", {tick})")), "{message} vs {documented}");
    assert!(documented.contains("CON.F.US.MNQ.") && message.contains("(CON.F.US.MNQ."), "{message} vs {documented}");
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
    // ALLOWED_SYMBOLS=MNQ as written: the full-size E-mini is refused.
    let nq = alert.replace("MNQ1!", "NQ1!");
    let refused = http.post(format!("http://{addr}/webhook")).body(nq).send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 422, "{:?}", refused.text().await);
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    let _ = std::fs::remove_file(&journal);
}
