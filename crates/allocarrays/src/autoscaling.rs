//! [`AutoscalingAllocBuffer`]: a bump buffer that never runs out of room and re-sizes its main
//! buffer from the usage of past runs (the seed's `AutoscalingAllocBuffer`).

use std::alloc::{self, Layout};
use std::collections::VecDeque;
use std::fmt;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicUsize, Ordering};

use bumper::{AllocError, Buffer, BufferStats};

/// Alignment of every buffer this type allocates (a cache line). A request aligned to more than
/// this that needs a new additional buffer gets one allocated with the request's alignment.
const BUFFER_ALIGN: usize = 64;

/// Gives every `AutoscalingAllocBuffer` an identity, so a checkpoint of another buffer is
/// recognised.
static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

/// A growable bump buffer: one contiguous *main buffer*, plus *additional buffers* made on
/// demand when the main one is full, folded back into a bigger main buffer at the next
/// [`reset`](Buffer::reset).
///
/// It follows the rules of the seed (AllocArrays.jl) exactly:
///
/// - The main buffer starts at 2<sup>27</sup> bytes (128 MiB, [`new`](Self::new)) or the size
///   you choose ([`with_initial_size`](Self::with_initial_size)). Its memory comes uninitialised
///   from the global allocator and is never touched by the buffer, so the OS maps pages only as
///   they are used.
/// - An allocation comes from the main buffer if it fits; otherwise from the newest additional
///   buffer with room; otherwise from a new additional buffer of
///   `max(2 * new_buffer_size, 2 * request)` bytes, which becomes the new `new_buffer_size`
///   (it starts at half the initial size). Additional buffers grow geometrically, so even a
///   wildly undersized start needs only a few of them.
/// - [`reset`](Buffer::reset) records the bytes used in this run in a history of the last runs
///   (seeded with the initial size; it holds up to `max_history_size + 1` = 6 entries) and
///   proposes `ceil(1.1 * max(history))` bytes. If additional buffers were needed, or the
///   proposal is less than half the main buffer, the main buffer is replaced by one of the
///   proposed size, the additional buffers are freed, and `new_buffer_size` becomes a quarter of
///   the proposal. So a workload of steady size ends up in one contiguous buffer, and a buffer
///   shrinks only after a long enough run of small workloads.
///
/// Beyond the seed, which refuses checkpoints, it offers cheap [checkpoints](Buffer::checkpoint),
/// so [`no_escape`](Buffer::no_escape) scopes work on it (see [`AutoscalingCheckpoint`]). The
/// bytes "used in this run" that `reset` records are the most that were in use at once since the
/// previous reset, so work done inside scopes still sizes the main buffer (without restores,
/// that is simply the bytes used at the reset, as in the seed).
///
/// ```
/// use bumper::Buffer;
/// use allocarrays::AutoscalingAllocBuffer;
///
/// let mut buf = AutoscalingAllocBuffer::with_initial_size(1000);
/// let total = buf.no_escape(|s| {
///     // 4000 bytes: more than the main buffer holds, so an additional buffer serves it.
///     let y = s.alloc_slice_fill_with(500, |i| i as u64);
///     y.iter().sum::<u64>()
/// });
/// assert_eq!(total, 124_750);
/// assert_eq!((buf.used(), buf.additional_buffers()), (0, 1));
/// buf.reset(); // the main buffer grows to fit the run: ceil(1.1 * 4000) bytes
/// assert_eq!((buf.main_capacity(), buf.additional_buffers()), (4400, 0));
/// ```
pub struct AutoscalingAllocBuffer {
    main: Chunk,
    /// Additional buffers, oldest first (the seed keeps them newest first; allocation scans
    /// from the back, so the order of preference is the same).
    additional: Vec<Chunk>,
    /// Sum of the offsets of the additional buffers.
    additional_used: usize,
    new_buffer_size: usize,
    /// Bytes used by past runs, oldest first.
    history: VecDeque<usize>,
    max_history_size: usize,
    /// The most bytes seen in use at a restore since the last reset.
    peak: usize,
    /// How to undo changes to additional buffers, oldest first: the first change to an additional
    /// buffer after each checkpoint (and every creation) saves the buffer's previous state here,
    /// and a restore pops back to the length saved in the checkpoint.
    undo: Vec<UndoEntry>,
    /// Bumped by every checkpoint. An additional buffer whose `logged_at` equals it has already
    /// saved its state since the last checkpoint, so changing it again needs no new entry.
    /// Atomic so that `checkpoint(&self)` can bump it while the buffer stays `Sync`; relaxed
    /// loads and stores suffice (two checkpoints racing through `&self` see the same state, and
    /// one bump serves both).
    epoch: AtomicUsize,
    /// Bumped by every reset, so a checkpoint from before a reset is recognised.
    generation: usize,
    id: usize,
}

