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
use crate::error::{or_panic, ArrayError};
use crate::heap_carry;

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

/// `Operand` for one form: `with_view` calls `f` with `$view` (an expression of `self`).
macro_rules! impl_operand {
    ($([$($generics:tt)*] $T:ty, $Kind:ty, $B:ty, $E:ty, |$this:ident| $view:expr;)*) => {$(
        impl<$($generics)*> Operand for $T {
            type Elem = $B;
            type Dim = $E;
            type Kind = $Kind;

            #[track_caller]
            fn with_view<R>(self, f: impl FnOnce(ArrayView<'_, $B, $E>) -> R) -> R {
                let $this = self;
                f($view)
            }
        }
    )*};
}

impl_operand! {
    [B, E: Dimension, K: Checking] &AllocArrayBase<B, E, K>, K, B, E, |a| a.view();
    [B, E: Dimension, K: Checking] AllocArrayBase<B, E, K>, K, B, E, |a| a.view();
    ['b, B, E: Dimension, K: Checking] AllocViewBase<'b, B, E, K>, K, B, E, |a| a.view();
    ['b, B, E: Dimension, K: Checking] &AllocViewBase<'b, B, E, K>, K, B, E, |a| a.view();
    [B, S: Data<Elem = B>, E: Dimension] &ArrayBase<S, E, B>, Unchecked, B, E, |a| a.view();
    [B, S: Data<Elem = B>, E: Dimension] ArrayBase<S, E, B>, Unchecked, B, E, |a| a.view();
    [B, E: Dimension] &ArrayRef<B, E>, Unchecked, B, E, |a| a.view();
    [B] Scalar<B>, Unchecked, B, Ix0, |a| ndarray::aview0(&a.0);
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

/// A new array (from the current allocator) of `f(x, y)` over `a` and `b` broadcast together,
/// in one pass (each element written once, no temporaries).
///
/// # Errors
///
/// [`ArrayError::Broadcast`] if the shapes can't be broadcast together; otherwise as
/// `AllocArrayBase::try_new_with`. (Errors, not panics: callers run this inside
/// `Operand::with_view`'s closure and panic at their caller's line.)
pub(crate) fn zip_new<A, B, O, D1, D2, Out, K>(
    a: ArrayView<'_, A, D1>,
    b: ArrayView<'_, B, D2>,
    mut f: impl FnMut(&A, &B) -> O,
) -> Result<AllocArrayBase<O, Out, K>, ArrayError>
where
    D1: Dimension,
    D2: Dimension,
    Out: Dimension,
    K: Checking,
{
    let Some(shape) = co_broadcast::<_, _, Out>(&a.raw_dim(), &b.raw_dim()) else {
        return Err(ArrayError::Broadcast {
            lhs: a.shape().to_vec(),
            rhs: b.shape().to_vec(),
        });
    };
    let n = shape.size();
    // Fast paths: each side is either the whole shape in row-major order or a single value.
    // `try_new_with(shape, g)` calls `g(i)` once for each `i` in `0..shape.size()` (the contract of
    // `Storage::from_fn`), so `i < n` in the closures below.
    match (a.to_slice(), b.to_slice()) {
        (Some(xs), Some(ys)) if xs.len() == n && ys.len() == n => {
            // SAFETY: `i < n == xs.len() == ys.len()` (see above); unchecked so the loop
            // vectorises.
            return AllocArrayBase::try_new_with(shape, move |i| unsafe {
                f(xs.get_unchecked(i), ys.get_unchecked(i))
            });
        }
        (Some(xs), _) if xs.len() == n && b.len() == 1 => {
            let y = b.iter().next().expect("one element");
            return AllocArrayBase::try_new_with(shape, move |i| {
                // SAFETY: `i < n == xs.len()` (see above).
                let x = unsafe { xs.get_unchecked(i) };
                f(x, y)
            });
        }
        (_, Some(ys)) if ys.len() == n && a.len() == 1 => {
            let x = a.iter().next().expect("one element");
            return AllocArrayBase::try_new_with(shape, move |i| {
                // SAFETY: `i < n == ys.len()` (see above).
                let y = unsafe { ys.get_unchecked(i) };
                f(x, y)
            });
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
        return AllocArrayBase::try_new_with(shape, |_| unreachable!("no elements"));
    }
    if shape.ndim() == 0 {
        let (x, y) = (a.iter().next(), b.iter().next());
        let (x, y) = (x.expect("one element"), y.expect("one element"));
        return AllocArrayBase::try_new_with(shape, |_| f(x, y));
    }
    // Row by row along the last axis: the inner step is one strided index per operand.
    let last = ndarray::Axis(shape.ndim() - 1);
    let row_len = shape[last.index()];
    let mut rows = a.lanes(last).into_iter().zip(b.lanes(last));
    let (mut ra, mut rb) = rows.next().expect("a non-empty array has a row");
    let mut j = 0;
    // `move`: the cursor lives in the closure, not behind a pointer the writes might alias.
    AllocArrayBase::try_new_with(shape, move |_| {
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
///
/// # Errors
///
/// As `AllocArrayBase::try_new_with`.
pub(crate) fn map_new<A, B, D, K>(
    a: ArrayView<'_, A, D>,
    mut f: impl FnMut(&A) -> B,
) -> Result<AllocArrayBase<B, D, K>, ArrayError>
where
    D: Dimension,
    K: Checking,
{
    let shape = a.raw_dim();
    if let Some(xs) = a.to_slice() {
        // SAFETY: `try_new_with` calls the closure with each `i` in `0..shape.size()`, which is
        // `xs.len()` (the contract of `Storage::from_fn`); unchecked so the loop vectorises.
        return AllocArrayBase::try_new_with(shape, move |i| f(unsafe { xs.get_unchecked(i) }));
    }
    if a.is_empty() {
        return AllocArrayBase::try_new_with(shape, |_| unreachable!("no elements"));
    }
    // Not row-major contiguous, so at least one axis.
    let last = ndarray::Axis(shape.ndim() - 1);
    let row_len = shape[last.index()];
    let mut rows = a.lanes(last).into_iter();
    let mut row = rows.next().expect("a non-empty array has a row");
    let mut j = 0;
    AllocArrayBase::try_new_with(shape, move |_| {
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
    ///
    /// # Errors
    ///
    /// [`ArrayError::NotAligned`] if the inner lengths differ; otherwise as the array's
    /// `try_*` constructors.
    #[doc(hidden)]
    fn dot_views<A: LinalgScalar, K: Checking>(
        a: ArrayView<'_, A, Self>,
        b: ArrayView<'_, A, E>,
    ) -> Result<<Self as DotDim<E>>::Product<A, K>, ArrayError>;
}

/// The largest matrix product (`m * k * n` multiply-adds) that [`dot`](AllocArrayBase::dot)
/// computes by a direct loop into the new array, taking no heap memory; larger ones go to
/// `matrixmultiply`, which takes a packing buffer from the heap for every product. With
/// feature `router` (on by default) and [`ArenaRouter`] as the global allocator, that buffer
/// comes from the router's scratch arena ([`with_scratch_arena`]), so large products too make
/// no call to the wrapped allocator once it is warm; without the router (or the feature) it
/// comes from the global allocator.
#[cfg_attr(
    feature = "router",
    doc = "",
    doc = "[`ArenaRouter`]: crate::ArenaRouter",
    doc = "[`with_scratch_arena`]: crate::with_scratch_arena"
)]
#[cfg_attr(
    not(feature = "router"),
    doc = "",
    doc = "[`ArenaRouter`]: https://docs.rs/arena-router/latest/arena_router/struct.ArenaRouter.html",
    doc = "[`with_scratch_arena`]: https://docs.rs/arena-router/latest/arena_router/fn.with_scratch_arena.html"
)]
///
/// ```
/// use allocarrays::{AllocArray, DIRECT_DOT_MAX};
///
/// // A dense layer of 32 x 90 inputs and 90 x 10 weights: a direct loop.
/// assert!(32 * 90 * 10 <= DIRECT_DOT_MAX);
/// let x = AllocArray::<f32, _>::ones((32, 90));
/// let w = AllocArray::<f32, _>::ones((90, 10));
/// assert_eq!(x.dot(&w)[(0, 0)], 90.0);
/// ```
pub const DIRECT_DOT_MAX: usize = 1 << 18;

fn not_aligned(a: &[usize], b: &[usize]) -> ArrayError {
    ArrayError::NotAligned {
        lhs: a.to_vec(),
        rhs: b.to_vec(),
    }
}

impl DotDim<Ix1> for Ix1 {
    type Product<A, K: Checking> = A;

    fn dot_views<A: LinalgScalar, K: Checking>(
        a: ArrayView<'_, A, Ix1>,
        b: ArrayView<'_, A, Ix1>,
    ) -> Result<A, ArrayError> {
        if a.len() != b.len() {
            return Err(not_aligned(a.shape(), b.shape()));
        }
        Ok(a.dot(&b))
    }
}

/// The matrix-vector products: `$m · $v` for operands `$a` (`Self`) and `$b` (`E`).
macro_rules! impl_mat_vec_dot {
    ($(($D:ty, $E:ty): |$a:ident, $b:ident| $m:expr, $v:expr;)*) => {$(
        impl DotDim<$E> for $D {
            type Product<A, K: Checking> = AllocArrayBase<A, Ix1, K>;

            fn dot_views<A: LinalgScalar, K: Checking>(
                $a: ArrayView<'_, A, $D>,
                $b: ArrayView<'_, A, $E>,
            ) -> Result<AllocArrayBase<A, Ix1, K>, ArrayError> {
                mat_vec_new($m, $v, ($a.shape(), $b.shape()))
            }
        }
    )*};
}

impl_mat_vec_dot! {
    (Ix2, Ix1): |a, b| a, b;
    // `a · b` is `bᵀ · a`.
    (Ix1, Ix2): |a, b| b.t(), a;
}

/// `m · v` into a new 1-d array from the current allocator; `shapes` are the operands' as the
/// user wrote them, for the error.
fn mat_vec_new<A: LinalgScalar, K: Checking>(
    m: ArrayView<'_, A, Ix2>,
    v: ArrayView<'_, A, Ix1>,
    shapes: (&[usize], &[usize]),
) -> Result<AllocArrayBase<A, Ix1, K>, ArrayError> {
    if m.ncols() != v.len() {
        return Err(not_aligned(shapes.0, shapes.1));
    }
    let mut out = AllocArrayBase::try_new_with(Ix1(m.nrows()), |_| A::zero())?;
    general_mat_vec_mul(A::one(), &m, &v, A::zero(), &mut out.raw_view_mut());
    Ok(out)
}

impl DotDim<Ix2> for Ix2 {
    type Product<A, K: Checking> = AllocArrayBase<A, Ix2, K>;

    fn dot_views<A: LinalgScalar, K: Checking>(
        a: ArrayView<'_, A, Ix2>,
        b: ArrayView<'_, A, Ix2>,
    ) -> Result<AllocArrayBase<A, Ix2, K>, ArrayError> {
        let ((m, k), (k2, n)) = (a.dim(), b.dim());
        if k != k2 {
            return Err(not_aligned(a.shape(), b.shape()));
        }
        let mut out = AllocArrayBase::try_new_with(Ix2(m, n), |_| A::zero())?;
        let direct = m
            .checked_mul(k)
            .and_then(|mk| mk.checked_mul(n))
            .is_some_and(|work| work <= DIRECT_DOT_MAX);
        if direct {
            mat_mul_direct(a, b, out.storage_mut_slice());
        } else {
            // The new array comes from the current allocator (above); only the product's
            // working memory (matrixmultiply's packing buffer) goes to the scratch arena.
            let mut out_view = out.raw_view_mut();
            heap_carry::scratch(|| {
                general_mat_mul(A::one(), &a, &b, A::zero(), &mut out_view);
            });
        }
        Ok(out)
    }
}

/// `out += a · b` by a direct loop (row of `a` by rows of `b`, the inner loop over a row of
/// the output, which vectorises when `b`'s rows are contiguous); `out` is the row-major
/// `(m, n)` result, zeroed. Takes no memory.
fn mat_mul_direct<A: LinalgScalar>(
    a: ArrayView<'_, A, Ix2>,
    b: ArrayView<'_, A, Ix2>,
    out: &mut [A],
) {
    let (m, n) = (a.nrows(), b.ncols());
    debug_assert_eq!(out.len(), m * n);
    if n == 0 {
        return;
    }
    match b.as_slice() {
        Some(bs) => {
            for (a_row, out_row) in a.rows().into_iter().zip(out.chunks_exact_mut(n)) {
                for (&x, b_row) in a_row.iter().zip(bs.chunks_exact(n)) {
                    for (o, &y) in out_row.iter_mut().zip(b_row) {
                        *o = *o + x * y;
                    }
                }
            }
        }
        None => {
            for (a_row, out_row) in a.rows().into_iter().zip(out.chunks_exact_mut(n)) {
                for (&x, b_row) in a_row.iter().zip(b.rows()) {
                    for (o, &y) in out_row.iter_mut().zip(b_row.iter()) {
                        *o = *o + x * y;
                    }
                }
            }
        }
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

/// `ndarray op ours`: an `ndarray` array or view (by reference or by value) on the left, one
/// of our forms on the right.
macro_rules! impl_ndarray_lhs_op {
    ($Trait:ident, $method:ident, $op:tt, [$($rl:lifetime),*], $Rhs:ty) => {
        impl_ndarray_lhs_op!(@one $Trait, $method, $op, ['l, $($rl),*], &'l ArrayBase<S, E, B>, $Rhs);
        impl_ndarray_lhs_op!(@one $Trait, $method, $op, [$($rl),*], ArrayBase<S, E, B>, $Rhs);
    };
    (@one $Trait:ident, $method:ident, $op:tt, [$($l:lifetime),* $(,)?], $Lhs:ty, $Rhs:ty) => {
        impl<$($l,)* A, D, K, B, S, E> $Trait<$Rhs> for $Lhs
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
                or_panic(
                    rhs.with_view(|rhs| zip_new(lhs, rhs, |x: &B, y: &A| x.clone() $op y.clone())),
                )
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
