//! Arithmetic on arrays and views: `+ - * / %` and unary `-` with NumPy/`ndarray`-style
//! broadcasting, the compound assignments `+= -= *= /= %=`, and [`DotDim`] products. Every
//! result is a new array from the current allocator.
//!
//! The right operand of an operator on an [`AllocArrayBase`] or [`AllocViewBase`] (by value or
//! by reference) is anything [`Operand`]: another array or view (checked or not), an `ndarray`
//! array or view, or a [`Scalar`]; a primitive number (`f64`, `i32`, ...) of the element type
//! works directly. An `ndarray` array, or a primitive number, on the *left* of an array or view
//! works too. The result is checked if either operand is.

use std::ops::{
    Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, RemAssign, Sub, SubAssign,
};

use ndarray::linalg::{general_mat_mul, general_mat_vec_mul};
use ndarray::{
    ArrayBase, ArrayRef, ArrayView, Data, DimMax, Dimension, Ix0, Ix1, Ix2, LinalgScalar,
};

use crate::array::{AllocArrayBase, AllocViewBase};
use crate::checked::{Checking, Unchecked};

/// A right operand of the arithmetic on arrays: what can be viewed as an `ndarray` view and
/// broadcast against the left one. Implemented for arrays and views of this crate (by value
/// and by reference), `ndarray` arrays and views, and [`Scalar`].
///
/// ```
/// use allocarrays::{AllocArray, Operand};
///
/// let a = AllocArray::from(vec![1, 2, 3]);
/// let len = (&a).with_view(|v| v.len());
/// assert_eq!(len, 3);
/// ```
pub trait Operand {
    /// The element type.
    type Elem;
    /// The dimension type.
    type Dim: Dimension;
    /// [`Checked`](crate::Checked) for checked arrays and their views, otherwise
    /// [`Unchecked`].
    type Kind: Checking;