/// The saved state of an additional buffer, put back by a restore.
#[derive(Clone, Copy)]
struct UndoEntry {
    index: usize,
    offset: usize,
    logged_at: usize,
}

/// A `logged_at` that no epoch ever equals in practice: the entry of a buffer's creation.
const NEVER_LOGGED: usize = usize::MAX;

/// One block of bump memory, owned: allocated from the global allocator with `align`, freed on
/// drop.
struct Chunk {
    /// Start of the memory; every allocation from the chunk is derived from this pointer.
    /// Dangling (address [`BUFFER_ALIGN`], no provenance) when `capacity` is 0.
    start: NonNull<u8>,
    capacity: usize,
    align: usize,
    /// Bytes from `start` to the bump position.
    offset: usize,
    /// The epoch at which this (additional) buffer last saved its state to the undo log.
    logged_at: usize,
}

impl Chunk {
    /// A chunk of no memory at all.
    fn empty() -> Self {
        Chunk {
            start: dangling(BUFFER_ALIGN),
            capacity: 0,
            align: BUFFER_ALIGN,
            offset: 0,
            logged_at: NEVER_LOGGED,
        }
    }

    /// A chunk of `capacity` fresh, uninitialised bytes aligned to `align` (a power of two, at
    /// least [`BUFFER_ALIGN`]).
    fn allocate(capacity: usize, align: usize) -> Result<Self, AllocError> {
        if capacity == 0 {
            return Ok(Self::empty());
        }
        let layout =
            Layout::from_size_align(capacity, align).map_err(|_| AllocError::SizeOverflow)?;
        // Buffer memory outlives any heap-arena scope the array code runs in: keep it out.
        // SAFETY: the layout has a non-zero size.
        let start = crate::heap_carry::outside(|| unsafe { alloc::alloc(layout) });
        let start = NonNull::new(start).ok_or(AllocError::OutOfMemory {
            requested: capacity,
        })?;
        Ok(Chunk {
            start,
            capacity,
            align,
            offset: 0,
            logged_at: NEVER_LOGGED,
        })
    }

    /// Bumps out `layout` from this chunk, or `None` if it doesn't fit.
    #[inline(always)]
    fn bump(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        let base = self.start.as_ptr().addr();
        // Cannot overflow: `base + capacity` is the end of a real object (or `base` itself).
        let position = base + self.offset;
        let align_mask = layout.align() - 1;
        let aligned = position.checked_add(align_mask)? & !align_mask;
        let start = aligned - base;
        let end = start.checked_add(layout.size())?;
        if end > self.capacity {
            return None;
        }
        self.offset = end;
        // SAFETY: `start <= end <= capacity`, so the pointer stays inside (or one past) the
        // chunk's memory and keeps its provenance; a zero offset from the dangling start of an
        // empty chunk is allowed too.
        Some(unsafe { self.start.add(start) })
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        if self.capacity != 0 {
            // SAFETY: allocated in `Chunk::allocate` with exactly this size and alignment (a
            // valid layout then, so still valid now), and freed only here.
            unsafe {
                alloc::dealloc(
                    self.start.as_ptr(),
                    Layout::from_size_align_unchecked(self.capacity, self.align),
                )
            }
        }
    }
}

/// An aligned, non-null pointer without provenance: valid for zero-byte accesses only.
fn dangling(align: usize) -> NonNull<u8> {
    NonNull::new(ptr::without_provenance_mut(align)).expect("alignments are non-zero")
}

