//! The per-thread default buffer, [`with_buffer`], and the type-erased plumbing that lets any
//! [`Buffer`] stand in for the default.
//!
//! Every thread that uses it gets its own default buffer (a [`SlabBuffer`] with 1 MiB slabs
//! unless [`set_default_buffer_kind`] chose otherwise), created on first use: a thread that never
//! opens a default scope never allocates one.

use core::alloc::Layout;
use core::cell::Cell;
use core::cell::UnsafeCell;
use core::fmt;
use core::marker::PhantomData;
use core::mem::{self, ManuallyDrop, MaybeUninit};
use core::ptr::{self, NonNull};

use std::boxed::Box;
use std::vec::Vec;

use crate::alloc_buffer::AllocBuffer;
use crate::buffer::{Buffer, BufferStats};
use crate::error::AllocError;
use crate::scope::Scope;
use crate::slab_buffer::{SlabBuffer, SlabCheckpoint};

/// A scope on the thread's default buffer, as handed out by [`no_escape`].
pub type DefaultScope<'s> = Scope<'s, DefaultBuffer>;

/// What kind of default buffer a thread creates on first use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DefaultBufferKind {
    /// A growable [`SlabBuffer`] with 1 MiB slabs (the default).
    #[default]
    Slab,
    /// A fixed [`AllocBuffer`] of `capacity` bytes: allocations past it fail.
    Fixed {
        /// Bytes of the buffer.
        capacity: usize,
    },
}

/// Why a default-buffer operation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DefaultBufferError {
    /// The thread's default buffer already exists, so its kind can't change.
    AlreadyCreated,
    /// A scope is open on the current default buffer, so it can't be reset.
    ScopeOpen,
}

impl fmt::Display for DefaultBufferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DefaultBufferError::AlreadyCreated => {
                "this thread's default buffer already exists; choose its kind before first use"
            }
            DefaultBufferError::ScopeOpen => {
                "a scope is open on the current default buffer; it can't be reset inside it"
            }
        })
    }
}

impl std::error::Error for DefaultBufferError {}

// ---- type erasure for `with_buffer` ---------------------------------------------------------

/// Room for any buffer's checkpoint behind a `dyn` pointer.
#[derive(Clone, Copy)]
pub struct ErasedCheckpoint {
    words: MaybeUninit<[usize; ERASED_CHECKPOINT_WORDS]>,
}

/// Checkpoints of buffers lent through [`with_buffer`] must fit in this many machine words.
pub const ERASED_CHECKPOINT_WORDS: usize = 4;

impl fmt::Debug for ErasedCheckpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ErasedCheckpoint")
    }
}

/// Compile-time check that `B::Checkpoint` fits an [`ErasedCheckpoint`].
struct Fits<B>(B);
impl<B: Buffer> Fits<B> {
    const CHECKPOINT: () = assert!(
        mem::size_of::<B::Checkpoint>() <= mem::size_of::<ErasedCheckpoint>()
            && mem::align_of::<B::Checkpoint>() <= mem::align_of::<ErasedCheckpoint>(),
        "with_buffer: the buffer's Checkpoint type must fit in ERASED_CHECKPOINT_WORDS words"
    );
}

/// The object-safe face of [`Buffer`].
trait ErasedBuffer {
    fn erased_alloc(&mut self, layout: Layout) -> Result<NonNull<u8>, AllocError>;
    fn erased_checkpoint(&self) -> ErasedCheckpoint;
    /// # Safety
    /// As [`Buffer::restore`], and `cp` came from `erased_checkpoint` of this buffer.
    unsafe fn erased_restore(&mut self, cp: ErasedCheckpoint);
    fn erased_reset(&mut self);
    fn erased_stats(&self) -> Option<BufferStats>;
    /// # Safety
    /// As [`Buffer::try_resize_last`].
    unsafe fn erased_resize_last(&mut self, ptr: NonNull<u8>, old: Layout, new_size: usize)
        -> bool;
}

impl<B: Buffer> ErasedBuffer for B {
    #[inline]
    fn erased_alloc(&mut self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        self.try_alloc_layout(layout)
    }

    #[inline]
    fn erased_checkpoint(&self) -> ErasedCheckpoint {
        #[allow(clippy::let_unit_value)]
        let () = Fits::<B>::CHECKPOINT;
        let mut erased = ErasedCheckpoint {
            words: MaybeUninit::uninit(),
        };
        // SAFETY: `Fits` proves the checkpoint fits the words in size and alignment.
        unsafe {
            ptr::write(
                erased.words.as_mut_ptr().cast::<B::Checkpoint>(),
                self.checkpoint(),
            )
        };
        erased
    }

    #[inline]
    unsafe fn erased_restore(&mut self, cp: ErasedCheckpoint) {
        // SAFETY: `cp` was written by `erased_checkpoint` of this same type, so the words hold
        // a valid `B::Checkpoint` (a `Copy` type); the restore contract is the caller's.
        unsafe { self.restore(ptr::read(cp.words.as_ptr().cast::<B::Checkpoint>())) }
    }

    fn erased_reset(&mut self) {
        self.reset()
    }

    fn erased_stats(&self) -> Option<BufferStats> {
        self.stats()
    }

