//! The results of a run, their Markdown tables, and their JSON form (through `serde`: the
//! field names below, renamed where the JSON key differs).

use std::fmt::Write as _;

use bench_support::table::{Align, Table};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::alloc_stack::Backend;

/// One variant of a workload under one backend.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// What runs (`ndarray`, `AllocArray`, ...).
    pub variant: String,
    /// The system-level allocator new heap memory came from.
    #[serde(rename = "allocator")]
    pub backend: Backend,
    /// Whether the variant runs in an arena (and so should make no allocator calls).
    pub arena: bool,
    /// Median time of one whole pass over the data, in milliseconds (workloads with passes).
    pub total_ms: Option<f64>,
    /// Median time per unit (call or batch), in nanoseconds.
    pub median_ns: f64,
    /// 99th percentile of the time per unit, in nanoseconds.
    pub p99_ns: f64,
    /// Time relative to the baseline variant under the same backend (median of per-round
    /// ratios).
    pub vs_baseline: f64,
    /// Time under mimalloc relative to the same variant under the system allocator (median of
    /// per-round ratios); set on the mimalloc row.
    pub mimalloc_over_system: Option<f64>,
    /// Allocator calls (`alloc`, `alloc_zeroed`, `realloc`) per unit in the steady state.
    pub allocs: f64,
    /// Bytes those calls asked for, per unit.
    pub bytes: f64,
    /// Minor page faults per unit; `None` where they can't be read.
    #[serde(rename = "minor_faults")]
    pub faults: Option<f64>,
    /// Largest absolute difference of the results from the baseline's under the system
    /// allocator.
    pub max_abs_diff: Option<f64>,
}

/// One workload: its variants under both backends.
#[derive(Debug, Clone, Serialize)]
pub struct Workload {
    /// A short key: `basic_reduction`, `digits` (the workload's key in the JSON).
    #[serde(skip)]
    pub key: &'static str,
    /// A short name for chart titles.
    #[serde(skip)]
    pub name: String,
    /// The table's title.
    pub title: String,
    /// What was measured, in a line or two.
    #[serde(rename = "measured")]
    pub header: String,
    /// What a unit is: `call`, `batch`.
    pub unit: &'static str,
    /// The sizes of the measurement (`rounds`, `images`, ...), for the JSON.
    #[serde(serialize_with = "as_map")]
    pub sizes: Vec<(&'static str, usize)>,
    /// The baseline variant's name.
    pub baseline: String,
    /// Every variant under every backend, variant by variant.
    pub rows: Vec<Row>,
}

impl Workload {
    /// The row of `variant` under `backend`.
    pub fn row(&self, variant: &str, backend: Backend) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.variant == variant && r.backend == backend)
    }

    /// The variants, in order, each once.
    pub fn variants(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for r in &self.rows {
            if !names.contains(&r.variant.as_str()) {
                names.push(&r.variant);
            }
        }
        names
    }
}

/// Writes `(key, value)` pairs as a JSON object, in their order.
fn as_map<S: Serializer>(pairs: &[(&'static str, usize)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(pairs.iter().copied())
}

/// A performance target and whether this run met it.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// The workload's key.
    pub workload: &'static str,
    /// What is compared.
    #[serde(rename = "target")]
    pub what: String,
    /// The measured value.
    pub value: f64,
    /// The limit, as text (`<= 1.00`, `= 0`).
    pub limit: String,
    /// Whether the value is within the limit.
    pub met: bool,
}

/// One variant of the `f(x)` example.
#[derive(Debug, Clone, Serialize)]
pub struct FxRow {
    /// The variant.
    pub variant: String,
    /// Median nanoseconds per call.
    pub ns_per_call: f64,
    /// Time relative to the heap `Vec` variant.
    pub vs_heap: f64,
    /// Allocator calls per call.
    pub allocs_per_call: f64,
    /// Bytes asked for per call.
    pub bytes_per_call: f64,
}

/// The `f(x) = sum(x .+ 1)` example.
#[derive(Debug, Clone, Serialize)]
pub struct FxReport {
    /// What was measured.
    #[serde(rename = "measured")]
    pub header: String,
    /// The variants.
    pub rows: Vec<FxRow>,
}

/// Everything one run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// `release` or `debug`.
    pub build: &'static str,
    /// Logical CPUs available.
    pub cpus: usize,
    /// Operating system and architecture.
    pub platform: String,
    /// Whether this was a `--quick` run.
    pub quick: bool,
    /// Whether allocator calls were counted (the counting allocator is installed).
    pub counting: bool,
    /// `f(x)`.
    pub fx: FxReport,
    /// `basic_reduction`.
    pub reduction: Workload,
    /// The `DigitsModel` inference.
    pub digits: Workload,
    /// The targets, checked.
    pub targets: Vec<Target>,
}

