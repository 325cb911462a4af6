//! `AutoscalingAllocBuffer`: the seed's sizing rules (pinned on the reference trace), its
//! `show` text, and the `Buffer` contract (alignment, disjointness, checkpoints, scopes).
//!
//! Runs under Miri too (`cargo +nightly miri test -p allocarrays --test autoscaling`): loop
//! counts shrink under `cfg!(miri)`, and the big buffers are never touched.
#![deny(clippy::undocumented_unsafe_blocks)]

use std::alloc::Layout;
use std::ptr::{self, NonNull};

use allocarrays::{AutoscalingAllocBuffer, AutoscalingCheckpoint};
use bumper::{AllocError, Buffer};

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

fn alloc(buf: &mut AutoscalingAllocBuffer, size: usize, align: usize) -> NonNull<u8> {
    let ptr = buf.try_alloc_layout(layout(size, align)).unwrap();
    assert_eq!(
        ptr.as_ptr().addr() % align,
        0,
        "misaligned: {size} bytes, align {align}"
    );
    ptr
}

/// Allocates `size` bytes and fills them with `pattern`.
fn alloc_filled(buf: &mut AutoscalingAllocBuffer, size: usize, pattern: u8) -> Region {
    let ptr = alloc(buf, size, 1);
    // SAFETY: a fresh allocation of `size` bytes.
    unsafe { ptr::write_bytes(ptr.as_ptr(), pattern, size) };
    Region { ptr, size, pattern }
}

/// An allocation filled with one byte value, to check later that nothing overwrote it.
#[derive(Clone, Copy)]
struct Region {
    ptr: NonNull<u8>,
    size: usize,
    pattern: u8,
}

impl Region {
    fn assert_intact(&self) {
        // SAFETY: the region is a live allocation of `size` bytes, initialised by its filler,
        // and nothing else references it now.
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.size) };
        assert!(
            bytes.iter().all(|&b| b == self.pattern),
            "allocation at {:#x} ({} bytes) was overwritten",
            self.ptr.as_ptr().addr(),
            self.size
        );
    }
}

/// Asserts that no two non-empty regions overlap.
fn assert_disjoint(regions: &[Region]) {
    let mut ranges: Vec<(usize, usize)> = regions
        .iter()
        .filter(|r| r.size > 0)
        .map(|r| (r.ptr.as_ptr().addr(), r.ptr.as_ptr().addr() + r.size))
        .collect();
    ranges.sort_unstable();
    for pair in ranges.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "overlap: {:x?} and {:x?}",
            pair[0],
            pair[1]
        );
    }
}

/// A small deterministic pseudo-random sequence (an LCG), so the tests need no dependency.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

// ---- the seed's sizing rules: the reference trace --------------------------------------------

/// Initial size 1000, 201 requests of 40 000 bytes (align 1): the capacity grows at requests
/// 1, 3, 7, 15, 31, 63 and 127 (each additional buffer twice the previous one) to 10 161 000
/// bytes in 7 additional buffers; the reset after using 8 040 000 bytes makes the main buffer
/// ceil(1.1 * 8 040 000) = 8 844 000 bytes; then it takes six resets with 40 000 bytes used to
/// shrink it to 44 000 (five are not enough: the history still holds the big run).
#[test]
fn reference_trace() {
    let mut buf = AutoscalingAllocBuffer::with_initial_size(1000);
    assert_eq!(
        (
            buf.capacity(),
            buf.main_capacity(),
            buf.used(),
            buf.additional_buffers()
        ),
        (1000, 1000, 0, 0)
    );

    let mut growth = Vec::new();
    for request in 1..=201 {
        let before = buf.capacity();
        alloc(&mut buf, 40_000, 1);
        if buf.capacity() != before {
            growth.push((request, buf.capacity(), buf.additional_buffers()));
        }
    }
    assert_eq!(
        growth,
        [
            (1, 81_000, 1),
            (3, 241_000, 2),
            (7, 561_000, 3),
            (15, 1_201_000, 4),
            (31, 2_481_000, 5),
            (63, 5_041_000, 6),
            (127, 10_161_000, 7),
        ]
    );
    assert_eq!(buf.used(), 8_040_000);
    assert_eq!((buf.capacity(), buf.main_capacity()), (10_161_000, 1000));
    assert_eq!(
        buf.to_string(),
        "AutoscalingAllocBuffer() (7.668 MiB used [0.0% in main buffer], \
         capacity 9.690 MiB [0.0% in main buffer] with 7 additional buffers)"
    );

    buf.reset();
    assert_eq!(
        (
            buf.capacity(),
            buf.main_capacity(),
            buf.used(),
            buf.additional_buffers()
        ),
        (8_844_000, 8_844_000, 0, 0)
    );
    assert_eq!(
        buf.to_string(),
        "AutoscalingAllocBuffer() (0 bytes used, capacity 8.434 MiB, all in main buffer)"
    );

    for reset in 1..=6 {
        alloc(&mut buf, 40_000, 1);
        assert_eq!(buf.additional_buffers(), 0);
        buf.reset();
        let expected = if reset < 6 { 8_844_000 } else { 44_000 };
        assert_eq!(buf.main_capacity(), expected, "after reset {reset}");
        assert_eq!(buf.additional_buffers(), 0);
    }
    assert_eq!(
        buf.to_string(),
        "AutoscalingAllocBuffer() (0 bytes used, capacity 42.969 KiB, all in main buffer)"
    );
}

