//! The doctor's checks, in order: session, accounts, symbols, market hub, user hub, clock skew, rate budget. Each
//! returns a [`Check`]; the gateway checks are skipped (not failed twice) when there is no session. Every REST
//! request goes through one client whose observer counts them, for the rate-budget line.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use projectx::contracts::{ContractResolver, DEFAULT_TTL, SymbolRef, parse_symbol};
use projectx::{AccountId, RequestObserver, UserConfig, UserEvent, UserHub};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Check, Options, Verdict, expiry};
use crate::accounts::Accounts;
use crate::config::Settings;

/// A contract expiring within this many days is a warning: roll `ALLOWED_SYMBOLS`/`QUOTE_SYMBOLS` (or rely on the
/// root form, which follows the active contract).
const EXPIRY_WARN_DAYS: i64 = 8;
/// How long the market hub may take to connect and deliver a first quote.
const QUOTE_WAIT: Duration = Duration::from_secs(5);
/// How long the user hub may take to connect and confirm its subscriptions.
const USER_WAIT: Duration = Duration::from_secs(10);
/// Clock skew above this is a warning.
const SKEW_WARN: Duration = Duration::from_secs(2);
/// Clock skew above this fails: alerts older than `MAX_ALERT_AGE_SECS` (30 s by default) are refused, so a clock
/// this far off refuses or accepts alerts wrongly.
const SKEW_FAIL: Duration = Duration::from_secs(30);

/// Runs every check.
pub(super) async fn run(settings: &Settings, options: Options) -> Vec<Check> {
    let requests = Arc::new(AtomicU64::new(0));
    let mut cfg = crate::startup::client_config(&settings.gateway);
    let counter = requests.clone();
    cfg.observer = Some(RequestObserver(Arc::new(move |_, _, _| {
        counter.fetch_add(1, Ordering::Relaxed);
    })));
    let mut checks = Vec::new();
    match projectx::Client::new(cfg) {
        Ok(gateway) => {
            let session = session(&gateway).await;
            let has_session = session.result != Verdict::Fail;
            checks.push(session);
            if has_session {
                let (check, account) = accounts(&gateway, settings, options).await;
                checks.push(check);
                let first = symbols(&gateway, settings, &mut checks).await;
                checks.push(market(&gateway, settings, first.as_deref()).await);
                checks.push(user(&gateway, settings, account).await);
            }
        }
        Err(e) => checks.push(Check::new(
            "session",
            Verdict::Fail,
            format!("could not build the gateway client: {e}"),
            "check PROJECT_X_API_URL",
        )),
    }
    checks.push(clock(&settings.gateway.api_url, settings.gateway.request_timeout).await);
    checks.push(budget(requests.load(Ordering::Relaxed), settings.gateway.general_limit));
    checks
}

/// Check 1: A valid session: `JWT_TOKEN` validated, or an API-key login.
async fn session(gateway: &projectx::Client) -> Check {
    match gateway.tokens().ensure_valid_token().await {
        Ok(token) => Check::pass("session", format!("token valid for {} s", token.time_left().as_secs())),
        Err(e) => Check::new(
            "session",
            Verdict::Fail,
            format!("no gateway session: {e}"),
            "fix PROJECT_X_USERNAME + PROJECT_X_API_KEY (or a fresh JWT_TOKEN from `pxrelay token`)",
        ),
    }
}

