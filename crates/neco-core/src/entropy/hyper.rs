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
//! machine. Parallelism (rayon, over bands of output rows) and vectorization (across
//! output channels, register-blocked with AVX-512 or AVX2 where the CPU has them)
//! only change *which* independent outputs are computed together, never the order
//! within one output.

use super::coupling::Coupling;
use super::escape::MAX_ABS_SYMBOL;
use super::gaussian::scale_index;
use crate::{NecoError, Result};
use neco_kernels::level::{level, Level};
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

/// A [`HyperSynthesis`] with its layers' weights already in the layouts the kernels
/// read, for a network that runs on every image (the entropy model's): relaying out
/// the widest layer's 2 MB took 3–4 ms a call. Results are bit for bit those of
/// [`HyperSynthesis::forward`].
#[derive(Debug, Clone)]
pub struct PreparedHyperSynthesis {
    net: HyperSynthesis,
    /// Per layer (`None`: ReLU, or weights that do not fit the layer's shape, which
    /// `forward` then reports).
    weights: Vec<Option<LayerWeights>>,
}

impl PartialEq for PreparedHyperSynthesis {
    /// The weight layouts follow from the network.
    fn eq(&self, other: &Self) -> bool {
        self.net == other.net
    }
}

/// A convolution's weights as [`correlate`] reads them.
#[derive(Debug, Clone)]
struct LayerWeights {
    /// `[in, k, k, out]`.
    wt: Vec<f32>,
    /// `wt` packed for the register-blocked build ([`pack_blocks`]; empty for none).
    packed: Vec<f32>,
}

impl LayerWeights {
    /// The layouts of `layer`'s weights, packed for blocks of `width` channels
    /// (0: not packed). `None` for ReLU or weights of the wrong length.
    fn of(layer: &Layer, width: usize) -> Option<Self> {
        let (weight, in_ch, out_ch, k, transposed) = match layer {
            Layer::Conv {
                weight,
                in_ch,
                out_ch,
                kernel,
                ..
            } => (weight, *in_ch, *out_ch, *kernel, false),
            Layer::ConvTranspose {
                weight,
                in_ch,
                out_ch,
                kernel,
                ..
            } => (weight, *in_ch, *out_ch, *kernel, true),
            Layer::Relu => return None,
        };
        let len = in_ch.checked_mul(out_ch)?.checked_mul(k)?.checked_mul(k)?;
        if len != weight.len() {
            return None;
        }
        // Burn's Conv2d weight is [out, in, k, k]; its ConvTranspose2d's [in, out, k, k].
        let wt = if transposed {
            weights_in_k_k_out(weight, in_ch, out_ch, k, |ci, o| ci * out_ch + o)
        } else {
            weights_in_k_k_out(weight, in_ch, out_ch, k, |ci, o| o * in_ch + ci)
        };
        let packed = pack_blocks(&wt, out_ch, width);
        Some(Self { wt, packed })
    }
}

impl HyperSynthesis {
    /// This network with its weights laid out for [`PreparedHyperSynthesis::forward`].
    pub fn prepare(self) -> PreparedHyperSynthesis {
        let width = RowJob::blocked_width();
        let weights = self
            .layers
            .iter()
            .map(|l| LayerWeights::of(l, width))
            .collect();
        PreparedHyperSynthesis { net: self, weights }
    }
}

impl PreparedHyperSynthesis {
    /// The network.
    pub fn net(&self) -> &HyperSynthesis {
        &self.net
    }

