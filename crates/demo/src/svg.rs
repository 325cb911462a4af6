//! The demo's charts: per workload, one grouped bar chart of the time per unit and one of the
//! allocator calls per unit, each variant a group with the System and mimalloc bars side by
//! side (drawn by `bench-support`'s SVG writer).

pub use bench_support::svg::{document, BarChart};

use crate::alloc_stack::Backend;
use crate::report::{Row, Workload};

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
        series: Backend::ALL.map(|b| b.name().to_string()).to_vec(),
        groups: w
            .variants()
            .into_iter()
            .map(|name| {
                let values = Backend::ALL.map(|b| w.row(name, b).map(&value));
                (name.to_string(), values.to_vec())
            })
            .collect(),
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

    fn row(variant: &str, backend: Backend, median_ns: f64) -> Row {
        Row {
            variant: variant.to_string(),
            backend,
            arena: false,
            total_ms: None,
            median_ns,
            p99_ns: median_ns,
            vs_baseline: 1.0,
            mimalloc_over_system: None,
            allocs: 2.0,
            bytes: 0.0,
            faults: None,
            max_abs_diff: None,
        }
    }

    #[test]
    fn a_workload_chart_has_a_group_per_variant_and_a_bar_per_backend() {
        let w = Workload {
            key: "k",
            name: "work".into(),
            title: String::new(),
            header: String::new(),
            unit: "call",
            sizes: vec![],
            baseline: "a".into(),
            rows: vec![
                row("a", Backend::System, 3000.0),
                row("a", Backend::Mimalloc, 1500.0),
                row("b", Backend::System, 500.0),
            ],
        };
        let chart = time_chart(&w);
        assert_eq!(chart.series, ["System", "mimalloc"]);
        assert_eq!(
            chart.groups,
            [
                ("a".to_string(), vec![Some(3.0), Some(1.5)]),
                ("b".to_string(), vec![Some(0.5), None]),
            ]
        );
        assert_eq!(chart.title, "work: median time per call");
        assert_eq!(allocs_chart(&w).groups[1].1, [Some(2.0), None]);
    }
}
