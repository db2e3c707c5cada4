//! Where notifications go: one [`Destination`] per `NOTIFY_URLS` entry, its [`Kind`] chosen from the URL, and the
//! request each kind gets.
//!
//! **How the kind is chosen.** By the URL's *path shape*, whatever the host, so the rule is the same for the real
//! services and for anything standing in for them (a self-hosted relay, a corporate proxy, a local receiver in
//! tests):
//! - `/api/webhooks/…` (or `/api/v<N>/webhooks/…`) → **Discord** webhook: `{"content": "…"}`;
//! - `/bot<token>/sendMessage` with a `chat_id` query parameter → **Telegram** Bot API: a POST to the same path
//!   with `{"chat_id": …, "text": "…"}` (the query is not sent);
//! - `/services/<a>/<b>/<c>` → **Slack** incoming webhook: `{"text": "…"}`;
//! - anything else → **generic** JSON ([`super::Notice::json`]).
//!
//! A prefix on the scheme forces the kind when a URL's path says otherwise (a generic receiver that happens to live
//! under `/services/x/y/z`): `discord+https://…`, `telegram+https://…`, `slack+https://…`, `json+https://…`. The
//! prefix is removed before sending.
//!
//! **Secrets.** Each of these URLs is a credential: a Discord or Slack webhook path is its token, a Telegram URL
//! carries the bot token. So a destination never shows its URL: `Debug` and [`Destination::label`] give the kind
//! and host only, and config problems name the entry by position.

use std::fmt;

use serde_json::{Value, json};
use url::Url;

use super::Notice;

/// The format a destination gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A Discord webhook: `{"content": text}` (Discord caps content at 2000 characters).
    Discord,
    /// The Telegram Bot API's `sendMessage`: `{"chat_id", "text"}`.
    Telegram,
    /// A Slack incoming webhook: `{"text": text}`.
    Slack,
    /// Any other URL: the generic JSON.
    Generic,
}

impl Kind {
    /// The label in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Discord => "discord",
            Self::Telegram => "telegram",
            Self::Slack => "slack",
            Self::Generic => "generic",
        }
    }

    /// How many sends a destination of this kind allows at once, and one more each `per` (a token bucket): the
    /// services' own published limits, with room. Discord: 5 requests per 2 s per webhook; Telegram: about one
    /// message per second per chat; Slack: one per second per webhook. A generic receiver gets 10 per second.
    pub fn rate(self) -> (u32, std::time::Duration) {
        use std::time::Duration;
        match self {
            Self::Discord => (5, Duration::from_millis(400)),
            Self::Telegram | Self::Slack => (3, Duration::from_secs(1)),
            Self::Generic => (10, Duration::from_millis(100)),
        }
    }
}

/// One `NOTIFY_URLS` entry. Its URL is a secret: never shown (see the module docs).
#[derive(Clone, PartialEq, Eq)]
pub struct Destination {
    kind: Kind,
    /// Where the POST goes (the kind prefix and, for Telegram, the query removed).
    url: Url,
    /// Telegram's `chat_id` (from the query).
    chat_id: Option<String>,
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Destination").field("kind", &self.kind).field("host", &self.host()).finish_non_exhaustive()
    }
}

impl Destination {
    /// Parses one `NOTIFY_URLS` entry. The error never contains the URL (it may hold a token).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (forced, rest) = match text.split_once('+') {
            Some((prefix, rest)) if !prefix.contains([':', '/']) => {
                let kind = match prefix.to_ascii_lowercase().as_str() {
                    "discord" => Kind::Discord,
                    "telegram" => Kind::Telegram,
                    "slack" => Kind::Slack,
                    "json" => Kind::Generic,
                    _ => return Err("the prefix before `+` must be discord, telegram, slack or json".to_owned()),
                };
                (Some(kind), rest)
            }
            _ => (None, text),
        };
        let mut url = Url::parse(rest).map_err(|_| "not a URL".to_owned())?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err("expected an http:// or https:// URL with a host".to_owned());
        }
        let kind = forced.unwrap_or_else(|| kind_of(&url));
        let chat_id = match kind {
            Kind::Telegram => {
                let id = url.query_pairs().find(|(k, _)| k == "chat_id").map(|(_, v)| v.into_owned());
                let id = id.filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                    "a Telegram URL needs `?chat_id=<id>` (https://api.telegram.org/bot<token>/sendMessage?chat_id=<id>)"
                        .to_owned()
                })?;
                url.set_query(None);
                Some(id)
            }
            _ => None,
        };
        Ok(Self { kind, url, chat_id })
    }

    /// The format.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The host (and port), for logs: never the path or query, which hold the token.
    pub fn host(&self) -> String {
        match (self.url.host_str(), self.url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            _ => String::new(),
        }
    }

    /// `discord (discord.com)`: what logs show of this destination.
    pub fn label(&self) -> String {
        format!("{} ({})", self.kind.as_str(), self.host())
    }

    /// Where to POST. Callers must not log it.
    pub(super) fn url(&self) -> &Url {
        &self.url
    }

    /// The JSON body `notice` becomes for this destination.
    pub fn body(&self, notice: &Notice) -> Value {
        match self.kind {
            Kind::Discord => json!({ "content": truncate(&notice.text(), 2000) }),
            Kind::Telegram => json!({ "chat_id": self.chat_id, "text": truncate(&notice.text(), 4096) }),
            Kind::Slack => json!({ "text": notice.text() }),
            Kind::Generic => notice.json(),
        }
    }
}

