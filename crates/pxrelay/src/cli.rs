//! The command line: `pxrelay serve [--sim [--reset]]`, `pxrelay relay`, `pxrelay execute --relay URL`, `pxrelay token`, `pxrelay quote SYMBOL [--sim]` and
//! `pxrelay doctor [--sim] [--json] [--include-balances]`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use secrecy::ExposeSecret;

use crate::config::{ConfigError, Settings};
use crate::startup::App;
use crate::state::Mode;

/// pxrelay: TradingView webhooks to ProjectX Gateway orders.
#[derive(Debug, clap::Parser)]
#[command(version, about)]
pub struct Cli {
    /// A TOML file overriding config/default.toml (environment variables override both).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run the relay server.
    Serve {
        /// Paper mode: start the in-process gateway simulator and trade against it (no credentials needed). Same as
        /// PXRELAY_MODE=sim, and wins over PXRELAY_MODE=live.
        #[arg(long)]
        sim: bool,
        /// Paper mode only: empty the paper journal first, so paper trading starts afresh with the fresh simulator.
        /// Refused in live mode: a live journal is never emptied.
        #[arg(long)]
        reset: bool,
    },
    /// The public half of a split setup (docs/relay.md): receive, authenticate, validate and journal webhooks, and
    /// hand them to the executor connected at `/executor` (EXECUTOR_TOKEN). Holds no broker credentials: refuses to
    /// start while PROJECT_X_API_KEY or JWT_TOKEN is set.
    Relay,
    /// The trader's-machine half (docs/relay.md): everything `serve` runs, taking its alerts from the relay over one
    /// outbound WebSocket (EXECUTOR_TOKEN), reconnecting forever. HOST defaults to 127.0.0.1 here.
    Execute {
        /// The relay's address, e.g. https://my-relay.up.railway.app (else RELAY_URL).
        #[arg(long, value_name = "URL")]
        relay: Option<String>,
    },
    /// Log in with PROJECT_X_USERNAME + PROJECT_X_API_KEY and print a JWT_TOKEN line and its expiry.
    Token,
    /// Print the current quote of a symbol (MNQ, ES, CME_MINI:MNQ1!, MNQZ5, CON.F.US.MNQ.Z25) as JSON.
    Quote {
        /// The symbol.
        symbol: String,
        /// Ask the in-process simulator instead of the gateway (also with PXRELAY_MODE=sim).
        #[arg(long)]
        sim: bool,
    },
    /// Read-only pre-flight before going live: session, accounts, symbols, both hubs, clock skew, rate budget. One
    /// `PASS|WARN|FAIL` line per check; exits 1 when any check fails. Never places, modifies or cancels anything.
    Doctor {
        /// Check the in-process simulator instead of the gateway (also with PXRELAY_MODE=sim).
        #[arg(long)]
        sim: bool,
        /// Print a JSON report (`{"checks":[{"name","result","detail","advice"}],"version"}`) instead of lines.
        #[arg(long)]
        json: bool,
        /// Show account balances (hidden by default).
        #[arg(long)]
        include_balances: bool,
    },
}

/// Exit code for unusable configuration (sysexits EX_CONFIG): invalid settings, and `QUOTE_SYMBOLS`/`ALLOWED_SYMBOLS`
/// entries the gateway does not list (found by the warm-up, a [`ConfigError`] too).
const EXIT_CONFIG: u8 = 78;

/// Exit code for a command line that cannot be run as given (clap's own code for usage errors).
const EXIT_USAGE: u8 = 2;

