//! [`HeapArena`]: the arena that [`ArenaRouter`](crate::ArenaRouter) routes a thread's heap
//! allocations to inside [`HeapArena::scope`], with a reset that never reuses live memory.

use std::error::Error;
use std::fmt;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};

use crate::lane::{Lane, BLOCK};
use crate::region::{self, SlotState, SLOT_TABLE};
use crate::route::{self, RestoreRoute};

/// How a [`HeapArena`] behaves. Made with [`new`](Self::new) and the builder methods (the
/// struct may gain fields).
///
/// ```
/// use arena_router::{HeapArena, HeapArenaOptions};
///
/// static HUGE: HeapArena = HeapArena::with_options(HeapArenaOptions::new().huge_pages(true));
/// assert!(HUGE.options().huge_pages);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeapArenaOptions {
    /// Ask the OS for transparent huge pages for the arena's memory (`MADV_HUGEPAGE`, Linux);
    /// fewer page faults and TLB misses on large working sets. Ignored where unsupported.
    pub huge_pages: bool,
}

impl HeapArenaOptions {
    /// The defaults: no huge pages.
    ///
    /// ```
    /// assert!(!arena_router::HeapArenaOptions::new().huge_pages);
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        HeapArenaOptions { huge_pages: false }
    }

    /// Sets [`huge_pages`](Self::huge_pages).
    ///
    /// ```
    /// assert!(arena_router::HeapArenaOptions::new().huge_pages(true).huge_pages);
    /// ```
    #[must_use]
    pub const fn huge_pages(mut self, on: bool) -> Self {
        self.huge_pages = on;
        self
    }
}

/// Why allocations made inside a [`HeapArena::scope`] went to the wrapped (or the default)
/// allocator instead of the arena.
///
/// ```
/// use arena_router::{HeapArena, RoutingOff};
///
/// // This doctest has no `ArenaRouter` installed: the scope's allocations are not routed,
/// // and the arena says so.
/// let arena = HeapArena::new();
/// arena.scope(|| drop(vec![1u8; 10]));
/// assert_eq!(arena.stats().routing_off, Some(RoutingOff::RouterNotInstalled));
/// assert!(arena.reset_strict().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RoutingOff {
    /// [`ArenaRouter`](crate::ArenaRouter) is not the program's global allocator: add
    /// `#[global_allocator] static GLOBAL: ArenaRouter = ArenaRouter::new(std::alloc::System);`
    RouterNotInstalled,
    /// No address range for arena memory could be reserved: a limit on address space
    /// (`ulimit -v`, strict overcommit), or a platform without one (not Unix, not 64-bit).
    NoAddressRange,
    /// All [`HeapArena::MAX_LANES`] lanes of the process were in use by other scopes.
    LanesExhausted,
}

impl RoutingOff {
    fn code(self) -> u8 {
        match self {
            RoutingOff::RouterNotInstalled => 1,
            RoutingOff::NoAddressRange => 2,
            RoutingOff::LanesExhausted => 3,
        }
    }

    fn from_code(code: u8) -> Option<RoutingOff> {
        match code {
            1 => Some(RoutingOff::RouterNotInstalled),
            2 => Some(RoutingOff::NoAddressRange),
            3 => Some(RoutingOff::LanesExhausted),
            _ => None,
        }
    }
}

impl fmt::Display for RoutingOff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RoutingOff::RouterNotInstalled => {
                "ArenaRouter is not the global allocator (#[global_allocator] is missing)"
            }
            RoutingOff::NoAddressRange => {
                "no address range could be reserved for arena memory (ulimit -v? not a 64-bit Unix?)"
            }
            RoutingOff::LanesExhausted => "all lanes of the process were in use",
        })
    }
}

/// What a [`HeapArena::reset`] did.
///
/// ```
/// use arena_router::{ArenaRouter, HeapArena};
///
/// #[global_allocator]
/// static GLOBAL: ArenaRouter = ArenaRouter::new(std::alloc::System);
///
/// fn main() {
///     let arena = HeapArena::new();
///     let mut kept: Vec<u32> = Vec::new(); // no memory yet
///     arena.scope(|| kept.extend(0..100)); // its memory comes from the arena
///     let report = arena.reset();
///     assert_eq!(report.pinned_blocks, 1);
///     assert!(report.to_string().contains("without_arena"));
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
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
    /// Whether scopes since the previous reset ran with their allocations going elsewhere,
    /// and why (the first reason seen).
    pub routing_off: Option<RoutingOff>,
}

