//! Settings: `config/default.toml` (compiled in) → an optional `--config FILE` → environment variables with the
//! plain names users know from Python bots and Railway dashboards (`PROJECT_X_USERNAME`, `PORT`, …), mapped
//! onto nested keys by one table ([`Var`], in `vars.rs`). [`Settings::load`] turns every string into its type and
//! reports **all** problems at once, each naming its variable, before anything binds a port. Secrets are
//! `SecretString`: the derived `Debug` of these structs shows `[REDACTED]` for them.

mod accounts;
mod database;
mod notify;
mod read;
mod vars;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

pub use database::Database;
use read::Reader;

use crate::mode::Mode;
pub use crate::mode::{LIVE_JOURNAL, SIM_JOURNAL, default_journal};
pub use accounts::{AccountGroup, AccountGroups, AccountLimits, DailyLossAction, LimitsTable, Member};
pub use vars::{ENV_KEYS, RAILWAY_ENVIRONMENT, Var};

const DEFAULTS: &str = include_str!("../../../config/default.toml");

/// TradingView gives up on a webhook after 3 s, so the answer must come sooner (`WEBHOOK_WAIT_MS` below this).
const TRADINGVIEW_TIMEOUT_MS: u32 = 3000;

/// Validated settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Live or paper trading (`PXRELAY_MODE`, or `--sim`, which wins). Also chooses the default journal file.
    pub mode: Mode,
    /// Gateway connection and token lifecycle.
    pub gateway: GatewaySettings,
    /// Market data: subscriptions, staleness, bars fallback.
    pub feed: FeedSettings,
    /// Webhooks, journal and execution guards.
    pub webhook: WebhookSettings,
    /// Account groups and per-account limits.
    pub accounts: AccountSettings,
    /// Market time: the time zone and session open the time rules are read in.
    pub market: crate::market_time::MarketClock,
    /// The time rules entries follow (`MARKET_HOURS`, `TRADING_WINDOWS`, `FLAT_BY`), read in `market`'s zone.
    pub hours: crate::hours::HoursRules,
    /// Daily risk: `DAILY_LOSS_LIMIT`, `DAILY_LOSS_ACTION`, `DAILY_PROFIT_TARGET` ([`crate::risk`]).
    pub risk: crate::risk::RiskSettings,
    /// Notifications: `NOTIFY_URLS`, `NOTIFY_EVENTS`, `NOTIFY_OUTAGE_SECS` ([`crate::notify`]).
    pub notify: crate::notify::NotifySettings,
    /// The HTTP listener.
    pub http: HttpSettings,
    /// Logging.
    pub log: LogSettings,
}

/// Gateway connection and token lifecycle.
#[derive(Clone, Debug)]
pub struct GatewaySettings {
    /// REST base.
    pub api_url: Url,
    /// Market hub.
    pub market_hub_url: Url,
    /// User hub.
    pub user_hub_url: Url,
    /// `PROJECT_X_USERNAME`.
    pub username: Option<String>,
    /// `PROJECT_X_API_KEY`.
    pub api_key: Option<SecretString>,
    /// `JWT_TOKEN`.
    pub jwt_token: Option<SecretString>,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Refresh once less than this is left.
    pub refresh_margin: Duration,
    /// Background refresher safety-net interval.
    pub check_interval: Duration,
    /// General rate budget.
    pub general_limit: projectx::RateLimit,
    /// History rate budget.
    pub history_limit: projectx::RateLimit,
    /// `USER_HUB_LOGOUT_PAUSE_SECS`: how long the user hub stops logging in after repeated `GatewayLogout`s
    /// (another session on the same login; `projectx::UserConfig::logout_pause`). Entries are refused meanwhile.
    pub logout_pause: Duration,
    /// `GATEWAY_KEEPWARM_SECS`: keep the REST connection warm through quiet hours (zero = off): a
    /// `GET /api/Status/ping` after this long without a gateway call, HTTP/2 keep-alive pings, no pool idle
    /// timeout (`projectx::ClientConfig::keep_warm`, `projectx::keepwarm`).
    pub keep_warm: Duration,
}

