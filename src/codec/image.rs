//! Encoding and decoding one image.

use anyhow::{bail, Context};
use burn::prelude::*;
use neco_core::container::{Header, ImageStream, Kind, PixelFormat};
use neco_core::entropy::{self, FactorizedTables, HyperSynthesis, Planes};
use neco_core::quality::quant_step;
use neco_core::Limits;

use super::pad::{padded, to_planar_padded, write_rgb, PlanarWindow};
use super::tiling::{crop_planar, paste_planar, tiles};
use super::timings::Timings;
use crate::io::image_io::{png_gray, unpng_gray, SourceImage, SourceKind};
use crate::model::weights::WeightsFile;
use crate::model::{tensor_to_vec, HyperpriorModel, ModelConfig};

/// Latent symbols per ŷ substream (substreams code and decode in parallel).
const SYMBOLS_PER_SUBSTREAM: usize = 32 * 1024;

/// A loaded model ready to code: Burn transforms on a device plus the deterministic
/// parameter path and z tables.
pub struct Codec {
    config: ModelConfig,
    model: HyperpriorModel,
    hyper: HyperSynthesis,
    z_tables: FactorizedTables,
    weights_sha256: [u8; 32],
    device: Device,
}

/// A decoded image.
pub struct DecodedImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Interleaved 8-bit RGB.
    pub rgb: Vec<u8>,
    /// Alpha plane, when the stream carried one.
    pub alpha: Option<Vec<u8>>,
}

/// Sizes of the latents for an image.
struct LatentDims {
    pw: usize,
    ph: usize,
    yh: usize,
    yw: usize,
    zh: usize,
    zw: usize,
}

impl LatentDims {
    fn new(width: u32, height: u32) -> Self {
        let (pw, ph) = (padded(width as usize), padded(height as usize));
        LatentDims {
            pw,
            ph,
            yh: ph / 16,
            yw: pw / 16,
            zh: ph / 64,
            zw: pw / 64,
        }
    }
}

impl Codec {
    /// Load weights (parsed) onto `device`.
    pub fn new(weights: &WeightsFile, device: Device) -> anyhow::Result<Self> {
        let model = weights.model(&device)?.valid();
        let hyper = model.h_s.export();
        Ok(Codec {
            config: weights.config.clone(),
            model,
            hyper,
            z_tables: weights.z_tables.clone(),
            weights_sha256: weights.sha256,
            device,
        })
    }

    /// The model's config.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// sha256 of the weights file.
    pub fn weights_sha256(&self) -> [u8; 32] {
        self.weights_sha256
    }

    /// g_a over overlapping tiles of the padded planar image; returns y, `[M, yh, yw]`.
    fn analysis(&self, planar: &[f32], d: &LatentDims) -> Vec<f32> {
        let m = self.config.m;
        let mut y = vec![0f32; m * d.yh * d.yw];
        for t in tiles(d.yh, d.yw) {
            let (oh, ow) = (t.outer_rows.len(), t.outer_cols.len());
            let px = |r: &std::ops::Range<usize>| r.start * 16..r.end * 16;
            let window = crop_planar(planar, 3, d.ph, d.pw, px(&t.outer_rows), px(&t.outer_cols));
            let x = Tensor::<4>::from_data(
                TensorData::new(window, [1, 3, oh * 16, ow * 16]),
                &self.device,
            );
            let out = tensor_to_vec(self.model.g_a.forward(x));
            paste_planar(
                &out,
                (oh, ow),
                (
                    t.inner_rows.start - t.outer_rows.start,
                    t.inner_cols.start - t.outer_cols.start,
                ),
                &mut y,
                (d.yh, d.yw),
                (t.inner_rows.start, t.inner_cols.start),
                m,
                (t.inner_rows.len(), t.inner_cols.len()),
            );
        }
        y
    }

