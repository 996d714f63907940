//! Encoding and decoding one image.

use std::ops::Range;
use std::sync::OnceLock;

use anyhow::{bail, Context};
use burn::prelude::*;
use neco_core::container::{Header, ImageStream, Kind, PixelFormat};
use neco_core::entropy::{EntropyModel, Latents};
use neco_core::latent::LatentDims;
use neco_core::{hex, Limits};

use super::pad::{planar_window, to_planar_padded, write_rgb, PlanarWindow};
use super::refine::{self, lambda_at, refine_latent, RefineReport, Target, REFINE_TILE};
use super::tiling::{tiles, TILE};
use super::timings::Timings;
use crate::io::image_io::{png_gray, unpng_gray, SourceImage, SourceKind};
use crate::model::config::FREEZABLE;
use crate::model::cpu::{CpuConvChain, CpuSynthesis, Precision};
use crate::model::cpu_grad::CpuSynthesisGrad;
use crate::model::weights::WeightsFile;
use crate::model::{tensor_to_vec, HyperpriorModel, ModelConfig};

/// A loaded model ready to code: the float transforms (Burn on a device, or neco's own
/// CPU kernels) plus neco-core's entropy model (z tables and the deterministic
/// parameter path).
pub struct Codec {
    config: ModelConfig,
    model: HyperpriorModel,
    entropy: EntropyModel,
    device: Device,
    /// g_a, h_a and g_s on neco's CPU kernels, used instead of Burn's when set.
    cpu: Option<CpuTransforms>,
    /// Tile interior for the transforms, in latents.
    tile: usize,
    /// The weights' Burn record, for the autodiff copy of the model that latent
    /// refinement needs.
    record: std::sync::Arc<Vec<u8>>,
    /// Refinement steps per encoded image (0: none).
    refine: usize,
    /// Arithmetic of g_s's wide layers on the CPU kernels.
    precision: Precision,
}

/// The float transforms on neco's CPU kernels (src/model/cpu.rs), each direction built
/// from the model's parameters when first used: an encoder never builds g_s, a decoder
/// never g_a and h_a (milliseconds that a one-image run would otherwise spend for
/// nothing). Each is indexed by band: 0 the model's transforms, 1 its top band's (`top_band`).
#[derive(Default)]
struct CpuTransforms {
    /// g_a and h_a.
    analysis: [OnceLock<(CpuConvChain, CpuConvChain)>; 2],
    g_s: [OnceLock<CpuSynthesis>; 2],
    /// g_s with its input gradient, for `--refine`.
    g_s_grad: [OnceLock<CpuSynthesisGrad>; 2],
}

/// What the analysis transforms computed for one image, before quantization: floats
/// from whichever backend ran them.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// Latent grid sizes.
    pub dims: LatentDims,
    /// y = g_a(x), `M × yh × yw` planar.
    pub y: Vec<f32>,
    /// z = h_a(y), `N × zh × zw` planar.
    pub z: Vec<f32>,
    /// Whether y came from the top band's g_a (see [`ModelConfig::top_band_at`]): it
    /// codes at the qualities of that band only.
    pub top_band: bool,
}

/// A decoded image.
pub struct DecodedImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Interleaved 8-bit RGB.
    pub rgb: Vec<u8>,
    /// Whether the source was grayscale: `rgb`'s three channels are then equal, and
    /// the image is written as gray.
    pub gray: bool,
    /// Alpha plane, when the stream carried one.
    pub alpha: Option<Vec<u8>>,
    /// The source's ICC colour profile, when the stream carried one.
    pub icc: Option<Vec<u8>>,
    /// The source's Exif block, when the stream carried one.
    pub exif: Option<Vec<u8>>,
}

impl Codec {
    /// Load weights (parsed) onto `device`; on Burn's CPU device the transforms run on
    /// neco's CPU kernels.
    pub fn new(weights: &WeightsFile, device: Device) -> anyhow::Result<Self> {
        let cpu_kernels = device == Device::flex();
        Self::load(weights, device, cpu_kernels)
    }

