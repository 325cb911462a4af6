//! `BumperAllocator` and `UncheckedBumperAllocator`, driven through the public [`ArrayAllocator`]
//! trait over the three kinds of buffer (`AutoscalingAllocBuffer`, a fixed `AllocBuffer`, a
//! `SlabBuffer`): alignment, disjointness, capacity, safe `reset` (live leases pin their memory),
//! dropping the allocator while leases live, checked-array tracking, `Display`, the
//! `with_allocator` context, and allocation from several threads at once.
//!
//! Runs under Miri too (`MIRIFLAGS=-Zmiri-strict-provenance cargo +nightly miri test -p
//! allocarrays --test allocators`): loop counts shrink under `cfg!(miri)`, so Miri checks that
//! every block handed out is really ours to read and write for as long as its lease lives.
#![deny(clippy::undocumented_unsafe_blocks)]

use std::alloc::Layout;
use std::collections::HashSet;
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

use allocarrays::{
    has_allocator, with_allocator, without_allocator, AllocatorStats, ArrayAllocator,
    AutoscalingAllocBuffer, BumperAllocator, Lease, ResetReport, UncheckedBumperAllocator,
};
use bumper::{AllocBuffer, AllocError, Buffer, SlabBuffer};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Picks the normal or the Miri value of a loop count.
const fn scaled(normal: usize, miri: usize) -> usize {
    if cfg!(miri) {
        miri
    } else {
        normal
    }
}

/// Slab size of the `SlabBuffer`s under test: small, so allocations cross slabs and requests of
/// more than half a slab get their own block.
const SLAB: usize = 4096;
type Slab = SlabBuffer<SLAB>;

/// Initial size of the `AutoscalingAllocBuffer`s under test: small, so additional buffers are
/// made (and folded back by resets).
const AUTO_INITIAL: usize = 4096;

fn auto_buffer() -> AutoscalingAllocBuffer {
    AutoscalingAllocBuffer::with_initial_size(AUTO_INITIAL)
}

/// Capacity of the fixed `AllocBuffer`s under test.
const FIXED: usize = 64 * 1024;

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

/// A small deterministic generator (xorshift64*), so the tests need no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `range` (good enough for tests).
    fn range(&mut self, range: Range<usize>) -> usize {
        range.start + (self.next() % (range.end - range.start) as u64) as usize
    }

    fn align(&mut self) -> usize {
        1 << self.range(0..7) // 1 ..= 64
    }
}

/// The byte at offset `i` of the block tagged `tag`: differs between neighbouring offsets and
/// between tags, so a block overwritten by another (or by itself, shifted) is noticed.
fn pattern_byte(tag: u64, i: usize) -> u8 {
    let x = tag
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add((i as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9));
    (x >> 56) as u8
}

/// One block handed out by an allocator, filled with its tag's pattern, with its lease (if we
/// still hold it).
struct Block {
    ptr: NonNull<u8>,
    size: usize,
    align: usize,
    tag: u64,
    lease: Option<Lease>,
}

// SAFETY: the block's memory is ours alone (the allocator hands it to nobody else while the
// lease lives), so moving the handle to another thread is like moving a `Box<[u8]>`.
unsafe impl Send for Block {}

impl Block {
    fn range(&self) -> Range<usize> {
        let start = self.ptr.as_ptr().addr();
        start..start + self.size
    }

    fn fill(&mut self) {
        for i in 0..self.size {
            // SAFETY: `i < size`, inside the block, which is ours while the lease lives.
            unsafe { self.ptr.as_ptr().add(i).write(pattern_byte(self.tag, i)) };
        }
    }

    fn assert_intact(&self) {
        assert!(self.lease.is_some(), "checking a block whose lease is gone");
        // SAFETY: the block is `size` bytes, initialised by `fill`, kept from reuse by the lease;
        // nothing else references it now.
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.size) };
        for (i, &b) in bytes.iter().enumerate() {
            assert_eq!(
                b,
                pattern_byte(self.tag, i),
                "block tag {} at {:#x} ({} bytes) overwritten at offset {i}",
                self.tag,
                self.range().start,
                self.size
            );
        }
    }
}

/// Allocates `size` bytes aligned to `align`, checks the alignment, and fills the block.
fn alloc_block<A: ArrayAllocator + ?Sized>(
    alloc: &A,
    size: usize,
    align: usize,
    tag: u64,
) -> Block {
    let (ptr, lease) = alloc
        .allocate(layout(size, align), false)
        .unwrap_or_else(|e| panic!("allocate({size}, align {align}) failed: {e}"));
    assert_eq!(
        ptr.as_ptr().addr() % align,
        0,
        "misaligned: {size} bytes, align {align}"
    );
    // (Whether the lease is still valid is not checked here: another thread may reset the
    // allocator as soon as `allocate` returns.)
    let mut block = Block {
        ptr,
        size,
        align,
        tag,
        lease: Some(lease),
    };
    block.fill();
    block
}

