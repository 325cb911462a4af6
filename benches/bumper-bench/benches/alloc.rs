//! Criterion benchmarks of bumper against bumpalo, bump-scope and the system allocator.
//!
//! Three groups, each measuring the same work on every implementation so the ratios between
//! their times are meaningful; the workloads themselves live in the `bumper_bench` library so
//! the `ratios` binary runs exactly the same code:
//!
//! - `fast_path`: 64 `u64` allocations, then everything freed.
//! - `scope`: scope enter, a 30-element `i64` copy, add 1, sum, scope exit (the seed's `f(x)`).
//! - `default_vs_explicit`: that `f(x)` on the thread's default buffer and on explicit buffers.
//!
//! The `f(x)` groups rotate over `bumper_bench::PLACEMENTS` inputs and buffers at different
//! addresses, one per iteration, because on some machines their time depends on where the input
//! and the arena lie; see the library's docs.
//!
//! Run with `cargo bench -p bumper-bench --bench alloc`; add a group name to run one group,
//! e.g. `cargo bench -p bumper-bench --bench alloc -- scope`.

use std::hint::black_box;
use std::time::Duration;

use bumper::{AllocBuffer, SlabBuffer, DEFAULT_SLAB_SIZE};
use bumper_bench::{
    fast_path, new_bump_scope, new_bumpalo, per_placement, scope, scope_expected, Cycle,
    ScopeInputs, ARENA_CAPACITY,
};
use criterion::{criterion_group, criterion_main, Criterion};

/// Short measurements, so the whole suite runs in a few minutes on a small machine.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

/// 64 single allocations and a reset/restore, on every allocator.
fn bench_fast_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("fast_path");

    let mut alloc = AllocBuffer::with_capacity(ARENA_CAPACITY);
    group.bench_function("bumper_alloc_buffer", |b| {
        b.iter(|| fast_path::bumper(&mut alloc))
    });

    let mut slab = SlabBuffer::new();
    group.bench_function("bumper_slab_buffer", |b| {
        b.iter(|| fast_path::bumper(&mut slab))
    });

    let mut bumpalo = new_bumpalo();
    group.bench_function("bumpalo_reset", |b| {
        b.iter(|| fast_path::bumpalo(&mut bumpalo))
    });

    let mut bump_scope = new_bump_scope();
    group.bench_function("bump_scope_reset", |b| {
        b.iter(|| fast_path::bump_scope_reset(&mut bump_scope))
    });
    group.bench_function("bump_scope_scoped", |b| {
        b.iter(|| fast_path::bump_scope_scoped(&mut bump_scope))
    });

    group.bench_function("malloc_free_each", |b| b.iter(fast_path::malloc_free_each));
    group.bench_function("malloc_free_batch", |b| {
        b.iter(fast_path::malloc_free_batch)
    });

    group.finish();
}

/// Scope enter + 30-element slice + exit: bumper's scopes, bump-scope's `scoped`, bumpalo's
/// reset, and a heap `Vec`. Each iteration uses the next of `PLACEMENTS` inputs and buffers (see
/// [`bumper_bench::PLACEMENTS`]).
fn bench_scope(c: &mut Criterion) {
    let inputs = ScopeInputs::new(0);
    let expected = scope_expected();
    let mut group = c.benchmark_group("scope");

    let mut allocs = per_placement(|| AllocBuffer::with_capacity(ARENA_CAPACITY));
    let mut k = Cycle::default();
    assert_eq!(scope::bumper(inputs.get(0), &mut allocs[0]), expected);
    group.bench_function("bumper_alloc_buffer", |b| {
        b.iter(|| {
            let i = k.next_index();
            black_box(scope::bumper(black_box(inputs.get(i)), &mut allocs[i]))
        })
    });

    let mut slabs = per_placement(SlabBuffer::<DEFAULT_SLAB_SIZE>::with_slab_size);
    assert_eq!(scope::bumper(inputs.get(0), &mut slabs[0]), expected);
    group.bench_function("bumper_slab_buffer", |b| {
        b.iter(|| {
            let i = k.next_index();
            black_box(scope::bumper(black_box(inputs.get(i)), &mut slabs[i]))
        })
    });

    assert_eq!(scope::bumper_default(inputs.get(0)), expected);
    group.bench_function("bumper_default", |b| {
        b.iter(|| {
            let i = k.next_index();
            black_box(scope::bumper_default(black_box(inputs.get(i))))
        })
    });

    let mut bump_scopes = per_placement(new_bump_scope);
    assert_eq!(
        scope::bump_scope_scoped(inputs.get(0), &mut bump_scopes[0]),
        expected
    );
    group.bench_function("bump_scope_scoped", |b| {
        b.iter(|| {
            let i = k.next_index();
            black_box(scope::bump_scope_scoped(
                black_box(inputs.get(i)),
                &mut bump_scopes[i],
            ))
        })
    });

    let mut bumpalos = per_placement(new_bumpalo);
    assert_eq!(scope::bumpalo(inputs.get(0), &mut bumpalos[0]), expected);
    group.bench_function("bumpalo_reset", |b| {
        b.iter(|| {
            let i = k.next_index();
            black_box(scope::bumpalo(black_box(inputs.get(i)), &mut bumpalos[i]))
        })
    });

    assert_eq!(scope::heap_vec(inputs.get(0)), expected);
    group.bench_function("heap_vec", |b| {
        b.iter(|| {
            let i = k.next_index();
            black_box(scope::heap_vec(black_box(inputs.get(i))))
        })
    });

    group.finish();
}

/// The same `f(x)` on the per-thread default buffer and on explicit buffers passed by `&mut`,
/// rotating over placements like [`bench_scope`].
fn bench_default_vs_explicit(c: &mut Criterion) {
    let inputs = ScopeInputs::new(1);
    let expected = scope_expected();
    let mut group = c.benchmark_group("default_vs_explicit");
    let mut k = Cycle::default();

    assert_eq!(scope::bumper_default(inputs.get(0)), expected);
    group.bench_function("default_no_escape", |b| {
        b.iter(|| {
            let i = k.next_index();
            black_box(scope::bumper_default(black_box(inputs.get(i))))
        })
    });

    let mut slabs = per_placement(SlabBuffer::<DEFAULT_SLAB_SIZE>::with_slab_size);
    assert_eq!(scope::bumper(inputs.get(0), &mut slabs[0]), expected);
    group.bench_function("explicit_slab_buffer", |b| {
        b.iter(|| {
            let i = k.next_index();
            black_box(scope::bumper(black_box(inputs.get(i)), &mut slabs[i]))
        })
    });

    let mut allocs = per_placement(|| AllocBuffer::with_capacity(ARENA_CAPACITY));
    assert_eq!(scope::bumper(inputs.get(0), &mut allocs[0]), expected);
    group.bench_function("explicit_alloc_buffer", |b| {
        b.iter(|| {
            let i = k.next_index();
            black_box(scope::bumper(black_box(inputs.get(i)), &mut allocs[i]))
        })
    });

    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_fast_path, bench_scope, bench_default_vs_explicit
}
criterion_main!(benches);
