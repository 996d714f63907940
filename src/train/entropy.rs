//! Training the entropy model (h_a, h_s, the density of z) of a weights file with the
//! transforms g_a and g_s frozen — optionally turning it into the multivariate
//! Gaussian model (channel groups, see `neco_core::entropy::coupling`).
//!
//! With g_a and g_s frozen the reconstruction no longer depends on the entropy model
//! (up to where the means put the quantization grid), so the loss is the rate alone.
//! The frozen analysis runs once per crop, up front; a step then costs only the
//! hyper networks. A variable-rate model keeps its ladder too: each batch is coded
//! at the steps of one rung drawn uniformly, and its loss is the rate relative to
//! the batch's own (the gradient of ln bpp), so every rung's relative saving counts
//! alike though the top rung codes ~20× the bits of the bottom one. A multivariate
//! run starts from the weights' diagonal model with the coupling head at zero, so both runs of an ablation start from the same point.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::checkpoint::{self, Progress};
use super::data::{centre_batches, load_images, random_batch};
use super::stop::StopOnSignal;
use super::trainer::append_csv;
use super::{draw_parameters, seed_burn};
use crate::model::config::check_freezable;
use crate::model::context::CheckerboardContext;
use crate::model::hyperprior::RateNoise;
use crate::model::weights::WeightsFile;
use crate::model::{tensor_to_vec, ConfigFile, HyperpriorModel, Init, ModelConfig};

/// Side of the training and validation crops, in pixels (16 × 16 latents).
const CROP: usize = 256;
/// Crops analysed per batch of the up-front analysis.
const ANALYSIS_BATCH: usize = 8;

/// What to train, from what, and for how long.
pub struct EntropyTrainArgs {
    /// Weights whose transforms are kept and whose entropy model is the start.
    pub weights: PathBuf,
    /// Folder of training images.
    pub train_dir: PathBuf,
    /// Folder of validation images (optional).
    pub valid_dir: Option<PathBuf>,
    /// Run folder: checkpoints and CSV logs; an existing checkpoint is resumed.
    pub run_dir: PathBuf,
    /// Channels per group of the multivariate model (1: diagonal).
    pub group: usize,
    /// Add (and train) a checkerboard context model.
    pub context: bool,
    /// Parts of the model not trained (names of [`FREEZABLE`]).
    pub frozen: Vec<String>,
    /// Model name written into the run's config (streams record it).
    pub name: Option<String>,
    /// Random crops analysed per training image.
    pub crops: usize,
    /// Crops per batch.
    pub batch: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Stopping, checkpoints, validation and seed.
    pub schedule: super::Schedule,
    /// Device to train on.
    pub device: Device,
}

/// The run's fixed settings, saved as `entropy.json` in the run folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntropyRunSettings {
    /// sha256 (hex) of the weights file the run started from.
    pub weights_sha256: String,
    /// Channels per group.
    pub group: usize,
    /// Whether the run adds a checkerboard context model.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub context: bool,
    /// The parts kept frozen.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frozen: Vec<String>,
}

/// File name of [`EntropyRunSettings`] in a run folder.
pub const SETTINGS_FILE: &str = "entropy.json";

/// Latents of crops, `count × M × 16 × 16` values.
struct LatentSet {
    y: Vec<f32>,
    count: usize,
}

impl LatentSet {
    fn per_crop(&self) -> usize {
        self.y.len() / self.count.max(1)
    }

    /// The crops `picks` as one `[B, M, 16, 16]` tensor.
    fn batch(&self, picks: &[usize], m: usize, device: &Device) -> Tensor<4> {
        let n = self.per_crop();
        let mut data = Vec::with_capacity(picks.len() * n);
        for &i in picks {
            data.extend_from_slice(&self.y[i * n..(i + 1) * n]);
        }
        Tensor::from_data(TensorData::new(data, [picks.len(), m, 16, 16]), device)
    }
}

/// y = g_a(x) of every batch of crops.
fn analyse(model: &HyperpriorModel, batches: impl Iterator<Item = Tensor<4>>) -> LatentSet {
    let mut set = LatentSet {
        y: Vec::new(),
        count: 0,
    };
    for x in batches {
        set.count += x.dims()[0];
        set.y.extend(tensor_to_vec(model.g_a.forward(x)));
    }
    set
}

