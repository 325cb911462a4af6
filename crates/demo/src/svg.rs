//! Grouped horizontal bar charts as SVG, written by hand: one group per variant, one bar per
//! backend (System and mimalloc side by side), the value printed at the end of each bar.

use std::fmt::Write as _;

use crate::alloc_stack::Backend;
use crate::report::{Row, Workload};

/// One chart.
#[derive(Debug, Clone)]
pub struct BarChart {
    /// The title line.
    pub title: String,
    /// The quantity on the axis, with its unit.
    pub axis: String,
    /// Per group: its label and the value of each series (`None`: no bar).
    pub groups: Vec<(String, [Option<f64>; 2])>,
    /// The two series' names, in the order of the values.
    pub series: [String; 2],
}

const WIDTH: f64 = 820.0;
const LABEL_W: f64 = 250.0;
const PLOT_W: f64 = 470.0;
const BAR_H: f64 = 13.0;
const BAR_GAP: f64 = 2.0;
const GROUP_GAP: f64 = 12.0;
const TOP: f64 = 58.0;
const BOTTOM: f64 = 40.0;
const COLORS: [&str; 2] = ["#4e79a7", "#f28e2b"];

/// Text with the XML special characters escaped.
fn escape(text: &str) -> String {
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

/// A round step for about five axis ticks up to `max`.
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
fn label(v: f64) -> String {
    if v.fract() == 0.0 || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

impl BarChart {
    /// The chart's height in pixels.
    fn height(&self) -> f64 {
        let group_h = 2.0 * BAR_H + BAR_GAP;
        TOP + self.groups.len() as f64 * (group_h + GROUP_GAP) + BOTTOM
    }

    /// The chart's elements, drawn from `(0, y0)` down.
    fn body(&self, y0: f64) -> String {
        let mut out = String::new();
        let max = self
            .groups
            .iter()
            .flat_map(|(_, values)| values.iter().flatten())
            .fold(0.0f64, |m, &v| m.max(v));
        let step = if max > 0.0 { tick_step(max) } else { 1.0 };
        let axis_max = (max / step).ceil().max(1.0) * step;
        let x_of = |v: f64| LABEL_W + PLOT_W * v / axis_max;
        let plot_top = y0 + TOP;
        let plot_bottom = y0 + self.height() - BOTTOM;

        let _ = writeln!(
            out,
            r#"<text x="10" y="{:.1}" font-size="15" font-weight="bold">{}</text>"#,
            y0 + 22.0,
            escape(&self.title)
        );
        // Legend.
        for (i, (name, color)) in self.series.iter().zip(COLORS).enumerate() {
            let x = LABEL_W + i as f64 * 120.0;
            let _ = writeln!(
                out,
                r#"<rect x="{x:.1}" y="{:.1}" width="12" height="12" fill="{color}"/><text x="{:.1}" y="{:.1}" font-size="12">{}</text>"#,
                y0 + 34.0,
                x + 16.0,
                y0 + 44.5,
                escape(name)
            );
        }
        // Grid and ticks.
        let ticks = (axis_max / step).round() as usize;
        for t in 0..=ticks {
            let v = t as f64 * step;
            let x = x_of(v);
            let _ = writeln!(
                out,
                "<line x1=\"{x:.1}\" y1=\"{plot_top:.1}\" x2=\"{x:.1}\" y2=\"{plot_bottom:.1}\" \
                 stroke=\"#ddd\"/><text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"11\" \
                 text-anchor=\"middle\">{}</text>",
                plot_bottom + 14.0,
                label(v)
            );
        }
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\">{}</text>",
            LABEL_W + PLOT_W / 2.0,
            plot_bottom + 32.0,
            escape(&self.axis)
        );
        // Bars.
        let mut y = plot_top;
        for (name, values) in &self.groups {
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"end\">{}</text>",
                LABEL_W - 8.0,
                y + BAR_H + 4.0,
                escape(name)
            );
            for (i, value) in values.iter().enumerate() {
                let top = y + i as f64 * (BAR_H + BAR_GAP);
                let Some(v) = value else { continue };
                let w = (x_of(*v) - LABEL_W).max(0.0);
                let _ = writeln!(
                    out,
                    "<rect x=\"{LABEL_W:.1}\" y=\"{top:.1}\" width=\"{w:.1}\" height=\"{BAR_H:.1}\" \
                     fill=\"{}\"><title>{}: {}</title></rect><text x=\"{:.1}\" y=\"{:.1}\" \
                     font-size=\"11\">{}</text>",
                    COLORS[i],
                    escape(&self.series[i]),
                    label(*v),
                    LABEL_W + w + 4.0,
                    top + BAR_H - 2.5,
                    label(*v)
                );
            }
            y += 2.0 * BAR_H + BAR_GAP + GROUP_GAP;
        }
        let _ = writeln!(
            out,
            "<line x1=\"{LABEL_W:.1}\" y1=\"{plot_top:.1}\" x2=\"{LABEL_W:.1}\" \
             y2=\"{plot_bottom:.1}\" stroke=\"#333\"/>"
        );
        out
    }
}

/// A complete SVG document with `charts` one below the other.
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

/// The chart of `value(row)` per variant of `w`, System and mimalloc side by side.
pub fn workload_chart(
    w: &Workload,
    title: &str,
    axis: &str,
    value: impl Fn(&Row) -> f64,
) -> BarChart {
    BarChart {
        title: title.to_string(),
        axis: axis.to_string(),
        groups: w
            .variants()
            .into_iter()
            .map(|name| {
                let values = Backend::ALL.map(|b| w.row(name, b).map(&value));
                (name.to_string(), values)
            })
            .collect(),
        series: Backend::ALL.map(|b| b.name().to_string()),
    }
}

/// The time chart of a workload: median microseconds per unit.
pub fn time_chart(w: &Workload) -> BarChart {
    workload_chart(
        w,
        &format!("{}: median time per {}", w.name, w.unit),
        &format!("µs per {} (lower is better)", w.unit),
        |r| r.median_ns / 1e3,
    )
}

/// The allocator-calls chart of a workload: calls per unit in the steady state.
pub fn allocs_chart(w: &Workload) -> BarChart {
    workload_chart(
        w,
        &format!("{}: allocator calls per {} (steady state)", w.name, w.unit),
        &format!("alloc + realloc calls per {}", w.unit),
        |r| r.allocs,
    )
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
        assert_eq!(tick_step(10.0), 2.0);
        assert_eq!(tick_step(7.0), 2.0);
        assert_eq!(tick_step(1900.0), 500.0);
        assert_eq!(tick_step(0.3), 0.1);
    }

    #[test]
    fn a_document_is_well_formed_svg() {
        let chart = BarChart {
            title: "t <&>".into(),
            axis: "µs".into(),
            groups: vec![
                ("a".into(), [Some(1.0), Some(2.0)]),
                ("`b`".into(), [Some(0.0), None]),
            ],
            series: ["System".into(), "mimalloc".into()],
        };
        let svg = document(&[chart.clone(), chart]);
        assert!(svg.starts_with("<svg "));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("t &lt;&amp;&gt;"));
        assert_eq!(svg.matches("<rect").count(), 1 + 2 * (2 + 3));
        // Every element opened is closed (or self-closing).
        let opened = svg.matches("<text").count();
        assert_eq!(opened, svg.matches("</text>").count());
    }
}
