//! Which accounts an alert names: `account` (or `account_id`/`accountId`) as one name, id, group, or a
//! comma-separated list of them, or `accounts` as a list (`["evals", "PA-9012", 12345]`). Only the names are read
//! here; whether they exist is the webhook's question (`crate::accounts`, a 400 listing what exists).

use serde_json::Value;

use super::SignalError;
use super::values::{Object, describe, identifier, pick};

/// One account name, id or group.
pub(super) const ACCOUNT: [&str; 3] = ["account", "account_id", "accountId"];
/// A list of them.
pub(super) const ACCOUNTS: [&str; 1] = ["accounts"];

/// Longest name (an account or group); ProjectX names are short (`PRAC-V2-1234-5678`).
const MAX_NAME_CHARS: usize = 64;
/// Most names one alert may give: far above a real fan-out (the rate budget allows a few dozen accounts per wave).
const MAX_NAMES: usize = 100;

/// `(account as given, the names)`: `account`'s trimmed text (for `accounts`, the names joined with `,`) and the
/// names in order; `(None, [])` when the alert names none.
pub(super) fn read(obj: &Object) -> Result<(Option<String>, Vec<String>), SignalError> {
    let single = pick(obj, &ACCOUNT, |f, v| identifier(f, v, MAX_NAMES * (MAX_NAME_CHARS + 1)))?;
    let list = match obj.get(ACCOUNTS[0]) {
        None => None,
        Some(v) => list(ACCOUNTS[0], v)?,
    };
    match (single, list) {
        (Some((field, _)), Some(_)) => Err(SignalError::new(
            ACCOUNTS[0],
            format!("`{field}` and `accounts` both name accounts; send only one of them"),
        )),
        (Some((field, text)), None) => {
            let names = split(field, &text)?;
            Ok((Some(text), names))
        }
        (None, Some(names)) => Ok((Some(names.join(",")), names)),
        (None, None) => Ok((None, Vec::new())),
    }
}

/// `accounts`: an array of names/ids (a text is read as a comma-separated list); `None` for null, blank or `[]`.
fn list(field: &'static str, v: &Value) -> Result<Option<Vec<String>>, SignalError> {
    let names = match v {
        Value::Array(items) => {
            let mut names = Vec::with_capacity(items.len());
            for item in items {
                if matches!(item, Value::Array(_) | Value::Object(_) | Value::Bool(_)) {
                    return Err(SignalError::new(
                        field,
                        format!("expected a list of account names, ids or groups, got {} in it", describe(item)),
                    ));
                }
                match identifier(field, item, MAX_NAME_CHARS)? {
                    Some(name) => names.extend(split(field, &name)?),
                    None => return Err(SignalError::new(field, "contains an empty name; remove it")),
                }
            }
            names
        }
        Value::Null => return Ok(None),
        _ => match identifier(field, v, MAX_NAMES * (MAX_NAME_CHARS + 1))? {
            Some(text) => split(field, &text)?,
            None => return Ok(None),
        },
    };
    if names.len() > MAX_NAMES {
        return Err(SignalError::new(field, format!("names {} accounts; at most {MAX_NAMES}", names.len())));
    }
    Ok((!names.is_empty()).then_some(names))
}

/// A comma-separated list of names, each trimmed, non-empty and at most [`MAX_NAME_CHARS`].
fn split(field: &'static str, text: &str) -> Result<Vec<String>, SignalError> {
    let names: Vec<&str> = text.split(',').map(str::trim).collect();
    if names.iter().any(|n| n.is_empty()) {
        return Err(SignalError::new(
            field,
            format!("{:?} has an empty name; separate account names or groups with single commas", text),
        ));
    }
    if let Some(long) = names.iter().find(|n| n.chars().count() > MAX_NAME_CHARS) {
        return Err(SignalError::new(field, format!("the name {long:?} is longer than {MAX_NAME_CHARS} characters")));
    }
    if names.len() > MAX_NAMES {
        return Err(SignalError::new(field, format!("names {} accounts; at most {MAX_NAMES}", names.len())));
    }
    Ok(names.into_iter().map(str::to_owned).collect())
}
