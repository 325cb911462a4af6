//! The implementation both bump allocators share, generic over how the state is locked
//! ([`Sharing`]: a `Mutex` and one bump slot per thread, or a `RefCell` and one slot).
//!
//! # Layout
//!
//! The allocator carves **chunks** out of its [`Buffer`] (64 KiB for big buffers, less for
//! small ones; a request of more than half a chunk gets a chunk of its own size). Each chunk has
//! a heap-allocated [`ChunkHeader`] counting the [`Lease`]s on it. A thread bumps inside the
//! chunk attached to its **slot**, with no lock and no atomic read-modify-write: the slot
//! reserves lease counts on the chunk in bulk when it attaches it and hands them out one by
//! one (dropping a lease is one decrement of the chunk's count). Slots get chunks, and give
//! them back with the unused reserve, under the lock.
//!
//! # Reuse rule
//!
//! A chunk is handed out again only when it is attached to no slot and its count says no lease
//! is left ("idle and dead"); a chunk attached to a slot is rewound only by the thread owning
//! that slot, when no lease is left on it. So memory a live array uses is never handed out
//! again, and everything else is reused, whatever order the arrays die in: a live array pins
//! its own chunk, not the memory allocated before it. The free tail of an idle chunk that
//! arrays still use is split off as a chunk of its own (its own count), and merged back once
//! both are dead, so a pinned array wastes no more than the dead arrays below it in its chunk.
//! When a reset finds every chunk idle and dead, it resets the buffer itself (which lets an
//! autoscaling buffer re-size).
//!
//! A reset starts a new epoch: leases made before it report [`Lease::is_valid`] false. The
//! chunk attached to the resetting thread's slot is detached (so the next epoch starts in a
//! dead chunk); other threads' slots detach or rewind their chunk at their next allocation,
//! and slots of threads that ended are detached by the next reset.
//!
//! `reset` allocates nothing: the lists it moves chunks between have their room reserved when
//! a chunk is made (at allocation, where failure is an [`AllocError`]).

use std::alloc::Layout;
use std::marker::PhantomData;
use std::ops::DerefMut;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering::Relaxed};

use bumper::{AllocError, Buffer};

use crate::epoch::{ChunkHeader, Clock, Lease};

/// What a [`reset`](crate::BumperAllocator::reset) did.
///
/// ```
/// use allocarrays::{ArrayAllocator, BumperAllocator};
/// use std::alloc::Layout;
///
/// let alloc = BumperAllocator::with_fixed_capacity(1 << 16);
/// let (_ptr, lease) = alloc.allocate(Layout::new::<[u8; 100]>(), false).unwrap();
/// let report = alloc.reset();
/// assert_eq!(report.pinned_arrays, 1);
/// assert!(report.pinned_bytes >= 100);
/// drop(lease);
/// assert_eq!(alloc.reset().pinned_arrays, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ResetReport {
    /// Arena arrays still alive at the reset. Their memory stays untouched until they are
    /// dropped (and is reused after that); checked ones refuse access from now on.
    pub pinned_arrays: usize,
    /// Bytes of the chunks kept for them (0 when nothing was pinned).
    pub pinned_bytes: usize,
    /// Checked arrays allocated since the previous reset, now invalidated.
    pub invalidated_checked: usize,
}

/// Usage figures of an allocator.
///
/// ```
/// use allocarrays::{ArrayAllocator, BumperAllocator};
/// use std::alloc::Layout;
///
/// let alloc = BumperAllocator::with_fixed_capacity(1 << 16);
/// let (_ptr, _lease) = alloc.allocate(Layout::new::<[u8; 100]>(), false).unwrap();
/// let stats = alloc.stats();
/// assert_eq!((stats.used, stats.capacity, stats.live_arrays), (100, 1 << 16, 1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct AllocatorStats {
    /// Bytes in use: up to the last allocation in every chunk some array may still use
    /// (dead chunks count 0).
    pub used: usize,
    /// Bytes the buffer holds.
    pub capacity: usize,
    /// Arena arrays alive, made in any epoch.
    pub live_arrays: usize,
    /// Checked arrays allocated since the last reset (the seed's "tracked memory locations").
    pub tracked_checked: usize,
    /// Resets so far.
    pub resets: usize,
}

