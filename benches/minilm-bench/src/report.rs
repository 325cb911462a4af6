//! The driver: runs each allocator configuration in a process of its own (this binary again,
//! with the environment that configuration needs), collects their JSON lines and prints one
//! Markdown report; optionally writes the results as JSON and a bar chart as SVG.

use std::fmt::Write as _;
use std::process::{Command, Stdio};

use bench_support::stats::{median, quantile};
use bench_support::table::{Align, Table};
use serde_json::{json, Value};

use crate::alloc::ALLOCATOR_ENV;
use crate::cli::{AllocConfig, Mode, Options};
use crate::model::{find_model_dir, Result};
use crate::svg;

/// One result line: a shape, an allocator configuration and a mode.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Allocator configuration name.
    pub config: String,
    /// `BATCHxSEQ`.
    pub shape: String,
    /// Mode name.
    pub mode: String,
    /// Measured passes (over all processes of the configuration).
    pub passes: f64,
    /// Time of each measured pass, ms.
    pub millis: Vec<f64>,
    /// CPU time (all threads) of each measured pass, ms.
    pub cpu_millis: Vec<f64>,
    /// Median time per batch, ms.
    pub median_ms: f64,
    /// 99th percentile (nearest rank) of the time per batch, ms.
    pub p99_ms: f64,
    /// Median CPU time per batch, ms.
    pub cpu_ms: f64,
    /// Calls to the wrapped allocator per batch (mean).
    pub calls: f64,
    /// The most calls in one measured batch.
    pub calls_max: f64,
    /// Bytes asked of the wrapped allocator per batch.
    pub bytes: f64,
    /// Minor page faults per batch.
    pub faults: f64,
    /// Allocations served by the arena per batch.
    pub arena_allocs: f64,
    /// Bytes served by the arena per batch.
    pub arena_bytes: f64,
    /// Bytes pinned at the resets after a batch, mean and most.
    pub pinned_mean: f64,
    /// See `pinned_mean`.
    pub pinned_max: f64,
    /// Largest difference of an embedding value to the arena-off reference.
    pub max_abs_diff: f64,
    /// Calls per batch by thread role.
    pub by_role: Vec<(String, f64)>,
    /// Calls per batch by size class (largest size of the class, count).
    pub by_size: Vec<(u64, f64)>,
    /// Peak resident set size (VmHWM) of the configuration's processes, KiB: the most over its
    /// processes, each read after the shape's passes in every mode (NaN where not reported).
    pub peak_rss_kib: f64,
}

fn num(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

fn numbers(v: &Value, key: &str) -> Vec<f64> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

/// Merges `(key, per-batch value)` lists weighted by passes.
fn merge_keyed<K: PartialEq + Clone>(
    mine: &mut Vec<(K, f64)>,
    (w_mine, w_other): (f64, f64),
    other: &[(K, f64)],
) {
    let total = w_mine + w_other;
    for entry in mine.iter_mut() {
        entry.1 *= w_mine / total;
    }
    for (key, value) in other {
        let add = value * w_other / total;
        match mine.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 += add,
            None => mine.push((key.clone(), add)),
        }
    }
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

impl Row {
    /// The row of a `"kind": "result"` line.
    pub fn from_json(v: &Value) -> Row {
        let by_role = v
            .get("calls_by_role")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, x)| (k.clone(), x.as_f64().unwrap_or(0.0)))
                    .collect()
            })
            .unwrap_or_default();
        let by_size = v
            .get("calls_by_size")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|x| {
                        (
                            x.get("max_bytes").and_then(Value::as_u64).unwrap_or(0),
                            num(x, "per_batch"),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let millis = numbers(v, "millis");
        let cpu_millis = numbers(v, "cpu_millis");
        Row {
            config: text(v, "config"),
            shape: text(v, "shape"),
            mode: text(v, "mode"),
            passes: num(v, "passes"),
            median_ms: if millis.is_empty() {
                num(v, "median_ms")
            } else {
                median(&millis)
            },
            p99_ms: if millis.is_empty() {
                num(v, "p99_ms")
            } else {
                quantile(&millis, 0.99)
            },
            cpu_ms: median(&cpu_millis),
            millis,
            cpu_millis,
            calls: num(v, "calls_per_batch"),
            calls_max: num(v, "calls_max"),
            bytes: num(v, "bytes_per_batch"),
            faults: num(v, "faults_per_batch"),
            arena_allocs: num(v, "arena_allocs_per_batch"),
            arena_bytes: num(v, "arena_bytes_per_batch"),
            pinned_mean: num(v, "pinned_bytes_mean"),
            pinned_max: num(v, "pinned_bytes_max"),
            max_abs_diff: num(v, "max_abs_diff"),
            by_role,
            by_size,
            peak_rss_kib: num(v, "peak_rss_kib"),
        }
    }
}

