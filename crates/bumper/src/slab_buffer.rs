//! [`SlabBuffer`]: a bump buffer that grows by whole slabs and keeps them for reuse.

use alloc::vec::Vec;
use core::alloc::Layout;
use core::fmt;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicU32, Ordering};

use crate::buffer::{Buffer, BufferStats};
use crate::bump::{bump_offset, resize_last};
use crate::checkpoint::CheckpointGuard;
use crate::error::AllocError;
use crate::scope::Scope;

/// The default slab size: 1 MiB.
pub const DEFAULT_SLAB_SIZE: usize = 1 << 20;

/// Alignment of every slab. Requests aligned more than this get a separate allocation.
const SLAB_ALIGN: usize = 64;

/// Gives every `SlabBuffer` an identity, so a checkpoint of another buffer is recognised.
static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// A growable bump buffer made of slabs of `SLAB_SIZE` bytes.
///
/// - Small requests are bumped out of the current slab; when it is full, the buffer moves to the
///   next slab, allocating it only if it has never had one there.
/// - Requests larger than half a slab (or aligned to more than 64 bytes) get a separate
///   allocation from the system allocator, which the restore or reset that passes it frees. They
///   don't move the bump position.
/// - Slabs opened inside a scope are **kept** when the scope ends, so a loop whose scope crosses
///   a slab boundary costs no system allocation per iteration.
///   [`release_spare_slabs`](SlabBuffer::release_spare_slabs) gives the spares back.
///
/// Creating a `SlabBuffer` allocates nothing; the first slab (and a small block of bookkeeping)
/// is made on first use.
///
/// A scope ([`no_escape`](SlabBuffer::no_escape)) works on a copy of the buffer's position and
/// leaves the buffer's own untouched, so ending it costs nearly nothing; a scope that panics
/// ends the same way, freeing its big allocations.
///
/// ```
/// use bumper::{Buffer, SlabBuffer};
///
/// let mut buf = SlabBuffer::new(); // 1 MiB slabs
/// let n = buf.no_escape(|s| {
///     let big = s.alloc_slice_fill(1_000_000, 1u8); // > half a slab: its own allocation
///     let small = s.alloc_slice_fill(10, 2u8); // bumped in the first slab
///     big.len() + small.len()
/// });
/// assert_eq!(n, 1_000_010);
/// assert_eq!(buf.stats().unwrap().big_allocations, 0); // freed by the scope's end
/// ```
pub struct SlabBuffer<const SLAB_SIZE: usize = DEFAULT_SLAB_SIZE> {
    /// Where the next small allocation goes.
    pos: Position,
    /// The slabs and big allocations, on the heap (made with the first slab). The slow paths
    /// reach them through this pointer, never through the buffer's own address, which lets a
    /// scope work on a copy of the buffer kept in registers (see `snapshot_scope`).
    store: Option<NonNull<Store>>,
    id: u32,
}

/// The bump position of a [`SlabBuffer`]: all its fast path reads and writes.
#[derive(Clone, Copy)]
struct Position {
    /// Start of the current slab (a dangling, aligned address before the first slab is entered).
    current_start: *mut u8,
    /// Bytes from `current_start` to the bump position.
    offset: usize,
    /// Bytes in the current slab: `SLAB_SIZE`, or 0 before a slab was entered.
    limit: usize,
    /// Index of the current slab in `Store::slabs` (0 before a slab was entered).
    current: usize,
}

impl Position {
    /// No slab entered yet.
    fn start() -> Self {
        Position {
            current_start: ptr::without_provenance_mut::<u8>(SLAB_ALIGN),
            offset: 0,
            limit: 0,
            current: 0,
        }
    }

    /// No slab entered, and none may be: the position of a scope's copy of a buffer that has
    /// no store and could not get one (see `snapshot_scope`). Its sentinel address tells
    /// `alloc_slow` to fail instead of making a store the buffer itself would never learn of.
    fn without_store() -> Self {
        Position {
            current_start: ptr::without_provenance_mut::<u8>(NO_STORE_SENTINEL),
            ..Position::start()
        }
    }
}

/// The sentinel start address of [`Position::without_store`]: non-null and aligned for every
/// slab allocation, like the ordinary sentinel, and different from it.
const NO_STORE_SENTINEL: usize = 2 * SLAB_ALIGN;

