//! The mean–scale hyperprior model as a whole (training forward pass).

use burn::module::{ModuleMapper, Param};
use burn::prelude::*;
use burn::tensor::{Distribution, FloatDType};

use super::context::CheckerboardContext;
use super::factorized::FactorizedDensity;
use super::gaussian::gaussian_likelihood;
use super::ladder::RateLadder;
use super::transforms::{Analysis, HyperAnalysis, HyperSynthesis, Init, Synthesis, TopBand};
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
    /// Per-rung quantization steps and reconstruction scales (variable-rate models;
    /// `None`: one rate, moved by a global step at coding time).
    pub ladder: Option<RateLadder>,
    /// Checkerboard context model (`context = true` in the config).
    pub context: Option<CheckerboardContext>,
    /// Transforms of their own for the top rungs (`top_band` in the config).
    pub top: Option<TopBand>,
}

/// What stands in for rounding in the rate terms of [`HyperpriorModel::entropy_pass`]
/// and [`code_y`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateNoise {
    /// None: the rate of the rounded values, as the codec codes them.
    Off,
    /// Additive uniform noise U(−½, ½) from Burn's generator (training).
    Random,
    /// Additive uniform noise from a generator seeded with this value: the same on
    /// every run, so encoder-side refinement gives reproducible files.
    Seeded(u64),
}

impl RateNoise {
    /// `t` plus the noise (`None` when off); `salt` tells apart the tensors noised
    /// with one seed.
    fn add<const D: usize>(self, t: &Tensor<D>, salt: u64) -> Option<Tensor<D>> {
        match self {
            RateNoise::Off => None,
            RateNoise::Random => Some(t.clone() + t.random_like(Distribution::Uniform(-0.5, 0.5))),
            RateNoise::Seeded(seed) => {
                use rand::{Rng, SeedableRng};
                let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ salt.rotate_left(32));
                let shape = t.shape();
                let values: Vec<f32> = (0..shape.num_elements())
                    .map(|_| rng.random_range(-0.5f32..0.5))
                    .collect();
                let noise = Tensor::<D>::from_data(TensorData::new(values, shape), &t.device());
                Some(t.clone() + noise)
            }
        }
    }
}

/// Casts every float parameter of a module to one dtype. A cast parameter is a new
/// leaf (on an autodiff backend, gradients stop at it, not at its old value).
pub(crate) struct CastParams(pub(crate) FloatDType);

