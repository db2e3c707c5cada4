//! Settings: `config/default.toml` (compiled in) → an optional `--config FILE` → environment variables with the
//! plain names users know from Python bots and Railway dashboards (`PROJECT_X_USERNAME`, `PORT`, …), mapped
//! explicitly onto nested keys. [`Settings::load`] turns every string into its type and reports **all** problems
//! at once, each naming its variable, before anything binds a port. Secrets are `SecretString`: the derived
//! `Debug` of these structs shows `[REDACTED]` for them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

const DEFAULTS: &str = include_str!("../../../config/default.toml");

/// Environment variable → config key. The one table of names; docs/configuration.md documents each.
pub const ENV_KEYS: &[(&str, &str)] = &[
    ("PROJECT_X_USERNAME", "gateway.username"),
    ("PROJECT_X_API_KEY", "gateway.api_key"),
    ("JWT_TOKEN", "gateway.jwt_token"),
    ("PROJECT_X_API_URL", "gateway.api_url"),
    ("PROJECT_X_MARKET_HUB_URL", "gateway.market_hub_url"),
    ("PROJECT_X_USER_HUB_URL", "gateway.user_hub_url"),
    ("PROJECT_X_REQUEST_TIMEOUT_SECS", "gateway.request_timeout_secs"),
    ("TOKEN_REFRESH_MARGIN_SECS", "gateway.token_refresh_margin_secs"),
    ("TOKEN_CHECK_INTERVAL_SECS", "gateway.token_check_interval_secs"),
    ("RATE_LIMIT_REQUESTS", "gateway.rate_limit_requests"),
    ("RATE_LIMIT_WINDOW_SECS", "gateway.rate_limit_window_secs"),
    ("HISTORY_RATE_LIMIT_REQUESTS", "gateway.history_rate_limit_requests"),
    ("HISTORY_RATE_LIMIT_WINDOW_SECS", "gateway.history_rate_limit_window_secs"),
    ("QUOTE_SYMBOLS", "feed.quote_symbols"),
    ("MARKET_STALE_SECS", "feed.stale_secs"),
    ("MAX_QUOTE_SUBSCRIPTIONS", "feed.max_subscriptions"),
    ("QUOTE_MAX_AGE_SECS", "feed.quote_max_age_secs"),
    ("BARS_CACHE_SECS", "feed.bars_cache_secs"),
    ("WEBHOOK_SECRET", "webhook.secret"),
    ("TRADINGVIEW_IP_ALLOWLIST", "webhook.ip_allowlist"),
    ("WEBHOOK_WAIT_MS", "webhook.wait_ms"),
    ("DRY_RUN", "webhook.dry_run"),
    ("MAX_CONTRACTS", "webhook.max_contracts"),
    ("ALLOWED_SYMBOLS", "webhook.allowed_symbols"),
    ("KILL_SWITCH", "webhook.kill_switch"),
    ("PROJECT_X_ACCOUNT", "webhook.account"),
    ("DATABASE_URL", "webhook.database_url"),
    ("DEDUP_WINDOW_SECS", "webhook.dedup_window_secs"),
    ("WEBHOOK_QUEUE_CAPACITY", "webhook.queue_capacity"),
    ("MAX_ALERT_AGE_SECS", "webhook.max_alert_age_secs"),
    ("HOST", "http.host"),
    ("PORT", "http.port"),
    ("SHUTDOWN_GRACE_SECS", "http.shutdown_grace_secs"),
    ("LOG_FORMAT", "log.format"),
    ("RUST_LOG", "log.filter"),
];

/// Validated settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Gateway connection and token lifecycle.
    pub gateway: GatewaySettings,
    /// Market data: subscriptions, staleness, bars fallback.
    pub feed: FeedSettings,
    /// Webhooks, journal and execution guards.
    pub webhook: WebhookSettings,
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
    /// How long the HTTP answer waits for the gateway's acknowledgement.
    pub wait: Duration,
    /// Run everything but send nothing.
    pub dry_run: bool,
    /// Most contracts per order and per resulting position.
    pub max_contracts: u32,
    /// Only these symbols may trade (empty = all).
    pub allowed_symbols: Vec<String>,
    /// Refuse new entries (exits still allowed).
    pub kill_switch: bool,
    /// `PROJECT_X_ACCOUNT`: account name or id.
    pub account: Option<String>,
    /// The journal file.
    pub database: std::path::PathBuf,
    /// A repeated alert id within this window is a duplicate.
    pub dedup_window: Duration,
    /// Executor queue capacity (full → 503).
    pub queue_capacity: usize,
    /// An alert older than this when its turn comes is not sent.
    pub max_alert_age: Duration,
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

