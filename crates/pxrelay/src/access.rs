//! Who may see the dashboard ([`crate::routes::dashboard`]) and act from it: `DASHBOARD_PASSWORD` → a login form and a session cookie; no password
//! → open in sim mode, off (404 naming the variable) in live mode.
//!
//! Sessions are random 256-bit tokens (`ring`'s system random) held in memory, so a restart logs everyone out; at
//! most [`MAX_SESSIONS`] live at once (the oldest goes first). The cookie is `HttpOnly; SameSite=Strict; Path=/`,
//! plus `Secure` when the request came over https (directly or, behind Railway's edge, `X-Forwarded-Proto: https`).
//! Every action is a POST that needs the session **and** an `Origin` naming this very host (403 otherwise), so a
//! page elsewhere can neither read nor drive it. The password is compared in constant time (`password_matches`,
//! the same SHA-256-then-compare as the webhook secret's check; a leaf module, so `AppState` can hold [`Access`]
//! without depending on the routes). Nothing here logs an offered password or a token.

use std::collections::HashMap;
use std::fmt;

use axum::http::header::{COOKIE, HOST, ORIGIN};
use axum::http::{HeaderMap, HeaderValue};
use ring::rand::SecureRandom;
use secrecy::SecretString;
use tokio::time::{Duration, Instant};

use crate::mode::Mode;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "pxrelay_session";
/// How long a session lasts after login.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);
/// Most sessions held at once: memory stays bounded whatever logs in.
pub const MAX_SESSIONS: usize = 64;

/// The rule in force, from the password and the mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// `DASHBOARD_PASSWORD` is set: a session is needed.
    Login,
    /// No password in sim mode: open to whoever reaches the port (paper trading).
    Open,
    /// No password in live mode: the dashboard answers 404 with a hint.
    Off,
}

/// What a request may do, from [`Access::check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead.
    Allowed,
    /// Log in first (no valid session under [`Policy::Login`]).
    NeedsLogin,
    /// An action whose `Origin` is missing or names another site.
    ForeignOrigin,
    /// The dashboard is off ([`Policy::Off`]).
    Off,
}

/// The password and the sessions. Shared by the dashboard's handlers through `AppState`.
pub struct Access {
    /// `DASHBOARD_PASSWORD`.
    password: Option<SecretString>,
    /// Live or sim: decides [`Policy`] without a password.
    mode: Mode,
    /// Session token → expiry. Written by login and logout, read by every dashboard request; a sync lock held for
    /// one statement, never across an await.
    sessions: parking_lot::Mutex<HashMap<String, Instant>>,
    /// The token source.
    random: ring::rand::SystemRandom,
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Access")
            .field("policy", &self.policy())
            .field("sessions", &self.sessions.lock().len())
            .finish_non_exhaustive()
    }
}

impl Access {
    /// No sessions yet.
    pub fn new(password: Option<SecretString>, mode: Mode) -> Self {
        Self {
            password,
            mode,
            sessions: parking_lot::Mutex::new(HashMap::new()),
            random: ring::rand::SystemRandom::new(),
        }
    }

    /// The rule in force.
    pub fn policy(&self) -> Policy {
        match (&self.password, self.mode) {
            (Some(_), _) => Policy::Login,
            (None, Mode::Sim) => Policy::Open,
            (None, Mode::Live) => Policy::Off,
        }
    }

    /// A new session token when `offered` is the password (constant-time compare); `None` otherwise, and always
    /// when no password is set.
    pub fn login(&self, offered: &str) -> Option<String> {
        let password = self.password.as_ref()?;
        if !password_matches(password, offered) {
            return None;
        }
        let mut bytes = [0u8; 32];
        self.random.fill(&mut bytes).ok()?;
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let now = Instant::now();
        let mut sessions = self.sessions.lock();
        sessions.retain(|_, expiry| *expiry > now);
        while sessions.len() >= MAX_SESSIONS {
            let oldest = sessions.iter().min_by_key(|(_, expiry)| **expiry).map(|(t, _)| t.clone());
            match oldest {
                Some(t) => sessions.remove(&t),
                None => break,
            };
        }
        sessions.insert(token.clone(), now + SESSION_TTL);
        Some(token)
    }

    /// Ends the request's session, if it has one.
    pub fn logout(&self, headers: &HeaderMap) {
        if let Some(token) = session_cookie(headers) {
            self.sessions.lock().remove(&token);
        }
    }

    /// Whether the request carries a session that is live now.
    pub fn has_session(&self, headers: &HeaderMap) -> bool {
        let Some(token) = session_cookie(headers) else { return false };
        self.sessions.lock().get(&token).is_some_and(|expiry| *expiry > Instant::now())
    }

    /// The verdict for a request: a read (`action == false`) needs the session under [`Policy::Login`]; an action
    /// also needs an `Origin` naming this host ([`same_origin`]), under every policy.
    pub fn check(&self, headers: &HeaderMap, action: bool) -> Verdict {
        match self.policy() {
            Policy::Off => Verdict::Off,
            Policy::Login if !self.has_session(headers) => Verdict::NeedsLogin,
            _ if action && !same_origin(headers) => Verdict::ForeignOrigin,
            _ => Verdict::Allowed,
        }
    }
}