    /// Load weights onto `device` with every transform on Burn, even on the CPU
    /// (`--backend flex`): slower than [`Codec::new`]'s kernels, the same up to float
    /// rounding.
    pub fn burn_only(weights: &WeightsFile, device: Device) -> anyhow::Result<Self> {
        Self::load(weights, device, false)
    }

    fn load(weights: &WeightsFile, device: Device, cpu_kernels: bool) -> anyhow::Result<Self> {
        let model = weights.model(&device)?.valid();
        let hyper = model.h_s.export();
        if let Some(stored) = &weights.hyper {
            // Version-2 files carry the hyper-synthesis twice (Burn record and neco-core
            // format): they must agree, or encoder and a Burn-free decoder would differ.
            anyhow::ensure!(
                *stored == hyper,
                "weights file is inconsistent: its hyper-synthesis section differs from its model record"
            );
        }
        let mut entropy = EntropyModel::new(
            hyper,
            weights.z_tables.clone(),
            weights.sha256,
            weights.config.group,
        )?;
        // The ladder section is what codes: the record's copy holds the logarithms
        // training learned, whose exponentials may differ by an ulp between backends.
        if let Some(ladder) = &weights.ladder {
            entropy = entropy.with_ladder(ladder.clone())?;
        }
        if let Some(t) = &weights.temporal {
            entropy = entropy.with_temporal(t.clone())?;
        }
        Ok(Codec {
            config: weights.config.clone(),
            model,
            entropy,
            device,
            cpu: cpu_kernels.then(CpuTransforms::default),
            tile: TILE,
            record: std::sync::Arc::clone(&weights.record),
            refine: 0,
            precision: Precision::F32,
        })
    }

    /// g_a (of the top band when `top`) and h_a on the CPU kernels, when the codec
    /// uses them.
    fn cpu_analysis(&self, top: bool) -> Option<&(CpuConvChain, CpuConvChain)> {
        self.cpu.as_ref().map(|cpu| {
            cpu.analysis[usize::from(top)].get_or_init(|| {
                rayon::join(
                    || CpuConvChain::analysis(self.model.band(top).0),
                    || CpuConvChain::hyper_analysis(&self.model.h_a),
                )
            })
        })
    }

    /// g_s (of the top band when `top`) on the CPU kernels, when the codec uses them.
    fn cpu_synthesis(&self, top: bool) -> Option<&CpuSynthesis> {
        self.cpu.as_ref().map(|cpu| {
            cpu.g_s[usize::from(top)]
                .get_or_init(|| CpuSynthesis::new(self.model.band(top).1, self.precision))
        })
    }

    /// Run the transforms in tiles of `latents`×`latents` latents (16 pixels each; at
    /// least 1) instead of the default [`TILE`]: larger tiles use more memory, and
    /// the output is the same up to float rounding whatever the size.
    pub fn with_tile(mut self, latents: usize) -> Self {
        self.tile = latents.max(1);
        self
    }

    /// Run g_s's wide layers in `precision` when decoding on the CPU kernels (bf16
    /// where the CPU has AVX-512 BF16: faster, pixels within a rounding of f32's; the
    /// latents, and so the stream, do not change).
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// Refine every image's latent with `iterations` steps of gradient descent before
    /// coding it (see [`super::refine`]; 0: off). Slower encoding, smaller files at
    /// equal quality; decoding is unchanged.
    ///
    /// Fails when refining and the weights do not record their ladder's λ values.
    pub fn with_refine(mut self, iterations: usize) -> anyhow::Result<Self> {
        if iterations > 0 {
            self.refine_lambda(50)?;
        }
        self.refine = iterations;
        Ok(self)
    }

    /// Refinement steps per encoded image (0: off).
    pub fn refine_iterations(&self) -> usize {
        self.refine
    }

