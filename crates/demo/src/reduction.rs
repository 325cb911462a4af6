//! The seed's first AllocArrays example, `basic_reduction`: a function that knows nothing about
//! allocators makes two copies of its input with `similar` and sums their elementwise sum.
//! Written once ([`basic_reduction`]), it runs on plain `ndarray` arrays (new arrays on the
//! heap) and on `AllocArray` / `CheckedAllocArray` inside `with_allocator` (new arrays from the
//! arena, which is reset after every call).

use std::hint::black_box;
use std::time::Instant;

use allocarrays::{
    with_allocator, AllocArrayBase, ArrayAllocator, BumperAllocator, Checked, Checking, HeapArena,
    Unchecked,
};
use ndarray::{Array1, Ix1};

use crate::alloc_stack::{per_backend, Backend};
use crate::measure::{
    checked_target, rows_of, time_target, zero_calls_target, CaseResult, Runner, Variant,
    MIMALLOC_TIME_LIMIT,
};
use crate::report::{Row, Target, Workload};

/// What `basic_reduction` asks of an array: the seed's `similar`, `.=`, `.+` and `sum`.
pub trait SeedArray: Sized {
    /// A new array of the same shape (the seed's `similar`).
    fn similar(&self) -> Self;
    /// `self .= other`.
    fn assign_from(&mut self, other: &Self);
    /// `self .+ other`, a new array.
    fn plus(&self, other: &Self) -> Self;
    /// The sum of the elements.
    fn total(&self) -> f64;
}

/// The methods of [`SeedArray`] that `ndarray` arrays and arena arrays spell alike.
macro_rules! spelled_alike {
    () => {
        fn assign_from(&mut self, other: &Self) {
            self.assign(other);
        }

        fn plus(&self, other: &Self) -> Self {
            self + other
        }

        fn total(&self) -> f64 {
            self.sum()
        }
    };
}

impl SeedArray for Array1<f64> {
    fn similar(&self) -> Self {
        Array1::zeros(self.raw_dim())
    }

    spelled_alike!();
}

impl<K: Checking> SeedArray for AllocArrayBase<f64, Ix1, K>
where
    K: Checking<Or<K> = K>,
{
    fn similar(&self) -> Self {
        AllocArrayBase::similar(self)
    }

    spelled_alike!();
}

/// The seed's `some_allocating_function`: two copies of `a`, each made with `similar`.
pub fn some_allocating_function<A: SeedArray>(a: &A) -> (A, A) {
    let mut b = a.similar();
    b.assign_from(a);
    let mut c = a.similar();
    c.assign_from(a);
    (b, c)
}

/// The seed's `basic_reduction`: `sum(b .+ c)` of those copies.
pub fn basic_reduction<A: SeedArray>(a: &A) -> f64 {
    let (b, c) = some_allocating_function(a);
    b.plus(&c).total()
}

/// The seed's `bumper_reduction!`: `basic_reduction` under `alloc`, then `reset`.
pub fn bumper_reduction<A: SeedArray>(alloc: &impl ArrayAllocator, a: &A) -> f64 {
    let total = with_allocator(alloc, || basic_reduction(a));
    alloc.reset();
    total
}

/// `basic_reduction` on plain arrays inside a scope of `arena`, then a reset: with
/// `allocarrays::ArenaRouter` as the global allocator, every array it makes comes from the
/// arena (without it, from the heap as usual).
pub fn routed_reduction<A: SeedArray>(arena: &HeapArena, a: &A) -> f64 {
    let total = arena.scope(|| basic_reduction(a));
    // A lenient arena: the reset always succeeds (anything still live would stay pinned).
    let _ = arena.reset();
    total
}

/// Sizes of the measurement.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Elements of the input (the seed: 100 000).
    pub len: usize,
    /// Measured rounds.
    pub rounds: usize,
    /// Target length of one round of one case, in milliseconds.
    pub round_ms: f64,
}

/// Unmeasured rounds first (the calibration has warmed every variant up already).
const WARMUP_ROUNDS: usize = 1;

