//! `allocarrays::BumperAllocator` under contention: 1 thread vs 2 threads, each doing N cycles of
//! "allocate 64 bytes, zero them, drop the lease", and one `reset` per batch from the main
//! thread after the workers are joined. The system allocator does the same work
//! (`Box::new([0u8; 64])` + drop) in the same setup, and so does mimalloc (called directly as a
//! `GlobalAlloc`, not installed as the global allocator).
//!
//! Every round runs one batch of every case (in an order that rotates from round to round, so
//! slow drifts of the machine hit all cases alike). Within a batch the workers start together
//! (spinning until all have arrived) and time themselves; the batch time is from the first start to the last end,
//! plus the reset. The table shows medians over the rounds of
//!
//! - **ns/alloc per thread**: a worker's own time divided by its N cycles (the latency one
//!   thread sees; equal work per thread, so contention shows as this growing with threads),
//! - **ns/alloc overall**: the batch time divided by all allocations of the batch (the
//!   inverse of the throughput; ideal scaling halves it with 2 threads),
//! - **overlap**: the workers' summed time over the batch time: 2.0 when the 2 workers really
//!   ran side by side, 1.0 when one ran after the other (then the row measured no contention;
//!   a machine whose cores are busy with other work does that).
//!
//! ```text
//! cargo run --release -p bumper-bench --bin contention [-- --cycles N --rounds N]
//! ```

use std::alloc::Layout;
use std::hint::black_box;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use allocarrays::{
    ArrayAllocator, AutoscalingAllocBuffer, BumperAllocator, UncheckedBumperAllocator,
};
use bench_support::stats::median;
use bumper::AllocBuffer;

/// Allocate+free cycles per thread per batch unless `--cycles` says otherwise.
const DEFAULT_CYCLES: usize = 100_000;
/// Rounds unless `--rounds` says otherwise.
const DEFAULT_ROUNDS: usize = 41;
/// Bytes per allocation.
const SIZE: usize = 64;

/// The request: 64 bytes, aligned as an `f64` array would be.
const LAYOUT: Layout = match Layout::from_size_align(SIZE, 8) {
    Ok(l) => l,
    Err(_) => panic!("valid layout"),
};

struct Options {
    cycles: usize,
    rounds: usize,
}

fn parse_args() -> Options {
    let mut opts = Options {
        cycles: DEFAULT_CYCLES,
        rounds: DEFAULT_ROUNDS,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().and_then(|v| v.parse::<usize>().ok());
        match (arg.as_str(), value) {
            ("--cycles", Some(v)) if v > 0 => opts.cycles = v,
            ("--rounds", Some(v)) if v > 0 => opts.rounds = v,
            _ => {
                eprintln!("usage: contention [--cycles N] [--rounds N]");
                std::process::exit(2);
            }
        }
    }
    opts
}

/// N cycles of allocate 64 bytes, zero them, drop the lease.
#[inline(never)]
fn bump_cycles<A: ArrayAllocator>(alloc: &A, n: usize) {
    for _ in 0..n {
        let (p, lease) = alloc.allocate(LAYOUT, false).expect("allocation failed");
        // SAFETY: a fresh block of 64 bytes, ours while `lease` lives.
        unsafe { ptr::write_bytes(p.as_ptr(), 0, SIZE) };
        black_box(p);
        drop(lease);
    }
}

/// N cycles of allocate 64 bytes from mimalloc, zero them, free them.
#[inline(never)]
fn mimalloc_cycles(n: usize) {
    use std::alloc::GlobalAlloc;
    for _ in 0..n {
        // SAFETY: a non-zero size; the block is freed with the layout it was allocated with.
        unsafe {
            let p = mimalloc::MiMalloc.alloc(LAYOUT);
            assert!(!p.is_null(), "mimalloc failed");
            ptr::write_bytes(p, 0, SIZE);
            black_box(p);
            mimalloc::MiMalloc.dealloc(p, LAYOUT);
        }
    }
}

/// N cycles of `Box::new([0u8; 64])` + drop, with the system allocator.
#[inline(never)]
fn box_cycles(n: usize) {
    for _ in 0..n {
        let b = Box::new([0u8; SIZE]);
        drop(black_box(b));
    }
}

