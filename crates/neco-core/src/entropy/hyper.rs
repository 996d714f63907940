//! The deterministic entropy-parameter path: the hyper-synthesis `h_s` run in
//! strictly ordered IEEE f32.
//!
//! Layer semantics match Burn's `Conv2d` / `ConvTranspose2d` (dilation 1, groups 1,
//! symmetric padding) and ReLU, so the float-trained network can be exported as-is.
//! The *summation order* is neco's own and fixed:
//!
//! ```text
//! out[o, y, x] = bias[o]; then for ci in 0..in, ky in 0..k, kx in 0..k (ascending):
//!     if the tap (ci, ky, kx) hits an input pixel (iy, ix):
//!         out[o, y, x] = out[o, y, x] + w(ci, o, ky, kx) * in[ci, iy, ix]
//! ```
//!
//! where a `Conv` tap hits `iy = y·stride − padding + ky` (if inside the input) and a
//! `ConvTranspose` tap hits `iy = (y + padding − ky) / stride` (if the division is
//! exact and the result is inside the input); likewise for x. Taps outside the input
//! are skipped (not added as zeros). Each product is rounded to f32 and then added
//! (Rust never contracts to FMA), so every output value is the same on every
//! machine. Parallelism (rayon, over output rows) and vectorization (across output
//! channels, with AVX2 where the CPU has it) only change *which* independent outputs
//! are computed together, never the order within one output.

use super::coupling::Coupling;
use super::escape::MAX_ABS_SYMBOL;
use super::gaussian::scale_index;
use crate::{NecoError, Result};
use rayon::prelude::*;

/// One hyper-synthesis layer.
#[derive(Debug, Clone, PartialEq)]
pub enum Layer {
    /// Burn `Conv2d`: weight `[out, in, kernel, kernel]`, bias `[out]`, symmetric
    /// `padding`, dilation 1, groups 1. Output size `(in + 2·padding − kernel) / stride + 1`.
    Conv {
        /// Weights, `[out_ch, in_ch, kernel, kernel]` row-major.
        weight: Vec<f32>,
        /// Bias, `[out_ch]`.
        bias: Vec<f32>,
        /// Input channels.
        in_ch: usize,
        /// Output channels.
        out_ch: usize,
        /// Square kernel size.
        kernel: usize,
        /// Stride (≥ 1).
        stride: usize,
        /// Zero padding on every side.
        padding: usize,
    },
    /// Burn `ConvTranspose2d`: weight `[in, out, kernel, kernel]`, bias `[out]`.
    /// Output size `(in − 1)·stride − 2·padding + kernel + output_padding`.
    ConvTranspose {
        /// Weights, `[in_ch, out_ch, kernel, kernel]` row-major.
        weight: Vec<f32>,
        /// Bias, `[out_ch]`.
        bias: Vec<f32>,
        /// Input channels.
        in_ch: usize,
        /// Output channels.
        out_ch: usize,
        /// Square kernel size.
        kernel: usize,
        /// Stride (≥ 1).
        stride: usize,
        /// Padding removed from every side.
        padding: usize,
        /// Extra rows/columns at the bottom/right (`< stride`).
        output_padding: usize,
    },
    /// `max(x, 0)`; NaN becomes 0.
    Relu,
}

/// The hyper-synthesis network: layers applied in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HyperSynthesis {
    /// The layers, first to last.
    pub layers: Vec<Layer>,
}

/// A planar tensor `channels × height × width` of f32, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Planes {
    /// Number of channels.
    pub channels: usize,
    /// Rows per channel.
    pub height: usize,
    /// Columns per row.
    pub width: usize,
    /// `channels · height · width` values, index `(c · height + y) · width + x`.
    pub data: Vec<f32>,
}

impl Planes {
    /// Creates planes, checking that `data` has exactly `channels · height · width` values.
    pub fn new(channels: usize, height: usize, width: usize, data: Vec<f32>) -> Result<Self> {
        let p = Planes {
            channels,
            height,
            width,
            data,
        };
        p.check()?;
        Ok(p)
    }

    /// All-zero planes.
    pub fn zeros(channels: usize, height: usize, width: usize) -> Result<Self> {
        let n = numel(channels, height, width)?;
        Ok(Planes {
            channels,
            height,
            width,
            data: vec![0.0; n],
        })
    }

