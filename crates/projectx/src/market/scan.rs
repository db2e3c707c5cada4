//! The fast path for a whole `GatewayQuote` record in its usual shape, scanned by hand:
//! `{"type":1,"target":"GatewayQuote","arguments":["<contract id>",{<known fields>}]}` (fields in any order, JSON
//! whitespace anywhere). Numbers go straight from their text into `Decimal`, strings are borrowed, nothing is
//! copied or allocated.
//!
//! It accepts a strict subset of what the serde path (`decode`) accepts and returns `None` for anything else:
//! escapes in a string, an unknown or repeated field, a value of another JSON type, an unusual timestamp, `data` as
//! an array, malformed JSON. The caller then decodes the record with the serde path, which gives the result or the
//! error. So the fast path can only ever agree with the serde path; the tests check that it does.

use std::borrow::Cow;

use rust_decimal::Decimal;

use super::decode::{Dec, Delta, Text, Time};
use super::fastparse;

/// The record's contract id, with its update written into `delta` (which must start empty), if the record has the
/// usual shape and is valid; `None` means "use the serde path" (`delta` is then partly written: discard it).
pub(super) fn gateway_quote<'a>(record: &'a [u8], delta: &mut Delta<'a>) -> Option<&'a str> {
    let mut c = Cursor { b: record, i: 0 };
    c.eat(b'{')?;
    let (mut kind, mut target, mut contract) = (false, false, None);
    loop {
        let key = c.raw_str()?;
        c.eat(b':')?;
        match key {
            b"type" if !kind => {
                (c.number()? == b"1").then_some(())?;
                kind = true;
            }
            b"target" if !target => {
                (c.raw_str()? == b"GatewayQuote").then_some(())?;
                target = true;
            }
            b"arguments" if contract.is_none() => {
                c.eat(b'[')?;
                let contract_id = c.str()?;
                c.eat(b',')?;
                c.delta(delta)?;
                c.eat(b']')?;
                contract = Some(contract_id);
            }
            _ => return None,
        }
        if !c.more(b'}')? {
            break;
        }
    }
    c.ws();
    (kind && target && c.i == record.len()).then_some(())?;
    contract
}