/// The machine and build of a run, as the JSON's `machine` object.
#[derive(Serialize)]
struct Machine<'a> {
    build: &'a str,
    cpus: usize,
    platform: &'a str,
    quick: bool,
    allocator_calls_counted: bool,
}

/// The JSON document: `machine`, `fx`, each workload under its key, `targets`.
impl Serialize for Report {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(5))?;
        map.serialize_entry(
            "machine",
            &Machine {
                build: self.build,
                cpus: self.cpus,
                platform: &self.platform,
                quick: self.quick,
                allocator_calls_counted: self.counting,
            },
        )?;
        map.serialize_entry("fx", &self.fx)?;
        map.serialize_entry(self.reduction.key, &self.reduction)?;
        map.serialize_entry(self.digits.key, &self.digits)?;
        map.serialize_entry("targets", &self.targets)?;
        map.end()
    }
}

impl Report {
    /// Every figure as pretty-printed JSON (two-space indent), ending with a newline.
    /// Numbers that are not finite (a ratio of nothing) are written as `null`.
    pub fn json(&self) -> String {
        // Serializing plain structs and maps with string keys into a string can't fail.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// Microseconds with a precision that suits the size.
fn micros(ns: f64) -> String {
    let us = ns / 1e3;
    if us >= 100.0 {
        format!("{us:.0}")
    } else if us >= 1.0 {
        format!("{us:.1}")
    } else {
        format!("{us:.3}")
    }
}

/// A per-unit count: exact zero shows as `0`, rare events keep a significant digit.
fn per_unit(v: f64) -> String {
    if v == 0.0 {
        "0".to_string()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 0.01 {
        format!("{v:.2}")
    } else {
        format!("{v:.1e}")
    }
}

/// An absolute difference: exact zero shows as `0`.
fn difference(d: f64) -> String {
    if d == 0.0 {
        "0".to_string()
    } else {
        format!("{d:.1e}")
    }
}

/// A ratio as `0.52x`.
fn ratio(v: f64) -> String {
    format!("{v:.2}x")
}

impl FxReport {
    /// The table.
    pub fn markdown(&self) -> String {
        let mut table = Table::new([
            ("variant", Align::Left),
            ("ns/call", Align::Right),
            ("vs heap Vec", Align::Right),
            ("allocs/call", Align::Right),
            ("bytes/call", Align::Right),
        ]);
        for r in &self.rows {
            table.row([
                r.variant.clone(),
                format!("{:.2}", r.ns_per_call),
                ratio(r.vs_heap),
                format!("{:.3}", r.allocs_per_call),
                format!("{:.1}", r.bytes_per_call),
            ]);
        }
        format!("{}\n\n{}", self.header, table.markdown())
    }
}

impl Workload {
    /// Whether some row has a `total ms` (workloads whose rounds are passes over the data).
    fn has_total(&self) -> bool {
        self.rows.iter().any(|r| r.total_ms.is_some())
    }

    /// Whether some row compares its results with the baseline's.
    fn has_diff(&self) -> bool {
        self.rows.iter().any(|r| r.max_abs_diff.is_some())
    }

    /// The table's columns: the optional ones only where some row has a value.
    fn columns(&self) -> Vec<(String, Align)> {
        let unit = self.unit;
        let mut columns = vec![
            ("variant".to_string(), Align::Left),
            ("allocator".to_string(), Align::Left),
        ];
        if self.has_total() {
            columns.push(("total ms".to_string(), Align::Right));
        }
        for header in [
            format!("median µs/{unit}"),
            format!("p99 µs/{unit}"),
            format!("vs {}", self.baseline),
            "mimalloc/System".to_string(),
            format!("allocs/{unit}"),
            format!("bytes/{unit}"),
            format!("faults/{unit}"),
        ] {
            columns.push((header, Align::Right));
        }
        if self.has_diff() {
            columns.push(("max abs diff".to_string(), Align::Right));
        }
        columns
    }

    /// The cells of `r`, for the columns of [`Workload::columns`].
    fn cells(&self, r: &Row) -> Vec<String> {
        let mut cells = vec![r.variant.clone(), r.backend.name().to_string()];
        if self.has_total() {
            cells.push(r.total_ms.map_or("-".into(), |t| format!("{t:.1}")));
        }
        cells.extend([
            micros(r.median_ns),
            micros(r.p99_ns),
            ratio(r.vs_baseline),
            r.mimalloc_over_system.map_or("-".into(), ratio),
            per_unit(r.allocs),
            per_unit(r.bytes),
            r.faults.map_or("-".into(), per_unit),
        ]);
        if self.has_diff() {
            cells.push(r.max_abs_diff.map_or("-".into(), difference));
        }
        cells
    }

    /// The table: one row per variant and backend.
    pub fn markdown(&self) -> String {
        let mut table = Table::new(self.columns());
        for r in &self.rows {
            table.row(self.cells(r));
        }
        format!(
            "## {}\n\n{}\n\n{}",
            self.title,
            self.header,
            table.markdown()
        )
    }
}

impl Report {
    /// The targets table.
    pub fn targets_markdown(&self) -> String {
        let mut table = Table::new([
            ("workload", Align::Left),
            ("target", Align::Left),
            ("value", Align::Right),
            ("limit", Align::Left),
            ("met", Align::Left),
        ]);
        for t in &self.targets {
            table.row([
                t.workload.to_string(),
                t.what.clone(),
                format!("{:.3}", t.value),
                t.limit.clone(),
                if t.met { "yes" } else { "**no**" }.to_string(),
            ]);
        }
        let missed = self.targets.iter().filter(|t| !t.met).count();
        format!(
            "## Targets\n\n{}\n{missed} of {} target(s) missed.",
            table.markdown(),
            self.targets.len()
        )
    }

    /// Every table, as printed by the demo.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# allocarrays demo: the seed's examples in Rust\n");
        let _ = writeln!(
            out,
            "{} build{}; {} CPUs; {}. Allocator calls are those that reach the system allocator \
             or mimalloc (counted by the `ArenaRouter<Counting<Switch>>` global allocator{}); \
             page faults are the measuring thread's minor faults (getrusage).\n",
            self.build,
            if self.quick { ", --quick" } else { "" },
            self.cpus,
            self.platform,
            if self.counting {
                ""
            } else {
                " (NOT installed here: counts are zero)"
            },
        );
        let _ = writeln!(out, "## f(x) = sum(x .+ 1) with bump buffers\n");
        let _ = writeln!(out, "{}", self.fx.markdown());
        let _ = writeln!(out, "{}", self.reduction.markdown());
        let _ = writeln!(out, "{}", self.digits.markdown());
        let _ = writeln!(out, "{}", self.targets_markdown());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_formatted_by_size() {
        assert_eq!(micros(1_234_567.0), "1235");
        assert_eq!(micros(12_345.0), "12.3");
        assert_eq!(micros(123.0), "0.123");
        assert_eq!(per_unit(0.0), "0");
        assert_eq!(per_unit(2.5), "2.50");
        assert_eq!(per_unit(0.002), "2.0e-3");
        assert_eq!(difference(0.0), "0");
        assert_eq!(difference(1.5e-7), "1.5e-7");
        assert_eq!(ratio(0.5), "0.50x");
    }
}