/// Market data.
#[derive(Clone, Debug)]
pub struct FeedSettings {
    /// Symbols subscribed at startup (`QUOTE_SYMBOLS`).
    pub quote_symbols: Vec<String>,
    /// Stale-feed watchdog limit.
    pub stale_after: Duration,
    /// Most contracts subscribed at once.
    pub max_subscriptions: usize,
    /// Streamed quotes younger than this are fresh.
    pub quote_max_age: Duration,
    /// Bars answers are reused this long.
    pub bars_ttl: Duration,
}

/// Webhooks, journal and execution guards.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// `WEBHOOK_SECRET`; `None` refuses every webhook.
    pub secret: Option<SecretString>,
    /// Admit only TradingView's sender addresses.
    pub ip_allowlist: bool,
    /// How long the HTTP answer waits for the outcome; below 3 s, where TradingView gives up.
    pub wait: Duration,
    /// Run everything but send nothing.
    pub dry_run: bool,
    /// Most contracts per order and per resulting position.
    pub max_contracts: u32,
    /// `CANCEL_ON_FLAT`: which working orders pxrelay cancels once a position goes flat.
    pub cancel_on_flat: crate::legs::CancelOnFlat,
    /// Only these symbols may trade (empty = all).
    pub allowed_symbols: Vec<String>,
    /// Refuse new entries (exits still allowed).
    pub kill_switch: bool,
    /// `PROJECT_X_ACCOUNT`: account name or id.
    pub account: Option<String>,
    /// Where the journal lives (from `DATABASE_URL`: a Postgres URL, a SQLite URL or a plain path; unset:
    /// [`LIVE_JOURNAL`] in live mode, [`SIM_JOURNAL`] in sim mode, so paper trading never shares the live journal).
    pub database: Database,
    /// A repeated alert id within this window is a duplicate.
    pub dedup_window: Duration,
    /// An entry with neither an id nor a timestamp is a duplicate of an identical entry this recent (sliding).
    pub duplicate_window: Duration,
    /// Executor queue capacity (full → 503).
    pub queue_capacity: usize,
    /// An alert older than this when its turn comes is not sent.
    pub max_alert_age: Duration,
}

/// Account groups (fan-out targets) and per-account guards. Accounts are named as configured (name or id); whether
/// each exists is checked at startup against the login's accounts (`crate::warmup`).
#[derive(Clone, Debug, Default)]
pub struct AccountSettings {
    /// `ACCOUNT_GROUPS`: named sets of accounts with size multipliers, for an alert's `account`/`accounts`.
    pub groups: AccountGroups,
    /// `ACCOUNT_LIMITS`: per-account overrides of `MAX_CONTRACTS` and the daily risk settings.
    pub limits: LimitsTable,
}

/// The HTTP listener.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// Address to bind (0.0.0.0 on Railway).
    pub host: IpAddr,
    /// Port (Railway sets `PORT`; 0 picks a free one).
    pub port: u16,
    /// Longest a stop may take.
    pub shutdown_grace: Duration,
    /// `DASHBOARD_PASSWORD`: the dashboard's login (`GET /`, [`crate::routes::dashboard`]). `None`: the dashboard is open in
    /// sim mode and off (404 naming this variable) in live mode.
    pub dashboard_password: Option<SecretString>,
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Pretty,
}

/// Logging.
#[derive(Clone, Debug)]
pub struct LogSettings {
    /// Output format.
    pub format: LogFormat,
    /// `RUST_LOG`-style filter.
    pub filter: String,
}

/// Every problem found, each naming its variable.
#[derive(Debug, thiserror::Error)]
#[error("{}", .problems.join("\n  "))]
pub struct ConfigError {
    /// One line per problem.
    pub problems: Vec<String>,
}

