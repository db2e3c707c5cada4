//! Pure symbol parsing: turns what a user or a TradingView alert writes (`MNQ`, `CME_MINI:NQ1!`, `ESZ5`,
//! `CON.F.US.MNQ.Z25`) into a [`SymbolRef`] that names a ProjectX product root, month or contract id. No I/O, so
//! every rule is unit-tested here; the resolver in the parent module does the gateway look-ups.

use chrono::Datelike;

use super::ResolveError;

/// Longest accepted input, after trimming (a TradingView ticker with its exchange prefix fits easily).
const MAX_LEN: usize = 32;
/// Longest accepted product root (`MCLE` is the longest known one).
const MAX_ROOT: usize = 6;
/// CME futures month codes, January to December.
const MONTHS: &str = "FGHJKMNQUVXZ";

/// CME root → ProjectX root, for the products whose roots differ (gateway reference §8).
const CME_TO_PROJECTX: &[(&str, &str)] = &[
    ("ES", "EP"),
    ("NQ", "ENQ"),
    ("GC", "GCE"),
    ("SI", "SIE"),
    ("NG", "NGE"),
    ("HG", "CPE"),
    ("MCL", "MCLE"),
    ("6A", "DA6"),
    ("6B", "BP6"),
    ("6C", "CA6"),
    ("6E", "EU6"),
    ("E7", "EEU"),
];

/// Roots that ProjectX spells like CME. Only consulted to read a known root as a root, never as root + month.
const SAME_ROOT: &[&str] = &["MNQ", "MES", "MGC", "YM", "MYM", "RTY", "M2K", "EMD", "CL"];

/// What a symbol names, with the root already translated to ProjectX's spelling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SymbolRef {
    /// A gateway contract id (`CON.F.US.MNQ.Z25`), looked up as is.
    ContractId {
        /// The id, uppercased.
        id: String,
    },
    /// A product: its active contract, or with `next` (TradingView `2!`) the first one expiring after it.
    Root {
        /// ProjectX root, e.g. `ENQ` for `NQ`.
        root: String,
        /// `true` for `…2!`: the contract after the active one.
        next: bool,
        /// The user's text (trimmed, shortened if very long), for messages.
        input: String,
    },
    /// One delivery month of a product (`MNQZ25`, `ESZ5`).
    Month {
        /// ProjectX root, e.g. `EP` for `ES`.
        root: String,
        /// Month code, one of `F G H J K M N Q U V X Z`.
        month: char,
        /// Full year, e.g. 2025.
        year: u16,
        /// The user's text (trimmed, shortened if very long), for messages.
        input: String,
    },
}

impl SymbolRef {
    /// The user's text (for a contract id: the id), for messages and logs.
    pub fn input(&self) -> &str {
        match self {
            Self::ContractId { id } => id,
            Self::Root { input, .. } | Self::Month { input, .. } => input,
        }
    }

    /// The gateway contract id this symbol names directly (`CON.F.US.<root>.<M><YY>` for a month), if any.
    pub fn contract_id(&self) -> Option<String> {
        match self {
            Self::ContractId { id } => Some(id.clone()),
            Self::Month { root, month, year, .. } => Some(format!("CON.F.US.{root}.{month}{:02}", year % 100)),
            Self::Root { .. } => None,
        }
    }

    /// Cache key: the contract id when there is one (so `MNQZ25` and `CON.F.US.MNQ.Z25` share an entry), else
    /// the product id (`F.US.MNQ`, `F.US.MNQ+1` for the next contract).
    pub(super) fn cache_key(&self) -> String {
        match self {
            Self::Root { root, next: false, .. } => format!("F.US.{root}"),
            Self::Root { root, next: true, .. } => format!("F.US.{root}+1"),
            _ => self.contract_id().unwrap_or_default(),
        }
    }
}

