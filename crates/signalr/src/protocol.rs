//! The SignalR JSON hub protocol as pure functions: record framing on 0x1E, the handshake, and the messages a
//! client sends and receives. No I/O here, so every rule is unit-tested.
//!
//! Decoding is allocation-aware for the hot path (a `GatewayQuote` invocation): records are sliced out of the
//! frame without a copy ([`RecordBuffer::feed`]); [`peek_invocation_target`] names an invocation's target without
//! parsing the record, and [`parse_invocation`] decodes the whole record in one pass with `arguments` going straight
//! into the consumer's own types. [`parse`] is the general, borrowed view of any record.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// The record separator that ends every message.
pub const RS: u8 = 0x1E;

/// The handshake request for the JSON protocol, version 1, with its separator.
pub const HANDSHAKE: &str = "{\"protocol\":\"json\",\"version\":1}\u{1e}";

/// A ping record (type 6), with its separator.
pub const PING: &str = "{\"type\":6}\u{1e}";

/// A close record (type 7) a client sends when it stops, with its separator.
pub const CLOSE: &str = "{\"type\":7}\u{1e}";

/// Accumulates frame payloads and yields complete records. A record may span frames and a frame may hold several
/// records; the partial tail stays buffered (the buffer lives in the session, not in a future, so it survives
/// `select!` cancellation).
#[derive(Debug, Default)]
pub struct RecordBuffer {
    buf: Vec<u8>,
    /// Start of the first unconsumed byte.
    start: usize,
}

impl RecordBuffer {
    /// Appends a frame's payload.
    pub fn extend(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete record (without its separator), if one is buffered.
    pub fn next_record(&mut self) -> Option<&[u8]> {
        let record = self.next_range()?;
        Some(&self.buf[record])
    }

    /// Bytes buffered that do not yet form a complete record.
    pub fn pending_len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Drops consumed bytes so the buffer does not grow without bound when records keep arriving split.
    pub fn compact(&mut self) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }

    /// The records of one more frame, without copying the frame: see [`Records`].
    pub fn feed<'a>(&'a mut self, frame: &'a [u8]) -> Records<'a> {
        Records { buffer: self, frame, pos: 0, buffered_done: false }
    }

    /// The range of the next complete record already in the buffer.
    fn next_range(&mut self) -> Option<std::ops::Range<usize>> {
        let end = memchr::memchr(RS, &self.buf[self.start..])?;
        let record = self.start..self.start + end;
        self.start += end + 1;
        Some(record)
    }
}

/// The complete records of one frame, in order ([`RecordBuffer::feed`]): first any complete records already
/// buffered, then the frame's own. A record that lies wholly inside the frame is yielded as a slice **of the frame**
/// (no copy); only a record that completes a partial tail from earlier frames is assembled in the buffer, and the
/// frame's own incomplete tail is copied into the buffer for the next frame. The buffer's capacity is reused, so
/// steady-state framing allocates nothing.
///
/// A lending iterator: each record borrows the `Records` until the next call, hence
/// [`next_record`](Records::next_record) rather than `Iterator`.
#[derive(Debug)]
pub struct Records<'a> {
    buffer: &'a mut RecordBuffer,
    frame: &'a [u8],
    /// Start of the frame's unread bytes.
    pos: usize,
    /// The records that were complete in the buffer before this frame have been yielded.
    buffered_done: bool,
}

impl Records<'_> {
    /// The next complete record (without its separator); `None` once the frame is used up (its incomplete tail, if
    /// any, is then buffered).
    pub fn next_record(&mut self) -> Option<&[u8]> {
        if !self.buffered_done {
            if let Some(range) = self.buffer.next_range() {
                return Some(&self.buffer.buf[range]);
            }
            self.buffered_done = true;
        }
        let buffer = &mut *self.buffer;
        if buffer.start == buffer.buf.len() {
            buffer.buf.clear();
            buffer.start = 0;
        }
        let frame = self.frame;
        let rest = &frame[self.pos..];
        let Some(end) = memchr::memchr(RS, rest) else {
            // No separator left: the frame's tail (if any) waits for the next frame.
            buffer.buf.extend_from_slice(rest);
            self.pos = frame.len();
            return None;
        };
        self.pos += end + 1;
        if buffer.buf.is_empty() {
            return Some(&rest[..end]);
        }
        // This record began in an earlier frame: complete it in the buffer.
        buffer.buf.extend_from_slice(&rest[..end]);
        let record = buffer.start..buffer.buf.len();
        buffer.start = buffer.buf.len();
        Some(&buffer.buf[record])
    }
}

/// The server's answer to the handshake.
#[derive(Debug, Deserialize)]
struct HandshakeResponse {
    #[serde(default)]
    error: Option<String>,
}