    unsafe fn erased_resize_last(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> bool {
        // SAFETY: the caller's contract is `try_resize_last`'s.
        unsafe { self.try_resize_last(ptr, old, new_size) }
    }
}

// ---- the thread slot ------------------------------------------------------------------------

/// Which buffer default scopes use now.
#[derive(Clone, Copy)]
enum Target {
    /// The thread's own slab buffers, one per nesting depth (the common case).
    Levels(NonNull<Levels>),
    /// Any other buffer through its `dyn` face (a lent buffer, or the thread's own fixed
    /// buffer), through a place holding the `dyn` pointer, so the target stays two words.
    Dyn(NonNull<DynPtr>),
}

/// A type-erased buffer pointer.
type DynPtr = NonNull<dyn ErasedBuffer>;

/// The innermost open handle on a shared buffer, if any.
type ActiveCell = Cell<Option<NonNull<SharedHandle>>>;

/// The buffer default scopes use now, with the cell naming its innermost open handle (used for
/// shared buffers only).
#[derive(Clone, Copy)]
struct Current {
    target: Target,
    active: NonNull<ActiveCell>,
}

/// The thread's own slab default buffer: one [`SlabBuffer`] per nesting depth of the default
/// scopes open on it. A scope opened while `d` others are open has `buffers[d]` to itself until
/// it ends (scopes end in the reverse order they open), so, like a scope on an explicit
/// `SlabBuffer`, it runs on a copy of that buffer kept in registers, and no other scope (outer,
/// or inner in a function it calls) can touch what it allocated.
///
/// Every level stays at its start between its scopes: a scope works on a copy and leaves the
/// buffer itself where it was, so a level holds only memory for reuse (slabs) between scopes.
struct Levels {
    /// Each from `Box::leak`, freed when the thread exits; only pushed to, never reordered.
    buffers: UnsafeCell<Vec<NonNull<SlabBuffer>>>,
    /// Default scopes open on the thread's own buffer.
    open: Cell<usize>,
}

impl Levels {
    /// The buffer for a scope opening now, which is counted as open.
    #[inline(always)]
    fn enter(&self) -> NonNull<SlabBuffer> {
        let depth = self.open.get();
        // SAFETY: `buffers` is only borrowed inside the methods of `Levels`, which don't call
        // each other while a borrow is alive, and `Levels` is reached from one thread only.
        let home = match unsafe { &*self.buffers.get() }.get(depth) {
            Some(&home) => home,
            None => self.grow(),
        };
        self.open.set(depth + 1);
        home
    }

    /// A new level, for a scope opening deeper than any before on this thread.
    #[cold]
    #[inline(never)]
    fn grow(&self) -> NonNull<SlabBuffer> {
        let home = NonNull::from(Box::leak(Box::new(SlabBuffer::new())));
        // SAFETY: as in `enter`.
        unsafe { &mut *self.buffers.get() }.push(home);
        home
    }

    /// Counts a scope as closed (the innermost: scopes close in the reverse order they open).
    #[inline(always)]
    fn leave(&self) {
        self.open.set(self.open.get() - 1);
    }

    /// The buffers, outermost first.
    fn buffers(&self) -> &[NonNull<SlabBuffer>] {
        // SAFETY: as in `enter`; callers don't hold the slice across `grow`.
        unsafe { &*self.buffers.get() }
    }
}

/// The thread's own default buffer, from `Box::leak`.
#[derive(Clone, Copy)]
enum Owned {
    Slab(NonNull<Levels>),
    /// The buffer, and the leaked place holding its `dyn` pointer.
    Fixed(NonNull<AllocBuffer<'static>>, NonNull<DynPtr>),
}

/// Per-thread state. All `Cell`s without a destructor, so reaching it is a plain thread-local
/// access; the owned buffer is boxed so pointers to it stay valid and are never re-borrowed
/// mutably through the slot.
struct ThreadSlot {
    /// What default scopes use now: the lent buffer, or the owned one once created.
    current: Cell<Option<Current>>,
    owned: Cell<Option<Owned>>,
    kind: Cell<DefaultBufferKind>,
    /// The innermost open handle on the owned buffer, when it is a fixed one.
    owned_active: ActiveCell,
}

std::thread_local! {
    static SLOT: ThreadSlot = const {
        ThreadSlot {
            current: Cell::new(None),
            owned: Cell::new(None),
            kind: Cell::new(DefaultBufferKind::Slab),
            owned_active: Cell::new(None),
        }
    };
    static GUARD: OwnedGuard = const { OwnedGuard };
}

/// Frees the thread's own buffer when the thread exits. A separate thread-local, touched only
/// when the buffer is created, so `SLOT` needs no destructor and its accesses no state check.
struct OwnedGuard;

impl Drop for OwnedGuard {
    fn drop(&mut self) {
        let _ = SLOT.try_with(|slot| {
            let Some(owned) = slot.owned.take() else {
                return;
            };
            slot.current.set(None);
            match owned {
                // SAFETY: the pointers come from `Box::leak` (`create_owned`, `Levels::grow`);
                // no scope is open while the thread's locals are destroyed (scopes live on the
                // stack of running code), and the slot no longer points to the buffers.
                Owned::Slab(levels) => unsafe {
                    let levels = Box::from_raw(levels.as_ptr());
                    for &buffer in levels.buffers() {
                        drop(Box::from_raw(buffer.as_ptr()));
                    }
                },
                // SAFETY: as above, for both boxes.
                Owned::Fixed(p, place) => unsafe {
                    drop(Box::from_raw(place.as_ptr()));
                    drop(Box::from_raw(p.as_ptr()));
                },
            }
        });
    }
}

#[inline(always)]
fn with_slot<R>(f: impl FnOnce(&ThreadSlot) -> R) -> R {
    match SLOT.try_with(f) {
        Ok(r) => r,
        Err(_) => slot_destroyed(),
    }
}

#[cold]
#[inline(never)]
fn slot_destroyed() -> ! {
    panic!("bumper: this thread's default buffer was already destroyed (the thread is exiting)")
}

impl ThreadSlot {
    /// The current default buffer, creating the thread's own if nothing else is in place.
    #[inline(always)]
    fn current(&self) -> Current {
        match self.current.get() {
            Some(current) => current,
            None => self.create_owned(),
        }
    }

