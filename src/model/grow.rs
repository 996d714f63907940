//! Widening a trained model — its latent y (more channels M) or the hidden layers of
//! its transforms g_a and g_s (more channels: `width`, or `analysis_width` for g_a
//! alone) — without changing what it codes.
//!
//! The top of a model's rate range saturates when y has too few channels: Ballé et
//! al. 2018 and CompressAI give their high-rate models a larger M for that reason.
//! Training a larger model from scratch costs what a CPU cannot spend, so a trained
//! model grows instead: the new channels start as exact zeros — g_a's new rows are
//! zero, and so are every weight that reads them (h_a's new inputs) and every weight
//! by which h_s's new hidden units reach the old outputs — so the widened model codes
//! the old channels exactly as before and the new ones as zeros, at no cost in bits.
//! The weights that *read* the new channels in g_s are random, not zero: the gradient
//! of the distortion then reaches g_a's new rows through them (straight-through
//! rounding). Their rate still pins them near zero at first (every nonzero value
//! costs many bits at the floor scale): `rate_ramp` in `[train]` lets them learn before
//! they pay (docs/grow.md).
//!
//! The transforms widen the same way ([`widen_transforms`]): every new hidden channel
//! starts as an exact zero (the rows that compute it are zero, and a zero passes GDN
//! and inverse GDN as zero), while the weights that read it are random, so the
//! distortion's gradient reaches the zero rows from the first step. Each side grows
//! only when its own width does, so a wider encoder leaves g_s as it was.

use std::ops::Range;

use burn::module::Param;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;

use super::gdn::Gdn;
use super::hyperprior::HyperpriorModel;
use super::transforms::Init;
use super::ModelConfig;

/// `base` (1-d) with `block` written at `at`.
pub(crate) fn put1(base: Tensor<1>, at: Range<usize>, block: Tensor<1>) -> Tensor<1> {
    base.slice_assign([at], block)
}

/// The new channels' predicted scale, in units of the smallest quantization step any
/// rung gives them: just above the scale floor (`SCALE_MIN` = 0.11), so coding their
/// zeros costs ~10⁻⁵ bits each, while the scale still has a gradient at that rung.
const NEW_SCALE_IN_STEPS: f32 = 0.12;

/// A fresh parameter holding `t`'s values (no autodiff history).
pub(crate) fn leaf<const D: usize>(t: Tensor<D>) -> Param<Tensor<D>> {
    let device = t.device();
    Param::from_tensor(Tensor::from_data(t.into_data(), &device))
}

/// `base` with `block` written at `at`.
pub(crate) fn put<const D: usize>(
    base: Tensor<D>,
    at: [Range<usize>; D],
    block: Tensor<D>,
) -> Tensor<D> {
    base.slice_assign(at, block)
}

/// `base` with `old`'s `parts` consecutive blocks of `m0` along `axis` written at the
/// starts of `parts` blocks of `m` (the other axes from 0): where channel-major
/// parameters such as [scales, means] land when each part grows from `m0` to `m`.
pub(crate) fn spread<const D: usize>(
    mut base: Tensor<D>,
    old: Tensor<D>,
    axis: usize,
    parts: usize,
    (m0, m): (usize, usize),
) -> Tensor<D> {
    let dims = old.dims();
    for part in 0..parts {
        let at: [Range<usize>; D] = std::array::from_fn(|i| {
            if i == axis {
                part * m..part * m + m0
            } else {
                0..dims[i]
            }
        });
        base = base.slice_assign(at, old.clone().narrow(axis, part * m0, m0));
    }
    base
}