impl Cli {
    /// Runs the command with the process environment plus `.env` (real variables win over `.env`).
    pub async fn run(self) -> ExitCode {
        // rustls with ring is the only TLS stack in the tree; install it before anything builds a client.
        projectx::tls::install_crypto_provider();
        let mut env: HashMap<String, String> =
            dotenvy::dotenv_iter().map(|it| it.filter_map(Result::ok).collect()).unwrap_or_default();
        env.extend(std::env::vars());
        // The executor's own HTTP port (status, dashboard) stays on this machine unless HOST says otherwise.
        if matches!(self.command, Command::Execute { .. }) && !env.contains_key("HOST") {
            env.insert("HOST".to_owned(), "127.0.0.1".to_owned());
        }
        if matches!(self.command, Command::Relay) {
            let held = crate::relay::credentials_present(&env);
            if !held.is_empty() {
                eprintln!(
                    "pxrelay: invalid configuration:\n  the relay holds no broker credentials, but {} is set: unset it \
                     here and set it on the trader's machine, where `pxrelay execute` runs",
                    held.join(" and ")
                );
                return ExitCode::from(EXIT_CONFIG);
            }
        }
        let executor_token = match &self.command {
            Command::Relay | Command::Execute { .. } => match crate::relay::executor_token(&env) {
                Ok(t) => Some(t),
                Err(why) => {
                    eprintln!("pxrelay: invalid configuration:\n  {why}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            },
            _ => None,
        };
        let relay_url = match &self.command {
            Command::Execute { relay } => {
                let base = relay.clone().or_else(|| env.get(crate::relay::RELAY_URL).cloned()).unwrap_or_default();
                match crate::relay::executor_link::executor_url(&base) {
                    Ok(url) => Some(url),
                    Err(why) => {
                        eprintln!("pxrelay: invalid configuration:\n  {why} (set --relay or RELAY_URL)");
                        return ExitCode::from(EXIT_CONFIG);
                    }
                }
            }
            _ => None,
        };
        let sim_flag = matches!(
            self.command,
            Command::Serve { sim: true, .. } | Command::Quote { sim: true, .. } | Command::Doctor { sim: true, .. }
        );
        let settings = match Settings::load_with_mode(self.config.as_deref(), &env, sim_flag.then_some(Mode::Sim)) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("pxrelay: invalid configuration:\n  {e}");
                return ExitCode::from(EXIT_CONFIG);
            }
        };
        let result = match self.command {
            Command::Serve { reset, .. } => {
                if reset && settings.mode != Mode::Sim {
                    eprintln!(
                        "pxrelay: --reset empties the paper-trading journal and is refused in live mode (a live \
                         journal is never emptied): use `serve --sim --reset` or PXRELAY_MODE=sim"
                    );
                    return ExitCode::from(EXIT_USAGE);
                }
                crate::telemetry::init(&settings.log);
                let mode = settings.mode;
                match prepare_paper_journal(&settings, reset).await {
                    Ok(()) => match App::build(settings, mode).await {
                        Ok(app) => app.run_until_stopped().await,
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                }
            }
            Command::Relay => {
                crate::telemetry::init(&settings.log);
                match executor_token {
                    Some(token) => crate::relay::run(settings, token).await,
                    None => Err(anyhow::anyhow!("no EXECUTOR_TOKEN")),
                }
            }
            Command::Execute { .. } => {
                crate::telemetry::init(&settings.log);
                let mode = settings.mode;
                match (App::build(settings, mode).await, executor_token, relay_url) {
                    (Ok(app), Some(token), Some(url)) => {
                        let (state, cancel) = (app.state().clone(), app.state().shutdown.child_token());
                        app.spawn(crate::relay::executor_link::run(state, url, token, cancel));
                        app.run_until_stopped().await
                    }
                    (Err(e), _, _) => Err(e),
                    _ => Err(anyhow::anyhow!("no EXECUTOR_TOKEN or relay address")),
                }
            }
            Command::Token => {
                crate::telemetry::init_with(&settings.log, std::io::stderr);
                token(settings).await
            }
            Command::Quote { symbol, .. } => {
                crate::telemetry::init_with(&settings.log, std::io::stderr);
                let sim = settings.mode == Mode::Sim;
                quote(settings, &symbol, sim).await
            }
            Command::Doctor { json, include_balances, .. } => {
                crate::telemetry::init_with(&settings.log, std::io::stderr);
                let options = crate::doctor::Options { json, include_balances };
                match doctor(settings, options).await {
                    Ok(true) => return ExitCode::FAILURE,
                    Ok(false) => Ok(()),
                    Err(e) => Err(e),
                }
            }
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "pxrelay failed");
                // A problem found only once the gateway answered (a symbol it does not list) is still configuration.
                if let Some(config) = e.chain().find_map(|cause| cause.downcast_ref::<ConfigError>()) {
                    eprintln!("pxrelay: invalid configuration:\n  {config}");
                    return ExitCode::from(EXIT_CONFIG);
                }
                eprintln!("pxrelay: {e:#}");
                ExitCode::FAILURE
            }
        }
    }
}