/// Parses a symbol, reading a one-digit year relative to the current UTC year.
///
/// Accepted forms (case-insensitive, surrounding spaces ignored, at most 32 characters):
/// - a root: `MNQ`, `NQ`, `ES`; CME roots are translated to ProjectX's (`NQ` → `ENQ`, `ES` → `EP`, …);
/// - a TradingView ticker: optional `EXCHANGE:` prefix and continuous suffix, `CME_MINI:MNQ1!` (the active
///   contract) or `MNQ2!` (the next contract after the active one); other `N!` suffixes are refused;
/// - a month code: root + month letter + year, `MNQZ25` (20YY), `MNQZ2025` (2000–2099, the same contract as
///   `MNQZ25`) or `MNQZ5`: a one-digit year is the year in [current − 2, current + 7] ending in that digit (in
///   2026: `Z5` = 2025, `Z4` = 2024, `Z3` = 2033);
/// - a contract id: `CON.F.US.MNQ.Z25`.
///
/// A known root is never read as root + month (`EU6` is Euro FX, not `E` + `U6`). `docs/tradingview.md` § "Symbol
/// forms" lists the same forms with examples; a unit test parses every example of that table.
pub fn parse_symbol(input: &str) -> Result<SymbolRef, ResolveError> {
    let year = u16::try_from(chrono::Utc::now().year()).unwrap_or(2026);
    parse_symbol_in(input, year)
}

/// [`parse_symbol`] with an explicit current year, so tests do not depend on the clock.
pub(super) fn parse_symbol_in(input: &str, current_year: u16) -> Result<SymbolRef, ResolveError> {
    let trimmed = input.trim();
    let invalid = |reason: &str| ResolveError::InvalidSymbol { input: shorten(trimmed), reason: reason.to_owned() };
    if trimmed.is_empty() {
        return Err(invalid("the symbol is empty"));
    }
    if trimmed.chars().count() > MAX_LEN {
        return Err(invalid("the symbol is longer than 32 characters"));
    }
    let text = trimmed.to_ascii_uppercase();
    if let Some(bad) = text.chars().find(|c| !(c.is_ascii_alphanumeric() || "._:!".contains(*c))) {
        return Err(invalid(&format!("unexpected character `{bad}`")));
    }
    if text.starts_with("CON.") {
        let well_formed =
            text.split('.').all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric()));
        return if well_formed {
            Ok(SymbolRef::ContractId { id: text })
        } else {
            Err(invalid("malformed contract id"))
        };
    }
    let body = match text.split_once(':') {
        Some((exchange, rest))
            if !exchange.is_empty() && exchange.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            rest
        }
        Some(_) => return Err(invalid("malformed exchange prefix")),
        None => &text,
    };
    if body.contains([':', '.', '_']) {
        return Err(invalid("only letters and digits may follow the exchange prefix"));
    }
    let input = shorten(trimmed);
    if let Some(front) = body.strip_suffix('!') {
        let (root, next) = match (front.strip_suffix('1'), front.strip_suffix('2')) {
            (Some(root), _) => (root, false),
            (_, Some(root)) => (root, true),
            _ => return Err(invalid("only the continuous suffixes `1!` (active) and `2!` (next) are supported")),
        };
        let month_like = !is_known_root(root) && split_month(root, current_year).is_some();
        if !is_root(root) || month_like {
            return Err(invalid("a continuous suffix must follow a product root, e.g. `MNQ1!`"));
        }
        return Ok(SymbolRef::Root { root: projectx_root(root).to_owned(), next, input });
    }
    if body.contains('!') {
        return Err(invalid("`!` may only end a continuous suffix such as `1!`"));
    }
    if is_known_root(body) {
        return Ok(SymbolRef::Root { root: projectx_root(body).to_owned(), next: false, input });
    }
    if let Some((root, month, year)) = split_month(body, current_year) {
        return Ok(SymbolRef::Month { root: projectx_root(root).to_owned(), month, year, input });
    }
    if is_root(body) {
        return Ok(SymbolRef::Root { root: projectx_root(body).to_owned(), next: false, input });
    }
    Err(invalid("not a product root, a month code or a contract id"))
}

