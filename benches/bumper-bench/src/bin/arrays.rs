//! `allocarrays` arrays against plain `ndarray`, on two workloads of the seed:
//!
//! - **`basic_reduction`** on 100,000 `f64` ones: `b = a.similar(); b .= a; c = a.similar();
//!   c .= a; sum(b + c)`. Plain `ndarray` (`Array1::zeros` + `assign`, and `to_owned`) against
//!   `AllocArray` and `CheckedAllocArray` inside `with_allocator(&BumperAllocator::default(), ..)`
//!   with a `reset()` after every call.
//! - **A small dense model** `1 -> 23 tanh -> 1` over 4001 points from -2 to 2, with fixed
//!   weights: `sum(tanh(x · W1 + b1) · W2 + b2)` for the whole 4001×1 input as one batch and in
//!   batches of 32 rows. Plain `ndarray` against `AllocArray` / `CheckedAllocArray` (weights
//!   too), each batch under `with_allocator` + `reset()`, and through `allocarrays::infer_batch`
//!   (which also copies the batch in and the output out). Every implementation makes the same
//!   five new arrays per batch (two products, two sums with broadcasting, one `mapv`).
//!
//! The implementations of a workload run interleaved: every round times one sample (enough
//! calls for about `--sample-ms` milliseconds, calibrated once) of each, in an order that
//! rotates from round to round, so slow drifts of the machine hit all of them alike. The tables
//! show the median sample and, for comparisons, the median of the per-round ratios. A counting
//! `#[global_allocator]` (forwarding to the system allocator) gives the system allocator calls
//! per call.
//!
//! ```text
//! cargo run --release -p bumper-bench --bin arrays [-- --rounds N --sample-ms N]
//! ```

use std::alloc::System;
use std::hint::black_box;
use std::time::Instant;

use bench_support::counting::{thread_counts, Counting};
use bench_support::process::minor_faults;
use bench_support::stats::paired_ratio;
use bench_support::table::{Align, Table};
use bumper_bench::quantile;

use allocarrays::ndarray::{Array, Array1, Array2, ArrayView2, Axis, Ix1, Ix2};
use allocarrays::{
    infer_batch, with_allocator, AllocArray, AllocArrayBase, AllocViewBase, BumperAllocator,
    Checked, CheckedAllocArray, Checking, Unchecked,
};

// ---------------------------------------------------------------------------------------------
// Counting the system allocator's calls.

/// Forwards to [`System`], counting the calls per thread (everything measured runs on the
/// main thread).
#[global_allocator]
static GLOBAL: Counting<System> = Counting::new(System);

/// `(allocs, frees)` of this thread so far: `alloc`, `alloc_zeroed` and `realloc` calls, and
/// `dealloc` calls.
fn alloc_counts() -> (u64, u64) {
    let counts = thread_counts();
    (counts.allocating(), counts.frees)
}

// ---------------------------------------------------------------------------------------------
// Workload 1: the seed's `basic_reduction`.

/// Elements of the reduction's input.
const REDUCTION_LEN: usize = 100_000;

/// `basic_reduction` with plain `ndarray`: `Array1::zeros` + `assign` for `similar` + `.=`.
#[inline(never)]
fn reduction_ndarray(a: &Array1<f64>) -> f64 {
    let mut b = Array1::zeros(a.raw_dim());
    b.assign(a);
    let mut c = Array1::zeros(a.raw_dim());
    c.assign(a);
    (&b + &c).sum()
}

/// `basic_reduction` with plain `ndarray`, copying with `to_owned`.
#[inline(never)]
fn reduction_ndarray_to_owned(a: &Array1<f64>) -> f64 {
    let b = a.to_owned();
    let c = a.to_owned();
    (&b + &c).sum()
}

/// `basic_reduction` on an `AllocArray` or `CheckedAllocArray`: `b`, `c` and `b + c` come from
/// the current allocator.
#[inline(never)]
fn reduction_alloc<K: Checking>(a: &AllocArrayBase<f64, Ix1, K>) -> f64 {
    let mut b = a.similar();
    b.assign(a);
    let mut c = a.similar();
    c.assign(a);
    (&b + &c).sum()
}

/// One call in the arena: `basic_reduction` under `alloc`, then `reset`.
fn reduction_in_arena<K: Checking>(
    alloc: &BumperAllocator,
    a: &AllocArrayBase<f64, Ix1, K>,
) -> f64 {
    let total = with_allocator(alloc, || reduction_alloc(black_box(a)));
    alloc.reset();
    total
}

// ---------------------------------------------------------------------------------------------
// Workload 2: a dense model 1 -> 23 tanh -> 1.

