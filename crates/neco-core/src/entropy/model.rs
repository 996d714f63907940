//! The whole entropy model of a weights file: ẑ tables plus the deterministic
//! parameter path, turning integer latents into bits and back with no neural
//! transform and no Burn.
//!
//! Encoding takes the float outputs of the analysis transforms (`y`, `z`) from any
//! backend and quantizes them here; everything after that — ẑ, the parameters P(ẑ),
//! the ŷ symbols and their bits — is computed by this crate alone. Decoding needs
//! only the stream and this model, so it gives the same integers on every machine
//! whatever backend the encoder used.

use std::ops::Range;

use super::coupling::{self, Coupling, MAX_GROUP};
use super::factorized::FactorizedTables;
use super::gaussian::{decode_parallel, encode_parallel};
use super::hyper::{
    diagonal_params, EntropyParams, HyperSynthesis, Planes, PreparedHyperSynthesis,
};
use super::ladder::RateLadder;
use super::temporal::TemporalPrior;
use crate::container::ImageStream;
use crate::float_mode::{deterministic, IeeeMode};
use crate::latent::LatentDims;
use crate::quality::quant_step;
use crate::{hex, NecoError, Result};

/// Latent symbols per ŷ substream (substreams code and decode in parallel).
pub const SYMBOLS_PER_SUBSTREAM: usize = 32 * 1024;
/// Most ŷ substreams an encoder writes.
pub const MAX_SUBSTREAMS: usize = 64;
/// Quantized values are clamped to ±this before coding (escapes code up to 2^24).
const CLAMP: f32 = 1e6;

/// The ẑ tables, the hyper-synthesis and (optionally) the temporal prior of one
/// weights file.
#[derive(Debug, Clone, PartialEq)]
pub struct EntropyModel {
    hyper: PreparedHyperSynthesis,
    temporal: Option<TemporalPrior>,
    z_tables: FactorizedTables,
    y_channels: usize,
    /// Channels per group of the multivariate model (1: the diagonal model).
    group: usize,
    /// Per-channel steps of a variable-rate model; `None`: one global step per quality.
    ladder: Option<RateLadder>,
    weights_sha256: [u8; 32],
}

/// The integer latents of one image and the parameters that code ŷ.
#[derive(Debug, Clone, PartialEq)]
pub struct Latents {
    /// ẑ, `N × zh × zw` planar.
    pub z_hat: Vec<i32>,
    /// ŷ symbols `round((y − μ)/Δ)`, `M × yh × yw` planar.
    pub symbols: Vec<i32>,
    /// Scale-table index and mean of every ŷ element, from P(ẑ).
    pub params: EntropyParams,
    /// The quantization step Δ of each of the M channels.
    pub steps: Vec<f32>,
}

impl Latents {
    /// The dequantized latent ŷ = symbol · Δ + μ (Δ of the element's channel): what
    /// the temporal prior of the next frame sees, and, times the reconstruction scales
    /// of a variable-rate model, what the synthesis transform takes.
    pub fn y_hat(&self) -> Vec<f32> {
        // The whole latent as one window: each channel's plane as a single row.
        let plane = self.symbols.len() / self.steps.len().max(1);
        self.y_hat_window(None, plane, 0..1, 0..plane)
    }

    /// Rows `rows` and columns `cols` of ŷ (a latent `width` wide), planar `[M, rows,
    /// cols]`, each channel times its factor in `scales` (one per channel) when given:
    /// a window of what [`y_hat`](Self::y_hat) (and, with the reconstruction scales,
    /// [`EntropyModel::synthesis_input`]) gives, with the same arithmetic, so the
    /// synthesis can run tile by tile without the whole float latent in memory.
    pub fn y_hat_window(
        &self,
        scales: Option<&[f32]>,
        width: usize,
        rows: Range<usize>,
        cols: Range<usize>,
    ) -> Vec<f32> {
        let _mode = IeeeMode::enter();
        let plane = self.symbols.len() / self.steps.len().max(1);
        let mut out = Vec::with_capacity(self.steps.len() * rows.len() * cols.len());
        for (c, &step) in self.steps.iter().enumerate() {
            let scale = scales.map(|s| s[c]);
            for y in rows.clone() {
                let at = c * plane + y * width;
                let symbols = &self.symbols[at + cols.start..at + cols.end];
                let means = &self.params.means[at + cols.start..at + cols.end];
                out.extend(symbols.iter().zip(means).map(|(&q, &mu)| {
                    let v = q as f32 * step + mu;
                    match scale {
                        Some(r) => v * r,
                        None => v,
                    }
                }));
            }
        }
        out
    }
}

