//! The SignalR JSON hub protocol, server side and free of I/O: the record separator framing
//! (`Inbox` buffers partial tails across frames), the handshake, parsing of client messages, and
//! the encoding of the records the server sends. Every encoder returns a complete record (JSON +
//! 0x1E) as `Utf8Bytes`, so one serialisation can be fanned out to many sockets by cloning a
//! reference-counted buffer.

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use serde_json::{Map, Value};

/// The ASCII record separator that ends every message.
pub(super) const RS: u8 = 0x1e;
/// `{}` + RS: the successful handshake answer.
pub(super) const HANDSHAKE_OK: &str = "{}\u{1e}";
/// A server keep-alive.
pub(super) const PING: &str = "{\"type\":6}\u{1e}";
/// Most bytes a client may leave without a record separator (a partial tail) before the server
/// gives up on it.
pub(super) const MAX_PENDING: usize = 1 << 20;

/// Bytes received but not yet split into records.
#[derive(Debug, Default)]
pub(super) struct Inbox {
    buf: Vec<u8>,
    /// Start of the first unread byte in `buf`.
    start: usize,
}

impl Inbox {
    /// Appends a frame's payload (text or binary).
    pub(super) fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete record (without its separator), if one has arrived.
    pub(super) fn next_record(&mut self) -> Option<&[u8]> {
        let unread = &self.buf[self.start..];
        let end = unread.iter().position(|&b| b == RS)?;
        let record = self.start..self.start + end;
        self.start += end + 1;
        Some(&self.buf[record])
    }

    /// Bytes of an incomplete record waiting for more frames.
    pub(super) fn pending(&self) -> usize {
        self.buf.len() - self.start
    }
}

/// Checks a handshake request; the error is the text for `{"error": ...}`.
pub(super) fn handshake(record: &[u8]) -> Result<(), String> {
    let unexpected = |detail: &str| {
        format!("An unexpected error occurred during connection handshake. InvalidDataException: {detail}")
    };
    let value: Value = serde_json::from_slice(record).map_err(|e| unexpected(&e.to_string()))?;
    let Value::Object(fields) = value else {
        return Err(unexpected("Unexpected JSON Token Type. Expected a JSON Object."));
    };
    let protocol = match fields.get("protocol") {
        Some(Value::String(p)) => p,
        _ => return Err(unexpected("Missing required property 'protocol'.")),
    };
    let version = fields
        .get("version")
        .and_then(Value::as_i64)
        .ok_or_else(|| unexpected("Missing required property 'version'."))?;
    if protocol != "json" {
        return Err(format!("The protocol '{protocol}' is not supported."));
    }
    // ASP.NET's JsonHubProtocol accepts any version up to its own (2 since .NET 8).
    if !(1..=2).contains(&version) {
        return Err(format!("The server does not support version {version} of the 'json' protocol."));
    }
    Ok(())
}

/// A client → server message, after structural validation.
#[derive(Debug, PartialEq)]
pub(super) enum Incoming {
    /// Type 1: call `target`; answer with a Completion only when `id` is present.
    Invocation(Invocation),
    /// Type 4: a streaming call, which no ProjectX method supports.
    StreamInvocation(Invocation),
    /// Type 6.
    Ping,
    /// Type 7: the client is leaving.
    Close,
    /// Types 2, 3, 5, 8, 9: valid but nothing for this server to do.
    Ignored,
}

/// An invocation's id (present for `invoke`, absent for `send`), target and arguments.
#[derive(Debug, PartialEq)]
pub(super) struct Invocation {
    pub(super) id: Option<String>,
    pub(super) target: String,
    pub(super) arguments: Vec<Value>,
}

impl Invocation {
    /// Checks the argument count (the error is the Completion's text, as ASP.NET words it).
    pub(super) fn expect_args(&self, expected: usize) -> Result<(), String> {
        if self.arguments.len() == expected {
            return Ok(());
        }
        Err(format!(
            "Failed to invoke '{}' due to an error on the server. InvalidDataException: Invocation provides {} \
             argument(s) but target expects {expected}.",
            self.target,
            self.arguments.len()
        ))
    }