/// Hidden units.
const HIDDEN: usize = 23;
/// Input points, evenly spaced over [-2, 2].
const POINTS: usize = 4001;
/// Rows per batch of the batched workload.
const SMALL_BATCH: usize = 32;

/// The model's parameters as arrays of some kind.
struct Dense<M, V> {
    /// 1×23.
    w1: M,
    /// 23.
    b1: V,
    /// 23×1.
    w2: M,
    /// 1.
    b2: V,
}

type NdDense = Dense<Array2<f64>, Array1<f64>>;
type AllocDense<K> = Dense<AllocArrayBase<f64, Ix2, K>, AllocArrayBase<f64, Ix1, K>>;

/// Fixed, deterministic weights (no randomness, so every run computes the same sums).
fn dense_weights() -> NdDense {
    let w1 = Array2::from_shape_fn((1, HIDDEN), |(_, j)| 1.5 * ((j + 1) as f64).sin());
    let b1 = Array1::from_shape_fn(HIDDEN, |j| 0.5 * (j as f64 * 0.7).cos());
    let w2 = Array2::from_shape_fn((HIDDEN, 1), |(j, _)| ((j * 7 % 11) as f64 - 5.0) / 5.0);
    let b2 = Array1::from_elem(1, 0.1);
    Dense { w1, b1, w2, b2 }
}

impl NdDense {
    /// The same parameters as arena-aware arrays (sharing nothing: each is a heap copy).
    fn to_alloc<K: Checking>(&self) -> AllocDense<K> {
        Dense {
            w1: AllocArrayBase::from(self.w1.clone()),
            b1: AllocArrayBase::from(self.b1.clone()),
            w2: AllocArrayBase::from(self.w2.clone()),
            b2: AllocArrayBase::from(self.b2.clone()),
        }
    }
}

/// The inputs, as a 4001×1 column.
fn dense_inputs() -> Array2<f64> {
    Array::linspace(-2.0, 2.0, POINTS)
        .insert_axis(Axis(1))
        .to_owned()
}

/// The model on one batch with plain `ndarray`: five new heap arrays.
#[inline(never)]
fn dense_ndarray(m: &NdDense, x: ArrayView2<'_, f64>) -> f64 {
    let z = &x.dot(&m.w1) + &m.b1;
    let h = z.mapv(f64::tanh);
    let y = &h.dot(&m.w2) + &m.b2;
    y.sum()
}

/// The model's output on one batch with arena-aware arrays: the same five new arrays, from the
/// current allocator.
#[inline(never)]
fn dense_alloc<K>(
    m: &AllocDense<K>,
    x: AllocViewBase<'_, f64, Ix2, K>,
) -> AllocArrayBase<f64, Ix2, K>
where
    K: Checking<Or<K> = K>,
{
    let z = &x.dot(&m.w1) + &m.b1;
    let h = z.mapv(f64::tanh);
    &h.dot(&m.w2) + &m.b2
}

/// One batch in the arena: the model under `alloc` on a view of the batch (no copy), the sum of
/// its output, then `reset`.
fn dense_in_arena<K>(alloc: &BumperAllocator, m: &AllocDense<K>, x: ArrayView2<'_, f64>) -> f64
where
    K: Checking<Or<K> = K>,
{
    let total = with_allocator(alloc, || dense_alloc(m, AllocViewBase::from(x)).sum());
    alloc.reset();
    total
}

/// One batch through `infer_batch`: the batch copied into the arena, the model, its output
/// copied out to the heap (and summed there), `reset`.
fn dense_infer_batch<K>(alloc: &BumperAllocator, m: &AllocDense<K>, x: ArrayView2<'_, f64>) -> f64
where
    K: Checking<Or<K> = K>,
{
    infer_batch(
        alloc,
        |x: AllocArrayBase<f64, Ix2, K>| dense_alloc(m, x.alloc_view()),
        x,
    )
    .sum()
}

/// Runs `batch_fn` on every batch of `rows` rows of `x` and adds up the results.
fn over_batches(
    x: &Array2<f64>,
    rows: usize,
    mut batch_fn: impl FnMut(ArrayView2<'_, f64>) -> f64,
) -> f64 {
    x.axis_chunks_iter(Axis(0), rows)
        .map(|batch| batch_fn(black_box(batch)))
        .sum()
}

// ---------------------------------------------------------------------------------------------
// Measuring.

/// Rounds per workload unless `--rounds` says otherwise.
const DEFAULT_ROUNDS: usize = 101;
/// Target length of one sample (one case, one round) unless `--sample-ms` says otherwise.
const DEFAULT_SAMPLE_MS: u64 = 4;

struct Options {
    rounds: usize,
    sample_ms: u64,
}

const USAGE: &str = "usage: arrays [--rounds N] [--sample-ms N]";

/// `--rounds N` and `--sample-ms N` (positive numbers); `Err` holds the message.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    use lexopt::Arg::Long;
    let mut opts = Options {
        rounds: DEFAULT_ROUNDS,
        sample_ms: DEFAULT_SAMPLE_MS,
    };
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("rounds") => opts.rounds = positive(&mut parser, "--rounds")? as usize,
            Long("sample-ms") => opts.sample_ms = positive(&mut parser, "--sample-ms")?,
            other => return Err(other.unexpected().to_string()),
        }
    }
    Ok(opts)
}

