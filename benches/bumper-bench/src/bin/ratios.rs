//! A quick, reproducible ratio table for bumper against bumpalo, bump-scope and the system
//! allocator, without criterion.
//!
//! For each workload the implementations run interleaved: every round runs one batch of
//! iterations of each implementation (in an order that rotates from round to round), so slow
//! drifts of the machine (frequency, other load) hit all of them alike. The time of a batch
//! divided by its iterations is one sample; the table shows the median sample, and each
//! comparison is the median of the per-round ratios (both sides measured in the same round).
//!
//! The rounds are spread over several *layouts*: each layout runs on a fresh thread (a new
//! stack and a new default buffer) with fresh buffers and inputs at other addresses, and within
//! a layout the `f(x)` workloads rotate over [`bumper_bench::PLACEMENTS`] inputs and buffers
//! exactly as the criterion suite does, because their times depend on where things lie.
//!
//! ```text
//! cargo run --release -p bumper-bench --bin ratios [-- --quick | --rounds N --batch N --layouts N]
//! ```

use std::hint::black_box;
use std::time::Instant;

use bumper::{AllocBuffer, SlabBuffer, DEFAULT_SLAB_SIZE};
use bumper_bench::{
    fast_path, new_bump_scope, new_bumpalo, per_placement, quantile, scope, scope_expected, Cycle,
    ScopeInputs, ARENA_CAPACITY,
};

/// Rounds per workload (over all layouts) unless `--rounds` says otherwise.
const DEFAULT_ROUNDS: usize = 120;
/// Iterations per batch unless `--batch` says otherwise.
const DEFAULT_BATCH: u64 = 10_000;
/// Layouts the rounds are spread over unless `--layouts` says otherwise.
const DEFAULT_LAYOUTS: usize = 6;

/// The command line.
struct Options {
    rounds_per_layout: usize,
    batch: u64,
    layouts: usize,
}

/// One implementation of a workload: a name and a function running `n` iterations.
struct Case<'a> {
    name: &'static str,
    run: Box<dyn FnMut(u64) + 'a>,
    /// ns/iter of every measured batch, one per round.
    samples: Vec<f64>,
}

impl<'a> Case<'a> {
    fn new(name: &'static str, run: impl FnMut(u64) + 'a) -> Self {
        Case {
            name,
            run: Box::new(run),
            samples: Vec::new(),
        }
    }
}

/// A workload: its implementations and the one the first table's ratio column divides by.
struct Workload<'a> {
    name: &'static str,
    baseline: &'static str,
    cases: Vec<Case<'a>>,
}

impl Workload<'_> {
    /// Runs one warm-up batch of every case, then `rounds` interleaved rounds.
    fn measure(&mut self, rounds: usize, batch: u64) {
        for case in &mut self.cases {
            (case.run)(batch);
        }
        let n = self.cases.len();
        for round in 0..rounds {
            for k in 0..n {
                let case = &mut self.cases[(round + k) % n];
                let start = Instant::now();
                (case.run)(batch);
                let elapsed = start.elapsed();
                case.samples.push(elapsed.as_nanos() as f64 / batch as f64);
            }
        }
    }

    /// Moves the samples out, as `(case name, samples)`.
    fn into_samples(self) -> Vec<CaseSamples> {
        self.cases
            .into_iter()
            .map(|c| (c.name, c.samples))
            .collect()
    }
}

/// A case's name and its samples (ns/iter).
type CaseSamples = (&'static str, Vec<f64>);

/// The samples of one workload over all layouts.
struct WorkloadResult {
    name: &'static str,
    baseline: &'static str,
    /// Sample `i` of every case comes from the same layout and round.
    cases: Vec<CaseSamples>,
    /// Median of each case's samples within each layout: `[case][layout]`.
    layout_medians: Vec<Vec<f64>>,
}

impl WorkloadResult {
    fn samples(&self, name: &str) -> &[f64] {
        self.cases
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| &s[..])
            .unwrap_or_else(|| panic!("no case {name:?} in workload {:?}", self.name))
    }

    /// Median over rounds of `a`'s time divided by `b`'s time in the same round.
    fn paired_ratio(&self, a: &str, b: &str) -> f64 {
        let ratios: Vec<f64> = self
            .samples(a)
            .iter()
            .zip(self.samples(b))
            .map(|(x, y)| x / y)
            .collect();
        quantile(&ratios, 0.5)
    }
}

/// A comparison of the second table: `a / b` against an optional upper bound.
struct Comparison {
    workload: &'static str,
    a: &'static str,
    b: &'static str,
    /// The ratio must be at most this; `None` for comparisons shown for information.
    target: Option<f64>,
}

