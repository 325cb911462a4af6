//! The seed's `DigitsModel`, a small CNN for 28x28 one-channel images, written once and generic
//! over the array family of its input (see [`crate::tensor`]):
//!
//! ```text
//! Conv 3x3 1 -> 32, relu      28x28x1  -> 26x26x32
//! BatchNorm 32, relu
//! MaxPool 2                            -> 13x13x32
//! Conv 3x3 32 -> 16, relu              -> 11x11x16
//! MaxPool 2                            -> 5x5x16
//! Conv 3x3 16 -> 10, relu              -> 3x3x10
//! flatten                              -> 90
//! Dense 90 -> 10
//! Dense 10 -> 10 (shared), twice
//! softmax
//! ```
//!
//! Convolutions have no padding and stride 1, as in the seed (Flux's defaults); batch
//! normalisation runs in inference mode, with its running statistics folded into one scale and
//! shift per channel when the model is made. Images are NHWC (batch, row, column, channel), so
//! the flattening order differs from Flux's column-major one; with random weights that is only
//! a permutation of the `Dense 90 -> 10` weights.
//!
//! Every layer makes its output as a new array of the input's family: with `ndarray` input
//! they come from the heap, with arena arrays from the current allocator. The parameters may
//! be plain `ndarray` arrays or arena-aware ones ([`ToAllocArrays`]); they are only read.

use allocarrays::{AllocArray, ToAllocArrays};
use ndarray::{Array1, Array2, Ix1, Ix2, Ix4};

use crate::kernels;
use crate::rng::SplitMix64;
use crate::tensor::{ArrayFamily, Param, Tensor};

/// Pixels per side of an input image.
pub const IMAGE_SIDE: usize = 28;
/// Classes (digits).
pub const CLASSES: usize = 10;
/// Features after the last convolution: 3 x 3 pixels x 10 channels.
pub const FLAT: usize = 90;
/// Batch normalisation's epsilon (Flux's default).
const EPSILON: f32 = 1e-5;

/// A 3x3 convolution, no padding, stride 1, with bias and relu.
#[derive(Debug, Clone)]
pub struct Conv<M, V> {
    /// `(9 * c_in, c_out)`: row `(dy * 3 + dx) * c_in + ch` holds the weights of patch position
    /// `(dy, dx)`, input channel `ch`, for every output channel.
    pub weight: M,
    /// `c_out`.
    pub bias: V,
}

/// Batch normalisation in inference mode followed by relu:
/// `relu(x * scale[c] + shift[c])` with `scale = gamma / sqrt(var + eps)` and
/// `shift = beta - mean * scale`.
#[derive(Debug, Clone)]
pub struct BatchNorm<V> {
    /// Per channel.
    pub scale: V,
    /// Per channel.
    pub shift: V,
}

/// A dense layer `x · weight + bias`, without activation.
#[derive(Debug, Clone)]
pub struct Dense<M, V> {
    /// `(inputs, outputs)`.
    pub weight: M,
    /// `outputs`.
    pub bias: V,
}

/// The model's parameters: matrices of type `M`, vectors of type `V` (plain `ndarray` arrays by
/// default; [`ToAllocArrays`] converts them).
#[derive(Debug, Clone)]
pub struct DigitsModel<M = Array2<f32>, V = Array1<f32>> {
    /// Conv 3x3 1 -> 32, relu.
    pub conv1: Conv<M, V>,
    /// BatchNorm 32, relu.
    pub norm: BatchNorm<V>,
    /// Conv 3x3 32 -> 16, relu.
    pub conv2: Conv<M, V>,
    /// Conv 3x3 16 -> 10, relu.
    pub conv3: Conv<M, V>,
    /// Dense 90 -> 10.
    pub dense: Dense<M, V>,
    /// Dense 10 -> 10, applied twice.
    pub shared: Dense<M, V>,
}

