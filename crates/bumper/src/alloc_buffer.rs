//! [`AllocBuffer`]: a fixed-capacity bump buffer over owned or borrowed memory.

use core::alloc::Layout;
use core::fmt;
use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ptr::NonNull;

use crate::buffer::{Buffer, BufferStats};
use crate::bump::{bump_offset, resize_last};
use crate::checkpoint::CheckpointGuard;
use crate::error::AllocError;
use crate::scope::Scope;

/// The usable part of an `AllocBuffer`'s memory starts at an address aligned to this, so every
/// request aligned up to it takes the fast path.
const START_ALIGN: usize = 16;

/// The default capacity of [`AllocBuffer::new`]: 1 MiB.
pub const DEFAULT_ALLOC_BUFFER_CAPACITY: usize = 1 << 20;

/// Alignment of the memory [`AllocBuffer::with_capacity`] allocates (a cache line).
#[cfg(feature = "alloc")]
const OWNED_ALIGN: usize = 64;

/// A fixed-capacity bump buffer.
///
/// Its memory is either owned ([`new`](AllocBuffer::new), [`with_capacity`](AllocBuffer::with_capacity),
/// or taken from a `Vec<u8>` / `Box<[u8]>`) or borrowed from the caller for `'m` (a slice, an
/// array, a `static`, uninitialised bytes), which needs no allocator at all.
///
/// Borrowed memory is used from its first 16-byte aligned address on (see
/// [`from_uninit`](AllocBuffer::from_uninit)).
///
/// When it is full, `try_*` allocations return [`AllocError::BufferFull`] (with what was asked,
/// what was free and the capacity), the plain forms panic with that text, and the buffer is left
/// unchanged.
///
/// ```
/// use bumper::{AllocBuffer, Buffer};
///
/// let mut storage = [0u8; 256];
/// let mut buf = AllocBuffer::from(&mut storage); // no heap involved
/// let sum = buf.no_escape(|s| {
///     let y = s.alloc_slice_copy(&[1i32, 2, 3]);
///     y.iter_mut().for_each(|v| *v += 1);
///     y.iter().sum::<i32>()
/// });
/// assert_eq!(sum, 9);
/// ```
pub struct AllocBuffer<'m> {
    /// The memory as given (or allocated), and its length: what `Drop` gives back (only owned
    /// memory is given back, so without `alloc` they are never read).
    #[cfg_attr(not(feature = "alloc"), allow(dead_code))]
    memory: NonNull<u8>,
    #[cfg_attr(not(feature = "alloc"), allow(dead_code))]
    memory_len: usize,
    /// Start of the usable memory, aligned to `START_ALIGN`; allocations derive from it.
    start: NonNull<u8>,
    capacity: usize,
    /// Bytes from `start` to the bump position.
    offset: usize,
    owner: Owner,
    _memory: PhantomData<&'m mut [MaybeUninit<u8>]>,
}

/// Who frees the memory when the buffer is dropped.
#[derive(Clone, Copy)]
enum Owner {
    /// The caller lent it for `'m`.
    Borrowed,
    /// Allocated by `with_capacity` with this alignment.
    #[cfg(feature = "alloc")]
    Global { align: usize },
    /// Taken from a `Vec<u8>` (the capacity is ours; the length was ignored).
    #[cfg(feature = "alloc")]
    Vec,
    /// Taken from a `Box<[u8]>` or `Box<[MaybeUninit<u8>]>`.
    #[cfg(feature = "alloc")]
    Boxed,
}

// SAFETY: the buffer owns its memory exclusively (or holds the only `&mut` borrow of it), so
// moving it to another thread moves all access with it; no thread-local state is involved.
unsafe impl Send for AllocBuffer<'_> {}
// SAFETY: every mutation takes `&mut self`; through `&self` only the position is read.
unsafe impl Sync for AllocBuffer<'_> {}