const fn cmp(
    workload: &'static str,
    a: &'static str,
    b: &'static str,
    target: Option<f64>,
) -> Comparison {
    Comparison {
        workload,
        a,
        b,
        target,
    }
}

/// The bump fast path must beat bumpalo and bump-scope on the same work by at least 5%.
const FAST_PATH_TARGET: f64 = 0.95;
/// Reaching the default buffer may cost at most 15% over passing a buffer explicitly.
const DEFAULT_BUFFER_TARGET: f64 = 1.15;

const COMPARISONS: &[Comparison] = &[
    cmp(
        "fast_path",
        "bumper AllocBuffer",
        "bumpalo reset",
        Some(FAST_PATH_TARGET),
    ),
    cmp(
        "fast_path",
        "bumper SlabBuffer",
        "bumpalo reset",
        Some(FAST_PATH_TARGET),
    ),
    cmp(
        "fast_path",
        "bumper AllocBuffer",
        "bump-scope reset",
        Some(FAST_PATH_TARGET),
    ),
    cmp(
        "fast_path",
        "bumper SlabBuffer",
        "bump-scope reset",
        Some(FAST_PATH_TARGET),
    ),
    cmp(
        "fast_path",
        "bumper AllocBuffer",
        "bump-scope scoped",
        Some(FAST_PATH_TARGET),
    ),
    cmp(
        "fast_path",
        "bumper SlabBuffer",
        "bump-scope scoped",
        Some(FAST_PATH_TARGET),
    ),
    cmp(
        "fast_path",
        "bumper AllocBuffer",
        "malloc+free each",
        Some(0.2),
    ),
    cmp(
        "fast_path",
        "bumper SlabBuffer",
        "malloc+free each",
        Some(0.2),
    ),
    cmp(
        "fast_path",
        "bumper AllocBuffer",
        "malloc+free batch",
        Some(0.2),
    ),
    cmp(
        "fast_path",
        "bumper SlabBuffer",
        "malloc+free batch",
        Some(0.2),
    ),
    cmp("fast_path", "bumper SlabBuffer", "mimalloc each", None),
    cmp("fast_path", "bumper SlabBuffer", "mimalloc batch", None),
    cmp(
        "scope",
        "bumper AllocBuffer",
        "bump-scope scoped",
        Some(1.1),
    ),
    cmp("scope", "bumper SlabBuffer", "bump-scope scoped", Some(1.1)),
    cmp("scope", "bumper default", "bump-scope scoped", None),
    cmp("scope", "bumper AllocBuffer", "bumpalo reset", None),
    cmp("scope", "bumper SlabBuffer", "bumpalo reset", None),
    cmp("scope", "bumper AllocBuffer", "heap Vec", None),
    cmp("scope", "bumper default", "heap Vec", None),
    cmp(
        "default_vs_explicit",
        "bumper default",
        "explicit SlabBuffer",
        Some(DEFAULT_BUFFER_TARGET),
    ),
    cmp(
        "default_vs_explicit",
        "bumper default",
        "explicit AllocBuffer",
        Some(DEFAULT_BUFFER_TARGET),
    ),
];

/// `--rounds N`, `--batch N` and `--layouts N`; anything else is refused with a usage line.
fn parse_args() -> Options {
    let mut rounds = DEFAULT_ROUNDS;
    let mut batch = DEFAULT_BATCH;
    let mut layouts = DEFAULT_LAYOUTS;
    let mut args = std::env::args().skip(1);
    let usage = "usage: ratios [--quick] [--rounds N] [--batch N] [--layouts N]";
    while let Some(arg) = args.next() {
        if arg == "--quick" {
            // A short run for a shared machine: a few seconds, noisier ratios.
            rounds = 24;
            batch = 2_000;
            layouts = 2;
            continue;
        }
        let value = args.next().and_then(|v| v.parse::<u64>().ok());
        match (arg.as_str(), value) {
            ("--rounds", Some(v)) if v > 0 => rounds = v as usize,
            ("--batch", Some(v)) if v > 0 => batch = v,
            ("--layouts", Some(v)) if v > 0 => layouts = v as usize,
            _ => {
                eprintln!("{usage}");
                std::process::exit(2);
            }
        }
    }
    Options {
        rounds_per_layout: rounds.div_ceil(layouts),
        batch,
        layouts,
    }
}