impl HeapResetReport {
    /// Whether nothing stayed pinned.
    ///
    /// ```
    /// let arena = arena_router::HeapArena::new();
    /// assert!(arena.reset().is_clean());
    /// ```
    #[must_use]
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
        )?;
        if self.pinned_blocks > 0 {
            write!(
                f,
                " (values that outlived their scope; a collection made before a scope and \
                 first grown inside it has its memory in the arena and pins a {} KiB block \
                 at every reset: reserve its capacity before the scope, or grow it inside \
                 `without_arena`)",
                BLOCK >> 10
            )?;
        }
        if let Some(why) = self.routing_off {
            write!(f, "; scopes ran without routing: {why}")?;
        }
        Ok(())
    }
}

/// What [`HeapArena::reset_strict`] objects to. The reset itself still happened (around any
/// pinned blocks); [`report`](Self::report) says what it did.
///
/// ```
/// use arena_router::{ArenaRouter, HeapArena, StrictResetError};
///
/// #[global_allocator]
/// static GLOBAL: ArenaRouter = ArenaRouter::new(std::alloc::System);
///
/// fn main() {
///     let arena = HeapArena::new();
///     let kept = arena.scope(|| Box::new(1u64));
///     let err = arena.reset_strict().unwrap_err();
///     assert!(matches!(err, StrictResetError::Pinned(_)));
///     assert_eq!(err.report().pinned_blocks, 1);
///     drop(kept);
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StrictResetError {
    /// Memory allocated in the arena is still live: its blocks stayed pinned.
    Pinned(HeapResetReport),
    /// Scopes since the previous reset did not allocate from the arena (the reason is also in
    /// the report's [`routing_off`](HeapResetReport::routing_off)): the check that nothing
    /// escaped proves nothing.
    RoutingOff(RoutingOff, HeapResetReport),
}

impl StrictResetError {
    /// What the reset did.
    ///
    /// ```
    /// let arena = arena_router::HeapArena::new();
    /// arena.scope(|| drop(vec![0u8; 4])); // no `ArenaRouter` in this doctest
    /// let err = arena.reset_strict().unwrap_err();
    /// assert_eq!(err.report().pinned_blocks, 0);
    /// ```
    #[must_use]
    pub fn report(&self) -> HeapResetReport {
        match *self {
            StrictResetError::Pinned(report) | StrictResetError::RoutingOff(_, report) => report,
        }
    }
}

impl fmt::Display for StrictResetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrictResetError::Pinned(report) => write!(
                f,
                "memory allocated in the arena is still live at reset: {report}"
            ),
            StrictResetError::RoutingOff(why, _) => write!(
                f,
                "the arena's scopes did not allocate from it, nothing was checked: {why}"
            ),
        }
    }
}

impl Error for StrictResetError {}

/// Counters of a [`HeapArena`], over all its lanes.
///
/// ```
/// let arena = arena_router::HeapArena::new();
/// let stats = arena.stats();
/// assert_eq!((stats.lanes, stats.allocations), (0, 0));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
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
    /// Memory touched so far, summed over lanes (what the arena keeps from the OS), in whole
    /// blocks.
    pub high_water_bytes: usize,
    /// Memory between each lane's start and its bump pointer, summed.
    pub in_use_bytes: usize,
    /// Whether scopes since the last reset ran with their allocations going elsewhere, and why.
    pub routing_off: Option<RoutingOff>,
}

/// The lanes of an arena: intrusive lists through the lane headers, so the arena itself never
/// allocates (it runs inside the global allocator's world).
#[derive(Debug)]
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
/// allocator, whatever it is); where no address range can be reserved (a low `ulimit -v`, a
/// non-Unix target), neither. The arena notices: the first scope of the process checks that
/// its allocations arrive, [`stats`](Self::stats) and the reset report name the reason
/// ([`RoutingOff`]), [`reset_strict`](Self::reset_strict) fails, and a warning is printed to
/// stderr once per process.
///
/// A collection made *before* a scope with no memory yet (`Vec::new()`) and first grown
/// *inside* it gets its memory from the arena, and being still alive at the reset it pins a
/// block every round: reserve its capacity before the scope, or grow it inside
/// [`without_arena`](crate::without_arena).
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
///         let report = arena.reset();
///         assert!(report.is_clean()); // every temporary was freed: all memory reused
///     }
///     assert!(arena.stats().allocations > 0);
/// }
/// ```
pub struct HeapArena {
    lanes: Mutex<Lanes>,
    options: HeapArenaOptions,
    /// A [`RoutingOff`] code (0: none) seen by a scope since the last reset.
    routing_off: AtomicU8,
}

