//! Today's P&L curve as a small inline SVG (no script, no library): a step line of [`super::snapshot::Curve`]
//! from shortly before the day's first fill to now, a dashed zero line, and the lowest and highest values as labels. Green when the
//! curve ends at or above zero, red below.

use maud::{Markup, html};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::snapshot::Curve;

/// Drawing width and height, in SVG units.
const W: f64 = 320.0;
/// Drawing height.
const H: f64 = 90.0;
/// Room around the drawing.
const PAD: f64 = 4.0;
/// Least time shown before the first fill, in milliseconds.
const MARGIN_MS: f64 = 60_000.0;

/// The SVG of `curve`.
pub(super) fn pnl_svg(curve: &Curve) -> Markup {
    let points: Vec<(f64, f64)> =
        curve.points.iter().map(|(at, v)| (at.timestamp_millis() as f64, v.to_f64().unwrap_or_default())).collect();
    let (Some(first), Some(last)) = (points.first(), points.last()) else { return html! {} };
    // The axis starts a little before the first fill, not at the day's start (17:00 the evening before): a day's
    // trades would otherwise crowd the right edge. The day-start point at 0 is drawn at the left edge.
    let t1 = last.0;
    let t0 = match points.get(1) {
        Some(first_fill) if points.len() > 2 => first_fill.0 - ((t1 - first_fill.0) * 0.05).max(MARGIN_MS),
        _ => first.0,
    }
    .max(first.0)
    .min(t1 - 1.0);
    let lo = points.iter().map(|p| p.1).fold(0.0_f64, f64::min);
    let hi = points.iter().map(|p| p.1).fold(0.0_f64, f64::max);
    let span = if hi - lo < 1.0 { 1.0 } else { hi - lo };
    let x = |t: f64| PAD + (t.max(t0) - t0) / (t1 - t0) * (W - 2.0 * PAD);
    let y = |v: f64| PAD + (hi - v) / span * (H - 2.0 * PAD);
    let mut path = String::new();
    let mut previous: Option<f64> = None;
    for (t, v) in &points {
        if let Some(pv) = previous {
            path.push_str(&format!("{:.1},{:.1} ", x(*t), y(pv)));
        }
        path.push_str(&format!("{:.1},{:.1} ", x(*t), y(*v)));
        previous = Some(*v);
    }
    let end = curve.points.last().map(|(_, v)| *v).unwrap_or_default();
    let colour = if end >= Decimal::ZERO { "#1a7f37" } else { "#cf222e" };
    html! {
        svg.pnl viewBox=(format!("0 0 {W} {H}")) width=(W) height=(H) role="img"
            aria-label=(format!("P&L today, now {end:.2} USD")) {
            line x1=(PAD) x2=(W - PAD) y1=(format!("{:.1}", y(0.0))) y2=(format!("{:.1}", y(0.0)))
                stroke="#8c959f" stroke-dasharray="3 3" {}
            polyline points=(path.trim_end()) fill="none" stroke=(colour) stroke-width="2" {}
            text x=(PAD + 2.0) y="12" font-size="10" fill="#57606a" { (format!("{hi:.2}")) }
            text x=(PAD + 2.0) y=(H - 4.0) font-size="10" fill="#57606a" { (format!("{lo:.2}")) }
            text x=(W - PAD - 2.0) y="12" font-size="11" text-anchor="end" fill=(colour) { (format!("{end:.2} USD")) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_losing_day_is_red_and_labelled_with_its_last_value() {
        let at = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
        let curve = Curve {
            points: vec![
                (at("2026-12-01T23:00:00Z"), Decimal::ZERO),
                (at("2026-12-02T15:00:00Z"), Decimal::new(2500, 2)),
                (at("2026-12-02T16:00:00Z"), Decimal::new(-1075, 2)),
            ],
        };
        let svg = pnl_svg(&curve).into_string();
        assert!(svg.starts_with("<svg") && svg.contains("polyline"), "{svg}");
        assert!(svg.contains("-10.75 USD") && svg.contains("#cf222e"), "{svg}");
        assert!(pnl_svg(&Curve::default()).into_string().is_empty());
    }
}
