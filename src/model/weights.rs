//! Released weights: one file holding the architecture, the Burn parameters and the
//! entropy model (frozen integer CDF tables of z and the hyper-synthesis).
//!
//! The byte layout is neco-core's ([`neco_core::weights`]); this module adds what
//! needs Burn: the config parsed from TOML and the model built from the record. The
//! sha256 of the whole file is the weights hash stored in every stream, so a stream
//! is never decoded with weights other than those that made it.

use std::io::Read;
use std::path::Path;

use anyhow::Context;
use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::prelude::*;
use burn::tensor::FloatDType;
use neco_core::entropy::{FactorizedTables, HyperSynthesis, RateLadder};
use neco_core::weights::Weights;

use super::hyperprior::CastParams;
use super::{ConfigFile, HyperpriorModel, ModelConfig};

/// `model` with every parameter rounded to the nearest f16 value (held as f32), as a
/// weights file with `params_f16` will load it.
pub fn round_to_f16(model: HyperpriorModel) -> HyperpriorModel {
    model
        .map(&mut CastParams(FloatDType::F16))
        .map(&mut CastParams(FloatDType::F32))
}

/// `model` with its parameters numbered 1, 2, … in its order, for exporting a
/// training run. Burn gives every parameter a random id when it is made, and the
/// record stores the ids: without this, two runs that trained the same values would
/// export files with different bytes, so different sha256s, and their streams would
/// not decode with each other's file. (Files are rewritten with the ids they have, so
/// that rewriting one keeps its sha256.)
pub fn number_params(model: HyperpriorModel) -> HyperpriorModel {
    struct Number(u64);
    impl ModuleMapper for Number {
        fn map_float<const D: usize>(&mut self, mut param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            self.0 += 1;
            param.id = ParamId::from(self.0);
            param
        }
    }
    model.map(&mut Number(0))
}

// DEFAULT_WEIGHTS and DEFAULT_WEIGHTS_SHA256, from build.rs.
include!(concat!(env!("OUT_DIR"), "/default_weights.rs"));

/// Largest weights file read: real ones are tens of MB.
pub const MAX_WEIGHTS_BYTES: u64 = 1 << 30;

/// A parsed weights file (not yet placed on a device).
pub struct WeightsFile {
    /// Architecture.
    pub config: ModelConfig,
    /// Burnpack bytes of the full model record (shared: codecs keep it for
    /// refinement without copying it).
    pub record: std::sync::Arc<Vec<u8>>,
    /// Frozen CDF tables of z.
    pub z_tables: FactorizedTables,
    /// The hyper-synthesis as stored (format version 2); `None` in version-1 files,
    /// whose hyper-synthesis is exported from the record.
    pub hyper: Option<HyperSynthesis>,
    /// The temporal prior of video frames (format version 3), in neco-core's format.
    pub temporal: Option<HyperSynthesis>,
    /// The rate ladder of a variable-rate model (format version 5).
    pub ladder: Option<RateLadder>,
    /// sha256 of the whole file.
    pub sha256: [u8; 32],
}

impl WeightsFile {
    /// Serialize a model, its z tables and optionally a temporal prior (format version
    /// 3 with one, 2 without). With `config.params_f16` the record holds f16 values,
    /// and the hyper-synthesis and ladder sections come from the
    /// [rounded](round_to_f16) model; derive `z_tables` from a rounded model too.
    pub fn build(
        config: &ModelConfig,
        model: &HyperpriorModel,
        z_tables: &FactorizedTables,
        temporal: Option<&HyperSynthesis>,
    ) -> anyhow::Result<Vec<u8>> {
        ensure_codable(config)?;
        let text = toml::to_string(&ConfigFile {
            model: config.clone(),
            train: None,
        })?;
        // `stored` is what the record holds; `model`, everything below derives from,
        // is the parameters as the file will load them.
        let (model, stored) = match config.params_f16 {
            true => {
                let f16 = model.clone().map(&mut CastParams(FloatDType::F16));
                (f16.clone().map(&mut CastParams(FloatDType::F32)), f16)
            }
            false => (model.clone(), model.clone()),
        };
        let record = stored
            .into_record()
            .into_bytes()
            .map_err(|e| anyhow::anyhow!("serializing model: {e:?}"))?;
        let ladder = model
            .ladder
            .as_ref()
            .map(|l| ladder_of(l, config.m))
            .transpose()?;
        Ok(Weights::write(
            &text,
            &record,
            z_tables,
            &model.h_s.export(),
            temporal,
            config.group,
            ladder.as_ref(),
        )?)
    }

