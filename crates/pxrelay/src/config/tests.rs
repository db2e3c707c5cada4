//! Settings tests: defaults, overrides, problem reports, the table against docs/configuration.md.

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
    assert_eq!(s.webhook.database.sqlite_path(), Some(std::path::Path::new("./data/pxrelay.db")));
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
fn gateway_keepwarm_defaults_to_30_s_reaches_the_client_and_0_turns_it_off() {
    let s = Settings::load(None, &env(&[])).unwrap();
    assert_eq!(s.gateway.keep_warm, projectx::DEFAULT_KEEP_WARM);
    assert_eq!(crate::startup::client_config(&s.gateway).keep_warm, Duration::from_secs(30));
    let s = Settings::load(None, &env(&[("GATEWAY_KEEPWARM_SECS", "0")])).unwrap();
    assert_eq!(crate::startup::client_config(&s.gateway).keep_warm, Duration::ZERO);
    let err = Settings::load(None, &env(&[("GATEWAY_KEEPWARM_SECS", "half a minute")])).unwrap_err();
    assert!(err.problems.iter().any(|p| p.starts_with("GATEWAY_KEEPWARM_SECS:")), "{err}");
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
    for name in ["PORT", "PROJECT_X_API_URL", "TOKEN_REFRESH_MARGIN_SECS", "LOG_FORMAT", "PROJECT_X_API_KEY", "DRY_RUN"]
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

const DOC: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md"));

/// The rows of the variables table in docs/configuration.md: (variable, config key, default cell).
fn documented() -> Vec<(String, String, String)> {
    let unquote = |cell: &str| cell.trim().trim_matches('`').to_owned();
    DOC.lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').collect();
            assert!(cells.len() >= 5, "a table row with four cells: {l}");
            (unquote(cells[1]), unquote(cells[2]), cells[3].trim().to_owned())
        })
        .collect()
}

#[test]
fn the_documented_variables_are_exactly_the_table_in_its_order_with_the_same_keys() {
    let rows = documented();
    let documented: Vec<&str> = rows.iter().map(|(name, _, _)| name.as_str()).collect();
    let table: Vec<&str> = Var::ALL.iter().map(|v| v.name()).collect();
    let undocumented: Vec<&&str> = table.iter().filter(|n| !documented.contains(n)).collect();
    let unknown: Vec<&&str> = documented.iter().filter(|n| !table.contains(n)).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "read but not in docs/configuration.md: {undocumented:?}; documented but not read: {unknown:?}"
    );
    assert_eq!(documented, table, "docs/configuration.md lists the variables in another order than config/vars.rs");
    for ((name, key, _), var) in rows.iter().zip(Var::ALL) {
        assert_eq!(key, var.key(), "{name}: the documented config key differs");
    }
    assert!(DOC.contains(&format!("`{RAILWAY_ENVIRONMENT}`")), "the one variable read outside the table is documented");
}

#[test]
fn every_variable_in_the_table_is_read() {
    let merged = merge(None, &env(&[])).unwrap();
    let mut reader = Reader::new(&merged);
    read_settings(&mut reader, false, None);
    let unread: Vec<&str> = Var::ALL.iter().filter(|v| !reader.read.contains(v)).map(|v| v.name()).collect();
    assert!(unread.is_empty(), "in the table (and so documented) but never read: {unread:?}");
}

#[test]
fn documented_defaults_are_the_defaults_in_default_toml() {
    let merged = merge(None, &env(&[])).unwrap();
    for (name, key, default) in documented() {
        let actual = merged.get_string(&key).unwrap_or_default();
        if let Some(value) = default.strip_prefix('`').and_then(|d| d.strip_suffix('`')).filter(|d| !d.contains('`')) {
            assert_eq!(actual, value, "{name}: docs/configuration.md and config/default.toml disagree");
        } else if default.starts_with('—') {
            assert_eq!(actual, "", "{name}: documented without a default but config/default.toml sets one");
        }
    }
}

#[test]
fn webhook_wait_of_three_seconds_or_more_is_refused_because_tradingview_gives_up() {
    for ms in ["3000", "5000"] {
        let err = Settings::load(None, &env(&[("WEBHOOK_WAIT_MS", ms)])).unwrap_err();
        assert_eq!(err.problems.len(), 1, "{err}");
        let problem = &err.problems[0];
        assert!(problem.starts_with(&format!("WEBHOOK_WAIT_MS: `{ms}` is not accepted")), "{problem}");
        assert!(problem.contains("from 1 to 2999") && problem.contains("TradingView gives up"), "{problem}");
    }
    assert!(Settings::load(None, &env(&[("WEBHOOK_WAIT_MS", "0")])).is_err());
    let s = Settings::load(None, &env(&[("WEBHOOK_WAIT_MS", "2999")])).unwrap();
    assert_eq!(s.webhook.wait, Duration::from_millis(2999));
}

