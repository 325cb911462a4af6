//! The methods arrays ([`AllocArrayBase`]) and their views ([`AllocViewBase`]) share, written
//! once: [`shared_methods!`] expands to the same methods in both types' `impl` blocks. The
//! expansion asks each type for five small helpers (`shape_ref`, `dim_value`, `lease_ref`,
//! `view_unchecked`, `base`: the whole array or view as a view, unchecked or after the check),
//! defined in `array.rs`.
//!
//! Results borrow for `$out`: the borrow of the array (`'s`, the `&self` of the method), or the
//! lifetime of the array a view views (`'a`), so a view of a view outlives the first view.

use std::ops::{Add, Div};

use ndarray::{Array, ArrayView, Axis, Dimension, Ix1, Ix2, NdIndex, RemoveAxis, SliceArg, Zip};
use num_traits::{FromPrimitive, One, Zero};

use crate::array::{AllocArrayBase, AllocViewBase};
use crate::checked::{check_lease, Checking, InvalidMemory};
use crate::epoch::Lease;
use crate::error::{or_panic, ArrayError};
use crate::ops::{map_new, zip_new, DotDim, Operand};

/// The panic for an axis out of bounds.
#[cold]
#[track_caller]
fn axis_out_of_bounds(axis: Axis, ndim: usize) -> ! {
    panic!(
        "axis {} out of bounds for an array of {ndim} axes",
        axis.index()
    )
}

/// The panic for an index out of bounds along an axis.
#[cold]
#[track_caller]
fn index_out_of_bounds(axis: Axis, index: usize, len: usize) -> ! {
    panic!(
        "index {index} out of bounds for axis {} of length {len}",
        axis.index()
    )
}

/// Checks `axis` against `ndim` and `index` against the axis length.
#[inline]
#[track_caller]
fn check_index(shape: &[usize], axis: Axis, index: usize) {
    let Some(&len) = shape.get(axis.index()) else {
        axis_out_of_bounds(axis, shape.len())
    };
    if index >= len {
        index_out_of_bounds(axis, index, len);
    }
}