impl Row {
    /// Adds the passes of `other` (same shape, configuration and mode, another process):
    /// per-batch numbers are averaged weighted by passes, maxima stay maxima, medians are
    /// taken again over all passes.
    pub fn merge(&mut self, other: &Row) {
        let (a, b) = (self.passes.max(0.0), other.passes.max(0.0));
        let total = a + b;
        if total == 0.0 {
            return;
        }
        let mean = |x: f64, y: f64| (x * a + y * b) / total;
        self.calls = mean(self.calls, other.calls);
        self.bytes = mean(self.bytes, other.bytes);
        self.faults = mean(self.faults, other.faults);
        self.arena_allocs = mean(self.arena_allocs, other.arena_allocs);
        self.arena_bytes = mean(self.arena_bytes, other.arena_bytes);
        self.pinned_mean = mean(self.pinned_mean, other.pinned_mean);
        self.calls_max = self.calls_max.max(other.calls_max);
        self.pinned_max = self.pinned_max.max(other.pinned_max);
        self.max_abs_diff = self.max_abs_diff.max(other.max_abs_diff);
        merge_keyed(&mut self.by_role, (a, b), &other.by_role);
        merge_keyed(&mut self.by_size, (a, b), &other.by_size);
        self.passes = total;
        self.millis.extend_from_slice(&other.millis);
        self.cpu_millis.extend_from_slice(&other.cpu_millis);
        self.median_ms = median(&self.millis);
        self.p99_ms = quantile(&self.millis, 0.99);
        self.cpu_ms = median(&self.cpu_millis);
        self.peak_rss_kib = self.peak_rss_kib.max(other.peak_rss_kib);
    }
}

/// Everything the worker processes reported.
#[derive(Clone, Debug, Default)]
pub struct Results {
    /// The `"kind": "process"` lines.
    pub processes: Vec<Value>,
    /// The `"kind": "result"` lines, raw.
    pub raw: Vec<Value>,
    /// The same, parsed, one row per shape, configuration and mode (the passes of all its
    /// processes merged).
    pub rows: Vec<Row>,
}

impl Results {
    /// Adds the JSON lines of one worker's stdout (other lines are ignored).
    pub fn add_output(&mut self, stdout: &str) -> Result<()> {
        for line in stdout.lines().filter(|l| l.starts_with('{')) {
            let v: Value = serde_json::from_str(line)?;
            match v.get("kind").and_then(Value::as_str) {
                Some("result") => {
                    let row = Row::from_json(&v);
                    match self.rows.iter_mut().find(|r| {
                        r.shape == row.shape && r.config == row.config && r.mode == row.mode
                    }) {
                        Some(existing) => existing.merge(&row),
                        None => self.rows.push(row),
                    }
                    self.raw.push(v);
                }
                Some("process") => self.processes.push(v),
                _ => {}
            }
        }
        Ok(())
    }

