//! The arena router (`allocarrays::ArenaRouter`) against the allocators it wraps, side by side
//! in one process, rounds interleaved, medians reported:
//!
//! 1. malloc/free pairs of 16 B, 64 B, 1 KiB and 1 MiB: the bare allocator (System, mimalloc),
//!    the router over it outside any scope (what every program pays for installing it), and the
//!    router inside a `HeapArena` scope. Targets, printed as met or missed: inside a scope a
//!    pair of 16 B, 64 B or 1 KiB costs at most 0.6x mimalloc's; outside, the router adds at
//!    most 1 ns (medians).
//! 2. Six buffers of 1-16 MiB per iteration, all alive at once, each filled, then freed:
//!    System, mimalloc, and a reused `HeapArena` (reset after each iteration), with and without
//!    huge pages. Time and minor page faults per iteration.
//!
//! `CARGO_TARGET_DIR=/tmp/bench-target cargo run --release -p bumper-bench --bin routing`
//! (`-- --quick` for a short run, `-- --pairs` for the pairs only).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::time::Instant;

use allocarrays::{ArenaRouter, HeapArena, HeapArenaOptions};
use bench_support::stats::median;
use mimalloc::MiMalloc;

#[global_allocator]
static GLOBAL: ArenaRouter = ArenaRouter::new(System);

/// A second router, over mimalloc, called directly (the global one wraps System). Routing is
/// per thread, so both follow the same scopes.
static MI_ROUTER: ArenaRouter<MiMalloc> = ArenaRouter::new(MiMalloc);

/// Minor page faults of this thread so far.
fn minor_faults() -> u64 {
    // SAFETY: `getrusage` writes into the zeroed struct we pass and reads nothing else.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_THREAD, &mut usage) != 0 {
            return 0;
        }
        usage.ru_minflt as u64
    }
}

// ---------------------------------------------------------------------------------------------
// 1. malloc/free pairs.

/// Nanoseconds per alloc + dealloc pair of `layout` on `a`, over `pairs` pairs.
#[inline(never)]
fn pairs_ns<A: GlobalAlloc>(a: &A, layout: Layout, pairs: u32) -> f64 {
    let start = Instant::now();
    for _ in 0..pairs {
        // SAFETY: non-zero size; the block is freed right away with its layout.
        unsafe {
            let p = a.alloc(black_box(layout));
            black_box(p);
            a.dealloc(p, layout);
        }
    }
    start.elapsed().as_nanos() as f64 / f64::from(pairs)
}

struct PairCase {
    name: &'static str,
    samples: Vec<f64>,
}

/// A target of the pair benchmark: what is measured, its value and its bound (met if at most).
struct Target {
    what: String,
    value: f64,
    bound: f64,
}

/// In-scope pairs at these sizes cost at most this much of mimalloc's.
const IN_SCOPE_VS_MIMALLOC: f64 = 0.6;
const IN_SCOPE_SIZES: [usize; 3] = [16, 64, 1024];
/// Outside a scope the router adds at most this many nanoseconds per pair.
const ADDED_NS: f64 = 1.0;

