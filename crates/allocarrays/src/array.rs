//! [`AllocArray`]: an owned, row-major n-d array whose memory comes from the current allocator
//! (the heap outside any [`with_allocator`](crate::with_allocator)), and [`AllocView`], a view
//! of one on which arithmetic makes new arrays the same way.
//!
//! Both are instances of generic types with a [`Checking`] kind: [`AllocArrayBase`] and
//! [`AllocViewBase`]. The checked kind ([`CheckedAllocArray`](crate::CheckedAllocArray)) shares
//! every line of code here; it only adds the check of the memory's validity before each
//! operation (see [`crate::checked`]). The methods the array and the view share are written
//! once, in `methods.rs`.

use std::fmt;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ops::{Index, IndexMut};

use ndarray::{
    Array, ArrayView, ArrayViewMut, Axis, Dimension, ErrorKind, IntoDimension, Ix1, IxDyn, NdIndex,
    ShapeError, SliceArg, Zip,
};
use num_traits::{One, Zero};

use crate::checked::{check_lease, invalid_memory, tracking, Checking, Unchecked};
use crate::epoch::Lease;
use crate::error::{or_panic, ArrayError};
use crate::ops::Operand;
use crate::storage::Storage;

/// An owned n-d array in row-major (C) order over memory from the heap or from an allocator,
/// generic over its [`Checking`] kind. Use the aliases: [`AllocArray`] (unchecked) and
/// [`CheckedAllocArray`](crate::CheckedAllocArray).
///
/// Every *new* array an operation makes (arithmetic, `map`, `similar`, `clone`, `dot`,
/// `sum_axis`, ...) takes its memory from the current allocator, set by
/// [`with_allocator`](crate::with_allocator); outside any, from the heap. Arrays made from
/// existing data (`From<ndarray::Array>`, `From<Vec>`, [`from_shape_vec`](Self::from_shape_vec))
/// keep that heap memory, like the seed's `AllocArray(arr)` wrapper.
///
/// Reading an ndarray function's way: [`view`](Self::view) gives an `ndarray::ArrayView`, so
/// every read-only `ndarray` function works on the array; [`view_mut`](Self::view_mut) gives
/// a mutable one. Mind that an `ndarray` method called on that view makes its new arrays on
/// the heap, as plain `ndarray` arrays: prefer the methods below, which keep to the allocator.
///
/// # Where results come from
///
/// The same for arrays and their views ([`AllocViewBase`]):
///
/// | result | methods | memory |
/// |---|---|---|
/// | a view of the same memory ([`AllocViewBase`], no copy) | [`alloc_view`](Self::alloc_view), [`slice`](Self::slice), [`t`](Self::t), [`reversed_axes`](Self::reversed_axes), [`row`](Self::row), [`column`](Self::column), [`index_axis`](Self::index_axis), [`axis_iter`](Self::axis_iter), [`outer_iter`](Self::outer_iter) | the array's |
/// | the same memory, another shape (owned arrays only) | [`reshape`](Self::reshape), [`insert_axis`](Self::insert_axis), [`into_dyn`](Self::into_dyn) | the array's |
/// | a new array ([`AllocArrayBase`]) | operators (`+ - * / %`, unary `-`), [`map`](Self::map), [`mapv`](Self::mapv), [`zip_with`](Self::zip_with), [`to_owned`](Self::to_owned), `clone`, [`similar`](Self::similar), [`similar_shaped`](Self::similar_shaped), [`zeros_like`](Self::zeros_like), [`sum_axis`](Self::sum_axis), [`mean_axis`](Self::mean_axis), [`fold_axis`](Self::fold_axis), [`map_axis`](Self::map_axis), [`dot`](Self::dot) (2-d results), constructors (`zeros`, `from_elem`, ...) | the current allocator (the heap outside any [`with_allocator`](crate::with_allocator)) |
/// | a plain `ndarray` array | [`to_array`](Self::to_array), [`into_array`](Self::into_array) | the heap, always |
/// | an `ndarray` view | [`view`](Self::view), [`view_mut`](Self::view_mut), [`slice_mut`](Self::slice_mut) | the array's (but `ndarray` methods on it make heap arrays) |
/// | a scalar | [`sum`](Self::sum), [`product`](Self::product), [`mean`](Self::mean), [`fold`](Self::fold), [`dot`](Self::dot) (1-d · 1-d) | - |
/// | nothing new (in place) | [`assign`](Self::assign), [`fill`](Self::fill), [`map_inplace`](Self::map_inplace), [`mapv_inplace`](Self::mapv_inplace), `+=` and friends | the array's |
///
/// Arrays made from existing data (`From<ndarray::Array>`, `From<Vec>`,
/// [`from_shape_vec`](Self::from_shape_vec)) keep that heap memory.
///
/// # Panics and `Result`s
///
/// Making a new array panics, at the caller's line, if the current allocator can't provide the
/// memory (a full fixed-capacity buffer) or the shape's size overflows; the `try_*`
/// constructors ([`try_zeros`](Self::try_zeros), [`try_from_elem`](Self::try_from_elem),
/// [`try_similar`](Self::try_similar), ...) return an [`ArrayError`](crate::ArrayError)
/// instead. Operators panic, also at the caller's line, when shapes can't be broadcast
/// together. Which calls check a checked array's memory: see
/// [`CheckedAllocArray`](crate::CheckedAllocArray).
///
/// Dropping the array drops its elements (also in an arena) and releases its memory: heap
/// memory is freed, arena memory is reclaimed by the allocator's next reset.
///
/// ```
/// use allocarrays::{with_allocator, AllocArray, BumperAllocator};
///
/// let alloc = BumperAllocator::with_fixed_capacity(1 << 20);
/// let a = AllocArray::from(ndarray::array![[1.0, 2.0], [3.0, 4.0]]); // heap, no copy
/// let total = with_allocator(&alloc, || {
///     let b = &a * 2.0 + &a; // both new arrays come from `alloc`
///     assert!(b.is_arena());
///     b.sum()
/// });
/// alloc.reset();
/// assert_eq!(total, 30.0);
/// ```
pub struct AllocArrayBase<A, D, K = Unchecked> {
    /// `dim.size()` elements, row-major.
    storage: Storage<A>,
    dim: D,
    kind: PhantomData<K>,
}

