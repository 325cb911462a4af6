//! `reset` never allocates, so a global allocator that fails can't make it abort: this binary
//! installs one that fails every request of the current thread while a flag is up, resets
//! allocators with arrays pinned across many epochs under it, and checks that nothing live was
//! freed and that the allocators work afterwards. Allocation itself reports the failure as an
//! error (`OutOfMemory`) when it needs bookkeeping memory, instead of aborting.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use allocarrays::{ArrayAllocator, BumperAllocator, Lease, UncheckedBumperAllocator};
use bumper::AllocError;

/// Fails every allocation of a thread whose flag is up.
struct FailOnDemand;

std::thread_local! {
    static FAILING: Cell<bool> = const { Cell::new(false) };
}

fn failing() -> bool {
    FAILING.try_with(Cell::get).unwrap_or(false)
}

// SAFETY: forwards to `System`, or returns null (a failure the contract allows).
unsafe impl GlobalAlloc for FailOnDemand {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if failing() {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's layout, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` (a null was never handed out as memory).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if failing() {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: FailOnDemand = FailOnDemand;

/// Runs `f` with every allocation of this thread failing.
fn with_failing_heap<R>(f: impl FnOnce() -> R) -> R {
    struct Lower;
    impl Drop for Lower {
        fn drop(&mut self) {
            FAILING.with(|flag| flag.set(false));
        }
    }
    FAILING.with(|flag| flag.set(true));
    let _lower = Lower;
    f()
}

const EPOCHS: usize = if cfg!(miri) { 8 } else { 200 };

/// A block filled with a pattern, kept alive by its lease.
struct Block {
    ptr: std::ptr::NonNull<u8>,
    size: usize,
    tag: u8,
    _lease: Lease,
}

impl Block {
    fn new<A: ArrayAllocator>(alloc: &A, size: usize, tag: u8) -> Block {
        let (ptr, lease) = alloc
            .allocate(Layout::from_size_align(size, 8).unwrap(), false)
            .unwrap();
        // SAFETY: `size` bytes, ours while the lease lives.
        unsafe { ptr.as_ptr().write_bytes(tag, size) };
        Block {
            ptr,
            size,
            tag,
            _lease: lease,
        }
    }

    fn assert_intact(&self) {
        // SAFETY: written in `new`, kept by the lease.
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.size) };
        assert!(
            bytes.iter().all(|&b| b == self.tag),
            "block {} freed",
            self.tag
        );
    }
}

/// Pins a block in every epoch (and drops some, out of order), resetting under a failing heap
/// each time; then checks the survivors and that the allocator serves and resets normally.
fn pinned_epochs_reset_under_failure<A: ArrayAllocator>(
    alloc: &A,
    reset: impl Fn(&A) -> allocarrays::ResetReport,
) {
    let mut kept: Vec<Block> = Vec::new();
    for k in 0..EPOCHS {
        kept.push(Block::new(alloc, 24 + k % 40, k as u8));
        let scratch = Block::new(alloc, 300, 0xEE);
        drop(scratch);
        if k % 3 == 2 {
            kept.remove(k % kept.len());
        }
        let report = with_failing_heap(|| reset(alloc));
        assert_eq!(report.pinned_arrays, kept.len(), "epoch {k}");
        for b in &kept {
            b.assert_intact();
        }
    }
    // Usable afterwards: new blocks don't touch the kept ones, and a full reset works.
    let fresh: Vec<Block> = (0..10).map(|i| Block::new(alloc, 64, 200 + i)).collect();
    for b in kept.iter().chain(&fresh) {
        b.assert_intact();
    }
    drop((kept, fresh));
    let report = with_failing_heap(|| reset(alloc));
    assert_eq!(report.pinned_arrays, 0);
    Block::new(alloc, 128, 7).assert_intact();
}

#[test]
fn reset_never_aborts_fixed_buffer() {
    let alloc = BumperAllocator::with_fixed_capacity(1 << 20);
    pinned_epochs_reset_under_failure(&alloc, BumperAllocator::reset);
    let alloc = UncheckedBumperAllocator::with_fixed_capacity(1 << 20);
    pinned_epochs_reset_under_failure(&alloc, UncheckedBumperAllocator::reset);
}

#[test]
fn reset_never_aborts_autoscaling_buffer_while_pinned() {
    // While arrays are pinned the buffer itself is not reset, so only the allocator's own
    // bookkeeping is involved. (The final reset, with nothing pinned, resets the buffer, which
    // records its usage history: done once before failing, so the history has room.)
    let alloc = BumperAllocator::with_capacity(64 * 1024);
    for _ in 0..10 {
        Block::new(&alloc, 100, 1);
        alloc.reset();
    }
    pinned_epochs_reset_under_failure(&alloc, BumperAllocator::reset);
}

#[test]
fn allocation_reports_a_failing_heap_as_an_error() {
    let alloc = BumperAllocator::with_fixed_capacity(1 << 20);
    let first = Block::new(&alloc, 64, 1);
    // Room left in the current chunk: no heap needed.
    let second = with_failing_heap(|| Block::new(&alloc, 64, 2));
    // A new chunk needs a header from the heap: an error, not an abort.
    let err = with_failing_heap(|| {
        alloc
            .allocate(Layout::from_size_align(200_000, 8).unwrap(), false)
            .map(|_| ())
            .unwrap_err()
    });
    assert!(matches!(err, AllocError::OutOfMemory { .. }), "{err:?}");
    // Nothing changed; with the heap back the same request works.
    first.assert_intact();
    second.assert_intact();
    let third = Block::new(&alloc, 200_000, 3);
    third.assert_intact();
    assert_eq!(alloc.reset().pinned_arrays, 3);
}
