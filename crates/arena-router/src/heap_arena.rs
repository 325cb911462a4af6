//! [`HeapArena`]: the arena that [`ArenaRouter`](crate::ArenaRouter) routes a thread's heap
//! allocations to inside [`HeapArena::scope`], with a reset that never reuses live memory.

use std::error::Error;
use std::fmt;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};

use crate::lane::{Lane, BLOCK};
use crate::region::{self, SlotState, SLOT_TABLE};
use crate::route::{self, RestoreRoute};

/// How a [`HeapArena`] behaves.
///
/// ```
/// use arena_router::{HeapArena, HeapArenaOptions};
///
/// static STRICT: HeapArena = HeapArena::with_options(HeapArenaOptions::new().strict(true));
/// assert!(STRICT.options().strict);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapArenaOptions {
    /// Ask the OS for transparent huge pages for the arena's memory (`MADV_HUGEPAGE`, Linux);
    /// fewer page faults and TLB misses on large working sets. Ignored where unsupported.
    pub huge_pages: bool,
    /// Make [`HeapArena::reset`] an error when any memory is still live (pinned): for tests
    /// that want to prove nothing escapes a scope.
    pub strict: bool,
}

impl HeapArenaOptions {
    /// The defaults: no huge pages, not strict.
    pub const fn new() -> Self {
        HeapArenaOptions {
            huge_pages: false,
            strict: false,
        }
    }

    /// Sets [`huge_pages`](Self::huge_pages).
    pub const fn huge_pages(mut self, on: bool) -> Self {
        self.huge_pages = on;
        self
    }

    /// Sets [`strict`](Self::strict).
    pub const fn strict(mut self, on: bool) -> Self {
        self.strict = on;
        self
    }
}

/// What a [`HeapArena::reset`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapResetReport {
    /// Lanes whose memory was made reusable (idle ones, and the calling thread's own).
    pub lanes_reset: usize,
    /// Lanes left alone because another thread is inside a scope with them.
    pub lanes_busy: usize,
    /// Blocks (of [`HeapArena::BLOCK_SIZE`] bytes) that still hold live allocations and stay
    /// out of reuse until those are freed.
    pub pinned_blocks: usize,
    /// `pinned_blocks * BLOCK_SIZE`: the memory kept out of reuse.
    pub pinned_bytes: usize,
}

impl HeapResetReport {
    /// Whether nothing stayed pinned.
    pub fn is_clean(&self) -> bool {
        self.pinned_blocks == 0
    }
}

impl fmt::Display for HeapResetReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} lane(s) reset, {} busy, {} block(s) ({} bytes) pinned by live allocations",
            self.lanes_reset, self.lanes_busy, self.pinned_blocks, self.pinned_bytes
        )
    }
}

/// A reset of a [strict](HeapArenaOptions::strict) arena found live allocations. The reset
/// still happened (around them); the report says what stayed pinned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PinnedAtReset {
    /// What the reset did.
    pub report: HeapResetReport,
}

impl fmt::Display for PinnedAtReset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "memory allocated in the arena is still live at reset: {}",
            self.report
        )
    }
}

impl Error for PinnedAtReset {}

/// Counters of a [`HeapArena`], over all its lanes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapArenaStats {
    /// Lanes created (at most one per thread inside a scope at once).
    pub lanes: usize,
    /// Lanes in use by a scope right now.
    pub lanes_held: usize,
    /// Allocations served from the arena.
    pub allocations: u64,
    /// Bytes asked for by them (and by in-place growth).
    pub bytes: u64,
    /// Allocations made in a scope that went to the wrapped allocator because the lane had no
    /// room for them.
    pub spills: u64,
    /// Allocations (counted in `allocations` too) served from memory freed earlier in the same
    /// run, out of order: the arena keeps a few such blocks per lane for reuse until the next
    /// reset, so code that frees its temporaries in no particular order still reuses warm
    /// memory.
    pub reused: u64,
    /// Memory touched so far, summed over lanes (what the arena keeps from the OS).
    pub high_water_bytes: usize,
    /// Memory between each lane's start and its bump pointer, summed.
    pub in_use_bytes: usize,
}

