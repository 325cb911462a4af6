//! Measuring: a [`Meter`] that adds up the allocator calls and page faults of the
//! stretches of work it is wrapped around, and a [`Runner`] that runs the variants of a
//! workload interleaved, each under both backends.

use std::time::Instant;

use crate::alloc_stack::{thread_counts, with_backend, Backend, Counts};
use crate::faults::minor_faults;
use crate::report::{Row, Target};

pub use bench_support::stats::{median, paired_ratio, quantile};

/// Allocator calls and page faults added up over measured stretches of work on this thread.
#[derive(Debug, Clone, Copy)]
pub struct Meter {
    /// Allocator calls (from the `Counting` layer, if installed).
    pub counts: Counts,
    /// Minor page faults; `None` where the platform can't tell.
    pub faults: Option<u64>,
    /// Units of work measured (calls, batches).
    pub units: u64,
}

impl Default for Meter {
    fn default() -> Self {
        Meter::new()
    }
}

impl Meter {
    /// An empty meter.
    pub fn new() -> Self {
        Meter {
            counts: Counts::default(),
            faults: Some(0),
            units: 0,
        }
    }

    /// Runs `f` (which does `units` units of work), adds its allocator calls and page faults,
    /// and returns its result and its wall time in nanoseconds.
    pub fn measure<R>(&mut self, units: u64, f: impl FnOnce() -> R) -> (R, f64) {
        let faults0 = minor_faults();
        let counts0 = thread_counts();
        let start = Instant::now();
        let result = f();
        let ns = start.elapsed().as_nanos() as f64;
        let counts1 = thread_counts();
        let faults1 = minor_faults();
        self.counts += counts1 - counts0;
        self.faults = match (self.faults, faults0, faults1) {
            (Some(total), Some(f0), Some(f1)) => Some(total + (f1 - f0)),
            _ => None,
        };
        self.units += units;
        (result, ns)
    }

    /// Allocating calls (`alloc`, `alloc_zeroed`, `realloc`) per unit.
    pub fn allocs_per_unit(&self) -> f64 {
        self.counts.allocating() as f64 / self.units.max(1) as f64
    }

    /// Bytes asked for per unit.
    pub fn bytes_per_unit(&self) -> f64 {
        self.counts.bytes as f64 / self.units.max(1) as f64
    }

    /// Minor page faults per unit.
    pub fn faults_per_unit(&self) -> Option<f64> {
        self.faults.map(|f| f as f64 / self.units.max(1) as f64)
    }
}

/// One variant of a workload: a name, and a step that runs one unit of work (a call, a batch).
pub struct Variant<'a> {
    /// The name in the tables.
    pub name: &'static str,
    /// Whether it runs in an arena (and so should make no allocator calls).
    pub arena: bool,
    /// Units per round.
    pub units: usize,
    /// Runs unit `i` of a round (`0..units`) under the given backend.
    pub step: Box<dyn FnMut(usize, Backend) + 'a>,
}

impl std::fmt::Debug for Variant<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Variant")
            .field("name", &self.name)
            .field("arena", &self.arena)
            .field("units", &self.units)
            .finish_non_exhaustive()
    }
}

/// What one variant under one backend measured.
#[derive(Debug, Clone, Default)]
pub struct CaseResult {
    /// Nanoseconds of every unit measured.
    pub unit_ns: Vec<f64>,
    /// Per round: the median nanoseconds of the round's units (robust to the odd unit slowed
    /// down by another process).
    pub round_median_ns: Vec<f64>,
    /// Per round: the round's nanoseconds.
    pub round_ns: Vec<f64>,
    /// Allocator calls and page faults of the measured rounds.
    pub meter: Meter,
}

/// Runs every variant under both backends, round after round: in each round every variant runs
/// once under each backend, starting from a different variant each round and alternating which
/// backend goes first, so drifts of the machine hit all alike.
#[derive(Debug)]
pub struct Runner<'a> {
    /// The variants; the first is the baseline.
    pub variants: Vec<Variant<'a>>,
    /// Measured rounds.
    pub rounds: usize,
    /// Rounds run first and not measured (steady state: buffers sized, pages mapped).
    pub warmup: usize,
}

