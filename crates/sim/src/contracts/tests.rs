//! The month rules against hand-computed calendars (third Fridays checked with `date`, e.g. Dec 2026 starts on a
//! Tuesday: third Friday the 18th, roll the 10th).
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use super::*;

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

/// (id, name, description, active) of every contract listed on `date`.
fn listed(date: &str) -> Vec<(String, String, String, bool)> {
    contracts_on(day(date)).into_iter().map(|c| (c.id, c.name, c.description, c.active)).collect()
}

fn contract<'a>(list: &'a [(String, String, String, bool)], id: &str) -> &'a (String, String, String, bool) {
    list.iter().find(|c| c.0 == id).unwrap_or_else(|| panic!("{id} not listed in {list:#?}"))
}

/// MNQ front month and next quarter (ids) on a date.
fn mnq(date: &str) -> (String, String) {
    let list = contracts_on(day(date));
    assert!(list[0].active && !list[1].active);
    (list[0].id.clone(), list[1].id.clone())
}

fn pair(front: &str, next: &str) -> (String, String) {
    (front.to_owned(), next.to_owned())
}

#[test]
fn on_2026_11_29_mnq_trades_december_2026_and_lists_march_2027_inactive() {
    let list = listed("2026-11-29");
    let row = |id: &str, name: &str, description: &str, active: bool| {
        (id.to_owned(), name.to_owned(), description.to_owned(), active)
    };
    assert_eq!(list[0], row("CON.F.US.MNQ.Z26", "MNQZ6", "Micro E-mini Nasdaq-100: December 2026", true));
    assert_eq!(list[1], row("CON.F.US.MNQ.H27", "MNQH7", "Micro E-mini Nasdaq-100: March 2027", false));
    assert_eq!(list[2], row("CON.F.US.ENQ.Z26", "NQZ6", "E-mini NASDAQ-100: December 2026", true));
    assert_eq!(list[3], row("CON.F.US.EP.Z26", "ESZ6", "E-Mini S&P 500: December 2026", true));
    assert_eq!(list[4], row("CON.F.US.MES.Z26", "MESZ6", "Micro E-mini S&P 500: December 2026", true));
    // Energy: past the 20th of November, so the month after December.
    assert_eq!(list[5], row("CON.F.US.NQG.F27", "NQGF7", "E-mini Natural Gas: January 2027", true));
    assert_eq!(list[6], row("CON.F.US.NQM.F27", "NQMF7", "E-mini Crude Oil: January 2027", true));
    // Gold: December rolled on 2026-11-20; the next gold month is February.
    assert_eq!(list[7], row("CON.F.US.GCE.G27", "GCG7", "Gold: February 2027", true));
    assert_eq!(list[8], row("CON.F.US.MGC.G27", "MGCG7", "Micro Gold: February 2027", true));
}

#[test]
fn the_index_front_month_rolls_eight_days_before_the_third_friday() {
    // Dec 2026: third Friday 2026-12-18, roll 2026-12-10.
    assert_eq!(mnq("2026-12-09"), pair("CON.F.US.MNQ.Z26", "CON.F.US.MNQ.H27"));
    assert_eq!(mnq("2026-12-10"), pair("CON.F.US.MNQ.H27", "CON.F.US.MNQ.M27"));
    assert_eq!(mnq("2026-12-18"), pair("CON.F.US.MNQ.H27", "CON.F.US.MNQ.M27"));
    // Mar 2027: third Friday 2027-03-19, roll 2027-03-11.
    assert_eq!(mnq("2027-03-10"), pair("CON.F.US.MNQ.H27", "CON.F.US.MNQ.M27"));
    assert_eq!(mnq("2027-03-11"), pair("CON.F.US.MNQ.M27", "CON.F.US.MNQ.U27"));
    // The day after a quarter's roll, every index product is on the same new month.
    let list = listed("2026-12-10");
    for id in ["CON.F.US.ENQ.H27", "CON.F.US.EP.H27", "CON.F.US.MES.H27"] {
        assert!(contract(&list, id).3, "{id} active");
    }
}

#[test]
fn the_roll_crosses_year_and_decade_boundaries() {
    // Dec 2027: third Friday 2027-12-17, roll 2027-12-09.
    assert_eq!(mnq("2027-12-08"), pair("CON.F.US.MNQ.Z27", "CON.F.US.MNQ.H28"));
    assert_eq!(mnq("2027-12-09"), pair("CON.F.US.MNQ.H28", "CON.F.US.MNQ.M28"));
    assert_eq!(mnq("2028-01-01"), pair("CON.F.US.MNQ.H28", "CON.F.US.MNQ.M28"));
    // Dec 2029: third Friday 2029-12-21, roll 2029-12-13; the 1-digit name year wraps to 0.
    let list = listed("2029-12-13");
    assert_eq!(list[0].0, "CON.F.US.MNQ.H30");
    assert_eq!(list[0].1, "MNQH0");
    assert_eq!(list[0].2, "Micro E-mini Nasdaq-100: March 2030");
    assert_eq!(list[1].1, "MNQM0");
}