/// The lanes of an arena: intrusive lists through the lane headers, so the arena itself never
/// allocates (it runs inside the global allocator's world).
struct Lanes {
    /// Lanes not held by any scope (a stack: the last released is reused first).
    idle: *mut Lane,
    /// Every lane of the arena.
    all: *mut Lane,
    /// How many are held.
    held: usize,
    /// How many exist.
    count: usize,
    /// What the last reset found.
    last_reset: Option<HeapResetReport>,
}

// SAFETY: the lane pointers point into the reserved range, which lives forever; lanes are only
// touched by their holder or under the arena's lock.
unsafe impl Send for Lanes {}

/// An arena for *all* heap allocations of the threads inside its [`scope`](Self::scope), when
/// [`ArenaRouter`](crate::ArenaRouter) is the program's global allocator: `Vec`, `Box`,
/// `String`, `HashMap`, ndarray, any library. Memory is bump-allocated per thread (one *lane*
/// per thread in a scope), freed wholesale by [`reset`](Self::reset).
///
/// `reset` is safe: memory still live at reset (a value put in a global cache, a lazily made
/// thread pool, a buffer sent to another thread) *pins* its blocks, which are skipped until it
/// is freed; the report says how much stayed pinned. Use [`without_arena`](crate::without_arena)
/// for allocations meant to outlive the scope.
///
/// Without the router installed, scopes have no effect (allocations go to the global
/// allocator, whatever it is); where no address range can be reserved (non-Unix targets),
/// neither.
///
/// ```
/// use arena_router::{ArenaRouter, HeapArena};
///
/// #[global_allocator]
/// static GLOBAL: ArenaRouter = ArenaRouter::new(std::alloc::System);
///
/// fn step(x: &[f64]) -> f64 {
///     let doubled: Vec<f64> = x.iter().map(|v| v * 2.0).collect();
///     let text = format!("{:.1}", doubled.iter().sum::<f64>());
///     text.parse().unwrap()
/// }
///
/// fn main() {
///     let arena = HeapArena::new();
///     let x = vec![1.0, 2.0, 3.0];
///     for _ in 0..3 {
///         let y = arena.scope(|| step(&x));
///         assert_eq!(y, 12.0);
///         let report = arena.reset().unwrap();
///         assert!(report.is_clean()); // every temporary was freed: all memory reused
///     }
///     assert!(arena.stats().allocations > 0);
/// }
/// ```
pub struct HeapArena {
    lanes: Mutex<Lanes>,
    options: HeapArenaOptions,
}

impl HeapArena {
    /// The granularity of pinning: a live allocation keeps each block of this many bytes it
    /// overlaps out of reuse.
    pub const BLOCK_SIZE: usize = BLOCK;

    /// A new arena with default options. Takes no memory until a scope allocates; `const`, so
    /// it can be a `static`.
    pub const fn new() -> Self {
        Self::with_options(HeapArenaOptions::new())
    }

    /// A new arena with `options`.
    pub const fn with_options(options: HeapArenaOptions) -> Self {
        HeapArena {
            lanes: Mutex::new(Lanes {
                idle: ptr::null_mut(),
                all: ptr::null_mut(),
                held: 0,
                count: 0,
                last_reset: None,
            }),
            options,
        }
    }

    /// The arena's options.
    pub fn options(&self) -> HeapArenaOptions {
        self.options
    }

    fn lock(&self) -> MutexGuard<'_, Lanes> {
        // Nothing panics while the lock is held; a poisoned lock still guards valid lists.
        self.lanes.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn id(&self) -> *mut () {
        (self as *const Self).cast_mut().cast()
    }