/// Entropy-coded latents: the payloads of the `ZBIT` and `YBIT` chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodedLatents {
    /// ẑ bits.
    pub z_bits: Vec<u8>,
    /// ŷ substreams, in order.
    pub y_bits: Vec<Vec<u8>>,
}

impl EntropyModel {
    /// A model from its parts. `weights_sha256` identifies the weights file the parts
    /// came from (streams record it); `group` is the number of channels per group of
    /// the multivariate model ([`coupling`](super::coupling); 1 for the diagonal
    /// model). Errors ([`NecoError::BadWeights`]) unless the hyper-synthesis takes as
    /// many channels as the ẑ tables have and gives, for some M divisible by `group`,
    /// M scales, M means and the `M·(group − 1)/2` strictly-lower entries of L.
    pub fn new(
        hyper: HyperSynthesis,
        z_tables: FactorizedTables,
        weights_sha256: [u8; 32],
        group: usize,
    ) -> Result<Self> {
        if !(1..=MAX_GROUP).contains(&group) {
            return Err(NecoError::BadWeights(format!(
                "channel groups of {group}: allowed 1..={MAX_GROUP}"
            )));
        }
        let (in_ch, out_ch) = hyper.channels()?;
        check_grids(&hyper)?;
        let z_channels = z_tables.channels.len();
        let y_channels = coupling::latent_channels(out_ch, group);
        match y_channels {
            Some(y_channels) if in_ch == z_channels => Ok(EntropyModel {
                hyper: hyper.prepare(),
                temporal: None,
                z_tables,
                y_channels,
                group,
                ladder: None,
                weights_sha256,
            }),
            _ => Err(NecoError::BadWeights(format!(
                "the hyper-synthesis maps {in_ch} to {out_ch} channels; it must take the \
                 {z_channels} channels of the z tables and give M·(d + 3)/2 for channel \
                 groups of d = {group} dividing M"
            ))),
        }
    }

    /// Adds the temporal prior network (`3M + 1` → `2M` channels, see
    /// [`TemporalPrior`]) that video frames can be coded with.
    pub fn with_temporal(mut self, net: HyperSynthesis) -> Result<Self> {
        self.temporal = Some(TemporalPrior::new(net, self.y_channels)?);
        Ok(self)
    }

    /// Makes this a variable-rate model: per-channel steps from `ladder` at every
    /// quality instead of one global step. The ladder must span the M channels, and
    /// the multivariate model is not supported with one.
    pub fn with_ladder(mut self, ladder: RateLadder) -> Result<Self> {
        if ladder.channels() != self.y_channels || self.group != 1 {
            return Err(NecoError::BadWeights(format!(
                "a rate ladder over {} channels for a model of M = {} in groups of {} \
                 (a ladder needs the diagonal model and M channels)",
                ladder.channels(),
                self.y_channels,
                self.group
            )));
        }
        self.ladder = Some(ladder);
        Ok(self)
    }

    /// The rate ladder of a variable-rate model.
    pub fn ladder(&self) -> Option<&RateLadder> {
        self.ladder.as_ref()
    }

    /// The quantization step Δ of each of the M channels at `quality`: the ladder's
    /// interpolated steps, or [`quant_step`] for every channel of a fixed-rate model.
    pub fn steps(&self, quality: u8) -> Vec<f32> {
        let _mode = IeeeMode::enter();
        match &self.ladder {
            Some(l) => l.steps(quality),
            None => vec![quant_step(quality); self.y_channels],
        }
    }

    /// The scales a variable-rate model applies to ŷ before the synthesis transform
    /// at `quality` (float, decoder side only); `None` for a fixed-rate model.
    pub fn recon_scales(&self, quality: u8) -> Option<Vec<f32>> {
        let _mode = IeeeMode::enter();
        self.ladder.as_ref().map(|l| l.recon(quality))
    }

