//! Arena routing with `ArenaRouter` installed as this test binary's global allocator, over a
//! wrapped allocator that counts the calls it gets per thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::mpsc;

use arena_router::{
    arena_routing_active, without_arena, ArenaRouter, HeapArena, RoutingOff, StrictResetError,
};

use bench_support::counting::{thread_counts, Counting};

/// Calls to the wrapped allocator made by this thread so far.
fn inner_calls() -> u64 {
    thread_counts().calls()
}

#[global_allocator]
static GLOBAL: ArenaRouter<Counting<System>> = ArenaRouter::new(Counting::new(System));

/// Everyday code that allocates: collections, strings, formatting, an n-d array product.
fn workload(n: usize) -> f64 {
    let v: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let mut words: HashMap<String, usize> = HashMap::new();
    for i in 0..n {
        *words.entry(format!("w{}", i % 7)).or_default() += i;
    }
    let mut text = String::new();
    for (k, _) in words.iter().take(3) {
        text.push_str(k);
    }
    let a = ndarray::Array2::from_shape_fn((8, n), |(i, j)| (i + j) as f64);
    let b = a.t().dot(&a);
    let boxed: Box<[f64]> = v.iter().map(|x| x * 2.0).collect();
    v.iter().sum::<f64>() + b.sum() + boxed[n - 1] + text.len() as f64 + words.len() as f64
}

#[test]
#[cfg_attr(
    miri,
    ignore = "slow under Miri; routing basics are covered by the smaller tests"
)]
fn steady_state_makes_no_calls_to_the_wrapped_allocator() {
    let arena = HeapArena::new();
    let expected = workload(64);
    // Warm-up: the lane and its memory come into being.
    arena.scope(|| workload(64));
    arena.reset_strict().unwrap();
    let before = inner_calls();
    for _ in 0..20 {
        let got = arena.scope(|| workload(64));
        assert_eq!(got, expected);
        let report = arena.reset_strict().expect("every temporary was freed");
        assert!(report.is_clean());
        assert_eq!(report.lanes_reset, 1);
    }
    assert_eq!(inner_calls() - before, 0, "calls to the wrapped allocator");
    let stats = arena.stats();
    assert!(stats.allocations > 20 * 10, "{stats:?}");
    assert_eq!(stats.spills, 0);
    assert_eq!(stats.lanes, 1);
}

#[test]
fn outside_a_scope_everything_goes_to_the_wrapped_allocator() {
    let before = inner_calls();
    let v = vec![1u8; 10];
    drop(v);
    assert_eq!(inner_calls() - before, 2);
    assert!(!arena_routing_active());
    let arena = HeapArena::new();
    assert!(arena.scope(arena_routing_active));
    assert!(!arena_routing_active());
}

#[test]
fn values_escaping_a_scope_survive_reset_and_are_freed_later() {
    let arena = HeapArena::new();
    let kept: Vec<u64> = arena.scope(|| (0..1000).collect());
    let kept_string = arena.scope(|| "escaped".repeat(10));
    let err = arena.reset_strict().unwrap_err();
    assert!(matches!(err, StrictResetError::Pinned(_)), "{err}");
    let report = err.report();
    assert!(report.pinned_blocks >= 1);
    assert_eq!(
        report.pinned_bytes,
        report.pinned_blocks * HeapArena::BLOCK_SIZE
    );
    assert_eq!(arena.last_reset(), Some(report));
    assert!(err.to_string().contains("still live"));
    // New work after the reset must not overwrite the pinned values.
    for round in 0..5u64 {
        arena.scope(|| {
            let scratch: Vec<u64> = vec![round + 7; 100_000];
            assert!(scratch.iter().all(|&x| x == round + 7));
        });
        arena.reset();
        assert!(kept.iter().copied().eq(0..1000));
        assert_eq!(kept_string, "escaped".repeat(10));
    }
    drop(kept);
    drop(kept_string);
    assert!(arena.reset_strict().unwrap().is_clean());
}

#[test]
fn lenient_reset_reports_pins_without_failing() {
    let arena = HeapArena::new();
    let kept = arena.scope(|| Box::new([5u8; 300]));
    let report = arena.reset();
    assert_eq!(report.pinned_blocks, 1);
    assert_eq!(*kept, [5u8; 300]);
}

