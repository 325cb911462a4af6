//! Epochs: the stretch of a bump allocator's life between two resets, and the leases arena
//! arrays hold on them so a reset never hands out memory that a live array still uses.

use std::any::Any;
use std::fmt;
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// One epoch of an allocator. Arrays allocated in it hold an `Arc` to it (a [`Lease`]); the
/// allocator holds one more. So `Arc::strong_count - 1` is the number of live arrays in it.
pub(crate) struct Epoch {
    /// Cleared by the reset that ends the epoch: checked arrays refuse access from then on.
    valid: AtomicBool,
    /// Set when the allocator is dropped while arrays of this epoch live: the buffer itself,
    /// kept alive until the last such epoch goes.
    orphaned_buffer: OnceLock<Arc<dyn Any + Send + Sync>>,
}

impl Epoch {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Epoch {
            valid: AtomicBool::new(true),
            orphaned_buffer: OnceLock::new(),
        })
    }

    pub(crate) fn invalidate(&self) {
        self.valid.store(false, Ordering::Release);
    }

    /// Makes an epoch no lease refers to valid again, to serve as the next epoch.
    pub(crate) fn revalidate(self: &Arc<Self>) {
        debug_assert_eq!(
            live_arrays(self),
            0,
            "only an epoch without leases may be reused"
        );
        self.valid.store(true, Ordering::Release);
    }

    pub(crate) fn is_valid(&self) -> bool {
        self.valid.load(Ordering::Acquire)
    }

    /// Keeps `buffer` alive as long as this epoch.
    pub(crate) fn adopt(&self, buffer: Arc<dyn Any + Send + Sync>) {
        let _ = self.orphaned_buffer.set(buffer);
    }
}

/// Live arrays of `epoch` (the allocator's own reference excluded).
///
/// When it returns 0, every lease of the epoch has been dropped, possibly on other threads after
/// writing to their memory: the acquire fence orders those writes (released by the `Arc`
/// decrements) before whatever the caller does next with the memory, such as handing it out
/// again or freeing it.
pub(crate) fn live_arrays(epoch: &Arc<Epoch>) -> usize {
    let live = Arc::strong_count(epoch) - 1;
    if live == 0 {
        fence(Ordering::Acquire);
    }
    live
}

/// A claim on arena memory: while it lives, the memory is not reused, even across resets or
/// after the allocator is dropped. Held by every array whose memory came from an arena.
#[derive(Clone)]
pub struct Lease {
    epoch: Arc<Epoch>,
}

impl Lease {
    pub(crate) fn new(epoch: Arc<Epoch>) -> Self {
        Lease { epoch }
    }

    /// Whether the allocator has not been reset since the memory was handed out. (The memory
    /// itself stays valid either way; checked arrays refuse access once this is false.)
    pub fn is_valid(&self) -> bool {
        self.epoch.is_valid()
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("valid", &self.is_valid())
            .finish()
    }
}