#[test]
fn a_postgres_database_url_selects_postgres_and_a_bad_one_is_a_problem_never_showing_the_password() {
    let url = "postgres://postgres:PW-DO-NOT-LEAK@containers.railway.app:5432/railway";
    let s = Settings::load(None, &env(&[("DATABASE_URL", url)])).unwrap();
    assert_eq!(s.webhook.database.describe(), "postgres://containers.railway.app:5432/railway");
    assert!(!format!("{:?}", s.webhook).contains("PW-DO-NOT-LEAK"), "Debug never shows the URL");
    let bad = "postgres://postgres:PW-DO-NOT-LEAK@containers.railway.app:5432";
    let err = Settings::load(None, &env(&[("DATABASE_URL", bad), ("PORT", "x")])).unwrap_err();
    assert_eq!(err.problems.len(), 2, "reported with the others: {err}");
    let text = err.to_string();
    assert!(text.contains("DATABASE_URL: the Postgres URL needs a host and a database name"), "{text}");
    assert!(!text.contains("PW-DO-NOT-LEAK") && !text.contains("railway.app"), "{text}");
}

#[test]
fn sqlite_database_urls_and_plain_paths_are_accepted() {
    for (url, path) in
        [("sqlite:///data/x.db", "/data/x.db"), ("sqlite:x.db", "x.db"), ("/data/pxrelay.db", "/data/pxrelay.db")]
    {
        let s = Settings::load(None, &env(&[("DATABASE_URL", url)])).unwrap();
        assert_eq!(s.webhook.database.sqlite_path(), Some(std::path::Path::new(path)), "{url}");
    }
}

#[test]
fn a_symbol_typo_in_allowed_or_quote_symbols_is_a_configuration_problem() {
    let err = Settings::load(None, &env(&[("ALLOWED_SYMBOLS", "MNQ, MNQ!!"), ("QUOTE_SYMBOLS", "ES,CME_MINI:")]))
        .unwrap_err();
    let text = err.to_string();
    assert_eq!(err.problems.len(), 2, "{text}");
    assert!(text.contains("ALLOWED_SYMBOLS: invalid symbol `MNQ!!`"), "{text}");
    assert!(text.contains("QUOTE_SYMBOLS: invalid symbol"), "{text}");
    let ok = Settings::load(None, &env(&[("ALLOWED_SYMBOLS", "MNQ1!, CME_MINI:ES1!, MNQZ2026, CON.F.US.MNQ.Z26")]));
    assert!(ok.is_ok(), "{:?}", ok.err());
}

#[test]
fn pxrelay_mode_chooses_the_mode_and_the_default_journal_and_the_command_line_wins() {
    let live = Settings::load(None, &env(&[])).unwrap();
    assert_eq!(
        (live.mode, live.webhook.database.sqlite_path().and_then(|p| p.to_str())),
        (Mode::Live, Some("./data/pxrelay.db"))
    );
    for value in ["sim", "SIM", " sim "] {
        let sim = Settings::load(None, &env(&[("PXRELAY_MODE", value)])).unwrap();
        assert_eq!(
            (sim.mode, sim.webhook.database.sqlite_path().and_then(|p| p.to_str())),
            (Mode::Sim, Some("./data/pxrelay-sim.db")),
            "{value}"
        );
    }
    // `--sim` wins over PXRELAY_MODE=live (it can only make trading paper, never live).
    let flag = Settings::load_with_mode(None, &env(&[("PXRELAY_MODE", "live")]), Some(Mode::Sim)).unwrap();
    assert_eq!(
        (flag.mode, flag.webhook.database.sqlite_path().and_then(|p| p.to_str())),
        (Mode::Sim, Some("./data/pxrelay-sim.db"))
    );
    let flag = Settings::load_with_mode(None, &env(&[]), Some(Mode::Sim)).unwrap();
    assert_eq!(flag.mode, Mode::Sim);
    // An explicit DATABASE_URL is used in either mode.
    let set = Settings::load(None, &env(&[("PXRELAY_MODE", "sim"), ("DATABASE_URL", "/data/paper.db")])).unwrap();
    assert_eq!(set.webhook.database.sqlite_path(), Some(std::path::Path::new("/data/paper.db")));
}

#[test]
fn an_invalid_pxrelay_mode_is_a_problem_even_with_the_flag() {
    for flag in [None, Some(Mode::Sim)] {
        let err = Settings::load_with_mode(None, &env(&[("PXRELAY_MODE", "paper")]), flag).unwrap_err();
        assert_eq!(err.problems, vec!["PXRELAY_MODE: `paper` is not accepted; use `live` or `sim`".to_owned()]);
    }
}

