//! The per-thread default buffer, [`with_buffer`], and the type-erased plumbing that lets any
//! [`Buffer`] stand in for the default.
//!
//! Every thread that uses it gets its own default buffer (a [`SlabBuffer`] with 1 MiB slabs
//! unless [`set_default_buffer_kind`] chose otherwise), created on first use: a thread that never
//! opens a default scope never allocates one.

use core::alloc::Layout;
use core::cell::Cell;
use core::fmt;
use core::marker::PhantomData;
use core::mem::{self, MaybeUninit};
use core::ptr::{self, NonNull};

use std::boxed::Box;

use crate::alloc_buffer::AllocBuffer;
use crate::buffer::{Buffer, BufferStats};
use crate::error::AllocError;
use crate::scope::{run_scope_raw, Scope};
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

/// Which buffer a default scope allocates from: the thread's own slab buffer (the common case,
/// called directly), any other buffer through its `dyn` face (a lent buffer, or the thread's own
/// fixed buffer), or nothing, while an inner default scope is open on the same buffer.
#[derive(Clone, Copy)]
enum Target {
    Slab(NonNull<SlabBuffer>),
    /// Through a place holding the `dyn` pointer, so the target stays two words.
    Dyn(NonNull<DynPtr>),
    /// An inner default scope is open on this handle's buffer: using the handle would let the
    /// inner scope's end free what it allocates.
    Suspended,
}

/// A type-erased buffer pointer.
type DynPtr = NonNull<dyn ErasedBuffer>;

/// The innermost open handle on a buffer, if any.
type ActiveCell = Cell<Option<NonNull<DefaultBuffer>>>;

/// The buffer default scopes use now, with the cell naming its innermost open handle.
#[derive(Clone, Copy)]
struct Current {
    target: Target,
    active: NonNull<ActiveCell>,
}