    /// g_s over overlapping tiles of ŷ, written straight into the cropped 8-bit RGB image.
    fn synthesis(&self, y_hat: &[f32], d: &LatentDims, width: u32, height: u32) -> Vec<u8> {
        let (w, h) = (width as usize, height as usize);
        let mut rgb = vec![0u8; w * h * 3];
        for t in tiles(d.yh, d.yw) {
            let (oh, ow) = (t.outer_rows.len(), t.outer_cols.len());
            let window = crop_planar(
                y_hat,
                self.config.m,
                d.yh,
                d.yw,
                t.outer_rows.clone(),
                t.outer_cols.clone(),
            );
            let y = Tensor::<4>::from_data(
                TensorData::new(window, [1, self.config.m, oh, ow]),
                &self.device,
            );
            let planar = tensor_to_vec(self.model.g_s.forward(y));
            let px = |r: &std::ops::Range<usize>| r.start * 16..r.end * 16;
            let win = PlanarWindow {
                planar: &planar,
                size: (oh * 16, ow * 16),
                origin: (t.outer_rows.start * 16, t.outer_cols.start * 16),
                rows: px(&t.inner_rows),
                cols: px(&t.inner_cols),
            };
            write_rgb(&win, &mut rgb, w, h);
        }
        rgb
    }

    /// Deterministic path: ẑ → per-element scale-table indices (for step Δ) and means.
    fn entropy_params(
        &self,
        z_hat: &[i32],
        d: &LatentDims,
        step: f32,
    ) -> anyhow::Result<entropy::EntropyParams> {
        let z = Planes::new(
            self.config.n,
            d.zh,
            d.zw,
            z_hat.iter().map(|&v| v as f32).collect(),
        )?;
        let mut out = self.hyper.forward(&z)?;
        let m = self.config.m;
        anyhow::ensure!(
            out.channels == 2 * m && out.height == d.yh && out.width == d.yw,
            "hyper-synthesis produced {}x{}x{}, expected {}x{}x{}",
            out.channels,
            out.height,
            out.width,
            2 * m,
            d.yh,
            d.yw
        );
        // Scales are in units of the quantization step: σ/Δ picks the table.
        let half = out.data.len() / 2;
        for s in &mut out.data[..half] {
            *s /= step;
        }
        Ok(entropy::entropy_params(&out, m)?)
    }

    /// Encode an image at `quality` (0..=100).
    pub fn encode(
        &self,
        src: &SourceImage,
        quality: u8,
        t: &mut Timings,
    ) -> anyhow::Result<ImageStream> {
        anyhow::ensure!(quality <= 100, "quality {quality} is out of range 0..=100");
        // Refuse, before any work, images the container cannot hold or that a
        // decoder with default limits would refuse.
        let max_side = Limits::default().max_dimension;
        anyhow::ensure!(
            (1..=max_side).contains(&src.width) && (1..=max_side).contains(&src.height),
            "image is {}x{}, each side must be 1..={max_side} pixels",
            src.width,
            src.height
        );
        let d = LatentDims::new(src.width, src.height);
        let (planar, _, _) = to_planar_padded(&src.rgb, src.width as usize, src.height as usize);

        let (y, z) = t.time(
            |t| &mut t.analysis_ms,
            || {
                let y = self.analysis(&planar, &d);
                let y_t = Tensor::<4>::from_data(
                    TensorData::new(y.clone(), [1, self.config.m, d.yh, d.yw]),
                    &self.device,
                );
                let z = self.model.h_a.forward(y_t);
                (y, tensor_to_vec(z))
            },
        );
        let z_hat: Vec<i32> = z
            .iter()
            .map(|&v| v.round().clamp(-1e6, 1e6) as i32)
            .collect();
        let plane = d.zh * d.zw;
        let z_bits = t.time(
            |t| &mut t.entropy_ms,
            || self.z_tables.encode(&z_hat, plane),
        )?;

        let step = quant_step(quality);
        let params = t.time(
            |t| &mut t.params_ms,
            || self.entropy_params(&z_hat, &d, step),
        )?;
        let symbols: Vec<i32> = y
            .iter()
            .zip(&params.means)
            .map(|(&y, &mu)| ((y - mu) / step).round().clamp(-1e6, 1e6) as i32)
            .collect();
        let substreams = symbols.len().div_ceil(SYMBOLS_PER_SUBSTREAM).clamp(1, 64);
        let y_bits = t.time(
            |t| &mut t.entropy_ms,
            || entropy::encode_parallel(&symbols, &params.scale_idx, substreams),
        )?;

        let pixel_format = match src.kind {
            SourceKind::Rgb => PixelFormat::Rgb8,
            SourceKind::Gray => PixelFormat::Gray8,
            SourceKind::Rgba => PixelFormat::Rgba8,
        };
        let alpha = match &src.alpha {
            Some(a) => Some(png_gray(src.width, src.height, a)?),
            None => None,
        };
        Ok(ImageStream {
            header: Header {
                kind: Kind::Image,
                width: src.width,
                height: src.height,
                pixel_format,
                bit_depth: 8,
                quality,
                model_id: self.config.name.clone(),
                weights_sha256: self.weights_sha256,
                y_channels: self.config.m as u16,
                z_channels: self.config.n as u16,
                substreams: substreams as u16,
            },
            z_bits,
            y_bits,
            alpha,
        })
    }