/// The seed's own test, on `f32` matrices of 100 x 100 (40 000 bytes, align 4): the same
/// numbers, and the seed's looser assertions.
#[test]
fn seed_test_with_f32_matrices() {
    let matrix = Layout::array::<f32>(100 * 100).unwrap();
    let n = matrix.size();
    let mut b = AutoscalingAllocBuffer::with_initial_size(1000);
    assert_eq!((b.capacity(), b.used()), (1000, 0));

    b.alloc_layout(matrix);
    assert_eq!(b.used(), n);
    assert!(b.capacity() > 2 * n);

    for _ in 0..200 {
        let m = b.alloc_layout(matrix);
        assert_eq!(m.as_ptr().addr() % 4, 0);
    }
    assert!(b.capacity() > 80 * n && b.used() > 80 * n);
    assert!(b.additional_buffers() < 10);
    assert_eq!(
        (b.used(), b.capacity(), b.additional_buffers()),
        (8_040_000, 10_161_000, 7)
    );

    let used = b.used();
    b.reset();
    assert!(b.capacity() > used && b.capacity() > 80 * n);
    assert_eq!(
        (b.used(), b.additional_buffers(), b.capacity()),
        (0, 0, 8_844_000)
    );

    for _ in 0..6 {
        b.alloc_layout(matrix);
        b.reset();
    }
    assert!(b.capacity() < 2 * n);
    assert_eq!(b.capacity(), 44_000);
}

/// After a reallocation, `new_buffer_size` is a quarter of the new main buffer, so the next
/// additional buffer is half of it; the history (at most 6 runs) drives the next size.
#[test]
fn additional_buffer_sizes_after_reallocation() {
    let mut buf = AutoscalingAllocBuffer::with_initial_size(1000);
    for _ in 0..201 {
        alloc(&mut buf, 40_000, 1);
    }
    buf.reset();
    assert_eq!(buf.main_capacity(), 8_844_000);

    // Fill the main buffer exactly, then one byte more: a new buffer of
    // max(2 * ceil(8 844 000 / 4), 2 * 1) = 4 422 000 bytes.
    alloc(&mut buf, 8_844_000, 1);
    assert_eq!(buf.additional_buffers(), 0);
    alloc(&mut buf, 1, 1);
    assert_eq!(
        (buf.additional_buffers(), buf.capacity()),
        (1, 8_844_000 + 4_422_000)
    );
    // History [1000, 8 040 000, 8 844 001]: ceil(1.1 * 8 844 001) = 9 728 402.
    buf.reset();
    assert_eq!(
        (buf.main_capacity(), buf.additional_buffers()),
        (9_728_402, 0)
    );

    // A small main buffer: 44 000 bytes after six small runs, then a new buffer of 22 000.
    let mut buf = AutoscalingAllocBuffer::with_initial_size(1000);
    alloc(&mut buf, 40_000, 1);
    buf.reset();
    assert_eq!(buf.main_capacity(), 44_000);
    alloc(&mut buf, 44_000, 1);
    alloc(&mut buf, 1, 1);
    assert_eq!(buf.capacity(), 44_000 + 22_000);
    // A request bigger than twice `new_buffer_size` gets twice its own size.
    alloc(&mut buf, 30_000, 1);
    assert_eq!(buf.capacity(), 44_000 + 22_000 + 60_000);
    assert_eq!(buf.additional_buffers(), 2);
}

