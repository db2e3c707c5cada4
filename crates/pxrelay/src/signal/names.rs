//! Field names that would otherwise be ignored by mistake: a name differing only in case from one pxrelay reads
//! (`Action`, `Stop_Loss_Ticks`), and a name that looks like a stop, target, trail, bracket or risk setting but is
//! not one pxrelay reads (`stoploss`, `stop_loss_points`, `StopLossTicks`). Unknown fields are otherwise ignored on
//! purpose (alert messages carry extra text), but ignoring these would send an order without the protection or
//! size the sender asked for, or answer "action is missing" to a sender who did send it. Both are refused, naming
//! the field to use instead.
//!
//! The rule (also in `docs/tradingview.md` §3), for a top-level name that pxrelay neither reads nor knowingly
//! ignores ([`IGNORED`]): split the name into words at `_`, `-`, `.`, spaces, lower→upper case changes and
//! letter↔digit changes, and lower-case them (`StopLoss_Ticks` → `stop loss ticks`; joined: `stoplossticks`). It
//! looks protective when a word contains one of [`STEMS`] (`stop`, `loss`, `profit`, `target`, `trail`, `bracket`,
//! `breakeven`, `risk`; `breakeven` also across words), when a word is `sl`, `tp` or `tgt`, when the joined name is
//! `sl`/`tp` followed by a unit (`slticks`, `tpprice`), or when the joined name is at most two edits (insert, delete,
//! change, swap) from a bracket name of eight or more letters (`takeprofti`). Values are not looked at: a misspelled
//! field is refused even when 0.

use super::brackets::{self, Leg, STOP_LOSS, TAKE_PROFIT};
use super::values::Object;
use super::{SignalError, fields};

/// PickMyTrade fields that look protective but are knowingly ignored (docs §6): `update_tp`/`update_sl` change
/// an already open position's bracket, `breakeven` moves the stop once in profit (the alert's own stop stays), and
/// `trail_stop`/`trail_trigger`/`trail_freq` only apply with `trail`, which must be 0.
const IGNORED: [&str; 6] = ["update_tp", "update_sl", "breakeven", "trail_stop", "trail_trigger", "trail_freq"];

/// Word stems that make a name look protective when its joined, lower-cased form contains them.
const STEMS: [&str; 8] = ["stop", "loss", "profit", "target", "trail", "bracket", "breakeven", "risk"];

/// Abbreviations that make a name look protective when they are a whole word (`sl_ticks`, `tp1`, `TP`).
const SHORT_WORDS: [&str; 3] = ["sl", "tp", "tgt"];

/// The two edit-distance anchors need this many letters, so short harmless names are never "near" a bracket.
const MIN_FUZZY_LEN: usize = 8;

/// How a bracket distance is expressed, read from a word of the name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    Ticks,
    Points,
    Price,
    /// Dollars or percent (`stop_loss_dollars`, `sl_pct`): read as `stop_loss_usd` / `stop_loss_percent`.
    Money,
}

/// Units found as a substring of the joined name (long enough not to occur by chance).
const UNIT_STEMS: [(&str, Unit); 12] = [
    ("tick", Unit::Ticks),
    ("point", Unit::Points),
    ("amount", Unit::Points),
    ("distance", Unit::Points),
    ("offset", Unit::Points),
    ("price", Unit::Price),
    ("level", Unit::Price),
    ("usd", Unit::Money),
    ("dollar", Unit::Money),
    ("cash", Unit::Money),
    ("percent", Unit::Money),
    ("currency", Unit::Money),
];

/// Units only recognised as a whole word (`sl_pts`), or right after a leading `sl`/`tp` (`slpts`).
const UNIT_WORDS: [(&str, Unit); 6] = [
    ("pts", Unit::Points),
    ("pt", Unit::Points),
    ("pips", Unit::Points),
    ("px", Unit::Price),
    ("pct", Unit::Money),
    ("perc", Unit::Money),
];

/// Refuses the first top-level name (in name order) that differs only in case from an accepted one, or
/// that looks protective without being read. Secret fields were taken out before (see `body`).
pub(super) fn check(obj: &Object) -> Result<(), SignalError> {
    obj.keys().find_map(|name| check_name(name)).map_or(Ok(()), Err)
}

