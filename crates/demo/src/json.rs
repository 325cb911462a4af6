//! The report as JSON, written by hand: a small value tree and its pretty printer.

use std::fmt::Write as _;

use crate::report::{FxReport, Report, Row, Target, Workload};

/// A JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number; non-finite values are written as `null`.
    Num(f64),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object, keys in insertion order.
    Obj(Vec<(String, Json)>),
}

impl From<f64> for Json {
    fn from(v: f64) -> Self {
        Json::Num(v)
    }
}

impl From<usize> for Json {
    fn from(v: usize) -> Self {
        Json::Num(v as f64)
    }
}

impl From<bool> for Json {
    fn from(v: bool) -> Self {
        Json::Bool(v)
    }
}

impl From<&str> for Json {
    fn from(v: &str) -> Self {
        Json::Str(v.to_string())
    }
}

impl From<String> for Json {
    fn from(v: String) -> Self {
        Json::Str(v)
    }
}

impl<T: Into<Json>> From<Option<T>> for Json {
    fn from(v: Option<T>) -> Self {
        v.map_or(Json::Null, Into::into)
    }
}

/// An object from `(key, value)` pairs.
fn obj<const N: usize>(fields: [(&str, Json); N]) -> Json {
    Json::Obj(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// Writes `s` as a JSON string literal.
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl Json {
    /// The value as pretty-printed JSON (two-space indent), ending with a newline.
    pub fn pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out.push('\n');
        out
    }

    fn write(&self, out: &mut String, depth: usize) {
        let indent = |out: &mut String, depth: usize| {
            out.push('\n');
            out.push_str(&"  ".repeat(depth));
        };
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Num(v) if !v.is_finite() => out.push_str("null"),
            Json::Num(v) if v.fract() == 0.0 && v.abs() < 1e15 => {
                let _ = write!(out, "{}", *v as i64);
            }
            Json::Num(v) => {
                let _ = write!(out, "{v}");
            }
            Json::Str(s) => write_str(out, s),
            Json::Arr(items) if items.is_empty() => out.push_str("[]"),
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    indent(out, depth + 1);
                    item.write(out, depth + 1);
                }
                indent(out, depth);
                out.push(']');
            }
            Json::Obj(fields) if fields.is_empty() => out.push_str("{}"),
            Json::Obj(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    indent(out, depth + 1);
                    write_str(out, key);
                    out.push_str(": ");
                    value.write(out, depth + 1);
                }
                indent(out, depth);
                out.push('}');
            }
        }
    }
}

fn row(r: &Row) -> Json {
    obj([
        ("variant", r.variant.as_str().into()),
        ("allocator", r.backend.name().into()),
        ("arena", r.arena.into()),
        ("total_ms", r.total_ms.into()),
        ("median_ns", r.median_ns.into()),
        ("p99_ns", r.p99_ns.into()),
        ("vs_baseline", r.vs_baseline.into()),
        ("mimalloc_over_system", r.mimalloc_over_system.into()),
        ("allocs", r.allocs.into()),
        ("bytes", r.bytes.into()),
        ("minor_faults", r.faults.into()),
        ("max_abs_diff", r.max_abs_diff.into()),
    ])
}

fn workload(w: &Workload) -> Json {
    obj([
        ("title", w.title.as_str().into()),
        ("measured", w.header.as_str().into()),
        ("unit", w.unit.into()),
        (
            "sizes",
            Json::Obj(
                w.sizes
                    .iter()
                    .map(|&(k, v)| (k.to_string(), v.into()))
                    .collect(),
            ),
        ),
        ("baseline", w.baseline.as_str().into()),
        ("rows", Json::Arr(w.rows.iter().map(row).collect())),
    ])
}

fn fx(f: &FxReport) -> Json {
    let rows = f
        .rows
        .iter()
        .map(|r| {
            obj([
                ("variant", r.variant.as_str().into()),
                ("ns_per_call", r.ns_per_call.into()),
                ("vs_heap", r.vs_heap.into()),
                ("allocs_per_call", r.allocs_per_call.into()),
                ("bytes_per_call", r.bytes_per_call.into()),
            ])
        })
        .collect();
    obj([
        ("measured", f.header.as_str().into()),
        ("rows", Json::Arr(rows)),
    ])
}

fn target(t: &Target) -> Json {
    obj([
        ("workload", t.workload.into()),
        ("target", t.what.as_str().into()),
        ("value", t.value.into()),
        ("limit", t.limit.as_str().into()),
        ("met", t.met.into()),
    ])
}

/// Every figure of `report`.
pub fn report(report: &Report) -> Json {
    obj([
        (
            "machine",
            obj([
                ("build", report.build.into()),
                ("cpus", report.cpus.into()),
                ("platform", report.platform.as_str().into()),
                ("quick", report.quick.into()),
                ("allocator_calls_counted", report.counting.into()),
            ]),
        ),
        ("fx", fx(&report.fx)),
        (report.reduction.key, workload(&report.reduction)),
        (report.digits.key, workload(&report.digits)),
        (
            "targets",
            Json::Arr(report.targets.iter().map(target).collect()),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_as_json() {
        let v = obj([
            ("a", 1.0.into()),
            (
                "b",
                Json::Arr(vec![0.5.into(), f64::NAN.into(), Json::Null]),
            ),
            ("c", "q\"uote\\ \n\u{1}".into()),
            ("d", Json::Obj(vec![])),
            ("e", Some(true).into()),
        ]);
        assert_eq!(
            v.pretty(),
            "{\n  \"a\": 1,\n  \"b\": [\n    0.5,\n    null,\n    null\n  ],\n  \
             \"c\": \"q\\\"uote\\\\ \\n\\u0001\",\n  \"d\": {},\n  \"e\": true\n}\n"
        );
    }
}
