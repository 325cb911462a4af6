//! The [`Buffer`] trait: the four operations every bump buffer provides, and the scope and
//! checkpoint machinery every implementor gets for free.

use core::alloc::Layout;
use core::fmt;
use core::ptr::NonNull;

use crate::checkpoint::CheckpointGuard;
use crate::error::AllocError;
use crate::scope::Scope;

/// A bump buffer: memory handed out by moving a position forward, taken back all at once by
/// moving it back to a saved [checkpoint](Buffer::checkpoint).
///
/// Implement the four required methods and your type gets [`no_escape`](Buffer::no_escape)
/// scopes, typed, slice and n-d allocation (through [`Scope`]), the safe
/// [`checkpoint_guard`](Buffer::checkpoint_guard), allocator interop, and can serve as the
/// thread's default buffer through [`with_buffer`](crate::with_buffer).
///
/// # Safety
///
/// Safe code relies on these promises, so implementing the trait is `unsafe`:
///
/// 1. A successful [`try_alloc_layout`](Buffer::try_alloc_layout) returns a pointer aligned to
///    `layout.align()` and valid for reads and writes of `layout.size()` bytes. (For a zero size,
///    any non-null aligned pointer will do.)
/// 2. That memory overlaps no other *live* allocation of the buffer. An allocation is live from
///    the moment it is returned until the buffer is [restored](Buffer::restore) to a checkpoint
///    taken before it, [reset](Buffer::reset), or dropped.
/// 3. The memory of a live allocation is not read, written, moved or freed by the buffer, even
///    when the buffer value itself is moved. So the memory must be behind a pointer, never
///    inline in the buffer value (scopes re-borrow the buffer mutably for every allocation).
/// 4. `restore(cp)` keeps every allocation made before `cp` was taken live and untouched.
///
/// # Example: the seed's `MyAllocBuffer` in a few lines
///
/// ```
/// use bumper::{AllocError, Buffer};
/// use core::{alloc::Layout, ptr::NonNull};
///
/// struct MyAllocBuffer {
///     memory: Box<[u8]>, // the memory chunk allocations come from
///     offset: usize,     // where the next allocation starts
/// }
///
/// // SAFETY: allocations are disjoint, aligned sub-ranges of `memory`, which lives on the heap
/// // (so it does not move with the struct); restore only moves `offset` back.
/// unsafe impl Buffer for MyAllocBuffer {
///     type Checkpoint = usize;
///
///     fn try_alloc_layout(&mut self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
///         let base = self.memory.as_mut_ptr();
///         let start = (base as usize + self.offset).next_multiple_of(layout.align()) - base as usize;
///         let end = start + layout.size();
///         if end > self.memory.len() {
///             return Err(AllocError::BufferFull {
///                 requested: layout.size(),
///                 align: layout.align(),
///                 available: self.memory.len() - self.offset,
///                 capacity: self.memory.len(),
///             });
///         }
///         self.offset = end;
///         Ok(NonNull::new(base.wrapping_add(start)).unwrap())
///     }
///     fn checkpoint(&self) -> usize {
///         self.offset
///     }
///     unsafe fn restore(&mut self, checkpoint: usize) {
///         self.offset = checkpoint;
///     }
///     fn reset(&mut self) {
///         self.offset = 0;
///     }
/// }
///
/// fn f(x: &[i64], buf: &mut impl Buffer) -> i64 {
///     buf.no_escape(|s| {
///         let y = s.alloc_slice_copy(x);
///         y.iter_mut().for_each(|v| *v += 1);
///         y.iter().sum()
///     })
/// }
///
/// let mut buf = MyAllocBuffer { memory: vec![0; 100].into_boxed_slice(), offset: 0 };
/// assert_eq!(f(&[1, 2, 3], &mut buf), 9);
/// assert_eq!(buf.offset, 0);
/// ```
pub unsafe trait Buffer {
    /// The saved state [`checkpoint`](Buffer::checkpoint) returns and
    /// [`restore`](Buffer::restore) takes back. Keep it small: a position and an identity.
    type Checkpoint: Copy + fmt::Debug;