    /// Runs the network on `input`, as [`HyperSynthesis::forward`] does.
    pub fn forward(&self, input: &Planes) -> Result<Planes> {
        run_layers(&self.net.layers, &self.weights, input)
    }
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

/// Channels per register block of the AVX-512 and AVX2 builds (vectors × lanes).
const AVX512_BLOCK: usize = 3 * 16;
const AVX2_BLOCK: usize = 2 * 8;

/// Output columns (times the layer's [`RowJob::step`]) per chunk of the
/// register-blocked builds: with a band of a few rows, the inputs they read stay in
/// cache while each block of weights passes over them.
const BLOCKED_COLUMNS: usize = 48;

/// Narrower outputs run the portable loop, faster where rows hold few whole tiles.
const MIN_BLOCKED_WIDTH: usize = 24;

/// The widest kernel the register-blocked builds take.
const MAX_TILE_K: usize = 8;

impl HyperSynthesis {
    /// Runs the network on `input` (see the [module docs](self) for the exact
    /// arithmetic). Errors with [`NecoError::InvalidArgument`] on any shape or
    /// parameter mismatch.
    pub fn forward(&self, input: &Planes) -> Result<Planes> {
        run_layers(&self.layers, &[], input)
    }
}

/// Runs `layers` on `input`, with each layer's weight layouts from `weights` where
/// it has them (else made for this call), in IEEE's default floating-point mode
/// whatever the caller's ([`crate::float_mode`]).
fn run_layers(
    layers: &[Layer],
    weights: &[Option<LayerWeights>],
    input: &Planes,
) -> Result<Planes> {
    crate::float_mode::deterministic(|| run_layers_here(layers, weights, input))
}

/// [`run_layers`] in the calling thread's mode.
fn run_layers_here(
    layers: &[Layer],
    weights: &[Option<LayerWeights>],
    input: &Planes,
) -> Result<Planes> {
    input.check()?;
    let mut cur: Option<Planes> = None;
    for (i, layer) in layers.iter().enumerate() {
        let x = cur.as_ref().unwrap_or(input);
        let lw = weights.get(i).and_then(Option::as_ref);
        let next = run_layer(layer, lw, x)
            .map_err(|e| NecoError::InvalidArgument(format!("hyper-synthesis layer {i}: {e}")))?;
        cur = Some(next);
    }
    Ok(cur.unwrap_or_else(|| input.clone()))
}

fn run_layer(
    layer: &Layer,
    prepared: Option<&LayerWeights>,
    x: &Planes,
) -> std::result::Result<Planes, String> {
    // The weights in the kernels' layouts: `prepared`, or made for this call (packed
    // only where the rows are wide enough for the register-blocked builds).
    let weights = |wo: usize| -> std::result::Result<std::borrow::Cow<'_, LayerWeights>, String> {
        if let Some(w) = prepared {
            return Ok(std::borrow::Cow::Borrowed(w));
        }
        let width = if wo >= MIN_BLOCKED_WIDTH {
            RowJob::blocked_width()
        } else {
            0
        };
        LayerWeights::of(layer, width)
            .map(std::borrow::Cow::Owned)
            .ok_or_else(|| "weights do not fit the layer".to_string())
    };
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
            correlate(x, weights(wo)?.as_ref(), bias, *out_ch, k, ho, wo, 1, tap)
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
            correlate(x, weights(wo)?.as_ref(), bias, *out_ch, k, ho, wo, s, tap)
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
    kernel_of: impl Fn(usize, usize) -> usize + Sync,
) -> Vec<f32> {
    let kk = k * k;
    let mut wt = vec![0.0f32; weight.len()];
    // Per input channel on rayon's threads: MBs for the wide layers, on every call.
    wt.par_chunks_mut((kk * out_ch).max(1))
        .enumerate()
        .take(in_ch)
        .for_each(|(ci, dst)| {
            for o in 0..out_ch {
                let kernel = &weight[kernel_of(ci, o) * kk..][..kk];
                for (t, &v) in kernel.iter().enumerate() {
                    dst[t * out_ch + o] = v;
                }
            }
        });
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

/// Values of a layer's output made at a time (32 MB): the part of it held twice, in
/// two layouts, while it is copied into planes.
const MAX_STRETCH_VALUES: usize = 8 << 20;

#[cfg(not(test))]
fn max_stretch_values() -> usize {
    MAX_STRETCH_VALUES
}

#[cfg(test)]
thread_local! {
    /// Unit tests shrink the stretches to reach several of them with small layers.
    static STRETCH_VALUES: std::cell::Cell<usize> = const { std::cell::Cell::new(MAX_STRETCH_VALUES) };
}

#[cfg(test)]
fn max_stretch_values() -> usize {
    STRETCH_VALUES.with(|v| v.get())
}

/// The shared, ordered kernel. `wt` is `[in, k, k, out]`; `tap(o, t, n)` maps output
/// coordinate `o` and kernel offset `t` to an input coordinate `< n`, or [`NONE`].
#[allow(clippy::too_many_arguments)]
fn correlate(
    x: &Planes,
    weights: &LayerWeights,
    bias: &[f32],
    out_ch: usize,
    k: usize,
    ho: usize,
    wo: usize,
    step: usize,
    tap: impl Fn(usize, usize, usize) -> u32,
) -> std::result::Result<Planes, String> {
    let (h, w) = (x.height, x.width);
    let total = numel(out_ch, ho, wo).map_err(|e| e.to_string())?;
    let row_len = wo * out_ch;
    let map_y: Vec<u32> = (0..ho * k).map(|i| tap(i / k, i % k, h)).collect();
    let map_x: Vec<u32> = (0..wo * k).map(|i| tap(i / k, i % k, w)).collect();
    let (wt, packed) = (&weights.wt[..], &weights.packed[..]);
    let width = if wo >= MIN_BLOCKED_WIDTH && !packed.is_empty() {
        RowJob::blocked_width()
    } else {
        0
    };
    // The register-blocked builds revisit each input row once per block of output
    // channels: with rows and planes a power of two apart (wide images), they would
    // all land in the same few cache sets.
    let padded = (width > 0).then(|| Input::pad(x));
    let input = match &padded {
        Some((data, row_stride, plane_stride)) => {
            Input::of(data, x.channels, x.width, *row_stride, *plane_stride)
        }
        None => Input::of(&x.data, x.channels, x.width, x.width, x.height * x.width),
    };
    // Pixel-major (HWC) rows, a band of rows per rayon task: a register block's
    // weights, loaded into cache once per band, serve all its rows (a few tasks per
    // thread still balance the load). A large output is made a stretch of rows at a
    // time, each copied into the planar (CHW) result, so its pixel-major copy never
    // exists whole (for an 8192² image the last layer's output is 403 MB); each
    // element's arithmetic does not depend on how rows are grouped.
    let band = (ho / (4 * rayon::current_num_threads())).clamp(1, 4);
    let stretches = total.div_ceil(max_stretch_values()).max(1);
    let stretch = ho.div_ceil(stretches).next_multiple_of(band).max(1);
    let plane = ho * wo;
    let mut data = vec![0.0f32; total];
    let mut hwc = vec![0.0f32; row_len * stretch.min(ho)];
    for y0 in (0..ho).step_by(stretch) {
        let rows_here = stretch.min(ho - y0);
        let hwc = &mut hwc[..rows_here * row_len];
        hwc.par_chunks_mut((row_len * band).max(1))
            .enumerate()
            .for_each(|(b, rows)| {
                let (y, n) = (y0 + b * band, rows.len() / row_len.max(1));
                let job = RowJob {
                    x: input,
                    wt,
                    out_ch,
                    k,
                    map_y: &map_y[y * k..(y + n) * k],
                    map_x: &map_x,
                    step: step.max(1),
                    packed,
                    packed_width: width,
                };
                job.run(rows, bias);
            });
        // HWC -> CHW, rows y0.. of every plane.
        let hwc = &*hwc;
        data.par_chunks_mut(plane.max(1))
            .enumerate()
            .for_each(|(o, dst)| {
                let dst = &mut dst[y0 * wo..(y0 + rows_here) * wo];
                for (p, d) in dst.iter_mut().enumerate() {
                    *d = hwc[p * out_ch + o];
                }
            });
    }
    drop(padded);
    Ok(Planes {
        channels: out_ch,
        height: ho,
        width: wo,
        data,
    })
}

/// A layer's input as the row kernels read it: channel planes of rows.
#[derive(Clone, Copy)]
struct Input<'a> {
    data: &'a [f32],
    channels: usize,
    width: usize,
    /// Distance between the starts of two rows, and of two planes.
    row_stride: usize,
    plane_stride: usize,
}