/// `old` (trained with `old_cfg`) grown to the `cfg.m` latent channels of `cfg`, which
/// must otherwise be the same architecture (n, diagonal entropy model, no context
/// model, rungs as many or none). See the module docs for how the new channels start.
pub fn widen_latent(
    old: HyperpriorModel,
    old_cfg: &ModelConfig,
    cfg: &ModelConfig,
    device: &Device,
) -> anyhow::Result<HyperpriorModel> {
    let (m0, m1, n) = (old_cfg.m, cfg.m, cfg.n);
    // g_a's output and g_s's input layers are as wide as the transforms.
    let (wa, ws) = (cfg.analysis_width(), cfg.synthesis_width());
    anyhow::ensure!(
        m1 > m0
            && old_cfg.n == n
            && (old_cfg.analysis_width(), old_cfg.synthesis_width()) == (wa, ws),
        "a model grows to more latent channels with the same n and widths (n={} m={} g_a {} g_s {} \
         → n={n} m={m1} g_a {wa} g_s {ws})",
        old_cfg.n,
        m0,
        old_cfg.analysis_width(),
        old_cfg.synthesis_width()
    );
    anyhow::ensure!(
        old_cfg.group == 1 && cfg.group == 1 && !old_cfg.context && !cfg.context,
        "only diagonal models without a context model grow"
    );
    anyhow::ensure!(
        old_cfg.rungs == cfg.rungs || old_cfg.rungs == 0,
        "a model grows with its rate ladder: {} rungs, the config asks for {}",
        old_cfg.rungs,
        cfg.rungs
    );
    // h_s's hidden widths: k and 1.5·k.
    let (k0, k1) = (old_cfg.hyper_width(), cfg.hyper_width());
    anyhow::ensure!(k1 >= k0, "h_s cannot narrow ({k0} → {k1} hidden channels)");
    let (h0, h1) = (k0 * 3 / 2, k1 * 3 / 2);
    let fresh = HyperpriorModel::new(cfg, Init::Random, device);
    let mut grown = HyperpriorModel {
        g_a: old.g_a,
        g_s: old.g_s,
        h_a: old.h_a,
        h_s: fresh.h_s,
        z_density: old.z_density,
        ladder: fresh.ladder,
        context: None,
        top: None,
    };

    // g_a: the new rows of y are zero.
    let conv = &mut grown.g_a.conv4;
    conv.weight = leaf(put(
        Tensor::zeros([m1, wa, 5, 5], device),
        [0..m0, 0..wa, 0..5, 0..5],
        conv.weight.val(),
    ));
    if let Some(bias) = &mut conv.bias {
        *bias = leaf(put1(Tensor::zeros([m1], device), 0..m0, bias.val()));
    }
    // g_s: random weights read the new channels (ConvTranspose2d weights are [in, out, k, k]).
    let deconv = &mut grown.g_s.deconv1;
    deconv.weight = leaf(put(
        fresh.g_s.deconv1.weight.val(),
        [0..m0, 0..ws, 0..5, 0..5],
        deconv.weight.val(),
    ));
    // h_a: z does not see the new channels yet.
    let conv = &mut grown.h_a.conv1;
    conv.weight = leaf(put(
        Tensor::zeros([n, m1, 3, 3], device),
        [0..n, 0..m0, 0..3, 0..3],
        conv.weight.val(),
    ));

    // h_s: new hidden units (if its width grows with m) are random but reach the old
    // outputs through zeros only.
    let (old_hs, hs) = (old.h_s, &mut grown.h_s);
    hs.deconv1.weight = leaf(put(
        hs.deconv1.weight.val(),
        [0..n, 0..k0, 0..5, 0..5],
        old_hs.deconv1.weight.val(),
    ));
    if let (Some(bias), Some(old)) = (&mut hs.deconv1.bias, &old_hs.deconv1.bias) {
        *bias = leaf(put1(bias.val(), 0..k0, old.val()));
    }
    let w = put(
        hs.deconv2.weight.val(),
        [k0..k1, 0..h0, 0..5, 0..5],
        Tensor::zeros([k1 - k0, h0, 5, 5], device),
    );
    hs.deconv2.weight = leaf(put(
        w,
        [0..k0, 0..h0, 0..5, 0..5],
        old_hs.deconv2.weight.val(),
    ));
    if let (Some(bias), Some(old)) = (&mut hs.deconv2.bias, &old_hs.deconv2.bias) {
        *bias = leaf(put1(bias.val(), 0..h0, old.val()));
    }
    // The output holds M scales then M means: the old ones move to their new places,
    // the new ones start constant (zero weights).
    hs.conv3.weight = leaf(spread(
        Tensor::zeros([2 * m1, h1, 3, 3], device),
        old_hs.conv3.weight.val(),
        0,
        2,
        (m0, m1),
    ));
    let old_bias = old_hs
        .conv3
        .bias
        .as_ref()
        .map(|b| b.val())
        .unwrap_or_else(|| Tensor::zeros([2 * m0], device));

    // The ladder: the new channels start at each rung's mean step and reconstruction
    // scale over the old channels.
    if let Some(old_ladder) = old.ladder {
        grown.ladder = Some(old_ladder.widen(m1));
    }
    let new_step = match &grown.ladder {
        Some(ladder) => ladder.smallest_step(m0..m1),
        None => 1.0,
    };
    let bias = spread(Tensor::zeros([2 * m1], device), old_bias, 0, 2, (m0, m1));
    let bias = put1(
        bias,
        m0..m1,
        Tensor::full([m1 - m0], NEW_SCALE_IN_STEPS * new_step, device),
    );
    hs.conv3.bias = Some(leaf(bias));
    Ok(grown)
}