/// The value of option `name` as a positive number.
fn positive(parser: &mut lexopt::Parser, name: &str) -> Result<u64, String> {
    let value = parser.value().map_err(|e| e.to_string())?;
    match value.to_str().and_then(|v| v.parse::<u64>().ok()) {
        Some(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "{name}: not a positive number: {}",
            value.to_string_lossy()
        )),
    }
}

/// One implementation: a name and one call of it (returning the workload's result).
struct Case<'a> {
    name: &'static str,
    call: Box<dyn FnMut() -> f64 + 'a>,
    /// Calls per sample, from the calibration.
    calls: u64,
    /// Time per call (ns) of every sample, one per round.
    samples: Vec<f64>,
    /// System allocator calls over all measured calls: `(allocs, frees)`.
    counted: (u64, u64),
    /// Minor page faults over all measured calls (`None` where they can't be read).
    faults: Option<u64>,
    /// Measured calls.
    total_calls: u64,
}

impl<'a> Case<'a> {
    fn new(name: &'static str, call: impl FnMut() -> f64 + 'a) -> Self {
        Case {
            name,
            call: Box::new(call),
            calls: 1,
            samples: Vec::new(),
            counted: (0, 0),
            faults: Some(0),
            total_calls: 0,
        }
    }

    /// Runs `self.calls` calls; returns ns per call.
    fn sample(&mut self) -> f64 {
        let faults0 = minor_faults();
        let (allocs0, frees0) = alloc_counts();
        let start = Instant::now();
        for _ in 0..self.calls {
            black_box((self.call)());
        }
        let elapsed = start.elapsed();
        let (allocs1, frees1) = alloc_counts();
        let faults1 = minor_faults();
        self.counted.0 += allocs1 - allocs0;
        self.counted.1 += frees1 - frees0;
        self.faults = match (self.faults, faults0, faults1) {
            (Some(total), Some(f0), Some(f1)) => Some(total + (f1 - f0)),
            _ => None,
        };
        self.total_calls += self.calls;
        elapsed.as_nanos() as f64 / self.calls as f64
    }
}

/// A workload: its implementations, the first being the baseline.
struct Workload<'a> {
    name: &'static str,
    /// Batches per call (the table's times are per batch).
    batches_per_call: usize,
    cases: Vec<Case<'a>>,
}

impl Workload<'_> {
    /// Checks that every case computes the baseline's result (to `1e-9`); returns it.
    fn check(&mut self) -> f64 {
        let results: Vec<f64> = self.cases.iter_mut().map(|c| (c.call)()).collect();
        let expected = results[0];
        for (case, r) in self.cases.iter().zip(&results) {
            assert!(
                (r - expected).abs() <= 1e-9,
                "{}: {} gives {r}, {} gives {expected}",
                self.name,
                case.name,
                self.cases[0].name
            );
        }
        expected
    }

    /// Calibrates the calls per sample (this also warms every case up), then runs `rounds`
    /// interleaved rounds.
    fn measure(&mut self, opts: &Options) {
        let target_ns = opts.sample_ms as f64 * 1e6;
        for case in &mut self.cases {
            let mut per_call = case.sample();
            while per_call * (case.calls as f64) < target_ns / 4.0 {
                case.calls *= 2;
                per_call = case.sample();
            }
            case.calls = ((target_ns / per_call).round() as u64).max(1);
            case.counted = (0, 0);
            case.faults = Some(0);
            case.total_calls = 0;
        }
        let n = self.cases.len();
        for round in 0..opts.rounds {
            for k in 0..n {
                let case = &mut self.cases[(round + k) % n];
                let ns = case.sample();
                case.samples.push(ns);
            }
        }
    }

    fn case(&self, name: &str) -> &Case<'_> {
        self.cases
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no case {name:?} in workload {:?}", self.name))
    }

    /// Median over rounds of `a`'s time divided by `b`'s time in the same round.
    fn paired_ratio(&self, a: &str, b: &str) -> f64 {
        paired_ratio(&self.case(a).samples, &self.case(b).samples)
    }
}