impl<'a> Input<'a> {
    fn of(
        data: &'a [f32],
        channels: usize,
        width: usize,
        row_stride: usize,
        plane_stride: usize,
    ) -> Self {
        Self {
            data,
            channels,
            width,
            row_stride,
            plane_stride,
        }
    }

    /// Row `iy` of channel `ci`.
    #[inline(always)]
    fn row(&self, ci: usize, iy: usize) -> &'a [f32] {
        &self.data[ci * self.plane_stride + iy * self.row_stride..][..self.width]
    }

    /// `x` copied with its rows and planes an odd number of cache lines apart:
    /// (data, row stride, plane stride).
    fn pad(x: &Planes) -> (Vec<f32>, usize, usize) {
        let odd_lines = |n: usize| n.next_multiple_of(16) | 16;
        let row_stride = odd_lines(x.width);
        let plane_stride = odd_lines(x.height * row_stride);
        let mut data = vec![0.0; x.channels * plane_stride];
        let plane = x.height * x.width;
        data.par_chunks_mut(plane_stride)
            .zip(x.data.par_chunks(plane.max(1)))
            .for_each(|(dst, src)| {
                for (d, s) in dst.chunks_mut(row_stride).zip(src.chunks(x.width.max(1))) {
                    d[..s.len()].copy_from_slice(s);
                }
            });
        (data, row_stride, plane_stride)
    }
}

