//! The rate ladder: one model for the whole quality range.
//!
//! Each rung k of a ladder of K λ values has a per-channel quantization step Δ_k (the
//! inverse of an encoder gain: y is coded as round((y − μ)/Δ_k)) and a per-channel
//! reconstruction scale r_k (a decoder-side inverse gain applied to ŷ before g_s),
//! as in Cui et al. 2021 ("asymmetric gained" compression) and DCVC-FM's learnable
//! quantization scaler. Training samples a rung per batch and uses its λ; the codec
//! interpolates between rungs (`neco_core::entropy::RateLadder`), so `-q 0..100` is
//! continuous. Both vectors are learned as logarithms so they stay positive.

use burn::module::Param;
use burn::prelude::*;

/// Log of the step of the lowest rung at initialisation: Δ ≈ 3.9, the coarsest step
/// of the fixed-rate quality scale (`neco_core::quality::quant_step(0)`); the top rung
/// starts at its inverse, so a model trained at one rate starts where `-q` put it.
const INIT_LOG_STEP: f64 = 1.366;

/// The parameters hold log values divided by this: Adam moves a parameter by about
/// the learning rate per step whatever its gradient, and a rung trains on one batch
/// in K, so at the transforms' learning rate the ladder would barely move.
const LOG_SCALE: f64 = 20.0;

/// Per-rung, per-channel quantization steps and reconstruction scales.
///
/// # Shapes
/// - parameters `log_step`, `log_recon`: `[K, M]` (logs divided by `LOG_SCALE`)
/// - [`RateLadder::step`], [`RateLadder::recon`]: `[1, M, 1, 1]`
#[derive(Module, Debug)]
pub struct RateLadder {
    log_step: Param<Tensor<2>>,
    log_recon: Param<Tensor<2>>,
}

impl RateLadder {
    /// `rungs` rungs over `m` channels: steps geometric from ≈ 3.9 down to ≈ 0.26
    /// (Δ = 1 in the middle), reconstruction scales 1.
    pub fn new(rungs: usize, m: usize, device: &Device) -> Self {
        let span = (rungs.max(2) - 1) as f64;
        let steps: Vec<f32> = (0..rungs)
            .flat_map(|k| {
                let log = INIT_LOG_STEP * (1.0 - 2.0 * k as f64 / span);
                std::iter::repeat_n((log / LOG_SCALE) as f32, m)
            })
            .collect();
        RateLadder {
            log_step: Param::from_tensor(Tensor::from_data(
                TensorData::new(steps, [rungs, m]),
                device,
            )),
            log_recon: Param::from_tensor(Tensor::zeros([rungs, m], device)),
        }
    }

    /// Number of rungs.
    pub fn rungs(&self) -> usize {
        self.log_step.val().dims()[0]
    }

    fn row(t: Tensor<2>, rung: usize) -> Tensor<4> {
        let m = t.dims()[1];
        t.narrow(0, rung, 1)
            .mul_scalar(LOG_SCALE)
            .exp()
            .reshape([1, m, 1, 1])
    }

    /// Quantization steps Δ of rung `rung`.
    pub fn step(&self, rung: usize) -> Tensor<4> {
        Self::row(self.log_step.val(), rung)
    }

    /// Reconstruction scales of rung `rung` (multiply ŷ before g_s).
    pub fn recon(&self, rung: usize) -> Tensor<4> {
        Self::row(self.log_recon.val(), rung)
    }

    /// All steps and reconstruction scales as f32, rung-major (`[K·M]` each): what
    /// export writes into the weights file.
    pub fn values(&self) -> (Vec<f32>, Vec<f32>) {
        (
            super::tensor_to_vec(self.log_step.val().mul_scalar(LOG_SCALE).exp()),
            super::tensor_to_vec(self.log_recon.val().mul_scalar(LOG_SCALE).exp()),
        )
    }

    /// The ladder over `m` channels, more than it has: each new channel starts at
    /// each rung's mean log step and log reconstruction scale over the old channels
    /// (see [`super::grow`]).
    pub fn widen(self, m: usize) -> Self {
        let grow = |t: Tensor<2>| {
            let old = t.dims()[1];
            let mean = t.clone().mean_dim(1).repeat_dim(1, m - old);
            let device = t.device();
            let values = Tensor::cat(vec![t, mean], 1).into_data();
            Param::from_tensor(Tensor::from_data(values, &device))
        };
        RateLadder {
            log_step: grow(self.log_step.val()),
            log_recon: grow(self.log_recon.val()),
        }
    }

    /// The smallest quantization step any rung gives the channels in `channels`.
    pub fn smallest_step(&self, channels: std::ops::Range<usize>) -> f32 {
        let steps = self
            .log_step
            .val()
            .narrow(1, channels.start, channels.len());
        super::tensor_to_vec(steps.min().mul_scalar(LOG_SCALE).exp())[0]
    }
}
