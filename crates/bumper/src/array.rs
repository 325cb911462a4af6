//! n-dimensional allocation: scope memory viewed as [`ndarray::ArrayViewMut`].

use core::mem::MaybeUninit;

use ndarray::{ArrayViewMut, Dimension, IntoDimension};

use crate::buffer::Buffer;
use crate::error::AllocError;
use crate::scope::{unwrap_alloc, Scope};
use crate::zeroable::Zeroable;

impl<'s, B: Buffer> Scope<'s, B> {
    /// A zeroed n-d array of `shape` (row-major), e.g. `(n, m, o)`, `[n, m]`, `n` or `()`.
    ///
    /// Zero-length axes and zero-dimensional arrays work; a shape whose element count or byte
    /// size overflows panics with [`AllocError::SizeOverflow`] (see
    /// [`try_alloc_array_zeroed`](Scope::try_alloc_array_zeroed) for the `Result` form).
    ///
    /// ```
    /// use bumper::{Buffer, SlabBuffer};
    ///
    /// let mut buf = SlabBuffer::new();
    /// buf.no_escape(|s| {
    ///     let mut m = s.alloc_array_zeroed::<f64, _>((2, 3));
    ///     m[[1, 2]] = 5.0;
    ///     assert_eq!(m.sum(), 5.0);
    ///     assert_eq!(m.shape(), &[2, 3]);
    ///     let scalar = s.alloc_array_fill((), 7i32);
    ///     assert_eq!(scalar[()], 7);
    /// });
    /// ```
    #[inline]
    #[track_caller]
    pub fn alloc_array_zeroed<T: Zeroable, Sh: IntoDimension>(
        &self,
        shape: Sh,
    ) -> ArrayViewMut<'s, T, Sh::Dim> {
        unwrap_alloc(self.try_alloc_array_zeroed(shape))
    }

    /// A zeroed n-d array of `shape`, or the error.
    ///
    /// # Errors
    ///
    /// [`AllocError::SizeOverflow`] if the shape's element count or byte size exceeds `isize::MAX`; otherwise
    /// the buffer's error ([`AllocError::BufferFull`] for a fixed buffer,
    /// [`AllocError::OutOfMemory`] for a growable one) if it can't serve the request. The buffer
    /// is unchanged after an error.
    ///
    /// ```
    /// use bumper::{AllocBuffer, AllocError, Buffer};
    ///
    /// let mut buf = AllocBuffer::with_capacity(64);
    /// buf.no_escape(|s| {
    ///     let err = s.try_alloc_array_zeroed::<u64, _>((usize::MAX, 2)).unwrap_err();
    ///     assert_eq!(err, AllocError::SizeOverflow);
    ///     let empty = s.try_alloc_array_zeroed::<u64, _>((0, 5)).unwrap();
    ///     assert_eq!(empty.len(), 0);
    /// });
    /// ```
    #[inline]
    pub fn try_alloc_array_zeroed<T: Zeroable, Sh: IntoDimension>(
        &self,
        shape: Sh,
    ) -> Result<ArrayViewMut<'s, T, Sh::Dim>, AllocError> {
        let dim = shape.into_dimension();
        let slice = self.try_alloc_slice_zeroed::<T>(element_count(&dim)?)?;
        Ok(view(dim, slice))
    }

    /// An n-d array of `shape` with every element a clone of `value`.
    #[inline]
    #[track_caller]
    pub fn alloc_array_fill<T: Clone, Sh: IntoDimension>(
        &self,
        shape: Sh,
        value: T,
    ) -> ArrayViewMut<'s, T, Sh::Dim> {
        unwrap_alloc(self.try_alloc_array_fill(shape, value))
    }

    /// An n-d array of `shape` filled with `value`, or the error.
    ///
    /// # Errors
    ///
    /// [`AllocError::SizeOverflow`] if the shape's element count or byte size exceeds `isize::MAX`; otherwise
    /// the buffer's error ([`AllocError::BufferFull`] for a fixed buffer,
    /// [`AllocError::OutOfMemory`] for a growable one) if it can't serve the request. The buffer
    /// is unchanged after an error.
    #[inline]
    pub fn try_alloc_array_fill<T: Clone, Sh: IntoDimension>(
        &self,
        shape: Sh,
        value: T,
    ) -> Result<ArrayViewMut<'s, T, Sh::Dim>, AllocError> {
        let dim = shape.into_dimension();
        let slice = self.try_alloc_slice_fill(element_count(&dim)?, value)?;
        Ok(view(dim, slice))
    }

    /// An n-d array of `shape` with uninitialised elements, the seed's `@alloc`: write every
    /// element (e.g. with `ndarray::Zip` or `indexed_iter_mut`), then read it through
    /// `MaybeUninit::assume_init`.
    ///
    /// ```
    /// use bumper::{Buffer, SlabBuffer};
    ///
    /// let mut buf = SlabBuffer::new();
    /// buf.no_escape(|s| {
    ///     let mut m = s.alloc_array_uninit::<i64, _>((2, 2));
    ///     m.indexed_iter_mut().for_each(|((i, j), x)| { x.write((i * 2 + j) as i64); });
    ///     // SAFETY: every element was written above.
    ///     let m = m.map(|x| unsafe { x.assume_init() });
    ///     assert_eq!(m.sum(), 6);
    /// });
    /// ```
    #[inline]
    #[track_caller]
    pub fn alloc_array_uninit<T, Sh: IntoDimension>(
        &self,
        shape: Sh,
    ) -> ArrayViewMut<'s, MaybeUninit<T>, Sh::Dim> {
        unwrap_alloc(self.try_alloc_array_uninit(shape))
    }

    /// An n-d array of `shape` with uninitialised elements, or the error.
    ///
    /// # Errors
    ///
    /// [`AllocError::SizeOverflow`] if the shape's element count or byte size exceeds `isize::MAX`; otherwise
    /// the buffer's error ([`AllocError::BufferFull`] for a fixed buffer,
    /// [`AllocError::OutOfMemory`] for a growable one) if it can't serve the request. The buffer
    /// is unchanged after an error.
    #[inline]
    pub fn try_alloc_array_uninit<T, Sh: IntoDimension>(
        &self,
        shape: Sh,
    ) -> Result<ArrayViewMut<'s, MaybeUninit<T>, Sh::Dim>, AllocError> {
        let dim = shape.into_dimension();
        let slice = self.try_alloc_uninit_slice::<T>(element_count(&dim)?)?;
        Ok(view(dim, slice))
    }
}

/// The number of elements of `dim`, or `SizeOverflow` if it can't be an ndarray shape:
/// ndarray wants the product of the *non-zero* axis lengths within `isize::MAX` (also for
/// zero-sized element types, and also when another axis is 0 and the array is empty).
#[inline]
fn element_count<D: Dimension>(dim: &D) -> Result<usize, AllocError> {
    let mut product: usize = 1;
    let mut empty = false;
    for &len in dim.slice() {
        if len == 0 {
            empty = true;
        } else {
            product = product.checked_mul(len).ok_or(AllocError::SizeOverflow)?;
        }
    }
    if product > isize::MAX as usize {
        return Err(AllocError::SizeOverflow);
    }
    Ok(if empty { 0 } else { product })
}

#[inline]
fn view<'s, T, D: Dimension>(dim: D, slice: &'s mut [T]) -> ArrayViewMut<'s, T, D> {
    // The slice has exactly `dim.size()` elements and the standard (row-major) strides fit it.
    ArrayViewMut::from_shape(dim, slice).expect("slice length equals the shape's element count")
}
