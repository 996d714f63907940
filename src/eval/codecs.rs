//! The codecs an RD run measures, behind one interface: neco itself, JPEG, HEVC, AVIF,
//! JPEG XL and WebP.

use std::ops::RangeInclusive;
use std::sync::Mutex;

#[cfg(feature = "ffmpeg")]
use anyhow::Context;
use neco_core::container::ImageStream;
use neco_core::Limits;

use super::anchors::jpeg;
#[cfg(feature = "ffmpeg")]
use super::anchors::ycbcr::Chroma;
use crate::codec::{Codec, Timings};
use crate::io::image_io::{SourceImage, SourceKind};

/// An 8-bit RGB image under test.
pub struct RgbImage {
    /// File name (for reports).
    pub name: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Interleaved RGB.
    pub rgb: Vec<u8>,
}

/// A codec with a ladder of quality settings.
pub trait RdCodec: Send + Sync {
    /// Short name used in files and `--against` (`neco`, `jpeg`, `hevc`, `hevc420`).
    fn name(&self) -> &str;
    /// What the curve shows, for legends and reports.
    fn label(&self) -> String;
    /// The settings to measure, in the codec's own unit (q, or QP for HEVC).
    fn settings(&self) -> &[u32];
    /// Encode to the bytes that count towards the rate.
    fn encode(&self, img: &RgbImage, setting: u32) -> anyhow::Result<Vec<u8>>;
    /// Decode back to interleaved RGB of the image's size.
    fn decode(&self, bytes: &[u8], img: &RgbImage, setting: u32) -> anyhow::Result<Vec<u8>>;
    /// Time per neco pipeline stage summed over all calls, when the codec keeps it.
    fn stage_timings(&self) -> Option<Timings> {
        None
    }
}

/// Settings must lie in `range` and appear once each (a repeated one would be
/// averaged into one point twice).
fn check_settings(what: &str, settings: &[u32], range: RangeInclusive<u32>) -> anyhow::Result<()> {
    if let Some(s) = settings.iter().find(|s| !range.contains(s)) {
        anyhow::bail!(
            "{what} {s} is out of range {}..={}",
            range.start(),
            range.end()
        );
    }
    for (i, s) in settings.iter().enumerate() {
        if settings[..i].contains(s) {
            anyhow::bail!("{what} {s} is listed twice");
        }
    }
    Ok(())
}

/// neco with loaded weights; the rate is the whole .neco file.
pub struct NecoCodec {
    codec: Codec,
    limits: Limits,
    qualities: Vec<u32>,
    label: String,
    timings: Mutex<Timings>,
}

impl NecoCodec {
    /// Measure `codec` at each of `qualities` (0..=100); streams are parsed with `limits`.
    pub fn new(codec: Codec, qualities: Vec<u32>, limits: Limits) -> anyhow::Result<Self> {
        check_settings("neco quality", &qualities, 0..=100)?;
        let label = match codec.refine_iterations() {
            0 => format!("neco ({})", codec.config().name),
            n => format!("neco ({}, refine {n})", codec.config().name),
        };
        Ok(NecoCodec {
            codec,
            limits,
            qualities,
            label,
            timings: Mutex::default(),
        })
    }

    fn add_timings(&self, t: &Timings) {
        let mut total = self.timings.lock().unwrap_or_else(|e| e.into_inner());
        total.analysis_ms += t.analysis_ms;
        total.refine_ms += t.refine_ms;
        total.params_ms += t.params_ms;
        total.entropy_ms += t.entropy_ms;
        total.synthesis_ms += t.synthesis_ms;
    }
}

