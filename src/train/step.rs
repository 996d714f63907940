//! One training step's loss and gradients: all on Burn's autodiff, or with g_a and g_s
//! on neco's CPU kernels (src/model/cpu_grad.rs) and only the entropy model on Burn.
//!
//! The kernel step gives Burn's optimizer the same gradients (up to float rounding):
//! g_s's gradient ∂D/∂ŷ comes from the kernels and enters Burn's graph as the
//! constant `c` of a term `λ·⟨ŷ, c⟩`, whose gradient with respect to everything
//! upstream of ŷ (y, the ladder, h_a, h_s) is what D's would be; Burn's gradient of y
//! then drives g_a's backward pass on the kernels.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

use crate::model::cpu::Precision;
use crate::model::cpu_grad::{CpuAnalysisGrad, CpuSynthesisGrad, ParamGrads};
use crate::model::hyperprior::RateNoise;
use crate::model::{tensor_to_vec, HyperpriorModel};

/// Rate, distortion and loss of one pass, averaged per pixel.
pub struct Rd {
    /// Bits per pixel (y and z, the rate's training proxy).
    pub bpp: f64,
    /// Mean squared error, pixels in 0..1.
    pub mse: f64,
    /// `bpp + λ·255²·mse`, unweighted.
    pub loss: f64,
}

/// What one step trains on: a batch `x` (`[B, 3, H, W]`, H and W multiples of 64) at
/// ladder rung `rung` (0 for a fixed-rate model), the loss `bpp + λ·255²·MSE` times
/// `weight`, the bits of y weighted per channel by `rate_weights` (`[1, M, 1, 1]`).
pub struct Batch {
    /// The images, on the model's (autodiff) device.
    pub x: Tensor<4>,
    /// The ladder rung.
    pub rung: usize,
    /// The rung's λ.
    pub lambda: f64,
    /// The rung's weight in the training loss.
    pub weight: f64,
    /// Per-channel weights of y's bits.
    pub rate_weights: Option<Tensor<4>>,
    /// What stands in for rounding in the rates.
    pub noise: RateNoise,
}

impl Batch {
    fn distortion_scale(&self) -> f64 {
        self.lambda * 255.0 * 255.0
    }
}

/// The loss of `batch` (unweighted) and its parts, as a tensor to differentiate.
pub(super) fn rd_of(model: &HyperpriorModel, batch: &Batch) -> (Tensor<1>, Rd) {
    let x = batch.x.clone();
    let [b, _, h, w] = x.dims();
    let pixels = (b * h * w) as f64;
    let out = model.forward_train_with(
        x.clone(),
        batch.rung,
        batch.rate_weights.clone(),
        batch.noise,
    );
    let bpp = (out.bits_y + out.bits_z).div_scalar(pixels);
    let mse = (out.x_hat - x).powi_scalar(2).mean().reshape([1]);
    let loss = bpp.clone() + mse.clone().mul_scalar(batch.distortion_scale());
    let rd = Rd {
        bpp: bpp.into_scalar::<f32>() as f64,
        mse: mse.into_scalar::<f32>() as f64,
        loss: loss.clone().into_scalar::<f32>() as f64,
    };
    (loss, rd)
}

/// The gradients of `batch`'s weighted loss, all on Burn's autodiff.
pub fn burn_gradients(model: &HyperpriorModel, batch: &Batch) -> (GradientsParams, Rd) {
    let (loss, rd) = rd_of(model, batch);
    let loss = loss.mul_scalar(batch.weight);
    (GradientsParams::from_grads(loss.backward(), model), rd)
}

