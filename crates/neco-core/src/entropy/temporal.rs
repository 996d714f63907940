//! The temporal prior: refines a video frame's entropy parameters with the previous
//! frame's decoded latent ŷ_{t−1} (the spatiotemporal entropy model).
//!
//! A small convolutional network `T` sees, per latent position,
//!
//! ```text
//! channels 0..2M    the hyper-synthesis output of this frame (scales, then means)
//! channels 2M..3M   ŷ_{t−1}, the previous frame's dequantized latent
//! channel  3M       the quantization step Δ (a constant plane)
//! ```
//!
//! and its `2M` outputs are *added* to the hyper-synthesis output, which then goes
//! through the same scale selection and mean rounding as an intra frame. `T` runs in
//! the same ordered f32 arithmetic as the hyper-synthesis ([`HyperSynthesis`]), and
//! ŷ_{t−1} is itself a product of decoded integers and rounded means, so a stream
//! with temporal frames decodes bit-exactly on every machine too.

use std::sync::OnceLock;

use super::hyper::{HyperSynthesis, Layer, Planes, PreparedHyperSynthesis};
use crate::{NecoError, Result};

/// The temporal prior network of a weights file.
///
/// Its weights are laid out for the kernels ([`PreparedHyperSynthesis`]) on first use,
/// not when the weights load: most runs code images, which never use it (≈ 2.5 ms and
/// 5 MB of a one-image run).
#[derive(Debug, Clone)]
pub struct TemporalPrior {
    net: HyperSynthesis,
    prepared: OnceLock<PreparedHyperSynthesis>,
    y_channels: usize,
}

impl PartialEq for TemporalPrior {
    /// The same network for the same M, prepared yet or not.
    fn eq(&self, other: &Self) -> bool {
        self.net == other.net && self.y_channels == other.y_channels
    }
}

impl TemporalPrior {
    /// Wraps a network that maps `3M + 1` channels to `2M` (see the [module
    /// docs](self)); anything else is [`NecoError::BadWeights`].
    pub fn new(net: HyperSynthesis, y_channels: usize) -> Result<Self> {
        let (in_ch, out_ch) = net.channels()?;
        if y_channels == 0 || in_ch != 3 * y_channels + 1 || out_ch != 2 * y_channels {
            return Err(NecoError::BadWeights(format!(
                "the temporal prior maps {in_ch} to {out_ch} channels; with {y_channels} \
                 latent channels it must map {} to {}",
                3 * y_channels + 1,
                2 * y_channels
            )));
        }
        // The corrections are added position by position, so every layer must keep
        // the latent grid's size: stride 1, odd kernel, "same" padding.
        for (i, layer) in net.layers.iter().enumerate() {
            let keeps_size = match layer {
                Layer::Relu => true,
                Layer::Conv {
                    kernel,
                    stride,
                    padding,
                    ..
                } => *stride == 1 && kernel % 2 == 1 && *padding == kernel / 2,
                Layer::ConvTranspose { .. } => false,
            };
            if !keeps_size {
                return Err(NecoError::BadWeights(format!(
                    "temporal prior layer {i} changes the latent grid's size; only stride-1 \
                     convolutions with odd kernels and padding kernel/2 are allowed"
                )));
            }
        }
        Ok(TemporalPrior {
            net,
            prepared: OnceLock::new(),
            y_channels,
        })
    }

    /// The network.
    pub fn net(&self) -> &HyperSynthesis {
        &self.net
    }

    /// Adds `T(hs_out, prev_y_hat, step)` to `hs_out` (the raw hyper-synthesis output,
    /// `2M × h × w`, scales not yet divided by the step). `prev_y_hat` is ŷ_{t−1},
    /// `M × h × w` planar.
    pub fn refine(&self, hs_out: &Planes, prev_y_hat: &[f32], step: f32) -> Result<Planes> {
        let mut out = hs_out.clone();
        self.refine_in_place(&mut out, prev_y_hat, step)?;
        Ok(out)
    }

    /// [`refine`](Self::refine) in place: adds `T(hs_out, prev_y_hat, step)` to
    /// `hs_out`, with no second copy of the parameters.
    pub fn refine_in_place(
        &self,
        hs_out: &mut Planes,
        prev_y_hat: &[f32],
        step: f32,
    ) -> Result<()> {
        crate::float_mode::deterministic(|| {
            self.refine_in_bands(hs_out, prev_y_hat, step, BAND_BYTES)
        })
    }