/// The methods of both types. `$s`: the lifetime of `&self`; `$out`: the lifetime of the
/// views and references returned.
macro_rules! shared_methods {
    ($s:lifetime, $out:lifetime) => {
        /// The shape: the length of each axis. Never checks.
        ///
        /// ```
        /// let a = allocarrays::AllocArray::<u8, _>::zeros((2, 5));
        /// assert_eq!(a.shape(), &[2, 5]);
        /// assert_eq!(a.t().shape(), &[5, 2]);
        /// ```
        #[inline]
        #[must_use]
        pub fn shape(&self) -> &[usize] {
            self.shape_ref()
        }

        /// The shape as a dimension value (`Ix2` and the like). Never checks.
        ///
        /// ```
        /// let a = allocarrays::AllocArray::<u8, _>::zeros((2, 5));
        /// assert_eq!(a.raw_dim(), ndarray::Dim([2, 5]));
        /// assert_eq!(a.t().raw_dim(), ndarray::Dim([5, 2]));
        /// ```
        #[inline]
        #[must_use]
        pub fn raw_dim(&self) -> D {
            self.dim_value()
        }

        /// The shape as a pattern (`(usize, usize)` for two dimensions). Never checks.
        ///
        /// ```
        /// let a = allocarrays::AllocArray::<u8, _>::zeros((2, 5));
        /// assert_eq!(a.dim(), (2, 5));
        /// assert_eq!(a.t().dim(), (5, 2));
        /// ```
        #[inline]
        #[must_use]
        pub fn dim(&self) -> D::Pattern {
            self.dim_value().into_pattern()
        }

        /// The number of axes. Never checks.
        ///
        /// ```
        /// let a = allocarrays::AllocArray::<u8, _>::zeros((2, 5));
        /// assert_eq!(a.ndim(), 2);
        /// assert_eq!(a.row(0).ndim(), 1);
        /// ```
        #[inline]
        #[must_use]
        pub fn ndim(&self) -> usize {
            self.shape_ref().len()
        }

        /// The number of elements. Never checks.
        ///
        /// ```
        /// let a = allocarrays::AllocArray::<u8, _>::zeros((2, 5));
        /// assert_eq!(a.len(), 10);
        /// assert_eq!(a.slice(ndarray::s![.., ..2]).len(), 4);
        /// ```
        #[inline]
        #[must_use]
        pub fn len(&self) -> usize {
            // The product fits: it was checked when the array was made.
            self.shape_ref().iter().product()
        }

        /// Whether there are no elements. Never checks.
        ///
        /// ```
        /// let a = allocarrays::AllocArray::<u8, _>::zeros((2, 0));
        /// assert!(a.is_empty());
        /// assert!(a.t().is_empty());
        /// ```
        #[inline]
        #[must_use]
        pub fn is_empty(&self) -> bool {
            self.shape_ref().contains(&0)
        }

        /// Whether the memory came from an allocator (set by
        /// [`with_allocator`](crate::with_allocator)) rather than the heap. Never checks.
        ///
        /// ```
        /// use allocarrays::{with_allocator, AllocArray, BumperAllocator};
        ///
        /// let alloc = BumperAllocator::with_fixed_capacity(1 << 16);
        /// assert!(!AllocArray::<f64, _>::zeros(3).is_arena());
        /// let a = with_allocator(&alloc, || AllocArray::<f64, _>::zeros(3));
        /// assert!(a.is_arena() && a.alloc_view().is_arena());
        /// ```
        #[inline]
        #[must_use]
        pub fn is_arena(&self) -> bool {
            self.lease_ref().is_some()
        }

        /// The lease on the arena memory; `None` for heap memory. Never checks.
        ///
        /// ```
        /// let a = allocarrays::AllocArray::from(vec![1]);
        /// assert!(a.lease().is_none());
        /// assert!(a.t().lease().is_none());
        /// ```
        #[inline]
        #[must_use]
        pub fn lease<$s>(&$s self) -> Option<&$out Lease> {
            self.lease_ref()
        }

        /// Whether the allocator was not reset since the memory was handed out (always true for
        /// heap memory). Unchecked arrays stay readable either way (their memory is kept while
        /// they live); checked ones refuse access once this is false. Never checks.
        ///
        /// ```
        /// use allocarrays::{with_allocator, AllocArray, BumperAllocator};
        ///
        /// let alloc = BumperAllocator::with_fixed_capacity(1 << 16);
        /// let a = with_allocator(&alloc, || AllocArray::<f64, _>::ones(3));
        /// assert!(a.is_valid());
        /// alloc.reset();
        /// assert!(!a.is_valid() && !a.t().is_valid());
        /// assert_eq!(a.sum(), 3.0); // still readable: the memory is pinned while `a` lives
        /// ```
        #[inline]
        #[must_use]
        pub fn is_valid(&self) -> bool {
            self.lease_ref().is_none_or(Lease::is_valid)
        }

        /// `Ok` if the elements may be used: always for unchecked arrays and heap memory; for
        /// checked arena memory, as long as its allocator was not reset since the memory was
        /// handed out.
        ///
        /// # Errors
        ///
        /// [`InvalidMemory`] for a checked array (or view of one) whose allocator was reset.
        ///
        /// ```
        /// use allocarrays::CheckedAllocArray;
        ///
        /// let a = CheckedAllocArray::from(vec![1, 2]); // heap memory: always valid
        /// assert!(a.check().is_ok() && a.t().check().is_ok());
        /// ```
        #[inline]
        pub fn check(&self) -> Result<(), InvalidMemory> {
            check_lease::<K>(self.lease_ref())
        }

        /// An `ndarray` view of the elements, so every read-only `ndarray` function works on
        /// them (its new arrays are plain heap `ndarray` arrays). Checked arrays check first.
        ///
        /// ```
        /// let a = allocarrays::AllocArray::from(ndarray::array![[1.0, 2.0], [3.0, 4.0]]);
        /// assert_eq!(a.view().column(1).sum(), 6.0);
        /// assert_eq!(a.t().view().row(1).sum(), 6.0);
        /// ```
        #[inline]
        #[track_caller]
        pub fn view<$s>(&$s self) -> ArrayView<$out, A, D> {
            self.base().raw_view()
        }

        /// An `ndarray` view of the elements, after the check.
        ///
        /// # Errors
        ///
        /// [`InvalidMemory`] (see [`check`](Self::check)).
        ///
        /// ```
        /// use allocarrays::CheckedAllocArray;
        ///
        /// let a = CheckedAllocArray::from(vec![1, 2]);
        /// assert_eq!(a.try_view().unwrap().sum(), 3);
        /// assert_eq!(a.t().try_view().unwrap().sum(), 3);
        /// ```
        #[inline]
        pub fn try_view<$s>(&$s self) -> Result<ArrayView<$out, A, D>, InvalidMemory> {
            self.check()?;
            Ok(self.view_unchecked().raw_view())
        }

        /// The whole array (or view) as an [`AllocViewBase`], on which arithmetic makes new
        /// arrays. Checked arrays check first (and the view again on every use).
        ///
        /// ```
        /// let a = allocarrays::AllocArray::from(vec![1, 2]);
        /// let b = a.alloc_view() + 1;
        /// assert_eq!(b.as_slice(), &[2, 3]);
        /// ```
        #[inline]
        #[must_use]
        #[track_caller]
        pub fn alloc_view<$s>(&$s self) -> AllocViewBase<$out, A, D, K> {
            self.base()
        }

        /// [`alloc_view`](Self::alloc_view), after the check.
        ///
        /// # Errors
        ///
        /// [`InvalidMemory`] (see [`check`](Self::check)).
        ///
        /// ```
        /// use allocarrays::CheckedAllocArray;
        ///
        /// let a = CheckedAllocArray::from(vec![1, 2]);
        /// let b = a.try_alloc_view().unwrap() * 3;
        /// assert_eq!(b.as_slice(), &[3, 6]);
        /// ```
        #[inline]
        pub fn try_alloc_view<$s>(&$s self) -> Result<AllocViewBase<$out, A, D, K>, InvalidMemory> {
            self.check()?;
            Ok(self.view_unchecked())
        }

        /// An iterator over the elements in logical (row-major) order.
        ///
        /// ```
        /// let a = allocarrays::AllocArray::from(ndarray::array![[1, 2], [3, 4]]);
        /// assert_eq!(a.iter().max(), Some(&4));
        /// let t: Vec<i32> = a.t().iter().copied().collect();
        /// assert_eq!(t, [1, 3, 2, 4]);
        /// ```
        #[inline]
        #[track_caller]
        pub fn iter<$s>(&$s self) -> ndarray::iter::Iter<$out, A, D> {
            self.view().into_iter()
        }

        /// The element at `index`, or `None` if out of bounds.
        ///
        /// ```
        /// let a = allocarrays::AllocArray::from(ndarray::array![[1, 2], [3, 4]]);
        /// assert_eq!(a.get((1, 0)), Some(&3));
        /// assert_eq!(a.get((2, 0)), None);
        /// assert_eq!(a.t().get((0, 1)), Some(&3));
        /// ```
        #[track_caller]
        pub fn get<$s, I: NdIndex<D>>(&$s self, index: I) -> Option<&$out A> {
            let view = self.view();
            let element = view.get_ptr(index)?;
            // SAFETY: `get_ptr` checked the index: the pointer is to an element of the view,
            // whose elements are borrowed shared for `$out` (the view's lifetime).
            Some(unsafe { &*element })
        }

        /// The elements in row-major order, if they lie so in memory (always for an array,
        /// not for every view).
        ///
        /// ```
        /// let a = allocarrays::AllocArray::from(ndarray::array![[1, 2], [3, 4]]);
        /// assert_eq!(a.row(1).to_slice(), Some(&[3, 4][..]));
        /// assert_eq!(a.column(1).to_slice(), None);
        /// ```
        #[track_caller]
        pub fn to_slice<$s>(&$s self) -> Option<&$out [A]> {
            self.view().to_slice()
        }

        /// A view of a slice, given with `ndarray::s!` (no copy); arithmetic on it makes new
        /// arrays.
        ///
        /// ```
        /// use allocarrays::AllocArray;
        /// use ndarray::s;
        ///
        /// let a = AllocArray::from(vec![1, 2, 3, 4]);
        /// let b = a.slice(s![..2]) * a.slice(s![2..]);
        /// assert_eq!(b.as_slice(), &[3, 8]);
        /// assert_eq!(a.slice(s![1..]).slice(s![..;2]).to_owned().as_slice(), &[2, 4]);
        /// ```
        #[track_caller]
        pub fn slice<$s, I: SliceArg<D>>(
            &$s self,
            info: I,
        ) -> AllocViewBase<$out, A, I::OutDim, K> {
            let base = self.base();
            AllocViewBase::new(base.raw_view().slice_move(info), base.lease_ref())
        }

        /// The transpose, as a view (no copy).
        ///
        /// ```
        /// let a = allocarrays::AllocArray::from(ndarray::array![[1, 2, 3]]);
        /// assert_eq!(a.t().shape(), &[3, 1]);
        /// assert_eq!(a.t().t().shape(), &[1, 3]);
        /// ```
        #[must_use]
        #[track_caller]
        pub fn t<$s>(&$s self) -> AllocViewBase<$out, A, D, K> {
            self.reversed_axes()
        }

        /// A view with the axes in reverse order (the transpose; no copy).
        ///
        /// ```
        /// let a = allocarrays::AllocArray::<u8, _>::zeros((1, 2, 3));
        /// assert_eq!(a.reversed_axes().shape(), &[3, 2, 1]);
        /// ```
        #[must_use]
        #[track_caller]
        pub fn reversed_axes<$s>(&$s self) -> AllocViewBase<$out, A, D, K> {
            let base = self.base();
            AllocViewBase::new(base.raw_view().reversed_axes(), base.lease_ref())
        }

        /// A view of the subarray at `index` along `axis`, one axis fewer (no copy).
        /// Panics if `axis` or `index` is out of bounds.
        ///
        /// ```
        /// use ndarray::Axis;
        ///
        /// let a = allocarrays::AllocArray::from_shape_fn((2, 3, 4), |(i, j, k)| 100 * i + 10 * j + k);
        /// let plane = a.index_axis(Axis(1), 2);
        /// assert_eq!(plane.shape(), &[2, 4]);
        /// assert_eq!(plane[(1, 3)], 123);
        /// assert_eq!(plane.index_axis(Axis(0), 1)[3], 123);
        /// ```
        #[track_caller]
        pub fn index_axis<$s>(
            &$s self,
            axis: Axis,
            index: usize,
        ) -> AllocViewBase<$out, A, D::Smaller, K>
        where
            D: RemoveAxis,
        {
            check_index(self.shape_ref(), axis, index);
            let base = self.base();
            AllocViewBase::new(base.raw_view().index_axis_move(axis, index), base.lease_ref())
        }

        /// The subarrays along `axis`, in order, as views (no copy). Panics if
        /// `axis` is out of bounds.
        ///
        /// ```
        /// use ndarray::Axis;
        ///
        /// let a = allocarrays::AllocArray::from(ndarray::array![[1, 2], [3, 4], [5, 6]]);
        /// let sums: Vec<i32> = a.axis_iter(Axis(1)).map(|column| column.sum()).collect();
        /// assert_eq!(sums, [9, 12]);
        /// ```
        #[track_caller]
        pub fn axis_iter<$s>(
            &$s self,
            axis: Axis,
        ) -> impl ExactSizeIterator<Item = AllocViewBase<$out, A, D::Smaller, K>>
               + DoubleEndedIterator
        where
            D: RemoveAxis,
        {
            let Some(&len) = self.shape_ref().get(axis.index()) else {
                axis_out_of_bounds(axis, self.ndim())
            };
            let base = self.base();
            let (view, lease) = (base.raw_view(), base.lease_ref());
            (0..len).map(move |i| AllocViewBase::new(view.clone().index_axis_move(axis, i), lease))
        }

        /// The subarrays along the first axis (the rows of a matrix), as views (no copy).
        /// Panics for a 0-d array.
        ///
        /// ```
        /// let a = allocarrays::AllocArray::from(ndarray::array![[1, 2], [3, 4]]);
        /// let firsts: Vec<i32> = a.outer_iter().map(|row| row[0]).collect();
        /// assert_eq!(firsts, [1, 3]);
        /// ```
        #[track_caller]
        pub fn outer_iter<$s>(
            &$s self,
        ) -> impl ExactSizeIterator<Item = AllocViewBase<$out, A, D::Smaller, K>>
               + DoubleEndedIterator
        where
            D: RemoveAxis,
        {
            self.axis_iter(Axis(0))
        }

        /// The elements copied, in row-major order, into a new array from the current
        /// allocator. Panics, at the caller's line, if the memory can't be had.
        ///
        /// ```
        /// let a = allocarrays::AllocArray::from(ndarray::array![[1, 2], [3, 4]]);
        /// assert_eq!(a.t().to_owned().as_slice(), &[1, 3, 2, 4]);
        /// ```
        #[must_use]
        #[track_caller]
        pub fn to_owned(&self) -> AllocArrayBase<A, D, K>
        where
            A: Clone,
        {
            or_panic(map_new(self.view(), A::clone))
        }

        /// A copy of the elements in a heap `ndarray::Array`, whatever the current allocator:
        /// the way to get a result out before a reset.
        ///
        /// ```
        /// let a = allocarrays::AllocArray::from(ndarray::array![[1, 2], [3, 4]]);
        /// assert_eq!(a.to_array(), ndarray::array![[1, 2], [3, 4]]);
        /// assert_eq!(a.t().to_array(), ndarray::array![[1, 3], [2, 4]]);
        /// ```
        #[must_use]
        #[track_caller]
        pub fn to_array(&self) -> Array<A, D>
        where
            A: Clone,
        {
            self.view().to_owned()
        }

        /// A copy of the elements in a heap `ndarray::Array`, after the check.
        ///
        /// # Errors
        ///
        /// [`InvalidMemory`] (see [`check`](Self::check)).
        ///
        /// ```
        /// use allocarrays::CheckedAllocArray;
        ///
        /// let a = CheckedAllocArray::from(vec![1, 2]);
        /// assert_eq!(a.try_to_array().unwrap(), ndarray::array![1, 2]);
        /// assert_eq!(a.t().try_to_array().unwrap(), ndarray::array![1, 2]);
        /// ```
        pub fn try_to_array(&self) -> Result<Array<A, D>, InvalidMemory>
        where
            A: Clone,
        {
            Ok(self.try_view()?.to_owned())
        }

        /// A new array `f(&x)` for every element `x`, from the current allocator.
        ///
        /// ```
        /// let a = allocarrays::AllocArray::from(ndarray::array![["a", "bc"], ["def", ""]]);
        /// assert_eq!(a.map(|s| s.len()).as_slice(), &[1, 2, 3, 0]);
        /// assert_eq!(a.t().map(|s| s.len()).as_slice(), &[1, 3, 2, 0]);
        /// ```
        #[must_use]
        #[track_caller]
        pub fn map<B, F: FnMut(&A) -> B>(&self, f: F) -> AllocArrayBase<B, D, K> {
            or_panic(map_new(self.view(), f))
        }

        /// A new array `f(x)` for every element `x` (cloned), from the current allocator.
        ///
        /// ```
        /// let a = allocarrays::AllocArray::from(vec![1.0_f64, -2.0]);
        /// assert_eq!(a.mapv(f64::abs).as_slice(), &[1.0, 2.0]);
        /// assert_eq!(a.slice(ndarray::s![1..]).mapv(|x| x * 2.0).as_slice(), &[-4.0]);
        /// ```
        #[must_use]
        #[track_caller]
        pub fn mapv<B, F: FnMut(A) -> B>(&self, mut f: F) -> AllocArrayBase<B, D, K>
        where
            A: Clone,
        {
            or_panic(map_new(self.view(), |x| f(x.clone())))
        }

        /// A new array `f(&x, &y)` over these elements and `rhs` broadcast together (the engine
        /// of the arithmetic operators), from the current allocator. Panics, at the caller's
        /// line, if the shapes can't be broadcast together.
        ///
        /// ```
        /// let a = allocarrays::AllocArray::from(vec![1, 2, 3]);
        /// let b = a.zip_with(ndarray::array![[10], [20]], |x, y| x + y);
        /// assert_eq!(b.view(), ndarray::array![[11, 12, 13], [21, 22, 23]]);
        /// assert_eq!(a.t().zip_with(&a, |x, y| x * y).as_slice(), &[1, 4, 9]);
        /// ```
        #[must_use]
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
            or_panic(rhs.with_view(|rhs| zip_new(lhs, rhs, f)))
        }

        /// The sum of the elements.
        ///
        /// ```
        /// let a = allocarrays::AllocArray::from(vec![1, 2, 3]);
        /// assert_eq!(a.sum(), 6);
        /// assert_eq!(a.slice(ndarray::s![1..]).sum(), 5);
        /// ```
        #[must_use]
        #[track_caller]
        pub fn sum(&self) -> A
        where
            A: Clone + Add<Output = A> + Zero,
        {
            self.view().sum()
        }

        /// The sum of the elements, after the check.
        ///
        /// # Errors
        ///
        /// [`InvalidMemory`] (see [`check`](Self::check)).
        ///
        /// ```
        /// use allocarrays::CheckedAllocArray;
        ///
        /// let a = CheckedAllocArray::from(vec![1.5, 2.5]);
        /// assert_eq!(a.try_sum(), Ok(4.0));
        /// assert_eq!(a.t().try_sum(), Ok(4.0));
        /// ```
        pub fn try_sum(&self) -> Result<A, InvalidMemory>
        where
            A: Clone + Add<Output = A> + Zero,
        {
            Ok(self.try_view()?.sum())
        }

        /// The product of the elements.
        ///
        /// ```
        /// let a = allocarrays::AllocArray::from(vec![1, 2, 3, 4]);
        /// assert_eq!(a.product(), 24);
        /// assert_eq!(a.slice(ndarray::s![2..]).product(), 12);
        /// ```
        #[must_use]
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
        /// assert_eq!(a.slice(ndarray::s![1..]).mean(), Some(4.0));
        /// ```
        #[must_use]
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
        /// assert_eq!(a.fold(0, |m, &x| m.max(x)), 4);
        /// assert_eq!(a.t().fold(0, |acc, &x| acc * 10 + x), 1324);
        /// ```
        #[must_use]
        #[track_caller]
        pub fn fold<B, F: FnMut(B, &A) -> B>(&self, init: B, f: F) -> B {
            self.iter().fold(init, f)
        }

        /// A new array of the sums along `axis` (one axis fewer), from the current allocator.
        /// Panics if `axis` is out of bounds.
        ///
        /// ```
        /// let a = allocarrays::AllocArray::from(ndarray::array![[1, 2], [3, 4]]);
        /// assert_eq!(a.sum_axis(ndarray::Axis(0)).as_slice(), &[4, 6]);
        /// assert_eq!(a.sum_axis(ndarray::Axis(1)).as_slice(), &[3, 7]);
        /// assert_eq!(a.t().sum_axis(ndarray::Axis(0)).as_slice(), &[3, 7]);
        /// ```
        #[must_use]
        #[track_caller]
        pub fn sum_axis(&self, axis: Axis) -> AllocArrayBase<A, D::Smaller, K>
        where
            A: Clone + Add<Output = A> + Zero,
            D: RemoveAxis,
        {
            or_panic(sum_axis_new(self.view(), axis))
        }

        /// A new array of the means along `axis` (one axis fewer), from the current allocator;
        /// `None` if the axis has length 0. Panics if `axis` is out of bounds.
        ///
        /// ```
        /// let a = allocarrays::AllocArray::from(ndarray::array![[1.0, 2.0], [3.0, 6.0]]);
        /// assert_eq!(a.mean_axis(ndarray::Axis(0)).unwrap().as_slice(), &[2.0, 4.0]);
        /// assert_eq!(a.t().mean_axis(ndarray::Axis(0)).unwrap().as_slice(), &[1.5, 4.5]);
        /// ```
        #[must_use]
        #[track_caller]
        pub fn mean_axis(&self, axis: Axis) -> Option<AllocArrayBase<A, D::Smaller, K>>
        where
            A: Clone + FromPrimitive + Add<Output = A> + Div<Output = A> + Zero,
            D: RemoveAxis,
        {
            let view = self.view();
            if axis.index() >= view.ndim() {
                axis_out_of_bounds(axis, view.ndim());
            }
            let n = view.len_of(axis);
            if n == 0 {
                return None;
            }
            let n = A::from_usize(n).expect("the axis length converts to the element type");
            let mut sums = or_panic(sum_axis_new(view, axis));
            sums.map_inplace(|s| *s = s.clone() / n.clone());
            Some(sums)
        }

        /// A new array of folds along `axis` (one axis fewer), from the current allocator:
        /// each element starts at a clone of `init` and folds the lane's elements in order.
        /// Panics if `axis` is out of bounds.
        ///
        /// ```
        /// let a = allocarrays::AllocArray::from(ndarray::array![[1, 5], [4, 2]]);
        /// let max = a.fold_axis(ndarray::Axis(0), i32::MIN, |&m, &x| m.max(x));
        /// assert_eq!(max.as_slice(), &[4, 5]);
        /// ```
        #[must_use]
        #[track_caller]
        pub fn fold_axis<B, F>(&self, axis: Axis, init: B, mut f: F) -> AllocArrayBase<B, D::Smaller, K>
        where
            B: Clone,
            D: RemoveAxis,
            F: FnMut(&B, &A) -> B,
        {
            self.map_axis(axis, |lane| lane.iter().fold(init.clone(), |acc, x| f(&acc, x)))
        }

        /// A new array of `f(lane)` for every lane along `axis` (one axis fewer), from the
        /// current allocator; each lane is an `ndarray` 1-d view. Panics if `axis` is out of
        /// bounds.
        ///
        /// ```
        /// let a = allocarrays::AllocArray::from(ndarray::array![[1.0f32, 3.0], [2.0, 0.0]]);
        /// // The index of each row's largest element.
        /// let argmax = a.map_axis(ndarray::Axis(1), |row| {
        ///     (0..row.len()).fold(0, |best, i| if row[i] > row[best] { i } else { best })
        /// });
        /// assert_eq!(argmax.as_slice(), &[1, 0]);
        /// ```
        #[must_use]
        #[track_caller]
        pub fn map_axis<B, F>(&self, axis: Axis, mut f: F) -> AllocArrayBase<B, D::Smaller, K>
        where
            D: RemoveAxis,
            F: FnMut(ArrayView<'_, A, Ix1>) -> B,
        {
            let view = self.view();
            if axis.index() >= view.ndim() {
                axis_out_of_bounds(axis, view.ndim());
            }
            let dim = view.raw_dim().remove_axis(axis);
            let lanes = view.lanes(axis).into_iter().map(|lane| f(lane));
            or_panic(AllocArrayBase::try_new_from_iter(dim, lanes))
        }

        /// The matrix or vector product with `rhs` (an array, view or `ndarray` array of the
        /// same element type): 1-d · 1-d gives a scalar, 2-d · 1-d and 1-d · 2-d a new 1-d
        /// array, 2-d · 2-d a new 2-d array, each from the current allocator and written
        /// straight into it. Small matrix products (up to [`DIRECT_DOT_MAX`](crate::DIRECT_DOT_MAX)
        /// multiply-adds) run as a direct loop and take no heap memory; larger ones use
        /// `matrixmultiply` (for `f32`/`f64`), whose packing buffer comes from the router's
        /// scratch arena where `ArenaRouter` is the global allocator (feature `router`; no call
        /// to the wrapped allocator once warm), and from the global allocator otherwise.
        /// Panics, at the caller's line, if the shapes don't fit.
        ///
        /// ```
        /// use allocarrays::AllocArray;
        ///
        /// let m = AllocArray::from(ndarray::array![[1.0, 2.0], [3.0, 4.0]]);
        /// let v = AllocArray::from(vec![1.0, 1.0]);
        /// assert_eq!(m.dot(&v).as_slice(), &[3.0, 7.0]);
        /// assert_eq!(v.dot(&v), 2.0);
        /// assert_eq!(m.dot(&m).as_slice(), &[7.0, 10.0, 15.0, 22.0]);
        /// assert_eq!(m.t().dot(&m).as_slice(), &[10.0, 14.0, 14.0, 20.0]);
        /// ```
        #[track_caller]
        pub fn dot<R>(&self, rhs: R) -> <D as DotDim<R::Dim>>::Product<A, K::Or<R::Kind>>
        where
            R: Operand<Elem = A>,
            D: DotDim<R::Dim>,
            A: ndarray::LinalgScalar,
        {
            let lhs = self.view();
            or_panic(rhs.with_view(|rhs| D::dot_views(lhs, rhs)))
        }
    };
}

