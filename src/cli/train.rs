//! `neco train`: resumable training of a model config on a data set.

use std::path::PathBuf;

use burn::prelude::Device;
use clap::Args;

use crate::backend::BackendChoice;
use crate::io::datasets::resolve_dataset;
use crate::train::{
    hold_out_clips, train, train_entropy, train_temporal, EntropyTrainArgs, PairSource, Schedule,
    TemporalTrainArgs, TrainArgs,
};

/// Arguments of `neco train`.
#[derive(Debug, Args)]
pub struct TrainCmd {
    /// Model config (TOML with [model] and [train]).
    #[arg(long)]
    config: PathBuf,
    /// Training data: a name from datasets.toml or a folder of images.
    #[arg(long, default_value = "train")]
    dataset: String,
    /// Validation data (name or folder); "none" to skip validation.
    #[arg(long, default_value = "valid")]
    valid: String,
    /// Run folder for checkpoints and logs (resumed if it holds a checkpoint).
    #[arg(long)]
    run: PathBuf,
    /// Stop at this total step count.
    #[arg(long, default_value_t = usize::MAX)]
    steps: usize,
    /// Stop after this many minutes.
    #[arg(long, default_value_t = f64::INFINITY, value_parser = minutes)]
    minutes: f64,
    /// Random seed: the random start of the parameters, the crops, the noise and the
    /// batches. On the CPU a run is reproducible from it.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Start from the parameters of this weights file (same n and group) instead of
    /// random ones, e.g. to turn a fixed-rate model into a variable-rate one, or to
    /// widen y to the config's larger m or the transforms to its larger `width` /
    /// `analysis_width` (the new channels start at zero); ignored when the run resumes.
    #[arg(long)]
    init: Option<PathBuf>,
    /// Backend to train on. On the CPU (`cpu`, or `auto` without a GPU) g_a and g_s
    /// and their gradients run on neco's own kernels, the entropy model on Burn's
    /// `flex` autodiff; `flex` runs everything on Burn (slower; the same gradients up
    /// to float rounding).
    #[arg(long, value_enum, default_value_t)]
    backend: BackendChoice,
}

/// A learning rate from the command line: positive and finite.
fn learning_rate(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|e| format!("{e}"))?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!(
            "a learning rate must be positive and finite, got {v}"
        ))
    }
}

/// A time limit in minutes: positive (`inf`, the default: none).
fn minutes(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|e| format!("{e}"))?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err(format!(
            "a time limit must be positive (inf: none), got {v}"
        ))
    }
}

/// The validation folder named by `--valid` (a data set name or folder), or `None`
/// for "none".
fn valid_dir(name: &str) -> anyhow::Result<Option<PathBuf>> {
    if name == "none" {
        Ok(None)
    } else {
        resolve_dataset(name).map(Some)
    }
}

impl TrainCmd {
    /// Run the command.
    pub fn run(&self) -> anyhow::Result<()> {
        crate::alloc::keep_all_freed_memory();
        let valid_dir = valid_dir(&self.valid)?;
        let device = self.backend.device()?;
        train(&TrainArgs {
            config_path: self.config.clone(),
            train_dir: resolve_dataset(&self.dataset)?,
            valid_dir,
            run_dir: self.run.clone(),
            max_steps: self.steps,
            max_minutes: self.minutes,
            seed: self.seed,
            init: self.init.clone(),
            // As the codec: on the CPU, the kernels unless `--backend flex`.
            cpu_kernels: self.backend != BackendChoice::Flex && device == Device::flex(),
            device,
        })
    }
}

/// The loop arguments shared by `train-temporal` and `train-entropy`.
#[derive(Debug, Args)]
pub struct LoopArgs {
    /// Stop at this total step count.
    #[arg(long, default_value_t = usize::MAX)]
    steps: usize,
    /// Stop after this many minutes.
    #[arg(long, default_value_t = f64::INFINITY, value_parser = minutes)]
    minutes: f64,
    /// Seconds between checkpoints.
    #[arg(long, default_value_t = 120)]
    checkpoint_secs: u64,
    /// Steps between validation runs (to skip validation, pass --valid none).
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(1..))]
    validate_every: u64,
    /// Random seed (a new network's random start, crops, noise, batches).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Backend to train on.
    #[arg(long, value_enum, default_value_t)]
    backend: BackendChoice,
}

impl LoopArgs {
    fn schedule(&self) -> Schedule {
        Schedule {
            max_steps: self.steps,
            max_minutes: self.minutes,
            checkpoint_secs: self.checkpoint_secs,
            validate_every: self.validate_every as usize,
            seed: self.seed,
        }
    }
}