/// What a [`SlabBuffer`] holds on the heap.
struct Store {
    /// Every slab held: `slabs[..current]` are full, `slabs[current + 1..]` are spares.
    slabs: Vec<NonNull<u8>>,
    /// Separate allocations for big requests, oldest first.
    big: Vec<(NonNull<u8>, Layout)>,
    big_bytes: usize,
}

/// What the allocation slow path returns: the result and the new position.
struct SlowAlloc {
    result: Result<NonNull<u8>, AllocError>,
    pos: Position,
    store: Option<NonNull<Store>>,
}

// SAFETY: the buffer exclusively owns its slabs and big allocations; the raw pointers are only
// followed through `&mut self` or by holders of allocations it handed out.
unsafe impl<const SLAB_SIZE: usize> Send for SlabBuffer<SLAB_SIZE> {}
// SAFETY: `&self` methods only read the position and, through the store pointer, the
// bookkeeping vectors; every change takes `&mut self` (or a scope's copy, made under `&mut self`).
unsafe impl<const SLAB_SIZE: usize> Sync for SlabBuffer<SLAB_SIZE> {}

/// A saved position of a [`SlabBuffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlabCheckpoint {
    // Two 32-bit fields share a word, so the checkpoint is three words.
    id: u32,
    big: u32,
    slab: usize,
    offset: usize,
}

impl SlabBuffer {
    /// An empty buffer with the default 1 MiB slabs ([`DEFAULT_SLAB_SIZE`]); the first slab is
    /// allocated on first use.
    ///
    /// `new` is defined for the default slab size only, so `SlabBuffer::new()` needs no type
    /// annotation. Other sizes: [`SlabBuffer::<N>::with_slab_size()`](SlabBuffer::with_slab_size).
    ///
    /// ```
    /// use bumper::SlabBuffer;
    ///
    /// let mut buf = SlabBuffer::new();
    /// assert_eq!(buf.slab_size(), 1 << 20);
    /// let sum = buf.no_escape(|s| s.alloc_slice_copy(&[1, 2, 3]).iter().sum::<i32>());
    /// assert_eq!(sum, 6);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::with_slab_size()
    }
}

impl<const SLAB_SIZE: usize> SlabBuffer<SLAB_SIZE> {
    const VALID_SLAB_SIZE: () = assert!(
        SLAB_SIZE >= SLAB_ALIGN && SLAB_SIZE <= isize::MAX as usize / 2,
        "SlabBuffer: SLAB_SIZE must be at least 64 bytes and at most isize::MAX / 2"
    );

    /// An empty buffer with slabs of `SLAB_SIZE` bytes; the first slab is allocated on first
    /// use. (For the default 1 MiB slabs, [`SlabBuffer::new`] needs no type annotation.)
    ///
    /// `SLAB_SIZE` is checked at compile time: at least 64 bytes, at most `isize::MAX / 2`.
    ///
    /// ```
    /// use bumper::SlabBuffer;
    ///
    /// let buf = SlabBuffer::<4096>::with_slab_size();
    /// assert_eq!(buf.slab_size(), 4096);
    /// // Or let the type say it:
    /// let buf: SlabBuffer<65536> = SlabBuffer::with_slab_size();
    /// assert_eq!(buf.slab_size(), 65536);
    /// ```
    #[must_use]
    pub fn with_slab_size() -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::VALID_SLAB_SIZE;
        SlabBuffer {
            pos: Position::start(),
            store: None,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Runs `f` in a scope on this buffer: the same as [`Buffer::no_escape`], callable without
    /// importing the trait.
    ///
    /// ```
    /// let mut buf = bumper::SlabBuffer::new();
    /// let sum = buf.no_escape(|s| s.alloc_slice_fill(4, 2u32).iter().sum::<u32>());
    /// assert_eq!(sum, 8);
    /// ```
    #[inline(always)]
    pub fn no_escape<R, F>(&mut self, f: F) -> R
    where
        F: for<'s> FnOnce(&mut Scope<'s, Self>) -> R,
    {
        self.snapshot_scope(f)
    }

