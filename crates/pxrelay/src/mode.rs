//! [`Mode`]: where orders go — the gateway (live) or the in-process simulator (paper) — and what follows from it
//! alone: the default journal file. A leaf module, so the configuration, the journal and the app state can all use it.

/// Where orders go: `PXRELAY_MODE` (`live` by default), or `sim` by `--sim`, which wins over the variable (it can
/// only turn live into paper, never the reverse). The journal records it: a journal written in one mode is refused
/// by a process in the other (`journal::JournalError::WrongMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The configured ProjectX gateway: real orders.
    Live,
    /// The in-process simulator (`serve --sim`): paper trading, no credentials.
    Sim,
}

impl Mode {
    /// `live` or `sim`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Sim => "sim",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A mode name other than `live` or `sim`.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a mode; use `live` or `sim`")]
pub struct UnknownMode(String);

impl std::str::FromStr for Mode {
    type Err = UnknownMode;

    /// `live` or `sim`, in any case (`PXRELAY_MODE`, the journal's `mode` column).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "live" => Ok(Self::Live),
            "sim" => Ok(Self::Sim),
            _ => Err(UnknownMode(s.to_owned())),
        }
    }
}

/// The live journal when `DATABASE_URL` is unset (relative to the working directory).
pub const LIVE_JOURNAL: &str = "./data/pxrelay.db";

/// The paper-trading journal when `DATABASE_URL` is unset: never the live one, so a paper run cannot touch (or be
/// confused with) live history, and `serve --sim --reset` has a file of its own to empty.
pub const SIM_JOURNAL: &str = "./data/pxrelay-sim.db";

/// The journal file used when `DATABASE_URL` is unset.
pub const fn default_journal(mode: Mode) -> &'static str {
    match mode {
        Mode::Live => LIVE_JOURNAL,
        Mode::Sim => SIM_JOURNAL,
    }
}
