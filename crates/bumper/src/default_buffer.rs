//! The per-thread default buffer, [`with_buffer`], and the type-erased plumbing that lets any
//! [`Buffer`] stand in for the default.
//!
//! Every thread that uses it gets its own default buffer (a [`SlabBuffer`] with 1 MiB slabs
//! unless [`set_default_buffer_kind`] chose otherwise), created on first use: a thread that never
//! opens a default scope never allocates one.

use core::alloc::Layout;
use core::cell::Cell;
use core::fmt;
use core::mem::{self, MaybeUninit};
use core::ptr::{self, NonNull};

use std::boxed::Box;

use crate::alloc_buffer::{AllocBuffer, AllocCheckpoint};
use crate::buffer::{Buffer, BufferStats};
use crate::error::AllocError;
use crate::scope::{run_scope, Scope};
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
    /// A scope is open on the current default buffer, so it can't be lent out whole.
    ScopeOpen,
}

impl fmt::Display for DefaultBufferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DefaultBufferError::AlreadyCreated => {
                "this thread's default buffer already exists; choose its kind before first use"
            }
            DefaultBufferError::ScopeOpen => {
                "a scope is open on the current default buffer; it can't be borrowed whole inside it"
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
}

// ---- the thread slot ------------------------------------------------------------------------

/// Which buffer a default scope allocates from.
#[derive(Clone, Copy)]
enum Target {
    Slab(NonNull<SlabBuffer>),
    Fixed(NonNull<AllocBuffer<'static>>),
    Lent(NonNull<dyn ErasedBuffer>),
}

/// A buffer lent by [`with_buffer`], with the depth counter of scopes opened on it.
#[derive(Clone, Copy)]
struct Lent {
    buf: NonNull<dyn ErasedBuffer>,
    depth: NonNull<Cell<usize>>,
}

/// Per-thread state. All `Cell`s, so it needs no lazy initialisation; the owned buffer is boxed
/// so pointers to it stay valid and are never re-borrowed mutably through the slot.
struct ThreadSlot {
    /// The thread's own default buffer, once created (`Slab` or `Fixed`, from `Box::into_raw`).
    owned: Cell<Option<Target>>,
    kind: Cell<DefaultBufferKind>,
    /// Open scopes on the owned buffer.
    owned_depth: Cell<usize>,
    /// The buffer `with_buffer` put in place of the owned one, if any.
    lent: Cell<Option<Lent>>,
}

impl Drop for ThreadSlot {
    fn drop(&mut self) {
        match self.owned.take() {
            // SAFETY: the pointers come from `Box::into_raw` in `owned_target`; no scope is open
            // while the thread's locals are destroyed (scopes live on the stack of running code).
            Some(Target::Slab(p)) => drop(unsafe { Box::from_raw(p.as_ptr()) }),
            // SAFETY: as above.
            Some(Target::Fixed(p)) => drop(unsafe { Box::from_raw(p.as_ptr()) }),
            Some(Target::Lent(_)) | None => {}
        }
    }
}

std::thread_local! {
    static SLOT: ThreadSlot = const {
        ThreadSlot {
            owned: Cell::new(None),
            kind: Cell::new(DefaultBufferKind::Slab),
            owned_depth: Cell::new(0),
            lent: Cell::new(None),
        }
    };
}

#[inline]
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
    /// The current default buffer and its depth counter, creating the owned one if needed.
    #[inline]
    fn current(&self) -> (Target, NonNull<Cell<usize>>) {
        match self.lent.get() {
            Some(lent) => (Target::Lent(lent.buf), lent.depth),
            None => (self.owned_target(), NonNull::from(&self.owned_depth)),
        }
    }

    #[inline]
    fn owned_target(&self) -> Target {
        match self.owned.get() {
            Some(target) => target,
            None => self.create_owned(),
        }
    }

    #[cold]
    #[inline(never)]
    fn create_owned(&self) -> Target {
        let target = match self.kind.get() {
            DefaultBufferKind::Slab => {
                Target::Slab(NonNull::from(Box::leak(Box::new(SlabBuffer::new()))))
            }
            DefaultBufferKind::Fixed { capacity } => Target::Fixed(NonNull::from(Box::leak(
                Box::new(AllocBuffer::with_capacity(capacity)),
            ))),
        };
        self.owned.set(Some(target));
        target
    }
}

// ---- the handle -----------------------------------------------------------------------------

/// The thread's current default buffer, as a [`Buffer`]: the thread's own buffer, or the one
/// [`with_buffer`] put in its place.
///
/// You meet it as the `B` of [`DefaultScope`] (from [`no_escape`]) and in
/// [`with_default_buffer`]. It can't be sent to another thread.
///
/// A default scope can be opened while an outer default scope is open (a function using the
/// default buffer called from another). The borrow checker can't see that nesting, so it is
/// checked at run time: allocating from the outer scope while the inner one is open panics, since
/// the inner scope's end would free that allocation.
pub struct DefaultBuffer {
    target: Target,
    /// Depth counter of the buffer's open scopes; `level` is this handle's depth.
    depth: NonNull<Cell<usize>>,
    level: usize,
}