#[test]
fn frees_from_other_threads() {
    let arena = HeapArena::new();
    let (tx, rx) = mpsc::channel::<Vec<u32>>();
    let worker = std::thread::spawn(move || {
        let mut total = 0u64;
        for v in rx {
            total += v.iter().map(|&x| u64::from(x)).sum::<u64>();
        }
        total
    });
    for round in 0..10u32 {
        arena.scope(|| {
            for i in 0..20 {
                tx.send(vec![round + i; 50]).unwrap();
            }
        });
    }
    drop(tx);
    let total = worker.join().unwrap();
    let expected: u64 = (0..10u64)
        .flat_map(|r| (0..20u64).map(move |i| (r + i) * 50))
        .sum();
    assert_eq!(total, expected);
    // Every value was freed by the worker: nothing is pinned.
    assert!(arena.reset_strict().unwrap().is_clean());
}

#[test]
fn freeing_the_newest_allocation_rewinds() {
    let arena = HeapArena::new();
    arena.scope(|| {
        let first = Box::new(1u64);
        let in_use = arena.stats().in_use_bytes;
        for _ in 0..1000 {
            let b = Box::new([0u8; 100]);
            std::hint::black_box(&b);
        }
        assert_eq!(arena.stats().in_use_bytes, in_use);
        drop(first);
    });
}

#[test]
fn realloc_grows_and_shrinks_the_newest_block_in_place() {
    let arena = HeapArena::new();
    arena.scope(|| {
        let mut v: Vec<u8> = Vec::with_capacity(16);
        v.push(1);
        let start = v.as_ptr();
        let before = inner_calls();
        for i in 0..100_000u32 {
            v.push(i as u8);
        }
        assert_eq!(v.as_ptr(), start, "the newest block grows in place");
        if !cfg!(miri) {
            v.reserve(16 << 20); // far past the memory touched so far: still in place
            assert_eq!(v.as_ptr(), start);
        }
        v.truncate(10);
        v.shrink_to_fit();
        assert_eq!(v.as_ptr(), start, "and shrinks in place");
        assert_eq!(v[..2], [1, 0]);
        assert_eq!(inner_calls(), before);
        // Not the newest any more: growth moves it, keeping the contents.
        // (`black_box`: an optimised build would leave out a heap allocation never looked at.)
        let other = std::hint::black_box(Box::new(9u8));
        v.reserve(1 << 20);
        assert_ne!(v.as_ptr(), start);
        assert_eq!(v[..3], [1, 0, 1]);
        assert_eq!(*other, 9);
        assert_eq!(inner_calls(), before);
    });
}

#[test]
fn realloc_of_wrapped_allocator_memory_stays_there() {
    let mut v: Vec<u8> = vec![3; 8]; // from the wrapped allocator
    let arena = HeapArena::new();
    arena.scope(|| {
        let before = inner_calls();
        v.extend_from_slice(&[4; 1000]);
        assert!(inner_calls() > before);
    });
    assert_eq!(v.len(), 1008);
    assert!(arena.reset_strict().unwrap().is_clean());
}

#[test]
fn arena_memory_grown_outside_the_scope_moves_out() {
    let arena = HeapArena::new();
    let mut v: Vec<u8> = arena.scope(|| vec![1; 10]);
    v.reserve(1000); // outside: moves to the wrapped allocator, freeing the arena block
    assert_eq!(v[..], [1; 10]);
    assert!(arena.reset_strict().unwrap().is_clean());
}

#[test]
fn zeroed_allocations_are_zero_also_when_memory_is_reused() {
    let arena = HeapArena::new();
    for round in 0..3 {
        arena.scope(|| {
            let dirty = vec![0xAAu8; 4096];
            drop(dirty);
            let z = vec![0u8; 8192];
            assert!(z.iter().all(|&b| b == 0), "round {round}");
            let mut dirty = vec![0x55u64; 1024];
            dirty.iter_mut().for_each(|x| *x = 1);
            std::hint::black_box(&dirty);
        });
        arena.reset();
    }
}

