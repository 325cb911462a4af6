//! Grouped horizontal bar charts as SVG: one group of bars per item (a variant, an allocator),
//! one bar per series in it (a backend, a mode), each bar labelled with its value, a legend of
//! the series, an axis with round ticks. [`document`] stacks charts into one SVG file.
//!
//! ```
//! use bench_support::svg::{document, BarChart};
//!
//! let chart = BarChart {
//!     title: "time per call".into(),
//!     axis: "µs (lower is better)".into(),
//!     series: vec!["System".into(), "mimalloc".into()],
//!     groups: vec![
//!         ("heap".into(), vec![Some(2.0), Some(1.5)]),
//!         ("arena".into(), vec![Some(0.5), None]),
//!     ],
//! };
//! let svg = document(&[chart]);
//! assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>\n"));
//! assert!(svg.contains(">heap</text>"));
//! ```

use std::fmt::Write as _;

/// One chart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BarChart {
    /// The title line.
    pub title: String,
    /// The quantity on the axis, with its unit.
    pub axis: String,
    /// The series' names, in the order of each group's values.
    pub series: Vec<String>,
    /// Per group: its label and one value per series (`None`, or a value that is not finite:
    /// no bar).
    pub groups: Vec<(String, Vec<Option<f64>>)>,
}

const WIDTH: f64 = 820.0;
const LABEL_W: f64 = 250.0;
const PLOT_W: f64 = 470.0;
const BAR_H: f64 = 13.0;
const BAR_GAP: f64 = 2.0;
const GROUP_GAP: f64 = 12.0;
const TOP: f64 = 58.0;
const BOTTOM: f64 = 40.0;
const LEGEND_STEP: f64 = 120.0;
/// Series colours, repeating after the last.
const COLORS: [&str; 6] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948",
];

/// `text` with the XML special characters escaped (and backquotes, Markdown's code marks,
/// dropped).
///
/// ```
/// assert_eq!(bench_support::svg::escape("a<b & `c`>"), "a&lt;b &amp; c&gt;");
/// ```
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '`' => {}
            c => out.push(c),
        }
    }
    out
}

/// A round step for about five axis ticks up to `max` (`max` > 0).
fn tick_step(max: f64) -> f64 {
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// A value for a label: whole and large numbers without decimals, small ones with a few.
///
/// ```
/// use bench_support::svg::label;
///
/// assert_eq!(label(1234.5), "1234");
/// assert_eq!(label(2.25), "2.2");
/// assert_eq!(label(0.125), "0.125");
/// ```
pub fn label(v: f64) -> String {
    if v.fract() == 0.0 || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

impl BarChart {
    /// Height of one group's bars.
    fn group_height(&self) -> f64 {
        let n = self.series.len().max(1) as f64;
        n * BAR_H + (n - 1.0) * BAR_GAP
    }

    /// The chart's height in pixels: a margin above and below, and a group of bars (one per
    /// series) per group.
    ///
    /// ```
    /// use bench_support::svg::BarChart;
    ///
    /// let one = BarChart { series: vec!["s".into()], groups: vec![("g".into(), vec![Some(1.0)])], ..Default::default() };
    /// let two = BarChart { groups: vec![("g".into(), vec![Some(1.0)]); 2], ..one.clone() };
    /// assert!(two.height() > one.height());
    /// ```
    pub fn height(&self) -> f64 {
        TOP + self.groups.len() as f64 * (self.group_height() + GROUP_GAP) + BOTTOM
    }

    /// The bars' values that are drawn.
    fn values(&self) -> impl Iterator<Item = f64> + '_ {
        self.groups
            .iter()
            .flat_map(|(_, values)| values.iter().flatten().copied())
            .filter(|v| v.is_finite())
    }

    /// The chart's elements (no `<svg>` element around them), drawn from `(0, y0)` down: what
    /// [`document`] stacks.
    ///
    /// ```
    /// use bench_support::svg::BarChart;
    ///
    /// let chart = BarChart { title: "t".into(), ..Default::default() };
    /// let body = chart.body(100.0);
    /// assert!(body.contains(r#"y="122.0""#) && !body.contains("<svg"));
    /// ```
    pub fn body(&self, y0: f64) -> String {
        let mut out = String::new();
        let max = self.values().fold(0.0f64, f64::max);
        let step = if max > 0.0 { tick_step(max) } else { 1.0 };
        let axis_max = (max / step).ceil().max(1.0) * step;
        let plot_top = y0 + TOP;
        let plot_bottom = y0 + self.height() - BOTTOM;
        self.title_and_legend(&mut out, y0);
        Self::grid(&mut out, step, axis_max, (plot_top, plot_bottom));
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\">{}</text>",
            LABEL_W + PLOT_W / 2.0,
            plot_bottom + 32.0,
            escape(&self.axis)
        );
        self.bars(&mut out, axis_max, plot_top);
        let _ = writeln!(
            out,
            "<line x1=\"{LABEL_W:.1}\" y1=\"{plot_top:.1}\" x2=\"{LABEL_W:.1}\" \
             y2=\"{plot_bottom:.1}\" stroke=\"#333\"/>"
        );
        out
    }

    fn title_and_legend(&self, out: &mut String, y0: f64) {
        let _ = writeln!(
            out,
            r#"<text x="10" y="{:.1}" font-size="15" font-weight="bold">{}</text>"#,
            y0 + 22.0,
            escape(&self.title)
        );
        for (i, name) in self.series.iter().enumerate() {
            let x = LABEL_W + i as f64 * LEGEND_STEP;
            let _ = writeln!(
                out,
                r#"<rect x="{x:.1}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="12">{}</text>"#,
                y0 + 34.0,
                COLORS[i % COLORS.len()],
                x + 16.0,
                y0 + 44.5,
                escape(name)
            );
        }
    }

    /// Vertical grid lines with their tick labels.
    fn grid(out: &mut String, step: f64, axis_max: f64, (plot_top, plot_bottom): (f64, f64)) {
        let ticks = (axis_max / step).round() as usize;
        for t in 0..=ticks {
            let v = t as f64 * step;
            let x = LABEL_W + PLOT_W * v / axis_max;
            let _ = writeln!(
                out,
                "<line x1=\"{x:.1}\" y1=\"{plot_top:.1}\" x2=\"{x:.1}\" y2=\"{plot_bottom:.1}\" \
                 stroke=\"#ddd\"/><text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"11\" \
                 text-anchor=\"middle\">{}</text>",
                plot_bottom + 14.0,
                label(v)
            );
        }
    }

    /// Every group: its label and its bars.
    fn bars(&self, out: &mut String, axis_max: f64, plot_top: f64) {
        let mut y = plot_top;
        for (name, values) in &self.groups {
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"end\">{}</text>",
                LABEL_W - 8.0,
                y + self.group_height() / 2.0 + 3.0,
                escape(name)
            );
            for (i, value) in values.iter().enumerate() {
                let top = y + i as f64 * (BAR_H + BAR_GAP);
                let Some(v) = value.filter(|v| v.is_finite()) else {
                    continue;
                };
                let w = (PLOT_W * v / axis_max).max(0.0);
                let series = self.series.get(i).map_or("", String::as_str);
                let _ = writeln!(
                    out,
                    "<rect x=\"{LABEL_W:.1}\" y=\"{top:.1}\" width=\"{w:.1}\" height=\"{BAR_H:.1}\" \
                     fill=\"{}\"><title>{}: {}</title></rect><text x=\"{:.1}\" y=\"{:.1}\" \
                     font-size=\"11\">{}</text>",
                    COLORS[i % COLORS.len()],
                    escape(series),
                    label(v),
                    LABEL_W + w + 4.0,
                    top + BAR_H - 2.5,
                    label(v)
                );
            }
            y += self.group_height() + GROUP_GAP;
        }
    }
}