    /// λ at `quality`, from the ladder's recorded λ values.
    fn refine_lambda(&self, quality: u8) -> anyhow::Result<f64> {
        lambda_at(&self.config.ladder_lambdas, quality).with_context(|| {
            if self.config.rungs == 0 {
                // Nothing to export: one λ, which the file does not hold.
                return format!(
                    "--refine needs variable-rate weights (a rate ladder), and {:?} (sha256 {}) is a fixed-rate model",
                    self.config.name,
                    hex(&self.weights_sha256())
                );
            }
            format!(
                "--refine needs weights that record the λ of each quality, and {:?} (sha256 {}) does not: export them from their training run with this neco (neco export --run RUN)",
                self.config.name,
                hex(&self.weights_sha256())
            )
        })
    }

    /// The model's config.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// sha256 of the weights file.
    pub fn weights_sha256(&self) -> [u8; 32] {
        self.entropy.weights_sha256()
    }

    /// The entropy model (what decides which bits mean what).
    pub fn entropy_model(&self) -> &EntropyModel {
        &self.entropy
    }

    /// g_a (the top band's when `top`) over overlapping tiles of the image (padded as
    /// [`planar_window`] pads it); returns y, `[M, yh, yw]`. Each tile's floats are
    /// made from the 8-bit pixels when it runs: the whole padded float image would be
    /// 12 bytes a pixel.
    fn analysis(&self, src: &SourceImage, d: &LatentDims, top: bool) -> Vec<f32> {
        let m = self.config.m;
        let (width, height) = (src.width as usize, src.height as usize);
        let mut y = vec![0f32; m * d.yh * d.yw];
        for t in tiles(d.yh, d.yw, self.tile) {
            let (oh, ow) = (t.outer_rows.len(), t.outer_cols.len());
            let px = |r: &std::ops::Range<usize>| r.start * 16..r.end * 16;
            let window = planar_window(
                &src.rgb,
                (width, height),
                px(&t.outer_rows),
                px(&t.outer_cols),
            );
            let out = match self.cpu_analysis(top) {
                Some((g_a, _)) => g_a.forward(&window, oh * 16, ow * 16),
                None => tensor_to_vec(self.model.band(top).0.forward(Tensor::<4>::from_data(
                    TensorData::new(window, [1, 3, oh * 16, ow * 16]),
                    &self.device,
                ))),
            };
            t.paste_inner(&out, &mut y, (d.yh, d.yw), m);
        }
        y
    }