    #[cold]
    #[inline(never)]
    fn create_owned(&self) -> Current {
        // Arm the destructor first: if the thread is already tearing its locals down, refuse.
        if GUARD.try_with(|_| ()).is_err() {
            slot_destroyed();
        }
        let (owned, target) = match self.kind.get() {
            DefaultBufferKind::Slab => {
                let first = NonNull::from(Box::leak(Box::new(SlabBuffer::new())));
                let levels = NonNull::from(Box::leak(Box::new(Levels {
                    buffers: UnsafeCell::new(std::vec![first]),
                    open: Cell::new(0),
                })));
                (Owned::Slab(levels), Target::Levels(levels))
            }
            DefaultBufferKind::Fixed { capacity } => {
                let p = NonNull::from(Box::leak(Box::new(AllocBuffer::with_capacity(capacity))));
                let erased: DynPtr = p;
                let place = NonNull::from(Box::leak(Box::new(erased)));
                (Owned::Fixed(p, place), Target::Dyn(place))
            }
        };
        self.owned.set(Some(owned));
        let current = Current {
            target,
            active: NonNull::from(&self.owned_active),
        };
        self.current.set(Some(current));
        current
    }
}

// ---- the handle -----------------------------------------------------------------------------

/// The thread's current default buffer, as a [`Buffer`]: the thread's own buffer, or the one
/// [`with_buffer`] put in its place.
///
/// You meet it as the `B` of [`DefaultScope`] (from [`no_escape`]); it lives only while that
/// scope is open, and can't be sent to another thread.
///
/// Default scopes nest, also across functions that don't know about each other (a function
/// using the default buffer called from another):
///
/// - On the thread's own buffer (the common case), every open scope has memory of its own (one
///   slab buffer per nesting depth), so an outer scope stays usable while an inner one is open,
///   and an inner scope's end never frees what the outer one allocated.
/// - On a buffer lent by [`with_buffer`], or the thread's own fixed buffer
///   ([`DefaultBufferKind::Fixed`]), nested scopes share that one buffer. The borrow checker
///   can't see that nesting, so it is enforced at run time: while the inner scope is open, the
///   outer one is suspended, and allocating from it panics, since the inner scope's end would
///   free that allocation.
pub struct DefaultBuffer {
    kind: HandleKind,
}

/// What a [`DefaultBuffer`] allocates from.
enum HandleKind {
    /// A copy of the level buffer this scope has to itself (see [`Levels`]).
    Level(ManuallyDrop<SlabBuffer>),
    /// A registered handle on a buffer shared by nested scopes.
    Shared(NonNull<SharedHandle>),
}

/// An open handle on a shared default buffer (lent, or the thread's own fixed one), registered
/// as the innermost on its buffer with the outer one suspended.
struct SharedHandle {
    /// The buffer, or `None` while an inner default scope is open on it: using the handle then
    /// would let the inner scope's end free what it allocates.
    target: Option<NonNull<DynPtr>>,
    /// The cell naming the innermost open handle on this buffer.
    active: NonNull<ActiveCell>,
    /// The handle this one suspended when it opened, to resume when it ends.
    outer: Option<NonNull<SharedHandle>>,
}

/// A saved position of the default buffer.
#[derive(Debug, Clone, Copy)]
pub enum DefaultCheckpoint {
    /// Of the thread's own slab buffer.
    Slab(SlabCheckpoint),
    /// Of a buffer lent with [`with_buffer`] (or the thread's own fixed buffer).
    Dyn(ErasedCheckpoint),
}

impl SharedHandle {
    #[inline(always)]
    #[track_caller]
    fn buffer_mut(&mut self) -> &mut dyn ErasedBuffer {
        let Some(place) = self.target else {
            suspended_handle_used()
        };
        // SAFETY: the target outlives the handle (the thread slot owns it, or a `with_buffer`
        // frame encloses every handle made under it); handles are `!Send`, and the one borrow
        // made here ends with the operation, which doesn't call back into another handle.
        unsafe { &mut *place.as_ref().as_ptr() }
    }

    #[inline(always)]
    #[track_caller]
    fn buffer(&self) -> &dyn ErasedBuffer {
        let Some(place) = self.target else {
            suspended_handle_used()
        };
        // SAFETY: as in `buffer_mut`, for a shared borrow.
        unsafe { place.as_ref().as_ref() }
    }