    /// [`refine_in_place`](Self::refine_in_place), band of rows by band of rows, each
    /// band's input (with the network's receptive radius of rows above and below) at
    /// most about `band_bytes`: memory grows with the frame's parameters, not with the
    /// network's inputs and activations (3M + 1 channels and more at every position).
    /// Every layer keeps the grid's size, so a kept row sees exactly the rows an
    /// untiled run gives it, through the same taps in the same order: the same bits.
    /// A band's corrections are added once the next band has read its input, whose
    /// top rows they would otherwise change (bands are higher than a radius).
    fn refine_in_bands(
        &self,
        hs_out: &mut Planes,
        prev_y_hat: &[f32],
        step: f32,
        band_bytes: usize,
    ) -> Result<()> {
        let m = self.y_channels;
        let (h, w) = (hs_out.height, hs_out.width);
        let plane = h * w;
        if hs_out.channels != 2 * m || prev_y_hat.len() != m * plane {
            return Err(NecoError::InvalidArgument(format!(
                "temporal prior: {} parameter channels and {} previous-latent values for \
                 {m} channels of {}×{}",
                hs_out.channels,
                prev_y_hat.len(),
                hs_out.height,
                hs_out.width
            )));
        }
        let prepared = self.prepared.get_or_init(|| self.net.clone().prepare());
        let radius = self.receptive_radius();
        let row_bytes = (3 * m + 1) * w.max(1) * 4;
        // At least four radii high, so the margins cost at most half again.
        let rows = (band_bytes / row_bytes)
            .saturating_sub(2 * radius)
            .max(4 * radius)
            .max(1);
        // The corrections of the band before (its kept rows, its first row), not yet
        // added.
        let mut pending: Option<(std::ops::Range<usize>, usize, Planes)> = None;
        let mut r0 = 0;
        while r0 < h {
            let r1 = (r0 + rows).min(h);
            let (lo, hi) = (r0.saturating_sub(radius), (r1 + radius).min(h));
            let band = (hi - lo) * w;
            let mut input = Vec::with_capacity((3 * m + 1) * band);
            for c in hs_out
                .data
                .chunks_exact(plane)
                .chain(prev_y_hat.chunks_exact(plane))
            {
                input.extend_from_slice(&c[lo * w..hi * w]);
            }
            input.resize(input.len() + band, step);
            let x = Planes::new(3 * m + 1, hi - lo, w, input)?;
            let delta = prepared.forward(&x)?;
            drop(x);
            if delta.channels != 2 * m || delta.height != hi - lo || delta.width != w {
                return Err(NecoError::InvalidArgument(format!(
                    "temporal prior produced {}×{}×{}, expected {}×{}×{}",
                    delta.channels,
                    delta.height,
                    delta.width,
                    2 * m,
                    hi - lo,
                    w
                )));
            }
            if let Some((rows, lo, d)) = pending.take() {
                add_rows(hs_out, rows, lo, &d);
            }
            pending = Some((r0..r1, lo, delta));
            r0 = r1;
        }
        if let Some((rows, lo, d)) = pending {
            add_rows(hs_out, rows, lo, &d);
        }
        Ok(())
    }

    /// Rows above and below an output row that it depends on: the layers' kernel
    /// radii summed (every layer keeps the grid's size; see [`new`](Self::new)).
    fn receptive_radius(&self) -> usize {
        self.net
            .layers
            .iter()
            .map(|l| match l {
                Layer::Conv { kernel, .. } | Layer::ConvTranspose { kernel, .. } => kernel / 2,
                Layer::Relu => 0,
            })
            .sum()
    }
}

/// About the most memory one band of the temporal prior's input takes
/// ([`TemporalPrior::refine_in_bands`]).
const BAND_BYTES: usize = 32 << 20;

