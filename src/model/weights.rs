//! Released weights: one file holding the architecture, the Burn parameters and the
//! frozen integer CDF tables of z.
//!
//! Layout (little-endian): magic `NECOWTS\0`, format version u32 = 1, then three
//! length-prefixed (u32) sections: the model config (TOML), the Burn record (burnpack)
//! and the factorized tables (`FactorizedTables::to_bytes`). The sha256 of the whole
//! file is the weights hash stored in every stream, so a stream is never decoded with
//! weights other than those that made it.

use std::path::Path;

use anyhow::{bail, Context};
use burn::module::Module;
use burn::prelude::*;
use neco_core::entropy::FactorizedTables;
use sha2::{Digest, Sha256};

use super::{ConfigFile, HyperpriorModel, ModelConfig};

const MAGIC: &[u8; 8] = b"NECOWTS\0";
const FORMAT_VERSION: u32 = 1;
/// Largest section accepted when reading a weights file.
const MAX_SECTION: usize = 256 << 20;

/// The weights compiled into the binary: the default model.
pub static DEFAULT_WEIGHTS: &[u8] = include_bytes!("../../weights/hp-n64m96.nwt");

/// A parsed weights file (not yet placed on a device).
pub struct WeightsFile {
    /// Architecture.
    pub config: ModelConfig,
    /// Burnpack bytes of the full model record.
    pub record: Vec<u8>,
    /// Frozen CDF tables of z.
    pub z_tables: FactorizedTables,
    /// sha256 of the whole file.
    pub sha256: [u8; 32],
}

impl WeightsFile {
    /// Serialize a model and its z tables.
    pub fn build(
        config: &ModelConfig,
        model: &HyperpriorModel,
        z_tables: &FactorizedTables,
    ) -> anyhow::Result<Vec<u8>> {
        let text = toml::to_string(&ConfigFile {
            model: config.clone(),
            train: None,
        })?;
        let record = model
            .clone()
            .into_record()
            .into_bytes()
            .map_err(|e| anyhow::anyhow!("serializing model: {e:?}"))?;
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        for section in [text.as_bytes(), &record[..], &z_tables.to_bytes()] {
            out.extend_from_slice(&(section.len() as u32).to_le_bytes());
            out.extend_from_slice(section);
        }
        Ok(out)
    }

    /// Parse weights bytes.
    pub fn parse(bytes: &[u8]) -> anyhow::Result<Self> {
        if bytes.len() < 12 || &bytes[..8] != MAGIC {
            bail!("not a neco weights file (bad magic)");
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
        if version != FORMAT_VERSION {
            bail!("weights format version {version}, this build reads {FORMAT_VERSION}");
        }
        let mut rest = &bytes[12..];
        let mut sections = Vec::new();
        for name in ["config", "record", "z tables"] {
            if rest.len() < 4 {
                bail!("weights file truncated before its {name} section");
            }
            let len = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
            rest = &rest[4..];
            if len > MAX_SECTION || len > rest.len() {
                bail!(
                    "weights file: {name} section claims {len} bytes, {} remain",
                    rest.len()
                );
            }
            sections.push(&rest[..len]);
            rest = &rest[len..];
        }
        if !rest.is_empty() {
            bail!("weights file has {} trailing bytes", rest.len());
        }
        let config = ConfigFile::from_toml(
            std::str::from_utf8(sections[0]).context("weights config is not UTF-8")?,
        )?
        .model;
        let z_tables = FactorizedTables::from_bytes(sections[2]).context("weights z tables")?;
        anyhow::ensure!(
            z_tables.channels.len() == config.n,
            "weights z tables have {} channels, the model has n={}",
            z_tables.channels.len(),
            config.n
        );
        Ok(WeightsFile {
            config,
            record: sections[1].to_vec(),
            z_tables,
            sha256: Sha256::digest(bytes).into(),
        })
    }

    /// Read and parse a weights file from disk.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let bytes =
            std::fs::read(path).with_context(|| format!("reading weights {}", path.display()))?;
        Self::parse(&bytes).with_context(|| format!("loading weights {}", path.display()))
    }

    /// The Burn model on `device` with these parameters.
    pub fn model(&self, device: &Device) -> anyhow::Result<HyperpriorModel> {
        HyperpriorModel::from_record_bytes(&self.config, self.record.clone(), device)
    }
}
