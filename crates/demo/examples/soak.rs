//! Soak: the DigitsModel inference loop for many batches, under `with_allocator` (a
//! `BumperAllocator` reset after each batch) and with plain `ndarray` code under a `HeapArena`
//! (reset after each batch). After a warm-up, the process's resident memory must stay flat and
//! the loop must make no allocator calls at all (counted by the demo's counting allocator); the
//! outputs are checked against a reference computed on the heap.
//!
//! `cargo run --release -p allocarrays-demo --example soak -- [BATCHES] [BATCH_SIZE]`
//! (defaults: 100000 batches of 4 images), or `scripts/soak.sh`. Exits non-zero on a failed
//! check.

use std::time::Instant;

use allocarrays::{with_allocator, AllocArray, ArenaRouter, BumperAllocator, HeapArena};
use allocarrays_demo::alloc_stack::{counting_active, thread_counts, Counting, Switch};
use allocarrays_demo::model::{random_images, DigitsModel};
use ndarray::{Array2, Axis, Ix4};

/// As the demo: the router over the counting allocator (calls served by a `HeapArena` never
/// reach the counter; calls that do are what the loop must not make).
#[global_allocator]
static GLOBAL: ArenaRouter<Counting<Switch>> = ArenaRouter::new(Counting::new(Switch::new()));

/// Batches run before the measured part starts (the autoscaling buffer settles its size within
/// its first few resets).
const WARM_UP: usize = 20;
/// Distinct input batches cycled through.
const DISTINCT: usize = 8;

/// Resident set size in bytes, from `/proc/self/statm` (0 where it can't be read). Reads into
/// a stack buffer: sampling it inside the loop makes no allocator call.
fn rss_bytes() -> u64 {
    use std::io::Read;
    let mut buf = [0u8; 256];
    let len = std::fs::File::open("/proc/self/statm")
        .and_then(|mut f| f.read(&mut buf))
        .unwrap_or(0);
    // The second field: resident pages.
    let pages: u64 = std::str::from_utf8(&buf[..len])
        .ok()
        .and_then(|s| s.split_whitespace().nth(1))
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: `sysconf` has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * page.max(0) as u64
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// What one variant's run measured.
struct Run {
    name: &'static str,
    rss_first: u64,
    rss_last: u64,
    rss_max: u64,
    calls: u64,
    secs: f64,
}

/// Runs `batch(i, out)` for `n` batches after the warm-up, sampling RSS at every 1% and
/// counting allocator calls of the measured part.
fn soak(name: &'static str, n: usize, mut batch: impl FnMut(usize)) -> Run {
    for i in 0..WARM_UP {
        batch(i);
    }
    let rss_first = rss_bytes();
    let mut rss_max = rss_first;
    let every = (n / 100).max(1);
    let before = thread_counts();
    let start = Instant::now();
    for i in 0..n {
        batch(i);
        if i % every == 0 {
            rss_max = rss_max.max(rss_bytes());
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let calls = (thread_counts() - before).allocs;
    let rss_last = rss_bytes();
    Run {
        name,
        rss_first,
        rss_last,
        rss_max: rss_max.max(rss_last),
        calls,
        secs,
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map(|a| a.parse().expect("BATCHES: a number"))
        .unwrap_or(100_000);
    let batch_size: usize = args
        .next()
        .map(|a| a.parse().expect("BATCH_SIZE: a number"))
        .unwrap_or(4);

    let model = DigitsModel::random(7);
    let images = random_images(11, batch_size * DISTINCT);
    let plain: Vec<_> = images
        .axis_chunks_iter(Axis(0), batch_size)
        .map(|b| b.to_owned())
        .collect();
    let inputs: Vec<AllocArray<f32, Ix4>> = plain.iter().cloned().map(AllocArray::from).collect();
    // The reference outputs, on the heap.
    let expected: Vec<Array2<f32>> = plain.iter().map(|x| model.forward(x)).collect();
    let mut out = Array2::<f32>::zeros((batch_size, 10));
    println!("soak: {n} batches of {batch_size} images (after {WARM_UP} warm-up batches)");

    let alloc = BumperAllocator::default();
    let mut mismatches = 0usize;
    let arena_run = soak("AllocArray under with_allocator", n, |i| {
        let k = i % DISTINCT;
        with_allocator(&alloc, || out.assign(&model.forward(&inputs[k]).view()));
        alloc.reset();
        if out != expected[k] {
            mismatches += 1;
        }
    });

    let heap = HeapArena::new();
    let mut pinned_resets = 0usize;
    let routed_run = soak("ndarray under a HeapArena", n, |i| {
        let k = i % DISTINCT;
        heap.scope(|| out.assign(&model.forward(&plain[k]).view()));
        if heap.reset_strict().is_err() {
            pinned_resets += 1;
        }
        if out != expected[k] {
            mismatches += 1;
        }
    });

    let mut ok = counting_active();
    if !ok {
        println!("FAIL: the counting allocator is not installed");
    }
    for r in [&arena_run, &routed_run] {
        let growth = r.rss_last as f64 - r.rss_first as f64;
        println!(
            "{}: {n} batches in {:.1} s ({:.0} µs/batch); RSS first {:.2} MiB, last {:.2} MiB, \
             max {:.2} MiB (growth {:+.3} MiB); allocator calls after warm-up: {}",
            r.name,
            r.secs,
            r.secs * 1e6 / n as f64,
            mib(r.rss_first),
            mib(r.rss_last),
            mib(r.rss_max),
            growth / (1 << 20) as f64,
            r.calls,
        );
        // Flat: within 1 MiB (page-granular noise from the runtime), and no allocator call.
        if r.rss_max > r.rss_first + (1 << 20) {
            println!("FAIL: {}: resident memory grew", r.name);
            ok = false;
        }
        if r.calls != 0 {
            println!("FAIL: {}: allocator calls after warm-up", r.name);
            ok = false;
        }
    }
    if mismatches != 0 {
        println!("FAIL: {mismatches} batches differ from the heap reference");
        ok = false;
    }
    if pinned_resets != 0 {
        println!("FAIL: {pinned_resets} HeapArena resets found memory still live");
        ok = false;
    }
    println!("soak: {}", if ok { "OK" } else { "FAILED" });
    if !ok {
        std::process::exit(1);
    }
}