impl ModuleMapper for CastParams {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dtype = self.0;
        param.map(|t| {
            if t.dtype() == dtype.into() {
                return t;
            }
            let require_grad = t.is_require_grad();
            t.cast(dtype).detach().set_require_grad(require_grad)
        })
    }
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
    /// A model whose transforms start as `init` says.
    pub fn new(cfg: &ModelConfig, init: Init, device: &Device) -> Self {
        HyperpriorModel {
            g_a: Analysis::new(cfg.analysis_width(), cfg.m, init, device),
            g_s: Synthesis::new(cfg.synthesis_width(), cfg.m, init, device),
            h_a: HyperAnalysis::new(cfg.n, cfg.m, init, device),
            h_s: HyperSynthesis::new(cfg.n, cfg.m, cfg.hyper_width(), cfg.group, init, device),
            z_density: FactorizedDensity::new(cfg.n, device),
            ladder: (cfg.rungs > 0).then(|| RateLadder::new(cfg.rungs, cfg.m, device)),
            context: cfg
                .context
                .then(|| CheckerboardContext::new(cfg.m, init, device)),
            top: (cfg.top_band > 0).then(|| {
                let sizes = (cfg.analysis_width(), cfg.synthesis_width(), cfg.m);
                TopBand::new(cfg.top_band, sizes, init, device)
            }),
        }
    }

    /// The analysis and synthesis transforms that code ladder rung `rung`: the top
    /// band's from its first rung up, else the model's.
    pub fn transforms(&self, rung: usize) -> (&Analysis, &Synthesis) {
        self.band(self.top.as_ref().is_some_and(|t| rung >= t.from_rung))
    }

    /// The top band's analysis and synthesis transforms when `top` (and the model has
    /// them), else the model's.
    pub fn band(&self, top: bool) -> (&Analysis, &Synthesis) {
        match &self.top {
            Some(band) if top => (&band.g_a, &band.g_s),
            _ => (&self.g_a, &self.g_s),
        }
    }

    /// A model with the parameters of a burnpack record (a checkpoint or a weights file).
    pub fn from_record_bytes(
        cfg: &ModelConfig,
        record: Vec<u8>,
        device: &Device,
    ) -> anyhow::Result<Self> {
        // Loaded in the record's dtype, then cast: casting on load (Burn's
        // `cast_to_module_dtype`) reads each parameter's dtype, which first fills every
        // parameter with its initial values only to replace them (a tenth of a one-shot
        // `neco encode`).
        let record =
            burn::store::ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(record))
                .map_err(|e| anyhow::anyhow!("reading model parameters: {e:?}"))?;
        let model = HyperpriorModel::new(cfg, Init::Zeros, device)
            .try_load_record(record)
            .map_err(|e| {
                anyhow::anyhow!(
                    "model parameters do not fit the {} architecture: {e:?}",
                    cfg.name
                )
            })?;
        // f16 records (`params_f16`) become the model's f32.
        Ok(model.map(&mut CastParams(FloatDType::F32)))
    }

    /// The model with the parts named in `parts` (see
    /// [`FREEZABLE`](super::config::FREEZABLE)) excluded from gradients.
    pub fn freeze(mut self, parts: &[String]) -> Self {
        for part in parts {
            match part.as_str() {
                // A top band's pair is frozen with the model's.
                "g_a" => {
                    self.g_a = self.g_a.no_grad();
                    self.top = self.top.map(|mut t| {
                        t.g_a = t.g_a.no_grad();
                        t
                    });
                }
                "g_s" => {
                    self.g_s = self.g_s.no_grad();
                    self.top = self.top.map(|mut t| {
                        t.g_s = t.g_s.no_grad();
                        t
                    });
                }
                "h_a" => self.h_a = self.h_a.no_grad(),
                "h_s" => self.h_s = self.h_s.no_grad(),
                "z_density" => self.z_density = self.z_density.no_grad(),
                "ladder" => self.ladder = self.ladder.map(|l| l.no_grad()),
                _ => {}
            }
        }
        self
    }

    /// Training pass: additive uniform noise stands in for rounding in the rate terms;
    /// the synthesis and hyper-synthesis see straight-through rounded values, as the
    /// decoder will ("mixed" quantization, Minnen & Singh 2020).
    ///
    /// A variable-rate model codes at the steps of ladder rung `rung` and scales ŷ by
    /// the rung's reconstruction scales before g_s; a fixed-rate one ignores `rung`.
    ///
    /// # Shapes
    /// - `x`: `[B, 3, H, W]`, H and W multiples of 64
    pub fn forward_train(&self, x: Tensor<4>, rung: usize) -> TrainOutput {
        self.forward_train_weighted(x, rung, None)
    }

    /// [`forward_train`](Self::forward_train) with the bits of each channel of y
    /// weighted by `rate_weights` (`[1, M, 1, 1]`; `None`: 1 each) in `bits_y`.
    pub fn forward_train_weighted(
        &self,
        x: Tensor<4>,
        rung: usize,
        rate_weights: Option<Tensor<4>>,
    ) -> TrainOutput {
        self.forward_train_with(x, rung, rate_weights, RateNoise::Random)
    }

    /// [`forward_train_weighted`](Self::forward_train_weighted) with `noise` standing
    /// in for rounding in the rates.
    pub fn forward_train_with(
        &self,
        x: Tensor<4>,
        rung: usize,
        rate_weights: Option<Tensor<4>>,
        noise: RateNoise,
    ) -> TrainOutput {
        let (g_a, g_s) = self.transforms(rung);
        let (bits_y, bits_z, y_hat) = self.entropy_train(g_a.forward(x), rung, rate_weights, noise);
        TrainOutput {
            x_hat: g_s.forward(y_hat),
            bits_y,
            bits_z,
        }
    }

    /// The part of a training pass between g_a and g_s, for `y = g_a(x)`: bits of y
    /// (weighted per channel by `rate_weights`) and of z, and g_s's input (ŷ,
    /// straight-through, times the rung's reconstruction scales). Training on the CPU
    /// runs g_a and g_s on neco's kernels and this on Burn (src/train/step.rs).
    pub fn entropy_train(
        &self,
        y: Tensor<4>,
        rung: usize,
        rate_weights: Option<Tensor<4>>,
        noise: RateNoise,
    ) -> (Tensor<1>, Tensor<1>, Tensor<4>) {
        let step = self.ladder.as_ref().map(|l| l.step(rung));
        let z = self.h_a.forward(y.clone());
        let (bits_y, bits_z, mut y_hat) =
            self.entropy_pass_weighted(y, z, noise, step, rate_weights);
        if let Some(ladder) = &self.ladder {
            y_hat = y_hat * ladder.recon(rung);
        }
        (bits_y, bits_z, y_hat)
    }

    /// The entropy model alone on latents `y` (`[B, M, h, w]`, h and w multiples of
    /// 4): bits of y, bits of z (each `[1]`) and ŷ (straight-through), y quantized
    /// with per-channel steps `step` (`[1, M, 1, 1]`; `None`: 1). `noise` says what
    /// stands in for rounding in the rates.
    pub fn entropy_pass(
        &self,
        y: Tensor<4>,
        noise: RateNoise,
        step: Option<Tensor<4>>,
    ) -> (Tensor<1>, Tensor<1>, Tensor<4>) {
        let z = self.h_a.forward(y.clone());
        self.entropy_pass_given_z(y, z, noise, step)
    }

    /// [`entropy_pass`](Self::entropy_pass) with z given instead of computed as
    /// h_a(y) (`[B, N, h/4, w/4]`): encoder-side refinement moves y and z apart.
    pub fn entropy_pass_given_z(
        &self,
        y: Tensor<4>,
        z: Tensor<4>,
        noise: RateNoise,
        step: Option<Tensor<4>>,
    ) -> (Tensor<1>, Tensor<1>, Tensor<4>) {
        self.entropy_pass_weighted(y, z, noise, step, None)
    }

    fn entropy_pass_weighted(
        &self,
        y: Tensor<4>,
        z: Tensor<4>,
        noise: RateNoise,
        step: Option<Tensor<4>>,
        rate_weights: Option<Tensor<4>>,
    ) -> (Tensor<1>, Tensor<1>, Tensor<4>) {
        let [b, n, zh, zw] = z.dims();
        let z_rate = noise.add(&z, 1).unwrap_or_else(|| z.clone().round());
        let z_lik = self
            .z_density
            .likelihood(z_rate.swap_dims(0, 1).reshape([n, 1, b * zh * zw]));
        let bits_z = z_lik.log().sum().mul_scalar(-std::f64::consts::LOG2_E);
        let z_hat = straight_through_round(z);
        let mut params = self.h_s.forward(z_hat);
        if let Some(context) = &self.context {
            // The anchors' ŷ as the decoder will have it, on the codec's grid.
            let m = y.dims()[1];
            let means = params.clone().narrow(1, m, m);
            let y_hat = match &step {
                None => straight_through_round(y.clone() - means.clone()) + means,
                Some(step) => {
                    straight_through_round((y.clone() - means.clone()) / step.clone())
                        * step.clone()
                        + means
                }
            };
            params = context.forward(params, y_hat);
        }
        let (bits_y, y_hat) = match step {
            None => code_y_weighted(y, params, noise, rate_weights),
            Some(step) => code_y_at_step(y, params, noise, step, rate_weights),
        };
        (bits_y, bits_z.reshape([1]), y_hat)
    }
}

