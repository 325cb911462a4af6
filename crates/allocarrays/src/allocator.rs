//! [`BumperAllocator`] (thread-safe, tracks checked arrays) and [`UncheckedBumperAllocator`]
//! (no lock, single thread).

use std::alloc::Layout;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::{Mutex, MutexGuard};

use bumper::{AllocBuffer, AllocError, Buffer};

use crate::arena::{AllocatorStats, ArenaState, ResetReport};
use crate::autoscaling::AutoscalingAllocBuffer;
use crate::context::ArrayAllocator;
use crate::epoch::Lease;

/// A bump allocator for arrays, safe to share between threads: allocations from several
/// threads are serialised by a lock (the seed's `BumperAllocator`).
///
/// - [`reset`](Self::reset) is safe: checked arrays made before it refuse access afterwards,
///   and memory that a live array still uses is never handed out again (it is reclaimed by a
///   later reset once the array is gone). The [`ResetReport`] says what stayed pinned.
/// - Dropping the allocator while arrays live is safe too: the buffer is freed with the last of
///   them.
///
/// ```
/// use allocarrays::BumperAllocator;
///
/// let a = BumperAllocator::default(); // an AutoscalingAllocBuffer, 128 MiB to start
/// assert_eq!(a.to_string(), "BumperAllocator(AutoscalingAllocBuffer())");
/// let b = BumperAllocator::with_capacity(1 << 24); // a fixed 16 MiB AllocBuffer
/// let c = BumperAllocator::new(bumper::SlabBuffer::<65536>::with_slab_size()); // any buffer
/// # let _ = (b, c);
/// ```
pub struct BumperAllocator<B: Buffer + Send + 'static = AutoscalingAllocBuffer> {
    state: ManuallyDrop<Mutex<ArenaState<B>>>,
}

impl<B: Buffer + Send + 'static> BumperAllocator<B> {
    /// An allocator over `buffer`.
    pub fn new(buffer: B) -> Self {
        BumperAllocator {
            state: ManuallyDrop::new(Mutex::new(ArenaState::new(buffer))),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ArenaState<B>> {
        // A panic while holding the lock (a buffer's own panic) leaves the state consistent:
        // every update happens after the fallible buffer call.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Frees every array made since the last reset, except the memory live arrays still use;
    /// checked arrays made before now refuse access from now on (the seed's `reset!`).
    ///
    /// ```
    /// use allocarrays::BumperAllocator;
    ///
    /// let alloc = BumperAllocator::with_capacity(1024);
    /// let report = alloc.reset();
    /// assert_eq!(report.pinned_arrays, 0);
    /// ```
    pub fn reset(&self) -> ResetReport {
        self.lock().reset()
    }

    /// Usage figures.
    pub fn stats(&self) -> AllocatorStats {
        self.lock().stats()
    }
}

impl BumperAllocator<AllocBuffer<'static>> {
    /// An allocator over a fixed [`AllocBuffer`] of `bytes` (the seed's `BumperAllocator(n)`):
    /// allocations past it fail instead of growing.
    pub fn with_capacity(bytes: usize) -> Self {
        Self::new(AllocBuffer::with_capacity(bytes))
    }
}

impl Default for BumperAllocator<AutoscalingAllocBuffer> {
    /// An allocator over an [`AutoscalingAllocBuffer`] with its default 128 MiB start.
    fn default() -> Self {
        Self::new(AutoscalingAllocBuffer::new())
    }
}

impl<B: Buffer + Send + 'static> Drop for BumperAllocator<B> {
    fn drop(&mut self) {
        // SAFETY: taken once, here, and never used again.
        let state = unsafe { ManuallyDrop::take(&mut self.state) };
        state
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .retire();
    }
}

// SAFETY: memory comes from the buffer under the lock, so requests from several threads get
// disjoint blocks; a block is handed out again only after a reset found no live lease on its
// epoch (see `ArenaState::reset`), and `retire` keeps the buffer alive past the allocator while
// leases live.
unsafe impl<B: Buffer + Send + 'static> ArrayAllocator for BumperAllocator<B> {
    #[inline]
    fn allocate(&self, layout: Layout, checked: bool) -> Result<(NonNull<u8>, Lease), AllocError> {
        self.lock().allocate(layout, checked)
    }

    fn reset(&self) -> ResetReport {
        BumperAllocator::reset(self)
    }

    fn as_sync(&self) -> Option<&(dyn ArrayAllocator + Sync)> {
        Some(self)
    }
}

/// A bump allocator for arrays without a lock, for one thread (the seed's
/// `UncheckedBumperAllocator`). It is `!Sync`, so the compiler keeps it on one thread, and it
/// does not make `CheckedAllocArray`s.
///
/// Its [`reset`](Self::reset) is as safe as [`BumperAllocator::reset`]: memory of live arrays is
/// never reused.
///
/// ```
/// use allocarrays::UncheckedBumperAllocator;
///
/// let alloc = UncheckedBumperAllocator::with_capacity(1 << 24);
/// assert_eq!(alloc.to_string(), "UncheckedBumperAllocator(AllocBuffer(16777216 bytes))");
/// ```
pub struct UncheckedBumperAllocator<B: Buffer + Send + 'static = AutoscalingAllocBuffer> {
    state: ManuallyDrop<RefCell<ArenaState<B>>>,
    _not_sync: PhantomData<Cell<()>>,
}