    /// Undoes the registration: the outer handle resumes, and is the innermost again.
    ///
    /// # Safety
    /// `this` was registered by [`open_default`] and is still in place, and it is the innermost
    /// open handle on its buffer (every scope opened inside it has ended).
    #[inline(always)]
    unsafe fn unregister(this: NonNull<SharedHandle>) {
        // SAFETY: the caller's promise; the outer handle, if any, encloses this one, so it is in
        // place too, and it gets back the target it had (the same buffer's, since both were
        // made from the same `Current`); the active cell outlives every handle made on it.
        unsafe {
            let this = this.as_ref();
            if let Some(outer) = this.outer {
                (*outer.as_ptr()).target = this.target;
            }
            this.active.as_ref().set(this.outer);
        }
    }
}

impl DefaultBuffer {
    /// The shared handle behind this one.
    #[inline(always)]
    fn shared(handle: NonNull<SharedHandle>) -> &'static mut SharedHandle {
        // SAFETY: a shared handle stays in place while the `DefaultBuffer` naming it is in use
        // (`open_default`); it is otherwise reached only through raw pointers (the active cell,
        // inner handles), never while a method of this handle runs. The reference lives for
        // the one operation that asked for it.
        unsafe { &mut *handle.as_ptr() }
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn suspended_handle_used() -> ! {
    panic!(
        "bumper: used an outer scope of the default buffer while an inner default-buffer scope \
         is open; the inner scope's end would free this allocation"
    )
}

// SAFETY: every method forwards to the buffer behind the handle, which keeps the `Buffer`
// promises: a level buffer's copy (the level is this scope's alone until it ends), or a shared
// buffer, valid while the handle lives (thread slot, or the `with_buffer` frame); a shared
// handle is suspended (refuses every operation) while an inner handle on the same buffer is
// open, so an outer scope can't allocate into an inner scope's region.
unsafe impl Buffer for DefaultBuffer {
    type Checkpoint = DefaultCheckpoint;

    #[inline(always)]
    fn try_alloc_layout(&mut self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        match &mut self.kind {
            HandleKind::Level(b) => b.try_alloc_layout(layout),
            HandleKind::Shared(h) => Self::shared(*h).buffer_mut().erased_alloc(layout),
        }
    }

    #[inline(always)]
    fn checkpoint(&self) -> DefaultCheckpoint {
        match &self.kind {
            HandleKind::Level(b) => DefaultCheckpoint::Slab(b.checkpoint()),
            HandleKind::Shared(h) => {
                DefaultCheckpoint::Dyn(Self::shared(*h).buffer().erased_checkpoint())
            }
        }
    }

    #[inline(always)]
    unsafe fn restore(&mut self, checkpoint: DefaultCheckpoint) {
        // A handle's buffer never changes, so a checkpoint of the matching variant came from
        // this buffer; the rest of the contract is the caller's.
        match (&mut self.kind, checkpoint) {
            // SAFETY: see above.
            (HandleKind::Level(b), DefaultCheckpoint::Slab(cp)) => unsafe { b.restore(cp) },
            // SAFETY: see above.
            (HandleKind::Shared(h), DefaultCheckpoint::Dyn(cp)) => unsafe {
                Self::shared(*h).buffer_mut().erased_restore(cp);
            },
            _ => panic!("DefaultBuffer::restore: the checkpoint belongs to another buffer"),
        }
    }

    fn reset(&mut self) {
        // Unreachable from safe code (handles are only reached through scopes, which don't
        // reset), kept correct anyway: a level holds only this scope's allocations, and a
        // shared handle that isn't suspended is the innermost user of its buffer.
        match &mut self.kind {
            HandleKind::Level(b) => b.reset(),
            HandleKind::Shared(h) => Self::shared(*h).buffer_mut().erased_reset(),
        }
    }

    unsafe fn try_resize_last(&mut self, ptr: NonNull<u8>, old: Layout, new_size: usize) -> bool {
        match &mut self.kind {
            // SAFETY: the caller's contract, for the buffer behind the handle.
            HandleKind::Level(b) => unsafe { b.try_resize_last(ptr, old, new_size) },
            HandleKind::Shared(h) => {
                let h = Self::shared(*h);
                // A suspended handle declines instead of panicking: a collection of an outer
                // default scope may be dropped (freeing its block) while an inner one is open.
                if h.target.is_none() {
                    return false;
                }
                // SAFETY: as above.
                unsafe { h.buffer_mut().erased_resize_last(ptr, old, new_size) }
            }
        }
    }

    fn stats(&self) -> Option<BufferStats> {
        match &self.kind {
            HandleKind::Level(b) => b.stats(),
            HandleKind::Shared(h) => {
                let h = Self::shared(*h);
                h.target?;
                h.buffer().erased_stats()
            }
        }
    }
}

impl fmt::Debug for DefaultBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            HandleKind::Level(_) => "thread's slab buffer",
            HandleKind::Shared(h) if Self::shared(*h).target.is_none() => {
                "suspended while an inner default scope is open"
            }
            HandleKind::Shared(_) => "lent by with_buffer, or thread's fixed buffer",
        };
        f.debug_struct("DefaultBuffer")
            .field("buffer", &kind)
            .field("stats", &self.stats())
            .finish()
    }
}

