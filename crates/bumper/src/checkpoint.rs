//! [`CheckpointGuard`]: a checkpoint restored when the guard is dropped.

use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::buffer::Buffer;
use crate::scope::Scope;

/// Restores its buffer to the checkpoint it saved when dropped; made by
/// [`Buffer::checkpoint_guard`].
///
/// The guard is the non-closure form of a scope, for code where a closure is awkward (an
/// allocation made in one function and used in another, the seed's `alloc!` outside
/// `@no_escape`). Allocations borrow the guard, so the borrow checker ends them before the
/// restore.
///
/// ```
/// use bumper::{AllocBuffer, Buffer};
///
/// fn fill<'g>(s: &bumper::Scope<'g, AllocBuffer<'static>>, n: usize) -> &'g mut [u32] {
///     s.alloc_slice_fill_with(n, |i| i as u32)
/// }
///
/// let mut buf = AllocBuffer::with_capacity(1024);
/// let mut guard = buf.checkpoint_guard();
/// let s = guard.scope();
/// let v = fill(&s, 4);
/// assert_eq!(v, &[0, 1, 2, 3]);
/// drop(guard); // `v` can't be used past this point
/// assert_eq!(buf.used(), 0);
/// ```
///
/// ```compile_fail
/// use bumper::{AllocBuffer, Buffer};
///
/// let mut buf = AllocBuffer::with_capacity(1024);
/// let mut guard = buf.checkpoint_guard();
/// let v = guard.scope().alloc(1u8);
/// drop(guard);
/// *v = 2; // error: `guard` was dropped while `v` borrows it
/// ```
pub struct CheckpointGuard<'b, B: Buffer> {
    buf: NonNull<B>,
    checkpoint: B::Checkpoint,
    _buffer: PhantomData<&'b mut B>,
}

impl<'b, B: Buffer> CheckpointGuard<'b, B> {
    #[inline]
    pub(crate) fn new(buf: &'b mut B) -> Self {
        let checkpoint = buf.checkpoint();
        CheckpointGuard {
            buf: NonNull::from(buf),
            checkpoint,
            _buffer: PhantomData,
        }
    }

    /// A scope whose allocations live as long as this borrow of the guard.
    #[inline]
    #[must_use]
    pub fn scope(&mut self) -> Scope<'_, B> {
        // SAFETY: the buffer is exclusively borrowed by the guard for `'b`; the scope and its
        // allocations borrow the guard, so they end before the guard restores the checkpoint.
        unsafe { Scope::new(self.buf) }
    }

    /// The checkpoint the guard restores.
    #[must_use]
    pub fn checkpoint(&self) -> B::Checkpoint {
        self.checkpoint
    }
}

impl<B: Buffer> Drop for CheckpointGuard<'_, B> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the checkpoint was taken from this buffer, which the guard has borrowed
        // exclusively since, so it was not restored past it; every allocation made through
        // `scope()` borrowed the guard and has ended.
        unsafe { (*self.buf.as_ptr()).restore(self.checkpoint) }
    }
}

impl<B: Buffer> fmt::Debug for CheckpointGuard<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckpointGuard")
            .field("checkpoint", &self.checkpoint)
            .finish()
    }
}
