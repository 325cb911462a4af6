//! Leases: the claim an arena array holds on the chunk of allocator memory it lives in, so that
//! neither a `reset` nor dropping the allocator hands that memory out again or frees it while the
//! array lives; and the clock of resets that tells checked arrays whether their memory was reset.

use std::alloc::Layout;
use std::fmt;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};

/// The part of an allocator's shared state that leases reach: the reset count and the count of
/// things (the allocator itself and chunks with live leases once it is gone) keeping it alive.
///
/// It is the first field of the allocator's `#[repr(C)]` shared block, so a pointer to it is a
/// pointer to the whole block, which `free` knows how to drop.
pub(crate) struct Clock {
    /// Resets so far (and one more once the allocator is dropped). A lease is valid while this
    /// still equals the value it was made under.
    epoch: AtomicU64,
    /// While the allocator lives: unused (1). Once it is dropped: 1 for each chunk that still
    /// has leases, the last one to go frees the shared block (see [`Clock::orphan`]).
    remaining: AtomicUsize,
    /// Drops the shared block this clock heads.
    free: unsafe fn(NonNull<Clock>),
}

impl Clock {
    /// A clock at epoch 0 whose block is dropped by `free`.
    pub(crate) fn new(free: unsafe fn(NonNull<Clock>)) -> Self {
        Clock {
            epoch: AtomicU64::new(0),
            remaining: AtomicUsize::new(1),
            free,
        }
    }

    /// The current epoch. Only the allocator (under its lock) moves it, so a load under the
    /// lock is exact; elsewhere it may be one behind, which orders the caller before the reset.
    #[inline]
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Starts a new epoch: every lease made before now becomes invalid. Called under the
    /// allocator's lock (or with the allocator owned), so there is one writer.
    pub(crate) fn advance(&self) -> u64 {
        let next = self.epoch.load(Ordering::Relaxed).wrapping_add(1);
        self.epoch.store(next, Ordering::Release);
        next
    }

    /// Hands the shared block to the allocator's chunks when the allocator is dropped: each of
    /// the `chunks` holds it until its last lease goes (see [`ChunkHeader::disown`]), and the
    /// allocator keeps one hold until it has let go of them all.
    ///
    /// Call it before giving up the allocator's own hold on those chunks.
    pub(crate) fn set_orphan_holders(&self, chunks: usize) {
        // Published by the `AcqRel` decrements of the chunks' counts that follow.
        self.remaining.store(chunks + 1, Ordering::Relaxed);
    }

    /// Gives up `n` holds on the shared block `clock` heads; true if that was the last, so the
    /// caller frees the block.
    ///
    /// A function of the pointer, not a method: once the count is down, another thread may
    /// free the block, so no reference to the clock may be alive across the decrement (only
    /// one to the atomic itself, as `Arc` does).
    ///
    /// # Safety
    ///
    /// The caller holds `n` holds on the block.
    pub(crate) unsafe fn release(clock: NonNull<Clock>, n: usize) -> bool {
        // SAFETY: alive while the caller holds it; the reference covers the atomic only.
        let remaining = unsafe { &(*clock.as_ptr()).remaining };
        if remaining.fetch_sub(n, Ordering::Release) == n {
            fence(Ordering::Acquire);
            true
        } else {
            false
        }
    }
}

/// One chunk of allocator memory as leases see it: a count and the clock. Lives on the heap,
/// apart from the chunk's memory, so its address is stable for as long as anything refers to it.
pub(crate) struct ChunkHeader {
    /// Live leases on the chunk, plus 1 while its allocator holds it. So 1 means "no array
    /// uses this memory", and 0 (reached only after the allocator is dropped) means "free the
    /// header and give up the chunk's hold on the shared block".
    leases: AtomicUsize,
    clock: NonNull<Clock>,
}

