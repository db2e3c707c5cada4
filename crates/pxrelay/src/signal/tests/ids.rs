//! `fallback_alert_id` and `custom_tag`.

use super::super::{custom_tag, fallback_alert_id};
use super::{Distance, OrderKind, buy, dec};

#[test]
fn fallback_id_is_32_hex_and_stable_within_a_minute() {
    let id = fallback_alert_id(&buy(), 29_000_000);
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{id}");
    assert_eq!(id, fallback_alert_id(&buy(), 29_000_000));
}

#[test]
fn fallback_id_changes_with_the_minute() {
    assert_ne!(fallback_alert_id(&buy(), 29_000_000), fallback_alert_id(&buy(), 29_000_001));
}

#[test]
fn fallback_id_ignores_spelling_but_not_meaning() {
    let base = fallback_alert_id(&buy(), 1);
    let lower = buy();
    let lower = super::Intent { symbol: "mnq1!".into(), ..lower };
    assert_eq!(fallback_alert_id(&lower, 1), base);
    let a = super::Intent { order: OrderKind::Limit(dec("21000.50")), ..buy() };
    let b = super::Intent { order: OrderKind::Limit(dec("21000.5")), ..buy() };
    assert_eq!(fallback_alert_id(&a, 1), fallback_alert_id(&b, 1));
    for changed in [
        super::Intent { quantity: 2, ..buy() },
        super::Intent { close_only: true, ..buy() },
        super::Intent { action: super::Action::Sell, ..buy() },
        super::Intent { stop_loss: Some(Distance::Ticks(10)), ..buy() },
        super::Intent { take_profit: Some(Distance::Ticks(10)), ..buy() },
        super::Intent { stop_loss: Some(Distance::Points(dec("10"))), ..buy() },
        super::Intent { account: Some("A".into()), ..buy() },
    ] {
        assert_ne!(fallback_alert_id(&changed, 1), base, "{changed:?}");
    }
}

#[test]
fn custom_tag_keeps_short_safe_ids_readable() {
    assert_eq!(custom_tag("mnq-breakout_17.a", 0), "pxr0-mnq-breakout_17.a");
    assert_eq!(custom_tag("abc", 1), "pxr1-abc");
    let fallback = fallback_alert_id(&buy(), 1);
    assert_eq!(custom_tag(&fallback, 0), format!("pxr0-{fallback}"));
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