/// How an open default scope ends: the level's buffer frees what the scope added and the level
/// is free again, or the shared buffer goes back to its checkpoint and the outer handle
/// resumes. Ends on return (`finish`) and on panic (`Drop`).
enum DefaultEnd {
    Level {
        levels: NonNull<Levels>,
        home: NonNull<SlabBuffer>,
        keep: usize,
    },
    Shared {
        handle: NonNull<SharedHandle>,
        checkpoint: ErasedCheckpoint,
    },
}

impl DefaultEnd {
    #[inline(always)]
    fn finish(self) {
        core::mem::ManuallyDrop::new(self).end();
    }

    #[inline(always)]
    fn end(&self) {
        match *self {
            DefaultEnd::Level { levels, home, keep } => {
                // SAFETY: the level's buffer was this scope's alone, used only through the
                // scope's copy, which is out of use now that the scope has ended (with every
                // allocation made through it, bound to the scope's closure); scopes opened
                // inside it have ended, so this level is the last one entered.
                unsafe {
                    (*home.as_ptr()).end_snapshot(keep);
                    levels.as_ref().leave();
                }
            }
            DefaultEnd::Shared { handle, checkpoint } => {
                // SAFETY: the checkpoint was taken from the shared buffer when this handle
                // opened, the handle then being the innermost open one, as it is again now
                // (scopes opened inside it have ended, resuming it); nothing restored past the
                // checkpoint since; the scope's allocations are out of use.
                unsafe {
                    DefaultBuffer::shared(handle)
                        .buffer_mut()
                        .erased_restore(checkpoint);
                    SharedHandle::unregister(handle);
                }
            }
        }
    }
}

impl Drop for DefaultEnd {
    /// Only reached when the scope's closure panics.
    fn drop(&mut self) {
        self.end();
    }
}

/// Opens a default scope on the thread's current default buffer: the handle to allocate
/// through, and how the scope ends.
///
/// # Safety
///
/// `place` stays where it is until the end is finished or dropped; the handle, and everything
/// allocated through it, are used only until then; the end is finished or dropped on this
/// thread, after every default scope opened later on this thread has ended.
#[inline(always)]
unsafe fn open_default(place: &mut MaybeUninit<SharedHandle>) -> (DefaultBuffer, DefaultEnd) {
    let Current { target, active } = with_slot(ThreadSlot::current);
    match target {
        Target::Levels(levels) => {
            // SAFETY: the levels live until the thread exits, which can't happen while a scope
            // is open on it.
            let home = unsafe { levels.as_ref() }.enter();
            // SAFETY: `enter` counted the scope as open, so the level is this scope's alone
            // until `end` (scopes opened later take deeper levels and end first); it is used
            // only through the copy until then, and the copy's allocations not after.
            let (copy, keep) = unsafe { (*home.as_ptr()).begin_snapshot() };
            (
                DefaultBuffer {
                    kind: HandleKind::Level(copy),
                },
                DefaultEnd::Level { levels, home, keep },
            )
        }
        Target::Dyn(buffer) => {
            // SAFETY: the active cell lives in the slot or a `with_buffer` frame enclosing
            // this call.
            let outer = unsafe { active.as_ref() }.get();
            let handle = NonNull::from(place.write(SharedHandle {
                target: Some(buffer),
                active,
                outer,
            }));
            // SAFETY: the outer handle, if any, is in place (its scope encloses this call) and
            // not in use during this call; the active cell is valid as above.
            unsafe {
                if let Some(outer) = outer {
                    (*outer.as_ptr()).target = None;
                }
                active.as_ref().set(Some(handle));
            }
            let checkpoint = DefaultBuffer::shared(handle).buffer().erased_checkpoint();
            (
                DefaultBuffer {
                    kind: HandleKind::Shared(handle),
                },
                DefaultEnd::Shared { handle, checkpoint },
            )
        }
    }
}

// ---- the public functions -------------------------------------------------------------------

/// Runs `f` in a scope on the thread's default buffer (the seed's `@no_escape begin ... end`).
///
/// Everything allocated through the scope is freed when `f` returns or panics. Default scopes
/// nest, also across functions that don't know about each other: on the thread's own buffer
/// each open scope has memory of its own (one slab buffer per nesting depth, its slabs made on
/// first use and kept for the next scope at that depth); on a lent buffer one rule is checked
/// at run time (see [`DefaultBuffer`]).
///
/// ```
/// fn f(x: &[i64]) -> i64 {
///     bumper::no_escape(|s| {
///         let y = s.alloc_slice_copy(x);
///         y.iter_mut().for_each(|v| *v += 1);
///         y.iter().sum()
///     })
/// }
/// assert_eq!(f(&[1, 2, 3]), 9);
/// ```
#[inline]
pub fn no_escape<R, F>(f: F) -> R
where
    F: for<'s> FnOnce(&mut Scope<'s, DefaultBuffer>) -> R,
{
    let mut place = MaybeUninit::uninit();
    // SAFETY: `place` stays in this frame until `end` is finished (or dropped, on panic); the
    // handle is used only by the scope below, which ends before that; default scopes opened
    // inside `f` end before it returns.
    let (mut buffer, end) = unsafe { open_default(&mut place) };
    // SAFETY: the handle is the scope's alone for the call; the scope can't leave `f`, whose
    // higher-ranked lifetime ends before `end` runs. `f` is called in one place only, so it is
    // inlined like an explicit buffer's scope, and a level's copy stays in registers.
    let mut scope = unsafe { Scope::new(NonNull::from(&mut buffer)) };
    let result = f(&mut scope);
    end.finish();
    result
}