/// The methods of 2-d arrays and views.
macro_rules! shared_methods_2d {
    ($s:lifetime, $out:lifetime) => {
        /// Row `i` as a view (no copy). Panics if out of bounds.
        ///
        /// ```
        /// let a = allocarrays::AllocArray::from(ndarray::array![[1, 2], [3, 4]]);
        /// assert_eq!(a.row(1).to_slice(), Some(&[3, 4][..]));
        /// assert_eq!(a.t().row(1).to_array(), ndarray::array![2, 4]);
        /// ```
        #[track_caller]
        pub fn row<$s>(&$s self, i: usize) -> AllocViewBase<$out, A, Ix1, K> {
            self.index_axis(Axis(0), i)
        }

        /// Column `j` as a view (no copy). Panics if out of bounds.
        ///
        /// ```
        /// let a = allocarrays::AllocArray::from(ndarray::array![[1, 2], [3, 4]]);
        /// assert_eq!(a.column(1).to_array(), ndarray::array![2, 4]);
        /// assert_eq!((a.column(0) + a.column(1)).as_slice(), &[3, 7]);
        /// ```
        #[track_caller]
        pub fn column<$s>(&$s self, j: usize) -> AllocViewBase<$out, A, Ix1, K> {
            self.index_axis(Axis(1), j)
        }

        /// The number of rows. Never checks.
        ///
        /// ```
        /// let a = allocarrays::AllocArray::<u8, _>::zeros((2, 3));
        /// assert_eq!((a.nrows(), a.t().nrows()), (2, 3));
        /// ```
        #[must_use]
        pub fn nrows(&self) -> usize {
            self.shape_ref()[0]
        }

        /// The number of columns. Never checks.
        ///
        /// ```
        /// let a = allocarrays::AllocArray::<u8, _>::zeros((2, 3));
        /// assert_eq!((a.ncols(), a.t().ncols()), (3, 2));
        /// ```
        #[must_use]
        pub fn ncols(&self) -> usize {
            self.shape_ref()[1]
        }
    };
}

