//! Factorized (per-channel) integer tables for the hyper-latent ẑ.
//!
//! The tables are learned in floating point at training time and quantized once,
//! at export, by [`FactorizedTables::from_probabilities`]; streams are then coded
//! with the frozen integers only, so decoding never touches floating point.
//!
//! Each channel's table covers the values `offset ..= offset + n - 2` (pmf entries
//! `0..n-1`) and has an ESCAPE symbol as its last entry (`n - 1`). Values outside the
//! range are coded as ESCAPE followed by the [escape code](super::escape).
//!
//! # Serialization ([`FactorizedTables::to_bytes`], all little-endian)
//!
//! ```text
//! channels u32                      1..=MAX_CHANNELS
//! per channel:
//!   offset i32                      |offset|, |offset + n - 2| ≤ MAX_ABS_SYMBOL
//!   n      u32                      2..=MAX_TABLE_LEN (entries, incl. ESCAPE)
//!   pmf    [u16; n]                 each ≥ 1, sum exactly 65536
//! ```
//!
//! Nothing may follow the last channel.

use super::coder::{self, dec_err, enc_err};
use super::escape::{check_symbol, decode_escape, encode_escape, escaped_value, MAX_ABS_SYMBOL};
use super::quantize::{check_pmf, model_from_pmf, quantize_pmf, Model};
use crate::bytes::ByteReader;
use crate::{NecoError, Result};
use constriction::stream::{Decode, Encode};

/// Most channels a [`FactorizedTables`] may have.
pub const MAX_CHANNELS: usize = 4096;
/// Most pmf entries (including ESCAPE) per channel.
pub const MAX_TABLE_LEN: usize = 4096;

/// One channel's frozen table.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelTable {
    /// The value of the first symbol (pmf entry 0).
    pub offset: i32,
    /// Fixed-point probabilities (16-bit precision): each ≥ 1, sum exactly `1 << 16`;
    /// entry `i < n - 1` is the value `offset + i`, the last entry is ESCAPE.
    pub pmf: Vec<u32>,
}

impl ChannelTable {
    /// Smallest and largest directly coded value.
    fn range(&self) -> (i64, i64) {
        let lo = self.offset as i64;
        (lo, lo + self.pmf.len() as i64 - 2)
    }

    fn validate(&self, c: usize) -> std::result::Result<(), String> {
        check_pmf(&self.pmf, MAX_TABLE_LEN).map_err(|e| format!("channel {c}: {e}"))?;
        let (lo, hi) = self.range();
        let m = MAX_ABS_SYMBOL as i64;
        if lo < -m || hi > m {
            return Err(format!(
                "channel {c}: value range {lo}..={hi} exceeds ±{MAX_ABS_SYMBOL}"
            ));
        }
        Ok(())
    }
}

/// Per-channel frozen tables for ẑ.
#[derive(Debug, Clone, PartialEq)]
pub struct FactorizedTables {
    /// One table per channel, in channel order.
    pub channels: Vec<ChannelTable>,
}

impl FactorizedTables {
    /// Builds tables from float probabilities per channel: `(offset, p)` where `p[i]`
    /// is the probability of the value `offset + i`; the mass missing from 1 becomes
    /// the ESCAPE probability. Quantized with
    /// [`quantize_pmf`] (deterministic; if the
    /// probabilities sum to more than 1 they are renormalized).
    ///
    /// Errors ([`NecoError::InvalidArgument`]): no channels or more than
    /// [`MAX_CHANNELS`], an empty `p` or one longer than `MAX_TABLE_LEN - 1`, or a
    /// value range outside ±2^24.
    pub fn from_probabilities(per_channel: &[(i32, Vec<f64>)]) -> Result<Self> {
        if per_channel.is_empty() || per_channel.len() > MAX_CHANNELS {
            return Err(NecoError::InvalidArgument(format!(
                "{} channels, allowed 1..={MAX_CHANNELS}",
                per_channel.len()
            )));
        }
        let mut channels = Vec::with_capacity(per_channel.len());
        for (c, (offset, probs)) in per_channel.iter().enumerate() {
            if probs.is_empty() || probs.len() > MAX_TABLE_LEN - 1 {
                return Err(NecoError::InvalidArgument(format!(
                    "channel {c}: {} probabilities, allowed 1..={}",
                    probs.len(),
                    MAX_TABLE_LEN - 1
                )));
            }
            let mut sum = 0.0f64;
            let mut w = Vec::with_capacity(probs.len() + 1);
            for &p in probs {
                let p = if p.is_finite() && p > 0.0 { p } else { 0.0 };
                sum += p;
                w.push(p);
            }
            w.push(if sum < 1.0 { 1.0 - sum } else { 0.0 });
            let table = ChannelTable {
                offset: *offset,
                pmf: quantize_pmf(&w)?,
            };
            table.validate(c).map_err(NecoError::InvalidArgument)?;
            channels.push(table);
        }
        Ok(FactorizedTables { channels })
    }

    /// Checks every invariant that [`from_bytes`](Self::from_bytes) enforces.
    pub fn validate(&self) -> Result<()> {
        self.validate_inner().map_err(NecoError::InvalidArgument)
    }