#[test]
fn market_time_zone_and_session_open_are_read_and_checked() {
    let settings =
        Settings::load(None, &env(&[("MARKET_TIMEZONE", "America/New_York"), ("SESSION_OPEN", "18:00")])).unwrap();
    assert_eq!(settings.market.tz, chrono_tz::America::New_York);
    assert_eq!(settings.market.session_open, chrono::NaiveTime::from_hms_opt(18, 0, 0).unwrap());
    let err = Settings::load(None, &env(&[("MARKET_TIMEZONE", "Chicago"), ("SESSION_OPEN", "5pm")])).unwrap_err();
    let text = err.to_string();
    assert_eq!(err.problems.len(), 2, "{text}");
    assert!(text.contains("MARKET_TIMEZONE: `Chicago` is not accepted; expected an IANA time zone name"), "{text}");
    assert!(text.contains("SESSION_OPEN: `5pm` is not accepted; expected a 24-hour time HH:MM"), "{text}");
}

#[test]
fn market_hours_default_to_cme_live_and_always_sim_and_are_checked() {
    use crate::hours::Venue;
    assert_eq!(Settings::load(None, &env(&[])).unwrap().hours.venue, Venue::Cme);
    let sim = Settings::load_with_mode(None, &env(&[]), Some(Mode::Sim)).unwrap();
    assert_eq!(sim.hours.venue, Venue::Always, "the simulator's market never closes");
    let set = Settings::load_with_mode(None, &env(&[("MARKET_HOURS", "CME")]), Some(Mode::Sim)).unwrap();
    assert_eq!(set.hours.venue, Venue::Cme, "an explicit value wins in sim mode too");
    let live = Settings::load(None, &env(&[("MARKET_HOURS", "always")])).unwrap();
    assert_eq!(live.hours.venue, Venue::Always);
    let err = Settings::load(None, &env(&[("MARKET_HOURS", "nyse")])).unwrap_err();
    assert_eq!(err.problems, vec!["MARKET_HOURS: `nyse` is not accepted; use `cme` or `always`".to_owned()]);
}

#[test]
fn trading_windows_and_flat_by_are_read() {
    let s =
        Settings::load(None, &env(&[("TRADING_WINDOWS", "13:00-15:00, 08:30-11:30"), ("FLAT_BY", "15:08")])).unwrap();
    assert_eq!(s.hours.windows.to_string(), "08:30-11:30,13:00-15:00");
    assert_eq!(s.hours.flat_by, chrono::NaiveTime::from_hms_opt(15, 8, 0));
    let none = Settings::load(None, &env(&[])).unwrap();
    assert!(none.hours.windows.is_empty() && none.hours.flat_by.is_none());
    let err = Settings::load(None, &env(&[("TRADING_WINDOWS", "08:30-11:30,noon"), ("FLAT_BY", "3pm")])).unwrap_err();
    let text = err.to_string();
    assert_eq!(err.problems.len(), 2, "{text}");
    assert!(text.contains("TRADING_WINDOWS: `noon` is not a window; expected HH:MM-HH:MM"), "{text}");
    assert!(text.contains("FLAT_BY: `3pm` is not accepted; expected a 24-hour time HH:MM"), "{text}");
}

#[test]
fn a_flat_by_not_before_the_session_open_is_a_problem_naming_both() {
    for (flat_by, session_open) in [("17:00", "17:00"), ("18:30", "17:00"), ("15:08", "15:00")] {
        let err = Settings::load(None, &env(&[("FLAT_BY", flat_by), ("SESSION_OPEN", session_open)])).unwrap_err();
        assert_eq!(err.problems.len(), 1, "{err}");
        let problem = &err.problems[0];
        assert!(
            problem.starts_with(&format!("FLAT_BY: `{flat_by}` is not before SESSION_OPEN (`{session_open}`)")),
            "{problem}"
        );
    }
    assert!(Settings::load(None, &env(&[("FLAT_BY", "16:59")])).is_ok());
}

