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
/// Creating a `SlabBuffer` allocates nothing; the first slab is made on first use.
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
    /// Start of the current slab (a dangling, aligned address before the first slab exists).
    current_start: *mut u8,
    /// Bytes from `current_start` to the bump position.
    offset: usize,
    /// Bytes in the current slab: `SLAB_SIZE`, or 0 before the first slab exists.
    limit: usize,
    /// Index of the current slab in `slabs`.
    current: usize,
    /// Every slab held: `slabs[..current]` are full, `slabs[current + 1..]` are spares.
    slabs: Vec<NonNull<u8>>,
    /// Separate allocations for big requests, oldest first.
    big: Vec<(NonNull<u8>, Layout)>,
    big_bytes: usize,
    id: u32,
}

// SAFETY: the buffer exclusively owns its slabs and big allocations; the raw pointers are only
// followed through `&mut self` or by holders of allocations it handed out.
unsafe impl<const SLAB_SIZE: usize> Send for SlabBuffer<SLAB_SIZE> {}
// SAFETY: `&self` methods only read the position and the bookkeeping vectors.
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
        let sentinel = ptr::without_provenance_mut::<u8>(SLAB_ALIGN);
        SlabBuffer {
            current_start: sentinel,
            offset: 0,
            limit: 0,
            current: 0,
            slabs: Vec::new(),
            big: Vec::new(),
            big_bytes: 0,
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
        crate::scope::run_scope(self, f)
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
        self.current * SLAB_SIZE + self.offset + self.big_bytes
    }

    /// Bytes held: all slabs (spares included) and the big allocations.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.slabs.len() * SLAB_SIZE + self.big_bytes
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
        if self.slabs.is_empty() {
            return 0;
        }
        let spares = self.slabs.len() - self.current - 1;
        for slab in self.slabs.drain(self.current + 1..) {
            // SAFETY: every slab was allocated by `open_next_slab` with `slab_layout()`, and
            // spares hold no live allocation (the position is before them).
            unsafe { alloc::alloc::dealloc(slab.as_ptr(), Self::slab_layout()) };
        }
        spares
    }

    fn slab_layout() -> Layout {
        // Valid by `VALID_SLAB_SIZE`.
        Layout::from_size_align(SLAB_SIZE, SLAB_ALIGN).expect("valid slab layout")
    }

    /// Makes `index` the current slab, positioned `offset` bytes in.
    #[inline]
    fn enter_slab(&mut self, index: usize, offset: usize) {
        self.current = index;
        self.current_start = self.slabs[index].as_ptr();
        self.limit = SLAB_SIZE;
        // `offset <= SLAB_SIZE`: in bounds of the slab (or one past it).
        self.offset = offset;
    }

    /// Everything but the in-slab bump: empty requests, big requests, moving to the next slab.
    #[cold]
    #[inline(never)]
    fn alloc_slow(&mut self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        if layout.size() == 0 {
            // Any aligned non-null pointer is valid for zero bytes.
            return Ok(NonNull::new(ptr::without_provenance_mut(layout.align())).expect("non-zero"));
        }
        if layout.size() > SLAB_SIZE / 2 || layout.align() > SLAB_ALIGN {
            return self.alloc_big(layout);
        }
        let next = if self.slabs.is_empty() {
            0
        } else {
            self.current + 1
        };
        if next == self.slabs.len() {
            self.slabs
                .try_reserve(1)
                .map_err(|_| AllocError::OutOfMemory {
                    requested: SLAB_SIZE,
                })?;
            // SAFETY: the slab layout has a non-zero size (`VALID_SLAB_SIZE`).
            let slab = unsafe { alloc::alloc::alloc(Self::slab_layout()) };
            let slab = NonNull::new(slab).ok_or(AllocError::OutOfMemory {
                requested: SLAB_SIZE,
            })?;
            self.slabs.push(slab);
        }
        self.enter_slab(next, 0);
        // A fresh slab is aligned to `SLAB_ALIGN >= layout.align()` and has room for
        // `layout.size() <= SLAB_SIZE / 2`, so the bump succeeds.
        self.bump(layout).ok_or(AllocError::SizeOverflow)
    }

    fn alloc_big(&mut self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        let requested = layout.size();
        if self.big.len() >= u32::MAX as usize {
            // Checkpoints count big allocations in 32 bits.
            return Err(AllocError::OutOfMemory { requested });
        }
        self.big
            .try_reserve(1)
            .map_err(|_| AllocError::OutOfMemory { requested })?;
        // SAFETY: the layout has a non-zero size (checked by the caller).
        let ptr = NonNull::new(unsafe { alloc::alloc::alloc(layout) })
            .ok_or(AllocError::OutOfMemory { requested })?;
        self.big.push((ptr, layout));
        self.big_bytes += requested;
        Ok(ptr)
    }

    /// Frees the big allocations past the first `keep`, newest first.
    fn free_big(&mut self, keep: usize) {
        while self.big.len() > keep {
            let (ptr, layout) = self.big.pop().expect("len > keep");
            self.big_bytes -= layout.size();
            // SAFETY: allocated by `alloc_big` with this layout; the caller's restore or reset
            // ends its life.
            unsafe { alloc::alloc::dealloc(ptr.as_ptr(), layout) };
        }
    }

    /// The fast path: bump inside the current slab, or `None`.
    #[inline(always)]
    fn bump(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        if layout.align() > SLAB_ALIGN {
            return None;
        }
        let start = bump_offset(&mut self.offset, self.limit, layout)?;
        // SAFETY: `start + size <= limit`: inside the current slab (or one past it), with its
        // provenance; aligned because slabs are `SLAB_ALIGN`-aligned; non-null because the slab
        // is. Before the first slab `limit` is 0, so only zero-sized blocks come out, at the
        // sentinel's non-null, aligned address, touching no memory.
        Some(unsafe { NonNull::new_unchecked(self.current_start.wrapping_add(start)) })
    }

    /// The rare parts of a restore: validation failures, freeing big allocations, going back
    /// to an earlier slab.
    #[cold]
    #[inline(never)]
    fn restore_slow(&mut self, cp: SlabCheckpoint) {
        let big = cp.big as usize;
        let same_slab = cp.slab == self.current;
        if cp.id != self.id
            || big > self.big.len()
            || cp.slab > self.current
            || (same_slab && cp.offset > self.offset)
        {
            bad_checkpoint(cp, self.id);
        }
        self.free_big(big);
        if same_slab {
            self.offset = cp.offset;
        } else {
            self.enter_slab(cp.slab, cp.offset);
        }
    }
}