    /// The row for `shape`, `config` and `mode`, if measured.
    pub fn find(&self, shape: &str, config: &str, mode: &str) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.shape == shape && r.config == config && r.mode == mode)
    }

    /// The median over rounds of arena-on time / arena-off time of the same round, in the
    /// processes of `config`: the two passes ran back to back in one process, so this ratio
    /// is not moved by changes in the machine's load between processes the way comparing
    /// medians of different processes is.
    pub fn paired_ratio(&self, shape: &str, config: &str) -> Option<f64> {
        let off = self.find(shape, config, Mode::Off.name())?;
        let on = self.find(shape, config, Mode::On.name())?;
        if off.millis.is_empty() || off.millis.len() != on.millis.len() {
            return None;
        }
        let ratios: Vec<f64> = on
            .millis
            .iter()
            .zip(&off.millis)
            .map(|(a, b)| a / b)
            .collect();
        Some(median(&ratios))
    }

    /// Shapes in the order measured.
    pub fn shapes(&self) -> Vec<String> {
        let mut shapes: Vec<String> = Vec::new();
        for r in &self.rows {
            if !shapes.contains(&r.shape) {
                shapes.push(r.shape.clone());
            }
        }
        shapes
    }
}

/// Runs `config` in a process of its own (this binary as a worker, with the environment the
/// configuration needs) and returns its stdout.
fn run_process(exe: &std::path::Path, options: &Options, config: AllocConfig) -> Result<String> {
    let mut command = Command::new(exe);
    command
        .args(options.worker_args(config))
        .env(ALLOCATOR_ENV, config.backend_env())
        .env("RAYON_NUM_THREADS", options.threads.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    match config.glibc_tunables() {
        Some(tunables) => command.env("GLIBC_TUNABLES", tunables),
        None => command.env_remove("GLIBC_TUNABLES"),
    };
    let output = command.output()?;
    if !output.status.success() {
        return Err(format!("the `{}` process failed: {}", config.name(), output.status).into());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Writes the `--json` and `--svg` files, if asked for.
fn write_files(results: &Results, options: &Options) -> Result<()> {
    if let Some(path) = &options.json {
        let doc = json!({
            "threads": options.threads,
            "repeat": options.repeat,
            "rounds": options.rounds,
            "warmup": options.warmup,
            "huge_pages": options.huge_pages,
            "prewarm": options.prewarm,
            "processes": results.processes,
            "results": results.raw,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")?;
        eprintln!("results written to {}", path.display());
    }
    if let Some(path) = &options.svg {
        std::fs::write(path, svg::chart_document(results))?;
        eprintln!("chart written to {}", path.display());
    }
    Ok(())
}

/// Runs every configuration of `options` in its own process and reports.
pub fn run_driver(options: &Options) -> Result<()> {
    // Fail early, with the hint to fetch the model, rather than once per configuration.
    find_model_dir(options.model_dir.as_deref())?;
    let exe = std::env::current_exe()?;
    let mut results = Results::default();
    // Each configuration runs `repeat` times, in turns, so a change in the machine's load
    // affects all of them alike rather than whichever was running.
    let runs = (0..options.repeat).flat_map(|r| {
        let n = options.configs.len();
        (0..n).map(move |i| (r, options.configs[(i + r) % n]))
    });
    for (r, config) in runs {
        eprintln!(
            "== {} (run {} of {}): {} thread(s), {} warm-up + {} measured passes per shape and \
             mode",
            config.name(),
            r + 1,
            options.repeat,
            options.threads,
            options.warmup,
            options.rounds
        );
        results.add_output(&run_process(&exe, options, config)?)?;
    }
    print!("{}", markdown(&results, options));
    write_files(&results, options)
}

/// Numbers measured before on the reference machine (default glibc, arena off).
struct Target {
    shape: &'static str,
    what: &'static str,
    value: f64,
    get: fn(&Row) -> f64,
}

impl Target {
    const fn new(
        shape: &'static str,
        what: &'static str,
        value: f64,
        get: fn(&Row) -> f64,
    ) -> Self {
        Target {
            shape,
            what,
            value,
            get,
        }
    }
}

const TARGETS: [Target; 5] = [
    Target::new("8x14", "ms/batch", 36.5, |r| r.median_ms),
    Target::new("8x14", "allocations/batch", 2648.0, |r| r.calls),
    Target::new("8x14", "MB/batch", 36.7, |r| r.bytes / 1e6),
    Target::new("8x105", "ms/batch", 250.0, |r| r.median_ms),
    Target::new("8x105", "page faults/batch", 16840.0, |r| r.faults),
];

fn fmt_ms(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.3}")
    } else {
        format!("{ms:.2}")
    }
}

fn fmt_count(x: f64) -> String {
    if x == x.round() {
        format!("{x:.0}")
    } else if x < 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.1}")
    }
}

fn fmt_diff(x: f64) -> String {
    if x == 0.0 {
        "0".to_string()
    } else {
        format!("{x:.1e}")
    }
}

/// KiB as MiB, no decimals; `-` where not reported.
fn fmt_mib(kib: f64) -> String {
    if kib.is_finite() {
        format!("{:.0}", kib / 1024.0)
    } else {
        "-".to_string()
    }
}

fn fmt_size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} B")
    }
}