#[test]
fn daily_limits_are_positive_amounts_and_the_action_is_flatten_or_block() {
    let s = Settings::load(None, &env(&[])).unwrap();
    assert_eq!(s.risk, crate::risk::RiskSettings::default(), "unset: no limit, flatten");
    let s = Settings::load(
        None,
        &env(&[("DAILY_LOSS_LIMIT", "1000.50"), ("DAILY_LOSS_ACTION", "block"), ("DAILY_PROFIT_TARGET", "1500")]),
    )
    .unwrap();
    assert_eq!(s.risk.loss_limit, Some("1000.50".parse().unwrap()));
    assert_eq!(s.risk.action, crate::risk::BreachAction::Block);
    assert_eq!(s.risk.profit_target, Some(rust_decimal::Decimal::from(1500)));
    let err = Settings::load(
        None,
        &env(&[("DAILY_LOSS_LIMIT", "-500"), ("DAILY_LOSS_ACTION", "close"), ("DAILY_PROFIT_TARGET", "lots")]),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("DAILY_LOSS_LIMIT: `-500` is not accepted; expected an amount above 0"), "{text}");
    assert!(text.contains("DAILY_LOSS_ACTION: `close` is not accepted; expected flatten or block"), "{text}");
    assert!(text.contains("DAILY_PROFIT_TARGET: `lots` is not accepted"), "{text}");
}

#[test]
fn account_groups_and_limits_are_read_from_the_environment() {
    let s = Settings::load(
        None,
        &env(&[
            ("ACCOUNT_GROUPS", "evals=50KTC-1234*1,50KTC-5678*2;funded=PA-9012*0.5"),
            ("ACCOUNT_LIMITS", "50KTC-1234:max_contracts=2,daily_loss_limit=1000;PA-9012:daily_loss_action=flatten"),
        ]),
    )
    .unwrap();
    let evals = s.accounts.groups.get("evals").unwrap();
    assert_eq!(evals.members.iter().map(|m| m.multiplier.to_string()).collect::<Vec<_>>(), ["1", "2"]);
    assert_eq!(s.accounts.groups.get("funded").unwrap().members[0].multiplier.to_string(), "0.5");
    assert_eq!(s.accounts.limits.for_account("50KTC-1234").max_contracts, Some(2));
    assert_eq!(s.accounts.limits.for_account("PA-9012").daily_loss_action, Some(DailyLossAction::Flatten));
    let none = Settings::load(None, &env(&[])).unwrap();
    assert!(none.accounts.groups.is_empty() && none.accounts.limits.is_empty());
}

#[test]
fn bad_account_groups_and_limits_are_problems_naming_the_variable() {
    let err =
        Settings::load(None, &env(&[("ACCOUNT_GROUPS", "evals=A*0"), ("ACCOUNT_LIMITS", "A:max=1")])).unwrap_err();
    let text = err.to_string();
    assert_eq!(err.problems.len(), 2, "{text}");
    assert!(err.problems[0].starts_with("ACCOUNT_GROUPS: group `evals`: multiplier `*0`"), "{text}");
    assert!(err.problems[1].starts_with("ACCOUNT_LIMITS: `A`: `max` is not a per-account setting"), "{text}");
}

#[test]
fn account_groups_and_limits_can_be_toml_tables_and_the_variable_replaces_the_table() {
    let dir = std::env::temp_dir().join(format!("pxrelay-config-accounts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("accounts.toml");
    std::fs::write(
        &path,
        "[accounts.groups]\nevals = [\"50KTC-1234*1\", \"50KTC-5678*2\"]\nfunded = \"PA-9012*0.5, PA-3456\"\n\n\
         [accounts.limits.\"50KTC-1234\"]\nmax_contracts = 2\ndaily_loss_limit = 1000.5\n\
         [accounts.limits.PA-9012]\ndaily_loss_action = \"block\"\n",
    )
    .unwrap();
    let s = Settings::load(Some(&path), &env(&[])).unwrap();
    let names =
        |g: &str| s.accounts.groups.get(g).unwrap().members.iter().map(|m| m.account.clone()).collect::<Vec<_>>();
    assert_eq!(names("evals"), ["50KTC-1234", "50KTC-5678"]);
    assert_eq!(names("funded"), ["PA-9012", "PA-3456"]);
    assert_eq!(s.accounts.groups.get("evals").unwrap().members[1].multiplier.to_string(), "2");
    let limits = s.accounts.limits.for_account("50KTC-1234");
    assert_eq!(
        (limits.max_contracts, limits.daily_loss_limit.map(|d| d.to_string())),
        (Some(2), Some("1000.5".into()))
    );
    assert_eq!(s.accounts.limits.for_account("PA-9012").daily_loss_action, Some(DailyLossAction::Block));
    let env_wins = Settings::load(Some(&path), &env(&[("ACCOUNT_GROUPS", "solo=PA-3456")])).unwrap();
    assert!(env_wins.accounts.groups.get("evals").is_none(), "the variable replaces the file's table");
    assert!(env_wins.accounts.groups.get("solo").is_some());
    std::fs::write(&path, "[accounts.limits.A]\nmax_contracts = 0\n").unwrap();
    let err = Settings::load(Some(&path), &env(&[])).unwrap_err();
    assert!(err.problems[0].starts_with("ACCOUNT_LIMITS: `A`: max_contracts=`0` is not accepted"), "{err}");
}
