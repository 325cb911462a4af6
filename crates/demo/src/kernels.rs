//! The numeric kernels of the model's layers, on row-major slices: they write into memory
//! they are given and never allocate, so where the layers' arrays come from is decided by the
//! array family alone (see [`crate::tensor`]).
//!
//! Images are in NHWC order (batch, row, column, channel): a convolution copies the 3x3
//! patches of a tile of output pixels into the rows of a matrix (`im2col`), then multiplies it
//! with the weights, tile after tile.

/// Copies 3x3 patches (no padding, stride 1) of `x`, of shape `(n, h, w, c)`, into the rows of
/// `cols`, of `9 * c` columns: row `r` of `cols` is output pixel `first + r` in row-major
/// order `(b, y, x)` over `(n, h - 2, w - 2)`, and holds `x[b, y + dy, x + dx, ch]` at column
/// `(dy * 3 + dx) * c + ch`.
pub fn im2col3x3(
    x: &[f32],
    (n, h, w, c): (usize, usize, usize, usize),
    first: usize,
    cols: &mut [f32],
) {
    let (oh, ow) = (h - 2, w - 2);
    let row_len = 9 * c;
    assert_eq!(x.len(), n * h * w * c, "im2col: input shape");
    assert_eq!(cols.len() % row_len, 0, "im2col: rows of 9c columns");
    assert!(
        first + cols.len() / row_len <= n * oh * ow,
        "im2col: rows past the output"
    );
    // Each patch row is three contiguous runs of the input (3 pixels x c channels each); the
    // model's widths get copies of a length known at compile time.
    match 3 * c {
        3 => im2col_runs::<3>(x, (h, w, c), (oh, ow), first, cols),
        48 => im2col_runs::<48>(x, (h, w, c), (oh, ow), first, cols),
        96 => im2col_runs::<96>(x, (h, w, c), (oh, ow), first, cols),
        _ => im2col_runs::<0>(x, (h, w, c), (oh, ow), first, cols),
    }
}

/// The rows of [`im2col3x3`]: three runs of `3 * c` values each, `RUN` of them when `RUN` is
/// not 0. The output pixel `(b, y, x)` advances with each row.
#[inline(always)]
fn im2col_runs<const RUN: usize>(
    x: &[f32],
    (h, w, c): (usize, usize, usize),
    (oh, ow): (usize, usize),
    first: usize,
    cols: &mut [f32],
) {
    let run = 3 * c;
    debug_assert!(RUN == 0 || RUN == run);
    let (mut b, mut y, mut xo) = (first / (oh * ow), first / ow % oh, first % ow);
    for row in cols.chunks_exact_mut(3 * run) {
        let base = ((b * h + y) * w + xo) * c;
        for (dy, dst) in row.chunks_exact_mut(run).enumerate() {
            let src = &x[base + dy * w * c..][..run];
            if RUN == 0 {
                dst.copy_from_slice(src);
            } else {
                let dst: &mut [f32; RUN] = dst.try_into().expect("a run");
                let src: &[f32; RUN] = src.try_into().expect("a run");
                *dst = *src;
            }
        }
        xo += 1;
        if xo == ow {
            xo = 0;
            y += 1;
            if y == oh {
                y = 0;
                b += 1;
            }
        }
    }
}

/// `out = act(a · b + bias)`: `a` is `(m, k)`, `b` is `(k, n)`, `bias` has `n` values (or none),
/// `out` is `(m, n)`, all row-major; `relu` applies `max(0, .)`.
///
/// Register-blocked for the layer widths of the model (16 and 32 columns), and compiled for
/// AVX2 + FMA as well, chosen at run time where the CPU has them; a plain loop serves other
/// widths. Single-threaded.
pub fn matmul_bias_act(
    a: &[f32],
    b: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    out: &mut [f32],
    k: usize,
    n: usize,
) {
    assert!(k > 0 && n > 0, "matmul: empty inner or outer dimension");
    assert_eq!(a.len() % k, 0, "matmul: a is not m x k");
    let m = a.len() / k;
    assert_eq!(b.len(), k * n, "matmul: b is not k x n");
    assert_eq!(out.len(), m * n, "matmul: out is not m x n");
    if let Some(bias) = bias {
        assert_eq!(bias.len(), n, "matmul: bias length");
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above), the only requirement of
        // the `target_feature` function.
        unsafe { matmul_avx2_fma(a, b, out, k, n) };
        bias_act(out, bias, relu, n);
        return;
    }
    matmul_dispatch::<false>(a, b, out, k, n);
    bias_act(out, bias, relu, n);
}

/// The product compiled with AVX2 and FMA enabled.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn matmul_avx2_fma(a: &[f32], b: &[f32], out: &mut [f32], k: usize, n: usize) {
    matmul_dispatch::<true>(a, b, out, k, n);
}