/// Glorot (Xavier) uniform weights, Flux's default: `U(-s, s)` with
/// `s = sqrt(6 / (fan_in + fan_out))`.
fn glorot(
    rng: &mut SplitMix64,
    rows: usize,
    cols: usize,
    fan_in: usize,
    fan_out: usize,
) -> Array2<f32> {
    let s = (6.0 / (fan_in + fan_out) as f32).sqrt();
    Array2::from_shape_simple_fn((rows, cols), || rng.uniform(-s, s))
}

/// `n` values uniform in `[low, high)`.
fn uniform(rng: &mut SplitMix64, n: usize, low: f32, high: f32) -> Array1<f32> {
    Array1::from_shape_simple_fn(n, || rng.uniform(low, high))
}

fn random_conv(rng: &mut SplitMix64, c_in: usize, c_out: usize) -> Conv<Array2<f32>, Array1<f32>> {
    Conv {
        weight: glorot(rng, 9 * c_in, c_out, 9 * c_in, 9 * c_out),
        bias: uniform(rng, c_out, -0.05, 0.05),
    }
}

fn random_dense(
    rng: &mut SplitMix64,
    inputs: usize,
    outputs: usize,
) -> Dense<Array2<f32>, Array1<f32>> {
    Dense {
        weight: glorot(rng, inputs, outputs, inputs, outputs),
        bias: uniform(rng, outputs, -0.05, 0.05),
    }
}

impl DigitsModel {
    /// A model with random weights drawn from `seed` (the same on every machine): Glorot
    /// uniform weights, small random biases, and batch-norm statistics and affine parameters
    /// near their initial values.
    pub fn random(seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let conv1 = random_conv(&mut rng, 1, 32);
        let gamma = uniform(&mut rng, 32, 0.8, 1.2);
        let beta = uniform(&mut rng, 32, -0.1, 0.1);
        let mean = uniform(&mut rng, 32, 0.0, 0.2);
        let var = uniform(&mut rng, 32, 0.02, 0.1);
        let scale = &gamma / &var.mapv(|v| (v + EPSILON).sqrt());
        let shift = &beta - &(&mean * &scale);
        DigitsModel {
            conv1,
            norm: BatchNorm { scale, shift },
            conv2: random_conv(&mut rng, 32, 16),
            conv3: random_conv(&mut rng, 16, CLASSES),
            dense: random_dense(&mut rng, FLAT, CLASSES),
            shared: random_dense(&mut rng, CLASSES, CLASSES),
        }
    }
}

impl<M, V> DigitsModel<M, V> {
    /// The same model with every matrix converted by `fm` and every vector by `fv`.
    pub fn map_params<M2, V2>(
        self,
        fm: impl Fn(M) -> M2,
        fv: impl Fn(V) -> V2,
    ) -> DigitsModel<M2, V2> {
        let conv = |c: Conv<M, V>| Conv {
            weight: fm(c.weight),
            bias: fv(c.bias),
        };
        let dense = |d: Dense<M, V>| Dense {
            weight: fm(d.weight),
            bias: fv(d.bias),
        };
        DigitsModel {
            conv1: conv(self.conv1),
            norm: BatchNorm {
                scale: fv(self.norm.scale),
                shift: fv(self.norm.shift),
            },
            conv2: conv(self.conv2),
            conv3: conv(self.conv3),
            dense: dense(self.dense),
            shared: dense(self.shared),
        }
    }
}

/// The seed's `Adapt.adapt(AllocArray, model)`: every parameter array becomes an `AllocArray`
/// (keeping its heap memory, no copy).
impl ToAllocArrays for DigitsModel {
    type Output = DigitsModel<AllocArray<f32, Ix2>, AllocArray<f32, Ix1>>;

    fn to_alloc_arrays(self) -> Self::Output {
        self.map_params(
            ToAllocArrays::to_alloc_arrays,
            ToAllocArrays::to_alloc_arrays,
        )
    }
}

/// `(n, h, w, c)` of a 4-d array of family `F`.
fn dims4<F: ArrayFamily>(x: &F::Array<Ix4>) -> (usize, usize, usize, usize) {
    match *F::shape(x) {
        [n, h, w, c] => (n, h, w, c),
        ref other => panic!("expected a 4-d array, got shape {other:?}"),
    }
}