/// [`code_y`] of the diagonal model with per-channel quantization steps: in units of
/// the step the residual is round((y − μ)/Δ) under N(0, (σ/Δ)²), as the codec codes
/// it, and ŷ = Δ·round((y − μ)/Δ) + μ.
///
/// # Shapes
/// - `y`: `[B, M, h, w]`; `params`: `[B, 2M, h, w]`; `step`: `[1, M, 1, 1]`
fn code_y_at_step(
    y: Tensor<4>,
    params: Tensor<4>,
    noise: RateNoise,
    step: Tensor<4>,
    rate_weights: Option<Tensor<4>>,
) -> (Tensor<1>, Tensor<4>) {
    let step2 = Tensor::cat(vec![step.clone(), step.clone()], 1);
    let (bits, y_hat) = code_y_weighted(y / step.clone(), params / step2, noise, rate_weights);
    (bits, y_hat * step)
}

/// The rate of y and its quantized value ŷ (straight-through) under the h_s output
/// `params` (scales, means, and the strictly-lower entries of L when the channels are
/// coupled in groups — see `neco_core::entropy::coupling`, whose chain this mirrors).
///
/// With noise the rate is that of `y + U(−½, ½)` (the training proxy), else that of
/// the rounded residuals the codec codes.
///
/// # Shapes
/// - `y`: `[B, M, h, w]`; `params`: `[B, M·(d + 3)/2, h, w]`
pub fn code_y(y: Tensor<4>, params: Tensor<4>, noise: RateNoise) -> (Tensor<1>, Tensor<4>) {
    code_y_weighted(y, params, noise, None)
}