    /// The one step the temporal prior is told, given the channels' `steps`: Δ of a
    /// fixed-rate model, the mean of the steps (summed in channel order) of a
    /// variable-rate one.
    pub fn prior_step(&self, steps: &[f32]) -> f32 {
        let _mode = IeeeMode::enter();
        match self.ladder {
            None => steps[0],
            Some(_) => steps.iter().fold(0.0f32, |a, &s| a + s) / steps.len() as f32,
        }
    }

    /// Turns `params` into conditional means given the decoded ŷ `symbols` (see
    /// [`EntropyParams::condition`]; a no-op for the diagonal model).
    pub fn condition(
        &self,
        params: &mut EntropyParams,
        symbols: &[i32],
        steps: &[f32],
    ) -> Result<()> {
        // Multivariate models have no ladder: every channel has the same step.
        deterministic(|| params.condition(symbols, steps[0]))
    }

    /// What the synthesis transform takes: ŷ, times the reconstruction scales of
    /// `quality` for a variable-rate model.
    pub fn synthesis_input(&self, latents: &Latents, quality: u8) -> Vec<f32> {
        let plane = latents.symbols.len() / latents.steps.len().max(1);
        let scales = self.recon_scales(quality);
        latents.y_hat_window(scales.as_deref(), plane, 0..1, 0..plane)
    }

    /// The temporal prior, when the weights have one.
    pub fn temporal(&self) -> Option<&TemporalPrior> {
        self.temporal.as_ref()
    }

    /// Channels of ŷ (M).
    pub fn y_channels(&self) -> usize {
        self.y_channels
    }

    /// Channels per group of the multivariate model (1: diagonal).
    pub fn group(&self) -> usize {
        self.group
    }

    /// Channels of ẑ (N).
    pub fn z_channels(&self) -> usize {
        self.z_tables.channels.len()
    }

    /// sha256 of the weights file this model came from.
    pub fn weights_sha256(&self) -> [u8; 32] {
        self.weights_sha256
    }

    /// The deterministic path: ẑ → per-element scale-table index (for the steps of
    /// `quality`) and mean (for the multivariate model, the unconditional mean and the
    /// coupling that [`EntropyParams::condition`] turns into conditional means).
    pub fn params(&self, z_hat: &[i32], d: &LatentDims, quality: u8) -> Result<EntropyParams> {
        self.params_given(z_hat, d, quality, None)
    }

    /// [`params`](Self::params), refined by the temporal prior with the previous
    /// frame's ŷ (`M × yh × yw`) when `prev_y_hat` is given. Asking for the temporal
    /// prior of weights that have none is [`NecoError::Unsupported`].
    pub fn params_given(
        &self,
        z_hat: &[i32],
        d: &LatentDims,
        quality: u8,
        prev_y_hat: Option<&[f32]>,
    ) -> Result<EntropyParams> {
        self.params_at(z_hat, d, &self.steps(quality), prev_y_hat)
    }

    /// [`params_given`](Self::params_given) for the per-channel steps `steps` (of
    /// [`steps`](Self::steps)).
    pub fn params_at(
        &self,
        z_hat: &[i32],
        d: &LatentDims,
        steps: &[f32],
        prev_y_hat: Option<&[f32]>,
    ) -> Result<EntropyParams> {
        deterministic(|| self.params_here(z_hat, d, steps, prev_y_hat))
    }

    /// [`params_at`](Self::params_at) in the calling thread's floating-point mode.
    fn params_here(
        &self,
        z_hat: &[i32],
        d: &LatentDims,
        steps: &[f32],
        prev_y_hat: Option<&[f32]>,
    ) -> Result<EntropyParams> {
        let mut out = self.hyper_output(z_hat, d)?;
        let (m, plane) = (self.y_channels, d.y_plane());
        if let Some(prev) = prev_y_hat {
            let temporal = self.temporal.as_ref().ok_or_else(|| {
                NecoError::Unsupported("these weights have no temporal prior".into())
            })?;
            // The prior refines scales and means (in place); the coupling terms pass
            // through.
            let lower = out.data.split_off(2 * m * plane);
            let mut diag = Planes::new(2 * m, d.yh, d.yw, std::mem::take(&mut out.data))?;
            temporal.refine_in_place(&mut diag, prev, self.prior_step(steps))?;
            out.data = diag.data;
            out.data.extend_from_slice(&lower);
        }
        let coupling = match self.group {
            1 => None,
            g => Some(Coupling::new(&out.data, m, g, plane)?),
        };
        // Scales are in units of the quantization step: σ/Δ picks the table.
        let (scales, rest) = out.data.split_at_mut(m * plane);
        for (channel, &step) in scales.chunks_mut(plane.max(1)).zip(steps) {
            for s in channel {
                *s /= step;
            }
        }
        let mut params = diagonal_params(scales, &rest[..m * plane]);
        params.coupling = coupling;
        Ok(params)
    }