    fn check(&self) -> Result<()> {
        let n = numel(self.channels, self.height, self.width)?;
        if self.data.len() != n {
            return Err(NecoError::InvalidArgument(format!(
                "planes {}×{}×{} need {n} values, got {}",
                self.channels,
                self.height,
                self.width,
                self.data.len()
            )));
        }
        Ok(())
    }
}

fn numel(c: usize, h: usize, w: usize) -> Result<usize> {
    c.checked_mul(h)
        .and_then(|v| v.checked_mul(w))
        .ok_or_else(|| NecoError::InvalidArgument(format!("tensor {c}×{h}×{w} is too large")))
}

/// Sentinel for "tap outside the input".
const NONE: u32 = u32::MAX;

/// Output pixels processed together per weight pass (keeps weights hot in cache).
const TILE: usize = 32;

impl HyperSynthesis {
    /// Runs the network on `input` (see the [module docs](self) for the exact
    /// arithmetic). Errors with [`NecoError::InvalidArgument`] on any shape or
    /// parameter mismatch.
    pub fn forward(&self, input: &Planes) -> Result<Planes> {
        input.check()?;
        let mut cur: Option<Planes> = None;
        for (i, layer) in self.layers.iter().enumerate() {
            let x = cur.as_ref().unwrap_or(input);
            let next = run_layer(layer, x).map_err(|e| {
                NecoError::InvalidArgument(format!("hyper-synthesis layer {i}: {e}"))
            })?;
            cur = Some(next);
        }
        Ok(cur.unwrap_or_else(|| input.clone()))
    }
}

fn run_layer(layer: &Layer, x: &Planes) -> std::result::Result<Planes, String> {
    match layer {
        Layer::Relu => Ok(Planes {
            channels: x.channels,
            height: x.height,
            width: x.width,
            data: x
                .data
                .par_iter()
                .map(|&v| if v > 0.0 { v } else { 0.0 })
                .collect(),
        }),
        Layer::Conv {
            weight,
            bias,
            in_ch,
            out_ch,
            kernel,
            stride,
            padding,
        } => {
            let (k, s, p) = (*kernel, *stride, *padding);
            check_common(x, weight, bias, *in_ch, *out_ch, k, s)?;
            let out_len = |n: usize| conv_out_len(n, k, s, p);
            let (ho, wo) = (out_len(x.height)?, out_len(x.width)?);
            let tap = |o: usize, t: usize, n: usize| -> u32 {
                let i = (o * s + t) as i64 - p as i64;
                if i >= 0 && (i as usize) < n {
                    i as u32
                } else {
                    NONE
                }
            };
            // Burn's Conv2d weight is [out, in, k, k].
            let (ci_n, co_n) = (*in_ch, *out_ch);
            let wt = weights_in_k_k_out(weight, ci_n, co_n, k, |ci, o| o * ci_n + ci);
            correlate(x, &wt, bias, co_n, k, ho, wo, tap)
        }
        Layer::ConvTranspose {
            weight,
            bias,
            in_ch,
            out_ch,
            kernel,
            stride,
            padding,
            output_padding,
        } => {
            let (k, s, p, op) = (*kernel, *stride, *padding, *output_padding);
            check_common(x, weight, bias, *in_ch, *out_ch, k, s)?;
            if op >= s {
                return Err(format!(
                    "output_padding {op} must be smaller than stride {s}"
                ));
            }
            let out_len = |n: usize| conv_transpose_out_len(n, k, s, p, op);
            let (ho, wo) = (out_len(x.height)?, out_len(x.width)?);
            let tap = |o: usize, t: usize, n: usize| -> u32 {
                let v = o as i64 + p as i64 - t as i64;
                if v < 0 || v % s as i64 != 0 {
                    return NONE;
                }
                let i = (v / s as i64) as usize;
                if i < n {
                    i as u32
                } else {
                    NONE
                }
            };
            // Burn's ConvTranspose2d weight is [in, out, k, k].
            let (ci_n, co_n) = (*in_ch, *out_ch);
            let wt = weights_in_k_k_out(weight, ci_n, co_n, k, |ci, o| ci * co_n + o);
            correlate(x, &wt, bias, co_n, k, ho, wo, tap)
        }
    }
}