/// Reads the handshake answer: `Ok(())` for `{}`, the server's error text otherwise.
pub fn parse_handshake(record: &[u8]) -> Result<(), String> {
    match serde_json::from_slice::<HandshakeResponse>(record) {
        Ok(HandshakeResponse { error: None }) => Ok(()),
        Ok(HandshakeResponse { error: Some(e) }) => Err(e),
        Err(e) => Err(format!("malformed handshake response: {e}")),
    }
}

/// A message received from the server, borrowing from the record.
#[derive(Debug)]
pub enum Incoming<'a> {
    /// Type 1: the server invokes a client method (e.g. `GatewayQuote`). Never answered.
    Invocation {
        /// Method name.
        target: &'a str,
        /// The `arguments` array as raw JSON.
        arguments: &'a RawValue,
    },
    /// Type 3: the result of one of our invocations.
    Completion {
        /// The id we sent.
        invocation_id: &'a str,
        /// `Err` carries the server's error text.
        result: Result<Option<&'a RawValue>, String>,
    },
    /// Type 6.
    Ping,
    /// Type 7: the server is closing the connection.
    Close {
        /// Why, if it said.
        error: Option<String>,
        /// Whether a reconnect is welcome.
        allow_reconnect: bool,
    },
    /// Types we do not use (stream items, acks, …): ignored.
    Other(u8),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw<'a> {
    #[serde(rename = "type")]
    kind: u8,
    #[serde(default, borrow)]
    target: Option<&'a str>,
    #[serde(default, borrow)]
    arguments: Option<&'a RawValue>,
    #[serde(default, borrow)]
    invocation_id: Option<&'a str>,
    #[serde(default, borrow)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    allow_reconnect: bool,
}

/// Parses one record.
pub fn parse(record: &[u8]) -> Result<Incoming<'_>, serde_json::Error> {
    let raw: Raw<'_> = serde_json::from_slice(record)?;
    let missing = <serde_json::Error as serde::de::Error>::missing_field;
    Ok(match raw.kind {
        1 => Incoming::Invocation {
            target: raw.target.ok_or_else(|| missing("target"))?,
            arguments: raw.arguments.ok_or_else(|| missing("arguments"))?,
        },
        3 => Incoming::Completion {
            invocation_id: raw.invocation_id.ok_or_else(|| missing("invocationId"))?,
            result: match raw.error {
                Some(e) => Err(e),
                None => Ok(raw.result.filter(|r| r.get() != "null")),
            },
        },
        6 => Incoming::Ping,
        7 => Incoming::Close { error: raw.error, allow_reconnect: raw.allow_reconnect },
        other => Incoming::Other(other),
    })
}

/// The target of an invocation record that starts exactly as ASP.NET Core (and the simulator) writes one,
/// `{"type":1,"target":"NAME"`, read without parsing the record. `None` for any other record or shape (other
/// field order, whitespace, an escaped name): then [`parse`] it. The record is not validated here.
pub fn peek_invocation_target(record: &[u8]) -> Option<&str> {
    const PREFIX: &[u8] = br#"{"type":1,"target":""#;
    let rest = record.strip_prefix(PREFIX)?;
    let name = &rest[..memchr::memchr(b'"', rest)?];
    if name.contains(&b'\\') {
        return None;
    }
    std::str::from_utf8(name).ok()
}

/// An invocation decoded in one pass by [`parse_invocation`].
#[derive(Debug)]
pub struct Invocation<'a, A> {
    /// Method name (borrowed unless escaped).
    pub target: Cow<'a, str>,
    /// The `arguments` array, decoded as the caller's type.
    pub arguments: A,
}

/// Parses an invocation record (type 1) in one pass, decoding its `arguments` array straight into `A` (no raw
/// copy, no second pass); fields may come in any order, unknown ones are skipped. An error for any other type,
/// for a missing `target` or `arguments`, or when `A` does not decode: the whole record is checked before it
/// returns, so a malformed record never yields a partial result.
pub fn parse_invocation<'a, A: Deserialize<'a>>(record: &'a [u8]) -> Result<Invocation<'a, A>, serde_json::Error> {
    #[derive(Deserialize)]
    #[serde(bound(deserialize = "A: Deserialize<'de>"))]
    struct Typed<'a, A> {
        #[serde(rename = "type")]
        kind: u8,
        #[serde(borrow)]
        target: Cow<'a, str>,
        arguments: A,
    }
    let typed: Typed<'a, A> = serde_json::from_slice(record)?;
    if typed.kind != 1 {
        return Err(<serde_json::Error as serde::de::Error>::custom(format!(
            "expected an invocation (type 1), got type {}",
            typed.kind
        )));
    }
    Ok(Invocation { target: typed.target, arguments: typed.arguments })
}