/// Within a factor of two of the main buffer nothing is reallocated, in either direction.
#[test]
fn reallocation_thresholds() {
    let mut buf = AutoscalingAllocBuffer::with_initial_size(10_000);
    // Up to 10 000 bytes used fits; ceil(1.1 * max(history)) = 11 000 is not < 5 000.
    alloc(&mut buf, 10_000, 1);
    buf.reset();
    assert_eq!(buf.main_capacity(), 10_000);
    // Six runs of 4 545 bytes: ceil(1.1 * 4 545) = 5 000, not < 5 000: kept.
    for _ in 0..6 {
        alloc(&mut buf, 4_545, 1);
        buf.reset();
    }
    assert_eq!(buf.main_capacity(), 10_000);
    // One run of 4 544 bytes is not enough (4 545 is still remembered) ...
    for _ in 0..5 {
        alloc(&mut buf, 4_544, 1);
        buf.reset();
        assert_eq!(buf.main_capacity(), 10_000);
    }
    // ... six are: ceil(1.1 * 4 544) = 4 999 < 5 000.
    alloc(&mut buf, 4_544, 1);
    buf.reset();
    assert_eq!(buf.main_capacity(), 4_999);
}

// ---- Display / Debug ---------------------------------------------------------------------------

#[test]
fn display_default_buffer() {
    let buf = AutoscalingAllocBuffer::new();
    assert_eq!(buf.capacity(), 1 << 27);
    assert_eq!(
        buf.to_string(),
        "AutoscalingAllocBuffer() (0 bytes used, capacity 128.000 MiB, all in main buffer)"
    );
    assert_eq!(format!("{buf:#}"), "AutoscalingAllocBuffer()");
    let default = AutoscalingAllocBuffer::default();
    assert_eq!(default.to_string(), buf.to_string());
}

/// Sizes as Julia's `Base.format_bytes` writes them.
#[test]
fn display_byte_formats() {
    let cases: &[(usize, &str)] = &[
        (0, "0 bytes"),
        (1, "1 byte"),
        (40, "40 bytes"),
        (1000, "1000 bytes"),
        (1024, "1024 bytes"),
        (1025, "1.001 KiB"),
        (2000, "1.953 KiB"),
        (44_000, "42.969 KiB"),
        (1 << 20, "1024.000 KiB"),
        ((1 << 20) + 1, "1.000 MiB"),
        (10_161_000, "9.690 MiB"),
    ];
    for &(bytes, text) in cases {
        let buf = AutoscalingAllocBuffer::with_initial_size(bytes);
        assert_eq!(
            buf.to_string(),
            format!("AutoscalingAllocBuffer() (0 bytes used, capacity {text}, all in main buffer)")
        );
    }
}

#[test]
fn display_with_additional_buffers() {
    let mut buf = AutoscalingAllocBuffer::with_initial_size(2000);
    alloc(&mut buf, 40, 1);
    assert_eq!(
        buf.to_string(),
        "AutoscalingAllocBuffer() (40 bytes used, capacity 1.953 KiB, all in main buffer)"
    );
    // 1960 bytes left: a new buffer of max(2 * 1000, 2 * 2000) = 4000 bytes.
    alloc(&mut buf, 2000, 1);
    assert_eq!(
        buf.to_string(),
        "AutoscalingAllocBuffer() (1.992 KiB used [2.0% in main buffer], \
         capacity 5.859 KiB [33.3% in main buffer] with 1 additional buffer)"
    );
    // The main buffer still had room for this one: 1940 of 3940 bytes used are in it.
    alloc(&mut buf, 1900, 1);
    assert_eq!(
        buf.to_string(),
        "AutoscalingAllocBuffer() (3.848 KiB used [49.2% in main buffer], \
         capacity 5.859 KiB [33.3% in main buffer] with 1 additional buffer)"
    );
    // A second additional buffer: the plural again.
    alloc(&mut buf, 5000, 1);
    assert_eq!(buf.additional_buffers(), 2);
    assert!(
        buf.to_string().ends_with("with 2 additional buffers)"),
        "{buf}"
    );
    // Emptied by a restore, the additional buffer is kept: with nothing used, the seed's string
    // shows no share of the use in the main buffer.
    let mut buf = AutoscalingAllocBuffer::with_initial_size(1000);
    buf.no_escape(|s| {
        s.alloc_slice_fill(1500, 0u8);
    });
    assert_eq!(
        buf.to_string(),
        "AutoscalingAllocBuffer() (0 bytes used, \
         capacity 3.906 KiB [25.0% in main buffer] with 1 additional buffer)"
    );
}

#[test]
fn debug_shows_the_bookkeeping() {
    let mut buf = AutoscalingAllocBuffer::with_initial_size(1000);
    alloc(&mut buf, 1500, 1);
    let text = format!("{buf:?}");
    for part in [
        "AutoscalingAllocBuffer {",
        "used: 1500",
        "capacity: 4000",
        "main_capacity: 1000",
        "additional_buffers: 1",
        "new_buffer_size: 3000",
        "history: [1000]",
        "max_history_size: 5",
    ] {
        assert!(text.contains(part), "{text:?} lacks {part:?}");
    }
}