    /// The raw hyper-synthesis output for ẑ: `2M × yh × yw`, scales (not yet divided
    /// by the step) then means (not yet rounded), then for the multivariate model the
    /// strictly-lower entries of L.
    pub fn hyper_output(&self, z_hat: &[i32], d: &LatentDims) -> Result<Planes> {
        let z = Planes::new(
            self.z_channels(),
            d.zh,
            d.zw,
            z_hat.iter().map(|&v| v as f32).collect(),
        )?;
        let out = self.hyper.forward(&z)?;
        let channels = coupling::hyper_channels(self.y_channels, self.group);
        if out.channels != channels || out.height != d.yh || out.width != d.yw {
            return Err(NecoError::InvalidArgument(format!(
                "hyper-synthesis produced {}x{}x{}, expected {}x{}x{}",
                out.channels, out.height, out.width, channels, d.yh, d.yw
            )));
        }
        Ok(out)
    }

    /// Quantizes the analysis outputs `y` (`M × yh × yw`) and `z` (`N × zh × zw`), as
    /// computed by any backend: ẑ = round(z), then the parameters P(ẑ), then the ŷ
    /// symbols round((y − μ)/Δ) at the steps of `quality`. Non-finite inputs quantize
    /// to 0.
    pub fn quantize(&self, y: &[f32], z: &[f32], d: &LatentDims, quality: u8) -> Result<Latents> {
        self.quantize_given(y, z, d, quality, None)
    }

    /// [`quantize`](Self::quantize) with the parameters of
    /// [`params_given`](Self::params_given).
    pub fn quantize_given(
        &self,
        y: &[f32],
        z: &[f32],
        d: &LatentDims,
        quality: u8,
        prev_y_hat: Option<&[f32]>,
    ) -> Result<Latents> {
        let (m, n) = (self.y_channels, self.z_channels());
        if y.len() != m * d.y_plane() || z.len() != n * d.z_plane() {
            return Err(NecoError::InvalidArgument(format!(
                "analysis gave {} y and {} z values, expected {} and {}",
                y.len(),
                z.len(),
                m * d.y_plane(),
                n * d.z_plane()
            )));
        }
        deterministic(|| self.quantize_here(y, z, d, quality, prev_y_hat))
    }

    /// [`quantize_given`](Self::quantize_given), its arguments checked, in the calling
    /// thread's floating-point mode.
    fn quantize_here(
        &self,
        y: &[f32],
        z: &[f32],
        d: &LatentDims,
        quality: u8,
        prev_y_hat: Option<&[f32]>,
    ) -> Result<Latents> {
        let z_hat: Vec<i32> = z.iter().map(|&v| round_clamped(v)).collect();
        let steps = self.steps(quality);
        let mut params = self.params_at(&z_hat, d, &steps, prev_y_hat)?;
        let plane = d.y_plane().max(1);
        let symbols = match &params.coupling {
            // Multivariate models have no ladder: every channel has the same step.
            Some(c) => {
                let mut symbols = vec![0; y.len()];
                c.quantize(y, steps[0], round_clamped, &mut symbols, &mut params.means)?;
                symbols
            }
            None => y
                .chunks(plane)
                .zip(params.means.chunks(plane))
                .zip(&steps)
                .flat_map(|((y, mu), &step)| {
                    y.iter()
                        .zip(mu)
                        .map(move |(&y, &mu)| round_clamped((y - mu) / step))
                })
                .collect(),
        };
        Ok(Latents {
            z_hat,
            symbols,
            params,
            steps,
        })
    }

