//! `BumperAllocator` under many threads at once (more than the machine has cores): every block
//! handed out is checked against every other live block for overlap, filled with a pattern and
//! checked intact for as long as it lives, while any thread resets the allocator at any time and
//! blocks are dropped on threads other than the one that made them.
//!
//! Runs under Miri with small sizes, over many schedules:
//! `MIRIFLAGS="-Zmiri-strict-provenance -Zmiri-many-seeds=0..16" cargo +nightly miri test -p
//! allocarrays --test threads`.

use std::alloc::Layout;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::ptr::NonNull;
use std::sync::Mutex;

use allocarrays::{ArrayAllocator, AutoscalingAllocBuffer, BumperAllocator, Lease};
use bumper::{AllocBuffer, AllocError, Buffer, SlabBuffer};

const THREADS: usize = if cfg!(miri) { 3 } else { 8 };
const ROUNDS: usize = if cfg!(miri) { 12 } else { 3_000 };

/// Live blocks of all threads, start address to end, to check each new one against.
struct Registry(Mutex<BTreeMap<usize, usize>>);

impl Registry {
    fn insert(&self, start: usize, end: usize) {
        let mut map = self.0.lock().unwrap();
        if let Some((&s, &e)) = map.range(..end).next_back() {
            assert!(
                e <= start || s >= end || start == end,
                "new block {start:#x}..{end:#x} overlaps live block {s:#x}..{e:#x}"
            );
        }
        if start != end {
            map.insert(start, end);
        }
    }

    fn remove(&self, start: usize) {
        self.0.lock().unwrap().remove(&start);
    }
}

/// A block with a pattern; removed from the registry before its lease goes.
struct Block<'r> {
    ptr: NonNull<u8>,
    size: usize,
    tag: u8,
    lease: Option<Lease>,
    registry: &'r Registry,
}

// SAFETY: the block's memory is exclusively ours while the lease lives, like a `Box<[u8]>`.
unsafe impl Send for Block<'_> {}

impl<'r> Block<'r> {
    fn new<A: ArrayAllocator>(alloc: &A, registry: &'r Registry, size: usize, tag: u8) -> Self {
        let align = 1 << (tag % 7);
        let (ptr, lease) = alloc
            .allocate(Layout::from_size_align(size, align).unwrap(), false)
            .unwrap();
        assert_eq!(ptr.as_ptr().addr() % align, 0);
        let start = ptr.as_ptr().addr();
        registry.insert(start, start + size);
        // SAFETY: `size` bytes, ours while the lease lives.
        unsafe { ptr.as_ptr().write_bytes(tag, size) };
        Block {
            ptr,
            size,
            tag,
            lease: Some(lease),
            registry,
        }
    }

    fn assert_intact(&self) {
        // SAFETY: written in `new`, ours while the lease lives.
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.size) };
        assert!(
            bytes.iter().all(|&b| b == self.tag),
            "block {:#x} ({} bytes, tag {}) overwritten",
            self.ptr.as_ptr().addr(),
            self.size,
            self.tag
        );
    }
}

impl Drop for Block<'_> {
    fn drop(&mut self) {
        self.assert_intact();
        self.registry.remove(self.ptr.as_ptr().addr());
        drop(self.lease.take());
    }
}

/// A cheap per-thread generator.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// `THREADS` threads allocate, keep some blocks across rounds, hand some to a shared pile that
/// any thread drops, and reset now and then, all at once.
fn hammer<B: Buffer + Send + 'static>(alloc: &BumperAllocator<B>, big: usize) {
    let registry = Registry(Mutex::new(BTreeMap::new()));
    let pile: Mutex<Vec<Block<'_>>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (registry, pile) = (&registry, &pile);
            s.spawn(move || {
                let mut rng = 0x9E37_79B9_7F4A_7C15_u64 ^ ((t as u64 + 1) * 0x1234_5678);
                let mut kept: Vec<Block<'_>> = Vec::new();
                for round in 0..ROUNDS {
                    let n = 1 + next(&mut rng) as usize % 4;
                    for k in 0..n {
                        let size = if next(&mut rng) % 16 == 0 {
                            big
                        } else {
                            1 + next(&mut rng) as usize % 200
                        };
                        let tag = (t * 31 + round + k) as u8 | 1;
                        let block = Block::new(alloc, registry, size, tag);
                        match next(&mut rng) % 4 {
                            0 => kept.push(block),
                            1 => pile.lock().unwrap().push(block),
                            _ => drop(block),
                        }
                    }
                    if kept.len() > 8 {
                        kept.remove(next(&mut rng) as usize % kept.len());
                    }
                    if next(&mut rng) % 8 == 0 {
                        let taken: Vec<Block<'_>> = std::mem::take(&mut *pile.lock().unwrap());
                        drop(taken);
                    }
                    if next(&mut rng) % 5 == 0 {
                        alloc.reset();
                    }
                    for b in &kept {
                        b.assert_intact();
                    }
                }
            });
        }
    });
    drop(pile);
    assert_eq!(alloc.stats().live_arrays, 0);
    assert_eq!(alloc.reset().pinned_arrays, 0);
    // A thread's slot is let go when the thread's thread-locals are destroyed, which may come
    // a little after `scope` saw it finish: the first reset after that reclaims everything.
    let mut tries = 0;
    while alloc.stats().used != 0 {
        tries += 1;
        assert!(
            tries < 10_000,
            "slots of ended threads never reclaimed: {:?}",
            alloc.stats()
        );
        std::thread::yield_now();
        alloc.reset();
    }
}

