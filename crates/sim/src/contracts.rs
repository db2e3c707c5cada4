//! The simulator's contract table (Nasdaq, S&P, the natural-gas / crude minis, gold) and which month of each
//! product trades on a given date, so a paper-mode simulator quotes today's front months while tests keep a fixed
//! set ([`default_contracts`], the December 2025 months).
//!
//! Month rules, per product family:
//! - Equity-index quarterlies (MNQ, ENQ = NQ, EP = ES, MES): listed months H/M/U/Z (Mar/Jun/Sep/Dec); trading
//!   terminates on the third Friday of the contract month (CME contract specs for the E-mini and Micro E-mini
//!   Nasdaq-100 and S&P 500: "Trading terminates at 9:30 a.m. ET on the 3rd Friday of the contract month"), and the
//!   front month rolls to the next quarter on the roll date, the Thursday eight days before that Friday (CME's
//!   equity-index roll convention: the second Thursday before expiry). Dec 2026: expiry 2026-12-18, roll
//!   2026-12-10, so Z26 is the front month up to 2026-12-09 and H27 from 2026-12-10.
//! - Energy minis (NQG natural gas, NQM crude), every calendar month listed: an **approximation**. The real
//!   contracts stop trading in the month before their contract month (Henry Hub: the 3rd-last business day; WTI
//!   crude: 3 business days before the 25th; the minis a day or so earlier). The simulator rolls on the 20th of the
//!   preceding month instead: before the 20th the front month is next month's contract, from the 20th the one after.
//! - Gold (GCE, MGC), listed months Feb/Apr/Jun/Aug/Oct/Dec (the active gold months): an **approximation** too.
//!   Traders leave a gold month before its first notice day (end of the preceding month); the simulator rolls on
//!   the 20th of the preceding month, as for the energy minis.
//!
//! Dates are calendar dates with no time of day or exchange time zone: a roll happens at the start of its date.

use chrono::{Datelike, Days, Month, NaiveDate, Weekday};
use rust_decimal::Decimal;

use crate::config::SimContract;

/// Which months of a product are listed and when each stops being the front month.
#[derive(Clone, Copy, Debug)]
enum Cycle {
    /// H/M/U/Z; rolls 8 days before the third Friday of the contract month.
    IndexQuarterly,
    /// Every month; rolls on the 20th of the preceding month (approximation).
    EnergyMonthly,
    /// Feb/Apr/Jun/Aug/Oct/Dec; rolls on the 20th of the preceding month (approximation).
    GoldBimonthly,
}

impl Cycle {
    fn lists(self, month: ContractMonth) -> bool {
        match self {
            Self::IndexQuarterly => month.month.is_multiple_of(3),
            Self::EnergyMonthly => true,
            Self::GoldBimonthly => month.month.is_multiple_of(2),
        }
    }

    /// The first date on which `month` is no longer the front month.
    fn roll_date(self, month: ContractMonth) -> NaiveDate {
        match self {
            Self::IndexQuarterly => {
                let expiry = NaiveDate::from_weekday_of_month_opt(month.year, month.month, Weekday::Fri, 3)
                    .expect("every month has a third Friday");
                expiry - Days::new(8)
            }
            Self::EnergyMonthly | Self::GoldBimonthly => {
                let before = month.previous();
                NaiveDate::from_ymd_opt(before.year, before.month, 20).expect("every month has a 20th")
            }
        }
    }

    /// The listed months from the front month on `date`, earliest first (an endless iterator).
    fn months_from(self, date: NaiveDate) -> impl Iterator<Item = ContractMonth> {
        // A contract's roll date is never after its contract month ends, so the search starts at date's month.
        let start = ContractMonth { year: date.year(), month: date.month() };
        std::iter::successors(Some(start), |m| Some(m.next()))
            .filter(move |&m| self.lists(m))
            .skip_while(move |&m| self.roll_date(m) <= date)
    }
}

/// A contract month: a year and a calendar month (1-12).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ContractMonth {
    year: i32,
    month: u32,
}

impl ContractMonth {
    fn next(self) -> Self {
        match self.month {
            12 => Self { year: self.year + 1, month: 1 },
            m => Self { year: self.year, month: m + 1 },
        }
    }

    fn previous(self) -> Self {
        match self.month {
            1 => Self { year: self.year - 1, month: 12 },
            m => Self { year: self.year, month: m - 1 },
        }
    }

    /// CME month code: F G H J K M N Q U V X Z for January to December.
    fn letter(self) -> char {
        char::from(b"FGHJKMNQUVXZ"[self.month as usize - 1])
    }

    /// `December 2026`.
    fn describe(self) -> String {
        let name = u8::try_from(self.month).ok().and_then(|m| Month::try_from(m).ok()).expect("a month is 1-12");
        format!("{} {}", name.name(), self.year)
    }
}

