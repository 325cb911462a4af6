//! Bad input gives a clear error (a `Result`, or a panic whose message names the problem), and
//! never undefined behaviour: overflowing shapes, sizes near `isize::MAX`, huge alignments,
//! zero-capacity buffers, zero-byte requests, and checkpoints that don't belong.

use core::alloc::Layout;
use std::mem::MaybeUninit;
use std::panic::{catch_unwind, AssertUnwindSafe};

use bumper::{AllocBuffer, AllocError, Buffer, SlabBuffer};

/// The panic message of a caught panic.
fn panic_text(err: &(dyn std::any::Any + Send)) -> String {
    err.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Runs `f`, expecting a panic, and returns its message.
fn panics(f: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    panic_text(&*err)
}

/// Runs `check` on a fixed and a growable buffer.
fn on_both(mut check: impl FnMut(&mut dyn FnMut(Layout) -> Result<usize, AllocError>)) {
    let mut fixed = AllocBuffer::with_capacity(4096);
    check(&mut |layout| fixed.try_alloc_layout(layout).map(|p| p.as_ptr() as usize));
    let mut slab = SlabBuffer::<4096>::with_slab_size();
    check(&mut |layout| slab.try_alloc_layout(layout).map(|p| p.as_ptr() as usize));
}

#[cfg(feature = "ndarray")]
#[test]
fn array_shapes_whose_product_overflows_are_errors() {
    let mut buf = SlabBuffer::new();
    buf.no_escape(|s| {
        let too_many = [
            vec![usize::MAX, 2],
            vec![1 << 32, 1 << 32],
            vec![1 << 21, 1 << 21, 1 << 21],
            vec![isize::MAX as usize, 2],
        ];
        for shape in &too_many {
            let err = s
                .try_alloc_array_zeroed::<u8, _>(ndarray::IxDyn(shape))
                .unwrap_err();
            assert_eq!(err, AllocError::SizeOverflow, "{shape:?}");
            let err = s
                .try_alloc_array_fill(ndarray::IxDyn(shape), 0u8)
                .unwrap_err();
            assert_eq!(err, AllocError::SizeOverflow, "{shape:?}");
            let err = s
                .try_alloc_array_uninit::<u64, _>(ndarray::IxDyn(shape))
                .unwrap_err();
            assert_eq!(err, AllocError::SizeOverflow, "{shape:?}");
        }
        // The element count fits but the byte size does not.
        let err = s
            .try_alloc_array_zeroed::<u64, _>((1usize << 31, 1usize << 31))
            .unwrap_err();
        assert_eq!(err, AllocError::SizeOverflow);
        // A zero-length axis: no elements at all, as long as the other axes stay within
        // ndarray's limit (their product at most isize::MAX).
        let empty = s.alloc_array_zeroed::<u64, _>((isize::MAX as usize, 0));
        assert_eq!(
            (empty.len(), empty.shape()),
            (0, &[isize::MAX as usize, 0][..])
        );
        assert_eq!(
            s.try_alloc_array_zeroed::<u64, _>((usize::MAX, 0))
                .unwrap_err(),
            AllocError::SizeOverflow
        );
        assert_eq!(
            s.try_alloc_array_zeroed::<u64, _>((1usize << 32, 0, 1usize << 32))
                .unwrap_err(),
            AllocError::SizeOverflow
        );
        // Zero-sized elements: a huge count costs no memory, but ndarray's own limit holds.
        let used = s.stats().unwrap().used;
        let units = s.alloc_array_uninit::<(), _>((1usize << 40, 4));
        assert_eq!(units.len(), 1 << 42);
        assert_eq!(s.stats().unwrap().used, used);
        assert_eq!(
            s.try_alloc_array_fill((usize::MAX, 2), ()).unwrap_err(),
            AllocError::SizeOverflow
        );
        // The panicking form names the problem.
        let text = panics(|| {
            let _ = s.alloc_array_zeroed::<u32, _>((usize::MAX, 3));
        });
        assert!(text.contains("overflows"), "{text}");
        // Nothing of this moved the buffer.
        assert_eq!(s.stats().unwrap().used, 0);
    });
}

#[test]
fn slices_whose_byte_size_overflows_are_errors() {
    let mut buf = AllocBuffer::with_capacity(256);
    buf.no_escape(|s| {
        for len in [usize::MAX, usize::MAX / 8 + 1, isize::MAX as usize / 4] {
            assert_eq!(
                s.try_alloc_uninit_slice::<u64>(len).unwrap_err(),
                AllocError::SizeOverflow,
                "{len}"
            );
            assert_eq!(
                s.try_alloc_slice_fill(len, 0u64).unwrap_err(),
                AllocError::SizeOverflow
            );
            assert_eq!(
                s.try_alloc_slice_zeroed::<u64>(len).unwrap_err(),
                AllocError::SizeOverflow
            );
        }
        let text = panics(|| {
            let _ = s.alloc_slice_fill(usize::MAX, 0u32);
        });
        assert!(text.contains("exceeds isize::MAX"), "{text}");
        assert_eq!(s.stats().unwrap().used, 0);
    });
}

#[test]
#[cfg_attr(miri, ignore)] // Miri treats an allocation this large as resource exhaustion.
fn sizes_near_isize_max_are_refused_cleanly() {
    let huge = [
        isize::MAX as usize,
        isize::MAX as usize - 63,
        isize::MAX as usize / 2 + 1,
    ];
    for size in huge {
        let layout = Layout::from_size_align(size, 1).unwrap();
        // A fixed buffer: full.
        let mut fixed = AllocBuffer::with_capacity(1024);
        match fixed.try_alloc_layout(layout) {
            Err(AllocError::BufferFull {
                requested,
                available: 1024,
                capacity: 1024,
                ..
            }) => assert_eq!(requested, size),
            other => panic!("{size}: {other:?}"),
        }
        assert_eq!(fixed.used(), 0);
        // A growable buffer: the system allocator refuses, and says so.
        let mut slab = SlabBuffer::<4096>::with_slab_size();
        assert_eq!(
            slab.try_alloc_layout(layout).unwrap_err(),
            AllocError::OutOfMemory { requested: size }
        );
        assert_eq!(slab.stats().unwrap().big_allocations, 0);
        // The buffers still work.
        assert!(fixed.try_alloc_layout(Layout::new::<u64>()).is_ok());
        assert!(slab.try_alloc_layout(Layout::new::<u64>()).is_ok());
    }
    // A panicking allocation names the problem.
    let mut slab = SlabBuffer::new();
    let text = panics(|| {
        slab.alloc_layout(Layout::from_size_align(isize::MAX as usize, 1).unwrap());
    });
    assert!(
        text.contains("system allocator could not provide"),
        "{text}"
    );
    // Owned capacity: refused with an error, not an abort.
    assert_eq!(
        AllocBuffer::try_with_capacity(isize::MAX as usize).unwrap_err(),
        AllocError::SizeOverflow
    );
    assert_eq!(
        AllocBuffer::try_with_capacity(isize::MAX as usize - 63).unwrap_err(),
        AllocError::OutOfMemory {
            requested: isize::MAX as usize - 63
        }
    );
}

#[test]
fn alignments_up_to_2_pow_29_are_honoured_or_refused() {
    for shift in [5, 6, 7, 12, 16, 20, 29] {
        let align = 1usize << shift;
        // Zero bytes at any alignment: always served, aligned, in any buffer.
        on_both(|alloc| {
            let p = alloc(Layout::from_size_align(0, align).unwrap()).unwrap();
            assert_eq!(p % align, 0, "zero bytes aligned to {align}");
        });
        // A small fixed buffer can't pad to a large alignment: a clear error, nothing moved.
        let mut fixed = AllocBuffer::with_capacity(64);
        fixed.alloc_layout(Layout::new::<u8>());
        let layout = Layout::from_size_align(8, align).unwrap();
        let available = fixed.remaining();
        match fixed.try_alloc_layout(layout) {
            Ok(p) => assert_eq!(p.as_ptr() as usize % align, 0),
            Err(err) => assert_eq!(
                err,
                AllocError::BufferFull {
                    requested: 8,
                    align,
                    available,
                    capacity: 64
                }
            ),
        }
        assert!(fixed.used() <= 64);
    }
    // A growable buffer serves a big alignment with a separate allocation.
    #[cfg(not(miri))] // a 512 MiB-aligned block: too much for Miri's address space
    {
        let mut slab = SlabBuffer::<4096>::with_slab_size();
        slab.no_escape(|s| {
            let layout = Layout::from_size_align(16, 1 << 29).unwrap();
            let p = s.alloc_layout(layout);
            assert_eq!(p.as_ptr() as usize % (1 << 29), 0);
            assert_eq!(s.stats().unwrap().big_allocations, 1);
        });
        assert_eq!(slab.stats().unwrap().big_allocations, 0);
    }
    let mut slab = SlabBuffer::<4096>::with_slab_size();
    slab.no_escape(|s| {
        let layout = Layout::from_size_align(16, 1 << 12).unwrap();
        let p = s.alloc_layout(layout);
        assert_eq!(p.as_ptr() as usize % (1 << 12), 0);
    });
    // A big fixed buffer pads to a large alignment inside its memory.
    let mut big = AllocBuffer::with_capacity(1 << 14);
    big.no_escape(|s| {
        s.alloc(1u8);
        let p = s.alloc_layout(Layout::from_size_align(8, 1 << 12).unwrap());
        assert_eq!(p.as_ptr() as usize % (1 << 12), 0);
        assert!(s.stats().unwrap().used <= (1 << 12) + 8);
    });
}

#[test]
fn zero_capacity_buffers_serve_zero_bytes_and_refuse_the_rest() {
    let mut empty: [u8; 0] = [];
    let mut uninit: [MaybeUninit<u8>; 0] = [];
    let mut buffers = [
        AllocBuffer::from(&mut empty[..]),
        AllocBuffer::from_uninit(&mut uninit),
        AllocBuffer::with_capacity(0),
        AllocBuffer::from(Vec::<u8>::new()),
    ];
    for buf in &mut buffers {
        assert_eq!((buf.capacity(), buf.used(), buf.remaining()), (0, 0, 0));
        buf.no_escape(|s| {
            // Zero-length slices and zero-sized values, at any alignment.
            assert_eq!(s.alloc_slice_copy::<u64>(&[]).len(), 0);
            assert_eq!(s.alloc_slice_fill(0, 1u128).len(), 0);
            let unit: &mut () = s.alloc(());
            *unit = ();
            let p = s.alloc_layout(Layout::from_size_align(0, 4096).unwrap());
            assert_eq!(p.as_ptr() as usize % 4096, 0);
            // One byte is too many.
            assert_eq!(
                s.try_alloc(1u8).unwrap_err(),
                AllocError::BufferFull {
                    requested: 1,
                    align: 1,
                    available: 0,
                    capacity: 0
                }
            );
            let text = panics(|| {
                s.alloc(1u64);
            });
            assert!(text.contains("bump buffer full"), "{text}");
        });
        assert_eq!(buf.used(), 0);
    }
}

#[test]
fn zero_byte_requests_never_fail() {
    let mut slab = SlabBuffer::<256>::with_slab_size();
    // Before the first slab exists.
    let p = slab.alloc_layout(Layout::from_size_align(0, 8).unwrap());
    assert_eq!(p.as_ptr() as usize % 8, 0);
    assert_eq!(slab.stats().unwrap().slabs, 0);
    slab.no_escape(|s| {
        // Fill the slab to its last byte, then ask for nothing at several alignments.
        s.alloc_slice_fill(128, 0u8);
        s.alloc_slice_fill(127, 0u8);
        for align in [1, 2, 8, 64, 128, 4096] {
            let before = s.stats().unwrap();
            let p = s.alloc_layout(Layout::from_size_align(0, align).unwrap());
            assert_eq!(p.as_ptr() as usize % align, 0);
            let after = s.stats().unwrap();
            assert_eq!((after.slabs, after.big_allocations), (before.slabs, 0));
        }
        assert_eq!(s.stats().unwrap().slabs, 1);
        let empty: &mut [u64] = s.alloc_slice_fill_with(0, |_| unreachable!());
        assert!(empty.is_empty());
    });
    // A full fixed buffer too.
    let mut fixed = AllocBuffer::with_capacity(64);
    fixed.alloc_layout(Layout::from_size_align(63, 1).unwrap());
    for align in [1, 8, 16, 64, 1 << 20] {
        let p = fixed
            .try_alloc_layout(Layout::from_size_align(0, align).unwrap())
            .unwrap();
        assert_eq!(p.as_ptr() as usize % align, 0);
        // At most alignment padding is taken, within the buffer.
        assert!(fixed.used() <= 64);
    }
}

#[test]
fn restoring_a_checkpoint_of_another_buffer_panics() {
    let mut a = AllocBuffer::with_capacity(256);
    let b = AllocBuffer::with_capacity(256);
    let cp = b.checkpoint();
    // SAFETY: the checkpoint is foreign, which the buffer detects before touching anything.
    let text = panics(|| unsafe { a.restore(cp) });
    assert!(text.contains("belongs to another buffer"), "{text}");

    let mut a = SlabBuffer::<256>::with_slab_size();
    let b = SlabBuffer::<256>::with_slab_size();
    let cp = b.checkpoint();
    // SAFETY: as above.
    let text = panics(|| unsafe { a.restore(cp) });
    assert!(text.contains("belongs to another buffer"), "{text}");
}

#[test]
fn restoring_a_checkpoint_already_passed_panics() {
    let mut fixed = AllocBuffer::with_capacity(256);
    fixed.alloc_layout(Layout::new::<u64>());
    let late = fixed.checkpoint();
    fixed.reset();
    // SAFETY: the buffer is behind the checkpoint, which it detects before touching anything.
    let text = panics(|| unsafe { fixed.restore(late) });
    assert!(text.contains("already restored or reset past"), "{text}");
    assert_eq!(fixed.used(), 0);

    let mut slab = SlabBuffer::<256>::with_slab_size();
    slab.alloc_layout(Layout::from_size_align(100, 1).unwrap());
    slab.alloc_layout(Layout::from_size_align(100, 1).unwrap());
    slab.alloc_layout(Layout::from_size_align(100, 1).unwrap()); // second slab
    let late = slab.checkpoint();
    slab.reset();
    // SAFETY: as above.
    let text = panics(|| unsafe { slab.restore(late) });
    assert!(text.contains("already restored or reset past"), "{text}");
    // Same slab, further along.
    slab.alloc_layout(Layout::from_size_align(50, 1).unwrap());
    let late = slab.checkpoint();
    let early = {
        slab.reset();
        slab.checkpoint()
    };
    // SAFETY: as above.
    let text = panics(|| unsafe { slab.restore(late) });
    assert!(text.contains("already restored or reset past"), "{text}");
    // The buffer is intact and the valid checkpoint still restores.
    slab.alloc_layout(Layout::new::<u64>());
    // SAFETY: `early` is this buffer's, taken at its current start; nothing of it is used.
    unsafe { slab.restore(early) };
    assert_eq!(slab.used(), 0);
}
