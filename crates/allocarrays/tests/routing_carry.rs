//! Heap arenas carried into other threads by `thread_scope`, `with_carry` and `rayon_scope`,
//! with `ArenaRouter` installed as this test binary's global allocator.

#![cfg(feature = "router")]

use allocarrays::{
    arena_routing_active, thread_scope, with_carry, without_arena, ArenaRouter, HeapArena,
};

#[global_allocator]
static GLOBAL: ArenaRouter = ArenaRouter::new(std::alloc::System);

#[test]
fn carry_wraps_closures_for_any_executor() {
    let arena = HeapArena::new();
    arena.scope(|| {
        with_carry(|carry| {
            assert!(carry.has_heap_arena());
            let work = carry.wrap(|n: usize| {
                let v: Vec<u8> = vec![1; n];
                (v.len(), arena_routing_active())
            });
            let work = &work;
            std::thread::scope(|s| {
                let h = s.spawn(move || work(5));
                assert_eq!(h.join().unwrap(), (5, true));
            });
        });
    });
}

#[test]
fn array_allocators_keep_their_buffers_out_of_the_heap_arena() {
    use allocarrays::{with_allocator, AllocArray, AutoscalingAllocBuffer, BumperAllocator};
    let heap = HeapArena::new();
    // A small first buffer: the first run grows it inside the scopes below.
    let arrays = BumperAllocator::new(AutoscalingAllocBuffer::with_initial_size(1024));
    let a = AllocArray::from(vec![1.0f64; 10_000]);
    for _ in 0..3 {
        let total = heap.scope(|| {
            with_allocator(&arrays, || {
                let total = (&a + &a).sum();
                let scratch: Vec<f64> = a.iter().map(|x| x * 3.0).collect();
                arrays.reset();
                total + scratch[0]
            })
        });
        assert_eq!(total, 20_003.0);
        // The array buffer (grown and re-sized above) lives on the heap: nothing pinned.
        heap.reset_strict().unwrap();
    }
    assert!(heap.stats().allocations >= 3);
}

#[cfg(feature = "rayon")]
#[test]
fn rayon_tasks_allocate_from_lanes_of_the_arena() {
    use allocarrays::rayon_scope;
    use std::sync::atomic::{AtomicUsize, Ordering};

    // The global pool lives for the whole process: make it outside any arena.
    without_arena(rayon::current_num_threads);
    let arena = HeapArena::new();
    let routed = AtomicUsize::new(0);
    arena.scope(|| {
        rayon_scope(|s| {
            for i in 0..16 {
                let routed = &routed;
                s.spawn(move |_| {
                    let v: Vec<usize> = (0..1000 * (i + 1)).collect();
                    std::hint::black_box(v);
                    if arena_routing_active() {
                        routed.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
    });
    assert_eq!(routed.into_inner(), 16);
    assert!(arena.stats().allocations >= 16);
    let report = arena.reset();
    assert_eq!(report.lanes_busy, 0);
}

#[test]
fn worker_threads_get_lanes_of_the_same_arena() {
    let arena = HeapArena::new();
    let seen: Vec<bool> = arena.scope(|| {
        thread_scope(|s| {
            let handles: Vec<_> = (0..3)
                .map(|i| {
                    s.spawn(move || {
                        let v: Vec<usize> = (0..100 * (i + 1)).collect();
                        std::hint::black_box(v);
                        arena_routing_active()
                    })
                })
                .collect();
            // `without_arena`: the results outlive the scope.
            let joined: Vec<bool> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            without_arena(|| joined.clone())
        })
    });
    assert_eq!(seen, [true, true, true]);
    assert!(arena.stats().lanes >= 2);
    assert_eq!(arena.stats().lanes_held, 0);
    // Thread handles and results were freed: nothing stayed.
    let report = arena.reset_strict().unwrap();
    assert_eq!(report.lanes_busy, 0);
}

#[cfg(feature = "rayon")]
#[test]
fn rayon_scope_runs_its_body_under_the_allocator() {
    use allocarrays::{has_allocator, rayon_scope, with_allocator, AllocArray, BumperAllocator};
    let alloc = BumperAllocator::with_fixed_capacity(1 << 20);
    // Called from outside the pool (this test thread): the body runs on a worker.
    let (seen, arena, task_arena) = with_allocator(&alloc, || {
        rayon_scope(|s| {
            let (tx, rx) = std::sync::mpsc::channel();
            s.spawn(move |_| {
                let _ = tx.send(AllocArray::<f64, _>::zeros(4).is_arena());
            });
            let arena = AllocArray::<f64, _>::zeros(4).is_arena();
            (has_allocator(), arena, rx)
        })
    });
    assert!(seen, "the body sees the allocator");
    assert!(arena, "the body's arrays come from it");
    assert_eq!(task_arena.recv(), Ok(true));
    // Outside any allocator the body has none.
    assert!(!rayon_scope(|_| has_allocator()));
    alloc.reset();
}