impl Settings {
    /// Loads the settings from the compiled-in defaults, `file` (if any) and `env` (the process environment plus
    /// `.env` in `main`; a plain map in tests, so nothing mutates the process environment).
    pub fn load(file: Option<&Path>, env: &HashMap<String, String>) -> Result<Self, ConfigError> {
        Self::load_with_mode(file, env, None)
    }

    /// [`Self::load`], with the mode given on the command line (`--sim`): it wins over `PXRELAY_MODE`, which is
    /// still checked. `None` leaves the mode to `PXRELAY_MODE` (default `live`).
    pub fn load_with_mode(
        file: Option<&Path>,
        env: &HashMap<String, String>,
        command_line: Option<Mode>,
    ) -> Result<Self, ConfigError> {
        let merged = merge(file, env)?;
        let mut reader = Reader::new(&merged);
        let settings = read_settings(&mut reader, env.contains_key(RAILWAY_ENVIRONMENT), command_line);
        if reader.problems.is_empty() { Ok(settings) } else { Err(ConfigError { problems: reader.problems }) }
    }
}

/// Defaults, then `file`, then each table variable set (non-blank) in `env`.
fn merge(file: Option<&Path>, env: &HashMap<String, String>) -> Result<config::Config, ConfigError> {
    let one = |p: String| ConfigError { problems: vec![p] };
    let mut builder = config::Config::builder().add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
    if let Some(path) = file {
        if !path.is_file() {
            return Err(one(format!("--config {}: no such file", path.display())));
        }
        builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
    }
    for var in Var::ALL {
        let value = env.get(var.name()).map(|v| v.trim()).filter(|v| !v.is_empty());
        builder = builder
            .set_override_option(var.key(), value.map(str::to_owned))
            .map_err(|e| one(format!("{}: {e}", var.name())))?;
    }
    builder.build().map_err(|e| one(format!("configuration: {e}")))
}