    /// A scope on a bitwise copy of the buffer, which is then forgotten.
    ///
    /// The buffer's own fields are only its bump position, its identity and a pointer to the
    /// heap part (slabs, big allocations), which the copy shares. A scope ends by putting the
    /// position back where it started, which is where the buffer itself still is; what is left
    /// to do is to free the big allocations made in the scope (on return and on panic). Since
    /// the copy's address never leaves this frame (every slow path takes values), the compiler
    /// keeps the position in registers through a loop of allocations.
    #[inline(always)]
    fn snapshot_scope<R, F>(&mut self, f: F) -> R
    where
        F: for<'s> FnOnce(&mut Scope<'s, Self>) -> R,
    {
        /// Ends the scope on the buffer itself, also on panic (see `end_snapshot`).
        struct EndScope<const N: usize> {
            home: *mut SlabBuffer<N>,
            keep: usize,
        }
        impl<const N: usize> Drop for EndScope<N> {
            #[inline(always)]
            fn drop(&mut self) {
                // SAFETY: the buffer is borrowed for the scope, which has ended: no copy of it
                // is in use any more.
                unsafe { (*self.home).end_snapshot(self.keep) }
            }
        }

        // SAFETY: `*self` is exclusively borrowed for the call and not used during it except
        // by `EndScope` once the scope has ended.
        let (mut copy, keep) = unsafe { self.begin_snapshot() };
        let _end = EndScope { home: self, keep };
        // SAFETY: the copy is exclusively ours for the call; the scope can't leave `f`.
        let mut scope = unsafe { Scope::new(NonNull::from(&mut *copy)) };
        f(&mut scope)
    }

    /// A guard that restores the buffer's current position when dropped: the same as
    /// [`Buffer::checkpoint_guard`], callable without importing the trait.
    ///
    /// ```
    /// let mut buf = bumper::SlabBuffer::new();
    /// {
    ///     let mut guard = buf.checkpoint_guard();
    ///     guard.scope().alloc(1u64);
    /// }
    /// assert_eq!(buf.used(), 0);
    /// ```
    #[inline]
    #[must_use = "the checkpoint is restored when the guard is dropped"]
    pub fn checkpoint_guard(&mut self) -> CheckpointGuard<'_, Self> {
        CheckpointGuard::new(self)
    }

    /// The slab size in bytes.
    #[must_use]
    pub const fn slab_size(&self) -> usize {
        SLAB_SIZE
    }

    /// Bytes used: full slabs before the current one, the current slab up to the bump position,
    /// and the big allocations.
    #[must_use]
    pub fn used(&self) -> usize {
        self.pos.current * SLAB_SIZE + self.pos.offset + self.store_ref().map_or(0, |s| s.big_bytes)
    }

    /// Bytes held: all slabs (spares included) and the big allocations.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.store_ref()
            .map_or(0, |s| s.slabs.len() * SLAB_SIZE + s.big_bytes)
    }

    /// Frees the slabs past the current one, kept for reuse since a scope that used them ended.
    /// Returns how many were freed. Safe: spare slabs hold no live allocation.
    ///
    /// ```
    /// use bumper::{Buffer, SlabBuffer};
    ///
    /// let mut buf: SlabBuffer<1024> = SlabBuffer::with_slab_size();
    /// buf.no_escape(|s| {
    ///     for _ in 0..4 {
    ///         s.alloc_slice_fill(400, 0u8);
    ///     }
    /// });
    /// assert_eq!(buf.stats().unwrap().spare_slabs, 1);
    /// assert_eq!(buf.release_spare_slabs(), 1);
    /// assert_eq!(buf.stats().unwrap().slabs, 1);
    /// ```
    pub fn release_spare_slabs(&mut self) -> usize {
        let Some(mut store) = self.store else {
            return 0;
        };
        // SAFETY: the store is owned by the buffer, borrowed exclusively here.
        let store = unsafe { store.as_mut() };
        // Slabs from `keep` on hold no live allocation: the position is before them.
        let keep = if self.pos.limit == 0 {
            0
        } else {
            self.pos.current + 1
        };
        let spares = store.slabs.len().saturating_sub(keep);
        for slab in store.slabs.drain(keep.min(store.slabs.len())..) {
            // SAFETY: every slab was allocated by `alloc_slow` with `slab_layout()`, and
            // spares hold no live allocation.
            unsafe { alloc::alloc::dealloc(slab.as_ptr(), Self::slab_layout()) };
        }
        spares
    }

    fn slab_layout() -> Layout {
        // Valid by `VALID_SLAB_SIZE`.
        Layout::from_size_align(SLAB_SIZE, SLAB_ALIGN).expect("valid slab layout")
    }

    /// Starts a scope run on a bitwise copy of the buffer (see `snapshot_scope`): makes sure
    /// the store exists, so the copy shares it, and returns the copy with the count of big
    /// allocations to keep when the scope ends ([`end_snapshot`](Self::end_snapshot)).
    ///
    /// # Safety
    ///
    /// Until `end_snapshot(keep)` is called on this buffer, the buffer is not used other than
    /// through the copy, and allocations made through the copy are not used after it. The copy
    /// must not be dropped (it owns nothing: the buffer keeps its slabs and big allocations).
    #[inline(always)]
    pub(crate) unsafe fn begin_snapshot(&mut self) -> (core::mem::ManuallyDrop<Self>, usize) {
        // The store must exist before the copy is made, so both share it.
        self.store = self.store.or_else(|| new_store().ok());
        let keep = self.big_count();
        // SAFETY: a bitwise copy, never dropped (`ManuallyDrop`): the slabs and big allocations
        // keep their one owner, `*self`, whose position is that of the scope's start, i.e.
        // restored, when the scope ends; the big allocations made through the copy are freed
        // by `end_snapshot`. Allocations come from the same slabs, through the copy's pointers
        // (the same provenance); the caller keeps them from outliving the scope.
        let mut copy = core::mem::ManuallyDrop::new(unsafe { ptr::read(self) });
        if self.store.is_none() {
            // No memory even for the bookkeeping: the scope's allocations fail (zero-sized ones
            // excepted). Handled here rather than by a second way to run a scope's closure, so
            // the closure is called in one place and inlined, which is what keeps the copy in
            // registers.
            copy.pos = Position::without_store();
        }
        (copy, keep)
    }

    /// The end of a scope run on a copy of the buffer: the buffer's own position is the
    /// scope's start already; free the big allocations made since (past the first `keep`), and
    /// stand in the first slab if the scope made one (as a restore to the start would).
    #[inline(always)]
    pub(crate) fn end_snapshot(&mut self, keep: usize) {
        let Some(mut store) = self.store else {
            return;
        };
        // SAFETY: the store is owned by the buffer, borrowed exclusively here.
        let heap = unsafe { store.as_mut() };
        if heap.big.len() > keep || (self.pos.limit == 0 && !heap.slabs.is_empty()) {
            end_snapshot_slow::<SLAB_SIZE>(heap, &mut self.pos, keep);
        }
    }

    /// The heap part, if made yet.
    fn store_ref(&self) -> Option<&Store> {
        // SAFETY: the store is owned by the buffer and changed only through `&mut self` (or a
        // scope's copy of it, while the buffer is borrowed for the scope).
        self.store.map(|s| unsafe { &*s.as_ptr() })
    }

    /// Slabs held.
    fn slab_count(&self) -> usize {
        self.store_ref().map_or(0, |s| s.slabs.len())
    }

    /// Big allocations held.
    #[inline(always)]
    fn big_count(&self) -> usize {
        self.store_ref().map_or(0, |s| s.big.len())
    }

    /// The fast path: bump inside the current slab, or `None`.
    #[inline(always)]
    fn bump(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        bump_in::<SLAB_SIZE>(&mut self.pos, layout)
    }
}