#[test]
fn many_threads_with_resets_from_any_thread_fixed() {
    // Chunks of a sixteenth of the buffer: the big requests (more than half a chunk) get their
    // own.
    let (capacity, big) = if cfg!(miri) {
        (1 << 18, 10_000)
    } else {
        (1 << 22, 40_000)
    };
    hammer(&BumperAllocator::with_fixed_capacity(capacity), big);
}

#[test]
fn many_threads_with_resets_from_any_thread_autoscaling() {
    let alloc = BumperAllocator::new(AutoscalingAllocBuffer::with_initial_size(1 << 16));
    hammer(&alloc, 40_000);
}

#[test]
fn many_threads_with_resets_from_any_thread_slab() {
    hammer(
        &BumperAllocator::new(SlabBuffer::<4096>::with_slab_size()),
        3000,
    );
}

#[test]
fn an_allocator_dropped_while_other_threads_hold_and_drop_leases() {
    for _ in 0..if cfg!(miri) { 2 } else { 50 } {
        let registry = Registry(Mutex::new(BTreeMap::new()));
        let alloc = BumperAllocator::with_fixed_capacity(1 << 16);
        let blocks: Vec<Block<'_>> = (0..THREADS * 4)
            .map(|i| Block::new(&alloc, &registry, 24 + i, i as u8 | 1))
            .collect();
        let mut blocks = blocks.into_iter();
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                let mine: Vec<Block<'_>> = blocks.by_ref().take(4).collect();
                s.spawn(move || {
                    for b in mine {
                        b.assert_intact();
                        drop(b);
                    }
                });
            }
            // Dropped while the threads still use (and drop) its memory.
            drop(alloc);
        });
    }
}

// ---------------------------------------------------------------------------------------------
// A buffer whose checkpoint may not leave its thread
// ---------------------------------------------------------------------------------------------

std::thread_local! {
    /// Restores done with checkpoints taken on this thread.
    static RESTORES: Cell<usize> = const { Cell::new(0) };
}

/// A checkpoint that points at the thread-local counter of the thread that took it: `!Send`,
/// as the `Buffer` contract allows. Restoring it from another thread would race with that
/// thread's own use of the counter.
#[derive(Clone, Copy)]
struct LocalCheckpoint {
    inner: bumper::AllocCheckpoint,
    counter: *const Cell<usize>,
}

impl fmt::Debug for LocalCheckpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalCheckpoint")
            .field("inner", &self.inner)
            .finish()
    }
}

/// An `AllocBuffer` with thread-bound checkpoints.
struct ThreadBoundCheckpoints(AllocBuffer<'static>);

// SAFETY: forwards to `AllocBuffer`; the counter is bookkeeping only.
unsafe impl Buffer for ThreadBoundCheckpoints {
    type Checkpoint = LocalCheckpoint;

    fn try_alloc_layout(&mut self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        self.0.try_alloc_layout(layout)
    }

    fn checkpoint(&self) -> LocalCheckpoint {
        LocalCheckpoint {
            inner: self.0.checkpoint(),
            counter: RESTORES.with(|c| c as *const Cell<usize>),
        }
    }

    unsafe fn restore(&mut self, checkpoint: LocalCheckpoint) {
        // SAFETY: only sound on the thread that took the checkpoint, which is the point.
        unsafe { (*checkpoint.counter).set((*checkpoint.counter).get() + 1) };
        // SAFETY: forwarded from our caller.
        unsafe { self.0.restore(checkpoint.inner) }
    }

    fn reset(&mut self) {
        self.0.reset();
    }

    fn stats(&self) -> Option<bumper::BufferStats> {
        self.0.stats()
    }
}

fn assert_sync<T: Sync>(_: &T) {}

#[test]
fn a_buffer_with_thread_bound_checkpoints_is_reset_from_any_thread() {
    // The allocator keeps no checkpoint of its buffer, so it may be shared even when the
    // checkpoints may not leave their thread: resets from any thread never restore one.
    let alloc = BumperAllocator::new(ThreadBoundCheckpoints(AllocBuffer::with_capacity(1 << 16)));
    assert_sync(&alloc);
    let registry = Registry(Mutex::new(BTreeMap::new()));
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (alloc, registry) = (&alloc, &registry);
            s.spawn(move || {
                for round in 0..if cfg!(miri) { 6 } else { 500 } {
                    let keep = Block::new(alloc, registry, 40, (t + round) as u8 | 1);
                    alloc.reset();
                    RESTORES.with(|c| c.set(c.get() + 1000));
                    keep.assert_intact();
                }
                assert_eq!(
                    RESTORES.with(Cell::get) % 1000,
                    0,
                    "restored from elsewhere"
                );
            });
        }
    });
}