impl ChunkHeader {
    /// A header on the heap with the allocator's hold only, or `None` if the heap has no room.
    pub(crate) fn allocate(clock: NonNull<Clock>) -> Option<NonNull<ChunkHeader>> {
        let layout = Layout::new::<ChunkHeader>();
        // SAFETY: the layout has a non-zero size.
        let ptr = NonNull::new(unsafe { std::alloc::alloc(layout) }.cast::<ChunkHeader>())?;
        // SAFETY: fresh memory for one header, aligned by `alloc`.
        unsafe {
            ptr.as_ptr().write(ChunkHeader {
                leases: AtomicUsize::new(1),
                clock,
            })
        };
        Some(ptr)
    }

    /// Frees a header made by [`allocate`](Self::allocate).
    ///
    /// # Safety
    ///
    /// Nothing refers to the header any more (no lease, no allocator list).
    pub(crate) unsafe fn free(header: NonNull<ChunkHeader>) {
        // SAFETY: allocated by `allocate` with this layout; unused from now on (caller).
        unsafe { std::alloc::dealloc(header.as_ptr().cast(), Layout::new::<ChunkHeader>()) }
    }

    /// Live leases of the chunk plus unused reserved counts (the allocator's own hold excluded).
    /// Only meaningful while the allocator holds the chunk.
    ///
    /// When it returns 0, every lease has been dropped, possibly on other threads after writing
    /// to the memory: the acquire load orders those writes (released by the decrements) before
    /// whatever the caller does next with the memory, such as handing it out again.
    #[inline]
    pub(crate) fn live(&self) -> usize {
        self.leases.load(Ordering::Acquire) - 1
    }

    /// A new lease on the chunk, valid while the clock is at `epoch`.
    #[inline]
    pub(crate) fn lease(header: NonNull<ChunkHeader>, epoch: u64) -> Lease {
        // SAFETY: the caller holds the allocator, which holds the header.
        let count = unsafe { header.as_ref() }
            .leases
            .fetch_add(1, Ordering::Relaxed);
        if count > isize::MAX as usize {
            // Only reachable by leaking leases in a loop, as with `Arc`.
            std::process::abort();
        }
        Lease {
            chunk: header,
            epoch,
        }
    }

    /// Adds `n` to the count ahead of time, for a slot to hand out `n` leases with
    /// [`lease_reserved`](Self::lease_reserved) without touching the count (a shared
    /// read-modify-write) on every allocation.
    pub(crate) fn reserve(header: NonNull<ChunkHeader>, n: usize) {
        // SAFETY: the caller holds the allocator, which holds the header.
        let count = unsafe { header.as_ref() }
            .leases
            .fetch_add(n, Ordering::Relaxed);
        if count > isize::MAX as usize / 2 {
            std::process::abort();
        }
    }

    /// Gives back `n` reserved counts that were not used.
    ///
    /// # Safety
    ///
    /// The caller reserved at least `n` counts that it has not used or given back.
    pub(crate) unsafe fn unreserve(header: NonNull<ChunkHeader>, n: usize) {
        // SAFETY: the allocator holds the header. The allocator's own hold keeps the count
        // above 0.
        unsafe { header.as_ref() }
            .leases
            .fetch_sub(n, Ordering::Release);
    }

    /// A lease that uses one reserved count.
    ///
    /// # Safety
    ///
    /// The caller reserved a count on `header` (see [`reserve`](Self::reserve)) that it has
    /// not used or given back; this uses it.
    #[inline]
    pub(crate) unsafe fn lease_reserved(header: NonNull<ChunkHeader>, epoch: u64) -> Lease {
        Lease {
            chunk: header,
            epoch,
        }
    }