/// Smallest and largest chunk carved for small requests.
const MIN_CHUNK: usize = 256;
const MAX_CHUNK: usize = 64 * 1024;
/// Alignment of a chunk carved for small requests (a cache line, so threads' chunks don't
/// share one).
const CHUNK_ALIGN: usize = 64;
/// Per-thread slots of a [`Locked`] allocator; threads past them share one slot under the lock.
pub(crate) const THREAD_SLOTS: usize = 32;
/// Lease counts a slot reserves on its chunk at a time, so its allocations don't touch the
/// shared count.
const RESERVE: usize = 1 << 24;
/// Owner token of the slot used under the lock.
const OVERFLOW_TOKEN: u64 = u64::MAX;

/// How an allocator's state is shared: the lock around the chunk lists, the bump slots, and
/// which slot the calling thread owns.
pub(crate) trait Sharing: Sized + 'static {
    /// The lock: a `Mutex` or a `RefCell`.
    type Lock<T>;
    /// The slots.
    type Slots: AsRef<[Slot]>;
    fn new_slots() -> Self::Slots;
    fn new_lock<T>(value: T) -> Self::Lock<T>;
    fn lock<T>(lock: &Self::Lock<T>) -> impl DerefMut<Target = T> + '_;
    /// The calling thread's slot index and owner token; `None` sends it to the slot used
    /// under the lock.
    fn ticket() -> Option<(usize, u64)>;
    /// Whether the thread that took slot `index` with token `owner` has ended.
    fn abandoned(index: usize, owner: u64) -> bool;
}

/// A `Mutex`, and one slot for each of the first [`THREAD_SLOTS`] threads alive at once.
pub(crate) enum Locked {}

impl Sharing for Locked {
    type Lock<T> = std::sync::Mutex<T>;
    type Slots = [Slot; THREAD_SLOTS];

    fn new_slots() -> Self::Slots {
        std::array::from_fn(|_| Slot::default())
    }

    fn new_lock<T>(value: T) -> Self::Lock<T> {
        std::sync::Mutex::new(value)
    }

    fn lock<T>(lock: &Self::Lock<T>) -> impl DerefMut<Target = T> + '_ {
        // Every update of the state happens after the fallible calls (the buffer's, which may
        // panic), so a poisoned state is consistent.
        lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[inline]
    fn ticket() -> Option<(usize, u64)> {
        tickets::current()
    }

    fn abandoned(index: usize, owner: u64) -> bool {
        tickets::abandoned(index, owner)
    }
}

/// A `RefCell` and one slot: the allocator is `!Sync`, so only one thread uses it at a time.
pub(crate) enum Local {}

impl Sharing for Local {
    type Lock<T> = std::cell::RefCell<T>;
    type Slots = [Slot; 1];

    fn new_slots() -> Self::Slots {
        [Slot::default()]
    }

    fn new_lock<T>(value: T) -> Self::Lock<T> {
        std::cell::RefCell::new(value)
    }

    fn lock<T>(lock: &Self::Lock<T>) -> impl DerefMut<Target = T> + '_ {
        lock.borrow_mut()
    }

    #[inline]
    fn ticket() -> Option<(usize, u64)> {
        Some((0, 1))
    }

    fn abandoned(_index: usize, _owner: u64) -> bool {
        false
    }
}

/// Per-thread slot indices for [`Locked`] allocators. A thread takes the lowest free index on
/// its first allocation and gives it back when it ends; the index's generation then moves on,
/// so the token (generation + 1) a slot was taken with tells whether its thread is still alive.
mod tickets {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use super::THREAD_SLOTS;

    static TAKEN: [AtomicBool; THREAD_SLOTS] = [const { AtomicBool::new(false) }; THREAD_SLOTS];
    static GENERATIONS: [AtomicU64; THREAD_SLOTS] = [const { AtomicU64::new(0) }; THREAD_SLOTS];

    struct Ticket {
        index: usize,
        token: u64,
    }

    impl Ticket {
        fn take() -> Option<Ticket> {
            (0..THREAD_SLOTS).find_map(|index| {
                TAKEN[index]
                    .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .ok()?;
                let token = GENERATIONS[index].load(Ordering::Relaxed) + 1;
                Some(Ticket { index, token })
            })
        }
    }

    impl Drop for Ticket {
        fn drop(&mut self) {
            // Release: whatever this thread did with its slots happens before the next owner
            // of the index (which acquires `TAKEN`) or a reset that sees the new generation
            // (which acquires `GENERATIONS`) touches them.
            GENERATIONS[self.index].fetch_add(1, Ordering::Release);
            TAKEN[self.index].store(false, Ordering::Release);
        }
    }

    std::thread_local! {
        static TICKET: Option<Ticket> = Ticket::take();
    }

