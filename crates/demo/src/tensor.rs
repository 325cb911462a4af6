//! The few array operations the model's layers need, as a trait over array types, so the model
//! is written once and runs on plain `ndarray` arrays and on arena arrays alike.
//!
//! An [`ArrayFamily`] is a kind of owned `f32` array of any dimension: [`Plain`] (`ndarray`'s
//! `Array`) or [`Arena<K>`] (`allocarrays`' `AllocArrayBase<f32, D, K>`, unchecked or checked).
//! Every new array a family makes comes from where that family's arrays come from: the heap for
//! `Plain`, the current allocator of [`with_allocator`](allocarrays::with_allocator) for
//! `Arena`. That is the seed's point: code that never heard of the arena allocates its
//! intermediates from it, because its inputs are arena arrays.
//!
//! [`Tensor`] ties an array type to its family, so a generic function can take the array and
//! find the family from it; [`Param`] reads a parameter array, of whichever kind.

use allocarrays::{AllocArrayBase, Checking};
use ndarray::{Array, Dimension};

/// A kind of owned, row-major `f32` array, of any dimension.
pub trait ArrayFamily {
    /// The family's array of dimension `D`.
    type Array<D: Dimension>;

    /// A new array of shape `dim` (zeroed), filled in row-major order by `fill`. It comes from
    /// where the family's new arrays come from.
    ///
    /// Zeroed first in both families alike, so the two compare fairly. (Building from
    /// uninitialised memory, each element written once, was measured: no gain on this model,
    /// whose time is in its products.)
    fn build<D: Dimension>(dim: D, fill: impl FnOnce(&mut [f32])) -> Self::Array<D>;

    /// The shape.
    fn shape<D: Dimension>(a: &Self::Array<D>) -> &[usize];

    /// The elements in row-major order (checked arrays check their memory here, once).
    fn as_slice<D: Dimension>(a: &Self::Array<D>) -> &[f32];

    /// The elements in row-major order, mutably.
    fn as_slice_mut<D: Dimension>(a: &mut Self::Array<D>) -> &mut [f32];

    /// The same elements with another shape of the same element count (no copy).
    fn into_shape<D: Dimension, E: Dimension>(a: Self::Array<D>, dim: E) -> Self::Array<E>;
}

/// `ndarray::Array<f32, D>`: new arrays on the heap.
#[derive(Debug, Clone, Copy)]
pub enum Plain {}

/// `allocarrays::AllocArrayBase<f32, D, K>`: new arrays from the current allocator (the heap
/// outside any `with_allocator`).
#[derive(Debug, Clone, Copy)]
pub struct Arena<K>(std::marker::PhantomData<K>);

impl ArrayFamily for Plain {
    type Array<D: Dimension> = Array<f32, D>;

    fn build<D: Dimension>(dim: D, fill: impl FnOnce(&mut [f32])) -> Array<f32, D> {
        let mut a = Array::zeros(dim);
        fill(a.as_slice_mut().expect("a new array is in standard layout"));
        a
    }

    fn shape<D: Dimension>(a: &Array<f32, D>) -> &[usize] {
        a.shape()
    }

    fn as_slice<D: Dimension>(a: &Array<f32, D>) -> &[f32] {
        a.as_slice()
            .expect("the model's arrays are in standard (row-major) layout")
    }

    fn as_slice_mut<D: Dimension>(a: &mut Array<f32, D>) -> &mut [f32] {
        a.as_slice_mut()
            .expect("the model's arrays are in standard (row-major) layout")
    }

    fn into_shape<D: Dimension, E: Dimension>(a: Array<f32, D>, dim: E) -> Array<f32, E> {
        a.into_shape_with_order(dim)
            .expect("reshape to the same element count")
    }
}

impl<K: Checking> ArrayFamily for Arena<K> {
    type Array<D: Dimension> = AllocArrayBase<f32, D, K>;