    /// The only argument, which must be a JSON string.
    pub(super) fn string_arg(&self) -> Result<&str, String> {
        self.expect_args(1)?;
        self.arguments[0].as_str().ok_or_else(|| self.binding_error())
    }

    /// The only argument, which must be a JSON integer that fits an `int` (no strings, no
    /// fractions: System.Text.Json's defaults).
    pub(super) fn int_arg(&self) -> Result<i32, String> {
        self.expect_args(1)?;
        let number = self.arguments[0].as_i64().and_then(|n| i32::try_from(n).ok());
        number.ok_or_else(|| self.binding_error())
    }

    fn binding_error(&self) -> String {
        format!(
            "Failed to invoke '{}' due to an error on the server. InvalidDataException: Error binding arguments. \
             Make sure that the types of the provided values match the types of the hub method being invoked.",
            self.target
        )
    }
}

/// Parses one record. An error is a protocol violation that ends the connection (ASP.NET throws
/// `InvalidDataException` there); its text goes into the Close message.
pub(super) fn parse(record: &[u8]) -> Result<Incoming, String> {
    let value: Value = serde_json::from_slice(record).map_err(|e| format!("InvalidDataException: {e}"))?;
    let Value::Object(mut fields) = value else {
        return Err("InvalidDataException: Unexpected JSON Token Type. Expected a JSON Object.".to_owned());
    };
    let kind = match fields.get("type") {
        Some(Value::Number(n)) => {
            n.as_u64().ok_or_else(|| format!("InvalidDataException: Unknown message type '{n}'."))?
        }
        Some(_) => return Err("InvalidDataException: Expected 'type' to be of type Integer.".to_owned()),
        None => return Err("InvalidDataException: Missing required property 'type'.".to_owned()),
    };
    match kind {
        1 => invocation(&mut fields).map(Incoming::Invocation),
        4 => invocation(&mut fields).map(Incoming::StreamInvocation),
        6 => Ok(Incoming::Ping),
        7 => Ok(Incoming::Close),
        2 | 3 | 5 | 8 | 9 => Ok(Incoming::Ignored),
        other => Err(format!("InvalidDataException: Unknown message type '{other}'.")),
    }
}

fn invocation(fields: &mut Map<String, Value>) -> Result<Invocation, String> {
    let id = match fields.remove("invocationId") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id),
        Some(_) => return Err("InvalidDataException: Expected 'invocationId' to be of type String.".to_owned()),
    };
    let target = match fields.remove("target") {
        Some(Value::String(target)) => target,
        Some(_) => return Err("InvalidDataException: Expected 'target' to be of type String.".to_owned()),
        None => return Err("InvalidDataException: Missing required property 'target'.".to_owned()),
    };
    let arguments = match fields.remove("arguments") {
        Some(Value::Array(arguments)) => arguments,
        Some(_) => return Err("InvalidDataException: Expected 'arguments' to be of type Array.".to_owned()),
        None => return Err("InvalidDataException: Missing required property 'arguments'.".to_owned()),
    };
    Ok(Invocation { id, target, arguments })
}

/// Serialises a record and appends the separator.
fn record(message: &impl Serialize) -> Utf8Bytes {
    let mut text = serde_json::to_string(message).expect("hub messages hold only string-keyed maps and plain values");
    text.push(char::from(RS));
    Utf8Bytes::from(text)
}

/// `{"error": "..."}`: a refused handshake.
pub(super) fn handshake_error(error: &str) -> Utf8Bytes {
    record(&serde_json::json!({ "error": error }))
}

/// A server → client Invocation without an id (an event): `{type:1, target, arguments}`.
pub(super) fn event(target: &str, arguments: &impl Serialize) -> Utf8Bytes {
    #[derive(Serialize)]
    struct Event<'a, A> {
        #[serde(rename = "type")]
        kind: u8,
        target: &'a str,
        arguments: A,
    }
    record(&Event { kind: 1, target, arguments })
}