/// An unchecked [`AllocArrayBase`]: the Rust form of the seed's `AllocArray`.
///
/// ```
/// use allocarrays::AllocArray;
/// use ndarray::Ix2;
///
/// let a: AllocArray<f64, Ix2> = AllocArray::zeros((2, 3));
/// let b = a.similar(); // same shape, from the current allocator (here: the heap)
/// assert_eq!(b.shape(), &[2, 3]);
/// ```
pub type AllocArray<A, D> = AllocArrayBase<A, D, Unchecked>;

/// A borrowed view of an [`AllocArrayBase`] (a slice, a transpose, a row, or the whole array)
/// on which arithmetic, `map` and reductions work as on the array and make new arrays from the
/// current allocator. A view of a checked array checks the array's memory before every
/// operation. Use the aliases [`AllocView`] and [`CheckedView`](crate::CheckedView).
///
/// It has every read-only method of the array, written once for both (the table of
/// [`AllocArrayBase`] says where each result comes from): views of a view are views of the
/// same memory, for as long as the array is borrowed.
///
/// ```
/// use allocarrays::AllocArray;
/// use ndarray::s;
///
/// let a = AllocArray::from(ndarray::array![[1, 2], [3, 4], [5, 6], [7, 8]]);
/// let c = a.slice(s![0..2, ..]) + a.slice(s![2..4, ..]).t();
/// assert_eq!(c.view(), ndarray::array![[6, 9], [9, 12]]);
/// ```
pub struct AllocViewBase<'a, A, D, K = Unchecked> {
    view: ArrayView<'a, A, D>,
    /// The lease of the array viewed (none for heap memory).
    lease: Option<&'a Lease>,
    kind: PhantomData<K>,
}

/// A view of an [`AllocArray`].
///
/// ```
/// use allocarrays::{AllocArray, AllocView};
/// use ndarray::Ix2;
///
/// let a = AllocArray::from(ndarray::array![[1, 2], [3, 4]]);
/// let t: AllocView<'_, i32, Ix2> = a.t();
/// assert_eq!(t[(0, 1)], 3);
/// ```
pub type AllocView<'a, A, D> = AllocViewBase<'a, A, D, Unchecked>;

/// [`reshape`](AllocArrayBase::reshape) was asked for a shape with a different number of
/// elements.
///
/// ```
/// use allocarrays::AllocArray;
///
/// let a = AllocArray::from(vec![1, 2, 3]);
/// let err = a.reshape((2, 2)).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "cannot reshape an array of shape [3] (3 elements) into shape [2, 2] (4 elements)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReshapeError {
    from: Vec<usize>,
    to: Vec<usize>,
}

impl ReshapeError {
    /// The shape of the array.
    ///
    /// ```
    /// # let err = allocarrays::AllocArray::from(vec![1]).reshape(2).unwrap_err();
    /// assert_eq!(err.from(), &[1]);
    /// ```
    #[must_use]
    pub fn from(&self) -> &[usize] {
        &self.from
    }

    /// The shape asked for.
    ///
    /// ```
    /// # let err = allocarrays::AllocArray::from(vec![1]).reshape(2).unwrap_err();
    /// assert_eq!(err.to(), &[2]);
    /// ```
    #[must_use]
    pub fn to(&self) -> &[usize] {
        &self.to
    }
}

impl fmt::Display for ReshapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        /// The element count, or a note that it overflows.
        fn count(shape: &[usize]) -> String {
            match shape.iter().try_fold(1usize, |n, &len| n.checked_mul(len)) {
                Some(n) => format!("{n} elements"),
                None => "a number of elements that overflows usize".to_string(),
            }
        }
        write!(
            f,
            "cannot reshape an array of shape {:?} ({}) into shape {:?} ({})",
            self.from,
            count(&self.from),
            self.to,
            count(&self.to)
        )
    }
}

impl std::error::Error for ReshapeError {}

/// The panic for an index out of bounds.
#[cold]
#[track_caller]
fn index_out_of_bounds(shape: &[usize]) -> ! {
    panic!("index out of bounds for an array of shape {shape:?}")
}

// ---------------------------------------------------------------------------------------------
// The core: construction from storage, raw views, the check.

impl<A, D: Dimension, K: Checking> AllocArrayBase<A, D, K> {
    /// An array over `storage`, which holds `dim.size()` elements.
    #[inline]
    pub(crate) fn from_storage(storage: Storage<A>, dim: D) -> Self {
        debug_assert_eq!(storage.len(), dim.size());
        AllocArrayBase {
            storage,
            dim,
            kind: PhantomData,
        }
    }

    /// A new array of shape `dim` from the current allocator, element `i` (row-major) made by
    /// `f(i)`: `f` is called once for each `i` in `0..dim.size()`, in order (the contract of
    /// `Storage::try_from_fn`), and not at all on error.
    ///
    /// # Errors
    ///
    /// [`ArrayError::ShapeOverflow`] if the element count overflows `usize`; otherwise as
    /// `Storage::try_from_fn`.
    #[inline]
    pub(crate) fn try_new_with(dim: D, f: impl FnMut(usize) -> A) -> Result<Self, ArrayError> {
        let Some(len) = dim.size_checked() else {
            return Err(ArrayError::ShapeOverflow {
                shape: dim.slice().to_vec(),
            });
        };
        let storage = Storage::try_from_fn(len, tracking::<K>(), f)?;
        Ok(Self::from_storage(storage, dim))
    }

    /// [`try_new_with`](Self::try_new_with), panicking at the caller's line on error.
    #[inline]
    #[track_caller]
    pub(crate) fn new_with(dim: D, f: impl FnMut(usize) -> A) -> Self {
        or_panic(Self::try_new_with(dim, f))
    }

    /// A new array of shape `dim` from the current allocator, filled from `iter` (which
    /// yields at least `dim.size()` items).
    ///
    /// # Errors
    ///
    /// As [`try_new_with`](Self::try_new_with).
    #[inline]
    pub(crate) fn try_new_from_iter(
        dim: D,
        iter: impl IntoIterator<Item = A>,
    ) -> Result<Self, ArrayError> {
        let mut iter = iter.into_iter();
        Self::try_new_with(dim, |_| {
            iter.next()
                .expect("the iterator yields one item per element")
        })
    }

    pub(crate) fn storage(&self) -> &Storage<A> {
        &self.storage
    }

    /// The elements in row-major order, mutably, without the check.
    #[inline]
    pub(crate) fn storage_mut_slice(&mut self) -> &mut [A] {
        self.storage.as_mut_slice()
    }

    /// The same array as another kind (no check, no copy).
    pub(crate) fn into_kind<K2: Checking>(self) -> AllocArrayBase<A, D, K2> {
        AllocArrayBase {
            storage: self.storage,
            dim: self.dim,
            kind: PhantomData,
        }
    }