    /// This thread's index and token; `None` when all indices are taken or the thread is
    /// ending.
    #[inline]
    pub(super) fn current() -> Option<(usize, u64)> {
        TICKET
            .try_with(|t| t.as_ref().map(|t| (t.index, t.token)))
            .ok()
            .flatten()
    }

    pub(super) fn abandoned(index: usize, owner: u64) -> bool {
        owner != 0 && GENERATIONS[index].load(Ordering::Acquire) + 1 != owner
    }
}

/// Where one thread bumps. Only its owner (or, for the overflow slot, the lock holder) moves
/// the bump position; others read the fields for statistics, hence the atomics (all relaxed:
/// ownership is handed over under the lock or through [`tickets`]).
#[derive(Default)]
#[repr(align(128))]
pub(crate) struct Slot {
    /// Token of the owning thread (0: none yet).
    owner: AtomicU64,
    /// The attached chunk's header (null: none).
    chunk: AtomicPtr<ChunkHeader>,
    /// Index of the attached chunk in [`Inner::chunks`].
    index: AtomicUsize,
    /// Start of the attached chunk's memory.
    base: AtomicPtr<u8>,
    /// Bump position and end, as offsets from `base`.
    cursor: AtomicUsize,
    end: AtomicUsize,
    /// The epoch the slot last allocated in.
    epoch: AtomicU64,
    /// Checked allocations through this slot, ever.
    checked: AtomicUsize,
    /// Counts reserved on the attached chunk's header, not yet used by a lease.
    reserved: AtomicUsize,
}

impl Slot {
    /// Bumps `layout` out of the attached chunk, if there is one and it has room.
    #[inline]
    fn bump(&self, layout: Layout) -> Option<NonNull<u8>> {
        let base = self.base.load(Relaxed);
        if base.is_null() {
            return None;
        }
        let cursor = self.cursor.load(Relaxed);
        let pad = (base.addr().wrapping_add(cursor)).wrapping_neg() & (layout.align() - 1);
        let start = cursor + pad;
        let stop = start.checked_add(layout.size())?;
        if stop > self.end.load(Relaxed) {
            return None;
        }
        self.cursor.store(stop, Relaxed);
        // SAFETY: `start <= end`, the chunk's size, so the pointer stays inside (or one past)
        // the chunk that `base` points to; not null since `base` is not.
        Some(unsafe { NonNull::new_unchecked(base.add(start)) })
    }

    fn count_checked(&self) {
        // Only the owner writes: a load and a store, no read-modify-write.
        self.checked
            .store(self.checked.load(Relaxed).wrapping_add(1), Relaxed);
    }
}

/// A chunk as its allocator tracks it.
struct Chunk {
    header: NonNull<ChunkHeader>,
    base: NonNull<u8>,
    size: usize,
    /// Whether a slot has it attached (and bumps in it).
    attached: bool,
    /// For a detached chunk: bytes up to the end of its last allocation.
    fill: usize,
    /// The chunk split off this one's tail, which starts where this one ends (see
    /// [`Inner::take_chunk`]); merged back once both are idle and dead.
    next: Option<usize>,
}

impl Chunk {
    fn live(&self) -> usize {
        // SAFETY: the allocator holds every header in its lists.
        unsafe { self.header.as_ref() }.live()
    }

    /// Whether `layout` fits in the chunk from offset `from` on.
    fn fits_from(&self, layout: Layout, from: usize) -> bool {
        let pad =
            (self.base.as_ptr().addr().wrapping_add(from)).wrapping_neg() & (layout.align() - 1);
        from.checked_add(pad)
            .and_then(|start| start.checked_add(layout.size()))
            .is_some_and(|stop| stop <= self.size)
    }
}

/// The state under the lock.
pub(crate) struct Inner<B> {
    buffer: B,
    chunks: Vec<Chunk>,
    /// Headers of chunks given back by a buffer reset, for reuse. Its capacity always covers
    /// every header, so moving them here never allocates.
    spare: Vec<NonNull<ChunkHeader>>,
    /// Checked allocations counted by the slots at the last reset.
    checked_base: usize,
    resets: usize,
    chunk_size: usize,
}

impl<B: Buffer> Inner<B> {
    pub(crate) fn buffer(&self) -> &B {
        &self.buffer
    }