/// Check 2: The accounts, whether each can trade, and which one alerts without `account` use.
async fn accounts(gateway: &projectx::Client, settings: &Settings, options: Options) -> (Check, Option<AccountId>) {
    const NAME: &str = "accounts";
    let list = match gateway.accounts(true).await {
        Ok(list) => list,
        Err(e) => {
            return (Check::new(NAME, Verdict::Fail, format!("could not list accounts: {e}"), "try again"), None);
        }
    };
    let listed = list
        .iter()
        .map(|a| {
            let trade = if a.can_trade { "can trade" } else { "cannot trade" };
            match options.include_balances {
                true => format!("{} ({}, {trade}, balance {})", a.name, a.id, a.balance),
                false => format!("{} ({}, {trade})", a.name, a.id),
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let listed = if listed.is_empty() { "none listed".to_owned() } else { listed };
    let picked = Accounts::new(gateway.clone(), settings.webhook.account.clone()).pick(None).await;
    let check = match &picked {
        Ok(id) => {
            let name = list.iter().find(|a| a.id == *id).map_or(String::new(), |a| format!("{} ", a.name));
            Check::pass(NAME, format!("{listed}; alerts without `account` use {name}({id})"))
        }
        Err(why) if list.iter().any(|a| a.can_trade) && settings.webhook.account.is_none() => Check::new(
            NAME,
            Verdict::Warn,
            format!("{listed}; {why}"),
            "set PROJECT_X_ACCOUNT, or send `account` in every alert",
        ),
        Err(why) => Check::new(
            NAME,
            Verdict::Fail,
            format!("{listed}; {why}"),
            "set PROJECT_X_ACCOUNT to a tradable account's name or id (or unblock the account with the broker)",
        ),
    };
    (check, picked.ok())
}

/// Check 3: Every `QUOTE_SYMBOLS` and `ALLOWED_SYMBOLS` entry resolved; one check per symbol. Returns the first symbol
/// that resolved (for the market-hub check).
async fn symbols(gateway: &projectx::Client, settings: &Settings, checks: &mut Vec<Check>) -> Option<String> {
    let mut seen = BTreeSet::new();
    let symbols: Vec<&String> = settings
        .feed
        .quote_symbols
        .iter()
        .chain(&settings.webhook.allowed_symbols)
        .filter(|s| seen.insert(s.trim().to_ascii_uppercase()))
        .collect();
    if symbols.is_empty() {
        checks.push(Check::new(
            "symbols",
            Verdict::Warn,
            "QUOTE_SYMBOLS and ALLOWED_SYMBOLS are empty: every symbol is accepted and nothing is streamed",
            "set ALLOWED_SYMBOLS to the symbols your alerts trade",
        ));
        return None;
    }
    let resolver = ContractResolver::new(gateway.clone(), DEFAULT_TTL);
    let today = chrono::Utc::now().date_naive();
    let mut first = None;
    for symbol in symbols {
        let name = format!("symbol {symbol}");
        let contract = match resolver.resolve(symbol).await {
            Ok(c) => c,
            Err(e) => {
                checks.push(Check::new(
                    name,
                    Verdict::Fail,
                    format!("`{symbol}` did not resolve: {e}"),
                    "fix or remove it in QUOTE_SYMBOLS/ALLOWED_SYMBOLS (pxrelay refuses to start with it)",
                ));
                continue;
            }
        };
        first.get_or_insert_with(|| symbol.clone());
        let id = contract.id.to_string();
        let found =
            format!("{id} \"{}\", tick {} = ${}", contract.description, contract.tick_size, contract.tick_value);
        let explicit = matches!(parse_symbol(symbol), Ok(SymbolRef::Month { .. } | SymbolRef::ContractId { .. }));
        let days = expiry::days_left(&id, today);
        let check = if explicit && !contract.active_contract {
            let (state, advice) = match active_of(&resolver, &id).await {
                Some(active) if expiry::expiry(&active) < expiry::expiry(&id) => (
                    format!("not yet the active contract ({active}): alerts would trade a thin back month"),
                    "use the root (e.g. MNQ or MNQ1!) unless the back month is meant",
                ),
                Some(active) => (
                    format!("no longer the active contract ({active} is)"),
                    "roll it, or use the root (e.g. MNQ or MNQ1!) so alerts follow the active contract",
                ),
                None => (
                    "it names a month that is not the active contract".to_owned(),
                    "use the root (e.g. MNQ or MNQ1!) so alerts follow the active contract",
                ),
            };
            Check::new(name, Verdict::Warn, format!("{found}; {state}"), advice)
        } else if let Some(days) = days.filter(|d| *d <= EXPIRY_WARN_DAYS) {
            let when = if days < 0 { format!("expired {} days ago", -days) } else { format!("expires in {days} days") };
            Check::new(
                name,
                Verdict::Warn,
                format!("{found}; {when} (third Friday of its month)"),
                "roll to the next contract (the root form follows the active one)",
            )
        } else {
            let left = days.map_or(String::new(), |d| format!("; about {d} days to expiry"));
            Check::pass(name, format!("{found}{left}"))
        };
        checks.push(check);
    }
    first
}

/// The active contract id of the product `contract_id` (`CON.F.US.MNQ.H27` → the active `MNQ` contract), if the
/// gateway lists one.
async fn active_of(resolver: &ContractResolver, contract_id: &str) -> Option<String> {
    let root = contract_id.split('.').nth(3)?;
    let active = resolver.resolve(root).await.ok()?;
    Some(active.id.to_string())
}

/// Check 4: The market hub connects and streams a quote for `symbol`.
async fn market(gateway: &projectx::Client, settings: &Settings, symbol: Option<&str>) -> Check {
    const NAME: &str = "market hub";
    let Some(symbol) = symbol else {
        return Check::new(
            NAME,
            Verdict::Warn,
            "not checked: no configured symbol resolved",
            "set QUOTE_SYMBOLS (or ALLOWED_SYMBOLS) to check the quote stream",
        );
    };
    let (cancel, tracker) = (CancellationToken::new(), TaskTracker::new());
    let (quotes, _) = crate::startup::start_quotes(settings, gateway, &cancel, &tracker);
    let started = Instant::now();
    let check = match quotes.watch(symbol).await {
        Err(e) => Check::new(NAME, Verdict::Fail, format!("could not subscribe {symbol}: {e}"), "see the symbol check"),
        Ok(id) => {
            let deadline = started + QUOTE_WAIT;
            // Polls the quote book: the hub task fills it; there is no notification to wait on.
            while quotes.market().quotes().get(&id).is_none() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            let connected = quotes.market().status().connected;
            match (quotes.market().quotes().get(&id), connected) {
                (Some(q), _) => Check::pass(
                    NAME,
                    format!(
                        "connected; quote for {symbol} ({id}) in {} ms: bid {}, ask {}, last {}",
                        started.elapsed().as_millis(),
                        shown(q.bid()),
                        shown(q.ask()),
                        shown(q.last())
                    ),
                ),
                (None, true) => Check::new(
                    NAME,
                    Verdict::Warn,
                    format!("connected, but no quote for {symbol} ({id}) within {} s", QUOTE_WAIT.as_secs()),
                    "normal while the market is closed; otherwise check the account's market-data subscription",
                ),
                (None, false) => Check::new(
                    NAME,
                    Verdict::Fail,
                    format!("not connected within {} s", QUOTE_WAIT.as_secs()),
                    "check PROJECT_X_MARKET_HUB_URL and the network; pxrelay serves 1-minute bars without it",
                ),
            }
        }
    };
    stop(cancel, tracker).await;
    check
}

/// Check 5: The user hub confirms the account's subscriptions; then a REST snapshot of its positions and working
/// orders.
async fn user(gateway: &projectx::Client, settings: &Settings, account: Option<AccountId>) -> Check {
    const NAME: &str = "user hub";
    let Some(account) = account else {
        return Check::new(NAME, Verdict::Warn, "not checked: no account picked", "see the accounts check");
    };
    let (cancel, tracker) = (CancellationToken::new(), TaskTracker::new());
    let (hub, task) = UserHub::start(
        UserConfig::new(settings.gateway.user_hub_url.clone()),
        gateway.tokens().clone(),
        cancel.child_token(),
    );
    tracker.spawn(async move {
        let _ = task.await;
    });
    let mut events = hub.take_events();
    let connected = async {
        hub.watch_account(account).await.map_err(|e| e.to_string())?;
        let Some(events) = events.as_mut() else { return Err("the event stream was already taken".to_owned()) };
        while let Some(update) = events.recv().await {
            if let UserEvent::Connected { epoch } = update.event {
                return Ok(epoch);
            }
        }
        Err("the user hub task stopped".to_owned())
    };
    let connected = tokio::time::timeout(USER_WAIT, connected).await;
    stop(cancel, tracker).await;
    let epoch = match connected {
        Ok(Ok(epoch)) => epoch,
        Ok(Err(e)) => return Check::new(NAME, Verdict::Fail, format!("account {account}: {e}"), "check the account"),
        Err(_) => {
            return Check::new(
                NAME,
                Verdict::Fail,
                format!("not connected within {} s", USER_WAIT.as_secs()),
                "check PROJECT_X_USER_HUB_URL and the network: without it fills are seen late",
            );
        }
    };
    let (positions, orders) = match (gateway.open_positions(account).await, gateway.open_orders(account).await) {
        (Ok(p), Ok(o)) => (p, o),
        (Err(e), _) | (_, Err(e)) => {
            return Check::new(
                NAME,
                Verdict::Fail,
                format!("connected, but the REST snapshot failed: {e}"),
                "try again",
            );
        }
    };
    let held: BTreeSet<String> = positions.iter().map(|p| p.contract_id.to_string()).collect();
    let listed_positions = positions
        .iter()
        .map(|p| format!("{} {:?} {} @ {}", p.contract_id, p.position_type, p.size, p.average_price))
        .collect::<Vec<_>>();
    let listed_orders = orders
        .iter()
        .map(|o| format!("#{} {} {:?} {:?} {}", o.id, o.contract_id, o.order_type, o.side, o.size))
        .collect::<Vec<_>>();
    let orphans: Vec<String> =
        orders.iter().filter(|o| !held.contains(&o.contract_id.to_string())).map(|o| format!("#{}", o.id)).collect();
    let detail = format!(
        "connected (epoch {epoch}), account {account} watched; {} open position(s){}; {} working order(s){}",
        positions.len(),
        bracketed(&listed_positions),
        orders.len(),
        bracketed(&listed_orders)
    );
    if orphans.is_empty() {
        Check::pass(NAME, detail)
    } else {
        Check::new(
            NAME,
            Verdict::Warn,
            format!(
                "{detail}; working order(s) {} on a contract with no open position: possible orphan bracket legs",
                orphans.join(", ")
            ),
            "cancel them in the platform if they are left-over legs (the doctor never cancels anything)",
        )
    }
}

/// A quote field, or `-` when the quote has none.
fn shown<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// ` [a, b]`, or nothing for an empty list.
fn bracketed(items: &[String]) -> String {
    if items.is_empty() { String::new() } else { format!(" [{}]", items.join(", ")) }
}

/// Check 6: The gateway's HTTP `Date` against the local clock (a plain GET of the API base URL; its status is ignored).
async fn clock(api_url: &url::Url, timeout: Duration) -> Check {
    const NAME: &str = "clock skew";
    let http = match reqwest::Client::builder().timeout(timeout).build() {
        Ok(c) => c,
        Err(e) => return Check::new(NAME, Verdict::Warn, format!("could not build an HTTP client: {e}"), "try again"),
    };
    let sent = chrono::Utc::now();
    let answer = http.get(api_url.clone()).send().await;
    let received = chrono::Utc::now();
    let date =
        answer.as_ref().ok().and_then(|r| r.headers().get(reqwest::header::DATE)?.to_str().ok().map(str::to_owned));
    let Some(date) = date else {
        let why = match answer {
            Err(e) => format!("no answer from the gateway: {e}"),
            Ok(r) => format!("the gateway answered {} without a Date header", r.status()),
        };
        return Check::new(NAME, Verdict::Warn, why, "make sure the host clock is synchronised (NTP)");
    };
    let Ok(gateway_time) = chrono::DateTime::parse_from_rfc2822(&date) else {
        return Check::new(NAME, Verdict::Warn, "the gateway's Date header did not parse", "make sure NTP runs");
    };
    // `Date` has whole seconds: compare its middle with the middle of the round trip.
    let local = sent + (received - sent) / 2;
    let gateway_mid = gateway_time.to_utc() + chrono::Duration::milliseconds(500);
    let skew_ms = (local - gateway_mid).num_milliseconds();
    let skew = Duration::from_millis(skew_ms.unsigned_abs());
    let ahead = if skew_ms >= 0 { "ahead of" } else { "behind" };
    let detail =
        format!("local clock {:.1} s {ahead} the gateway's (±0.5 s: Date has whole seconds)", skew.as_secs_f64());
    if skew > SKEW_FAIL {
        Check::new(
            NAME,
            Verdict::Fail,
            detail,
            "synchronise the clock (NTP): alert ages (MAX_ALERT_AGE_SECS) are wrong",
        )
    } else if skew > SKEW_WARN {
        Check::new(NAME, Verdict::Warn, detail, "synchronise the clock (NTP)")
    } else {
        Check::pass(NAME, detail)
    }
}

/// Check 7: How much of the general rate budget the doctor used.
fn budget(used: u64, limit: projectx::RateLimit) -> Check {
    Check::pass(
        "rate budget",
        format!(
            "the doctor sent {used} REST request(s) of the {} / {} s budget",
            limit.requests,
            limit.window.as_secs()
        ),
    )
}

/// Stops a hub task started for a check (within a second).
async fn stop(cancel: CancellationToken, tracker: TaskTracker) {
    cancel.cancel();
    tracker.close();
    let _ = tokio::time::timeout(Duration::from_secs(1), tracker.wait()).await;
}
