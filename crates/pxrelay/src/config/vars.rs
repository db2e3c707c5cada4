//! The one table of settings. Each row names an environment variable once (as the [`Var`] variant) and its
//! config-file key once (`section.field`); the env mapping, every read in [`super::Settings::load`] and the
//! problem messages all go through [`Var`], so a misspelt setting is a compile error rather than a setting that is
//! silently never read. `docs/configuration.md` documents each row; a test compares its table with this one.

/// Declares [`Var`], [`Var::ALL`], [`Var::name`], [`Var::key`] and [`ENV_KEYS`] from one list of
/// `VARIABLE => section.field` rows.
macro_rules! settings_table {
    ($($var:ident => $section:ident . $field:ident,)*) => {
        /// A setting: the environment variable users set (the variant's name) and the config-file key it
        /// overrides. Reads go through this type, so only settings in the table can be read.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[expect(non_camel_case_types, reason = "each variant is spelled exactly as the variable users set")]
        pub enum Var {
            $(
                #[doc = concat!("`", stringify!($var), "` → `", stringify!($section), ".", stringify!($field),
                                "` (docs/configuration.md).")]
                $var,
            )*
        }

        impl Var {
            /// Every setting, in the order of docs/configuration.md.
            pub const ALL: &'static [Var] = &[$(Var::$var,)*];

            /// The environment variable, e.g. `PROJECT_X_USERNAME`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Var::$var => stringify!($var),)*
                }
            }

            /// The config-file key (`section.field`), e.g. `gateway.username`.
            pub const fn key(self) -> &'static str {
                match self {
                    $(Var::$var => concat!(stringify!($section), ".", stringify!($field)),)*
                }
            }
        }

        /// Environment variable → config key, the same rows as [`Var`] as plain strings (for tests and tools that
        /// check other files against the names pxrelay reads).
        pub const ENV_KEYS: &[(&str, &str)] =
            &[$((stringify!($var), concat!(stringify!($section), ".", stringify!($field))),)*];
    };
}

settings_table! {
    PXRELAY_MODE => gateway.mode,
    PROJECT_X_USERNAME => gateway.username,
    PROJECT_X_API_KEY => gateway.api_key,
    JWT_TOKEN => gateway.jwt_token,
    PROJECT_X_API_URL => gateway.api_url,
    PROJECT_X_MARKET_HUB_URL => gateway.market_hub_url,
    PROJECT_X_USER_HUB_URL => gateway.user_hub_url,
    PROJECT_X_REQUEST_TIMEOUT_SECS => gateway.request_timeout_secs,
    TOKEN_REFRESH_MARGIN_SECS => gateway.token_refresh_margin_secs,
    TOKEN_CHECK_INTERVAL_SECS => gateway.token_check_interval_secs,
    RATE_LIMIT_REQUESTS => gateway.rate_limit_requests,
    RATE_LIMIT_WINDOW_SECS => gateway.rate_limit_window_secs,
    HISTORY_RATE_LIMIT_REQUESTS => gateway.history_rate_limit_requests,
    HISTORY_RATE_LIMIT_WINDOW_SECS => gateway.history_rate_limit_window_secs,
    USER_HUB_LOGOUT_PAUSE_SECS => gateway.user_hub_logout_pause_secs,
    GATEWAY_KEEPWARM_SECS => gateway.keepwarm_secs,
    QUOTE_SYMBOLS => feed.quote_symbols,
    MARKET_STALE_SECS => feed.stale_secs,
    MAX_QUOTE_SUBSCRIPTIONS => feed.max_subscriptions,
    QUOTE_MAX_AGE_SECS => feed.quote_max_age_secs,
    BARS_CACHE_SECS => feed.bars_cache_secs,
    WEBHOOK_SECRET => webhook.secret,
    TRADINGVIEW_IP_ALLOWLIST => webhook.ip_allowlist,
    WEBHOOK_WAIT_MS => webhook.wait_ms,
    MAX_ALERT_AGE_SECS => webhook.max_alert_age_secs,
    DRY_RUN => webhook.dry_run,
    MAX_CONTRACTS => webhook.max_contracts,
    CANCEL_ON_FLAT => webhook.cancel_on_flat,
    ALLOWED_SYMBOLS => webhook.allowed_symbols,
    KILL_SWITCH => webhook.kill_switch,
    PROJECT_X_ACCOUNT => webhook.account,
    ACCOUNT_GROUPS => accounts.groups,
    ACCOUNT_LIMITS => accounts.limits,
    DATABASE_URL => webhook.database_url,
    DEDUP_WINDOW_SECS => webhook.dedup_window_secs,
    DUPLICATE_WINDOW_SECS => webhook.duplicate_window_secs,
    WEBHOOK_QUEUE_CAPACITY => webhook.queue_capacity,
    MARKET_TIMEZONE => market.timezone,
    SESSION_OPEN => market.session_open,
    MARKET_HOURS => market.hours,
    TRADING_WINDOWS => market.trading_windows,
    FLAT_BY => market.flat_by,
    DAILY_LOSS_LIMIT => risk.daily_loss_limit,
    DAILY_LOSS_ACTION => risk.daily_loss_action,
    DAILY_PROFIT_TARGET => risk.daily_profit_target,
    NOTIFY_URLS => notify.urls,
    NOTIFY_EVENTS => notify.events,
    NOTIFY_OUTAGE_SECS => notify.outage_secs,
    HOST => http.host,
    PORT => http.port,
    SHUTDOWN_GRACE_SECS => http.shutdown_grace_secs,
    DASHBOARD_PASSWORD => http.dashboard_password,
    LOG_FORMAT => log.format,
    RUST_LOG => log.filter,
}

/// Read only to choose the default log format (Railway sets it); not a setting, so not in the table.
pub const RAILWAY_ENVIRONMENT: &str = "RAILWAY_ENVIRONMENT";
