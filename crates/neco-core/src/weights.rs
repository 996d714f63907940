//! Weights files (`.nwt`): the architecture, the neural network's parameters and the
//! entropy model, in one file whose sha256 every stream records.
//!
//! # Layout (little-endian)
//!
//! ```text
//! magic    [u8; 8]  "NECOWTS\0"
//! version  u32      1 to 5
//! sections          length u32, then that many bytes, in this order:
//!   config          the model config (TOML, UTF-8)
//!   record          the Burn record of every parameter (burnpack; f32, or f16
//!                   where the config says `params_f16`)
//!   z tables        FactorizedTables::to_bytes
//!   hyper-synthesis HyperSynthesis::to_bytes         (versions 2 to 4)
//!   temporal prior  HyperSynthesis::to_bytes         (version 3; in 4, may be empty)
//!   y model         u32 channels per group d         (versions 4 and 5)
//!   rate ladder     u32 rungs K, u32 channels M, K·M f32 steps,
//!                   K·M f32 reconstruction scales    (version 5 only)
//! ```
//!
//! Version 2 adds the hyper-synthesis in this crate's own format, so the entropy
//! model — everything that decides which bits mean what — loads without Burn (see
//! [`Weights::entropy_model`]). Version 1 files still load in the full codec, which
//! exports the hyper-synthesis from the Burn record. Version 3 adds the temporal
//! prior of video frames ([`TemporalPrior`](crate::entropy::TemporalPrior)); files
//! without one are still written as version 2. Version 4 adds the y-model section:
//! the channel groups of the multivariate Gaussian model
//! ([`coupling`](crate::entropy::coupling)); files of the diagonal model (d = 1) are
//! still written as version 2 or 3, so their bytes — and sha256 — do not change.
//! Version 5 adds the rate ladder of a variable-rate model
//! ([`RateLadder`](crate::entropy::RateLadder)); only such models are written as 5.

use sha2::{Digest, Sha256};

use crate::bytes::ByteReader;
use crate::entropy::{EntropyModel, FactorizedTables, HyperSynthesis, RateLadder, MAX_GROUP};
use crate::{NecoError, Result};

/// The 8 bytes every weights file starts with.
pub const MAGIC: &[u8; 8] = b"NECOWTS\0";
/// The newest version this build reads and writes.
pub const VERSION: u32 = 5;
/// Largest section accepted.
pub const MAX_SECTION: usize = 256 << 20;

/// A parsed weights file.
#[derive(Debug, Clone)]
pub struct Weights {
    /// Format version of the file (1 to 5).
    pub version: u32,
    /// Model config, TOML.
    pub config: String,
    /// Burn record (burnpack) of the model's parameters.
    pub record: Vec<u8>,
    /// Frozen CDF tables of ẑ.
    pub z_tables: FactorizedTables,
    /// The hyper-synthesis (version 2 files; `None` for version 1).
    pub hyper: Option<HyperSynthesis>,
    /// The temporal prior network (version 3 files, and version 4 ones that have one).
    pub temporal: Option<HyperSynthesis>,
    /// Channels per group of the multivariate model of ŷ (version 4; 1, the diagonal
    /// model, for older versions).
    pub group: usize,
    /// The rate ladder of a variable-rate model (version 5).
    pub ladder: Option<RateLadder>,
    /// sha256 of the whole file: the identity streams record.
    pub sha256: [u8; 32],
}

impl Weights {
    /// Parses a weights file, checking every length before slicing or allocating.
    /// Problems are [`NecoError::BadWeights`]; a newer version is
    /// [`NecoError::Unsupported`].
    pub fn parse(bytes: &[u8]) -> Result<Weights> {
        Self::parse_hashed(bytes, Sha256::digest(bytes).into())
    }

    /// [`Weights::parse`] for bytes whose sha256 the caller already has (weights
    /// compiled into a binary, hashed at build time): `sha256` is taken as given.
    pub fn parse_hashed(bytes: &[u8], sha256: [u8; 32]) -> Result<Weights> {
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
        let names = &[
            "config",
            "record",
            "z tables",
            "hyper-synthesis",
            "temporal prior",
            "y model",
            "rate ladder",
        ][..version as usize + 2];
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
        let hyper = sections
            .get(3)
            .map(|b| HyperSynthesis::from_bytes(b))
            .transpose()?;
        let temporal = sections
            .get(4)
            .filter(|b| !(version >= 4 && b.is_empty()))
            .map(|b| match HyperSynthesis::from_bytes(b) {
                Err(NecoError::BadWeights(msg)) => Err(NecoError::BadWeights(format!(
                    "temporal prior section: {msg}"
                ))),
                other => other,
            })
            .transpose()?;
        let group = match sections.get(5) {
            None => 1,
            Some(b) => {
                let raw: [u8; 4] = (*b).try_into().map_err(|_| {
                    NecoError::BadWeights(format!("y model section has {} bytes, not 4", b.len()))
                })?;
                let group = u32::from_le_bytes(raw) as usize;
                if !(1..=MAX_GROUP).contains(&group) {
                    return Err(NecoError::BadWeights(format!(
                        "y model: channel groups of {group}, allowed 1..={MAX_GROUP}"
                    )));
                }
                group
            }
        };
        let ladder = sections.get(6).map(|b| parse_ladder(b)).transpose()?;
        Ok(Weights {
            version,
            config,
            record: sections[1].to_vec(),
            z_tables,
            hyper,
            temporal,
            group,
            ladder,
            sha256,
        })
    }

