//! The scratch arena (`with_scratch_arena`) with `ArenaRouter` installed as this test binary's
//! global allocator, over a wrapped allocator that counts the calls it gets per thread.
//!
//! The scratch arena is one per process: the tests that look at its statistics take `SERIAL`
//! so that no other test uses it meanwhile.

use std::alloc::System;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use arena_router::{
    arena_routing_active, scratch_arena, with_current_arena, with_scratch_arena, without_arena,
    ArenaRouter, HeapArena,
};

use bench_support::counting::{thread_counts, Counting};

#[global_allocator]
static GLOBAL: ArenaRouter<Counting<System>> = ArenaRouter::new(Counting::new(System));

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Calls to the wrapped allocator made by this thread so far.
fn inner_calls() -> u64 {
    thread_counts().calls()
}

/// Work whose temporaries are all freed before it returns, in no particular order: vectors
/// of several sizes (some spanning 64 KiB blocks), a hash map, strings, a matrix product.
fn self_contained_work(n: usize) -> f64 {
    let a: Vec<f64> = (0..n * 100).map(|i| i as f64).collect();
    let b: Vec<f64> = a.iter().map(|x| x * 0.5).collect();
    let mut words: HashMap<String, usize> = HashMap::new();
    for i in 0..n {
        *words.entry(format!("w{}", i % 13)).or_default() += i;
    }
    let big = vec![1u32; 40_000]; // 160 KB: spans blocks
    drop(a); // out of order
    let m = ndarray::Array2::from_shape_fn((n, n), |(i, j)| (i * j % 7) as f64);
    let p = m.dot(&m);
    let total = b.iter().sum::<f64>() + p.sum() + words.len() as f64 + f64::from(big[7]);
    drop(words);
    total
}

#[test]
fn steady_state_work_makes_no_calls_to_the_wrapped_allocator() {
    let _serial = serial();
    let n = if cfg!(miri) { 8 } else { 64 };
    let expected = self_contained_work(n);
    // Warm-up: the probe, the lane and its memory come into being.
    assert_eq!(with_scratch_arena(|| self_contained_work(n)), expected);
    let rounds = if cfg!(miri) { 3 } else { 50 };
    let before = inner_calls();
    let allocations_before = scratch_arena().stats().allocations;
    for _ in 0..rounds {
        let got = with_scratch_arena(|| self_contained_work(n));
        assert_eq!(got, expected);
    }
    assert_eq!(inner_calls() - before, 0, "calls to the wrapped allocator");
    let stats = scratch_arena().stats();
    assert!(
        stats.allocations - allocations_before >= rounds * 10,
        "the work was served by the scratch arena: {stats:?}"
    );
    assert_eq!(stats.spills, 0);
    assert_eq!(stats.lanes_held, 0);
    assert_eq!(
        stats.in_use_bytes, 0,
        "every call leaves its lane at the start"
    );
    assert_eq!(stats.routing_off, None);
}

#[test]
fn memory_stays_bounded_over_many_calls() {
    let _serial = serial();
    let rounds = if cfg!(miri) { 20 } else { 2000 };
    // Sizes that vary from call to call, frees in mixed order.
    let work = |round: usize| {
        let sizes = [1000 + round % 7 * 5000, 70_000, 3 + round % 100, 200_000];
        let mut held: Vec<Vec<u8>> = sizes.iter().map(|&s| vec![round as u8; s]).collect();
        held.swap(0, 2);
        let first = held.remove(1);
        let sum: usize = held.iter().map(|v| v.len()).sum::<usize>() + first.len();
        drop(first);
        sum
    };
    for round in 0..10 {
        with_scratch_arena(|| work(round));
    }
    let warm = scratch_arena().stats();
    for round in 0..rounds {
        with_scratch_arena(|| work(round));
    }
    let after = scratch_arena().stats();
    assert_eq!(after.high_water_bytes, warm.high_water_bytes, "{after:?}");
    assert_eq!(after.lanes, warm.lanes);
    assert_eq!(after.in_use_bytes, 0);
    assert!(after.allocations >= warm.allocations + 4 * rounds as u64);
}