    /// The elements as an `ndarray` view, without the check.
    #[inline]
    pub(crate) fn raw_view(&self) -> ArrayView<'_, A, D> {
        // SAFETY: the storage holds `dim.size()` initialised, aligned, contiguous elements
        // (the invariant of `from_storage`; their byte size fits `isize` since they were
        // allocated), which is what a row-major view of shape `dim` reads; they are borrowed
        // shared for the view's lifetime. (`ArrayView::from_shape` would re-check all this on
        // every view, a cost paid once per operation.)
        unsafe { ArrayView::from_shape_ptr(self.dim.clone(), self.storage.as_ptr()) }
    }

    /// The elements as a mutable `ndarray` view, without the check.
    #[inline]
    pub(crate) fn raw_view_mut(&mut self) -> ArrayViewMut<'_, A, D> {
        // SAFETY: as in `raw_view`, with the elements borrowed exclusively for the view's
        // lifetime; a row-major view has no two indices on one element.
        unsafe { ArrayViewMut::from_shape_ptr(self.dim.clone(), self.storage.as_mut_ptr()) }
    }

    /// The whole array as an [`AllocViewBase`], without the check (the view's operations do
    /// it).
    #[inline]
    pub(crate) fn view_unchecked(&self) -> AllocViewBase<'_, A, D, K> {
        AllocViewBase::new(self.raw_view(), self.storage.lease())
    }

    /// The check, panicking.
    #[inline]
    #[track_caller]
    pub(crate) fn assert_valid(&self) {
        if check_lease::<K>(self.storage.lease()).is_err() {
            invalid_memory();
        }
    }

    /// The shape (for the methods shared with views).
    #[inline]
    pub(crate) fn shape_ref(&self) -> &[usize] {
        self.dim.slice()
    }

    /// The shape as a dimension value (for the methods shared with views).
    #[inline]
    pub(crate) fn dim_value(&self) -> D {
        self.dim.clone()
    }

    /// The lease (for the methods shared with views).
    #[inline]
    pub(crate) fn lease_ref(&self) -> Option<&Lease> {
        self.storage.lease()
    }

    /// The whole array as a view, after the check (for the methods shared with views).
    #[inline]
    #[track_caller]
    pub(crate) fn base(&self) -> AllocViewBase<'_, A, D, K> {
        self.assert_valid();
        self.view_unchecked()
    }

    pub(crate) fn into_array_unchecked(self) -> Array<A, D> {
        let dim = self.dim;
        Array::from_shape_vec(dim, self.storage.into_vec())
            .expect("the storage holds the shape's elements, row-major")
    }
}

impl<'a, A, D: Dimension, K: Checking> AllocViewBase<'a, A, D, K> {
    #[inline]
    pub(crate) fn new(view: ArrayView<'a, A, D>, lease: Option<&'a Lease>) -> Self {
        AllocViewBase {
            view,
            lease,
            kind: PhantomData,
        }
    }

    /// The `ndarray` view, without the check.
    #[inline]
    pub(crate) fn raw_view(&self) -> ArrayView<'a, A, D> {
        self.view.clone()
    }

    /// The check, panicking.
    #[inline]
    #[track_caller]
    pub(crate) fn assert_valid(&self) {
        if check_lease::<K>(self.lease).is_err() {
            invalid_memory();
        }
    }

    /// The shape (for the methods shared with arrays).
    #[inline]
    pub(crate) fn shape_ref(&self) -> &[usize] {
        self.view.shape()
    }

    /// The shape as a dimension value (for the methods shared with arrays).
    #[inline]
    pub(crate) fn dim_value(&self) -> D {
        self.view.raw_dim()
    }

    /// The lease (for the methods shared with arrays).
    #[inline]
    pub(crate) fn lease_ref(&self) -> Option<&'a Lease> {
        self.lease
    }

    /// The same view without the check (for the methods shared with arrays).
    #[inline]
    pub(crate) fn view_unchecked(&self) -> AllocViewBase<'a, A, D, K> {
        self.clone()
    }

    /// The same view, after the check (for the methods shared with arrays).
    #[inline]
    #[track_caller]
    pub(crate) fn base(&self) -> AllocViewBase<'a, A, D, K> {
        self.assert_valid();
        self.clone()
    }
}

// ---------------------------------------------------------------------------------------------
// Construction.

impl<A, D: Dimension, K: Checking> AllocArrayBase<A, D, K> {
    /// An array of `shape` over the elements of `vec` (row-major), keeping its heap memory (no
    /// copy), like the seed's `AllocArray(arr)`. Fails if the element count differs.
    ///
    /// ```
    /// use allocarrays::AllocArray;
    ///
    /// let a = AllocArray::from_shape_vec((2, 2), vec![1, 2, 3, 4]).unwrap();
    /// assert_eq!(a[(1, 0)], 3);
    /// assert!(AllocArray::from_shape_vec((2, 2), vec![1]).is_err());
    /// ```
    pub fn from_shape_vec<Sh>(shape: Sh, vec: Vec<A>) -> Result<Self, ShapeError>
    where
        Sh: IntoDimension<Dim = D>,
    {
        let dim = shape.into_dimension();
        if dim.size_checked() != Some(vec.len()) {
            return Err(ShapeError::from_kind(ErrorKind::IncompatibleShape));
        }
        Ok(Self::from_storage(Storage::from_vec(vec), dim))
    }

    /// A new array of zeros, from the current allocator.
    ///
    /// # Panics
    ///
    /// At the caller's line, if the memory can't be had or the shape's size overflows (see
    /// [`try_zeros`](Self::try_zeros)).
    ///
    /// ```
    /// use allocarrays::AllocArray;
    ///
    /// let a = AllocArray::<f32, _>::zeros((2, 3));
    /// assert_eq!(a.sum(), 0.0);
    /// ```
    #[must_use]
    #[track_caller]
    pub fn zeros<Sh>(shape: Sh) -> Self
    where
        Sh: IntoDimension<Dim = D>,
        A: Zero,
    {
        or_panic(Self::try_zeros(shape))
    }