fn fast_path_workload<'a>() -> Workload<'a> {
    let mut alloc = AllocBuffer::with_capacity(ARENA_CAPACITY);
    let mut slab = SlabBuffer::new();
    let mut bumpalo = new_bumpalo();
    let mut bump_scope_a = new_bump_scope();
    let mut bump_scope_b = new_bump_scope();
    Workload {
        name: "fast_path",
        baseline: "bumpalo reset",
        cases: vec![
            Case::new("bumper AllocBuffer", move |n| {
                for _ in 0..n {
                    fast_path::bumper(&mut alloc);
                }
            }),
            Case::new("bumper SlabBuffer", move |n| {
                for _ in 0..n {
                    fast_path::bumper(&mut slab);
                }
            }),
            Case::new("bumpalo reset", move |n| {
                for _ in 0..n {
                    fast_path::bumpalo(&mut bumpalo);
                }
            }),
            Case::new("bump-scope reset", move |n| {
                for _ in 0..n {
                    fast_path::bump_scope_reset(&mut bump_scope_a);
                }
            }),
            Case::new("bump-scope scoped", move |n| {
                for _ in 0..n {
                    fast_path::bump_scope_scoped(&mut bump_scope_b);
                }
            }),
            Case::new("malloc+free each", |n| {
                for _ in 0..n {
                    fast_path::malloc_free_each();
                }
            }),
            Case::new("malloc+free batch", |n| {
                for _ in 0..n {
                    fast_path::malloc_free_batch();
                }
            }),
            Case::new("mimalloc each", |n| {
                for _ in 0..n {
                    fast_path::mimalloc_free_each();
                }
            }),
            Case::new("mimalloc batch", |n| {
                for _ in 0..n {
                    fast_path::mimalloc_free_batch();
                }
            }),
        ],
    }
}

fn scope_workload(inputs: &ScopeInputs) -> Workload<'_> {
    let mut allocs = per_placement(|| AllocBuffer::with_capacity(ARENA_CAPACITY));
    let mut slabs = per_placement(SlabBuffer::<DEFAULT_SLAB_SIZE>::with_slab_size);
    let mut bump_scopes = per_placement(new_bump_scope);
    let mut bumpalos = per_placement(new_bumpalo);
    // Each closure moves in its own copy of the placement cycle.
    let mut k = Cycle::default();
    Workload {
        name: "scope",
        baseline: "bump-scope scoped",
        cases: vec![
            Case::new("bumper AllocBuffer", move |n| {
                for _ in 0..n {
                    let i = k.next_index();
                    black_box(scope::bumper(black_box(inputs.get(i)), &mut allocs[i]));
                }
            }),
            Case::new("bumper SlabBuffer", move |n| {
                for _ in 0..n {
                    let i = k.next_index();
                    black_box(scope::bumper(black_box(inputs.get(i)), &mut slabs[i]));
                }
            }),
            Case::new("bumper default", move |n| {
                for _ in 0..n {
                    let i = k.next_index();
                    black_box(scope::bumper_default(black_box(inputs.get(i))));
                }
            }),
            Case::new("bump-scope scoped", move |n| {
                for _ in 0..n {
                    let i = k.next_index();
                    black_box(scope::bump_scope_scoped(
                        black_box(inputs.get(i)),
                        &mut bump_scopes[i],
                    ));
                }
            }),
            Case::new("bumpalo reset", move |n| {
                for _ in 0..n {
                    let i = k.next_index();
                    black_box(scope::bumpalo(black_box(inputs.get(i)), &mut bumpalos[i]));
                }
            }),
            Case::new("heap Vec", move |n| {
                for _ in 0..n {
                    let i = k.next_index();
                    black_box(scope::heap_vec(black_box(inputs.get(i))));
                }
            }),
        ],
    }
}

fn default_vs_explicit_workload(inputs: &ScopeInputs) -> Workload<'_> {
    let mut slabs = per_placement(SlabBuffer::<DEFAULT_SLAB_SIZE>::with_slab_size);
    let mut allocs = per_placement(|| AllocBuffer::with_capacity(ARENA_CAPACITY));
    // Each closure moves in its own copy of the placement cycle.
    let mut k = Cycle::default();
    Workload {
        name: "default_vs_explicit",
        baseline: "explicit SlabBuffer",
        cases: vec![
            Case::new("bumper default", move |n| {
                for _ in 0..n {
                    let i = k.next_index();
                    black_box(scope::bumper_default(black_box(inputs.get(i))));
                }
            }),
            Case::new("explicit SlabBuffer", move |n| {
                for _ in 0..n {
                    let i = k.next_index();
                    black_box(scope::bumper(black_box(inputs.get(i)), &mut slabs[i]));
                }
            }),
            Case::new("explicit AllocBuffer", move |n| {
                for _ in 0..n {
                    let i = k.next_index();
                    black_box(scope::bumper(black_box(inputs.get(i)), &mut allocs[i]));
                }
            }),
        ],
    }
}