#[test]
fn nested_scopes() {
    let outer = HeapArena::new();
    let inner = HeapArena::new();
    outer.scope(|| {
        let a = vec![1u8; 10];
        outer.scope(|| {
            // The same arena continues the outer scope: same lane.
            let b = vec![2u8; 10];
            assert_eq!(outer.stats().lanes_held, 1);
            drop(b);
        });
        inner.scope(|| {
            let c = vec![3u8; 10];
            assert_eq!(inner.stats().allocations, 1);
            drop(c);
            without_arena(|| assert!(!arena_routing_active()));
            assert!(arena_routing_active());
        });
        let inner_allocations = inner.stats().allocations;
        let d = vec![4u8; 10]; // back on the outer arena
        assert_eq!(inner.stats().allocations, inner_allocations);
        assert!(arena_routing_active());
        drop((a, d));
    });
    assert_eq!(outer.stats().lanes_held, 0);
    assert!(outer.reset_strict().unwrap().is_clean());
    assert!(inner.reset_strict().unwrap().is_clean());
}

#[test]
fn panics_inside_a_scope_restore_the_route_and_release_the_lane() {
    let arena = HeapArena::new();
    let result = std::panic::catch_unwind(|| {
        arena.scope(|| {
            let _v: Vec<u8> = std::iter::repeat_n(1, 100).collect();
            panic!("boom");
        })
    });
    assert!(result.is_err());
    drop(result);
    assert!(!arena_routing_active());
    let stats = arena.stats();
    assert_eq!(stats.lanes_held, 0);
    assert_eq!(stats.lanes, 1);
    // The lane is reused by the next scope.
    arena.scope(|| drop(vec![0u8; 10]));
    assert_eq!(arena.stats().lanes, 1);
    // The panic machinery may have made lasting values in the arena (backtrace caches): they
    // stay pinned, the rest is reused.
    let report = arena.reset();
    assert_eq!(report.lanes_reset, 1);
}

#[test]
fn reset_inside_a_scope_resets_the_own_lane() {
    let arena = HeapArena::new();
    arena.scope(|| {
        for _ in 0..3 {
            let v: Vec<u32> = (0..1000).collect();
            drop(v);
            let r = arena.reset_strict().unwrap();
            assert_eq!(r.lanes_reset, 1);
            assert_eq!(r.lanes_busy, 0);
            assert_eq!(arena.stats().in_use_bytes, 0);
        }
    });
}

#[test]
fn dropping_an_arena_with_live_values_keeps_them_valid() {
    let kept: Vec<String> = {
        let arena = HeapArena::new();
        arena.scope(|| (0..50).map(|i| i.to_string()).collect())
    };
    // The arena is gone; its lane is orphaned until the values are freed.
    let fresh = HeapArena::new();
    fresh.scope(|| {
        let scratch = vec![0xFFu8; 1 << 16];
        std::hint::black_box(scratch);
    });
    assert_eq!(kept[49], "49");
    drop(kept);
}

#[test]
fn an_arena_can_be_a_static() {
    static ARENA: HeapArena = HeapArena::new();
    let n = ARENA.scope(|| format!("{}", 12345).len());
    assert_eq!(n, 5);
    assert!(ARENA.reset().is_clean());
}

#[test]
fn large_allocations_and_big_alignments() {
    let arena = HeapArena::new();
    arena.scope(|| {
        let big = vec![7u8; 3 << 20];
        assert_eq!(big[3 << 19], 7);
        let layout = Layout::from_size_align(100, 1 << 16).unwrap();
        // SAFETY: non-zero size; freed below with the same layout.
        let p = unsafe { std::alloc::alloc(layout) };
        assert!(!p.is_null());
        assert_eq!(p.addr() % (1 << 16), 0);
        // SAFETY: allocated above with `layout`.
        unsafe { std::alloc::dealloc(p, layout) };
        drop(big);
    });
    assert!(arena.reset_strict().unwrap().is_clean());
}

/// A small deterministic generator for the randomized test.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A live allocation and the byte it is filled with.
struct Filled {
    bytes: Vec<u8>,
    fill: u8,
}

impl Filled {
    fn intact(&self) -> bool {
        self.bytes.iter().all(|&b| b == self.fill)
    }
}

