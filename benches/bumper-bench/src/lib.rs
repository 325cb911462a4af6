//! The workloads of the bumper benchmarks, shared by the criterion suite (`benches/alloc.rs`) and
//! the `ratios` binary so both measure exactly the same code.
//!
//! Every workload function is `#[inline(never)]`: one benchmark iteration is one call, the way a
//! real caller would use it, and the loop around it can't hoist buffer state (the thread-local
//! lookup of the default buffer, the bump position) out of the measured work. Everything inside
//! a workload is inlined as usual.
//!
//! - [`fast_path`]: 64 single `u64` allocations, then everything freed at once (or one by one
//!   for the system allocator).
//! - [`scope`]: the seed's `f(x)`: open a scope, copy a 30-element `i64` slice into it, add 1 to
//!   every element, sum, close the scope.
#![warn(missing_docs)]

use std::hint::black_box;

/// How many values a [`fast_path`] workload allocates per iteration.
pub const FAST_PATH_ALLOCS: u64 = 64;

/// Length of the slice the [`scope`] workloads copy (the seed's example size).
pub const SCOPE_LEN: usize = 30;

/// Capacity given to every arena up front (1 MiB, bumper's default slab and buffer size), so
/// no implementation grows or changes chunks during a measurement.
pub const ARENA_CAPACITY: usize = 1 << 20;

/// The input of the [`scope`] workloads: [`SCOPE_LEN`] small integers.
pub fn scope_input() -> Vec<i64> {
    (0..SCOPE_LEN as i64).map(|i| 3 * i - 7).collect()
}

/// How many placements of the input and the buffers the [`scope`] benchmarks rotate through.
///
/// The `f(x)` workloads take 15 to 30 ns, and on some machines (seen on an AMD EPYC VM) their
/// time moves by up to 2x with where the input, the arena memory and the stack happen to lie
/// relative to each other (presumably store-forwarding and memory-disambiguation effects around
/// the copy; that VM has no performance counters to confirm it). One
/// fixed placement per implementation would make the ratios a matter of luck, so every
/// benchmark iteration uses the next of `PLACEMENTS` inputs (at different addresses) and the
/// next of as many buffers, averaging over placements within each measurement.
pub const PLACEMENTS: usize = 8;

/// [`PLACEMENTS`] copies of [`scope_input`] at different addresses (spread over more than a
/// 4 KiB page, at varied offsets within cache lines).
#[derive(Debug, Clone)]
pub struct ScopeInputs {
    storage: Vec<i64>,
    starts: [usize; PLACEMENTS],
}

impl ScopeInputs {
    /// Distance in `i64`s between two placements: 664 bytes, so consecutive copies start at
    /// different offsets within a cache line and a page.
    const STRIDE: usize = 83;

    /// Placements shifted by `seed` (use different seeds for different layouts).
    pub fn new(seed: usize) -> Self {
        let shift = (seed * 11) % Self::STRIDE;
        let starts = core::array::from_fn(|k| shift + k * Self::STRIDE);
        let mut storage = vec![0i64; shift + PLACEMENTS * Self::STRIDE + SCOPE_LEN];
        let input = scope_input();
        for &start in &starts {
            storage[start..start + SCOPE_LEN].copy_from_slice(&input);
        }
        ScopeInputs { storage, starts }
    }

    /// The input of placement `k` (`k < PLACEMENTS`).
    #[inline(always)]
    pub fn get(&self, k: usize) -> &[i64] {
        let start = self.starts[k];
        &self.storage[start..start + SCOPE_LEN]
    }
}

/// Cycles through the placements `0..PLACEMENTS`, one per benchmark iteration.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cycle(usize);

impl Cycle {
    /// The next placement index.
    #[inline(always)]
    pub fn next_index(&mut self) -> usize {
        self.0 = if self.0 + 1 == PLACEMENTS {
            0
        } else {
            self.0 + 1
        };
        self.0
    }
}

/// `PLACEMENTS` buffers made by `make`, one per placement.
pub fn per_placement<T>(make: impl FnMut() -> T) -> Vec<T> {
    core::iter::repeat_with(make).take(PLACEMENTS).collect()
}

/// The expected result of every [`scope`] workload on [`scope_input`].
pub fn scope_expected() -> i64 {
    scope_input().iter().map(|v| v + 1).sum()
}

/// A fresh bumpalo arena with [`ARENA_CAPACITY`] bytes in its first chunk.
pub fn new_bumpalo() -> bumpalo::Bump {
    bumpalo::Bump::with_capacity(ARENA_CAPACITY)
}

