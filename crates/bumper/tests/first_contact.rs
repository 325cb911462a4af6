//! The first things a user writes from the README: constructors without type annotations,
//! collections in a scope, scopes without importing the trait, the default buffer passed as an
//! argument, and the stats the seed inspects.

use std::panic::{catch_unwind, AssertUnwindSafe};

use bumper::allocator_api2::vec::Vec as ApiVec;
use bumper::{AllocBuffer, Buffer, SlabBuffer, DEFAULT_SLAB_SIZE};

/// The panic message of a caught panic.
fn panic_text(err: &(dyn std::any::Any + Send)) -> String {
    err.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// The seed's `f(x)`, generic over the buffer.
fn f(x: &[i64], buf: &mut impl bumper::Buffer) -> i64 {
    buf.no_escape(|s| {
        let y = s.alloc_slice_copy(x);
        y.iter_mut().for_each(|v| *v += 1);
        y.iter().sum()
    })
}

#[test]
fn slab_buffer_new_infers_the_default_slab_size() {
    let mut buf = SlabBuffer::new();
    assert_eq!(buf.slab_size(), DEFAULT_SLAB_SIZE);
    assert_eq!(f(&[1, 2, 3], &mut buf), 9);
    // Other sizes through the explicit form, with a turbofish or from the annotation.
    let small = SlabBuffer::<4096>::with_slab_size();
    assert_eq!(small.slab_size(), 4096);
    let annotated: SlabBuffer<256> = SlabBuffer::with_slab_size();
    assert_eq!(annotated.slab_size(), 256);
    let default: SlabBuffer<512> = SlabBuffer::default();
    assert_eq!(default.slab_size(), 512);
}

/// No `use bumper::Buffer` in this module: the concrete buffers' inherent methods serve.
mod without_the_trait {
    use bumper::{AllocBuffer, SlabBuffer};

    #[test]
    fn no_escape_and_checkpoint_guard_need_no_import() {
        let mut slab = SlabBuffer::new();
        assert_eq!(slab.no_escape(|s| *s.alloc(41u32) + 1), 42);
        let mut fixed = AllocBuffer::with_capacity(256);
        {
            let mut guard = fixed.checkpoint_guard();
            let v = guard.scope().alloc_slice_fill(10, 7u8);
            assert_eq!(v.len(), 10);
        }
        assert_eq!(fixed.used(), 0);
        let total = fixed.no_escape(|s| {
            s.alloc(1u8);
            s.no_escape(|inner| inner.alloc_slice_fill(3, 2u16).iter().sum::<u16>())
        });
        assert_eq!((total, fixed.used()), (6, 0));
    }
}

#[test]
fn prelude_brings_the_trait() {
    use bumper::prelude::*;
    fn g(buf: &mut impl Buffer) -> usize {
        buf.no_escape(|s| s.alloc_slice_fill(5, 0u8).len())
    }
    assert_eq!(g(&mut SlabBuffer::new()), 5);
    assert_eq!(g(&mut AllocBuffer::with_capacity(64)), 5);
}

#[test]
fn vec_new_in_takes_the_scope_as_the_closure_gets_it() {
    let mut buf = AllocBuffer::with_capacity(4096);
    let sum = buf.no_escape(|s| {
        // `s` is `&mut Scope`: the collection borrows it exclusively.
        let mut v = ApiVec::new_in(s);
        v.extend(0..100u64);
        v.push(1000);
        v.iter().sum::<u64>()
    });
    assert_eq!(sum, 4950 + 1000);
    assert_eq!(buf.used(), 0);

    // `&*s` still works and leaves the scope usable alongside.
    buf.no_escape(|s| {
        let mut v = ApiVec::new_in(&*s);
        v.push(1u32);
        let x = s.alloc(2u32);
        v.push(*x);
        assert_eq!(&v[..], &[1, 2]);
    });
}

#[test]
fn growing_vec_through_mut_scope_extends_in_place() {
    let mut buf = SlabBuffer::<4096>::with_slab_size();
    buf.no_escape(|s| {
        let mut v: ApiVec<u8, _> = ApiVec::with_capacity_in(16, &mut *s);
        let first = v.as_ptr();
        v.extend(0..200u8);
        // The newest block grew in place.
        assert_eq!(v.as_ptr(), first);
        assert_eq!(v.len(), 200);
        drop(v);
        // Dropping the newest block gave its memory back.
        assert_eq!(s.stats().unwrap().position, 0);
    });
}

#[test]
fn default_buffer_handle_works_where_a_buffer_argument_is_expected() {
    let x = [1, 2, 3];
    assert_eq!(bumper::with_default_buffer(|buf| f(&x, buf)), 9);
    // Twice through the same handle, and the buffer is back where it was.
    let before = bumper::default_buffer_stats().unwrap().used;
    let r = bumper::with_default_buffer(|buf| f(&x, buf) + f(&x, buf));
    assert_eq!(r, 18);
    assert_eq!(bumper::default_buffer_stats().unwrap().used, before);
}

#[test]
fn default_buffer_handle_serves_the_buffer_lent_by_with_buffer() {
    let mut lent = AllocBuffer::with_capacity(1024);
    let used_inside = bumper::with_buffer(&mut lent, || {
        bumper::with_default_buffer(|buf| {
            buf.alloc_layout(core::alloc::Layout::new::<u64>());
            buf.stats().unwrap().used
        })
    });
    assert_eq!(used_inside, 8);
    // Freed when `with_default_buffer` returned.
    assert_eq!(lent.used(), 0);
}

#[test]
fn default_buffer_handle_reset_frees_only_its_own_allocations() {
    // On the thread's own buffer the handle has memory of its own.
    bumper::no_escape(|outer| {
        let a = outer.alloc_slice_fill(16, 7u8);
        bumper::with_default_buffer(|buf| {
            let start = buf.stats().unwrap().used;
            buf.alloc_layout(core::alloc::Layout::new::<[u64; 4]>());
            assert!(buf.stats().unwrap().used > start);
            buf.reset();
            assert_eq!(buf.stats().unwrap().used, start);
        });
        // The outer allocation is intact, and the outer scope allocates again after the handle.
        assert_eq!(a, &[7u8; 16]);
        let b = outer.alloc(1u8);
        assert_eq!(*b, 1);
    });
    // On a lent buffer, shared with the outer scope, the reset stops at the handle's start.
    let mut lent = AllocBuffer::with_capacity(1024);
    bumper::with_buffer(&mut lent, || {
        bumper::no_escape(|outer| {
            let a = outer.alloc_slice_fill(16, 7u8);
            let used = outer.stats().unwrap().used;
            bumper::with_default_buffer(|buf| {
                buf.alloc_layout(core::alloc::Layout::new::<[u64; 4]>());
                assert!(buf.stats().unwrap().used > used);
                buf.reset();
                assert_eq!(buf.stats().unwrap().used, used);
            });
            assert_eq!(a, &[7u8; 16]);
            assert_eq!(*outer.alloc(1u8), 1);
        });
    });
}

#[test]
fn an_outer_default_scope_stays_usable_inside_an_inner_one_on_the_threads_own_buffer() {
    // Each open default scope has memory of its own: what the handle allocates while an inner
    // scope is open outlives the inner scope.
    bumper::with_default_buffer(|buf| {
        let kept = bumper::no_escape(|inner| {
            let x = inner.alloc_slice_fill(64, 1u8);
            let kept = buf
                .alloc_layout(core::alloc::Layout::new::<u64>())
                .cast::<u64>();
            // SAFETY: fresh memory for a `u64` from the handle, which outlives this scope.
            unsafe { kept.as_ptr().write(7) };
            assert_eq!(x.iter().map(|&b| u32::from(b)).sum::<u32>(), 64);
            kept
        });
        // The inner scope's end freed its own memory only.
        bumper::no_escape(|again| {
            again.alloc_slice_fill(64, 0xffu8);
        });
        // SAFETY: allocated from the handle above, which is still alive.
        assert_eq!(unsafe { kept.as_ptr().read() }, 7);
    });
    bumper::no_escape(|outer| {
        let a = outer.alloc(1u64);
        bumper::with_default_buffer(|_buf| {
            *a += *outer.alloc(2u64);
        });
        assert_eq!(*a, 3);
    });
}

#[test]
fn inner_default_scope_suspends_the_handle_on_a_lent_buffer() {
    let mut lent = AllocBuffer::with_capacity(1024);
    let err = catch_unwind(AssertUnwindSafe(|| {
        bumper::with_buffer(&mut lent, || {
            bumper::with_default_buffer(|buf| {
                bumper::no_escape(|_inner| {
                    // The inner scope's end would free this: refused.
                    buf.alloc_layout(core::alloc::Layout::new::<u64>());
                });
            });
        });
    }))
    .unwrap_err();
    assert!(
        panic_text(&*err).contains("inner default-buffer scope is open"),
        "{}",
        panic_text(&*err)
    );
    // The handle suspends an outer default scope in turn.
    let err = catch_unwind(AssertUnwindSafe(|| {
        bumper::with_buffer(&mut lent, || {
            bumper::no_escape(|outer| {
                bumper::with_default_buffer(|_buf| {
                    outer.alloc(1u8);
                });
            });
        });
    }))
    .unwrap_err();
    assert!(panic_text(&*err).contains("inner default-buffer scope is open"));
    // And everything works again afterwards, with the lent buffer back at its start.
    assert_eq!(lent.used(), 0);
    assert_eq!(
        bumper::with_buffer(&mut lent, || bumper::with_default_buffer(|buf| f(
            &[1],
            buf
        ))),
        2
    );
}

#[test]
fn stats_show_the_position_and_the_slab_end() {
    let mut slab = SlabBuffer::<1024>::with_slab_size();
    let stats = slab.stats_now();
    assert_eq!((stats.position, stats.slab_end), (0, 0)); // no slab yet
    slab.no_escape(|s| {
        s.alloc_slice_fill(100, 0u8);
        let st = s.stats().unwrap();
        assert_eq!(
            (st.position, st.slab_end, st.slab_remaining()),
            (100, 1024, 924)
        );
        s.alloc_slice_fill(500, 0u8);
        s.alloc_slice_fill(500, 0u8); // doesn't fit: the next slab
        let st = s.stats().unwrap();
        assert_eq!((st.position, st.slab_end, st.slabs), (500, 1024, 2));
    });
    let mut fixed = AllocBuffer::with_capacity(64);
    fixed.no_escape(|s| {
        s.alloc(1u8);
        s.alloc(1u32); // padded to 4
        let st = s.stats().unwrap();
        assert_eq!((st.position, st.slab_end, st.slab_remaining()), (8, 64, 56));
    });
}

/// `stats` through the trait, in one place, so the test above reads plainly.
trait StatsNow {
    fn stats_now(&self) -> bumper::BufferStats;
}

impl<B: bumper::Buffer> StatsNow for B {
    fn stats_now(&self) -> bumper::BufferStats {
        self.stats().expect("the crate's buffers keep stats")
    }
}

#[test]
fn a_scope_ends_right_on_panic_with_new_slabs_and_big_allocations() {
    // A fresh buffer: its first scope makes the bookkeeping, slabs and big allocations, then
    // panics; the buffer is back at its start, the big allocations are freed, the slabs kept.
    let mut buf = SlabBuffer::<1024>::with_slab_size();
    let err = catch_unwind(AssertUnwindSafe(|| {
        buf.no_escape(|s| {
            for _ in 0..5 {
                s.alloc_slice_fill(400, 1u8);
            }
            s.alloc_slice_fill(5000, 2u8); // big
            s.no_escape(|inner| {
                inner.alloc_slice_fill(3000, 3u8); // big, freed by the inner scope
                inner.alloc_slice_fill(400, 3u8);
            });
            s.alloc_slice_fill(6000, 4u8); // big
            assert_eq!(s.stats().unwrap().big_allocations, 2);
            panic!("boom");
        })
    }))
    .unwrap_err();
    assert_eq!(panic_text(&*err), "boom");
    let st = buf.stats_now();
    assert_eq!(
        (
            st.used,
            st.big_allocations,
            st.slabs,
            st.spare_slabs,
            st.position
        ),
        (0, 0, 3, 2, 0)
    );
    // And it works on: the same slabs serve the next scope, whose allocations don't overlap.
    buf.no_escape(|s| {
        let a = s.alloc_slice_fill(400, 5u8);
        let b = s.alloc_slice_fill(400, 6u8);
        let c = s.alloc_slice_fill(400, 7u8); // the second slab
        assert!(a.iter().all(|&x| x == 5) && b.iter().all(|&x| x == 6));
        assert!(c.iter().all(|&x| x == 7));
        assert_eq!(s.stats().unwrap().slabs, 3);
    });
    // Returning normally does the same.
    let used = buf.no_escape(|s| {
        s.alloc_slice_fill(5000, 0u8);
        s.alloc(1u64);
        s.stats().unwrap().used
    });
    assert!(used > 5000);
    assert_eq!(buf.stats_now().big_allocations, 0);
    assert_eq!(buf.used(), 0);
}

#[test]
fn checkpoints_taken_inside_a_scope_work_on_the_scope_buffer() {
    let mut buf = AllocBuffer::with_capacity(256);
    buf.no_escape(|s| {
        s.alloc(1u64);
        let guard_used = s.no_escape(|inner| {
            inner.alloc(2u64);
            inner.stats().unwrap().used
        });
        assert_eq!(guard_used, 16);
        assert_eq!(s.stats().unwrap().used, 8);
    });
    assert_eq!(buf.used(), 0);
    // A guard on the buffer after a scope sees the restored position.
    let mut guard = buf.checkpoint_guard();
    assert_eq!(guard.scope().stats().unwrap().used, 0);
}