    /// Chunk size for small requests: a sixteenth of the buffer when the allocator was made,
    /// within bounds. Fixed from then on: an autoscaling buffer re-sizes itself from what the
    /// chunks took, which must not in turn change the chunks.
    ///
    /// An [`AutoscalingAllocBuffer`](crate::AutoscalingAllocBuffer) grows, so its start says
    /// nothing of what it will hold: it gets the largest chunks, as do buffers without figures.
    fn chunk_size_for(buffer: &B) -> usize
    where
        B: 'static,
    {
        let any: &dyn std::any::Any = buffer;
        if any.is::<crate::AutoscalingAllocBuffer>() {
            return MAX_CHUNK;
        }
        let capacity = buffer.stats().map_or(MAX_CHUNK * 16, |s| s.capacity);
        (capacity / 16).clamp(MIN_CHUNK, MAX_CHUNK) & !(CHUNK_ALIGN - 1)
    }

    fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    /// Detaches the slot's chunk, if any. The slot must not be in use by another thread.
    fn detach(&mut self, slot: &Slot) {
        if slot.chunk.load(Relaxed).is_null() {
            return;
        }
        let chunk = &mut self.chunks[slot.index.load(Relaxed)];
        // SAFETY: the slot reserved these counts and did not use them.
        unsafe { ChunkHeader::unreserve(chunk.header, slot.reserved.swap(0, Relaxed)) };
        chunk.attached = false;
        chunk.fill = slot.cursor.load(Relaxed);
        slot.chunk.store(ptr::null_mut(), Relaxed);
        slot.base.store(ptr::null_mut(), Relaxed);
        slot.cursor.store(0, Relaxed);
        slot.end.store(0, Relaxed);
    }

    /// Attaches chunk `index` to the slot, to bump from offset `from` on.
    fn attach(&mut self, slot: &Slot, index: usize, from: usize) {
        let chunk = &mut self.chunks[index];
        chunk.attached = true;
        chunk.fill = 0;
        ChunkHeader::reserve(chunk.header, RESERVE);
        slot.reserved.store(RESERVE, Relaxed);
        slot.chunk.store(chunk.header.as_ptr(), Relaxed);
        slot.index.store(index, Relaxed);
        slot.base.store(chunk.base.as_ptr(), Relaxed);
        slot.cursor.store(from, Relaxed);
        slot.end.store(chunk.size, Relaxed);
    }

