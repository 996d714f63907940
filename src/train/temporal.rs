//! Training the temporal prior `T` with the image model frozen.
//!
//! Frame pairs come from still images: a chain of 256×256 crops of one image, each
//! shifted from the last by a few pixels (or not at all) and carrying its own sensor
//! noise, stands in for consecutive frames of a moving camera. The frozen analysis
//! transforms and the deterministic hyper-synthesis run once per crop, up front; a
//! training step then costs only `T`. For a pair (a, b) and a quality drawn per pair
//! from the whole range 0..=100, `T` sees b's hyper-synthesis output and ŷ_a quantized
//! at that quality's steps Δ exactly as the codec would, and is trained to minimise
//! the rate of y_b: the mass of the width-Δ interval around y_b under the refined
//! N(μ, σ). Variable-rate models have a step per channel; `T` is told their mean.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use neco_core::entropy::EntropyModel;
use neco_core::latent::LatentDims;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::checkpoint::{self, Progress};
use super::data::{load_images, RgbImage};
use super::stop::StopOnSignal;
use super::trainer::append_csv;
use super::{draw_parameters, seed_burn};
use crate::codec::{Codec, Timings};
use crate::io::image_io::{SourceImage, SourceKind};
use crate::model::gaussian::gaussian_likelihood;
use crate::model::weights::WeightsFile;
use crate::model::TemporalNet;

/// Side of the crops that play frames, in pixels (16 × 16 latents).
pub const CROP: usize = 256;
/// Crops per image: a chain of `CHAIN − 1` frame pairs.
const CHAIN: usize = 6;
/// Largest shift between consecutive crops, pixels per axis.
const MAX_SHIFT: i64 = 12;
/// Share of pairs with no motion at all.
const STILL_SHARE: f64 = 0.25;
/// Standard deviation of the per-crop noise, in 8-bit levels.
const NOISE: f32 = 1.5;
/// Qualities the validation reports.
const VALID_QUALITIES: [u8; 3] = [10, 50, 90];

/// What to train, on what, and for how long.
pub struct TemporalTrainArgs {
    /// Weights of the frozen image model.
    pub weights: PathBuf,
    /// Folder of training images.
    pub train_dir: PathBuf,
    /// Folder of validation images (optional).
    pub valid_dir: Option<PathBuf>,
    /// Run folder: checkpoints and CSV logs; an existing checkpoint is resumed.
    pub run_dir: PathBuf,
    /// Hidden channels of `T` (a resumed run keeps its own).
    pub hidden: usize,
    /// A run whose prior starts this one (ignored when resuming): a prior trained for
    /// other weights of the same architecture is a better start than random.
    pub init: Option<PathBuf>,
    /// Pairs per batch.
    pub batch: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Stopping, checkpoints, validation and seed.
    pub schedule: super::Schedule,
    /// Device to train on.
    pub device: Device,
}

/// The run's fixed settings, saved as `temporal.json` in the run folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    /// The image model the prior was trained for: sha256 (hex) of its weights file
    /// without a temporal prior, as `neco export` writes it (for a version-2 file,
    /// the file's own sha256).
    pub weights_sha256: String,
    /// Latent channels M.
    pub m: usize,
    /// Hidden channels of `T`.
    pub hidden: usize,
}

/// File name of [`RunSettings`] in a run folder.
pub const SETTINGS_FILE: &str = "temporal.json";

/// Reads a temporal run's settings and checkpoint: `(settings, T, steps)`.
pub fn load_run(run: &Path, device: &Device) -> anyhow::Result<(RunSettings, TemporalNet, usize)> {
    let path = run.join(SETTINGS_FILE);
    let settings: RunSettings = serde_json::from_slice(
        &std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("parsing {}", path.display()))?;
    let ck = checkpoint::load(&run.join("checkpoint"))?
        .with_context(|| format!("no checkpoint in {}", run.display()))?;
    let net = TemporalNet::from_record_bytes(settings.m, settings.hidden, ck.model, device)?;
    Ok((settings, net, ck.progress.step))
}