/// [`code_y`] with each channel's bits weighted by `rate_weights` (`[1, M, 1, 1]`).
fn code_y_weighted(
    y: Tensor<4>,
    params: Tensor<4>,
    noise: RateNoise,
    rate_weights: Option<Tensor<4>>,
) -> (Tensor<1>, Tensor<4>) {
    let [b, m, h, w] = y.dims();
    let d = 2 * params.dims()[1] / m - 3;
    let scales = params.clone().narrow(1, 0, m);
    let means = params.clone().narrow(1, m, m);
    let nats_to_bits = -std::f64::consts::LOG2_E;
    // Groups of d consecutive channels: [B·G, d, h, w] (channel g·d + k); the diagonal
    // model is d = 1, with no strictly-lower entries.
    let groups = b * m / d;
    let per_group = d * (d - 1) / 2;
    let y = y.reshape([groups, d, h, w]);
    let scales = scales.reshape([groups, d, h, w]);
    let floor = scales.clone().clamp_min(super::gaussian::SCALE_MIN);
    let means = means.reshape([groups, d, h, w]);
    let lower = (d > 1).then(|| {
        params
            .narrow(1, 2 * m, m / d * per_group)
            .reshape([groups, per_group, h, w])
    });
    let rate_weights = rate_weights.map(|r| r.repeat_dim(0, b).reshape([groups, d, 1, 1]));
    let y_noisy = noise.add(&y, 2);
    let (mut eps_hat, mut eps_noisy) = (Vec::with_capacity(d), Vec::with_capacity(d));
    let (mut y_hat, mut bits) = (Vec::with_capacity(d), Vec::with_capacity(d));
    for k in 0..d {
        let at = |t: &Tensor<4>| t.clone().narrow(1, k, 1);
        let conditional = |eps: &[Tensor<4>]| {
            let mut mean = at(&means);
            if let Some(lower) = &lower {
                for (j, e) in eps.iter().enumerate() {
                    mean = mean + lower.clone().narrow(1, k * (k - 1) / 2 + j, 1) * e.clone();
                }
            }
            mean
        };
        let mean_hat = conditional(&eps_hat);
        let yk_hat = straight_through_round(at(&y) - mean_hat.clone()) + mean_hat.clone();
        // ε of this channel feeds the later channels of its group only.
        let feeds_later = k + 1 < d;
        if feeds_later {
            eps_hat.push((yk_hat.clone() - mean_hat.clone()) / at(&floor));
        }
        let residual = match &y_noisy {
            Some(y_noisy) => {
                let mean_noisy = conditional(&eps_noisy);
                let r = at(y_noisy) - mean_noisy;
                if feeds_later {
                    eps_noisy.push(r.clone() / at(&floor));
                }
                r
            }
            None => yk_hat.clone() - mean_hat,
        };
        let log_lik = gaussian_likelihood(residual, at(&scales)).log();
        let log_lik = match &rate_weights {
            Some(r) => log_lik * at(r),
            None => log_lik,
        };
        bits.push(log_lik.sum().mul_scalar(nats_to_bits));
        y_hat.push(yk_hat);
    }
    let y_hat = Tensor::cat(y_hat, 1).reshape([b, m, h, w]);
    (Tensor::cat(bits, 0).sum().reshape([1]), y_hat)
}

/// `round(x)` in the forward pass, identity in the backward pass.
fn straight_through_round<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.clone() + (x.clone().round() - x).detach()
}

#[cfg(test)]
mod tests {
    use super::*;
    use neco_core::entropy::Coupling;