/// `old` (trained with `old_cfg`) with the hidden layers of g_a and g_s grown to the
/// widths of `cfg` (`analysis_width()`, `synthesis_width()`; a side whose width stays
/// is kept as it is), which must otherwise be the same architecture. See the module
/// docs for how the new channels start.
pub fn widen_transforms(
    old: HyperpriorModel,
    old_cfg: &ModelConfig,
    cfg: &ModelConfig,
    device: &Device,
) -> anyhow::Result<HyperpriorModel> {
    let widths = |c: &ModelConfig| (c.analysis_width(), c.synthesis_width());
    let ((a0, s0), (a1, s1)) = (widths(old_cfg), widths(cfg));
    let shape = |c: &ModelConfig| (c.n, c.m, c.hyper_width(), c.group, c.context);
    anyhow::ensure!(
        a1 >= a0 && s1 >= s0 && (a1, s1) != (a0, s0) && shape(old_cfg) == shape(cfg),
        "the transforms grow to more hidden channels with the rest of the model as it is \
         (g_a {a0} → {a1}, g_s {s0} → {s1}; n={} m={} → n={} m={})",
        old_cfg.n,
        old_cfg.m,
        cfg.n,
        cfg.m
    );
    let fresh = HyperpriorModel::new(cfg, Init::Random, device);
    let mut grown = old;
    if a1 > a0 {
        let (g_a, f) = (&mut grown.g_a, &fresh.g_a);
        for (conv, fresh) in [
            (&mut g_a.conv1, &f.conv1),
            (&mut g_a.conv2, &f.conv2),
            (&mut g_a.conv3, &f.conv3),
            (&mut g_a.conv4, &f.conv4),
        ] {
            grow_conv(conv, fresh, device);
        }
        for (gdn, fresh) in [
            (&mut g_a.gdn1, &f.gdn1),
            (&mut g_a.gdn2, &f.gdn2),
            (&mut g_a.gdn3, &f.gdn3),
        ] {
            grow_gdn(gdn, fresh);
        }
    }
    if s1 > s0 {
        let (g_s, f) = (&mut grown.g_s, &fresh.g_s);
        for (deconv, fresh) in [
            (&mut g_s.deconv1, &f.deconv1),
            (&mut g_s.deconv2, &f.deconv2),
            (&mut g_s.deconv3, &f.deconv3),
            (&mut g_s.deconv4, &f.deconv4),
        ] {
            grow_deconv(deconv, fresh, device);
        }
        for (gdn, fresh) in [
            (&mut g_s.igdn1, &f.igdn1),
            (&mut g_s.igdn2, &f.igdn2),
            (&mut g_s.igdn3, &f.igdn3),
        ] {
            grow_gdn(gdn, fresh);
        }
    }
    Ok(grown)
}

