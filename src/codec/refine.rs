//! Encoder-side latent refinement: a few steps of gradient descent on y and z for
//! one image, with the decoder fixed.
//!
//! The analysis transform is amortized: one network predicts y for every image and
//! falls short of the best latent for a given picture (the "amortization gap";
//! Campos et al. 2019, Yang et al. 2020). Refinement starts from g_a(x) and descends
//! the loss the model was trained on, at the quality being coded:
//! R(ŷ, ẑ)/pixels + λ·255²·MSE(g_s(ŷ), x), through the float model — the rate with
//! uniform noise for rounding, the synthesis with rounding passed straight through,
//! as in training. Only which latent gets coded changes: the stream format and the
//! decoder are untouched, so a refined stream decodes bit-exactly with any neco.
//! Each step costs a forward and backward pass of g_s, so it is opt-in (`--refine`).
//!
//! It runs in overlapping tiles (each refined on its own, only its interior kept), so
//! memory stays bounded on large images.

use burn::module::{Module, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use rayon::prelude::*;

use super::tiling::{crop_planar, tiles, Tile};
use crate::model::cpu_grad::CpuSynthesisGrad;
use crate::model::hyperprior::RateNoise;
use crate::model::{tensor_to_vec, HyperpriorModel};

/// Interior of a refinement tile, in latents (768 pixels: a Kodak image is one tile).
/// The backward pass needs g_s's activations: ~0.3 GB for a tile with its margin on
/// Burn's autodiff, ~35 MB on the CPU kernels' tape.
pub const REFINE_TILE: usize = 48;

/// Most tiles refined at once (each holds g_s's activations).
const MAX_PARALLEL_TILES: usize = 4;

/// Adam's step size is this times √(mean quantization step): measured on Kodak, the
/// best step grows with the quantization step, but more slowly (q10, q50 and q90 of
/// the default weights, 20 iterations).
const LR_PER_SQRT_STEP: f64 = 0.03;

/// The latents under refinement: the only parameters the optimizer moves.
#[derive(Module, Debug)]
struct Latent {
    y: Param<Tensor<4>>,
    z: Param<Tensor<4>>,
}

/// What a refinement did: the loss (bpp + λ·255²·MSE of the float model, averaged
/// over the image's pixels) before and after.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefineReport {
    /// Loss of g_a's latent.
    pub initial_loss: f64,
    /// Loss of the refined latent.
    pub final_loss: f64,
}

/// The image and operating point a refinement aims at.
pub struct Target<'a> {
    /// Padded planar image in [0, 1], `[3, ph, pw]` (ph and pw multiples of 64).
    pub planar: &'a [f32],
    /// Padded size (rows, columns).
    pub padded: (usize, usize),
    /// The image's own size (rows, columns): distortion counts only these pixels.
    pub size: (usize, usize),
    /// Per-channel quantization steps at the quality coded.
    pub steps: &'a [f32],
    /// Per-channel reconstruction scales at that quality (`None`: fixed-rate model).
    pub recon: Option<&'a [f32]>,
    /// λ at that quality.
    pub lambda: f64,
    /// Whether that quality codes with the model's top band (its g_s decodes).
    pub top_band: bool,
}

/// λ at `quality` for a ladder trained at `lambdas` (lowest rate first): the position
/// neco-core's ladder interpolates its steps at, geometric between rungs.
pub fn lambda_at(lambdas: &[f64], quality: u8) -> Option<f64> {
    let last = lambdas.len().checked_sub(1)?;
    let pos = f64::from(quality.min(100)) * last as f64 / 100.0;
    let rung = (pos.floor() as usize).min(last);
    let frac = pos - rung as f64;
    Some(match lambdas.get(rung + 1) {
        Some(next) if frac > 0.0 => lambdas[rung] * (next / lambdas[rung]).powf(frac),
        _ => lambdas[rung],
    })
}

/// Latents of one image: y (`[M, yh, yw]`) and z (`[N, yh/4, yw/4]`), planar.
#[derive(Debug, Clone)]
pub struct Latents {
    /// y.
    pub y: Vec<f32>,
    /// z.
    pub z: Vec<f32>,
}

