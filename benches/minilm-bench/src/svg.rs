//! The results as SVG bar charts (drawn by `bench-support`'s writer): for every metric
//! (median and p99 ms/batch, calls to the wrapped allocator per batch, peak RSS) and shape,
//! one chart with a group of bars per allocator configuration, one bar per mode.

use bench_support::svg::{document, BarChart};

use crate::cli::Mode;
use crate::report::{Results, Row};

/// A metric: its axis label and the number it shows.
type Metric = (&'static str, fn(&Row) -> f64);

/// The metrics charted, in order.
const METRICS: [Metric; 4] = [
    ("ms/batch (median)", |r| r.median_ms),
    ("ms/batch (p99)", |r| r.p99_ms),
    ("wrapped-allocator calls/batch", |r| r.calls),
    ("peak RSS, MiB (VmHWM, all modes of a process)", |r| {
        r.peak_rss_kib / 1024.0
    }),
];

/// The chart of `metric` for `shape`: configurations as groups, modes as series.
fn chart(results: &Results, shape: &str, (axis, metric): Metric) -> BarChart {
    let rows: Vec<&Row> = results.rows.iter().filter(|r| r.shape == shape).collect();
    let mut configs: Vec<&str> = Vec::new();
    for r in &rows {
        if !configs.contains(&r.config.as_str()) {
            configs.push(&r.config);
        }
    }
    let modes: Vec<&str> = Mode::ALL
        .iter()
        .map(|m| m.name())
        .filter(|m| rows.iter().any(|r| r.mode == *m))
        .collect();
    BarChart {
        title: format!("all-MiniLM-L6-v2, {shape}: {axis}"),
        axis: axis.to_string(),
        series: modes.iter().map(|m| format!("arena {m}")).collect(),
        groups: configs
            .iter()
            .map(|config| {
                let values = modes
                    .iter()
                    .map(|mode| {
                        rows.iter()
                            .find(|r| r.config == *config && r.mode == *mode)
                            .map(|r| metric(r))
                    })
                    .collect();
                (config.to_string(), values)
            })
            .collect(),
    }
}

/// The charts as one SVG document: every metric for every shape, one below the other.
pub fn chart_document(results: &Results) -> String {
    let shapes = results.shapes();
    let charts: Vec<BarChart> = METRICS
        .iter()
        .flat_map(|&metric| shapes.iter().map(move |shape| (shape, metric)))
        .map(|(shape, metric)| chart(results, shape, metric))
        .collect();
    document(&charts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_per_metric_and_shape_with_a_bar_per_mode() {
        let mut results = Results::default();
        let line = |config: &str, mode: &str, ms: f64| {
            format!(
                r#"{{"kind": "result", "config": "{config}", "shape": "1x8", "mode": "{mode}", "passes": 1, "millis": [{ms}], "calls_per_batch": 3, "peak_rss_kib": 2048}}"#
            )
        };
        let stdout = [
            line("system", "off", 10.0),
            line("system", "on", 8.0),
            line("mimalloc", "off", 9.0),
        ]
        .join("\n");
        results.add_output(&stdout).unwrap();
        let c = chart(&results, "1x8", METRICS[0]);
        assert_eq!(c.series, ["arena off", "arena on"]);
        assert_eq!(
            c.groups,
            [
                ("system".to_string(), vec![Some(10.0), Some(8.0)]),
                ("mimalloc".to_string(), vec![Some(9.0), None]),
            ]
        );
        assert_eq!(
            chart(&results, "1x8", METRICS[3]).groups[0].1,
            [Some(2.0), Some(2.0)]
        );
        let svg = chart_document(&results);
        assert_eq!(svg.matches("all-MiniLM-L6-v2, 1x8").count(), METRICS.len());
        assert!(svg.ends_with("</svg>\n"));
    }
}