/// A handle on the thread's current default buffer that works wherever `&mut impl Buffer` does
/// (the seed's `f(x, default_buffer())`); made by [`with_default_buffer`].
///
/// It serves the same buffer [`no_escape`] does (the thread's own, or the one [`with_buffer`]
/// put in its place) and nests like a default scope (see [`DefaultBuffer`]): on the thread's
/// own buffer it has memory of its own; on a lent buffer, outer default scopes are suspended
/// while it lives, and a default scope opened inside it suspends it in turn.
///
/// Its view of the buffer starts where the buffer stood when the handle was made: its
/// [`reset`](Buffer::reset) frees what was allocated through it and nothing older, and whatever
/// it allocated outside a scope is freed when [`with_default_buffer`] returns.
///
/// ```
/// use bumper::Buffer;
///
/// fn f(x: &[i64], buf: &mut impl Buffer) -> i64 {
///     buf.no_escape(|s| s.alloc_slice_fill_with(x.len(), |i| x[i] + 1).iter().sum())
/// }
/// assert_eq!(bumper::with_default_buffer(|buf| f(&[1, 2, 3], buf)), 9);
/// ```
pub struct DefaultBufferHandle<'h> {
    handle: NonNull<DefaultBuffer>,
    /// Where the buffer stood when the handle was made: `reset` goes back there.
    start: DefaultCheckpoint,
    /// Invariant in `'h`, so two handles of nested calls can't be swapped; the raw pointer keeps
    /// the handle on its thread.
    _handle: PhantomData<fn(&'h ()) -> &'h ()>,
}

impl DefaultBufferHandle<'_> {
    /// The handle, in place while `self` lives.
    #[inline(always)]
    fn handle(&self) -> *mut DefaultBuffer {
        self.handle.as_ptr()
    }
}

// SAFETY: every method forwards to the `DefaultBuffer` handle made by `with_default_buffer`,
// which keeps the `Buffer` promises for the buffer behind it. Each forward makes the only
// reference to that handle for the length of the call; nothing else reaches the handle itself
// (a shared handle's registration is a separate place, see `open_default`). `reset` only goes back to where the buffer stood when
// this handle was made, so allocations of outer scopes stay untouched.
unsafe impl Buffer for DefaultBufferHandle<'_> {
    type Checkpoint = DefaultCheckpoint;

    #[inline(always)]
    fn try_alloc_layout(&mut self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        // SAFETY: the handle is in place while `self` lives (see the impl).
        unsafe { (*self.handle()).try_alloc_layout(layout) }
    }

    #[inline(always)]
    fn checkpoint(&self) -> DefaultCheckpoint {
        // SAFETY: as in `try_alloc_layout`.
        unsafe { (*self.handle()).checkpoint() }
    }

    #[inline(always)]
    unsafe fn restore(&mut self, checkpoint: DefaultCheckpoint) {
        // SAFETY: as in `try_alloc_layout`; the checkpoint contract is the caller's.
        unsafe { (*self.handle()).restore(checkpoint) }
    }

    fn reset(&mut self) {
        // SAFETY: as in `try_alloc_layout`. `start` was taken from this handle's buffer when
        // the handle opened; every allocation made through the handle since is dead (`&mut
        // self`), and no scope nested in the handle is open (it would borrow the handle), so
        // nothing restored past `start` since; outer scopes' allocations are older than it.
        unsafe { (*self.handle()).restore(self.start) }
    }

    unsafe fn try_resize_last(&mut self, ptr: NonNull<u8>, old: Layout, new_size: usize) -> bool {
        // SAFETY: as in `try_alloc_layout`; the block contract is the caller's.
        unsafe { (*self.handle()).try_resize_last(ptr, old, new_size) }
    }

    fn stats(&self) -> Option<BufferStats> {
        // SAFETY: as in `try_alloc_layout`.
        unsafe { (*self.handle()).stats() }
    }
}

impl fmt::Debug for DefaultBufferHandle<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: as in `try_alloc_layout`.
        let handle = unsafe { &*self.handle() };
        f.debug_tuple("DefaultBufferHandle").field(handle).finish()
    }
}