#[derive(serde::Deserialize)]
struct Raw {
    gateway: HashMap<String, String>,
    feed: HashMap<String, String>,
    webhook: HashMap<String, String>,
    http: HashMap<String, String>,
    log: HashMap<String, String>,
}

impl Settings {
    /// Loads the settings from the compiled-in defaults, `file` (if any) and `env` (the process environment plus
    /// `.env` in `main`; a plain map in tests, so nothing mutates the process environment).
    pub fn load(file: Option<&Path>, env: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let one = |p: String| ConfigError { problems: vec![p] };
        let mut builder =
            config::Config::builder().add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(one(format!("--config {}: no such file", path.display())));
            }
            builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
        }
        for (var, key) in ENV_KEYS {
            let value = env.get(*var).map(|v| v.trim()).filter(|v| !v.is_empty());
            builder =
                builder.set_override_option(*key, value.map(str::to_owned)).map_err(|e| one(format!("{var}: {e}")))?;
        }
        let raw: Raw = builder
            .build()
            .and_then(config::Config::try_deserialize)
            .map_err(|e| one(format!("configuration: {e}")))?;
        Validator::default().settings(raw, env.get("RAILWAY_ENVIRONMENT").is_some())
    }
}

/// Collects problems while converting strings to types.
#[derive(Default)]
struct Validator {
    problems: Vec<String>,
}