/// Adds the band `delta`, whose first row is row `lo` of the grid, to the rows `rows`
/// of `planes`.
fn add_rows(planes: &mut Planes, rows: std::ops::Range<usize>, lo: usize, delta: &Planes) {
    let w = planes.width;
    let (plane, band) = (planes.height * w, delta.height * w);
    for (out, d) in planes
        .data
        .chunks_exact_mut(plane)
        .zip(delta.data.chunks_exact(band))
    {
        let kept = (rows.start - lo) * w..(rows.end - lo) * w;
        for (o, &v) in out[rows.start * w..rows.end * w].iter_mut().zip(&d[kept]) {
            *o += v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1×1 convolution whose output is `prev_y_hat · 0.5 + step` on the means and 0 on
    /// the scales, for M = 2.
    fn prior() -> TemporalPrior {
        let m = 2;
        let (in_ch, out_ch) = (3 * m + 1, 2 * m);
        let mut weight = vec![0.0; out_ch * in_ch];
        for c in 0..m {
            weight[(m + c) * in_ch + 2 * m + c] = 0.5; // mean c ← ŷ_{t−1} channel c
            weight[(m + c) * in_ch + 3 * m] = 1.0; // mean c ← Δ
        }
        let net = HyperSynthesis {
            layers: vec![Layer::Conv {
                weight,
                bias: vec![0.0; out_ch],
                in_ch,
                out_ch,
                kernel: 1,
                stride: 1,
                padding: 0,
            }],
        };
        TemporalPrior::new(net, m).unwrap()
    }

    #[test]
    fn refines_means_from_the_previous_latent_and_step() {
        let p = prior();
        // Laid out on first use only (image runs never use the prior).
        assert!(p.prepared.get().is_none());
        let hs = Planes::new(4, 1, 2, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]).unwrap();
        let out = p.refine(&hs, &[2.0, 4.0, -2.0, 0.0], 0.25).unwrap();
        assert_eq!(out.data, vec![1.0, 2.0, 3.0, 4.0, 6.25, 8.25, 6.25, 8.25]);
        assert!(p.prepared.get().is_some());
    }

    #[test]
    fn bands_give_the_bits_of_one_pass() {
        // M = 2; three 3×3 layers (radius 3 rows), random values.
        let m = 2;
        let mut seed = 7u32;
        let mut rnd = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
                })
                .collect()
        };
        let conv = |i: usize, o: usize, w: Vec<f32>, b: Vec<f32>| Layer::Conv {
            weight: w,
            bias: b,
            in_ch: i,
            out_ch: o,
            kernel: 3,
            stride: 1,
            padding: 1,
        };
        let (c0, c1) = (3 * m + 1, 5);
        let net = HyperSynthesis {
            layers: vec![
                conv(c0, c1, rnd(c1 * c0 * 9), rnd(c1)),
                Layer::Relu,
                conv(c1, c1, rnd(c1 * c1 * 9), rnd(c1)),
                Layer::Relu,
                conv(c1, 2 * m, rnd(2 * m * c1 * 9), rnd(2 * m)),
            ],
        };
        let p = TemporalPrior::new(net, m).unwrap();
        assert_eq!(p.receptive_radius(), 3);
        let (h, w) = (23, 9);
        let hs = Planes::new(2 * m, h, w, rnd(2 * m * h * w)).unwrap();
        let prev = rnd(m * h * w);
        let refined = |band_bytes: usize| {
            let mut out = hs.clone();
            p.refine_in_bands(&mut out, &prev, 0.3, band_bytes).unwrap();
            out
        };
        let whole = refined(usize::MAX);
        assert_ne!(whole, hs);
        let row = (3 * m + 1) * w * 4;
        // (Bands are at least four radii, 12 rows, high.)
        for rows in [1, 12, 13, 22] {
            let banded = refined((rows + 6) * row);
            let bits = |p: &Planes| p.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&banded), bits(&whole), "bands of {rows} rows");
        }
    }

    #[test]
    fn wrong_shapes_are_refused() {
        let p = prior();
        let hs = Planes::zeros(4, 1, 2).unwrap();
        let e = p.refine(&hs, &[0.0; 3], 1.0).unwrap_err().to_string();
        assert!(e.contains("3 previous-latent values"), "{e}");
        let e = TemporalPrior::new(p.net().clone(), 3)
            .unwrap_err()
            .to_string();
        assert!(e.contains("must map 10 to 6"), "{e}");
    }
}