#[cfg(feature = "alloc")]
impl AllocBuffer<'static> {
    /// A buffer of [`DEFAULT_ALLOC_BUFFER_CAPACITY`] (1 MiB) bytes of owned memory.
    ///
    /// # Panics
    ///
    /// If the system allocator can't provide the memory (see [`try_with_capacity`](Self::try_with_capacity)).
    #[must_use]
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_ALLOC_BUFFER_CAPACITY)
    }

    /// A buffer of `capacity` bytes of owned, 64-byte aligned memory. The memory is not
    /// initialised or touched, so the OS maps pages only as they are used.
    ///
    /// ```
    /// let buf = bumper::AllocBuffer::with_capacity(4096);
    /// assert_eq!((buf.capacity(), buf.used()), (4096, 0));
    /// ```
    ///
    /// # Panics
    ///
    /// If the system allocator can't provide the memory.
    #[track_caller]
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        match Self::try_with_capacity(capacity) {
            Ok(buf) => buf,
            Err(err) => crate::error::alloc_failed(err),
        }
    }

    /// Like [`with_capacity`](Self::with_capacity), but returns an error instead of panicking.
    ///
    /// # Errors
    ///
    /// [`AllocError::SizeOverflow`] if `capacity` exceeds `isize::MAX - 63` (no allocation can be
    /// that large), [`AllocError::OutOfMemory`] if the system allocator refuses the memory.
    ///
    /// ```
    /// use bumper::{AllocBuffer, AllocError};
    /// assert_eq!(AllocBuffer::try_with_capacity(usize::MAX).unwrap_err(), AllocError::SizeOverflow);
    /// ```
    pub fn try_with_capacity(capacity: usize) -> Result<Self, AllocError> {
        let layout =
            Layout::from_size_align(capacity, OWNED_ALIGN).map_err(|_| AllocError::SizeOverflow)?;
        let start = if capacity == 0 {
            // A dangling, aligned pointer: nothing is ever read or written through it.
            NonNull::new(core::ptr::without_provenance_mut(OWNED_ALIGN)).expect("non-zero address")
        } else {
            // SAFETY: the layout has a non-zero size.
            let ptr = unsafe { alloc::alloc::alloc(layout) };
            NonNull::new(ptr).ok_or(AllocError::OutOfMemory {
                requested: capacity,
            })?
        };
        Ok(Self::from_raw_parts(
            start,
            capacity,
            Owner::Global { align: OWNED_ALIGN },
        ))
    }
}