/// `ceil(1.1 * bytes)`, in integers: `bytes + ceil(bytes / 10)`.
fn grow_by_a_tenth(bytes: usize) -> usize {
    bytes.saturating_add(bytes.div_ceil(10))
}

// SAFETY: the buffer owns its chunks exclusively; the raw pointers are only followed by the
// buffer through `&mut self`, or by holders of the allocations it handed out. No thread-local
// state is involved.
unsafe impl Send for AutoscalingAllocBuffer {}
// SAFETY: through `&self` the buffer only reads its bookkeeping, and `checkpoint` bumps an
// atomic counter.
unsafe impl Sync for AutoscalingAllocBuffer {}

impl AutoscalingAllocBuffer {
    /// The initial size of the main buffer of [`new`](Self::new): 2<sup>27</sup> bytes (128 MiB).
    pub const DEFAULT_INITIAL_SIZE: usize = 1 << 27;

    /// How many past runs [`reset`](Buffer::reset) remembers by default, besides the current one.
    pub const DEFAULT_MAX_HISTORY_SIZE: usize = 5;

    /// The largest history [`with_max_history_size`](Self::with_max_history_size) accepts:
    /// 2<sup>20</sup> past runs.
    pub const MAX_HISTORY_SIZE: usize = 1 << 20;

    /// A buffer with a main buffer of [`DEFAULT_INITIAL_SIZE`](Self::DEFAULT_INITIAL_SIZE)
    /// (128 MiB) bytes. The memory is not touched, so only the pages used cost anything.
    ///
    /// ```
    /// let buf = allocarrays::AutoscalingAllocBuffer::new();
    /// assert_eq!(buf.capacity(), 1 << 27);
    /// assert_eq!(
    ///     buf.to_string(),
    ///     "AutoscalingAllocBuffer() (0 bytes used, capacity 128.000 MiB, all in main buffer)"
    /// );
    /// ```
    ///
    /// # Panics
    ///
    /// If the global allocator can't provide the memory.
    #[track_caller]
    pub fn new() -> Self {
        Self::with_initial_size(Self::DEFAULT_INITIAL_SIZE)
    }

    /// A buffer whose main buffer holds `bytes` bytes (0 is allowed: every allocation then goes
    /// to an additional buffer until the first reset sizes the main one).
    ///
    /// ```
    /// use allocarrays::AutoscalingAllocBuffer;
    ///
    /// let buf = AutoscalingAllocBuffer::with_initial_size(4096);
    /// assert_eq!((buf.main_capacity(), buf.used(), buf.additional_buffers()), (4096, 0, 0));
    /// ```
    ///
    /// # Panics
    ///
    /// If the global allocator can't provide the memory, or `bytes` exceeds `isize::MAX - 63`.
    #[track_caller]
    pub fn with_initial_size(bytes: usize) -> Self {
        match Self::try_with_initial_size(bytes) {
            Ok(buf) => buf,
            Err(err) => panic!("{err}"),
        }
    }