/// The thread's own default buffer, from `Box::leak`.
#[derive(Clone, Copy)]
enum Owned {
    Slab(NonNull<SlabBuffer>),
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
    /// The innermost open handle on the owned buffer.
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
                // SAFETY: the pointers come from `Box::leak` in `create_owned`; no scope is
                // open while the thread's locals are destroyed (scopes live on the stack of
                // running code), and the slot no longer points to the buffer.
                Owned::Slab(p) => drop(unsafe { Box::from_raw(p.as_ptr()) }),
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
                let p = NonNull::from(Box::leak(Box::new(SlabBuffer::new())));
                (Owned::Slab(p), Target::Slab(p))
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
/// A default scope can be opened while an outer default scope is open (a function using the
/// default buffer called from another). The borrow checker can't see that nesting, so it is
/// enforced at run time: while the inner scope is open, the outer one is suspended, and
/// allocating from it panics, since the inner scope's end would free that allocation.
pub struct DefaultBuffer {
    target: Target,
    /// The cell naming the innermost open handle on this buffer.
    active: NonNull<ActiveCell>,
    /// The handle this one suspended when it opened, to resume when it ends.
    outer: Option<NonNull<DefaultBuffer>>,
}

/// A saved position of the default buffer.
#[derive(Debug, Clone, Copy)]
pub enum DefaultCheckpoint {
    /// Of the thread's own slab buffer.
    Slab(SlabCheckpoint),
    /// Of a buffer lent with [`with_buffer`] (or the thread's own fixed buffer).
    Dyn(ErasedCheckpoint),
}

/// The target buffer, borrowed for one operation.
enum TargetMut<'a> {
    Slab(&'a mut SlabBuffer),
    Dyn(&'a mut dyn ErasedBuffer),
}

/// The target buffer, borrowed shared for one operation.
enum TargetRef<'a> {
    Slab(&'a SlabBuffer),
    Dyn(&'a dyn ErasedBuffer),
}

impl DefaultBuffer {
    #[inline(always)]
    fn target_mut(&mut self) -> TargetMut<'_> {
        // SAFETY: the target outlives the handle (the thread slot owns it, or a `with_buffer`
        // frame encloses every handle made under it); handles are `!Send`, and the one borrow
        // made here ends with the operation, which doesn't call back into another handle.
        unsafe {
            match self.target {
                Target::Slab(p) => TargetMut::Slab(&mut *p.as_ptr()),
                Target::Dyn(p) => TargetMut::Dyn(&mut *p.as_ref().as_ptr()),
                Target::Suspended => suspended_handle_used(),
            }
        }
    }

    #[inline(always)]
    fn target_ref(&self) -> TargetRef<'_> {
        // SAFETY: as in `target_mut`, for a shared borrow.
        unsafe {
            match self.target {
                Target::Slab(p) => TargetRef::Slab(p.as_ref()),
                Target::Dyn(p) => TargetRef::Dyn(p.as_ref().as_ref()),
                Target::Suspended => suspended_handle_used(),
            }
        }
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

// SAFETY: every method forwards to the target buffer, which keeps the `Buffer` promises; the
// target is valid while the handle lives (thread slot, or the `with_buffer` frame); a handle is
// suspended (refuses every operation) while an inner handle on the same buffer is open, so an
// outer scope can't allocate into an inner scope's region.
unsafe impl Buffer for DefaultBuffer {
    type Checkpoint = DefaultCheckpoint;

    #[inline(always)]
    fn try_alloc_layout(&mut self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        match self.target_mut() {
            TargetMut::Slab(b) => b.try_alloc_layout(layout),
            TargetMut::Dyn(b) => b.erased_alloc(layout),
        }
    }

    #[inline(always)]
    fn checkpoint(&self) -> DefaultCheckpoint {
        match self.target_ref() {
            TargetRef::Slab(b) => DefaultCheckpoint::Slab(b.checkpoint()),
            TargetRef::Dyn(b) => DefaultCheckpoint::Dyn(b.erased_checkpoint()),
        }
    }

    #[inline(always)]
    unsafe fn restore(&mut self, checkpoint: DefaultCheckpoint) {
        // A handle's target never changes, so a checkpoint of the matching variant came from
        // this target; the rest of the contract is the caller's.
        match (self.target_mut(), checkpoint) {
            // SAFETY: see above.
            (TargetMut::Slab(b), DefaultCheckpoint::Slab(cp)) => unsafe { b.restore(cp) },
            // SAFETY: see above.
            (TargetMut::Dyn(b), DefaultCheckpoint::Dyn(cp)) => unsafe { b.erased_restore(cp) },
            _ => panic!("DefaultBuffer::restore: the checkpoint belongs to another buffer"),
        }
    }

    fn reset(&mut self) {
        // Unreachable from safe code (handles are only reached through scopes, which don't
        // reset), kept correct anyway: a handle that isn't suspended is the innermost user.
        match self.target_mut() {
            TargetMut::Slab(b) => b.reset(),
            TargetMut::Dyn(b) => b.erased_reset(),
        }
    }

    unsafe fn try_resize_last(&mut self, ptr: NonNull<u8>, old: Layout, new_size: usize) -> bool {
        // A suspended handle declines instead of panicking: a collection of an outer default
        // scope may be dropped (freeing its block) while an inner one is open.
        if let Target::Suspended = self.target {
            return false;
        }
        match self.target_mut() {
            // SAFETY: the caller's contract, for the buffer behind the handle.
            TargetMut::Slab(b) => unsafe { b.try_resize_last(ptr, old, new_size) },
            // SAFETY: as above.
            TargetMut::Dyn(b) => unsafe { b.erased_resize_last(ptr, old, new_size) },
        }
    }

    fn stats(&self) -> Option<BufferStats> {
        match self.target {
            Target::Suspended => None,
            _ => match self.target_ref() {
                TargetRef::Slab(b) => b.stats(),
                TargetRef::Dyn(b) => b.erased_stats(),
            },
        }
    }
}

impl fmt::Debug for DefaultBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.target {
            Target::Slab(_) => "thread's slab buffer",
            Target::Dyn(_) => "lent by with_buffer, or thread's fixed buffer",
            Target::Suspended => "suspended while an inner default scope is open",
        };
        f.debug_struct("DefaultBuffer")
            .field("buffer", &kind)
            .field("stats", &self.stats())
            .finish()
    }
}

/// An open handle on the current default buffer: registered as the innermost, with the outer
/// one suspended; `close` (or `Drop`, on panic) undoes both.
struct OpenHandle {
    handle: NonNull<DefaultBuffer>,
}

impl OpenHandle {
    /// Registers `*handle` as the innermost handle of its buffer, suspending the outer one.
    ///
    /// # Safety
    /// `handle` points to a handle that stays in place until `close` or the drop.
    #[inline(always)]
    unsafe fn open(handle: NonNull<DefaultBuffer>) -> Self {
        // SAFETY: the caller's promise; the active cell outlives every handle made on it.
        unsafe {
            let this = handle.as_ref();
            if let Some(mut outer) = this.outer {
                outer.as_mut().target = Target::Suspended;
            }
            this.active.as_ref().set(Some(handle));
        }
        OpenHandle { handle }
    }