/// Refine `start` (g_a's y and h_a's z for `target`) for `iterations` steps with
/// `model` (on an autodiff device, every part frozen), in tiles of `tile`×`tile`
/// latents (rounded up to a multiple of 4, the hyper grid's). With `synthesis`, g_s
/// and its gradient run on the CPU kernels (the same g_s up to float rounding, a
/// refinement ~1.9× faster than with Burn's autodiff on the CPU: docs/refine.md); the
/// entropy model stays on Burn.
pub fn refine_latent(
    model: &HyperpriorModel,
    synthesis: Option<&CpuSynthesisGrad>,
    start: &Latents,
    target: &Target,
    iterations: usize,
    tile: usize,
    device: &Device,
) -> (Latents, RefineReport) {
    let m = target.steps.len();
    let (ph, pw) = target.padded;
    let (yh, yw) = (ph / 16, pw / 16);
    let n = start.z.len() / (yh / 4 * (yw / 4));
    let mut out = start.clone();
    let (mut before, mut after) = (0.0, 0.0);
    let all = tiles(yh, yw, tile.max(1).div_ceil(4) * 4);
    // Tiles are independent, so refining several at once gives the same latent;
    // Burn's autodiff runs mostly on one core. A few at a time bounds the memory.
    let width = rayon::current_num_threads().clamp(1, MAX_PARALLEL_TILES);
    for chunk in all.chunks(width) {
        let refined: Vec<_> = chunk
            .par_iter()
            .map(|t| refine_in_tile(model, synthesis, start, target, t, iterations, device))
            .collect();
        for (t, (latent, report, pixels)) in chunk.iter().zip(refined) {
            before += report.initial_loss * pixels;
            after += report.final_loss * pixels;
            t.paste_inner(&latent.y, &mut out.y, (yh, yw), m);
            t.coarser(4)
                .paste_inner(&latent.z, &mut out.z, (yh / 4, yw / 4), n);
        }
    }
    let pixels = (target.size.0 * target.size.1) as f64;
    (
        out,
        RefineReport {
            initial_loss: before / pixels,
            final_loss: after / pixels,
        },
    )
}

/// Refine the part of `start` in tile `t` (margin included); returns the refined
/// tile, its report and the number of image pixels it covers.
fn refine_in_tile(
    model: &HyperpriorModel,
    synthesis: Option<&CpuSynthesisGrad>,
    start: &Latents,
    target: &Target,
    t: &Tile,
    iterations: usize,
    device: &Device,
) -> (Latents, RefineReport, f64) {
    let m = target.steps.len();
    let (ph, pw) = target.padded;
    let (yh, yw) = (ph / 16, pw / 16);
    let n = start.z.len() / (yh / 4 * (yw / 4));
    let (oh, ow) = (t.outer_rows.len(), t.outer_cols.len());
    let px = |r: &std::ops::Range<usize>| r.start * 16..r.end * 16;
    let window = TileTarget {
        planar: crop_planar(
            target.planar,
            3,
            ph,
            pw,
            px(&t.outer_rows),
            px(&t.outer_cols),
        ),
        size: (oh * 16, ow * 16),
        // The tile's pixels inside the image (every tile starts inside it).
        real: (
            target.size.0.min(t.outer_rows.end * 16) - t.outer_rows.start * 16,
            target.size.1.min(t.outer_cols.end * 16) - t.outer_cols.start * 16,
        ),
    };
    let zt = t.coarser(4);
    let tile_start = Latents {
        y: crop_planar(
            &start.y,
            m,
            yh,
            yw,
            t.outer_rows.clone(),
            t.outer_cols.clone(),
        ),
        z: crop_planar(&start.z, n, yh / 4, yw / 4, zt.outer_rows, zt.outer_cols),
    };
    let (latent, report) = refine_tile(
        model, synthesis, tile_start, &window, target, iterations, device,
    );
    (latent, report, (window.real.0 * window.real.1) as f64)
}

/// One tile's pixels: the window g_s will produce and the part of it in the image.
struct TileTarget {
    planar: Vec<f32>,
    size: (usize, usize),
    real: (usize, usize),
}