#[test]
fn random_allocations_frees_reallocs_and_resets_never_overlap() {
    let ops = if cfg!(miri) { 300 } else { 5000 };
    let arena = HeapArena::new();
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    // The bookkeeping itself is not what is tested: keep it on the heap.
    let mut live: Vec<Filled> = without_arena(|| Vec::with_capacity(ops));
    let (tx, rx) = mpsc::channel::<Filled>();
    let freer = std::thread::spawn(move || {
        let mut ok = true;
        for f in rx {
            ok &= f.intact();
        }
        ok
    });
    arena.scope(|| {
        for op in 0..ops {
            let fill = (op % 251) as u8 + 1;
            match rng.below(10) {
                0..=3 => {
                    // Repeated sizes, as tensors of a model have, and arbitrary ones.
                    const SIZES: [usize; 5] = [256, 300, 1000, 4096, 10_000];
                    let size = match rng.below(20) {
                        0 => 1 + rng.below(300_000),
                        1..=9 => SIZES[rng.below(SIZES.len())],
                        _ => 1 + rng.below(2000),
                    };
                    live.push(Filled {
                        bytes: vec![fill; size],
                        fill,
                    });
                }
                4 | 5 if !live.is_empty() => {
                    let i = rng.below(live.len());
                    assert!(live.swap_remove(i).intact(), "op {op}");
                }
                6 if !live.is_empty() => {
                    // Grow or shrink, in place or not; the contents must survive.
                    let i = rng.below(live.len());
                    let f = &mut live[i];
                    let new_len = 1 + rng.below(4000);
                    f.bytes.resize(new_len, f.fill);
                    if rng.below(2) == 0 {
                        f.bytes.shrink_to_fit();
                    }
                }
                7 if !live.is_empty() => {
                    let i = rng.below(live.len());
                    tx.send(live.swap_remove(i)).unwrap();
                }
                8 => {
                    // Lenient: whatever is live stays pinned.
                    arena.reset();
                }
                _ => {
                    if let Some(f) = live.last() {
                        assert!(f.intact(), "op {op}");
                    }
                }
            }
            if op % 100 == 0 {
                assert!(live.iter().all(Filled::intact), "op {op}");
            }
        }
    });
    assert!(live.iter().all(Filled::intact));
    if !cfg!(miri) {
        assert!(arena.stats().reused > 0, "{:?}", arena.stats());
    }
    drop(tx);
    assert!(
        freer.join().unwrap(),
        "values freed on another thread were intact"
    );
    live.clear();
    let report = arena.reset();
    assert_eq!(report.lanes_busy, 0);
}

#[test]
fn trim_gives_unused_memory_back_and_keeps_live_values() {
    // Lanes are small under Miri.
    let peak = if cfg!(miri) { 1 << 20 } else { 4 << 20 };
    let arena = HeapArena::new();
    let kept = arena.scope(|| {
        let kept = vec![9u8; 1000];
        drop(vec![1u8; peak]);
        kept
    });
    arena.reset();
    let released = arena.trim();
    assert!(released >= peak * 3 / 4, "released {released}");
    assert!(arena.stats().high_water_bytes < peak / 4);
    assert_eq!(arena.trim(), 0);
    assert!(kept.iter().all(|&b| b == 9));
    // Memory given back reads as zeros and is handed out again.
    arena.scope(|| {
        let z = vec![0u8; peak / 2];
        assert!(z.iter().all(|&b| b == 0));
    });
    drop(kept);
}

#[test]
fn blocks_freed_out_of_order_are_reused_and_unwound() {
    let arena = HeapArena::new();
    arena.scope(|| {
        let start = arena.stats().in_use_bytes;
        let a = vec![1u8; 4096];
        let b = vec![2u8; 4096];
        let a_addr = a.as_ptr();
        drop(a); // not the newest: kept for reuse
        let c = vec![3u8; 4000]; // about the same size: the same memory
        assert_eq!(c.as_ptr(), a_addr);
        assert_eq!(arena.stats().reused, 1);
        assert!(c.iter().all(|&x| x == 3) && b.iter().all(|&x| x == 2));
        drop(c);
        // Freeing the newest moves the bump pointer back over every kept block below it.
        drop(b);
        assert_eq!(arena.stats().in_use_bytes, start);
        let xs: Vec<Vec<u64>> = (0..10).map(|i| vec![i; 100]).collect();
        let mut xs = without_arena(|| xs.into_iter().map(Some).collect::<Vec<_>>());
        for i in [3, 1, 7, 0, 9, 2, 8, 4, 6, 5] {
            let x = xs[i].take().unwrap();
            assert!(x.iter().all(|&v| v == i as u64));
        }
        drop(xs);
    });
    assert!(arena.reset_strict().unwrap().is_clean());
}