    /// Closes on the normal path, where it can be inlined (drop glue often is not).
    #[inline(always)]
    fn close(self) {
        core::mem::ManuallyDrop::new(self).unregister();
    }

    #[inline(always)]
    fn unregister(&self) {
        // SAFETY: the handle is still in place (`open`'s contract); the outer handle, if any,
        // encloses this one, so it is in place too, and it gets back the target it had (the same
        // buffer's, since both were made from the same `Current`).
        unsafe {
            let this = self.handle.as_ref();
            if let Some(mut outer) = this.outer {
                outer.as_mut().target = this.target;
            }
            this.active.as_ref().set(this.outer);
        }
    }
}

impl Drop for OpenHandle {
    /// Only reached when the scope's closure panics.
    fn drop(&mut self) {
        self.unregister();
    }
}

// ---- the public functions -------------------------------------------------------------------

/// Runs `f` in a scope on the thread's default buffer (the seed's `@no_escape begin ... end`).
///
/// Everything allocated through the scope is freed when `f` returns or panics. Default scopes
/// nest, also across functions that don't know about each other; see [`DefaultBuffer`] for the
/// one rule checked at run time.
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
    let Current { target, active } = with_slot(ThreadSlot::current);
    // SAFETY: the active cell lives in the slot or a `with_buffer` frame enclosing this call.
    let outer = unsafe { active.as_ref() }.get();
    let mut handle = DefaultBuffer {
        target,
        active,
        outer,
    };
    let handle = NonNull::from(&mut handle);
    // SAFETY: `handle` stays in place until this function returns; `open` and `close` only touch
    // the handles' `target` fields and the active cell, never while the scope's code runs.
    unsafe {
        let open = OpenHandle::open(handle);
        let result = match target {
            // The common case: the thread's own slab buffer, saved and restored directly.
            Target::Slab(slab) => slab_scope(handle, slab, f),
            _ => run_scope_raw(handle, f),
        };
        open.close();
        result
    }
}

/// [`run_scope_raw`] for a handle on the thread's own slab buffer: the checkpoint is taken and
/// restored on the buffer itself, not through the handle (no dispatch on the target, no
/// [`DefaultCheckpoint`] to build). At both moments the handle is the innermost open one on the
/// buffer, so going around it changes nothing.
///
/// # Safety
///
/// `handle` is registered (`OpenHandle::open`) on `slab`, and stays in place for the call; the
/// slab buffer outlives it.
#[inline(always)]
unsafe fn slab_scope<R, F>(handle: NonNull<DefaultBuffer>, slab: NonNull<SlabBuffer>, f: F) -> R
where
    F: for<'s> FnOnce(&mut Scope<'s, DefaultBuffer>) -> R,
{
    /// Restores the slab buffer when dropped: on return (`finish`) and on panic.
    struct RestoreSlab {
        slab: NonNull<SlabBuffer>,
        checkpoint: SlabCheckpoint,
    }
    impl RestoreSlab {
        #[inline(always)]
        fn finish(self) {
            core::mem::ManuallyDrop::new(self).restore();
        }
        #[inline(always)]
        fn restore(&self) {
            // SAFETY: the checkpoint was taken from this buffer when the scope opened; nested
            // scopes have ended and nothing restored past it; the scope's allocations can't be
            // used any more; no other reference to the buffer is in use during this call.
            unsafe { (*self.slab.as_ptr()).restore(self.checkpoint) }
        }
    }
    impl Drop for RestoreSlab {
        fn drop(&mut self) {
            self.restore();
        }
    }

    // SAFETY: the slab buffer is valid (the caller's promise), and only read here.
    let checkpoint = unsafe { slab.as_ref() }.checkpoint();
    let restore = RestoreSlab { slab, checkpoint };
    // SAFETY: the handle is ours for this call (the caller's promise); the scope can't leave
    // `f`, whose higher-ranked lifetime ends before the restore.
    let mut scope = unsafe { Scope::new(handle) };
    let result = f(&mut scope);
    restore.finish();
    result
}