/// Splits `MNQZ25` into (`MNQ`, `Z`, 2025); `None` unless the text is root + month letter + a year of 1, 2 or 4
/// digits (`MNQZ5`, `MNQZ25`, `MNQZ2025`; a four-digit year must lie in 2000..=2099, the years a contract id's
/// two-digit code can name).
fn split_month(body: &str, current_year: u16) -> Option<(&str, char, u16)> {
    let digits = body.bytes().rev().take_while(u8::is_ascii_digit).count();
    if !matches!(digits, 1 | 2 | 4) {
        return None;
    }
    let (head, year_text) = body.split_at(body.len() - digits);
    let month = head.chars().next_back().filter(|m| MONTHS.contains(*m))?;
    let root = &head[..head.len() - 1];
    if !is_root(root) {
        return None;
    }
    let value: u16 = year_text.parse().ok()?;
    let year = if digits == 4 {
        (2000..=2099).contains(&value).then_some(value)?
    } else if digits == 2 {
        2000 + value
    } else {
        // The one year in [current - 2, current + 7] whose last digit is `value`.
        let start = current_year.saturating_sub(2);
        start + (value + 10 - start % 10) % 10
    };
    Some((root, month, year))
}

/// 1 to 6 letters and digits, at least one letter.
fn is_root(text: &str) -> bool {
    (1..=MAX_ROOT).contains(&text.len())
        && text.chars().all(|c| c.is_ascii_alphanumeric())
        && text.chars().any(|c| c.is_ascii_alphabetic())
}

fn is_known_root(text: &str) -> bool {
    SAME_ROOT.contains(&text) || CME_TO_PROJECTX.iter().any(|(cme, px)| *cme == text || *px == text)
}

/// The ProjectX spelling of a root (unchanged when it is not a translated CME root).
fn projectx_root(root: &str) -> &str {
    CME_TO_PROJECTX.iter().find(|(cme, _)| *cme == root).map_or(root, |(_, px)| px)
}

/// The CME spelling of a translated ProjectX root (`ENQ` → `NQ`), used as a second search text.
pub(super) fn exchange_root(root: &str) -> Option<&'static str> {
    CME_TO_PROJECTX.iter().find(|(_, px)| *px == root).map(|(cme, _)| *cme)
}

/// (year, month index) of a contract id ending in `.<M><YY>`, to order contracts by expiry.
pub(super) fn expiry(contract_id: &str) -> Option<(u16, usize)> {
    let code = contract_id.rsplit('.').next()?;
    let mut chars = code.chars();
    let month = MONTHS.find(chars.next()?)?;
    let year: u16 = chars.as_str().parse().ok()?;
    Some((year, month))
}