/// Output length, along one axis of input length `n` (≥ 1), of a [`Layer::Conv`] of
/// kernel `k`, stride `s` and padding `p`.
pub(crate) fn conv_out_len(
    n: usize,
    k: usize,
    s: usize,
    p: usize,
) -> std::result::Result<usize, String> {
    if k == 0 || s == 0 {
        return Err(format!("kernel {k} and stride {s} must be ≥ 1"));
    }
    let padded = n
        .checked_add(2usize.checked_mul(p).ok_or("padding too large")?)
        .ok_or("padding too large")?;
    if padded < k {
        return Err(format!(
            "input size {n} + 2·{p} padding is smaller than kernel {k}"
        ));
    }
    Ok((padded - k) / s + 1)
}

/// Output length, along one axis of input length `n` (≥ 1), of a
/// [`Layer::ConvTranspose`] of kernel `k`, stride `s`, padding `p` and output padding
/// `op`.
pub(crate) fn conv_transpose_out_len(
    n: usize,
    k: usize,
    s: usize,
    p: usize,
    op: usize,
) -> std::result::Result<usize, String> {
    let full = (n.max(1) as u128 - 1) * s as u128 + k as u128 + op as u128;
    let pad = 2 * p as u128;
    if full <= pad {
        return Err(format!(
            "transposed conv output for input {n} is empty (padding {p})"
        ));
    }
    usize::try_from(full - pad).map_err(|_| "output too large".to_string())
}

/// Reorders a layer's weights to the `[in, k, k, out]` layout [`correlate`] reads;
/// `kernel_of(ci, o)` is the index of the `k × k` kernel joining input channel `ci`
/// to output channel `o` in the layer's own layout. A pure permutation: no
/// arithmetic, so it cannot change any result.
fn weights_in_k_k_out(
    weight: &[f32],
    in_ch: usize,
    out_ch: usize,
    k: usize,
    kernel_of: impl Fn(usize, usize) -> usize,
) -> Vec<f32> {
    let kk = k * k;
    let mut wt = vec![0.0f32; weight.len()];
    for ci in 0..in_ch {
        for o in 0..out_ch {
            let kernel = &weight[kernel_of(ci, o) * kk..][..kk];
            for (t, &v) in kernel.iter().enumerate() {
                wt[(ci * kk + t) * out_ch + o] = v;
            }
        }
    }
    wt
}

fn check_common(
    x: &Planes,
    weight: &[f32],
    bias: &[f32],
    in_ch: usize,
    out_ch: usize,
    k: usize,
    s: usize,
) -> std::result::Result<(), String> {
    if in_ch == 0 || out_ch == 0 || k == 0 || s == 0 {
        return Err(format!(
            "in_ch {in_ch}, out_ch {out_ch}, kernel {k}, stride {s} must all be ≥ 1"
        ));
    }
    if x.channels != in_ch {
        return Err(format!(
            "input has {} channels, layer expects {in_ch}",
            x.channels
        ));
    }
    if x.height == 0 || x.width == 0 {
        return Err(format!("input is empty ({}×{})", x.height, x.width));
    }
    if x.height >= NONE as usize || x.width >= NONE as usize {
        return Err("input too large".into());
    }
    let wlen = out_ch
        .checked_mul(in_ch)
        .and_then(|v| v.checked_mul(k))
        .and_then(|v| v.checked_mul(k));
    if wlen != Some(weight.len()) {
        return Err(format!(
            "weight has {} values, expected {out_ch}·{in_ch}·{k}·{k}",
            weight.len()
        ));
    }
    if bias.len() != out_ch {
        return Err(format!("bias has {} values, expected {out_ch}", bias.len()));
    }
    Ok(())
}