// ---- the Buffer contract ---------------------------------------------------------------------

#[test]
fn stats() {
    let mut buf = AutoscalingAllocBuffer::with_initial_size(1000);
    let stats = buf.stats().unwrap();
    assert_eq!(
        (
            stats.used,
            stats.capacity,
            stats.slabs,
            stats.spare_slabs,
            stats.big_allocations
        ),
        (0, 1000, 1, 0, 0)
    );
    alloc(&mut buf, 600, 1);
    buf.no_escape(|s| {
        s.alloc_slice_fill(600, 0u8); // an additional buffer of 1200 bytes
        let stats = s.stats().unwrap();
        assert_eq!((stats.used, stats.capacity, stats.slabs), (1200, 2200, 2));
    });
    let stats = buf.stats().unwrap();
    assert_eq!(
        (
            stats.used,
            stats.capacity,
            stats.slabs,
            stats.spare_slabs,
            stats.big_allocations
        ),
        (600, 2200, 2, 1, 0)
    );
}

/// Many allocations of mixed sizes and alignments (up to 4096, past the buffers' own 64) on
/// a buffer that keeps overflowing: every one aligned, none overlapping, none overwritten.
#[test]
fn mixed_allocations_are_aligned_and_disjoint() {
    const ALIGNS: [usize; 11] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096];
    let count = if cfg!(miri) { 80 } else { 3000 };
    let mut rng = Lcg(7);
    for initial in [0, 256, 10_000] {
        let mut buf = AutoscalingAllocBuffer::with_initial_size(initial);
        let mut regions = Vec::new();
        for i in 0..count {
            let size = match rng.below(10) {
                0 => 0,
                1 => rng.below(5000),
                _ => rng.below(200),
            };
            let align = ALIGNS[rng.below(ALIGNS.len())];
            let ptr = alloc(&mut buf, size, align);
            let pattern = (i % 251) as u8;
            // SAFETY: a fresh allocation of `size` bytes.
            unsafe { ptr::write_bytes(ptr.as_ptr(), pattern, size) };
            regions.push(Region { ptr, size, pattern });
        }
        let requested: usize = regions.iter().map(|r| r.size).sum();
        assert!(buf.used() >= requested);
        assert!(buf.capacity() >= buf.used());
        assert_disjoint(&regions);
        regions.iter().for_each(Region::assert_intact);
        buf.reset();
        assert_eq!((buf.used(), buf.additional_buffers()), (0, 0));
    }
}

/// Alignment above the buffers' 64 bytes, served from the main buffer and from a new
/// additional buffer allocated with that alignment.
#[test]
fn large_alignments() {
    let mut buf = AutoscalingAllocBuffer::with_initial_size(10_000);
    let a = alloc(&mut buf, 10, 256); // `alloc` checks the alignment
    let b = alloc(&mut buf, 10, 4096);
    assert_ne!(a, b);

    let mut buf = AutoscalingAllocBuffer::with_initial_size(1000);
    alloc(&mut buf, 1000, 1); // the main buffer is full
                              // A new buffer of max(2 * 500, 2 * 100) bytes, allocated with an alignment of 64 KiB.
    alloc(&mut buf, 100, 1 << 16);
    assert_eq!((buf.capacity(), buf.additional_buffers()), (2000, 1));
    // No aligned room left in it: another new buffer, max(2 * 1000, 2 * 10) bytes.
    alloc(&mut buf, 10, 1 << 16);
    assert_eq!((buf.capacity(), buf.additional_buffers()), (4000, 2));
}

#[test]
fn zero_size_requests() {
    for initial in [0, 64, 1000] {
        let mut buf = AutoscalingAllocBuffer::with_initial_size(initial);
        alloc(&mut buf, initial, 1); // fill the main buffer
        let used = buf.used();
        for align in [1, 8, 64, 4096, 1 << 20] {
            alloc(&mut buf, 0, align);
        }
        // Nothing was needed from any buffer beyond alignment padding in the main one.
        assert_eq!(buf.additional_buffers(), 0);
        assert_eq!(buf.used(), used);
        buf.no_escape(|s| {
            let empty: &mut [u64] = s.alloc_slice_fill(0, 0u64);
            assert!(empty.is_empty());
            let units: &mut [()] = s.alloc_slice_fill(1000, ());
            assert_eq!(units.len(), 1000);
        });
        assert_eq!(buf.additional_buffers(), 0);
    }
}