    /// Check a stream was made by this model and these weights.
    pub fn check_compatible(&self, h: &Header) -> anyhow::Result<()> {
        if h.model_id != self.config.name || h.weights_sha256 != self.weights_sha256 {
            bail!(
                "stream was made with model {:?} (weights sha256 {}), but the loaded weights are {:?} ({}); pass the matching --weights",
                h.model_id,
                hex(&h.weights_sha256),
                self.config.name,
                hex(&self.weights_sha256)
            );
        }
        if h.y_channels as usize != self.config.m || h.z_channels as usize != self.config.n {
            bail!(
                "stream has {} y / {} z channels, the model has {} / {}",
                h.y_channels,
                h.z_channels,
                self.config.m,
                self.config.n
            );
        }
        Ok(())
    }

    /// Decode the integer latents only (no neural network): ẑ, then ŷ symbols.
    pub fn decode_latents(
        &self,
        s: &ImageStream,
        t: &mut Timings,
    ) -> anyhow::Result<(Vec<i32>, Vec<i32>, entropy::EntropyParams)> {
        self.check_compatible(&s.header)?;
        let d = LatentDims::new(s.header.width, s.header.height);
        let z_hat = t.time(
            |t| &mut t.entropy_ms,
            || self.z_tables.decode(&s.z_bits, d.zh * d.zw),
        )?;
        let step = quant_step(s.header.quality);
        let params = t.time(
            |t| &mut t.params_ms,
            || self.entropy_params(&z_hat, &d, step),
        )?;
        let symbols = t.time(
            |t| &mut t.entropy_ms,
            || entropy::decode_parallel(&s.y_bits, &params.scale_idx),
        )?;
        Ok((z_hat, symbols, params))
    }

    /// Decode a parsed stream to pixels.
    pub fn decode(&self, s: &ImageStream, t: &mut Timings) -> anyhow::Result<DecodedImage> {
        let (_, symbols, params) = self.decode_latents(s, t)?;
        let h = &s.header;
        // The alpha chunk is cheap to check: do it before the costly synthesis.
        let alpha = match (&s.alpha, h.pixel_format) {
            (Some(bytes), _) => Some(unpng_gray(bytes, h.width, h.height).context("alpha chunk")?),
            (None, PixelFormat::Rgba8) => {
                bail!("corrupt stream: an RGBA image without its alpha chunk")
            }
            (None, _) => None,
        };
        let d = LatentDims::new(h.width, h.height);
        let step = quant_step(h.quality);
        let y_hat: Vec<f32> = symbols
            .iter()
            .zip(&params.means)
            .map(|(&q, &mu)| q as f32 * step + mu)
            .collect();
        let mut rgb = t.time(
            |t| &mut t.synthesis_ms,
            || self.synthesis(&y_hat, &d, h.width, h.height),
        );
        if h.pixel_format == PixelFormat::Gray8 {
            // The source was gray: return gray (equal channels), as its owner expects.
            for p in rgb.chunks_exact_mut(3) {
                let g = ((p[0] as u32 * 299 + p[1] as u32 * 587 + p[2] as u32 * 114 + 500) / 1000)
                    as u8;
                p.fill(g);
            }
        }
        Ok(DecodedImage {
            width: h.width,
            height: h.height,
            rgb,
            alpha,
        })
    }
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