    fn build<D: Dimension>(dim: D, fill: impl FnOnce(&mut [f32])) -> AllocArrayBase<f32, D, K> {
        let mut a = AllocArrayBase::zeros(dim);
        fill(a.as_slice_mut());
        a
    }

    fn shape<D: Dimension>(a: &AllocArrayBase<f32, D, K>) -> &[usize] {
        a.shape()
    }

    fn as_slice<D: Dimension>(a: &AllocArrayBase<f32, D, K>) -> &[f32] {
        a.as_slice()
    }

    fn as_slice_mut<D: Dimension>(a: &mut AllocArrayBase<f32, D, K>) -> &mut [f32] {
        a.as_slice_mut()
    }

    fn into_shape<D: Dimension, E: Dimension>(
        a: AllocArrayBase<f32, D, K>,
        dim: E,
    ) -> AllocArrayBase<f32, E, K> {
        a.reshape(dim).expect("reshape to the same element count")
    }
}

/// An array of dimension `D` that belongs to a family: lets generic code name the family of its
/// input.
pub trait Tensor<D: Dimension>: Sized {
    /// The family; its array of dimension `D` is `Self`.
    type Family: ArrayFamily<Array<D> = Self>;
}

impl<D: Dimension> Tensor<D> for Array<f32, D> {
    type Family = Plain;
}

impl<D: Dimension, K: Checking> Tensor<D> for AllocArrayBase<f32, D, K> {
    type Family = Arena<K>;
}

/// A parameter array of a layer (a weight matrix, a bias), read as a row-major slice. Plain
/// `ndarray` arrays and arena-aware arrays both are.
pub trait Param {
    /// The shape.
    fn shape(&self) -> &[usize];

    /// The elements in row-major order.
    fn values(&self) -> &[f32];
}

impl<D: Dimension> Param for Array<f32, D> {
    fn shape(&self) -> &[usize] {
        Array::shape(self)
    }

    fn values(&self) -> &[f32] {
        self.as_slice()
            .expect("parameters are in standard (row-major) layout")
    }
}

impl<D: Dimension, K: Checking> Param for AllocArrayBase<f32, D, K> {
    fn shape(&self) -> &[usize] {
        AllocArrayBase::shape(self)
    }

    fn values(&self) -> &[f32] {
        self.as_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use allocarrays::{with_allocator, AllocArray, BumperAllocator};
    use ndarray::{Ix1, Ix2};

    /// Generic code: doubles its input into a new array of its family.
    fn doubled<X: Tensor<Ix1>>(x: &X) -> <X::Family as ArrayFamily>::Array<Ix2> {
        doubled_in::<X::Family>(x)
    }

    fn doubled_in<F: ArrayFamily>(x: &F::Array<Ix1>) -> F::Array<Ix2> {
        let n = F::shape(x)[0];
        let xs = F::as_slice(x);
        let y = F::build(Ix1(n), |out| {
            for (o, v) in out.iter_mut().zip(xs) {
                *o = 2.0 * v;
            }
        });
        F::into_shape(y, Ix2(1, n))
    }

    #[test]
    fn families_make_arrays_where_their_inputs_live() {
        let plain = ndarray::array![1.0f32, 2.0, 3.0];
        assert_eq!(doubled(&plain), ndarray::array![[2.0, 4.0, 6.0]]);

        let alloc = BumperAllocator::with_fixed_capacity(1 << 16);
        let arena_in: AllocArray<f32, Ix1> = AllocArray::from(plain.clone());
        with_allocator(&alloc, || {
            let y = doubled(&arena_in);
            assert!(y.is_arena());
            assert_eq!(y.as_slice(), &[2.0, 4.0, 6.0]);
            // Plain arrays stay on the heap even inside `with_allocator`.
            let z: Array<f32, Ix2> = doubled(&plain);
            assert_eq!(z.shape(), &[1, 3]);
        });
        alloc.reset();
    }
}
