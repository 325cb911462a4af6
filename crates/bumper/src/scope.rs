//! [`Scope`]: the handle a `no_escape` closure allocates through, and the typed allocation
//! forms.

use core::alloc::Layout;
use core::fmt;
use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ptr::{self, NonNull};

use crate::buffer::{Buffer, BufferStats};
use crate::error::{alloc_failed, AllocError};
use crate::zeroable::Zeroable;

/// An open scope on a buffer: everything allocated through it lives for `'s` and is freed at
/// once when the scope ends.
///
/// You get one from [`Buffer::no_escape`], [`no_escape`](crate::no_escape) (the thread's default
/// buffer), or [`CheckpointGuard::scope`](crate::CheckpointGuard::scope). Allocation takes
/// `&self`, so a scope hands out any number of `&'s mut` values at once; opening a nested scope
/// takes `&mut self`, so the outer scope can't allocate while an inner one is open, and the
/// outer allocations stay usable inside it.
///
/// Values stored in a scope are **never dropped**: their memory is reclaimed without running
/// `Drop` (which is safe, like [`core::mem::forget`]). Store plain data, or drop values yourself with
/// [`ptr::drop_in_place`] if that matters.
///
/// ```
/// use bumper::{AllocBuffer, Buffer};
///
/// let mut buf = AllocBuffer::with_capacity(1024);
/// buf.no_escape(|s| {
///     let a = s.alloc(1u64);
///     let b = s.alloc_slice_copy(&[2u64, 3]);
///     s.no_escape(|inner| {
///         let c = inner.alloc(4u64);
///         *a += *c + b[0] + b[1]; // outer allocations are usable inside
///     });
///     assert_eq!(*a, 10);
/// });
/// ```
pub struct Scope<'s, B: Buffer> {
    buf: NonNull<B>,
    /// Invariant in `'s`, so a scope's lifetime can't be stretched or swapped with another's;
    /// the raw pointer makes the handle `!Send` and `!Sync` (allocation mutates through `&self`).
    _scope: PhantomData<(Invariant<'s>, *mut B)>,
}

/// A marker invariant in `'s`.
type Invariant<'s> = fn(&'s ()) -> &'s ();

/// Restores the checkpoint when dropped, so a scope ends the same way on return and on panic.
struct RestoreOnDrop<B: Buffer> {
    buf: NonNull<B>,
    checkpoint: B::Checkpoint,
}

impl<B: Buffer> RestoreOnDrop<B> {
    /// Restores now, on the normal path, where it can be inlined (drop glue often is not).
    #[inline(always)]
    fn finish(self) {
        let this = core::mem::ManuallyDrop::new(self);
        this.restore();
    }

    #[inline(always)]
    fn restore(&self) {
        // SAFETY: the checkpoint was taken from this buffer when the scope opened; nested scopes
        // have all ended (they borrow the outer scope), nothing restored past it since, and the
        // scope's allocations can't be used any more (they were bound to the closure's lifetime).
        unsafe { (*self.buf.as_ptr()).restore(self.checkpoint) }
    }
}

impl<B: Buffer> Drop for RestoreOnDrop<B> {
    /// Only reached when the closure panics.
    fn drop(&mut self) {
        self.restore();
    }
}

/// Runs `f` in a scope on `*buf`, restoring the buffer afterwards, also on panic.
#[inline(always)]
pub(crate) fn run_scope<B, R, F>(buf: &mut B, f: F) -> R
where
    B: Buffer,
    F: for<'s> FnOnce(&mut Scope<'s, B>) -> R,
{
    // SAFETY: an exclusive borrow for the whole call.
    unsafe { run_scope_raw(NonNull::from(buf), f) }
}

/// [`run_scope`] on a raw pointer, for callers that keep another copy of the pointer.
///
/// # Safety
///
/// `buf` is valid for the call, and nothing else uses the buffer during the call except through
/// the scope handed to `f` (copies of the pointer may be used to *read or write the handle's own
/// fields* only when `f` is not running code of this scope, e.g. from a nested default scope).
#[inline(always)]
pub(crate) unsafe fn run_scope_raw<B, R, F>(buf: NonNull<B>, f: F) -> R
where
    B: Buffer,
    F: for<'s> FnOnce(&mut Scope<'s, B>) -> R,
{
    // SAFETY: `buf` is valid for the call (the caller's promise).
    let checkpoint = unsafe { buf.as_ref() }.checkpoint();
    let restore = RestoreOnDrop { buf, checkpoint };
    // SAFETY: the buffer is ours for this call; the scope can't leave `f`, whose higher-ranked
    // lifetime ends before `restore` runs.
    let mut scope = unsafe { Scope::new(buf) };
    let result = f(&mut scope);
    restore.finish();
    result
}