/// Sim mode: empties the paper journal when `reset` (`serve --sim --reset`), else says when it holds alerts from
/// earlier runs (the fresh simulator starts flat and numbers its orders from the start again). Nothing in live mode.
/// The journal is closed again before the app opens it.
async fn prepare_paper_journal(settings: &Settings, reset: bool) -> anyhow::Result<()> {
    if settings.mode != Mode::Sim {
        return Ok(());
    }
    let database = &settings.webhook.database;
    if reset && matches!(database, crate::config::Database::Postgres(_)) {
        anyhow::bail!(
            "--reset refuses a Postgres journal (DATABASE_URL): other instances may be using it; point DATABASE_URL at \
             a fresh database instead"
        );
    }
    let journal = crate::journal::Journal::connect(database, settings.webhook.dedup_window, Mode::Sim)
        .await
        .with_context(|| format!("opening the paper journal (DATABASE_URL) {}", database.describe()))?;
    if reset {
        let deleted = journal.reset().await?;
        tracing::warn!(journal = %database.describe(), deleted, "--reset: paper journal emptied; paper trading starts afresh");
    } else {
        let earlier = journal.count().await?;
        if earlier > 0 {
            tracing::info!(
                journal = %database.describe(),
                alerts = earlier,
                "the paper journal holds alerts from earlier runs, but the simulator starts flat; \
                 `serve --sim --reset` starts paper trading afresh"
            );
        }
    }
    Ok(())
}

async fn token(settings: Settings) -> anyhow::Result<()> {
    let client = projectx::Client::new(crate::startup::client_config(&settings.gateway))?;
    let token = client.tokens().login_now().await?;
    println!("JWT_TOKEN={}", token.secret().expose_secret());
    println!("# expires {} ({} s from now)", token.expires_at().to_rfc3339(), token.time_left().as_secs());
    Ok(())
}

/// `pxrelay doctor`: `true` when a check failed.
async fn doctor(mut settings: Settings, options: crate::doctor::Options) -> anyhow::Result<bool> {
    let _sim = match settings.mode == Mode::Sim {
        true => Some(crate::startup::start_sim(&mut settings.gateway).await?),
        false => None,
    };
    Ok(crate::doctor::run(&settings, options).await?.failed())
}

async fn quote(mut settings: Settings, symbol: &str, sim: bool) -> anyhow::Result<()> {
    let _sim = match sim {
        true => Some(crate::startup::start_sim(&mut settings.gateway).await?),
        false => None,
    };
    let gateway = projectx::Client::new(crate::startup::client_config(&settings.gateway))?;
    gateway.tokens().ensure_valid_token().await?;
    let cancel = tokio_util::sync::CancellationToken::new();
    let tracker = tokio_util::task::TaskTracker::new();
    let (quotes, _) = crate::startup::start_quotes(&settings, &gateway, &cancel, &tracker);
    let result = quotes.quote(symbol).await;
    cancel.cancel();
    tracker.close();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), tracker.wait()).await;
    println!("{}", serde_json::to_string_pretty(&result?)?);
    Ok(())
}