    /// A new array of zeros, from the current allocator, or why it can't be made.
    ///
    /// # Errors
    ///
    /// [`ArrayError::ShapeOverflow`] or [`ArrayError::SizeOverflow`] if the shape's element
    /// count or byte size overflows; [`ArrayError::Alloc`] if the current allocator can't
    /// provide the memory (a full fixed-capacity buffer).
    ///
    /// ```
    /// use allocarrays::{with_allocator, AllocArray, ArrayError, BumperAllocator};
    ///
    /// let alloc = BumperAllocator::with_fixed_capacity(1024);
    /// with_allocator(&alloc, || {
    ///     assert!(AllocArray::<f64, _>::try_zeros(16).is_ok());
    ///     let err = AllocArray::<f64, _>::try_zeros(1 << 20).unwrap_err();
    ///     assert!(matches!(err, ArrayError::Alloc { .. }));
    /// });
    /// ```
    pub fn try_zeros<Sh>(shape: Sh) -> Result<Self, ArrayError>
    where
        Sh: IntoDimension<Dim = D>,
        A: Zero,
    {
        Self::try_new_with(shape.into_dimension(), |_| A::zero())
    }

    /// A new array of ones, from the current allocator.
    ///
    /// # Panics
    ///
    /// As [`zeros`](Self::zeros).
    ///
    /// ```
    /// use allocarrays::AllocArray;
    ///
    /// let a = AllocArray::<i64, _>::ones(4);
    /// assert_eq!(a.sum(), 4);
    /// ```
    #[must_use]
    #[track_caller]
    pub fn ones<Sh>(shape: Sh) -> Self
    where
        Sh: IntoDimension<Dim = D>,
        A: One,
    {
        or_panic(Self::try_new_with(shape.into_dimension(), |_| A::one()))
    }

    /// A new array with every element a clone of `elem`, from the current allocator.
    ///
    /// # Panics
    ///
    /// As [`zeros`](Self::zeros).
    ///
    /// ```
    /// use allocarrays::AllocArray;
    ///
    /// let a = AllocArray::from_elem((2, 2), "x".to_string());
    /// assert_eq!(a[[1, 1]], "x");
    /// ```
    #[must_use]
    #[track_caller]
    pub fn from_elem<Sh>(shape: Sh, elem: A) -> Self
    where
        Sh: IntoDimension<Dim = D>,
        A: Clone,
    {
        or_panic(Self::try_from_elem(shape, elem))
    }

    /// A new array with every element a clone of `elem`, from the current allocator, or why it
    /// can't be made.
    ///
    /// # Errors
    ///
    /// As [`try_zeros`](Self::try_zeros).
    ///
    /// ```
    /// use allocarrays::AllocArray;
    ///
    /// let a = AllocArray::try_from_elem(3, 7u8).unwrap();
    /// assert_eq!(a.as_slice(), &[7, 7, 7]);
    /// assert!(AllocArray::try_from_elem((usize::MAX, usize::MAX), 0u8).is_err());
    /// ```
    pub fn try_from_elem<Sh>(shape: Sh, elem: A) -> Result<Self, ArrayError>
    where
        Sh: IntoDimension<Dim = D>,
        A: Clone,
    {
        Self::try_new_with(shape.into_dimension(), |_| elem.clone())
    }

    /// A new array whose element at each index is `f(index)`, from the current allocator;
    /// `f` is called in row-major order.
    ///
    /// # Panics
    ///
    /// As [`zeros`](Self::zeros).
    ///
    /// ```
    /// use allocarrays::AllocArray;
    ///
    /// let a = AllocArray::from_shape_fn((2, 3), |(i, j)| 10 * i + j);
    /// assert_eq!(a.as_slice(), &[0, 1, 2, 10, 11, 12]);
    /// ```
    #[must_use]
    #[track_caller]
    pub fn from_shape_fn<Sh, F>(shape: Sh, f: F) -> Self
    where
        Sh: IntoDimension<Dim = D>,
        F: FnMut(D::Pattern) -> A,
    {
        or_panic(Self::try_from_shape_fn(shape, f))
    }

    /// A new array whose element at each index is `f(index)`, from the current allocator, or
    /// why it can't be made (then `f` is not called).
    ///
    /// # Errors
    ///
    /// As [`try_zeros`](Self::try_zeros).
    ///
    /// ```
    /// use allocarrays::AllocArray;
    ///
    /// let a = AllocArray::try_from_shape_fn(3, |i| i * i).unwrap();
    /// assert_eq!(a.as_slice(), &[0, 1, 4]);
    /// ```
    pub fn try_from_shape_fn<Sh, F>(shape: Sh, mut f: F) -> Result<Self, ArrayError>
    where
        Sh: IntoDimension<Dim = D>,
        F: FnMut(D::Pattern) -> A,
    {
        let dim = shape.into_dimension();
        if dim.size_checked().is_none() {
            // Checked before `indices` is made: it would overflow too.
            return Err(ArrayError::ShapeOverflow {
                shape: dim.slice().to_vec(),
            });
        }
        let indices = ndarray::indices(dim.clone()).into_iter();
        Self::try_new_from_iter(dim, indices.map(&mut f))
    }
}

impl<A, D: Dimension, K: Checking> From<Array<A, D>> for AllocArrayBase<A, D, K> {
    /// Wraps an `ndarray::Array`, keeping its heap memory (no copy when it is in standard
    /// layout; otherwise the elements are moved into row-major order).
    ///
    /// ```
    /// use allocarrays::AllocArray;
    ///
    /// let a = AllocArray::from(ndarray::array![[1, 2], [3, 4]]);
    /// assert!(!a.is_arena());
    /// let t = AllocArray::from(ndarray::array![[1, 2], [3, 4]].reversed_axes());
    /// assert_eq!(t.as_slice(), &[1, 3, 2, 4]);
    /// ```
    fn from(array: Array<A, D>) -> Self {
        let dim = array.raw_dim();
        let len = array.len();
        if !array.is_standard_layout() {
            let vec: Vec<A> = array.into_iter().collect();
            return Self::from_storage(Storage::from_vec(vec), dim);
        }
        let (mut vec, offset) = array.into_raw_vec_and_offset();
        // In standard layout the elements are `vec[offset..offset + len]`, in order; drop the
        // rest (left by a slicing of the array), if any.
        let offset = if len == 0 { 0 } else { offset.unwrap_or(0) };
        vec.truncate(offset + len);
        vec.drain(..offset);
        Self::from_storage(Storage::from_vec(vec), dim)
    }
}

impl<A, K: Checking> From<Vec<A>> for AllocArrayBase<A, Ix1, K> {
    /// A 1-d array over the vector's heap memory (no copy).
    ///
    /// ```
    /// use allocarrays::AllocArray;
    ///
    /// let a = AllocArray::from(vec![1, 2, 3]);
    /// assert_eq!(a.len(), 3);
    /// ```
    fn from(vec: Vec<A>) -> Self {
        let dim = Ix1(vec.len());
        Self::from_storage(Storage::from_vec(vec), dim)
    }
}