const PLAIN: &str = "ndarray";
const ALLOC: &str = "AllocArray";
const CHECKED: &str = "CheckedAllocArray";
/// Plain `ndarray` code with every heap allocation routed to a `HeapArena` (needs the
/// program's global allocator to be `allocarrays::ArenaRouter`).
const ROUTED: &str = "ndarray, HeapArena";

/// Calls of `f` that take about `target_ms` (at least eight), from timed calls after a warm-up
/// (which sizes buffers and maps their pages).
fn calls_for(target_ms: f64, mut f: impl FnMut()) -> usize {
    for _ in 0..10 {
        f();
    }
    let start = Instant::now();
    let mut calls = 0;
    while calls < 3 || start.elapsed().as_secs_f64() * 1e3 < target_ms / 4.0 {
        f();
        calls += 1;
    }
    let per_call_ms = start.elapsed().as_secs_f64() * 1e3 / calls as f64;
    ((target_ms / per_call_ms).round() as usize).max(8)
}

/// The variants' names, in table order; the first is the baseline.
const NAMES: [&str; 4] = [PLAIN, ALLOC, CHECKED, ROUTED];
/// Whether each variant of [`NAMES`] runs in an arena.
const IN_ARENA: [bool; 4] = [false, true, true, true];
/// The workload's key in the report.
const KEY: &str = "basic_reduction";

/// The input as each kind of array, and each arena variant's arenas (one per backend, each
/// with its buffer from that backend).
struct Inputs {
    plain: Array1<f64>,
    alloc: AllocArrayBase<f64, Ix1, Unchecked>,
    checked: AllocArrayBase<f64, Ix1, Checked>,
    alloc_arena: [BumperAllocator; 2],
    checked_arena: [BumperAllocator; 2],
    heap_arena: [HeapArena; 2],
}

impl Inputs {
    /// `len` ones, and fresh arenas.
    fn new(len: usize) -> Inputs {
        let plain = Array1::<f64>::ones(len);
        Inputs {
            alloc: AllocArrayBase::from(plain.clone()),
            checked: AllocArrayBase::from(plain.clone()),
            plain,
            alloc_arena: per_backend(BumperAllocator::default),
            checked_arena: per_backend(BumperAllocator::default),
            heap_arena: per_backend(HeapArena::new),
        }
    }

    /// Variant `v` of [`NAMES`] once, under the arenas of `backend`.
    fn call(&self, v: usize, backend: Backend) -> f64 {
        let b = backend.index();
        match v {
            0 => basic_reduction(black_box(&self.plain)),
            1 => bumper_reduction(&self.alloc_arena[b], black_box(&self.alloc)),
            2 => bumper_reduction(&self.checked_arena[b], black_box(&self.checked)),
            _ => routed_reduction(&self.heap_arena[b], black_box(&self.plain)),
        }
    }
}

/// The targets: the arena variants no slower than `ndarray` under either backend, no
/// allocator calls, checked within 2x of unchecked.
fn targets(rows: &[Row], results: &[[CaseResult; 2]]) -> Vec<Target> {
    let in_arena = &NAMES[1..];
    vec![
        time_target(KEY, rows, in_arena, Backend::System, 1.0),
        time_target(KEY, rows, in_arena, Backend::Mimalloc, MIMALLOC_TIME_LIMIT),
        zero_calls_target(KEY, "call", rows, in_arena),
        checked_target(KEY, &NAMES, results, (CHECKED, ALLOC), 2.0),
    ]
}