    /// A chunk where `layout` fits and the offset to use it from: an idle chunk without leases
    /// (from its start), else the free tail of an idle chunk some arrays still use (past their
    /// memory), else a new one from the buffer: `layout` exactly if `own`, else a chunk of
    /// [`chunk_size`](Self::chunk_size) (or the rest of the buffer if that is less but enough).
    fn take_chunk(
        &mut self,
        layout: Layout,
        own: bool,
        clock: NonNull<Clock>,
    ) -> Result<(usize, usize), AllocError> {
        // An idle chunk gains no lease (only leases on it could be cloned), so a count of 0
        // seen here stays 0; a non-zero one may drop meanwhile, which only makes `fill` more
        // cautious than needed.
        self.merge_dead_tails();
        // The best dead chunk: the smallest that fits a big request, or for a slot the smallest
        // of at least a chunk's size (else the largest that fits), which leaves big dead chunks
        // to big requests and keeps slots from tiny tails.
        let wanted = if own { 0 } else { self.chunk_size };
        let best = self
            .chunks
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.attached && c.size > 0 && c.fits_from(layout, 0) && c.live() == 0)
            .min_by_key(|(_, c)| {
                if c.size >= wanted {
                    (0, c.size)
                } else {
                    (1, usize::MAX - c.size)
                }
            });
        if let Some((index, _)) = best {
            return Ok((index, 0));
        }
        if let Some(index) = self.chunks.iter().position(|c| {
            // Never a zero-size tail: emptied records must be no chunk's `next`.
            layout.size() > 0 && !c.attached && c.live() > 0 && c.fits_from(layout, c.fill)
        }) {
            // The free tail of a chunk some arrays still use: split off as a chunk of its own,
            // with its own count, so it is reused as soon as its own arrays are gone.
            return self.split_tail(index, clock).map(|tail| (tail, 0));
        }
        // Room in the lists first, so nothing below can fail after the buffer gave memory.
        self.reserve_chunk()?;
        let oom = AllocError::OutOfMemory {
            requested: size_of::<ChunkHeader>(),
        };
        let header = match self.spare.pop() {
            Some(header) => header,
            None => crate::heap_carry::outside(|| ChunkHeader::allocate(clock)).ok_or(oom)?,
        };
        let carved = if own {
            self.buffer
                .try_alloc_layout(layout)
                .map(|p| (p, layout.size()))
        } else {
            self.carve_small(layout)
        };
        let (base, size) = match carved {
            Ok(carved) => carved,
            Err(err) => {
                // Capacity reserved above.
                self.spare.push(header);
                return Err(err);
            }
        };
        self.chunks.push(Chunk {
            header,
            base,
            size,
            attached: false,
            fill: 0,
            next: None,
        });
        Ok((self.chunks.len() - 1, 0))
    }

    /// Room for one more chunk record and its header, without allocating afterwards.
    fn reserve_chunk(&mut self) -> Result<(), AllocError> {
        // Afterwards there are at most `chunks + 1 + spare` headers, which `spare` must be able
        // to take back without growing.
        let headers = self.chunks.len() + 1;
        crate::heap_carry::outside(|| {
            self.chunks.try_reserve(1)?;
            self.spare.try_reserve(headers)
        })
        .map_err(|_| AllocError::OutOfMemory {
            requested: size_of::<Chunk>(),
        })
    }

    /// Splits the free tail (past `fill`) off idle chunk `index` into a chunk of its own
    /// (an emptied record, or a new one); returns its index.
    fn split_tail(&mut self, index: usize, clock: NonNull<Clock>) -> Result<usize, AllocError> {
        let empty = self
            .chunks
            .iter()
            .position(|c| c.size == 0 && !c.attached && c.live() == 0);
        let tail = if let Some(empty) = empty {
            empty
        } else {
            self.reserve_chunk()?;
            let header = match self.spare.pop() {
                Some(header) => header,
                None => crate::heap_carry::outside(|| ChunkHeader::allocate(clock)).ok_or(
                    AllocError::OutOfMemory {
                        requested: size_of::<ChunkHeader>(),
                    },
                )?,
            };
            self.chunks.push(Chunk {
                header,
                base: NonNull::dangling(),
                size: 0,
                attached: false,
                fill: 0,
                next: None,
            });
            self.chunks.len() - 1
        };
        let head = &mut self.chunks[index];
        let fill = head.fill;
        // SAFETY: `fill <= size`: the tail lies inside the chunk.
        let base = unsafe { head.base.add(fill) };
        let size = head.size - fill;
        let next = head.next.replace(tail);
        head.size = fill;
        let record = &mut self.chunks[tail];
        record.base = base;
        record.size = size;
        record.fill = 0;
        record.next = next;
        Ok(tail)
    }

    /// Merges every idle dead chunk with the idle dead tails split off it, so split memory
    /// becomes whole again once its arrays are gone.
    fn merge_dead_tails(&mut self) {
        for index in 0..self.chunks.len() {
            if !self.idle_dead(index) {
                continue;
            }
            while let Some(next) = self.chunks[index].next {
                if !self.idle_dead(next) {
                    break;
                }
                let absorbed = std::mem::replace(&mut self.chunks[next].size, 0);
                let after = self.chunks[next].next.take();
                let head = &mut self.chunks[index];
                head.size += absorbed;
                head.next = after;
            }
        }
    }

    fn idle_dead(&self, index: usize) -> bool {
        let chunk = &self.chunks[index];
        !chunk.attached && chunk.size > 0 && chunk.live() == 0
    }

    /// A chunk for small requests, big enough for `layout`.
    fn carve_small(&mut self, layout: Layout) -> Result<(NonNull<u8>, usize), AllocError> {
        let size = self.chunk_size().max(layout.size());
        let align = layout.align().max(CHUNK_ALIGN);
        let chunk = Layout::from_size_align(size, align).map_err(|_| AllocError::SizeOverflow)?;
        match self.buffer.try_alloc_layout(chunk) {
            Ok(base) => Ok((base, size)),
            Err(AllocError::BufferFull {
                available,
                capacity,
                ..
            }) => {
                // Not a whole chunk left: the rest of the buffer, if the request fits in it.
                let full = AllocError::BufferFull {
                    requested: layout.size(),
                    align: layout.align(),
                    available,
                    capacity,
                };
                // Aligned to the request, at most `align - 1` bytes of padding: it fits.
                let size = available.saturating_sub(layout.align() - 1);
                if size == 0 || size < layout.size() {
                    return Err(full);
                }
                let rest = Layout::from_size_align(size, layout.align()).map_err(|_| full)?;
                let base = self.buffer.try_alloc_layout(rest).map_err(|_| full)?;
                Ok((base, size))
            }
            Err(err) => Err(err),
        }
    }
}

/// Everything an allocator shares with its threads and, once dropped, with its leases. The
/// clock comes first (`repr(C)`), so a pointer to it is a pointer to the block.
#[repr(C)]
struct Shared<B, S: Sharing> {
    clock: Clock,
    slots: S::Slots,
    /// The slot of threads without one of their own, used under the lock.
    overflow: Slot,
    inner: S::Lock<Inner<B>>,
}

