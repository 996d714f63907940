//! Rate–distortion on video clips, per clip: neco (its video pipeline: intra frame
//! groups) and HEVC (libx265 with its default random-access GOP).
//!
//! Rate is bits per pixel per frame (the whole stream's bits / (width · height ·
//! frames)); quality is the PSNR on 8-bit RGB of each frame, averaged over the clip.

use std::io::Cursor;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use super::bd::{self, RdSample};
use super::metrics::psnr_rgb8;
use crate::codec::video::{decode_video, encode_video};
use crate::codec::{Codec, Timings};
use crate::io::datasets::list_frames;
use crate::io::frames::{Fps, FrameSink, FrameSource};
use crate::io::image_io::read_source;
use neco_core::container::video::VideoStreamReader;
use neco_core::Limits;

/// One clip, all frames in memory (RGB).
pub struct Clip {
    /// Folder name.
    pub name: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames, interleaved RGB.
    pub frames: Vec<Vec<u8>>,
}

impl Clip {
    /// Loads the images of `dir` in frame order ([`list_frames`]) (at most `max_frames`); all must share
    /// the first one's size.
    pub fn load(dir: &Path, max_frames: Option<usize>, limits: &Limits) -> anyhow::Result<Self> {
        let mut paths = list_frames(dir)?;
        if let Some(n) = max_frames {
            paths.truncate(n);
        }
        anyhow::ensure!(
            paths.len() as u64 <= limits.max_frames,
            "{} has {} frames, over the limit of {}",
            dir.display(),
            paths.len(),
            limits.max_frames
        );
        let mut frames = Vec::with_capacity(paths.len());
        let mut size = None;
        for p in &paths {
            let img = read_source(p, limits)?;
            let s = *size.get_or_insert((img.width, img.height));
            anyhow::ensure!(
                (img.width, img.height) == s,
                "{} is {}x{}, the clip's first frame is {}x{}",
                p.display(),
                img.width,
                img.height,
                s.0,
                s.1
            );
            frames.push(img.rgb);
        }
        let (width, height) = size.context("a clip without frames")?;
        Ok(Clip {
            name: dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            width,
            height,
            frames,
        })
    }

    fn pixels(&self) -> f64 {
        f64::from(self.width) * f64::from(self.height) * self.frames.len() as f64
    }

    fn mean_psnr(&self, decoded: &[Vec<u8>]) -> f64 {
        let sum: f64 = self
            .frames
            .iter()
            .zip(decoded)
            .map(|(a, b)| psnr_rgb8(a, b).min(100.0))
            .sum();
        sum / self.frames.len() as f64
    }
}

/// One codec setting measured on one clip.
#[derive(Debug, Clone, Serialize)]
pub struct ClipPoint {
    /// Clip name.
    pub clip: String,
    /// Codec name (`neco`, `hevc`).
    pub codec: String,
    /// Quality (neco) or QP (HEVC).
    pub setting: u32,
    /// Bits per pixel per frame.
    pub bpp: f64,
    /// Mean RGB PSNR over the frames, dB.
    pub psnr: f64,
    /// Encode time for the clip, ms.
    pub encode_ms: f64,
    /// Decode time for the clip, ms.
    pub decode_ms: f64,
}

struct MemorySource<'a> {
    clip: &'a Clip,
    next: usize,
}

impl FrameSource for MemorySource<'_> {
    fn size(&self) -> (u32, u32) {
        (self.clip.width, self.clip.height)
    }

    fn fps(&self) -> Fps {
        Fps { num: 25, den: 1 }
    }

    fn next_frame(&mut self) -> anyhow::Result<Option<Vec<u8>>> {
        self.next += 1;
        Ok(self.clip.frames.get(self.next - 1).cloned())
    }
}

struct MemorySink(Vec<Vec<u8>>);

impl FrameSink for MemorySink {
    fn write_frame(&mut self, rgb: &[u8]) -> anyhow::Result<()> {
        self.0.push(rgb.to_vec());
        Ok(())
    }

    fn finish(self: Box<Self>) -> anyhow::Result<()> {
        Ok(())
    }
}