/// `conv` grown to `fresh`'s shape (weights `[out, in, k, k]`): see [`grown_weight`].
fn grow_conv(conv: &mut Conv2d, fresh: &Conv2d, device: &Device) {
    conv.weight = leaf(grown_weight(
        conv.weight.val(),
        fresh.weight.val(),
        0,
        device,
    ));
    grow_bias(&mut conv.bias, fresh.weight.dims()[0], device);
}

/// As [`grow_conv`] for a transposed convolution (weights `[in, out, k, k]`).
fn grow_deconv(deconv: &mut ConvTranspose2d, fresh: &ConvTranspose2d, device: &Device) {
    deconv.weight = leaf(grown_weight(
        deconv.weight.val(),
        fresh.weight.val(),
        1,
        device,
    ));
    grow_bias(&mut deconv.bias, fresh.weight.dims()[1], device);
}

/// `old` in the first block of `fresh`'s shape, zeros for the new outputs (along
/// `out_axis`), `fresh`'s random weights reading the new inputs.
fn grown_weight(old: Tensor<4>, fresh: Tensor<4>, out_axis: usize, device: &Device) -> Tensor<4> {
    let (d0, d1) = (old.dims(), fresh.dims());
    let mut new_outputs = d1;
    new_outputs[out_axis] = d1[out_axis] - d0[out_axis];
    let at = std::array::from_fn(|i| {
        if i == out_axis {
            d0[i]..d1[i]
        } else {
            0..d1[i]
        }
    });
    let w = put(fresh, at, Tensor::zeros(new_outputs, device));
    put(w, std::array::from_fn(|i| 0..d0[i]), old)
}

/// A bias grown to `outputs` channels, zero for the new ones.
fn grow_bias(bias: &mut Option<Param<Tensor<1>>>, outputs: usize, device: &Device) {
    if let Some(bias) = bias {
        let old = bias.dims()[0];
        *bias = leaf(put1(Tensor::zeros([outputs], device), 0..old, bias.val()));
    }
}