/// The workload of `rows`, with its titles and what was measured; `units` are the calls per
/// round of each variant.
fn workload(config: &Config, units: [usize; 4], rows: Vec<Row>) -> Workload {
    let expected = config.len as f64 * 2.0;
    Workload {
        key: KEY,
        name: format!("basic_reduction, {} f64", config.len),
        title: format!(
            "basic_reduction on {} f64 (the seed's first AllocArrays demo)",
            config.len
        ),
        header: format!(
            "`b = similar(a); b .= a; c = similar(a); c .= a; sum(b .+ c)` = {expected}; arena \
             array variants run it under `with_allocator(&BumperAllocator::default(), ..)` and \
             `reset()` after each call, each allocator's buffer from the backend it runs under; \
             `{ROUTED}` runs it on plain arrays inside a `HeapArena` scope (every allocation \
             routed to the arena by the `ArenaRouter` global allocator), then `reset()`. {} rounds \
             of about {} ms per variant and allocator, interleaved, after {WARMUP_ROUNDS} \
             unmeasured round; times are of single calls; `vs {PLAIN}` and `mimalloc/System` are \
             medians over rounds of the ratio of the rounds' median call times; allocator calls, \
             bytes and faults are means over all measured calls.",
            config.rounds, config.round_ms
        ),
        unit: "call",
        sizes: vec![
            ("len", config.len),
            ("rounds", config.rounds),
            ("warmup_rounds", WARMUP_ROUNDS),
            ("calls_per_round_ndarray", units[0]),
            ("calls_per_round_alloc_array", units[1]),
            ("calls_per_round_checked", units[2]),
            ("calls_per_round_routed", units[3]),
        ],
        baseline: PLAIN.to_string(),
        rows,
    }
}

/// Measures `basic_reduction` on `len` ones: plain `ndarray`, `AllocArray` and
/// `CheckedAllocArray` (each with its own default `BumperAllocator`), and plain arrays in a
/// `HeapArena` scope, under both backends; and checks the targets: the arena no slower than
/// `ndarray`, no allocator calls, checked within 2x of unchecked.
pub fn measure(config: &Config) -> (Workload, Vec<Target>) {
    let inputs = Inputs::new(config.len);
    let expected = config.len as f64 * 2.0;
    // Every variant computes the seed's result.
    for (v, name) in NAMES.iter().enumerate() {
        assert_eq!(inputs.call(v, Backend::System), expected, "{name}");
    }
    let units: [usize; 4] = std::array::from_fn(|v| {
        calls_for(config.round_ms, || {
            black_box(inputs.call(v, Backend::System));
        })
    });
    let inputs = &inputs;
    let mut runner = Runner {
        variants: (0..NAMES.len())
            .map(|v| Variant {
                name: NAMES[v],
                arena: IN_ARENA[v],
                units: units[v],
                step: Box::new(move |_, backend| {
                    black_box(inputs.call(v, backend));
                }),
            })
            .collect(),
        rounds: config.rounds,
        warmup: WARMUP_ROUNDS,
    };
    let results = runner.run();
    let rows = rows_of(&NAMES, &IN_ARENA, &results, |_, _| None, false);
    let targets = targets(&rows, &results);
    (workload(config, units, rows), targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_array_kind_gives_the_seed_result() {
        let a = Array1::<f64>::ones(1000);
        assert_eq!(basic_reduction(&a), 2000.0);
        let alloc = BumperAllocator::with_fixed_capacity(1 << 20);
        let aa: AllocArrayBase<f64, Ix1, Unchecked> = AllocArrayBase::from(a.clone());
        assert_eq!(bumper_reduction(&alloc, &aa), 2000.0);
        let ca: AllocArrayBase<f64, Ix1, Checked> = AllocArrayBase::from(a);
        assert_eq!(bumper_reduction(&alloc, &ca), 2000.0);
        assert_eq!(alloc.stats().used, 0);
    }

    #[test]
    fn a_tiny_measurement_has_every_variant_under_both_backends() {
        let (w, targets) = measure(&Config {
            len: 100,
            rounds: 2,
            round_ms: 0.05,
        });
        assert_eq!(targets.len(), 4);
        assert_eq!(w.variants(), [PLAIN, ALLOC, CHECKED, ROUTED]);
        assert_eq!(w.rows.len(), 8);
        assert_eq!(w.row(PLAIN, Backend::System).unwrap().vs_baseline, 1.0);
    }
}