/// Floats of the `im2col` scratch matrix of a convolution (128 KiB): a tile of patch rows that
/// stays in the L2 cache while it is multiplied.
const TILE_FLOATS: usize = 32 * 1024;

impl<M: Param, V: Param> Conv<M, V> {
    /// The convolution of `x` (`(n, h, w, c_in)`), with bias and relu, into a new array of
    /// `x`'s family. It goes tile by tile over the output pixels: the tile's patches are copied
    /// into the rows of a scratch matrix (`im2col`, a new array of the family too), which is
    /// multiplied with the weights into the tile's rows of the output.
    pub fn forward<F: ArrayFamily>(&self, x: &F::Array<Ix4>) -> F::Array<Ix4> {
        let (n, h, w, c) = dims4::<F>(x);
        let [k, c_out] = *self.weight.shape() else {
            panic!("conv weights are 2-d")
        };
        assert_eq!(k, 9 * c, "conv: {c} input channels, weights for {}", k / 9);
        let (oh, ow) = (h - 2, w - 2);
        let pixels = n * oh * ow;
        // A multiple of 4 rows, the row blocking of the product kernel.
        let tile = (TILE_FLOATS / k / 4 * 4).clamp(4, pixels.max(4));
        let mut cols = F::build(Ix2(tile, k), |_| {});
        let cols = F::as_slice_mut(&mut cols);
        let xs = F::as_slice(x);
        let (weight, bias) = (self.weight.values(), self.bias.values());
        let out = F::build(Ix2(pixels, c_out), |out| {
            for (t, out_tile) in out.chunks_mut(tile * c_out).enumerate() {
                let rows = out_tile.len() / c_out;
                let cols = &mut cols[..rows * k];
                kernels::im2col3x3(xs, (n, h, w, c), t * tile, cols);
                kernels::matmul_bias_act(cols, weight, Some(bias), true, out_tile, k, c_out);
            }
        });
        F::into_shape(out, Ix4(n, oh, ow, c_out))
    }
}

impl<V: Param> BatchNorm<V> {
    /// `relu(x * scale + shift)` per channel, into a new array of `x`'s family.
    pub fn forward<F: ArrayFamily>(&self, x: &F::Array<Ix4>) -> F::Array<Ix4> {
        let (n, h, w, c) = dims4::<F>(x);
        let xs = F::as_slice(x);
        let (scale, shift) = (self.scale.values(), self.shift.values());
        F::build(Ix4(n, h, w, c), |out| {
            kernels::scale_shift_relu(xs, scale, shift, out)
        })
    }
}

/// 2x2 max pooling, stride 2, into a new array of `x`'s family.
pub fn maxpool<F: ArrayFamily>(x: &F::Array<Ix4>) -> F::Array<Ix4> {
    let (n, h, w, c) = dims4::<F>(x);
    let xs = F::as_slice(x);
    F::build(Ix4(n, h / 2, w / 2, c), |out| {
        kernels::maxpool2(xs, (n, h, w, c), out)
    })
}

impl<M: Param, V: Param> Dense<M, V> {
    /// `x · weight + bias` for `x` of shape `(n, inputs)`, into a new array of `x`'s family.
    pub fn forward<F: ArrayFamily>(&self, x: &F::Array<Ix2>) -> F::Array<Ix2> {
        let [n, inputs] = *F::shape(x) else {
            panic!("dense input is 2-d")
        };
        let [k, outputs] = *self.weight.shape() else {
            panic!("dense weights are 2-d")
        };
        assert_eq!(k, inputs, "dense: {inputs} inputs, weights for {k}");
        let xs = F::as_slice(x);
        let (weight, bias) = (self.weight.values(), self.bias.values());
        F::build(Ix2(n, outputs), |out| {
            kernels::matmul_bias_act(xs, weight, Some(bias), false, out, k, outputs)
        })
    }
}

