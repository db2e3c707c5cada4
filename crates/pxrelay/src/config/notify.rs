//! `NOTIFY_URLS`, `NOTIFY_EVENTS`, `NOTIFY_OUTAGE_SECS` → [`NotifySettings`]. A problem names the variable and, for a
//! URL, its position in the list and never the URL itself: notification URLs carry tokens (a Discord or Slack
//! webhook path, a Telegram bot token).

use crate::notify::{Destination, EventKind, EventSet, NotifySettings};

use super::Var;
use super::read::Reader;

impl Reader<'_> {
    /// The notification settings; problems are recorded.
    pub(super) fn notify(&mut self) -> NotifySettings {
        let mut destinations = Vec::new();
        for (i, text) in self.list(Var::NOTIFY_URLS).iter().enumerate() {
            match Destination::parse(text) {
                Ok(d) => destinations.push(d),
                Err(problem) => self.problems.push(format!(
                    "{}: entry {} (of the comma-separated list; not shown, it may hold a token): {problem}",
                    Var::NOTIFY_URLS.name(),
                    i + 1
                )),
            }
        }
        let events = match EventSet::parse(&self.opt(Var::NOTIFY_EVENTS).unwrap_or_default()) {
            Ok(set) => set,
            Err(unknown) => {
                let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                self.problems.push(format!(
                    "{}: `{}` is not accepted; expected a comma-separated list of {} (or all)",
                    Var::NOTIFY_EVENTS.name(),
                    unknown.join(", "),
                    known.join(", ")
                ));
                EventSet::default()
            }
        };
        let outage_after = self.secs(Var::NOTIFY_OUTAGE_SECS, 1);
        NotifySettings { destinations, events, outage_after }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use crate::config::Settings;
    use crate::notify::{EventKind, Kind};

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, crate::config::ConfigError> {
        let env: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Settings::load(None, &env)
    }

    #[test]
    fn notifications_are_off_by_default_with_the_default_events() {
        let s = load(&[]).unwrap();
        assert!(s.notify.destinations.is_empty());
        assert!(s.notify.events.contains(EventKind::HubDown) && !s.notify.events.contains(EventKind::Placed));
        assert_eq!(s.notify.outage_after, Duration::from_secs(60));
    }

    #[test]
    fn urls_events_and_the_outage_delay_are_read() {
        let s = load(&[
            (
                "NOTIFY_URLS",
                "https://discord.com/api/webhooks/1/a, https://api.telegram.org/bot1:b/sendMessage?chat_id=7,https://x.example/h",
            ),
            ("NOTIFY_EVENTS", "placed,filled"),
            ("NOTIFY_OUTAGE_SECS", "1"),
        ])
        .unwrap();
        let kinds: Vec<Kind> = s.notify.destinations.iter().map(|d| d.kind()).collect();
        assert_eq!(kinds, [Kind::Discord, Kind::Telegram, Kind::Generic]);
        assert!(s.notify.events.contains(EventKind::Placed) && !s.notify.events.contains(EventKind::Rejected));
        assert_eq!(s.notify.outage_after, Duration::from_secs(1));
        assert!(!format!("{s:?}").contains("bot1:b"), "the settings' Debug never shows a notification URL");
    }

    #[test]
    fn bad_values_are_problems_naming_the_variable_and_never_the_url() {
        let problems = load(&[
            ("NOTIFY_URLS", "https://ok.example/h,https://api.telegram.org/botSECRET/sendMessage,ftp://SECRET2"),
            ("NOTIFY_EVENTS", "filled,fils"),
            ("NOTIFY_OUTAGE_SECS", "0"),
        ])
        .unwrap_err()
        .problems;
        let text = problems.join("\n");
        assert!(text.contains("NOTIFY_URLS: entry 2") && text.contains("chat_id"), "{text}");
        assert!(text.contains("NOTIFY_URLS: entry 3"), "{text}");
        assert!(!text.contains("SECRET"), "{text}");
        assert!(text.contains("NOTIFY_EVENTS: `fils` is not accepted") && text.contains("hub_down"), "{text}");
        assert!(text.contains("NOTIFY_OUTAGE_SECS"), "{text}");
    }
}