#[test]
fn zero_initial_size() {
    let mut buf = AutoscalingAllocBuffer::with_initial_size(0);
    assert_eq!(
        buf.to_string(),
        "AutoscalingAllocBuffer() (0 bytes used, capacity 0 bytes, all in main buffer)"
    );
    let a = alloc_filled(&mut buf, 100, 1); // new buffer: max(2 * 0, 2 * 100)
    assert_eq!((buf.capacity(), buf.additional_buffers()), (200, 1));
    let b = alloc_filled(&mut buf, 100, 2);
    a.assert_intact();
    b.assert_intact();
    buf.reset();
    assert_eq!((buf.main_capacity(), buf.additional_buffers()), (220, 0));
}

#[test]
fn checkpoint_restore_round_trips() {
    let mut buf = AutoscalingAllocBuffer::with_initial_size(1000);
    let a = alloc_filled(&mut buf, 100, 0xA1);
    let cp1 = buf.checkpoint();
    let mut inner = Vec::new();
    for i in 0..5 {
        inner.push(alloc_filled(&mut buf, 400, i)); // overflows into additional buffers
    }
    assert!(buf.additional_buffers() >= 1);
    let used_at_cp2 = buf.used();
    let cp2 = buf.checkpoint();
    let b = alloc_filled(&mut buf, 3000, 0xB2);
    let capacity = buf.capacity();

    // SAFETY: cp2 was taken from this buffer and not passed; `b` is not used afterwards.
    unsafe { buf.restore(cp2) };
    assert_eq!(buf.used(), used_at_cp2);
    assert!(b.size == 3000); // `b` is dead from here on
    inner.iter().for_each(Region::assert_intact);
    a.assert_intact();
    // Restoring the same checkpoint twice is fine.
    // SAFETY: as above.
    unsafe { buf.restore(cp2) };

    // SAFETY: cp1 was taken from this buffer before cp2; nothing after it is used afterwards.
    unsafe { buf.restore(cp1) };
    assert_eq!(buf.used(), 100);
    assert_eq!(
        buf.capacity(),
        capacity,
        "additional buffers are kept for reuse"
    );
    a.assert_intact();

    // The same work again reuses the kept buffers: no new memory.
    let mut again = Vec::new();
    for i in 0..5 {
        again.push(alloc_filled(&mut buf, 400, 0x10 + i));
    }
    again.push(alloc_filled(&mut buf, 3000, 0xB3));
    assert_eq!(buf.capacity(), capacity);
    assert_disjoint(&[&again[..], &[a]].concat());
    again.iter().for_each(Region::assert_intact);
    a.assert_intact();
}

/// Allocations after a checkpoint that land in an *older* additional buffer (the newest had no
/// room) are undone exactly too.
#[test]
fn restore_rewinds_older_additional_buffers() {
    let mut buf = AutoscalingAllocBuffer::with_initial_size(100);
    let r1 = alloc_filled(&mut buf, 100, 1); // fills the main buffer
    let r2 = alloc_filled(&mut buf, 60, 2); // A = max(2 * 50, 2 * 60) = 120 bytes
    let r3 = alloc_filled(&mut buf, 200, 3); // A has 60 left: B = max(240, 400) = 400 bytes
    let r4 = alloc_filled(&mut buf, 190, 4); // B: 390 used, 10 left
    assert_eq!(
        (buf.used(), buf.capacity(), buf.additional_buffers()),
        (550, 620, 2)
    );
    let before = [r1, r2, r3, r4];

    let cp1 = buf.checkpoint();
    let r5 = alloc_filled(&mut buf, 50, 5); // B is full for it: into A (110 of 120)
    assert_eq!((buf.used(), buf.capacity()), (600, 620));
    let cp2 = buf.checkpoint();
    let r6 = alloc_filled(&mut buf, 8, 6); // into B (398 of 400)
    let r7 = alloc_filled(&mut buf, 10, 7); // B has 2 left: into A (120 of 120)
    assert_eq!((buf.used(), buf.capacity()), (618, 620));
    assert_disjoint(&[r1, r2, r3, r4, r5, r6, r7]);

    // SAFETY: taken from this buffer, not passed; r6, r7 are not used afterwards.
    unsafe { buf.restore(cp2) };
    assert_eq!(buf.used(), 600);
    r5.assert_intact();
    // SAFETY: as above; r5 is not used afterwards.
    unsafe { buf.restore(cp1) };
    assert_eq!(buf.used(), 550);
    before.iter().for_each(Region::assert_intact);

    // The room in A is free again: 50 bytes go there, no new buffer.
    let r5 = alloc_filled(&mut buf, 50, 8);
    assert_eq!((buf.used(), buf.capacity()), (600, 620));
    // And a scope that needs a new buffer leaves it behind, empty.
    buf.no_escape(|s| {
        s.alloc_slice_fill(1000, 9u8); // C = max(2 * 400, 2 * 1000) = 2000 bytes
    });
    assert_eq!(
        (buf.used(), buf.capacity(), buf.additional_buffers()),
        (600, 2620, 3)
    );
    before.iter().for_each(Region::assert_intact);
    r5.assert_intact();

    // The reset records the peak of the run (1600 bytes, inside the scope): the main buffer
    // becomes ceil(1.1 * 1600) = 1760 bytes.
    buf.reset();
    assert_eq!(
        (buf.main_capacity(), buf.additional_buffers(), buf.used()),
        (1760, 0, 0)
    );
}