/// Constant-time comparison: both sides are hashed to 32 bytes first, so neither length nor content leaks timing.
fn password_matches(expected: &SecretString, offered: &str) -> bool {
    use secrecy::ExposeSecret;
    let a = ring::digest::digest(&ring::digest::SHA256, expected.expose_secret().as_bytes());
    let b = ring::digest::digest(&ring::digest::SHA256, offered.as_bytes());
    a.as_ref().iter().zip(b.as_ref()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The session token from the `Cookie` headers.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim().to_owned())
}

/// Whether the request came over https: its proxy says so (`X-Forwarded-Proto: https`, Railway's edge).
pub fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

/// Whether `Origin` is this server as the browser reached it: `http(s)://` + the `Host` header (https when
/// [`over_https`]). A missing `Origin` or `Host` fails: browsers send `Origin` on every POST.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let origin = headers.get(ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(HOST).and_then(|v| v.to_str().ok());
    let (Some(origin), Some(host)) = (origin, host) else { return false };
    let scheme = if over_https(headers) { "https" } else { "http" };
    origin.eq_ignore_ascii_case(&format!("{scheme}://{host}"))
}

/// The `Set-Cookie` value for a new session (`token`), or to clear it (`None`).
pub fn cookie(token: Option<&str>, headers: &HeaderMap) -> HeaderValue {
    let secure = if over_https(headers) { "; Secure" } else { "" };
    let text = match token {
        Some(token) => {
            format!(
                "{COOKIE_NAME}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
                SESSION_TTL.as_secs()
            )
        }
        None => format!("{COOKIE_NAME}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}"),
    };
    let mut value = HeaderValue::from_str(&text).expect("hex and ASCII attributes make a valid header value");
    value.set_sensitive(true);
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn a_wrong_password_gives_no_session_and_a_right_one_does() {
        let access = Access::new(Some("correct horse".into()), Mode::Live);
        assert_eq!(access.login("correct hors"), None);
        assert_eq!(access.login(""), None);
        let token = access.login("correct horse").expect("a session");
        assert_eq!(token.len(), 64);
        let with = headers(&[("cookie", &format!("a=b; {COOKIE_NAME}={token}"))]);
        assert!(access.has_session(&with));
        assert!(!access.has_session(&headers(&[("cookie", &format!("{COOKIE_NAME}=guess"))])));
        access.logout(&with);
        assert!(!access.has_session(&with), "logout ends it");
    }

    #[test]
    fn without_a_password_sim_is_open_and_live_is_off() {
        assert_eq!(Access::new(None, Mode::Sim).policy(), Policy::Open);
        assert_eq!(Access::new(None, Mode::Live).policy(), Policy::Off);
        assert_eq!(Access::new(None, Mode::Sim).login("anything"), None, "no password, no session");
    }

    #[test]
    fn actions_need_this_hosts_origin() {
        let access = Access::new(None, Mode::Sim);
        let ok = headers(&[("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:8080")]);
        assert_eq!(access.check(&ok, true), Verdict::Allowed);
        let foreign = headers(&[("host", "127.0.0.1:8080"), ("origin", "http://evil.example")]);
        assert_eq!(access.check(&foreign, true), Verdict::ForeignOrigin);
        assert_eq!(access.check(&foreign, false), Verdict::Allowed, "reads need no origin");
        assert_eq!(access.check(&headers(&[("host", "127.0.0.1:8080")]), true), Verdict::ForeignOrigin);
        let railway = headers(&[
            ("host", "x.up.railway.app"),
            ("origin", "https://x.up.railway.app"),
            ("x-forwarded-proto", "https"),
        ]);
        assert!(same_origin(&railway));
        let downgraded = headers(&[
            ("host", "x.up.railway.app"),
            ("origin", "http://x.up.railway.app"),
            ("x-forwarded-proto", "https"),
        ]);
        assert!(!same_origin(&downgraded));
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_behind_https() {
        let plain = cookie(Some("abc"), &HeaderMap::new());
        let text = plain.to_str().unwrap();
        assert!(text.contains("HttpOnly") && text.contains("SameSite=Strict") && !text.contains("Secure"), "{text}");
        let https = cookie(Some("abc"), &headers(&[("x-forwarded-proto", "https")]));
        assert!(https.to_str().unwrap().ends_with("; Secure"));
        assert!(cookie(None, &HeaderMap::new()).to_str().unwrap().contains("Max-Age=0"));
    }

    #[test]
    fn sessions_stay_bounded() {
        let access = Access::new(Some("pw".into()), Mode::Live);
        for _ in 0..(MAX_SESSIONS + 10) {
            access.login("pw").unwrap();
        }
        assert_eq!(access.sessions.lock().len(), MAX_SESSIONS);
    }
}