/// Arguments of `neco train-temporal`.
#[derive(Debug, Args)]
pub struct TrainTemporalCmd {
    /// Weights of the image model to train the temporal prior for (kept frozen).
    #[arg(long, default_value = "weights/hp-n64w128m192-vr-b5.nwt")]
    weights: PathBuf,
    /// Training data (name or folder): a video set (a folder of clip folders, each of
    /// numbered frames), whose consecutive frames are the pairs, or a folder of images,
    /// whose shifted crops play frame pairs.
    #[arg(long, default_value = "train")]
    dataset: String,
    /// Validation data (name or folder, either kind); "none" to skip validation.
    /// Default: with images, the data set "valid"; with a video set, clips held out of
    /// it (--hold-out).
    #[arg(long)]
    valid: Option<String>,
    /// More training data (name or folder, either kind) mixed with --dataset, e.g.
    /// `--dataset video-train --mix train`: chains of still and shifted photo crops
    /// stand in for the still camera the clips lack. Batches draw from all pairs.
    #[arg(long)]
    mix: Option<String>,
    /// Clips of a video --dataset that validate instead of training, spread evenly
    /// over its clips by name (used when --valid is not given).
    #[arg(long, default_value_t = 3)]
    hold_out: usize,
    /// Run folder for checkpoints and logs (resumed if it holds a checkpoint).
    #[arg(long)]
    run: PathBuf,
    /// Hidden channels of the prior network (a resumed run keeps its own).
    #[arg(long, default_value_t = 96)]
    hidden: usize,
    /// Start from the prior of this run folder or weights file (e.g. one trained for
    /// earlier weights of the same architecture, or of fewer latent channels, which
    /// it widens) instead of random parameters; ignored on resume.
    #[arg(long)]
    init: Option<PathBuf>,
    /// Frame pairs per batch.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-4, value_parser = learning_rate)]
    lr: f64,
    #[command(flatten)]
    run_loop: LoopArgs,
}

impl TrainTemporalCmd {
    /// Run the command.
    pub fn run(&self) -> anyhow::Result<()> {
        crate::alloc::keep_all_freed_memory();
        anyhow::ensure!(
            (1..=1024).contains(&self.hidden) && self.batch >= 1,
            "--hidden must be 1..=1024 and --batch at least 1"
        );
        let (train, valid) = self.pair_sources()?;
        let mix = match &self.mix {
            Some(name) => Some(PairSource::in_folder(&resolve_dataset(name)?)?),
            None => None,
        };
        train_temporal(&TemporalTrainArgs {
            weights: self.weights.clone(),
            train,
            mix,
            valid,
            run_dir: self.run.clone(),
            hidden: self.hidden,
            init: self.init.clone(),
            batch: self.batch,
            lr: self.lr,
            schedule: self.run_loop.schedule(),
            device: self.run_loop.backend.device()?,
        })
    }

    /// Where the training and validation pairs come from.
    fn pair_sources(&self) -> anyhow::Result<(PairSource, Option<PairSource>)> {
        let valid = |name: &str| -> anyhow::Result<Option<PairSource>> {
            match valid_dir(name)? {
                Some(dir) => PairSource::in_folder(&dir).map(Some),
                None => Ok(None),
            }
        };
        Ok(
            match PairSource::in_folder(&resolve_dataset(&self.dataset)?)? {
                PairSource::Clips(clips) if self.valid.is_none() => {
                    let (train, held) = hold_out_clips(clips, self.hold_out)?;
                    let names: Vec<_> = held
                        .iter()
                        .filter_map(|c| c.file_name())
                        .map(|n| n.to_string_lossy())
                        .collect();
                    if !held.is_empty() {
                        eprintln!("validating on the clips {}", names.join(", "));
                    }
                    (
                        PairSource::Clips(train),
                        (!held.is_empty()).then_some(PairSource::Clips(held)),
                    )
                }
                train => (train, valid(self.valid.as_deref().unwrap_or("valid"))?),
            },
        )
    }
}

/// Arguments of `neco train-entropy`.
#[derive(Debug, Args)]
pub struct TrainEntropyCmd {
    /// Weights to start from: their transforms stay frozen, their (diagonal) entropy
    /// model is trained further.
    #[arg(long, default_value = "weights/hp-n64m96.nwt")]
    weights: PathBuf,
    /// Channels per group of the multivariate Gaussian model (1: keep the diagonal
    /// model; the ablation's control run).
    #[arg(long, default_value_t = 1)]
    group: usize,
    /// Add a checkerboard context model (diagonal model only) and train it with the
    /// rest of the entropy model. Training side only so far: such runs are measured,
    /// not exported, as the codec does not code them yet.
    #[arg(long)]
    context: bool,
    /// Parts kept as the weights have them (comma-separated: h_a, h_s, z_density), e.g.
    /// to measure what a context model alone adds.
    #[arg(long, value_delimiter = ',')]
    frozen: Vec<String>,
    /// Model name streams will record (default: the weights' name, with `-mvgD` for
    /// groups of D, `-ctx` with a context model).
    #[arg(long)]
    name: Option<String>,
    /// Training images (name or folder).
    #[arg(long, default_value = "train")]
    dataset: String,
    /// Validation images (name or folder); "none" to skip validation.
    #[arg(long, default_value = "valid")]
    valid: String,
    /// Run folder for checkpoints and logs (resumed if it holds a checkpoint).
    #[arg(long)]
    run: PathBuf,
    /// Random 256×256 crops analysed per training image (their latents stay in memory:
    /// 98 KB each for M = 96).
    #[arg(long, default_value_t = 4)]
    crops: usize,
    /// Crops per batch.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-4, value_parser = learning_rate)]
    lr: f64,
    #[command(flatten)]
    run_loop: LoopArgs,
}

impl TrainEntropyCmd {
    /// Run the command.
    pub fn run(&self) -> anyhow::Result<()> {
        crate::alloc::keep_all_freed_memory();
        let valid_dir = valid_dir(&self.valid)?;
        train_entropy(&EntropyTrainArgs {
            weights: self.weights.clone(),
            train_dir: resolve_dataset(&self.dataset)?,
            valid_dir,
            run_dir: self.run.clone(),
            group: self.group,
            context: self.context,
            frozen: self.frozen.clone(),
            name: self.name.clone(),
            crops: self.crops,
            batch: self.batch,
            lr: self.lr,
            schedule: self.run_loop.schedule(),
            device: self.run_loop.backend.device()?,
        })
    }
}
