//! Typed readers for JSON field values, and the rule that aliases must agree.
//!
//! TradingView fills placeholders as text, so every number may arrive as a string (`"quantity": "1"`); numbers are
//! read from their JSON text (serde_json's `arbitrary_precision` keeps it) straight into `Decimal`, never via `f64`.
//! Readers return `Ok(None)` for "not given" (`null`, `""`), so templates with blank optional fields still work.

use std::str::FromStr;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Map, Value};

use super::SignalError;

/// A JSON object as parsed.
pub(super) type Object = Map<String, Value>;

/// Keeps the first value offered under one of several aliases and rejects a later one that differs.
#[derive(Debug)]
pub(super) struct Agreed<'a, T> {
    first: Option<(&'static str, &'a Value, T)>,
}

impl<'a, T: PartialEq> Agreed<'a, T> {
    pub(super) fn new() -> Self {
        Self { first: None }
    }

    /// Offers the parsed `value` of `field` (`raw` is its JSON, for the conflict message); `None` is ignored.
    pub(super) fn offer(&mut self, field: &'static str, raw: &'a Value, value: Option<T>) -> Result<(), SignalError> {
        let Some(value) = value else { return Ok(()) };
        match &self.first {
            None => self.first = Some((field, raw, value)),
            Some((first, first_raw, kept)) if *kept != value => {
                return Err(SignalError::new(
                    *first,
                    format!(
                        "`{first}` ({}) and `{field}` ({}) disagree; send only one of them",
                        describe(first_raw),
                        describe(raw)
                    ),
                ));
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// The agreed value and the first field that gave it.
    pub(super) fn get(self) -> Option<(&'static str, T)> {
        self.first.map(|(field, _, value)| (field, value))
    }
}

/// Reads every alias present in `obj` with `read` and returns the agreed value, if any.
pub(super) fn pick<'a, T: PartialEq>(
    obj: &'a Object,
    aliases: &[&'static str],
    read: impl Fn(&'static str, &'a Value) -> Result<Option<T>, SignalError>,
) -> Result<Option<(&'static str, T)>, SignalError> {
    let mut agreed = Agreed::new();
    for &field in aliases {
        if let Some(raw) = obj.get(field) {
            agreed.offer(field, raw, read(field, raw)?)?;
        }
    }
    Ok(agreed.get())
}

/// A short, quoted rendering of a value for error messages (never used for secret fields).
pub(super) fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => {
            let mut shown: String = s.chars().take(40).collect();
            if shown.len() < s.len() {
                shown.push('…');
            }
            format!("{shown:?}")
        }
        Value::Number(n) => n.as_str().to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_owned(),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// Text of a string or number value, trimmed; `None` for `null` and blank strings. Rejects unfilled
/// TradingView placeholders and non-scalar values.
pub(super) fn text<'a>(field: &'static str, v: &'a Value) -> Result<Option<&'a str>, SignalError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(Some(n.as_str())),
        Value::String(s) => {
            let s = s.trim();
            if let Some(start) = s.find("{{") {
                let placeholder: String = s[start..].chars().take(60).collect();
                let hint = if placeholder.contains("strategy.") {
                    "; {{strategy.*}} placeholders are only filled in alerts created on a strategy, not on an \
                     indicator or a drawing: write the literal value instead"
                } else {
                    ""
                };
                return Err(SignalError::new(
                    field,
                    format!("the TradingView placeholder {placeholder} was not filled in{hint}"),
                ));
            }
            Ok((!s.is_empty()).then_some(s))
        }
        Value::Bool(_) | Value::Array(_) | Value::Object(_) => {
            Err(SignalError::new(field, format!("expected text or a number, got {}", describe(v))))
        }
    }
}

/// A decimal number given as a JSON number or a numeric string (`21000.25`, `"21000.25"`, `2.1e4`).
pub(super) fn decimal(field: &'static str, v: &Value) -> Result<Option<Decimal>, SignalError> {
    let Some(s) = text(field, v)? else { return Ok(None) };
    parse_decimal(s).map(Some).ok_or_else(|| {
        SignalError::new(field, format!("{} is not a number; expected e.g. 21000.25 or \"21000.25\"", describe(v)))
    })
}

/// Plain decimal grammar only (`-12.5`, `3`, `1e3`): rejects `0x10`, `1_000`, `1,5`, `NaN`, and anything
/// `Decimal` cannot hold exactly.
pub(super) fn parse_decimal(s: &str) -> Option<Decimal> {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.len() <= 3 && digits(e)
    });
    if int.len() + frac.len() == 0 || int.len() + frac.len() > 28 || !digits(int) || !digits(frac) || !exponent_ok {
        return None;
    }
    match exponent {
        None => Decimal::from_str(s).ok(),
        Some(_) => Decimal::from_scientific(s).ok(),
    }
}

/// A price or bracket amount: zero means "not given" (PickMyTrade sends `"sl": 0`, `"price": 0`), negative is
/// rejected.
pub(super) fn price(field: &'static str, v: &Value) -> Result<Option<Decimal>, SignalError> {
    match decimal(field, v)? {
        Some(p) if p.is_zero() => Ok(None),
        Some(p) if p < Decimal::ZERO => {
            Err(SignalError::new(field, format!("must be greater than 0 (or 0 for none), got {}", describe(v))))
        }
        other => Ok(other),
    }
}

/// A whole number ≥ `min` written as a number or numeric string (`2`, `"2"`, `"2.0"`), at most `max`.
pub(super) fn whole(
    field: &'static str,
    v: &Value,
    min: u32,
    max: u32,
    what: &str,
) -> Result<Option<u32>, SignalError> {
    let Some(s) = text(field, v)? else { return Ok(None) };
    let Some(d) = parse_decimal(s) else {
        return Err(SignalError::new(field, format!("{} is not a number; expected {what}", describe(v))));
    };
    match d.to_u32().filter(|n| d.is_integer() && (min..=max).contains(n)) {
        Some(n) => Ok(Some(n)),
        None => Err(SignalError::new(field, format!("{} is not allowed; expected {what}", describe(v)))),
    }
}

/// A short identifier (alert id, account): printable, at most `max` characters.
pub(super) fn identifier(field: &'static str, v: &Value, max: usize) -> Result<Option<String>, SignalError> {
    let Some(s) = text(field, v)? else { return Ok(None) };
    if s.chars().any(char::is_control) {
        return Err(SignalError::new(field, "contains control characters; expected printable text"));
    }
    if s.chars().count() > max {
        return Err(SignalError::new(field, format!("is longer than {max} characters")));
    }
    Ok(Some(s.to_owned()))
}

/// Serialises a `Decimal` as its exact text (the crate's serde feature would go through `f64`).
pub(super) fn decimal_text<S: serde::Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(d)
}