/// Bits per pixel of y, of z, and in total, of `y` under the model's entropy model,
/// quantized with the steps of ladder rung `rung` (variable-rate models).
fn bpp(model: &HyperpriorModel, y: Tensor<4>, noise: bool, rung: usize) -> (Tensor<1>, f64, f64) {
    let pixels = (y.dims()[0] * CROP * CROP) as f64;
    let noise = if noise {
        RateNoise::Random
    } else {
        RateNoise::Off
    };
    let step = model.ladder.as_ref().map(|l| l.step(rung));
    let (bits_y, bits_z, _) = model.entropy_pass(y, noise, step);
    let y_bpp = bits_y.div_scalar(pixels);
    let z_bpp = bits_z.div_scalar(pixels);
    let (yv, zv) = (
        y_bpp.clone().into_scalar::<f32>() as f64,
        z_bpp.clone().into_scalar::<f32>() as f64,
    );
    (y_bpp + z_bpp, yv, zv)
}

/// Validation at `rung`: bpp of y and z of the rounded latents (what the codec codes),
/// `model` without autodiff.
fn validate(
    model: &HyperpriorModel,
    set: &LatentSet,
    m: usize,
    rung: usize,
    device: &Device,
) -> (f64, f64) {
    let (mut y, mut z) = (0.0, 0.0);
    let all: Vec<usize> = (0..set.count).collect();
    for chunk in all.chunks(16) {
        let (_, yv, zv) = bpp(model, set.batch(chunk, m, device), false, rung);
        y += yv * chunk.len() as f64;
        z += zv * chunk.len() as f64;
    }
    (y / set.count as f64, z / set.count as f64)
}

/// The run's config and model: resumed from its checkpoint, or the weights' model
/// given the coupling head of `args.group`.
fn start(
    args: &EntropyTrainArgs,
    weights: &WeightsFile,
    device: &Device,
) -> anyhow::Result<(ModelConfig, HyperpriorModel, Option<checkpoint::Loaded>)> {
    let base = &weights.config;
    anyhow::ensure!(
        base.group == 1,
        "{} is already a multivariate model; start from diagonal weights",
        args.weights.display()
    );
    anyhow::ensure!(
        base.rungs == 0 || (args.group == 1 && !args.context),
        "{} is a variable-rate model ({} rungs): its entropy model stays diagonal, without a context model",
        args.weights.display(),
        base.rungs
    );
    // Its latents are analysed once for every rung, with the model's g_a.
    anyhow::ensure!(
        base.top_band == 0,
        "{} has transforms of its own for its top rungs (top_band = {}); train-entropy \
         trains the entropy model of models without one (`neco train` trains a banded \
         model's entropy model with its transforms)",
        args.weights.display(),
        base.top_band
    );
    let settings = EntropyRunSettings {
        weights_sha256: neco_core::hex(&weights.sha256),
        group: args.group,
        context: args.context,
        frozen: args.frozen.clone(),
    };
    let settings_path = args.run_dir.join(SETTINGS_FILE);
    if settings_path.exists() {
        let prev: EntropyRunSettings = serde_json::from_slice(&std::fs::read(&settings_path)?)?;
        let describe = |s: &EntropyRunSettings| {
            format!(
                "weights sha256 {}, groups of {}{}{}",
                s.weights_sha256,
                s.group,
                if s.context { ", a context model" } else { "" },
                match s.frozen.is_empty() {
                    true => String::new(),
                    false => format!(", frozen {}", s.frozen.join(",")),
                }
            )
        };
        anyhow::ensure!(
            prev == settings,
            "{} was trained with {}, and this command asks for {}: use another run folder",
            args.run_dir.display(),
            describe(&prev),
            describe(&settings)
        );
    }
    let cfg_path = args.run_dir.join("config.toml");
    let config = if cfg_path.exists() {
        ConfigFile::from_toml(&std::fs::read_to_string(&cfg_path)?)?.model
    } else {
        let name = match (&args.name, args.group) {
            (Some(name), _) => name.clone(),
            (None, 1) => base.name.clone(),
            (None, g) => format!("{}-mvg{g}", base.name),
        };
        let name = match (&args.name, args.context) {
            (None, true) => format!("{name}-ctx"),
            _ => name,
        };
        let config = ModelConfig {
            name,
            group: args.group,
            context: args.context,
            ..base.clone()
        };
        config.validate()?;
        config
    };
    std::fs::create_dir_all(&args.run_dir)?;
    let _lock = checkpoint::lock_run(&args.run_dir)?;
    std::fs::write(&settings_path, serde_json::to_vec_pretty(&settings)?)?;
    std::fs::write(
        &cfg_path,
        toml::to_string(&ConfigFile {
            model: config.clone(),
            train: None,
        })?,
    )?;
    match checkpoint::load(&args.run_dir.join("checkpoint"))? {
        Some(mut ck) => {
            let record = std::mem::take(&mut ck.model);
            let model = HyperpriorModel::from_record_bytes(&config, record, device)
                .context("applying the checkpoint")?;
            Ok((config, model, Some(ck)))
        }
        None => {
            let mut model = weights.model(device)?;
            model.h_s = model.h_s.with_groups(config.m, config.group, device);
            model.context = config
                .context
                .then(|| CheckerboardContext::new(config.m, Init::Random, device));
            Ok((config, model, None))
        }
    }
}

