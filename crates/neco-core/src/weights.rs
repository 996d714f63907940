//! Weights files (`.nwt`): the architecture, the neural network's parameters and the
//! entropy model, in one file whose sha256 every stream records.
//!
//! # Layout (little-endian)
//!
//! ```text
//! magic    [u8; 8]  "NECOWTS\0"
//! version  u32      1 or 2
//! sections          length u32, then that many bytes, in this order:
//!   config          the model config (TOML, UTF-8)
//!   record          the Burn record of every parameter (burnpack)
//!   z tables        FactorizedTables::to_bytes
//!   hyper-synthesis HyperSynthesis::to_bytes         (version 2 only)
//! ```
//!
//! Version 2 adds the hyper-synthesis in this crate's own format, so the entropy
//! model — everything that decides which bits mean what — loads without Burn (see
//! [`Weights::entropy_model`]). Version 1 files still load in the full codec, which
//! exports the hyper-synthesis from the Burn record.

use sha2::{Digest, Sha256};

use crate::bytes::ByteReader;
use crate::entropy::{EntropyModel, FactorizedTables, HyperSynthesis};
use crate::{NecoError, Result};

/// The 8 bytes every weights file starts with.
pub const MAGIC: &[u8; 8] = b"NECOWTS\0";
/// The version this build writes.
pub const VERSION: u32 = 2;
/// Largest section accepted.
pub const MAX_SECTION: usize = 256 << 20;

/// A parsed weights file.
#[derive(Debug, Clone)]
pub struct Weights {
    /// Format version of the file (1 or 2).
    pub version: u32,
    /// Model config, TOML.
    pub config: String,
    /// Burn record (burnpack) of the model's parameters.
    pub record: Vec<u8>,
    /// Frozen CDF tables of ẑ.
    pub z_tables: FactorizedTables,
    /// The hyper-synthesis (version 2 files; `None` for version 1).
    pub hyper: Option<HyperSynthesis>,
    /// sha256 of the whole file: the identity streams record.
    pub sha256: [u8; 32],
}

impl Weights {
    /// Parses a weights file, checking every length before slicing or allocating.
    /// Problems are [`NecoError::BadWeights`]; a newer version is
    /// [`NecoError::Unsupported`].
    pub fn parse(bytes: &[u8]) -> Result<Weights> {
        let mut r = ByteReader::new(bytes, "weights file", NecoError::BadWeights);
        if bytes.len() < MAGIC.len() || r.take(MAGIC.len())? != MAGIC {
            return Err(r.err("not a neco weights file (bad magic)"));
        }
        let version = r.u32()?;
        if !(1..=VERSION).contains(&version) {
            return Err(NecoError::Unsupported(format!(
                "weights format version {version}, this build reads 1..={VERSION}"
            )));
        }
        let names: &[&str] = if version == 1 {
            &["config", "record", "z tables"]
        } else {
            &["config", "record", "z tables", "hyper-synthesis"]
        };
        let mut sections = Vec::with_capacity(names.len());
        for name in names {
            let len = r.u32()? as usize;
            if len > MAX_SECTION || len > r.remaining() {
                return Err(r.err(format_args!(
                    "{name} section claims {len} bytes, {} remain (at most {MAX_SECTION})",
                    r.remaining()
                )));
            }
            sections.push(r.take(len)?);
        }
        r.finish()?;
        let config = std::str::from_utf8(sections[0])
            .map_err(|e| NecoError::BadWeights(format!("config is not UTF-8: {e}")))?
            .to_owned();
        let z_tables = FactorizedTables::from_bytes(sections[2])
            .map_err(|e| NecoError::BadWeights(format!("z tables: {e}")))?;
        let hyper = match sections.get(3) {
            Some(b) => Some(HyperSynthesis::from_bytes(b)?),
            None => None,
        };
        Ok(Weights {
            version,
            config,
            record: sections[1].to_vec(),
            z_tables,
            hyper,
            sha256: Sha256::digest(bytes).into(),
        })
    }

    /// Serializes a version-2 weights file.
    pub fn write(
        config: &str,
        record: &[u8],
        z_tables: &FactorizedTables,
        hyper: &HyperSynthesis,
    ) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        let z = z_tables.to_bytes();
        let h = hyper.to_bytes();
        for (name, section) in [
            ("config", config.as_bytes()),
            ("record", record),
            ("z tables", &z[..]),
            ("hyper-synthesis", &h[..]),
        ] {
            if section.len() > MAX_SECTION {
                return Err(NecoError::InvalidArgument(format!(
                    "weights {name} section is {} bytes, at most {MAX_SECTION}",
                    section.len()
                )));
            }
            out.extend_from_slice(&(section.len() as u32).to_le_bytes());
            out.extend_from_slice(section);
        }
        Ok(out)
    }

    /// The entropy model (ẑ tables + hyper-synthesis), without Burn. Version 1 files
    /// have no hyper-synthesis section: [`NecoError::Unsupported`].
    pub fn entropy_model(&self) -> Result<EntropyModel> {
        let hyper = self.hyper.clone().ok_or_else(|| {
            NecoError::Unsupported(
                "weights format version 1 has no hyper-synthesis section; re-export the \
                 weights with this build to load their entropy model without Burn"
                    .into(),
            )
        })?;
        EntropyModel::new(hyper, self.z_tables.clone(), self.sha256)
    }
}