impl<B: Buffer + Send + 'static> UncheckedBumperAllocator<B> {
    /// An allocator over `buffer`.
    pub fn new(buffer: B) -> Self {
        UncheckedBumperAllocator {
            state: ManuallyDrop::new(RefCell::new(ArenaState::new(buffer))),
            _not_sync: PhantomData,
        }
    }

    /// Frees every array made since the last reset, except the memory live arrays still use.
    pub fn reset(&self) -> ResetReport {
        self.state.borrow_mut().reset()
    }

    /// Usage figures.
    pub fn stats(&self) -> AllocatorStats {
        self.state.borrow().stats()
    }
}

impl UncheckedBumperAllocator<AllocBuffer<'static>> {
    /// An allocator over a fixed [`AllocBuffer`] of `bytes`.
    pub fn with_capacity(bytes: usize) -> Self {
        Self::new(AllocBuffer::with_capacity(bytes))
    }
}

impl Default for UncheckedBumperAllocator<AutoscalingAllocBuffer> {
    /// An allocator over an [`AutoscalingAllocBuffer`] with its default 128 MiB start.
    fn default() -> Self {
        Self::new(AutoscalingAllocBuffer::new())
    }
}

impl<B: Buffer + Send + 'static> Drop for UncheckedBumperAllocator<B> {
    fn drop(&mut self) {
        // SAFETY: taken once, here, and never used again.
        let state = unsafe { ManuallyDrop::take(&mut self.state) };
        state.into_inner().retire();
    }
}

// SAFETY: as for `BumperAllocator`; the `RefCell` stands in for the lock because the allocator
// is `!Sync` (one thread), and `allocate` never calls back into it.
unsafe impl<B: Buffer + Send + 'static> ArrayAllocator for UncheckedBumperAllocator<B> {
    #[inline]
    fn allocate(&self, layout: Layout, checked: bool) -> Result<(NonNull<u8>, Lease), AllocError> {
        if checked {
            checked_unsupported();
        }
        self.state.borrow_mut().allocate(layout, false)
    }

    fn reset(&self) -> ResetReport {
        UncheckedBumperAllocator::reset(self)
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn checked_unsupported() -> ! {
    panic!(
        "UncheckedBumperAllocator does not make CheckedAllocArrays; use a BumperAllocator, which \
         tracks their validity"
    )
}

/// Names the buffer inside an allocator's `Display`, like the seed's `show`.
fn buffer_name<B: Buffer + 'static>(buffer: &B, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let any: &dyn std::any::Any = buffer;
    if let Some(b) = any.downcast_ref::<AutoscalingAllocBuffer>() {
        write!(f, "{b:#}")
    } else if let Some(b) = any.downcast_ref::<AllocBuffer<'static>>() {
        write!(f, "AllocBuffer({} bytes)", b.capacity())
    } else {
        f.write_str(&short_type_name(std::any::type_name::<B>()))
    }
}

/// A type name without module paths, also inside generics: `my::Logged<bumper::AllocBuffer<'_>>`
/// becomes `Logged<AllocBuffer<'_>>`.
fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    // Where the path segment being written started in `out`.
    let mut segment = 0;
    let mut rest = full;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("::") {
            out.truncate(segment);
            rest = after;
            continue;
        }
        out.push(c);
        if !(c.is_alphanumeric() || c == '_') {
            segment = out.len();
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

impl<B: Buffer + Send + 'static> fmt::Display for BumperAllocator<B> {
    /// `BumperAllocator(AutoscalingAllocBuffer())`, followed by
    /// ` (tracking N CheckedAllocArray memory locations)` when checked arrays were made since
    /// the last reset (omitted by the alternate form `{:#}`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.write_str("BumperAllocator(")?;
        buffer_name(state.buffer(), f)?;
        f.write_str(")")?;
        let tracked = state.stats().tracked_checked;
        if tracked > 0 && !f.alternate() {
            write!(
                f,
                " (tracking {tracked} CheckedAllocArray memory locations)"
            )?;
        }
        Ok(())
    }
}

impl<B: Buffer + Send + 'static> fmt::Display for UncheckedBumperAllocator<B> {
    /// `UncheckedBumperAllocator(AutoscalingAllocBuffer())`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UncheckedBumperAllocator(")?;
        buffer_name(self.state.borrow().buffer(), f)?;
        f.write_str(")")
    }
}

impl<B: Buffer + Send + 'static> fmt::Debug for BumperAllocator<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BumperAllocator")
            .field("stats", &self.stats())
            .finish()
    }
}

impl<B: Buffer + Send + 'static> fmt::Debug for UncheckedBumperAllocator<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UncheckedBumperAllocator")
            .field("stats", &self.stats())
            .finish()
    }
}