#[cfg(feature = "alloc")]
impl Default for AllocBuffer<'static> {
    /// Same as [`AllocBuffer::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl<'m> AllocBuffer<'m> {
    /// A buffer over `capacity` bytes at `memory`. The usable part starts at the first address
    /// aligned to [`START_ALIGN`] (owned memory already is; borrowed memory may lose up to 15
    /// bytes), so every request aligned up to it takes the fast path.
    fn from_raw_parts(memory: NonNull<u8>, capacity: usize, owner: Owner) -> Self {
        let skip = memory.as_ptr().addr().wrapping_neg() & (START_ALIGN - 1);
        // If the memory is too short to reach an aligned address, the buffer is empty and its
        // start lies past the memory: never dereferenced, it only serves zero-sized requests,
        // which need an aligned non-null pointer and nothing more.
        let start = memory.as_ptr().wrapping_add(skip);
        AllocBuffer {
            memory,
            memory_len: capacity,
            // SAFETY: `memory` is non-null and `skip < 16`, so the address can't wrap to zero
            // (an allocation never ends at the top of the address space).
            start: unsafe { NonNull::new_unchecked(start) },
            capacity: capacity.saturating_sub(skip),
            offset: 0,
            owner,
            _memory: PhantomData,
        }
    }

    /// A buffer over memory the caller lends for `'m`. The bytes' values don't matter; they are
    /// overwritten by allocations. The buffer starts at the first 16-byte aligned address of the
    /// memory, so up to 15 bytes of unaligned memory go unused (none for memory aligned to 16).
    ///
    /// ```
    /// use core::mem::MaybeUninit;
    ///
    /// #[repr(align(16))]
    /// struct Storage([MaybeUninit<u8>; 64]);
    ///
    /// let mut storage = Storage([MaybeUninit::uninit(); 64]);
    /// let buf = bumper::AllocBuffer::from_uninit(&mut storage.0);
    /// assert_eq!(buf.capacity(), 64);
    /// ```
    #[must_use]
    pub fn from_uninit(memory: &'m mut [MaybeUninit<u8>]) -> Self {
        let capacity = memory.len();
        let start = NonNull::from(memory).cast::<u8>();
        Self::from_raw_parts(start, capacity, Owner::Borrowed)
    }

    /// Runs `f` in a scope on this buffer: the same as [`Buffer::no_escape`], callable without
    /// importing the trait.
    ///
    /// ```
    /// let mut buf = bumper::AllocBuffer::with_capacity(64);
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
    /// A fixed buffer's whole state is its bump position (the memory is behind a pointer), and
    /// a scope only ever moves the position forward and back to where it was. So the scope can
    /// work on a copy: when it ends, on return or on panic, the buffer itself still holds the
    /// position of the scope's start, which is exactly what a restore would put back. No
    /// checkpoint, no restore, no drop guard; and since the copy's address never leaves this
    /// frame, the compiler keeps the position in a register through a loop of allocations.
    #[inline(always)]
    fn snapshot_scope<R, F>(&mut self, f: F) -> R
    where
        F: for<'s> FnOnce(&mut Scope<'s, Self>) -> R,
    {
        // SAFETY: `*self` is exclusively borrowed for the call and not used during it, so the
        // copy is the only buffer in use; it is never dropped (`ManuallyDrop`), so the memory
        // keeps its one owner, `*self`. Allocations come from the same memory, through the
        // copy's pointers (the same provenance), and can't outlive `f`.
        let mut copy = core::mem::ManuallyDrop::new(unsafe { core::ptr::read(self) });
        // SAFETY: the copy is exclusively ours for the call; the scope can't leave `f`.
        let mut scope = unsafe { Scope::new(NonNull::from(&mut *copy)) };
        f(&mut scope)
    }

    /// A guard that restores the buffer's current position when dropped: the same as
    /// [`Buffer::checkpoint_guard`], callable without importing the trait.
    ///
    /// ```
    /// let mut buf = bumper::AllocBuffer::with_capacity(64);
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

    /// Bytes in the buffer.
    #[inline]
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes from the start to the bump position (alignment padding included).
    #[inline]
    #[must_use]
    pub fn used(&self) -> usize {
        self.offset
    }

    /// Bytes left after the bump position.
    #[inline]
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.capacity - self.offset
    }

    /// The address range of the buffer's memory; every allocation lies inside it. (Borrowed
    /// memory too short to reach a 16-byte aligned address gives an empty buffer whose range
    /// starts at that address, just past the memory.)
    #[must_use]
    pub fn memory_range(&self) -> core::ops::Range<usize> {
        let start = self.start.as_ptr().addr();
        start..start + self.capacity
    }

    /// Requests aligned more than the memory's start: align the address instead of the offset.
    #[cold]
    #[inline(never)]
    fn alloc_overaligned(&mut self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        let position = self.start.as_ptr().addr() + self.offset;
        let padding = position.wrapping_neg() & (layout.align() - 1);
        match padding.checked_add(layout.size()) {
            Some(needed) if needed <= self.remaining() => {
                let start = self.offset + padding;
                self.offset += needed;
                // SAFETY: `start + size <= capacity`: inside the memory (or one past it), with
                // its provenance; non-null because the start of the memory is.
                Ok(unsafe { NonNull::new_unchecked(self.start.as_ptr().add(start)) })
            }
            _ => self.no_room(layout),
        }
    }

    /// The request doesn't fit: a zero-size one still succeeds (any aligned non-null pointer
    /// serves it, whatever room is left, also in a buffer of capacity 0); any other is an error.
    #[inline(always)]
    fn no_room(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        // By value, so the buffer's address doesn't leave the fast path's caller.
        no_room(self.remaining(), self.capacity, layout)
    }
}