/// Whether [`ArenaRouter`](crate::ArenaRouter) is the global allocator, as far as a scope has
/// checked: one of the `ROUTER_*` values. The global allocator cannot change while the process
/// runs, so one check settles it.
pub(crate) static ROUTER: AtomicU8 = AtomicU8::new(ROUTER_UNKNOWN);
const ROUTER_UNKNOWN: u8 = 0;
const ROUTER_INSTALLED: u8 = 1;
pub(crate) const ROUTER_ABSENT: u8 = 2;

/// Whether the warning that scopes run without routing was printed.
static WARNED: AtomicBool = AtomicBool::new(false);

/// Whether [`ArenaRouter`](crate::ArenaRouter) is the global allocator, found with one probe
/// allocation while this thread's route is `lane` (a lane it holds), and kept in [`ROUTER`]
/// for the process. Says nothing and records nothing on any arena. `None` if the probe could
/// not tell (the lane was full and the probe spilled to the wrapped allocator).
fn probe_router(lane: &Lane) -> Option<bool> {
    let spills = lane.stats().spills;
    let probe = std::hint::black_box(Box::new(0u8));
    let arrived = region::contains((&*probe as *const u8).addr());
    drop(probe);
    if arrived {
        // The probe is not the caller's allocation: keep it out of the statistics.
        lane.forget_allocation(1);
        ROUTER.store(ROUTER_INSTALLED, Relaxed);
        Some(true)
    } else if lane.stats().spills == spills {
        ROUTER.store(ROUTER_ABSENT, Relaxed);
        Some(false)
    } else {
        // A spill (a full lane) says nothing: ask again next time.
        None
    }
}

/// Whether [`ArenaRouter`](crate::ArenaRouter) is the global allocator, without a word on
/// stderr and without a [`RoutingOff`] recorded on any arena: the process-wide answer once
/// known, else a probe in a lane of an arena of its own, given back at once (its slot is
/// free again). `false` where no lane can be had (no address range, all lanes in use), or
/// the probe could not tell.
pub(crate) fn router_installed() -> bool {
    match ROUTER.load(Relaxed) {
        ROUTER_INSTALLED => true,
        ROUTER_ABSENT => false,
        _ => {
            let arena = HeapArena::new();
            let Ok(lane) = arena.acquire() else {
                return false;
            };
            let _release = ReleaseLane {
                arena: &arena,
                lane,
            };
            let _restore = RestoreRoute(route::replace(lane));
            // SAFETY: lane headers live forever; this thread holds `lane` and routes to it.
            probe_router(unsafe { &*lane }) == Some(true)
            // `arena` drops last: its lane, with nothing live in it, goes back to the slots.
        }
    }
}

impl HeapArena {
    /// The granularity of pinning: a live allocation keeps each block of this many bytes it
    /// overlaps out of reuse.
    pub const BLOCK_SIZE: usize = BLOCK;

