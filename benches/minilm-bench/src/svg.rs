//! A hand-written SVG bar chart of the results: one panel per shape and metric (ms/batch,
//! calls to the wrapped allocator per batch), bars grouped by allocator configuration and
//! coloured by mode.

use std::fmt::Write as _;

use crate::report::{Results, Row};

const CELL_W: f64 = 300.0;
const CELL_H: f64 = 240.0;
const LEFT: f64 = 20.0;
const TOP: f64 = 70.0;

/// A panel row: its title and the number it shows.
type Metric = (&'static str, fn(&Row) -> f64);

/// Colours of the modes, in `Mode::ALL` order.
const MODE_COLOURS: [(&str, &str); 3] = [
    ("off", "#4e79a7"),
    ("main-only", "#f28e2b"),
    ("on", "#59a14f"),
];

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A round upper bound for an axis whose largest value is `max`.
fn nice_max(max: f64) -> f64 {
    if !max.is_finite() || max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    for step in [1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0] {
        if step * magnitude >= max {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

fn label(value: f64) -> String {
    if value == 0.0 {
        "0".to_string()
    } else if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// One panel: `metric` of every row of `shape`, at (`x`, `y`).
fn panel(
    out: &mut String,
    results: &Results,
    shape: &str,
    title: &str,
    metric: fn(&Row) -> f64,
    (x, y): (f64, f64),
) {
    let mut configs: Vec<&str> = Vec::new();
    for r in results.rows.iter().filter(|r| r.shape == shape) {
        if !configs.contains(&r.config.as_str()) {
            configs.push(&r.config);
        }
    }
    let modes: Vec<(&str, &str)> = MODE_COLOURS
        .iter()
        .copied()
        .filter(|(m, _)| {
            results
                .rows
                .iter()
                .any(|r| r.shape == shape && r.mode == *m)
        })
        .collect();
    // Headroom above the tallest bar for its label.
    let top = nice_max(
        1.15 * results
            .rows
            .iter()
            .filter(|r| r.shape == shape)
            .map(metric)
            .fold(0.0, f64::max),
    );
    let (px, py, pw, ph) = (x + 50.0, y + 30.0, CELL_W - 70.0, CELL_H - 85.0);
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" font-size="11" font-weight="bold">{} — {}</text>"#,
        px,
        y + 16.0,
        escape(shape),
        escape(title)
    );
    for i in 0..=4 {
        let v = top * i as f64 / 4.0;
        let ty = py + ph - ph * i as f64 / 4.0;
        let _ = writeln!(
            out,
            r##"<line x1="{px:.1}" y1="{ty:.1}" x2="{:.1}" y2="{ty:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" font-size="9" text-anchor="end">{}</text>"##,
            px + pw,
            px - 4.0,
            ty + 3.0,
            label(v)
        );
    }
    let _ = writeln!(
        out,
        r##"<line x1="{px:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#333"/>"##,
        py + ph,
        px + pw,
        py + ph
    );
    if configs.is_empty() || modes.is_empty() {
        return;
    }
    let group_w = pw / configs.len() as f64;
    let bar_w = group_w * 0.8 / modes.len() as f64;
    for (g, config) in configs.iter().enumerate() {
        let gx = px + group_w * g as f64 + group_w * 0.1;
        for (b, (mode, colour)) in modes.iter().enumerate() {
            let Some(row) = results
                .rows
                .iter()
                .find(|r| r.shape == shape && r.config == *config && r.mode == *mode)
            else {
                continue;
            };
            let value = metric(row);
            let h = if value.is_finite() {
                (value / top * ph).clamp(0.0, ph)
            } else {
                0.0
            };
            let bx = gx + bar_w * b as f64;
            let _ = writeln!(
                out,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {} {}: {}</title></rect>"#,
                bx,
                py + ph - h,
                bar_w - 1.0,
                h,
                colour,
                escape(shape),
                escape(config),
                escape(mode),
                label(value)
            );
            let lx = bx + bar_w / 2.0;
            let ly = py + ph - h - 3.0;
            let _ = writeln!(
                out,
                r#"<text x="{lx:.1}" y="{ly:.1}" font-size="8" transform="rotate(-90 {lx:.1} {ly:.1})" dominant-baseline="middle">{}</text>"#,
                label(value)
            );
        }
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"#,
            px + group_w * (g as f64 + 0.5),
            py + ph + 14.0,
            escape(config)
        );
    }
}

/// The chart as an SVG document.
pub fn chart(results: &Results) -> String {
    let shapes = results.shapes();
    let metrics: [Metric; 2] = [
        ("ms/batch (median)", |r| r.median_ms),
        ("wrapped-allocator calls/batch", |r| r.calls),
    ];
    let width = LEFT * 2.0 + CELL_W * shapes.len().max(1) as f64;
    let height = TOP + CELL_H * metrics.len() as f64 + 10.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{LEFT}" y="24" font-size="16" font-weight="bold">all-MiniLM-L6-v2 (candle BERT): arena routing off and on, by allocator</text>"#
    );
    for (i, (mode, colour)) in MODE_COLOURS.iter().enumerate() {
        let x = LEFT + 130.0 * i as f64;
        let _ = writeln!(
            out,
            r#"<rect x="{x:.1}" y="38" width="12" height="12" fill="{colour}"/><text x="{:.1}" y="48" font-size="12">arena {mode}</text>"#,
            x + 16.0
        );
    }
    for (m, (title, metric)) in metrics.iter().enumerate() {
        for (s, shape) in shapes.iter().enumerate() {
            let origin = (LEFT + CELL_W * s as f64, TOP + CELL_H * m as f64);
            panel(&mut out, results, shape, title, *metric, origin);
        }
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_maxima() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(36.5), 40.0);
        assert_eq!(nice_max(2648.0), 3000.0);
        assert_eq!(nice_max(0.7), 0.8);
        assert_eq!(nice_max(250.0), 250.0);
        assert_eq!(nice_max(507.0), 600.0);
        assert_eq!(nice_max(f64::NAN), 1.0);
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("a<b&c>"), "a&lt;b&amp;c&gt;");
    }
}
