//! [`AllocArray`]: an owned, row-major n-d array whose memory comes from the current allocator
//! (the heap outside any [`with_allocator`](crate::with_allocator)), and [`AllocView`], a view
//! of one on which arithmetic makes new arrays the same way.
//!
//! Both are instances of generic types with a [`Checking`] kind: [`AllocArrayBase`] and
//! [`AllocViewBase`]. The checked kind ([`CheckedAllocArray`](crate::CheckedAllocArray)) shares
//! every line of code here; it only adds the check of the memory's validity before each
//! operation (see [`crate::checked`]).

use std::fmt;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ops::{Add, Div, Index, IndexMut};

use ndarray::{
    Array, ArrayView, ArrayViewMut, Axis, Dimension, ErrorKind, IntoDimension, Ix1, IxDyn, NdIndex,
    RemoveAxis, ShapeError, SliceArg, Zip,
};
use num_traits::{FromPrimitive, One, Zero};

use crate::checked::{check_lease, invalid_memory, tracking, Checking, Unchecked};
use crate::epoch::Lease;
use crate::ops::{cannot_broadcast_to, map_new, zip_new, DotDim, Operand};
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
/// a mutable one.
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

/// A borrowed view of an [`AllocArrayBase`] (a slice, a transpose, or the whole array) on
/// which arithmetic, `map` and reductions work as on the array and make new arrays from the
/// current allocator. A view of a checked array checks the array's memory before every
/// operation. Use the aliases [`AllocView`] and [`CheckedView`](crate::CheckedView).
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
    pub fn from(&self) -> &[usize] {
        &self.from
    }

    /// The shape asked for.
    ///
    /// ```
    /// # let err = allocarrays::AllocArray::from(vec![1]).reshape(2).unwrap_err();
    /// assert_eq!(err.to(), &[2]);
    /// ```
    pub fn to(&self) -> &[usize] {
        &self.to
    }
}

impl fmt::Display for ReshapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot reshape an array of shape {:?} ({} elements) into shape {:?} ({} elements)",
            self.from,
            self.from.iter().product::<usize>(),
            self.to,
            self.to.iter().product::<usize>()
        )
    }
}

impl std::error::Error for ReshapeError {}