/// Reads every setting; the problems are left in `r` (the values beside a problem are placeholders).
fn read_settings(r: &mut Reader<'_>, on_railway: bool, command_line: Option<Mode>) -> Settings {
    use Var::*;
    // Read (and checked) even when the command line decides.
    let configured = r.mode();
    let mode = command_line.or(configured).unwrap_or(Mode::Live);
    let username = r.opt(PROJECT_X_USERNAME);
    let api_key = r.opt(PROJECT_X_API_KEY).map(SecretString::from);
    let (user, key) = (PROJECT_X_USERNAME.name(), PROJECT_X_API_KEY.name());
    match (&username, &api_key) {
        (Some(_), None) => r.problems.push(format!("{key} is not set but {user} is: set both")),
        (None, Some(_)) => r.problems.push(format!("{user} is not set but {key} is: set both")),
        _ => {}
    }
    let gateway = GatewaySettings {
        api_url: r.url(PROJECT_X_API_URL),
        market_hub_url: r.url(PROJECT_X_MARKET_HUB_URL),
        user_hub_url: r.url(PROJECT_X_USER_HUB_URL),
        username,
        api_key,
        jwt_token: r.opt(JWT_TOKEN).map(SecretString::from),
        request_timeout: r.secs(PROJECT_X_REQUEST_TIMEOUT_SECS, 1),
        refresh_margin: r.secs(TOKEN_REFRESH_MARGIN_SECS, 1),
        check_interval: r.secs(TOKEN_CHECK_INTERVAL_SECS, 1),
        general_limit: projectx::RateLimit {
            requests: r.number(RATE_LIMIT_REQUESTS, 1),
            window: r.secs(RATE_LIMIT_WINDOW_SECS, 1),
        },
        history_limit: projectx::RateLimit {
            requests: r.number(HISTORY_RATE_LIMIT_REQUESTS, 1),
            window: r.secs(HISTORY_RATE_LIMIT_WINDOW_SECS, 1),
        },
        logout_pause: r.secs(USER_HUB_LOGOUT_PAUSE_SECS, 1),
        keep_warm: r.secs(GATEWAY_KEEPWARM_SECS, 0),
    };
    let feed = FeedSettings {
        quote_symbols: r.symbols(QUOTE_SYMBOLS),
        stale_after: r.secs(MARKET_STALE_SECS, 1),
        max_subscriptions: r.number(MAX_QUOTE_SUBSCRIPTIONS, 1) as usize,
        quote_max_age: r.secs(QUOTE_MAX_AGE_SECS, 1),
        bars_ttl: r.secs(BARS_CACHE_SECS, 1),
    };
    let webhook = WebhookSettings {
        secret: r.opt(WEBHOOK_SECRET).map(SecretString::from),
        ip_allowlist: r.flag(TRADINGVIEW_IP_ALLOWLIST),
        wait: Duration::from_millis(r.wait_ms().into()),
        dry_run: r.flag(DRY_RUN),
        max_contracts: r.number(MAX_CONTRACTS, 1),
        cancel_on_flat: r.try_parse(CANCEL_ON_FLAT, "brackets, all or none").unwrap_or_default(),
        allowed_symbols: r.symbols(ALLOWED_SYMBOLS),
        kill_switch: r.flag(KILL_SWITCH),
        account: r.opt(PROJECT_X_ACCOUNT),
        database: r.journal_path(mode),
        dedup_window: r.secs(DEDUP_WINDOW_SECS, 1),
        duplicate_window: r.secs(DUPLICATE_WINDOW_SECS, 1),
        queue_capacity: r.number(WEBHOOK_QUEUE_CAPACITY, 1) as usize,
        max_alert_age: r.secs(MAX_ALERT_AGE_SECS, 1),
    };
    let accounts = AccountSettings { groups: r.account_groups(), limits: r.account_limits() };
    let market = crate::market_time::MarketClock::new(
        r.try_parse(MARKET_TIMEZONE, "an IANA time zone name such as America/Chicago or America/New_York")
            .unwrap_or(crate::market_time::DEFAULT_TIMEZONE),
        r.time_of_day(SESSION_OPEN).unwrap_or(crate::market_time::DEFAULT_SESSION_OPEN),
    );
    let hours = r.hours(mode, market.session_open);
    let risk = crate::risk::RiskSettings {
        loss_limit: r.money(DAILY_LOSS_LIMIT),
        action: r.try_parse(DAILY_LOSS_ACTION, "flatten or block").unwrap_or_default(),
        profit_target: r.money(DAILY_PROFIT_TARGET),
    };
    let notify = r.notify();
    let http = HttpSettings {
        host: r.try_parse(HOST, "an IP address such as 0.0.0.0 or 127.0.0.1").unwrap_or(IpAddr::from([0, 0, 0, 0])),
        port: r.parse(PORT, "a port number 0-65535"),
        shutdown_grace: r.secs(SHUTDOWN_GRACE_SECS, 1),
        dashboard_password: r.opt(DASHBOARD_PASSWORD).map(SecretString::from),
    };
    let format = match r.opt(LOG_FORMAT).as_deref() {
        Some("json") => LogFormat::Json,
        Some("pretty") => LogFormat::Pretty,
        None if on_railway => LogFormat::Json,
        None => LogFormat::Pretty,
        Some(other) => {
            r.problems.push(format!("{}: `{other}` is not accepted; use `json` or `pretty`", LOG_FORMAT.name()));
            LogFormat::Pretty
        }
    };
    // sqlx logs PostgreSQL's NOTICEs (e.g. "relation _sqlx_migrations already exists, skipping") at info.
    let filter = r.opt(RUST_LOG).unwrap_or_else(|| "info,sqlx::postgres::notice=warn".into());
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&filter) {
        r.problems.push(format!("{}: `{filter}` is not a valid filter: {e}", RUST_LOG.name()));
    }
    Settings {
        mode,
        gateway,
        feed,
        webhook,
        accounts,
        market,
        hours,
        risk,
        notify,
        http,
        log: LogSettings { format, filter },
    }
}