/// The gradients of `batch`'s weighted loss with g_a and g_s on the CPU kernels (see
/// the module doc), their wide layers multiplying in `precision`; `inner` is the
/// device under the model's autodiff one, where the optimizer wants the gradients.
pub fn kernel_gradients(
    model: &HyperpriorModel,
    batch: &Batch,
    precision: Precision,
    inner: &Device,
) -> (GradientsParams, Rd) {
    let device = batch.x.device();
    let [b, _, h, w] = batch.x.dims();
    let x = tensor_to_vec(batch.x.clone());
    let plane = 3 * h * w;
    let (model_g_a, model_g_s) = model.transforms(batch.rung);
    let trains = |p: &burn::module::Param<Tensor<4>>| p.is_require_grad();
    let train_g_a = trains(&model_g_a.conv1.weight);
    let train_g_s = trains(&model_g_s.deconv1.weight);

    // Building the kernels (Winograd weights included) anew each step, as the
    // weights change: both transforms at once.
    let (g_a, g_s) = rayon::join(
        || CpuAnalysisGrad::new(model_g_a, precision),
        || CpuSynthesisGrad::for_training(model_g_s, precision),
    );
    let (ys, a_tapes): (Vec<Vec<f32>>, Vec<_>) = x
        .chunks_exact(plane)
        .map(|img| g_a.forward(img, h, w))
        .unzip();
    let (m, lh, lw) = (ys[0].len() / (h * w / 256), h / 16, w / 16);
    let y = Tensor::<4>::from_data(TensorData::new(ys.concat(), [b, m, lh, lw]), &device)
        .require_grad();
    let (bits_y, bits_z, y_in) = model.entropy_train(
        y.clone(),
        batch.rung,
        batch.rate_weights.clone(),
        batch.noise,
    );

    // D = mean (x̂ − x)² and its gradient through g_s.
    let y_in_values = tensor_to_vec(y_in.clone());
    let latent = m * lh * lw;
    let numel = (b * plane) as f64;
    let mut g_s_params = ParamGrads::default();
    let mut sq = 0.0f64;
    let mut dy_in = Vec::with_capacity(b * latent);
    for (yi, xi) in y_in_values.chunks_exact(latent).zip(x.chunks_exact(plane)) {
        let (x_hat, tape) = g_s.forward(yi, lh, lw);
        let dx: Vec<f32> = x_hat
            .iter()
            .zip(xi)
            .map(|(a, b)| {
                let d = a - b;
                sq += f64::from(d * d);
                (2.0 * f64::from(d) / numel) as f32
            })
            .collect();
        dy_in.extend(if train_g_s {
            g_s.backward_params(&tape, &dx, &mut g_s_params)
        } else {
            g_s.backward(&tape, &dx)
        });
    }
    let mse = sq / numel;

    let pixels = (b * h * w) as f64;
    let bpp = (bits_y + bits_z).div_scalar(pixels);
    let bpp_value = bpp.clone().into_scalar::<f32>() as f64;
    let dy_in = Tensor::<4>::from_data(TensorData::new(dy_in, [b, m, lh, lw]), &device);
    let surrogate =
        (bpp + (y_in * dy_in).sum().mul_scalar(batch.distortion_scale())).mul_scalar(batch.weight);
    let mut grads = surrogate.backward();
    let dy = y.grad(&grads).map(tensor_to_vec);
    let mut out = GradientsParams::from_module(&mut grads, model);

    if train_g_a {
        let dy = dy.expect("y requires a gradient");
        let mut g_a_params = ParamGrads::default();
        for (tape, dyi) in a_tapes.iter().zip(dy.chunks_exact(latent)) {
            g_a.backward(tape, dyi, &mut g_a_params);
        }
        CpuAnalysisGrad::register(model_g_a, &g_a_params, 1.0, &mut out, inner);
    }
    if train_g_s {
        let scale = (batch.weight * batch.distortion_scale()) as f32;
        CpuSynthesisGrad::register(model_g_s, &g_s_params, scale, &mut out, inner);
    }
    let rd = Rd {
        bpp: bpp_value,
        mse,
        loss: bpp_value + batch.distortion_scale() * mse,
    };
    (out, rd)
}