impl Validator {
    fn settings(mut self, raw: Raw, on_railway: bool) -> Result<Settings, ConfigError> {
        let g = &raw.gateway;
        let username = self.opt(g, "gateway.username");
        let api_key = self.opt(g, "gateway.api_key").map(SecretString::from);
        match (&username, &api_key) {
            (Some(_), None) => {
                self.problems.push("PROJECT_X_API_KEY is not set but PROJECT_X_USERNAME is: set both".into())
            }
            (None, Some(_)) => {
                self.problems.push("PROJECT_X_USERNAME is not set but PROJECT_X_API_KEY is: set both".into())
            }
            _ => {}
        }
        let gateway = GatewaySettings {
            api_url: self.url(g, "gateway.api_url"),
            market_hub_url: self.url(g, "gateway.market_hub_url"),
            user_hub_url: self.url(g, "gateway.user_hub_url"),
            username,
            api_key,
            jwt_token: self.opt(g, "gateway.jwt_token").map(SecretString::from),
            request_timeout: self.secs(g, "gateway.request_timeout_secs", 1),
            refresh_margin: self.secs(g, "gateway.token_refresh_margin_secs", 1),
            check_interval: self.secs(g, "gateway.token_check_interval_secs", 1),
            general_limit: projectx::RateLimit {
                requests: self.number(g, "gateway.rate_limit_requests", 1),
                window: self.secs(g, "gateway.rate_limit_window_secs", 1),
            },
            history_limit: projectx::RateLimit {
                requests: self.number(g, "gateway.history_rate_limit_requests", 1),
                window: self.secs(g, "gateway.history_rate_limit_window_secs", 1),
            },
        };
        let f = &raw.feed;
        let feed = FeedSettings {
            quote_symbols: list(self.opt(f, "feed.quote_symbols")),
            stale_after: self.secs(f, "feed.stale_secs", 1),
            max_subscriptions: self.number(f, "feed.max_subscriptions", 1) as usize,
            quote_max_age: self.secs(f, "feed.quote_max_age_secs", 1),
            bars_ttl: self.secs(f, "feed.bars_cache_secs", 1),
        };
        let w = &raw.webhook;
        let webhook = WebhookSettings {
            secret: self.opt(w, "webhook.secret").map(SecretString::from),
            ip_allowlist: self.flag(w, "webhook.ip_allowlist"),
            wait: Duration::from_millis(self.number(w, "webhook.wait_ms", 1).into()),
            dry_run: self.flag(w, "webhook.dry_run"),
            max_contracts: self.number(w, "webhook.max_contracts", 1),
            allowed_symbols: list(self.opt(w, "webhook.allowed_symbols")),
            kill_switch: self.flag(w, "webhook.kill_switch"),
            account: self.opt(w, "webhook.account"),
            database: crate::journal::database_path(
                &self.opt(w, "webhook.database_url").unwrap_or_else(|| "./data/pxrelay.db".into()),
            ),
            dedup_window: self.secs(w, "webhook.dedup_window_secs", 1),
            queue_capacity: self.number(w, "webhook.queue_capacity", 1) as usize,
            max_alert_age: self.secs(w, "webhook.max_alert_age_secs", 1),
        };
        let http = HttpSettings {
            host: self
                .try_parse(&raw.http, "http.host", "an IP address such as 0.0.0.0 or 127.0.0.1")
                .unwrap_or(IpAddr::from([0, 0, 0, 0])),
            port: self.parse(&raw.http, "http.port", "a port number 0-65535"),
            shutdown_grace: self.secs(&raw.http, "http.shutdown_grace_secs", 1),
        };
        let format = match self.opt(&raw.log, "log.format").as_deref() {
            Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            None if on_railway => LogFormat::Json,
            None => LogFormat::Pretty,
            Some(other) => {
                self.problems.push(format!("LOG_FORMAT: `{other}` is not accepted; use `json` or `pretty`"));
                LogFormat::Pretty
            }
        };
        let filter = self.opt(&raw.log, "log.filter").unwrap_or_else(|| "info".into());
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&filter) {
            self.problems.push(format!("RUST_LOG: `{filter}` is not a valid filter: {e}"));
        }
        if self.problems.is_empty() {
            Ok(Settings { gateway, feed, webhook, http, log: LogSettings { format, filter } })
        } else {
            Err(ConfigError { problems: self.problems })
        }
    }

    fn opt(&self, map: &HashMap<String, String>, key: &str) -> Option<String> {
        let field = key.rsplit('.').next().unwrap_or(key);
        map.get(field).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    fn parse<T: std::str::FromStr + Default>(&mut self, map: &HashMap<String, String>, key: &str, accepted: &str) -> T {
        self.try_parse(map, key, accepted).unwrap_or_default()
    }

    fn try_parse<T: std::str::FromStr>(
        &mut self,
        map: &HashMap<String, String>,
        key: &str,
        accepted: &str,
    ) -> Option<T> {
        let Some(text) = self.opt(map, key) else {
            self.problems.push(format!("{}: missing; expected {accepted}", name_of(key)));
            return None;
        };
        let parsed = text.parse().ok();
        if parsed.is_none() {
            self.problems.push(format!("{}: `{text}` is not accepted; expected {accepted}", name_of(key)));
        }
        parsed
    }

    fn flag(&mut self, map: &HashMap<String, String>, key: &str) -> bool {
        match self.opt(map, key).map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("false" | "0" | "no" | "off") => false,
            Some("true" | "1" | "yes" | "on") => true,
            Some(other) => {
                self.problems.push(format!("{}: `{other}` is not accepted; use true or false", name_of(key)));
                false
            }
        }
    }

    fn number(&mut self, map: &HashMap<String, String>, key: &str, min: u32) -> u32 {
        let accepted = format!("a whole number >= {min}");
        match self.try_parse::<u32>(map, key, &accepted) {
            Some(n) if n >= min => n,
            Some(n) => {
                self.problems.push(format!("{}: `{n}` is not accepted; expected {accepted}", name_of(key)));
                min
            }
            None => min,
        }
    }

    fn secs(&mut self, map: &HashMap<String, String>, key: &str, min: u32) -> Duration {
        Duration::from_secs(self.number(map, key, min).into())
    }

    fn url(&mut self, map: &HashMap<String, String>, key: &str) -> Url {
        let fallback = || Url::parse("http://invalid.invalid").expect("a constant valid URL");
        let Some(text) = self.opt(map, key) else {
            self.problems.push(format!("{}: missing; expected an http:// or https:// URL", name_of(key)));
            return fallback();
        };
        match Url::parse(&text) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
            _ => {
                self.problems
                    .push(format!("{}: `{text}` is not accepted; expected an http:// or https:// URL", name_of(key)));
                fallback()
            }
        }
    }
}

/// A comma-separated list, blanks dropped.
fn list(text: Option<String>) -> Vec<String> {
    text.map(|t| t.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()).unwrap_or_default()
}

