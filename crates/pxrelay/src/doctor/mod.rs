//! `pxrelay doctor`: a read-only pre-flight before going live. It checks the session, the accounts, every configured
//! symbol, both hubs, the clock and the rate budget it used, and prints one line per check
//! (`PASS|WARN|FAIL  <check>: <what was found>; <what to do>`) or, with `--json`, a redacted JSON report.
//!
//! **Read-only.** Only reads are sent (`Auth/*`, `Account/search`, `Contract/*`, `Position/searchOpen`,
//! `Order/searchOpen`, the hubs' subscriptions): nothing is placed, modified, cancelled or closed.
//! **Redacted.** No token, API key or webhook secret is ever printed; account balances only with
//! `--include-balances`.
//!
//! Layout: this file (the report and its output), `checks` (the checks), `expiry` (a contract's expiry from its id).

mod checks;
pub mod expiry;

use std::fmt;

use crate::config::Settings;

/// One check's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// Fine.
    Pass,
    /// Works, but look at it before going live.
    Warn,
    /// pxrelay would not trade correctly: the doctor exits 1.
    Fail,
}

impl Verdict {
    /// `PASS`, `WARN` or `FAIL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Warn => "WARN",
            Self::Fail => "FAIL",
        }
    }
}

/// One line of the report.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Check {
    /// What was checked (`session`, `accounts`, `symbol MNQ`, `market hub`, `user hub`, `clock skew`,
    /// `rate budget`).
    pub name: String,
    /// The verdict.
    pub result: Verdict,
    /// What was found (never a secret; a balance only with `--include-balances`).
    pub detail: String,
    /// What to do about it (`nothing to do` when it passed).
    pub advice: String,
}

impl Check {
    fn new(name: impl Into<String>, result: Verdict, detail: impl Into<String>, advice: impl Into<String>) -> Self {
        Self { name: name.into(), result, detail: detail.into(), advice: advice.into() }
    }

    /// A passed check.
    fn pass(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(name, Verdict::Pass, detail, "nothing to do")
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}  {}: {}; {}", self.result.as_str(), self.name, self.detail, self.advice)
    }
}

/// The whole report (`--json` prints it as `{"checks":[{"name","result","detail","advice"}],"version"}`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    /// The checks, in the order they ran.
    pub checks: Vec<Check>,
    /// pxrelay's version.
    pub version: &'static str,
}

impl Report {
    /// Whether any check failed (the process then exits 1).
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.result == Verdict::Fail)
    }
}

/// What `pxrelay doctor` was asked for.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Print the JSON report instead of lines.
    pub json: bool,
    /// Show account balances (hidden by default: a report is often pasted into a chat).
    pub include_balances: bool,
}

/// Runs every check against the gateway `settings` point at (the simulator's, with `--sim`) and prints the report
/// on stdout. Returns it; the caller exits 1 when [`Report::failed`].
pub async fn run(settings: &Settings, options: Options) -> anyhow::Result<Report> {
    let report = Report { checks: checks::run(settings, options).await, version: env!("CARGO_PKG_VERSION") };
    if options.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for check in &report.checks {
            println!("{check}");
        }
    }
    Ok(report)
}