/// The kind a URL's path shape says (see the module docs).
fn kind_of(url: &Url) -> Kind {
    let segments: Vec<&str> = url.path_segments().map(|s| s.filter(|s| !s.is_empty()).collect()).unwrap_or_default();
    let versioned =
        |s: &str| s.strip_prefix('v').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    match segments.as_slice() {
        ["api", "webhooks", _, ..] => Kind::Discord,
        ["api", v, "webhooks", _, ..] if versioned(v) => Kind::Discord,
        [bot, "sendMessage"] if bot.len() > 3 && bot.starts_with("bot") => Kind::Telegram,
        ["services", _, _, _] => Kind::Slack,
        _ => Kind::Generic,
    }
}

/// At most `max` characters (Discord and Telegram refuse longer messages).
fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((at, _)) if text.chars().count() > max => format!("{}…", &text[..at]),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::EventKind;

    fn kind(url: &str) -> Kind {
        Destination::parse(url).unwrap().kind()
    }

    #[test]
    fn the_kind_follows_the_path_shape_whatever_the_host() {
        assert_eq!(kind("https://discord.com/api/webhooks/123/abc"), Kind::Discord);
        assert_eq!(kind("https://discordapp.com/api/webhooks/123/abc"), Kind::Discord);
        assert_eq!(kind("https://discord.com/api/v10/webhooks/123/abc"), Kind::Discord);
        assert_eq!(kind("http://127.0.0.1:9/api/webhooks/1/x"), Kind::Discord);
        assert_eq!(kind("https://api.telegram.org/bot123:AAE-x/sendMessage?chat_id=42"), Kind::Telegram);
        assert_eq!(kind("http://127.0.0.1:9/bot1:t/sendMessage?chat_id=-100"), Kind::Telegram);
        assert_eq!(kind("https://hooks.slack.com/services/T0/B0/xyz"), Kind::Slack);
        assert_eq!(kind("https://example.com/hook"), Kind::Generic);
        assert_eq!(kind("https://example.com/api/webhooks"), Kind::Generic, "no id: not a Discord webhook");
        assert_eq!(kind("https://example.com/services/a/b"), Kind::Generic);
        assert_eq!(kind("json+https://example.com/services/a/b/c"), Kind::Generic, "the prefix wins");
        assert_eq!(kind("slack+http://127.0.0.1:9/in"), Kind::Slack);
    }

    #[test]
    fn a_telegram_url_needs_a_chat_id_which_goes_in_the_body_not_the_url() {
        let d = Destination::parse("https://api.telegram.org/bot123:SECRET/sendMessage?chat_id=42").unwrap();
        assert_eq!(d.url().as_str(), "https://api.telegram.org/bot123:SECRET/sendMessage");
        let body = d.body(&Notice::new(EventKind::Filled, "x"));
        assert_eq!(body, json!({"chat_id": "42", "text": "pxrelay filled: x"}));
        let e = Destination::parse("https://api.telegram.org/bot123:SECRET/sendMessage").unwrap_err();
        assert!(e.contains("chat_id") && !e.contains("SECRET"), "{e}");
    }

    #[test]
    fn a_destination_never_shows_its_url() {
        let d = Destination::parse("https://discord.com/api/webhooks/123/TOKEN").unwrap();
        let shown = format!("{d:?} {}", d.label());
        assert!(!shown.contains("TOKEN") && !shown.contains("123"), "{shown}");
        assert!(shown.contains("discord.com"), "{shown}");
        for bad in ["ftp://x/TOKEN", "nonsense TOKEN", "teams+https://x/TOKEN"] {
            let e = Destination::parse(bad).unwrap_err();
            assert!(!e.contains("TOKEN"), "{e}");
        }
    }

    #[test]
    fn each_kind_gets_its_own_body() {
        let n = Notice::new(EventKind::Rejected, "kill switch").alert("a1");
        let body = |url: &str| Destination::parse(url).unwrap().body(&n);
        assert_eq!(body("https://discord.com/api/webhooks/1/t"), json!({"content": n.text()}));
        assert_eq!(body("https://hooks.slack.com/services/a/b/c"), json!({"text": n.text()}));
        assert_eq!(body("https://example.com/x")["event"], "rejected");
        let long = "é".repeat(3000);
        let text = Destination::parse("https://discord.com/api/webhooks/1/t")
            .unwrap()
            .body(&Notice::new(EventKind::Failed, long));
        assert_eq!(text["content"].as_str().unwrap().chars().count(), 2000);
    }
}