#[test]
fn a_value_kept_from_a_call_stays_intact_and_its_memory_is_reused_once_freed() {
    let _serial = serial();
    // A warm lane at the start of its data.
    with_scratch_arena(|| drop(vec![0u8; 10]));
    assert_eq!(scratch_arena().stats().in_use_bytes, 0);
    let len = 150_000; // spans three blocks
    let kept: Vec<u8> = with_scratch_arena(|| vec![7u8; len]);
    let kept_at = kept.as_ptr().addr();
    // Later calls write over everything they get: never over the kept value.
    for round in 0..if cfg!(miri) { 3 } else { 50 } {
        let (addr, ok) = with_scratch_arena(|| {
            let other = vec![round as u8 + 100; len];
            let addr = other.as_ptr().addr();
            let ok = other.iter().step_by(97).all(|&x| x == round as u8 + 100);
            (addr, ok)
        });
        assert!(ok);
        assert!(
            addr + len <= kept_at || addr >= kept_at + len,
            "overlaps the kept value"
        );
        assert!(kept.iter().step_by(97).all(|&x| x == 7));
        assert_eq!(kept[len - 1], 7);
    }
    // Freed (outside any scope): the next call resets the lane, and the call after it gets
    // the same memory back.
    drop(kept);
    with_scratch_arena(|| drop(vec![0u8; 10]));
    let again = with_scratch_arena(|| {
        let v = vec![1u8; len];
        v.as_ptr().addr()
    });
    assert_eq!(again, kept_at, "the freed blocks are reused");
    assert_eq!(scratch_arena().stats().in_use_bytes, 0);
}

#[test]
fn inside_a_scope_the_work_goes_to_that_arena() {
    let _serial = serial();
    with_scratch_arena(|| drop(vec![0u8; 10])); // the probe, out of the way
    let scratch_before = scratch_arena().stats().allocations;
    let arena = HeapArena::new();
    let (len, same) = arena.scope(|| {
        with_scratch_arena(|| {
            let v: Vec<u64> = (0..1000).collect();
            let same = with_current_arena(|a| a.is_some_and(|a| std::ptr::eq(a, &arena)));
            (v.len(), same)
        })
    });
    assert_eq!(len, 1000);
    assert!(same, "the user's arena stays current");
    assert!(arena.stats().allocations >= 1);
    assert_eq!(scratch_arena().stats().allocations, scratch_before);
    arena.reset_strict().expect("routed, nothing kept");
}

#[test]
fn work_is_routed_and_the_route_comes_back() {
    let _serial = serial();
    assert!(!arena_routing_active());
    assert!(with_scratch_arena(arena_routing_active));
    assert!(!arena_routing_active());
    // `without_arena` inside still reaches the wrapped allocator: a value meant to be kept.
    let before = inner_calls();
    let kept: Vec<u8> = with_scratch_arena(|| without_arena(|| vec![3u8; 100]));
    assert_eq!(inner_calls() - before, 1);
    drop(kept);
    // Calls nest: the inner one continues the outer.
    let lanes = with_scratch_arena(|| with_scratch_arena(|| scratch_arena().stats().lanes_held));
    assert_eq!(lanes, 1);
}

#[test]
fn a_panic_inside_restores_the_route_and_leaves_the_lane_reusable() {
    let _serial = serial();
    with_scratch_arena(|| drop(vec![0u8; 10]));
    let result = std::panic::catch_unwind(|| {
        with_scratch_arena(|| {
            let _temporary = vec![5u8; 100_000];
            // No panic hook (no message written into a captured buffer): just the unwind.
            std::panic::resume_unwind(Box::new(42u32));
        })
    });
    let payload = result.unwrap_err();
    assert_eq!(payload.downcast_ref::<u32>(), Some(&42));
    assert!(!arena_routing_active());
    let stats = scratch_arena().stats();
    assert_eq!(stats.lanes_held, 0);
    // The payload (made inside) is still live: it pins its block, the lane was reset around it.
    drop(payload);
    let before = inner_calls();
    for _ in 0..3 {
        assert_eq!(with_scratch_arena(|| vec![1u8; 100_000].len()), 100_000);
    }
    assert_eq!(inner_calls() - before, 0);
    assert_eq!(scratch_arena().stats().in_use_bytes, 0);
}

#[test]
fn threads_use_the_scratch_arena_at_once() {
    let _serial = serial();
    let threads = if cfg!(miri) { 2 } else { 4 };
    let n = if cfg!(miri) { 6 } else { 32 };
    let expected = self_contained_work(n);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    with_scratch_arena(|| self_contained_work(n)); // warm-up
                    let before = inner_calls();
                    for _ in 0..if cfg!(miri) { 2 } else { 20 } {
                        assert_eq!(with_scratch_arena(|| self_contained_work(n)), expected);
                    }
                    // Lanes move between threads; a new one takes fresh memory from the reserved
                    // range: no call reaches the heap either way.
                    inner_calls() - before
                })
            })
            .collect();
        for worker in workers {
            assert_eq!(worker.join().unwrap(), 0, "calls to the wrapped allocator");
        }
    });
    let stats = scratch_arena().stats();
    assert!(stats.lanes <= threads + 1, "{stats:?}");
    assert_eq!(stats.lanes_held, 0);
    assert_eq!(stats.in_use_bytes, 0);
}
