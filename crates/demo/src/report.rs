//! The results of a run, and their Markdown tables.

use std::fmt::Write as _;

use crate::alloc_stack::Backend;

/// One variant of a workload under one backend.
#[derive(Debug, Clone)]
pub struct Row {
    /// What runs (`ndarray`, `AllocArray`, ...).
    pub variant: String,
    /// The system-level allocator new heap memory came from.
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
    pub faults: Option<f64>,
    /// Largest absolute difference of the results from the baseline's under the system
    /// allocator.
    pub max_abs_diff: Option<f64>,
}

/// One workload: its variants under both backends.
#[derive(Debug, Clone)]
pub struct Workload {
    /// A short key: `basic_reduction`, `digits`.
    pub key: &'static str,
    /// A short name for chart titles.
    pub name: String,
    /// The table's title.
    pub title: String,
    /// What was measured, in a line or two.
    pub header: String,
    /// What a unit is: `call`, `batch`.
    pub unit: &'static str,
    /// The sizes of the measurement (`rounds`, `images`, ...), for the JSON.
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

/// A performance target and whether this run met it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The workload's key.
    pub workload: &'static str,
    /// What is compared.
    pub what: String,
    /// The measured value.
    pub value: f64,
    /// The limit, as text (`<= 1.00`, `= 0`).
    pub limit: String,
    /// Whether the value is within the limit.
    pub met: bool,
}

/// One variant of the `f(x)` example.
#[derive(Debug, Clone)]
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
#[derive(Debug, Clone)]
pub struct FxReport {
    /// What was measured.
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

/// Column alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

/// A Markdown table with padded columns.
fn markdown_table(headers: &[(&str, Align)], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, (h, _))| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([h.chars().count(), 3])
                .max()
                .unwrap_or(3)
        })
        .collect();
    let pad = |text: &str, width: usize, align: Align| {
        let fill = " ".repeat(width - text.chars().count());
        match align {
            Align::Left => format!("{text}{fill}"),
            Align::Right => format!("{fill}{text}"),
        }
    };
    let mut out = String::new();
    let cells: Vec<String> = headers
        .iter()
        .zip(&widths)
        .map(|((h, a), &w)| pad(h, w, *a))
        .collect();
    let _ = writeln!(out, "| {} |", cells.join(" | "));
    // Each rule cell spans the cell and its two spaces; a colon at the end right-aligns.
    let rule: Vec<String> = headers
        .iter()
        .zip(&widths)
        .map(|((_, a), &w)| match a {
            Align::Left => "-".repeat(w + 2),
            Align::Right => format!("{}:", "-".repeat(w + 1)),
        })
        .collect();
    let _ = writeln!(out, "|{}|", rule.join("|"));
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(headers.iter().zip(&widths))
            .map(|(c, ((_, a), &w))| pad(c, w, *a))
            .collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
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
        let headers = [
            ("variant", Align::Left),
            ("ns/call", Align::Right),
            ("vs heap Vec", Align::Right),
            ("allocs/call", Align::Right),
            ("bytes/call", Align::Right),
        ];
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                vec![
                    r.variant.clone(),
                    format!("{:.2}", r.ns_per_call),
                    ratio(r.vs_heap),
                    format!("{:.3}", r.allocs_per_call),
                    format!("{:.1}", r.bytes_per_call),
                ]
            })
            .collect();
        format!("{}\n\n{}", self.header, markdown_table(&headers, &rows))
    }
}

impl Workload {
    /// The table: one row per variant and backend.
    pub fn markdown(&self) -> String {
        let unit = self.unit;
        let has_total = self.rows.iter().any(|r| r.total_ms.is_some());
        let has_diff = self.rows.iter().any(|r| r.max_abs_diff.is_some());
        let median_h = format!("median µs/{unit}");
        let p99_h = format!("p99 µs/{unit}");
        let vs_h = format!("vs {}", self.baseline);
        let allocs_h = format!("allocs/{unit}");
        let bytes_h = format!("bytes/{unit}");
        let faults_h = format!("faults/{unit}");
        let mut headers = vec![("variant", Align::Left), ("allocator", Align::Left)];
        if has_total {
            headers.push(("total ms", Align::Right));
        }
        headers.extend([
            (median_h.as_str(), Align::Right),
            (p99_h.as_str(), Align::Right),
            (vs_h.as_str(), Align::Right),
            ("mimalloc/System", Align::Right),
            (allocs_h.as_str(), Align::Right),
            (bytes_h.as_str(), Align::Right),
            (faults_h.as_str(), Align::Right),
        ]);
        if has_diff {
            headers.push(("max abs diff", Align::Right));
        }
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                let mut cells = vec![r.variant.clone(), r.backend.name().to_string()];
                if has_total {
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
                if has_diff {
                    cells.push(r.max_abs_diff.map_or("-".into(), difference));
                }
                cells
            })
            .collect();
        format!(
            "## {}\n\n{}\n\n{}",
            self.title,
            self.header,
            markdown_table(&headers, &rows)
        )
    }
}

impl Report {
    /// The targets table.
    pub fn targets_markdown(&self) -> String {
        let headers = [
            ("workload", Align::Left),
            ("target", Align::Left),
            ("value", Align::Right),
            ("limit", Align::Left),
            ("met", Align::Left),
        ];
        let rows: Vec<Vec<String>> = self
            .targets
            .iter()
            .map(|t| {
                vec![
                    t.workload.to_string(),
                    t.what.clone(),
                    format!("{:.3}", t.value),
                    t.limit.clone(),
                    if t.met { "yes" } else { "**no**" }.to_string(),
                ]
            })
            .collect();
        let missed = self.targets.iter().filter(|t| !t.met).count();
        format!(
            "## Targets\n\n{}\n{missed} of {} target(s) missed.",
            markdown_table(&headers, &rows),
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
    fn tables_pad_columns_and_mark_alignment() {
        let t = markdown_table(
            &[("name", Align::Left), ("n", Align::Right)],
            &[
                vec!["a".into(), "1".into()],
                vec!["long name".into(), "22".into()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "| name      |   n |");
        assert_eq!(lines[1], "|-----------|----:|");
        assert_eq!(lines[2], "| a         |   1 |");
        assert_eq!(lines[3], "| long name |  22 |");
    }

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