/// Makes a fresh, empty store on the heap.
fn new_store() -> Result<NonNull<Store>, AllocError> {
    let layout = Layout::new::<Store>();
    // SAFETY: `Store` has a non-zero size.
    let ptr = NonNull::new(unsafe { alloc::alloc::alloc(layout) }.cast::<Store>()).ok_or(
        AllocError::OutOfMemory {
            requested: layout.size(),
        },
    )?;
    // SAFETY: fresh memory for one `Store`.
    unsafe {
        ptr.as_ptr().write(Store {
            slabs: Vec::new(),
            big: Vec::new(),
            big_bytes: 0,
        })
    };
    Ok(ptr)
}

/// The rare part of `SlabBuffer::end_snapshot`.
#[cold]
#[inline(never)]
fn end_snapshot_slow<const SLAB_SIZE: usize>(heap: &mut Store, pos: &mut Position, keep: usize) {
    free_big(heap, keep);
    if pos.limit == 0 && !heap.slabs.is_empty() {
        enter_slab::<SLAB_SIZE>(heap, pos, 0, 0);
    }
}

/// Frees the big allocations past the first `keep`, newest first.
fn free_big(store: &mut Store, keep: usize) {
    while store.big.len() > keep {
        let (ptr, layout) = store.big.pop().expect("len > keep");
        store.big_bytes -= layout.size();
        // SAFETY: allocated by `alloc_big` with this layout; the caller's restore or reset
        // ends its life.
        unsafe { alloc::alloc::dealloc(ptr.as_ptr(), layout) };
    }
}