#[test]
fn blocks_freed_in_any_order_are_reused_without_a_reset() {
    // Tensor-like traffic: a window of live buffers, freed in no particular order, far more
    // bytes in total than ever live at once.
    // Under Miri: small and few (checking bytes one by one is slow there); the growth bound
    // needs real sizes, so it is checked natively only.
    let (size, rounds) = if cfg!(miri) {
        (1000, 40)
    } else {
        (100_000, 1000)
    };
    let arena = HeapArena::new();
    let mut rng = XorShift(7);
    arena.scope(|| {
        let mut window: Vec<Vec<u8>> = without_arena(|| Vec::with_capacity(8));
        for round in 0..rounds {
            // Sizes from 1x to 4x: blocks freed are seldom of the size asked next.
            let len = size + rng.below(3 * size);
            window.push(vec![round as u8; len]);
            if window.len() == 8 {
                let gone = window.swap_remove(rng.below(8));
                assert!(gone.iter().all(|&b| b == gone[0]));
            }
        }
        for w in &window {
            assert!(w.iter().all(|&b| b == w[0]));
        }
        window.clear();
    });
    let stats = arena.stats();
    let total = (size * rounds) as u64;
    assert!(stats.bytes >= total);
    let total = stats.bytes;
    // Without reuse the lane would have grown to the total.
    assert!(
        cfg!(miri) || (stats.high_water_bytes as u64) < total / 4,
        "high water {} for {} bytes allocated",
        stats.high_water_bytes,
        total
    );
    assert!(arena.reset_strict().unwrap().is_clean());
}