/// A complete SVG document with `charts` one below the other, on white.
///
/// ```
/// let svg = bench_support::svg::document(&[]);
/// assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>\n"));
/// ```
pub fn document(charts: &[BarChart]) -> String {
    let height: f64 = charts.iter().map(BarChart::height).sum();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {WIDTH:.0} {height:.0}\" font-family=\"sans-serif\">"
    );
    let _ = writeln!(out, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let mut y = 0.0;
    for chart in charts {
        out.push_str(&chart.body(y));
        y += chart.height();
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_drop_needless_decimals() {
        assert_eq!(label(0.0), "0");
        assert_eq!(label(5.0), "5");
        assert_eq!(label(1234.5), "1234");
        assert_eq!(label(2.25), "2.2");
        assert_eq!(label(0.125), "0.125");
    }

    #[test]
    fn ticks_are_round() {
        // Within rounding: `powf` and `log10` need not be exact (Miri makes them inexact on
        // purpose).
        for (max, step) in [(10.0, 2.0), (7.0, 2.0), (1900.0, 500.0), (0.3, 0.1)] {
            let got = tick_step(max);
            assert!((got - step).abs() <= step * 1e-9, "{max}: {got}");
        }
    }

    fn chart(series: usize) -> BarChart {
        BarChart {
            title: "t <&>".into(),
            axis: "µs".into(),
            series: (0..series).map(|i| format!("s{i}")).collect(),
            groups: vec![
                (
                    "a".into(),
                    (0..series).map(|i| Some(i as f64 + 1.0)).collect(),
                ),
                ("`b`".into(), vec![Some(0.0), None, Some(f64::NAN)]),
            ],
        }
    }

    #[test]
    fn a_document_is_well_formed_svg() {
        let svg = document(&[chart(2), chart(2)]);
        assert!(svg.starts_with("<svg "));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("t &lt;&amp;&gt;"));
        // Background, then per chart: 2 legend boxes, 2 bars of `a`, 1 bar of `b` (the rest
        // is missing or not finite).
        assert_eq!(svg.matches("<rect").count(), 1 + 2 * (2 + 3));
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn more_series_make_taller_groups() {
        let (two, three) = (chart(2), chart(3));
        assert_eq!(three.height() - two.height(), 2.0 * (BAR_H + BAR_GAP));
        let svg = document(&[three]);
        assert!(svg.contains(COLORS[2]));
        assert_eq!(svg.matches("<rect").count(), 1 + 3 + 3 + 1);
    }
}
