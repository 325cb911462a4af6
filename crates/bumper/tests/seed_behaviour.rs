//! The behaviour the original test suite pins, ported: round trips, rewinding, nesting, big
//! requests, panics, per-thread default buffers, `with_buffer`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use bumper::{AllocBuffer, AllocError, Buffer, DefaultBufferKind, SlabBuffer};

/// The seed's `f(x)`: sum of `x .+ 1` through a scope on an explicit buffer.
fn f_explicit(x: &[i64], buf: &mut impl Buffer) -> i64 {
    buf.no_escape(|s| {
        let y = s.alloc_slice_copy(x);
        y.iter_mut().for_each(|v| *v += 1);
        y.iter().sum()
    })
}

/// The seed's `f(x)` on the default buffer.
fn f_default(x: &[i64]) -> i64 {
    bumper::no_escape(|s| {
        let y = s.alloc_slice_fill_with(x.len(), |i| x[i] + 1);
        y.iter().sum()
    })
}

/// The panic message of a caught panic.
fn panic_text(err: &(dyn std::any::Any + Send)) -> String {
    err.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[test]
fn round_trips_give_nine() {
    let x = [1, 2, 3];
    assert_eq!(f_explicit(&x, &mut AllocBuffer::with_capacity(100)), 9);
    assert_eq!(f_explicit(&x, &mut SlabBuffer::<1024>::with_slab_size()), 9);
    assert_eq!(f_default(&x), 9);
    let mut storage = [0u8; 64];
    assert_eq!(f_explicit(&x, &mut AllocBuffer::from(&mut storage)), 9);
    assert_eq!(f_explicit(&x, &mut AllocBuffer::from(vec![0u8; 64])), 9);
    assert_eq!(
        f_explicit(&x, &mut AllocBuffer::from(vec![0u8; 64].into_boxed_slice())),
        9
    );
    let mut uninit = [std::mem::MaybeUninit::<u8>::uninit(); 64];
    assert_eq!(f_explicit(&x, &mut AllocBuffer::from(&mut uninit)), 9);
}

#[test]
fn buffer_rewinds_to_its_start_after_a_scope() {
    let mut fixed = AllocBuffer::with_capacity(4096);
    let mut slab: SlabBuffer<4096> = SlabBuffer::with_slab_size();
    for _ in 0..3 {
        assert_eq!(f_explicit(&[5; 100], &mut fixed), 600);
        assert_eq!(f_explicit(&[5; 100], &mut slab), 600);
        assert_eq!(fixed.used(), 0);
        assert_eq!(slab.used(), 0);
    }
    // Allocation addresses repeat: the same memory is reused every time.
    let a = fixed.no_escape(|s| s.alloc(0u64) as *mut u64 as usize);
    let b = fixed.no_escape(|s| s.alloc(0u64) as *mut u64 as usize);
    assert_eq!(a, b);
}

#[test]
fn nested_scopes_put_the_inner_allocation_right_after_the_outer_one() {
    fn check(buf: &mut impl Buffer) {
        buf.no_escape(|s| {
            let outer = s.alloc_slice_fill(4, 1u64);
            let outer_end = outer.as_ptr() as usize + 4 * 8;
            s.no_escape(|inner| {
                let x = inner.alloc_slice_fill(2, 2u64);
                assert_eq!(x.as_ptr() as usize, outer_end);
            });
            // The inner allocation was freed: the next one takes its place again.
            let again = s.alloc(3u64) as *mut u64 as usize;
            assert_eq!(again, outer_end);
            assert_eq!(outer, &[1, 1, 1, 1]);
        });
    }
    check(&mut AllocBuffer::with_capacity(1024));
    check(&mut SlabBuffer::<1024>::with_slab_size());
}

#[test]
fn a_big_request_becomes_a_separate_slab_and_leaves_the_bump_position_alone() {
    let mut buf: SlabBuffer<1024> = SlabBuffer::with_slab_size();
    buf.no_escape(|s| {
        let first = s.alloc(1u8) as *mut u8 as usize;
        let before = s.stats().unwrap();
        let big = s.alloc_slice_fill(600, 7u8); // > 512 = half a slab
        assert!(big.iter().all(|&b| b == 7));
        let after = s.stats().unwrap();
        assert_eq!(after.big_allocations, 1);
        assert_eq!(after.used - before.used, 600, "only the big block counts");
        assert_eq!(after.slabs, before.slabs, "no slab was opened for it");
        // The bump position did not move: the next small allocation is adjacent to the first.
        let next = s.alloc(2u8) as *mut u8 as usize;
        assert_eq!(next, first + 1);
    });
    let stats = buf.stats().unwrap();
    assert_eq!(
        (stats.used, stats.big_allocations),
        (0, 0),
        "the restore freed the big block"
    );
}

#[test]
fn a_panic_inside_a_scope_leaves_the_buffer_as_it_was_before_the_scope() {
    let mut fixed = AllocBuffer::with_capacity(1024);
    let mut slab: SlabBuffer<256> = SlabBuffer::with_slab_size();
    let before_fixed = fixed.used();
    let r = catch_unwind(AssertUnwindSafe(|| {
        fixed.no_escape(|s| {
            s.alloc_slice_fill(100, 0u8);
            panic!("boom");
        })
    }));
    assert!(r.is_err());
    assert_eq!(fixed.used(), before_fixed);

    let r = catch_unwind(AssertUnwindSafe(|| {
        slab.no_escape(|s| {
            for _ in 0..10 {
                s.alloc_slice_fill(100, 0u8); // crosses slabs
            }
            s.alloc_slice_fill(1000, 0u8); // big
            panic!("boom");
        })
    }));
    assert!(r.is_err());
    let stats = slab.stats().unwrap();
    assert_eq!((stats.used, stats.big_allocations), (0, 0));

    // The default buffer too.
    let before = bumper::default_buffer_stats().unwrap().used;
    let r = catch_unwind(|| {
        bumper::no_escape(|s| {
            s.alloc_slice_fill(1000, 0u8);
            panic!("boom");
        })
    });
    assert!(r.is_err());
    assert_eq!(bumper::default_buffer_stats().unwrap().used, before);
}

#[test]
fn a_full_fixed_buffer_reports_what_was_asked_and_stays_unchanged() {
    let mut buf = AllocBuffer::with_capacity(64);
    buf.no_escape(|s| {
        s.alloc(0u8);
        let err = s.try_alloc_slice_fill(100, 0u32).unwrap_err();
        assert_eq!(
            err,
            AllocError::BufferFull {
                requested: 400,
                align: 4,
                available: 63,
                capacity: 64
            }
        );
        assert_eq!(s.stats().unwrap().used, 1);
        let err = catch_unwind(AssertUnwindSafe(|| {
            s.alloc_slice_fill(100, 0u32);
        }))
        .unwrap_err();
        assert_eq!(
            panic_text(&*err),
            "bump buffer full: requested 400 bytes (align 4), 63 bytes free of 64 bytes capacity"
        );
        assert_eq!(s.stats().unwrap().used, 1);
        // What is left is still usable.
        assert_eq!(s.alloc_slice_fill(63, 9u8).len(), 63);
    });
}

#[test]
fn every_allocation_is_aligned_for_its_type() {
    #[repr(align(64))]
    #[derive(Clone, Copy)]
    struct Line([u8; 64]);
    let mut buf: SlabBuffer<4096> = SlabBuffer::with_slab_size();
    buf.no_escape(|s| {
        for i in 0..50 {
            s.alloc_slice_fill(i % 7, 1u8);
            assert_eq!(s.alloc(0u16) as *mut u16 as usize % 2, 0);
            assert_eq!(s.alloc(0u64) as *mut u64 as usize % 8, 0);
            assert_eq!(s.alloc(0u128) as *mut u128 as usize % 16, 0);
            let line = s.alloc(Line([7; 64]));
            assert_eq!(line as *mut Line as usize % 64, 0);
            assert_eq!(line.0[63], 7);
        }
    });
}

#[test]
fn zero_sized_requests_and_zero_length_arrays_work() {
    let mut buf = AllocBuffer::with_capacity(0);
    buf.no_escape(|s| {
        let empty: &mut [u64] = s.alloc_slice_fill(0, 1);
        assert!(empty.is_empty());
        let unit = s.alloc(());
        assert_eq!(*unit, ());
        let a = s.alloc_array_zeroed::<f32, _>((3, 0, 2));
        assert_eq!(a.shape(), &[3, 0, 2]);
    });
    let mut slab: SlabBuffer<256> = SlabBuffer::with_slab_size();
    slab.no_escape(|s| {
        let zst = s.alloc_slice_fill(1000, ());
        assert_eq!(zst.len(), 1000);
    });
    assert_eq!(
        slab.stats().unwrap().slabs,
        0,
        "zero-sized requests need no slab"
    );
}

#[test]
fn n_dimensional_arrays_of_any_rank() {
    let mut buf = SlabBuffer::new();
    buf.no_escape(|s| {
        let mut a3 = s.alloc_array_fill((2, 3, 4), 1.0f64);
        a3[[1, 2, 3]] = 10.0;
        assert_eq!(a3.sum(), 24.0 - 1.0 + 10.0);
        let a0 = s.alloc_array_zeroed::<i32, _>(());
        assert_eq!(a0.ndim(), 0);
        assert_eq!(a0.len(), 1);
        let a5 = s.alloc_array_zeroed::<u8, _>([1, 2, 1, 2, 1]);
        assert_eq!(a5.len(), 4);
        let dynamic = s.alloc_array_fill(ndarray::IxDyn(&[2, 2, 2, 2, 2, 2]), 1u8);
        assert_eq!(dynamic.len(), 64);
        assert_eq!(
            s.try_alloc_array_zeroed::<u8, _>((usize::MAX / 2, 4))
                .unwrap_err(),
            AllocError::SizeOverflow
        );
        assert_eq!(
            s.try_alloc_array_zeroed::<u64, _>((usize::MAX / 16, 4))
                .unwrap_err(),
            AllocError::SizeOverflow
        );
    });
}

#[test]
fn per_thread_default_buffers_differ_and_are_made_lazily() {
    let here = bumper::default_buffer_addr() as usize;
    assert_eq!(
        bumper::default_buffer_addr() as usize,
        here,
        "same thread, same buffer"
    );
    let there = std::thread::spawn(|| {
        assert!(
            !bumper::default_buffer_exists(),
            "a new thread has no buffer until it uses one"
        );
        let addr = bumper::default_buffer_addr() as usize;
        assert!(bumper::default_buffer_exists());
        addr
    })
    .join()
    .unwrap();
    assert_ne!(here, there);
    std::thread::spawn(|| {
        std::hint::black_box(1 + 1);
        assert!(
            !bumper::default_buffer_exists(),
            "a thread that doesn't use it never makes one"
        );
    })
    .join()
    .unwrap();
}

#[test]
fn with_buffer_nests_and_restores() {
    let current = || bumper::default_buffer_addr() as usize;
    let own = current();
    let mut b2 = SlabBuffer::new();
    let mut b3 = AllocBuffer::with_capacity(256);
    let b2_addr = &b2 as *const SlabBuffer as usize;
    let b3_addr = &b3 as *const AllocBuffer as usize;
    bumper::with_buffer(&mut b2, || {
        assert_eq!(current(), b2_addr);
        assert_eq!(f_default(&[1, 2, 3]), 9);
        bumper::with_buffer(&mut b3, || {
            assert_eq!(current(), b3_addr);
            assert_eq!(f_default(&[1, 2, 3]), 9);
        });
        assert_eq!(current(), b2_addr);
    });
    assert_eq!(current(), own);

    // Restored also when the closure panics.
    let r = catch_unwind(AssertUnwindSafe(|| {
        bumper::with_buffer(&mut b3, || panic!("boom"))
    }));
    assert!(r.is_err());
    assert_eq!(current(), own);
}

#[test]
fn with_buffer_serves_default_scopes_from_the_lent_buffer() {
    let mut lent = AllocBuffer::with_capacity(1024);
    let range = lent.memory_range();
    let mut seen = Vec::new();
    bumper::with_buffer(&mut lent, || {
        bumper::no_escape(|s| {
            seen.push(s.alloc(1u64) as *mut u64 as usize);
            bumper::no_escape(|t| seen.push(t.alloc(2u64) as *mut u64 as usize));
        });
    });
    assert_eq!(seen.len(), 2);
    assert!(
        seen.iter().all(|p| range.contains(p)),
        "{seen:x?} not in {range:x?}"
    );
    assert_eq!(lent.used(), 0);
}

#[test]
fn default_scopes_nest_across_functions() {
    fn inner() -> u64 {
        bumper::no_escape(|s| s.alloc_slice_fill(10, 2u64).iter().sum())
    }
    let total = bumper::no_escape(|s| {
        let a = s.alloc(40u64);
        let b = inner(); // opens its own default scope
        *a + b + *s.alloc(0u64) // the outer scope is usable again afterwards
    });
    assert_eq!(total, 60);
}

#[test]
fn an_outer_default_scope_stays_usable_inside_an_inner_one() {
    // Each open scope on the thread's own default buffer has memory of its own, so the outer
    // scope's allocation made while the inner one is open survives the inner scope's end.
    let total = bumper::no_escape(|outer| {
        let kept = bumper::no_escape(|inner| {
            let scratch = inner.alloc_slice_fill(100, 9u8);
            let kept = outer.alloc_slice_fill(100, 1u8);
            scratch[0] + kept[0]
        });
        assert_eq!(kept, 10);
        let a = outer.alloc(5u64);
        bumper::no_escape(|again| {
            again.alloc_slice_fill(1000, 0xffu8);
        });
        *a
    });
    assert_eq!(total, 5);
}

#[test]
fn using_an_outer_scope_of_a_lent_default_buffer_inside_an_inner_one_panics() {
    let mut lent = AllocBuffer::with_capacity(256);
    let r = catch_unwind(AssertUnwindSafe(|| {
        bumper::with_buffer(&mut lent, || {
            bumper::no_escape(|outer| {
                bumper::no_escape(|_inner| {
                    outer.alloc(1u8); // would be freed by the inner scope's end
                });
            })
        })
    }));
    let text = panic_text(&*r.unwrap_err());
    assert!(text.contains("outer scope of the default buffer"), "{text}");
    // The buffer is usable afterwards and back at its start.
    assert_eq!(lent.used(), 0);
    assert_eq!(bumper::with_buffer(&mut lent, || f_default(&[1, 2, 3])), 9);
}

#[test]
fn an_outer_default_scope_stays_usable_inside_with_buffer() {
    let mut other = AllocBuffer::with_capacity(256);
    bumper::no_escape(|outer| {
        let a = outer.alloc(1u32);
        bumper::with_buffer(&mut other, || {
            bumper::no_escape(|inner| {
                let b = inner.alloc(2u32);
                // Different buffers: the outer scope may allocate.
                let c = outer.alloc(3u32);
                *a += *b + *c;
            });
        });
        assert_eq!(*a, 6);
    });
}

#[test]
fn resetting_the_default_buffer_is_refused_inside_a_default_scope() {
    bumper::no_escape(|s| {
        s.alloc(1u8);
        assert_eq!(
            bumper::reset_default_buffer(),
            Err(bumper::DefaultBufferError::ScopeOpen)
        );
        assert_eq!(
            bumper::reset_default_buffer().unwrap_err().to_string(),
            "a scope is open on the current default buffer; it can't be reset inside it"
        );
    });
    // A lent buffer with no scope open on it can be reset, even inside a scope on another one.
    let mut lent = AllocBuffer::with_capacity(64);
    bumper::no_escape(|_| {
        bumper::with_buffer(&mut lent, || {
            assert_eq!(bumper::reset_default_buffer(), Ok(()))
        });
    });
    assert_eq!(bumper::reset_default_buffer(), Ok(()));
}

#[test]
fn a_suspended_outer_default_scope_resumes_when_the_inner_one_ends_even_by_panic() {
    bumper::no_escape(|outer| {
        let a = outer.alloc(1u64);
        let r = catch_unwind(AssertUnwindSafe(|| {
            bumper::no_escape(|_inner| panic!("boom"))
        }));
        assert!(r.is_err());
        *a += *outer.alloc(2u64); // usable again
        assert_eq!(*a, 3);
        // Explicit nesting on the default scope, with a default scope inside that.
        outer.no_escape(|mid| {
            let b = mid.alloc(4u64);
            assert_eq!(f_default(&[1, 2, 3]), 9);
            *b += 1;
            assert_eq!(*b, 5);
        });
    });
}

#[test]
fn choosing_the_default_buffer_kind_before_first_use() {
    std::thread::spawn(|| {
        bumper::set_default_buffer_kind(DefaultBufferKind::Fixed { capacity: 1000 }).unwrap();
        bumper::no_escape(|s| {
            assert!(s.try_alloc_slice_fill(999, 0u8).is_ok());
            assert!(matches!(
                s.try_alloc(0u64),
                Err(AllocError::BufferFull { capacity: 1000, .. })
            ));
        });
        assert_eq!(
            bumper::set_default_buffer_kind(DefaultBufferKind::Slab),
            Err(bumper::DefaultBufferError::AlreadyCreated)
        );
    })
    .join()
    .unwrap();
}

#[test]
fn slabs_opened_in_a_scope_are_kept_for_reuse_and_can_be_released() {
    let mut buf: SlabBuffer<1024> = SlabBuffer::with_slab_size();
    for _ in 0..3 {
        buf.no_escape(|s| {
            for _ in 0..8 {
                s.alloc_slice_fill(500, 0u8);
            }
        });
        let stats = buf.stats().unwrap();
        assert_eq!((stats.slabs, stats.spare_slabs, stats.used), (4, 3, 0));
    }
    assert_eq!(buf.release_spare_slabs(), 3);
    assert_eq!(buf.stats().unwrap().slabs, 1);
    buf.reset();
    assert_eq!(buf.used(), 0);
}

#[test]
fn reset_frees_everything() {
    let mut buf: SlabBuffer<512> = SlabBuffer::with_slab_size();
    {
        let mut guard = buf.checkpoint_guard();
        let s = guard.scope();
        s.alloc_slice_fill(300, 1u8); // big
        s.alloc_slice_fill(200, 1u8);
        s.alloc_slice_fill(200, 1u8);
    }
    let stats = buf.stats().unwrap();
    assert_eq!((stats.used, stats.big_allocations, stats.slabs), (0, 0, 1));
    buf.alloc_layout(std::alloc::Layout::new::<[u8; 300]>());
    buf.alloc_layout(std::alloc::Layout::new::<[u8; 100]>());
    assert_eq!(buf.stats().unwrap().big_allocations, 1);
    buf.reset();
    let stats = buf.stats().unwrap();
    assert_eq!((stats.used, stats.big_allocations), (0, 0));
}

#[test]
fn checkpoint_guard_restores_on_drop() {
    let mut buf = AllocBuffer::with_capacity(1024);
    {
        let mut guard = buf.checkpoint_guard();
        let s = guard.scope();
        let v = s.alloc_slice_copy(&[1, 2, 3]);
        v[0] = 4;
        assert_eq!(v, &[4, 2, 3]);
        assert_eq!(s.stats().unwrap().used, 12);
    }
    assert_eq!(buf.used(), 0);
}

#[test]
fn slice_forms() {
    let mut buf = AllocBuffer::with_capacity(4096);
    buf.no_escape(|s| {
        let strings = s.alloc_slice_clone(&[String::from("a"), String::from("b")]);
        assert_eq!(strings.concat(), "ab");
        // Values in a scope are never dropped: drop these ourselves, so their heap memory is
        // not leaked.
        // SAFETY: dropped once, and not used afterwards.
        unsafe { std::ptr::drop_in_place(strings) };
        assert_eq!(s.alloc_slice_zeroed::<u32>(3), &[0, 0, 0]);
        assert_eq!(s.alloc_str("héllo"), "héllo");
        let uninit = s.alloc_uninit_slice::<u16>(4);
        assert_eq!(uninit.len(), 4);
        // An iterator that yields fewer items than it claims gives a shorter slice.
        struct Liar(u8);
        impl Iterator for Liar {
            type Item = u8;
            fn next(&mut self) -> Option<u8> {
                (self.0 < 2).then(|| {
                    self.0 += 1;
                    self.0
                })
            }
        }
        impl ExactSizeIterator for Liar {
            fn len(&self) -> usize {
                5
            }
        }
        assert_eq!(s.alloc_slice_from_iter(Liar(0)), &[1, 2]);
        assert_eq!(s.alloc_with(|| [7u8; 3]), &[7, 7, 7]);
        assert_eq!(
            s.try_alloc_uninit_slice::<u64>(usize::MAX / 4).unwrap_err(),
            AllocError::SizeOverflow
        );
    });
}

#[test]
fn debug_output_is_informative() {
    let mut buf: SlabBuffer<1024> = SlabBuffer::with_slab_size();
    buf.no_escape(|s| {
        s.alloc(1u8);
        let text = format!("{s:?}");
        assert!(text.contains("Scope") && text.contains("used: 1"), "{text}");
    });
    let text = format!("{buf:?}");
    assert!(
        text.contains("SlabBuffer") && text.contains("slab_size: 1024"),
        "{text}"
    );
    let text = format!("{:?}", AllocBuffer::with_capacity(8));
    assert_eq!(
        text,
        "AllocBuffer { used: 0, capacity: 8, memory: \"owned\" }"
    );
    let stats = buf.stats().unwrap();
    assert_eq!(
        stats.to_string(),
        "0 of 1024 bytes used, 1 slab(s) (0 spare), 0 big allocation(s)"
    );
}

#[test]
fn only_the_newest_block_resizes_in_place() {
    use std::alloc::Layout;
    fn check(buf: &mut impl Buffer, room: usize) {
        let l16 = Layout::from_size_align(16, 8).unwrap();
        let a = buf.alloc_layout(l16);
        let b = buf.alloc_layout(l16);
        let used = buf.stats().unwrap().used;
        // SAFETY: (all calls) `a` and `b` are live blocks of `buf` for `l16`.
        unsafe {
            assert!(!buf.try_resize_last(a, l16, 32), "not the newest");
            assert_eq!(buf.stats().unwrap().used, used);
            assert!(buf.try_resize_last(b, l16, 48), "the newest grows");
            assert_eq!(buf.stats().unwrap().used, used + 32);
            assert!(
                !buf.try_resize_last(b, Layout::from_size_align(48, 8).unwrap(), room),
                "no room"
            );
            assert!(
                buf.try_resize_last(b, Layout::from_size_align(48, 8).unwrap(), 8),
                "shrinks"
            );
            assert_eq!(buf.stats().unwrap().used, used - 8);
            assert!(
                buf.try_resize_last(b, Layout::from_size_align(8, 8).unwrap(), 0),
                "frees"
            );
            assert_eq!(buf.stats().unwrap().used, used - 16);
        }
        buf.reset();
    }
    check(&mut AllocBuffer::with_capacity(256), 1000);
    check(&mut SlabBuffer::<256>::with_slab_size(), 1000);
}