    /// A new arena with default options. Takes no memory until a scope allocates; `const`, so
    /// it can be a `static`.
    ///
    /// ```
    /// static ARENA: arena_router::HeapArena = arena_router::HeapArena::new();
    /// assert_eq!(ARENA.stats().lanes, 0);
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self::with_options(HeapArenaOptions::new())
    }

    /// A new arena with `options`.
    ///
    /// ```
    /// use arena_router::{HeapArena, HeapArenaOptions};
    ///
    /// let arena = HeapArena::with_options(HeapArenaOptions::new().huge_pages(true));
    /// assert!(arena.options().huge_pages);
    /// ```
    #[must_use]
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
            routing_off: AtomicU8::new(0),
        }
    }

    /// The arena's options.
    ///
    /// ```
    /// assert_eq!(
    ///     arena_router::HeapArena::new().options(),
    ///     arena_router::HeapArenaOptions::new()
    /// );
    /// ```
    #[must_use]
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
    /// [`MAX_LANES`](Self::MAX_LANES) lanes is used up, or no address range could be
    /// reserved), or [`ArenaRouter`](crate::ArenaRouter) is not the global allocator, `f` runs
    /// with allocations going to the global allocator, and the arena records why (see
    /// [`RoutingOff`]).
    ///
    /// ```
    /// use arena_router::{ArenaRouter, HeapArena};
    ///
    /// #[global_allocator]
    /// static GLOBAL: ArenaRouter = ArenaRouter::new(std::alloc::System);
    ///
    /// fn main() {
    ///     let arena = HeapArena::new();
    ///     let n = arena.scope(|| format!("{}", 6 * 7).len());
    ///     assert_eq!(n, 2);
    ///     assert_eq!(arena.stats().routing_off, None);
    ///     assert!(arena.stats().allocations >= 1);
    /// }
    /// ```
    pub fn scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let current = route::current();
        if self.owns(current) {
            return f();
        }
        let lane = self.acquire().unwrap_or_else(|why| {
            self.note_routing_off(why);
            ptr::null_mut()
        });
        let _release = ReleaseLane { arena: self, lane };
        let _restore = RestoreRoute(route::replace(lane));
        if !lane.is_null() {
            self.check_router(lane);
        }
        f()
    }

    /// Whether allocations made now (this thread's route is `lane`, of this arena) reach the
    /// arena: checked with one probe allocation until the answer is known for the process.
    fn check_router(&self, lane: *mut Lane) {
        let installed = match ROUTER.load(Relaxed) {
            ROUTER_INSTALLED => Some(true),
            ROUTER_ABSENT => Some(false),
            // SAFETY: lane headers live forever; this thread holds `lane` and routes to it.
            _ => probe_router(unsafe { &*lane }),
        };
        if installed == Some(false) {
            self.note_routing_off(RoutingOff::RouterNotInstalled);
        }
    }

    /// [`scope`](Self::scope) for the arena's own uses, where the caller knows that the router
    /// is installed and that this thread is in no scope: records nothing and says nothing when
    /// no lane can be had (then `f` runs with allocations going to the wrapped allocator).
    /// After `f` (also when it panics) the lane is reset (live values pin their blocks, as at
    /// [`reset`](Self::reset)) unless its bump pointer is back at the start of its data: when
    /// `f` freed everything it allocated that costs two compares, and the scan of a reset
    /// (over the blocks the lane has touched) is only paid while something stays pinned.
    pub(crate) fn scope_quiet<R>(&self, f: impl FnOnce() -> R) -> R {
        let Ok(lane) = self.acquire() else {
            return f();
        };
        // Dropped in reverse order: the route goes back, the lane is tidied while this thread
        // still holds it, then it is released.
        let _release = ReleaseLane { arena: self, lane };
        let _tidy = TidyLane(lane);
        let _restore = RestoreRoute(route::replace(lane));
        f()
    }

    /// Records that a scope ran without routing (the first reason since the last reset is
    /// kept), and says so on stderr, once per process.
    fn note_routing_off(&self, why: RoutingOff) {
        let _ = self
            .routing_off
            .compare_exchange(0, why.code(), Relaxed, Relaxed);
        if !WARNED.swap(true, Relaxed) {
            // Not from the arena: whatever this allocates goes to the global allocator.
            crate::without_arena(|| {
                eprintln!(
                    "arena-router: HeapArena::scope runs without an arena, its allocations go to \
                     the global allocator: {why} (reported once)"
                );
            });
        }
    }

    /// How many lanes the process can have at once, over all arenas.
    pub const MAX_LANES: usize = region::SLOTS;

    /// A lane for this thread: an idle one, or a new one in a free slot.
    fn acquire(&self) -> Result<*mut Lane, RoutingOff> {
        let mut lanes = self.lock();
        let lane = if lanes.idle.is_null() {
            let lane = new_lane()?;
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
        Ok(lane)
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
    /// also inside a scope (the calling thread's lane is reset too). Never fails: the report
    /// says what stayed pinned (and whether scopes ran without routing, see [`RoutingOff`]);
    /// [`reset_strict`](Self::reset_strict) turns either into an error.
    ///
    /// ```
    /// use arena_router::{ArenaRouter, HeapArena};
    ///
    /// #[global_allocator]
    /// static GLOBAL: ArenaRouter = ArenaRouter::new(std::alloc::System);
    ///
    /// fn main() {
    ///     let arena = HeapArena::new();
    ///     let kept: Vec<u8> = arena.scope(|| vec![7; 100]); // escapes the scope
    ///     let report = arena.reset();
    ///     assert_eq!(report.pinned_blocks, 1);
    ///     assert_eq!(kept, vec![7; 100]); // intact: its block was not reused
    ///     drop(kept);
    ///     assert!(arena.reset().is_clean());
    /// }
    /// ```
    pub fn reset(&self) -> HeapResetReport {
        let own = self.own_lane();
        let mut lanes = self.lock();
        let mut report = HeapResetReport::default();
        for lane in unheld(&lanes, own) {
            report.pinned_blocks += lane.reset().pinned_blocks;
            report.lanes_reset += 1;
        }
        report.lanes_busy = lanes.held - usize::from(own.is_some());
        report.pinned_bytes = report.pinned_blocks * BLOCK;
        report.routing_off = RoutingOff::from_code(self.routing_off.swap(0, Relaxed));
        lanes.last_reset = Some(report);
        report
    }

    /// [`reset`](Self::reset), for tests that want to prove that nothing escapes a scope:
    /// the reset happens all the same, and anything [`reset`](Self::reset) would only report is
    /// an error.
    ///
    /// # Errors
    ///
    /// - [`StrictResetError::RoutingOff`] if scopes since the previous reset did not allocate
    ///   from the arena ([`ArenaRouter`](crate::ArenaRouter) not installed, no address range,
    ///   no lane): nothing could have been checked.
    /// - [`StrictResetError::Pinned`] if memory allocated in the arena is still live.
    ///
    /// ```
    /// use arena_router::{ArenaRouter, HeapArena, StrictResetError};
    ///
    /// #[global_allocator]
    /// static GLOBAL: ArenaRouter = ArenaRouter::new(std::alloc::System);
    ///
    /// fn main() {
    ///     let arena = HeapArena::new();
    ///     let kept: Vec<u8> = arena.scope(|| vec![7; 100]); // escapes the scope
    ///     let err = arena.reset_strict().unwrap_err();
    ///     assert!(matches!(err, StrictResetError::Pinned(r) if r.pinned_blocks == 1));
    ///     drop(kept);
    ///     assert!(arena.reset_strict().unwrap().is_clean());
    /// }
    /// ```
    pub fn reset_strict(&self) -> Result<HeapResetReport, StrictResetError> {
        let report = self.reset();
        match report.routing_off {
            Some(why) => Err(StrictResetError::RoutingOff(why, report)),
            None if !report.is_clean() => Err(StrictResetError::Pinned(report)),
            None => Ok(report),
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
    ///     // A peak of 8 MiB (1 MiB under Miri, whose lanes are small).
    ///     let peak = if cfg!(miri) { 1 << 20 } else { 8 << 20 };
    ///     let arena = HeapArena::new();
    ///     arena.scope(|| drop(vec![1u8; peak]));
    ///     arena.reset();
    ///     assert!(arena.trim() >= peak);
    ///     assert_eq!(arena.stats().high_water_bytes, 0);
    /// }
    /// ```
    pub fn trim(&self) -> usize {
        let own = self.own_lane();
        let lanes = self.lock();
        unheld(&lanes, own).map(Lane::trim).sum()
    }

    /// What the last [`reset`](Self::reset) (or [`reset_strict`](Self::reset_strict)) did,
    /// if any.
    ///
    /// ```
    /// let arena = arena_router::HeapArena::new();
    /// assert_eq!(arena.last_reset(), None);
    /// let report = arena.reset();
    /// assert_eq!(arena.last_reset(), Some(report));
    /// ```
    #[must_use]
    pub fn last_reset(&self) -> Option<HeapResetReport> {
        self.lock().last_reset
    }

    /// Counters summed over the arena's lanes.
    ///
    /// ```
    /// let arena = arena_router::HeapArena::new();
    /// assert_eq!(arena.stats().allocations, 0);
    /// ```
    #[must_use]
    pub fn stats(&self) -> HeapArenaStats {
        let lanes = self.lock();
        let mut stats = HeapArenaStats {
            lanes: lanes.count,
            lanes_held: lanes.held,
            routing_off: RoutingOff::from_code(self.routing_off.load(Relaxed)),
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
#[derive(Debug)]
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

/// Resets a held lane whose bump pointer is not at the start of its data, before it is
/// released (see [`HeapArena::scope_quiet`]).
#[derive(Debug)]
struct TidyLane(*mut Lane);

impl Drop for TidyLane {
    fn drop(&mut self) {
        // SAFETY: lane headers live forever; this thread holds the lane (it is released after
        // this guard), so it may reset it.
        let lane = unsafe { &*self.0 };
        if !lane.is_at_start() {
            lane.reset();
        }
    }
}

fn lock_slots() -> MutexGuard<'static, [SlotState; region::SLOTS]> {
    SLOT_TABLE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A lane in a free slot (or an orphaned one whose memory is all freed by now).
fn new_lane() -> Result<*mut Lane, RoutingOff> {
    let mut slots = lock_slots();
    if !region::ensure_reserved() {
        return Err(RoutingOff::NoAddressRange);
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
        return Err(RoutingOff::LanesExhausted);
    };
    slots[index] = SlotState::InUse;
    // SAFETY: the slot was free and is now claimed under the slot lock; free slots read as
    // zeros (never touched, or discarded).
    Ok(unsafe { Lane::init(region::slot_base(index), size) })
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
        let o = HeapArenaOptions::new().huge_pages(true);
        assert!(o.huge_pages);
        assert_eq!(HeapArenaOptions::default(), HeapArenaOptions::new());
        let clean = HeapResetReport {
            lanes_reset: 2,
            lanes_busy: 1,
            ..HeapResetReport::default()
        };
        assert!(clean.is_clean());
        assert_eq!(
            clean.to_string(),
            "2 lane(s) reset, 1 busy, 0 block(s) (0 bytes) pinned by live allocations"
        );
        let report = HeapResetReport {
            pinned_blocks: 3,
            pinned_bytes: 3 * BLOCK,
            ..clean
        };
        assert!(!report.is_clean());
        let text = report.to_string();
        assert!(
            text.starts_with(
                "2 lane(s) reset, 1 busy, 3 block(s) (196608 bytes) pinned by live allocations"
            ),
            "{text}"
        );
        // A pin names the usual cause and its fixes.
        for words in [
            "made before a scope",
            "64 KiB",
            "reserve its capacity",
            "without_arena",
        ] {
            assert!(text.contains(words), "{text}");
        }
        let err = StrictResetError::Pinned(report);
        assert_eq!(err.report(), report);
        assert!(err
            .to_string()
            .starts_with("memory allocated in the arena is still live"));
        let off = HeapResetReport {
            routing_off: Some(RoutingOff::NoAddressRange),
            ..clean
        };
        assert!(off.to_string().contains("no address range"), "{off}");
        let err = StrictResetError::RoutingOff(RoutingOff::RouterNotInstalled, off);
        assert!(err.to_string().contains("#[global_allocator]"), "{err}");
        for why in [
            RoutingOff::RouterNotInstalled,
            RoutingOff::NoAddressRange,
            RoutingOff::LanesExhausted,
        ] {
            assert_eq!(RoutingOff::from_code(why.code()), Some(why));
        }
        assert_eq!(RoutingOff::from_code(0), None);
    }

    #[test]
    fn without_the_router_scopes_say_that_they_route_nothing() {
        // This test binary's global allocator is the system's: nothing is served by the arena,
        // lanes are taken and given back, and the arena notices.
        let arena = HeapArena::new();
        let v = arena.scope(|| vec![1u8; 100]);
        assert_eq!(v.len(), 100);
        let stats = arena.stats();
        assert_eq!(stats.allocations, 0);
        assert_eq!(stats.lanes_held, 0);
        assert_eq!(stats.routing_off, Some(RoutingOff::RouterNotInstalled));
        let report = arena.reset();
        assert!(report.is_clean());
        assert_eq!(report.routing_off, Some(RoutingOff::RouterNotInstalled));
        // Every scope finds it again; the strict reset refuses to vouch for anything.
        arena.scope(|| drop(vec![2u8; 10]));
        assert_eq!(
            arena.reset_strict(),
            Err(StrictResetError::RoutingOff(
                RoutingOff::RouterNotInstalled,
                arena.last_reset().unwrap()
            ))
        );
        // No scope since the last reset: nothing to object to.
        assert!(arena.reset_strict().is_ok());
        assert!(format!("{arena:?}").starts_with("HeapArena"));
    }
}