/// The user's text for an error message, cut at 40 characters so a huge payload is not echoed back.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> SymbolRef {
        parse_symbol_in(text, 2026).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn root(text: &str) -> (String, bool) {
        match parse(text) {
            SymbolRef::Root { root, next, .. } => (root, next),
            other => panic!("{text} parsed as {other:?}"),
        }
    }

    fn month(text: &str) -> (String, char, u16) {
        match parse(text) {
            SymbolRef::Month { root, month, year, .. } => (root, month, year),
            other => panic!("{text} parsed as {other:?}"),
        }
    }

    fn reason(text: &str) -> String {
        match parse_symbol_in(text, 2026) {
            Err(ResolveError::InvalidSymbol { reason, .. }) => reason,
            other => panic!("{text} should be invalid, got {other:?}"),
        }
    }

    #[test]
    fn roots_and_tradingview_tickers_name_the_projectx_root() {
        for text in ["MNQ", "mnq", " MNQ ", "MNQ1!", "CME_MINI:MNQ1!", "cme_mini:mnq1!"] {
            assert_eq!(root(text), ("MNQ".to_owned(), false), "{text}");
        }
        assert_eq!(root("NQ"), ("ENQ".to_owned(), false));
        assert_eq!(root("CME:ES1!"), ("EP".to_owned(), false));
        assert_eq!(root("COMEX:GC1!"), ("GCE".to_owned(), false));
        assert_eq!(root("NYMEX:CL1!"), ("CL".to_owned(), false));
        assert_eq!(root("CME:6E1!"), ("EU6".to_owned(), false));
        assert_eq!(root("M2K1!"), ("M2K".to_owned(), false));
        assert_eq!(root("MCL"), ("MCLE".to_owned(), false));
        assert_eq!(root("MES"), ("MES".to_owned(), false), "MES is a root, not ME + S");
        assert_eq!(root("NQG"), ("NQG".to_owned(), false));
    }

    #[test]
    fn second_continuous_contract_means_the_next_one() {
        assert_eq!(root("MNQ2!"), ("MNQ".to_owned(), true));
        assert_eq!(root("CME_MINI:NQ2!"), ("ENQ".to_owned(), true));
        assert!(reason("MNQ3!").contains("`1!`"));
        assert!(reason("MNQZ51!").contains("product root"));
    }

    #[test]
    fn known_roots_are_not_read_as_root_plus_month() {
        assert_eq!(root("EU6"), ("EU6".to_owned(), false));
        assert_eq!(root("DA6"), ("DA6".to_owned(), false));
        assert_eq!(month("EU6Z5"), ("EU6".to_owned(), 'Z', 2025));
    }

    #[test]
    fn month_codes_take_two_digit_or_nearest_one_digit_years() {
        assert_eq!(month("MNQZ25"), ("MNQ".to_owned(), 'Z', 2025));
        assert_eq!(month("mnqz5"), ("MNQ".to_owned(), 'Z', 2025));
        assert_eq!(month("ESH6"), ("EP".to_owned(), 'H', 2026));
        assert_eq!(month("NQZ5"), ("ENQ".to_owned(), 'Z', 2025));
        assert_eq!(month("6EM7"), ("EU6".to_owned(), 'M', 2027));
        assert_eq!(month("CME_MINI:MNQH26"), ("MNQ".to_owned(), 'H', 2026));
        // Window [current - 2, current + 7].
        assert_eq!(month("MNQZ4").2, 2024);
        assert_eq!(month("MNQZ3").2, 2033);
        assert_eq!(
            parse_symbol_in("MNQZ5", 2028).map(|s| s.contract_id()).ok().flatten().as_deref(),
            Some("CON.F.US.MNQ.Z35")
        );
        assert_eq!(parse("MNQZ5").contract_id().as_deref(), Some("CON.F.US.MNQ.Z25"));
        assert_eq!(parse("ESZ25").contract_id().as_deref(), Some("CON.F.US.EP.Z25"));
    }

    #[test]
    fn four_digit_years_name_the_same_contract_as_two_digit_ones() {
        assert_eq!(month("MNQZ2025"), ("MNQ".to_owned(), 'Z', 2025));
        assert_eq!(month("cme_mini:mnqz2025"), ("MNQ".to_owned(), 'Z', 2025));
        assert_eq!(month("NQH2026"), ("ENQ".to_owned(), 'H', 2026));
        assert_eq!(month("6EM2027"), ("EU6".to_owned(), 'M', 2027));
        assert_eq!(parse("MNQZ2025").cache_key(), parse("MNQZ25").cache_key());
        assert_eq!(parse("MNQZ2025").contract_id().as_deref(), Some("CON.F.US.MNQ.Z25"));
        // The contract id keeps two digits, so only 2000..=2099 is unambiguous.
        for text in ["MNQZ1999", "MNQZ2100", "MNQZ20251", "MNQZ20255!"] {
            assert!(parse_symbol_in(text, 2026).is_err(), "{text}");
        }
    }

    /// The rows of the table under `### Symbol forms` in `docs/tradingview.md`: (example, root, contract), with
    /// backticks removed (`—` for no root; `active`/`next` or a contract id).
    fn documented_forms() -> Vec<(String, String, String)> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/tradingview.md");
        let doc = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let (_, section) = doc.split_once("### Symbol forms").expect("docs/tradingview.md has a Symbol forms section");
        let rows: Vec<_> = section
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .skip(2)
            .map(|l| {
                let cells: Vec<String> = l.split('|').map(|c| c.trim().replace('`', "")).collect();
                (cells[1].clone(), cells[3].clone(), cells[4].clone())
            })
            .collect();
        assert!(rows.len() >= 8, "{rows:?}");
        rows
    }

    #[test]
    fn every_documented_symbol_form_parses_as_documented() {
        let mut failures = Vec::new();
        let mut forms = std::collections::BTreeSet::new();
        for (example, root_cell, contract) in documented_forms() {
            let got = parse_symbol_in(&example, 2026);
            let fine = match (&got, contract.as_str()) {
                (Ok(SymbolRef::Root { root, next, .. }), "active" | "next") => {
                    forms.insert("root");
                    *root == root_cell && *next == (contract == "next")
                }
                (Ok(SymbolRef::Month { root, .. }), id) => {
                    forms.insert("month");
                    *root == root_cell && got.as_ref().ok().and_then(SymbolRef::contract_id).as_deref() == Some(id)
                }
                (Ok(SymbolRef::ContractId { id: got_id }), id) => {
                    forms.insert("contract id");
                    root_cell == "—" && got_id == id
                }
                _ => false,
            };
            if !fine {
                failures.push(format!("{example}: documented root {root_cell}, contract {contract}; parsed {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert_eq!(forms.len(), 3, "the table shows every kind of form: {forms:?}");
    }

    #[test]
    fn contract_ids_pass_through_uppercased() {
        assert_eq!(parse("con.f.us.mnq.z25"), SymbolRef::ContractId { id: "CON.F.US.MNQ.Z25".into() });
        assert_eq!(parse("CON.F.US.MNQ.Z25").cache_key(), parse("MNQZ25").cache_key());
        assert!(reason("CON.F..MNQ").contains("contract id"));
    }

    #[test]
    fn garbage_is_rejected_with_a_reason() {
        assert!(reason("").contains("empty"));
        assert!(reason("   ").contains("empty"));
        assert!(reason(&"A".repeat(33)).contains("32"));
        assert!(reason("MNQ Z25").contains("` `"));
        assert!(reason("MN$Q").contains("`$`"));
        assert!(reason("ÄPFEL").contains("`Ä`"));
        assert!(reason(":MNQ").contains("exchange"));
        assert!(reason("A:B:C").contains("exchange"));
        assert!(reason("MNQ!1").contains("`!`"));
        assert!(reason("1234").contains("not a product root"));
        assert!(reason("MNQZ025").contains("not a product root"));
        assert!(reason("ABCDEFGH").contains("not a product root"));
    }

    #[test]
    fn invalid_symbol_message_names_the_accepted_forms() {
        let err = parse_symbol_in("??", 2026).unwrap_err();
        let text = err.to_string();
        for form in ["MNQ", "CME_MINI:MNQ1!", "MNQ2!", "MNQZ25", "CON.F.US.MNQ.Z25"] {
            assert!(text.contains(form), "{text} should mention {form}");
        }
        assert!(err.is_client_error());
    }

    #[test]
    fn long_input_is_shortened_in_errors() {
        let long = format!("{}$", "X".repeat(30));
        assert_eq!(shorten(&long), long);
        assert_eq!(shorten(&"Y".repeat(50)).chars().count(), 41);
    }

    #[test]
    fn expiry_orders_contract_ids() {
        assert_eq!(expiry("CON.F.US.MNQ.Z25"), Some((25, 11)));
        assert!(expiry("CON.F.US.MNQ.H26") > expiry("CON.F.US.MNQ.Z25"));
        assert_eq!(expiry("CON.F.US.MNQ"), None);
        assert_eq!(exchange_root("ENQ"), Some("NQ"));
        assert_eq!(exchange_root("MNQ"), None);
    }
}