/// Validate `model` on `valid` at each of its `rungs` (1 for a fixed-rate model),
/// print and append one line per rung to `csv`, and remember the best step: the one
/// of least bpp, or of a variable-rate model the least sum of the rungs' ln bpp.
fn log_validation(
    model: &HyperpriorModel,
    valid: &LatentSet,
    (m, rungs): (usize, usize),
    device: &Device,
    progress: &mut Progress,
    csv: &Path,
) -> anyhow::Result<()> {
    let model = model.valid();
    let mut score = 0.0;
    for rung in 0..rungs {
        let (y, z) = validate(&model, valid, m, rung, device);
        let line = format!(
            "{},{:.1},{rung},{y:.5},{z:.5},{:.5}",
            progress.step,
            progress.elapsed_s,
            y + z
        );
        eprintln!("valid {line}");
        append_csv(csv, "step,elapsed_s,rung,bpp_y,bpp_z,bpp", &line)?;
        score += if rungs > 1 { (y + z).ln() } else { y + z };
    }
    if score.is_finite() && progress.best_valid_loss.is_none_or(|(b, _)| score < b) {
        progress.best_valid_loss = Some((score, progress.step));
    }
    Ok(())
}

/// Train (or resume training) the entropy model until `max_steps` or `max_minutes`.
pub fn train_entropy(args: &EntropyTrainArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.batch >= 1 && args.crops >= 1,
        "--batch and --crops must be at least 1"
    );
    let weights = WeightsFile::read(&args.weights)?;
    let device = args.device.clone().autodiff();
    seed_burn(&device, args.schedule.seed, 0);
    check_freezable(&args.frozen, "--frozen")?;
    // g_a and g_s are always frozen here; the entropy model's parts may all be too
    // only when a context model is added to train alone.
    anyhow::ensure!(
        args.context
            || ["h_a", "h_s", "z_density"]
                .iter()
                .any(|p| !args.frozen.iter().any(|f| f == p)),
        "--frozen {} leaves nothing to train (g_a and g_s are frozen anyway): drop a part, or add --context to train a context model alone",
        args.frozen.join(",")
    );
    let (config, model, ck) = start(args, &weights, &device)?;
    if ck.is_none() {
        checkpoint::trim_logs(&args.run_dir, None)?;
    }
    let mut model = model.freeze(&args.frozen);
    // The ladder's steps are not the entropy model's to move (the rate alone would
    // only grow them).
    model.ladder = model.ladder.map(|l| l.no_grad());
    draw_parameters(&model);
    let m = config.m;
    let rungs = config.rungs.max(1);
    let mut optim = AdamConfig::new().init();
    let mut progress = Progress::default();
    if let Some(ck) = ck {
        (optim, progress) = checkpoint::resume(optim, ck.optim, ck.progress, &args.run_dir)?;
        seed_burn(&device, args.schedule.seed, progress.step);
    }

    // The crops depend only on the seed, so a resumed run sees the same data.
    let frozen = model.valid();
    let mut data_rng = StdRng::seed_from_u64(args.schedule.seed);
    let started = Instant::now();
    let images = load_images(&args.train_dir, CROP)?;
    let total = images.len() * args.crops;
    let train_set = analyse(
        &frozen,
        (0..total.div_ceil(ANALYSIS_BATCH)).map(|i| {
            let b = ANALYSIS_BATCH.min(total - i * ANALYSIS_BATCH);
            random_batch(&images, b, CROP, &mut data_rng, &args.device)
        }),
    );
    drop(images);
    let valid_set = match &args.valid_dir {
        Some(dir) => Some(analyse(
            &frozen,
            centre_batches(&load_images(dir, CROP)?, CROP, ANALYSIS_BATCH, &args.device)
                .into_iter(),
        )),
        None => None,
    };
    eprintln!(
        "analysed {} training and {} validation crops in {:.0} s",
        train_set.count,
        valid_set.as_ref().map_or(0, |s| s.count),
        started.elapsed().as_secs_f64()
    );

    let mut rng =
        StdRng::seed_from_u64(args.schedule.seed ^ (progress.step as u64).rotate_left(23));
    let started = Instant::now();
    let elapsed_before = progress.elapsed_s;
    let mut last_ckpt = Instant::now();
    let ckpt_dir = args.run_dir.join("checkpoint");
    let train_csv = args.run_dir.join("train.csv");
    let valid_csv = args.run_dir.join("valid.csv");
    let (mut acc_y, mut acc_z, mut acc_n) = (0.0, 0.0, 0usize);
    let log_valid = |model: &HyperpriorModel, progress: &mut Progress| match &valid_set {
        Some(valid) => log_validation(model, valid, (m, rungs), &args.device, progress, &valid_csv),
        None => Ok(()),
    };
    if progress.step == 0 {
        // The starting point, so the log shows what training gained.
        log_valid(&model, &mut progress)?;
    }
    super::note_if_done(progress.step, args.schedule.max_steps);
    let stop = StopOnSignal::listen(progress.step);
    loop {
        if args.schedule.done(progress.step, started) || stop.requested() {
            break;
        }
        let picks: Vec<usize> = (0..args.batch)
            .map(|_| rng.random_range(0..train_set.count))
            .collect();
        let rung = if rungs > 1 {
            rng.random_range(0..rungs)
        } else {
            0
        };
        let (mut loss, y_bpp, z_bpp) = bpp(&model, train_set.batch(&picks, m, &device), true, rung);
        if rungs > 1 {
            loss = loss.div_scalar(y_bpp + z_bpp);
        }
        super::check_loss(y_bpp + z_bpp, progress.step + 1)?;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(args.lr, model, grads);
        progress.step += 1;
        progress.elapsed_s = elapsed_before + started.elapsed().as_secs_f64();
        (acc_y, acc_z, acc_n) = (acc_y + y_bpp, acc_z + z_bpp, acc_n + 1);
        if progress.step.is_multiple_of(50) {
            let n = acc_n as f64;
            let line = format!(
                "{},{:.1},{:.5},{:.5},{:.5}",
                progress.step,
                progress.elapsed_s,
                acc_y / n,
                acc_z / n,
                (acc_y + acc_z) / n
            );
            eprintln!("step {line}");
            append_csv(&train_csv, "step,elapsed_s,bpp_y,bpp_z,bpp", &line)?;
            (acc_y, acc_z, acc_n) = (0.0, 0.0, 0);
        }
        if args.schedule.validates(progress.step) {
            log_valid(&model, &mut progress)?;
        }
        if last_ckpt.elapsed().as_secs() >= args.schedule.checkpoint_secs {
            checkpoint::save_module(&ckpt_dir, &model, &optim, &progress)?;
            last_ckpt = Instant::now();
        }
    }
    checkpoint::finish(&ckpt_dir, &model, &optim, &progress)?;
    stop.result(progress.step)
}