/// Asserts that no two blocks overlap (all have a non-zero size).
fn assert_disjoint(blocks: &[Block]) {
    let mut ranges: Vec<Range<usize>> = blocks.iter().map(Block::range).collect();
    ranges.sort_by_key(|r| r.start);
    for pair in ranges.windows(2) {
        assert!(
            pair[0].end <= pair[1].start,
            "overlapping allocations: {:#x?} and {:#x?}",
            pair[0],
            pair[1]
        );
    }
}

fn assert_outside(blocks: &[Block], pinned: &Range<usize>) {
    for b in blocks {
        let r = b.range();
        assert!(
            r.end <= pinned.start || r.start >= pinned.end,
            "new allocation {r:#x?} overlaps the pinned block {pinned:#x?}"
        );
    }
}

/// The inherent `stats`/`reset` of both allocator types, so the tests can be generic.
trait Inspect: ArrayAllocator {
    fn stats(&self) -> AllocatorStats;
}

impl<B: Buffer + Send + 'static> Inspect for BumperAllocator<B> {
    fn stats(&self) -> AllocatorStats {
        BumperAllocator::stats(self)
    }
}

impl<B: Buffer + Send + 'static> Inspect for UncheckedBumperAllocator<B> {
    fn stats(&self) -> AllocatorStats {
        UncheckedBumperAllocator::stats(self)
    }
}

/// Runs `$body` (a generic fn taking `&A` and a `&str` name) on both allocators over each buffer.
macro_rules! for_each_allocator {
    ($body:ident) => {{
        $body(&BumperAllocator::new(auto_buffer()), "Bumper/Autoscaling");
        $body(
            &BumperAllocator::with_fixed_capacity(FIXED),
            "Bumper/AllocBuffer",
        );
        $body(
            &BumperAllocator::new(Slab::with_slab_size()),
            "Bumper/SlabBuffer",
        );
        $body(
            &UncheckedBumperAllocator::new(auto_buffer()),
            "Unchecked/Autoscaling",
        );
        $body(
            &UncheckedBumperAllocator::with_fixed_capacity(FIXED),
            "Unchecked/AllocBuffer",
        );
        $body(
            &UncheckedBumperAllocator::new(Slab::with_slab_size()),
            "Unchecked/SlabBuffer",
        );
    }};
}