/// Runs `work(n)` on `threads` fresh threads that start together; returns (the time from the
/// first start to the last end, the sum of the workers' own times).
///
/// The workers meet by spinning on a counter, not at a `Barrier`: a barrier wakes the waiting
/// threads through the scheduler, which on a busy machine lets the first worker finish its whole
/// batch before the second one runs, and there is no contention left to measure.
fn run_threads(threads: usize, n: usize, work: &(dyn Fn(usize) + Sync)) -> (Duration, Duration) {
    let arrived = AtomicUsize::new(0);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    arrived.fetch_add(1, Ordering::AcqRel);
                    while arrived.load(Ordering::Acquire) < threads {
                        std::hint::spin_loop();
                    }
                    let start = Instant::now();
                    work(n);
                    (start, Instant::now())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let first = spans.iter().map(|s| s.0).min().unwrap();
    let last = spans.iter().map(|s| s.1).max().unwrap();
    let own = spans.iter().map(|s| s.1 - s.0).sum();
    (last - first, own)
}

/// One measured configuration.
struct Case<'a> {
    name: &'static str,
    threads: usize,
    /// Runs one batch (workers + reset); returns (batch time, sum of worker times).
    run: Box<dyn Fn(usize) -> (Duration, Duration) + 'a>,
    /// Per round: a worker's own ns per allocation (averaged over the workers).
    per_thread: Vec<f64>,
    /// Per round: batch ns divided by all allocations of the batch.
    overall: Vec<f64>,
    /// Per round: the workers' summed time over the batch time (`threads` when they ran fully
    /// side by side, 1 when one ran after the other).
    overlap: Vec<f64>,
}

impl<'a> Case<'a> {
    fn new(
        name: &'static str,
        threads: usize,
        run: impl Fn(usize) -> (Duration, Duration) + 'a,
    ) -> Self {
        Case {
            name,
            threads,
            run: Box::new(run),
            per_thread: Vec::new(),
            overall: Vec::new(),
            overlap: Vec::new(),
        }
    }

    /// `threads` workers doing [`bump_cycles`] on `alloc`, then one reset from this thread.
    fn bump<B: bumper::Buffer + Send + 'static>(
        name: &'static str,
        threads: usize,
        alloc: &'a BumperAllocator<B>,
    ) -> Self
    where
        BumperAllocator<B>: Sync,
    {
        Case::new(name, threads, move |n| {
            let (wall, own) = run_threads(threads, n, &|n| bump_cycles(alloc, n));
            let t = Instant::now();
            black_box(alloc.reset());
            (wall + t.elapsed(), own)
        })
    }
}

const SYSTEM: &str = "system allocator, `Box::new([0u8; 64])` + drop";
const MIMALLOC: &str = "mimalloc (`GlobalAlloc` calls), 64 bytes + free";
const UNCHECKED: &str = "`UncheckedBumperAllocator` (no lock), fixed `AllocBuffer`";