/// The panic for a shape whose element count overflows `usize`.
#[cold]
#[track_caller]
fn shape_overflow(shape: &[usize]) -> ! {
    panic!("the number of elements of shape {shape:?} overflows usize")
}

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
    /// `f(i)`.
    #[inline]
    pub(crate) fn new_with(dim: D, f: impl FnMut(usize) -> A) -> Self {
        let len = dim
            .size_checked()
            .unwrap_or_else(|| shape_overflow(dim.slice()));
        Self::from_storage(Storage::from_fn(len, tracking::<K>(), f), dim)
    }

    /// A new array of shape `dim` from the current allocator, filled from `iter` (which
    /// yields at least `dim.size()` items).
    #[inline]
    pub(crate) fn new_from_iter(dim: D, iter: impl IntoIterator<Item = A>) -> Self {
        let mut iter = iter.into_iter();
        Self::new_with(dim, |_| {
            iter.next()
                .expect("the iterator yields one item per element")
        })
    }

    pub(crate) fn storage(&self) -> &Storage<A> {
        &self.storage
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
    fn assert_valid(&self) {
        if check_lease::<K>(self.storage.lease()).is_err() {
            invalid_memory();
        }
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

    /// The lease of the array viewed; `None` for heap memory.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(vec![1, 2]);
    /// assert!(a.t().lease().is_none()); // heap
    /// ```
    #[inline]
    pub fn lease(&self) -> Option<&'a Lease> {
        self.lease
    }

    /// The check, panicking.
    #[inline]
    #[track_caller]
    fn assert_valid(&self) {
        if check_lease::<K>(self.lease).is_err() {
            invalid_memory();
        }
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
    /// ```
    /// use allocarrays::AllocArray;
    ///
    /// let a = AllocArray::<f32, _>::zeros((2, 3));
    /// assert_eq!(a.sum(), 0.0);
    /// ```
    pub fn zeros<Sh>(shape: Sh) -> Self
    where
        Sh: IntoDimension<Dim = D>,
        A: Zero,
    {
        Self::new_with(shape.into_dimension(), |_| A::zero())
    }

    /// A new array of ones, from the current allocator.
    ///
    /// ```
    /// use allocarrays::AllocArray;
    ///
    /// let a = AllocArray::<i64, _>::ones(4);
    /// assert_eq!(a.sum(), 4);
    /// ```
    pub fn ones<Sh>(shape: Sh) -> Self
    where
        Sh: IntoDimension<Dim = D>,
        A: One,
    {
        Self::new_with(shape.into_dimension(), |_| A::one())
    }

    /// A new array with every element a clone of `elem`, from the current allocator.
    ///
    /// ```
    /// use allocarrays::AllocArray;
    ///
    /// let a = AllocArray::from_elem((2, 2), "x".to_string());
    /// assert_eq!(a[[1, 1]], "x");
    /// ```
    pub fn from_elem<Sh>(shape: Sh, elem: A) -> Self
    where
        Sh: IntoDimension<Dim = D>,
        A: Clone,
    {
        Self::new_with(shape.into_dimension(), |_| elem.clone())
    }

    /// A new array whose element at each index is `f(index)`, from the current allocator;
    /// `f` is called in row-major order.
    ///
    /// ```
    /// use allocarrays::AllocArray;
    ///
    /// let a = AllocArray::from_shape_fn((2, 3), |(i, j)| 10 * i + j);
    /// assert_eq!(a.as_slice(), &[0, 1, 2, 10, 11, 12]);
    /// ```
    pub fn from_shape_fn<Sh, F>(shape: Sh, mut f: F) -> Self
    where
        Sh: IntoDimension<Dim = D>,
        F: FnMut(D::Pattern) -> A,
    {
        let dim = shape.into_dimension();
        let indices = ndarray::indices(dim.clone()).into_iter();
        Self::new_from_iter(dim, indices.map(&mut f))
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
// The operations of arrays and views. Those of the owned array check once and hand over to the
// view's, which make the new arrays.

impl<A, D: Dimension, K: Checking> AllocArrayBase<A, D, K> {
    /// The shape: the length of each axis.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::<u8, _>::zeros((2, 5));
    /// assert_eq!(a.shape(), &[2, 5]);
    /// ```
    #[inline]
    pub fn shape(&self) -> &[usize] {
        self.dim.slice()
    }

    /// The shape as a dimension value (`Ix2` and the like).
    ///
    /// ```
    /// let a = allocarrays::AllocArray::<u8, _>::zeros((2, 5));
    /// assert_eq!(a.raw_dim(), ndarray::Dim([2, 5]));
    /// ```
    #[inline]
    pub fn raw_dim(&self) -> D {
        self.dim.clone()
    }

    /// The shape as a pattern (`(usize, usize)` for two dimensions).
    ///
    /// ```
    /// let a = allocarrays::AllocArray::<u8, _>::zeros((2, 5));
    /// assert_eq!(a.dim(), (2, 5));
    /// ```
    #[inline]
    pub fn dim(&self) -> D::Pattern {
        self.dim.clone().into_pattern()
    }

    /// The number of axes.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::<u8, _>::zeros((2, 5));
    /// assert_eq!(a.ndim(), 2);
    /// ```
    #[inline]
    pub fn ndim(&self) -> usize {
        self.dim.ndim()
    }

    /// The number of elements.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::<u8, _>::zeros((2, 5));
    /// assert_eq!(a.len(), 10);
    /// ```
    #[inline]
    pub fn len(&self) -> usize {
        self.storage.len()
    }

    /// Whether the array has no elements.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::<u8, _>::zeros((2, 0));
    /// assert!(a.is_empty());
    /// ```
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.storage.len() == 0
    }

    /// Whether the memory came from an allocator (set by
    /// [`with_allocator`](crate::with_allocator)) rather than the heap.
    ///
    /// ```
    /// use allocarrays::{with_allocator, AllocArray, BumperAllocator};
    ///
    /// let alloc = BumperAllocator::with_fixed_capacity(1 << 16);
    /// assert!(!AllocArray::<f64, _>::zeros(3).is_arena());
    /// assert!(with_allocator(&alloc, || AllocArray::<f64, _>::zeros(3).is_arena()));
    /// ```
    #[inline]
    pub fn is_arena(&self) -> bool {
        self.storage.lease().is_some()
    }

    /// The lease on the arena memory; `None` for heap memory.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(vec![1]);
    /// assert!(a.lease().is_none());
    /// ```
    #[inline]
    pub fn lease(&self) -> Option<&Lease> {
        self.storage.lease()
    }

    /// Whether the allocator was not reset since the memory was handed out (always true for
    /// heap memory). Unchecked arrays stay readable either way (their memory is kept while
    /// they live); checked ones refuse access once this is false.
    ///
    /// ```
    /// use allocarrays::{with_allocator, AllocArray, BumperAllocator};
    ///
    /// let alloc = BumperAllocator::with_fixed_capacity(1 << 16);
    /// let a = with_allocator(&alloc, || AllocArray::<f64, _>::ones(3));
    /// assert!(a.is_valid());
    /// alloc.reset();
    /// assert!(!a.is_valid());
    /// assert_eq!(a.sum(), 3.0); // still readable: the memory is pinned while `a` lives
    /// ```
    #[inline]
    pub fn is_valid(&self) -> bool {
        self.storage.lease().is_none_or(Lease::is_valid)
    }

    /// An `ndarray` view of the elements, so every read-only `ndarray` function works on the
    /// array. Checked arrays check their memory first (once, at the view's making).
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(ndarray::array![[1.0, 2.0], [3.0, 4.0]]);
    /// assert_eq!(a.view().column(1).sum(), 6.0);
    /// ```
    #[inline]
    #[track_caller]
    pub fn view(&self) -> ArrayView<'_, A, D> {
        self.assert_valid();
        self.raw_view()
    }

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

    /// The whole array as an [`AllocViewBase`], on which arithmetic makes new arrays.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(vec![1, 2]);
    /// let b = a.alloc_view() + 1;
    /// assert_eq!(b.as_slice(), &[2, 3]);
    /// ```
    #[inline]
    #[track_caller]
    pub fn alloc_view(&self) -> AllocViewBase<'_, A, D, K> {
        self.assert_valid();
        self.view_unchecked()
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

    /// An iterator over the elements in row-major order.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(vec![1, 2, 3]);
    /// assert_eq!(a.iter().max(), Some(&3));
    /// ```
    #[inline]
    #[track_caller]
    pub fn iter(&self) -> ndarray::iter::Iter<'_, A, D> {
        self.view().into_iter()
    }

    /// The element at `index`, or `None` if out of bounds.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(ndarray::array![[1, 2], [3, 4]]);
    /// assert_eq!(a.get((1, 0)), Some(&3));
    /// assert_eq!(a.get((2, 0)), None);
    /// ```
    #[track_caller]
    pub fn get<I: NdIndex<D>>(&self, index: I) -> Option<&A> {
        let offset = self.offset_of(index)?;
        Some(&self.storage.as_slice()[offset])
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

    /// A view of a slice of the array, given with `ndarray::s!`; arithmetic on it makes new
    /// arrays. For checked arrays, the view shares the array's validity.
    ///
    /// ```
    /// use allocarrays::AllocArray;
    /// use ndarray::s;
    ///
    /// let a = AllocArray::from(vec![1, 2, 3, 4]);
    /// let b = a.slice(s![..2]) * a.slice(s![2..]);
    /// assert_eq!(b.as_slice(), &[3, 8]);
    /// ```
    #[track_caller]
    pub fn slice<I: SliceArg<D>>(&self, info: I) -> AllocViewBase<'_, A, I::OutDim, K> {
        self.alloc_view().slice(info)
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

    /// The transpose, as a view (no copy).
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(ndarray::array![[1, 2, 3]]);
    /// assert_eq!(a.t().shape(), &[3, 1]);
    /// ```
    #[track_caller]
    pub fn t(&self) -> AllocViewBase<'_, A, D, K> {
        self.alloc_view().reversed_axes()
    }

    /// A new array of the same shape from the current allocator (the seed's `similar`), filled
    /// with `A::default()`.
    ///
    /// ```
    /// use allocarrays::{with_allocator, AllocArray, BumperAllocator};
    ///
    /// let a = AllocArray::from(vec![1.0, 2.0]);
    /// assert!(!a.similar().is_arena()); // outside `with_allocator`: the heap
    /// let alloc = BumperAllocator::with_fixed_capacity(1 << 16);
    /// assert!(with_allocator(&alloc, || a.similar().is_arena()));
    /// ```
    pub fn similar(&self) -> Self
    where
        A: Default,
    {
        Self::new_with(self.dim.clone(), |_| A::default())
    }

    /// A new array of zeros of the same shape, from the current allocator.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(vec![1.0, 2.0]);
    /// assert_eq!(a.zeros_like().as_slice(), &[0.0, 0.0]);
    /// ```
    pub fn zeros_like(&self) -> Self
    where
        A: Zero,
    {
        Self::new_with(self.dim.clone(), |_| A::zero())
    }

    /// A new array of the same shape with uninitialised elements, from the current allocator;
    /// write every element, then call [`assume_init`](AllocArrayBase::assume_init).
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
        self.zip_mut_with(rhs, |x, y| *x = y.clone());
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
        let dim = self.dim.clone();
        rhs.with_view(|rhs| {
            let Some(rhs) = rhs.broadcast(dim.clone()) else {
                cannot_broadcast_to(rhs.shape(), dim.slice())
            };
            Zip::from(self.raw_view_mut()).and(rhs).for_each(&mut f);
        });
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

    /// The array with a new axis of length 1 inserted at `axis` (no copy).
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(vec![1, 2, 3]);
    /// let column = a.insert_axis(ndarray::Axis(1));
    /// assert_eq!(column.shape(), &[3, 1]);
    /// ```
    #[track_caller]
    pub fn insert_axis(self, axis: Axis) -> AllocArrayBase<A, D::Larger, K> {
        self.assert_valid();
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
    #[track_caller]
    pub fn into_array(self) -> Array<A, D> {
        self.assert_valid();
        self.into_array_unchecked()
    }

    /// A copy of the elements in a heap `ndarray::Array`, whatever the current allocator: the
    /// way to get a result out before a reset.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(vec![1, 2]);
    /// assert_eq!(a.to_array(), ndarray::array![1, 2]);
    /// ```
    #[track_caller]
    pub fn to_array(&self) -> Array<A, D>
    where
        A: Clone,
    {
        self.view().to_owned()
    }

    /// A new array `f(&x)` for every element `x`, from the current allocator.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(vec!["a", "bc"]);
    /// assert_eq!(a.map(|s| s.len()).as_slice(), &[1, 2]);
    /// ```
    #[track_caller]
    pub fn map<B, F: FnMut(&A) -> B>(&self, f: F) -> AllocArrayBase<B, D, K> {
        self.view_unchecked().map(f)
    }

    /// A new array `f(x)` for every element `x` (cloned), from the current allocator.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(vec![1.0_f64, -2.0]);
    /// assert_eq!(a.mapv(f64::abs).as_slice(), &[1.0, 2.0]);
    /// ```
    #[track_caller]
    pub fn mapv<B, F: FnMut(A) -> B>(&self, f: F) -> AllocArrayBase<B, D, K>
    where
        A: Clone,
    {
        self.view_unchecked().mapv(f)
    }

    /// A new array `f(&x, &y)` over this array and `rhs` broadcast together (the engine of the
    /// arithmetic operators), from the current allocator. Panics if the shapes can't be
    /// broadcast together.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(vec![1, 2, 3]);
    /// let b = a.zip_with(ndarray::array![[10], [20]], |x, y| x + y);
    /// assert_eq!(b.view(), ndarray::array![[11, 12, 13], [21, 22, 23]]);
    /// ```
    #[track_caller]
    #[allow(clippy::type_complexity)]
    pub fn zip_with<R, B, F>(
        &self,
        rhs: R,
        f: F,
    ) -> AllocArrayBase<B, <D as ndarray::DimMax<R::Dim>>::Output, K::Or<R::Kind>>
    where
        R: Operand,
        D: ndarray::DimMax<R::Dim>,
        F: FnMut(&A, &R::Elem) -> B,
    {
        self.view_unchecked().zip_with(rhs, f)
    }

    /// The sum of the elements.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(vec![1, 2, 3]);
    /// assert_eq!(a.sum(), 6);
    /// ```
    #[track_caller]
    pub fn sum(&self) -> A
    where
        A: Clone + Add<Output = A> + Zero,
    {
        self.view().sum()
    }

    /// The product of the elements.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(vec![1, 2, 3, 4]);
    /// assert_eq!(a.product(), 24);
    /// ```
    #[track_caller]
    pub fn product(&self) -> A
    where
        A: Clone + std::ops::Mul<Output = A> + One,
    {
        self.view().product()
    }

    /// The mean of the elements; `None` when there are none.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(vec![1.0, 2.0, 6.0]);
    /// assert_eq!(a.mean(), Some(3.0));
    /// ```
    #[track_caller]
    pub fn mean(&self) -> Option<A>
    where
        A: Clone + FromPrimitive + Add<Output = A> + Div<Output = A> + Zero,
    {
        self.view().mean()
    }

    /// Folds the elements in row-major order.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(vec![3, 1, 2]);
    /// assert_eq!(a.fold(0, |m, &x| m.max(x)), 3);
    /// ```
    #[track_caller]
    pub fn fold<B, F: FnMut(B, &A) -> B>(&self, init: B, f: F) -> B {
        self.view_unchecked().fold(init, f)
    }

    /// A new array of the sums along `axis` (one axis fewer), from the current allocator.
    /// Panics if `axis` is out of bounds.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(ndarray::array![[1, 2], [3, 4]]);
    /// assert_eq!(a.sum_axis(ndarray::Axis(0)).as_slice(), &[4, 6]);
    /// assert_eq!(a.sum_axis(ndarray::Axis(1)).as_slice(), &[3, 7]);
    /// ```
    #[track_caller]
    pub fn sum_axis(&self, axis: Axis) -> AllocArrayBase<A, D::Smaller, K>
    where
        A: Clone + Add<Output = A> + Zero,
        D: RemoveAxis,
    {
        self.view_unchecked().sum_axis(axis)
    }

    /// The matrix or vector product with `rhs` (an array, view or `ndarray` array of the same
    /// element type): 1-d · 1-d gives a scalar, 2-d · 1-d and 1-d · 2-d a new 1-d array, 2-d ·
    /// 2-d a new 2-d array, each from the current allocator (the product is written straight
    /// into it, with `matrixmultiply` for `f32`/`f64`). Panics if the shapes don't fit.
    ///
    /// ```
    /// use allocarrays::AllocArray;
    ///
    /// let m = AllocArray::from(ndarray::array![[1.0, 2.0], [3.0, 4.0]]);
    /// let v = AllocArray::from(vec![1.0, 1.0]);
    /// assert_eq!(m.dot(&v).as_slice(), &[3.0, 7.0]);
    /// assert_eq!(v.dot(&v), 2.0);
    /// assert_eq!(m.dot(&m).as_slice(), &[7.0, 10.0, 15.0, 22.0]);
    /// ```
    #[track_caller]
    pub fn dot<R>(&self, rhs: R) -> <D as DotDim<R::Dim>>::Product<A, K::Or<R::Kind>>
    where
        R: Operand<Elem = A>,
        D: DotDim<R::Dim>,
        A: ndarray::LinalgScalar,
    {
        self.view_unchecked().dot(rhs)
    }
}

impl<A, D: Dimension, K: Checking> AllocArrayBase<MaybeUninit<A>, D, K> {
    /// A new array of uninitialised elements, from the current allocator; write every
    /// element, then call [`assume_init`](Self::assume_init).
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
    pub fn uninit<Sh>(shape: Sh) -> Self
    where
        Sh: IntoDimension<Dim = D>,
    {
        Self::new_with(shape.into_dimension(), |_| MaybeUninit::uninit())
    }

    /// The array with its elements taken as initialised.
    ///
    /// Heap memory is kept as it is. Arena memory: the elements are currently moved, once, into
    /// new memory from the current allocator (the storage layer can't yet re-type arena memory
    /// in place); the old block is released.
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
    #[track_caller]
    pub unsafe fn assume_init(self) -> AllocArrayBase<A, D, K> {
        self.assert_valid();
        let AllocArrayBase { storage, dim, .. } = self;
        // SAFETY: the caller promises every element is initialised.
        AllocArrayBase::from_storage(unsafe { storage.assume_init() }, dim)
    }
}

impl<'a, A, D: Dimension, K: Checking> AllocViewBase<'a, A, D, K> {
    /// The shape: the length of each axis.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::<u8, _>::zeros((2, 5));
    /// assert_eq!(a.t().shape(), &[5, 2]);
    /// ```
    #[inline]
    pub fn shape(&self) -> &[usize] {
        self.view.shape()
    }

    /// The shape as a dimension value.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::<u8, _>::zeros((2, 5));
    /// assert_eq!(a.t().raw_dim(), ndarray::Dim([5, 2]));
    /// ```
    #[inline]
    pub fn raw_dim(&self) -> D {
        self.view.raw_dim()
    }

    /// The number of axes.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::<u8, _>::zeros((2, 5));
    /// assert_eq!(a.t().ndim(), 2);
    /// ```
    #[inline]
    pub fn ndim(&self) -> usize {
        self.view.ndim()
    }

    /// The number of elements.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::<u8, _>::zeros((2, 5));
    /// assert_eq!(a.slice(ndarray::s![.., ..2]).len(), 4);
    /// ```
    #[inline]
    pub fn len(&self) -> usize {
        self.view.len()
    }

    /// Whether the view has no elements.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::<u8, _>::zeros(3);
    /// assert!(a.slice(ndarray::s![..0]).is_empty());
    /// ```
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.view.is_empty()
    }

    /// Whether the allocator was not reset since the viewed memory was handed out.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(vec![1]);
    /// assert!(a.t().is_valid());
    /// ```
    #[inline]
    pub fn is_valid(&self) -> bool {
        self.lease.is_none_or(Lease::is_valid)
    }

    /// The `ndarray` view (checked views check first).
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(vec![1, 2, 3]);
    /// assert_eq!(a.t().view().len(), 3);
    /// ```
    #[inline]
    #[track_caller]
    pub fn view(&self) -> ArrayView<'a, A, D> {
        self.assert_valid();
        self.raw_view()
    }

    /// An iterator over the elements in logical (row-major) order.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(ndarray::array![[1, 2], [3, 4]]);
    /// let t: Vec<i32> = a.t().iter().copied().collect();
    /// assert_eq!(t, [1, 3, 2, 4]);
    /// ```
    #[inline]
    #[track_caller]
    pub fn iter(&self) -> ndarray::iter::Iter<'a, A, D> {
        self.view().into_iter()
    }

    /// The element at `index`, or `None` if out of bounds.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(ndarray::array![[1, 2], [3, 4]]);
    /// assert_eq!(a.t().get((0, 1)), Some(&3));
    /// ```
    #[track_caller]
    pub fn get<I: NdIndex<D>>(&self, index: I) -> Option<&A> {
        self.assert_valid();
        self.view.get(index)
    }

    /// A view of a slice of this view.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(vec![1, 2, 3, 4]);
    /// let v = a.slice(ndarray::s![1..]).slice(ndarray::s![..;2]);
    /// assert_eq!(v.to_owned().as_slice(), &[2, 4]);
    /// ```
    #[track_caller]
    pub fn slice<I: SliceArg<D>>(&self, info: I) -> AllocViewBase<'a, A, I::OutDim, K> {
        AllocViewBase::new(self.view().slice_move(info), self.lease)
    }

    /// The transpose (no copy).
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(ndarray::array![[1, 2, 3]]);
    /// assert_eq!(a.alloc_view().t().shape(), &[3, 1]);
    /// ```
    #[track_caller]
    pub fn t(&self) -> AllocViewBase<'a, A, D, K> {
        self.reversed_axes()
    }

    /// The view with its axes in reverse order (the transpose; no copy).
    ///
    /// ```
    /// let a = allocarrays::AllocArray::<u8, _>::zeros((1, 2, 3));
    /// assert_eq!(a.alloc_view().reversed_axes().shape(), &[3, 2, 1]);
    /// ```
    #[track_caller]
    pub fn reversed_axes(&self) -> AllocViewBase<'a, A, D, K> {
        AllocViewBase::new(self.view().reversed_axes(), self.lease)
    }

    /// The elements copied, in row-major order, into a new array from the current allocator.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(ndarray::array![[1, 2], [3, 4]]);
    /// assert_eq!(a.t().to_owned().as_slice(), &[1, 3, 2, 4]);
    /// ```
    #[track_caller]
    pub fn to_owned(&self) -> AllocArrayBase<A, D, K>
    where
        A: Clone,
    {
        self.map(A::clone)
    }

    /// A copy of the elements in a heap `ndarray::Array`.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(ndarray::array![[1, 2], [3, 4]]);
    /// assert_eq!(a.t().to_array(), ndarray::array![[1, 3], [2, 4]]);
    /// ```
    #[track_caller]
    pub fn to_array(&self) -> Array<A, D>
    where
        A: Clone,
    {
        self.view().to_owned()
    }

    /// A new array `f(&x)` for every element `x`, from the current allocator.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(ndarray::array![[1, 2], [3, 4]]);
    /// assert_eq!(a.t().map(|x| x * 10).as_slice(), &[10, 30, 20, 40]);
    /// ```
    #[track_caller]
    pub fn map<B, F: FnMut(&A) -> B>(&self, f: F) -> AllocArrayBase<B, D, K> {
        map_new(self.view(), f)
    }

    /// A new array `f(x)` for every element `x` (cloned), from the current allocator.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(vec![1, 2]);
    /// assert_eq!(a.t().mapv(|x| x + 1).as_slice(), &[2, 3]);
    /// ```
    #[track_caller]
    pub fn mapv<B, F: FnMut(A) -> B>(&self, mut f: F) -> AllocArrayBase<B, D, K>
    where
        A: Clone,
    {
        self.map(|x| f(x.clone()))
    }

    /// A new array `f(&x, &y)` over this view and `rhs` broadcast together, from the current
    /// allocator. Panics if the shapes can't be broadcast together.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(vec![1, 2]);
    /// let b = a.t().zip_with(&a, |x, y| x * y);
    /// assert_eq!(b.as_slice(), &[1, 4]);
    /// ```
    #[track_caller]
    #[allow(clippy::type_complexity)]
    pub fn zip_with<R, B, F>(
        &self,
        rhs: R,
        f: F,
    ) -> AllocArrayBase<B, <D as ndarray::DimMax<R::Dim>>::Output, K::Or<R::Kind>>
    where
        R: Operand,
        D: ndarray::DimMax<R::Dim>,
        F: FnMut(&A, &R::Elem) -> B,
    {
        let lhs = self.view();
        rhs.with_view(|rhs| zip_new(lhs, rhs, f))
    }

    /// The sum of the elements.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(vec![1, 2, 3]);
    /// assert_eq!(a.slice(ndarray::s![1..]).sum(), 5);
    /// ```
    #[track_caller]
    pub fn sum(&self) -> A
    where
        A: Clone + Add<Output = A> + Zero,
    {
        self.view().sum()
    }

    /// The product of the elements.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(vec![1, 2, 3]);
    /// assert_eq!(a.slice(ndarray::s![1..]).product(), 6);
    /// ```
    #[track_caller]
    pub fn product(&self) -> A
    where
        A: Clone + std::ops::Mul<Output = A> + One,
    {
        self.view().product()
    }

    /// The mean of the elements; `None` when there are none.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(vec![1.0, 2.0, 4.0]);
    /// assert_eq!(a.slice(ndarray::s![1..]).mean(), Some(3.0));
    /// ```
    #[track_caller]
    pub fn mean(&self) -> Option<A>
    where
        A: Clone + FromPrimitive + Add<Output = A> + Div<Output = A> + Zero,
    {
        self.view().mean()
    }

    /// Folds the elements in logical (row-major) order.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(ndarray::array![[1, 2], [3, 4]]);
    /// let digits = a.t().fold(0, |acc, &x| acc * 10 + x);
    /// assert_eq!(digits, 1324);
    /// ```
    #[track_caller]
    pub fn fold<B, F: FnMut(B, &A) -> B>(&self, init: B, f: F) -> B {
        self.iter().fold(init, f)
    }

    /// A new array of the sums along `axis` (one axis fewer), from the current allocator.
    /// Panics if `axis` is out of bounds.
    ///
    /// ```
    /// let a = allocarrays::AllocArray::from(ndarray::array![[1, 2], [3, 4]]);
    /// assert_eq!(a.t().sum_axis(ndarray::Axis(0)).as_slice(), &[3, 7]);
    /// ```
    #[track_caller]
    pub fn sum_axis(&self, axis: Axis) -> AllocArrayBase<A, D::Smaller, K>
    where
        A: Clone + Add<Output = A> + Zero,
        D: RemoveAxis,
    {
        let view = self.view();
        assert!(
            axis.index() < view.ndim(),
            "axis {} out of bounds for an array of {} axes",
            axis.index(),
            view.ndim()
        );
        let dim = view.raw_dim().remove_axis(axis);
        if axis.index() + 1 == view.ndim() {
            // Each sum is over a row: contiguous lanes when the view is.
            return AllocArrayBase::new_from_iter(
                dim,
                view.lanes(axis).into_iter().map(|l| l.sum()),
            );
        }
        let mut sums = AllocArrayBase::new_with(dim, |_| A::zero());
        for sub in view.axis_iter(axis) {
            Zip::from(sums.raw_view_mut())
                .and(sub)
                .for_each(|s, x| *s = s.clone() + x.clone());
        }
        sums
    }

    /// The matrix or vector product with `rhs`; see [`AllocArrayBase::dot`].
    ///
    /// ```
    /// let m = allocarrays::AllocArray::from(ndarray::array![[1, 2], [3, 4]]);
    /// assert_eq!(m.t().dot(&m).as_slice(), &[10, 14, 14, 20]);
    /// ```
    #[track_caller]
    pub fn dot<R>(&self, rhs: R) -> <D as DotDim<R::Dim>>::Product<A, K::Or<R::Kind>>
    where
        R: Operand<Elem = A>,
        D: DotDim<R::Dim>,
        A: ndarray::LinalgScalar,
    {
        let lhs = self.view();
        rhs.with_view(|rhs| D::dot_views(lhs, rhs))
    }
}