    /// Entropy-codes latents: ẑ with the factorized tables, ŷ in
    /// `len / SYMBOLS_PER_SUBSTREAM` (1..=64) substreams that decode in parallel.
    pub fn encode(&self, latents: &Latents, d: &LatentDims) -> Result<CodedLatents> {
        let z_bits = self.z_tables.encode(&latents.z_hat, d.z_plane())?;
        let substreams = latents
            .symbols
            .len()
            .div_ceil(SYMBOLS_PER_SUBSTREAM)
            .clamp(1, MAX_SUBSTREAMS);
        let y_bits = encode_parallel(&latents.symbols, &latents.params.scale_idx, substreams)?;
        Ok(CodedLatents { z_bits, y_bits })
    }

    /// Decodes ẑ from `z_bits`, runs the parameter path at the steps of `quality`,
    /// then decodes the ŷ symbols from the substreams `y_bits`.
    pub fn decode<S: AsRef<[u8]> + Sync>(
        &self,
        z_bits: &[u8],
        y_bits: &[S],
        d: &LatentDims,
        quality: u8,
    ) -> Result<Latents> {
        self.decode_given(z_bits, y_bits, d, quality, None)
    }

    /// [`decode`](Self::decode) with the parameters of
    /// [`params_given`](Self::params_given).
    pub fn decode_given<S: AsRef<[u8]> + Sync>(
        &self,
        z_bits: &[u8],
        y_bits: &[S],
        d: &LatentDims,
        quality: u8,
        prev_y_hat: Option<&[f32]>,
    ) -> Result<Latents> {
        let z_hat = self.decode_z(z_bits, d)?;
        let steps = self.steps(quality);
        let mut params = self.params_at(&z_hat, d, &steps, prev_y_hat)?;
        let symbols = self.decode_y(y_bits, &params)?;
        self.condition(&mut params, &symbols, &steps)?;
        Ok(Latents {
            z_hat,
            symbols,
            params,
            steps,
        })
    }

    /// First step of [`decode`](Self::decode): ẑ from its bits.
    pub fn decode_z(&self, z_bits: &[u8], d: &LatentDims) -> Result<Vec<i32>> {
        self.z_tables
            .decode(z_bits, d.z_plane())
            .map_err(|e| in_payload("ẑ bits (ZBIT)", e))
    }

    /// Last step of [`decode`](Self::decode): the ŷ symbols from their substreams,
    /// coded with the tables `params` selects.
    pub fn decode_y<S: AsRef<[u8]> + Sync>(
        &self,
        y_bits: &[S],
        params: &EntropyParams,
    ) -> Result<Vec<i32>> {
        decode_parallel(y_bits, &params.scale_idx).map_err(|e| in_payload("ŷ bits (YBIT)", e))
    }

    /// Decodes the latents of a parsed stream after checking it was made with these
    /// weights ([`NecoError::Unsupported`] otherwise).
    pub fn decode_stream(&self, s: &ImageStream) -> Result<Latents> {
        let h = &s.header;
        if h.weights_sha256 != self.weights_sha256 {
            return Err(NecoError::Unsupported(format!(
                "stream was made with weights sha256 {}, this model is {}",
                hex(&h.weights_sha256),
                hex(&self.weights_sha256)
            )));
        }
        if usize::from(h.y_channels) != self.y_channels
            || usize::from(h.z_channels) != self.z_channels()
        {
            return Err(NecoError::corrupt(format!(
                "stream has {} y / {} z channels, its weights have {} / {}",
                h.y_channels,
                h.z_channels,
                self.y_channels,
                self.z_channels()
            )));
        }
        let d = LatentDims::new(h.width, h.height);
        self.decode(&s.z_bits, &s.y_bits, &d, h.quality)
    }
}

/// Names the payload in a corrupt-stream error.
fn in_payload(what: &str, e: NecoError) -> NecoError {
    match e {
        NecoError::Corrupt(msg) => NecoError::Corrupt(format!("{what}: {msg}")),
        other => other,
    }
}

fn round_clamped(v: f32) -> i32 {
    // NaN → 0 (the `as` cast), ±inf → ±CLAMP.
    v.round().clamp(-CLAMP, CLAMP) as i32
}