    /// This thread's lane, if it is in a scope of this arena (then only this thread uses it).
    fn own_lane(&self) -> Option<&'static Lane> {
        let current = route::current();
        // SAFETY: lane headers live forever in the reserved range.
        self.owns(current).then(|| unsafe { &*current })
    }

    /// Whether `lane` (non-null) is held by a scope of this arena.
    fn owns(&self, lane: *const Lane) -> bool {
        // SAFETY: lane headers live forever in the reserved range.
        !lane.is_null() && unsafe { &*lane }.arena.load(Relaxed) == self.id()
    }

    /// Runs `f` with this thread's heap allocations served by the arena (when
    /// [`ArenaRouter`](crate::ArenaRouter) is the global allocator). Scopes nest: an inner
    /// scope of the same arena continues the outer one; of another arena, it routes to that
    /// one until it ends. The previous routing comes back when `f` returns or panics.
    ///
    /// Other threads don't see the scope: enter `scope` on them too (each gets a lane of its
    /// own), for example with what [`with_current_arena`](crate::with_current_arena) gives;
    /// allocarrays' `thread_scope`, `with_carry` and `rayon_scope` do it for you.
    ///
    /// If no lane can be had (the process-wide range of
    /// [`MAX_LANES`](Self::MAX_LANES) lanes is used up, or there is no range on this
    /// platform), `f` runs with allocations going to the wrapped allocator.
    pub fn scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let current = route::current();
        if self.owns(current) {
            return f();
        }
        let lane = self.acquire();
        let _release = ReleaseLane { arena: self, lane };
        let _restore = RestoreRoute(route::replace(lane));
        f()
    }

    /// How many lanes the process can have at once, over all arenas.
    pub const MAX_LANES: usize = region::SLOTS;

    /// A lane for this thread: an idle one, or a new one in a free slot. Null if none.
    fn acquire(&self) -> *mut Lane {
        let mut lanes = self.lock();
        let lane = if lanes.idle.is_null() {
            let lane = new_lane();
            if lane.is_null() {
                return lane;
            }
            // SAFETY: just made; lane headers live forever.
            let l = unsafe { &*lane };
            if self.options.huge_pages {
                l.advise_huge_pages();
            }
            l.next_all.store(lanes.all, Relaxed);
            lanes.all = lane;
            lanes.count += 1;
            lane
        } else {
            let lane = lanes.idle;
            // SAFETY: as above.
            lanes.idle = unsafe { &*lane }.next_idle.load(Relaxed);
            lane
        };
        // SAFETY: as above.
        unsafe { &*lane }.arena.store(self.id(), Relaxed);
        lanes.held += 1;
        lane
    }

    /// Puts a held lane back on the idle list.
    fn release(&self, lane: *mut Lane) {
        let mut lanes = self.lock();
        // SAFETY: lane headers live forever.
        let l = unsafe { &*lane };
        l.arena.store(ptr::null_mut(), Relaxed);
        l.next_idle.store(lanes.idle, Relaxed);
        lanes.idle = lane;
        lanes.held -= 1;
    }

    /// Makes the arena's memory reusable: every lane not held by another thread's scope starts
    /// over, skipping the blocks still holding live allocations (pinned). Safe at any time,
    /// also inside a scope (the calling thread's lane is reset too).
    ///
    /// Returns what stayed pinned; in [strict](HeapArenaOptions::strict) mode any pin is an
    /// error (the reset still happened).
    ///
    /// ```
    /// use arena_router::{ArenaRouter, HeapArena, HeapArenaOptions};
    ///
    /// #[global_allocator]
    /// static GLOBAL: ArenaRouter = ArenaRouter::new(std::alloc::System);
    ///
    /// fn main() {
    ///     let arena = HeapArena::with_options(HeapArenaOptions::new().strict(true));
    ///     let kept: Vec<u8> = arena.scope(|| vec![7; 100]); // escapes the scope
    ///     let err = arena.reset().unwrap_err();
    ///     assert_eq!(err.report.pinned_blocks, 1);
    ///     assert_eq!(kept, vec![7; 100]); // intact: its block was not reused
    ///     drop(kept);
    ///     assert!(arena.reset().unwrap().is_clean());
    /// }
    /// ```
    pub fn reset(&self) -> Result<HeapResetReport, PinnedAtReset> {
        let own = self.own_lane();
        let mut lanes = self.lock();
        let mut report = HeapResetReport::default();
        for lane in unheld(&lanes, own) {
            report.pinned_blocks += lane.reset().pinned_blocks;
            report.lanes_reset += 1;
        }
        report.lanes_busy = lanes.held - usize::from(own.is_some());
        report.pinned_bytes = report.pinned_blocks * BLOCK;
        lanes.last_reset = Some(report);
        drop(lanes);
        if self.options.strict && !report.is_clean() {
            Err(PinnedAtReset { report })
        } else {
            Ok(report)
        }
    }

    /// Gives memory the arena holds but does not use back to the OS: in each lane not held by
    /// another thread's scope, everything above its bump pointer and its last live block.
    /// Returns the bytes released. The next allocations there fault pages in again; call it
    /// after a peak, not after every reset.
    ///
    /// ```
    /// use arena_router::{ArenaRouter, HeapArena};
    ///
    /// #[global_allocator]
    /// static GLOBAL: ArenaRouter = ArenaRouter::new(std::alloc::System);
    ///
    /// fn main() {
    ///     let arena = HeapArena::new();
    ///     arena.scope(|| drop(vec![1u8; 8 << 20])); // a peak of 8 MiB
    ///     arena.reset().unwrap();
    ///     assert!(arena.trim() >= 8 << 20);
    ///     assert_eq!(arena.stats().high_water_bytes, 0);
    /// }
    /// ```
    pub fn trim(&self) -> usize {
        let own = self.own_lane();
        let lanes = self.lock();
        unheld(&lanes, own).map(Lane::trim).sum()
    }

    /// What the last [`reset`](Self::reset) did, if any.
    pub fn last_reset(&self) -> Option<HeapResetReport> {
        self.lock().last_reset
    }

    /// Counters summed over the arena's lanes.
    pub fn stats(&self) -> HeapArenaStats {
        let lanes = self.lock();
        let mut stats = HeapArenaStats {
            lanes: lanes.count,
            lanes_held: lanes.held,
            ..HeapArenaStats::default()
        };
        // The statistics are atomics: lanes held by other threads can be read too.
        for lane in walk(lanes.all, |l| &l.next_all) {
            let s = lane.stats();
            stats.allocations += s.allocations;
            stats.bytes += s.bytes;
            stats.spills += s.spills;
            stats.reused += s.reused;
            stats.high_water_bytes += s.high_water;
            stats.in_use_bytes += s.in_use;
        }
        stats
    }
}