/// Random sizes (1 ..= 300, sometimes more than half a slab) and alignments (1 ..= 64).
fn random_blocks<A: Inspect>(alloc: &A, rng: &mut Rng, n: usize, tag0: u64) -> Vec<Block> {
    (0..n)
        .map(|k| {
            let size = if rng.range(0..10) == 0 {
                rng.range(SLAB / 2 + 1..SLAB + 100) // a big request
            } else {
                rng.range(1..300)
            };
            alloc_block(alloc, size, rng.align(), tag0 + k as u64)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Alignment, disjointness, capacity
// ---------------------------------------------------------------------------------------------

#[test]
fn allocations_are_aligned_disjoint_and_intact() {
    fn run<A: Inspect>(alloc: &A, name: &str) {
        let mut rng = Rng::new(name.len() as u64);
        // Fits the fixed 64 KiB buffer: at most 20 * (SLAB + 100 + 63) bytes.
        let blocks = random_blocks(alloc, &mut rng, scaled(20, 12), 0);
        assert_disjoint(&blocks);
        for b in &blocks {
            b.assert_intact();
        }
        let stats = alloc.stats();
        assert!(stats.used <= stats.capacity, "{name}: {stats:?}");
        assert!(
            stats.used >= blocks.iter().map(|b| b.size).sum::<usize>(),
            "{name}: {stats:?}"
        );
        assert_eq!(stats.live_arrays, blocks.len(), "{name}");
        drop(blocks);
        assert_eq!(alloc.stats().live_arrays, 0, "{name}");
    }
    for_each_allocator!(run);
}

#[test]
fn fixed_buffer_allocations_lie_inside_its_memory() {
    fn run<A: Inspect>(alloc: &A, memory: Range<usize>) {
        let mut rng = Rng::new(7);
        let blocks = random_blocks(alloc, &mut rng, scaled(20, 10), 0);
        for b in &blocks {
            let r = b.range();
            assert!(
                memory.start <= r.start && r.end <= memory.end,
                "{r:#x?} outside the buffer {memory:#x?}"
            );
        }
        assert_disjoint(&blocks);
    }
    let vec = vec![0u8; FIXED];
    let start = vec.as_ptr().addr();
    run(
        &BumperAllocator::new(AllocBuffer::from(vec)),
        start..start + FIXED,
    );
    let vec = vec![0u8; FIXED];
    let start = vec.as_ptr().addr();
    run(
        &UncheckedBumperAllocator::new(AllocBuffer::from(vec)),
        start..start + FIXED,
    );
}

#[test]
fn full_fixed_buffer_returns_buffer_full_and_stays_usable() {
    fn run<A: Inspect>(alloc: &A) {
        let first = alloc_block(alloc, 200, 1, 1);
        let before = alloc.stats();
        assert_eq!((before.used, before.capacity), (200, 256));
        let err = alloc.allocate(layout(100, 1), false).unwrap_err();
        assert!(
            matches!(err, AllocError::BufferFull { .. }),
            "expected BufferFull, got {err:?}"
        );
        assert_eq!(
            err,
            AllocError::BufferFull {
                requested: 100,
                align: 1,
                available: 56,
                capacity: 256
            }
        );
        // A failed request changes nothing: the rest still fits.
        assert_eq!(alloc.stats(), before);
        let rest = alloc_block(alloc, 56, 1, 2);
        assert!(matches!(
            alloc.allocate(layout(1, 1), false),
            Err(AllocError::BufferFull { available: 0, .. })
        ));
        first.assert_intact();
        rest.assert_intact();
        assert_disjoint(&[first, rest]);
        // Nothing live: a reset frees it all.
        assert_eq!(alloc.reset(), ResetReport::default());
        alloc_block(alloc, 256, 1, 3).assert_intact();
    }
    run(&BumperAllocator::with_fixed_capacity(256));
    run(&UncheckedBumperAllocator::with_fixed_capacity(256));
}

#[test]
fn over_aligned_and_zero_sized_requests() {
    fn run<A: Inspect>(alloc: &A, name: &str) {
        for align in [128, 256, 4096] {
            let b = alloc_block(alloc, 24, align, align as u64);
            b.assert_intact();
        }
        let (ptr, lease) = alloc.allocate(layout(0, 64), false).unwrap();
        assert_eq!(ptr.as_ptr().addr() % 64, 0, "{name}");
        drop(lease);
    }
    run(&BumperAllocator::new(auto_buffer()), "Bumper/Autoscaling");
    run(
        &BumperAllocator::new(Slab::with_slab_size()),
        "Bumper/SlabBuffer",
    );
    run(
        &BumperAllocator::with_fixed_capacity(FIXED),
        "Bumper/AllocBuffer",
    );
    run(&UncheckedBumperAllocator::new(auto_buffer()), "Unchecked");
}

// ---------------------------------------------------------------------------------------------
// Reset
// ---------------------------------------------------------------------------------------------

#[test]
fn reset_without_live_leases_rewinds() {
    fn run<A: Inspect>(alloc: &A, name: &str) {
        // One round first: an autoscaling buffer re-sizes to its first run's usage at its first
        // reset (a new main buffer, elsewhere); from then on it stays.
        drop(alloc_block(alloc, 48, 8, 0));
        alloc.reset();
        let first = alloc_block(alloc, 48, 8, 1);
        let first_addr = first.range().start;
        let second = alloc_block(alloc, 100, 16, 2);
        drop((first, second));
        assert_eq!(alloc.stats().live_arrays, 0, "{name}");
        let report = alloc.reset();
        assert_eq!(report, ResetReport::default(), "{name}");
        assert_eq!(alloc.stats().resets, 2, "{name}");
        assert_eq!(alloc.stats().used, 0, "{name}");
        // The next allocation reuses the first address.
        let again = alloc_block(alloc, 48, 8, 3);
        assert_eq!(again.range().start, first_addr, "{name}: not rewound");
        again.assert_intact();
    }
    for_each_allocator!(run);
}

#[test]
fn reset_with_a_live_lease_pins_its_memory() {
    fn run<A: Inspect>(alloc: &A, name: &str) {
        let rounds = scaled(6, 3);
        let mut rng = Rng::new(99);
        let pinned = alloc_block(alloc, 200, 8, 1000);
        let pinned_range = pinned.range();
        let scratch = alloc_block(alloc, 64, 8, 1001);
        drop(scratch);

        let report = alloc.reset();
        assert_eq!(report.pinned_arrays, 1, "{name}: {report:?}");
        assert!(report.pinned_bytes >= 200, "{name}: {report:?}");
        assert_eq!(report.invalidated_checked, 0, "{name}");
        assert!(
            !pinned.lease.as_ref().unwrap().is_valid(),
            "{name}: lease valid after reset"
        );
        assert_eq!(alloc.stats().live_arrays, 1, "{name}");
        pinned.assert_intact();

        // Later allocations and resets never touch the pinned block.
        for round in 0..rounds {
            let blocks = random_blocks(alloc, &mut rng, scaled(10, 4), 100 * round as u64);
            assert_outside(&blocks, &pinned_range);
            assert_disjoint(&blocks);
            for b in &blocks {
                b.assert_intact();
            }
            pinned.assert_intact();
            // Keep one block of every other round alive across the reset.
            let keep: Vec<Block> = blocks.into_iter().take(round % 2).collect();
            let report = alloc.reset();
            assert_eq!(report.pinned_arrays, 1 + keep.len(), "{name}: {report:?}");
            assert!(report.pinned_bytes > 0, "{name}");
            pinned.assert_intact();
            for b in &keep {
                b.assert_intact();
                assert!(!b.lease.as_ref().unwrap().is_valid());
            }
            drop(keep);
        }

        // A clone of the lease keeps the memory pinned too.
        let mut pinned = pinned;
        let clone = pinned.lease.clone().unwrap();
        drop(pinned.lease.take());
        assert_eq!(alloc.reset().pinned_arrays, 1, "{name}: a clone pins");
        pinned.lease = Some(clone);
        pinned.assert_intact();

        // Once the lease is gone, the next reset reclaims everything.
        drop(pinned);
        assert_eq!(alloc.stats().live_arrays, 0, "{name}");
        let report = alloc.reset();
        assert_eq!(report, ResetReport::default(), "{name}");
        assert_eq!(alloc.stats().used, 0, "{name}: not everything reclaimed");
    }
    for_each_allocator!(run);
}

#[test]
fn pinned_older_epoch_rewinds_to_the_next_epoch() {
    fn run<A: Inspect>(alloc: &A, name: &str) {
        let pinned = alloc_block(alloc, 96, 8, 1);
        assert_eq!(alloc.reset().pinned_arrays, 1, "{name}");
        let used_at_epoch_start = alloc.stats().used;
        // An epoch whose arrays are all gone by the next reset is rewound entirely.
        let first_of_epoch = alloc_block(alloc, 64, 8, 2);
        let addr = first_of_epoch.range().start;
        drop(first_of_epoch);
        let report = alloc.reset();
        assert_eq!(report.pinned_arrays, 1, "{name}");
        assert_eq!(alloc.stats().used, used_at_epoch_start, "{name}");
        let again = alloc_block(alloc, 64, 8, 3);
        assert_eq!(again.range().start, addr, "{name}: epoch not rewound");
        assert_outside(&[again], &pinned.range());
        pinned.assert_intact();
    }
    run(
        &BumperAllocator::with_fixed_capacity(FIXED),
        "Bumper/AllocBuffer",
    );
    run(
        &BumperAllocator::new(Slab::with_slab_size()),
        "Bumper/SlabBuffer",
    );
    run(&BumperAllocator::new(auto_buffer()), "Bumper/Autoscaling");
    run(
        &UncheckedBumperAllocator::with_fixed_capacity(FIXED),
        "Unchecked",
    );
}

#[test]
fn autoscaling_buffer_grows_under_pinning_and_recovers() {
    // The main buffer is 4 KiB; a pinned block plus later work overflows into additional
    // buffers, and the reset after the lease is gone folds them back.
    let alloc = BumperAllocator::new(auto_buffer());
    let pinned = alloc_block(&alloc, 3000, 8, 1);
    alloc.reset();
    let more: Vec<Block> = (0..4)
        .map(|k| alloc_block(&alloc, 2000, 8, 10 + k))
        .collect();
    assert_disjoint(&more);
    assert_outside(&more, &pinned.range());
    assert_eq!(alloc.reset().pinned_arrays, 5);
    pinned.assert_intact();
    for b in &more {
        b.assert_intact();
    }
    drop((pinned, more));
    assert_eq!(alloc.reset(), ResetReport::default());
    let stats = alloc.stats();
    assert_eq!(stats.used, 0);
    assert_eq!(
        alloc.to_string(),
        "BumperAllocator(AutoscalingAllocBuffer())"
    );
}

// ---------------------------------------------------------------------------------------------
// Dropping the allocator while leases live
// ---------------------------------------------------------------------------------------------

/// Writes and reads the block after the allocator is gone. Under Miri this proves the memory
/// was not freed with the allocator.
fn rewrite_and_check(block: &mut Block) {
    block.tag += 1;
    block.fill();
    block.assert_intact();
}

#[test]
fn memory_outlives_a_dropped_allocator_while_leased() {
    fn run<A: Inspect>(alloc: A, name: &str) {
        let mut old = alloc_block(&alloc, 40, 8, 1);
        assert_eq!(alloc.reset().pinned_arrays, 1, "{name}");
        let mut current = alloc_block(&alloc, 5000, 16, 2); // a big request for the slab
        let gone = alloc_block(&alloc, 30, 1, 3);
        drop(gone);
        drop(alloc);
        old.assert_intact();
        current.assert_intact();
        rewrite_and_check(&mut old);
        drop(old); // one epoch goes; the other still holds the buffer
        rewrite_and_check(&mut current);
        // The last lease may go on another thread.
        std::thread::spawn(move || {
            rewrite_and_check(&mut current);
            drop(current);
        })
        .join()
        .unwrap();
    }
    run(BumperAllocator::new(auto_buffer()), "Bumper/Autoscaling");
    run(
        BumperAllocator::with_fixed_capacity(FIXED),
        "Bumper/AllocBuffer",
    );
    run(
        BumperAllocator::new(Slab::with_slab_size()),
        "Bumper/SlabBuffer",
    );
    run(
        UncheckedBumperAllocator::new(auto_buffer()),
        "Unchecked/Autoscaling",
    );
    run(
        UncheckedBumperAllocator::with_fixed_capacity(FIXED),
        "Unchecked/AllocBuffer",
    );
    run(
        UncheckedBumperAllocator::new(Slab::with_slab_size()),
        "Unchecked/SlabBuffer",
    );
}

#[test]
fn dropping_an_allocator_without_leases_frees_at_once() {
    // Nothing to check beyond Miri's leak checker: a buffer kept alive by nobody must be freed.
    let alloc = BumperAllocator::new(Slab::with_slab_size());
    drop(alloc_block(&alloc, 100, 8, 1));
    alloc.reset();
    drop(alloc_block(&alloc, 100, 8, 2));
    drop(alloc);
    let alloc = UncheckedBumperAllocator::new(auto_buffer());
    drop(alloc_block(&alloc, 10_000, 8, 1)); // an additional buffer
    drop(alloc);
}

// ---------------------------------------------------------------------------------------------
// Checked arrays
// ---------------------------------------------------------------------------------------------

#[test]
#[should_panic(expected = "UncheckedBumperAllocator does not make CheckedAllocArrays")]
fn unchecked_allocator_refuses_checked_arrays() {
    let alloc = UncheckedBumperAllocator::with_fixed_capacity(1024);
    let _ = alloc.allocate(layout(8, 8), true);
}

#[test]
fn unchecked_allocator_refusal_leaves_it_usable() {
    let alloc = UncheckedBumperAllocator::with_fixed_capacity(1024);
    let err = catch_unwind(AssertUnwindSafe(|| alloc.allocate(layout(8, 8), true))).unwrap_err();
    let msg = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("");
    assert!(msg.contains("CheckedAllocArray"), "panic message: {msg:?}");
    assert_eq!(
        alloc.stats().used,
        0,
        "nothing allocated by the refused request"
    );
    alloc_block(&alloc, 8, 8, 1).assert_intact();
}

#[test]
fn bumper_allocator_tracks_checked_arrays() {
    let alloc = BumperAllocator::with_fixed_capacity(1024);
    let mut leases = Vec::new();
    for checked in [true, false, true, true, false] {
        let (_, lease) = alloc.allocate(layout(16, 8), checked).unwrap();
        leases.push(lease);
    }
    assert_eq!(alloc.stats().tracked_checked, 3);
    assert_eq!(
        alloc.to_string(),
        "BumperAllocator(AllocBuffer(1024 bytes)) (tracking 3 CheckedAllocArray memory locations)"
    );
    assert_eq!(
        format!("{alloc:#}"),
        "BumperAllocator(AllocBuffer(1024 bytes)): 80 of 1024 bytes used, 5 live arrays, \
         0 resets, tracking 3 checked"
    );
    assert_eq!(alloc.summary(), format!("{alloc:#}"));
    assert!(leases.iter().all(Lease::is_valid));

    let report = alloc.reset();
    assert_eq!(report.invalidated_checked, 3);
    assert_eq!(report.pinned_arrays, 5);
    assert!(leases.iter().all(|l| !l.is_valid()));
    assert_eq!(alloc.stats().tracked_checked, 0);
    assert_eq!(
        alloc.to_string(),
        "BumperAllocator(AllocBuffer(1024 bytes))"
    );

    // A failed checked request is not tracked.
    let err = alloc.allocate(layout(4096, 8), true).unwrap_err();
    assert!(matches!(err, AllocError::BufferFull { .. }));
    assert_eq!(alloc.stats().tracked_checked, 0);

    drop(leases);
    let (_, lease) = alloc.allocate(layout(16, 8), true).unwrap();
    assert_eq!(
        alloc.to_string(),
        "BumperAllocator(AllocBuffer(1024 bytes)) (tracking 1 CheckedAllocArray memory location)"
    );
    assert_eq!(
        alloc.summary(),
        "BumperAllocator(AllocBuffer(1024 bytes)): 16 of 1024 bytes used, 1 live array, \
         1 reset, tracking 1 checked"
    );
    let report = alloc.reset();
    assert_eq!(
        (report.invalidated_checked, report.pinned_arrays),
        (1, 1),
        "{report:?}"
    );
    assert!(!lease.is_valid());
    drop(lease);
    assert_eq!(alloc.reset(), ResetReport::default());
}

// ---------------------------------------------------------------------------------------------
// Display
// ---------------------------------------------------------------------------------------------

#[test]
fn display_strings() {
    assert_eq!(
        BumperAllocator::default().to_string(),
        "BumperAllocator(AutoscalingAllocBuffer())"
    );
    assert_eq!(
        UncheckedBumperAllocator::default().to_string(),
        "UncheckedBumperAllocator(AutoscalingAllocBuffer())"
    );
    assert_eq!(
        BumperAllocator::with_fixed_capacity(1 << 24).to_string(),
        "BumperAllocator(AllocBuffer(16777216 bytes))"
    );
    assert_eq!(
        UncheckedBumperAllocator::with_fixed_capacity(1 << 24).to_string(),
        "UncheckedBumperAllocator(AllocBuffer(16777216 bytes))"
    );
    assert_eq!(
        BumperAllocator::new(auto_buffer()).to_string(),
        "BumperAllocator(AutoscalingAllocBuffer())"
    );
    assert_eq!(
        BumperAllocator::new(AllocBuffer::with_capacity(100)).to_string(),
        "BumperAllocator(AllocBuffer(100 bytes))"
    );
    // Caller memory loses up to 15 bytes to the buffer's 16-byte aligned start (a `Vec<u8>` is
    // only byte-aligned; under Miri it often isn't 16-aligned): the usable capacity is shown.
    let over_vec = BumperAllocator::new(AllocBuffer::from(vec![0u8; 100]));
    let capacity = over_vec.stats().capacity;
    assert!((85..=100).contains(&capacity), "{capacity}");
    assert_eq!(
        over_vec.to_string(),
        format!("BumperAllocator(AllocBuffer({capacity} bytes))")
    );
    assert_eq!(
        BumperAllocator::new(SlabBuffer::<65536>::with_slab_size()).to_string(),
        "BumperAllocator(SlabBuffer<65536>)"
    );
    assert_eq!(
        UncheckedBumperAllocator::new(SlabBuffer::<1_048_576>::with_slab_size()).to_string(),
        "UncheckedBumperAllocator(SlabBuffer<1048576>)"
    );
    // Debug shows the stats.
    let dbg = format!("{:?}", BumperAllocator::with_fixed_capacity(64));
    assert!(
        dbg.starts_with("BumperAllocator { stats: AllocatorStats {"),
        "{dbg}"
    );
}

// ---------------------------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------------------------

#[test]
fn with_capacity_is_an_autoscaling_start_of_the_default_type() {
    fn pick(small: bool) -> BumperAllocator {
        // One type: `default()` and `with_capacity` can be the two arms of an `if`.
        if small {
            BumperAllocator::with_capacity(4096)
        } else {
            BumperAllocator::default()
        }
    }
    let small = pick(true);
    assert_eq!(small.stats().capacity, 4096);
    assert_eq!(pick(false).stats().capacity, 128 << 20);
    // A start, not a limit: it grows past it.
    let big = alloc_block(&small, 100_000, 8, 1);
    big.assert_intact();
    assert!(small.stats().capacity >= 100_000);
    let unchecked: UncheckedBumperAllocator = UncheckedBumperAllocator::with_capacity(4096);
    alloc_block(&unchecked, 100_000, 8, 2).assert_intact();
}

#[test]
fn with_fixed_capacity_never_grows() {
    let fixed: BumperAllocator<AllocBuffer<'static>> = BumperAllocator::with_fixed_capacity(4096);
    assert!(matches!(
        fixed.allocate(layout(100_000, 8), false),
        Err(AllocError::BufferFull { capacity: 4096, .. })
    ));
    assert_eq!(fixed.stats().capacity, 4096);
    let fixed = UncheckedBumperAllocator::with_fixed_capacity(4096);
    assert!(fixed.allocate(layout(100_000, 8), false).is_err());
}

#[test]
fn summary_names_usage_capacity_and_live_arrays() {
    let alloc = BumperAllocator::with_fixed_capacity(4096);
    assert_eq!(
        alloc.summary(),
        "BumperAllocator(AllocBuffer(4096 bytes)): 0 of 4096 bytes used, 0 live arrays, 0 resets"
    );
    let a = alloc_block(&alloc, 100, 4, 1);
    alloc.reset();
    let b = alloc_block(&alloc, 50, 2, 2);
    assert_eq!(
        format!("{alloc:#}"),
        "BumperAllocator(AllocBuffer(4096 bytes)): 150 of 4096 bytes used, 2 live arrays, \
         1 reset"
    );
    drop((a, b));
    let unchecked = UncheckedBumperAllocator::default();
    assert_eq!(
        unchecked.summary(),
        "UncheckedBumperAllocator(AutoscalingAllocBuffer()): 0 of 134217728 bytes used, \
         0 live arrays, 0 resets"
    );
}

// ---------------------------------------------------------------------------------------------
// The with_allocator context
// ---------------------------------------------------------------------------------------------

#[test]
fn with_allocator_nests_and_restores() {
    let outer = BumperAllocator::with_fixed_capacity(1024);
    let inner = UncheckedBumperAllocator::with_fixed_capacity(1024);
    assert!(!has_allocator());
    let r = with_allocator(&outer, || {
        assert!(has_allocator());
        let x = with_allocator(&inner, || {
            assert!(has_allocator());
            without_allocator(|| {
                assert!(!has_allocator());
                // with_allocator inside without_allocator works too.
                with_allocator(&outer, || assert!(has_allocator()));
                assert!(!has_allocator());
            });
            assert!(has_allocator());
            7
        });
        assert!(has_allocator());
        x * 6
    });
    assert_eq!(r, 42);
    assert!(!has_allocator());
}

#[test]
fn with_allocator_restores_on_panic() {
    let outer = BumperAllocator::with_fixed_capacity(1024);
    let inner = BumperAllocator::with_fixed_capacity(1024);
    with_allocator(&outer, || {
        let caught = catch_unwind(AssertUnwindSafe(|| {
            with_allocator(&inner, || -> () { panic!("boom inside") })
        }));
        assert!(caught.is_err());
        assert!(has_allocator(), "the outer allocator is current again");
        let caught = catch_unwind(AssertUnwindSafe(|| {
            without_allocator(|| -> () { panic!("boom without") })
        }));
        assert!(caught.is_err());
        assert!(
            has_allocator(),
            "restored after a panic in without_allocator"
        );
    });
    assert!(!has_allocator());
    let caught = catch_unwind(AssertUnwindSafe(|| {
        with_allocator(&outer, || -> () { panic!("boom outside") })
    }));
    assert!(caught.is_err());
    assert!(!has_allocator(), "no allocator left behind by a panic");
}

#[test]
fn with_allocator_is_per_thread() {
    let alloc = BumperAllocator::with_fixed_capacity(1024);
    with_allocator(&alloc, || {
        assert!(has_allocator());
        std::thread::scope(|s| {
            s.spawn(|| assert!(!has_allocator(), "threads do not inherit the allocator"));
        });
    });
}

// ---------------------------------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------------------------------

fn assert_sync_send<T: Sync + Send>() {}
fn assert_send<T: Send>() {}

/// Compiles only if `T` is *not* `Sync`: for a `Sync` type both impls apply and the call is
/// ambiguous (the `static_assertions::assert_not_impl_any!` trick).
trait AmbiguousIfSync<Marker> {
    fn check() {}
}
impl<T: ?Sized> AmbiguousIfSync<()> for T {}
struct IsSync;
impl<T: ?Sized + Sync> AmbiguousIfSync<IsSync> for T {}

#[test]
fn auto_traits() {
    assert_sync_send::<BumperAllocator>();
    assert_sync_send::<BumperAllocator<AutoscalingAllocBuffer>>();
    assert_sync_send::<BumperAllocator<AllocBuffer<'static>>>();
    assert_sync_send::<BumperAllocator<SlabBuffer>>();
    assert_sync_send::<Lease>();
    assert_send::<UncheckedBumperAllocator>();
    assert_send::<UncheckedBumperAllocator<AllocBuffer<'static>>>();
    <UncheckedBumperAllocator as AmbiguousIfSync<_>>::check();
    <UncheckedBumperAllocator<AllocBuffer<'static>> as AmbiguousIfSync<_>>::check();
    <UncheckedBumperAllocator<SlabBuffer> as AmbiguousIfSync<_>>::check();
}

const THREADS: usize = 4;

/// `THREADS` threads allocate `per_thread` blocks each (sizes 1 ..= 256, alignments 1 ..= 64),
/// keeping every lease; afterwards every block must be intact and disjoint from the others.
fn hammer<B: Buffer + Send + 'static>(alloc: &BumperAllocator<B>, per_thread: usize)
where
    BumperAllocator<B>: Sync,
{
    let blocks: Vec<Block> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                s.spawn(move || {
                    let mut rng = Rng::new(t as u64 + 1);
                    let mut mine = Vec::with_capacity(per_thread);
                    for i in 0..per_thread {
                        let tag = ((t as u64) << 32) | i as u64;
                        let size = rng.range(1..257);
                        let align = rng.align();
                        mine.push(alloc_block(alloc, size, align, tag));
                        // Now and then check an earlier block of this thread mid-way.
                        if i % 64 == 63 {
                            mine[rng.range(0..mine.len())].assert_intact();
                        }
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(blocks.len(), THREADS * per_thread);
    let tags: HashSet<u64> = blocks.iter().map(|b| b.tag).collect();
    assert_eq!(tags.len(), blocks.len());
    assert_disjoint(&blocks);
    for b in &blocks {
        assert_eq!(b.range().start % b.align, 0);
        b.assert_intact();
    }
    assert_eq!(alloc.stats().live_arrays, blocks.len());
    assert_eq!(alloc.reset().pinned_arrays, blocks.len());
    for b in &blocks {
        b.assert_intact();
    }
    drop(blocks);
    assert_eq!(alloc.reset(), ResetReport::default());
    assert_eq!(alloc.stats().used, 0);
}

#[test]
fn threads_get_disjoint_intact_blocks_autoscaling() {
    // Starts at 4 KiB, so the threads race through the creation of additional buffers.
    hammer(&BumperAllocator::new(auto_buffer()), scaled(4000, 40));
}

#[test]
fn threads_get_disjoint_intact_blocks_default() {
    if cfg!(miri) {
        hammer(&BumperAllocator::default(), 10);
    } else {
        hammer(&BumperAllocator::default(), 4000);
    }
}

#[test]
fn threads_get_disjoint_intact_blocks_fixed() {
    // Worst case per block: 256 bytes + 63 of padding.
    let per_thread = scaled(4000, 40);
    hammer(
        &BumperAllocator::with_fixed_capacity(THREADS * per_thread * 320),
        per_thread,
    );
}

#[test]
fn threads_get_disjoint_intact_blocks_slab() {
    hammer(
        &BumperAllocator::new(Slab::with_slab_size()),
        scaled(4000, 40),
    );
}

#[test]
fn threads_allocate_while_another_resets() {
    // Three threads allocate and keep their blocks while a fourth resets over and over: every
    // reset finds the blocks pinned, so none is ever handed out twice.
    let alloc = BumperAllocator::new(auto_buffer());
    let per_thread = scaled(2000, 30);
    let done = AtomicUsize::new(0);
    let blocks: Vec<Block> = std::thread::scope(|s| {
        let alloc = &alloc;
        let done = &done;
        let workers: Vec<_> = (0..3u64)
            .map(|t| {
                s.spawn(move || {
                    // Counts the worker as done even if it panics, so the resetter stops.
                    struct Done<'a>(&'a AtomicUsize);
                    impl Drop for Done<'_> {
                        fn drop(&mut self) {
                            self.0.fetch_add(1, Ordering::Release);
                        }
                    }
                    let _done = Done(done);
                    let mut rng = Rng::new(t + 11);
                    let mine: Vec<Block> = (0..per_thread)
                        .map(|i| {
                            let size = rng.range(1..257);
                            let align = rng.align();
                            alloc_block(alloc, size, align, (t << 32) | i as u64)
                        })
                        .collect();
                    mine
                })
            })
            .collect();
        s.spawn(move || {
            while done.load(Ordering::Acquire) < 3 {
                let report = alloc.reset();
                assert!(report.pinned_arrays <= 3 * per_thread);
                std::thread::yield_now();
            }
        });
        workers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_disjoint(&blocks);
    for b in &blocks {
        b.assert_intact();
    }
    drop(blocks);
    assert_eq!(alloc.reset(), ResetReport::default());
    assert_eq!(alloc.stats().used, 0);
}

#[test]
fn leases_dropped_on_other_threads() {
    // Blocks allocated here, filled, and released on another thread (joined before the reset,
    // so the join orders the writes before the reuse).
    let alloc = BumperAllocator::with_fixed_capacity(FIXED);
    let mut rng = Rng::new(5);
    for round in 0..scaled(5, 2) {
        let blocks = random_blocks(&alloc, &mut rng, 8, round as u64 * 100);
        let (keep, send): (Vec<Block>, Vec<Block>) =
            blocks.into_iter().partition(|b| b.tag % 2 == 0);
        std::thread::spawn(move || {
            for mut b in send {
                rewrite_and_check(&mut b);
            }
        })
        .join()
        .unwrap();
        let report = alloc.reset();
        assert_eq!(report.pinned_arrays, keep.len());
        for b in &keep {
            b.assert_intact();
        }
        drop(keep);
        assert_eq!(alloc.reset(), ResetReport::default());
    }
}

// ---------------------------------------------------------------------------------------------
// A lease dropped on another thread, observed through `stats()` alone
// ---------------------------------------------------------------------------------------------
//
// The thread writes into its block and drops the lease (a release decrement of the epoch's
// `Arc`); this thread polls `stats().live_arrays` until it reads 0 and then reuses or frees the
// memory. Nothing else orders the two threads, so the allocator itself must acquire the lease
// drops before reclaiming (as `Arc::drop` does with its acquire fence). Natively these pass
// whatever the ordering; Miri's data-race detector checks it, on the schedules where the
// reclaiming reset or drop sees the lease already gone (try several seeds:
// `MIRIFLAGS="-Zmiri-strict-provenance -Zmiri-many-seeds=0..16" cargo +nightly miri test -p
// allocarrays --test allocators race_free`).

/// Waits until a block, written and released on another thread, shows as released in
/// `stats()`, then runs `reclaim` on this thread (before the scope joins the other thread).
fn release_on_thread_then<A: Inspect + Sync>(alloc: A, size: usize, reclaim: impl FnOnce(A)) {
    let mut block = alloc_block(&alloc, size, 8, 1);
    std::thread::scope(|s| {
        s.spawn(move || {
            rewrite_and_check(&mut block);
            drop(block);
        });
        while alloc.stats().live_arrays != 0 {
            std::thread::yield_now();
        }
        // `live_arrays` drops just before the lease releases its epoch: let that finish too.
        for _ in 0..100 {
            std::thread::yield_now();
        }
        reclaim(alloc);
    });
}

#[test]
fn memory_released_on_another_thread_is_reused_race_free() {
    release_on_thread_then(BumperAllocator::with_fixed_capacity(FIXED), 64, |alloc| {
        if alloc.reset().pinned_bytes == 0 {
            // The same memory, written again.
            alloc_block(&alloc, 64, 8, 2).assert_intact();
        }
    });
}

#[test]
fn memory_released_on_another_thread_is_freed_race_free_by_reset() {
    // More than half a slab: its own heap block, freed by a reset that finds it unused.
    release_on_thread_then(
        BumperAllocator::new(Slab::with_slab_size()),
        SLAB,
        |alloc| {
            alloc.reset();
        },
    );
}

#[test]
fn memory_released_on_another_thread_is_freed_race_free_by_drop() {
    // Dropping the allocator frees the buffer at once if it sees no live lease.
    release_on_thread_then(BumperAllocator::with_fixed_capacity(FIXED), 64, drop);
}