/// The hyper-synthesis must turn ẑ's `zh × zw` grid into ŷ's `4zh × 4zw`, and no
/// layer may make a larger grid on the way: weights cannot make a decoder allocate
/// (or compute) more than the image's own latents need. Checked on a few grid sizes,
/// as layer sizes are affine in the input's.
fn check_grids(hyper: &HyperSynthesis) -> Result<()> {
    for (h, w) in [(1, 1), (2, 3), (5, 7)] {
        let grids = hyper.grids(h, w)?;
        let within = grids.iter().all(|&(gh, gw)| gh <= 4 * h && gw <= 4 * w);
        if !within || grids.last() != Some(&(4 * h, 4 * w)) {
            return Err(NecoError::BadWeights(format!(
                "the hyper-synthesis must turn a {h}×{w} grid of ẑ into the {}×{} of ŷ, never \
                 larger on the way; its layers make {grids:?}",
                4 * h,
                4 * w
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::Layer;

    /// A tiny model: N = 2 z channels, M = 3 y channels, h_s one 4× upsampling layer.
    fn model() -> EntropyModel {
        let (n, m, k) = (2, 3, 4);
        let weight = (0..n * 2 * m * k * k)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) / 8.0)
            .collect();
        let hyper = HyperSynthesis {
            layers: vec![Layer::ConvTranspose {
                weight,
                bias: vec![1.5, 0.5, 2.0, 0.25, -0.5, 0.0],
                in_ch: n,
                out_ch: 2 * m,
                kernel: k,
                stride: 4,
                padding: 0,
                output_padding: 0,
            }],
        };
        let pmf: Vec<f64> = (-4..=4)
            .map(|v: i32| (-(v * v) as f64 / 4.0).exp())
            .collect();
        let z_tables =
            FactorizedTables::from_probabilities(&[(-4, pmf.clone()), (-4, pmf)]).unwrap();
        EntropyModel::new(hyper, z_tables, [7; 32], 1).unwrap()
    }

    /// Weights cannot make the parameter path allocate more than the latents need:
    /// the hyper-synthesis must make ŷ's grid, and no larger one on the way.
    #[test]
    fn the_hyper_synthesis_must_make_the_latent_grid() {
        let conv = |in_ch: usize, out_ch: usize, kernel: usize, stride: usize| Layer::Conv {
            weight: vec![0.5; in_ch * out_ch * kernel * kernel],
            bias: vec![0.0; out_ch],
            in_ch,
            out_ch,
            kernel,
            stride,
            padding: 0,
        };
        let up8 = Layer::ConvTranspose {
            weight: vec![0.5; 2 * 64],
            bias: vec![0.0],
            in_ch: 2,
            out_ch: 1,
            kernel: 8,
            stride: 8,
            padding: 0,
            output_padding: 0,
        };
        for layers in [
            // 8× up, then 2× down: ŷ's grid in the end, twice as large on the way.
            vec![up8, Layer::Relu, conv(1, 6, 2, 2)],
            // No upsampling at all.
            vec![conv(2, 6, 1, 1)],
        ] {
            let e = EntropyModel::new(HyperSynthesis { layers }, model().z_tables, [7; 32], 1)
                .unwrap_err()
                .to_string();
            assert!(e.contains("never larger on the way"), "{e}");
        }
    }

    #[test]
    fn quantize_encode_decode_round_trip() {
        let m = model();
        assert_eq!((m.y_channels(), m.z_channels()), (3, 2));
        let d = LatentDims::new(130, 70);
        let z: Vec<f32> = (0..2 * d.z_plane())
            .map(|i| (i as f32 * 0.7).sin() * 3.0)
            .collect();
        let mut y: Vec<f32> = (0..3 * d.y_plane())
            .map(|i| (i as f32 * 0.31).cos() * 9.0)
            .collect();
        y[0] = f32::NAN;
        y[1] = f32::INFINITY;
        let (q, step) = (40, quant_step(40));
        let latents = m.quantize(&y, &z, &d, q).unwrap();
        assert_eq!(latents.symbols[0], 0, "NaN quantizes to 0");
        assert_eq!(latents.symbols[1], CLAMP as i32, "inf clamps");
        let coded = m.encode(&latents, &d).unwrap();
        assert_eq!(
            m.decode(&coded.z_bits, &coded.y_bits, &d, q).unwrap(),
            latents
        );
        // ŷ = symbol·Δ + μ stays within half a step of y where nothing was clamped.
        let y_hat = latents.y_hat();
        for i in 2..y.len() {
            assert!((y_hat[i] - y[i]).abs() <= step / 2.0 + 1e-4, "{i}");
        }
    }

    /// A window of ŷ is the same window of the whole, bit for bit, with and without
    /// per-channel scales.
    #[test]
    fn y_hat_windows_are_crops_of_the_whole() {
        let m = model();
        let d = LatentDims::new(130, 70);
        let z: Vec<f32> = (0..2 * d.z_plane())
            .map(|i| (i as f32 * 0.3).sin())
            .collect();
        let y: Vec<f32> = (0..3 * d.y_plane())
            .map(|i| (i as f32 * 0.7).cos() * 4.0)
            .collect();
        let latents = m.quantize(&y, &z, &d, 60).unwrap();
        let scales = [0.9f32, 1.1, 0.7];
        let plane = d.y_plane();
        let whole = latents.y_hat();
        for scale in [None, Some(&scales[..])] {
            let (rows, cols) = (1..4, 2..7);
            let window = latents.y_hat_window(scale, d.yw, rows.clone(), cols.clone());
            let mut want = Vec::new();
            for c in 0..3 {
                for y in rows.clone() {
                    for x in cols.clone() {
                        let v = whole[c * plane + y * d.yw + x];
                        want.push(scale.map_or(v, |s| v * s[c]));
                    }
                }
            }
            assert_eq!(window, want);
        }
    }

    #[test]
    fn mismatched_parts_are_refused() {
        let m = model();
        let mut tables = m.z_tables.clone();
        tables.channels.pop();
        let e = EntropyModel::new(m.hyper.net().clone(), tables, [0; 32], 1).unwrap_err();
        assert!(e.to_string().contains("must take the 1 channels"), "{e}");
        let d = LatentDims::new(64, 64);
        let e = m.quantize(&[0.0; 5], &[0.0; 2], &d, 50).unwrap_err();
        assert!(
            e.to_string()
                .contains("analysis gave 5 y and 2 z values, expected 48 and 2"),
            "{e}"
        );
    }

    /// A temporal prior for [`model`]: a 3×3 convolution from `3M + 1` = 10 to 6
    /// channels that moves the means towards the previous ŷ.
    fn temporal_net() -> HyperSynthesis {
        let (m, k) = (3, 3);
        let (in_ch, out_ch) = (3 * m + 1, 2 * m);
        let mut weight = vec![0.0; out_ch * in_ch * k * k];
        for c in 0..m {
            let centre = (k * k) / 2;
            // mean_c += 0.75·ŷ_{t−1,c} − 0.75·mean_c (centre tap); scale_c −= 0.1·Δ.
            weight[((m + c) * in_ch + 2 * m + c) * k * k + centre] = 0.75;
            weight[((m + c) * in_ch + m + c) * k * k + centre] = -0.75;
            weight[(c * in_ch + 3 * m) * k * k + centre] = -0.1;
        }
        HyperSynthesis {
            layers: vec![Layer::Conv {
                weight,
                bias: vec![0.0; out_ch],
                in_ch,
                out_ch,
                kernel: k,
                stride: 1,
                padding: 1,
            }],
        }
    }

    #[test]
    fn temporal_frames_round_trip_and_need_their_previous_frame() {
        let plain = model();
        let m = plain.clone().with_temporal(temporal_net()).unwrap();
        assert!(plain.temporal().is_none() && m.temporal().is_some());
        let d = LatentDims::new(96, 64);
        let q = 60;
        let z: Vec<f32> = (0..2 * d.z_plane()).map(|i| (i % 3) as f32).collect();
        let y1: Vec<f32> = (0..3 * d.y_plane())
            .map(|i| (i as f32 * 0.13).sin() * 6.0)
            .collect();
        // The next frame: nearly the same latent.
        let y2: Vec<f32> = y1.iter().map(|v| v + 0.05).collect();
        let first = m.quantize(&y1, &z, &d, q).unwrap();
        let prev = first.y_hat();
        let second = m.quantize_given(&y2, &z, &d, q, Some(&prev)).unwrap();
        let coded = m.encode(&second, &d).unwrap();
        let back = m
            .decode_given(&coded.z_bits, &coded.y_bits, &d, q, Some(&prev))
            .unwrap();
        assert_eq!(back, second);
        // Predicting from the previous frame costs fewer bits than intra.
        let intra = m.encode(&m.quantize(&y2, &z, &d, q).unwrap(), &d).unwrap();
        let len = |c: &CodedLatents| c.y_bits.iter().map(Vec::len).sum::<usize>();
        assert!(
            len(&coded) < len(&intra),
            "{} vs {}",
            len(&coded),
            len(&intra)
        );
        // Decoded as intra, the same bits give other latents.
        let wrong = m.decode(&coded.z_bits, &coded.y_bits, &d, q);
        assert!(wrong.map_or(true, |l| l != second));
        // Weights without a prior refuse temporal parameters.
        let e = plain
            .params_given(&first.z_hat, &d, q, Some(&prev))
            .unwrap_err();
        assert!(matches!(e, NecoError::Unsupported(_)), "{e}");
        // A previous latent of the wrong size is refused.
        let e = m
            .params_given(&first.z_hat, &d, q, Some(&prev[1..]))
            .unwrap_err();
        assert!(e.to_string().contains("previous-latent values"), "{e}");
    }

    /// M = 4 latent channels in groups of 2 with constant parameters: σ = (2, 0.3)
    /// per group, μ = 0, and L_10 = `coupling`.
    fn grouped(coupling: f32) -> EntropyModel {
        let (n, m, k) = (2, 4, 4);
        let out = super::coupling::hyper_channels(m, 2);
        let mut bias = vec![2.0, 0.3, 2.0, 0.3, 0.0, 0.0, 0.0, 0.0];
        bias.extend([coupling; 2]);
        let hyper = HyperSynthesis {
            layers: vec![Layer::ConvTranspose {
                weight: vec![0.0; n * out * k * k],
                bias,
                in_ch: n,
                out_ch: out,
                kernel: k,
                stride: 4,
                padding: 0,
                output_padding: 0,
            }],
        };
        let pmf = vec![0.25, 0.5, 0.25];
        let z_tables =
            FactorizedTables::from_probabilities(&[(-1, pmf.clone()), (-1, pmf)]).unwrap();
        EntropyModel::new(hyper, z_tables, [3; 32], 2).unwrap()
    }

    #[test]
    fn channel_groups_round_trip_and_use_the_correlation() {
        let d = LatentDims::new(256, 128);
        let z = vec![0.0; 2 * d.z_plane()];
        // In each group the second channel repeats the first: y_1 = y_0 ~ ±4.
        let plane = d.y_plane();
        let first: Vec<f32> = (0..plane).map(|i| (i as f32 * 0.71).sin() * 4.0).collect();
        let y: Vec<f32> = first.repeat(4);
        let (q, step) = (50, quant_step(50));
        let coupled = grouped(1.9);
        assert_eq!((coupled.y_channels(), coupled.group()), (4, 2));
        let latents = coupled.quantize(&y, &z, &d, q).unwrap();
        let coded = coupled.encode(&latents, &d).unwrap();
        let back = coupled.decode(&coded.z_bits, &coded.y_bits, &d, q).unwrap();
        assert_eq!(back, latents);
        for (i, (a, b)) in latents.y_hat().iter().zip(&y).enumerate() {
            assert!((a - b).abs() <= step / 2.0 + 1e-4, "{i}: {a} vs {b}");
        }
        // The same scales without coupling: the repeated channel costs far more.
        let diagonal = grouped(0.0);
        let plain = diagonal
            .encode(&diagonal.quantize(&y, &z, &d, q).unwrap(), &d)
            .unwrap();
        let len = |c: &CodedLatents| c.y_bits.iter().map(Vec::len).sum::<usize>();
        assert!(
            len(&coded) * 10 < len(&plain) * 8,
            "{} vs {}",
            len(&coded),
            len(&plain)
        );
        // Decoding the coupled stream without its coupling gives other latents.
        let wrong = diagonal.decode(&coded.z_bits, &coded.y_bits, &d, q);
        assert!(wrong.map_or(true, |l| l.y_hat() != latents.y_hat()));
    }
}
