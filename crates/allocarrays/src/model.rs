//! Model helpers: converting a model's parameter arrays to arena-aware arrays (the seed's
//! `Adapt.adapt(AllocArray, model)`), and running inference one batch at a time in the arena
//! (the seed's `infer_batch` and `wrap_model`).

use std::fmt;
use std::mem::MaybeUninit;

use ndarray::{Array, ArrayView, Dimension};

use crate::array::AllocArrayBase;
use crate::checked::Checking;
use crate::context::{with_allocator, ArrayAllocator};

/// Converts a value's arrays to [`AllocArray`](crate::AllocArray)s (or `CheckedAllocArray`s),
/// so operations on a model's parameters also allocate from the current allocator.
///
/// Implemented for `ndarray::Array` (the array keeps its heap memory: no copy), for arrays that
/// already are `AllocArrayBase` (unchanged: no double wrapping), and for `Vec`, `Option`,
/// `Box` and tuples of convertible values. Implement it for your model's parameter struct by
/// converting each field.
///
/// ```
/// use allocarrays::{AllocArray, ToAllocArrays};
/// use ndarray::{array, Array1, Array2, Ix1, Ix2};
///
/// struct Dense<W> { weight: W, bias: W }
///
/// impl ToAllocArrays for Dense<Array2<f64>> {
///     type Output = Dense<AllocArray<f64, Ix2>>;
///     fn to_alloc_arrays(self) -> Self::Output {
///         Dense { weight: self.weight.to_alloc_arrays(), bias: self.bias.to_alloc_arrays() }
///     }
/// }
///
/// let layer = Dense { weight: array![[1.0, 2.0]], bias: array![[0.5]] }.to_alloc_arrays();
/// assert_eq!(layer.weight.shape(), &[1, 2]);
/// let pair: (AllocArray<i32, Ix1>, Option<AllocArray<i32, Ix1>>) =
///     (array![1], Some(array![2])).to_alloc_arrays();
/// # let _ = pair;
/// ```
pub trait ToAllocArrays {
    /// The same value with arena-aware arrays.
    type Output;

    /// Converts the arrays.
    #[must_use]
    fn to_alloc_arrays(self) -> Self::Output;
}

impl<A, D: Dimension> ToAllocArrays for Array<A, D> {
    type Output = AllocArrayBase<A, D>;

    fn to_alloc_arrays(self) -> Self::Output {
        AllocArrayBase::from(self)
    }
}

impl<A, D: Dimension, K: Checking> ToAllocArrays for AllocArrayBase<A, D, K> {
    type Output = Self;

    fn to_alloc_arrays(self) -> Self {
        self
    }
}

impl<T: ToAllocArrays> ToAllocArrays for Vec<T> {
    type Output = Vec<T::Output>;

    fn to_alloc_arrays(self) -> Self::Output {
        self.into_iter().map(T::to_alloc_arrays).collect()
    }
}

impl<T: ToAllocArrays> ToAllocArrays for Option<T> {
    type Output = Option<T::Output>;

    fn to_alloc_arrays(self) -> Self::Output {
        self.map(T::to_alloc_arrays)
    }
}

impl<T: ToAllocArrays> ToAllocArrays for Box<T> {
    type Output = Box<T::Output>;

    fn to_alloc_arrays(self) -> Self::Output {
        Box::new((*self).to_alloc_arrays())
    }
}

macro_rules! tuple_to_alloc_arrays {
    ($($t:ident),+) => {
        impl<$($t: ToAllocArrays),+> ToAllocArrays for ($($t,)+) {
            type Output = ($($t::Output,)+);

            #[allow(non_snake_case)]
            fn to_alloc_arrays(self) -> Self::Output {
                let ($($t,)+) = self;
                ($($t.to_alloc_arrays(),)+)
            }
        }
    };
}
tuple_to_alloc_arrays!(T1);
tuple_to_alloc_arrays!(T1, T2);
tuple_to_alloc_arrays!(T1, T2, T3);
tuple_to_alloc_arrays!(T1, T2, T3, T4);