/// Nested scopes and guards on the buffer, crossing into additional buffers.
#[test]
fn no_escape_scopes() {
    let mut buf = AutoscalingAllocBuffer::with_initial_size(1024);
    let total = buf.no_escape(|s| {
        let a = s.alloc_slice_fill_with(100, |i| i as u64); // 800 bytes, main
        let inner_sum = s.no_escape(|inner| {
            let b = inner.alloc_slice_fill_with(1000, |i| i as u64); // additional
            let c = inner.alloc_slice_copy(&a[..10]);
            b.iter().sum::<u64>() + c.iter().sum::<u64>()
        });
        let d = s.alloc_slice_fill(10, 1u64);
        a.iter().sum::<u64>() + inner_sum + d.iter().sum::<u64>()
    });
    assert_eq!(total, 4950 + 499_500 + 45 + 10);
    assert_eq!(buf.used(), 0);
    assert_eq!(buf.additional_buffers(), 1);

    // A loop whose scope overflows the main buffer costs no new memory after the first round.
    let rounds = if cfg!(miri) { 3 } else { 50 };
    let capacity = buf.capacity();
    for round in 0..rounds {
        let sum = buf.no_escape(|s| {
            let v = s.alloc_slice_fill_with(1000, |i| (i + round) as u64);
            v.iter().sum::<u64>()
        });
        assert_eq!(sum, 499_500 + 1000 * round as u64);
        assert_eq!(buf.capacity(), capacity);
        assert_eq!(buf.used(), 0);
    }

    {
        let mut guard = buf.checkpoint_guard();
        let s = guard.scope();
        let x = s.alloc(41u32);
        *x += 1;
        assert_eq!(*x, 42);
    }
    assert_eq!(buf.used(), 0);
}

/// Work done inside scopes still sizes the main buffer at the next reset.
#[test]
fn scoped_peak_sizes_the_main_buffer() {
    let mut buf = AutoscalingAllocBuffer::with_initial_size(1000);
    buf.no_escape(|s| {
        s.alloc_slice_fill(40_000, 0u8);
    });
    assert_eq!((buf.used(), buf.additional_buffers()), (0, 1));
    buf.reset();
    assert_eq!((buf.main_capacity(), buf.additional_buffers()), (44_000, 0));
    // The same work now fits the main buffer.
    buf.no_escape(|s| {
        s.alloc_slice_fill(40_000, 0u8);
    });
    assert_eq!(buf.additional_buffers(), 0);
}

/// Restores record nothing: only resets add to the history. With many restores per run, the
/// main buffer still shrinks at exactly the sixth small reset.
#[test]
fn restore_does_not_change_the_history() {
    let mut buf = AutoscalingAllocBuffer::with_initial_size(1000);
    alloc(&mut buf, 10_000, 1);
    buf.reset();
    assert_eq!(buf.main_capacity(), 11_000);
    let scopes = if cfg!(miri) { 3 } else { 20 };
    for run in 1..=6 {
        alloc(&mut buf, 100, 1);
        for _ in 0..scopes {
            buf.no_escape(|s| {
                s.alloc_slice_fill(50, 0u8);
            });
            let cp = buf.checkpoint();
            // SAFETY: just taken from this buffer; nothing was allocated since.
            unsafe { buf.restore(cp) };
        }
        assert_eq!(
            buf.main_capacity(),
            11_000,
            "a restore reallocated in run {run}"
        );
        buf.reset();
        // Peak 150 bytes per run: ceil(1.1 * 150) = 165 once the 10 000 run is forgotten.
        let expected = if run < 6 { 11_000 } else { 165 };
        assert_eq!(buf.main_capacity(), expected, "after reset {run}");
    }
}