impl Runner<'_> {
    /// Runs the rounds. The result has one entry per variant, with one result per backend in
    /// the order of [`Backend::ALL`].
    pub fn run(&mut self) -> Vec<[CaseResult; 2]> {
        let mut results = self.empty_results();
        let n = self.variants.len();
        for round in 0..self.warmup + self.rounds {
            let measured = round >= self.warmup;
            for k in 0..n {
                let index = (round + k) % n;
                for b in 0..2 {
                    let b = if round % 2 == 0 { b } else { 1 - b };
                    run_case(
                        &mut self.variants[index],
                        &mut results[index][b],
                        Backend::ALL[b],
                        measured,
                    );
                }
            }
        }
        results
    }

    /// One empty result per variant and backend, with room reserved for every sample: pushing
    /// must not allocate while measuring.
    fn empty_results(&self) -> Vec<[CaseResult; 2]> {
        self.variants
            .iter()
            .map(|v| {
                std::array::from_fn(|_| CaseResult {
                    unit_ns: Vec::with_capacity(self.rounds * v.units),
                    round_median_ns: Vec::with_capacity(self.rounds),
                    round_ns: Vec::with_capacity(self.rounds),
                    meter: Meter::new(),
                })
            })
            .collect()
    }
}

/// One round of `variant` under `backend`: every unit timed and, if the round is `measured`,
/// recorded in `result` (unit times, the round's time and median, calls and faults).
fn run_case(variant: &mut Variant<'_>, result: &mut CaseResult, backend: Backend, measured: bool) {
    let mut scratch = Meter::new();
    let meter = if measured {
        &mut result.meter
    } else {
        &mut scratch
    };
    let units = variant.units;
    let step = &mut variant.step;
    let unit_ns = &mut result.unit_ns;
    let ((), ns) = with_backend(backend, || {
        meter.measure(units as u64, || {
            for i in 0..units {
                let start = Instant::now();
                step(i, backend);
                if measured {
                    unit_ns.push(start.elapsed().as_nanos() as f64);
                }
            }
        })
    });
    if measured {
        result.round_ns.push(ns);
        let this_round = &result.unit_ns[result.unit_ns.len() - units..];
        result.round_median_ns.push(median(this_round));
    }
}

/// The rows of a workload from the runner's results: per variant, one row per backend.
/// `diff(variant, backend)` gives the agreement with the baseline; `passes` says that a round is
/// one pass over the data, whose median time goes in the `total ms` column.
pub fn rows_of(
    names: &[&str],
    arena: &[bool],
    results: &[[CaseResult; 2]],
    diff: impl Fn(usize, usize) -> Option<f64>,
    passes: bool,
) -> Vec<Row> {
    let mut rows = Vec::new();
    for (v, per_backend) in results.iter().enumerate() {
        for (b, case) in per_backend.iter().enumerate() {
            let backend = Backend::ALL[b];
            let baseline = &results[0][b];
            rows.push(Row {
                variant: names[v].to_string(),
                backend,
                arena: arena[v],
                total_ms: passes.then(|| median(&case.round_ns) / 1e6),
                median_ns: median(&case.unit_ns),
                p99_ns: quantile(&case.unit_ns, 0.99),
                vs_baseline: paired_ratio(&case.round_median_ns, &baseline.round_median_ns),
                mimalloc_over_system: (backend == Backend::Mimalloc)
                    .then(|| paired_ratio(&case.round_median_ns, &per_backend[0].round_median_ns)),
                allocs: case.meter.allocs_per_unit(),
                bytes: case.meter.bytes_per_unit(),
                faults: case.meter.faults_per_unit(),
                max_abs_diff: diff(v, b),
            });
        }
    }
    rows
}