    /// Bumps out memory for `layout`, or says why it can't. A failure leaves the buffer as it
    /// was.
    ///
    /// # Errors
    ///
    /// An [`AllocError`] saying why: no room in a fixed buffer, the system allocator refused a
    /// growable one more memory, or the size overflows.
    fn try_alloc_layout(&mut self, layout: Layout) -> Result<NonNull<u8>, AllocError>;

    /// Saves the current bump position.
    #[must_use]
    fn checkpoint(&self) -> Self::Checkpoint;

    /// Moves the bump position back to `checkpoint`, freeing everything allocated after it.
    ///
    /// # Safety
    ///
    /// - `checkpoint` was taken from this buffer, and the buffer has not been restored to an
    ///   earlier checkpoint or reset since (restoring the same checkpoint twice is fine).
    /// - No allocation made after `checkpoint` is used afterwards.
    ///
    /// Prefer [`no_escape`](Buffer::no_escape) or [`checkpoint_guard`](Buffer::checkpoint_guard),
    /// which uphold this for you. The buffers of this crate detect a checkpoint of another buffer
    /// and one the buffer has already gone back past, and panic.
    unsafe fn restore(&mut self, checkpoint: Self::Checkpoint);

    /// Frees every allocation at once, as if the buffer were new. Taking `&mut self` proves that
    /// nothing still points into the buffer.
    fn reset(&mut self);

    /// Usage figures, if the buffer keeps them.
    #[must_use]
    fn stats(&self) -> Option<BufferStats> {
        None
    }

    /// Resizes the block at `ptr` in place to `new_size` bytes, if it is the newest allocation
    /// and the room is there; returns whether it did. A `new_size` of 0 gives the block's memory
    /// back (the bump position moves back to `ptr`). The default never resizes.
    ///
    /// Collections use it through the allocator interop: a growing `Vec` that is the newest
    /// allocation of its scope extends in place instead of copying.
    ///
    /// # Safety
    ///
    /// `ptr` was returned by this buffer for `old` and is live. After a `true`, the block is
    /// `new_size` bytes (the buffer's promises apply to it at that size); after a `false`, it is
    /// unchanged.
    unsafe fn try_resize_last(&mut self, ptr: NonNull<u8>, old: Layout, new_size: usize) -> bool {
        let _ = (ptr, old, new_size);
        false
    }

    /// Allocates memory for `layout`, panicking with the [`AllocError`] text if it can't.
    ///
    /// The pointer is raw: using it is up to you (and `unsafe`). Inside a scope, prefer the typed
    /// methods of [`Scope`].
    #[inline]
    #[track_caller]
    fn alloc_layout(&mut self, layout: Layout) -> NonNull<u8> {
        match self.try_alloc_layout(layout) {
            Ok(ptr) => ptr,
            Err(err) => crate::error::alloc_failed(err),
        }
    }

    /// Runs `f` in a scope: everything allocated through the [`Scope`] is freed when `f` returns,
    /// and also when it panics.
    ///
    /// The scope's allocations can't leave `f`: returning one, or storing one somewhere that
    /// outlives `f`, is a compile error.
    ///
    /// ```
    /// use bumper::{AllocBuffer, Buffer};
    ///
    /// let mut buf = AllocBuffer::new();
    /// let total = buf.no_escape(|s| {
    ///     let y = s.alloc_slice_fill_with(30, |i| i as i64 + 1);
    ///     y.iter().sum::<i64>()
    /// });
    /// assert_eq!(total, 465);
    /// assert_eq!(buf.used(), 0);
    /// ```
    ///
    /// ```compile_fail
    /// use bumper::{AllocBuffer, Buffer};
    ///
    /// let mut buf = AllocBuffer::new();
    /// let escaped: &mut [u8] = buf.no_escape(|s| s.alloc_slice_fill(4, 0u8)); // error: escapes
    /// ```
    #[inline]
    fn no_escape<R, F>(&mut self, f: F) -> R
    where
        Self: Sized,
        F: for<'s> FnOnce(&mut Scope<'s, Self>) -> R,
    {
        crate::scope::run_scope(self, f)
    }

    /// Saves a checkpoint and returns a guard that restores it when dropped: the safe,
    /// non-closure form of [`no_escape`](Buffer::no_escape).
    ///
    /// Allocations go through [`CheckpointGuard::scope`], and borrow the guard, so they can't
    /// outlive it.
    ///
    /// ```
    /// use bumper::{Buffer, SlabBuffer};
    ///
    /// let mut buf = SlabBuffer::new();
    /// {
    ///     let mut guard = buf.checkpoint_guard();
    ///     let s = guard.scope();
    ///     let v = s.alloc(41u32);
    ///     *v += 1;
    ///     assert_eq!(*v, 42);
    /// } // restored here
    /// assert_eq!(buf.used(), 0);
    /// ```
    #[inline]
    #[must_use = "the checkpoint is restored when the guard is dropped"]
    fn checkpoint_guard(&mut self) -> CheckpointGuard<'_, Self>
    where
        Self: Sized,
    {
        CheckpointGuard::new(self)
    }
}