#[test]
#[should_panic(expected = "the checkpoint belongs to another buffer")]
fn restore_foreign_checkpoint_panics() {
    let a = AutoscalingAllocBuffer::with_initial_size(64);
    let mut b = AutoscalingAllocBuffer::with_initial_size(64);
    let cp = a.checkpoint();
    // SAFETY: the buffer detects the foreign checkpoint and panics before changing anything.
    unsafe { b.restore(cp) };
}

#[test]
#[should_panic(expected = "already restored past this checkpoint")]
fn restore_passed_checkpoint_panics() {
    let mut buf = AutoscalingAllocBuffer::with_initial_size(1000);
    let cp1 = buf.checkpoint();
    alloc(&mut buf, 10, 1);
    let cp2 = buf.checkpoint();
    // SAFETY: taken from this buffer; nothing after it is used.
    unsafe { buf.restore(cp1) };
    // SAFETY: the buffer detects that it went back past cp2, and panics.
    unsafe { buf.restore(cp2) };
}

#[test]
#[should_panic(expected = "already restored past this checkpoint")]
fn restore_passed_checkpoint_in_additional_buffers_panics() {
    let mut buf = AutoscalingAllocBuffer::with_initial_size(16);
    alloc(&mut buf, 16, 1);
    alloc(&mut buf, 100, 1); // an additional buffer
    let cp1 = buf.checkpoint();
    alloc(&mut buf, 10, 1); // into it: the main buffer is full
    let cp2 = buf.checkpoint();
    // SAFETY: taken from this buffer; nothing after it is used.
    unsafe { buf.restore(cp1) };
    // SAFETY: the buffer detects that it went back past cp2, and panics.
    unsafe { buf.restore(cp2) };
}

#[test]
#[should_panic(expected = "reset since the checkpoint was taken")]
fn restore_after_reset_panics() {
    let mut buf = AutoscalingAllocBuffer::with_initial_size(1000);
    let cp = buf.checkpoint();
    buf.reset();
    // SAFETY: the buffer detects the reset and panics.
    unsafe { buf.restore(cp) };
}

#[test]
fn checkpoint_fits_with_buffer() {
    assert!(
        size_of::<AutoscalingCheckpoint>() <= bumper::ERASED_CHECKPOINT_WORDS * size_of::<usize>()
    );
    let mut buf = AutoscalingAllocBuffer::with_initial_size(1000);
    let sum = bumper::with_buffer(&mut buf, || {
        bumper::no_escape(|s| {
            s.alloc_slice_fill_with(1000, |i| i as u32)
                .iter()
                .sum::<u32>()
        })
    });
    assert_eq!(sum, 499_500);
    // The default scope ran on our buffer: its 4000 bytes needed an additional buffer.
    assert_eq!((buf.used(), buf.additional_buffers()), (0, 1));
}

#[test]
fn send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<AutoscalingAllocBuffer>();

    let mut buf = AutoscalingAllocBuffer::with_initial_size(256);
    let handle = std::thread::spawn(move || {
        let sum = buf.no_escape(|s| {
            s.alloc_slice_fill(1000, 2u8)
                .iter()
                .map(|&b| b as u32)
                .sum()
        });
        (buf, sum)
    });
    let (mut buf, sum): (AutoscalingAllocBuffer, u32) = handle.join().unwrap();
    assert_eq!(sum, 2000);
    buf.reset();
    assert_eq!(buf.main_capacity(), 1100);
}