impl<'a, A, D: Dimension, K: Checking> From<ArrayView<'a, A, D>> for AllocViewBase<'a, A, D, K> {
    /// Treats an `ndarray` view as an [`AllocViewBase`], so arithmetic on it makes arrays from
    /// the current allocator. (Its memory is not an arena's, so checks always pass.)
    ///
    /// ```
    /// use allocarrays::AllocView;
    ///
    /// let x = ndarray::array![1, 2, 3];
    /// let y = AllocView::from(x.view()) * 2;
    /// assert_eq!(y.as_slice(), &[2, 4, 6]);
    /// ```
    fn from(view: ArrayView<'a, A, D>) -> Self {
        AllocViewBase::new(view, None)
    }
}

impl<A, D: Dimension, K: Checking> From<AllocArrayBase<A, D, K>> for Array<A, D> {
    /// The elements in a heap `ndarray::Array`: the same memory for a heap array, a move for
    /// an arena array. Panics for a checked array whose memory is invalid.
    ///
    /// ```
    /// use allocarrays::AllocArray;
    /// use ndarray::Array1;
    ///
    /// let a = AllocArray::from(vec![1, 2]);
    /// assert_eq!(Array1::from(a), ndarray::array![1, 2]);
    /// ```
    #[track_caller]
    fn from(array: AllocArrayBase<A, D, K>) -> Self {
        array.into_array()
    }
}

// ---------------------------------------------------------------------------------------------
// The operations of owned arrays only (those shared with views are in `methods.rs`).