/// A saved position of the default buffer.
#[derive(Debug, Clone, Copy)]
pub enum DefaultCheckpoint {
    /// Of the thread's own slab buffer.
    Slab(SlabCheckpoint),
    /// Of the thread's own fixed buffer.
    Fixed(AllocCheckpoint),
    /// Of a buffer lent with [`with_buffer`].
    Lent(ErasedCheckpoint),
}

impl DefaultBuffer {
    /// Panics unless this handle is the innermost user of its buffer.
    #[inline(always)]
    fn check_innermost(&self) {
        // SAFETY: the depth cell lives in the thread slot or in a `with_buffer` frame that
        // outlives every handle made under it; handles are `!Send`.
        if unsafe { self.depth.as_ref() }.get() != self.level {
            outer_scope_used();
        }
    }

    /// The address of the buffer object serving as the default, for identity checks
    /// (`with_buffer(&mut b, ..)` makes it `&b`'s address).
    pub fn addr(&self) -> *const () {
        match self.target {
            Target::Slab(p) => p.as_ptr().cast_const().cast(),
            Target::Fixed(p) => p.as_ptr().cast_const().cast(),
            Target::Lent(p) => p.as_ptr().cast_const().cast(),
        }
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn outer_scope_used() -> ! {
    panic!(
        "bumper: used an outer scope of the default buffer while an inner default-buffer scope \
         is open; the inner scope's end would free this allocation"
    )
}

/// The target buffer, borrowed for one operation.
enum TargetMut<'a> {
    Slab(&'a mut SlabBuffer),
    Fixed(&'a mut AllocBuffer<'static>),
    Lent(&'a mut dyn ErasedBuffer),
}

impl DefaultBuffer {
    #[inline(always)]
    fn target_mut(&mut self) -> TargetMut<'_> {
        // SAFETY: the target outlives the handle (the thread slot owns it, or a `with_buffer`
        // frame that encloses every handle made under it); handles are `!Send`, and the one
        // borrow made here ends with the operation, which doesn't call back into another handle.
        unsafe {
            match self.target {
                Target::Slab(p) => TargetMut::Slab(&mut *p.as_ptr()),
                Target::Fixed(p) => TargetMut::Fixed(&mut *p.as_ptr()),
                Target::Lent(p) => TargetMut::Lent(&mut *p.as_ptr()),
            }
        }
    }

    #[inline(always)]
    fn target_ref(&self) -> TargetRef<'_> {
        // SAFETY: as in `target_mut`, for a shared borrow.
        unsafe {
            match self.target {
                Target::Slab(p) => TargetRef::Slab(p.as_ref()),
                Target::Fixed(p) => TargetRef::Fixed(p.as_ref()),
                Target::Lent(p) => TargetRef::Lent(p.as_ref()),
            }
        }
    }
}

/// The target buffer, borrowed shared for one operation.
enum TargetRef<'a> {
    Slab(&'a SlabBuffer),
    Fixed(&'a AllocBuffer<'static>),
    Lent(&'a dyn ErasedBuffer),
}

// SAFETY: every method forwards to the target buffer, which keeps the `Buffer` promises; the
// target is valid while the handle lives (thread slot, or the `with_buffer` frame); the depth
// check keeps outer handles from allocating into an inner scope's region.
unsafe impl Buffer for DefaultBuffer {
    type Checkpoint = DefaultCheckpoint;

    #[inline(always)]
    fn try_alloc_layout(&mut self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        self.check_innermost();
        match self.target_mut() {
            TargetMut::Slab(b) => b.try_alloc_layout(layout),
            TargetMut::Fixed(b) => b.try_alloc_layout(layout),
            TargetMut::Lent(b) => b.erased_alloc(layout),
        }
    }

    #[inline]
    fn checkpoint(&self) -> DefaultCheckpoint {
        // No depth check: reading the position is harmless, and restoring a checkpoint is
        // `unsafe` with its own contract.
        match self.target_ref() {
            TargetRef::Slab(b) => DefaultCheckpoint::Slab(b.checkpoint()),
            TargetRef::Fixed(b) => DefaultCheckpoint::Fixed(b.checkpoint()),
            TargetRef::Lent(b) => DefaultCheckpoint::Lent(b.erased_checkpoint()),
        }
    }

    #[inline]
    unsafe fn restore(&mut self, checkpoint: DefaultCheckpoint) {
        // A handle's target never changes, so a checkpoint of the matching variant came from
        // this target; the rest of the contract is the caller's.
        match (self.target_mut(), checkpoint) {
            // SAFETY: see above.
            (TargetMut::Slab(b), DefaultCheckpoint::Slab(cp)) => unsafe { b.restore(cp) },
            // SAFETY: see above.
            (TargetMut::Fixed(b), DefaultCheckpoint::Fixed(cp)) => unsafe { b.restore(cp) },
            // SAFETY: see above.
            (TargetMut::Lent(b), DefaultCheckpoint::Lent(cp)) => unsafe { b.erased_restore(cp) },
            _ => panic!("DefaultBuffer::restore: the checkpoint belongs to another buffer"),
        }
    }

    fn reset(&mut self) {
        // Only the innermost user may reset; `with_default_buffer` hands out a handle only when
        // no scope is open on the buffer.
        self.check_innermost();
        match self.target_mut() {
            TargetMut::Slab(b) => b.reset(),
            TargetMut::Fixed(b) => b.reset(),
            TargetMut::Lent(b) => b.erased_reset(),
        }
    }

    fn stats(&self) -> Option<BufferStats> {
        match self.target_ref() {
            TargetRef::Slab(b) => b.stats(),
            TargetRef::Fixed(b) => b.stats(),
            TargetRef::Lent(b) => b.erased_stats(),
        }
    }
}

impl fmt::Debug for DefaultBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.target {
            Target::Slab(_) => "thread's slab buffer",
            Target::Fixed(_) => "thread's fixed buffer",
            Target::Lent(_) => "lent by with_buffer",
        };
        f.debug_struct("DefaultBuffer")
            .field("buffer", &kind)
            .field("level", &self.level)
            .field("stats", &self.stats())
            .finish()
    }
}