/// The temporal prior stored in weights file `path`, as [`load_run`] gives a run's.
fn prior_of_weights(
    path: &Path,
    device: &Device,
) -> anyhow::Result<(RunSettings, TemporalNet, usize)> {
    let weights = WeightsFile::read(path)?;
    let stored = weights
        .temporal
        .as_ref()
        .with_context(|| format!("{} has no temporal prior", path.display()))?;
    let net = TemporalNet::from_export(stored, weights.config.m, device)?;
    let settings = RunSettings {
        weights_sha256: neco_core::hex(&weights.sha256),
        m: weights.config.m,
        hidden: net.hidden(),
    };
    Ok((settings, net, 0))
}

/// One crop's frozen analysis: y and the raw hyper-synthesis output.
struct Frame {
    /// `M × 16 × 16`.
    y: Vec<f32>,
    /// `2M × 16 × 16`: scales, then means.
    hs: Vec<f32>,
}

/// Frames and the (previous, current) pairs among them.
struct PairSet {
    frames: Vec<Frame>,
    pairs: Vec<(usize, usize)>,
}

fn normal(rng: &mut impl Rng) -> f32 {
    // Box–Muller: training data only, so libm's transcendentals are fine here.
    let u1: f32 = rng.random_range(f32::EPSILON..1.0);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// A noisy `CROP`² crop of `img` at (`x0`, `y0`).
fn noisy_crop(img: &RgbImage, x0: usize, y0: usize, rng: &mut impl Rng) -> SourceImage {
    let mut rgb = Vec::with_capacity(CROP * CROP * 3);
    for y in y0..y0 + CROP {
        let row = &img.pixels[(y * img.width + x0) * 3..][..CROP * 3];
        rgb.extend(
            row.iter()
                .map(|&v| (v as f32 + NOISE * normal(rng)).round().clamp(0.0, 255.0) as u8),
        );
    }
    SourceImage {
        width: CROP as u32,
        height: CROP as u32,
        rgb,
        alpha: None,
        icc: None,
        exif: None,
        kind: SourceKind::Rgb,
        warnings: Vec::new(),
    }
}

/// Runs the frozen model on chains of shifted crops of every image.
fn build_pairs(codec: &Codec, images: &[RgbImage], rng: &mut impl Rng) -> anyhow::Result<PairSet> {
    let d = LatentDims::new(CROP as u32, CROP as u32);
    let mut set = PairSet {
        frames: Vec::new(),
        pairs: Vec::new(),
    };
    let mut t = Timings::default();
    let started = Instant::now();
    for (i, img) in images.iter().enumerate() {
        let (mut x, mut y) = (
            rng.random_range(0..=img.width - CROP) as i64,
            rng.random_range(0..=img.height - CROP) as i64,
        );
        for k in 0..CHAIN {
            if k > 0 && !rng.random_bool(STILL_SHARE) {
                let mut shift = |v: i64, max: usize| {
                    (v + rng.random_range(-MAX_SHIFT..=MAX_SHIFT)).clamp(0, (max - CROP) as i64)
                };
                x = shift(x, img.width);
                y = shift(y, img.height);
            }
            let src = noisy_crop(img, x as usize, y as usize, rng);
            let a = codec.analyse(&src, &mut t)?;
            let z_hat: Vec<i32> = a.z.iter().map(|&v| v.round() as i32).collect();
            let hs = codec.entropy_model().hyper_output(&z_hat, &d)?;
            if k > 0 {
                set.pairs.push((set.frames.len() - 1, set.frames.len()));
            }
            set.frames.push(Frame {
                y: a.y,
                hs: hs.data,
            });
        }
        if (i + 1) % 100 == 0 {
            eprintln!(
                "analysed {} of {} images ({:.0} s)",
                i + 1,
                images.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(set)
}

/// Tensors of one batch of pairs.
struct Batch {
    /// `[B, 3M + 1, 16, 16]`: hyper-synthesis output, ŷ of the previous frame, the
    /// step the prior is told.
    input: Tensor<4>,
    /// `[B, 2M, 16, 16]`: the current frame's hyper-synthesis output.
    hs: Tensor<4>,
    /// `[B, M, 16, 16]`: the current frame's y.
    y: Tensor<4>,
    /// `[B, M, 1, 1]`: Δ per pair and channel.
    step: Tensor<4>,
}

/// ŷ of a frame at per-channel steps Δ, as the codec computes it with intra parameters.
fn y_hat<'a>(f: &'a Frame, steps: &'a [f32]) -> impl Iterator<Item = f32> + 'a {
    let plane = f.y.len() / steps.len();
    let means = &f.hs[steps.len() * plane..];
    f.y.chunks(plane)
        .zip(means.chunks(plane))
        .zip(steps)
        .flat_map(|((y, mu), &step)| {
            y.iter().zip(mu).map(move |(&y, &mu)| {
                let mu = (mu * 64.0).round() / 64.0;
                ((y - mu) / step).round() * step + mu
            })
        })
}

/// The pairs `picks` (pair, quality) as tensors, at the steps `model` codes with.
fn make_batch(
    set: &PairSet,
    picks: &[(usize, u8)],
    model: &EntropyModel,
    device: &Device,
) -> Batch {
    let (m, plane) = (model.y_channels(), (CROP / 16) * (CROP / 16));
    let b = picks.len();
    let (mut input, mut hs, mut y, mut steps) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for &(p, quality) in picks {
        let (a, c) = set.pairs[p];
        let (prev, cur) = (&set.frames[a], &set.frames[c]);
        let pair_steps = model.steps(quality);
        input.extend_from_slice(&cur.hs);
        input.extend(y_hat(prev, &pair_steps));
        input.extend(std::iter::repeat_n(model.prior_step(&pair_steps), plane));
        hs.extend_from_slice(&cur.hs);
        y.extend_from_slice(&cur.y);
        steps.extend(pair_steps);
    }
    let side = CROP / 16;
    let t = |data: Vec<f32>, c: usize| {
        Tensor::<4>::from_data(TensorData::new(data, [b, c, side, side]), device)
    };
    Batch {
        input: t(input, 3 * m + 1),
        hs: t(hs, 2 * m),
        y: t(y, m),
        step: Tensor::<4>::from_data(TensorData::new(steps, [b, m, 1, 1]), device),
    }
}

/// Estimated bits of y under the parameters `params` (`[B, 2M, h, w]`) at each pair's step.
fn bits(params: Tensor<4>, y: Tensor<4>, step: Tensor<4>) -> Tensor<1> {
    let m = y.dims()[1];
    let scales = params.clone().narrow(1, 0, m);
    let means = params.narrow(1, m, m);
    let lik = gaussian_likelihood((y - means).div(step.clone()), scales.div(step));
    lik.log().sum().mul_scalar(-std::f64::consts::LOG2_E)
}

/// Bits per pixel of a batch with the temporal prior and without (intra).
fn rates(net: &TemporalNet, batch: &Batch) -> (Tensor<1>, f64) {
    let pixels = (batch.y.dims()[0] * CROP * CROP) as f64;
    let intra = bits(batch.hs.clone(), batch.y.clone(), batch.step.clone())
        .div_scalar(pixels)
        .into_scalar::<f32>() as f64;
    let refined = batch.hs.clone() + net.forward(batch.input.clone());
    let temporal = bits(refined, batch.y.clone(), batch.step.clone()).div_scalar(pixels);
    (temporal, intra)
}

/// Validation: intra and temporal bpp at each of [`VALID_QUALITIES`].
fn validate(
    net: &TemporalNet,
    set: &PairSet,
    model: &EntropyModel,
    device: &Device,
) -> Vec<(u8, f64, f64)> {
    let net = net.valid();
    VALID_QUALITIES
        .iter()
        .map(|&q| {
            let (mut t, mut i, mut n) = (0.0, 0.0, 0.0);
            let all: Vec<(usize, u8)> = (0..set.pairs.len()).map(|p| (p, q)).collect();
            for chunk in all.chunks(16) {
                let batch = make_batch(set, chunk, model, device);
                let (temporal, intra) = rates(&net, &batch);
                let w = chunk.len() as f64;
                t += temporal.into_scalar::<f32>() as f64 * w;
                i += intra * w;
                n += w;
            }
            (q, i / n, t / n)
        })
        .collect()
}

/// Train (or resume training) the temporal prior until `max_steps` or `max_minutes`.
pub fn train_temporal(args: &TemporalTrainArgs) -> anyhow::Result<()> {
    let weights = WeightsFile::read(&args.weights)?;
    anyhow::ensure!(
        weights.config.group == 1,
        "{} is a multivariate model (channel groups of {}); the temporal prior trains \
         for diagonal models only",
        args.weights.display(),
        weights.config.group
    );
    let m = weights.config.m;
    let codec = Codec::new(&weights, args.device.clone())?;
    std::fs::create_dir_all(&args.run_dir)?;
    let _lock = checkpoint::lock_run(&args.run_dir)?;
    let settings_path = args.run_dir.join(SETTINGS_FILE);
    let image_only = WeightsFile::build(
        &weights.config,
        &weights.model(&args.device)?,
        &weights.z_tables,
        None,
    )?;
    let mut settings = RunSettings {
        weights_sha256: neco_core::hex(&Sha256::digest(&image_only)),
        m,
        hidden: args.hidden,
    };
    if settings_path.exists() {
        let prev: RunSettings = serde_json::from_slice(&std::fs::read(&settings_path)?)?;
        anyhow::ensure!(
            prev.weights_sha256 == settings.weights_sha256 && prev.m == m,
            "{} trained a prior for other weights (sha256 {}); use another run folder",
            args.run_dir.display(),
            prev.weights_sha256
        );
        settings.hidden = prev.hidden;
    }
    std::fs::write(&settings_path, serde_json::to_vec_pretty(&settings)?)?;

    let device = args.device.clone().autodiff();
    seed_burn(&device, args.schedule.seed, 0);
    let mut net = TemporalNet::new(m, settings.hidden, &device);
    let mut optim = AdamConfig::new().init();
    let ckpt_dir = args.run_dir.join("checkpoint");
    let mut progress = Progress::default();
    let resumed = checkpoint::load(&ckpt_dir)?;
    if resumed.is_none() {
        checkpoint::trim_logs(&args.run_dir, None)?;
    }
    if let (None, Some(init)) = (&resumed, &args.init) {
        let (from, init_net, step) = if init.is_dir() {
            load_run(init, &device)?
        } else {
            prior_of_weights(init, &device)?
        };
        anyhow::ensure!(
            from.m <= m && from.hidden == settings.hidden,
            "the prior in {} has {} latent and {} hidden channels, this run {m} and {}",
            init.display(),
            from.m,
            from.hidden,
            settings.hidden
        );
        eprintln!("starting from step {step} of {}", init.display());
        net = init_net;
        if from.m < m {
            // The image model's latent was widened (`crate::model::grow`).
            eprintln!("widening the prior from {} to {m} latent channels", from.m);
            net = net.widen(from.m, m);
        }
    }
    if let Some(ck) = resumed {
        net = TemporalNet::from_record_bytes(m, settings.hidden, ck.model, &device)?;
        (optim, progress) = checkpoint::resume(optim, ck.optim, ck.progress, &args.run_dir)?;
        seed_burn(&device, args.schedule.seed, progress.step);
    }
    draw_parameters(&net);

    // The pairs depend only on the seed, so a resumed run sees the same data.
    let mut data_rng = StdRng::seed_from_u64(args.schedule.seed);
    eprintln!(
        "analysing training images from {}",
        args.train_dir.display()
    );
    let train_set = build_pairs(&codec, &load_images(&args.train_dir, CROP)?, &mut data_rng)?;
    let valid_set = match &args.valid_dir {
        Some(dir) => Some(build_pairs(
            &codec,
            &load_images(dir, CROP)?,
            &mut data_rng,
        )?),
        None => None,
    };
    eprintln!(
        "{} training pairs, {} validation pairs",
        train_set.pairs.len(),
        valid_set.as_ref().map_or(0, |s| s.pairs.len())
    );

    let mut rng =
        StdRng::seed_from_u64(args.schedule.seed ^ (progress.step as u64).rotate_left(17));
    let started = Instant::now();
    let elapsed_before = progress.elapsed_s;
    let mut last_ckpt = Instant::now();
    let train_csv = args.run_dir.join("train.csv");
    let valid_csv = args.run_dir.join("valid.csv");
    let (mut acc_t, mut acc_i, mut acc_n) = (0.0, 0.0, 0usize);
    super::note_if_done(progress.step, args.schedule.max_steps);
    let stop = StopOnSignal::listen(progress.step);
    loop {
        if args.schedule.done(progress.step, started) || stop.requested() {
            break;
        }
        let picks: Vec<(usize, u8)> = (0..args.batch)
            .map(|_| {
                (
                    rng.random_range(0..train_set.pairs.len()),
                    rng.random_range(0..=100),
                )
            })
            .collect();
        let batch = make_batch(&train_set, &picks, codec.entropy_model(), &device);
        let (loss, intra) = rates(&net, &batch);
        let value = loss.clone().into_scalar::<f32>() as f64;
        super::check_loss(value, progress.step + 1)?;
        acc_t += value;
        acc_i += intra;
        acc_n += 1;
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(args.lr, net, grads);
        progress.step += 1;
        progress.elapsed_s = elapsed_before + started.elapsed().as_secs_f64();
        if progress.step.is_multiple_of(25) {
            let n = acc_n as f64;
            let line = format!(
                "{},{:.1},{:.5},{:.5},{:.2}",
                progress.step,
                progress.elapsed_s,
                acc_i / n,
                acc_t / n,
                100.0 * (acc_t / acc_i - 1.0)
            );
            eprintln!("step {line}");
            append_csv(
                &train_csv,
                "step,elapsed_s,bpp_intra,bpp_temporal,change_pct",
                &line,
            )?;
            (acc_t, acc_i, acc_n) = (0.0, 0.0, 0);
        }
        if let Some(valid) = &valid_set {
            if args.schedule.validates(progress.step) {
                let rows = validate(&net, valid, codec.entropy_model(), &args.device);
                let mut sum_change = 0.0;
                for (q, intra, temporal) in &rows {
                    let change = 100.0 * (temporal / intra - 1.0);
                    sum_change += change;
                    let line = format!(
                        "{},{:.1},{q},{intra:.5},{temporal:.5},{change:.2}",
                        progress.step, progress.elapsed_s
                    );
                    eprintln!("valid {line}");
                    append_csv(
                        &valid_csv,
                        "step,elapsed_s,quality,bpp_intra,bpp_temporal,change_pct",
                        &line,
                    )?;
                }
                let mean = sum_change / rows.len() as f64;
                if mean.is_finite() && progress.best_valid_loss.is_none_or(|(b, _)| mean < b) {
                    progress.best_valid_loss = Some((mean, progress.step));
                }
            }
        }
        if last_ckpt.elapsed().as_secs() >= args.schedule.checkpoint_secs {
            checkpoint::save_module(&ckpt_dir, &net, &optim, &progress)?;
            last_ckpt = Instant::now();
        }
    }
    checkpoint::finish(&ckpt_dir, &net, &optim, &progress)?;
    stop.result(progress.step)
}