/// The time limit against plain ndarray under mimalloc: an allocator that already reuses large
/// blocks without page faults, so the arena must win by how it writes its results, not by the
/// calls it saves.
pub const MIMALLOC_TIME_LIMIT: f64 = 0.9;

/// The target "every row of `variants` under `backend` takes at most `limit` times the
/// baseline's time under the same backend": the slowest such row decides.
pub fn time_target(
    workload: &'static str,
    rows: &[Row],
    variants: &[&str],
    backend: Backend,
    limit: f64,
) -> Target {
    let worst = rows
        .iter()
        .filter(|r| r.backend == backend && variants.contains(&r.variant.as_str()))
        .max_by(|a, b| a.vs_baseline.total_cmp(&b.vs_baseline))
        .expect("a row of the variants");
    Target {
        workload,
        what: format!(
            "arena time / {} time, both under {backend}; slowest: {}",
            rows[0].variant, worst.variant
        ),
        value: worst.vs_baseline,
        limit: format!("<= {limit:.2}"),
        met: worst.vs_baseline <= limit,
    }
}

/// The target "no row of `variants` makes an allocator call in the steady state".
pub fn zero_calls_target(
    workload: &'static str,
    unit: &str,
    rows: &[Row],
    variants: &[&str],
) -> Target {
    let worst = rows
        .iter()
        .filter(|r| variants.contains(&r.variant.as_str()))
        .max_by(|a, b| a.allocs.total_cmp(&b.allocs))
        .expect("a row of the variants");
    Target {
        workload,
        what: format!(
            "allocator calls per {unit}, arena variants ({} of them, both allocators), most: {} ({})",
            variants.len(),
            worst.variant,
            worst.backend
        ),
        value: worst.allocs,
        limit: "= 0".to_string(),
        met: worst.allocs == 0.0,
    }
}

/// The target "`checked` takes at most `limit` times `unchecked`'s time" (median of per-round
/// ratios), under the backend where the ratio is worst.
pub fn checked_target(
    workload: &'static str,
    names: &[&str],
    results: &[[CaseResult; 2]],
    (checked, unchecked): (&str, &str),
    limit: f64,
) -> Target {
    let index = |name: &str| names.iter().position(|&n| n == name).expect("a variant");
    let (c, u) = (index(checked), index(unchecked));
    let (backend, ratio) = Backend::ALL
        .iter()
        .map(|&b| {
            let ratio = paired_ratio(
                &results[c][b.index()].round_median_ns,
                &results[u][b.index()].round_median_ns,
            );
            (b, ratio)
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .expect("two backends");
    Target {
        workload,
        what: format!("{checked} time / {unchecked} time (worse allocator: {backend})"),
        value: ratio,
        limit: format!("<= {limit:.2}"),
        met: ratio <= limit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meter_adds_units_and_times() {
        let mut m = Meter::new();
        let (r, ns) = m.measure(3, || 7);
        assert_eq!(r, 7);
        assert!(ns >= 0.0);
        m.measure(1, || ());
        assert_eq!(m.units, 4);
    }

    #[test]
    fn runner_runs_every_variant_under_both_backends_each_round() {
        use std::cell::RefCell;
        let log = RefCell::new(Vec::new());
        let mut runner = Runner {
            variants: ["a", "b"]
                .into_iter()
                .map(|name| Variant {
                    name,
                    arena: false,
                    units: 2,
                    step: Box::new({
                        let log = &log;
                        move |i, backend| log.borrow_mut().push((name, i, backend))
                    }),
                })
                .collect(),
            rounds: 3,
            warmup: 1,
        };
        let results = runner.run();
        drop(runner);
        // 4 rounds x 2 variants x 2 backends x 2 units.
        assert_eq!(log.borrow().len(), 32);
        for per_variant in &results {
            for case in per_variant {
                assert_eq!(case.unit_ns.len(), 6);
                assert_eq!(case.round_ns.len(), 3);
                assert_eq!(case.meter.units, 6);
            }
        }
    }
}
