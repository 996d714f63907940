//! Factorized (non-parametric) density for z (Ballé et al. 2018, appendix 6.1).
//!
//! Each channel has its own learned, monotone cumulative function built from a small
//! chain of 1-d "dense" layers with softplus-positive matrices. It is only used in
//! training and at export, where it is frozen into integer CDF tables
//! (`neco_core::entropy::FactorizedTables`); decoding never evaluates it.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, softplus};
use burn::tensor::Distribution;

/// Widths of the hidden layers of each channel's cumulative function.
const FILTERS: [usize; 3] = [3, 3, 3];
/// Spread of the density at initialisation.
const INIT_SCALE: f64 = 10.0;

/// Per-channel learned density.
///
/// # Shapes
/// - parameters: `matrices[k]`: `[C, f_out, f_in]`, `biases[k]`, `factors[k]`: `[C, f_out, 1]`
/// - [`FactorizedDensity::likelihood`] input: `[C, 1, L]` (values per channel), output the same
#[derive(Module, Debug)]
pub struct FactorizedDensity {
    matrices: Vec<Param<Tensor<3>>>,
    biases: Vec<Param<Tensor<3>>>,
    factors: Vec<Param<Tensor<3>>>,
}

impl FactorizedDensity {
    /// A density over `channels` channels, initialised to a wide logistic-like bump.
    pub fn new(channels: usize, device: &Device) -> Self {
        let mut dims = vec![1];
        dims.extend(FILTERS);
        dims.push(1);
        let layers = dims.len() - 1;
        let scale = INIT_SCALE.powf(1.0 / layers as f64);
        let mut matrices = Vec::new();
        let mut biases = Vec::new();
        let mut factors = Vec::new();
        for k in 0..layers {
            let (fi, fo) = (dims[k], dims[k + 1]);
            let init = (1.0 / scale / fo as f64).exp_m1().ln();
            matrices.push(Param::from_tensor(
                Tensor::<3>::ones([channels, fo, fi], device).mul_scalar(init),
            ));
            biases.push(Param::from_tensor(Tensor::<3>::random(
                [channels, fo, 1],
                Distribution::Uniform(-0.5, 0.5),
                device,
            )));
            if k + 1 < layers {
                factors.push(Param::from_tensor(Tensor::<3>::zeros(
                    [channels, fo, 1],
                    device,
                )));
            }
        }
        FactorizedDensity {
            matrices,
            biases,
            factors,
        }
    }

    /// Logits of the cumulative distribution at `x` (`[C, 1, L]`).
    fn logits_cumulative(&self, x: Tensor<3>) -> Tensor<3> {
        let mut x = x;
        for (k, (m, b)) in self.matrices.iter().zip(&self.biases).enumerate() {
            x = softplus(m.val(), 1.0).matmul(x) + b.val();
            if let Some(a) = self.factors.get(k) {
                x = x.clone() + a.val().tanh() * x.tanh();
            }
        }
        x
    }

    /// Probability mass of the unit interval centred on each value.
    pub fn likelihood(&self, x: Tensor<3>) -> Tensor<3> {
        let lower = self.logits_cumulative(x.clone().sub_scalar(0.5));
        let upper = self.logits_cumulative(x.add_scalar(0.5));
        // Evaluate in the tail where sigmoid is accurate: flip the sign when both are positive.
        let sign = (lower.clone() + upper.clone()).sign().neg();
        let p = (sigmoid(upper * sign.clone()) - sigmoid(lower * sign)).abs();
        p.clamp_min(1e-9)
    }
}