/// A band of output rows of [`correlate`].
struct RowJob<'a> {
    x: Input<'a>,
    wt: &'a [f32],
    out_ch: usize,
    k: usize,
    /// Input row per kernel row, for each output row of the band ([`NONE`] if
    /// outside).
    map_y: &'a [u32],
    map_x: &'a [u32],
    /// How far apart the pixels of a register-blocked tile are: 1 for a convolution,
    /// the stride for a transposed one, whose pixels this far apart read adjacent
    /// input columns. (Only speed depends on it: the tiles check what they read.)
    step: usize,
    /// `wt` in blocks of `packed_width` output channels ([`pack_blocks`]) for the
    /// register-blocked build of that width (empty for none).
    packed: &'a [f32],
    packed_width: usize,
}

/// `wt` (`[taps, out_ch]`, taps = (ci, ky, kx)) regrouped by blocks of `width` output
/// channels (the last one narrower): `[block][taps][width]`, so that a register
/// block reads its weights from one contiguous run instead of a few bytes from each
/// of the layer's rows. Empty when `width` is 0 or does not apply.
fn pack_blocks(wt: &[f32], out_ch: usize, width: usize) -> Vec<f32> {
    if width == 0 || out_ch == 0 || !wt.len().is_multiple_of(out_ch) {
        return Vec::new();
    }
    let taps = wt.len() / out_ch;
    let mut packed = vec![0.0; wt.len()];
    // Block `c0 / width` starts at `c0 · taps`; on rayon's threads, block by block.
    packed
        .par_chunks_mut(width * taps)
        .enumerate()
        .for_each(|(b, dst)| {
            let (c0, c1) = (b * width, ((b + 1) * width).min(out_ch));
            for (t, d) in dst.chunks_exact_mut(c1 - c0).enumerate() {
                d.copy_from_slice(&wt[t * out_ch + c0..t * out_ch + c1]);
            }
        });
    packed
}