/// The rule for one top-level name: `None` when pxrelay reads it, knowingly ignores it, or it looks harmless.
pub(super) fn check_name(name: &str) -> Option<SignalError> {
    let known = || fields::names().chain(brackets::NAMES).chain(IGNORED);
    if known().any(|k| k == name) {
        return None;
    }
    let words = words(name);
    let joined: String = words.concat();
    let protective = looks_protective(&words, &joined);
    // `Stop_Loss_Ticks` is `stop_loss_ticks` in other case. `stoploss` is `stopLoss` (an object) in other case
    // too, but as one word it more likely means `stop_loss`: a bracket name with other word breaks than the sender's
    // gets the protective message, which lists `stopLoss` among the accepted forms.
    if let Some(right) = known().find(|k| k.eq_ignore_ascii_case(name))
        && (!protective || !brackets::NAMES.contains(&right) || self::words(right) == words)
    {
        return Some(SignalError::new(
            name.to_owned(),
            format!("field names are case-sensitive: `{name}` → `{right}`"),
        ));
    }
    protective.then(|| SignalError::new(shorten(name), unread_message(&words, &joined)))
}

/// A made-up name as echoed in an error: at most 40 characters, so a huge key is not sent back.
fn shorten(name: &str) -> String {
    match name.char_indices().nth(40) {
        Some((at, _)) => format!("{}…", &name[..at]),
        None => name.to_owned(),
    }
}

/// The name's words, lower-cased: split at non-alphanumerics, lower→upper changes (`stopLoss`), the end of an
/// upper-case run before a lower-case letter (`SLTicks` → `sl ticks`) and letter↔digit changes (`tp1`).
fn words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            out.extend((!current.is_empty()).then(|| std::mem::take(&mut current)));
            continue;
        }
        if let Some(&prev) = i.checked_sub(1).and_then(|p| chars.get(p)) {
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let boundary = (c.is_uppercase() && (prev.is_lowercase() || prev.is_numeric()))
                || (c.is_uppercase() && prev.is_uppercase() && next_lower)
                || (c.is_numeric() != prev.is_numeric() && prev.is_alphanumeric());
            if boundary && !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
        }
        current.extend(c.to_lowercase());
    }
    out.extend((!current.is_empty()).then_some(current));
    out
}

fn looks_protective(words: &[String], joined: &str) -> bool {
    has_stem(words, joined, &STEMS)
        || words.iter().any(|w| SHORT_WORDS.contains(&w.as_str()))
        || ["sl", "tp"].iter().any(|p| joined.strip_prefix(p).is_some_and(|rest| unit_of_text(rest).is_some()))
        || brackets::NAMES
            .iter()
            .map(|n| joined_name(n))
            .any(|n| n.len() >= MIN_FUZZY_LEN && edit_distance(joined, &n) <= 2)
}

/// Whether a word contains one of `stems` (`stoplossticks` contains `stop`; `last_open` does not, though its
/// joined form does). A stem of several words (`breakeven`, from `break_even`) is also looked for in the joined
/// name.
fn has_stem(words: &[String], joined: &str, stems: &[&str]) -> bool {
    stems.iter().any(|s| words.iter().any(|w| w.contains(s)) || (*s == "breakeven" && joined.contains(s)))
}

/// `rest` is exactly a unit word (`ticks`, `price`, `pts`), for `slticks`-style names.
fn unit_of_text(rest: &str) -> Option<Unit> {
    let singular = rest.strip_suffix('s').unwrap_or(rest);
    UNIT_STEMS.iter().chain(&UNIT_WORDS).find(|(u, _)| *u == rest || *u == singular).map(|&(_, unit)| unit)
}

fn unit_of(words: &[String], joined: &str) -> Option<Unit> {
    let by_word = words.iter().find_map(|w| UNIT_WORDS.iter().find(|(u, _)| u == w).map(|&(_, unit)| unit));
    UNIT_STEMS.iter().find(|(u, _)| joined.contains(u)).map(|&(_, unit)| unit).or(by_word)
}

/// Which bracket legs the name is about.
fn legs(words: &[String], joined: &str) -> (bool, bool) {
    let word = |w: &str| words.iter().any(|x| x == w);
    let stop = has_stem(words, joined, &["stop", "loss"]) || word("sl");
    let target = has_stem(words, joined, &["profit", "target", "take"]) || word("tp") || word("tgt");
    (stop, target)
}