/// Runs `f` with a handle on the thread's current default buffer, for code that takes a buffer
/// argument (`&mut impl Buffer`): the seed's `f(x, default_buffer())`.
///
/// Everything `f` allocated through the handle outside a scope is freed when `f` returns or
/// panics; see [`DefaultBufferHandle`] for the nesting rule.
///
/// ```
/// use bumper::Buffer;
///
/// fn f(x: &[i64], buf: &mut impl Buffer) -> i64 {
///     buf.no_escape(|s| {
///         let y = s.alloc_slice_copy(x);
///         y.iter_mut().for_each(|v| *v += 1);
///         y.iter().sum()
///     })
/// }
///
/// let x = [1, 2, 3];
/// assert_eq!(bumper::with_default_buffer(|buf| f(&x, buf)), 9);
/// // Inside an open default scope too: the outer scope waits until the handle is gone.
/// bumper::no_escape(|s| {
///     let a = s.alloc(1i64);
///     *a += bumper::with_default_buffer(|buf| f(&x, buf));
///     assert_eq!(*a, 10);
/// });
/// ```
#[inline]
pub fn with_default_buffer<R, F>(f: F) -> R
where
    F: for<'h> FnOnce(&mut DefaultBufferHandle<'h>) -> R,
{
    let mut place = MaybeUninit::uninit();
    // SAFETY: `place` stays in this frame until `end` is finished (or dropped, on panic); the
    // handle is used only through the `DefaultBufferHandle`, whose lifetime is bound to `f`'s
    // higher-ranked one, so neither it nor its allocations can be used past `f` without
    // `unsafe`; default scopes opened inside `f` end before it returns.
    let (mut buffer, end) = unsafe { open_default(&mut place) };
    let start = buffer.checkpoint();
    let mut user = DefaultBufferHandle {
        handle: NonNull::from(&mut buffer),
        start,
        _handle: PhantomData,
    };
    let result = f(&mut user);
    end.finish();
    result
}

/// Makes `buf` the thread's default buffer while `f` runs (the seed's `with_buffer`): default
/// scopes opened inside `f`, at any call depth, allocate from `buf`. Calls nest, and the previous
/// default comes back when `f` returns or panics. Any [`Buffer`] works, as long as its
/// checkpoint fits in [`ERASED_CHECKPOINT_WORDS`] words (checked at compile time).
///
/// ```
/// use bumper::{AllocBuffer, Buffer};
///
/// let mut b2 = AllocBuffer::with_capacity(1024);
/// let b2_addr = &b2 as *const AllocBuffer as *const ();
/// bumper::with_buffer(&mut b2, || {
///     assert_eq!(bumper::default_buffer_addr(), b2_addr);
///     bumper::no_escape(|s| { s.alloc(1u8); });
/// });
/// assert_ne!(bumper::default_buffer_addr(), b2_addr);
/// ```
pub fn with_buffer<B: Buffer, R>(buf: &mut B, f: impl FnOnce() -> R) -> R {
    #[allow(clippy::let_unit_value)]
    let () = Fits::<B>::CHECKPOINT;
    let active: ActiveCell = Cell::new(None);
    let erased: NonNull<dyn ErasedBuffer + '_> = NonNull::from(buf as &mut dyn ErasedBuffer);
    // SAFETY: only the lifetime bound of the trait object changes. The pointer is removed from
    // the slot (by `Restore` below, also on panic) before `buf`'s borrow ends, and every handle
    // made from it lives inside `f`.
    let erased: DynPtr = unsafe { mem::transmute(erased) };
    let lent = Current {
        target: Target::Dyn(NonNull::from(&erased)),
        active: NonNull::from(&active),
    };

    /// Puts the previous default back, also on panic.
    struct Restore(Option<Current>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0;
            with_slot(|slot| slot.current.set(previous));
        }
    }

    let _restore = Restore(with_slot(|slot| slot.current.replace(Some(lent))));
    f()
}

/// Frees everything in the thread's current default buffer at once (the seed's
/// `reset_buffer!()`), e.g. after a `forget`ten checkpoint guard left it full.
///
/// # Errors
///
/// [`DefaultBufferError::ScopeOpen`] while a default scope (or a [`DefaultBufferHandle`]) is open
/// on that buffer, since the reset would free its allocations.
///
/// ```
/// bumper::no_escape(|s| {
///     s.alloc(1u8);
///     assert_eq!(bumper::reset_default_buffer(), Err(bumper::DefaultBufferError::ScopeOpen));
/// });
/// assert_eq!(bumper::reset_default_buffer(), Ok(()));
/// assert_eq!(bumper::default_buffer_stats().unwrap().used, 0);
/// ```
pub fn reset_default_buffer() -> Result<(), DefaultBufferError> {
    let Current { target, active } = with_slot(ThreadSlot::current);
    match target {
        Target::Levels(levels) => {
            // SAFETY: the levels live until the thread exits.
            let levels = unsafe { levels.as_ref() };
            if levels.open.get() > 0 {
                return Err(DefaultBufferError::ScopeOpen);
            }
            for &buffer in levels.buffers() {
                // SAFETY: no scope is open on the levels, so nothing else uses them during
                // this call.
                unsafe { (*buffer.as_ptr()).reset() };
            }
        }
        Target::Dyn(place) => {
            // SAFETY: the active cell lives in the slot or a `with_buffer` frame enclosing
            // this call.
            if unsafe { active.as_ref() }.get().is_some() {
                return Err(DefaultBufferError::ScopeOpen);
            }
            // SAFETY: no handle is open on the buffer, so nothing else uses it during this
            // call; the target outlives it.
            unsafe { (*place.as_ref().as_ptr()).erased_reset() };
        }
    }
    Ok(())
}