/// A fresh bump-scope arena with a first chunk of about [`ARENA_CAPACITY`] bytes.
pub fn new_bump_scope() -> bump_scope::Bump {
    bump_scope::Bump::with_size(ARENA_CAPACITY)
}

/// Allocate [`FAST_PATH_ALLOCS`] single `u64` values, then free them all.
///
/// Each value and each returned reference goes through [`black_box`], so every allocation
/// really happens and its value is really written.
pub mod fast_path {
    use super::{black_box, FAST_PATH_ALLOCS};
    use bumper::Buffer;

    /// bumper: a `no_escape` scope on `buf` holding the allocations (restored when it ends).
    #[inline(never)]
    pub fn bumper<B: Buffer>(buf: &mut B) {
        buf.no_escape(|s| {
            for i in 0..FAST_PATH_ALLOCS {
                black_box(s.alloc(black_box(i)));
            }
        });
    }

    /// bumpalo: allocations on the arena, then `reset`.
    #[inline(never)]
    pub fn bumpalo(bump: &mut bumpalo::Bump) {
        for i in 0..FAST_PATH_ALLOCS {
            black_box(bump.alloc(black_box(i)));
        }
        bump.reset();
    }

    /// bump-scope: allocations on the arena, then `reset`.
    #[inline(never)]
    pub fn bump_scope_reset(bump: &mut bump_scope::Bump) {
        for i in 0..FAST_PATH_ALLOCS {
            black_box(bump.alloc(black_box(i)).into_mut());
        }
        bump.reset();
    }

    /// bump-scope: allocations in a `scoped` closure (the direct analogue of bumper's
    /// `no_escape`).
    #[inline(never)]
    pub fn bump_scope_scoped(bump: &mut bump_scope::Bump) {
        bump.scoped(|b| {
            for i in 0..FAST_PATH_ALLOCS {
                black_box(b.alloc(black_box(i)).into_mut());
            }
        });
    }

    /// The system allocator: `Box::new` and drop of each value in turn (malloc + free; the
    /// allocator's best case, its per-thread cache serves every request).
    #[inline(never)]
    pub fn malloc_free_each() {
        for i in 0..FAST_PATH_ALLOCS {
            drop(black_box(Box::new(black_box(i))));
        }
    }

    /// The system allocator holding all values at once, like an arena does: 64 `Box::new`,
    /// then 64 drops.
    #[inline(never)]
    pub fn malloc_free_batch() {
        let boxes: [Box<u64>; FAST_PATH_ALLOCS as usize] =
            core::array::from_fn(|i| black_box(Box::new(black_box(i as u64))));
        black_box(&boxes);
        drop(boxes);
    }

    /// mimalloc, called directly (this crate's global allocator is the system's): alloc and
    /// free of each `u64` in turn.
    #[inline(never)]
    pub fn mimalloc_free_each() {
        use std::alloc::{GlobalAlloc, Layout};
        let layout = Layout::new::<u64>();
        for i in 0..FAST_PATH_ALLOCS {
            // SAFETY: a non-zero-size layout; the block is written once and freed right away
            // with the same layout.
            unsafe {
                let p = mimalloc::MiMalloc.alloc(black_box(layout)).cast::<u64>();
                assert!(!p.is_null());
                p.write(black_box(i));
                black_box(p);
                mimalloc::MiMalloc.dealloc(p.cast(), layout);
            }
        }
    }

    /// mimalloc holding all values at once: 64 allocations, then 64 frees.
    #[inline(never)]
    pub fn mimalloc_free_batch() {
        use std::alloc::{GlobalAlloc, Layout};
        let layout = Layout::new::<u64>();
        let mut ptrs = [std::ptr::null_mut::<u64>(); FAST_PATH_ALLOCS as usize];
        for (i, slot) in ptrs.iter_mut().enumerate() {
            // SAFETY: a non-zero-size layout; each block is written once, freed below.
            unsafe {
                let p = mimalloc::MiMalloc.alloc(black_box(layout)).cast::<u64>();
                assert!(!p.is_null());
                p.write(black_box(i as u64));
                *slot = p;
            }
        }
        black_box(&ptrs);
        for p in ptrs {
            // SAFETY: allocated above with `layout`, freed once.
            unsafe { mimalloc::MiMalloc.dealloc(p.cast(), layout) };
        }
    }
}

/// The seed's `f(x)`: scope enter, a copy of `x` in the scope, add 1 to each element, sum,
/// scope exit.
///
/// The copied slice goes through [`black_box`] before the sum, so the compiler can't fuse the
/// copy, the additions and the sum into a loop that never touches the allocation.
pub mod scope {
    use super::black_box;
    use bumper::{Buffer, Scope};