/// Bumps inside the current slab of `pos`, or `None`.
#[inline(always)]
fn bump_in<const SLAB_SIZE: usize>(pos: &mut Position, layout: Layout) -> Option<NonNull<u8>> {
    if layout.align() > SLAB_ALIGN {
        return None;
    }
    let start = bump_offset(&mut pos.offset, pos.limit, layout)?;
    // SAFETY: `start + size <= limit`: inside the current slab (or one past it), with its
    // provenance; aligned because slabs are `SLAB_ALIGN`-aligned; non-null because the slab
    // is. Before a slab is entered `limit` is 0, so only zero-sized blocks come out, at the
    // sentinel's non-null, aligned address, touching no memory.
    Some(unsafe { NonNull::new_unchecked(pos.current_start.wrapping_add(start)) })
}

/// Everything but the in-slab bump: empty requests, big requests, moving to the next slab.
/// Takes and returns the buffer's fields by value (see `SlabBuffer::store`).
#[cold]
#[inline(never)]
fn alloc_slow<const SLAB_SIZE: usize>(
    store: Option<NonNull<Store>>,
    mut pos: Position,
    layout: Layout,
) -> SlowAlloc {
    if layout.size() == 0 {
        // Any aligned non-null pointer is valid for zero bytes.
        let ptr = NonNull::new(ptr::without_provenance_mut(layout.align())).expect("non-zero");
        return SlowAlloc {
            result: Ok(ptr),
            pos,
            store,
        };
    }
    let store = match store {
        Some(store) => store,
        None if pos.current_start.addr() == NO_STORE_SENTINEL => {
            // A scope's copy of a buffer without a store (see `Position::without_store`).
            return SlowAlloc {
                result: Err(AllocError::OutOfMemory {
                    requested: layout.size(),
                }),
                pos,
                store: None,
            };
        }
        None => match new_store() {
            Ok(store) => store,
            Err(err) => {
                return SlowAlloc {
                    result: Err(err),
                    pos,
                    store: None,
                }
            }
        },
    };
    // SAFETY: the store is owned by the buffer whose fields these are, which is exclusively
    // borrowed by the caller.
    let heap = unsafe { &mut *store.as_ptr() };
    let result = if layout.size() > SLAB_SIZE / 2 || layout.align() > SLAB_ALIGN {
        alloc_big(heap, layout)
    } else {
        next_slab::<SLAB_SIZE>(heap, &mut pos, layout)
    };
    SlowAlloc {
        result,
        pos,
        store: Some(store),
    }
}

/// Moves `pos` to the next slab (allocating it if it was never made) and bumps there.
fn next_slab<const SLAB_SIZE: usize>(
    heap: &mut Store,
    pos: &mut Position,
    layout: Layout,
) -> Result<NonNull<u8>, AllocError> {
    let next = if pos.limit == 0 { 0 } else { pos.current + 1 };
    if next == heap.slabs.len() {
        let oom = AllocError::OutOfMemory {
            requested: SLAB_SIZE,
        };
        heap.slabs.try_reserve(1).map_err(|_| oom)?;
        // SAFETY: the slab layout has a non-zero size (`VALID_SLAB_SIZE`).
        let slab = unsafe { alloc::alloc::alloc(SlabBuffer::<SLAB_SIZE>::slab_layout()) };
        heap.slabs.push(NonNull::new(slab).ok_or(oom)?);
    }
    enter_slab::<SLAB_SIZE>(heap, pos, next, 0);
    // A fresh slab is aligned to `SLAB_ALIGN >= layout.align()` and has room for
    // `layout.size() <= SLAB_SIZE / 2`, so the bump succeeds.
    bump_in::<SLAB_SIZE>(pos, layout).ok_or(AllocError::SizeOverflow)
}