/// neco's video pipeline on `clip` at `quality`, groups of `gop` frames, with the
/// temporal prior (codec "neco") or intra-only ("neco-intra").
pub fn measure_neco(
    codec: &Codec,
    clip: &Clip,
    quality: u8,
    gop: u16,
    temporal: bool,
    limits: &Limits,
) -> anyhow::Result<ClipPoint> {
    let start = std::time::Instant::now();
    let mut t = Timings::default();
    let mut src = MemorySource { clip, next: 0 };
    let (bytes, _) = encode_video(
        codec,
        &mut src,
        Vec::new(),
        quality,
        gop,
        temporal,
        &mut t,
        |_| {},
    )?;
    let encode_ms = start.elapsed().as_secs_f64() * 1e3;
    let start = std::time::Instant::now();
    let mut reader = VideoStreamReader::open(Cursor::new(&bytes), limits)?;
    let mut sink = MemorySink(Vec::new());
    let n = reader.frames();
    let lost = decode_video(codec, &mut reader, 0..n, &mut sink, &mut t, |_| {})?;
    anyhow::ensure!(
        lost.is_empty(),
        "frames lost decoding our own stream: {lost:?}"
    );
    Ok(ClipPoint {
        clip: clip.name.clone(),
        codec: if temporal { "neco" } else { "neco-intra" }.into(),
        setting: u32::from(quality),
        bpp: bytes.len() as f64 * 8.0 / clip.pixels(),
        psnr: clip.mean_psnr(&sink.0),
        encode_ms,
        decode_ms: start.elapsed().as_secs_f64() * 1e3,
    })
}

/// libx265 on `clip` at a fixed `qp`.
#[cfg(feature = "ffmpeg")]
pub fn measure_hevc(
    clip: &Clip,
    qp: u8,
    settings: &super::anchors::hevc::HevcSettings,
) -> anyhow::Result<ClipPoint> {
    use super::anchors::hevc;
    measure_packets(
        clip,
        ("hevc", u32::from(qp)),
        || hevc::encode_sequence(&clip.frames, clip.width, clip.height, qp, settings),
        |p| hevc::decode_sequence(p, clip.width, clip.height, settings.chroma),
    )
}

/// libaom (AV1) on `clip` at a fixed `crf` with `cpu-used` `speed`.
#[cfg(feature = "ffmpeg")]
pub fn measure_av1(clip: &Clip, crf: u8, speed: u8) -> anyhow::Result<ClipPoint> {
    use super::anchors::av1;
    let size = (clip.width, clip.height);
    measure_packets(
        clip,
        ("av1", u32::from(crf)),
        || av1::encode_sequence(&clip.frames, size, crf, speed),
        |p| av1::decode_sequence(p, size),
    )
}

/// One RD point of a classical video codec on `clip`: `encode` gives the packets
/// (their bytes are the rate), `decode` the frames back.
#[cfg(feature = "ffmpeg")]
fn measure_packets(
    clip: &Clip,
    (codec, setting): (&str, u32),
    encode: impl FnOnce() -> anyhow::Result<Vec<Vec<u8>>>,
    decode: impl FnOnce(&[Vec<u8>]) -> anyhow::Result<Vec<Vec<u8>>>,
) -> anyhow::Result<ClipPoint> {
    let start = std::time::Instant::now();
    let packets = encode()?;
    let encode_ms = start.elapsed().as_secs_f64() * 1e3;
    let start = std::time::Instant::now();
    let decoded = decode(&packets)?;
    anyhow::ensure!(
        decoded.len() == clip.frames.len(),
        "{codec} returned {} of {} frames",
        decoded.len(),
        clip.frames.len()
    );
    let bytes: usize = packets.iter().map(Vec::len).sum();
    Ok(ClipPoint {
        clip: clip.name.clone(),
        codec: codec.into(),
        setting,
        bpp: bytes as f64 * 8.0 / clip.pixels(),
        psnr: clip.mean_psnr(&decoded),
        encode_ms,
        decode_ms: start.elapsed().as_secs_f64() * 1e3,
    })
}

/// BD-rate (percent), BD-PSNR (dB) and the PSNR range both curves cover, of `test`
/// against `anchor` on one clip's points.
pub fn clip_bd(
    points: &[ClipPoint],
    clip: &str,
    anchor: &str,
    test: &str,
) -> Result<(f64, f64, [f64; 2]), bd::BdError> {
    let curve = |codec: &str| -> Vec<RdSample> {
        points
            .iter()
            .filter(|p| p.clip == clip && p.codec == codec)
            .map(|p| RdSample {
                bpp: p.bpp,
                quality: p.psnr,
            })
            .collect()
    };
    let (a, t) = (curve(anchor), curve(test));
    let (rate, range) = bd::bd_rate(&a, &t)?;
    let quality = bd::bd_quality(&a, &t)?.0;
    Ok((rate, quality, range))
}
