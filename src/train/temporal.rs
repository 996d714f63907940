//! Training the temporal prior `T` with the image model frozen.
//!
//! Frame pairs come from clips — consecutive frames, whole, forwards and backwards:
//! the clips' own motion — or from still images, where a chain of 256×256 crops of one
//! image, each shifted from the last by a few pixels (or not at all) and carrying its
//! own sensor noise, stands in for consecutive frames of a moving camera. The frozen
//! analysis transforms and the deterministic hyper-synthesis run once per frame, up
//! front; a training step then costs only `T`. For a pair (a, b) and a quality drawn
//! per pair from the whole range 0..=100, `T` sees b's hyper-synthesis output and ŷ_a
//! quantized at that quality's steps Δ as the decoder has it — around the means `T`
//! itself gave a when a had a frame before it (chain training: at low rates most of ŷ
//! *is* those means) — and is trained to minimise the rate of y_b as the codec codes
//! it: the mass of the rounded symbol's bin under the refined N(μ, σ) (see [`bits`]).
//! Variable-rate models have a step per channel; `T` is told their mean.

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
use super::data::{load_files, load_images, RgbImage};
use super::stop::StopOnSignal;
use super::trainer::append_csv;
use super::{draw_parameters, seed_burn};
use crate::codec::{Codec, Timings};
use crate::io::datasets::{list_clips, list_frames};
use crate::io::image_io::SourceImage;
use crate::model::gaussian::gaussian_likelihood;
use crate::model::weights::WeightsFile;
use crate::model::{ModelConfig, TemporalNet};

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
    /// Training pairs.
    pub train: PairSource,
    /// More training pairs, from a second data set (e.g. photo crops beside clips).
    pub mix: Option<PairSource>,
    /// Validation pairs (optional).
    pub valid: Option<PairSource>,
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

/// One frame's frozen analysis, once for each pair of transforms of the model: with
/// the model's, and with its top band's when it has one (`top_band`).
struct Frame {
    /// The analyses, the top band's last.
    bands: Vec<Latent>,
    /// Latent grid: rows, columns.
    grid: (usize, usize),
    /// Pixels of the frame (for bits per pixel).
    pixels: usize,
}

/// y and the raw hyper-synthesis output of one analysis.
struct Latent {
    /// `M × h × w`.
    y: Vec<f32>,
    /// `2M × h × w`: scales, then means.
    hs: Vec<f32>,
}

impl Frame {
    /// The analysis that codes at a quality of the top band (`top`) or below it.
    fn at(&self, top: bool) -> &Latent {
        &self.bands[if top { self.bands.len() - 1 } else { 0 }]
    }
}

/// A frame pair: the rate of `cur` given ŷ of `prev`, which was itself coded given
/// ŷ of `before` when there is one (the frame before it in its chain).
#[derive(Debug, Clone, Copy)]
struct Pair {
    before: Option<usize>,
    prev: usize,
    cur: usize,
}

/// Frames, the pairs among them, and the pairs grouped by latent grid (a batch holds
/// pairs of one grid).
#[derive(Default)]
struct PairSet {
    frames: Vec<Frame>,
    pairs: Vec<Pair>,
    /// Index in `classes` of each pair's grid.
    class_of: Vec<usize>,
    /// Pairs by grid.
    classes: Vec<((usize, usize), Vec<usize>)>,
}

impl PairSet {
    /// The index in `classes` of `grid`'s class, made when new.
    fn class(&mut self, grid: (usize, usize)) -> usize {
        match self.classes.iter().position(|(g, _)| *g == grid) {
            Some(c) => c,
            None => {
                self.classes.push((grid, Vec::new()));
                self.classes.len() - 1
            }
        }
    }

    /// Adds the frames and pairs of `other` (another data set's).
    fn append(&mut self, other: PairSet) {
        let offset = self.frames.len();
        self.frames.extend(other.frames);
        for (pair, class) in other.pairs.into_iter().zip(other.class_of) {
            let class = self.class(other.classes[class].0);
            self.classes[class].1.push(self.pairs.len());
            self.class_of.push(class);
            self.pairs.push(Pair {
                before: pair.before.map(|b| b + offset),
                prev: pair.prev + offset,
                cur: pair.cur + offset,
            });
        }
    }