/// Makes `index` the current slab of `pos`, positioned `offset` bytes in.
fn enter_slab<const SLAB_SIZE: usize>(
    heap: &Store,
    pos: &mut Position,
    index: usize,
    offset: usize,
) {
    pos.current = index;
    pos.current_start = heap.slabs[index].as_ptr();
    pos.limit = SLAB_SIZE;
    // `offset <= SLAB_SIZE`: in bounds of the slab (or one past it).
    pos.offset = offset;
}

fn alloc_big(heap: &mut Store, layout: Layout) -> Result<NonNull<u8>, AllocError> {
    let requested = layout.size();
    if heap.big.len() >= u32::MAX as usize {
        // Checkpoints count big allocations in 32 bits.
        return Err(AllocError::OutOfMemory { requested });
    }
    heap.big
        .try_reserve(1)
        .map_err(|_| AllocError::OutOfMemory { requested })?;
    // SAFETY: the layout has a non-zero size (checked by the caller).
    let ptr = NonNull::new(unsafe { alloc::alloc::alloc(layout) })
        .ok_or(AllocError::OutOfMemory { requested })?;
    heap.big.push((ptr, layout));
    heap.big_bytes += requested;
    Ok(ptr)
}

/// The rare parts of a restore: validation failures, freeing big allocations, going back to an
/// earlier slab. Takes and returns the position by value (see `SlabBuffer::store`).
#[cold]
#[inline(never)]
#[track_caller]
fn restore_slow<const SLAB_SIZE: usize>(
    store: Option<NonNull<Store>>,
    mut pos: Position,
    id: u32,
    cp: SlabCheckpoint,
) -> Position {
    // SAFETY: as in `alloc_slow`.
    let heap = store.map(|s| unsafe { &mut *s.as_ptr() });
    let big = cp.big as usize;
    let held = heap.as_ref().map_or(0, |h| h.big.len());
    let same_slab = cp.slab == pos.current;
    if cp.id != id || big > held || cp.slab > pos.current || (same_slab && cp.offset > pos.offset) {
        bad_checkpoint(cp, id);
    }
    let Some(heap) = heap else {
        // No store: nothing was ever allocated, so the checkpoint is the start.
        return pos;
    };
    free_big(heap, big);
    if same_slab {
        pos.offset = cp.offset;
    } else {
        enter_slab::<SLAB_SIZE>(heap, &mut pos, cp.slab, cp.offset);
    }
    pos
}

impl<const SLAB_SIZE: usize> Default for SlabBuffer<SLAB_SIZE> {
    /// Same as [`SlabBuffer::with_slab_size`] (and [`SlabBuffer::new`] for the default size).
    fn default() -> Self {
        Self::with_slab_size()
    }
}

impl<const SLAB_SIZE: usize> Drop for SlabBuffer<SLAB_SIZE> {
    fn drop(&mut self) {
        let Some(store) = self.store.take() else {
            return;
        };
        // SAFETY: the store was made by `new_store` (with `Layout::new::<Store>()`, as a `Box`
        // allocates it) and is owned by this buffer alone.
        let mut store = unsafe { alloc::boxed::Box::from_raw(store.as_ptr()) };
        free_big(&mut store, 0);
        for slab in store.slabs.drain(..) {
            // SAFETY: every slab was allocated with `slab_layout()`; the buffer is going away, so
            // no allocation from it is live (allocations borrow the buffer).
            unsafe { alloc::alloc::dealloc(slab.as_ptr(), Self::slab_layout()) };
        }
    }
}

// SAFETY: bumped allocations are disjoint aligned ranges of the current slab past the position;
// slabs and big allocations are separate heap blocks that never move and are freed only by
// restore/reset past them (or drop); restore never frees a slab, and frees only big allocations
// made after the checkpoint.
unsafe impl<const SLAB_SIZE: usize> Buffer for SlabBuffer<SLAB_SIZE> {
    type Checkpoint = SlabCheckpoint;