    /// Training's chain (`code_y` without noise) and the codec's (neco-core's
    /// `Coupling`, or round(y − μ) + μ for the diagonal model) give the same ŷ.
    /// Parameters are chosen so that every conditional mean lies on the codec's 1/64
    /// grid, where its snapping changes nothing.
    #[test]
    fn training_chain_matches_the_codec() {
        for d in [1usize, 2, 4] {
            chain_matches(d);
        }
    }

    /// Weighted bits of y are each channel's bits times its weight: with weights 1
    /// for the first half and 0 for the rest, the bits of the first half alone.
    #[test]
    fn rate_weights_weight_each_channel() {
        let device = Device::flex();
        let (b, m, h, w) = (2, 4, 3, 5);
        let y = Tensor::<4>::random([b, m, h, w], Distribution::Normal(0.0, 3.0), &device);
        let scales = Tensor::<4>::random([b, m, h, w], Distribution::Uniform(0.2, 2.0), &device);
        let means = Tensor::<4>::random([b, m, h, w], Distribution::Normal(0.0, 1.0), &device);
        let params = Tensor::cat(vec![scales.clone(), means.clone()], 1);
        let weights = Tensor::<4>::from_data(
            TensorData::new(vec![1.0f32, 1.0, 0.0, 0.0], [1, m, 1, 1]),
            &device,
        );
        let (weighted, _) = code_y_weighted(y.clone(), params, RateNoise::Off, Some(weights));
        let half = |t: Tensor<4>| t.narrow(1, 0, 2);
        let (first, _) = code_y(
            half(y),
            Tensor::cat(vec![half(scales), half(means)], 1),
            RateNoise::Off,
        );
        let (weighted, first) = (
            crate::model::tensor_to_vec(weighted)[0],
            crate::model::tensor_to_vec(first)[0],
        );
        assert!(
            first > 1.0 && (weighted - first).abs() < 1e-3 * first,
            "{weighted} vs {first}"
        );
    }

    fn chain_matches(d: usize) {
        let (b, m, h, w) = (2usize, 4usize, 3usize, 5usize);
        let plane = h * w;
        let lower_ch = m / d * d * (d - 1) / 2;
        let c = 2 * m + lower_ch;
        let mut seed = 7u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            seed >> 8
        };
        let mut y = Vec::new();
        let mut params = Vec::new();
        for _ in 0..b {
            y.extend((0..m * plane).map(|_| (next() % 100_000) as f32 / 7919.0 - 6.0));
            params.extend((0..m * plane).map(|_| [0.5f32, 1.0, 2.0][next() as usize % 3]));
            params.extend((0..m * plane).map(|_| (next() % 512) as f32 / 64.0 - 4.0));
            params.extend(
                (0..lower_ch * plane)
                    .map(|_| [-0.5f32, -0.25, 0.0, 0.25, 0.5][next() as usize % 5]),
            );
        }
        let device = Device::flex();
        let tensor = |data: &[f32], ch| {
            Tensor::<4>::from_data(TensorData::new(data.to_vec(), [b, ch, h, w]), &device)
        };
        let (_, y_hat) = code_y(tensor(&y, m), tensor(&params, c), RateNoise::Off);
        let y_hat = crate::model::tensor_to_vec(y_hat);
        for i in 0..b {
            let item = &y[i * m * plane..(i + 1) * m * plane];
            let hs = &params[i * c * plane..(i + 1) * c * plane];
            let (mut symbols, mut means) = (vec![0; m * plane], vec![0.0; m * plane]);
            if d == 1 {
                means.copy_from_slice(&hs[m * plane..]);
                for (s, (y, mu)) in symbols.iter_mut().zip(item.iter().zip(&means)) {
                    *s = (y - mu).round() as i32;
                }
            } else {
                Coupling::new(hs, m, d, plane)
                    .unwrap()
                    .quantize(item, 1.0, |v| v.round() as i32, &mut symbols, &mut means)
                    .unwrap();
            }
            for (j, (s, mu)) in symbols.iter().zip(&means).enumerate() {
                let burn = y_hat[i * m * plane + j];
                assert!(
                    (burn - (*s as f32 + mu)).abs() < 1e-4,
                    "d = {d}, item {i} element {j}: {burn} vs {s} + {mu}"
                );
            }
        }
    }
}