const ND: &str = "ndarray";
const ND_TO_OWNED: &str = "ndarray (`to_owned`)";
const ALLOC: &str = "AllocArray";
const CHECKED: &str = "CheckedAllocArray";
const ALLOC_INFER: &str = "AllocArray, `infer_batch`";
const CHECKED_INFER: &str = "CheckedAllocArray, `infer_batch`";

/// The model's cases over `x` in batches of `rows` rows.
fn dense_workload<'a>(
    name: &'static str,
    x: &'a Array2<f64>,
    rows: usize,
    nd: &'a NdDense,
    unchecked: &'a AllocDense<Unchecked>,
    checked: &'a AllocDense<Checked>,
) -> Workload<'a> {
    let allocs: Vec<BumperAllocator> = (0..4).map(|_| BumperAllocator::default()).collect();
    let [a0, a1, a2, a3] = <[BumperAllocator; 4]>::try_from(allocs).expect("four allocators");
    Workload {
        name,
        batches_per_call: x.len_of(Axis(0)).div_ceil(rows),
        cases: vec![
            Case::new(ND, move || over_batches(x, rows, |b| dense_ndarray(nd, b))),
            Case::new(ALLOC, move || {
                over_batches(x, rows, |b| dense_in_arena(&a0, unchecked, b))
            }),
            Case::new(CHECKED, move || {
                over_batches(x, rows, |b| dense_in_arena(&a1, checked, b))
            }),
            Case::new(ALLOC_INFER, move || {
                over_batches(x, rows, |b| dense_infer_batch(&a2, unchecked, b))
            }),
            Case::new(CHECKED_INFER, move || {
                over_batches(x, rows, |b| dense_infer_batch(&a3, checked, b))
            }),
        ],
    }
}

/// Workload 1's inputs, one per implementation (each its own heap block), and the arenas.
struct ReductionInputs {
    nd: Array1<f64>,
    alloc: AllocArray<f64, Ix1>,
    checked: CheckedAllocArray<f64, Ix1>,
    arenas: [BumperAllocator; 2],
}

impl ReductionInputs {
    fn new() -> Self {
        ReductionInputs {
            nd: Array1::<f64>::ones(REDUCTION_LEN),
            alloc: AllocArray::from(vec![1.0; REDUCTION_LEN]),
            checked: CheckedAllocArray::from(vec![1.0; REDUCTION_LEN]),
            arenas: [BumperAllocator::default(), BumperAllocator::default()],
        }
    }

    /// The `basic_reduction` cases.
    fn workload(&self) -> Workload<'_> {
        Workload {
            name: "basic_reduction",
            batches_per_call: 1,
            cases: vec![
                Case::new(ND, || reduction_ndarray(black_box(&self.nd))),
                Case::new(ND_TO_OWNED, || {
                    reduction_ndarray_to_owned(black_box(&self.nd))
                }),
                Case::new(ALLOC, || reduction_in_arena(&self.arenas[0], &self.alloc)),
                Case::new(CHECKED, || {
                    reduction_in_arena(&self.arenas[1], &self.checked)
                }),
            ],
        }
    }
}

/// Workload 2's inputs and weights.
struct DenseInputs {
    x: Array2<f64>,
    nd: NdDense,
    unchecked: AllocDense<Unchecked>,
    checked: AllocDense<Checked>,
}

impl DenseInputs {
    fn new() -> Self {
        let nd = dense_weights();
        DenseInputs {
            x: dense_inputs(),
            unchecked: nd.to_alloc(),
            checked: nd.to_alloc(),
            nd,
        }
    }