/// An invocation record (type 1) with its separator. With an id the server answers with a Completion; without
/// one it must not answer.
pub fn invocation(invocation_id: Option<&str>, target: &str, arguments: &[serde_json::Value]) -> String {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Out<'a> {
        #[serde(rename = "type")]
        kind: u8,
        #[serde(skip_serializing_if = "Option::is_none")]
        invocation_id: Option<&'a str>,
        target: &'a str,
        arguments: &'a [serde_json::Value],
    }
    let mut text = serde_json::to_string(&Out { kind: 1, invocation_id, target, arguments })
        .expect("a struct of strings and JSON values always serialises");
    text.push(RS as char);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_split_across_frames_and_batched_in_one_frame_come_out_whole_and_in_order() {
        let mut b = RecordBuffer::default();
        b.extend(b"{\"type\":6}\x1e{\"type\":1,\"tar");
        assert_eq!(b.next_record(), Some(&b"{\"type\":6}"[..]));
        assert_eq!(b.next_record(), None);
        b.extend(b"get\":\"A\",\"arguments\":[]}\x1e{\"type\":6}\x1e");
        assert_eq!(b.next_record(), Some(&b"{\"type\":1,\"target\":\"A\",\"arguments\":[]}"[..]));
        assert_eq!(b.next_record(), Some(&b"{\"type\":6}"[..]));
        assert_eq!(b.next_record(), None);
        assert_eq!(b.pending_len(), 0);
    }

    #[test]
    fn compact_keeps_only_the_partial_tail() {
        let mut b = RecordBuffer::default();
        b.extend(b"{}\x1e{\"ty");
        assert!(b.next_record().is_some());
        b.compact();
        assert_eq!(b.pending_len(), 4);
        b.extend(b"pe\":6}\x1e");
        assert!(matches!(parse(b.next_record().unwrap()).unwrap(), Incoming::Ping));
    }

    /// Every record of `frames`, fed one frame at a time, and whether each was borrowed from its frame.
    fn fed(b: &mut RecordBuffer, frames: &[&[u8]]) -> Vec<(Vec<u8>, bool)> {
        let mut out = Vec::new();
        for frame in frames {
            let range = frame.as_ptr_range();
            let mut records = b.feed(frame);
            while let Some(r) = records.next_record() {
                out.push((r.to_vec(), range.contains(&r.as_ptr())));
            }
        }
        out
    }

    #[test]
    fn fed_frames_yield_whole_records_borrowed_from_the_frame_and_assemble_only_split_ones() {
        let mut b = RecordBuffer::default();
        let out =
            fed(&mut b, &[b"{\"type\":6}\x1e{\"a\":1}\x1e{\"ty", b"pe\":6}\x1e{\"b\":2}\x1e", b"{\"c\"", b":3}\x1e"]);
        let expect: Vec<(Vec<u8>, bool)> = vec![
            (b"{\"type\":6}".to_vec(), true),
            (b"{\"a\":1}".to_vec(), true),
            (b"{\"type\":6}".to_vec(), false),
            (b"{\"b\":2}".to_vec(), true),
            (b"{\"c\":3}".to_vec(), false),
        ];
        assert_eq!(out, expect);
        assert_eq!(b.pending_len(), 0);
    }

    #[test]
    fn feeding_yields_records_left_in_the_buffer_first_and_keeps_the_tail() {
        let mut b = RecordBuffer::default();
        // As after the handshake: the answer's frame carried a whole record and the start of another.
        b.extend(b"{}\x1e{\"x\":1}\x1e{\"y\"");
        assert_eq!(b.next_record(), Some(&b"{}"[..]));
        let out = fed(&mut b, &[b"", b":2}\x1e{\"z\":"]);
        assert_eq!(out, vec![(b"{\"x\":1}".to_vec(), false), (b"{\"y\":2}".to_vec(), false)]);
        assert_eq!(b.pending_len(), 5, "the incomplete `{{\"z\":` waits");
        assert_eq!(fed(&mut b, &[b"3}\x1e"]), vec![(b"{\"z\":3}".to_vec(), false)]);
        // Steady state: nothing buffered, so the buffer stays empty and every record is the frame's.
        assert_eq!(fed(&mut b, &[b"{}\x1e{}\x1e"]), vec![(b"{}".to_vec(), true), (b"{}".to_vec(), true)]);
        assert_eq!(b.pending_len(), 0);
    }

    #[test]
    fn handshake_answers() {
        assert_eq!(parse_handshake(b"{}"), Ok(()));
        assert_eq!(parse_handshake(b"{\"error\":\"nope\"}"), Err("nope".into()));
        assert!(parse_handshake(b"garbage").is_err());
        assert!(HANDSHAKE.ends_with('\u{1e}'));
    }

    #[test]
    fn invocations_completions_and_close_parse() {
        let quote = br#"{"type":1,"target":"GatewayQuote","arguments":["CON.F.US.MNQ.Z25",{"lastPrice":1.5}],"headers":{"a":"b"}}"#;
        match parse(quote).unwrap() {
            Incoming::Invocation { target, arguments } => {
                assert_eq!(target, "GatewayQuote");
                assert!(arguments.get().starts_with("[\"CON.F.US.MNQ.Z25\""));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(br#"{"type":3,"invocationId":"7"}"#).unwrap(),
            Incoming::Completion { invocation_id: "7", result: Ok(None) }
        ));
        assert!(matches!(
            parse(br#"{"type":3,"invocationId":"8","error":"Unknown hub method 'X'"}"#).unwrap(),
            Incoming::Completion { invocation_id: "8", result: Err(e) } if e == "Unknown hub method 'X'"
        ));
        assert!(matches!(
            parse(br#"{"type":3,"invocationId":"9","result":{"a":1}}"#).unwrap(),
            Incoming::Completion { result: Ok(Some(r)), .. } if r.get() == r#"{"a":1}"#
        ));
        assert!(matches!(
            parse(br#"{"type":7,"error":"token expired","allowReconnect":true}"#).unwrap(),
            Incoming::Close { error: Some(e), allow_reconnect: true } if e == "token expired"
        ));
        assert!(matches!(parse(br#"{"type":7}"#).unwrap(), Incoming::Close { error: None, allow_reconnect: false }));
        assert!(matches!(parse(br#"{"type":2,"invocationId":"1","item":1}"#).unwrap(), Incoming::Other(2)));
        assert!(parse(br#"{"type":1,"arguments":[]}"#).is_err(), "an invocation needs a target");
    }

    #[test]
    fn invocation_targets_are_peeked_only_in_the_servers_own_layout() {
        let quote = br#"{"type":1,"target":"GatewayQuote","arguments":["X",{}]}"#;
        assert_eq!(peek_invocation_target(quote), Some("GatewayQuote"));
        for other in [
            &br#"{"target":"GatewayQuote","type":1,"arguments":[]}"#[..],
            br#"{ "type":1,"target":"GatewayQuote","arguments":[]}"#,
            br#"{"type":1,"target":"Gateway\u0051uote","arguments":[]}"#,
            br#"{"type":3,"invocationId":"1"}"#,
            br#"{"type":1,"target":"Unterminated"#,
            br#"{"type":6}"#,
        ] {
            assert_eq!(peek_invocation_target(other), None, "{}", String::from_utf8_lossy(other));
        }
    }

    #[test]
    fn invocations_decode_in_one_pass_in_any_field_order_and_only_when_whole() {
        let ok: Invocation<'_, (String, u32)> =
            parse_invocation(br#"{"arguments":["a",7],"headers":{"h":[1]},"target":"Q\u0021","type":1}"#).unwrap();
        assert_eq!((ok.target.as_ref(), ok.arguments), ("Q!", ("a".to_owned(), 7)));
        let borrowed: Invocation<'_, (u8,)> = parse_invocation(br#"{"type":1,"target":"Q","arguments":[1]}"#).unwrap();
        assert!(matches!(borrowed.target, Cow::Borrowed("Q")));
        type Args = (String, u32);
        assert!(parse_invocation::<Args>(br#"{"type":3,"target":"Q","arguments":["a",7]}"#).is_err(), "not type 1");
        assert!(parse_invocation::<Args>(br#"{"type":1,"arguments":["a",7]}"#).is_err(), "no target");
        assert!(parse_invocation::<Args>(br#"{"type":1,"target":"Q"}"#).is_err(), "no arguments");
        assert!(
            parse_invocation::<Args>(br#"{"type":1,"target":"Q","arguments":["a","7"]}"#).is_err(),
            "bad arguments"
        );
        assert!(
            parse_invocation::<Args>(br#"{"type":1,"target":"Q","arguments":["a",7],"x":}"#).is_err(),
            "malformed tail"
        );
    }

    #[test]
    fn outgoing_invocations_carry_an_id_only_when_asked() {
        let with = invocation(Some("3"), "SubscribeContractQuotes", &[serde_json::json!("CON.F.US.EP.Z25")]);
        assert_eq!(
            with,
            "{\"type\":1,\"invocationId\":\"3\",\"target\":\"SubscribeContractQuotes\",\"arguments\":[\"CON.F.US.EP.Z25\"]}\u{1e}"
        );
        let without = invocation(None, "SubscribeAccounts", &[]);
        assert!(!without.contains("invocationId"));
    }
}