    /// Adds `frames` (consecutive, one grid) as a chain: each frame given the one
    /// before it and, with `both_ways`, also given the one after it (time reversed:
    /// motion the other way, disocclusions for occlusions).
    fn push_chain(&mut self, frames: Vec<Frame>, both_ways: bool) {
        let first = self.frames.len();
        let n = frames.len();
        let Some(grid) = frames.first().map(|f| f.grid) else {
            return;
        };
        debug_assert!(frames.iter().all(|f| f.grid == grid));
        self.frames.extend(frames);
        let class = self.class(grid);
        let mut add = |before: Option<usize>, prev: usize, cur: usize| {
            self.classes[class].1.push(self.pairs.len());
            self.class_of.push(class);
            self.pairs.push(Pair {
                before: before.map(|b| first + b),
                prev: first + prev,
                cur: first + cur,
            });
        };
        for k in 1..n {
            add(k.checked_sub(2), k - 1, k);
            if both_ways {
                add((k + 1 < n).then_some(k + 1), k, k - 1);
            }
        }
    }
}

/// Where frame pairs come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairSource {
    /// A folder of still images: chains of shifted, noisy crops of each.
    Images(PathBuf),
    /// Clips, each a folder of numbered frames: their consecutive frames, whole.
    Clips(Vec<PathBuf>),
}

impl PairSource {
    /// The source in folder `dir`: its clips when it holds clip folders, else its
    /// images.
    pub fn in_folder(dir: &Path) -> anyhow::Result<Self> {
        let clips = list_clips(dir)?;
        Ok(if clips.is_empty() {
            PairSource::Images(dir.to_path_buf())
        } else {
            PairSource::Clips(clips)
        })
    }
}

/// Splits `clips` into (training, validation): `n` clips spread evenly over the list
/// (which is sorted by name) validate, the others train.
pub fn hold_out_clips(
    clips: Vec<PathBuf>,
    n: usize,
) -> anyhow::Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    anyhow::ensure!(
        n < clips.len(),
        "cannot hold out {n} of {} clips and still train on one",
        clips.len()
    );
    let held: Vec<usize> = (0..n)
        .map(|j| (2 * j + 1) * clips.len() / (2 * n))
        .collect();
    let (mut train, mut valid) = (Vec::new(), Vec::new());
    for (i, clip) in clips.into_iter().enumerate() {
        if held.contains(&i) {
            valid.push(clip);
        } else {
            train.push(clip);
        }
    }
    Ok((train, valid))
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
    SourceImage::from_rgb(CROP as u32, CROP as u32, rgb)
}

