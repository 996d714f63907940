//! `neco train`: resumable training of a model config on a data set.

use std::path::PathBuf;

use clap::Args;

use crate::backend::BackendChoice;
use crate::io::datasets::resolve_dataset;
use crate::train::{train, TrainArgs};

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
    #[arg(long, default_value_t = f64::INFINITY)]
    minutes: f64,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Backend to train on.
    #[arg(long, value_enum, default_value_t)]
    backend: BackendChoice,
}

impl TrainCmd {
    /// Run the command.
    pub fn run(&self) -> anyhow::Result<()> {
        let valid_dir = if self.valid == "none" {
            None
        } else {
            Some(resolve_dataset(&self.valid)?)
        };
        train(&TrainArgs {
            config_path: self.config.clone(),
            train_dir: resolve_dataset(&self.dataset)?,
            valid_dir,
            run_dir: self.run.clone(),
            max_steps: self.steps,
            max_minutes: self.minutes,
            seed: self.seed,
            device: self.backend.device()?,
        })
    }
}