    /// Like [`with_initial_size`](Self::with_initial_size), but returns an error instead of
    /// panicking.
    ///
    /// ```
    /// use allocarrays::AutoscalingAllocBuffer;
    /// use bumper::AllocError;
    ///
    /// let err = AutoscalingAllocBuffer::try_with_initial_size(usize::MAX).unwrap_err();
    /// assert_eq!(err, AllocError::SizeOverflow);
    /// ```
    pub fn try_with_initial_size(bytes: usize) -> Result<Self, AllocError> {
        let main = Chunk::allocate(bytes, BUFFER_ALIGN)?;
        let mut history = VecDeque::new();
        history
            .try_reserve(Self::DEFAULT_MAX_HISTORY_SIZE + 1)
            .map_err(|_| AllocError::OutOfMemory {
                requested: (Self::DEFAULT_MAX_HISTORY_SIZE + 1) * size_of::<usize>(),
            })?;
        history.push_back(bytes);
        Ok(AutoscalingAllocBuffer {
            main,
            additional: Vec::new(),
            additional_used: 0,
            new_buffer_size: bytes.div_ceil(2),
            history,
            max_history_size: Self::DEFAULT_MAX_HISTORY_SIZE,
            peak: 0,
            undo: Vec::new(),
            epoch: AtomicUsize::new(0),
            generation: 0,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// Sets how many past runs [`reset`](Buffer::reset) remembers besides the current one (the
    /// seed's `max_history_size` keyword; 5 by default). A longer history makes the main buffer
    /// slower to shrink after a big run.
    ///
    /// ```
    /// use allocarrays::AutoscalingAllocBuffer;
    /// use bumper::Buffer;
    ///
    /// let mut buf = AutoscalingAllocBuffer::with_initial_size(100_000).with_max_history_size(1);
    /// buf.reset(); // history [100 000, 0]: the big past run still counts
    /// assert_eq!(buf.main_capacity(), 100_000);
    /// buf.reset(); // history [0, 0]: shrinks to nothing
    /// assert_eq!(buf.main_capacity(), 0);
    /// ```
    ///
    /// # Panics
    ///
    /// If `max_history_size` exceeds [`MAX_HISTORY_SIZE`](Self::MAX_HISTORY_SIZE) (see
    /// [`try_with_max_history_size`](Self::try_with_max_history_size) for the `Result` form).
    #[must_use]
    #[track_caller]
    pub fn with_max_history_size(self, max_history_size: usize) -> Self {
        match self.try_with_max_history_size(max_history_size) {
            Ok(buf) => buf,
            Err(err) => panic!("{err}"),
        }
    }

    /// Like [`with_max_history_size`](Self::with_max_history_size), but returns an error
    /// instead of panicking. The history grows one entry per [`reset`](Buffer::reset) up to the
    /// limit; no room is reserved for it up front.
    ///
    /// ```
    /// use allocarrays::AutoscalingAllocBuffer;
    ///
    /// let buf = AutoscalingAllocBuffer::with_initial_size(64).try_with_max_history_size(10);
    /// assert!(buf.is_ok());
    /// let err = AutoscalingAllocBuffer::with_initial_size(64)
    ///     .try_with_max_history_size(1 << 33)
    ///     .unwrap_err();
    /// assert_eq!(err.requested, 1 << 33);
    /// ```
    ///
    /// # Errors
    ///
    /// [`HistorySizeError`] if `max_history_size` exceeds
    /// [`MAX_HISTORY_SIZE`](Self::MAX_HISTORY_SIZE): every reset scans the history, so a longer
    /// one is certainly a mistake (it would also cost 8 bytes a run for as many runs).
    pub fn try_with_max_history_size(
        mut self,
        max_history_size: usize,
    ) -> Result<Self, HistorySizeError> {
        if max_history_size > Self::MAX_HISTORY_SIZE {
            return Err(HistorySizeError {
                requested: max_history_size,
            });
        }
        self.max_history_size = max_history_size;
        // A shorter history than before drops its oldest entries at the next reset.
        Ok(self)
    }

    /// Bytes in use: the main buffer up to its bump position plus the additional buffers up to
    /// theirs, alignment padding included.
    ///
    /// ```
    /// use allocarrays::AutoscalingAllocBuffer;
    /// use bumper::Buffer;
    /// use core::alloc::Layout;
    ///
    /// let mut buf = AutoscalingAllocBuffer::with_initial_size(64);
    /// buf.alloc_layout(Layout::from_size_align(40, 1).unwrap());
    /// buf.alloc_layout(Layout::from_size_align(40, 1).unwrap()); // an additional buffer
    /// assert_eq!(buf.used(), 80);
    /// ```
    #[inline]
    pub fn used(&self) -> usize {
        self.main.offset + self.additional_used
    }

    /// Bytes held: the main buffer and all additional buffers.
    ///
    /// ```
    /// use allocarrays::AutoscalingAllocBuffer;
    /// use bumper::Buffer;
    /// use core::alloc::Layout;
    ///
    /// let mut buf = AutoscalingAllocBuffer::with_initial_size(1000);
    /// buf.alloc_layout(Layout::from_size_align(40_000, 1).unwrap());
    /// // A new additional buffer: max(2 * 500, 2 * 40 000) bytes.
    /// assert_eq!(buf.capacity(), 1000 + 80_000);
    /// ```
    pub fn capacity(&self) -> usize {
        self.main.capacity + self.additional.iter().map(|c| c.capacity).sum::<usize>()
    }

    /// Bytes in the main buffer.
    ///
    /// ```
    /// let buf = allocarrays::AutoscalingAllocBuffer::with_initial_size(1000);
    /// assert_eq!(buf.main_capacity(), 1000);
    /// ```
    #[inline]
    pub fn main_capacity(&self) -> usize {
        self.main.capacity
    }

    /// How many additional buffers the buffer holds. They are made when the main buffer is
    /// full and freed by the next [`reset`](Buffer::reset); a [restore](Buffer::restore) keeps
    /// them (emptied) for reuse.
    ///
    /// ```
    /// use allocarrays::AutoscalingAllocBuffer;
    /// use bumper::Buffer;
    ///
    /// let mut buf = AutoscalingAllocBuffer::with_initial_size(16);
    /// buf.no_escape(|s| { s.alloc_slice_fill(100, 0u8); });
    /// assert_eq!(buf.additional_buffers(), 1);
    /// buf.reset();
    /// assert_eq!(buf.additional_buffers(), 0);
    /// ```
    #[inline]
    pub fn additional_buffers(&self) -> usize {
        self.additional.len()
    }

    /// Everything but the bump in the main buffer: empty requests, the additional buffers, and
    /// making a new one.
    #[cold]
    #[inline(never)]
    fn alloc_slow(&mut self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        if layout.size() == 0 {
            // Any aligned non-null pointer is valid for zero bytes; no buffer needs to change.
            return Ok(dangling(layout.align()));
        }
        let epoch = *self.epoch.get_mut();
        // Newest first, as in the seed.
        for (index, chunk) in self.additional.iter_mut().enumerate().rev() {
            let before = chunk.offset;
            let Some(ptr) = chunk.bump(layout) else {
                continue;
            };
            if chunk.logged_at != epoch {
                // The first change since the last checkpoint: save the state to go back to.
                if crate::heap_carry::outside(|| self.undo.try_reserve(1)).is_err() {
                    chunk.offset = before;
                    return Err(AllocError::OutOfMemory {
                        requested: size_of::<UndoEntry>(),
                    });
                }
                self.undo.push(UndoEntry {
                    index,
                    offset: before,
                    logged_at: chunk.logged_at,
                });
                chunk.logged_at = epoch;
            }
            self.additional_used += chunk.offset - before;
            return Ok(ptr);
        }
        self.alloc_in_new_buffer(layout, epoch)
    }

    /// Makes a new additional buffer, newest of all, and serves `layout` from it.
    fn alloc_in_new_buffer(
        &mut self,
        layout: Layout,
        epoch: usize,
    ) -> Result<NonNull<u8>, AllocError> {
        let align = layout.align().max(BUFFER_ALIGN);
        // The largest size a layout with this alignment allows; `layout.size()` is within it.
        let largest = isize::MAX as usize - (align - 1);
        let wanted = self
            .new_buffer_size
            .saturating_mul(2)
            .max(layout.size().saturating_mul(2))
            .min(largest);
        let oom = AllocError::OutOfMemory { requested: wanted };
        // The bookkeeping lives as long as the buffer: not in a heap arena.
        crate::heap_carry::outside(|| {
            self.additional.try_reserve(1)?;
            self.undo.try_reserve(1)
        })
        .map_err(|_| oom)?;
        // If the doubled size can't be had, a buffer just big enough for the request will do.
        let mut chunk = match Chunk::allocate(wanted, align) {
            Ok(chunk) => chunk,
            // Either way the system can't give what was asked: say so, with the request's size.
            Err(_) => {
                Chunk::allocate(layout.size(), align).map_err(|_| AllocError::OutOfMemory {
                    requested: layout.size(),
                })?
            }
        };
        // A fresh chunk is aligned to `align >= layout.align()` and holds at least
        // `layout.size()` bytes, so the bump succeeds.
        let ptr = chunk.bump(layout).ok_or(AllocError::SizeOverflow)?;
        self.new_buffer_size = chunk.capacity;
        self.additional_used += chunk.offset;
        chunk.logged_at = epoch;
        // A restore to a checkpoint taken before now empties the new buffer (and keeps it).
        self.undo.push(UndoEntry {
            index: self.additional.len(),
            offset: 0,
            logged_at: NEVER_LOGGED,
        });
        self.additional.push(chunk);
        Ok(ptr)
    }

    /// The part of a restore that concerns the additional buffers.
    #[cold]
    #[inline(never)]
    fn undo_to(&mut self, undo_len: usize) {
        while self.undo.len() > undo_len {
            let entry = self.undo.pop().expect("len > undo_len");
            let chunk = &mut self.additional[entry.index];
            // Offsets only grow between a save and its undo, so this never underflows.
            self.additional_used -= chunk.offset - entry.offset;
            chunk.offset = entry.offset;
            chunk.logged_at = entry.logged_at;
        }
    }

    /// Replaces the main buffer by one of `bytes` bytes and frees the additional buffers (the
    /// seed's `reallocate!`).
    fn reallocate(&mut self, bytes: usize) {
        self.additional.clear();
        self.additional_used = 0;
        if bytes != self.main.capacity {
            // Free the old main buffer first: nothing lives in it any more, and the peak
            // memory stays lower. If the new one can't be had, the main buffer stays empty and
            // allocations go to additional buffers, which report the failure if it persists.
            self.main = Chunk::empty();
            self.main = Chunk::allocate(bytes, BUFFER_ALIGN).unwrap_or_else(|_| Chunk::empty());
        }
        self.new_buffer_size = bytes.div_ceil(4);
    }

    fn main_used(&self) -> usize {
        self.main.offset
    }
}

impl Default for AutoscalingAllocBuffer {
    /// Same as [`AutoscalingAllocBuffer::new`].
    fn default() -> Self {
        Self::new()
    }
}

/// The error of [`AutoscalingAllocBuffer::try_with_max_history_size`]: the history size asked
/// for exceeds [`AutoscalingAllocBuffer::MAX_HISTORY_SIZE`].
///
/// ```
/// use allocarrays::AutoscalingAllocBuffer;
///
/// let err = AutoscalingAllocBuffer::with_initial_size(0)
///     .try_with_max_history_size(usize::MAX)
///     .unwrap_err();
/// assert!(err.to_string().contains("max_history_size"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HistorySizeError {
    /// The `max_history_size` asked for.
    pub requested: usize,
}

impl fmt::Display for HistorySizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "AutoscalingAllocBuffer: max_history_size {} exceeds the limit of {} past runs",
            self.requested,
            AutoscalingAllocBuffer::MAX_HISTORY_SIZE
        )
    }
}