/// Softmax over each row, into a new array of `x`'s family.
pub fn softmax<F: ArrayFamily>(x: &F::Array<Ix2>) -> F::Array<Ix2> {
    let [n, classes] = *F::shape(x) else {
        panic!("softmax input is 2-d")
    };
    let xs = F::as_slice(x);
    F::build(Ix2(n, classes), |out| {
        kernels::softmax_rows(xs, classes, out)
    })
}

impl<M: Param, V: Param> DigitsModel<M, V> {
    /// Class probabilities `(n, 10)` for a batch of images `(n, 28, 28, 1)`, as a new array of
    /// the input's family; every intermediate array is of that family too.
    pub fn forward<X: Tensor<Ix4>>(&self, x: &X) -> <X::Family as ArrayFamily>::Array<Ix2> {
        self.forward_in::<X::Family>(x)
    }

    /// [`forward`](Self::forward) with the family named.
    pub fn forward_in<F: ArrayFamily>(&self, x: &F::Array<Ix4>) -> F::Array<Ix2> {
        let h = self.conv1.forward::<F>(x);
        let h = self.norm.forward::<F>(&h);
        let h = maxpool::<F>(&h);
        let h = self.conv2.forward::<F>(&h);
        let h = maxpool::<F>(&h);
        let h = self.conv3.forward::<F>(&h);
        let n = F::shape(&h)[0];
        let h = F::into_shape(h, Ix2(n, FLAT));
        let h = self.dense.forward::<F>(&h);
        let h = self.shared.forward::<F>(&h);
        let h = self.shared.forward::<F>(&h);
        softmax::<F>(&h)
    }
}

/// `count` random images `(count, 28, 28, 1)` with pixels uniform in `[0, 1)`, from `seed`.
pub fn random_images(seed: u64, count: usize) -> ndarray::Array4<f32> {
    let mut rng = SplitMix64::new(seed);
    ndarray::Array4::from_shape_simple_fn((count, IMAGE_SIDE, IMAGE_SIDE, 1), || rng.next_f32())
}

#[cfg(test)]
mod tests {
    use super::*;
    use allocarrays::{with_allocator, BumperAllocator, CheckedAllocArray};
    use ndarray::{s, Axis};

    #[test]
    fn shapes_and_probabilities() {
        let model = DigitsModel::random(1);
        let x = random_images(2, 3);
        let p = model.forward(&x);
        assert_eq!(p.shape(), &[3, CLASSES]);
        for row in p.axis_iter(Axis(0)) {
            assert!((row.sum() - 1.0).abs() < 1e-5);
            assert!(row.iter().all(|&v| v > 0.0));
        }
        // Not a constant: the images give different outputs.
        assert_ne!(p.row(0), p.row(1));
    }

    #[test]
    fn the_generic_model_agrees_on_every_array_family() {
        let model = DigitsModel::random(11);
        let x = random_images(12, 5);
        let plain = model.forward(&x);

        let alloc = BumperAllocator::with_fixed_capacity(16 << 20);
        let arena_x: AllocArray<f32, Ix4> = AllocArray::from(x.clone());
        let checked_x: CheckedAllocArray<f32, Ix4> = CheckedAllocArray::from(x.clone());
        let aa_model = model.clone().to_alloc_arrays();
        let (arena, checked, converted) = with_allocator(&alloc, || {
            let arena = model.forward(&arena_x);
            assert!(arena.is_arena(), "the output comes from the arena");
            let checked = model.forward(&checked_x);
            let converted = aa_model.forward(&arena_x);
            (arena.to_array(), checked.to_array(), converted.to_array())
        });
        alloc.reset();
        for other in [&arena, &checked, &converted] {
            let diff = (&plain - other)
                .mapv(f32::abs)
                .fold(0.0f32, |a, &b| a.max(b));
            assert!(diff <= 1e-6, "max |difference| {diff}");
        }
        // Batching doesn't change the result.
        let first_two = model.forward(&x.slice(s![0..2, .., .., ..]).to_owned());
        assert_eq!(first_two, plain.slice(s![0..2, ..]));
    }
}