    /// The work done inside a bumper scope, for any buffer type.
    #[inline(always)]
    fn body<B: Buffer>(s: &Scope<'_, B>, x: &[i64]) -> i64 {
        let y = s.alloc_slice_copy(x);
        for v in y.iter_mut() {
            *v += 1;
        }
        black_box(&*y).iter().sum()
    }

    /// bumper on an explicit buffer passed by `&mut` (`AllocBuffer` or `SlabBuffer`).
    #[inline(never)]
    pub fn bumper<B: Buffer>(x: &[i64], buf: &mut B) -> i64 {
        buf.no_escape(|s| body(s, x))
    }

    /// bumper on the thread's default buffer (`bumper::no_escape`).
    #[inline(never)]
    pub fn bumper_default(x: &[i64]) -> i64 {
        bumper::no_escape(|s| body(s, x))
    }

    /// bump-scope: `Bump::scoped`.
    #[inline(never)]
    pub fn bump_scope_scoped(x: &[i64], bump: &mut bump_scope::Bump) -> i64 {
        bump.scoped(|b| {
            let mut y = b.alloc_slice_copy(x);
            for v in y.iter_mut() {
                *v += 1;
            }
            black_box(&*y).iter().sum()
        })
    }

    /// bumpalo, which has no scopes: allocate, then `reset` the whole arena (the closest
    /// analogue).
    #[inline(never)]
    pub fn bumpalo(x: &[i64], bump: &mut bumpalo::Bump) -> i64 {
        let y = bump.alloc_slice_copy(x);
        for v in y.iter_mut() {
            *v += 1;
        }
        let sum = black_box(&*y).iter().sum();
        bump.reset();
        sum
    }

    /// The heap: `x.iter().map(|v| v + 1).collect::<Vec<_>>()`, then the sum (malloc + free).
    #[inline(never)]
    pub fn heap_vec(x: &[i64]) -> i64 {
        let y: Vec<i64> = x.iter().map(|v| v + 1).collect();
        black_box(&*y).iter().sum()
    }
}

/// The `q` quantile (0..=1) of `values`, by nearest rank after sorting: the statistic every
/// table of this crate reports (`bench-support`'s, shared with the demo).
pub use bench_support::stats::quantile;

#[cfg(test)]
mod tests {
    use super::*;
    use bumper::{AllocBuffer, Buffer, SlabBuffer};

    #[test]
    fn scope_workloads_agree() {
        let x = scope_input();
        let expected = scope_expected();
        let mut alloc = AllocBuffer::with_capacity(ARENA_CAPACITY);
        let mut slab = SlabBuffer::new();
        let mut bumpalo = new_bumpalo();
        let mut bump_scope = new_bump_scope();
        for _ in 0..3 {
            assert_eq!(scope::bumper(&x, &mut alloc), expected);
            assert_eq!(scope::bumper(&x, &mut slab), expected);
            assert_eq!(scope::bumper_default(&x), expected);
            assert_eq!(scope::bump_scope_scoped(&x, &mut bump_scope), expected);
            assert_eq!(scope::bumpalo(&x, &mut bumpalo), expected);
            assert_eq!(scope::heap_vec(&x), expected);
        }
        assert_eq!(alloc.used(), 0);
        assert_eq!(slab.used(), 0);
        assert_eq!(bump_scope.stats().allocated(), 0);
    }

    #[test]
    fn placements_hold_the_input() {
        let input = scope_input();
        for seed in 0..5 {
            let inputs = ScopeInputs::new(seed);
            let mut cycle = Cycle::default();
            let mut seen = [false; PLACEMENTS];
            for _ in 0..PLACEMENTS {
                let k = cycle.next_index();
                seen[k] = true;
                assert_eq!(inputs.get(k), &input[..]);
            }
            assert!(seen.iter().all(|&s| s));
        }
    }

    #[test]
    fn fast_path_workloads_free_everything() {
        let mut alloc = AllocBuffer::with_capacity(ARENA_CAPACITY);
        let mut slab = SlabBuffer::new();
        let mut bumpalo = new_bumpalo();
        let mut bump_scope = new_bump_scope();
        for _ in 0..3 {
            fast_path::bumper(&mut alloc);
            fast_path::bumper(&mut slab);
            fast_path::bumpalo(&mut bumpalo);
            fast_path::bump_scope_reset(&mut bump_scope);
            fast_path::bump_scope_scoped(&mut bump_scope);
            fast_path::malloc_free_each();
            fast_path::malloc_free_batch();
        }
        assert_eq!(alloc.used(), 0);
        assert_eq!(slab.stats().unwrap().used, 0);
        assert_eq!(bump_scope.stats().allocated(), 0);
    }
}