/// The frozen model's analysis of one picture (with each band's transforms).
fn analyse(codec: &Codec, src: &SourceImage, t: &mut Timings) -> anyhow::Result<Frame> {
    // Quality 0 codes below any top band, 100 in it.
    let qualities: &[u8] = if codec.config().top_band > 0 {
        &[0, 100]
    } else {
        &[0]
    };
    let dims = LatentDims::new(src.width, src.height);
    let bands = qualities
        .iter()
        .map(|&q| {
            let a = codec.analyse(src, q, t)?;
            let z_hat: Vec<i32> = a.z.iter().map(|&v| v.round() as i32).collect();
            let hs = codec.entropy_model().hyper_output(&z_hat, &dims)?;
            Ok(Latent {
                y: a.y,
                hs: hs.data,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Frame {
        bands,
        grid: (dims.yh, dims.yw),
        pixels: src.width as usize * src.height as usize,
    })
}

/// Reads and analyses the pairs of `source` (with `both_ways`, clips also backwards).
fn build_pairs(
    codec: &Codec,
    source: &PairSource,
    both_ways: bool,
    rng: &mut impl Rng,
) -> anyhow::Result<PairSet> {
    match source {
        PairSource::Images(dir) => image_pairs(codec, &load_images(dir, CROP)?, rng),
        PairSource::Clips(clips) => clip_pairs(codec, clips, both_ways),
    }
}

/// Runs the frozen model on chains of shifted crops of every image.
fn image_pairs(codec: &Codec, images: &[RgbImage], rng: &mut impl Rng) -> anyhow::Result<PairSet> {
    let mut set = PairSet::default();
    let mut t = Timings::default();
    let started = Instant::now();
    for (i, img) in images.iter().enumerate() {
        let (mut x, mut y) = (
            rng.random_range(0..=img.width - CROP) as i64,
            rng.random_range(0..=img.height - CROP) as i64,
        );
        let mut chain = Vec::with_capacity(CHAIN);
        for k in 0..CHAIN {
            if k > 0 && !rng.random_bool(STILL_SHARE) {
                let mut shift = |v: i64, max: usize| {
                    (v + rng.random_range(-MAX_SHIFT..=MAX_SHIFT)).clamp(0, (max - CROP) as i64)
                };
                x = shift(x, img.width);
                y = shift(y, img.height);
            }
            let src = noisy_crop(img, x as usize, y as usize, rng);
            chain.push(analyse(codec, &src, &mut t)?);
        }
        set.push_chain(chain, false);
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

/// Runs the frozen model on every frame of every clip; a clip's frames must share one
/// size.
fn clip_pairs(codec: &Codec, clips: &[PathBuf], both_ways: bool) -> anyhow::Result<PairSet> {
    let mut set = PairSet::default();
    let mut t = Timings::default();
    let started = Instant::now();
    for clip in clips {
        let files = list_frames(clip)?;
        let frames = load_files(&files, 1)?;
        if let Some(first) = frames.first() {
            let size = (first.width, first.height);
            if let Some((path, f)) = files
                .iter()
                .zip(&frames)
                .find(|(_, f)| (f.width, f.height) != size)
            {
                anyhow::bail!(
                    "{} is {}×{}, the clip's first frame {}×{}: a clip's frames must share one size",
                    path.display(),
                    f.width,
                    f.height,
                    size.0,
                    size.1
                );
            }
        }
        let chain = frames
            .into_iter()
            .map(|f| {
                let src = SourceImage::from_rgb(f.width as u32, f.height as u32, f.pixels);
                analyse(codec, &src, &mut t)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        set.push_chain(chain, both_ways);
    }
    eprintln!(
        "analysed {} frames of {} clips ({:.0} s)",
        set.frames.len(),
        clips.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(set)
}

/// Tensors of one batch of pairs.
struct Batch {
    /// `[B, 3M + 1, h, w]`: hyper-synthesis output, ŷ of the previous frame, the
    /// step the prior is told.
    input: Tensor<4>,
    /// `[B, 2M, h, w]`: the current frame's hyper-synthesis output.
    hs: Tensor<4>,
    /// `[B, M, h, w]`: the current frame's y.
    y: Tensor<4>,
    /// `[B, M, 1, 1]`: Δ per pair and channel.
    step: Tensor<4>,
    /// Pixels of the batch's current frames.
    pixels: usize,
}

/// ŷ of latents `y` at per-channel steps Δ around `means` (rounded to 1/64 first, as
/// the codec rounds them).
fn y_hat(y: &[f32], means: &[f32], steps: &[f32]) -> Vec<f32> {
    let plane = y.len() / steps.len();
    y.chunks(plane)
        .zip(means.chunks(plane))
        .zip(steps)
        .flat_map(|((y, mu), &step)| {
            y.iter().zip(mu).map(move |(&y, &mu)| {
                let mu = (mu * 64.0).round() / 64.0;
                ((y - mu) / step).round() * step + mu
            })
        })
        .collect()
}

/// The means half of a hyper-synthesis output.
fn means(l: &Latent) -> &[f32] {
    &l.hs[l.hs.len() / 2..]
}

/// The pairs `picks` (pair, quality; all of one grid) as tensors on `device`, at the
/// steps `model` codes with, each with the analysis of the band its quality codes in
/// (`config`). ŷ of a pair's previous frame is what the decoder has when
/// that frame was coded with the prior `chain` (run on `plain`) given an intra-coded
/// frame before it; a chain's first frame is intra.
fn make_batch(
    set: &PairSet,
    picks: &[(usize, u8)],
    config: &ModelConfig,
    model: &EntropyModel,
    chain: &TemporalNet,
    plain: &Device,
    device: &Device,
) -> Batch {
    let m = model.y_channels();
    let (h, w) = set.frames[set.pairs[picks[0].0].cur].grid;
    let plane = h * w;
    let b = picks.len();
    let t = |data: Vec<f32>, c: usize, device: &Device| {
        Tensor::<4>::from_data(TensorData::new(data, [b, c, h, w]), device)
    };
    let steps: Vec<Vec<f32>> = picks.iter().map(|&(_, q)| model.steps(q)).collect();
    let top: Vec<bool> = picks.iter().map(|&(_, q)| config.top_band_at(q)).collect();
    // T's input for one frame: its hyper-synthesis output, ŷ of the frame before it
    // (latents `y` around `means`) and the prior's step as a plane.
    let push_input = |input: &mut Vec<f32>, hs: &[f32], y: &[f32], means: &[f32], s: &[f32]| {
        input.extend_from_slice(hs);
        input.extend(y_hat(y, means, s));
        input.extend(std::iter::repeat_n(model.prior_step(s), plane));
    };
    // The previous frames' means as coded: refined where they had a frame before.
    let mut prev_means: Vec<Vec<f32>> = picks
        .iter()
        .zip(&top)
        .map(|(&(p, _), &top)| means(set.frames[set.pairs[p].prev].at(top)).to_vec())
        .collect();
    let chained: Vec<usize> = (0..b)
        .filter(|&i| set.pairs[picks[i].0].before.is_some())
        .collect();
    if !chained.is_empty() {
        let mut input = Vec::with_capacity(chained.len() * (3 * m + 1) * plane);
        for &i in &chained {
            let pair = set.pairs[picks[i].0];
            let before = set.frames[pair.before.unwrap()].at(top[i]);
            let prev = set.frames[pair.prev].at(top[i]);
            push_input(&mut input, &prev.hs, &before.y, means(before), &steps[i]);
        }
        let input = Tensor::<4>::from_data(
            TensorData::new(input, [chained.len(), 3 * m + 1, h, w]),
            plain,
        );
        let delta = crate::model::tensor_to_vec(chain.forward(input));
        for (&i, d) in chained.iter().zip(delta.chunks(2 * m * plane)) {
            for (mu, d) in prev_means[i].iter_mut().zip(&d[m * plane..]) {
                *mu += d;
            }
        }
    }
    let (mut input, mut hs, mut y) = (Vec::new(), Vec::new(), Vec::new());
    let mut pixels = 0;
    for (i, &(p, _)) in picks.iter().enumerate() {
        let pair = set.pairs[p];
        let (prev, cur) = (set.frames[pair.prev].at(top[i]), &set.frames[pair.cur]);
        let latent = cur.at(top[i]);
        push_input(&mut input, &latent.hs, &prev.y, &prev_means[i], &steps[i]);
        hs.extend_from_slice(&latent.hs);
        y.extend_from_slice(&latent.y);
        pixels += cur.pixels;
    }
    Batch {
        input: t(input, 3 * m + 1, device),
        hs: t(hs, 2 * m, device),
        y: t(y, m, device),
        step: Tensor::<4>::from_data(TensorData::new(steps.concat(), [b, m, 1, 1]), device),
        pixels,
    }
}

/// Bits of y under the parameters `params` (`[B, 2M, h, w]`) at each pair's step, as
/// the codec codes them: each symbol `q = round((y − μ)/Δ)` under N(0, σ/Δ) (floored
/// as the codec floors it), with a straight-through gradient for the rounding. The
/// image model is frozen and rounds, so the rate is that of the rounded symbol, not
/// the mass of a width-Δ interval around y (the additive-noise proxy of training
/// transforms): near |y − μ| = Δ/2 with a small σ the two differ by many bits, and a
/// prior trained on the proxy learned "savings" the codec never saw.
fn bits(params: Tensor<4>, y: Tensor<4>, step: Tensor<4>) -> Tensor<1> {
    let m = y.dims()[1];
    let scales = params.clone().narrow(1, 0, m);
    let means = params.narrow(1, m, m);
    let v = (y - means).div(step.clone());
    let q = v.clone() + (v.clone().round() - v).detach();
    let lik = gaussian_likelihood(q, scales.div(step));
    lik.log().sum().mul_scalar(-std::f64::consts::LOG2_E)
}

/// Bits per pixel of a batch with the temporal prior and without (intra).
fn rates(net: &TemporalNet, batch: &Batch) -> (Tensor<1>, f64) {
    let pixels = batch.pixels as f64;
    let intra = bits(batch.hs.clone(), batch.y.clone(), batch.step.clone())
        .div_scalar(pixels)
        .into_scalar::<f32>() as f64;
    let refined = batch.hs.clone() + net.forward(batch.input.clone());
    let temporal = bits(refined, batch.y.clone(), batch.step.clone()).div_scalar(pixels);
    (temporal, intra)
}

/// Validation: intra and temporal bpp at each of [`VALID_QUALITIES`], over every pair
/// (weighted by pixels).
fn validate(
    net: &TemporalNet,
    set: &PairSet,
    codec: &Codec,
    device: &Device,
) -> Vec<(u8, f64, f64)> {
    let net = net.valid();
    let (config, model) = (codec.config(), codec.entropy_model());
    VALID_QUALITIES
        .iter()
        .map(|&q| {
            let (mut t, mut i, mut n) = (0.0, 0.0, 0.0);
            for (_, class) in &set.classes {
                let all: Vec<(usize, u8)> = class.iter().map(|&p| (p, q)).collect();
                for chunk in all.chunks(16) {
                    let batch = make_batch(set, chunk, config, model, &net, device, device);
                    let w = batch.pixels as f64;
                    let (temporal, intra) = rates(&net, &batch);
                    t += temporal.into_scalar::<f32>() as f64 * w;
                    i += intra * w;
                    n += w;
                }
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
    let mut train_set = build_pairs(&codec, &args.train, true, &mut data_rng)?;
    let valid_set = match &args.valid {
        Some(source) => Some(build_pairs(&codec, source, false, &mut data_rng)?),
        None => None,
    };
    if let Some(mix) = &args.mix {
        train_set.append(build_pairs(&codec, mix, true, &mut data_rng)?);
    }
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
        // A batch holds pairs of one grid: that of a pair drawn from all.
        let first = rng.random_range(0..train_set.pairs.len());
        let class = &train_set.classes[train_set.class_of[first]].1;
        let picks: Vec<(usize, u8)> = (0..args.batch)
            .map(|i| {
                let p = if i == 0 {
                    first
                } else {
                    class[rng.random_range(0..class.len())]
                };
                (p, rng.random_range(0..=100))
            })
            .collect();
        let batch = make_batch(
            &train_set,
            &picks,
            codec.config(),
            codec.entropy_model(),
            &net.valid(),
            &args.device,
            &device,
        );
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
                let rows = validate(&net, valid, &codec, &args.device);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(grid: (usize, usize)) -> Frame {
        Frame {
            bands: Vec::new(),
            grid,
            pixels: 0,
        }
    }

    /// Each pair's (before, prev, cur).
    fn pair_list(set: &PairSet) -> Vec<(Option<usize>, usize, usize)> {
        set.pairs
            .iter()
            .map(|p| (p.before, p.prev, p.cur))
            .collect()
    }

    #[test]
    fn chains_pair_each_frame_with_the_one_before_and_after() {
        let mut set = PairSet::default();
        set.push_chain((0..3).map(|_| frame((2, 3))).collect(), true);
        set.push_chain((0..2).map(|_| frame((4, 4))).collect(), false);
        let pairs = pair_list(&set);
        assert_eq!(
            pairs,
            [
                (None, 0, 1),
                (Some(2), 1, 0),
                (Some(0), 1, 2),
                (None, 2, 1),
                (None, 3, 4),
            ]
        );
        assert_eq!(set.class_of, [0, 0, 0, 0, 1]);
        assert_eq!(set.classes[0], ((2, 3), vec![0, 1, 2, 3]));
        assert_eq!(set.classes[1], ((4, 4), vec![4]));
    }

    #[test]
    fn a_second_set_appends_its_pairs_after_the_first() {
        let mut set = PairSet::default();
        set.push_chain((0..2).map(|_| frame((2, 3))).collect(), false);
        let mut other = PairSet::default();
        other.push_chain((0..2).map(|_| frame((4, 4))).collect(), false);
        other.push_chain((0..3).map(|_| frame((2, 3))).collect(), false);
        set.append(other);
        let pairs = pair_list(&set);
        assert_eq!(
            pairs,
            [(None, 0, 1), (None, 2, 3), (None, 4, 5), (Some(4), 5, 6)]
        );
        assert_eq!(set.frames.len(), 7);
        assert_eq!(set.class_of, [0, 1, 0, 0]);
        assert_eq!(set.classes[0], ((2, 3), vec![0, 2, 3]));
        assert_eq!(set.classes[1], ((4, 4), vec![1]));
    }

    #[test]
    fn held_out_clips_are_spread_over_the_set() {
        let clips: Vec<PathBuf> = (0..16).map(|i| PathBuf::from(format!("c{i:02}"))).collect();
        let (train, valid) = hold_out_clips(clips.clone(), 3).unwrap();
        assert_eq!(
            valid,
            [clips[2].clone(), clips[8].clone(), clips[13].clone()]
        );
        assert_eq!(train.len(), 13);
        assert!(train.iter().all(|c| !valid.contains(c)));
        let (train, valid) = hold_out_clips(clips.clone(), 0).unwrap();
        assert_eq!((train, valid.len()), (clips.clone(), 0));
        let e = hold_out_clips(clips[..2].to_vec(), 2).unwrap_err();
        assert!(
            e.to_string().contains("cannot hold out 2 of 2 clips"),
            "{e}"
        );
    }

    /// The rate is that of the rounded symbol: every y that rounds to the same symbol
    /// costs the same, however close to the bin's edge (the noise proxy gave 0.55 at
    /// σ = 0.11 under two bits, where the codec spends eighteen).
    #[test]
    fn bits_are_those_of_the_rounded_symbol() {
        let device = Device::flex();
        let t = |v: f32| Tensor::<4>::from_data(TensorData::new(vec![v], [1, 1, 1, 1]), &device);
        let params =
            Tensor::<4>::from_data(TensorData::new(vec![0.11f32, 0.0], [1, 2, 1, 1]), &device);
        let b = |y: f32| bits(params.clone(), t(y), t(1.0)).into_scalar::<f32>();
        assert!(b(0.45) < 1e-3, "{}", b(0.45));
        assert!((b(0.55) - b(1.4)).abs() < 1e-3, "{} vs {}", b(0.55), b(1.4));
        assert!(b(0.55) > 15.0, "{}", b(0.55));
    }

    #[test]
    fn y_hat_rounds_around_means_rounded_to_a_64th() {
        // Two channels of two values, steps 1 and 0.5.
        let y = [0.9, -0.2, 1.3, 0.0];
        let means = [0.26, 0.0, 0.0, 0.01];
        let got = y_hat(&y, &means, &[1.0, 0.5]);
        let mu = (0.26f32 * 64.0).round() / 64.0;
        let mu2 = (0.01f32 * 64.0).round() / 64.0;
        assert_eq!(got, [mu + 1.0, 0.0, 1.5, mu2]);
    }
}