/// Usage figures of the thread's current default buffer (the thread's own, or the one lent by
/// [`with_buffer`]); creates the thread's own if needed.
///
/// The thread's own slab buffer is one slab buffer per nesting depth of default scopes (see
/// [`DefaultBuffer`]): the figures add them up, and each scope works on a copy of its level
/// until it ends, so an open scope's allocations show in its own [`Scope::stats`], not here.
/// A lent buffer (or the thread's own fixed one) is shared by nested scopes: its figures
/// include the open scopes' allocations.
///
/// ```
/// bumper::no_escape(|s| {
///     s.alloc_slice_fill(10, 0u8);
///     assert!(s.stats().unwrap().used >= 10);
/// });
/// // Every scope has ended: nothing is in use, the memory is kept for the next ones.
/// let stats = bumper::default_buffer_stats().unwrap();
/// assert_eq!(stats.used, 0);
/// assert!(stats.capacity >= 10);
///
/// let mut lent = bumper::AllocBuffer::with_capacity(64);
/// bumper::with_buffer(&mut lent, || {
///     bumper::no_escape(|s| {
///         s.alloc_slice_fill(10, 0u8);
///         assert_eq!(bumper::default_buffer_stats().unwrap().used, 10);
///     })
/// });
/// ```
#[must_use]
pub fn default_buffer_stats() -> Option<BufferStats> {
    let Current { target, .. } = with_slot(ThreadSlot::current);
    match target {
        Target::Levels(levels) => {
            // SAFETY: the levels live until the thread exits; only read here, between the
            // operations of open scopes (which work on copies).
            let levels = unsafe { levels.as_ref() };
            let mut total: Option<BufferStats> = None;
            for &buffer in levels.buffers() {
                // SAFETY: as above.
                let Some(stats) = (unsafe { buffer.as_ref() }).stats() else {
                    continue;
                };
                total = Some(match total {
                    // The outermost level gives the position figures.
                    None => stats,
                    Some(t) => BufferStats {
                        used: t.used + stats.used,
                        capacity: t.capacity + stats.capacity,
                        slabs: t.slabs + stats.slabs,
                        spare_slabs: t.spare_slabs + stats.spare_slabs,
                        big_allocations: t.big_allocations + stats.big_allocations,
                        ..t
                    },
                });
            }
            total
        }
        // SAFETY: reading only, between the operations of any open handle; the target outlives
        // this call.
        Target::Dyn(place) => unsafe { place.as_ref().as_ref() }.erased_stats(),
    }
}

/// The address of the buffer object serving as the thread's default now, for identity checks:
/// inside `with_buffer(&mut b, ..)` it is `&b`'s address; otherwise the thread's own buffer's
/// (its outermost level, for a slab buffer). Creates the thread's own if needed.
///
/// ```
/// use bumper::AllocBuffer;
///
/// let own = bumper::default_buffer_addr();
/// let mut b2 = AllocBuffer::with_capacity(1024);
/// let b2_addr = &b2 as *const AllocBuffer as *const ();
/// bumper::with_buffer(&mut b2, || assert_eq!(bumper::default_buffer_addr(), b2_addr));
/// assert_eq!(bumper::default_buffer_addr(), own);
/// ```
#[must_use]
pub fn default_buffer_addr() -> *const () {
    match with_slot(ThreadSlot::current).target {
        // SAFETY: the levels live until the thread exits, and always have a first buffer.
        Target::Levels(levels) => unsafe { levels.as_ref() }.buffers()[0]
            .as_ptr()
            .cast_const()
            .cast(),
        // SAFETY: the place outlives the target (slot or `with_buffer` frame).
        Target::Dyn(p) => unsafe { p.as_ref() }.as_ptr().cast_const().cast(),
    }
}

/// Chooses the kind of default buffer this thread creates on first use (the seed's
/// `set_default_buffer_size!`).
///
/// # Errors
///
/// [`DefaultBufferError::AlreadyCreated`] once the thread's default buffer exists.
///
/// ```
/// use bumper::DefaultBufferKind;
///
/// std::thread::spawn(|| {
///     bumper::set_default_buffer_kind(DefaultBufferKind::Fixed { capacity: 4096 }).unwrap();
///     let err = bumper::no_escape(|s| s.try_alloc_slice_fill(5000, 0u8).map(|_| ()));
///     assert!(err.is_err());
///     assert!(bumper::set_default_buffer_kind(DefaultBufferKind::Slab).is_err());
/// })
/// .join()
/// .unwrap();
/// ```
pub fn set_default_buffer_kind(kind: DefaultBufferKind) -> Result<(), DefaultBufferError> {
    with_slot(|slot| {
        if slot.owned.get().is_some() {
            return Err(DefaultBufferError::AlreadyCreated);
        }
        slot.kind.set(kind);
        Ok(())
    })
}

/// Whether this thread has created its own default buffer yet (it does so on first use only).
///
/// ```
/// std::thread::spawn(|| {
///     assert!(!bumper::default_buffer_exists());
///     bumper::no_escape(|s| { s.alloc(1u8); });
///     assert!(bumper::default_buffer_exists());
/// })
/// .join()
/// .unwrap();
/// ```
#[must_use]
pub fn default_buffer_exists() -> bool {
    with_slot(|slot| slot.owned.get().is_some())
}