// ---------------------------------------------------------------------------------------------
// Standard traits.

impl<A: Clone, D: Dimension, K: Checking> Clone for AllocArrayBase<A, D, K> {
    /// A copy in memory from the current allocator (the heap outside any `with_allocator`).
    /// Checked arrays check their memory first.
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
        Self::from_storage(
            Storage::from_slice(elements, tracking::<K>()),
            self.dim.clone(),
        )
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

impl<A, D: Dimension, K: Checking, I: NdIndex<D>> Index<I> for AllocArrayBase<A, D, K> {
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

impl<A, D: Dimension, K: Checking, I: NdIndex<D>> IndexMut<I> for AllocArrayBase<A, D, K> {
    /// The element at `index`, mutably. Panics if out of bounds.
    #[track_caller]
    fn index_mut(&mut self, index: I) -> &mut A {
        let offset = match self.offset_of(index) {
            Some(offset) => offset,
            None => index_out_of_bounds(self.shape()),
        };
        &mut self.storage.as_mut_slice()[offset]
    }
}

impl<A, D: Dimension, K: Checking, I: NdIndex<D>> Index<I> for AllocViewBase<'_, A, D, K> {
    type Output = A;

    /// The element at `index`. Panics if out of bounds.
    #[track_caller]
    fn index(&self, index: I) -> &A {
        match self.get(index) {
            Some(x) => x,
            None => index_out_of_bounds(self.shape()),
        }
    }
}

impl<'a, A, D: Dimension, K: Checking> IntoIterator for &'a AllocArrayBase<A, D, K> {
    type Item = &'a A;
    type IntoIter = ndarray::iter::Iter<'a, A, D>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, A, D: Dimension, K: Checking> IntoIterator for AllocViewBase<'a, A, D, K> {
    type Item = &'a A;
    type IntoIter = ndarray::iter::Iter<'a, A, D>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Writes `Name(heap|arena, <elements>)`, or a note instead of the elements when the memory
/// is invalid.
fn fmt_array<A, D: Dimension>(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    arena: bool,
    valid: Result<(), crate::InvalidMemory>,
    view: ArrayView<'_, A, D>,
    elements: impl Fn(&ArrayView<'_, A, D>, &mut fmt::Formatter<'_>) -> fmt::Result,
) -> fmt::Result {
    let place = if arena { "arena" } else { "heap" };
    write!(f, "{name}({place}, ")?;
    match valid {
        Ok(()) => elements(&view, f)?,
        Err(err) => write!(f, "<{err}>, shape={:?}", view.shape())?,
    }
    f.write_str(")")
}

impl<A: fmt::Debug, D: Dimension, K: Checking> fmt::Debug for AllocArrayBase<A, D, K> {
    /// `AllocArray(heap, [1, 2], shape=[2], ...)`: the place of the memory and `ndarray`'s
    /// `Debug` of the elements (for an invalid checked array, a note instead of them).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_array(
            f,
            K::ARRAY_NAME,
            self.is_arena(),
            self.check(),
            self.raw_view(),
            |v, f| fmt::Debug::fmt(v, f),
        )
    }
}

impl<A: fmt::Debug, D: Dimension, K: Checking> fmt::Debug for AllocViewBase<'_, A, D, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_array(
            f,
            K::VIEW_NAME,
            self.lease.is_some(),
            self.check(),
            self.raw_view(),
            |v, f| fmt::Debug::fmt(v, f),
        )
    }
}

impl<A: fmt::Display, D: Dimension, K: Checking> fmt::Display for AllocArrayBase<A, D, K> {
    /// The elements as `ndarray` displays them (`[[1, 2], [3, 4]]`); for an invalid checked
    /// array, the error text in angle brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.check() {
            Ok(()) => fmt::Display::fmt(&self.raw_view(), f),
            Err(err) => write!(f, "<{err}>"),
        }
    }
}

impl<A: fmt::Display, D: Dimension, K: Checking> fmt::Display for AllocViewBase<'_, A, D, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.check() {
            Ok(()) => fmt::Display::fmt(&self.raw_view(), f),
            Err(err) => write!(f, "<{err}>"),
        }
    }
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