#[test]
fn energy_and_gold_roll_on_the_twentieth_of_the_preceding_month() {
    let before = listed("2026-11-19");
    assert_eq!(contract(&before, "CON.F.US.NQG.Z26").2, "E-mini Natural Gas: December 2026");
    assert_eq!(contract(&before, "CON.F.US.NQM.Z26").1, "NQMZ6");
    assert_eq!(contract(&before, "CON.F.US.GCE.Z26").1, "GCZ6");
    assert_eq!(contract(&before, "CON.F.US.MGC.Z26").2, "Micro Gold: December 2026");
    let on = listed("2026-11-20");
    contract(&on, "CON.F.US.NQG.F27");
    contract(&on, "CON.F.US.GCE.G27");
    // Across the year end: January 2027 rolls on 2026-12-20; February's gold month holds until 2027-01-20.
    let on = listed("2026-12-20");
    assert_eq!(contract(&on, "CON.F.US.NQG.G27").2, "E-mini Natural Gas: February 2027");
    assert_eq!(contract(&on, "CON.F.US.MGC.G27").1, "MGCG7");
    let on = listed("2027-01-20");
    contract(&on, "CON.F.US.NQM.H27");
    assert_eq!(contract(&on, "CON.F.US.GCE.J27").2, "Gold: April 2027");
}

#[test]
fn default_contracts_are_the_fixed_december_2025_set() {
    let expected = [
        ("CON.F.US.MNQ.Z25", "MNQZ5", "Micro E-mini Nasdaq-100: December 2025", "0.25", "0.5", true, "21000.25"),
        ("CON.F.US.MNQ.H26", "MNQH6", "Micro E-mini Nasdaq-100: March 2026", "0.25", "0.5", false, "21180.5"),
        ("CON.F.US.ENQ.Z25", "NQZ5", "E-mini NASDAQ-100: December 2025", "0.25", "5", true, "21000.25"),
        ("CON.F.US.EP.Z25", "ESZ5", "E-Mini S&P 500: December 2025", "0.25", "12.5", true, "6335.25"),
        ("CON.F.US.MES.Z25", "MESZ5", "Micro E-mini S&P 500: December 2025", "0.25", "1.25", true, "6335.25"),
        ("CON.F.US.NQG.Z25", "NQGZ5", "E-mini Natural Gas: December 2025", "0.005", "12.5", true, "3.105"),
        ("CON.F.US.NQM.Z25", "NQMZ5", "E-mini Crude Oil: December 2025", "0.025", "12.5", true, "62.475"),
        ("CON.F.US.GCE.Z25", "GCZ5", "Gold: December 2025", "0.1", "10", true, "3350.4"),
        ("CON.F.US.MGC.Z25", "MGCZ5", "Micro Gold: December 2025", "0.1", "1", true, "3350.4"),
    ];
    let actual = default_contracts();
    assert_eq!(actual.len(), expected.len());
    for (c, (id, name, description, tick, value, active, price)) in actual.iter().zip(expected) {
        assert_eq!((c.id.as_str(), c.name.as_str(), c.description.as_str()), (id, name, description));
        assert_eq!((c.tick_size.to_string(), c.tick_value.to_string()), (tick.to_owned(), value.to_owned()), "{id}");
        assert_eq!((c.active, c.price.to_string()), (active, price.to_owned()), "{id}");
        let root = id.split('.').nth(3).unwrap();
        assert_eq!(c.symbol_id, format!("F.US.{root}"));
    }
}

#[test]
fn only_months_change_with_the_date() {
    let fixed = default_contracts();
    let today = contracts_on(day("2026-11-29"));
    for (a, b) in fixed.iter().zip(&today) {
        assert_ne!(a.id, b.id);
        assert_eq!(
            (&a.tick_size, &a.tick_value, a.active, &a.symbol_id, &a.price),
            (&b.tick_size, &b.tick_value, b.active, &b.symbol_id, &b.price)
        );
    }
}

#[test]
fn sim_config_on_a_date_lists_that_dates_months() {
    let cfg = crate::SimConfig::on(day("2026-12-10"));
    assert_eq!(cfg.contracts, contracts_on(day("2026-12-10")));
    assert_eq!(cfg.contracts[0].id, "CON.F.US.MNQ.H27");
    assert_eq!(crate::SimConfig::default().contracts, default_contracts());
    let today = chrono::Utc::now().date_naive();
    let cfg = crate::SimConfig::today();
    // The date may change between the two calls only at midnight UTC; either day's set is right.
    let after = chrono::Utc::now().date_naive();
    assert!(cfg.contracts == contracts_on(today) || cfg.contracts == contracts_on(after));
}