impl<A, D: Dimension, K: Checking> AllocArrayBase<A, D, K> {
    /// A mutable `ndarray` view of the elements. Checked arrays check their memory first.
    ///
    /// ```
    /// let mut a = allocarrays::AllocArray::from(vec![1, 2, 3]);
    /// a.view_mut().slice_mut(ndarray::s![1..]).fill(0);
    /// assert_eq!(a.as_slice(), &[1, 0, 0]);
    /// ```
    #[inline]
    #[track_caller]
    pub fn view_mut(&mut self) -> ArrayViewMut<'_, A, D> {
        self.assert_valid();
        self.raw_view_mut()
    }

    /// The elements in row-major order.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(ndarray::array![[1, 2], [3, 4]]);
    /// assert_eq!(a.as_slice(), &[1, 2, 3, 4]);
    /// ```
    #[inline]
    #[track_caller]
    pub fn as_slice(&self) -> &[A] {
        self.assert_valid();
        self.storage.as_slice()
    }

    /// The elements in row-major order, mutably.
    ///
    /// ```
    /// let mut a = allocarrays::AllocArray::from(vec![1, 2]);
    /// a.as_slice_mut()[0] = 7;
    /// assert_eq!(a.as_slice(), &[7, 2]);
    /// ```
    #[inline]
    #[track_caller]
    pub fn as_slice_mut(&mut self) -> &mut [A] {
        self.assert_valid();
        self.storage.as_mut_slice()
    }

    /// The element at `index`, mutably, or `None` if out of bounds.
    ///
    /// ```
    /// let mut a = allocarrays::AllocArray::from(vec![1, 2]);
    /// *a.get_mut(1).unwrap() = 5;
    /// assert_eq!(a.as_slice(), &[1, 5]);
    /// ```
    #[track_caller]
    pub fn get_mut<I: NdIndex<D>>(&mut self, index: I) -> Option<&mut A> {
        let offset = self.offset_of(index)?;
        Some(&mut self.storage.as_mut_slice()[offset])
    }

    /// The position of `index` in the storage, after the check.
    #[inline]
    #[track_caller]
    fn offset_of<I: NdIndex<D>>(&self, index: I) -> Option<usize> {
        let view = self.view();
        let element = view.get_ptr(index)?;
        let size = std::mem::size_of::<A>();
        if size == 0 {
            return Some(0);
        }
        // Plain address arithmetic: the element lies in the storage, row-major from its start.
        Some((element.addr() - self.storage.as_ptr().addr()) / size)
    }

    /// A mutable `ndarray` view of a slice of the array.
    ///
    /// ```
    /// let mut a = allocarrays::AllocArray::from(vec![1, 2, 3, 4]);
    /// a.slice_mut(ndarray::s![..2]).fill(0);
    /// assert_eq!(a.as_slice(), &[0, 0, 3, 4]);
    /// ```
    #[track_caller]
    pub fn slice_mut<I: SliceArg<D>>(&mut self, info: I) -> ArrayViewMut<'_, A, I::OutDim> {
        self.view_mut().slice_move(info)
    }

    /// A new array of the same shape from the current allocator (the seed's `similar(a)`),
    /// filled with `A::default()`. Only the shape is read (no check).
    ///
    /// # Panics
    ///
    /// At the caller's line, if the memory can't be had (see [`try_similar`](Self::try_similar)).
    ///
    /// ```
    /// use allocarrays::{with_allocator, AllocArray, BumperAllocator};
    ///
    /// let a = AllocArray::from(vec![1.0, 2.0]);
    /// assert!(!a.similar().is_arena()); // outside `with_allocator`: the heap
    /// let alloc = BumperAllocator::with_fixed_capacity(1 << 16);
    /// assert!(with_allocator(&alloc, || a.similar().is_arena()));
    /// ```
    #[must_use]
    #[track_caller]
    pub fn similar(&self) -> Self
    where
        A: Default,
    {
        or_panic(self.try_similar())
    }

    /// [`similar`](Self::similar), or why the array can't be made.
    ///
    /// # Errors
    ///
    /// [`ArrayError::Alloc`] if the current allocator can't provide the memory (a full
    /// fixed-capacity buffer).
    ///
    /// ```
    /// use allocarrays::{with_allocator, AllocArray, BumperAllocator};
    ///
    /// let a = AllocArray::<f64, _>::zeros(1000);
    /// let alloc = BumperAllocator::with_fixed_capacity(64);
    /// assert!(with_allocator(&alloc, || a.try_similar()).is_err());
    /// ```
    pub fn try_similar(&self) -> Result<Self, ArrayError>
    where
        A: Default,
    {
        Self::try_new_with(self.dim.clone(), |_| A::default())
    }

    /// A new array of the element type with another shape, from the current allocator (the
    /// seed's `similar(a, dims...)`), filled with `A::default()`.
    ///
    /// # Panics
    ///
    /// At the caller's line, if the memory can't be had or the shape's size overflows (see
    /// [`try_similar_shaped`](Self::try_similar_shaped)).
    ///
    /// ```
    /// use allocarrays::AllocArray;
    ///
    /// let c = AllocArray::from(vec![1.0f32, 2.0]);
    /// let m = c.similar_shaped((100, 100)); // the seed's `similar(c, 100, 100)`
    /// assert_eq!(m.shape(), &[100, 100]);
    /// assert_eq!(m.sum(), 0.0);
    /// ```
    #[must_use]
    #[track_caller]
    pub fn similar_shaped<Sh>(&self, shape: Sh) -> AllocArrayBase<A, Sh::Dim, K>
    where
        Sh: IntoDimension,
        A: Default,
    {
        or_panic(self.try_similar_shaped(shape))
    }

    /// [`similar_shaped`](Self::similar_shaped), or why the array can't be made.
    ///
    /// # Errors
    ///
    /// As [`try_zeros`](Self::try_zeros).
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(vec![1u8]);
    /// assert_eq!(a.try_similar_shaped((2, 3)).unwrap().len(), 6);
    /// assert!(a.try_similar_shaped((usize::MAX, 3)).is_err());
    /// ```
    pub fn try_similar_shaped<Sh>(
        &self,
        shape: Sh,
    ) -> Result<AllocArrayBase<A, Sh::Dim, K>, ArrayError>
    where
        Sh: IntoDimension,
        A: Default,
    {
        AllocArrayBase::try_new_with(shape.into_dimension(), |_| A::default())
    }

    /// A new array of zeros of the same shape, from the current allocator.
    ///
    /// # Panics
    ///
    /// As [`similar`](Self::similar).
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(vec![1.0, 2.0]);
    /// assert_eq!(a.zeros_like().as_slice(), &[0.0, 0.0]);
    /// ```
    #[must_use]
    #[track_caller]
    pub fn zeros_like(&self) -> Self
    where
        A: Zero,
    {
        Self::new_with(self.dim.clone(), |_| A::zero())
    }

    /// A new array of the same shape with uninitialised elements, from the current allocator;
    /// write every element, then call [`assume_init`](AllocArrayBase::assume_init).
    ///
    /// # Panics
    ///
    /// As [`similar`](Self::similar).
    ///
    /// ```
    /// use std::mem::MaybeUninit;
    ///
    /// let a = allocarrays::AllocArray::from(vec![1, 2, 3]);
    /// let mut b = a.similar_uninit();
    /// for (slot, x) in b.as_slice_mut().iter_mut().zip(a.iter()) {
    ///     slot.write(x * 10);
    /// }
    /// // SAFETY: every element was written.
    /// let b = unsafe { b.assume_init() };
    /// assert_eq!(b.as_slice(), &[10, 20, 30]);
    /// ```
    #[must_use]
    #[track_caller]
    pub fn similar_uninit(&self) -> AllocArrayBase<MaybeUninit<A>, D, K> {
        AllocArrayBase::new_with(self.dim.clone(), |_| MaybeUninit::uninit())
    }

    /// Sets every element from `rhs` (an array, view, `ndarray` array or [`Scalar`]
    /// broadcast to this shape): the seed's `b .= a`. Panics if `rhs` can't be broadcast to
    /// the shape.
    ///
    /// [`Scalar`]: crate::Scalar
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(ndarray::array![[1, 2], [3, 4]]);
    /// let mut b = a.similar();
    /// b.assign(&a);
    /// assert_eq!(b, a);
    /// b.assign(ndarray::array![0, 9]); // broadcast along the rows
    /// assert_eq!(b.as_slice(), &[0, 9, 0, 9]);
    /// ```
    #[track_caller]
    pub fn assign<R>(&mut self, rhs: R)
    where
        R: Operand<Elem = A>,
        A: Clone,
    {
        self.assert_valid();
        let done = rhs.with_view(|rhs| {
            // The seed's `b .= a` of a same-shape row-major array: one slice copy (a `memcpy`
            // for `Copy` elements).
            match rhs.to_slice() {
                Some(src) if rhs.shape() == self.shape() => {
                    self.storage.as_mut_slice().clone_from_slice(src);
                    Ok(())
                }
                _ => self.zip_mut_view(rhs, |x, y| *x = y.clone()),
            }
        });
        or_panic(done);
    }

    /// Calls `f(element, rhs element)` for every element, with `rhs` broadcast to this shape
    /// (the engine of `+=` and friends). Panics if `rhs` can't be broadcast to the shape.
    ///
    /// ```
    /// let mut a = allocarrays::AllocArray::from(vec![1, 2, 3]);
    /// a.zip_mut_with(ndarray::array![10], |x, y| *x += y);
    /// assert_eq!(a.as_slice(), &[11, 12, 13]);
    /// ```
    #[track_caller]
    pub fn zip_mut_with<R, F>(&mut self, rhs: R, mut f: F)
    where
        R: Operand,
        F: FnMut(&mut A, &R::Elem),
    {
        self.assert_valid();
        or_panic(rhs.with_view(|rhs| self.zip_mut_view(rhs, &mut f)));
    }

    /// `f(element, rhs element)` for every element, `rhs` broadcast to this shape; no check.
    ///
    /// # Errors
    ///
    /// [`ArrayError::BroadcastTo`] if `rhs` can't be broadcast to the shape.
    fn zip_mut_view<B, E: Dimension>(
        &mut self,
        rhs: ArrayView<'_, B, E>,
        f: impl FnMut(&mut A, &B),
    ) -> Result<(), ArrayError> {
        let Some(rhs) = rhs.broadcast(self.dim.clone()) else {
            return Err(ArrayError::BroadcastTo {
                from: rhs.shape().to_vec(),
                to: self.shape().to_vec(),
            });
        };
        Zip::from(self.raw_view_mut()).and(rhs).for_each(f);
        Ok(())
    }

    /// Sets every element to a clone of `value`.
    ///
    /// ```
    /// let mut a = allocarrays::AllocArray::from(vec![1, 2]);
    /// a.fill(0);
    /// assert_eq!(a.as_slice(), &[0, 0]);
    /// ```
    #[track_caller]
    pub fn fill(&mut self, value: A)
    where
        A: Clone,
    {
        self.as_slice_mut().fill(value);
    }

    /// Applies `f` to every element in place.
    ///
    /// ```
    /// let mut a = allocarrays::AllocArray::from(vec![1, 2]);
    /// a.map_inplace(|x| *x *= 3);
    /// assert_eq!(a.as_slice(), &[3, 6]);
    /// ```
    #[track_caller]
    pub fn map_inplace<F: FnMut(&mut A)>(&mut self, f: F) {
        self.as_slice_mut().iter_mut().for_each(f);
    }

    /// Replaces every element `x` by `f(x)` in place.
    ///
    /// ```
    /// let mut a = allocarrays::AllocArray::from(vec![1.0_f64, 4.0]);
    /// a.mapv_inplace(f64::sqrt);
    /// assert_eq!(a.as_slice(), &[1.0, 2.0]);
    /// ```
    #[track_caller]
    pub fn mapv_inplace<F: FnMut(A) -> A>(&mut self, mut f: F)
    where
        A: Clone,
    {
        self.map_inplace(|x| *x = f(x.clone()));
    }

    /// The same elements with another shape of the same element count (no copy, same memory,
    /// same validity). Checked arrays check their memory first.
    ///
    /// # Errors
    ///
    /// [`ReshapeError`] if the element counts differ (also when the new shape's count
    /// overflows `usize`).
    ///
    /// ```
    /// use allocarrays::AllocArray;
    ///
    /// let a = AllocArray::from(vec![1, 2, 3, 4, 5, 6]);
    /// let b = a.reshape((2, 3)).unwrap();
    /// assert_eq!(b[(1, 0)], 4);
    /// assert!(b.reshape(4).is_err());
    /// ```
    #[track_caller]
    pub fn reshape<Sh>(self, shape: Sh) -> Result<AllocArrayBase<A, Sh::Dim, K>, ReshapeError>
    where
        Sh: IntoDimension,
    {
        self.assert_valid();
        let dim = shape.into_dimension();
        if dim.size_checked() != Some(self.len()) {
            return Err(ReshapeError {
                from: self.shape().to_vec(),
                to: dim.slice().to_vec(),
            });
        }
        Ok(AllocArrayBase::from_storage(self.storage, dim))
    }

    /// The array with a new axis of length 1 inserted at `axis` (no copy). Checked arrays
    /// check their memory first. Panics if `axis` is greater than the number of axes.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(vec![1, 2, 3]);
    /// let column = a.insert_axis(ndarray::Axis(1));
    /// assert_eq!(column.shape(), &[3, 1]);
    /// ```
    #[must_use]
    #[track_caller]
    pub fn insert_axis(self, axis: Axis) -> AllocArrayBase<A, D::Larger, K> {
        self.assert_valid();
        assert!(
            axis.index() <= self.ndim(),
            "insert_axis: axis {} out of bounds for an array of {} axes",
            axis.index(),
            self.ndim()
        );
        let dim = self.dim.insert_axis(axis);
        AllocArrayBase::from_storage(self.storage, dim)
    }

    /// The array with a dynamic number of axes (no copy). Checked arrays check their memory
    /// first.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(vec![1, 2, 3]);
    /// assert_eq!(a.into_dyn().shape(), &[3]);
    /// ```
    #[must_use]
    #[track_caller]
    pub fn into_dyn(self) -> AllocArrayBase<A, IxDyn, K> {
        self.assert_valid();
        let dim = self.dim.into_dyn();
        AllocArrayBase::from_storage(self.storage, dim)
    }

    /// The elements as a heap `ndarray::Array`: the same memory for a heap array (no copy), a
    /// move of the elements for an arena array. Checked arrays check their memory first.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(vec![1, 2]);
    /// assert_eq!(a.into_array(), ndarray::array![1, 2]);
    /// ```
    #[must_use]
    #[track_caller]
    pub fn into_array(self) -> Array<A, D> {
        self.assert_valid();
        self.into_array_unchecked()
    }
}