impl Default for HeapArena {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for HeapArena {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeapArena")
            .field("options", &self.options)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Drop for HeapArena {
    /// Gives each lane's memory back to the OS; a lane with live allocations is orphaned
    /// instead, and its slot is reclaimed once they are all freed.
    fn drop(&mut self) {
        let lanes = self.lanes.get_mut().unwrap_or_else(|e| e.into_inner());
        let mut slots = lock_slots();
        // No scope holds a lane (scopes borrow the arena).
        for lane in walk(lanes.all, |l| &l.next_all) {
            let index = region::slot_index(lane.slot_base());
            if lane.scan().pinned_blocks == 0 {
                lane.discard();
                slots[index] = SlotState::Free;
            } else {
                slots[index] = SlotState::Orphaned;
            }
        }
        lanes.all = ptr::null_mut();
        lanes.idle = ptr::null_mut();
    }
}

/// The lanes of the list starting at `head`, linked by `link`. A lane's link is read before the
/// lane is yielded, so the caller may discard the lane's memory (which zeroes its header).
fn walk(
    head: *mut Lane,
    link: fn(&Lane) -> &AtomicPtr<Lane>,
) -> impl Iterator<Item = &'static Lane> {
    let mut next = head;
    std::iter::from_fn(move || {
        // SAFETY: list members are lane headers, which live forever in the reserved range.
        let lane: &'static Lane = unsafe { next.as_ref()? };
        next = link(lane).load(Relaxed);
        Some(lane)
    })
}

/// The lanes the calling thread may reset or trim: the idle ones (nobody holds them, and
/// `lanes` is the lock guarding them) and its own, if any.
fn unheld<'a>(
    lanes: &'a Lanes,
    own: Option<&'static Lane>,
) -> impl Iterator<Item = &'static Lane> + 'a {
    walk(lanes.idle, |l| &l.next_idle).chain(own)
}