/// `gdn` grown to `fresh`'s channels: the new channels get a fresh GDN's β and γ (a
/// zero input stays zero whatever they are), the old ones keep theirs.
fn grow_gdn(gdn: &mut Gdn, fresh: &Gdn) {
    let c = gdn.beta.dims()[0];
    gdn.beta = leaf(put1(fresh.beta.val(), 0..c, gdn.beta.val()));
    gdn.gamma = leaf(put(
        fresh.gamma.val(),
        [0..c, 0..c, 0..1, 0..1],
        gdn.gamma.val(),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hyperprior::RateNoise;
    use burn::tensor::Distribution;

    fn config(m: usize, hyper: usize) -> ModelConfig {
        let text = format!("name = \"t\"\nn = 8\nm = {m}\nhyper = {hyper}\nrungs = 3");
        toml::from_str(&text).unwrap()
    }

    /// Bits of y, bits of z and the reconstruction of `x` at every rung, rounded as
    /// the codec rounds.
    fn code(model: &HyperpriorModel, x: &Tensor<4>) -> Vec<(f32, f32, Vec<f32>)> {
        let ladder = model.ladder.as_ref().unwrap();
        (0..ladder.rungs())
            .map(|rung| {
                let y = model.g_a.forward(x.clone());
                let (bits_y, bits_z, y_hat) =
                    model.entropy_pass(y, RateNoise::Off, Some(ladder.step(rung)));
                let x_hat = model.g_s.forward(y_hat * ladder.recon(rung));
                (
                    crate::model::tensor_to_vec(bits_y)[0],
                    crate::model::tensor_to_vec(bits_z)[0],
                    crate::model::tensor_to_vec(x_hat),
                )
            })
            .collect()
    }

    fn largest_change(before: &[f32], after: &[f32]) -> f32 {
        before
            .iter()
            .zip(after)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max)
    }

    /// Gradients of the distortion of a random image at rung 2.
    fn distortion_gradients(model: &HyperpriorModel, device: &Device) -> burn::tensor::Gradients {
        let x = Tensor::<4>::random([1, 3, 64, 64], Distribution::Uniform(0.0, 1.0), device);
        let out = model.forward_train(x.clone(), 2);
        (out.x_hat - x).powi_scalar(2).mean().backward()
    }

    /// A widened model codes the old channels as before and the new ones as zeros
    /// that cost (almost) nothing, at every rung, whether h_s widens with it or keeps
    /// its width; and its new channels can learn: the distortion's gradient reaches
    /// g_a's new rows.
    #[test]
    fn widening_keeps_what_the_model_codes() {
        widening_keeps(0);
        widening_keeps(8);
    }

    fn widening_keeps(hyper: usize) {
        let device = Device::flex();
        let (small, large) = (config(8, 0), config(16, hyper));
        let old = HyperpriorModel::new(&small, Init::Random, &device);
        let x = Tensor::<4>::random([1, 3, 128, 128], Distribution::Uniform(0.0, 1.0), &device);
        let before = code(&old, &x);
        let grown = widen_latent(old, &small, &large, &device).unwrap();
        let after = code(&grown, &x);
        let new_symbols = (8 * 8 * 8) as f32;
        for (rung, ((by, bz, bx), (ay, az, ax))) in before.iter().zip(&after).enumerate() {
            assert_eq!(bz, az, "rung {rung}: bits of z");
            assert!(
                *ay >= by - 1e-3 && *ay <= by + 1e-3 * new_symbols,
                "rung {rung}: bits of y {by} → {ay}"
            );
            let worst = largest_change(bx, ax);
            assert!(worst < 1e-5, "rung {rung}: reconstruction moved by {worst}");
        }

        let device = device.autodiff();
        let old = HyperpriorModel::new(&small, Init::Random, &device);
        let grown = widen_latent(old, &small, &large, &device).unwrap();
        let grads = distortion_gradients(&grown, &device);
        let g = grown.g_a.conv4.weight.grad(&grads).unwrap();
        let new_rows = crate::model::tensor_to_vec(g.narrow(0, 8, 8).abs().sum());
        assert!(new_rows[0] > 0.0, "no gradient reaches the new channels");
    }

    /// Widened transforms code every rung as before, and their new channels can
    /// learn: the distortion's gradient reaches the zero rows that compute them, in g_a
    /// and in g_s.
    #[test]
    fn widening_transforms_keeps_what_the_model_codes() {
        let device = Device::flex();
        let small = config(8, 0);
        let large = ModelConfig {
            width: 16,
            ..small.clone()
        };
        let old = HyperpriorModel::new(&small, Init::Random, &device);
        let x = Tensor::<4>::random([1, 3, 128, 128], Distribution::Uniform(0.0, 1.0), &device);
        let before = code(&old, &x);
        let grown = widen_transforms(old, &small, &large, &device).unwrap();
        assert_eq!(grown.g_a.conv2.weight.dims(), [16, 16, 5, 5]);
        assert_eq!(grown.g_s.deconv4.weight.dims(), [16, 3, 5, 5]);
        let after = code(&grown, &x);
        for (rung, ((by, bz, bx), (ay, az, ax))) in before.iter().zip(&after).enumerate() {
            assert!(
                (by - ay).abs() < 1e-3 && (bz - az).abs() < 1e-3,
                "rung {rung}: bits moved"
            );
            let worst = largest_change(bx, ax);
            assert!(worst < 1e-5, "rung {rung}: reconstruction moved by {worst}");
        }

        let device = device.autodiff();
        let old = HyperpriorModel::new(&small, Init::Random, &device);
        let grown = widen_transforms(old, &small, &large, &device).unwrap();
        let grads = distortion_gradients(&grown, &device);
        let sum = |t: Tensor<4>| crate::model::tensor_to_vec(t.abs().sum())[0];
        let g = grown.g_a.conv1.weight.grad(&grads).unwrap();
        assert!(
            sum(g.narrow(0, 8, 8)) > 0.0,
            "no gradient reaches g_a's new rows"
        );
        let g = grown.g_s.deconv1.weight.grad(&grads).unwrap();
        assert!(
            sum(g.narrow(1, 8, 8)) > 0.0,
            "no gradient reaches g_s's new rows"
        );
        let g = grown.g_s.deconv3.weight.grad(&grads).unwrap();
        assert!(
            sum(g.narrow(1, 8, 8)) > 0.0,
            "no gradient reaches g_s's last new rows"
        );

        let narrower = widen_transforms(
            HyperpriorModel::new(&large, Init::Zeros, &device),
            &large,
            &small,
            &device,
        );
        assert!(narrower
            .unwrap_err()
            .to_string()
            .contains("more hidden channels"));
        let other = ModelConfig { m: 16, ..large };
        let err = widen_transforms(
            HyperpriorModel::new(&small, Init::Zeros, &device),
            &small,
            &other,
            &device,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("rest of the model as it is"),
            "{err}"
        );
    }

    /// Widening g_a alone (`analysis_width`) codes every rung as before and leaves the
    /// decoder's side — g_s, h_s, the z density, the ladder — exactly as it was.
    #[test]
    fn widening_the_analysis_alone_keeps_the_decoder() {
        let device = Device::flex();
        let small = config(8, 0);
        let large = ModelConfig {
            analysis_width: 16,
            ..small.clone()
        };
        let old = HyperpriorModel::new(&small, Init::Random, &device);
        let x = Tensor::<4>::random([1, 3, 128, 128], Distribution::Uniform(0.0, 1.0), &device);
        let before = code(&old, &x);
        let decoder = |m: &HyperpriorModel| {
            [
                m.g_s.deconv1.weight.val(),
                m.g_s.deconv4.weight.val(),
                m.g_s.igdn2.gamma.val(),
                m.h_s.deconv1.weight.val(),
            ]
            .map(crate::model::tensor_to_vec)
        };
        let old_decoder = decoder(&old);
        let grown = widen_transforms(old, &small, &large, &device).unwrap();
        assert_eq!(grown.g_a.conv2.weight.dims(), [16, 16, 5, 5]);
        assert_eq!(grown.g_s.deconv2.weight.dims(), [8, 8, 5, 5]);
        assert_eq!(decoder(&grown), old_decoder);
        for (rung, ((by, bz, bx), (ay, az, ax))) in before.iter().zip(&code(&grown, &x)).enumerate()
        {
            assert!(
                (by - ay).abs() < 1e-3 && (bz - az).abs() < 1e-3,
                "rung {rung}: bits moved"
            );
            let worst = largest_change(bx, ax);
            assert!(worst < 1e-5, "rung {rung}: reconstruction moved by {worst}");
        }
        let err = widen_transforms(
            HyperpriorModel::new(&large, Init::Zeros, &device),
            &large,
            &ModelConfig { width: 12, ..small },
            &device,
        )
        .unwrap_err();
        assert!(err.to_string().contains("g_a 16 → 12"), "{err}");
    }

    /// Models that differ in more than M, or shrink, are refused with the reason.
    #[test]
    fn widening_refuses_other_changes() {
        let device = Device::flex();
        let old = HyperpriorModel::new(&config(16, 0), Init::Zeros, &device);
        let err = widen_latent(old, &config(16, 0), &config(8, 0), &device).unwrap_err();
        assert!(err.to_string().contains("more latent channels"), "{err}");
        let old = HyperpriorModel::new(&config(8, 0), Init::Zeros, &device);
        let err = widen_latent(old, &config(8, 0), &config(16, 4), &device).unwrap_err();
        assert!(err.to_string().contains("cannot narrow"), "{err}");
    }
}
