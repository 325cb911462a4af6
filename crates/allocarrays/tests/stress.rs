//! Stress: 8 threads share one `BumperAllocator` for a while (`STRESS_SECS`, default 2 s), each
//! making arrays, deriving new ones from them, handing some to other threads (which check and
//! drop them there), resetting the allocator at random, and checking checked arrays that race
//! those resets. Every value is checked against the pattern it was made with: unchecked arrays
//! must keep their values across any reset, checked ones either refuse access or show their
//! values.
//!
//! Ignored by default (it runs for a fixed time): `scripts/stress.sh`, or
//! `STRESS_SECS=120 cargo test --release -p allocarrays --test stress -- --ignored --nocapture`.
#![cfg(not(miri))]

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc;
use std::time::Instant;

use allocarrays::{
    thread_scope, with_allocator, AllocArray, ArrayAllocator, BumperAllocator, CheckedAllocArray,
};
use bumper::{Buffer, SlabBuffer};
use ndarray::Ix1;

use bench_support::stress::{duration, Rng};

const THREADS: usize = 8;

/// What the allocator may hold at most. The live data is a few MiB (each thread keeps at most
/// 64 arrays of at most 2000 elements and 32 checked ones of at most 500): memory pinned by
/// live arrays across resets must stay within a bound, not grow with the run.
const CAPACITY_BOUND: usize = 1 << 30;

/// The value at `i` of the array with this `id`.
fn pattern(id: u64, i: usize) -> u64 {
    id.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (i as u64)
}

fn check(a: &AllocArray<u64, Ix1>, id: u64, what: &str) {
    for (i, &x) in a.as_slice().iter().enumerate() {
        assert_eq!(x, pattern(id, i), "{what} array {id}: element {i} changed");
    }
}

/// Counters shared by the threads.
#[derive(Default)]
struct Counts {
    made: AtomicU64,
    derived: AtomicU64,
    checked_ok: AtomicU64,
    checked_refused: AtomicU64,
    sent: AtomicU64,
    resets: AtomicU64,
    pinned_at_reset: AtomicU64,
    max_capacity: AtomicU64,
}

