//! Gaussian conditional likelihood of y given (scale, mean), used in training.

use burn::prelude::*;

/// Smallest scale the model may predict; matches the first entry of the CDF table ladder.
pub const SCALE_MIN: f64 = 0.11;

/// Probability mass of the unit interval around each `v = y − μ` under `N(0, scale²)`.
///
/// # Shapes
/// - `residual`, `scales`: any identical shape; output the same
pub fn gaussian_likelihood<const D: usize>(residual: Tensor<D>, scales: Tensor<D>) -> Tensor<D> {
    let scales = scales.clamp_min(SCALE_MIN);
    let v = residual.abs();
    let upper = std_normal_cdf((v.clone().neg().add_scalar(0.5)) / scales.clone());
    let lower = std_normal_cdf((v.neg().sub_scalar(0.5)) / scales);
    (upper - lower).clamp_min(1e-9)
}

fn std_normal_cdf<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.mul_scalar(std::f64::consts::FRAC_1_SQRT_2)
        .erf()
        .add_scalar(1.0)
        .mul_scalar(0.5)
}