    /// Parse weights bytes.
    pub fn parse(bytes: &[u8]) -> anyhow::Result<Self> {
        Self::from_parsed(Weights::parse(bytes)?)
    }

    /// The weights compiled into the binary, with the hash the build computed.
    pub fn built_in() -> anyhow::Result<Self> {
        Self::from_parsed(Weights::parse_hashed(
            DEFAULT_WEIGHTS,
            DEFAULT_WEIGHTS_SHA256,
        )?)
    }

    fn from_parsed(w: Weights) -> anyhow::Result<Self> {
        let config = ConfigFile::from_toml(&w.config)
            .map_err(|e| match e.to_string().contains("unknown field") {
                // Weights store their config as TOML; a key this neco lacks is one a
                // newer neco added (it refuses to guess what the model needs).
                true => anyhow::anyhow!(
                    "the weights' model config has a setting this neco does not know (made by a newer neco?): {e}"
                ),
                false => e,
            })?
            .model;
        ensure_codable(&config)?;
        anyhow::ensure!(
            w.z_tables.channels.len() == config.n,
            "weights z tables have {} channels, the model has n={}",
            w.z_tables.channels.len(),
            config.n
        );
        anyhow::ensure!(
            w.group == config.group,
            "weights y-model section has channel groups of {}, the config {}",
            w.group,
            config.group
        );
        anyhow::ensure!(
            w.ladder.as_ref().map_or(0, RateLadder::rungs) == config.rungs,
            "weights rate-ladder section has {} rungs, the config {}",
            w.ladder.as_ref().map_or(0, RateLadder::rungs),
            config.rungs
        );
        Ok(WeightsFile {
            config,
            record: std::sync::Arc::new(w.record),
            z_tables: w.z_tables,
            hyper: w.hyper,
            temporal: w.temporal,
            ladder: w.ladder,
            sha256: w.sha256,
        })
    }

    /// Read and parse a weights file from disk.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let reading = || format!("reading weights {}", path.display());
        // Read at most one byte past the limit: a huge file, a device or a pipe given
        // by mistake is refused without being read to its end.
        let file = std::fs::File::open(path).with_context(reading)?;
        let too_big = || {
            format!(
                "{} is over {MAX_WEIGHTS_BYTES} bytes: not a weights file",
                path.display()
            )
        };
        anyhow::ensure!(
            file.metadata().with_context(reading)?.len() <= MAX_WEIGHTS_BYTES,
            too_big()
        );
        let mut bytes = Vec::new();
        file.take(MAX_WEIGHTS_BYTES + 1)
            .read_to_end(&mut bytes)
            .with_context(reading)?;
        anyhow::ensure!(bytes.len() as u64 <= MAX_WEIGHTS_BYTES, too_big());
        Self::parse(&bytes).with_context(|| format!("loading weights {}", path.display()))
    }

    /// The Burn model on `device` with these parameters.
    pub fn model(&self, device: &Device) -> anyhow::Result<HyperpriorModel> {
        HyperpriorModel::from_record_bytes(&self.config, self.record.to_vec(), device)
    }
}

/// Refuse what the codec cannot code yet: the checkerboard context model is trained
/// and measured (`neco train-entropy --context`), but no stream format carries it.
fn ensure_codable(config: &ModelConfig) -> anyhow::Result<()> {
    anyhow::ensure!(
        !config.context,
        "model {:?} has a checkerboard context model, which the codec does not code yet: it cannot be a weights file",
        config.name
    );
    Ok(())
}

/// The ladder of a Burn model in neco-core's form (its steps and scales as f32), as
/// export writes it.
fn ladder_of(ladder: &crate::model::ladder::RateLadder, m: usize) -> anyhow::Result<RateLadder> {
    let (steps, recon) = ladder.values();
    Ok(RateLadder::new(ladder.rungs(), m, steps, recon)?)
}