/// The report's title line: threads, what a pass covers, passes, warm-up, huge pages.
fn title(options: &Options) -> String {
    format!(
        "\n## all-MiniLM-L6-v2 (candle BERT, f32, CPU): {} rayon thread(s), {}, median of {} \
         passes ({} process(es) per allocator x {} rounds), {} warm-up passes per process, \
         arena huge pages {}\n",
        options.threads,
        if options.pretokenized {
            "token ids to embeddings (tokenized beforehand)"
        } else {
            "text to embeddings (tokenization included)"
        },
        options.rounds * options.repeat,
        options.repeat,
        options.rounds,
        options.warmup,
        if options.huge_pages { "on" } else { "off" }
    )
}

/// The names of the configurations and modes of `options`, in report order.
fn names(options: &Options) -> (Vec<&'static str>, Vec<&'static str>) {
    (
        options.configs.iter().map(|c| c.name()).collect(),
        options.modes.iter().map(|m| m.name()).collect(),
    )
}

/// Every measurement: a row per shape, configuration and mode.
fn results_table(results: &Results, options: &Options) -> Table {
    let (configs, modes) = names(options);
    let mut table = Table::new([
        ("shape", Align::Left),
        ("allocator", Align::Left),
        ("arena", Align::Left),
        ("ms/batch", Align::Right),
        ("p99 ms/batch", Align::Right),
        ("CPU ms/batch", Align::Right),
        ("calls/batch", Align::Right),
        ("MB/batch", Align::Right),
        ("faults/batch", Align::Right),
        ("arena allocs/batch", Align::Right),
        ("arena MB/batch", Align::Right),
        ("pinned KiB (mean/max)", Align::Right),
        ("peak RSS MiB", Align::Right),
        ("max abs diff", Align::Right),
    ]);
    for shape in &results.shapes() {
        for config in &configs {
            for mode in &modes {
                let Some(r) = results.find(shape, config, mode) else {
                    continue;
                };
                let pinned = if *mode == Mode::Off.name() {
                    "-".to_string()
                } else {
                    format!(
                        "{:.0} / {:.0}",
                        r.pinned_mean / 1024.0,
                        r.pinned_max / 1024.0
                    )
                };
                table.row([
                    shape.clone(),
                    config.to_string(),
                    mode.to_string(),
                    fmt_ms(r.median_ms),
                    fmt_ms(r.p99_ms),
                    fmt_ms(r.cpu_ms),
                    fmt_count(r.calls),
                    format!("{:.2}", r.bytes / 1e6),
                    fmt_count(r.faults),
                    fmt_count(r.arena_allocs),
                    format!("{:.2}", r.arena_bytes / 1e6),
                    pinned,
                    fmt_mib(r.peak_rss_kib),
                    fmt_diff(r.max_abs_diff),
                ]);
            }
        }
    }
    table
}

/// What keeps an arena-on row from the goal (empty: met): slower than the best arena-off
/// time (`ratio` > 1) or p99 (`p99_ratio` > 1), calls, faults, differences.
fn misses(on: &Row, ratio: f64, p99_ratio: f64) -> Vec<String> {
    let mut misses = Vec::new();
    if ratio > 1.0 {
        misses.push(format!("{:+.1}% time", (ratio - 1.0) * 100.0));
    }
    if p99_ratio > 1.0 {
        misses.push(format!("{:+.1}% p99", (p99_ratio - 1.0) * 100.0));
    }
    if on.calls_max > 0.0 {
        misses.push("calls".to_string());
    }
    if on.faults > 0.0 {
        misses.push("faults".to_string());
    }
    if on.max_abs_diff > 1e-5 {
        misses.push("diff".to_string());
    }
    misses
}

