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

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bumper_bench::quantile;

use allocarrays::ndarray::{Array, Array1, Array2, ArrayView2, Axis, Ix1, Ix2};
use allocarrays::{
    infer_batch, with_allocator, AllocArray, AllocArrayBase, AllocViewBase, BumperAllocator,
    Checked, CheckedAllocArray, Checking, Unchecked,
};

// ---------------------------------------------------------------------------------------------
// Counting the system allocator's calls.

/// Forwards to [`System`], counting the calls (one relaxed atomic add each).
struct CountingAlloc;

/// `alloc`, `alloc_zeroed` and `realloc` calls.
static ALLOCS: AtomicU64 = AtomicU64::new(0);
/// `dealloc` calls.
static FREES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so it keeps
// `System`'s guarantees; the counters don't touch the memory.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract for `GlobalAlloc::alloc`, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract for `GlobalAlloc::alloc_zeroed`, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        FREES.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract for `GlobalAlloc::dealloc`, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract for `GlobalAlloc::realloc`, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// `(allocs, frees)` so far.
fn alloc_counts() -> (u64, u64) {
    (
        ALLOCS.load(Ordering::Relaxed),
        FREES.load(Ordering::Relaxed),
    )
}

/// The process's minor page faults so far (field 10 of `/proc/self/stat`); `None` where there
/// is no such file. Reads into a stack buffer: no heap allocation.
fn minor_faults() -> Option<u64> {
    use std::io::Read;
    let mut buf = [0u8; 1024];
    let mut file = std::fs::File::open("/proc/self/stat").ok()?;
    let n = file.read(&mut buf).ok()?;
    let text = std::str::from_utf8(&buf[..n]).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from its end.
    let after_name = &text[text.rfind(')')? + 1..];
    after_name.split_whitespace().nth(7)?.parse().ok()
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

fn parse_args() -> Options {
    let mut opts = Options {
        rounds: DEFAULT_ROUNDS,
        sample_ms: DEFAULT_SAMPLE_MS,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().and_then(|v| v.parse::<u64>().ok());
        match (arg.as_str(), value) {
            ("--rounds", Some(v)) if v > 0 => opts.rounds = v as usize,
            ("--sample-ms", Some(v)) if v > 0 => opts.sample_ms = v,
            _ => {
                eprintln!("usage: arrays [--rounds N] [--sample-ms N]");
                std::process::exit(2);
            }
        }
    }
    opts
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
        let ratios: Vec<f64> = self
            .case(a)
            .samples
            .iter()
            .zip(&self.case(b).samples)
            .map(|(x, y)| x / y)
            .collect();
        quantile(&ratios, 0.5)
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

fn main() {
    let opts = parse_args();

    // Workload 1's inputs, one per implementation (each its own heap block).
    let ones_nd = Array1::<f64>::ones(REDUCTION_LEN);
    let ones_alloc: AllocArray<f64, Ix1> = AllocArray::from(vec![1.0; REDUCTION_LEN]);
    let ones_checked: CheckedAllocArray<f64, Ix1> =
        CheckedAllocArray::from(vec![1.0; REDUCTION_LEN]);
    let reduction_allocs = [BumperAllocator::default(), BumperAllocator::default()];
    let reduction = Workload {
        name: "basic_reduction",
        batches_per_call: 1,
        cases: vec![
            Case::new(ND, || reduction_ndarray(black_box(&ones_nd))),
            Case::new(ND_TO_OWNED, || {
                reduction_ndarray_to_owned(black_box(&ones_nd))
            }),
            Case::new(ALLOC, || {
                reduction_in_arena(&reduction_allocs[0], &ones_alloc)
            }),
            Case::new(CHECKED, || {
                reduction_in_arena(&reduction_allocs[1], &ones_checked)
            }),
        ],
    };

    // Workload 2's inputs and weights.
    let x = dense_inputs();
    let nd = dense_weights();
    let unchecked: AllocDense<Unchecked> = nd.to_alloc();
    let checked: AllocDense<Checked> = nd.to_alloc();
    let whole = dense_workload(
        "dense, 1 batch of 4001",
        &x,
        POINTS,
        &nd,
        &unchecked,
        &checked,
    );
    let small = dense_workload(
        "dense, 126 batches of <= 32",
        &x,
        SMALL_BATCH,
        &nd,
        &unchecked,
        &checked,
    );

    let mut workloads = [reduction, whole, small];
    let mut results = Vec::new();
    for w in &mut workloads {
        results.push(w.check());
    }
    assert_eq!(results[0], 2.0 * REDUCTION_LEN as f64, "basic_reduction");
    assert!(
        (results[1] - results[2]).abs() <= 1e-9,
        "the model's sum depends on the batching: {} vs {}",
        results[1],
        results[2]
    );
    for w in &mut workloads {
        eprintln!("measuring {} ...", w.name);
        w.measure(&opts);
    }

    println!("# allocarrays vs ndarray");
    println!();
    let build = if cfg!(debug_assertions) {
        "DEBUG build: numbers are meaningless, use --release"
    } else {
        "release build"
    };
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "{} interleaved rounds per workload, about {} ms per sample; {build}; {cpus} CPUs; {} {}.",
        opts.rounds,
        opts.sample_ms,
        std::env::consts::OS,
        std::env::consts::ARCH
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
    println!(
        "| workload | implementation | median µs | p25..p75 µs | vs ndarray | allocs | frees \
         | faults |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for w in &workloads {
        let per = w.batches_per_call as f64;
        let base = quantile(&w.cases[0].samples, 0.5);
        for c in &w.cases {
            let median = quantile(&c.samples, 0.5);
            let calls = c.total_calls as f64 * per;
            let faults = c
                .faults
                .map_or_else(|| "-".to_string(), |f| format!("{:.1}", f as f64 / calls));
            println!(
                "| {} | {} | {:.2} | {:.2}..{:.2} | {:.2}x | {:.2} | {:.2} | {faults} |",
                w.name,
                c.name,
                median / per / 1e3,
                quantile(&c.samples, 0.25) / per / 1e3,
                quantile(&c.samples, 0.75) / per / 1e3,
                median / base,
                c.counted.0 as f64 / calls,
                c.counted.1 as f64 / calls,
            );
        }
    }

    println!();
    println!(
        "Comparisons (median of per-round ratios, time of A / time of B; lower is better for A):"
    );
    println!();
    println!("| workload | A | B | A / B | target | met |");
    println!("|---|---|---|---:|---:|---|");
    let mut missed = 0;
    for w in &workloads {
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
            println!("| {} | {a} | {b} | {ratio:.3} | {target} | {met} |", w.name);
        }
    }
    println!();
    println!("{missed} target(s) missed.");
}