impl<'s, B: Buffer> Scope<'s, B> {
    /// # Safety
    ///
    /// `buf` is valid and used only through this scope for `'s`, and the buffer is not
    /// restored past its state at creation before `'s` ends.
    #[inline(always)]
    pub(crate) unsafe fn new(buf: NonNull<B>) -> Self {
        Scope {
            buf,
            _scope: PhantomData,
        }
    }

    /// Runs `f` in a nested scope: its allocations are freed when it returns (or panics), this
    /// scope's stay.
    ///
    /// ```
    /// use bumper::{Buffer, SlabBuffer};
    ///
    /// let mut buf = SlabBuffer::new();
    /// buf.no_escape(|s| {
    ///     s.alloc(0u64);
    ///     let used = s.stats().unwrap().used;
    ///     s.no_escape(|inner| {
    ///         inner.alloc_slice_fill(100, 0u64);
    ///     });
    ///     assert_eq!(s.stats().unwrap().used, used);
    /// });
    /// ```
    #[inline]
    pub fn no_escape<R, F>(&mut self, f: F) -> R
    where
        F: for<'t> FnOnce(&mut Scope<'t, B>) -> R,
    {
        // SAFETY: `&mut self` makes this scope's buffer exclusively ours for the call: this
        // scope can't allocate until the nested one ends. The same raw pointer is passed on (no
        // new `&mut` to the buffer), so copies of it elsewhere stay valid.
        unsafe { run_scope_raw(self.buf, f) }
    }

    /// The buffer's usage figures.
    #[must_use]
    pub fn stats(&self) -> Option<BufferStats> {
        // SAFETY: the buffer is valid for `'s`; no `&mut` to it is alive outside the calls of
        // this handle, which are not re-entrant.
        unsafe { (*self.buf.as_ptr()).stats() }
    }

    // ---- raw layouts --------------------------------------------------------------------

    /// Resizes the scope's newest block in place (see [`Buffer::try_resize_last`]).
    ///
    /// # Safety
    ///
    /// As [`Buffer::try_resize_last`]: `ptr` came from this scope's buffer for `old` and is live.
    #[inline]
    #[cfg_attr(not(feature = "allocator-api2"), allow(dead_code))]
    pub(crate) unsafe fn try_resize_last(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> bool {
        // SAFETY: as in `try_alloc_layout`; the block contract is the caller's.
        unsafe { (*self.buf.as_ptr()).try_resize_last(ptr, old, new_size) }
    }

    /// Allocates memory for `layout`, or says why it can't (leaving the buffer unchanged).
    ///
    /// # Errors
    ///
    /// The buffer's error ([`AllocError::BufferFull`] for a fixed buffer,
    /// [`AllocError::OutOfMemory`] for a growable one) if it can't serve the request. The buffer
    /// is unchanged after an error.
    #[inline(always)]
    pub fn try_alloc_layout(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        // SAFETY: the buffer is valid for `'s` and this `&mut` lives only for the call; the
        // scope is `!Sync` and the buffer's methods don't call back into it.
        unsafe { (*self.buf.as_ptr()).try_alloc_layout(layout) }
    }

    /// Allocates memory for `layout`; panics with the [`AllocError`] text if it can't.
    ///
    /// ```
    /// use core::alloc::Layout;
    /// let mut buf = bumper::AllocBuffer::with_capacity(256);
    /// bumper::Buffer::no_escape(&mut buf, |s| {
    ///     let p = s.alloc_layout(Layout::from_size_align(24, 16).unwrap());
    ///     assert_eq!(p.as_ptr() as usize % 16, 0);
    /// });
    /// ```
    #[inline(always)]
    #[track_caller]
    #[must_use]
    pub fn alloc_layout(&self, layout: Layout) -> NonNull<u8> {
        unwrap_alloc(self.try_alloc_layout(layout))
    }

    // ---- single values ------------------------------------------------------------------

    /// Moves `value` into the scope.
    ///
    /// ```
    /// let mut buf = bumper::AllocBuffer::with_capacity(64);
    /// bumper::Buffer::no_escape(&mut buf, |s| {
    ///     let x = s.alloc([1u8, 2, 3]);
    ///     x[0] = 7;
    ///     assert_eq!(*x, [7, 2, 3]);
    /// });
    /// ```
    #[inline(always)]
    #[track_caller]
    pub fn alloc<T>(&self, value: T) -> &'s mut T {
        unwrap_alloc(self.try_alloc(value))
    }

    /// Moves `value` into the scope, or returns the error (and drops `value`).
    ///
    /// # Errors
    ///
    /// The buffer's error ([`AllocError::BufferFull`] for a fixed buffer,
    /// [`AllocError::OutOfMemory`] for a growable one) if it can't serve the request. The buffer
    /// is unchanged after an error.
    #[inline(always)]
    pub fn try_alloc<T>(&self, value: T) -> Result<&'s mut T, AllocError> {
        let slot = self.try_alloc_uninit::<T>()?;
        Ok(slot.write(value))
    }

    /// Allocates the value `f` returns. Useful for large values built in place.
    #[inline(always)]
    #[track_caller]
    pub fn alloc_with<T>(&self, f: impl FnOnce() -> T) -> &'s mut T {
        unwrap_alloc(self.try_alloc_uninit::<T>()).write(f())
    }

    /// Uninitialised room for one `T`.
    #[inline(always)]
    #[track_caller]
    #[must_use]
    pub fn alloc_uninit<T>(&self) -> &'s mut MaybeUninit<T> {
        unwrap_alloc(self.try_alloc_uninit())
    }

    /// Uninitialised room for one `T`, or the error.
    ///
    /// # Errors
    ///
    /// The buffer's error ([`AllocError::BufferFull`] for a fixed buffer,
    /// [`AllocError::OutOfMemory`] for a growable one) if it can't serve the request. The buffer
    /// is unchanged after an error.
    #[inline(always)]
    pub fn try_alloc_uninit<T>(&self) -> Result<&'s mut MaybeUninit<T>, AllocError> {
        let ptr = self.try_alloc_layout(Layout::new::<T>())?;
        // SAFETY: the memory is aligned and sized for `T`, exclusively ours for `'s`;
        // `MaybeUninit` needs no initialisation.
        Ok(unsafe { &mut *ptr.as_ptr().cast::<MaybeUninit<T>>() })
    }

    // ---- slices -------------------------------------------------------------------------

    /// Uninitialised room for `len` values of `T`.
    #[inline(always)]
    #[track_caller]
    #[must_use]
    pub fn alloc_uninit_slice<T>(&self, len: usize) -> &'s mut [MaybeUninit<T>] {
        unwrap_alloc(self.try_alloc_uninit_slice(len))
    }

    /// Uninitialised room for `len` values of `T`, or the error
    /// ([`AllocError::SizeOverflow`] if `len * size_of::<T>()` overflows).
    ///
    /// # Errors
    ///
    /// [`AllocError::SizeOverflow`] if the request's byte size exceeds `isize::MAX`; otherwise
    /// the buffer's error ([`AllocError::BufferFull`] for a fixed buffer,
    /// [`AllocError::OutOfMemory`] for a growable one) if it can't serve the request. The buffer
    /// is unchanged after an error.
    #[inline(always)]
    pub fn try_alloc_uninit_slice<T>(
        &self,
        len: usize,
    ) -> Result<&'s mut [MaybeUninit<T>], AllocError> {
        let layout = Layout::array::<T>(len).map_err(|_| AllocError::SizeOverflow)?;
        let ptr = self.try_alloc_layout(layout)?;
        // SAFETY: aligned, `len * size_of::<T>()` bytes, exclusively ours for `'s`.
        Ok(unsafe {
            &mut *ptr::slice_from_raw_parts_mut(ptr.as_ptr().cast::<MaybeUninit<T>>(), len)
        })
    }

    /// `len` copies of `value`.
    ///
    /// ```
    /// let mut buf = bumper::AllocBuffer::with_capacity(64);
    /// bumper::Buffer::no_escape(&mut buf, |s| assert_eq!(s.alloc_slice_fill(3, 7u16), &[7, 7, 7]));
    /// ```
    #[inline]
    #[track_caller]
    pub fn alloc_slice_fill<T: Clone>(&self, len: usize, value: T) -> &'s mut [T] {
        unwrap_alloc(self.try_alloc_slice_fill(len, value))
    }

    /// `len` copies of `value`, or the error.
    ///
    /// # Errors
    ///
    /// [`AllocError::SizeOverflow`] if the request's byte size exceeds `isize::MAX`; otherwise
    /// the buffer's error ([`AllocError::BufferFull`] for a fixed buffer,
    /// [`AllocError::OutOfMemory`] for a growable one) if it can't serve the request. The buffer
    /// is unchanged after an error.
    #[inline]
    pub fn try_alloc_slice_fill<T: Clone>(
        &self,
        len: usize,
        value: T,
    ) -> Result<&'s mut [T], AllocError> {
        let slots = self.try_alloc_uninit_slice::<T>(len)?;
        Ok(fill_with(slots, |_| value.clone()))
    }

    /// A copy of `src`.
    ///
    /// ```
    /// let mut buf = bumper::AllocBuffer::with_capacity(64);
    /// bumper::Buffer::no_escape(&mut buf, |s| {
    ///     let y = s.alloc_slice_copy(&[1, 2, 3]);
    ///     y[0] = 10;
    ///     assert_eq!(y, &[10, 2, 3]);
    /// });
    /// ```
    #[inline]
    #[track_caller]
    pub fn alloc_slice_copy<T: Copy>(&self, src: &[T]) -> &'s mut [T] {
        unwrap_alloc(self.try_alloc_slice_copy(src))
    }

    /// A copy of `src`, or the error.
    ///
    /// # Errors
    ///
    /// [`AllocError::SizeOverflow`] if the request's byte size exceeds `isize::MAX`; otherwise
    /// the buffer's error ([`AllocError::BufferFull`] for a fixed buffer,
    /// [`AllocError::OutOfMemory`] for a growable one) if it can't serve the request. The buffer
    /// is unchanged after an error.
    #[inline]
    pub fn try_alloc_slice_copy<T: Copy>(&self, src: &[T]) -> Result<&'s mut [T], AllocError> {
        let slots = self.try_alloc_uninit_slice::<T>(src.len())?;
        // SAFETY: `slots` is fresh memory of `src.len()` elements, so the ranges don't overlap;
        // after the copy every element is initialised.
        unsafe {
            ptr::copy_nonoverlapping(src.as_ptr(), slots.as_mut_ptr().cast::<T>(), src.len());
            Ok(assume_init_slice(slots))
        }
    }

    /// A clone of every element of `src`.
    #[inline]
    #[track_caller]
    pub fn alloc_slice_clone<T: Clone>(&self, src: &[T]) -> &'s mut [T] {
        unwrap_alloc(self.try_alloc_slice_clone(src))
    }

    /// A clone of every element of `src`, or the error.
    ///
    /// # Errors
    ///
    /// [`AllocError::SizeOverflow`] if the request's byte size exceeds `isize::MAX`; otherwise
    /// the buffer's error ([`AllocError::BufferFull`] for a fixed buffer,
    /// [`AllocError::OutOfMemory`] for a growable one) if it can't serve the request. The buffer
    /// is unchanged after an error.
    #[inline]
    pub fn try_alloc_slice_clone<T: Clone>(&self, src: &[T]) -> Result<&'s mut [T], AllocError> {
        let slots = self.try_alloc_uninit_slice::<T>(src.len())?;
        Ok(fill_with(slots, |i| src[i].clone()))
    }

    /// `len` values made by `f(index)`.
    ///
    /// ```
    /// let mut buf = bumper::AllocBuffer::with_capacity(64);
    /// bumper::Buffer::no_escape(&mut buf, |s| {
    ///     assert_eq!(s.alloc_slice_fill_with(4, |i| i * i), &[0, 1, 4, 9]);
    /// });
    /// ```
    #[inline]
    #[track_caller]
    pub fn alloc_slice_fill_with<T>(&self, len: usize, f: impl FnMut(usize) -> T) -> &'s mut [T] {
        unwrap_alloc(self.try_alloc_slice_fill_with(len, f))
    }

    /// `len` values made by `f(index)`, or the error.
    ///
    /// # Errors
    ///
    /// [`AllocError::SizeOverflow`] if the request's byte size exceeds `isize::MAX`; otherwise
    /// the buffer's error ([`AllocError::BufferFull`] for a fixed buffer,
    /// [`AllocError::OutOfMemory`] for a growable one) if it can't serve the request. The buffer
    /// is unchanged after an error.
    #[inline]
    pub fn try_alloc_slice_fill_with<T>(
        &self,
        len: usize,
        f: impl FnMut(usize) -> T,
    ) -> Result<&'s mut [T], AllocError> {
        let slots = self.try_alloc_uninit_slice::<T>(len)?;
        Ok(fill_with(slots, f))
    }

    /// `len` zeroed values.
    ///
    /// ```
    /// let mut buf = bumper::AllocBuffer::with_capacity(64);
    /// bumper::Buffer::no_escape(&mut buf, |s| assert_eq!(s.alloc_slice_zeroed::<f32>(2), &[0.0, 0.0]));
    /// ```
    #[inline]
    #[track_caller]
    #[must_use]
    pub fn alloc_slice_zeroed<T: Zeroable>(&self, len: usize) -> &'s mut [T] {
        unwrap_alloc(self.try_alloc_slice_zeroed(len))
    }

    /// `len` zeroed values, or the error.
    ///
    /// # Errors
    ///
    /// [`AllocError::SizeOverflow`] if the request's byte size exceeds `isize::MAX`; otherwise
    /// the buffer's error ([`AllocError::BufferFull`] for a fixed buffer,
    /// [`AllocError::OutOfMemory`] for a growable one) if it can't serve the request. The buffer
    /// is unchanged after an error.
    #[inline]
    pub fn try_alloc_slice_zeroed<T: Zeroable>(
        &self,
        len: usize,
    ) -> Result<&'s mut [T], AllocError> {
        let slots = self.try_alloc_uninit_slice::<T>(len)?;
        // SAFETY: writing zero bytes over the fresh slice; `T: Zeroable` makes them valid values.
        unsafe {
            ptr::write_bytes(slots.as_mut_ptr(), 0, len);
            Ok(assume_init_slice(slots))
        }
    }

    /// The items of `iter`. Room for `iter.len()` items is taken first; if the iterator yields
    /// fewer, the slice is shorter, and items past `len()` are not taken.
    ///
    /// ```
    /// let mut buf = bumper::AllocBuffer::with_capacity(64);
    /// bumper::Buffer::no_escape(&mut buf, |s| {
    ///     let y = s.alloc_slice_from_iter([1, 2, 3].iter().map(|x| x + 1));
    ///     assert_eq!(y, &[2, 3, 4]);
    /// });
    /// ```
    #[inline]
    #[track_caller]
    pub fn alloc_slice_from_iter<T, I>(&self, iter: I) -> &'s mut [T]
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: ExactSizeIterator,
    {
        unwrap_alloc(self.try_alloc_slice_from_iter(iter))
    }

    /// The items of `iter`, or the error.
    ///
    /// # Errors
    ///
    /// [`AllocError::SizeOverflow`] if the request's byte size exceeds `isize::MAX`; otherwise
    /// the buffer's error ([`AllocError::BufferFull`] for a fixed buffer,
    /// [`AllocError::OutOfMemory`] for a growable one) if it can't serve the request. The buffer
    /// is unchanged after an error.
    #[inline]
    pub fn try_alloc_slice_from_iter<T, I>(&self, iter: I) -> Result<&'s mut [T], AllocError>
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: ExactSizeIterator,
    {
        let mut iter = iter.into_iter();
        let slots = self.try_alloc_uninit_slice::<T>(iter.len())?;
        let mut filled = 0;
        for slot in slots.iter_mut() {
            match iter.next() {
                Some(item) => {
                    slot.write(item);
                    filled += 1;
                }
                None => break,
            }
        }
        // SAFETY: the first `filled` elements were written just above.
        Ok(unsafe { assume_init_slice(&mut slots[..filled]) })
    }

    /// A copy of `s` as a `&str` in the scope.
    #[inline]
    #[track_caller]
    #[must_use]
    pub fn alloc_str(&self, s: &str) -> &'s mut str {
        let bytes = self.alloc_slice_copy(s.as_bytes());
        // SAFETY: a byte-for-byte copy of a valid `str`.
        unsafe { core::str::from_utf8_unchecked_mut(bytes) }
    }
}