/// One product of the table.
struct Product {
    /// The gateway's root, in ids and `symbolId` (`CON.F.US.<root>.Z26`, `F.US.<root>`).
    root: &'static str,
    /// The CME root, in names (`NQZ6` for root ENQ).
    cme: &'static str,
    /// Description before the month (`E-mini NASDAQ-100: December 2026`).
    title: &'static str,
    tick: &'static str,
    value: &'static str,
    cycle: Cycle,
}

/// A row of the contract list: a product, which listed month (0 = front, 1 = the next one) and its starting price.
/// Only front months are active; MNQ's next quarter is listed inactive, as the gateway lists it before the roll.
type Row = (&'static Product, usize, &'static str);

const MNQ: Product = product("MNQ", "MNQ", "Micro E-mini Nasdaq-100", "0.25", "0.5", Cycle::IndexQuarterly);
const ENQ: Product = product("ENQ", "NQ", "E-mini NASDAQ-100", "0.25", "5", Cycle::IndexQuarterly);
const EP: Product = product("EP", "ES", "E-Mini S&P 500", "0.25", "12.5", Cycle::IndexQuarterly);
const MES: Product = product("MES", "MES", "Micro E-mini S&P 500", "0.25", "1.25", Cycle::IndexQuarterly);
const NQG: Product = product("NQG", "NQG", "E-mini Natural Gas", "0.005", "12.5", Cycle::EnergyMonthly);
const NQM: Product = product("NQM", "NQM", "E-mini Crude Oil", "0.025", "12.5", Cycle::EnergyMonthly);
const GCE: Product = product("GCE", "GC", "Gold", "0.1", "10", Cycle::GoldBimonthly);
const MGC: Product = product("MGC", "MGC", "Micro Gold", "0.1", "1", Cycle::GoldBimonthly);

/// The list, in this order (tests rely on `[0]` being MNQ's front month). NQG and NQM are there because their ids
/// and names contain "NQ": a search for `NQ` returns more than Nasdaq, as the real gateway's does.
const ROWS: &[Row] = &[
    (&MNQ, 0, "21000.25"),
    (&MNQ, 1, "21180.5"),
    (&ENQ, 0, "21000.25"),
    (&EP, 0, "6335.25"),
    (&MES, 0, "6335.25"),
    (&NQG, 0, "3.105"),
    (&NQM, 0, "62.475"),
    (&GCE, 0, "3350.4"),
    (&MGC, 0, "3350.4"),
];

const fn product(
    root: &'static str,
    cme: &'static str,
    title: &'static str,
    tick: &'static str,
    value: &'static str,
    cycle: Cycle,
) -> Product {
    Product { root, cme, title, tick, value, cycle }
}

/// The date whose months [`default_contracts`] lists: every product's December 2025 contract (and MNQ March 2026).
const FIXED_DATE: (i32, u32, u32) = (2025, 11, 14);

/// The contracts trading on `date` (see the module docs for the month rules), nine of them in a fixed order:
/// MNQ front month (active), MNQ next quarter (inactive), ENQ, EP, MES, NQG, NQM, GCE, MGC front months (active).
/// Ids, names and descriptions follow the month; tick sizes, tick values, `symbolId`s and starting prices don't.
/// E.g. on 2026-11-29 the first is `CON.F.US.MNQ.Z26`, `MNQZ6`, "Micro E-mini Nasdaq-100: December 2026".
pub fn contracts_on(date: NaiveDate) -> Vec<SimContract> {
    let decimal = |text: &str| text.parse::<Decimal>().expect("the contract table holds valid decimals");
    ROWS.iter()
        .map(|&(product, nth, price)| {
            let month = product.cycle.months_from(date).nth(nth).expect("listed months never run out");
            let (letter, year) = (month.letter(), month.year);
            SimContract {
                id: format!("CON.F.US.{}.{letter}{:02}", product.root, year.rem_euclid(100)),
                name: format!("{}{letter}{}", product.cme, year.rem_euclid(10)),
                description: format!("{}: {}", product.title, month.describe()),
                tick_size: decimal(product.tick),
                tick_value: decimal(product.value),
                active: nth == 0,
                symbol_id: format!("F.US.{}", product.root),
                price: decimal(price),
            }
        })
        .collect()
}

/// The fixed contract set tests rely on: [`contracts_on`] 2025-11-14, i.e. `CON.F.US.MNQ.Z25` (`MNQZ5`, "Micro
/// E-mini Nasdaq-100: December 2025") active, `CON.F.US.MNQ.H26` inactive, and the December 2025 contract of
/// ENQ, EP, MES, NQG, NQM, GCE and MGC. It never changes with the clock; paper mode uses `SimConfig::today`.
pub fn default_contracts() -> Vec<SimContract> {
    let (y, m, d) = FIXED_DATE;
    contracts_on(NaiveDate::from_ymd_opt(y, m, d).expect("FIXED_DATE is a valid date"))
}

#[cfg(test)]
mod tests;