/// What to say about a protective-looking name pxrelay does not read; always names the field to use.
fn unread_message(words: &[String], joined: &str) -> String {
    const NOT_READ: &str = "is not a field pxrelay reads";
    if has_stem(words, joined, &["breakeven"]) {
        return format!(
            "{NOT_READ}: to move the stop to break-even once in profit, send `breakeven_after_ticks` (ticks of open \
             profit) on the entry, optionally with `offset_ticks`; or send \"action\": \"breakeven\" later"
        );
    }
    if has_stem(words, joined, &["trail"]) {
        return format!(
            "{NOT_READ}: trailing stop losses are not supported; for a trailing-stop entry send \"order_type\": \
             \"trailing_stop\" with `trail_price` (a price level), and give the stop in `stop_loss_ticks`"
        );
    }
    let (stop, target) = legs(words, joined);
    let leg = match (stop, target) {
        (true, false) => &STOP_LOSS,
        (false, true) => &TAKE_PROFIT,
        (false, false) if has_stem(words, joined, &["risk"]) => {
            return format!(
                "{NOT_READ}: to size by risk send `risk_usd` (dollars at risk) with a stop such as \
                 `stop_loss_ticks`; or give the size in `quantity`"
            );
        }
        (true, true) | (false, false) => {
            return format!(
                "{NOT_READ}, and a stop or target pxrelay does not read would trade without it; did you mean \
                 `stop_loss_ticks` and `take_profit_ticks` (ticks from the entry)? Accepted: {}; {}",
                STOP_LOSS.accepted, TAKE_PROFIT.accepted
            );
        }
    };
    let what_leg = if std::ptr::eq(leg, &STOP_LOSS) { "stop loss" } else { "take profit" };
    let (field, what) = match unit_of(words, joined) {
        Some(Unit::Money) => {
            return format!(
                "{NOT_READ}: a {what_leg} in dollars goes in `{}` (for the whole order), in percent of the entry \
                 price in `{}`. Accepted: {}",
                leg.usd[0], leg.percent[0], leg.accepted
            );
        }
        Some(Unit::Ticks) => (leg.ticks, "ticks from the entry".to_owned()),
        Some(Unit::Points) => {
            (leg.object_amount.1, format!("points from the entry, sent as \"{}\": {{\"amount\": 10}}", leg.object))
        }
        Some(Unit::Price) => (leg.price, "a price level".to_owned()),
        None => nearest(leg, joined),
    };
    format!(
        "{NOT_READ}, so the order would go out without the {what_leg} it asks for; did you mean `{field}` ({what})? \
         Accepted: {}",
        leg.accepted
    )
}

/// The leg's top-level name closest in spelling to `joined` (ties: ticks, price, short, object, in that order).
fn nearest(leg: &Leg, joined: &str) -> (&'static str, String) {
    let candidates = [
        (leg.ticks, "ticks from the entry".to_owned()),
        (leg.price, "a price level".to_owned()),
        (leg.short, "a price level".to_owned()),
        (leg.object, format!("an object with `{}` (a price) or `amount` (points)", leg.object_price.0)),
    ];
    candidates.into_iter().min_by_key(|(name, _)| edit_distance(joined, &joined_name(name))).expect("four candidates")
}

/// A name as [`words`] joins it (`stop_loss_ticks` → `stoplossticks`).
fn joined_name(name: &str) -> String {
    words(name).concat()
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of neighbours each cost 1.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::{edit_distance, words};

    #[test]
    fn words_split_at_separators_case_changes_and_digits() {
        let split = |s: &str| words(s).join(" ");
        assert_eq!(split("StopLoss_Ticks"), "stop loss ticks");
        assert_eq!(split("SLTicks"), "sl ticks");
        assert_eq!(split("tp1"), "tp 1");
        assert_eq!(split("stop-loss ticks."), "stop loss ticks");
        assert_eq!(split("stoploss"), "stoploss");
        assert_eq!(split("TP"), "tp");
        assert_eq!(split("signalPrice"), "signal price");
        assert_eq!(split(""), "");
    }

    #[test]
    fn edit_distance_counts_swaps_as_one() {
        assert_eq!(edit_distance("takeprofti", "takeprofit"), 1);
        assert_eq!(edit_distance("stoplos", "stoploss"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", "abc"), 0);
    }
}