/// Unwraps an allocation result, panicking (out of line) with the error's text.
#[inline(always)]
#[track_caller]
pub(crate) fn unwrap_alloc<T>(result: Result<T, AllocError>) -> T {
    match result {
        Ok(value) => value,
        Err(err) => alloc_failed(err),
    }
}

/// Writes `f(i)` into every slot. If `f` panics, the written values are leaked (never dropped),
/// which is safe.
#[inline]
fn fill_with<T>(slots: &mut [MaybeUninit<T>], mut f: impl FnMut(usize) -> T) -> &mut [T] {
    for (i, slot) in slots.iter_mut().enumerate() {
        slot.write(f(i));
    }
    // SAFETY: every slot was written in the loop.
    unsafe { assume_init_slice(slots) }
}

/// # Safety
/// Every element of `slots` is initialised.
#[inline(always)]
pub(crate) unsafe fn assume_init_slice<T>(slots: &mut [MaybeUninit<T>]) -> &mut [T] {
    // SAFETY: `MaybeUninit<T>` has the layout of `T`, and the caller promises initialisation.
    unsafe { &mut *(slots as *mut [MaybeUninit<T>] as *mut [T]) }
}

impl<B: Buffer> fmt::Debug for Scope<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("buffer", &core::any::type_name::<B>())
            .field("stats", &self.stats())
            .finish()
    }
}