#[test]
fn threads_entering_the_same_arena_get_lanes_of_their_own() {
    let arena = HeapArena::new();
    // All three are inside the scope at once, so none can take over another's released lane.
    let all_in = std::sync::Barrier::new(3);
    let seen: Vec<bool> = std::thread::scope(|s| {
        let (arena, all_in) = (&arena, &all_in);
        let handles: Vec<_> = (0..3)
            .map(|i| {
                s.spawn(move || {
                    arena.scope(|| {
                        let v: Vec<usize> = (0..100 * (i + 1)).collect();
                        std::hint::black_box(v);
                        all_in.wait();
                        arena_routing_active()
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(seen, [true, true, true]);
    assert!(arena.stats().lanes >= 3);
    assert_eq!(arena.stats().lanes_held, 0);
    let report = arena.reset_strict().unwrap();
    assert_eq!(report.lanes_busy, 0);
}

#[test]
fn with_the_router_installed_scopes_route_and_say_so() {
    let arena = HeapArena::new();
    // A scope that allocates nothing: whatever the arena does to check the router is not
    // counted as the caller's.
    arena.scope(|| ());
    let stats = arena.stats();
    assert_eq!(stats.routing_off, None);
    assert_eq!(stats.allocations, 0);
    assert_eq!(stats.in_use_bytes, 0);
    arena.scope(|| drop(std::hint::black_box(Box::new(1u32))));
    assert_eq!(arena.stats().allocations, 1);
    let report = arena.reset_strict().unwrap();
    assert_eq!(report.routing_off, None);
}

#[test]
fn a_vec_made_before_a_scope_and_grown_inside_pins_its_block() {
    let arena = HeapArena::new();
    let mut log: Vec<u32> = Vec::new(); // no memory yet
    for round in 0..3 {
        arena.scope(|| log.push(round)); // its first memory comes from the arena
        let report = arena.reset();
        assert_eq!(report.pinned_blocks, 1, "round {round}");
        let text = report.to_string();
        assert!(
            text.contains("made before a scope") && text.contains("reserve its capacity"),
            "{text}"
        );
    }
    assert_eq!(log, [0, 1, 2]);
    // The fixes: capacity reserved before the scope, or growth outside the arena.
    let mut reserved: Vec<u32> = Vec::with_capacity(16);
    let mut grown: Vec<u32> = Vec::new();
    drop(log);
    for round in 0..3 {
        arena.scope(|| {
            reserved.push(round);
            without_arena(|| grown.push(round));
        });
        assert!(arena.reset_strict().unwrap().is_clean(), "round {round}");
    }
    assert_eq!((reserved.len(), grown.len()), (3, 3));
}

#[test]
fn big_alignments_and_sizes_near_isize_max_through_the_router() {
    let arena = HeapArena::new();
    // Lanes are small under Miri: alignments past the lane's size go to the wrapped
    // allocator, which is what is tested there.
    let max_shift = if cfg!(miri) { 20 } else { 29 };
    let huge_sizes = [
        isize::MAX as usize - 7,
        isize::MAX as usize / 2 + 1,
        (isize::MAX as usize + 1) - (1 << 29),
    ];
    arena.scope(|| {
        for shift in (3..=max_shift).step_by(2).chain([max_shift]) {
            let align = 1usize << shift;
            let layout = Layout::from_size_align(24, align).unwrap();
            // SAFETY: non-zero size; freed below with the same layout.
            let p = unsafe { GLOBAL.alloc(layout) };
            assert!(!p.is_null(), "align 2^{shift}");
            assert_eq!(p.addr() % align, 0, "align 2^{shift}");
            // SAFETY: a live allocation of 24 bytes.
            unsafe {
                p.write_bytes(0xA5, 24);
                GLOBAL.dealloc(p, layout);
            }
            // SAFETY: as above.
            let z = unsafe { GLOBAL.alloc_zeroed(layout) };
            assert!(!z.is_null() && z.addr() % align == 0, "align 2^{shift}");
            // SAFETY: a live allocation of 24 bytes, zeroed; freed once.
            unsafe {
                assert!((0..24).all(|i| *z.add(i) == 0), "align 2^{shift}");
                GLOBAL.dealloc(z, layout);
            }
        }
        // Sizes no allocator can serve: a null pointer, never a bogus block.
        if !cfg!(miri) {
            for size in huge_sizes {
                for align in [1, 8, 1 << 12, 1 << 29] {
                    let Ok(layout) = Layout::from_size_align(size, align) else {
                        continue;
                    };
                    // SAFETY: non-zero size; a non-null result would be freed.
                    let p = unsafe { GLOBAL.alloc(layout) };
                    assert!(p.is_null(), "size {size:#x} align {align}");
                    // SAFETY: as above.
                    let z = unsafe { GLOBAL.alloc_zeroed(layout) };
                    assert!(z.is_null(), "size {size:#x} align {align}");
                }
            }
            // Growing arena memory to such a size fails and leaves the block as it was.
            let small = Layout::from_size_align(64, 8).unwrap();
            // SAFETY: non-zero size.
            let p = unsafe { GLOBAL.alloc(small) };
            assert!(!p.is_null());
            // SAFETY: `p` is a live block of 64 bytes.
            unsafe { p.write_bytes(7, 64) };
            for size in huge_sizes {
                // SAFETY: `p` was allocated with `small`; `size` rounded up to 8 fits `isize`.
                let q = unsafe { GLOBAL.realloc(p, small, size) };
                assert!(q.is_null(), "size {size:#x}");
            }
            // SAFETY: still live (every realloc failed), 64 bytes; freed once.
            unsafe {
                assert!((0..64).all(|i| *p.add(i) == 7));
                GLOBAL.dealloc(p, small);
            }
        }
    });
    // A spilled allocation was freed to the wrapped allocator; the arena's were all freed.
    assert!(arena.reset_strict().unwrap().is_clean());
}

/// Set in the child process `an_unreservable_range_turns_routing_off_and_strict_resets_fail`
/// starts under a low `ulimit -v`.
const LOW_ULIMIT_CHILD: &str = "ARENA_ROUTER_TEST_LOW_ULIMIT_CHILD";

#[test]
#[cfg_attr(miri, ignore = "starts a process")]
fn an_unreservable_range_turns_routing_off_and_strict_resets_fail() {
    const NAME: &str = "an_unreservable_range_turns_routing_off_and_strict_resets_fail";
    if std::env::var_os(LOW_ULIMIT_CHILD).is_some() {
        // The child: 1 GiB of address space leaves no room for the range (16 GiB at least).
        let arena = HeapArena::new();
        let v = arena.scope(|| {
            assert!(!arena_routing_active());
            vec![1u8; 100]
        });
        assert_eq!(arena.stats().routing_off, Some(RoutingOff::NoAddressRange));
        assert_eq!(arena.stats().allocations, 0);
        let err = arena.reset_strict().unwrap_err();
        assert_eq!(
            err,
            StrictResetError::RoutingOff(RoutingOff::NoAddressRange, arena.last_reset().unwrap())
        );
        assert!(err.to_string().contains("no address range"), "{err}");
        // The lenient reset passes, and its report says why nothing was routed.
        arena.scope(|| drop(vec![2u8; 10]));
        let report = arena.reset();
        assert_eq!(report.routing_off, Some(RoutingOff::NoAddressRange));
        drop(v);
        println!("low-ulimit checks passed");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576 && exec \"$0\" --exact \"$1\" --test-threads=1 --nocapture")
        .arg(&exe)
        .arg(NAME)
        .env(LOW_ULIMIT_CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child failed: {}\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("low-ulimit checks passed") && stdout.contains("1 passed"),
        "{stdout}\n{stderr}"
    );
    assert!(stderr.contains("runs without an arena"), "{stderr}");
}

#[test]
fn random_small_objects_pin_exactly_the_blocks_they_overlap() {
    use std::collections::HashSet;

    // Under Miri: few operations (every byte is checked, slowly there), still a few that span
    // blocks.
    let (rounds, ops) = if cfg!(miri) { (2, 60) } else { (12, 2500) };
    let arena = HeapArena::new();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    // Bookkeeping on the heap, and never grown inside a scope.
    let mut live: Vec<(Box<[u8]>, u8)> = without_arena(|| Vec::with_capacity(rounds * ops));
    // Frees from another thread, one at a time (acknowledged), so the count is known at reset.
    let (to_freer, freer_rx) = mpsc::channel::<Box<[u8]>>();
    let (ack_tx, ack) = mpsc::channel::<bool>();
    let freer = std::thread::spawn(move || {
        let step = if cfg!(miri) { 97 } else { 1 };
        for b in freer_rx {
            let fill = b[0];
            let intact = b.iter().step_by(step).all(|&x| x == fill);
            drop(b);
            ack_tx.send(intact).unwrap();
        }
    });
    // Under Miri every 97th byte and the last (a byte-by-byte check of large values is slow
    // there); natively all.
    let step = if cfg!(miri) { 97 } else { 1 };
    let intact =
        |b: &[u8], fill: u8| b.iter().step_by(step).all(|&x| x == fill) && b.last() == Some(&fill);
    for round in 0..rounds {
        arena.scope(|| {
            for op in 0..ops {
                let fill = (op % 251) as u8 + 1;
                match rng.below(10) {
                    0..=4 => {
                        let size = match rng.below(20) {
                            // Now and then big enough to span blocks, or to cross into the
                            // next one.
                            0 => 1 + rng.below(200_000),
                            1..=3 => 1 + rng.below(70_000),
                            4..=9 => 1 + rng.below(2048),
                            _ => 1 + rng.below(64),
                        };
                        live.push((vec![fill; size].into_boxed_slice(), fill));
                    }
                    5 | 6 if !live.is_empty() => {
                        // The newest (rewinds) or any (out of order).
                        let (b, f) = if rng.below(2) == 0 {
                            live.pop().unwrap()
                        } else {
                            live.swap_remove(rng.below(live.len()))
                        };
                        assert!(intact(&b, f), "round {round} op {op}");
                    }
                    7 if !live.is_empty() => {
                        let (b, _) = live.swap_remove(rng.below(live.len()));
                        // The channel's own allocations (a waiting thread's context, kept in a
                        // thread-local) are not the test's: off the arena.
                        let ok = without_arena(|| {
                            to_freer.send(b).unwrap();
                            ack.recv().unwrap()
                        });
                        assert!(ok, "round {round} op {op}");
                    }
                    _ => {}
                }
            }
        });
        // Every live value is arena memory; the blocks they overlap, and no others, are pinned.
        let blocks: HashSet<usize> = live
            .iter()
            .flat_map(|(b, _)| {
                let addr = b.as_ptr().addr();
                (addr >> 16)..=((addr + b.len() - 1) >> 16)
            })
            .collect();
        let report = arena.reset();
        assert_eq!(report.pinned_blocks, blocks.len(), "round {round}");
        assert_eq!(arena.stats().spills, 0);
        assert!(live.iter().all(|(b, f)| intact(b, *f)), "round {round}");
        // Keep about half into the next round.
        let keep = live.len() / 2;
        for (b, f) in live.drain(keep..) {
            assert!(intact(&b, f));
        }
    }
    live.clear();
    assert!(arena.reset_strict().unwrap().is_clean());
    drop(to_freer);
    freer.join().unwrap();
}