/// Arena on against the best arena-off baseline of the same shape: the table, and whether
/// every row met the goal. `None` where nothing could be compared.
fn comparison_table(results: &Results, options: &Options) -> Option<(Table, bool)> {
    let (configs, modes) = names(options);
    if !(modes.contains(&Mode::Off.name()) && modes.contains(&Mode::On.name())) {
        return None;
    }
    let mut table = Table::new([
        ("shape", Align::Left),
        ("best arena-off", Align::Left),
        ("ms", Align::Right),
        ("arena on", Align::Left),
        ("ms", Align::Right),
        ("time ratio", Align::Right),
        ("on/off, same process", Align::Right),
        ("best off p99", Align::Right),
        ("on p99", Align::Right),
        ("p99 ratio", Align::Right),
        ("p99 on/off, same allocator", Align::Right),
        ("calls/batch", Align::Right),
        ("faults/batch", Align::Right),
        ("goal", Align::Left),
    ]);
    let mut all_met = true;
    for shape in &results.shapes() {
        let best = configs
            .iter()
            .filter_map(|c| results.find(shape, c, Mode::Off.name()))
            .min_by(|a, b| a.median_ms.total_cmp(&b.median_ms));
        let Some(best) = best else { continue };
        // The best p99 of any arena-off configuration (not necessarily the one with the best
        // median).
        let best_p99 = configs
            .iter()
            .filter_map(|c| results.find(shape, c, Mode::Off.name()))
            .map(|r| r.p99_ms)
            .min_by(f64::total_cmp)
            .unwrap_or(f64::NAN);
        for config in &configs {
            let Some(on) = results.find(shape, config, Mode::On.name()) else {
                continue;
            };
            let ratio = on.median_ms / best.median_ms;
            let p99_ratio = on.p99_ms / best_p99;
            let same_p99 = results
                .find(shape, config, Mode::Off.name())
                .map_or("-".to_string(), |off| {
                    format!("{:.3}", on.p99_ms / off.p99_ms)
                });
            let misses = misses(on, ratio, p99_ratio);
            all_met &= misses.is_empty();
            table.row([
                shape.clone(),
                best.config.clone(),
                fmt_ms(best.median_ms),
                config.to_string(),
                fmt_ms(on.median_ms),
                format!("{ratio:.3}"),
                results
                    .paired_ratio(shape, config)
                    .map_or("-".to_string(), |r| format!("{r:.3}")),
                fmt_ms(best_p99),
                fmt_ms(on.p99_ms),
                format!("{p99_ratio:.3}"),
                same_p99,
                fmt_count(on.calls),
                fmt_count(on.faults),
                if misses.is_empty() {
                    "met".to_string()
                } else {
                    format!("not met: {}", misses.join(", "))
                },
            ]);
        }
    }
    (!table.is_empty()).then_some((table, all_met))
}

/// The reference numbers of [`TARGETS`] against this run's (system allocator, arena off).
fn reference_table(results: &Results) -> Table {
    let mut table = Table::new([
        ("shape", Align::Left),
        ("what", Align::Left),
        ("before", Align::Right),
        ("now", Align::Right),
    ]);
    for t in &TARGETS {
        let now = results
            .find(t.shape, AllocConfig::System.name(), Mode::Off.name())
            .map_or("-".to_string(), |r| {
                fmt_count(((t.get)(r) * 10.0).round() / 10.0)
            });
        table.row([
            t.shape.to_string(),
            t.what.to_string(),
            t.value.to_string(),
            now,
        ]);
    }
    table
}

