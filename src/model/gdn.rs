//! Simplified generalized divisive normalization (Johnston et al. 2019).
//!
//! `GDN(x)_i = x_i / (β_i + Σ_j γ_ij |x_j|)` and its inverse `x_i · (β_i + Σ_j γ_ij |x_j|)`.
//! The L1 form needs no square root and trains as well as the original GDN.
//! β and γ are kept non-negative by taking absolute values of the stored parameters.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;

/// A (possibly inverse) GDN layer over `channels` channels.
///
/// # Shapes
/// - input: `[batch, channels, height, width]`
/// - output: same as input
#[derive(Module, Debug)]
pub struct Gdn {
    /// Stored β, shape `[channels]`; the effective β is `|beta| + 1e-6`.
    pub beta: Param<Tensor<1>>,
    /// Stored γ, shape `[channels, channels, 1, 1]`; the effective γ is `|gamma|`.
    pub gamma: Param<Tensor<4>>,
    /// True for the inverse transform (used in synthesis).
    pub inverse: bool,
}

impl Gdn {
    /// A GDN initialised to `β = 1`, `γ = 0.1·I`.
    pub fn new(channels: usize, inverse: bool, device: &Device) -> Self {
        let beta = Tensor::<1>::ones([channels], device);
        let eye: Vec<f32> = (0..channels * channels)
            .map(|i| {
                if i / channels == i % channels {
                    0.1
                } else {
                    1e-4
                }
            })
            .collect();
        let gamma =
            Tensor::<1>::from_floats(eye.as_slice(), device).reshape([channels, channels, 1, 1]);
        Gdn {
            beta: Param::from_tensor(beta),
            gamma: Param::from_tensor(gamma),
            inverse,
        }
    }

    /// Apply the layer.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let beta = self.beta.val().abs().add_scalar(1e-6);
        let gamma = self.gamma.val().abs();
        let norm = conv2d(
            x.clone().abs(),
            gamma,
            Some(beta),
            ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
        );
        if self.inverse {
            x * norm
        } else {
            x / norm
        }
    }
}