/// Usage figures of a buffer.
///
/// ```
/// use bumper::{Buffer, SlabBuffer};
///
/// let mut buf: SlabBuffer<4096> = SlabBuffer::with_slab_size();
/// buf.no_escape(|s| {
///     s.alloc_slice_fill(1500, 0u8);
///     s.alloc_slice_fill(1500, 0u8);
///     s.alloc_slice_fill(1500, 0u8); // does not fit the first slab: a second one is opened
///     s.alloc_slice_fill(10_000, 0u8); // more than half a slab: a separate allocation
///     let stats = s.stats().unwrap();
///     assert_eq!(stats.slabs, 2);
///     assert_eq!(stats.big_allocations, 1);
/// });
/// let stats = buf.stats().unwrap();
/// assert_eq!((stats.used, stats.slabs, stats.spare_slabs, stats.big_allocations), (0, 2, 1, 0));
/// assert_eq!((stats.position, stats.slab_end), (0, 4096));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct BufferStats {
    /// Bytes between the start of the buffer and the bump position, alignment padding and the
    /// unused tails of full slabs included, plus the bytes of separate big allocations.
    pub used: usize,
    /// Bytes the buffer holds from its backing storage or the system allocator.
    pub capacity: usize,
    /// Slabs of bump memory held, spares included (1 for a fixed buffer).
    pub slabs: usize,
    /// Slabs held past the current one, kept for reuse.
    pub spare_slabs: usize,
    /// Separate allocations for requests too big for a slab.
    pub big_allocations: usize,
    /// Bytes of the current slab in use: where the next small allocation goes (before its
    /// alignment padding), counted from the slab's start. For a fixed buffer, the same as
    /// `used`. (The seed's `current` position of a `SlabBuffer`.)
    pub position: usize,
    /// Bytes the current slab holds: `slab_end - position` are free in it before the buffer
    /// moves to another slab. 0 before a `SlabBuffer` has its first slab. For a fixed buffer,
    /// its capacity. (The seed's `slab_end`.)
    pub slab_end: usize,
}

impl BufferStats {
    /// Bytes free in the current slab after the bump position: `slab_end - position`.
    ///
    /// ```
    /// use bumper::{Buffer, SlabBuffer};
    ///
    /// let mut buf = SlabBuffer::<1024>::with_slab_size();
    /// buf.no_escape(|s| {
    ///     s.alloc_slice_fill(500, 0u8);
    ///     let stats = s.stats().unwrap();
    ///     assert_eq!((stats.position, stats.slab_end, stats.slab_remaining()), (500, 1024, 524));
    /// });
    /// ```
    #[must_use]
    pub fn slab_remaining(&self) -> usize {
        self.slab_end.saturating_sub(self.position)
    }
}

impl fmt::Display for BufferStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} bytes used, {} slab(s) ({} spare), {} big allocation(s)",
            self.used, self.capacity, self.slabs, self.spare_slabs, self.big_allocations
        )
    }
}