/// Picks the kernel for the width `n`.
#[inline(always)]
fn matmul_dispatch<const FMA: bool>(a: &[f32], b: &[f32], out: &mut [f32], k: usize, n: usize) {
    match n {
        10 => matmul_blocked::<4, 10, FMA>(a, b, out, k),
        16 => matmul_blocked::<4, 16, FMA>(a, b, out, k),
        32 => matmul_blocked::<2, 32, FMA>(a, b, out, k),
        _ => matmul_rows::<FMA>(a, b, out, k, n),
    }
}

/// `x * y + acc`, fused (one rounding) when the kernel is compiled with FMA.
#[inline(always)]
fn mul_add<const FMA: bool>(x: f32, y: f32, acc: f32) -> f32 {
    if FMA {
        x.mul_add(y, acc)
    } else {
        x * y + acc
    }
}

/// `out = a · b` with `N` columns, `R` rows at a time: the `R x N` block of sums stays in
/// registers while `k` runs, each row of `b` is loaded once per block.
#[inline(always)]
fn matmul_blocked<const R: usize, const N: usize, const FMA: bool>(
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
    k: usize,
) {
    let mut a_blocks = a.chunks_exact(R * k);
    let mut out_blocks = out.chunks_exact_mut(R * N);
    for (a_block, out_block) in (&mut a_blocks).zip(&mut out_blocks) {
        let mut acc = [[0.0f32; N]; R];
        for (kk, b_row) in b.chunks_exact(N).enumerate() {
            let b_row: &[f32; N] = b_row.try_into().expect("rows of N");
            for (r, acc_row) in acc.iter_mut().enumerate() {
                let x = a_block[r * k + kk];
                for (s, &y) in acc_row.iter_mut().zip(b_row) {
                    *s = mul_add::<FMA>(x, y, *s);
                }
            }
        }
        for (dst, acc_row) in out_block.chunks_exact_mut(N).zip(&acc) {
            dst.copy_from_slice(acc_row);
        }
    }
    // The rows left over, one at a time.
    let rest = a_blocks.remainder();
    matmul_rows::<FMA>(rest, b, out_blocks.into_remainder(), k, N);
}

/// `out = a · b`, one row at a time, for any width `n`.
#[inline(always)]
fn matmul_rows<const FMA: bool>(a: &[f32], b: &[f32], out: &mut [f32], k: usize, n: usize) {
    for (a_row, out_row) in a.chunks_exact(k).zip(out.chunks_exact_mut(n)) {
        out_row.fill(0.0);
        for (&x, b_row) in a_row.iter().zip(b.chunks_exact(n)) {
            for (s, &y) in out_row.iter_mut().zip(b_row) {
                *s = mul_add::<FMA>(x, y, *s);
            }
        }
    }
}

/// Adds `bias` to every row of the `(m, n)` matrix `out`, then applies relu if asked.
fn bias_act(out: &mut [f32], bias: Option<&[f32]>, relu: bool, n: usize) {
    match (bias, relu) {
        (None, false) => {}
        (None, true) => out.iter_mut().for_each(|v| *v = v.max(0.0)),
        (Some(bias), relu) => {
            for row in out.chunks_exact_mut(n) {
                for (v, &b) in row.iter_mut().zip(bias) {
                    let s = *v + b;
                    *v = if relu { s.max(0.0) } else { s };
                }
            }
        }
    }
}

/// `out[p, c] = relu(x[p, c] * scale[c] + shift[c])` over rows of `c = scale.len()` channels:
/// batch normalisation with its statistics folded into one scale and shift per channel.
pub fn scale_shift_relu(x: &[f32], scale: &[f32], shift: &[f32], out: &mut [f32]) {
    let c = scale.len();
    assert_eq!(shift.len(), c, "batchnorm: shift length");
    assert_eq!(x.len(), out.len(), "batchnorm: output length");
    assert_eq!(x.len() % c, 0, "batchnorm: rows of c channels");
    for (o_row, x_row) in out.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
        for (((o, &v), &s), &t) in o_row.iter_mut().zip(x_row).zip(scale).zip(shift) {
            *o = (v * s + t).max(0.0);
        }
    }
}

