//! `neco export`: a training run's checkpoint → a weights file; or an older weights
//! file → the current format (same parameters and z tables, same decoded latents);
//! either one with a temporal prior trained by `neco train-temporal` attached.

use std::path::PathBuf;

use anyhow::Context;
use burn::prelude::*;
use clap::Args;
use sha2::{Digest, Sha256};

use super::common::{check_output, write_output};
use crate::model::weights::{number_params, round_to_f16, WeightsFile};
use crate::model::{ConfigFile, HyperpriorModel, ModelConfig};
use crate::train::checkpoint;
use neco_core::hex;

/// Arguments of `neco export`.
#[derive(Debug, Args)]
pub struct ExportCmd {
    /// Run folder written by `neco train`.
    #[arg(long, required_unless_present = "weights", conflicts_with = "weights")]
    run: Option<PathBuf>,
    /// Instead of a run: a weights file to rewrite in the current format (version 1
    /// files gain the hyper-synthesis section that lets neco-core decode latents
    /// without Burn; streams record the new file's sha256).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Attach the temporal prior of this `neco train-temporal` run folder (trained for
    /// the same image model); otherwise `--weights` keeps the prior it has.
    #[arg(long)]
    temporal: Option<PathBuf>,
    /// Output weights file.
    #[arg(short, long)]
    output: PathBuf,
    /// Store the parameters as f16: every parameter is rounded to f16 first and the
    /// entropy model derived from the rounded ones (a weights file already in f16
    /// stays f16 without this flag).
    #[arg(long)]
    half: bool,
    /// Overwrite the output if it exists.
    #[arg(short = 'y', long)]
    force: bool,
}

impl ExportCmd {
    /// Run the command.
    pub fn run(&self) -> anyhow::Result<()> {
        // The files it reads: a weights file, or the runs' configs and checkpoints.
        let mut inputs: Vec<PathBuf> = self.weights.iter().cloned().collect();
        for run in [&self.run, &self.temporal].into_iter().flatten() {
            let ck = run.join("checkpoint");
            inputs.push(run.join("config.toml"));
            for f in [
                checkpoint::MODEL_FILE,
                checkpoint::OPTIM_FILE,
                checkpoint::PROGRESS_FILE,
            ] {
                inputs.push(ck.join(f));
            }
        }
        let inputs: Vec<&std::path::Path> = inputs.iter().map(PathBuf::as_path).collect();
        check_output(&self.output, &inputs, self.force)?;
        let Some(run) = &self.run else {
            return self.upgrade();
        };
        let cfg_path = run.join("config.toml");
        let mut cfg = ConfigFile::from_toml(
            &std::fs::read_to_string(&cfg_path)
                .with_context(|| format!("reading {}", cfg_path.display()))?,
        )?;
        cfg.model.params_f16 |= self.half;
        if let Some(train) = cfg.train.as_ref().filter(|_| cfg.model.rungs > 0) {
            // Recorded so the encoder can refine latents for the λ of each quality.
            cfg.model.ladder_lambdas = train.lambdas.clone();
        }
        let ck = checkpoint::load(&run.join("checkpoint"))?
            .with_context(|| format!("no checkpoint in {}", run.display()))?;
        let device = Device::flex();
        let mut model = number_params(
            HyperpriorModel::from_record_bytes(&cfg.model, ck.model, &device)
                .context("applying the checkpoint")?,
        );
        if cfg.model.params_f16 {
            model = round_to_f16(model);
        }
        let z_tables = model.z_density.export(cfg.model.n, &device)?;
        let image_only = WeightsFile::build(&cfg.model, &model, &z_tables, None)?;
        let bytes = match self.temporal_prior(&cfg.model, &image_only, None)? {
            Some(t) => WeightsFile::build(&cfg.model, &model, &z_tables, Some(&t))?,
            None => image_only,
        };
        write_output(&self.output, &bytes, self.force)?;
        eprintln!(
            "exported step {} of {} to {} ({} bytes, sha256 {})",
            ck.progress.step,
            run.display(),
            self.output.display(),
            bytes.len(),
            hex(&Sha256::digest(&bytes))
        );
        Ok(())
    }

    /// Rewrite `--weights` in the current format, keeping its parameters and z tables.
    fn upgrade(&self) -> anyhow::Result<()> {
        let path = self.weights.as_ref().context("pass --run or --weights")?;
        let mut old = WeightsFile::read(path)?;
        let device = Device::flex();
        let mut model = old.model(&device)?;
        if self.half && !old.config.params_f16 {
            // New parameters: the z tables follow them.
            old.config.params_f16 = true;
            model = round_to_f16(model);
            old.z_tables = model.z_density.export(old.config.n, &device)?;
        }
        let image_only = WeightsFile::build(&old.config, &model, &old.z_tables, None)?;
        let bytes = match self.temporal_prior(&old.config, &image_only, Some(&old))? {
            Some(t) => WeightsFile::build(&old.config, &model, &old.z_tables, Some(&t))?,
            None => image_only,
        };
        write_output(&self.output, &bytes, self.force)?;
        eprintln!(
            "rewrote {} as {} ({} bytes, sha256 {})",
            path.display(),
            self.output.display(),
            bytes.len(),
            hex(&Sha256::digest(&bytes))
        );
        Ok(())
    }

    /// The temporal prior to write: from `--temporal`, checked against the image model
    /// it was trained for — identified by the sha256 of its weights file without a
    /// prior (`image_only`, as this command writes it) — or the one `old` has.
    fn temporal_prior(
        &self,
        config: &ModelConfig,
        image_only: &[u8],
        old: Option<&WeightsFile>,
    ) -> anyhow::Result<Option<neco_core::entropy::HyperSynthesis>> {
        let Some(run) = &self.temporal else {
            return Ok(old.and_then(|o| o.temporal.clone()));
        };
        let (settings, net, step) = crate::train::temporal::load_run(run, &Device::flex())?;
        let image_sha = hex(&Sha256::digest(image_only));
        anyhow::ensure!(
            settings.weights_sha256 == image_sha,
            "the temporal prior in {} was trained for the image model with weights sha256 {}, not this one ({image_sha})",
            run.display(),
            settings.weights_sha256,
        );
        anyhow::ensure!(
            settings.m == config.m,
            "the temporal prior in {} is for {} latent channels, the model has {}",
            run.display(),
            settings.m,
            config.m
        );
        eprintln!("temporal prior: step {step} of {}", run.display());
        Ok(Some(net.export()))
    }
}
