//! `neco export`: a training run's checkpoint → a weights file.

use std::path::PathBuf;

use anyhow::Context;
use burn::prelude::*;
use clap::Args;
use sha2::{Digest, Sha256};

use super::common::write_output;
use crate::codec::image::hex;
use crate::model::weights::WeightsFile;
use crate::model::{ConfigFile, HyperpriorModel};
use crate::train::checkpoint;

/// Arguments of `neco export`.
#[derive(Debug, Args)]
pub struct ExportCmd {
    /// Run folder written by `neco train`.
    #[arg(long)]
    run: PathBuf,
    /// Output weights file.
    #[arg(short, long)]
    output: PathBuf,
    /// Overwrite the output if it exists.
    #[arg(short = 'y', long)]
    force: bool,
}

impl ExportCmd {
    /// Run the command.
    pub fn run(&self) -> anyhow::Result<()> {
        let cfg_path = self.run.join("config.toml");
        let cfg = ConfigFile::from_toml(
            &std::fs::read_to_string(&cfg_path)
                .with_context(|| format!("reading {}", cfg_path.display()))?,
        )?;
        let ck = checkpoint::load(&self.run.join("checkpoint"))?
            .with_context(|| format!("no checkpoint in {}", self.run.display()))?;
        let device = Device::flex();
        let model = HyperpriorModel::from_record_bytes(&cfg.model, ck.model, &device)
            .context("applying the checkpoint")?;
        let z_tables = model.z_density.export(cfg.model.n, &device)?;
        let bytes = WeightsFile::build(&cfg.model, &model, &z_tables)?;
        write_output(&self.output, &bytes, self.force)?;
        eprintln!(
            "exported step {} of {} to {} ({} bytes, sha256 {})",
            ck.progress.step,
            self.run.display(),
            self.output.display(),
            bytes.len(),
            hex(&Sha256::digest(&bytes))
        );
        Ok(())
    }
}
