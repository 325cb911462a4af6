//! Carrying the current allocator into other threads: Rust threads don't inherit thread-locals,
//! so work spawned inside [`with_allocator`](crate::with_allocator) would allocate on the heap.
//! [`thread_scope`] (for `std::thread::scope`) and [`with_carry`] / [`Carry::wrap`] (for rayon
//! or any executor) take it along, and with it the heap arena (`HeapArena`, feature `router`) whose scope
//! the thread is in: each thread that enters the carry gets its own lane of that arena.

use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::thread::{Scope, ScopedJoinHandle};

use crate::context::{current, set_current, ArrayAllocator};
use crate::heap_carry::{self, HeapHandle};

/// What travels to other threads: the array allocator (if thread-safe) and the heap arena.
#[derive(Clone, Copy)]
struct Carried {
    alloc: Option<NonNull<dyn ArrayAllocator + Sync>>,
    heap: Option<HeapHandle>,
}

impl Carried {
    /// `name { has_allocator, has_heap_arena }`: the `Debug` of the types that carry it.
    fn fmt_as(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("has_allocator", &self.alloc.is_some())
            .field("has_heap_arena", &self.heap.is_some())
            .finish()
    }

    /// Runs `f` under both.
    fn enter<R>(self, f: impl FnOnce() -> R) -> R {
        let alloc = self.alloc.map(|p| p as NonNull<dyn ArrayAllocator>);
        match self.heap {
            // SAFETY: the arena outlives the `with_carry` call that took it (its scope is
            // running on the thread that called it), and every use is bounded by that call.
            Some(heap) => set_current(alloc, || unsafe { heap_carry::enter(heap, f) }),
            None => set_current(alloc, f),
        }
    }
}

/// The allocator current where it was taken, to enter on other threads. Only thread-safe
/// allocators travel ([`BumperAllocator`](crate::BumperAllocator)); under others, and outside
/// any `with_allocator`, it carries "no allocator" (the heap). If it was taken inside a
/// `HeapArena::scope`, entering it also enters a scope of that arena (with a lane of the
/// entering thread's own).
///
/// It borrows the `with_carry` call that made it, so the threads using it end before the
/// allocator's scope does.
#[derive(Clone, Copy)]
pub struct Carry<'a> {
    carried: Carried,
    _scope: PhantomData<&'a ()>,
}

// SAFETY: the allocator and the arena are `Sync`, and they outlive `'a` (see `with_carry`),
// which bounds every use of the handle on any thread.
unsafe impl Send for Carry<'_> {}
// SAFETY: as above; the handle itself is immutable.
unsafe impl Sync for Carry<'_> {}

impl<'a> Carry<'a> {
    /// Runs `f` on this thread with the carried allocator as its array allocator.
    pub fn enter<R>(&self, f: impl FnOnce() -> R) -> R {
        self.carried.enter(f)
    }

    /// Wraps `f` so every call runs under the carried allocator: for `par_iter().map(..)` and
    /// the like.
    ///
    /// ```
    /// use allocarrays::{with_allocator, with_carry, BumperAllocator};
    ///
    /// let alloc = BumperAllocator::with_fixed_capacity(1 << 20);
    /// let seen: Vec<bool> = with_allocator(&alloc, || {
    ///     with_carry(|carry| {
    ///         let check = carry.wrap(|_: usize| allocarrays::has_allocator());
    ///         let check = &check;
    ///         std::thread::scope(|s| {
    ///             let handles: Vec<_> = (0..2).map(|i| s.spawn(move || check(i))).collect();
    ///             handles.into_iter().map(|h| h.join().unwrap()).collect()
    ///         })
    ///     })
    /// });
    /// assert_eq!(seen, [true, true]);
    /// ```
    pub fn wrap<A, R, F>(self, f: F) -> impl Fn(A) -> R + Send + Sync + 'a
    where
        F: Fn(A) -> R + Send + Sync + 'a,
    {
        move |arg| self.enter(|| f(arg))
    }

    /// Whether an allocator is carried.
    #[must_use]
    pub fn has_allocator(&self) -> bool {
        self.carried.alloc.is_some()
    }

    /// Whether a heap arena is carried.
    #[must_use]
    pub fn has_heap_arena(&self) -> bool {
        self.carried.heap.is_some()
    }
}

impl fmt::Debug for Carry<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.carried.fmt_as("Carry", f)
    }
}

/// Takes the current allocator (if thread-safe) and heap arena into a [`Carry`] for the extent
/// of `f`.
pub fn with_carry<R>(f: impl for<'a> FnOnce(Carry<'a>) -> R) -> R {
    let alloc = current().and_then(|p| {
        // SAFETY: the current allocator is alive until the innermost `with_allocator` on this
        // thread returns, which is after this call.
        let sync = unsafe { p.as_ref() }.as_sync()?;
        let sync: NonNull<dyn ArrayAllocator + Sync + '_> = NonNull::from(sync);
        // SAFETY: only the lifetime bound changes; the handle's `'a` is this call, which the
        // allocator outlives (see above).
        let erased = unsafe {
            std::mem::transmute::<
                NonNull<dyn ArrayAllocator + Sync + '_>,
                NonNull<dyn ArrayAllocator + Sync>,
            >(sync)
        };
        Some(erased)
    });
    // The arena is in a scope on this thread, which lasts longer than this call.
    let heap = heap_carry::current();
    f(Carry {
        carried: Carried { alloc, heap },
        _scope: PhantomData,
    })
}