impl std::error::Error for HistorySizeError {}

/// A saved position of an [`AutoscalingAllocBuffer`]: four words (the buffer's identity, the
/// number of resets, the main buffer's position, the length of its undo log), so it fits
/// [`bumper::with_buffer`].
///
/// Restoring one rewinds the main buffer and every additional buffer to where they were when it
/// was taken, exactly, also when later allocations went to older additional buffers that still
/// had room. Additional buffers made after the checkpoint are **kept**, emptied, for reuse (so a
/// loop whose scope overflows the main buffer costs no system allocation per iteration); the
/// next [`reset`](Buffer::reset) folds them into the main buffer. A restore never changes the
/// usage history; only a reset records to it.
///
/// Restoring a checkpoint of another buffer, one taken before a reset, or one the buffer was
/// already restored past panics.
///
/// ```
/// use allocarrays::AutoscalingAllocBuffer;
/// use bumper::Buffer;
///
/// let mut buf = AutoscalingAllocBuffer::with_initial_size(1024);
/// let mut guard = buf.checkpoint_guard();
/// guard.scope().alloc_slice_fill(5000, 1u8); // overflows into an additional buffer
/// drop(guard); // restored
/// assert_eq!((buf.used(), buf.additional_buffers()), (0, 1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoscalingCheckpoint {
    id: usize,
    generation: usize,
    main_offset: usize,
    undo_len: usize,
}