    fn validate_inner(&self) -> std::result::Result<(), String> {
        if self.channels.is_empty() || self.channels.len() > MAX_CHANNELS {
            return Err(format!(
                "{} channels, allowed 1..={MAX_CHANNELS}",
                self.channels.len()
            ));
        }
        for (c, t) in self.channels.iter().enumerate() {
            t.validate(c)?;
        }
        Ok(())
    }

    /// Serializes the tables (format in the [module docs](self)).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(self.channels.len() as u32).to_le_bytes());
        for t in &self.channels {
            out.extend_from_slice(&t.offset.to_le_bytes());
            out.extend_from_slice(&(t.pmf.len() as u32).to_le_bytes());
            for &p in &t.pmf {
                // Valid tables have every entry ≤ 65535 (n ≥ 2, each ≥ 1).
                out.extend_from_slice(&(p.min(u16::MAX as u32) as u16).to_le_bytes());
            }
        }
        out
    }

    /// Parses tables written by [`to_bytes`](Self::to_bytes), validating everything
    /// before allocating; any problem is [`NecoError::Corrupt`].
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        let mut rd = ByteReader::new(b, "factorized tables", NecoError::Corrupt);
        let n_ch = rd.u32()? as usize;
        if n_ch == 0 || n_ch > MAX_CHANNELS {
            return Err(NecoError::corrupt(format!(
                "factorized tables: {n_ch} channels, allowed 1..={MAX_CHANNELS}"
            )));
        }
        let mut channels = Vec::with_capacity(n_ch);
        for c in 0..n_ch {
            let offset = rd.u32()? as i32;
            let n = rd.u32()? as usize;
            if !(2..=MAX_TABLE_LEN).contains(&n) {
                return Err(NecoError::corrupt(format!(
                    "factorized tables: channel {c} has {n} entries, allowed 2..={MAX_TABLE_LEN}"
                )));
            }
            let raw = rd.take(2 * n)?;
            let pmf: Vec<u32> = raw
                .chunks_exact(2)
                .map(|p| u16::from_le_bytes([p[0], p[1]]) as u32)
                .collect();
            let t = ChannelTable { offset, pmf };
            t.validate(c)
                .map_err(|e| NecoError::corrupt(format!("factorized tables: {e}")))?;
            channels.push(t);
        }
        rd.finish()?;
        Ok(FactorizedTables { channels })
    }

    fn models(&self) -> Result<Vec<Model>> {
        self.validate()?;
        self.channels
            .iter()
            .map(|t| model_from_pmf(&t.pmf))
            .collect()
    }

    /// Codes `symbols`, laid out channel-major (`C × plane_len`, channel of symbol `i`
    /// is `i / plane_len`), into one range-coded stream. Values outside a channel's
    /// range are escaped.
    ///
    /// Errors ([`NecoError::InvalidArgument`]): invalid tables,
    /// `symbols.len() != C * plane_len`, or `|symbol| > 2^24`.
    pub fn encode(&self, symbols: &[i32], plane_len: usize) -> Result<Vec<u8>> {
        let models = self.models()?;
        let expected = self.channels.len().checked_mul(plane_len);
        if expected != Some(symbols.len()) {
            return Err(NecoError::InvalidArgument(format!(
                "{} symbols, expected {} channels × {plane_len}",
                symbols.len(),
                self.channels.len()
            )));
        }
        let mut enc = coder::Encoder::new();
        if plane_len > 0 {
            for (c, (t, model)) in self.channels.iter().zip(&models).enumerate() {
                let (lo, hi) = t.range();
                let base = c * plane_len;
                for (i, &v) in symbols[base..base + plane_len].iter().enumerate() {
                    check_symbol(v, base + i)?;
                    let v = v as i64;
                    if v >= lo && v <= hi {
                        enc.encode_symbol((v - lo) as usize, model)
                            .map_err(enc_err)?;
                    } else {
                        enc.encode_symbol(t.pmf.len() - 1, model).map_err(enc_err)?;
                        let (negative, magnitude) = if v < lo {
                            (true, lo - v - 1)
                        } else {
                            (false, v - hi - 1)
                        };
                        encode_escape(&mut enc, negative, magnitude as u32)?;
                    }
                }
            }
        }
        coder::finish(enc)
    }

    /// Decodes `C × plane_len` values written by [`encode`](Self::encode).
    ///
    /// Hostile data never panics: malformed streams give [`NecoError::Corrupt`];
    /// invalid tables or an overflowing `C × plane_len` give
    /// [`NecoError::InvalidArgument`].
    pub fn decode(&self, data: &[u8], plane_len: usize) -> Result<Vec<i32>> {
        let models = self.models()?;
        let total = self.channels.len().checked_mul(plane_len).ok_or_else(|| {
            NecoError::InvalidArgument(format!("plane length {plane_len} overflows"))
        })?;
        let mut dec = coder::open(data)?;
        let mut out = Vec::with_capacity(total);
        for (t, model) in self.channels.iter().zip(&models) {
            let (lo, hi) = t.range();
            let esc = t.pmf.len() - 1;
            for _ in 0..plane_len {
                let s = dec.decode_symbol(model).map_err(dec_err)?;
                if s == esc {
                    let (negative, magnitude) = decode_escape(&mut dec)?;
                    out.push(escaped_value(lo, hi, negative, magnitude)?);
                } else {
                    out.push((lo + s as i64) as i32);
                }
            }
        }
        Ok(out)
    }
}