    /// Gives up the allocator's hold on the chunk when the allocator is dropped. Returns true if
    /// no lease was left (the caller frees the header and counts the chunk's hold on the shared
    /// block as released); otherwise the last lease does that.
    ///
    /// # Safety
    ///
    /// Called once per chunk, by the allocator's drop, after
    /// [`Clock::set_orphan_holders`] counted this chunk.
    pub(crate) unsafe fn disown(header: NonNull<ChunkHeader>) -> bool {
        // SAFETY: the allocator still holds the header.
        let header = unsafe { header.as_ref() };
        header.leases.fetch_sub(1, Ordering::AcqRel) == 1
    }
}

/// A claim on arena memory: while it lives, the memory is not handed out again nor freed, even
/// across resets or after the allocator is dropped. Held by every array whose memory came from
/// an arena.
///
/// It also remembers the reset count at allocation: [`is_valid`](Lease::is_valid) says whether
/// the allocator was reset since (checked arrays refuse access then).
///
/// ```
/// use allocarrays::{ArrayAllocator, BumperAllocator};
/// use std::alloc::Layout;
///
/// let alloc = BumperAllocator::with_fixed_capacity(1 << 16);
/// let (_ptr, lease) = alloc.allocate(Layout::new::<[f64; 4]>(), false).unwrap();
/// assert!(lease.is_valid());
/// alloc.reset();
/// assert!(!lease.is_valid()); // the memory itself stays untouched while `lease` lives
/// ```
pub struct Lease {
    chunk: NonNull<ChunkHeader>,
    epoch: u64,
}

// SAFETY: a lease only touches the header's and the clock's atomics, from any thread; the last
// one of an orphaned chunk may drop the allocator's shared block (and its buffer) on the thread
// it is dropped on, which the allocators allow by requiring `B: Send` of their buffers.
unsafe impl Send for Lease {}
// SAFETY: through `&Lease` only `is_valid` (atomic loads) and `clone` (an atomic increment)
// are reachable.
unsafe impl Sync for Lease {}

impl Lease {
    /// Whether the allocator has not been reset (nor dropped) since the memory was handed out.
    /// The memory itself stays valid either way; checked arrays refuse access once this is
    /// false.
    ///
    /// ```
    /// use allocarrays::{ArrayAllocator, BumperAllocator};
    /// use std::alloc::Layout;
    ///
    /// let alloc = BumperAllocator::default();
    /// let (_ptr, lease) = alloc.allocate(Layout::new::<u64>(), false).unwrap();
    /// assert!(lease.is_valid());
    /// drop(alloc);
    /// assert!(!lease.is_valid());
    /// ```
    #[must_use]
    pub fn is_valid(&self) -> bool {
        // SAFETY: the header lives while a lease does, and so does the clock (the shared block
        // is freed only after the last chunk's last lease).
        let clock = unsafe { self.chunk.as_ref().clock.as_ref() };
        clock.epoch() == self.epoch
    }
}

impl Clone for Lease {
    fn clone(&self) -> Self {
        // The chunk is held by this lease, so the count is at least 1 and the header alive.
        ChunkHeader::lease(self.chunk, self.epoch)
    }
}

impl Drop for Lease {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the header lives while a lease does.
        let header = unsafe { self.chunk.as_ref() };
        if header.leases.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        // The allocator is gone and this was the chunk's last lease: the chunk gives up its hold
        // on the shared block, and the header goes.
        fence(Ordering::Acquire);
        release_orphaned(self.chunk);
    }
}

#[cold]
#[inline(never)]
fn release_orphaned(header: NonNull<ChunkHeader>) {
    // SAFETY: the count reached 0, so nothing refers to the header but us; the clock is alive
    // while this chunk still holds the shared block.
    let clock = unsafe { header.as_ref() }.clock;
    // SAFETY: as above.
    unsafe { ChunkHeader::free(header) };
    // SAFETY: the chunk held the block; that hold is given up here.
    if unsafe { Clock::release(clock, 1) } {
        // SAFETY: that was the last hold: nobody else refers to the block.
        unsafe { (clock.as_ref().free)(clock) }
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("valid", &self.is_valid())
            .finish()
    }
}