// SAFETY: allocations are disjoint aligned sub-ranges of a chunk past its bump position, and
// chunks are separate blocks from the global allocator that never move. The main buffer is
// replaced and additional buffers are freed only by `reset` (which proves no allocation is live)
// or drop. A restore only moves bump positions back, to where they were when the checkpoint was
// taken (the main offset saved in it, the additional ones saved in the undo log), so every
// allocation made before the checkpoint stays below the positions and untouched.
unsafe impl Buffer for AutoscalingAllocBuffer {
    type Checkpoint = AutoscalingCheckpoint;

    #[inline]
    fn try_alloc_layout(&mut self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        match self.main.bump(layout) {
            Some(ptr) => Ok(ptr),
            None => self.alloc_slow(layout),
        }
    }

    #[inline]
    fn checkpoint(&self) -> AutoscalingCheckpoint {
        // A load and a store, not a read-modify-write: see the `epoch` field.
        let epoch = self.epoch.load(Ordering::Relaxed);
        self.epoch.store(epoch.wrapping_add(1), Ordering::Relaxed);
        AutoscalingCheckpoint {
            id: self.id,
            generation: self.generation,
            main_offset: self.main.offset,
            undo_len: self.undo.len(),
        }
    }

    #[inline]
    unsafe fn restore(&mut self, checkpoint: AutoscalingCheckpoint) {
        if checkpoint.id != self.id
            || checkpoint.generation != self.generation
            || checkpoint.main_offset > self.main.offset
            || checkpoint.undo_len > self.undo.len()
        {
            bad_checkpoint(checkpoint, self);
        }
        self.peak = self.peak.max(self.used());
        if checkpoint.undo_len != self.undo.len() {
            self.undo_to(checkpoint.undo_len);
        }
        self.main.offset = checkpoint.main_offset;
    }

