//! Fault injection under the router: `ArenaRouter` is this binary's global allocator, over an
//! allocator that fails on command. Allocations outside scopes pass the failure through
//! (null / `Err`, no abort); inside a scope the lanes never ask the wrapped allocator, so they
//! keep working while it fails; requests too big for a lane spill to it and, when it fails,
//! get null with the lane, the router's bookkeeping and the data made before unharmed (a
//! `realloc` that fails keeps the old block). Nothing leaks: bytes the wrapped allocator hands
//! out minus bytes freed come back to where they were.
#![cfg(not(miri))]

use std::alloc::{Layout, System};

use arena_router::{ArenaRouter, HeapArena};
use bench_support::failing::{sweep, with_byte_budget, Failing};

#[global_allocator]
static GLOBAL: ArenaRouter<Failing> = ArenaRouter::new(Failing::new(System));

// ---- the checks --------------------------------------------------------------------------

/// A request no lane can hold (lanes are at most 16 GiB): it spills to the wrapped allocator.
const HUGE: usize = 1 << 40;

/// Code that allocates in every common way, checked as it goes.
fn workload(n: usize) -> usize {
    let v: Vec<u64> = (0..n as u64).collect();
    let s: String = (0..n).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let mut grown = Vec::new();
    for i in 0..n {
        grown.push(i as u32); // realloc as it grows
    }
    grown.shrink_to_fit();
    let boxed: Box<[u8]> = vec![7u8; n].into_boxed_slice();
    assert_eq!(v.iter().sum::<u64>(), (n as u64) * (n as u64 - 1) / 2);
    assert!(grown.iter().enumerate().all(|(i, &x)| x == i as u32));
    v.len() + s.len() + grown.len() + boxed.len()
}

#[test]
fn failures_outside_scopes_pass_through() {
    let n = sweep("outside scopes", 256, |arm| {
        let mut v: Vec<u64> = (0..100).collect();
        let mut results = [true; 4];
        arm(&mut || {
            results[0] = v.try_reserve(1000).is_ok();
            results[1] = Vec::<u8>::new().try_reserve(5000).is_ok();
            let layout = Layout::from_size_align(300, 64).unwrap();
            // SAFETY: a non-zero size.
            let p = unsafe { std::alloc::alloc_zeroed(layout) };
            results[2] = !p.is_null();
            if !p.is_null() {
                // SAFETY: just allocated with `layout`.
                unsafe {
                    assert!((0..300).all(|i| p.add(i).read() == 0));
                    std::alloc::dealloc(p, layout);
                }
            }
            let mut s = String::with_capacity(0);
            results[3] = s.try_reserve(77).is_ok();
        });
        assert!(
            v.iter().enumerate().all(|(i, &x)| x == i as u64),
            "elements changed"
        );
        let _ = results;
    });
    eprintln!("outside scopes: {n} failures injected and survived");
}

#[test]
fn lanes_do_not_depend_on_the_wrapped_allocator() {
    let arena = HeapArena::new();
    // The lane comes into being with its first use.
    arena.scope(|| workload(10));
    arena.reset();
    for round in 0..5 {
        // Every call to the wrapped allocator fails: the scope's allocations don't make any.
        let (total, hit) = with_byte_budget(0, || arena.scope(|| workload(2000)));
        assert!(
            !hit,
            "round {round}: a lane allocation reached the wrapped allocator"
        );
        assert_eq!(total, 8000);
        assert!(arena.reset_strict().unwrap().is_clean());
    }
}

#[test]
fn spills_that_fail_leave_the_lane_intact() {
    let arena = HeapArena::new();
    // Requests this big fail whatever the byte budget: only the nth-call sweep applies.
    let n = sweep("spills in a scope", 0, |arm| {
        arena.scope(|| {
            let before = arena.stats().spills;
            let mut kept: Vec<u32> = (0..1000).collect();
            let mut fresh: Vec<u8> = Vec::new();
            let mut spilled = [false; 3];
            arm(&mut || {
                // Grows `kept` (a lane block) past any lane: realloc spills and fails.
                spilled[0] = kept.try_reserve(HUGE).is_ok();
                spilled[1] = fresh.try_reserve(HUGE).is_ok();
                let layout = Layout::from_size_align(HUGE, 4096).unwrap();
                // SAFETY: a non-zero size.
                let p = unsafe { std::alloc::alloc_zeroed(layout) };
                spilled[2] = !p.is_null();
                if !p.is_null() {
                    // SAFETY: allocated just now with `layout`.
                    unsafe { std::alloc::dealloc(p, layout) };
                }
            });
            // 1 TiB can't be had at all, so nothing succeeds; but the failure is reported.
            assert_eq!(spilled, [false; 3]);
            assert!(
                kept.iter().enumerate().all(|(i, &x)| x == i as u32),
                "elements changed"
            );
            assert!(arena.stats().spills > before, "the requests did not spill");
            // The lane still serves, in place.
            kept.extend(1000..5000);
            assert!(kept.iter().enumerate().all(|(i, &x)| x == i as u32));
            assert_eq!(workload(500), 2000);
        });
        assert!(arena.reset_strict().unwrap().is_clean());
    });
    eprintln!("spills in a scope: {n} failures injected and survived");
}