/// [`AllocBuffer`]'s answer to a request that doesn't fit; see `AllocBuffer::no_room`.
#[cold]
#[inline(never)]
fn no_room(available: usize, capacity: usize, layout: Layout) -> Result<NonNull<u8>, AllocError> {
    if layout.size() == 0 {
        return Ok(
            NonNull::new(core::ptr::without_provenance_mut(layout.align()))
                .expect("alignments are non-zero"),
        );
    }
    Err(AllocError::BufferFull {
        requested: layout.size(),
        align: layout.align(),
        available,
        capacity,
    })
}

impl<'m> From<&'m mut [MaybeUninit<u8>]> for AllocBuffer<'m> {
    fn from(memory: &'m mut [MaybeUninit<u8>]) -> Self {
        Self::from_uninit(memory)
    }
}

impl<'m> From<&'m mut [u8]> for AllocBuffer<'m> {
    /// A buffer over a byte slice lent for `'m` (its contents get overwritten).
    fn from(memory: &'m mut [u8]) -> Self {
        let capacity = memory.len();
        Self::from_raw_parts(
            NonNull::from(memory).cast::<u8>(),
            capacity,
            Owner::Borrowed,
        )
    }
}

impl<'m, const N: usize> From<&'m mut [u8; N]> for AllocBuffer<'m> {
    /// A buffer over an array lent for `'m`, e.g. a `static mut` array taken once with
    /// `&raw mut`, or a local one.
    fn from(memory: &'m mut [u8; N]) -> Self {
        Self::from(memory.as_mut_slice())
    }
}

impl<'m, const N: usize> From<&'m mut [MaybeUninit<u8>; N]> for AllocBuffer<'m> {
    fn from(memory: &'m mut [MaybeUninit<u8>; N]) -> Self {
        Self::from_uninit(memory.as_mut_slice())
    }
}

#[cfg(feature = "alloc")]
impl From<alloc::vec::Vec<u8>> for AllocBuffer<'static> {
    /// Takes the vector's whole allocation (its capacity, not just its length) as the buffer.
    fn from(vec: alloc::vec::Vec<u8>) -> Self {
        let mut vec = core::mem::ManuallyDrop::new(vec);
        let capacity = vec.capacity();
        let start = NonNull::new(vec.as_mut_ptr()).expect("Vec pointers are never null");
        Self::from_raw_parts(start, capacity, Owner::Vec)
    }
}

#[cfg(feature = "alloc")]
impl From<alloc::boxed::Box<[u8]>> for AllocBuffer<'static> {
    fn from(memory: alloc::boxed::Box<[u8]>) -> Self {
        let capacity = memory.len();
        let start = NonNull::new(alloc::boxed::Box::into_raw(memory)).expect("Box is never null");
        Self::from_raw_parts(start.cast::<u8>(), capacity, Owner::Boxed)
    }
}

#[cfg(feature = "alloc")]
impl From<alloc::boxed::Box<[MaybeUninit<u8>]>> for AllocBuffer<'static> {
    fn from(memory: alloc::boxed::Box<[MaybeUninit<u8>]>) -> Self {
        let capacity = memory.len();
        let start = NonNull::new(alloc::boxed::Box::into_raw(memory)).expect("Box is never null");
        Self::from_raw_parts(start.cast::<u8>(), capacity, Owner::Boxed)
    }
}

impl Drop for AllocBuffer<'_> {
    fn drop(&mut self) {
        match self.owner {
            Owner::Borrowed => {}
            #[cfg(feature = "alloc")]
            Owner::Global { align } => {
                if self.memory_len != 0 {
                    // SAFETY: allocated in `try_with_capacity` with exactly this size and alignment.
                    unsafe {
                        alloc::alloc::dealloc(
                            self.memory.as_ptr(),
                            Layout::from_size_align_unchecked(self.memory_len, align),
                        )
                    }
                }
            }
            #[cfg(feature = "alloc")]
            Owner::Vec => {
                // SAFETY: pointer and capacity come from a `Vec<u8>` we took apart; length 0
                // because `u8` needs no drop.
                drop(unsafe {
                    alloc::vec::Vec::from_raw_parts(self.memory.as_ptr(), 0, self.memory_len)
                })
            }
            #[cfg(feature = "alloc")]
            Owner::Boxed => {
                let slice = core::ptr::slice_from_raw_parts_mut(
                    self.memory.as_ptr().cast::<MaybeUninit<u8>>(),
                    self.memory_len,
                );
                // SAFETY: pointer and length come from `Box::into_raw` of a boxed byte slice
                // (`MaybeUninit<u8>` has the layout of `u8`).
                drop(unsafe { alloc::boxed::Box::from_raw(slice) })
            }
        }
    }
}