    fn reset(&mut self) {
        // The history and a re-sized main buffer live as long as the buffer: not in a heap
        // arena.
        crate::heap_carry::outside(|| self.reset_now());
    }

    fn stats(&self) -> Option<BufferStats> {
        let mut stats = BufferStats::default();
        stats.used = self.used();
        stats.capacity = self.capacity();
        stats.slabs = 1 + self.additional.len();
        stats.spare_slabs = self.additional.iter().filter(|c| c.offset == 0).count();
        stats.big_allocations = 0;
        stats.position = self.main.offset;
        stats.slab_end = self.main.capacity;
        Some(stats)
    }
}

impl AutoscalingAllocBuffer {
    /// [`Buffer::reset`]'s work: record the run, re-size the main buffer if needed, start over.
    fn reset_now(&mut self) {
        let used = self.peak.max(self.used());
        // Record the run, keeping at most `max_history_size + 1` entries (as the seed does).
        while self.history.len() > self.max_history_size {
            self.history.pop_front();
        }
        // Room for one more entry; if even that can't be had, the oldest one makes room.
        if self.history.try_reserve(1).is_err() {
            self.history.pop_front();
        }
        self.history.push_back(used);
        let most = self.history.iter().copied().max().unwrap_or(0);
        let proposed = grow_by_a_tenth(most);
        // Reallocate if the main buffer was too small, or is more than twice too big.
        if !self.additional.is_empty() || proposed < self.main.capacity.div_ceil(2) {
            self.reallocate(proposed);
        }
        self.main.offset = 0;
        self.peak = 0;
        self.undo.clear();
        self.generation = self.generation.wrapping_add(1);
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn bad_checkpoint(checkpoint: AutoscalingCheckpoint, buf: &AutoscalingAllocBuffer) -> ! {
    if checkpoint.id != buf.id {
        panic!("AutoscalingAllocBuffer::restore: the checkpoint belongs to another buffer");
    }
    if checkpoint.generation != buf.generation {
        panic!(
            "AutoscalingAllocBuffer::restore: the buffer was reset since the checkpoint was taken"
        );
    }
    panic!(
        "AutoscalingAllocBuffer::restore: the buffer was already restored past this checkpoint \
         (checkpoint at main byte {}, undo entry {}; buffer at main byte {}, undo entry {})",
        checkpoint.main_offset,
        checkpoint.undo_len,
        buf.main.offset,
        buf.undo.len()
    );
}

/// A byte count as Julia's `Base.format_bytes` writes it: "1000 bytes", "1 byte",
/// "1.953 KiB", "128.000 MiB". Up to 1024 bytes are counted in bytes; above, the largest unit
/// that leaves more than 1 (so exactly 1 MiB is "1024.000 KiB").
struct FormatBytes(usize);

impl fmt::Display for FormatBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
        let bytes = self.0;
        if bytes <= 1024 {
            let plural = if bytes == 1 { "" } else { "s" };
            return write!(f, "{bytes} byte{plural}");
        }
        let mut unit = 0;
        let mut scale: u128 = 1024;
        while unit + 1 < UNITS.len() && bytes as u128 > scale * 1024 {
            scale *= 1024;
            unit += 1;
        }
        write!(f, "{:.3} {}", bytes as f64 / scale as f64, UNITS[unit])
    }
}