    /// The model's cases in batches of `rows` rows.
    fn workload(&self, name: &'static str, rows: usize) -> Workload<'_> {
        dense_workload(
            name,
            &self.x,
            rows,
            &self.nd,
            &self.unchecked,
            &self.checked,
        )
    }
}

/// Checks that every case of every workload agrees with its baseline and that the workloads
/// give the expected results; returns the results.
fn check_all(workloads: &mut [Workload<'_>; 3]) -> [f64; 3] {
    let results = [
        workloads[0].check(),
        workloads[1].check(),
        workloads[2].check(),
    ];
    assert_eq!(results[0], 2.0 * REDUCTION_LEN as f64, "basic_reduction");
    assert!(
        (results[1] - results[2]).abs() <= 1e-9,
        "the model's sum depends on the batching: {} vs {}",
        results[1],
        results[2]
    );
    results
}

/// The title and the lines that say what was measured.
fn print_header(opts: &Options, results: &[f64; 3]) {
    println!("# allocarrays vs ndarray");
    println!();
    println!(
        "{} interleaved rounds per workload, about {} ms per sample; {}.",
        opts.rounds,
        opts.sample_ms,
        bench_support::machine::summary()
    );
    println!(
        "Results: basic_reduction = {}, model sum = {:.12} (1 batch) / {:.12} (batches of 32); \
         every implementation agrees to 1e-9.",
        results[0], results[1], results[2]
    );
    println!(
        "Times per call of `basic_reduction` / per model batch (the 32-row workload: a pass over \
         all 126 batches divided by 126). `allocs` (`alloc`, `alloc_zeroed`, `realloc`) and \
         `frees` are system allocator calls, `faults` minor page faults of the process, each \
         per call / batch, the mean over all measured calls."
    );
    println!();
}

/// The times table: every case of every workload.
fn times_table(workloads: &[Workload<'_>]) -> Table {
    let mut table = Table::new([
        ("workload", Align::Left),
        ("implementation", Align::Left),
        ("median µs", Align::Right),
        ("p25..p75 µs", Align::Right),
        ("vs ndarray", Align::Right),
        ("allocs", Align::Right),
        ("frees", Align::Right),
        ("faults", Align::Right),
    ]);
    for w in workloads {
        let per = w.batches_per_call as f64;
        let base = quantile(&w.cases[0].samples, 0.5);
        for c in &w.cases {
            let median = quantile(&c.samples, 0.5);
            let calls = c.total_calls as f64 * per;
            let faults = c
                .faults
                .map_or_else(|| "-".to_string(), |f| format!("{:.1}", f as f64 / calls));
            table.row([
                w.name.to_string(),
                c.name.to_string(),
                format!("{:.2}", median / per / 1e3),
                format!(
                    "{:.2}..{:.2}",
                    quantile(&c.samples, 0.25) / per / 1e3,
                    quantile(&c.samples, 0.75) / per / 1e3
                ),
                format!("{:.2}x", median / base),
                format!("{:.2}", c.counted.0 as f64 / calls),
                format!("{:.2}", c.counted.1 as f64 / calls),
                faults,
            ]);
        }
    }
    table
}

/// The comparisons table (paired ratios, with the targets where there are any) and the number
/// of targets missed.
fn comparisons_table(workloads: &[Workload<'_>]) -> (Table, usize) {
    let mut table = Table::new([
        ("workload", Align::Left),
        ("A", Align::Left),
        ("B", Align::Left),
        ("A / B", Align::Right),
        ("target", Align::Right),
        ("met", Align::Left),
    ]);
    let mut missed = 0;
    for w in workloads {
        let mut pairs = vec![
            (ALLOC, ND, None),
            (CHECKED, ND, None),
            (CHECKED, ALLOC, Some(2.0)),
        ];
        if w.cases.iter().any(|c| c.name == ALLOC_INFER) {
            pairs.push((ALLOC_INFER, ND, None));
            pairs.push((CHECKED_INFER, ALLOC_INFER, Some(2.0)));
        }
        for (a, b, target) in pairs {
            let ratio = w.paired_ratio(a, b);
            let (target, met) = match target {
                Some(t) if ratio <= t => (format!("<= {t:.2}"), "yes"),
                Some(t) => {
                    missed += 1;
                    (format!("<= {t:.2}"), "**no**")
                }
                None => ("-".to_string(), "(info)"),
            };
            table.row([
                w.name.to_string(),
                a.to_string(),
                b.to_string(),
                format!("{ratio:.3}"),
                target,
                met.to_string(),
            ]);
        }
    }
    (table, missed)
}

fn main() {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(opts) => opts,
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let reduction = ReductionInputs::new();
    let dense = DenseInputs::new();
    let mut workloads = [
        reduction.workload(),
        dense.workload("dense, 1 batch of 4001", POINTS),
        dense.workload("dense, 126 batches of <= 32", SMALL_BATCH),
    ];
    let results = check_all(&mut workloads);
    for w in &mut workloads {
        eprintln!("measuring {} ...", w.name);
        w.measure(&opts);
    }

    print_header(&opts, &results);
    print!("{}", times_table(&workloads).compact());
    println!();
    println!(
        "Comparisons (median of per-round ratios, time of A / time of B; lower is better for A):"
    );
    println!();
    let (comparisons, missed) = comparisons_table(&workloads);
    print!("{}", comparisons.compact());
    println!();
    println!("{missed} target(s) missed.");
}
