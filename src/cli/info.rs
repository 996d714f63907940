//! `neco info`: what a .neco file (or a .nwt weights file) holds.

use std::path::PathBuf;

use clap::Args;
use neco_core::container::{ImageStream, PixelFormat};

use super::common::{open_stream, LimitArgs, ReadSeek, StreamInput};
use crate::model::released::Provenance;
use crate::model::weights::WeightsFile;
use anyhow::Context;
use neco_core::container::video::{FrameMode, VideoStreamReader};
use neco_core::hex;

/// Arguments of `neco info`.
#[derive(Debug, Args)]
pub struct InfoCmd {
    /// The .neco file (or a .nwt weights file); `-` reads standard input.
    input: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

impl InfoCmd {
    /// Run the command.
    pub fn run(&self) -> anyhow::Result<()> {
        let data = match open_stream(&self.input, self.limits.max_input_bytes)? {
            StreamInput::Video(src, size) => return self.run_video(src, size),
            StreamInput::Bytes(data) => data,
        };
        if data.starts_with(neco_core::weights::MAGIC) {
            return self.run_weights(&data);
        }
        let s = ImageStream::from_bytes(&data, &self.limits.limits())
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.input.display()))?;
        let h = &s.header;
        let bpp = data.len() as f64 * 8.0 / (h.width as f64 * h.height as f64);
        let source = match h.pixel_format {
            PixelFormat::Rgb8 => "RGB 8-bit",
            PixelFormat::Gray8 => "grayscale 8-bit (coded as RGB)",
            PixelFormat::Rgba8 => "RGBA 8-bit (alpha coded losslessly)",
        };
        let y_bytes: usize = s.y_bits.iter().map(Vec::len).sum();
        let alpha_bytes = s.alpha.as_ref().map_or(0, Vec::len);
        let icc_bytes = s.icc.as_ref().map_or(0, Vec::len);
        let exif_bytes = s.exif.as_ref().map_or(0, Vec::len);
        // Hashes the built-in weights: once per command.
        let provenance = Provenance::of(&h.weights_sha256);
        let info = serde_json::json!({
            "file": self.input,
            "kind": "image",
            "width": h.width,
            "height": h.height,
            "source": source,
            "quality": h.quality,
            "model": h.model_id,
            "weights_sha256": hex(&h.weights_sha256),
            "weights": provenance.tag(),
            "bytes": data.len(),
            "bpp": bpp,
            "z_bytes": s.z_bits.len(),
            "y_bytes": y_bytes,
            "y_substreams": h.substreams,
            "alpha_bytes": alpha_bytes,
            "icc_bytes": icc_bytes,
            "exif_bytes": exif_bytes,
        });
        if self.json {
            println!("{}", serde_json::to_string_pretty(&info)?);
            return Ok(());
        }
        println!("file:      {}", self.input.display());
        println!("kind:      image, {}x{}, {}", h.width, h.height, source);
        println!("quality:   {}", h.quality);
        println!(
            "model:     {} (weights sha256 {})",
            h.model_id,
            hex(&h.weights_sha256)
        );
        println!("weights:   {provenance}");
        println!("size:      {} bytes, {bpp:.4} bpp", data.len());
        println!(
            "chunks:    z {} bytes, y {} bytes in {} substreams, alpha {} bytes, ICC profile {} bytes, Exif {} bytes",
            s.z_bits.len(),
            y_bytes,
            h.substreams,
            alpha_bytes,
            icc_bytes,
            exif_bytes
        );
        Ok(())
    }

    /// A weights file (`.nwt`): the model it holds and where it comes from.
    fn run_weights(&self, data: &[u8]) -> anyhow::Result<()> {
        let w = WeightsFile::parse(data)
            .with_context(|| format!("{}: a damaged weights file", self.input.display()))?;
        let c = &w.config;
        let provenance = match Provenance::of(&w.sha256) {
            Provenance::BuiltIn => "built into this neco (its default)",
            Provenance::Earlier(_) => "an earlier default of neco",
            Provenance::Other => "not one of neco's defaults",
        };
        let rate = if c.top_band > 0 {
            let from = (0..=100u8).find(|&q| c.top_band_at(q)).unwrap_or(100);
            format!(
                "variable rate, {} rungs, transforms of their own from rung {} (q >= {from})",
                c.rungs, c.top_band
            )
        } else if c.rungs > 0 {
            format!("variable rate, {} rungs", c.rungs)
        } else {
            "fixed rate".to_owned()
        };
        let entropy = if c.group > 1 {
            format!("multivariate Gaussian, groups of {}", c.group)
        } else {
            "mean-scale Gaussian".to_owned()
        };
        if self.json {
            let info = serde_json::json!({
                "file": self.input, "kind": "weights", "model": c.name,
                "n": c.n, "m": c.m, "synthesis_width": c.synthesis_width(),
                "analysis_width": c.analysis_width(), "hyper_width": c.hyper_width(),
                "group": c.group, "rungs": c.rungs, "top_band": c.top_band,
                "ladder_lambdas": c.ladder_lambdas,
                "params_f16": c.params_f16, "temporal_prior": w.temporal.is_some(),
                "sha256": hex(&w.sha256), "weights": Provenance::of(&w.sha256).tag(),
                "bytes": data.len(),
            });
            println!("{}", serde_json::to_string_pretty(&info)?);
            return Ok(());
        }
        println!("file:      {}", self.input.display());
        println!("kind:      weights (.nwt), model {}", c.name);
        println!(
            "model:     z {} channels, y {}, g_a {} hidden, g_s {} hidden, h_s {}; {entropy}, {rate}",
            c.n,
            c.m,
            c.analysis_width(),
            c.synthesis_width(),
            c.hyper_width()
        );
        println!(
            "video:     {}",
            if w.temporal.is_some() {
                "a temporal prior"
            } else {
                "no temporal prior (frames are coded intra)"
            }
        );
        println!("sha256:    {}", hex(&w.sha256));
        println!("weights:   {provenance}");
        println!(
            "size:      {} bytes, parameters {}",
            data.len(),
            if c.params_f16 { "f16" } else { "f32" }
        );
        Ok(())
    }

    /// A video stream: frames, rate, groups, sizes.
    fn run_video(&self, src: Box<dyn ReadSeek>, bytes: u64) -> anyhow::Result<()> {
        anyhow::ensure!(
            bytes <= self.limits.max_input_bytes,
            "{} is {bytes} bytes, over the limit of {} (--max-input-bytes)",
            self.input.display(),
            self.limits.max_input_bytes
        );
        let mut r = VideoStreamReader::open(std::io::BufReader::new(src), &self.limits.limits())
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.input.display()))?;
        // Each frame's mode (I = intra, T = temporal prior), or why its group is unreadable.
        let modes: Vec<Result<String, String>> = (0..r.groups().len())
            .map(|i| {
                r.read_group(i)
                    .map(|frames| {
                        frames
                            .iter()
                            .map(|f| match f.mode {
                                FrameMode::Intra => 'I',
                                FrameMode::Temporal => 'T',
                            })
                            .collect()
                    })
                    .map_err(|e| e.to_string())
            })
            .collect();
        let count = |c: char| -> usize {
            modes
                .iter()
                .flatten()
                .map(|m| m.chars().filter(|&x| x == c).count())
                .sum()
        };
        let (intra, temporal) = (count('I'), count('T'));
        let damaged = modes.iter().filter(|m| m.is_err()).count();
        let h = r.header();
        let v = h.video.expect("a video header has video fields");
        let frames = r.frames();
        let per_frame = bytes as f64 / frames as f64;
        let bpp = per_frame * 8.0 / (f64::from(h.width) * f64::from(h.height));
        let provenance = Provenance::of(&h.weights_sha256);
        if self.json {
            // Written as it is serialized (no tree of values, no whole string): an
            // index of a million groups costs about a hundred bytes a group.
            let info = VideoInfoJson {
                bpp,
                bytes,
                bytes_per_frame: per_frame,
                damaged_groups: damaged,
                file: &self.input,
                fps: format!("{}/{}", v.fps_num, v.fps_den),
                frames,
                gop: v.gop,
                groups: r
                    .groups()
                    .iter()
                    .zip(&modes)
                    .map(|(g, m)| GroupJson {
                        error: m.as_ref().err().map(String::as_str),
                        first_frame: g.first_frame,
                        frames: g.frames,
                        modes: m.as_ref().ok().map(String::as_str),
                        offset: g.offset,
                    })
                    .collect(),
                height: h.height,
                intra_frames: intra,
                kind: "video",
                model: &h.model_id,
                quality: h.quality,
                recovery: r.recovery().map(|r| RecoveryJson {
                    found_groups: r.found_groups,
                    ignored_groups: r.ignored_groups,
                    known_frames: r.known_frames,
                    missing_frames: r.missing_frames,
                    reason: &r.reason,
                }),
                temporal_frames: temporal,
                weights: provenance.tag(),
                weights_sha256: hex(&h.weights_sha256),
                width: h.width,
            };
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            serde_json::to_writer_pretty(&mut out, &info)?;
            use std::io::Write;
            writeln!(out)?;
            out.flush()?;
            return Ok(());
        }
        println!("file:      {}", self.input.display());
        println!(
            "kind:      video, {}x{}, {frames} frames at {} fps",
            h.width,
            h.height,
            crate::io::frames::Fps::new(v.fps_num, v.fps_den)?
        );
        println!(
            "groups:    {} of up to {} frame{}, each decodable on its own",
            r.groups().len(),
            v.gop,
            if v.gop == 1 { "" } else { "s" }
        );
        println!("frames:    {intra} intra, {temporal} with the temporal prior");
        if let Some(rec) = r.recovery() {
            println!("index:     {}", super::video::describe_recovery(rec));
        }
        // Damaged groups, a run of groups with the same error (a scan's missing
        // groups) on one line.
        let mut i = 0;
        while i < modes.len() {
            let Err(e) = &modes[i] else {
                i += 1;
                continue;
            };
            let run = modes[i..]
                .iter()
                .take_while(|m| m.as_ref().err() == Some(e))
                .count();
            match run {
                1 => println!("           group {i} is damaged: {e}"),
                n => println!("           groups {i}..{} are damaged: {e}", i + n),
            }
            i += run;
        }
        println!("quality:   {}", h.quality);
        println!(
            "model:     {} (weights sha256 {})",
            h.model_id,
            hex(&h.weights_sha256)
        );
        println!("weights:   {provenance}");
        println!("size:      {bytes} bytes, {per_frame:.0} bytes per frame, {bpp:.4} bpp");
        Ok(())
    }
}

/// `neco info --json` of a video stream (keys in alphabetical order, as the image
/// report's).
#[derive(serde::Serialize)]
struct VideoInfoJson<'a> {
    bpp: f64,
    bytes: u64,
    bytes_per_frame: f64,
    damaged_groups: usize,
    file: &'a std::path::Path,
    fps: String,
    frames: u64,
    gop: u16,
    groups: Vec<GroupJson<'a>>,
    height: u32,
    intra_frames: usize,
    kind: &'static str,
    model: &'a str,
    quality: u8,
    recovery: Option<RecoveryJson<'a>>,
    temporal_frames: usize,
    weights: &'static str,
    weights_sha256: String,
    width: u32,
}

/// One group of [`VideoInfoJson`]: its frames' modes, or why it is unreadable.
#[derive(serde::Serialize)]
struct GroupJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    first_frame: u32,
    frames: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    modes: Option<&'a str>,
    offset: u64,
}

/// What a scan found when the index was unusable ([`neco_core::container::video::Recovery`]).
#[derive(serde::Serialize)]
struct RecoveryJson<'a> {
    found_groups: usize,
    ignored_groups: usize,
    known_frames: u64,
    missing_frames: u64,
    reason: &'a str,
}