    /// Calls `f` with the operand's elements as an `ndarray` view. Checked operands check their
    /// memory first and panic with [`InvalidMemory`](crate::InvalidMemory)'s text if it is
    /// invalid.
    fn with_view<R>(self, f: impl FnOnce(ArrayView<'_, Self::Elem, Self::Dim>) -> R) -> R;
}

/// A value of any type used as a zero-dimensional operand, broadcast against the other side:
/// for element types without direct scalar operators (primitive numbers have them).
///
/// ```
/// use allocarrays::{AllocArray, Scalar};
/// use std::num::Wrapping;
///
/// let a = AllocArray::from(vec![Wrapping(250u8), Wrapping(3)]);
/// let b = &a + Scalar(Wrapping(10u8));
/// assert_eq!(b.as_slice(), &[Wrapping(4), Wrapping(13)]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Scalar<T>(pub T);

impl<B, E: Dimension, K: Checking> Operand for &AllocArrayBase<B, E, K> {
    type Elem = B;
    type Dim = E;
    type Kind = K;

    #[track_caller]
    fn with_view<R>(self, f: impl FnOnce(ArrayView<'_, B, E>) -> R) -> R {
        f(self.view())
    }
}

impl<B, E: Dimension, K: Checking> Operand for AllocArrayBase<B, E, K> {
    type Elem = B;
    type Dim = E;
    type Kind = K;

    #[track_caller]
    fn with_view<R>(self, f: impl FnOnce(ArrayView<'_, B, E>) -> R) -> R {
        f(self.view())
    }
}

impl<'b, B, E: Dimension, K: Checking> Operand for AllocViewBase<'b, B, E, K> {
    type Elem = B;
    type Dim = E;
    type Kind = K;

    #[track_caller]
    fn with_view<R>(self, f: impl FnOnce(ArrayView<'_, B, E>) -> R) -> R {
        f(self.view())
    }
}

impl<'b, B, E: Dimension, K: Checking> Operand for &AllocViewBase<'b, B, E, K> {
    type Elem = B;
    type Dim = E;
    type Kind = K;

    #[track_caller]
    fn with_view<R>(self, f: impl FnOnce(ArrayView<'_, B, E>) -> R) -> R {
        f(self.view())
    }
}

impl<B, S: Data<Elem = B>, E: Dimension> Operand for &ArrayBase<S, E, B> {
    type Elem = B;
    type Dim = E;
    type Kind = Unchecked;

    fn with_view<R>(self, f: impl FnOnce(ArrayView<'_, B, E>) -> R) -> R {
        f(self.view())
    }
}

impl<B, S: Data<Elem = B>, E: Dimension> Operand for ArrayBase<S, E, B> {
    type Elem = B;
    type Dim = E;
    type Kind = Unchecked;

    fn with_view<R>(self, f: impl FnOnce(ArrayView<'_, B, E>) -> R) -> R {
        f(self.view())
    }
}

impl<B, E: Dimension> Operand for &ArrayRef<B, E> {
    type Elem = B;
    type Dim = E;
    type Kind = Unchecked;

    fn with_view<R>(self, f: impl FnOnce(ArrayView<'_, B, E>) -> R) -> R {
        f(self.view())
    }
}

impl<B> Operand for Scalar<B> {
    type Elem = B;
    type Dim = Ix0;
    type Kind = Unchecked;

    fn with_view<R>(self, f: impl FnOnce(ArrayView<'_, B, Ix0>) -> R) -> R {
        f(ndarray::aview0(&self.0))
    }
}

// ---------------------------------------------------------------------------------------------
// Broadcasting.

/// The shape both shapes broadcast to (NumPy rules: align the trailing axes; each pair of
/// lengths must be equal or one of them 1), or `None`.
pub(crate) fn co_broadcast<D1, D2, Out>(a: &D1, b: &D2) -> Option<Out>
where
    D1: Dimension,
    D2: Dimension,
    Out: Dimension,
{
    let (a, b) = (a.slice(), b.slice());
    let n = a.len().max(b.len());
    let mut out = Out::zeros(n);
    for (i, len) in out.slice_mut().iter_mut().enumerate() {
        let x = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let y = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        *len = if x == y || y == 1 {
            x
        } else if x == 1 {
            y
        } else {
            return None;
        };
    }
    Some(out)
}

#[cold]
#[track_caller]
fn cannot_broadcast(a: &[usize], b: &[usize]) -> ! {
    panic!("cannot broadcast arrays of shapes {a:?} and {b:?} together")
}

#[cold]
#[track_caller]
pub(crate) fn cannot_broadcast_to(from: &[usize], to: &[usize]) -> ! {
    panic!("cannot broadcast an array of shape {from:?} to shape {to:?}")
}

/// A new array (from the current allocator) of `f(x, y)` over `a` and `b` broadcast together.
#[track_caller]
pub(crate) fn zip_new<A, B, O, D1, D2, Out, K>(
    a: ArrayView<'_, A, D1>,
    b: ArrayView<'_, B, D2>,
    mut f: impl FnMut(&A, &B) -> O,
) -> AllocArrayBase<O, Out, K>
where
    D1: Dimension,
    D2: Dimension,
    Out: Dimension,
    K: Checking,
{
    let Some(shape) = co_broadcast::<_, _, Out>(&a.raw_dim(), &b.raw_dim()) else {
        cannot_broadcast(a.shape(), b.shape())
    };
    let n = shape.size();
    // Fast paths: each side is either the whole shape in row-major order or a single value.
    // `new_with(shape, g)` calls `g(i)` once for each `i` in `0..shape.size()` (the contract of
    // `Storage::from_fn`), so `i < n` in the closures below.
    match (a.to_slice(), b.to_slice()) {
        (Some(xs), Some(ys)) if xs.len() == n && ys.len() == n => {
            // SAFETY: `i < n == xs.len() == ys.len()` (see above); unchecked so the loop
            // vectorises.
            return AllocArrayBase::new_with(shape, move |i| unsafe {
                f(xs.get_unchecked(i), ys.get_unchecked(i))
            });
        }
        (Some(xs), _) if xs.len() == n && b.len() == 1 => {
            let y = b.iter().next().expect("one element");
            // SAFETY: `i < n == xs.len()` (see above).
            return AllocArrayBase::new_with(shape, move |i| f(unsafe { xs.get_unchecked(i) }, y));
        }
        (_, Some(ys)) if ys.len() == n && a.len() == 1 => {
            let x = a.iter().next().expect("one element");
            // SAFETY: `i < n == ys.len()` (see above).
            return AllocArrayBase::new_with(shape, move |i| f(x, unsafe { ys.get_unchecked(i) }));
        }
        _ => {}
    }
    let a = a
        .broadcast(shape.clone())
        .expect("broadcasts to the common shape");
    let b = b
        .broadcast(shape.clone())
        .expect("broadcasts to the common shape");
    if n == 0 {
        return AllocArrayBase::new_with(shape, |_| unreachable!("no elements"));
    }
    if shape.ndim() == 0 {
        let (x, y) = (a.iter().next(), b.iter().next());
        let (x, y) = (x.expect("one element"), y.expect("one element"));
        return AllocArrayBase::new_with(shape, |_| f(x, y));
    }
    // Row by row along the last axis: the inner step is one strided index per operand.
    let last = ndarray::Axis(shape.ndim() - 1);
    let row_len = shape[last.index()];
    let mut rows = a.lanes(last).into_iter().zip(b.lanes(last));
    let (mut ra, mut rb) = rows.next().expect("a non-empty array has a row");
    let mut j = 0;
    // `move`: the cursor lives in the closure, not behind a pointer the writes might alias.
    AllocArrayBase::new_with(shape, move |_| {
        if j == row_len {
            (ra, rb) = rows.next().expect("one row per row_len elements");
            j = 0;
        }
        // SAFETY: `j < row_len`, the length of both rows (lanes of the common shape).
        let out = unsafe { f(ra.uget(j), rb.uget(j)) };
        j += 1;
        out
    })
}

/// A new array (from the current allocator) of `f(x)` over the elements of `a` in row-major
/// order.
pub(crate) fn map_new<A, B, D, K>(
    a: ArrayView<'_, A, D>,
    mut f: impl FnMut(&A) -> B,
) -> AllocArrayBase<B, D, K>
where
    D: Dimension,
    K: Checking,
{
    let shape = a.raw_dim();
    if let Some(xs) = a.to_slice() {
        // SAFETY: `new_with` calls the closure with each `i` in `0..shape.size()`, which is
        // `xs.len()` (the contract of `Storage::from_fn`); unchecked so the loop vectorises.
        return AllocArrayBase::new_with(shape, move |i| f(unsafe { xs.get_unchecked(i) }));
    }
    if a.is_empty() {
        return AllocArrayBase::new_with(shape, |_| unreachable!("no elements"));
    }
    // Not row-major contiguous, so at least one axis.
    let last = ndarray::Axis(shape.ndim() - 1);
    let row_len = shape[last.index()];
    let mut rows = a.lanes(last).into_iter();
    let mut row = rows.next().expect("a non-empty array has a row");
    let mut j = 0;
    AllocArrayBase::new_with(shape, move |_| {
        if j == row_len {
            row = rows.next().expect("one row per row_len elements");
            j = 0;
        }
        // SAFETY: `j < row_len`, the row's length.
        let out = f(unsafe { row.uget(j) });
        j += 1;
        out
    })
}

// ---------------------------------------------------------------------------------------------
// Products.

/// The dimensions `dot` multiplies: 1-d · 1-d (a scalar), 2-d · 1-d, 1-d · 2-d (1-d arrays)
/// and 2-d · 2-d (a 2-d array); see [`AllocArrayBase::dot`].
///
/// ```
/// use allocarrays::AllocArray;
///
/// let row = AllocArray::from(vec![1.0, 2.0]);
/// let m = AllocArray::from(ndarray::array![[1.0, 0.0], [0.0, 3.0]]);
/// assert_eq!(row.dot(&m).as_slice(), &[1.0, 6.0]);
/// ```
pub trait DotDim<E: Dimension>: Dimension {
    /// The product's type for elements `A`: `A` itself, or an array of kind `K`.
    type Product<A, K: Checking>;

    /// The product of two views, written into a new array from the current allocator.
    #[doc(hidden)]
    fn dot_views<A: LinalgScalar, K: Checking>(
        a: ArrayView<'_, A, Self>,
        b: ArrayView<'_, A, E>,
    ) -> <Self as DotDim<E>>::Product<A, K>;
}

#[cold]
#[track_caller]
fn not_aligned(a: &[usize], b: &[usize]) -> ! {
    panic!("dot: shapes {a:?} and {b:?} are not aligned")
}

impl DotDim<Ix1> for Ix1 {
    type Product<A, K: Checking> = A;

    #[track_caller]
    fn dot_views<A: LinalgScalar, K: Checking>(
        a: ArrayView<'_, A, Ix1>,
        b: ArrayView<'_, A, Ix1>,
    ) -> A {
        if a.len() != b.len() {
            not_aligned(a.shape(), b.shape());
        }
        a.dot(&b)
    }
}

impl DotDim<Ix1> for Ix2 {
    type Product<A, K: Checking> = AllocArrayBase<A, Ix1, K>;

    #[track_caller]
    fn dot_views<A: LinalgScalar, K: Checking>(
        a: ArrayView<'_, A, Ix2>,
        b: ArrayView<'_, A, Ix1>,
    ) -> AllocArrayBase<A, Ix1, K> {
        let (m, k) = a.dim();
        if k != b.len() {
            not_aligned(a.shape(), b.shape());
        }
        let mut out = AllocArrayBase::new_with(Ix1(m), |_| A::zero());
        general_mat_vec_mul(A::one(), &a, &b, A::zero(), &mut out.raw_view_mut());
        out
    }
}

impl DotDim<Ix2> for Ix1 {
    type Product<A, K: Checking> = AllocArrayBase<A, Ix1, K>;

    #[track_caller]
    fn dot_views<A: LinalgScalar, K: Checking>(
        a: ArrayView<'_, A, Ix1>,
        b: ArrayView<'_, A, Ix2>,
    ) -> AllocArrayBase<A, Ix1, K> {
        let (k, n) = b.dim();
        if k != a.len() {
            not_aligned(a.shape(), b.shape());
        }
        let mut out = AllocArrayBase::new_with(Ix1(n), |_| A::zero());
        general_mat_vec_mul(A::one(), &b.t(), &a, A::zero(), &mut out.raw_view_mut());
        out
    }
}

impl DotDim<Ix2> for Ix2 {
    type Product<A, K: Checking> = AllocArrayBase<A, Ix2, K>;

    #[track_caller]
    fn dot_views<A: LinalgScalar, K: Checking>(
        a: ArrayView<'_, A, Ix2>,
        b: ArrayView<'_, A, Ix2>,
    ) -> AllocArrayBase<A, Ix2, K> {
        let ((m, k), (k2, n)) = (a.dim(), b.dim());
        if k != k2 {
            not_aligned(a.shape(), b.shape());
        }
        let mut out = AllocArrayBase::new_with(Ix2(m, n), |_| A::zero());
        general_mat_mul(A::one(), &a, &b, A::zero(), &mut out.raw_view_mut());
        out
    }
}

// ---------------------------------------------------------------------------------------------
// The operators.

/// Calls `$m!(args..., [rhs lifetimes], [rhs type parameters], {bounds}, Rhs)` for every right-hand
/// operand form of the operators: enumerated (not a blanket `R: Operand`), so that a literal
/// like `2.0` on the right has a single candidate and its type is inferred.
macro_rules! for_each_rhs {
    ($m:ident!($($args:tt)*)) => {
        $m!($($args)* ['r], [B, E, K2], {E: Dimension, K2: Checking,}, &'r AllocArrayBase<B, E, K2>);
        $m!($($args)* [], [B, E, K2], {E: Dimension, K2: Checking,}, AllocArrayBase<B, E, K2>);
        $m!($($args)* ['r], [B, E, K2], {E: Dimension, K2: Checking,}, AllocViewBase<'r, B, E, K2>);
        $m!(
            $($args)* ['r, 's], [B, E, K2], {E: Dimension, K2: Checking,},
            &'s AllocViewBase<'r, B, E, K2>
        );
        $m!($($args)* ['r], [B, S, E], {S: Data<Elem = B>, E: Dimension,}, &'r ArrayBase<S, E, B>);
        $m!($($args)* [], [B, S, E], {S: Data<Elem = B>, E: Dimension,}, ArrayBase<S, E, B>);
        $m!($($args)* ['r], [B, E], {E: Dimension,}, &'r ArrayRef<B, E>);
        $m!($($args)* [], [B], {}, Scalar<B>);
    };
}

/// `lhs op rhs` for one left-hand form of our arrays and views and one right-hand form.
macro_rules! impl_binary_op_one {
    (
        $Trait:ident, $method:ident, $op:tt, [$($ll:lifetime),*], $Lhs:ty,
        [$($rl:lifetime),*], [$($rt:ident),*], {$($bounds:tt)*}, $Rhs:ty
    ) => {
        impl<$($ll,)* $($rl,)* A, D, K, $($rt),*> $Trait<$Rhs> for $Lhs
        where
            $($bounds)*
            $Rhs: Operand<Elem = B>,
            A: Clone + $Trait<B>,
            B: Clone,
            D: Dimension + DimMax<<$Rhs as Operand>::Dim>,
            K: Checking,
        {
            type Output = AllocArrayBase<
                <A as $Trait<B>>::Output,
                <D as DimMax<<$Rhs as Operand>::Dim>>::Output,
                K::Or<<$Rhs as Operand>::Kind>,
            >;

            /// Elementwise, with broadcasting, into a new array from the current allocator.
            #[track_caller]
            fn $method(self, rhs: $Rhs) -> Self::Output {
                self.zip_with(rhs, |x, y| x.clone() $op y.clone())
            }
        }
    };
}

/// `ndarray op ours`: an `ndarray` array or view on the left, one of our forms on the right.
macro_rules! impl_ndarray_lhs_op {
    ($Trait:ident, $method:ident, $op:tt, [$($rl:lifetime),*], $Rhs:ty) => {
        impl<'l, $($rl,)* A, D, K, B, S, E> $Trait<$Rhs> for &'l ArrayBase<S, E, B>
        where
            S: Data<Elem = B>,
            B: Clone + $Trait<A>,
            A: Clone,
            E: Dimension + DimMax<D>,
            D: Dimension,
            K: Checking,
        {
            type Output =
                AllocArrayBase<<B as $Trait<A>>::Output, <E as DimMax<D>>::Output, K>;

            /// Elementwise, with broadcasting, into a new array from the current allocator.
            #[track_caller]
            fn $method(self, rhs: $Rhs) -> Self::Output {
                let lhs = self.view();
                rhs.with_view(|rhs| zip_new(lhs, rhs, |x: &B, y: &A| x.clone() $op y.clone()))
            }
        }

        impl<$($rl,)* A, D, K, B, S, E> $Trait<$Rhs> for ArrayBase<S, E, B>
        where
            S: Data<Elem = B>,
            B: Clone + $Trait<A>,
            A: Clone,
            E: Dimension + DimMax<D>,
            D: Dimension,
            K: Checking,
        {
            type Output =
                AllocArrayBase<<B as $Trait<A>>::Output, <E as DimMax<D>>::Output, K>;

            /// Elementwise, with broadcasting, into a new array from the current allocator.
            #[track_caller]
            fn $method(self, rhs: $Rhs) -> Self::Output {
                let lhs = self.view();
                rhs.with_view(|rhs| zip_new(lhs, rhs, |x: &B, y: &A| x.clone() $op y.clone()))
            }
        }
    };
}

/// `lhs op rhs` for every pair of forms.
macro_rules! impl_binary_op {
    ($Trait:ident, $method:ident, $op:tt) => {
        for_each_rhs!(impl_binary_op_one!($Trait, $method, $op, ['a], &'a AllocArrayBase<A, D, K>,));
        for_each_rhs!(impl_binary_op_one!($Trait, $method, $op, [], AllocArrayBase<A, D, K>,));
        for_each_rhs!(impl_binary_op_one!($Trait, $method, $op, ['a], AllocViewBase<'a, A, D, K>,));
        for_each_rhs!(impl_binary_op_one!(
            $Trait, $method, $op, ['a, 'v], &'v AllocViewBase<'a, A, D, K>,
        ));
        impl_ndarray_lhs_op!($Trait, $method, $op, ['r], &'r AllocArrayBase<A, D, K>);
        impl_ndarray_lhs_op!($Trait, $method, $op, [], AllocArrayBase<A, D, K>);
        impl_ndarray_lhs_op!($Trait, $method, $op, ['r], AllocViewBase<'r, A, D, K>);
        impl_ndarray_lhs_op!($Trait, $method, $op, ['r, 's], &'s AllocViewBase<'r, A, D, K>);
    };
}

impl_binary_op!(Add, add, +);
impl_binary_op!(Sub, sub, -);
impl_binary_op!(Mul, mul, *);
impl_binary_op!(Div, div, /);
impl_binary_op!(Rem, rem, %);

/// A scalar that can stand directly on either side of an operator with an array (`&a * 2.0`,
/// `1 - &a`): the primitive numbers. Implement it for your own scalar types to get the same
/// (on the right of an array); any value also works wrapped in [`Scalar`].
///
/// ```
/// use allocarrays::{AllocArray, ScalarOperand};
///
/// #[derive(Clone, Copy, Debug, PartialEq)]
/// struct Celsius(f64);
/// impl ScalarOperand for Celsius {}
/// impl std::ops::Add<Celsius> for Celsius {
///     type Output = Celsius;
///     fn add(self, rhs: Celsius) -> Celsius { Celsius(self.0 + rhs.0) }
/// }
///
/// let t = AllocArray::from(vec![Celsius(1.0), Celsius(2.0)]);
/// assert_eq!((&t + Celsius(10.0)).as_slice(), &[Celsius(11.0), Celsius(12.0)]);
/// ```
pub trait ScalarOperand: Clone + 'static {}

macro_rules! impl_scalar_operand {
    ($($t:ty),*) => {$(
        impl ScalarOperand for $t {}
    )*};
}

impl_scalar_operand!(f32, f64, i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);

/// `array op scalar` (one generic impl per form, so a literal's type is inferred) and
/// `scalar op array` (per primitive type, as `ndarray` does).
macro_rules! impl_scalar_op {
    ($Trait:ident, $method:ident, $op:tt, $Assign:ident, $assign:ident, $aop:tt) => {
        impl_scalar_op!(@rhs $Trait, $method, $op, ['a], &'a AllocArrayBase<A, D, K>);
        impl_scalar_op!(@rhs $Trait, $method, $op, [], AllocArrayBase<A, D, K>);
        impl_scalar_op!(@rhs $Trait, $method, $op, ['a], AllocViewBase<'a, A, D, K>);
        impl_scalar_op!(@rhs $Trait, $method, $op, ['a, 'v], &'v AllocViewBase<'a, A, D, K>);

        impl<A, D, K, B> $Assign<B> for AllocArrayBase<A, D, K>
        where
            B: ScalarOperand,
            A: $Assign<B>,
            D: Dimension,
            K: Checking,
        {
            /// In place, with the scalar, for every element.
            #[track_caller]
            fn $assign(&mut self, rhs: B) {
                self.map_inplace(|x| *x $aop rhs.clone());
            }
        }

        impl_scalar_op!(@lhs $Trait, $method, $op,
            f32, f64, i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);
    };
    (@rhs $Trait:ident, $method:ident, $op:tt, [$($lt:lifetime),*], $Array:ty) => {
        impl<$($lt,)* A, D, K, B> $Trait<B> for $Array
        where
            B: ScalarOperand,
            A: Clone + $Trait<B>,
            D: Dimension,
            K: Checking,
        {
            type Output = AllocArrayBase<<A as $Trait<B>>::Output, D, K>;

            /// With the scalar, into a new array from the current allocator.
            #[track_caller]
            fn $method(self, rhs: B) -> Self::Output {
                self.map(move |x| x.clone() $op rhs.clone())
            }
        }
    };
    (@lhs $Trait:ident, $method:ident, $op:tt, $($t:ty),*) => {$(
        impl_scalar_op!(@lhs_one $t, $Trait, $method, $op, ['a], &'a AllocArrayBase<$t, D, K>);
        impl_scalar_op!(@lhs_one $t, $Trait, $method, $op, [], AllocArrayBase<$t, D, K>);
        impl_scalar_op!(@lhs_one $t, $Trait, $method, $op, ['a], AllocViewBase<'a, $t, D, K>);
        impl_scalar_op!(
            @lhs_one $t, $Trait, $method, $op, ['a, 'v], &'v AllocViewBase<'a, $t, D, K>
        );
    )*};
    (@lhs_one $t:ty, $Trait:ident, $method:ident, $op:tt, [$($lt:lifetime),*], $Array:ty) => {
        impl<$($lt,)* D: Dimension, K: Checking> $Trait<$Array> for $t {
            type Output = AllocArrayBase<$t, D, K>;

            /// With the scalar, into a new array from the current allocator.
            #[track_caller]
            fn $method(self, rhs: $Array) -> Self::Output {
                rhs.map(move |&x| self $op x)
            }
        }
    };
}

impl_scalar_op!(Add, add, +, AddAssign, add_assign, +=);
impl_scalar_op!(Sub, sub, -, SubAssign, sub_assign, -=);
impl_scalar_op!(Mul, mul, *, MulAssign, mul_assign, *=);
impl_scalar_op!(Div, div, /, DivAssign, div_assign, /=);
impl_scalar_op!(Rem, rem, %, RemAssign, rem_assign, %=);

/// `array op= rhs` for one right-hand form, in place with `rhs` broadcast to the array's shape.
macro_rules! impl_assign_op_one {
    (
        $Trait:ident, $method:ident, $op:tt,
        [$($rl:lifetime),*], [$($rt:ident),*], {$($bounds:tt)*}, $Rhs:ty
    ) => {
        impl<$($rl,)* A, D, K, $($rt),*> $Trait<$Rhs> for AllocArrayBase<A, D, K>
        where
            $($bounds)*
            $Rhs: Operand<Elem = B>,
            A: $Trait<B>,
            B: Clone,
            D: Dimension,
            K: Checking,
        {
            /// In place, with `rhs` broadcast to this shape. Panics if it can't be.
            #[track_caller]
            fn $method(&mut self, rhs: $Rhs) {
                self.zip_mut_with(rhs, |x, y| *x $op y.clone());
            }
        }
    };
}

for_each_rhs!(impl_assign_op_one!(AddAssign, add_assign, +=,));
for_each_rhs!(impl_assign_op_one!(SubAssign, sub_assign, -=,));
for_each_rhs!(impl_assign_op_one!(MulAssign, mul_assign, *=,));
for_each_rhs!(impl_assign_op_one!(DivAssign, div_assign, /=,));
for_each_rhs!(impl_assign_op_one!(RemAssign, rem_assign, %=,));

/// `-array` for the four forms of our arrays and views.
macro_rules! impl_neg {
    ($([$($lt:lifetime),*] $Array:ty;)*) => {$(
        impl<$($lt,)* A, D, K> Neg for $Array
        where
            A: Clone + Neg,
            D: Dimension,
            K: Checking,
        {
            type Output = AllocArrayBase<<A as Neg>::Output, D, K>;

            /// Every element negated, into a new array from the current allocator.
            #[track_caller]
            fn neg(self) -> Self::Output {
                self.map(|x| -x.clone())
            }
        }
    )*};
}

impl_neg! {
    ['a] &'a AllocArrayBase<A, D, K>;
    [] AllocArrayBase<A, D, K>;
    ['a] AllocViewBase<'a, A, D, K>;
    ['a, 'v] &'v AllocViewBase<'a, A, D, K>;
}
