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
        crate::float_mode::deterministic(|| self.refine_here(hs_out, prev_y_hat, step))
    }

    /// [`refine`](Self::refine) in the calling thread's floating-point mode.
    fn refine_here(&self, hs_out: &Planes, prev_y_hat: &[f32], step: f32) -> Result<Planes> {
        let m = self.y_channels;
        let plane = hs_out.height * hs_out.width;
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
        let mut input = Vec::with_capacity((3 * m + 1) * plane);
        input.extend_from_slice(&hs_out.data);
        input.extend_from_slice(prev_y_hat);
        input.resize(input.len() + plane, step);
        let x = Planes::new(3 * m + 1, hs_out.height, hs_out.width, input)?;
        let prepared = self.prepared.get_or_init(|| self.net.clone().prepare());
        let delta = prepared.forward(&x)?;
        if delta.channels != hs_out.channels
            || delta.height != hs_out.height
            || delta.width != hs_out.width
        {
            return Err(NecoError::InvalidArgument(format!(
                "temporal prior produced {}×{}×{}, expected {}×{}×{}",
                delta.channels,
                delta.height,
                delta.width,
                hs_out.channels,
                hs_out.height,
                hs_out.width
            )));
        }
        let data = hs_out
            .data
            .iter()
            .zip(&delta.data)
            .map(|(&a, &b)| a + b)
            .collect();
        Planes::new(hs_out.channels, hs_out.height, hs_out.width, data)
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
