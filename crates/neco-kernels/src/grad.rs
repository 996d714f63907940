//! Weight gradients of the stride-2 layers and per-channel sums.

use rayon::prelude::*;

use crate::matmul::{add_at_b, add_to, sum_in_order, GRAD_PIXELS};

/// `Σ_i lo[i]ᵀ · hi[2i + k]` over an `h × w` grid for the 25 taps `k` of a 5×5
/// kernel, laid out `[a][b][5][5]`: `lo` is `h × w × a`, `hi` is `(2h + 4) × (2w + 4)
/// × b` (a high-resolution grid padded by 2). The weight gradient of a stride-2
/// convolution (`lo` its output's gradient, `hi` its padded input: `[out][in]`) and
/// of a transposed one (`lo` its input, `hi` its output's gradient padded by 2:
/// `[in][out]`).
///
/// No tap is copied: for a grid row `y` and a kernel row `ky`, the five taps of every
/// pixel are `5·b` contiguous values of `hi`'s row `2y + ky`, the pixels `2·b` apart,
/// so gemm reads them in place as the rows of a `w × 5b` matrix. Rows are summed in
/// order within blocks of rows, and the blocks in order.
pub fn strided_weight_grad(
    lo: &[f32],
    a: usize,
    hi: &[f32],
    b: usize,
    (h, w): (usize, usize),
) -> Vec<f32> {
    if h * w * a * b == 0 {
        return vec![0.0; a * b * 25];
    }
    let pw = 2 * w + 4;
    assert_eq!(lo.len(), h * w * a);
    assert_eq!(hi.len(), (2 * h + 4) * pw * b);
    let n = 5 * b;
    let rows = GRAD_PIXELS.div_ceil(w);
    let block = |y0: usize| {
        // [ky][i][kx·b + j]
        let mut out = vec![0f32; 5 * a * n];
        for y in y0..(y0 + rows).min(h) {
            let lhs = &lo[y * w * a..(y + 1) * w * a];
            for (ky, dst) in out.chunks_exact_mut(a * n).enumerate() {
                let at = (2 * y + ky) * pw * b;
                // The last pixel's taps end at at + (2(w − 1) + 5)·b ≤ at + pw·b.
                let rhs = &hi[at..at + pw * b];
                add_at_b(dst, true, (lhs, a), (rhs, n, 2 * b), w);
            }
        }
        out
    };
    let starts: Vec<usize> = (0..h).step_by(rows).collect();
    let parts: Vec<Vec<f32>> = starts.into_par_iter().map(block).collect();
    let by_tap = sum_in_order(parts, 5 * a * n);
    let mut out = vec![0f32; a * b * 25];
    for ky in 0..5 {
        for i in 0..a {
            for kx in 0..5 {
                for j in 0..b {
                    out[(i * b + j) * 25 + ky * 5 + kx] = by_tap[(ky * a + i) * n + kx * b + j];
                }
            }
        }
    }
    out
}

/// Per-channel sums of `x` (`pixels × c`), summed in block order.
pub fn channel_sums(x: &[f32], c: usize) -> Vec<f32> {
    if c == 0 {
        return Vec::new();
    }
    let parts: Vec<Vec<f32>> = x
        .par_chunks(GRAD_PIXELS * c)
        .map(|block| {
            let mut s = vec![0f32; c];
            block.chunks_exact(c).for_each(|px| add_to(&mut s, px));
            s
        })
        .collect();
    sum_in_order(parts, c)
}
