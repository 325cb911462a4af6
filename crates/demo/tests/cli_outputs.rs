//! The demo binary, run small: it prints every table, and `--json`, `--svg` and `--svg-dir`
//! write well-formed files with every variant in them.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// A fresh, empty folder under the target directory's temp folder.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the scratch folder");
    dir
}

/// The keys of the report, and the rows of every variant under both allocators.
fn check_json(doc: &Value) {
    let mut top: Vec<&str> = doc
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    top.sort_unstable();
    assert_eq!(
        top,
        ["basic_reduction", "digits", "fx", "machine", "targets"]
    );
    let machine = &doc["machine"];
    for key in [
        "build",
        "cpus",
        "platform",
        "quick",
        "allocator_calls_counted",
    ] {
        assert!(machine.get(key).is_some(), "no machine.{key}");
    }
    assert_eq!(machine["quick"], Value::Bool(true));
    let mut rows: Vec<&Value> = doc["fx"]["rows"]
        .as_array()
        .expect("fx rows")
        .iter()
        .collect();
    for workload in ["basic_reduction", "digits"] {
        let w = &doc[workload];
        for key in ["title", "measured", "unit", "sizes", "baseline"] {
            assert!(w.get(key).is_some(), "no {workload}.{key}");
        }
        let w_rows = w["rows"].as_array().expect("workload rows");
        for row in w_rows {
            for key in [
                "variant",
                "allocator",
                "arena",
                "total_ms",
                "median_ns",
                "p99_ns",
                "vs_baseline",
                "mimalloc_over_system",
                "allocs",
                "bytes",
                "minor_faults",
                "max_abs_diff",
            ] {
                assert!(
                    row.get(key).is_some(),
                    "no {key} in a {workload} row: {row}"
                );
            }
            assert!(row["median_ns"].as_f64().is_some_and(|ns| ns > 0.0));
        }
        for allocator in ["System", "mimalloc"] {
            assert!(
                w_rows.iter().any(|r| r["allocator"] == allocator),
                "no {allocator} row in {workload}"
            );
        }
        rows.extend(w_rows);
    }
    for variant in VARIANTS {
        assert!(
            rows.iter().any(|r| r["variant"] == variant),
            "no variant {variant} in the JSON"
        );
    }
    let targets = doc["targets"].as_array().expect("targets");
    assert!(!targets.is_empty());
    for t in targets {
        for key in ["workload", "target", "value", "limit", "met"] {
            assert!(t.get(key).is_some(), "no {key} in a target: {t}");
        }
    }
}

const VARIANTS: [&str; 9] = [
    "ndarray",
    "AllocArray",
    "CheckedAllocArray",
    "AllocArray, 64 MiB arena",
    "AllocArray, `infer_batch`",
    "AllocArray, default arena",
    "AllocArray + weights",
    "heap Vec",
    "default buffer",
];

#[test]
fn a_quick_run_prints_the_tables_and_writes_json_and_svg() {
    let dir = scratch_dir("cli_outputs");
    let (json, svg, svg_dir) = (
        dir.join("demo.json"),
        dir.join("demo.svg"),
        dir.join("charts"),
    );
    let output = Command::new(env!("CARGO_BIN_EXE_allocarrays-demo"))
        .args(["--quick", "--len", "10000", "--images", "4", "--batch", "2"])
        .args(["--rounds", "1"])
        .arg("--json")
        .arg(&json)
        .arg("--svg")
        .arg(&svg)
        .arg("--svg-dir")
        .arg(&svg_dir)
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    for heading in [
        "## f(x)",
        "## basic_reduction",
        "## DigitsModel",
        "## Targets",
    ] {
        assert!(stdout.contains(heading), "no {heading} in\n{stdout}");
    }
    for variant in VARIANTS {
        assert!(
            stdout.contains(&format!("| {variant} ")),
            "no row {variant}"
        );
    }

    let text = std::fs::read_to_string(&json).expect("the JSON file");
    let doc: Value = serde_json::from_str(&text).expect("valid JSON");
    check_json(&doc);
    // The keys come in the report's order.
    let at = |key: &str| text.find(&format!("\"{key}\": ")).expect(key);
    assert!(at("machine") < at("fx") && at("fx") < at("basic_reduction"));
    assert!(at("basic_reduction") < at("digits") && at("digits") < at("targets"));

    let mut svgs = vec![svg];
    for name in [
        "digits_time",
        "digits_allocs",
        "reduction_time",
        "reduction_allocs",
    ] {
        svgs.push(svg_dir.join(format!("{name}.svg")));
    }
    for path in &svgs {
        let text = std::fs::read_to_string(path).expect("an SVG file");
        assert!(text.starts_with("<svg "), "{}", path.display());
        assert!(text.trim_end().ends_with("</svg>"), "{}", path.display());
        assert_eq!(text.matches("<svg").count(), 1);
        assert_eq!(
            text.matches("<text").count(),
            text.matches("</text>").count()
        );
        assert!(text.contains("System") && text.contains("mimalloc"));
    }
    let combined = std::fs::read_to_string(&svgs[0]).expect("the combined SVG");
    assert!(combined.contains("median time per batch") && combined.contains("allocator calls"));
}

#[test]
fn bad_arguments_exit_with_usage() {
    let output = Command::new(env!("CARGO_BIN_EXE_allocarrays-demo"))
        .arg("--frobnicate")
        .output()
        .expect("run the demo");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("usage:"));
}
