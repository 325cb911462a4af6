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