impl<const SLAB_SIZE: usize> Default for SlabBuffer<SLAB_SIZE> {
    /// Same as [`SlabBuffer::with_slab_size`] (and [`SlabBuffer::new`] for the default size).
    fn default() -> Self {
        Self::with_slab_size()
    }
}

impl<const SLAB_SIZE: usize> Drop for SlabBuffer<SLAB_SIZE> {
    fn drop(&mut self) {
        self.free_big(0);
        for slab in self.slabs.drain(..) {
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
        self.alloc_slow(layout)
    }

    #[inline(always)]
    fn checkpoint(&self) -> SlabCheckpoint {
        SlabCheckpoint {
            id: self.id,
            slab: self.current,
            offset: self.offset,
            // At most `u32::MAX` (enforced by `alloc_big`).
            big: self.big.len() as u32,
        }
    }

    #[inline(always)]
    unsafe fn restore(&mut self, cp: SlabCheckpoint) {
        // The common case, kept small enough to inline: same buffer, same slab, no big
        // allocation to free, and not past the position.
        if cp.id == self.id
            && cp.slab == self.current
            && cp.big as usize == self.big.len()
            && cp.offset <= self.offset
        {
            self.offset = cp.offset;
        } else {
            self.restore_slow(cp);
        }
    }

    #[inline]
    unsafe fn try_resize_last(&mut self, ptr: NonNull<u8>, old: Layout, new_size: usize) -> bool {
        // Only blocks of the current slab (big allocations and older slabs never match: their
        // offsets fall outside `0..=limit` or don't end at the position).
        let block = ptr.as_ptr().addr().wrapping_sub(self.current_start.addr());
        block <= self.limit
            && resize_last(&mut self.offset, self.limit, block, old.size(), new_size)
    }

    fn reset(&mut self) {
        self.free_big(0);
        if !self.slabs.is_empty() {
            self.enter_slab(0, 0);
        }
    }

    fn stats(&self) -> Option<BufferStats> {
        Some(BufferStats {
            used: self.used(),
            capacity: self.capacity(),
            slabs: self.slabs.len(),
            spare_slabs: self.slabs.len().saturating_sub(self.current + 1),
            big_allocations: self.big.len(),
            position: self.offset,
            slab_end: self.limit,
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
            .field("slabs", &self.slabs.len())
            .field("current_slab", &self.current)
            .field("big_allocations", &self.big.len())
            .finish()
    }
}