#[allow(clippy::needless_lifetimes, clippy::elidable_lifetime_names)]
impl<A, D: Dimension, K: Checking> AllocArrayBase<A, D, K> {
    shared_methods!('s, 's);
}

#[allow(clippy::needless_lifetimes, clippy::elidable_lifetime_names)]
impl<'a, A, D: Dimension, K: Checking> AllocViewBase<'a, A, D, K> {
    shared_methods!('s, 'a);
}

#[allow(clippy::needless_lifetimes, clippy::elidable_lifetime_names)]
impl<A, K: Checking> AllocArrayBase<A, Ix2, K> {
    shared_methods_2d!('s, 's);
}

#[allow(clippy::needless_lifetimes, clippy::elidable_lifetime_names)]
impl<'a, A, K: Checking> AllocViewBase<'a, A, Ix2, K> {
    shared_methods_2d!('s, 'a);
}

/// A new array of the sums of `view` along `axis`, from the current allocator. Panics if `axis`
/// is out of bounds.
#[track_caller]
fn sum_axis_new<A, D, K>(
    view: ArrayView<'_, A, D>,
    axis: Axis,
) -> Result<AllocArrayBase<A, D::Smaller, K>, ArrayError>
where
    A: Clone + Add<Output = A> + Zero,
    D: RemoveAxis,
    K: Checking,
{
    if axis.index() >= view.ndim() {
        axis_out_of_bounds(axis, view.ndim());
    }
    let dim = view.raw_dim().remove_axis(axis);
    if axis.index() + 1 == view.ndim() {
        // Each sum is over a row: contiguous lanes when the view is.
        return AllocArrayBase::try_new_from_iter(
            dim,
            view.lanes(axis).into_iter().map(|l| l.sum()),
        );
    }
    let mut sums = AllocArrayBase::try_new_with(dim, |_| A::zero())?;
    for sub in view.axis_iter(axis) {
        Zip::from(sums.raw_view_mut())
            .and(sub)
            .for_each(|s, x| *s = s.clone() + x.clone());
    }
    Ok(sums)
}