/// A Completion: `{type:3, invocationId}` for a void method, or with `error`.
pub(super) fn completion(invocation_id: &str, outcome: Result<(), &str>) -> Utf8Bytes {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Completion<'a> {
        #[serde(rename = "type")]
        kind: u8,
        invocation_id: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<&'a str>,
    }
    record(&Completion { kind: 3, invocation_id, error: outcome.err() })
}

/// A Close: `{type:7}` plus `error` when given and `allowReconnect` only when true, as ASP.NET
/// writes it.
pub(super) fn close(error: Option<&str>, allow_reconnect: bool) -> Utf8Bytes {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Close<'a> {
        #[serde(rename = "type")]
        kind: u8,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<&'a str>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        allow_reconnect: bool,
    }
    record(&Close { kind: 7, error, allow_reconnect })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_split_across_pushes_and_batched_in_one_push_are_separated() {
        let mut inbox = Inbox::default();
        inbox.push(b"{\"type\":6}\x1e{\"ty");
        assert_eq!(inbox.next_record(), Some(&b"{\"type\":6}"[..]));
        assert_eq!(inbox.next_record(), None);
        assert_eq!(inbox.pending(), 4);
        inbox.push(b"pe\":7}\x1e\x1e");
        assert_eq!(inbox.next_record(), Some(&b"{\"type\":7}"[..]));
        assert_eq!(inbox.next_record(), Some(&b""[..]));
        assert_eq!(inbox.next_record(), None);
        assert_eq!(inbox.pending(), 0);
    }

    #[test]
    fn handshake_accepts_json_version_1_and_explains_refusals() {
        assert_eq!(handshake(br#"{"protocol":"json","version":1,"extra":true}"#), Ok(()));
        assert_eq!(
            handshake(br#"{"protocol":"messagepack","version":1}"#).unwrap_err(),
            "The protocol 'messagepack' is not supported."
        );
        assert!(handshake(br#"{"protocol":"json","version":9}"#).unwrap_err().contains("version 9"));
        assert!(handshake(br#"{"type":6}"#).unwrap_err().contains("'protocol'"));
        assert!(handshake(b"nope").unwrap_err().starts_with("An unexpected error"));
    }

    #[test]
    fn invocations_parse_with_and_without_id_and_bad_shapes_are_violations() {
        let parsed = parse(br#"{"type":1,"invocationId":"7","target":"T","arguments":["a",1],"headers":{}}"#);
        let expected = Invocation { id: Some("7".into()), target: "T".into(), arguments: vec!["a".into(), 1.into()] };
        assert_eq!(parsed, Ok(Incoming::Invocation(expected)));
        let fire_and_forget = parse(br#"{"type":1,"target":"T","arguments":[]}"#).unwrap();
        assert!(matches!(fire_and_forget, Incoming::Invocation(Invocation { id: None, .. })));
        assert_eq!(parse(br#"{"type":6}"#), Ok(Incoming::Ping));
        assert_eq!(parse(br#"{"type":5,"invocationId":"1"}"#), Ok(Incoming::Ignored));
        for bad in [&br#"{"type":1,"target":"T"}"#[..], br#"{"type":42}"#, br#"{"target":"T"}"#, b"[1]", b"{"] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn server_records_have_the_documented_shapes() {
        assert_eq!(completion("4", Ok(())).as_str(), "{\"type\":3,\"invocationId\":\"4\"}\u{1e}");
        assert_eq!(completion("4", Err("no")).as_str(), "{\"type\":3,\"invocationId\":\"4\",\"error\":\"no\"}\u{1e}");
        assert_eq!(close(None, false).as_str(), "{\"type\":7}\u{1e}");
        assert_eq!(close(Some("bye"), true).as_str(), "{\"type\":7,\"error\":\"bye\",\"allowReconnect\":true}\u{1e}");
        let quote =
            event("GatewayQuote", &("C", serde_json::json!({ "lastPrice": Value::Number("1.50".parse().unwrap()) })));
        assert_eq!(
            quote.as_str(),
            "{\"type\":1,\"target\":\"GatewayQuote\",\"arguments\":[\"C\",{\"lastPrice\":1.50}]}\u{1e}"
        );
    }
}