/// A handle on the thread's current default buffer that works wherever `&mut impl Buffer` does
/// (the seed's `f(x, default_buffer())`); made by [`with_default_buffer`].
///
/// It serves the same buffer [`no_escape`] does (the thread's own, or the one [`with_buffer`]
/// put in its place) and follows the same nesting rule: while it lives, outer default scopes are
/// suspended, and a default scope opened inside it suspends it in turn (using a suspended
/// handle panics, since the inner scope's end would free what it allocates).
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
    /// The registered handle, in place while `self` lives.
    #[inline(always)]
    fn handle(&self) -> *mut DefaultBuffer {
        self.handle.as_ptr()
    }
}

// SAFETY: every method forwards to the registered `DefaultBuffer` handle, which keeps the
// `Buffer` promises for the buffer behind it (and is suspended while an inner default scope is
// open). Each forward makes the only reference to that handle for the length of the call; the
// handle is otherwise reached only through raw pointers (the active cell, inner handles), and
// never while one of these calls runs. `reset` only goes back to where the buffer stood when
// this handle was made, so allocations of outer scopes stay untouched.
unsafe impl Buffer for DefaultBufferHandle<'_> {
    type Checkpoint = DefaultCheckpoint;

    #[inline(always)]
    fn try_alloc_layout(&mut self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        // SAFETY: the handle is registered and in place while `self` lives (see the impl).
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
    let Current { target, active } = with_slot(ThreadSlot::current);
    // SAFETY: the active cell lives in the slot or a `with_buffer` frame enclosing this call.
    let outer = unsafe { active.as_ref() }.get();
    let mut handle = DefaultBuffer {
        target,
        active,
        outer,
    };
    let handle = NonNull::from(&mut handle);
    // SAFETY: `handle` stays in place until this function returns, and is reached only through
    // this pointer (copied into the active cell and the `DefaultBufferHandle`). `open` and
    // `close` touch only the handles' `target` fields and the active cell, never while a
    // method of the handle runs. The scope run here only restores, when `f` returns or panics,
    // the position of the handle's start: `f` allocates through the `DefaultBufferHandle`
    // instead, and those allocations can't be used past `f` without `unsafe`.
    unsafe {
        let open = OpenHandle::open(handle);
        let result = run_scope_raw(handle, |_| {
            let mut user = DefaultBufferHandle {
                handle,
                start: (*handle.as_ptr()).checkpoint(),
                _handle: PhantomData,
            };
            f(&mut user)
        });
        open.close();
        result
    }
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
    // SAFETY: the active cell lives in the slot or a `with_buffer` frame enclosing this call.
    if unsafe { active.as_ref() }.get().is_some() {
        return Err(DefaultBufferError::ScopeOpen);
    }
    // SAFETY: no handle is open on the buffer, so nothing else uses it during this call; the
    // target outlives it.
    unsafe {
        match target {
            Target::Slab(p) => (*p.as_ptr()).reset(),
            Target::Dyn(p) => (*p.as_ref().as_ptr()).erased_reset(),
            Target::Suspended => unreachable!("the current target is never suspended"),
        }
    }
    Ok(())
}

/// Usage figures of the thread's current default buffer (the thread's own, or the one lent by
/// [`with_buffer`]); creates the thread's own if needed.
///
/// ```
/// bumper::no_escape(|s| {
///     s.alloc_slice_fill(10, 0u8);
///     assert!(bumper::default_buffer_stats().unwrap().used >= 10);
/// });
/// ```
#[must_use]
pub fn default_buffer_stats() -> Option<BufferStats> {
    let Current { target, .. } = with_slot(ThreadSlot::current);
    // SAFETY: reading only, between the operations of any open handle; the target outlives
    // this call.
    unsafe {
        match target {
            Target::Slab(p) => p.as_ref().stats(),
            Target::Dyn(p) => p.as_ref().as_ref().erased_stats(),
            Target::Suspended => None,
        }
    }
}

/// The address of the buffer object serving as the thread's default now, for identity checks:
/// inside `with_buffer(&mut b, ..)` it is `&b`'s address. Creates the thread's own if needed.
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
        Target::Slab(p) => p.as_ptr().cast_const().cast(),
        // SAFETY: the place outlives the target (slot or `with_buffer` frame).
        Target::Dyn(p) => unsafe { p.as_ref() }.as_ptr().cast_const().cast(),
        Target::Suspended => ptr::null(),
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