/// Drops a shared block through its clock (the clock's `free`).
///
/// # Safety
///
/// `clock` heads a `Shared<B, S>` made by [`Core::new`], which nothing refers to any more.
unsafe fn free_shared<B, S: Sharing>(clock: NonNull<Clock>) {
    // SAFETY: the clock is the first field of the `repr(C)` block, and the pointer carries the
    // provenance of the whole box (it was cast from `Box::into_raw`, never narrowed by a
    // reference); nobody refers to the block (caller).
    drop(unsafe { Box::from_raw(clock.cast::<Shared<B, S>>().as_ptr()) });
}

/// A bump allocator for arrays over a buffer `B`, locked as `S` says.
pub(crate) struct Core<B: Buffer + Send + 'static, S: Sharing> {
    shared: NonNull<Shared<B, S>>,
    _owns: PhantomData<Shared<B, S>>,
}

// SAFETY: the allocator owns the shared block: moving it moves the buffer (`B: Send`) and the
// chunk lists (plain data); leases on other threads only touch atomics of the headers and the
// clock. The slots are atomics whose owners are re-checked on every allocation (a `Local`
// allocator's single slot is used by whichever thread owns the allocator).
unsafe impl<B: Buffer + Send + 'static, S: Sharing> Send for Core<B, S> {}
// SAFETY: shared by reference, the buffer and the chunk lists are reached only under the
// `Mutex` (which makes them `Sync` for `B: Send`, like `Mutex<B>`); each thread bumps only in
// the chunk of the slot its ticket names, and slots are handed over under the lock; everything
// else is atomics. Nothing of `B::Checkpoint` is kept, so its auto traits don't matter.
unsafe impl<B: Buffer + Send + 'static> Sync for Core<B, Locked> {}

