//! Fast paths for the two kinds of text every `GatewayQuote` carries: JSON number text into an exact
//! [`Decimal`], and the gateway's RFC 3339 timestamps into `DateTime<Utc>`.
//!
//! Each returns `None` for anything outside its narrow, common form; the caller then uses the general parser
//! (`rust_decimal` through serde, chrono's `FromStr`), so results are always exactly what the general parser gives.
//! The unit tests compare the two on edge cases.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc};
use rust_decimal::Decimal;

/// Most digits handled here: 19 always fit a `u64` mantissa (and a scale of at most 19 is within `Decimal`'s 28).
const MAX_DIGITS: usize = 19;

/// JSON number text of the form `-?digits(.digits)?` with at most 19 digits in all, as the mantissa and scale of a
/// `Decimal` (`21000.000000000` keeps its scale 9, as `Decimal::from_str` does). `None` for exponents, longer
/// mantissas, negative zero, and anything malformed. Takes bytes: the form is ASCII.
pub(super) fn decimal(bytes: &[u8]) -> Option<Decimal> {
    let (negative, digits) = match bytes.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, bytes),
    };
    let mut mantissa: u64 = 0;
    let mut count = 0usize;
    let mut scale: Option<u32> = None;
    for &b in digits {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                count += 1;
                if count > MAX_DIGITS {
                    return None;
                }
                if let Some(s) = scale.as_mut() {
                    *s += 1;
                }
            }
            b'.' if scale.is_none() && count > 0 => scale = Some(0),
            _ => return None,
        }
    }
    // At least one digit on each side of a point; "-0" keeps its sign in the general parser: leave it there.
    if count == 0 || scale == Some(0) || (negative && mantissa == 0) {
        return None;
    }
    let scale = scale.unwrap_or(0);
    // `count <= 19` so `mantissa < 10^19 < 2^64`; the high word is always zero.
    Some(Decimal::from_parts(mantissa as u32, (mantissa >> 32) as u32, 0, negative, scale))
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)`, the forms the gateway writes (`2026-11-22T21:00:01.268009+00:00`,
/// `2026-11-22T21:00:01.2Z`). `None` for anything else (other separators, leap seconds, more than 9 fraction
/// digits, out-of-range fields), left to chrono. Takes bytes: the form is ASCII, so no UTF-8 check is needed.
pub(super) fn timestamp(b: &[u8]) -> Option<DateTime<Utc>> {
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let date = NaiveDate::from_ymd_opt(year as i32, digits(&b[5..7])?, digits(&b[8..10])?)?;
    let (hour, minute, second) = (digits(&b[11..13])?, digits(&b[14..16])?, digits(&b[17..19])?);
    let mut rest = &b[19..];
    let mut nanos = 0u32;
    if let Some((b'.', frac)) = rest.split_first() {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        nanos = digits(&frac[..n])? * 10u32.pow(9 - n as u32);
        rest = &frac[n..];
    }
    if second > 59 {
        return None;
    }
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    let local = NaiveDateTime::new(date, time);
    let offset_secs = match rest {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (h, m) = (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?);
            if h > 23 || m > 59 {
                return None;
            }
            let secs = i64::from(h * 3600 + m * 60);
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    let utc = local.checked_sub_signed(TimeDelta::seconds(offset_secs))?;
    Some(DateTime::from_naive_utc_and_offset(utc, Utc))
}

/// ASCII digits as a number (at most 9 of them).
fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |n, c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the quote decoder did before the fast path: `Decimal` through serde from the JSON text.
    fn general_decimal(text: &str) -> Option<Decimal> {
        serde_json::from_str(text).ok()
    }

    /// Same value, same scale, same sign: the 16-byte representation.
    fn identical(a: Decimal, b: Decimal) -> bool {
        a.serialize() == b.serialize()
    }

    #[test]
    fn decimal_text_parses_exactly_as_the_general_parser() {
        let cases = [
            "21000.25",
            "21000.000000000",
            "21000",
            "0",
            "0.5",
            "0.000000001",
            "-12.75",
            "-5",
            "-0.06",
            "1200",
            "20990.0",
            "1.5000",
            "9999999999999999999",  // 19 digits: the largest fast mantissa
            "999999999.9999999999", // 19 digits, scale 10
            "-9999999999999999999",
            "1844674407370955161",
        ];
        for text in cases {
            let fast = decimal(text.as_bytes()).unwrap_or_else(|| panic!("{text} should take the fast path"));
            let general = general_decimal(text).unwrap();
            assert!(identical(fast, general), "{text}: fast {fast:?} vs general {general:?}");
            assert_eq!(fast.to_string(), general.to_string(), "{text}");
        }
        assert_eq!(decimal(b"21000.000000000").unwrap().scale(), 9, "trailing zeros keep their scale");
        assert!(decimal(b"-12.75").unwrap().is_sign_negative());
    }

    #[test]
    fn unusual_decimal_text_falls_back_to_the_general_parser() {
        for text in [
            "1e3",
            "1.5E-2",
            "-2.5e+1",
            "-0",
            "-0.000",
            "12345678901234567890",   // 20 digits
            "0.12345678901234567890", // 21 digits
            "1.",
            ".5",
            "-",
            "",
            "\"21000.25\"",
            "1.2.3",
            "+1",
            "null",
        ] {
            assert_eq!(decimal(text.as_bytes()), None, "{text} must be left to the general parser");
        }
        // Those the general parser accepts still come out exact through it.
        assert_eq!(general_decimal("1e3").unwrap(), Decimal::from(1000));
        assert_eq!(general_decimal("12345678901234567890").unwrap().to_string(), "12345678901234567890");
    }

    /// What chrono's serde does with the string.
    fn general_time(text: &str) -> Option<DateTime<Utc>> {
        text.parse::<DateTime<Utc>>().ok()
    }

    #[test]
    fn gateway_timestamps_parse_exactly_as_chrono() {
        for text in [
            "2026-11-22T21:00:01.268009+00:00",
            "2026-11-22T21:00:01.2Z",
            "2026-11-22T21:00:01Z",
            "2026-11-22T21:00:01+00:00",
            "2026-11-22T16:00:01.123456789-05:00",
            "2026-11-23T02:30:00.5+05:30",
            "2026-01-01T00:30:00+01:00", // crosses back into the previous year in UTC
            "2024-02-29T23:59:59.999999999Z",
            "2025-07-18T21:00:01.268009+00:00",
        ] {
            let fast = timestamp(text.as_bytes()).unwrap_or_else(|| panic!("{text} should take the fast path"));
            assert_eq!(Some(fast), general_time(text), "{text}");
        }
    }

    #[test]
    fn other_timestamp_forms_fall_back_to_chrono() {
        for text in [
            "2026-11-22 21:00:01Z",            // space separator: chrono accepts it
            "2026-11-22t21:00:01z",            // lower case
            "2026-11-22T21:00:01.1234567891Z", // 10 fraction digits
            "2016-12-31T23:59:60Z",            // leap second
            "2026-11-22T21:00:01+0000",        // offset without a colon
            "2026-11-22T21:00:01",             // no offset
            "2026-02-30T21:00:01Z",            // no such day
            "2026-11-22T24:00:00Z",            // no such hour
            "2026-11-22T21:00:01.Z",           // empty fraction
            "+12026-11-22T21:00:01Z",          // extended year
            "2026-11-22T21:00:01+24:00",       // offset out of range
        ] {
            assert_eq!(timestamp(text.as_bytes()), None, "{text} must be left to chrono");
        }
        // Whatever chrono makes of them is what the decoder keeps.
        assert!(general_time("2026-11-22 21:00:01Z").is_some());
        assert!(general_time("2026-02-30T21:00:01Z").is_none());
    }
}