/// Decrements a depth counter when dropped (also on panic).
struct Leave(NonNull<Cell<usize>>);

impl Drop for Leave {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the counter outlives the scope that entered it (see `DefaultBuffer`).
        let depth = unsafe { self.0.as_ref() };
        depth.set(depth.get() - 1);
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
    let mut handle = with_slot(|slot| {
        let (target, depth) = slot.current();
        // SAFETY: the counter lives in the slot or a `with_buffer` frame that outlives us.
        let counter = unsafe { depth.as_ref() };
        let level = counter.get() + 1;
        counter.set(level);
        DefaultBuffer {
            target,
            depth,
            level,
        }
    });
    let _leave = Leave(handle.depth);
    run_scope(&mut handle, f)
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
///     let addr = bumper::with_default_buffer(|d| d.addr()).unwrap();
///     assert_eq!(addr, b2_addr);
///     bumper::no_escape(|s| { s.alloc(1u8); });
/// });
/// let outside = bumper::with_default_buffer(|d| d.addr()).unwrap();
/// assert_ne!(outside, b2_addr);
/// ```
pub fn with_buffer<B: Buffer, R>(buf: &mut B, f: impl FnOnce() -> R) -> R {
    #[allow(clippy::let_unit_value)]
    let () = Fits::<B>::CHECKPOINT;
    let depth = Cell::new(0usize);
    let erased: NonNull<dyn ErasedBuffer + '_> = NonNull::from(buf as &mut dyn ErasedBuffer);
    // SAFETY: only the lifetime bound of the trait object changes. The pointer is removed from
    // the slot (by `Restore` below, also on panic) before `buf`'s borrow ends, and every handle
    // made from it lives inside `f`.
    let erased: NonNull<dyn ErasedBuffer> = unsafe { mem::transmute(erased) };
    let lent = Lent {
        buf: erased,
        depth: NonNull::from(&depth),
    };

    struct Restore(Option<Lent>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0;
            with_slot(|slot| slot.lent.set(previous));
        }
    }

    let _restore = Restore(with_slot(|slot| slot.lent.replace(Some(lent))));
    f()
}

/// Gives `f` the thread's current default buffer whole: to reset it, read its stats, take a
/// checkpoint guard, or open a scope on it. Creates the thread's buffer if needed.
///
/// Refused with [`DefaultBufferError::ScopeOpen`] while a default scope is open on that buffer,
/// since a reset would free the open scope's allocations.
///
/// ```
/// use bumper::Buffer;
///
/// bumper::no_escape(|s| { s.alloc_slice_fill(100, 0u8); });
/// let used = bumper::with_default_buffer(|d| {
///     d.reset();
///     d.stats().unwrap().used
/// });
/// assert_eq!(used, Ok(0));
/// bumper::no_escape(|_| {
///     assert!(bumper::with_default_buffer(|d| d.reset()).is_err());
/// });
/// ```
pub fn with_default_buffer<R>(
    f: impl FnOnce(&mut DefaultBuffer) -> R,
) -> Result<R, DefaultBufferError> {
    let mut handle = with_slot(|slot| {
        let (target, depth) = slot.current();
        // SAFETY: as in `no_escape`.
        let counter = unsafe { depth.as_ref() };
        if counter.get() != 0 {
            return Err(DefaultBufferError::ScopeOpen);
        }
        counter.set(1);
        Ok(DefaultBuffer {
            target,
            depth,
            level: 1,
        })
    })?;
    let _leave = Leave(handle.depth);
    Ok(f(&mut handle))
}

/// Chooses the kind of default buffer this thread creates on first use (the seed's
/// `set_default_buffer_size!`). Refused once the thread's default buffer exists.
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
pub fn default_buffer_exists() -> bool {
    with_slot(|slot| slot.owned.get().is_some())
}