    /// As [`Buffer::no_escape`]; the scope runs on a copy of the buffer, so the position stays
    /// in registers (see the inherent [`SlabBuffer::no_escape`]).
    #[inline(always)]
    fn no_escape<R, F>(&mut self, f: F) -> R
    where
        Self: Sized,
        F: for<'s> FnOnce(&mut Scope<'s, Self>) -> R,
    {
        self.snapshot_scope(f)
    }

    #[inline(always)]
    fn try_alloc_layout(&mut self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        // Big requests always get their own block, even when they would fit the current slab,
        // so the bump position and the slab reuse stay predictable. (A constant for typed
        // allocations, so the check folds away.)
        if layout.size() <= SLAB_SIZE / 2 {
            if let Some(ptr) = self.bump(layout) {
                return Ok(ptr);
            }
        }
        let slow = alloc_slow::<SLAB_SIZE>(self.store, self.pos, layout);
        self.pos = slow.pos;
        self.store = slow.store;
        slow.result
    }

    #[inline(always)]
    fn checkpoint(&self) -> SlabCheckpoint {
        SlabCheckpoint {
            id: self.id,
            slab: self.pos.current,
            offset: self.pos.offset,
            // At most `u32::MAX` (enforced by `alloc_big`).
            big: self.big_count() as u32,
        }
    }

    #[inline(always)]
    unsafe fn restore(&mut self, cp: SlabCheckpoint) {
        // The common case, kept small enough to inline: same buffer, same slab, no big
        // allocation to free, and not past the position.
        if cp.id == self.id
            && cp.slab == self.pos.current
            && cp.big as usize == self.big_count()
            && cp.offset <= self.pos.offset
        {
            self.pos.offset = cp.offset;
        } else {
            self.pos = restore_slow::<SLAB_SIZE>(self.store, self.pos, self.id, cp);
        }
    }

    #[inline]
    unsafe fn try_resize_last(&mut self, ptr: NonNull<u8>, old: Layout, new_size: usize) -> bool {
        // Only blocks of the current slab (big allocations and older slabs never match: their
        // offsets fall outside `0..=limit` or don't end at the position).
        let pos = &mut self.pos;
        let block = ptr.as_ptr().addr().wrapping_sub(pos.current_start.addr());
        block <= pos.limit && resize_last(&mut pos.offset, pos.limit, block, old.size(), new_size)
    }

    fn reset(&mut self) {
        let Some(mut store) = self.store else {
            return;
        };
        // SAFETY: the store is owned by the buffer, borrowed exclusively here.
        let heap = unsafe { store.as_mut() };
        free_big(heap, 0);
        if heap.slabs.is_empty() {
            self.pos = Position::start();
        } else {
            enter_slab::<SLAB_SIZE>(heap, &mut self.pos, 0, 0);
        }
    }

    fn stats(&self) -> Option<BufferStats> {
        let slabs = self.slab_count();
        let in_use = if self.pos.limit == 0 {
            0
        } else {
            self.pos.current + 1
        };
        Some(BufferStats {
            used: self.used(),
            capacity: self.capacity(),
            slabs,
            spare_slabs: slabs.saturating_sub(in_use),
            big_allocations: self.big_count(),
            position: self.pos.offset,
            slab_end: self.pos.limit,
        })
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn bad_checkpoint(cp: SlabCheckpoint, id: u32) -> ! {
    if cp.id != id {
        panic!("SlabBuffer::restore: the checkpoint belongs to another buffer");
    }
    panic!(
        "SlabBuffer::restore: the buffer was already restored or reset past this checkpoint \
         (checkpoint at slab {}, byte {})",
        cp.slab, cp.offset
    );
}

impl<const SLAB_SIZE: usize> fmt::Debug for SlabBuffer<SLAB_SIZE> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlabBuffer")
            .field("slab_size", &SLAB_SIZE)
            .field("used", &self.used())
            .field("capacity", &self.capacity())
            .field("slabs", &self.slab_count())
            .field("current_slab", &self.pos.current)
            .field("big_allocations", &self.big_count())
            .finish()
    }
}