fn hammer<B: Buffer + Send + 'static>(name: &str, alloc: BumperAllocator<B>) {
    let until = Instant::now() + duration();
    let counts = Counts::default();
    let ids = AtomicU64::new(1);
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..THREADS)
        .map(|_| mpsc::channel::<(u64, AllocArray<u64, Ix1>)>())
        .unzip();
    with_allocator(&alloc, || {
        thread_scope(|s| {
            for (t, rx) in receivers.into_iter().enumerate() {
                let to_next = senders[(t + 1) % THREADS].clone();
                let (counts, ids, alloc) = (&counts, &ids, &alloc);
                s.spawn(move || {
                    let mut rng = Rng(0x1234_5678 + t as u64 * 0x1_0000_0001);
                    let mut live: Vec<(u64, AllocArray<u64, Ix1>)> = Vec::new();
                    let mut checked: Vec<(u64, CheckedAllocArray<u64, Ix1>)> = Vec::new();
                    let mut step = 0u64;
                    while Instant::now() < until {
                        step += 1;
                        if step % 256 == 0 {
                            let stats = alloc.stats();
                            counts
                                .max_capacity
                                .fetch_max(stats.capacity as u64, Relaxed);
                            assert!(
                                stats.capacity <= CAPACITY_BOUND,
                                "the allocator grew past {} MiB: {stats:?}",
                                CAPACITY_BOUND >> 20
                            );
                        }
                        match rng.below(100) {
                            0..=39 => {
                                let id = ids.fetch_add(1, Relaxed);
                                let len = rng.below(2000) as usize;
                                let a = AllocArray::from_shape_fn(len, |i| pattern(id, i));
                                assert!(len == 0 || a.is_arena(), "not from the shared allocator");
                                live.push((id, a));
                                counts.made.fetch_add(1, Relaxed);
                            }
                            40..=54 if !live.is_empty() => {
                                let k = rng.below(live.len() as u64) as usize;
                                let (id, a) = &live[k];
                                check(a, *id, "source");
                                let doubled = a.mapv(|x| x.wrapping_mul(2));
                                for (i, &x) in doubled.as_slice().iter().enumerate() {
                                    assert_eq!(x, pattern(*id, i).wrapping_mul(2), "derived");
                                }
                                counts.derived.fetch_add(1, Relaxed);
                            }
                            55..=64 if !live.is_empty() => {
                                let k = rng.below(live.len() as u64) as usize;
                                let (id, a) = live.swap_remove(k);
                                check(&a, id, "dropped");
                            }
                            65..=72 if !live.is_empty() => {
                                let k = rng.below(live.len() as u64) as usize;
                                to_next.send(live.swap_remove(k)).expect("receiver alive");
                                counts.sent.fetch_add(1, Relaxed);
                            }
                            73..=82 => {
                                let id = ids.fetch_add(1, Relaxed);
                                let len = 1 + rng.below(500) as usize;
                                checked.push((
                                    id,
                                    CheckedAllocArray::from_shape_fn(len, |i| pattern(id, i)),
                                ));
                            }
                            83..=92 if !checked.is_empty() => {
                                let k = rng.below(checked.len() as u64) as usize;
                                let (id, c) = checked.swap_remove(k);
                                match c.try_as_slice() {
                                    Ok(values) => {
                                        for (i, &x) in values.iter().enumerate() {
                                            assert_eq!(x, pattern(id, i), "checked {id}");
                                        }
                                        counts.checked_ok.fetch_add(1, Relaxed);
                                    }
                                    Err(_) => {
                                        counts.checked_refused.fetch_add(1, Relaxed);
                                    }
                                }
                            }
                            93..=94 => {
                                let report = ArrayAllocator::reset(alloc);
                                counts.resets.fetch_add(1, Relaxed);
                                counts
                                    .pinned_at_reset
                                    .fetch_add(report.pinned_arrays as u64, Relaxed);
                            }
                            _ => {}
                        }
                        // Arrays handed over by the previous thread: check, keep some, drop.
                        while let Ok((id, a)) = rx.try_recv() {
                            check(&a, id, "received");
                            if rng.below(2) == 0 {
                                live.push((id, a));
                            }
                        }
                        if live.len() > 64 {
                            let (id, a) = live.swap_remove(0);
                            check(&a, id, "trimmed");
                        }
                        if checked.len() > 32 {
                            checked.swap_remove(0);
                        }
                    }
                    for (id, a) in &live {
                        check(a, *id, "final");
                    }
                    drop(to_next);
                    // Drain what is still in flight (every sender is dropped before its thread
                    // drains, so this ends).
                    while let Ok((id, a)) = rx.recv() {
                        check(&a, id, "late");
                    }
                });
            }
            drop(senders);
        });
    });
    let after = alloc.reset();
    assert_eq!(
        after.pinned_arrays, 0,
        "arrays still live after every thread ended"
    );
    let stats = alloc.stats();
    assert_eq!(stats.live_arrays, 0, "{stats:?}");
    let c = |x: &AtomicU64| x.load(Relaxed);
    let ops = c(&counts.made)
        + c(&counts.derived)
        + c(&counts.checked_ok)
        + c(&counts.checked_refused)
        + c(&counts.sent)
        + c(&counts.resets);
    println!(
        "{name}: {THREADS} threads x {:.1} s: {ops} operations ({} arrays made, {} derived, {} \
         handed to another thread, {} resets pinning {} arrays in all, checked arrays: {} read \
         intact, {} refused after a reset); allocator capacity at most {:.1} MiB",
        duration().as_secs_f64(),
        c(&counts.made),
        c(&counts.derived),
        c(&counts.sent),
        c(&counts.resets),
        c(&counts.pinned_at_reset),
        c(&counts.checked_ok),
        c(&counts.checked_refused),
        c(&counts.max_capacity) as f64 / (1 << 20) as f64,
    );
    assert!(c(&counts.made) > 0 && c(&counts.resets) > 0);
}

#[test]
#[ignore = "runs for STRESS_SECS; scripts/stress.sh"]
fn stress_shared_bumper_allocator_autoscaling() {
    hammer(
        "BumperAllocator<AutoscalingAllocBuffer>",
        BumperAllocator::default(),
    );
}

#[test]
#[ignore = "runs for STRESS_SECS; scripts/stress.sh"]
fn stress_shared_bumper_allocator_slabs() {
    hammer(
        "BumperAllocator<SlabBuffer<65536>>",
        BumperAllocator::new(SlabBuffer::<65536>::with_slab_size()),
    );
}

/// The smallest form of what the shared-allocator stress runs into: one array always alive at
/// each reset (the newest), every older one dropped. The live data is one array, so the memory
/// in use must stay bounded (a reset that kept everything below the newest pinned array let it
/// grow with every iteration).
#[test]
fn memory_stays_bounded_when_the_newest_array_outlives_each_reset() {
    let alloc = BumperAllocator::new(SlabBuffer::<65536>::with_slab_size());
    let mut kept: Option<AllocArray<f64, Ix1>> = None;
    for i in 0..2_000 {
        let a = with_allocator(&alloc, || AllocArray::from_elem(1000, i as f64)); // 8 KB
        alloc.reset();
        if let Some(old) = kept.replace(a) {
            assert!(old.iter().all(|&x| x == (i - 1) as f64));
        }
    }
    let used = alloc.stats().used;
    assert!(
        used <= 1 << 20,
        "{used} bytes in use for one live 8 KB array after 2000 resets"
    );
}