fn bench_pairs(rounds: usize) {
    println!(
        "## malloc/free pairs (ns per pair, median of {rounds} interleaved rounds; added: median of the per-round differences; in scope / mimalloc: median of the per-round ratios)\n"
    );
    println!("| size | System | router(System), no scope | added | mimalloc | router(mimalloc), no scope | added | router, in a scope | in scope / mimalloc |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let arena = HeapArena::new();
    let mut targets: Vec<Target> = Vec::new();
    for size in [16usize, 64, 1024, 1 << 20] {
        let layout = Layout::from_size_align(size, 8).unwrap();
        let pairs = if size >= 1 << 20 { 1_000 } else { 10_000 };
        let names = [
            "System",
            "router(System)",
            "mimalloc",
            "router(mimalloc)",
            "in scope",
        ];
        let mut cases: Vec<PairCase> = names
            .iter()
            .map(|&name| PairCase {
                name,
                samples: Vec::with_capacity(rounds),
            })
            .collect();
        for round in 0..rounds + 2 {
            let sample = |i: usize| -> f64 {
                match i {
                    0 => pairs_ns(&System, layout, pairs),
                    1 => pairs_ns(&GLOBAL, layout, pairs),
                    2 => pairs_ns(&MiMalloc, layout, pairs),
                    3 => pairs_ns(&MI_ROUTER, layout, pairs),
                    _ => arena.scope(|| pairs_ns(&GLOBAL, layout, pairs)),
                }
            };
            // Rotate the order so no case always follows the same one.
            for k in 0..cases.len() {
                let i = (k + round) % cases.len();
                let ns = sample(i);
                if round >= 2 {
                    cases[i].samples.push(ns);
                }
            }
        }
        // The added cost: the median over rounds of the difference within a round (both
        // measured back to back), steadier than a difference of medians on a noisy machine.
        let added = |router: usize, bare: usize| {
            let d: Vec<f64> = cases[router]
                .samples
                .iter()
                .zip(&cases[bare].samples)
                .map(|(r, b)| r - b)
                .collect();
            median(&d)
        };
        let (added_system, added_mimalloc) = (added(1, 0), added(3, 2));
        let ratios: Vec<f64> = cases[4]
            .samples
            .iter()
            .zip(&cases[2].samples)
            .map(|(a, m)| a / m)
            .collect();
        let vs_mimalloc = median(&ratios);
        let m: Vec<f64> = cases.iter().map(|c| median(&c.samples)).collect();
        debug_assert_eq!(cases[4].name, "in scope");
        println!(
            "| {} | {:.2} | {:.2} | {:+.2} | {:.2} | {:.2} | {:+.2} | {:.2} | {:.2}x |",
            human(size),
            m[0],
            m[1],
            added_system,
            m[2],
            m[3],
            added_mimalloc,
            m[4],
            vs_mimalloc
        );
        if IN_SCOPE_SIZES.contains(&size) {
            targets.push(Target {
                what: format!("{}: in-scope pair / mimalloc pair (x)", human(size)),
                value: vs_mimalloc,
                bound: IN_SCOPE_VS_MIMALLOC,
            });
        }
        for (wrapped, added) in [("System", added_system), ("mimalloc", added_mimalloc)] {
            targets.push(Target {
                what: format!(
                    "{}: added outside a scope, router({wrapped}) (ns)",
                    human(size)
                ),
                value: added,
                bound: ADDED_NS,
            });
        }
    }
    arena.reset();
    println!("\n### targets\n");
    println!("| target | value | bound | |");
    println!("|---|---:|---:|---|");
    for t in &targets {
        let verdict = if t.value <= t.bound {
            "met"
        } else {
            "**missed**"
        };
        println!(
            "| {} | {:.2} | <= {:.2} | {verdict} |",
            t.what, t.value, t.bound
        );
    }
    println!();
}

fn human(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Six large buffers per iteration.

/// The buffer sizes of iteration `i`: six sizes of 1..=16 MiB from a fixed pseudo-random
/// sequence (the same for every allocator).
fn sizes(i: usize) -> [usize; 6] {
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ (i as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    std::array::from_fn(|_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state % 16) as usize + 1) << 20
    })
}

/// One iteration: six buffers allocated, filled, read, freed newest first.
#[inline(never)]
fn six_buffers<A: GlobalAlloc>(a: &A, i: usize) -> u64 {
    let sizes = sizes(i);
    let mut ptrs = [std::ptr::null_mut::<u8>(); 6];
    let mut sum = 0u64;
    for (k, &size) in sizes.iter().enumerate() {
        let layout = Layout::from_size_align(size, 64).unwrap();
        // SAFETY: non-zero size; freed below with the same layout.
        let p = unsafe { a.alloc(layout) };
        assert!(!p.is_null());
        // SAFETY: `p` is a live allocation of `size` bytes.
        unsafe {
            p.write_bytes(k as u8 + 1, size);
            sum += u64::from(*p.add(size / 2));
        }
        ptrs[k] = p;
    }
    for k in (0..6).rev() {
        let layout = Layout::from_size_align(sizes[k], 64).unwrap();
        // SAFETY: allocated above with this layout, freed once.
        unsafe { a.dealloc(ptrs[k], layout) };
    }
    sum
}

struct BigCase {
    name: &'static str,
    ms: Vec<f64>,
    faults: Vec<f64>,
}