/// Where calls to the wrapped allocator still come from when an arena is on: a line per row
/// with calls, by thread role and by size.
fn diagnostics(results: &Results) -> String {
    let mut out = String::new();
    for r in results
        .rows
        .iter()
        .filter(|r| r.mode != Mode::Off.name() && r.calls > 0.0)
    {
        let roles: Vec<String> = r
            .by_role
            .iter()
            .filter(|(_, x)| *x > 0.0)
            .map(|(k, x)| format!("{k} {}", fmt_count(*x)))
            .collect();
        let mut sizes = r.by_size.clone();
        sizes.sort_by(|a, b| b.1.total_cmp(&a.1));
        let sizes: Vec<String> = sizes
            .iter()
            .take(6)
            .map(|(limit, x)| format!("<= {}: {}", fmt_size(*limit), fmt_count(*x)))
            .collect();
        let _ = writeln!(
            out,
            "- {} {} {}: {} calls/batch; by thread: {}; by size: {}",
            r.shape,
            r.config,
            r.mode,
            fmt_count(r.calls),
            roles.join(", "),
            sizes.join(", ")
        );
    }
    out
}

/// A line per worker process: backend, tunables, peak RSS, model load, probe, hand-off, arenas.
fn processes(results: &Results) -> String {
    let mut out = String::new();
    for p in &results.processes {
        let arena = |key: &str| {
            let a = &p[key];
            format!(
                "{} lane(s), high water {:.1} MB, {} spill(s)",
                a["lanes"],
                num(a, "high_water_bytes") / 1e6,
                a["spills"]
            )
        };
        let warm: Vec<String> = p["pinned_after_warmup"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| {
                        format!(
                            "{} {} KiB",
                            text(x, "shape"),
                            num(x, "pinned_bytes") / 1024.0
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "- {}: backend {}, GLIBC_TUNABLES={}, peak RSS {:.0} MB, model load {:.2} s, \
             cos(similar) {:.3}, cos(unrelated) {:.3}, hand-off to the plain pool {:.1} us; \
             arena (on): {}; arena (main-only): {}; pinned after warm-up: {}",
            text(p, "config"),
            text(p, "backend"),
            p["glibc_tunables"].as_str().unwrap_or("(unset)"),
            num(p, "max_rss_kib") / 1024.0,
            num(p, "load_secs"),
            num(p, "cos_similar"),
            num(p, "cos_unrelated"),
            num(p, "handoff_us"),
            arena("arena"),
            arena("main_arena"),
            warm.join(", ")
        );
    }
    out
}

/// The report: one table of every measurement, the arena-on ratios against the best
/// arena-off baseline, the targets and goals, and where remaining calls come from.
pub fn markdown(results: &Results, options: &Options) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", title(options));
    out.push_str(&results_table(results, options).compact());
    let comparison = comparison_table(results, options);
    if let Some((table, _)) = &comparison {
        let _ = write!(
            out,
            "\n### Arena on vs the best arena-off baseline\n\n{}",
            table.compact()
        );
    }
    let _ = write!(
        out,
        "\n### Reference numbers (system allocator, arena off)\n\n{}",
        reference_table(results).compact()
    );
    if let Some((_, all_met)) = comparison {
        let _ = writeln!(
            out,
            "\n`time ratio`: arena-on median / best arena-off median (different processes). \
             `on/off, same process`: median over rounds of on / off measured back to back in the \
             processes of that allocator. `best off p99`: the lowest p99 of any arena-off \
             configuration; `p99 on/off, same allocator`: arena-on p99 / arena-off p99 of the \
             same allocator's processes (interleaved rounds). `peak RSS`: the most VmHWM of the \
             allocator's processes after the shape's passes (all modes of a process together: \
             run `--modes off` and `--modes on` separately to compare it).\n\nGoal (arena on \
             at least as fast as the best baseline at every shape, in median and p99, no calls \
             to the wrapped allocator, no page faults, max abs diff <= 1e-5): {}",
            if all_met {
                "met for every configuration"
            } else {
                "not met everywhere (see the table above)"
            }
        );
    }
    let diagnostics = diagnostics(results);
    if !diagnostics.is_empty() {
        let _ = writeln!(
            out,
            "\n### Calls that still reach the wrapped allocator with an arena\n\n{diagnostics}"
        );
    }
    let _ = writeln!(out, "\n### Processes\n");
    out.push_str(&processes(results));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(config: &str, shape: &str, mode: &str, ms: f64, calls: f64) -> String {
        json!({
            "kind": "result", "config": config, "shape": shape, "mode": mode,
            "median_ms": ms, "calls_per_batch": calls, "calls_max": calls,
            "bytes_per_batch": 1e6, "faults_per_batch": 0.0, "arena_allocs_per_batch": 0.0,
            "arena_bytes_per_batch": 0.0, "pinned_bytes_mean": 0.0, "pinned_bytes_max": 0,
            "max_abs_diff": 0.0,
            "calls_by_role": {"main": calls},
            "calls_by_size": [{"max_bytes": 64, "per_batch": calls}],
        })
        .to_string()
    }

    #[test]
    fn processes_merge_and_pair_by_round() {
        let pass = |mode: &str, millis: [f64; 2], calls: f64| {
            json!({
                "kind": "result", "config": "system", "shape": "1x8", "mode": mode,
                "passes": 2, "millis": millis, "cpu_millis": millis,
                "calls_per_batch": calls, "calls_max": calls,
                "calls_by_role": {"main": calls},
                "peak_rss_kib": millis[0] * 1024.0,
            })
            .to_string()
        };
        let mut results = Results::default();
        let first = [
            pass("off", [10.0, 20.0], 100.0),
            pass("on", [9.0, 19.0], 0.0),
        ];
        let second = [
            pass("off", [30.0, 40.0], 200.0),
            pass("on", [33.0, 40.0], 2.0),
        ];
        results.add_output(&first.join("\n")).unwrap();
        results.add_output(&second.join("\n")).unwrap();
        assert_eq!(results.rows.len(), 2);
        let off = results.find("1x8", "system", "off").unwrap();
        assert_eq!(off.passes, 4.0);
        assert_eq!(off.median_ms, 25.0);
        // Nearest rank over the merged passes 10, 20, 30, 40; the most VmHWM of the processes.
        assert_eq!(off.p99_ms, 40.0);
        assert_eq!(off.peak_rss_kib, 30.0 * 1024.0);
        let options = Options::parse(["--modes", "off,on"].iter().map(|s| s.to_string()))
            .unwrap()
            .unwrap();
        let md = markdown(&results, &options);
        assert!(md.contains("| ms/batch | p99 ms/batch |"), "{md}");
        assert!(
            md.contains("| 1x8 | system | off | 25.00 | 40.00 |"),
            "{md}"
        );
        assert!(
            md.contains("| - | 30 | NaN |"),
            "pinned, peak RSS 30 MiB, max abs diff: {md}"
        );
        assert_eq!(off.calls, 150.0);
        assert_eq!(off.by_role, [("main".to_string(), 150.0)]);
        let on = results.find("1x8", "system", "on").unwrap();
        assert_eq!((on.calls, on.calls_max), (1.0, 2.0));
        // Ratios by round: 0.9, 0.95, 1.1, 1.0.
        let paired = results.paired_ratio("1x8", "system").unwrap();
        assert!((paired - 0.975).abs() < 1e-12, "{paired}");
    }

    #[test]
    fn ratios_against_the_best_baseline() {
        let mut results = Results::default();
        let mut stdout = String::new();
        for l in [
            line("system", "8x14", "off", 40.0, 2600.0),
            line("system", "8x14", "on", 30.0, 0.0),
            line("mimalloc", "8x14", "off", 32.0, 2600.0),
            line("mimalloc", "8x14", "on", 33.0, 1.5),
        ] {
            stdout.push_str(&l);
            stdout.push('\n');
        }
        stdout.push_str("not json\n");
        results.add_output(&stdout).unwrap();
        assert_eq!(results.rows.len(), 4);
        let options = Options::parse(
            ["--configs", "system,mimalloc", "--modes", "off,on"]
                .iter()
                .map(|s| s.to_string()),
        )
        .unwrap()
        .unwrap();
        let md = markdown(&results, &options);
        assert!(
            md.contains("| 8x14 | mimalloc | 32.00 | system | 30.00 | 0.938 | - |"),
            "{md}"
        );
        assert!(md.contains("not met: +3.1% time, calls"), "{md}");
        assert!(
            md.contains("8x14 mimalloc on: 1.50 calls/batch; by thread: main 1.50"),
            "{md}"
        );
        let svg = svg::chart_document(&results);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    }
}