/// The environment variable that sets `key`.
fn name_of(key: &str) -> &'static str {
    ENV_KEYS.iter().find(|(_, k)| *k == key).map_or("configuration", |(v, _)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_load_without_any_variable() {
        let s = Settings::load(None, &env(&[])).unwrap();
        assert_eq!(s.gateway.api_url.as_str(), "https://api.topstepx.com/");
        assert_eq!(s.gateway.market_hub_url.as_str(), "https://rtc.topstepx.com/hubs/market");
        assert_eq!(s.http.port, 8080);
        assert_eq!(s.gateway.refresh_margin, Duration::from_secs(300));
        assert_eq!(s.gateway.general_limit, projectx::RateLimit::GENERAL);
        assert_eq!(s.gateway.history_limit, projectx::RateLimit::HISTORY);
        assert_eq!(s.log.format, LogFormat::Pretty);
        assert!(s.gateway.username.is_none() && s.gateway.jwt_token.is_none());
        assert!(s.feed.quote_symbols.is_empty());
        assert!(s.webhook.secret.is_none() && !s.webhook.dry_run && !s.webhook.kill_switch);
        assert_eq!(s.webhook.wait, Duration::from_millis(2000));
        assert_eq!(s.webhook.database, std::path::PathBuf::from("./data/pxrelay.db"));
        assert_eq!(s.feed.stale_after, Duration::from_secs(120));
    }

    #[test]
    fn plain_variable_names_override_the_defaults() {
        let s = Settings::load(
            None,
            &env(&[
                ("PROJECT_X_USERNAME", "trader"),
                ("PROJECT_X_API_KEY", "key-123"),
                ("PROJECT_X_API_URL", "http://127.0.0.1:9999"),
                ("PORT", "0"),
                ("TOKEN_REFRESH_MARGIN_SECS", "42"),
                ("QUOTE_SYMBOLS", " MNQ, CME_MINI:ES1! ,,"),
                ("RAILWAY_ENVIRONMENT", "production"),
            ]),
        )
        .unwrap();
        assert_eq!(s.gateway.username.as_deref(), Some("trader"));
        assert_eq!(s.gateway.api_key.as_ref().unwrap().expose_secret(), "key-123");
        assert_eq!(s.gateway.api_url.as_str(), "http://127.0.0.1:9999/");
        assert_eq!(s.http.port, 0);
        assert_eq!(s.gateway.refresh_margin, Duration::from_secs(42));
        assert_eq!(s.log.format, LogFormat::Json, "json is the default on Railway");
        assert_eq!(s.feed.quote_symbols, vec!["MNQ".to_owned(), "CME_MINI:ES1!".to_owned()]);
    }

    #[test]
    fn every_problem_is_reported_at_once_by_variable_name() {
        let err = Settings::load(
            None,
            &env(&[
                ("PORT", "eighty"),
                ("PROJECT_X_API_URL", "ftp://example.com"),
                ("TOKEN_REFRESH_MARGIN_SECS", "-5"),
                ("LOG_FORMAT", "xml"),
                ("DRY_RUN", "maybe"),
                ("PROJECT_X_USERNAME", "trader"),
            ]),
        )
        .unwrap_err();
        let text = err.to_string();
        for name in
            ["PORT", "PROJECT_X_API_URL", "TOKEN_REFRESH_MARGIN_SECS", "LOG_FORMAT", "PROJECT_X_API_KEY", "DRY_RUN"]
        {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
        assert_eq!(err.problems.len(), 6, "{text}");
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let s = Settings::load(
            None,
            &env(&[
                ("PROJECT_X_USERNAME", "u"),
                ("PROJECT_X_API_KEY", "KEY-DO-NOT-LEAK"),
                ("JWT_TOKEN", "eyJ.TOKEN-DO-NOT-LEAK"),
            ]),
        )
        .unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("DO-NOT-LEAK"), "{shown}");
    }

    #[test]
    fn a_config_file_overrides_defaults_and_env_overrides_the_file() {
        let dir = std::env::temp_dir().join(format!("pxrelay-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("custom.toml");
        std::fs::write(&path, "[http]\nport = 9000\n[gateway]\ntoken_refresh_margin_secs = 600\n").unwrap();
        let s = Settings::load(Some(&path), &env(&[("PORT", "9100")])).unwrap();
        assert_eq!(s.http.port, 9100);
        assert_eq!(s.gateway.refresh_margin, Duration::from_secs(600));
        let missing = Settings::load(Some(&dir.join("nope.toml")), &env(&[])).unwrap_err();
        assert!(missing.to_string().contains("nope.toml"));
    }
}