    /// Serializes a weights file: version 5 for a variable-rate model (`ladder`),
    /// version 4 for the multivariate model (`group` > 1), else version 3 with a
    /// temporal prior and version 2 without.
    pub fn write(
        config: &str,
        record: &[u8],
        z_tables: &FactorizedTables,
        hyper: &HyperSynthesis,
        temporal: Option<&HyperSynthesis>,
        group: usize,
        ladder: Option<&RateLadder>,
    ) -> Result<Vec<u8>> {
        let version: u32 = match (ladder, group, temporal) {
            (Some(_), _, _) => 5,
            (None, 1, Some(_)) => 3,
            (None, 1, None) => 2,
            _ => 4,
        };
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&version.to_le_bytes());
        let z = z_tables.to_bytes();
        let h = hyper.to_bytes();
        let t = temporal.map(HyperSynthesis::to_bytes);
        let mut sections = vec![
            ("config", config.as_bytes()),
            ("record", record),
            ("z tables", &z[..]),
            ("hyper-synthesis", &h[..]),
        ];
        let group_bytes = (group as u32).to_le_bytes();
        if version >= 3 {
            sections.push(("temporal prior", t.as_deref().unwrap_or_default()));
        }
        if version >= 4 {
            sections.push(("y model", &group_bytes[..]));
        }
        let ladder_bytes = ladder.map(ladder_to_bytes).unwrap_or_default();
        if version >= 5 {
            sections.push(("rate ladder", &ladder_bytes[..]));
        }
        for (name, section) in sections {
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

    /// The entropy model (ẑ tables + hyper-synthesis + the temporal prior if any),
    /// without Burn. Version 1 files have no hyper-synthesis section:
    /// [`NecoError::Unsupported`].
    pub fn entropy_model(&self) -> Result<EntropyModel> {
        let hyper = self.hyper.clone().ok_or_else(|| {
            NecoError::Unsupported(
                "weights format version 1 has no hyper-synthesis section; re-export the \
                 weights with this build to load their entropy model without Burn"
                    .into(),
            )
        })?;
        let mut model = EntropyModel::new(hyper, self.z_tables.clone(), self.sha256, self.group)?;
        if let Some(ladder) = &self.ladder {
            model = model.with_ladder(ladder.clone())?;
        }
        match &self.temporal {
            Some(t) => model.with_temporal(t.clone()),
            None => Ok(model),
        }
    }
}

/// The rate-ladder section: K, M, then the K·M steps and K·M scales.
fn ladder_to_bytes(ladder: &RateLadder) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(ladder.rungs() as u32).to_le_bytes());
    out.extend_from_slice(&(ladder.channels() as u32).to_le_bytes());
    for v in ladder.raw_steps().iter().chain(ladder.raw_recon()) {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

fn parse_ladder(bytes: &[u8]) -> Result<RateLadder> {
    let mut r = ByteReader::new(bytes, "rate ladder section", NecoError::BadWeights);
    let (rungs, m) = (r.u32()? as usize, r.u32()? as usize);
    // Sizes are checked against the bytes present before anything is allocated.
    let values = rungs.checked_mul(m).and_then(|n| n.checked_mul(2));
    if values.is_none_or(|n| n.checked_mul(4) != Some(r.remaining())) {
        return Err(r.err(format_args!(
            "{rungs} rungs × {m} channels do not match its {} bytes of values",
            r.remaining()
        )));
    }
    let steps = r.f32s(rungs * m)?;
    let recon = r.f32s(rungs * m)?;
    r.finish()?;
    RateLadder::new(rungs, m, steps, recon)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::Layer;

    /// A 1×1 convolution from `in_ch` to `out_ch` channels.
    fn conv(in_ch: usize, out_ch: usize) -> HyperSynthesis {
        HyperSynthesis {
            layers: vec![Layer::Conv {
                weight: (0..in_ch * out_ch).map(|i| i as f32 / 16.0).collect(),
                bias: vec![0.5; out_ch],
                in_ch,
                out_ch,
                kernel: 1,
                stride: 1,
                padding: 0,
            }],
        }
    }

    /// A hyper-synthesis from `in_ch` to `out_ch` channels that makes ẑ's grid ŷ's:
    /// a 4×4 stride-4 transposed convolution.
    fn up4(in_ch: usize, out_ch: usize) -> HyperSynthesis {
        HyperSynthesis {
            layers: vec![Layer::ConvTranspose {
                weight: (0..in_ch * out_ch * 16).map(|i| i as f32 / 64.0).collect(),
                bias: vec![0.5; out_ch],
                in_ch,
                out_ch,
                kernel: 4,
                stride: 4,
                padding: 0,
                output_padding: 0,
            }],
        }
    }

    fn tables() -> FactorizedTables {
        let pmf = vec![0.25, 0.5, 0.25];
        FactorizedTables::from_probabilities(&[(-1, pmf.clone()), (-1, pmf)]).unwrap()
    }

    #[test]
    fn the_temporal_prior_makes_version_3_and_round_trips() {
        // N = 2 z channels, M = 3 y channels: h_s 2 → 6, the prior 10 → 6.
        let (hyper, temporal) = (up4(2, 6), conv(10, 6));
        let v2 = Weights::write("c", b"rec", &tables(), &hyper, None, 1, None).unwrap();
        let w = Weights::parse(&v2).unwrap();
        assert_eq!((w.version, w.temporal.is_none()), (2, true));
        assert!(w.entropy_model().unwrap().temporal().is_none());

        let v3 = Weights::write("c", b"rec", &tables(), &hyper, Some(&temporal), 1, None).unwrap();
        let w = Weights::parse(&v3).unwrap();
        assert_eq!(w.version, 3);
        assert_eq!(w.temporal.as_ref(), Some(&temporal));
        assert_eq!(
            w.entropy_model().unwrap().temporal().unwrap().net(),
            &temporal
        );

        // A prior of the wrong shape for the model is refused when the model is built.
        let bad =
            Weights::write("c", b"rec", &tables(), &hyper, Some(&conv(9, 6)), 1, None).unwrap();
        let e = Weights::parse(&bad).unwrap().entropy_model().unwrap_err();
        assert!(e.to_string().contains("must map 10 to 6"), "{e}");

        // A damaged prior section names itself; a cut file is refused.
        // The prior's section ends the file: kind u8, 5 × u32, 60 weights, 6 biases.
        let mut bad_kind = v3.clone();
        bad_kind[v3.len() - 4 * 6 - 4 * 60 - 4 * 5 - 1] = 9;
        let e = Weights::parse(&bad_kind).unwrap_err().to_string();
        assert!(
            e.contains("temporal prior section: hyper-synthesis: layer 0 has unknown kind 9"),
            "{e}"
        );
        assert!(Weights::parse(&v3[..v3.len() - 1]).is_err());
    }

    #[test]
    fn channel_groups_make_version_4() {
        // M = 4 in groups of 2: h_s 2 → 4 + 4 + 2 = 10.
        let hyper = up4(2, 10);
        let v4 = Weights::write("c", b"rec", &tables(), &hyper, None, 2, None).unwrap();
        let w = Weights::parse(&v4).unwrap();
        assert_eq!((w.version, w.group, w.temporal.is_none()), (4, 2, true));
        let model = w.entropy_model().unwrap();
        assert_eq!((model.y_channels(), model.group()), (4, 2));
        // With a prior (3M + 1 = 13 → 2M = 8).
        let v4t =
            Weights::write("c", b"rec", &tables(), &hyper, Some(&conv(13, 8)), 2, None).unwrap();
        let w = Weights::parse(&v4t).unwrap();
        assert!(w.entropy_model().unwrap().temporal().is_some());
        // The group must fit the hyper-synthesis, and the section must be sane.
        let bad = Weights::write("c", b"rec", &tables(), &hyper, None, 3, None).unwrap();
        let e = Weights::parse(&bad).unwrap().entropy_model().unwrap_err();
        assert!(e.to_string().contains("channel groups of d = 3"), "{e}");
        let mut huge = v4.clone();
        let at = huge.len() - 4;
        huge[at..].copy_from_slice(&99u32.to_le_bytes());
        let e = Weights::parse(&huge).unwrap_err().to_string();
        assert!(e.contains("channel groups of 99"), "{e}");
    }

    #[test]
    fn a_rate_ladder_makes_version_5_and_round_trips() {
        let hyper = up4(2, 6);
        let ladder =
            RateLadder::new(2, 3, vec![2.0, 3.0, 4.0, 0.5, 0.5, 0.5], vec![1.0; 6]).unwrap();
        let v5 = Weights::write("c", b"rec", &tables(), &hyper, None, 1, Some(&ladder)).unwrap();
        let w = Weights::parse(&v5).unwrap();
        assert_eq!((w.version, w.group), (5, 1));
        assert_eq!(w.ladder.as_ref(), Some(&ladder));
        let model = w.entropy_model().unwrap();
        assert_eq!(model.steps(0), vec![2.0, 3.0, 4.0]);
        assert_eq!(model.recon_scales(100), Some(vec![1.0; 3]));
        // A ladder over the wrong number of channels is refused with the model.
        let four = RateLadder::new(2, 4, vec![1.0; 8], vec![1.0; 8]).unwrap();
        let bad = Weights::write("c", b"rec", &tables(), &hyper, None, 1, Some(&four)).unwrap();
        let e = Weights::parse(&bad).unwrap().entropy_model().unwrap_err();
        assert!(e.to_string().contains("ladder over 4 channels"), "{e}");
        // Sizes that do not match the section are refused before allocating.
        let mut lying = v5.clone();
        let at = v5.len() - 4 * 12 - 8;
        lying[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let e = Weights::parse(&lying).unwrap_err().to_string();
        assert!(e.contains("do not match"), "{e}");
    }
}