/// The shared, ordered kernel. `wt` is `[in, k, k, out]`; `tap(o, t, n)` maps output
/// coordinate `o` and kernel offset `t` to an input coordinate `< n`, or [`NONE`].
#[allow(clippy::too_many_arguments)]
fn correlate(
    x: &Planes,
    wt: &[f32],
    bias: &[f32],
    out_ch: usize,
    k: usize,
    ho: usize,
    wo: usize,
    tap: impl Fn(usize, usize, usize) -> u32,
) -> std::result::Result<Planes, String> {
    let (h, w) = (x.height, x.width);
    let total = numel(out_ch, ho, wo).map_err(|e| e.to_string())?;
    let row_len = wo * out_ch;
    let map_y: Vec<u32> = (0..ho * k).map(|i| tap(i / k, i % k, h)).collect();
    let map_x: Vec<u32> = (0..wo * k).map(|i| tap(i / k, i % k, w)).collect();
    // Pixel-major (HWC) result, one row per rayon task.
    let mut hwc = vec![0.0f32; total];
    hwc.par_chunks_mut(row_len)
        .enumerate()
        .for_each(|(y, row)| {
            let job = RowJob {
                x,
                wt,
                out_ch,
                k,
                map_y: &map_y[y * k..(y + 1) * k],
                map_x: &map_x,
            };
            job.run(row, bias);
        });
    // HWC -> CHW.
    let plane = ho * wo;
    let mut data = vec![0.0f32; total];
    data.par_chunks_mut(plane.max(1))
        .enumerate()
        .for_each(|(o, dst)| {
            for (p, d) in dst.iter_mut().enumerate() {
                *d = hwc[p * out_ch + o];
            }
        });
    Ok(Planes {
        channels: out_ch,
        height: ho,
        width: wo,
        data,
    })
}

/// One output row of [`correlate`].
struct RowJob<'a> {
    x: &'a Planes,
    wt: &'a [f32],
    out_ch: usize,
    k: usize,
    /// Input row per kernel row for this output row ([`NONE`] if outside).
    map_y: &'a [u32],
    map_x: &'a [u32],
}

