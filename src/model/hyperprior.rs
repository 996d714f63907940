//! The mean–scale hyperprior model as a whole (training forward pass).

use burn::prelude::*;
use burn::tensor::Distribution;

use super::factorized::FactorizedDensity;
use super::gaussian::gaussian_likelihood;
use super::transforms::{Analysis, HyperAnalysis, HyperSynthesis, Synthesis};
use super::ModelConfig;

/// g_a, g_s, h_a, h_s and the factorized density of z.
#[derive(Module, Debug)]
pub struct HyperpriorModel {
    /// Analysis transform.
    pub g_a: Analysis,
    /// Synthesis transform.
    pub g_s: Synthesis,
    /// Hyper-analysis.
    pub h_a: HyperAnalysis,
    /// Hyper-synthesis (float; exported to the deterministic path for coding).
    pub h_s: HyperSynthesis,
    /// Density of z.
    pub z_density: FactorizedDensity,
}

/// What one training forward pass produces.
pub struct TrainOutput {
    /// Reconstruction, `[B, 3, H, W]`.
    pub x_hat: Tensor<4>,
    /// Total bits of y over the batch (scalar tensor `[1]`).
    pub bits_y: Tensor<1>,
    /// Total bits of z over the batch (scalar tensor `[1]`).
    pub bits_z: Tensor<1>,
}

impl HyperpriorModel {
    /// A randomly initialised model.
    pub fn new(cfg: &ModelConfig, device: &Device) -> Self {
        HyperpriorModel {
            g_a: Analysis::new(cfg.n, cfg.m, device),
            g_s: Synthesis::new(cfg.n, cfg.m, device),
            h_a: HyperAnalysis::new(cfg.n, cfg.m, device),
            h_s: HyperSynthesis::new(cfg.n, cfg.m, device),
            z_density: FactorizedDensity::new(cfg.n, device),
        }
    }

    /// A model with the parameters of a burnpack record (a checkpoint or a weights file).
    pub fn from_record_bytes(
        cfg: &ModelConfig,
        record: Vec<u8>,
        device: &Device,
    ) -> anyhow::Result<Self> {
        let record =
            burn::store::ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(record))
                .map_err(|e| anyhow::anyhow!("reading model parameters: {e:?}"))?;
        HyperpriorModel::new(cfg, device)
            .try_load_record(record)
            .map_err(|e| {
                anyhow::anyhow!(
                    "model parameters do not fit the {} architecture: {e:?}",
                    cfg.name
                )
            })
    }

    /// Training pass: additive uniform noise stands in for rounding in the rate terms;
    /// the synthesis and hyper-synthesis see straight-through rounded values, as the
    /// decoder will ("mixed" quantization, Minnen & Singh 2020).
    ///
    /// # Shapes
    /// - `x`: `[B, 3, H, W]`, H and W multiples of 64
    pub fn forward_train(&self, x: Tensor<4>) -> TrainOutput {
        let y = self.g_a.forward(x);
        let z = self.h_a.forward(y.clone());
        let [b, n, zh, zw] = z.dims();

        let z_noisy = z.clone() + z.random_like(Distribution::Uniform(-0.5, 0.5));
        let z_lik = self
            .z_density
            .likelihood(z_noisy.swap_dims(0, 1).reshape([n, 1, b * zh * zw]));
        let bits_z = z_lik.log().sum().mul_scalar(-std::f64::consts::LOG2_E);
        let z_hat = straight_through_round(z);

        let params = self.h_s.forward(z_hat);
        let m = y.dims()[1];
        let scales = params.clone().narrow(1, 0, m);
        let means = params.narrow(1, m, m);

        let y_noisy = y.clone() + y.random_like(Distribution::Uniform(-0.5, 0.5));
        let y_lik = gaussian_likelihood(y_noisy - means.clone(), scales);
        let bits_y = y_lik.log().sum().mul_scalar(-std::f64::consts::LOG2_E);

        let y_hat = straight_through_round(y - means.clone()) + means;
        let x_hat = self.g_s.forward(y_hat);
        TrainOutput {
            x_hat,
            bits_y: bits_y.reshape([1]),
            bits_z: bits_z.reshape([1]),
        }
    }
}

/// `round(x)` in the forward pass, identity in the backward pass.
fn straight_through_round<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.clone() + (x.clone().round() - x).detach()
}
