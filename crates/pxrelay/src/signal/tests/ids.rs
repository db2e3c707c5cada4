//! `alert_key`, `content_key`, the alert's own timestamp, and `custom_tag`.

use chrono::{DateTime, Utc};

use super::super::{AlertKey, Dedup, alert_key, content_key, custom_tag, parse_alert};
use super::{Distance, OrderKind, buy, dec};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("test time").with_timezone(&Utc)
}

#[test]
fn the_senders_id_is_the_key() {
    let intent =
        super::Intent { alert_id: Some("strat-42".into()), sent_at: Some(at("2026-11-29T12:00:00Z")), ..buy() };
    assert_eq!(
        alert_key(&intent, at("2026-11-29T12:00:01Z"), 7),
        AlertKey { alert_id: "strat-42".into(), dedup: Dedup::Id }
    );
}

#[test]
fn with_its_own_timestamp_the_key_is_content_and_timestamp_whatever_minute_it_arrives_in() {
    let timenow = Some(at("2026-11-29T12:00:59Z"));
    let exit = super::Intent { action: super::Action::Exit, sent_at: timenow, ..buy() };
    // TradingView re-sends the same `timenow` at hh:mm:59.6 and hh:mm+1:00.3: one key.
    let first = alert_key(&exit, at("2026-11-29T12:00:59.600Z"), 1);
    let again = alert_key(&exit, at("2026-11-29T12:01:00.300Z"), 2);
    assert_eq!(first, again);
    assert_eq!(first.dedup, Dedup::Id);
    assert_eq!(first.alert_id.len(), 32);
    assert!(first.alert_id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{first:?}");
    let next_firing = super::Intent { sent_at: Some(at("2026-11-29T12:01:00Z")), ..exit };
    assert_ne!(alert_key(&next_firing, at("2026-11-29T12:01:00.300Z"), 3).alert_id, first.alert_id);
}

#[test]
fn without_id_or_timestamp_only_entries_dedupe_by_content_and_every_receipt_has_its_own_id() {
    let t = at("2026-11-29T12:00:00Z");
    let entry = alert_key(&buy(), t, 1);
    assert_eq!(entry.dedup, Dedup::Content(content_key(&buy())));
    assert_ne!(entry.alert_id, alert_key(&buy(), t, 2).alert_id, "each receipt is its own alert");
    for not_entry in [
        super::Intent { action: super::Action::Exit, ..buy() },
        super::Intent { action: super::Action::Cancel, ..buy() },
        super::Intent { close_only: true, action: super::Action::Sell, ..buy() },
    ] {
        assert_eq!(alert_key(&not_entry, t, 1).dedup, Dedup::Never, "{not_entry:?}");
    }
    assert!(alert_key(&buy(), t, u64::MAX).alert_id.len() <= 64);
}

#[test]
fn the_content_key_ignores_spelling_but_not_meaning() {
    let base = content_key(&buy());
    let lower = super::Intent { symbol: "mnq1!".into(), ..buy() };
    assert_eq!(content_key(&lower), base);
    let a = super::Intent { order: OrderKind::Limit(dec("21000.50")), ..buy() };
    let b = super::Intent { order: OrderKind::Limit(dec("21000.5")), ..buy() };
    assert_eq!(content_key(&a), content_key(&b));
    assert_eq!(content_key(&super::Intent { sent_at: Some(at("2026-11-29T12:00:00Z")), ..buy() }), base);
    for changed in [
        super::Intent { quantity: 2, ..buy() },
        super::Intent { close_only: true, ..buy() },
        super::Intent { action: super::Action::Sell, ..buy() },
        super::Intent { stop_loss: Some(Distance::Ticks(10)), ..buy() },
        super::Intent { take_profit: Some(Distance::Ticks(10)), ..buy() },
        super::Intent { stop_loss: Some(Distance::Points(dec("10"))), ..buy() },
        super::Intent { account: Some("A".into()), ..buy() },
    ] {
        assert_ne!(content_key(&changed), base, "{changed:?}");
    }
}

#[test]
fn timestamps_are_read_in_every_form_and_the_most_precise_field_wins() {
    let read = |body: &str| parse_alert(body.as_bytes()).map(|a| a.intent.sent_at);
    let want = Some(at("2026-11-29T14:31:59Z"));
    for (field, value) in [
        ("timenow", r#""2026-11-29T14:31:59Z""#),
        ("time", r#""2026-11-29T14:31:59.000Z""#),
        ("alertTimestamp", r#""2026-11-29T15:31:59+01:00""#),
        ("date", r#""2026-11-29 14:31:59""#),
        ("time", "1795962719"),
        ("time", r#""1795962719000""#),
    ] {
        let body = format!(r#"{{"symbol":"MNQ","action":"buy","{field}":{value}}}"#);
        assert_eq!(read(&body).unwrap(), want, "{body}");
    }
    let both = r#"{"symbol":"MNQ","action":"buy","time":"2026-11-29T14:00:00Z","timenow":"2026-11-29T14:31:59Z"}"#;
    assert_eq!(read(both).unwrap(), want, "timenow (the firing time) wins over time (maybe the bar time)");
    assert_eq!(read(r#"{"symbol":"MNQ","action":"buy"}"#).unwrap(), None);
    let bad = read(r#"{"symbol":"MNQ","action":"buy","time":"yesterday"}"#).unwrap_err();
    assert_eq!(bad.field, "time");
    assert!(bad.message.contains("not a time"), "{bad}");
    let unfilled = read(r#"{"symbol":"MNQ","action":"buy","timenow":"{{timenow}}"}"#).unwrap_err();
    assert!(unfilled.message.contains("was not filled in"), "{unfilled}");
}

#[test]
fn custom_tag_keeps_short_safe_ids_readable() {
    assert_eq!(custom_tag("mnq-breakout_17.a", 0), "pxr0-mnq-breakout_17.a");
    assert_eq!(custom_tag("abc", 1), "pxr1-abc");
    let derived = alert_key(&super::Intent { sent_at: Some(at("2026-11-29T12:00:00Z")), ..buy() }, Utc::now(), 1);
    assert_eq!(custom_tag(&derived.alert_id, 0), format!("pxr0-{}", derived.alert_id));
}

#[test]
fn custom_tag_hashes_long_or_unusual_ids() {
    for id in ["a".repeat(41), "with space".into(), "Ünïcode".into(), "a:b".into(), String::new()] {
        let tag = custom_tag(&id, 0);
        assert!(tag.starts_with("pxh0-") && tag.len() == 37, "{id:?} → {tag}");
    }
    assert_ne!(custom_tag("with space", 0), custom_tag("with space", 1));
}

#[test]
fn custom_tag_is_short_ascii_and_never_collides_across_legs() {
    let ids = ["a", "a-1", "1-a", "pxr1-a", "0123456789012345678901234567890123456789", "x y"];
    let mut seen = std::collections::HashSet::new();
    for id in ids {
        for leg in [0, 1, 9, 10, 255] {
            let tag = custom_tag(id, leg);
            assert!(tag.len() <= 50 && tag.is_ascii(), "{tag}");
            assert!(seen.insert(tag.clone()), "duplicate tag {tag}");
        }
    }
}