/// Checks that every `f(x)` implementation computes the right answer before timing it.
fn check_results(x: &[i64]) {
    let expected = scope_expected();
    let mut alloc = AllocBuffer::with_capacity(ARENA_CAPACITY);
    let mut slab = SlabBuffer::new();
    let mut bump_scope = new_bump_scope();
    let mut bumpalo = new_bumpalo();
    let results = [
        scope::bumper(x, &mut alloc),
        scope::bumper(x, &mut slab),
        scope::bumper_default(x),
        scope::bump_scope_scoped(x, &mut bump_scope),
        scope::bumpalo(x, &mut bumpalo),
        scope::heap_vec(x),
    ];
    assert!(
        results.iter().all(|&r| r == expected),
        "f(x) disagrees: {results:?}, expected {expected}"
    );
}

/// Measures every workload in one layout (on the calling thread, with buffers and inputs of its
/// own) and returns `(workload, baseline, samples of each case)`.
fn measure_layout(
    layout: usize,
    opts: &Options,
) -> Vec<(&'static str, &'static str, Vec<CaseSamples>)> {
    let inputs = ScopeInputs::new(layout);
    check_results(inputs.get(0));
    let workloads = [
        fast_path_workload(),
        scope_workload(&inputs),
        default_vs_explicit_workload(&inputs),
    ];
    workloads
        .into_iter()
        .map(|mut w| {
            w.measure(opts.rounds_per_layout, opts.batch);
            (w.name, w.baseline, w.into_samples())
        })
        .collect()
}

fn main() {
    let opts = parse_args();
    let mut results: Vec<WorkloadResult> = Vec::new();
    for layout in 0..opts.layouts {
        eprintln!("measuring layout {} of {} ...", layout + 1, opts.layouts);
        // A fresh thread per layout: its own stack and its own default buffer.
        let measured = std::thread::scope(|s| {
            s.spawn(|| measure_layout(layout, &opts))
                .join()
                .expect("measuring thread panicked")
        });
        for (w, (name, baseline, cases)) in measured.into_iter().enumerate() {
            if layout == 0 {
                results.push(WorkloadResult {
                    name,
                    baseline,
                    layout_medians: vec![Vec::new(); cases.len()],
                    cases: cases.iter().map(|(n, _)| (*n, Vec::new())).collect(),
                });
            }
            let result = &mut results[w];
            for (c, (_, samples)) in cases.into_iter().enumerate() {
                result.layout_medians[c].push(quantile(&samples, 0.5));
                result.cases[c].1.extend(samples);
            }
        }
    }
    let rounds = opts.rounds_per_layout * opts.layouts;
    let batch = opts.batch;
    let layouts = opts.layouts;

    println!("# bumper ratios");
    println!();
    println!(
        "{rounds} interleaved rounds ({layouts} layouts) x {batch} iterations per implementation \
         and workload; {}.",
        bench_support::machine::summary()
    );
    println!(
        "Times in ns per iteration (one iteration = one call of the workload); \
         `layout medians` is the spread of the per-layout medians."
    );
    println!();
    println!(
        "| workload | implementation | median ns/iter | p25..p75 ns/iter | layout medians min..max \
         | ratio vs baseline | baseline |"
    );
    println!("|---|---|---:|---:|---:|---:|---|");
    for workload in &results {
        let base = quantile(workload.samples(workload.baseline), 0.5);
        for ((name, samples), per_layout) in workload.cases.iter().zip(&workload.layout_medians) {
            let median = quantile(samples, 0.5);
            println!(
                "| {} | {} | {:.1} | {:.1}..{:.1} | {:.1}..{:.1} | {:.2}x | {} |",
                workload.name,
                name,
                median,
                quantile(samples, 0.25),
                quantile(samples, 0.75),
                quantile(per_layout, 0.0),
                quantile(per_layout, 1.0),
                median / base,
                workload.baseline
            );
        }
    }

    println!();
    println!(
        "Comparisons (median of per-round ratios, time of A / time of B; lower is better for A):"
    );
    println!();
    println!("| workload | A | B | A / B | target | target met? |");
    println!("|---|---|---|---:|---:|---|");
    let mut missed = 0;
    for c in COMPARISONS {
        let workload = results
            .iter()
            .find(|w| w.name == c.workload)
            .expect("comparison names a known workload");
        let ratio = workload.paired_ratio(c.a, c.b);
        let (target, met) = match c.target {
            Some(t) if ratio <= t => (format!("<= {t:.2}"), "met"),
            Some(t) => {
                missed += 1;
                (format!("<= {t:.2}"), "**missed**")
            }
            None => ("-".to_string(), "(info)"),
        };
        println!(
            "| {} | {} | {} | {:.3} | {} | {} |",
            c.workload, c.a, c.b, ratio, target, met
        );
    }
    println!();
    let targets = COMPARISONS.iter().filter(|c| c.target.is_some()).count();
    println!(
        "{} of {targets} targets met, {missed} missed.",
        targets - missed
    );
}