    /// g_s (the top band's when `top`) over overlapping tiles of the synthesis input
    /// (`window(rows, cols)` gives one tile's, planar), written straight into the
    /// cropped 8-bit RGB image.
    fn synthesis(
        &self,
        window: impl Fn(Range<usize>, Range<usize>) -> Vec<f32>,
        d: &LatentDims,
        (width, height): (u32, u32),
        top: bool,
    ) -> Vec<u8> {
        let (w, h) = (width as usize, height as usize);
        let mut rgb = vec![0u8; w * h * 3];
        for t in tiles(d.yh, d.yw, self.tile) {
            let (oh, ow) = (t.outer_rows.len(), t.outer_cols.len());
            let window = window(t.outer_rows.clone(), t.outer_cols.clone());
            let planar = match self.cpu_synthesis(top) {
                Some(g_s) => g_s.forward(&window, oh, ow),
                None => tensor_to_vec(self.model.band(top).1.forward(Tensor::<4>::from_data(
                    TensorData::new(window, [1, self.config.m, oh, ow]),
                    &self.device,
                ))),
            };
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

    /// Encode an image at `quality` (0..=100).
    pub fn encode(
        &self,
        src: &SourceImage,
        quality: u8,
        t: &mut Timings,
    ) -> anyhow::Result<ImageStream> {
        anyhow::ensure!(quality <= 100, "quality {quality} is out of range 0..=100");
        let mut analysis = self.analyse(src, quality, t)?;
        if self.refine > 0 {
            analysis = self.refine(src, &analysis, quality, self.refine, t)?.0;
        }
        self.encode_analysis(src, &analysis, quality, t)
    }

    /// Quantize and entropy-code `analysis` (of `src`) at `quality`.
    fn encode_analysis(
        &self,
        src: &SourceImage,
        analysis: &Analysis,
        quality: u8,
        t: &mut Timings,
    ) -> anyhow::Result<ImageStream> {
        anyhow::ensure!(
            analysis.top_band == self.config.top_band_at(quality),
            "internal error: an analysis of the other band's transforms cannot code quality {quality}"
        );
        let latents = t.time(
            |t| &mut t.params_ms,
            || {
                self.entropy
                    .quantize(&analysis.y, &analysis.z, &analysis.dims, quality)
            },
        )?;
        self.encode_latents(src, &latents, quality, t)
    }

    /// Encode at the highest quality whose whole stream (container included) is at most
    /// `target_bpp` bits per pixel; returns the stream and the quality chosen.
    ///
    /// The analysis transforms run once (for a model with a top band: once, or twice
    /// when the band's lowest quality, tried first, is over the target); each quality
    /// tried costs only the parameter path and entropy coding (a binary search: 7–8
    /// tries for 0..=100). With
    /// refinement on, the search runs on the plain latent and the quality found is
    /// refined once (kept if it still fits). Fails, naming
    /// the smallest size reachable, when even quality 0 is over the target.
    pub fn encode_to_bpp(
        &self,
        src: &SourceImage,
        target_bpp: f64,
        t: &mut Timings,
    ) -> anyhow::Result<(ImageStream, u8)> {
        anyhow::ensure!(
            target_bpp.is_finite() && target_bpp > 0.0,
            "target {target_bpp} bpp must be a positive, finite number"
        );
        let pixels = f64::from(src.width) * f64::from(src.height);
        let code = |a: &Analysis, q: u8, t: &mut Timings| -> anyhow::Result<(ImageStream, f64)> {
            let stream = self.encode_analysis(src, a, q, t)?;
            let bpp = stream.to_bytes()?.len() as f64 * 8.0 / pixels;
            Ok((stream, bpp))
        };
        // Rate grows with quality: find the largest q whose size fits. With a top band,
        // its lowest quality is tried first: that tells which band holds the answer,
        // so the search runs within one band and one analysis (one latent) is held.
        let mut found = None;
        let mut hi = 100u8;
        if let Some(first_top) = (1..=100u8).find(|&q| self.config.top_band_at(q)) {
            let a = self.analyse(src, first_top, t)?;
            let (stream, bpp) = code(&a, first_top, t)?;
            if bpp <= target_bpp {
                found = Some((a, stream, first_top));
            } else {
                hi = first_top - 1;
            }
        }
        let (analysis, mut best, mut lo) = match found {
            Some(f) => f,
            None => {
                let a = self.analyse(src, 0, t)?;
                let (stream, bpp) = code(&a, 0, t)?;
                if bpp > target_bpp {
                    bail!(
                        "the smallest stream for this image is {bpp:.4} bpp (quality 0){}, above the target of {target_bpp} bpp",
                        metadata_note(src)
                    );
                }
                (a, stream, 0)
            }
        };
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            let (stream, bpp) = code(&analysis, mid, t)?;
            if bpp <= target_bpp {
                lo = mid;
                best = stream;
            } else {
                hi = mid - 1;
            }
        }
        if self.refine > 0 {
            // Refine at the quality found; refinement usually saves bits, but keep the
            // plain stream if this one does not fit.
            let refined = self.refine(src, &analysis, lo, self.refine, t)?.0;
            let (stream, bpp) = code(&refined, lo, t)?;
            if bpp <= target_bpp {
                best = stream;
            }
        }
        Ok((best, lo))
    }

    /// Run the analysis transforms g_a and h_a on the selected backend, for coding at
    /// `quality` (which picks g_a in a model with a top band).
    pub fn analyse(
        &self,
        src: &SourceImage,
        quality: u8,
        t: &mut Timings,
    ) -> anyhow::Result<Analysis> {
        // Refuse, before any work, images the container cannot hold or that a
        // decoder with default limits would refuse.
        let max_side = Limits::default().max_dimension;
        anyhow::ensure!(
            (1..=max_side).contains(&src.width) && (1..=max_side).contains(&src.height),
            "image is {}x{}, each side must be 1..={max_side} pixels",
            src.width,
            src.height
        );
        let dims = LatentDims::new(src.width, src.height);
        let top_band = self.config.top_band_at(quality);
        let (y, z) = t.time(
            |t| &mut t.analysis_ms,
            || {
                let y = self.analysis(src, &dims, top_band);
                let z = self.hyper_analysis(&y, &dims, top_band);
                (y, z)
            },
        );
        Ok(Analysis {
            dims,
            y,
            z,
            top_band,
        })
    }

    /// z = h_a(y) on the selected backend (h_a is one for both bands; `top` picks
    /// the kernels built beside that band's g_a).
    fn hyper_analysis(&self, y: &[f32], dims: &LatentDims, top: bool) -> Vec<f32> {
        match self.cpu_analysis(top) {
            Some((_, h_a)) => h_a.forward(y, dims.yh, dims.yw),
            None => tensor_to_vec(self.model.h_a.forward(Tensor::<4>::from_data(
                TensorData::new(y.to_vec(), [1, self.config.m, dims.yh, dims.yw]),
                &self.device,
            ))),
        }
    }

    /// Refine `analysis` (of `src`) for coding at `quality` with `iterations` steps
    /// of gradient descent on y and z (see [`super::refine`]). Needs weights that
    /// record their ladder's λ values.
    pub fn refine(
        &self,
        src: &SourceImage,
        analysis: &Analysis,
        quality: u8,
        iterations: usize,
        t: &mut Timings,
    ) -> anyhow::Result<(Analysis, RefineReport)> {
        let lambda = self.refine_lambda(quality)?;
        let top_band = self.config.top_band_at(quality);
        anyhow::ensure!(
            analysis.top_band == top_band,
            "internal error: an analysis of the other band's transforms cannot be refined for quality {quality}"
        );
        let device = self.device.clone().autodiff();
        let model =
            HyperpriorModel::from_record_bytes(&self.config, self.record.to_vec(), &device)?
                .freeze(&FREEZABLE.map(String::from));
        let dims = analysis.dims;
        let (planar, pw, ph) = to_planar_padded(&src.rgb, src.width as usize, src.height as usize);
        let steps = self.entropy.steps(quality);
        let recon = self.entropy.recon_scales(quality);
        let target = Target {
            planar: &planar,
            padded: (ph, pw),
            size: (src.height as usize, src.width as usize),
            steps: &steps,
            recon: recon.as_deref(),
            lambda,
            top_band,
        };
        let start = refine::Latents {
            y: analysis.y.clone(),
            z: analysis.z.clone(),
        };
        let (refined, report) = t.time(
            |t| &mut t.refine_ms,
            || {
                let tile = self.tile.min(REFINE_TILE);
                let synthesis = self.cpu.as_ref().map(|cpu| {
                    cpu.g_s_grad[usize::from(top_band)].get_or_init(|| {
                        CpuSynthesisGrad::new(self.model.band(top_band).1, Precision::F32)
                    })
                });
                refine_latent(
                    &model, synthesis, &start, &target, iterations, tile, &device,
                )
            },
        );
        let (y, z) = (refined.y, refined.z);
        Ok((
            Analysis {
                dims,
                y,
                z,
                top_band,
            },
            report,
        ))
    }

    /// Entropy-code quantized latents of `src` (from [`EntropyModel::quantize`] on this
    /// codec's [`entropy_model`](Self::entropy_model)) into a stream.
    pub fn encode_latents(
        &self,
        src: &SourceImage,
        latents: &Latents,
        quality: u8,
        t: &mut Timings,
    ) -> anyhow::Result<ImageStream> {
        let dims = LatentDims::new(src.width, src.height);
        let coded = t.time(
            |t| &mut t.entropy_ms,
            || self.entropy.encode(latents, &dims),
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
                weights_sha256: self.weights_sha256(),
                y_channels: self.config.m as u16,
                z_channels: self.config.n as u16,
                substreams: coded.y_bits.len() as u16,
                video: None,
            },
            z_bits: coded.z_bits,
            y_bits: coded.y_bits,
            alpha,
            icc: src.icc.clone(),
            exif: src.exif.clone(),
        })
    }

    /// Check a stream was made by this model and these weights.
    pub fn check_compatible(&self, h: &Header) -> anyhow::Result<()> {
        if h.model_id != self.config.name || h.weights_sha256 != self.weights_sha256() {
            bail!(
                "stream was made with model {:?} (weights sha256 {}), but the loaded weights are {:?} ({}); pass the matching --weights",
                h.model_id,
                hex(&h.weights_sha256),
                self.config.name,
                hex(&self.weights_sha256())
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

    /// Decode the integer latents only (no neural network): ẑ, the parameters, then
    /// the ŷ symbols — neco-core's [`EntropyModel::decode`], step by step for timing.
    pub fn decode_latents(&self, s: &ImageStream, t: &mut Timings) -> anyhow::Result<Latents> {
        self.decode_latents_given(s, None, t)
    }

    /// [`decode_latents`](Self::decode_latents) of a frame coded with the temporal
    /// prior from the previous frame's ŷ (`prev_y_hat`), or intra when `None`.
    pub fn decode_latents_given(
        &self,
        s: &ImageStream,
        prev_y_hat: Option<&[f32]>,
        t: &mut Timings,
    ) -> anyhow::Result<Latents> {
        self.check_compatible(&s.header)?;
        let d = LatentDims::new(s.header.width, s.header.height);
        let z_hat = t.time(
            |t| &mut t.entropy_ms,
            || self.entropy.decode_z(&s.z_bits, &d),
        )?;
        let steps = self.entropy.steps(s.header.quality);
        let params = t.time(
            |t| &mut t.params_ms,
            || self.entropy.params_at(&z_hat, &d, &steps, prev_y_hat),
        )?;
        let symbols = t.time(
            |t| &mut t.entropy_ms,
            || self.entropy.decode_y(&s.y_bits, &params),
        )?;
        let mut params = params;
        t.time(
            |t| &mut t.params_ms,
            || self.entropy.condition(&mut params, &symbols, &steps),
        )?;
        Ok(Latents {
            z_hat,
            symbols,
            params,
            steps,
        })
    }

    /// Decode a parsed stream to pixels.
    pub fn decode(&self, s: &ImageStream, t: &mut Timings) -> anyhow::Result<DecodedImage> {
        let latents = self.decode_latents(s, t)?;
        self.render(s, &latents, t)
    }

    /// The pixels of decoded latents: synthesis, plus the alpha and gray handling of
    /// the stream `s` they came from.
    pub fn render(
        &self,
        s: &ImageStream,
        latents: &Latents,
        t: &mut Timings,
    ) -> anyhow::Result<DecodedImage> {
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
        // Tile by tile from the integer latents: the whole float ŷ is 4 bytes per
        // element, as much again as the symbols.
        let scales = self.entropy.recon_scales(h.quality);
        let window = |rows, cols| latents.y_hat_window(scales.as_deref(), d.yw, rows, cols);
        let mut rgb = t.time(
            |t| &mut t.synthesis_ms,
            || {
                let top = self.config.top_band_at(h.quality);
                self.synthesis(window, &d, (h.width, h.height), top)
            },
        );
        let gray = h.pixel_format == PixelFormat::Gray8;
        if gray {
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
            gray,
            alpha,
            icc: s.icc.clone(),
            exif: s.exif.clone(),
        })
    }
}

/// What of a stream's size the source's metadata makes, for the error of a rate
/// target below quality 0.
fn metadata_note(src: &SourceImage) -> String {
    let icc = src.icc.as_ref().map_or(0, Vec::len);
    let exif = src.exif.as_ref().map_or(0, Vec::len);
    match (icc, exif) {
        (0, 0) => String::new(),
        (0, _) => {
            format!(" ({exif} bytes of it are the source's Exif block: --strip-exif leaves it out)")
        }
        (_, 0) => format!(" ({icc} bytes of it are the source's ICC colour profile)"),
        _ => format!(
            " ({icc} bytes of it are the source's ICC colour profile, {exif} its Exif \
             block: --strip-exif leaves that out)"
        ),
    }
}