fn main() {
    let opts = parse_args();
    let n = opts.cycles;
    // Room for one batch of 2 threads without reuse (the leases are dropped at once, but the
    // bump position only moves back at the reset).
    let fixed_capacity = 2 * n * SIZE + 4096;

    let fixed = BumperAllocator::with_fixed_capacity(fixed_capacity);
    let autoscaling = BumperAllocator::default();
    // A small start, so the warm-up batch grows it (and the rounds then run in one buffer).
    let autoscaling_small = BumperAllocator::new(AutoscalingAllocBuffer::with_initial_size(4096));
    let unchecked: UncheckedBumperAllocator<AllocBuffer<'static>> =
        UncheckedBumperAllocator::with_fixed_capacity(fixed_capacity);

    let mut cases: Vec<Case<'_>> = Vec::new();
    for threads in [1, 2] {
        cases.push(Case::bump(
            "`BumperAllocator::with_fixed_capacity` (fixed `AllocBuffer`)",
            threads,
            &fixed,
        ));
        cases.push(Case::bump(
            "`BumperAllocator::default()` (autoscaling, 128 MiB)",
            threads,
            &autoscaling,
        ));
        cases.push(Case::bump(
            "`BumperAllocator`, autoscaling from 4 KiB",
            threads,
            &autoscaling_small,
        ));
        cases.push(Case::new(SYSTEM, threads, move |n| {
            run_threads(threads, n, &box_cycles)
        }));
        cases.push(Case::new(MIMALLOC, threads, move |n| {
            run_threads(threads, n, &mimalloc_cycles)
        }));
    }
    // The lock-free reference: one thread only (it is `!Sync`), run on this thread.
    let unchecked = &unchecked;
    cases.push(Case::new(UNCHECKED, 1, move |n| {
        let start = Instant::now();
        bump_cycles(unchecked, n);
        let own = start.elapsed();
        black_box(unchecked.reset());
        (start.elapsed(), own)
    }));

    // Warm-up: one batch each (grows the autoscaling buffers, faults the pages in).
    for case in &cases {
        (case.run)(n);
    }
    let count = cases.len();
    for round in 0..opts.rounds {
        for k in 0..count {
            let case = &mut cases[(round + k) % count];
            let (batch, own) = (case.run)(n);
            let allocs = (case.threads * n) as f64;
            case.overall.push(batch.as_nanos() as f64 / allocs);
            case.per_thread.push(own.as_nanos() as f64 / allocs);
            case.overlap.push(own.as_secs_f64() / batch.as_secs_f64());
        }
    }

    println!(
        "{n} cycles of 64 bytes per thread per batch, {} rounds, medians over the rounds; \
         {} CPUs available\n",
        opts.rounds,
        std::thread::available_parallelism().map_or(0, |p| p.get())
    );
    println!(
        "| implementation | threads | ns/alloc per thread | ns/alloc overall | \
         vs system, same threads | overlap |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let mut rows: Vec<(&str, usize, f64, f64, f64)> = cases
        .iter_mut()
        .map(|c| {
            (
                c.name,
                c.threads,
                median(&c.per_thread),
                median(&c.overall),
                median(&c.overlap),
            )
        })
        .collect();
    rows.sort_by_key(|r| r.1);
    let system = |threads: usize| {
        rows.iter()
            .find(|r| r.1 == threads && r.0 == SYSTEM)
            .map_or(f64::NAN, |r| r.3)
    };
    for &(name, threads, per_thread, overall, overlap) in &rows {
        println!(
            "| {name} | {threads} | {per_thread:.1} | {overall:.1} | {:.2}x | {overlap:.2} |",
            overall / system(threads)
        );
    }
    print_targets(&rows);
}

/// The targets, met or missed, for every `BumperAllocator` row: with 2 threads at once, at
/// most half the system allocator's and at most mimalloc's time per allocation overall; with
/// 1 thread, at most 1.2 times `UncheckedBumperAllocator`'s per-thread time.
///
/// The overall figures compare only rows whose workers really overlapped, so the overlaps are
/// printed with them; the per-thread ratios (each worker's own time) hold either way.
fn print_targets(rows: &[(&str, usize, f64, f64, f64)]) {
    let find =
        |name: &str, threads: usize| rows.iter().find(|r| r.0 == name && r.1 == threads).copied();
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!();
    let bump_names: Vec<&str> = rows
        .iter()
        .filter(|r| r.0.contains("`BumperAllocator"))
        .map(|r| r.0)
        .fold(Vec::new(), |mut v, name| {
            if !v.contains(&name) {
                v.push(name);
            }
            v
        });
    for name in bump_names {
        if let (Some(two), Some(sys), Some(mi)) =
            (find(name, 2), find(SYSTEM, 2), find(MIMALLOC, 2))
        {
            let vs_sys = two.3 / sys.3;
            let vs_mi = two.3 / mi.3;
            println!(
                "target {name}, 2 threads, overall: {:.2}x system (<= 0.50x: {}), {:.2}x mimalloc \
                 (<= 1.00x: {}); overlap {:.2} (system {:.2}, mimalloc {:.2}); per thread \
                 {:.2}x system, {:.2}x mimalloc",
                vs_sys,
                verdict(vs_sys <= 0.5),
                vs_mi,
                verdict(vs_mi <= 1.0),
                two.4,
                sys.4,
                mi.4,
                two.2 / sys.2,
                two.2 / mi.2
            );
        }
        if let (Some(one), Some(unchecked)) = (find(name, 1), find(UNCHECKED, 1)) {
            let ratio = one.2 / unchecked.2;
            println!(
                "target {name}, 1 thread, per thread: {ratio:.2}x `UncheckedBumperAllocator` \
                 (<= 1.20x: {})",
                verdict(ratio <= 1.2)
            );
        }
    }
}
