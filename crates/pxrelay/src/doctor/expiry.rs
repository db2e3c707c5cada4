//! A contract's expiry, estimated from its id: `CON.F.US.MNQ.Z26` is December 2026, and the equity-index futures
//! pxrelay trades stop on the third Friday of their month (CME rule; other products stop a few days earlier or
//! later, so the doctor only uses this to warn ahead of a roll).

use chrono::{NaiveDate, Weekday};

/// CME futures month codes, January to December.
const MONTHS: &str = "FGHJKMNQUVXZ";

/// The (year, month) of a contract id whose last segment is a month code and a two-digit year (`Z26` → 2026, 12);
/// `None` for any other shape.
pub fn contract_month(contract_id: &str) -> Option<(i32, u32)> {
    let last = contract_id.rsplit('.').next()?;
    let mut chars = last.chars();
    let code = chars.next()?.to_ascii_uppercase();
    let month = MONTHS.find(code)? as u32 + 1;
    let digits = chars.as_str();
    if digits.len() != 2 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((2000 + digits.parse::<i32>().ok()?, month))
}

/// The third Friday of `month` in `year`.
pub fn third_friday(year: i32, month: u32) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Fri, 3)
}

/// The estimated expiry date of `contract_id` (third Friday of its month), if the id names a month.
pub fn expiry(contract_id: &str) -> Option<NaiveDate> {
    contract_month(contract_id).and_then(|(y, m)| third_friday(y, m))
}

/// Days from `today` to the estimated expiry of `contract_id` (negative once past).
pub fn days_left(contract_id: &str, today: NaiveDate) -> Option<i64> {
    expiry(contract_id).map(|e| (e - today).num_days())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]
mod tests {
    use super::*;

    #[test]
    fn month_codes_and_years_are_read_from_the_last_segment() {
        assert_eq!(contract_month("CON.F.US.MNQ.Z26"), Some((2026, 12)));
        assert_eq!(contract_month("CON.F.US.EP.H27"), Some((2027, 3)));
        assert_eq!(contract_month("CON.F.US.MNQ"), None);
        assert_eq!(contract_month("CON.F.US.MNQ.Z6"), None);
        assert_eq!(contract_month("CON.F.US.MNQ.A26"), None);
    }

    #[test]
    fn expiry_is_the_third_friday() {
        // December 2026: the 1st is a Tuesday, so Fridays are the 4th, 11th and 18th.
        assert_eq!(expiry("CON.F.US.MNQ.Z26"), NaiveDate::from_ymd_opt(2026, 12, 18));
        // March 2027: the 1st is a Monday → 5th, 12th, 19th.
        assert_eq!(expiry("CON.F.US.MNQ.H27"), NaiveDate::from_ymd_opt(2027, 3, 19));
        let today = NaiveDate::from_ymd_opt(2026, 12, 11).unwrap();
        assert_eq!(days_left("CON.F.US.MNQ.Z26", today), Some(7));
        assert_eq!(days_left("CON.F.US.MNQ.Z25", today), Some(-357));
    }
}