impl RowJob<'_> {
    /// The channels per register block of the build [`Self::run`] dispatches to on
    /// this CPU (0: no register-blocked build).
    fn blocked_width() -> usize {
        #[cfg(target_arch = "x86_64")]
        {
            if level() >= Level::Avx512 {
                return AVX512_BLOCK;
            }
            if level() >= Level::Avx2 {
                return AVX2_BLOCK;
            }
        }
        0
    }

    /// Fills `band` (rows of `wo · out_ch`, pixel-major). Compiled three times: with
    /// AVX-512 or AVX2 where the CPU has them, and for the baseline target. All do the
    /// same IEEE multiplications and additions in the same order (Rust never fuses
    /// them into FMAs), so the results are identical; only the vector width and the
    /// loop nest differ.
    fn run(&self, band: &mut [f32], bias: &[f32]) {
        #[cfg(target_arch = "x86_64")]
        if level() >= Level::Avx512 {
            // SAFETY: the CPU supports AVX-512F (the level says so).
            unsafe { self.run_avx512(band, bias) };
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if level() >= Level::Avx2 {
            // SAFETY: the CPU supports AVX2 (the level says so).
            unsafe { self.run_avx2(band, bias) };
            return;
        }
        self.run_body(band, bias);
    }

    /// The AVX-512 build: register-blocked ([`Self::block_avx512`]) when the outputs
    /// come in whole vectors, else [`Self::run_body`] compiled for AVX-512.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn run_avx512(&self, band: &mut [f32], bias: &[f32]) {
        if !self.block_avx512(band, bias) {
            self.run_body(band, bias);
        }
    }

    /// The AVX2 build: register-blocked like the AVX-512 one, with 8-lane vectors.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn run_avx2(&self, band: &mut [f32], bias: &[f32]) {
        if !self.block_avx2(band, bias) {
            self.run_body(band, bias);
        }
    }
    /// Tiles of [`TILE`] output pixels: each weight vector is read once per tile and
    /// added into every pixel's accumulator, in (ci, ky, kx) order.
    #[inline(always)]
    fn run_body(&self, band: &mut [f32], bias: &[f32]) {
        let row_len = self.map_x.len() / self.k * self.out_ch;
        for (r, row) in band.chunks_exact_mut(row_len.max(1)).enumerate() {
            self.row_body(row, bias, &self.map_y[r * self.k..][..self.k]);
        }
    }

    /// One row of [`Self::run_body`], whose kernel rows read input rows `map_y`.
    #[inline(always)]
    fn row_body(&self, row: &mut [f32], bias: &[f32], map_y: &[u32]) {
        let (k, out_ch) = (self.k, self.out_ch);
        let wo = row.len() / out_ch;
        for x0 in (0..wo).step_by(TILE) {
            let x1 = (x0 + TILE).min(wo);
            let acc = &mut row[x0 * out_ch..x1 * out_ch];
            for a in acc.chunks_exact_mut(out_ch) {
                a.copy_from_slice(bias);
            }
            for ci in 0..self.x.channels {
                for (ky, &iy) in map_y.iter().enumerate() {
                    if iy == NONE {
                        continue;
                    }
                    let in_row = self.x.row(ci, iy as usize);
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

/// Defines a register-blocked build of [`RowJob::run_body`] for one vector width:
/// `$block` fills a row in tiles of `$px` output pixels × up to `$vmax` vectors of
/// `$lanes` channels, whose sums stay in registers through the whole (ci, ky, kx)
/// loop (AVX-512: 8 × 3 of the 32 registers; AVX2: 6 × 2 of the 16), and returns
/// false, leaving `row` alone, when the outputs do not come in whole vectors. Each
/// output gets the same operations in the same order as in `run_body`: the bias,
/// then per tap (skipping the same [`NONE`] taps) one rounded product, then one
/// rounded addition — only the loop nest around them differs. A tile's pixels are
/// [`RowJob::step`] apart, so that away from the borders they share their missing
/// taps and read adjacent inputs: per kernel column, the tile then reads its inputs
/// with no per-pixel lookups. The rows and columns a tile reads are bounds-checked
/// once per tile, not per tap (the checks in the tap loop had cost a quarter of the
/// time). `vector_widths_agree_bitwise` keeps the builds in step.
#[cfg(target_arch = "x86_64")]
macro_rules! blocked_row_kernel {
    (
        $feature:literal, $block:ident, $tiles:ident, $tile:ident, $lanes:literal, $px:literal,
        $vmax:literal,
        $vec:ident, $zero:ident, $load:ident, $store:ident, $splat:ident, $add:ident,
        $mul:ident
    ) => {
        impl RowJob<'_> {
            #[target_feature(enable = $feature)]
            fn $block(&self, band: &mut [f32], bias: &[f32]) -> bool {
                let (out_ch, step) = (self.out_ch, self.step);
                let width = $vmax * $lanes;
                if !out_ch.is_multiple_of($lanes)
                    || bias.len() != out_ch
                    || step == 0
                    || self.k > MAX_TILE_K
                    || self.packed_width != width
                    || self.packed.len() != self.wt.len()
                {
                    return false;
                }
                let wo = self.map_x.len() / self.k;
                let rows = band.len() / (wo * out_ch).max(1);
                // Columns in chunks, then channel blocks, then the band's rows: one
                // block's weights (tens of KB) and the chunk's inputs stay in cache
                // while they serve all the chunk's pixels, where all the weights
                // (MBs) or whole input rows would not.
                let chunk = BLOCKED_COLUMNS * step;
                for xc in (0..wo).step_by(chunk) {
                    let end = (xc + chunk).min(wo);
                    let mut c0 = 0;
                    while c0 < out_ch {
                        let vectors = ((out_ch - c0) / $lanes).min($vmax);
                        for y in 0..rows {
                            let mut x0 = xc;
                            while x0 < end {
                                // Whole tiles of `$px` pixels, `step` of them side by side,
                                // then half ones, then single pixels.
                                if x0 + step * $px <= end {
                                    for x in x0..x0 + step {
                                        self.$tiles::<$px>(band, bias, y, x, c0, vectors);
                                    }
                                    x0 += step * $px;
                                } else if x0 + step * ($px / 2) <= end {
                                    for x in x0..x0 + step {
                                        self.$tiles::<{ $px / 2 }>(band, bias, y, x, c0, vectors);
                                    }
                                    x0 += step * ($px / 2);
                                } else {
                                    self.$tiles::<1>(band, bias, y, x0, c0, vectors);
                                    x0 += 1;
                                }
                            }
                        }
                        c0 += $vmax * $lanes;
                    }
                }
                true
            }

            /// The tile of P pixels and `vectors` vectors.
            #[target_feature(enable = $feature)]
            #[inline]
            fn $tiles<const P: usize>(
                &self,
                band: &mut [f32],
                bias: &[f32],
                y: usize,
                x0: usize,
                c0: usize,
                vectors: usize,
            ) {
                match vectors {
                    1 => self.$tile::<P, 1>(band, bias, y, x0, c0),
                    2 => self.$tile::<P, 2>(band, bias, y, x0, c0),
                    _ => self.$tile::<P, 3>(band, bias, y, x0, c0),
                }
            }

            /// P pixels `x0, x0 + step, …` of row `y` of the band × V vectors of
            /// channels from channel `c0`.
            #[target_feature(enable = $feature)]
            #[inline]
            fn $tile<const P: usize, const V: usize>(
                &self,
                band: &mut [f32],
                bias: &[f32],
                y: usize,
                x0: usize,
                c0: usize,
            ) {
                use std::arch::x86_64::*;
                let (k, out_ch, step) = (self.k, self.out_ch, self.step);
                let load = |s: &[f32]| -> $vec {
                    let s: &[f32; $lanes] = s[..$lanes].try_into().expect("whole vector");
                    // SAFETY: `s` holds one vector of floats.
                    unsafe { $load(s.as_ptr()) }
                };
                let mut acc = [[$zero(); V]; P];
                for lanes in acc.iter_mut() {
                    for (v, a) in lanes.iter_mut().enumerate() {
                        *a = load(&bias[c0 + $lanes * v..]);
                    }
                }
                let map_y = &self.map_y[y * k..][..k];
                let row = &mut band[y * self.map_x.len() / k * out_ch..];
                // This block's weights ([`pack_blocks`]): `[taps][V · lanes]`.
                let kk = k * k;
                let wb = V * $lanes;
                let cin = self.x.channels;
                let block = &self.packed[c0 * cin * kk..][..cin * kk * wb];
                // The kernel rows inside the input: (weight offset, input offset);
                // each checked against the last plane, which bounds the others.
                let mut rows = [(0usize, 0usize); MAX_TILE_K];
                let mut nr = 0;
                for (ky, &iy) in map_y.iter().enumerate() {
                    if let (Some(last), false) = (cin.checked_sub(1), iy == NONE) {
                        let _in_bounds = self.x.row(last, iy as usize);
                        rows[nr] = (ky * k * wb, iy as usize * self.x.row_stride);
                        nr += 1;
                    }
                }
                // The kernel columns: (weight offset, per pixel its input column or
                // NONE, whether they are the adjacent `ix, ix + 1, …`).
                // Columns no pixel reads are left out.
                let mut cols = [(0usize, [NONE; P], false); MAX_TILE_K];
                let mut nc = 0;
                for kx in 0..k {
                    let mut ixs = [NONE; P];
                    for (p, ix) in ixs.iter_mut().enumerate() {
                        *ix = self.map_x[(x0 + p * step) * k + kx];
                        assert!(
                            *ix == NONE || (*ix as usize) < self.x.width,
                            "tap inside the row"
                        );
                    }
                    if ixs.iter().all(|&ix| ix == NONE) {
                        continue;
                    }
                    let adjacent = ixs
                        .iter()
                        .enumerate()
                        .all(|(p, &ix)| ix != NONE && ix as usize == ixs[0] as usize + p);
                    cols[nc] = (kx * wb, ixs, adjacent);
                    nc += 1;
                }
                let (rows, cols) = (&rows[..nr], &cols[..nc]);
                let data = self.x.data.as_ptr();
                for ci in 0..cin {
                    let w_ci = &block[ci * kk * wb..][..kk * wb];
                    let in_ci = ci * self.x.plane_stride;
                    for &(w_ky, in_y) in rows {
                        for (w_kx, ixs, adjacent) in cols {
                            let mut wv = [$zero(); V];
                            for (v, x) in wv.iter_mut().enumerate() {
                                // SAFETY: `w_ky + w_kx + wb ≤ kk · wb`, the length of
                                // `w_ci`.
                                *x = unsafe { $load(w_ci.as_ptr().add(w_ky + w_kx + $lanes * v)) };
                            }
                            // SAFETY (both loops): row `in_y` of plane `ci` holds the
                            // columns `ixs` name: checked above for the last plane.
                            if *adjacent {
                                let src = unsafe { data.add(in_ci + in_y + ixs[0] as usize) };
                                for (p, lanes) in acc.iter_mut().enumerate() {
                                    let v = $splat(unsafe { *src.add(p) });
                                    for (a, x) in lanes.iter_mut().zip(&wv) {
                                        *a = $add(*a, $mul(*x, v));
                                    }
                                }
                                continue;
                            }
                            for (lanes, &ix) in acc.iter_mut().zip(ixs) {
                                if ix == NONE {
                                    continue;
                                }
                                let v = $splat(unsafe { *data.add(in_ci + in_y + ix as usize) });
                                for (a, x) in lanes.iter_mut().zip(&wv) {
                                    *a = $add(*a, $mul(*x, v));
                                }
                            }
                        }
                    }
                }
                for (p, lanes) in acc.iter().enumerate() {
                    for (v, a) in lanes.iter().enumerate() {
                        let at = (x0 + p * step) * out_ch + c0 + $lanes * v;
                        let dst: &mut [f32; $lanes] = (&mut row[at..at + $lanes])
                            .try_into()
                            .expect("whole vector");
                        // SAFETY: `dst` holds one vector of floats.
                        unsafe { $store(dst.as_mut_ptr(), *a) };
                    }
                }
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
blocked_row_kernel!(
    "avx512f",
    block_avx512,
    tiles_avx512,
    tile_avx512,
    16,
    8,
    3,
    __m512,
    _mm512_setzero_ps,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_set1_ps,
    _mm512_add_ps,
    _mm512_mul_ps
);
#[cfg(target_arch = "x86_64")]
blocked_row_kernel!(
    "avx2",
    block_avx2,
    tiles_avx2,
    tile_avx2,
    8,
    6,
    2,
    __m256,
    _mm256_setzero_ps,
    _mm256_loadu_ps,
    _mm256_storeu_ps,
    _mm256_set1_ps,
    _mm256_add_ps,
    _mm256_mul_ps
);

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

    /// Values in [−0.5, 0.5) from a linear congruential generator seeded with `s`.
    fn lcg(mut s: u32) -> impl FnMut() -> f32 {
        move || {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        }
    }

    /// The AVX-512 and AVX2 builds of the row kernel and the baseline build agree bit
    /// for bit (each vector build is checked where the CPU running the test has it).
    #[test]
    fn vector_widths_agree_bitwise() {
        let mut f = lcg(1);
        // 72 outputs: not whole AVX-512 vectors; 80, 144 and 64: register blocks of 3
        // vectors and of fewer; 42, 9 and 16 pixels: whole tiles, half ones and single
        // pixels; 101 and 103: more than one chunk of columns; `up`: the taps of a
        // stride-2 transposed layer (every other one missing).
        for (out_ch, w, up) in [
            (72, 40, false),
            (80, 42, false),
            (144, 9, false),
            (64, 16, false),
            (48, 37, true),
            (32, 101, false),
            (24, 103, true),
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
            let job = |packed: &'static [f32], packed_width| RowJob {
                x: Input::of(&x.data, in_ch, w, w, h * w),
                wt: &wt,
                out_ch,
                k,
                // A band of two rows, the first at the top border.
                map_y: &[NONE, 1, 2, 1, 2, 3],
                map_x: &map_x,
                step: if up { 2 } else { 1 },
                packed,
                packed_width,
            };
            let packing = |width| -> &'static [f32] { pack_blocks(&wt, out_ch, width).leak() };
            let mut portable = vec![0.0; 2 * w * out_ch];
            job(&[], 0).run_body(&mut portable, &bias);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            let width = RowJob::blocked_width();
            let mut dispatched = vec![0.0; 2 * w * out_ch];
            job(packing(width), width).run(&mut dispatched, &bias);
            assert_eq!(bits(&portable), bits(&dispatched));
            #[cfg(target_arch = "x86_64")]
            {
                if level() >= Level::Avx2 {
                    let mut v = vec![0.0; 2 * w * out_ch];
                    let job = job(packing(AVX2_BLOCK), AVX2_BLOCK);
                    // SAFETY: the CPU supports AVX2 (the level says so).
                    assert!(unsafe { job.block_avx2(&mut v, &bias) }, "AVX2 blocks");
                    assert_eq!(bits(&portable), bits(&v), "AVX2, {out_ch} outputs");
                }
                if level() >= Level::Avx512 {
                    let mut v = vec![0.0; 2 * w * out_ch];
                    let job = job(packing(AVX512_BLOCK), AVX512_BLOCK);
                    // SAFETY: the CPU supports AVX-512F (the level says so).
                    unsafe { job.run_avx512(&mut v, &bias) };
                    assert_eq!(bits(&portable), bits(&v), "AVX-512, {out_ch} outputs");
                }
            }
        }
    }

    /// A prepared network gives the bits of the plain one, on rows narrow and wide
    /// enough for the register-blocked builds; weights that do not fit the layer are
    /// an error there too.
    #[test]
    fn prepared_network_agrees_bitwise() {
        let mut f = lcg(7);
        let mut vals = |n: usize| (0..n).map(|_| f()).collect::<Vec<f32>>();
        let net = HyperSynthesis {
            layers: vec![
                Layer::ConvTranspose {
                    weight: vals(4 * 16 * 25),
                    bias: vals(16),
                    in_ch: 4,
                    out_ch: 16,
                    kernel: 5,
                    stride: 2,
                    padding: 2,
                    output_padding: 1,
                },
                Layer::Relu,
                Layer::Conv {
                    weight: vals(32 * 16 * 9),
                    bias: vals(32),
                    in_ch: 16,
                    out_ch: 32,
                    kernel: 3,
                    stride: 1,
                    padding: 1,
                },
            ],
        };
        let prepared = net.clone().prepare();
        let bits = |p: &Planes| p.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        for (h, w) in [(3, 5), (7, 14)] {
            let x =
                Planes::new(4, h, w, vals(4 * h * w).iter().map(|v| v * 8.0).collect()).unwrap();
            let plain = net.forward(&x).unwrap();
            assert_eq!(plain.width, 2 * w);
            assert_eq!(bits(&plain), bits(&prepared.forward(&x).unwrap()));
            // Made a few rows at a time (as an 8192² image's last layer is), the
            // planes are the same bits.
            STRETCH_VALUES.with(|v| v.set(1000));
            let stretched = prepared.forward(&x);
            STRETCH_VALUES.with(|v| v.set(MAX_STRETCH_VALUES));
            assert_eq!(bits(&plain), bits(&stretched.unwrap()));
        }
        let mut bad = net;
        if let Layer::Conv { weight, .. } = &mut bad.layers[2] {
            weight.pop();
        }
        let x = Planes::zeros(4, 3, 5).unwrap();
        let e = bad.clone().prepare().forward(&x).unwrap_err().to_string();
        assert!(e.contains("layer 2: weight has 4607 values"), "{e}");
        assert_eq!(e, bad.forward(&x).unwrap_err().to_string());
    }
}