impl<B: Buffer + Send + 'static, S: Sharing> Core<B, S> {
    pub(crate) fn new(buffer: B) -> Self {
        let shared = Box::new(Shared::<B, S> {
            clock: Clock::new(free_shared::<B, S>),
            slots: S::new_slots(),
            overflow: Slot::default(),
            inner: S::new_lock(Inner {
                chunk_size: Inner::chunk_size_for(&buffer),
                buffer,
                chunks: Vec::new(),
                spare: Vec::new(),
                checked_base: 0,
                resets: 0,
            }),
        });
        Core {
            // SAFETY: `Box::into_raw` is never null.
            shared: unsafe { NonNull::new_unchecked(Box::into_raw(shared)) },
            _owns: PhantomData,
        }
    }

    #[inline]
    fn shared(&self) -> &Shared<B, S> {
        // SAFETY: the block lives at least as long as the allocator; only shared references
        // to it are ever made (the lock and the atomics give mutation).
        unsafe { self.shared.as_ref() }
    }

    fn clock_ptr(&self) -> NonNull<Clock> {
        self.shared.cast::<Clock>()
    }

    /// Runs `f` on the locked state.
    pub(crate) fn with_inner<R>(&self, f: impl FnOnce(&mut Inner<B>) -> R) -> R {
        f(&mut S::lock(&self.shared().inner))
    }

    /// Memory for one array, and its lease.
    #[inline]
    pub(crate) fn allocate(
        &self,
        layout: Layout,
        checked: bool,
    ) -> Result<(NonNull<u8>, Lease), AllocError> {
        let shared = self.shared();
        if let Some((index, token)) = S::ticket() {
            let slot = &shared.slots.as_ref()[index];
            let epoch = shared.clock.epoch();
            let reserved = slot.reserved.load(Relaxed);
            if slot.owner.load(Relaxed) == token
                && slot.epoch.load(Relaxed) == epoch
                && reserved > 0
            {
                if let Some(ptr) = slot.bump(layout) {
                    if checked {
                        slot.count_checked();
                    }
                    slot.reserved.store(reserved - 1, Relaxed);
                    // SAFETY: the slot has a chunk (`bump` succeeded), held by the allocator.
                    let header = unsafe { NonNull::new_unchecked(slot.chunk.load(Relaxed)) };
                    // SAFETY: one of the slot's reserved counts (there was one) is used here.
                    let lease = unsafe { ChunkHeader::lease_reserved(header, epoch) };
                    return Ok((ptr, lease));
                }
            }
        }
        self.allocate_slow(layout, checked)
    }

    /// Allocation under the lock: a slot taken over, a new epoch, a full chunk, a big request,
    /// or a thread without a slot of its own.
    #[cold]
    #[inline(never)]
    fn allocate_slow(
        &self,
        layout: Layout,
        checked: bool,
    ) -> Result<(NonNull<u8>, Lease), AllocError> {
        let shared = self.shared();
        let mut inner = S::lock(&shared.inner);
        let epoch = shared.clock.epoch();
        let (slot, token) = match S::ticket() {
            Some((index, token)) => (&shared.slots.as_ref()[index], token),
            None => (&shared.overflow, OVERFLOW_TOKEN),
        };
        let header_of = |slot: &Slot| NonNull::new(slot.chunk.load(Relaxed));
        if slot.owner.load(Relaxed) != token {
            // A slot whose thread ended (or never used): ours now, its chunk included.
            slot.owner.store(token, Relaxed);
            slot.epoch.store(epoch.wrapping_sub(1), Relaxed);
        }
        if slot.epoch.load(Relaxed) != epoch {
            // The first allocation of this slot since a reset: a chunk without leases starts
            // over, one with leases is left to them (the new epoch starts in a dead chunk).
            if let Some(header) = header_of(slot) {
                if Self::slot_live(slot, header) == 0 {
                    slot.cursor.store(0, Relaxed);
                } else {
                    inner.detach(slot);
                }
            }
            slot.epoch.store(epoch, Relaxed);
        }
        if let Some(header) = header_of(slot) {
            if slot.reserved.load(Relaxed) == 0 {
                // A chunk kept (rewound) long enough to use up its reserve: reserve again.
                ChunkHeader::reserve(header, RESERVE);
                slot.reserved.store(RESERVE, Relaxed);
            }
        }
        let chunk_size = inner.chunk_size();
        let own = layout.size() > chunk_size / 2;
        if !own {
            if let Some(ptr) = slot.bump(layout) {
                return Ok(Self::finish(slot, ptr, epoch, checked));
            }
            if let Some(header) = header_of(slot) {
                let index = slot.index.load(Relaxed);
                if Self::slot_live(slot, header) == 0 && inner.chunks[index].fits_from(layout, 0) {
                    // Full, but no array uses it any more: start over in it.
                    slot.cursor.store(0, Relaxed);
                    let ptr = slot.bump(layout).expect("fits an empty chunk");
                    return Ok(Self::finish(slot, ptr, epoch, checked));
                }
            }
        }
        let (index, from) = inner.take_chunk(layout, own, self.clock_ptr())?;
        if own {
            // A big request: served from the chunk without attaching it.
            let chunk = &mut inner.chunks[index];
            let start =
                from + ((chunk.base.as_ptr().addr() + from).wrapping_neg() & (layout.align() - 1));
            chunk.fill = start + layout.size();
            // SAFETY: `fits_from` (or the exact carve) guarantees `start + size <= chunk.size`.
            let ptr = unsafe { chunk.base.add(start) };
            if checked {
                slot.count_checked();
            }
            return Ok((ptr, ChunkHeader::lease(chunk.header, epoch)));
        }
        inner.detach(slot);
        inner.attach(slot, index, from);
        let ptr = slot.bump(layout).expect("the new chunk fits the request");
        Ok(Self::finish(slot, ptr, epoch, checked))
    }

    fn finish(slot: &Slot, ptr: NonNull<u8>, epoch: u64, checked: bool) -> (NonNull<u8>, Lease) {
        if checked {
            slot.count_checked();
        }
        // SAFETY: the slot has a chunk (a bump in it just succeeded), held by the allocator.
        let header = unsafe { NonNull::new_unchecked(slot.chunk.load(Relaxed)) };
        match slot.reserved.load(Relaxed) {
            0 => (ptr, ChunkHeader::lease(header, epoch)),
            reserved => {
                slot.reserved.store(reserved - 1, Relaxed);
                // SAFETY: one of the slot's reserved counts is used here.
                (ptr, unsafe { ChunkHeader::lease_reserved(header, epoch) })
            }
        }
    }

    /// Live leases on the chunk attached to `slot` (its unused reserved counts excluded).
    fn slot_live(slot: &Slot, header: NonNull<ChunkHeader>) -> usize {
        // SAFETY: the allocator holds the header.
        unsafe { header.as_ref() }.live() - slot.reserved.load(Relaxed)
    }

    /// Checked allocations counted by all slots, ever.
    fn checked_total(&self) -> usize {
        let shared = self.shared();
        shared
            .slots
            .as_ref()
            .iter()
            .chain([&shared.overflow])
            .fold(0usize, |sum, s| sum.wrapping_add(s.checked.load(Relaxed)))
    }

    /// Ends the epoch: invalidates every lease made so far, and makes every chunk no live array
    /// uses reusable (see the module docs). Allocates nothing.
    pub(crate) fn reset(&self) -> ResetReport {
        let shared = self.shared();
        let mut inner = S::lock(&shared.inner);
        shared.clock.advance();
        inner.resets += 1;
        let checked_total = self.checked_total();
        let invalidated_checked = checked_total.wrapping_sub(inner.checked_base);
        inner.checked_base = checked_total;
        // This thread is not allocating now: its slot (and the overflow slot, under the lock)
        // can let go of their chunks. So can slots whose threads ended.
        if let Some((index, token)) = S::ticket() {
            let slot = &shared.slots.as_ref()[index];
            if slot.owner.load(Relaxed) == token {
                inner.detach(slot);
            }
        }
        inner.detach(&shared.overflow);
        for (index, slot) in shared.slots.as_ref().iter().enumerate() {
            if !slot.chunk.load(Relaxed).is_null() && S::abandoned(index, slot.owner.load(Relaxed))
            {
                inner.detach(slot);
            }
        }
        if inner.chunks.iter().all(|c| !c.attached && c.live() == 0) {
            // No array left anywhere: the buffer starts over (an autoscaling one re-sizes).
            let Inner { chunks, spare, .. } = &mut *inner;
            spare.extend(chunks.drain(..).map(|c| c.header));
            inner.buffer.reset();
            return ResetReport {
                invalidated_checked,
                ..ResetReport::default()
            };
        }
        let (pinned_arrays, pinned_bytes) =
            inner.chunks.iter().fold((0, 0), |(arrays, bytes), chunk| {
                match self.chunk_usage(chunk) {
                    (0, _) => (arrays, bytes),
                    (live, used) => (arrays + live, bytes + used),
                }
            });
        ResetReport {
            pinned_arrays,
            pinned_bytes,
            invalidated_checked,
        }
    }

    /// Live arrays in `chunk`, and bytes up to its last allocation.
    fn chunk_usage(&self, chunk: &Chunk) -> (usize, usize) {
        if !chunk.attached {
            return (chunk.live(), chunk.fill);
        }
        let shared = self.shared();
        shared
            .slots
            .as_ref()
            .iter()
            .chain([&shared.overflow])
            .find(|s| s.chunk.load(Relaxed) == chunk.header.as_ptr())
            .map_or((0, chunk.size), |s| {
                // Another thread's slot may move on meanwhile: a snapshot, for figures only.
                let live = chunk.live().saturating_sub(s.reserved.load(Relaxed));
                (live, s.cursor.load(Relaxed))
            })
    }

    pub(crate) fn stats(&self) -> AllocatorStats {
        let inner = S::lock(&self.shared().inner);
        let mut stats = AllocatorStats {
            capacity: inner.buffer.stats().map_or(0, |s| s.capacity),
            tracked_checked: self.checked_total().wrapping_sub(inner.checked_base),
            resets: inner.resets,
            ..AllocatorStats::default()
        };
        for chunk in &inner.chunks {
            let (live, used) = self.chunk_usage(chunk);
            stats.live_arrays += live;
            if live > 0 || chunk.attached {
                stats.used += used;
            }
        }
        stats
    }
}