#[test]
fn max_history_size() {
    let mut buf = AutoscalingAllocBuffer::with_initial_size(10_000).with_max_history_size(1);
    buf.reset(); // history [10 000, 0]
    assert_eq!(buf.main_capacity(), 10_000);
    buf.reset(); // history [0, 0]
    assert_eq!(buf.main_capacity(), 0);
    // Everything then goes to additional buffers until the next reset sizes the main one.
    let r = alloc_filled(&mut buf, 500, 3);
    r.assert_intact();
    buf.reset();
    assert_eq!(buf.main_capacity(), 550);
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot pretend to fail a huge allocation")]
fn failed_allocations_leave_the_buffer_unchanged() {
    let mut buf = AutoscalingAllocBuffer::with_initial_size(1000);
    alloc(&mut buf, 10, 1);
    let before = (buf.used(), buf.capacity(), buf.additional_buffers());
    let err = buf.try_alloc_layout(layout(1 << 62, 1)).unwrap_err();
    assert!(matches!(err, AllocError::OutOfMemory { .. }), "{err:?}");
    assert_eq!(
        (buf.used(), buf.capacity(), buf.additional_buffers()),
        before
    );
    assert_eq!(
        AutoscalingAllocBuffer::try_with_initial_size(usize::MAX).unwrap_err(),
        AllocError::SizeOverflow
    );
}

/// The panic message of a caught panic.
fn panic_text(err: &(dyn std::any::Any + Send)) -> String {
    err.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[test]
fn max_history_size_is_validated() {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    // Far too long a history: a clear panic, not a 64 GB reservation that aborts the process.
    let err = catch_unwind(AssertUnwindSafe(|| {
        let _ = AutoscalingAllocBuffer::with_initial_size(64).with_max_history_size(1 << 33);
    }))
    .unwrap_err();
    let text = panic_text(&*err);
    assert!(
        text.contains("max_history_size 8589934592 exceeds the limit"),
        "{text}"
    );
    for bad in [AutoscalingAllocBuffer::MAX_HISTORY_SIZE + 1, usize::MAX] {
        let err = AutoscalingAllocBuffer::with_initial_size(64)
            .try_with_max_history_size(bad)
            .unwrap_err();
        assert_eq!(err.requested, bad);
    }
    // The limit itself is accepted, and reserves nothing up front: the history grows per run.
    let mut buf = AutoscalingAllocBuffer::with_initial_size(64)
        .try_with_max_history_size(AutoscalingAllocBuffer::MAX_HISTORY_SIZE)
        .unwrap();
    for _ in 0..10 {
        buf.reset();
    }
    // The first run (64 bytes) still counts: ceil(1.1 * 64) = 71 <= 64 * 2, so no shrink.
    assert_eq!(buf.main_capacity(), 64);
    // Shortening the history later drops the oldest runs at the next reset.
    let mut buf = buf.with_max_history_size(0);
    buf.reset();
    assert_eq!(buf.main_capacity(), 0);
}

#[test]
fn constructor_arguments_are_validated() {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let err = catch_unwind(|| AutoscalingAllocBuffer::with_initial_size(usize::MAX)).unwrap_err();
    assert!(
        panic_text(&*err).contains("overflows"),
        "{}",
        panic_text(&*err)
    );
    assert_eq!(
        AutoscalingAllocBuffer::try_with_initial_size(isize::MAX as usize).unwrap_err(),
        AllocError::SizeOverflow
    );
    // The largest valid size: refused by the system allocator with an error, not an abort.
    #[cfg(not(miri))]
    {
        let size = isize::MAX as usize - 63;
        assert_eq!(
            AutoscalingAllocBuffer::try_with_initial_size(size).unwrap_err(),
            AllocError::OutOfMemory { requested: size }
        );
        let err = catch_unwind(AssertUnwindSafe(|| {
            AutoscalingAllocBuffer::with_initial_size(size)
        }))
        .unwrap_err();
        assert!(
            panic_text(&*err).contains("system allocator could not provide"),
            "{}",
            panic_text(&*err)
        );
    }
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot pretend to fail a huge allocation")]
fn huge_requests_are_refused_cleanly() {
    let mut buf = AutoscalingAllocBuffer::with_initial_size(1000);
    alloc(&mut buf, 10, 1);
    for (size, align) in [
        (isize::MAX as usize, 1),
        (isize::MAX as usize - 63, 64),
        (isize::MAX as usize / 2 + 1, 1),
        (1 << 40, 1 << 29),
    ] {
        let err = buf.try_alloc_layout(layout(size, align)).unwrap_err();
        assert_eq!(err, AllocError::OutOfMemory { requested: size }, "{size}");
        assert_eq!(buf.additional_buffers(), 0);
    }
    // The panicking form names the problem.
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        buf.alloc_layout(layout(isize::MAX as usize, 1));
    }))
    .unwrap_err();
    assert!(panic_text(&*err).contains("could not provide"));
    // The buffer works on, and a big alignment that can be had is honoured.
    let p = alloc(&mut buf, 8, 1 << 20);
    assert_eq!(p.as_ptr().addr() % (1 << 20), 0);
    // A reset after a run that asked for the impossible sizes the buffer from what was used.
    buf.reset();
    assert!(buf.main_capacity() < 1 << 22, "{}", buf.main_capacity());
}

#[test]
fn stats_show_the_main_buffer_position() {
    let mut buf = AutoscalingAllocBuffer::with_initial_size(1000);
    alloc(&mut buf, 100, 1);
    let stats = buf.stats().unwrap();
    assert_eq!((stats.position, stats.slab_end), (100, 1000));
}