/// A position in the record.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    /// Skips JSON whitespace.
    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// The next byte after whitespace, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    /// Consumes `byte` (after whitespace).
    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.i += 1)
    }

    /// After a member: `Some(true)` on a comma (another member follows), `Some(false)` on `close`.
    fn more(&mut self, close: u8) -> Option<bool> {
        match self.peek()? {
            b',' => {
                self.i += 1;
                Some(true)
            }
            b if b == close => {
                self.i += 1;
                Some(false)
            }
            _ => None,
        }
    }

    /// `null`, consumed.
    fn null(&mut self) -> bool {
        self.ws();
        let null = self.b[self.i..].starts_with(b"null");
        if null {
            self.i += 4;
        }
        null
    }

    /// A string's bytes: no escapes, no control characters (not checked for UTF-8). A plain loop: these strings
    /// are short.
    fn raw_str(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let rest = &self.b[self.i..];
        let end = rest.iter().position(|c| matches!(c, b'"' | b'\\' | 0..0x20))?;
        (rest[end] == b'"').then_some(())?;
        self.i += end + 1;
        Some(&rest[..end])
    }

    /// A string without escapes, as UTF-8 text.
    fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.raw_str()?).ok()
    }

    /// A JSON number's text (grammar checked; what follows is checked by the caller's next step).
    fn number(&mut self) -> Option<&'a [u8]> {
        self.ws();
        let (b, start) = (self.b, self.i);
        let digits = |mut i: usize| {
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            i
        };
        let mut i = start + usize::from(b.get(start) == Some(&b'-'));
        i = match b.get(i)? {
            b'0' => i + 1,
            b'1'..=b'9' => digits(i + 1),
            _ => return None,
        };
        if b.get(i) == Some(&b'.') {
            let end = digits(i + 1);
            (end > i + 1).then_some(())?;
            i = end;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1 + usize::from(matches!(b.get(i + 1), Some(b'+' | b'-')));
            let end = digits(i);
            (end > i).then_some(())?;
            i = end;
        }
        self.i = i;
        Some(&b[start..i])
    }

    /// A decimal field's value: `Some(None)` for null.
    fn decimal(&mut self) -> Option<Option<Dec>> {
        if self.null() {
            return Some(None);
        }
        let text = self.number()?;
        // Exactly what `Dec` does with the same text.
        let value = match fastparse::decimal(text) {
            Some(v) => v,
            None => serde_json::from_slice::<Decimal>(text).ok()?,
        };
        Some(Some(Dec(value)))
    }

    /// A text field's value: `Some(None)` for null.
    fn text(&mut self) -> Option<Option<Text<'a>>> {
        if self.null() {
            return Some(None);
        }
        Some(Some(Text(Cow::Borrowed(self.str()?))))
    }

    /// A timestamp field's value in the fast form only: `Some(None)` for null.
    fn time(&mut self) -> Option<Option<Time>> {
        if self.null() {
            return Some(None);
        }
        Some(Some(Time(fastparse::timestamp(self.raw_str()?)?)))
    }

    /// The quote object into `d`, each known field at most once.
    fn delta(&mut self, d: &mut Delta<'a>) -> Option<()> {
        let mut seen = 0u16;
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            let key = self.raw_str()?;
            self.eat(b':')?;
            let bit = match key {
                b"symbol" => (d.symbol = self.text()?, 0).1,
                b"symbolName" => (d.symbol_name = self.text()?, 1).1,
                b"lastPrice" => (d.last_price = self.decimal()?, 2).1,
                b"bestBid" => (d.best_bid = self.decimal()?, 3).1,
                b"bestAsk" => (d.best_ask = self.decimal()?, 4).1,
                b"change" => (d.change = self.decimal()?, 5).1,
                b"changePercent" => (d.change_percent = self.decimal()?, 6).1,
                b"open" => (d.open = self.decimal()?, 7).1,
                b"high" => (d.high = self.decimal()?, 8).1,
                b"low" => (d.low = self.decimal()?, 9).1,
                b"volume" => (d.volume = self.decimal()?, 10).1,
                b"lastUpdated" => (d.last_updated = self.time()?, 11).1,
                b"timestamp" => (d.timestamp = self.time()?, 12).1,
                _ => return None,
            };
            (seen & (1 << bit) == 0).then_some(())?;
            seen |= 1 << bit;
            if !self.more(b'}')? {
                return Some(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::decode::{Args, Deltas};

    /// The fast path's result in the serde path's form.
    fn fast_path(record: &str) -> Option<Args<'_>> {
        let mut delta = Delta::default();
        let contract = gateway_quote(record.as_bytes(), &mut delta)?;
        Some(Args(Text(Cow::Borrowed(contract)), Deltas::One(delta)))
    }

    /// The serde path alone.
    fn serde_path(record: &str) -> Result<Args<'_>, serde_json::Error> {
        let call = signalr::protocol::parse_invocation::<Args<'_>>(record.as_bytes())?;
        match call.target.as_ref() {
            "GatewayQuote" => Ok(call.arguments),
            other => Err(<serde_json::Error as serde::de::Error>::custom(other)),
        }
    }

    fn record(data: &str) -> String {
        format!(r#"{{"type":1,"target":"GatewayQuote","arguments":["CON.F.US.EP.Z25",{data}]}}"#)
    }

    const FULL: &str = r#"{"symbol":"F.US.EP","symbolName":"/ES","lastPrice":6335.25,"bestBid":6335.000000000,"bestAsk":6335.5,"change":-12.75,"changePercent":-0.2,"open":6340,"high":6350.25,"low":0,"volume":1200,"lastUpdated":"2025-07-18T21:00:01.268009+00:00","timestamp":"2025-07-18T21:00:01.2Z"}"#;

    #[test]
    fn the_usual_shapes_take_the_fast_path_and_agree_with_the_serde_path() {
        let records = [
            record(FULL),
            record(r#"{"bestBid":6335.25,"volume":1201,"timestamp":"2025-07-18T21:00:02Z"}"#),
            record(r#"{"bestAsk":null,"lastPrice":null,"symbol":null,"timestamp":null}"#),
            record("{}"),
            record(r#"{"volume":1.2e3,"change":-0,"low":12345678901234567890.5}"#), // general decimal parser
            record(r#"{"symbol":"F.US.ÉP"}"#),
            " {\n\"arguments\" : [ \"X\" , { \"bestBid\" : 1.5 } ] ,\t\"target\":\"GatewayQuote\", \"type\" : 1 }\r\n"
                .to_owned(),
        ];
        for r in &records {
            let fast = fast_path(r).unwrap_or_else(|| panic!("fast path expected for {r}"));
            let slow = serde_path(r).unwrap();
            // Debug shows decimals with their scale and borrowed vs owned text alike.
            assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{r}");
        }
    }

    #[test]
    fn anything_else_is_left_to_the_serde_path() {
        let cases = [
            // Valid, but not the fast path's business: the serde path decodes them.
            record(r#"{"symbol":"F.US.\u0045P"}"#),
            record(r#"{"bestBid":"6335.25"}"#),
            record(r#"{"timestamp":"2025-07-18 21:00:01Z"}"#),
            record(r#"[{"bestBid":1.5},{"bestBid":1.75}]"#),
            r#"{"type":1,"target":"GatewayQuote","arguments":["X",{}],"headers":{}}"#.to_owned(),
            r#"{"type":1,"target":"GatewayQuote","invocationId":"1","arguments":["X",{}]}"#.to_owned(),
            r#"{"type":1.0,"target":"GatewayQuote","arguments":["X",{}]}"#.to_owned(),
            // Errors either way.
            record(r#"{"bestBid":1.5,"bestBid":1.75}"#),
            record(r#"{"bestBid":01}"#),
            record(r#"{"bestBid":1.}"#),
            record(r#"{"bestBid":-}"#),
            record(r#"{"bestBid":1.5x}"#),
            record(r#"{"bestBid":true}"#),
            record(r#"{"bestBid":nul}"#),
            record(r#"{"timestamp":"yesterday"}"#),
            record(r#"{"unknown":1}"#),
            record(r#"{"bestBid":1.5,}"#),
            record("{\"symbol\":\"a\u{1}b\"}"),
            r#"{"type":1,"target":"GatewayQuote","arguments":["X",{}]}x"#.to_owned(),
            r#"{"type":1,"target":"GatewayQuote","arguments":["X",{}],"type":1}"#.to_owned(),
            r#"{"type":2,"target":"GatewayQuote","arguments":["X",{}]}"#.to_owned(),
            r#"{"type":1,"target":"GatewayTrade","arguments":["X",{}]}"#.to_owned(),
            r#"{"type":1,"target":"GatewayQuote","arguments":["X",{},1]}"#.to_owned(),
            r#"{"type":1,"target":"GatewayQuote","arguments":["X"]}"#.to_owned(),
            r#"{"type":1,"arguments":["X",{}]}"#.to_owned(),
            r#"{"type":1,"target":"GatewayQuote","arguments":["X",{}"#.to_owned(),
        ];
        for r in &cases {
            assert!(fast_path(r).is_none(), "{r} must be left to the serde path");
        }
        assert!(serde_path(&cases[0]).is_ok() && serde_path(&cases[3]).is_ok() && serde_path(&cases[4]).is_ok());
        assert!(serde_path(&cases[7]).is_err() && serde_path(&cases[14]).is_err());
        // Invalid UTF-8 in a string.
        let mut bad = record(r#"{"symbol":"F.US.EP"}"#).into_bytes();
        let at = bad.iter().position(|b| *b == b'E').unwrap();
        bad[at] = 0xFF;
        assert!(gateway_quote(&bad, &mut Delta::default()).is_none());
    }
}