/// `std::thread::scope`, with every spawned thread running under the current allocator (the
/// seed's task inheritance of `with_allocator`).
///
/// ```
/// use allocarrays::{thread_scope, with_allocator, BumperAllocator};
///
/// let alloc = BumperAllocator::default();
/// with_allocator(&alloc, || {
///     thread_scope(|s| {
///         let h = s.spawn(|| allocarrays::has_allocator());
///         assert!(h.join().unwrap());
///     });
/// });
/// ```
pub fn thread_scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(AllocThreadScope<'scope, 'env>) -> T,
{
    with_carry(|carry| {
        // `std::thread::scope` joins every thread before it returns, so before `with_carry` ends.
        std::thread::scope(|scope| {
            f(AllocThreadScope {
                scope,
                carried: carry.carried,
            })
        })
    })
}

/// A `std::thread::Scope` whose threads run under the allocator current at [`thread_scope`].
#[derive(Clone, Copy)]
pub struct AllocThreadScope<'scope, 'env: 'scope> {
    scope: &'scope Scope<'scope, 'env>,
    carried: Carried,
}

// SAFETY: the allocator is `Sync` and outlives the `std::thread::scope` call (see
// `thread_scope`); the scope reference is `Send + Sync` itself.
unsafe impl Send for AllocThreadScope<'_, '_> {}
// SAFETY: as above.
unsafe impl Sync for AllocThreadScope<'_, '_> {}

impl<'scope, 'env> AllocThreadScope<'scope, 'env> {
    /// Spawns a scoped thread that runs `f` under the carried allocator.
    pub fn spawn<F, T>(&self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let carry = Carry {
            carried: self.carried,
            _scope: PhantomData::<&'scope ()>,
        };
        self.scope.spawn(move || carry.enter(f))
    }

    /// The underlying `std::thread::Scope`, for threads that should not use the allocator.
    pub fn std_scope(&self) -> &'scope Scope<'scope, 'env> {
        self.scope
    }
}

impl fmt::Debug for AllocThreadScope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.carried.fmt_as("AllocThreadScope", f)
    }
}

/// `rayon::scope`, with its body and every spawned task running under the current allocator
/// (and heap arena): `op` runs on a rayon worker thread when called from outside the pool, and
/// it gets the allocator there too.
///
/// ```
/// use allocarrays::{rayon_scope, with_allocator, BumperAllocator};
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// let alloc = BumperAllocator::default();
/// let seen = AtomicUsize::new(0);
/// with_allocator(&alloc, || {
///     rayon_scope(|s| {
///         for _ in 0..4 {
///             s.spawn(|_| {
///                 if allocarrays::has_allocator() {
///                     seen.fetch_add(1, Ordering::Relaxed);
///                 }
///             });
///         }
///     });
/// });
/// assert_eq!(seen.into_inner(), 4);
/// ```
#[cfg(feature = "rayon")]
pub fn rayon_scope<'scope, OP, R>(op: OP) -> R
where
    OP: FnOnce(&AllocRayonScope<'scope, '_>) -> R + Send,
    R: Send,
{
    with_carry(|carry| {
        let carried = SendCarried(carry.carried);
        rayon::scope(move |scope| carried.run(scope, op))
    })
}

/// A `rayon::Scope` whose tasks run under the allocator current at [`rayon_scope`].
#[cfg(feature = "rayon")]
pub struct AllocRayonScope<'scope, 'a> {
    scope: &'a rayon::Scope<'scope>,
    carried: Carried,
}

#[cfg(feature = "rayon")]
impl<'scope> AllocRayonScope<'scope, '_> {
    /// Spawns a task that runs `f` under the carried allocator.
    pub fn spawn<F>(&self, f: F)
    where
        F: for<'b> FnOnce(&AllocRayonScope<'scope, 'b>) + Send + 'scope,
    {
        let carried = SendCarried(self.carried);
        self.scope.spawn(move |scope| carried.run(scope, f));
    }
}

#[cfg(feature = "rayon")]
impl fmt::Debug for AllocRayonScope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.carried.fmt_as("AllocRayonScope", f)
    }
}

/// What is carried, moved into a closure run on another thread.
#[cfg(feature = "rayon")]
#[derive(Clone, Copy)]
struct SendCarried(Carried);

#[cfg(feature = "rayon")]
impl SendCarried {
    /// Runs `f` with an [`AllocRayonScope`] over `scope`, under the carried allocator: the body
    /// of `rayon_scope` and of every spawned task.
    fn run<'scope, R>(
        self,
        scope: &rayon::Scope<'scope>,
        f: impl FnOnce(&AllocRayonScope<'scope, '_>) -> R,
    ) -> R {
        self.0.enter(|| {
            f(&AllocRayonScope {
                scope,
                carried: self.0,
            })
        })
    }
}

// SAFETY: the allocator and the arena are `Sync`; `rayon::scope` finishes every task before
// `with_carry` returns, which both outlive.
#[cfg(feature = "rayon")]
unsafe impl Send for SendCarried {}