/// Releases a lane when a scope ends.
struct ReleaseLane<'a> {
    arena: &'a HeapArena,
    lane: *mut Lane,
}

impl Drop for ReleaseLane<'_> {
    fn drop(&mut self) {
        if !self.lane.is_null() {
            self.arena.release(self.lane);
        }
    }
}

fn lock_slots() -> MutexGuard<'static, [SlotState; region::SLOTS]> {
    SLOT_TABLE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A lane in a free slot (or an orphaned one whose memory is all freed by now); null if none.
fn new_lane() -> *mut Lane {
    let mut slots = lock_slots();
    if !region::ensure_reserved() {
        return ptr::null_mut();
    }
    let size = region::slot_size();
    let mut chosen = slots.iter().position(|s| *s == SlotState::Free);
    if chosen.is_none() {
        for (index, state) in slots.iter_mut().enumerate() {
            if *state != SlotState::Orphaned {
                continue;
            }
            let lane = Lane::of(region::slot_base(index));
            // SAFETY: an orphaned slot still holds its lane header (its memory was kept).
            let lane = unsafe { &*lane };
            if lane.scan().pinned_blocks == 0 {
                lane.discard();
                *state = SlotState::Free;
                chosen = Some(index);
                break;
            }
        }
    }
    let Some(index) = chosen else {
        return ptr::null_mut();
    };
    slots[index] = SlotState::InUse;
    // SAFETY: the slot was free and is now claimed under the slot lock; free slots read as
    // zeros (never touched, or discarded).
    unsafe { Lane::init(region::slot_base(index), size) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arenas_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<HeapArena>();
    }

    #[test]
    fn options_and_reports_read_well() {
        let o = HeapArenaOptions::new().huge_pages(true).strict(true);
        assert!(o.huge_pages && o.strict);
        assert_eq!(HeapArenaOptions::default(), HeapArenaOptions::new());
        let report = HeapResetReport {
            lanes_reset: 2,
            lanes_busy: 1,
            pinned_blocks: 3,
            pinned_bytes: 3 * BLOCK,
        };
        assert!(!report.is_clean());
        assert_eq!(
            report.to_string(),
            "2 lane(s) reset, 1 busy, 3 block(s) (196608 bytes) pinned by live allocations"
        );
        let err = PinnedAtReset { report };
        assert!(err
            .to_string()
            .starts_with("memory allocated in the arena is still live"));
    }

    #[test]
    fn without_the_router_scopes_change_nothing_but_bookkeeping() {
        // This test binary's global allocator is the system's: nothing is served by the arena,
        // but lanes are taken and given back.
        let arena = HeapArena::new();
        let v = arena.scope(|| vec![1u8; 100]);
        assert_eq!(v.len(), 100);
        let stats = arena.stats();
        assert_eq!(stats.allocations, 0);
        assert_eq!(stats.lanes_held, 0);
        assert!(arena.reset().unwrap().is_clean());
        assert!(format!("{arena:?}").starts_with("HeapArena"));
    }
}
