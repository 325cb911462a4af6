//! The state shared by both bump allocators: a buffer, and the epochs that make `reset` safe.

use std::alloc::Layout;
use std::any::Any;
use std::ptr::NonNull;
use std::sync::Arc;

use bumper::{AllocError, Buffer};

use crate::epoch::{live_arrays, Epoch, Lease};

/// What a [`reset`](crate::BumperAllocator::reset) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ResetReport {
    /// Arena arrays still alive at the reset. Their memory stays untouched until they are
    /// dropped (a later reset reclaims it); checked ones refuse access from now on.
    pub pinned_arrays: usize,
    /// Bytes of the buffer kept for them (0 when nothing was pinned).
    pub pinned_bytes: usize,
    /// Checked arrays allocated since the previous reset, now invalidated.
    pub invalidated_checked: usize,
}

/// Usage figures of an allocator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct AllocatorStats {
    /// Bytes in use in the buffer.
    pub used: usize,
    /// Bytes the buffer holds.
    pub capacity: usize,
    /// Arena arrays alive, in every epoch.
    pub live_arrays: usize,
    /// Checked arrays allocated since the last reset (the seed's "tracked memory locations").
    pub tracked_checked: usize,
    /// Resets so far.
    pub resets: usize,
}

/// Epoch entries below which dead epochs are not merged.
const COMPACT_MIN: usize = 64;

/// A buffer and its epochs. The last epoch is the current one; earlier ones are kept only while
/// arrays allocated in them live.
pub(crate) struct ArenaState<B: Buffer> {
    buffer: B,
    /// Each epoch with the buffer checkpoint where it started.
    epochs: Vec<(B::Checkpoint, Arc<Epoch>)>,
    tracked_checked: usize,
    resets: usize,
    /// Epoch count at which dead epochs are next merged (keeps resets O(1) amortised).
    compact_at: usize,
}

// SAFETY: the buffer is `Send`; the checkpoints are plain positions of that same buffer, only
// ever handed back to it, so they may travel with it even if their type holds raw pointers.
unsafe impl<B: Buffer + Send> Send for ArenaState<B> {}

impl<B: Buffer> ArenaState<B> {
    pub(crate) fn new(buffer: B) -> Self {
        let start = buffer.checkpoint();
        ArenaState {
            buffer,
            epochs: vec![(start, Epoch::new())],
            tracked_checked: 0,
            resets: 0,
            compact_at: COMPACT_MIN,
        }
    }

    pub(crate) fn buffer(&self) -> &B {
        &self.buffer
    }

    fn current_epoch(&self) -> &Arc<Epoch> {
        &self
            .epochs
            .last()
            .expect("there is always a current epoch")
            .1
    }

    /// Memory for one array, with a lease on the current epoch.
    #[inline]
    pub(crate) fn allocate(
        &mut self,
        layout: Layout,
        checked: bool,
    ) -> Result<(NonNull<u8>, Lease), AllocError> {
        let ptr = self.buffer.try_alloc_layout(layout)?;
        if checked {
            self.tracked_checked += 1;
        }
        Ok((ptr, Lease::new(Arc::clone(self.current_epoch()))))
    }

    /// Ends the current epoch: invalidates every checked array, then reclaims all memory no
    /// live array uses. Memory of live arrays (and everything below it in the buffer) stays.
    pub(crate) fn reset(&mut self) -> ResetReport {
        // Earlier epochs were invalidated by the resets that ended them.
        self.current_epoch().invalidate();
        self.resets += 1;
        let invalidated_checked = std::mem::take(&mut self.tracked_checked);
        let last_pinned = self
            .epochs
            .iter()
            .rposition(|(_, epoch)| live_arrays(epoch) > 0);
        // Epochs after the last pinned one have no arrays left: their memory is reclaimed.
        let keep = last_pinned.map_or(0, |i| i + 1);
        match self.epochs.get(keep) {
            None => {}
            Some(_) if keep == 0 => self.buffer.reset(),
            Some(&(start, _)) => {
                // SAFETY: the checkpoint was taken from this buffer when that epoch began; since
                // then the buffer was only restored to later checkpoints (which leaves earlier
                // ones valid), never reset (a reset empties `epochs`); and no array of that epoch
                // or a later one is alive to use the memory freed.
                unsafe { self.buffer.restore(start) }
            }
        }
        // A reclaimed epoch no array refers to can serve as the next one, which spares an
        // allocation per reset in the steady state.
        let reusable = self
            .epochs
            .drain(keep..)
            .next_back()
            .map(|(_, epoch)| epoch);
        if self.epochs.len() >= self.compact_at {
            self.merge_dead_epochs();
        }
        // At most about twice as many epochs as there are pinned ones (see
        // `merge_dead_epochs`), so this stays cheap.
        let pinned_arrays = self.live_arrays();
        let pinned_bytes = if keep == 0 {
            0
        } else {
            self.buffer.stats().map_or(0, |s| s.used)
        };
        let epoch = match reusable {
            Some(epoch) => {
                epoch.revalidate();
                epoch
            }
            None => Epoch::new(),
        };
        self.epochs.push((self.buffer.checkpoint(), epoch));
        ResetReport {
            pinned_arrays,
            pinned_bytes,
            invalidated_checked,
        }
    }

    fn live_arrays(&self) -> usize {
        self.epochs
            .iter()
            .map(|(_, epoch)| live_arrays(epoch))
            .sum()
    }

    /// Drops the entries of dead epochs that follow another dead epoch: the earlier one's start
    /// already marks where their memory begins, which is all a later reset needs. Keeps the
    /// bookkeeping proportional to the pinned epochs when arrays of many resets stay alive.
    fn merge_dead_epochs(&mut self) {
        let mut previous_dead = false;
        self.epochs.retain(|(_, epoch)| {
            let dead = live_arrays(epoch) == 0;
            let keep = !(dead && previous_dead);
            previous_dead = dead;
            keep
        });
        self.compact_at = (2 * self.epochs.len()).max(COMPACT_MIN);
    }

    pub(crate) fn stats(&self) -> AllocatorStats {
        let buffer = self.buffer.stats().unwrap_or_default();
        AllocatorStats {
            used: buffer.used,
            capacity: buffer.capacity,
            live_arrays: self.live_arrays(),
            tracked_checked: self.tracked_checked,
            resets: self.resets,
        }
    }
}

impl<B: Buffer + Send + 'static> ArenaState<B> {
    /// Called when the allocator goes away: if arrays still live, the buffer is handed to their
    /// epochs, to be freed with the last of them; otherwise it is dropped here.
    pub(crate) fn retire(self) {
        let pinned: Vec<Arc<Epoch>> = self
            .epochs
            .iter()
            .filter(|(_, epoch)| live_arrays(epoch) > 0)
            .map(|(_, epoch)| Arc::clone(epoch))
            .collect();
        if pinned.is_empty() {
            return;
        }
        let owner: Arc<dyn Any + Send + Sync> = Arc::new(Orphan(self.buffer));
        for epoch in pinned {
            epoch.adopt(Arc::clone(&owner));
        }
    }
}

/// A buffer nobody uses any more, kept only so its memory outlives the arrays in it.
struct Orphan<B>(#[allow(dead_code)] B);

// SAFETY: an orphaned buffer is never accessed, only dropped (by whichever thread drops the last
// epoch holding it, which `B: Send` allows).
unsafe impl<B: Send> Sync for Orphan<B> {}