impl<A, D: Dimension, K: Checking> AllocArrayBase<MaybeUninit<A>, D, K> {
    /// A new array of uninitialised elements, from the current allocator; write every
    /// element, then call [`assume_init`](Self::assume_init).
    ///
    /// # Panics
    ///
    /// As [`zeros`](AllocArrayBase::zeros) (see [`try_uninit`](Self::try_uninit)).
    ///
    /// ```
    /// use allocarrays::AllocArray;
    /// use std::mem::MaybeUninit;
    ///
    /// let mut a = AllocArray::<MaybeUninit<String>, _>::uninit(2);
    /// a[0].write("a".into());
    /// a[1].write("b".into());
    /// // SAFETY: both elements were written.
    /// let a = unsafe { a.assume_init() };
    /// assert_eq!(a.as_slice(), &["a", "b"]);
    /// ```
    #[must_use]
    #[track_caller]
    pub fn uninit<Sh>(shape: Sh) -> Self
    where
        Sh: IntoDimension<Dim = D>,
    {
        or_panic(Self::try_uninit(shape))
    }

    /// [`uninit`](Self::uninit), or why the array can't be made.
    ///
    /// # Errors
    ///
    /// As [`try_zeros`](AllocArrayBase::try_zeros).
    ///
    /// ```
    /// use allocarrays::AllocArray;
    /// use std::mem::MaybeUninit;
    ///
    /// assert!(AllocArray::<MaybeUninit<u64>, _>::try_uninit((usize::MAX, 2)).is_err());
    /// ```
    pub fn try_uninit<Sh>(shape: Sh) -> Result<Self, ArrayError>
    where
        Sh: IntoDimension<Dim = D>,
    {
        Self::try_new_with(shape.into_dimension(), |_| MaybeUninit::uninit())
    }

    /// The array with its elements taken as initialised: the same memory, re-typed in place
    /// (no copy).
    ///
    /// # Safety
    ///
    /// Every element must have been written.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::<u8, _>::zeros(2);
    /// let mut b = a.similar_uninit();
    /// b.as_slice_mut().iter_mut().for_each(|x| { x.write(1); });
    /// // SAFETY: every element was written.
    /// assert_eq!(unsafe { b.assume_init() }.sum(), 2);
    /// ```
    #[must_use]
    #[track_caller]
    pub unsafe fn assume_init(self) -> AllocArrayBase<A, D, K> {
        self.assert_valid();
        let AllocArrayBase { storage, dim, .. } = self;
        // SAFETY: the caller promises every element is initialised.
        AllocArrayBase::from_storage(unsafe { storage.assume_init() }, dim)
    }
}

// ---------------------------------------------------------------------------------------------
// Standard traits.