/// Moves the gradients of `module`'s parameters out of `grads` (to step them at a
/// learning rate of their own: Adam keeps one state per parameter either way).
pub fn take_grads_of<M: Module>(grads: &mut GradientsParams, module: &M) -> GradientsParams {
    struct Take<'a> {
        from: &'a mut GradientsParams,
        to: GradientsParams,
    }
    impl ModuleVisitor for Take<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(grad) = self.from.remove::<D>(param.id) {
                self.to.register(param.id, grad);
            }
        }
    }
    let mut take = Take {
        from: grads,
        to: GradientsParams::new(),
    };
    module.visit(&mut take);
    take.to
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Init, ModelConfig};
    use burn::optim::AdamConfig;
    use burn::tensor::Distribution;

    /// Compares every parameter's gradient in two sets: the largest difference within
    /// 0.2 % of the largest gradient, and the difference's norm within 0.1 % of the
    /// gradient's (so that one wrong small entry shows too).
    struct SameGrads<'a> {
        ours: &'a GradientsParams,
        theirs: &'a GradientsParams,
        compared: usize,
    }

    impl ModuleVisitor for SameGrads<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let theirs = self.theirs.get::<D>(param.id).map(tensor_to_vec);
            let ours = self.ours.get::<D>(param.id).map(tensor_to_vec);
            let dims = param.val().dims();
            let (theirs, ours) = match (theirs, ours) {
                (Some(theirs), Some(ours)) => (theirs, ours),
                (None, None) => return,
                _ => panic!("{dims:?}: a gradient on one side only"),
            };
            let scale = theirs.iter().fold(0f32, |m, v| m.max(v.abs()));
            let err = ours
                .iter()
                .zip(&theirs)
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                err <= 2e-3 * scale + 1e-7,
                "{dims:?}: gradients differ by {err} (largest {scale})"
            );
            let norm = |v: &mut dyn Iterator<Item = f32>| v.map(|x| x * x).sum::<f32>().sqrt();
            let diff = norm(&mut ours.iter().zip(&theirs).map(|(a, b)| a - b));
            let size = norm(&mut theirs.iter().copied());
            assert!(
                diff <= 1e-3 * size + 1e-7,
                "{dims:?}: gradients differ by {diff} in norm ({size})"
            );
            self.compared += 1;
        }
    }

    /// The kernel step's gradients and losses are the Burn step's; returns how many
    /// parameters had a gradient.
    fn same_as_burn(model: &HyperpriorModel, batch: &Batch) -> usize {
        let inner = Device::flex();
        let (theirs, rd_theirs) = burn_gradients(model, batch);
        let (ours, rd_ours) = kernel_gradients(model, batch, Precision::F32, &inner);
        assert!((rd_ours.bpp - rd_theirs.bpp).abs() < 1e-4 * rd_theirs.bpp);
        assert!((rd_ours.mse - rd_theirs.mse).abs() < 1e-4 * rd_theirs.mse);
        assert!((rd_ours.loss - rd_theirs.loss).abs() < 1e-4 * rd_theirs.loss);
        let mut same = SameGrads {
            ours: &ours,
            theirs: &theirs,
            compared: 0,
        };
        model.visit(&mut same);
        same.compared
    }

    fn model(config: &str, device: &Device) -> HyperpriorModel {
        let cfg: ModelConfig = toml::from_str(config).unwrap();
        HyperpriorModel::new(&cfg, Init::Random, device)
    }

    fn batch(device: &Device, rung: usize, rate_weights: Option<Tensor<4>>) -> Batch {
        Batch {
            x: Tensor::<4>::random([2, 3, 64, 128], Distribution::Uniform(0.0, 1.0), device),
            rung,
            lambda: 0.01,
            weight: 2.5,
            rate_weights,
            noise: RateNoise::Seeded(3),
        }
    }

    #[test]
    fn kernel_gradients_equal_burns() {
        let device = Device::flex().autodiff();
        // A ladder, rate weights and a rung weight, as the trainer has them.
        let ladder = model(
            "name = \"t\"\nn = 16\nm = 16\nhyper = 16\nrungs = 3",
            &device,
        );
        let weights = Tensor::<4>::random([1, 16, 1, 1], Distribution::Uniform(0.5, 1.0), &device);
        let with_ladder = batch(&device, 1, Some(weights));
        let all = same_as_burn(&ladder, &with_ladder);
        assert!(all > 30, "{all} parameters compared");

        // Frozen transforms: no gradient for them, the same for the rest.
        for part in ["g_a", "g_s"] {
            let frozen = ladder.clone().freeze(&[part.into()]);
            let n = same_as_burn(&frozen, &with_ladder);
            assert_eq!(
                n,
                all - 14,
                "{part} frozen: 4 weights, 4 biases, 3 GDNs' β and γ"
            );
        }

        // A checkerboard context model in the entropy part (trained jointly).
        let context = model(
            "name = \"t\"\nn = 16\nm = 16\nhyper = 16\nrungs = 3\ncontext = true",
            &device,
        );
        assert_eq!(same_as_burn(&context, &with_ladder), all + 6);

        // Fixed rate, channel groups (the multivariate model) and a wider encoder
        // (wide enough for the Winograd kernels in every layer).
        let fixed = model(
            "name = \"t\"\nn = 16\nm = 16\nhyper = 16\ngroup = 2\nwidth = 16\nanalysis_width = 64",
            &device,
        );
        assert!(same_as_burn(&fixed, &batch(&device, 0, None)) > 30);
    }

    /// A top band's rungs train its transforms and the lower rungs the model's, with
    /// the same gradients on the kernels as on Burn; copies of the model's transforms
    /// code as they do.
    #[test]
    fn a_top_band_trains_its_own_transforms() {
        use crate::model::transforms::TopBand;
        let device = Device::flex().autodiff();
        let cfg = "name = \"t\"\nn = 16\nm = 16\nhyper = 16\nrungs = 3";
        let plain = model(cfg, &device);
        let mut banded = plain.clone();
        banded.top = Some(TopBand::copy_of(2, &plain.g_a, &plain.g_s));

        // Copies: the same losses at every rung.
        for rung in 0..3 {
            let b = batch(&device, rung, None);
            let (_, a) = rd_of(&plain, &b);
            let (_, c) = rd_of(&banded, &b);
            assert!((a.loss - c.loss).abs() < 1e-5 * a.loss, "rung {rung}");
        }

        let has_grad = |grads: &GradientsParams, id| grads.get::<4>(id).is_some();
        let top = banded.top.as_ref().unwrap();
        for (rung, band) in [(1, false), (2, true)] {
            let b = batch(&device, rung, None);
            same_as_burn(&banded, &b);
            let (grads, _) = kernel_gradients(&banded, &b, Precision::F32, &Device::flex());
            assert_eq!(
                has_grad(&grads, top.g_s.deconv1.weight.id),
                band,
                "rung {rung}"
            );
            assert_eq!(
                has_grad(&grads, top.g_a.conv1.weight.id),
                band,
                "rung {rung}"
            );
            assert_eq!(has_grad(&grads, banded.g_s.deconv1.weight.id), !band);
            assert_eq!(has_grad(&grads, banded.g_a.conv1.weight.id), !band);
            // The entropy model trains at every rung.
            assert!(has_grad(&grads, banded.h_s.conv3.weight.id));
        }
        // Freezing g_a or g_s freezes the band's too.
        let frozen = banded.freeze(&["g_a".into(), "g_s".into()]);
        let (grads, _) = kernel_gradients(
            &frozen,
            &batch(&device, 2, None),
            Precision::F32,
            &Device::flex(),
        );
        let top = frozen.top.as_ref().unwrap();
        assert!(!has_grad(&grads, top.g_a.conv1.weight.id));
        assert!(!has_grad(&grads, top.g_s.deconv1.weight.id));
        assert!(has_grad(&grads, frozen.h_s.conv3.weight.id));
    }

    /// The context model's gradients, taken apart, step at a rate of their own:
    /// Adam's first step moves a parameter by about its learning rate (the sign of
    /// its gradient), so by lr·10 in the context model and lr elsewhere.
    #[test]
    fn context_parameters_step_at_their_own_rate() {
        let device = Device::flex().autodiff();
        let cfg = "name = \"t\"\nn = 16\nm = 16\nhyper = 16\nrungs = 3\ncontext = true";
        let start = model(cfg, &device);
        let (mut grads, _) = burn_gradients(&start, &batch(&device, 1, None));
        let all = grads.len();
        let context = start.context.as_ref().unwrap();
        let context_grads = take_grads_of(&mut grads, context);
        assert_eq!(context_grads.len(), 6, "3 convolutions' weights and biases");
        assert_eq!(grads.len(), all - 6);

        let (lr, scale) = (1e-3, 10.0);
        let mut optim = AdamConfig::new().init();
        let stepped = optim.step(lr, start.clone(), grads);
        let stepped = optim.step(lr * scale, stepped, context_grads);
        let moved = |a: &Param<Tensor<4>>, b: &Param<Tensor<4>>| {
            let (a, b) = (tensor_to_vec(a.val()), tensor_to_vec(b.val()));
            a.iter()
                .zip(&b)
                .fold(0f32, |m, (x, y)| m.max((x - y).abs())) as f64
        };
        let head = moved(
            &context.head.weight,
            &stepped.context.as_ref().unwrap().head.weight,
        );
        let g_s = moved(&start.g_s.deconv1.weight, &stepped.g_s.deconv1.weight);
        assert!(
            head > 0.5 * lr * scale && head < 1.01 * lr * scale,
            "{head}"
        );
        assert!(g_s > 0.5 * lr && g_s < 1.01 * lr, "{g_s}");
    }
}
