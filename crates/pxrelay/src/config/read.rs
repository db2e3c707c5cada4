//! Turning the merged configuration's strings into types. Each read names a [`Var`], and each problem found names
//! its variable and what is accepted; problems are collected, never returned early, so the user sees all of them.

use std::collections::HashSet;
use std::time::Duration;

use url::Url;

use super::Var;

/// Reads settings out of the merged configuration, collecting problems.
pub(super) struct Reader<'a> {
    config: &'a config::Config,
    /// One line per problem, in the order found.
    pub(super) problems: Vec<String>,
    /// Every setting read so far (a test checks that each row of the table is read).
    pub(super) read: HashSet<Var>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(config: &'a config::Config) -> Self {
        Self { config, problems: Vec::new(), read: HashSet::new() }
    }

    /// The trimmed value; `None` when unset or blank.
    pub(super) fn opt(&mut self, var: Var) -> Option<String> {
        self.read.insert(var);
        match self.config.get_string(var.key()) {
            Ok(text) => Some(text.trim().to_owned()).filter(|t| !t.is_empty()),
            Err(config::ConfigError::NotFound(_)) => None,
            // A table or an array in a --config file where a single value belongs.
            Err(_) => {
                self.problems.push(format!("{} (`{}`): expected a single value", var.name(), var.key()));
                None
            }
        }
    }

    /// The raw value, for the settings a `--config` file may give as a table (`ACCOUNT_GROUPS`, `ACCOUNT_LIMITS`);
    /// `None` when unset or a blank string.
    pub(super) fn raw(&mut self, var: Var) -> Option<config::Value> {
        self.read.insert(var);
        let value = self.config.get::<config::Value>(var.key()).ok()?;
        match &value.kind {
            config::ValueKind::Nil => None,
            config::ValueKind::String(s) if s.trim().is_empty() => None,
            _ => Some(value),
        }
    }

    /// A required value parsed with `FromStr`; the type's default (unused: a problem is recorded) otherwise.
    pub(super) fn parse<T: std::str::FromStr + Default>(&mut self, var: Var, accepted: &str) -> T {
        self.try_parse(var, accepted).unwrap_or_default()
    }

    pub(super) fn try_parse<T: std::str::FromStr>(&mut self, var: Var, accepted: &str) -> Option<T> {
        let Some(text) = self.opt(var) else {
            self.problems.push(format!("{}: missing; expected {accepted}", var.name()));
            return None;
        };
        let parsed = text.parse().ok();
        if parsed.is_none() {
            self.problems.push(format!("{}: `{text}` is not accepted; expected {accepted}", var.name()));
        }
        parsed
    }

    /// `true/1/yes/on` or `false/0/no/off` (any case); unset is `false`.
    pub(super) fn flag(&mut self, var: Var) -> bool {
        match self.opt(var).map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("false" | "0" | "no" | "off") => false,
            Some("true" | "1" | "yes" | "on") => true,
            Some(other) => {
                self.problems.push(format!("{}: `{other}` is not accepted; use true or false", var.name()));
                false
            }
        }
    }

    /// A whole number `>= min`.
    pub(super) fn number(&mut self, var: Var, min: u32) -> u32 {
        self.number_where(var, min, |n| n >= min, &format!("a whole number >= {min}"))
    }

    /// A whole number `ok` accepts, described by `accepted`; `fallback` otherwise (a problem is recorded).
    pub(super) fn number_where(&mut self, var: Var, fallback: u32, ok: impl Fn(u32) -> bool, accepted: &str) -> u32 {
        match self.try_parse::<u32>(var, accepted) {
            Some(n) if ok(n) => n,
            Some(n) => {
                self.problems.push(format!("{}: `{n}` is not accepted; expected {accepted}", var.name()));
                fallback
            }
            None => fallback,
        }
    }

    /// Whole seconds `>= min`.
    pub(super) fn secs(&mut self, var: Var, min: u32) -> Duration {
        Duration::from_secs(self.number(var, min).into())
    }

    /// An `http://` or `https://` URL with a host.
    pub(super) fn url(&mut self, var: Var) -> Url {
        let fallback = || Url::parse("http://invalid.invalid").expect("a constant valid URL");
        let Some(text) = self.opt(var) else {
            self.problems.push(format!("{}: missing; expected an http:// or https:// URL", var.name()));
            return fallback();
        };
        match Url::parse(&text) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
            _ => {
                self.problems
                    .push(format!("{}: `{text}` is not accepted; expected an http:// or https:// URL", var.name()));
                fallback()
            }
        }
    }

    /// A local time of day `HH:MM` (24-hour, e.g. `17:00`, `08:30`); `None` after recording a problem (or unset).
    pub(super) fn time_of_day(&mut self, var: Var) -> Option<chrono::NaiveTime> {
        let text = self.opt(var)?;
        let parsed = chrono::NaiveTime::parse_from_str(&text, "%H:%M").ok();
        if parsed.is_none() {
            self.problems
                .push(format!("{}: `{text}` is not accepted; expected a 24-hour time HH:MM such as 17:00", var.name()));
        }
        parsed
    }

    /// A comma-separated list, blanks dropped; unset is empty.
    pub(super) fn list(&mut self, var: Var) -> Vec<String> {
        self.opt(var)
            .map(|t| t.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// A list of symbols (see [`Self::list`]), each in a form the contract resolver accepts
    /// (`projectx::contracts::parse_symbol`): a typo is a problem here, before anything starts, not at the gateway.
    pub(super) fn symbols(&mut self, var: Var) -> Vec<String> {
        let symbols = self.list(var);
        for symbol in &symbols {
            if let Err(e) = projectx::contracts::parse_symbol(symbol) {
                self.problems.push(format!("{}: {e}", var.name()));
            }
        }
        symbols
    }
}