impl<B: Buffer + Send + 'static, S: Sharing> Drop for Core<B, S> {
    fn drop(&mut self) {
        let shared = self.shared();
        let mut released = 1;
        {
            let mut inner = S::lock(&shared.inner);
            shared.clock.advance();
            // No allocation can run now (it would need the allocator): give back what the
            // slots reserved.
            for slot in shared.slots.as_ref().iter().chain([&shared.overflow]) {
                inner.detach(slot);
            }
            shared.clock.set_orphan_holders(inner.chunks.len());
            for chunk in inner.chunks.drain(..) {
                // SAFETY: once per chunk, counted above.
                if unsafe { ChunkHeader::disown(chunk.header) } {
                    // SAFETY: no lease and no list refers to it any more.
                    unsafe { ChunkHeader::free(chunk.header) };
                    released += 1;
                }
            }
            for header in inner.spare.drain(..) {
                // SAFETY: spare headers belong to no chunk and no lease.
                unsafe { ChunkHeader::free(header) };
            }
        }
        // SAFETY: the allocator's hold and those of the chunks freed above.
        if unsafe { Clock::release(self.clock_ptr(), released) } {
            // SAFETY: no chunk holds the block any more, and the allocator is going.
            unsafe { free_shared::<B, S>(self.clock_ptr()) };
        }
    }
}