/// Runs `model` on one batch in the arena (the seed's `infer_batch`): inside
/// [`with_allocator`]`(alloc, ..)` the batch is copied into an arena array, the model runs (every
/// array it makes comes from `alloc`), the result is copied out to a heap `ndarray::Array`, and
/// `alloc` is reset, also when the model panics.
///
/// ```
/// use allocarrays::{infer_batch, AllocArray, BumperAllocator};
/// use ndarray::{array, Axis, Ix2};
///
/// let alloc = BumperAllocator::with_fixed_capacity(1 << 20);
/// let batch = array![[1.0, 2.0], [3.0, 4.0]];
/// let model = |x: AllocArray<f64, Ix2>| (&x * 2.0).sum_axis(Axis(1));
/// let out = infer_batch(&alloc, model, batch.view());
/// assert_eq!(out, array![6.0, 14.0]);
/// assert_eq!(alloc.stats().used, 0); // reset: nothing stays in the arena
/// ```
#[must_use]
pub fn infer_batch<Al, A, D, B, E, K, F>(
    alloc: &Al,
    model: F,
    batch: ArrayView<'_, A, D>,
) -> Array<B, E>
where
    Al: ArrayAllocator,
    A: Clone,
    B: Clone,
    D: Dimension,
    E: Dimension,
    K: Checking,
    F: FnOnce(AllocArrayBase<A, D, K>) -> AllocArrayBase<B, E, K>,
{
    /// Resets the allocator when the batch ends, also by panic.
    struct ResetOnDrop<'a, Al: ArrayAllocator>(&'a Al);
    impl<Al: ArrayAllocator> Drop for ResetOnDrop<'_, Al> {
        fn drop(&mut self) {
            self.0.reset();
        }
    }

    let _reset = ResetOnDrop(alloc);
    with_allocator(alloc, || {
        let mut slots = AllocArrayBase::<MaybeUninit<A>, D, K>::uninit(batch.raw_dim());
        ndarray::Zip::from(slots.view_mut())
            .and(&batch)
            .for_each(|slot, x| {
                slot.write(x.clone());
            });
        // SAFETY: the zip over two arrays of the same shape wrote every element.
        let input = unsafe { slots.assume_init() };
        // The output's arena memory is released when it drops here, before the reset.
        model(input).to_array()
    })
}

/// A model bundled with its allocator (the seed's `wrap_model`): each call runs
/// [`infer_batch`] on it, so callers pass plain arrays in and get plain arrays out.
///
/// ```
/// use allocarrays::{AllocArray, BumperAllocator, WrappedModel};
/// use ndarray::{array, Ix1};
///
/// let weights = AllocArray::from(array![1.0, 10.0]);
/// let model = WrappedModel::new(
///     move |x: AllocArray<f64, Ix1>| &x * &weights,
///     BumperAllocator::default(),
/// );
/// assert_eq!(model.infer(array![2.0, 3.0].view()), array![2.0, 30.0]);
/// assert_eq!(model.infer(array![1.0, 1.0].view()), array![1.0, 10.0]);
/// ```
pub struct WrappedModel<F, Al> {
    model: F,
    allocator: Al,
}

impl<F, Al: ArrayAllocator> WrappedModel<F, Al> {
    /// Wraps `model`, to run with `allocator`.
    #[must_use]
    pub fn new(model: F, allocator: Al) -> Self {
        WrappedModel { model, allocator }
    }

    /// Runs the model on `batch` in the arena and returns a heap copy of its output.
    #[must_use]
    pub fn infer<A, D, B, E, K>(&self, batch: ArrayView<'_, A, D>) -> Array<B, E>
    where
        F: Fn(AllocArrayBase<A, D, K>) -> AllocArrayBase<B, E, K>,
        A: Clone,
        B: Clone,
        D: Dimension,
        E: Dimension,
        K: Checking,
    {
        infer_batch(&self.allocator, &self.model, batch)
    }

    /// The allocator, e.g. for its stats.
    #[must_use]
    pub fn allocator(&self) -> &Al {
        &self.allocator
    }
}

impl<F, Al: fmt::Debug> fmt::Debug for WrappedModel<F, Al> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedModel")
            .field("allocator", &self.allocator)
            .finish_non_exhaustive()
    }
}