/// Refine one tile's latent; returns the better of the start and the end (by the
/// loss with rounding, as coded) and both losses.
fn refine_tile(
    model: &HyperpriorModel,
    synthesis: Option<&CpuSynthesisGrad>,
    start: Latents,
    window: &TileTarget,
    target: &Target,
    iterations: usize,
    device: &Device,
) -> (Latents, RefineReport) {
    let m = target.steps.len();
    let (h, w) = window.real;
    let x = Tensor::<4>::from_data(
        TensorData::new(window.planar.clone(), [1, 3, window.size.0, window.size.1]),
        device,
    )
    .narrow(2, 0, h)
    .narrow(3, 0, w);
    let channel =
        |v: &[f32]| Tensor::<4>::from_data(TensorData::new(v.to_vec(), [1, m, 1, 1]), device);
    let step = channel(target.steps);
    let recon = target.recon.map(channel);
    let pixels = (h * w) as f64;
    let scale = target.lambda * 255.0 * 255.0;
    let (oh, ow) = (window.size.0 / 16, window.size.1 / 16);
    // Bits per pixel of (y, z), and ŷ as g_s sees it.
    let rate_of = |y: Tensor<4>, z: Tensor<4>, noise: RateNoise| {
        let (bits_y, bits_z, mut y_hat) =
            model.entropy_pass_given_z(y, z, noise, Some(step.clone()));
        if let Some(r) = &recon {
            y_hat = y_hat * r.clone();
        }
        ((bits_y + bits_z).div_scalar(pixels), y_hat)
    };
    // λ·255²·MSE of g_s(ŷ) on the tile's pixels in the image, through Burn.
    let burn_distortion = |y_hat: Tensor<4>| {
        let g_s = model.band(target.top_band).1;
        let x_hat = g_s.forward(y_hat).narrow(2, 0, h).narrow(3, 0, w);
        let mse = (x_hat - x.clone()).powi_scalar(2).mean().reshape([1]);
        mse.mul_scalar(scale)
    };
    // The same on the CPU kernels, with its gradient with respect to ŷ.
    let cpu_distortion = |g_s: &CpuSynthesisGrad, y_hat: &Tensor<4>, grad: bool| {
        let (x_hat, tape) = g_s.forward(&tensor_to_vec(y_hat.clone().detach()), oh, ow);
        let (ph, pw) = window.size;
        let norm = scale / (3 * h * w) as f64;
        let mut sum = 0.0;
        let mut dx = vec![0f32; x_hat.len()];
        for c in 0..3 {
            for r in 0..h {
                let at = (c * ph + r) * pw;
                for i in at..at + w {
                    let d = f64::from(x_hat[i] - window.planar[i]);
                    sum += d * d;
                    dx[i] = (2.0 * norm * d) as f32;
                }
            }
        }
        let dy = grad.then(|| g_s.backward(&tape, &dx));
        (sum * norm, dy)
    };
    let loss_of = |y: Tensor<4>, z: Tensor<4>, noise: RateNoise| {
        let (rate, y_hat) = rate_of(y, z, noise);
        match synthesis {
            None => rate + burn_distortion(y_hat),
            Some(g_s) => {
                // A term whose gradient with respect to ŷ is the kernels' one.
                let dy = cpu_distortion(g_s, &y_hat, true).1.expect("asked for");
                let dy = Tensor::<4>::from_data(TensorData::new(dy, [1, m, oh, ow]), device);
                rate + (y_hat * dy).sum()
            }
        }
    };
    let value = |y: Tensor<4>, z: Tensor<4>| match synthesis {
        None => f64::from(loss_of(y, z, RateNoise::Off).into_scalar::<f32>()),
        Some(g_s) => {
            let (rate, y_hat) = rate_of(y, z, RateNoise::Off);
            f64::from(rate.into_scalar::<f32>()) + cpu_distortion(g_s, &y_hat, false).0
        }
    };

    let n = start.z.len() / (oh / 4 * (ow / 4));
    let y0 = Tensor::<4>::from_data(TensorData::new(start.y, [1, m, oh, ow]), device);
    let z0 = Tensor::<4>::from_data(TensorData::new(start.z, [1, n, oh / 4, ow / 4]), device);
    let initial_loss = value(y0.clone(), z0.clone());
    let mean_step = target.steps.iter().map(|&s| f64::from(s)).sum::<f64>() / m as f64;
    let lr = LR_PER_SQRT_STEP * mean_step.sqrt();
    let mut latent = Latent {
        y: Param::from_tensor(y0.clone()),
        z: Param::from_tensor(z0.clone()),
    };
    let mut optim = AdamConfig::new().init();
    for i in 0..iterations {
        // Seeded noise: the same file from the same image on every run.
        let loss = loss_of(latent.y.val(), latent.z.val(), RateNoise::Seeded(i as u64));
        let grads = GradientsParams::from_grads(loss.backward(), &latent);
        // Linear decay to zero: large early steps, then settling (a constant step
        // drifts: the noisy rate is only a proxy for the rounded one).
        let decay = 1.0 - i as f64 / iterations as f64;
        latent = optim.step(lr * decay, latent, grads);
    }
    let (y1, z1) = (latent.y.val(), latent.z.val());
    let final_loss = value(y1.clone(), z1.clone());
    let ((y, z), final_loss) = if final_loss < initial_loss {
        ((y1, z1), final_loss)
    } else {
        ((y0, z0), initial_loss)
    };
    (
        Latents {
            y: tensor_to_vec(y),
            z: tensor_to_vec(z),
        },
        RefineReport {
            initial_loss,
            final_loss,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_follows_the_ladder_position() {
        let l = [0.001, 0.004, 0.016];
        assert_eq!(lambda_at(&l, 0), Some(0.001));
        assert_eq!(lambda_at(&l, 50), Some(0.004));
        assert_eq!(lambda_at(&l, 100), Some(0.016));
        // Geometric between rungs: a quarter of the way is the midpoint of rung 0-1.
        assert!((lambda_at(&l, 25).unwrap() - 0.002).abs() < 1e-12);
        assert_eq!(lambda_at(&[0.5], 70), Some(0.5));
        assert_eq!(lambda_at(&[], 70), None);
    }
}