/// `part` as a percentage of `whole`, with one decimal ("79.1%"); 0.0% when `whole` is 0.
struct Percent(usize, usize);

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Percent(part, whole) = *self;
        let percent = if whole == 0 {
            0.0
        } else {
            100.0 * part as f64 / whole as f64
        };
        write!(f, "{percent:.1}%")
    }
}

impl fmt::Display for AutoscalingAllocBuffer {
    /// The seed's `show`, e.g.
    /// `AutoscalingAllocBuffer() (0 bytes used, capacity 128.000 MiB, all in main buffer)` or,
    /// with additional buffers,
    /// `AutoscalingAllocBuffer() (7.668 MiB used [0.0% in main buffer], capacity 9.690 MiB
    /// [0.0% in main buffer] with 7 additional buffers)`: "1 additional buffer" for one, and no
    /// `[x% in main buffer]` after "0 bytes used", as in the seed. The alternate form (`{:#}`)
    /// is the seed's compact `AutoscalingAllocBuffer()`.
    ///
    /// ```
    /// use allocarrays::AutoscalingAllocBuffer;
    /// use bumper::Buffer;
    /// use core::alloc::Layout;
    ///
    /// let mut buf = AutoscalingAllocBuffer::with_initial_size(2000);
    /// buf.alloc_layout(Layout::from_size_align(40, 1).unwrap());
    /// assert_eq!(
    ///     buf.to_string(),
    ///     "AutoscalingAllocBuffer() (40 bytes used, capacity 1.953 KiB, all in main buffer)"
    /// );
    /// buf.alloc_layout(Layout::from_size_align(2000, 1).unwrap());
    /// assert_eq!(
    ///     buf.to_string(),
    ///     "AutoscalingAllocBuffer() (1.992 KiB used [2.0% in main buffer], \
    ///      capacity 5.859 KiB [33.3% in main buffer] with 1 additional buffer)"
    /// );
    /// assert_eq!(format!("{buf:#}"), "AutoscalingAllocBuffer()");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AutoscalingAllocBuffer()")?;
        if f.alternate() {
            return Ok(());
        }
        let used = self.used();
        let capacity = self.capacity();
        if self.additional.is_empty() {
            write!(
                f,
                " ({} used, capacity {}, all in main buffer)",
                FormatBytes(used),
                FormatBytes(capacity)
            )
        } else {
            write!(f, " ({} used", FormatBytes(used))?;
            // With nothing used, the seed shows no share of it.
            if used != 0 {
                write!(f, " [{} in main buffer]", Percent(self.main_used(), used))?;
            }
            let count = self.additional.len();
            let plural = if count == 1 { "" } else { "s" };
            write!(
                f,
                ", capacity {} [{} in main buffer] with {count} additional buffer{plural})",
                FormatBytes(capacity),
                Percent(self.main.capacity, capacity),
            )
        }
    }
}

impl fmt::Debug for AutoscalingAllocBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AutoscalingAllocBuffer")
            .field("used", &self.used())
            .field("capacity", &self.capacity())
            .field("main_used", &self.main_used())
            .field("main_capacity", &self.main.capacity)
            .field("additional_buffers", &self.additional.len())
            .field("new_buffer_size", &self.new_buffer_size)
            .field("history", &self.history)
            .field("max_history_size", &self.max_history_size)
            .finish()
    }
}