impl<A: Clone, D: Dimension, K: Checking> Clone for AllocArrayBase<A, D, K> {
    /// A copy in memory from the current allocator (the heap outside any `with_allocator`).
    /// Checked arrays check their memory first. Panics, at the caller's line, if the memory
    /// can't be had.
    ///
    /// ```
    /// use allocarrays::{with_allocator, AllocArray, BumperAllocator};
    ///
    /// let alloc = BumperAllocator::with_fixed_capacity(1 << 16);
    /// let a = AllocArray::from(vec![1, 2]);
    /// let b = with_allocator(&alloc, || a.clone());
    /// assert!(b.is_arena());
    /// assert_eq!(a, b);
    /// ```
    #[track_caller]
    fn clone(&self) -> Self {
        let elements = self.as_slice();
        let storage = or_panic(Storage::try_from_slice(elements, tracking::<K>()));
        Self::from_storage(storage, self.dim.clone())
    }
}

impl<A, D: Clone, K> Clone for AllocViewBase<'_, A, D, K> {
    /// Another view of the same elements (no copy of them).
    fn clone(&self) -> Self {
        AllocViewBase {
            view: self.view.clone(),
            lease: self.lease,
            kind: PhantomData,
        }
    }
}

/// Views of fixed dimensions are `Copy`, like `ndarray`'s.
impl<A, D: Copy, K> Copy for AllocViewBase<'_, A, D, K> {}

/// `Index`, written once for arrays and views.
macro_rules! impl_index {
    ($([$($lt:lifetime),*] $T:ty;)*) => {$(
        impl<$($lt,)* A, D: Dimension, K: Checking, I: NdIndex<D>> Index<I> for $T {
            type Output = A;

            /// The element at `index` (`(i, j)`, `[i, j]`, ...). Panics if out of bounds.
            #[track_caller]
            fn index(&self, index: I) -> &A {
                match self.get(index) {
                    Some(x) => x,
                    None => index_out_of_bounds(self.shape()),
                }
            }
        }
    )*};
}

impl_index! {
    [] AllocArrayBase<A, D, K>;
    ['a] AllocViewBase<'a, A, D, K>;
}

/// `IntoIterator` by reference for arrays and by value for views, written once.
macro_rules! impl_into_iter {
    ($($T:ty;)*) => {$(
        impl<'i, A, D: Dimension, K: Checking> IntoIterator for $T {
            type Item = &'i A;
            type IntoIter = ndarray::iter::Iter<'i, A, D>;

            /// The elements in logical (row-major) order.
            #[track_caller]
            fn into_iter(self) -> Self::IntoIter {
                self.iter()
            }
        }
    )*};
}

impl_into_iter! {
    &'i AllocArrayBase<A, D, K>;
    AllocViewBase<'i, A, D, K>;
}

impl<A, D: Dimension, K: Checking, I: NdIndex<D>> IndexMut<I> for AllocArrayBase<A, D, K> {
    /// The element at `index`, mutably. Panics if out of bounds.
    #[track_caller]
    fn index_mut(&mut self, index: I) -> &mut A {
        let Some(offset) = self.offset_of(index) else {
            index_out_of_bounds(self.shape())
        };
        &mut self.storage.as_mut_slice()[offset]
    }
}

/// `Debug` and `Display` for arrays and views: `Debug` writes `Name(heap|arena, <elements>)`,
/// `Display` the elements as `ndarray` displays them (`[[1, 2], [3, 4]]`); for an invalid
/// checked array, a note instead of the elements.
macro_rules! impl_fmt {
    ($([$($lt:lifetime),*] $T:ty, $name:ident;)*) => {$(
        impl<$($lt,)* A: fmt::Debug, D: Dimension, K: Checking> fmt::Debug for $T {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let place = if self.is_arena() { "arena" } else { "heap" };
                write!(f, "{}({place}, ", K::$name)?;
                match self.check() {
                    Ok(()) => fmt::Debug::fmt(&self.view_unchecked().raw_view(), f)?,
                    Err(err) => write!(f, "<{err}>, shape={:?}", self.shape())?,
                }
                f.write_str(")")
            }
        }

        impl<$($lt,)* A: fmt::Display, D: Dimension, K: Checking> fmt::Display for $T {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.check() {
                    Ok(()) => fmt::Display::fmt(&self.view_unchecked().raw_view(), f),
                    Err(err) => write!(f, "<{err}>"),
                }
            }
        }
    )*};
}

impl_fmt! {
    [] AllocArrayBase<A, D, K>, ARRAY_NAME;
    ['a] AllocViewBase<'a, A, D, K>, VIEW_NAME;
}

/// `PartialEq` between arrays, views and `ndarray` arrays: equal shapes and elements (checked
/// operands check their memory first).
macro_rules! impl_eq {
    ($([$($generics:tt)*] $lhs:ty, $rhs:ty;)*) => {$(
        impl<$($generics)*> PartialEq<$rhs> for $lhs
        where
            A: PartialEq<B>,
            D: Dimension,
            K: Checking,
        {
            #[track_caller]
            fn eq(&self, other: &$rhs) -> bool {
                self.view() == other.view()
            }
        }
    )*};
}

impl_eq! {
    [A, B, D, K, K2: Checking] AllocArrayBase<A, D, K>, AllocArrayBase<B, D, K2>;
    ['b, A, B, D, K, K2: Checking] AllocArrayBase<A, D, K>, AllocViewBase<'b, B, D, K2>;
    ['a, A, B, D, K, K2: Checking] AllocViewBase<'a, A, D, K>, AllocArrayBase<B, D, K2>;
    ['a, 'b, A, B, D, K, K2: Checking] AllocViewBase<'a, A, D, K>, AllocViewBase<'b, B, D, K2>;
    [A, B, D, K, S: ndarray::Data<Elem = B>] AllocArrayBase<A, D, K>, ndarray::ArrayBase<S, D>;
    ['a, A, B, D, K, S: ndarray::Data<Elem = B>] AllocViewBase<'a, A, D, K>, ndarray::ArrayBase<S, D>;
}

impl<A, B, D, K, S> PartialEq<AllocArrayBase<A, D, K>> for ndarray::ArrayBase<S, D>
where
    S: ndarray::Data<Elem = B>,
    B: PartialEq<A>,
    D: Dimension,
    K: Checking,
{
    #[track_caller]
    fn eq(&self, other: &AllocArrayBase<A, D, K>) -> bool {
        self.view() == other.view()
    }
}