impl Reader<'_> {
    /// `WEBHOOK_WAIT_MS`: at least 1 ms and below [`TRADINGVIEW_TIMEOUT_MS`].
    fn wait_ms(&mut self) -> u32 {
        let accepted = format!(
            "a whole number of milliseconds from 1 to {}: TradingView gives up on a webhook after {} s, so a longer \
             wait would answer nobody",
            TRADINGVIEW_TIMEOUT_MS - 1,
            TRADINGVIEW_TIMEOUT_MS / 1000
        );
        self.number_where(Var::WEBHOOK_WAIT_MS, 1, |ms| (1..TRADINGVIEW_TIMEOUT_MS).contains(&ms), &accepted)
    }

    /// An optional amount of money above zero (`DAILY_LOSS_LIMIT`: `500`, `1000.50`); unset is `None`.
    fn money(&mut self, var: Var) -> Option<rust_decimal::Decimal> {
        let text = self.opt(var)?;
        match text.parse::<rust_decimal::Decimal>() {
            Ok(amount) if amount > rust_decimal::Decimal::ZERO => Some(amount),
            _ => {
                self.problems.push(format!(
                    "{}: `{text}` is not accepted; expected an amount above 0 in the account's currency, such as 1000",
                    var.name()
                ));
                None
            }
        }
    }

    /// `PXRELAY_MODE`: `live` or `sim` (any case); `None` after recording a problem.
    fn mode(&mut self) -> Option<Mode> {
        let text = self.opt(Var::PXRELAY_MODE)?;
        let mode = text.parse().ok();
        if mode.is_none() {
            self.problems.push(format!("{}: `{text}` is not accepted; use `live` or `sim`", Var::PXRELAY_MODE.name()));
        }
        mode
    }

    /// `MARKET_HOURS` (unset: `cme` live, `always` sim), `TRADING_WINDOWS` and `FLAT_BY`, which must come before
    /// `session_open` (the block it starts ends at `SESSION_OPEN`).
    fn hours(&mut self, mode: Mode, session_open: chrono::NaiveTime) -> crate::hours::HoursRules {
        use crate::hours::{TradingWindows, Venue};
        let venue = match self.opt(Var::MARKET_HOURS) {
            None if mode == Mode::Sim => Venue::Always,
            None => Venue::Cme,
            Some(text) => text.parse().unwrap_or_else(|()| {
                self.problems
                    .push(format!("{}: `{text}` is not accepted; use `cme` or `always`", Var::MARKET_HOURS.name()));
                Venue::Cme
            }),
        };
        let windows = TradingWindows::parse(&self.opt(Var::TRADING_WINDOWS).unwrap_or_default()).unwrap_or_else(|e| {
            self.problems.push(format!("{}: {e}", Var::TRADING_WINDOWS.name()));
            TradingWindows::default()
        });
        let flat_by = self.time_of_day(Var::FLAT_BY);
        if let Some(t) = flat_by.filter(|t| *t >= session_open) {
            self.problems.push(format!(
                "{}: `{}` is not before {} (`{}`): entries are refused from FLAT_BY until the next SESSION_OPEN, so \
                 FLAT_BY must come first in the day (e.g. 15:08 with SESSION_OPEN 17:00)",
                Var::FLAT_BY.name(),
                t.format("%H:%M"),
                Var::SESSION_OPEN.name(),
                session_open.format("%H:%M"),
            ));
        }
        crate::hours::HoursRules { venue, windows, flat_by }
    }

    /// `DATABASE_URL` → the journal; unset, the mode's own default file ([`default_journal`]).
    fn journal_path(&mut self, mode: Mode) -> Database {
        let text = self.opt(Var::DATABASE_URL).unwrap_or_else(|| crate::mode::default_journal(mode).into());
        database::database(&text).unwrap_or_else(|problem| {
            self.problems.push(format!("{}: {problem}", Var::DATABASE_URL.name()));
            Database::Sqlite(std::path::PathBuf::new())
        })
    }
}
