//! The global router around a library call: with `ArenaRouter` as the global allocator, every
//! heap allocation a thread makes inside `HeapArena::scope` (here, plain `ndarray` and `Vec`
//! code that knows nothing about arenas) comes from the arena, and `reset` reuses it.
//!
//! `cargo run -p allocarrays --example router_library_call`

use allocarrays::{ArenaRouter, HeapArena};
use ndarray::Array2;

#[global_allocator]
static GLOBAL: ArenaRouter = ArenaRouter::new(std::alloc::System);

/// A "library" function: plain `ndarray` and `Vec` temporaries on the heap.
fn library_call(n: usize) -> f64 {
    let a = Array2::from_shape_fn((n, n), |(i, j)| (i + j) as f64);
    let b = &a * 2.0 + 1.0;
    let names: Vec<String> = (0..n).map(|i| format!("row {i}")).collect();
    b.sum() + names.len() as f64
}

fn main() {
    let arena = HeapArena::new();
    let expected = library_call(64);
    let mut served = 0;
    for _ in 0..10 {
        let total = arena.scope(|| library_call(64));
        assert_eq!(total, expected);
        served = arena.stats().allocations;
        assert!(served > 0, "the library's allocations came from the arena");
        arena
            .reset_strict()
            .expect("nothing the call allocated is still alive, and routing is on");
    }
    let stats = arena.stats();
    assert_eq!(stats.spills, 0, "everything fit in the arena");
    println!(
        "router_library_call: 10 calls, {served} allocations served by the arena, {} KiB touched",
        stats.high_water_bytes / 1024
    );
}