fn bench_big_buffers(rounds: usize) {
    let arena = HeapArena::new();
    let huge = HeapArena::with_options(HeapArenaOptions::new().huge_pages(true));
    let names = ["System", "mimalloc", "HeapArena", "HeapArena + huge pages"];
    let mut cases: Vec<BigCase> = names
        .iter()
        .map(|&name| BigCase {
            name,
            ms: Vec::with_capacity(rounds),
            faults: Vec::with_capacity(rounds),
        })
        .collect();
    let warmup = 3;
    for round in 0..rounds + warmup {
        for k in 0..cases.len() {
            let i = (k + round) % cases.len();
            let faults = minor_faults();
            let start = Instant::now();
            let sum = match i {
                0 => six_buffers(&System, round),
                1 => six_buffers(&MiMalloc, round),
                2 => {
                    let s = arena.scope(|| six_buffers(&GLOBAL, round));
                    arena.reset();
                    s
                }
                _ => {
                    let s = huge.scope(|| six_buffers(&GLOBAL, round));
                    huge.reset();
                    s
                }
            };
            let ms = start.elapsed().as_secs_f64() * 1e3;
            let faults = minor_faults() - faults;
            black_box(sum);
            if round >= warmup {
                cases[i].ms.push(ms);
                cases[i].faults.push(faults as f64);
            }
        }
    }
    println!(
        "## six buffers of 1-16 MiB per iteration, filled (median of {rounds} interleaved rounds)\n"
    );
    println!(
        "| allocator | ms / iteration | mean ms | vs System | vs mimalloc | minor faults / iteration (median) | (mean) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
    let figures: Vec<[f64; 4]> = cases
        .iter_mut()
        .map(|c| {
            let (mean_ms, mean_faults) = (mean(&c.ms), mean(&c.faults));
            [median(&c.ms), mean_ms, median(&c.faults), mean_faults]
        })
        .collect();
    for (c, f) in cases.iter().zip(&figures) {
        println!(
            "| {} | {:.2} | {:.2} | {:.2}x | {:.2}x | {:.0} | {:.0} |",
            c.name,
            f[0],
            f[1],
            f[0] / figures[0][0],
            f[0] / figures[1][0],
            f[2],
            f[3]
        );
    }
    println!();
    let stats = arena.stats();
    println!(
        "HeapArena: {} lane(s), {} MiB touched, {} spills\n",
        stats.lanes,
        stats.high_water_bytes >> 20,
        stats.spills
    );
}

/// `--one CASE SIZE`: one million pairs of one case (`system`, `router-system`, `mimalloc`,
/// `router-mimalloc`, `scope`) and nothing else, for counting instructions per pair:
/// `valgrind --tool=callgrind --toggle-collect='routing::pairs_ns*' routing --one scope 16`,
/// then the total divided by a million.
fn one_case(case: &str, size: usize) {
    const PAIRS: u32 = 1_000_000;
    let layout = Layout::from_size_align(size, 8).unwrap();
    let arena = HeapArena::new();
    // Warm: the lane exists and its first block is touched.
    arena.scope(|| pairs_ns(&GLOBAL, layout, 10));
    let ns = match case {
        "system" => pairs_ns(&System, layout, PAIRS),
        "router-system" => pairs_ns(&GLOBAL, layout, PAIRS),
        "mimalloc" => pairs_ns(&MiMalloc, layout, PAIRS),
        "router-mimalloc" => pairs_ns(&MI_ROUTER, layout, PAIRS),
        "scope" => arena.scope(|| pairs_ns(&GLOBAL, layout, PAIRS)),
        _ => panic!("unknown case {case}"),
    };
    println!("{case} {size} B: {ns:.2} ns per pair");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--one") {
        let size = args.get(i + 2).and_then(|s| s.parse().ok()).unwrap_or(16);
        one_case(args.get(i + 1).map_or("scope", String::as_str), size);
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    // `--pairs`: the malloc/free pairs only.
    let pairs_only = std::env::args().any(|a| a == "--pairs");
    let (pair_rounds, big_rounds) = if quick { (5, 5) } else { (101, 41) };
    println!("# arena router benchmarks\n");
    bench_pairs(pair_rounds);
    if !pairs_only {
        bench_big_buffers(big_rounds);
    }
}