impl RowJob<'_> {
    /// Fills `row` (`wo · out_ch`, pixel-major). Compiled three times: with AVX-512 or
    /// AVX2 where the CPU has them, and for the baseline target. All do the same IEEE
    /// multiplications and additions in the same order (Rust never fuses them into
    /// FMAs), so the results are identical; only the vector width differs.
    fn run(&self, row: &mut [f32], bias: &[f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, checked just above.
            unsafe { self.run_avx512(row, bias) };
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { self.run_avx2(row, bias) };
            return;
        }
        self.run_body(row, bias);
    }

    /// The AVX-512 build: register-blocked ([`Self::block_avx512`]) when the outputs
    /// come in whole vectors, else [`Self::run_body`] compiled for AVX-512.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn run_avx512(&self, row: &mut [f32], bias: &[f32]) {
        let out_ch = self.out_ch;
        if !out_ch.is_multiple_of(16) || bias.len() != out_ch {
            self.run_body(row, bias);
            return;
        }
        let wo = row.len() / out_ch;
        let mut x0 = 0;
        while x0 + 8 <= wo {
            self.block_avx512::<8>(row, bias, x0);
            x0 += 8;
        }
        while x0 < wo {
            self.block_avx512::<1>(row, bias, x0);
            x0 += 1;
        }
    }

    /// Output pixels `x0..x0 + P` of `row`, in blocks of up to 48 channels whose sums
    /// (8 pixels × 3 vectors: 24 of the 32 vector registers) stay in registers through
    /// the whole (ci, ky, kx) loop. Each output gets the same operations in the same
    /// order as in [`Self::run_body`]: the bias, then per tap (skipping the same
    /// [`NONE`] taps) one rounded product, then one rounded addition — only the loop
    /// nest around them differs. (Grouping pixels by column parity, so that a
    /// transposed layer's missing taps are skipped whole, was tried: no faster.)
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn block_avx512<const P: usize>(&self, row: &mut [f32], bias: &[f32], x0: usize) {
        let mut c0 = 0;
        while c0 < self.out_ch {
            match (self.out_ch - c0) / 16 {
                1 => self.tile_avx512::<P, 1>(row, bias, x0, c0),
                2 => self.tile_avx512::<P, 2>(row, bias, x0, c0),
                _ => self.tile_avx512::<P, 3>(row, bias, x0, c0),
            }
            c0 += 48;
        }
    }

    /// P pixels × V vectors of 16 channels from channel `c0`. Its tap loop mirrors
    /// [`Self::run_body`]'s on purpose (a shared iterator of taps cost the register
    /// blocking half its speed); `vector_widths_agree_bitwise` keeps them in step.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn tile_avx512<const P: usize, const V: usize>(
        &self,
        row: &mut [f32],
        bias: &[f32],
        x0: usize,
        c0: usize,
    ) {
        use std::arch::x86_64::*;
        let (h, w, k, out_ch) = (self.x.height, self.x.width, self.k, self.out_ch);
        let load = |s: &[f32]| -> __m512 {
            let s: &[f32; 16] = s[..16].try_into().expect("16 lanes");
            // SAFETY: `s` holds 16 floats.
            unsafe { _mm512_loadu_ps(s.as_ptr()) }
        };
        let mut acc = [[_mm512_setzero_ps(); V]; P];
        for lanes in acc.iter_mut() {
            for (v, a) in lanes.iter_mut().enumerate() {
                *a = load(&bias[c0 + 16 * v..]);
            }
        }
        for ci in 0..self.x.channels {
            for ky in 0..k {
                let iy = self.map_y[ky];
                if iy == NONE {
                    continue;
                }
                let in_row = &self.x.data[(ci * h + iy as usize) * w..][..w];
                for kx in 0..k {
                    let base = ((ci * k + ky) * k + kx) * out_ch + c0;
                    let mut wv = [_mm512_setzero_ps(); V];
                    for (v, x) in wv.iter_mut().enumerate() {
                        *x = load(&self.wt[base + 16 * v..]);
                    }
                    for (p, lanes) in acc.iter_mut().enumerate() {
                        let ix = self.map_x[(x0 + p) * k + kx];
                        if ix == NONE {
                            continue;
                        }
                        let v = _mm512_set1_ps(in_row[ix as usize]);
                        for (a, x) in lanes.iter_mut().zip(&wv) {
                            *a = _mm512_add_ps(*a, _mm512_mul_ps(*x, v));
                        }
                    }
                }
            }
        }
        for (p, lanes) in acc.iter().enumerate() {
            for (v, a) in lanes.iter().enumerate() {
                let at = (x0 + p) * out_ch + c0 + 16 * v;
                let dst: &mut [f32; 16] = (&mut row[at..at + 16]).try_into().expect("16 lanes");
                // SAFETY: `dst` holds 16 floats.
                unsafe { _mm512_storeu_ps(dst.as_mut_ptr(), *a) };
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn run_avx2(&self, row: &mut [f32], bias: &[f32]) {
        self.run_body(row, bias);
    }

    /// Tiles of [`TILE`] output pixels: each weight vector is read once per tile and
    /// added into every pixel's accumulator, in (ci, ky, kx) order.
    #[inline(always)]
    fn run_body(&self, row: &mut [f32], bias: &[f32]) {
        let (h, w, k, out_ch) = (self.x.height, self.x.width, self.k, self.out_ch);
        let wo = row.len() / out_ch;
        for x0 in (0..wo).step_by(TILE) {
            let x1 = (x0 + TILE).min(wo);
            let acc = &mut row[x0 * out_ch..x1 * out_ch];
            for a in acc.chunks_exact_mut(out_ch) {
                a.copy_from_slice(bias);
            }
            for ci in 0..self.x.channels {
                for ky in 0..k {
                    let iy = self.map_y[ky];
                    if iy == NONE {
                        continue;
                    }
                    let in_row = &self.x.data[(ci * h + iy as usize) * w..][..w];
                    for kx in 0..k {
                        let wv = &self.wt[((ci * k + ky) * k + kx) * out_ch..][..out_ch];
                        for (xi, a) in (x0..x1).zip(acc.chunks_exact_mut(out_ch)) {
                            let ix = self.map_x[xi * k + kx];
                            if ix == NONE {
                                continue;
                            }
                            let v = in_row[ix as usize];
                            for (ao, &wo_) in a.iter_mut().zip(wv) {
                                *ao += wo_ * v;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Per-element entropy parameters for ŷ.
#[derive(Debug, Clone, PartialEq)]
pub struct EntropyParams {
    /// Table index per element of ŷ (`M × H × W`, planar), from [`scale_index`].
    pub scale_idx: Vec<u8>,
    /// Mean per element of ŷ, on the 1/64 grid: the mean each symbol is coded
    /// around. With a [`Coupling`], these are the unconditional means until
    /// [`condition`](Self::condition) (or the encoder's quantization) replaces them
    /// with the conditional ones.
    pub means: Vec<f32>,
    /// The inter-channel coupling of the multivariate model (`None`: diagonal).
    pub coupling: Option<Coupling>,
}

impl EntropyParams {
    /// Replaces the means by the conditional means given the decoded ŷ symbols at
    /// step Δ (a no-op for the diagonal model).
    pub fn condition(&mut self, symbols: &[i32], step: f32) -> Result<()> {
        match &self.coupling {
            Some(c) => c.condition(symbols, step, &mut self.means),
            None => Ok(()),
        }
    }
}

/// A mean on the 1/64 grid (ties away from zero).
pub fn snap_mean(m: f32) -> f32 {
    (m * 64.0).round() / 64.0
}

/// Splits the `h_s` output (`2M` channels: the first `M` are scales, the next `M`
/// means) into per-element scale indices ([`scale_index`]) and means rounded to the
/// nearest multiple of 1/64 (ties away from zero; NaN → 0; clamped to ±2^24).
///
/// Errors with [`NecoError::InvalidArgument`] unless `hs_out.channels == 2 · y_channels`
/// and `y_channels ≥ 1`.
pub fn entropy_params(hs_out: &Planes, y_channels: usize) -> Result<EntropyParams> {
    hs_out.check()?;
    if y_channels == 0 || y_channels.checked_mul(2) != Some(hs_out.channels) {
        return Err(NecoError::InvalidArgument(format!(
            "hyper-synthesis output has {} channels, expected 2·{y_channels}",
            hs_out.channels
        )));
    }
    let half = hs_out.data.len() / 2;
    let (scales, means) = hs_out.data.split_at(half);
    Ok(diagonal_params(scales, means))
}

/// The diagonal model's parameters from per-element scales (in units of the step)
/// and raw means.
pub(crate) fn diagonal_params(scales: &[f32], means: &[f32]) -> EntropyParams {
    let lim = MAX_ABS_SYMBOL as f32;
    EntropyParams {
        scale_idx: scales.par_iter().map(|&s| scale_index(s)).collect(),
        means: means
            .par_iter()
            .map(|&m| {
                let m = if m.is_nan() { 0.0 } else { m.clamp(-lim, lim) };
                snap_mean(m)
            })
            .collect(),
        coupling: None,
    }
}

#[cfg(test)]
mod kernel_tests {
    use super::*;

    /// The AVX-512 and AVX2 builds of the row kernel and the baseline build agree bit
    /// for bit (each vector build is checked where the CPU running the test has it).
    #[test]
    fn vector_widths_agree_bitwise() {
        let mut s = 1u32;
        let mut f = || {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        // 72 outputs: not whole AVX-512 vectors; 80, 144 and 64: register blocks of 3
        // vectors and of fewer; 42, 9 and 16 pixels: blocks of 8 pixels and single ones;
        // `up`: the taps of a stride-2 transposed layer (every other one missing).
        for (out_ch, w, up) in [
            (72, 40, false),
            (80, 42, false),
            (144, 9, false),
            (64, 16, false),
            (48, 37, true),
        ] {
            let (in_ch, k, h) = (7, 3, 5);
            let data = (0..in_ch * h * w).map(|_| f() * 8.0).collect();
            let x = Planes::new(in_ch, h, w, data).unwrap();
            let wt: Vec<f32> = (0..in_ch * k * k * out_ch).map(|_| f()).collect();
            let bias: Vec<f32> = (0..out_ch).map(|_| f()).collect();
            let map_x: Vec<u32> = (0..w * k)
                .map(|i| {
                    let ix = (i / k + i % k) as i64 - 1;
                    let ix = if up {
                        ix / 2 + ix % 2 * i64::from(u32::MAX)
                    } else {
                        ix
                    };
                    if (0..w as i64).contains(&ix) {
                        ix as u32
                    } else {
                        NONE
                    }
                })
                .collect();
            let job = RowJob {
                x: &x,
                wt: &wt,
                out_ch,
                k,
                map_y: &[NONE, 1, 2],
                map_x: &map_x,
            };
            let mut portable = vec![0.0; w * out_ch];
            job.run_body(&mut portable, &bias);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            let mut dispatched = vec![0.0; w * out_ch];
            job.run(&mut dispatched, &bias);
            assert_eq!(bits(&portable), bits(&dispatched));
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx2") {
                    let mut v = vec![0.0; w * out_ch];
                    // SAFETY: the CPU supports AVX2, checked just above.
                    unsafe { job.run_avx2(&mut v, &bias) };
                    assert_eq!(bits(&portable), bits(&v), "AVX2");
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    let mut v = vec![0.0; w * out_ch];
                    // SAFETY: the CPU supports AVX-512F, checked just above.
                    unsafe { job.run_avx512(&mut v, &bias) };
                    assert_eq!(bits(&portable), bits(&v), "AVX-512, {out_ch} outputs");
                }
            }
        }
    }
}