/// 2x2 max pooling with stride 2 (odd edges dropped, as `floor`): `x` is `(n, h, w, c)`,
/// `out` is `(n, h / 2, w / 2, c)`.
pub fn maxpool2(x: &[f32], (n, h, w, c): (usize, usize, usize, usize), out: &mut [f32]) {
    let (oh, ow) = (h / 2, w / 2);
    assert_eq!(x.len(), n * h * w * c, "maxpool: input shape");
    assert_eq!(out.len(), n * oh * ow * c, "maxpool: output shape");
    let mut pixels = out.chunks_exact_mut(c);
    for b in 0..n {
        let image = &x[b * h * w * c..(b + 1) * h * w * c];
        for y in 0..oh {
            let top = &image[2 * y * w * c..(2 * y + 1) * w * c];
            let bottom = &image[(2 * y + 1) * w * c..(2 * y + 2) * w * c];
            for xo in 0..ow {
                let dst = pixels.next().expect("one pixel per output position");
                let (l, r) = (2 * xo * c, (2 * xo + 1) * c);
                let windows = top[l..l + c]
                    .iter()
                    .zip(&top[r..r + c])
                    .zip(&bottom[l..l + c])
                    .zip(&bottom[r..r + c]);
                for (d, (((&a, &b), &e), &f)) in dst.iter_mut().zip(windows) {
                    *d = a.max(b).max(e.max(f));
                }
            }
        }
    }
}

/// Softmax of every row of `n` values: `out[i] = exp(x[i] - max) / sum`.
pub fn softmax_rows(x: &[f32], n: usize, out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "softmax: output length");
    for (o_row, x_row) in out.chunks_exact_mut(n).zip(x.chunks_exact(n)) {
        let max = x_row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for (o, &v) in o_row.iter_mut().zip(x_row) {
            *o = (v - max).exp();
            sum += *o;
        }
        let inv = 1.0 / sum;
        o_row.iter_mut().for_each(|o| *o *= inv);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook triple loop.
    fn naive(a: &[f32], b: &[f32], k: usize, n: usize) -> Vec<f32> {
        let m = a.len() / k;
        let mut out = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|kk| a[i * k + kk] * b[kk * n + j]).sum();
            }
        }
        out
    }

    #[test]
    fn matmul_matches_the_naive_product_for_every_width() {
        let mut rng = crate::rng::SplitMix64::new(3);
        for &(m, k, n) in &[(7, 9, 32), (9, 33, 16), (5, 4, 10), (1, 1, 1), (3, 2, 16)] {
            let a: Vec<f32> = (0..m * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let b: Vec<f32> = (0..k * n).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let bias: Vec<f32> = (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let mut out = vec![f32::NAN; m * n];
            matmul_bias_act(&a, &b, Some(&bias), true, &mut out, k, n);
            let expected = naive(&a, &b, k, n);
            for (i, (&got, &want)) in out.iter().zip(&expected).enumerate() {
                let want = (want + bias[i % n]).max(0.0);
                assert!(
                    (got - want).abs() < 1e-5,
                    "{m}x{k}x{n} [{i}]: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn im2col_rows_are_the_patches() {
        // One 4x4 image, 2 channels: value = 100 * y + 10 * x + ch.
        let (n, h, w, c) = (1, 4, 4, 2);
        let x: Vec<f32> = (0..h * w * c)
            .map(|i| (100 * (i / (w * c)) + 10 * (i / c % w) + i % c) as f32)
            .collect();
        let mut cols = vec![0.0; 4 * 18];
        im2col3x3(&x, (n, h, w, c), 0, &mut cols);
        // Row (y=1, x=0), column (dy=2, dx=1, ch=1): pixel (3, 1), channel 1.
        assert_eq!(cols[2 * 18 + (2 * 3 + 1) * 2 + 1], 311.0);
        // Row (y=0, x=1), first column: pixel (0, 1), channel 0.
        assert_eq!(cols[18], 10.0);
        // The last two rows alone, from row 2 on.
        let mut tail = vec![0.0; 2 * 18];
        im2col3x3(&x, (n, h, w, c), 2, &mut tail);
        assert_eq!(tail, cols[2 * 18..]);
    }

    #[test]
    fn maxpool_takes_the_max_of_each_window_and_drops_odd_edges() {
        let (n, h, w, c) = (1, 3, 5, 1);
        let x: Vec<f32> = (0..15).map(|i| i as f32).collect();
        let mut out = vec![0.0; 2];
        maxpool2(&x, (n, h, w, c), &mut out);
        assert_eq!(out, [6.0, 8.0]);
    }

    #[test]
    fn softmax_rows_sum_to_one() {
        let x = [1.0, 2.0, 3.0, -1.0, 0.0, 1000.0];
        let mut out = [0.0; 6];
        softmax_rows(&x, 3, &mut out);
        for row in out.chunks(3) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
        assert!(out[2] > out[1] && out[1] > out[0]);
        assert_eq!(out[5], 1.0);
    }

    #[test]
    fn batchnorm_scales_shifts_and_clamps() {
        let x = [1.0, -1.0, 2.0, 3.0];
        let mut out = [0.0; 4];
        scale_shift_relu(&x, &[2.0, 1.0], &[0.5, -5.0], &mut out);
        assert_eq!(out, [2.5, 0.0, 4.5, 0.0]);
    }
}