impl RdCodec for NecoCodec {
    fn name(&self) -> &str {
        "neco"
    }
    fn label(&self) -> String {
        self.label.clone()
    }
    fn settings(&self) -> &[u32] {
        &self.qualities
    }
    fn encode(&self, img: &RgbImage, q: u32) -> anyhow::Result<Vec<u8>> {
        let src = SourceImage {
            width: img.width,
            height: img.height,
            rgb: img.rgb.clone(),
            alpha: None,
            icc: None,
            exif: None,
            kind: SourceKind::Rgb,
            warnings: Vec::new(),
        };
        let mut t = Timings::default();
        let stream = self.codec.encode(&src, q as u8, &mut t)?;
        self.add_timings(&t);
        Ok(stream.to_bytes()?)
    }
    fn decode(&self, bytes: &[u8], _img: &RgbImage, _q: u32) -> anyhow::Result<Vec<u8>> {
        let stream = ImageStream::from_bytes(bytes, &self.limits)?;
        let mut t = Timings::default();
        let out = self.codec.decode(&stream, &mut t)?;
        self.add_timings(&t);
        Ok(out.rgb)
    }
    fn stage_timings(&self) -> Option<Timings> {
        Some(
            self.timings
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

/// Baseline JPEG, 4:2:0 (see [`jpeg`]); the rate is the whole .jpg file.
pub struct JpegCodec {
    qualities: Vec<u32>,
}

impl JpegCodec {
    /// Measure JPEG at each of `qualities` (1..=100).
    pub fn new(qualities: Vec<u32>) -> anyhow::Result<Self> {
        check_settings("JPEG quality", &qualities, 1..=100)?;
        Ok(JpegCodec { qualities })
    }
}

impl RdCodec for JpegCodec {
    fn name(&self) -> &str {
        "jpeg"
    }
    fn label(&self) -> String {
        "JPEG (4:2:0, jpeg-encoder)".into()
    }
    fn settings(&self) -> &[u32] {
        &self.qualities
    }
    fn encode(&self, img: &RgbImage, q: u32) -> anyhow::Result<Vec<u8>> {
        jpeg::encode(&img.rgb, img.width, img.height, q as u8)
    }
    fn decode(&self, bytes: &[u8], img: &RgbImage, _q: u32) -> anyhow::Result<Vec<u8>> {
        jpeg::decode(bytes, img.width, img.height)
    }
}

/// HEVC intra through FFmpeg's libx265; the rate is the raw HEVC bitstream.
#[cfg(feature = "ffmpeg")]
pub struct HevcCodec {
    settings: super::anchors::hevc::HevcSettings,
    qps: Vec<u32>,
}

#[cfg(feature = "ffmpeg")]
impl HevcCodec {
    /// Measure x265 at each QP in `qps` (0..=51) with `preset` and optional `tune`.
    /// Fails now if FFmpeg lacks libx265.
    pub fn new(
        chroma: Chroma,
        preset: &str,
        tune: Option<&str>,
        qps: Vec<u32>,
    ) -> anyhow::Result<Self> {
        check_settings("HEVC QP", &qps, 0..=51)?;
        super::anchors::hevc::check_available()?;
        Ok(HevcCodec {
            settings: super::anchors::hevc::HevcSettings {
                chroma,
                preset: preset.to_string(),
                tune: tune.map(str::to_string),
            },
            qps,
        })
    }
}

#[cfg(feature = "ffmpeg")]
impl RdCodec for HevcCodec {
    fn name(&self) -> &str {
        match self.settings.chroma {
            Chroma::Yuv444 => "hevc",
            Chroma::Yuv420 => "hevc420",
        }
    }
    fn label(&self) -> String {
        let chroma = match self.settings.chroma {
            Chroma::Yuv444 => "4:4:4",
            Chroma::Yuv420 => "4:2:0",
        };
        let tune = self
            .settings
            .tune
            .as_deref()
            .map_or(String::new(), |t| format!(" tune {t}"));
        format!("HEVC intra (x265 {}{tune}, {chroma})", self.settings.preset)
    }
    fn settings(&self) -> &[u32] {
        &self.qps
    }
    fn encode(&self, img: &RgbImage, qp: u32) -> anyhow::Result<Vec<u8>> {
        super::anchors::hevc::encode(&img.rgb, img.width, img.height, qp as u8, &self.settings)
            .with_context(|| format!("HEVC QP {qp} on {}", img.name))
    }
    fn decode(&self, bytes: &[u8], img: &RgbImage, _qp: u32) -> anyhow::Result<Vec<u8>> {
        super::anchors::hevc::decode(bytes, img.width, img.height, self.settings.chroma)
    }
}

/// AVIF, JPEG XL or WebP through FFmpeg (see [`super::anchors::still`]); the rate is
/// the whole file.
#[cfg(feature = "ffmpeg")]
pub struct StillCodec {
    format: super::anchors::still::Format,
    settings: super::anchors::still::StillSettings,
    ladder: Vec<u32>,
}

#[cfg(feature = "ffmpeg")]
impl StillCodec {
    /// Measure `format` at each setting of `ladder` (CRF, distance in hundredths or
    /// quality; see [`super::anchors::still::encode`]). Fails now if FFmpeg lacks
    /// what the format needs.
    pub fn new(
        format: super::anchors::still::Format,
        settings: super::anchors::still::StillSettings,
        ladder: Vec<u32>,
    ) -> anyhow::Result<Self> {
        use super::anchors::still::Format;
        let (what, range) = match format {
            Format::Avif => ("AVIF CRF", 0..=63),
            Format::Jxl => ("JPEG XL distance (hundredths)", 1..=1500),
            Format::Webp => ("WebP quality", 0..=100),
        };
        check_settings(what, &ladder, range)?;
        super::anchors::still::check_available(format)?;
        Ok(StillCodec {
            format,
            settings,
            ladder,
        })
    }
}

#[cfg(feature = "ffmpeg")]
impl RdCodec for StillCodec {
    fn name(&self) -> &str {
        use super::anchors::still::Format;
        match self.format {
            Format::Avif => "avif",
            Format::Jxl => "jxl",
            Format::Webp => "webp",
        }
    }
    fn label(&self) -> String {
        use super::anchors::still::Format;
        let s = &self.settings;
        match self.format {
            Format::Avif => format!(
                "AVIF (libaom allintra, cpu-used {}, tune psnr, 4:4:4)",
                s.avif_speed
            ),
            Format::Jxl => format!("JPEG XL (libjxl VarDCT, effort {})", s.jxl_effort),
            Format::Webp => format!("WebP (libwebp lossy, method {})", s.webp_method),
        }
    }
    fn settings(&self) -> &[u32] {
        &self.ladder
    }
    fn encode(&self, img: &RgbImage, setting: u32) -> anyhow::Result<Vec<u8>> {
        super::anchors::still::encode(
            self.format,
            &img.rgb,
            (img.width, img.height),
            setting,
            &self.settings,
        )
        .with_context(|| format!("{} {setting} on {}", self.name(), img.name))
    }
    fn decode(&self, bytes: &[u8], img: &RgbImage, _setting: u32) -> anyhow::Result<Vec<u8>> {
        super::anchors::still::decode(self.format, bytes, (img.width, img.height))
    }
}

/// Settings of the anchors, as the command line gives them.
#[derive(Debug, Clone)]
pub struct AnchorOptions {
    /// JPEG qualities.
    pub jpeg_qualities: Vec<u32>,
    /// HEVC QPs.
    pub hevc_qps: Vec<u32>,
    /// x265 preset.
    pub hevc_preset: String,
    /// x265 tune.
    pub hevc_tune: Option<String>,
    /// AVIF (libaom) CRFs.
    pub avif_crfs: Vec<u32>,
    /// libaom `cpu-used`.
    pub avif_speed: u8,
    /// JPEG XL distances, in hundredths.
    pub jxl_distances: Vec<u32>,
    /// libjxl effort.
    pub jxl_effort: u8,
    /// WebP qualities.
    pub webp_qualities: Vec<u32>,
    /// libwebp method.
    pub webp_method: u8,
}

/// Every anchor, in the order `--against all` measures them.
pub const ANCHORS: [&str; 6] = ["jpeg", "hevc", "hevc420", "avif", "jxl", "webp"];

/// Whether `name` is one of the HEVC anchors (`hevc`, `hevc420`).
pub fn is_hevc_anchor(name: &str) -> bool {
    matches!(name, "hevc" | "hevc420")
}

/// Whether the anchor `name` runs through FFmpeg (all but `jpeg`; `av1` is the video
/// data sets' AV1 anchor).
pub fn needs_ffmpeg(name: &str) -> bool {
    is_hevc_anchor(name) || matches!(name, "avif" | "jxl" | "webp" | "av1")
}

/// Build the anchor named `name` (one of [`ANCHORS`]).
pub fn anchor(name: &str, opts: &AnchorOptions) -> anyhow::Result<Box<dyn RdCodec>> {
    match name {
        "jpeg" => Ok(Box::new(JpegCodec::new(opts.jpeg_qualities.clone())?)),
        n if is_hevc_anchor(n) => hevc_anchor(n == "hevc420", opts),
        "av1" => anyhow::bail!(
            "av1 is the anchor of video data sets; images are compared with avif (one AV1 \
             intra picture in an AVIF file)"
        ),
        n if needs_ffmpeg(n) => (crate::ffmpeg_helper::require()?.still_anchor)(n, opts),
        other => anyhow::bail!(
            "unknown anchor {other:?} (known: {}, or all)",
            ANCHORS.join(", ")
        ),
    }
}

/// libx265 through FFmpeg, which `neco` loads only in its helper binary
/// ([`crate::ffmpeg_helper`]).
fn hevc_anchor(yuv420: bool, opts: &AnchorOptions) -> anyhow::Result<Box<dyn RdCodec>> {
    (crate::ffmpeg_helper::require()?.hevc_anchor)(yuv420, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_must_be_in_range_and_distinct() {
        assert!(JpegCodec::new(vec![10, 50]).is_ok());
        let err = JpegCodec::new(vec![10, 50, 10]).err().unwrap().to_string();
        assert_eq!(err, "JPEG quality 10 is listed twice");
        let err = JpegCodec::new(vec![0]).err().unwrap().to_string();
        assert_eq!(err, "JPEG quality 0 is out of range 1..=100");
    }
}