/// A saved position of an [`AllocBuffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocCheckpoint {
    /// Address of the buffer's memory: identifies the buffer.
    base: usize,
    offset: usize,
}

// SAFETY: allocations are disjoint sub-ranges of `start..start + capacity` past the previous
// bump position, aligned as asked; the memory is behind a pointer, so it stays put when the
// buffer moves; restore and reset only move the offset back.
unsafe impl Buffer for AllocBuffer<'_> {
    type Checkpoint = AllocCheckpoint;

    /// As [`Buffer::no_escape`]; the scope runs on a copy of the buffer, so ending it costs
    /// nothing (see the inherent [`AllocBuffer::no_escape`]).
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
        if layout.align() > START_ALIGN {
            return self.alloc_overaligned(layout);
        }
        match bump_offset(&mut self.offset, self.capacity, layout) {
            // SAFETY: `start + size <= capacity`: inside the memory (or one past it), with its
            // provenance; aligned because `start` is a multiple of the alignment and the memory
            // starts aligned to at least it; non-null because the start of the memory is.
            Some(start) => Ok(unsafe { NonNull::new_unchecked(self.start.as_ptr().add(start)) }),
            None => self.no_room(layout),
        }
    }

    #[inline(always)]
    fn checkpoint(&self) -> AllocCheckpoint {
        AllocCheckpoint {
            base: self.start.as_ptr().addr(),
            offset: self.offset,
        }
    }

    #[inline(always)]
    unsafe fn restore(&mut self, checkpoint: AllocCheckpoint) {
        if checkpoint.base != self.start.as_ptr().addr() || checkpoint.offset > self.offset {
            bad_checkpoint(checkpoint, self.start.as_ptr().addr(), self.offset);
        }
        self.offset = checkpoint.offset;
    }

    #[inline]
    fn reset(&mut self) {
        self.offset = 0;
    }

    #[inline]
    unsafe fn try_resize_last(&mut self, ptr: NonNull<u8>, old: Layout, new_size: usize) -> bool {
        // A live block of this buffer lies in `start..=start + capacity`.
        let block = ptr.as_ptr().addr().wrapping_sub(self.start.as_ptr().addr());
        block <= self.capacity
            && resize_last(&mut self.offset, self.capacity, block, old.size(), new_size)
    }

    fn stats(&self) -> Option<BufferStats> {
        Some(BufferStats {
            used: self.used(),
            capacity: self.capacity,
            slabs: 1,
            spare_slabs: 0,
            big_allocations: 0,
            position: self.offset,
            slab_end: self.capacity,
        })
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn bad_checkpoint(checkpoint: AllocCheckpoint, base: usize, offset: usize) -> ! {
    if checkpoint.base != base {
        panic!("AllocBuffer::restore: the checkpoint belongs to another buffer");
    }
    panic!(
        "AllocBuffer::restore: the buffer was already restored or reset past this checkpoint \
         (checkpoint at byte {}, buffer at byte {offset})",
        checkpoint.offset
    );
}

impl fmt::Debug for AllocBuffer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let owner = match self.owner {
            Owner::Borrowed => "borrowed",
            #[cfg(feature = "alloc")]
            Owner::Global { .. } => "owned",
            #[cfg(feature = "alloc")]
            Owner::Vec => "owned (Vec)",
            #[cfg(feature = "alloc")]
            Owner::Boxed => "owned (Box)",
        };
        f.debug_struct("AllocBuffer")
            .field("used", &self.used())
            .field("capacity", &self.capacity)
            .field("memory", &owner)
            .finish()
    }
}
