//! `neco encode`: image, video or image sequence → .neco.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::common::{check_output, print_json, write_output, LimitArgs, ModelArgs};
use super::video;
use crate::codec::video::encode_video;
use crate::codec::Timings;
use crate::io::image_io::read_source;

/// Arguments of `neco encode`.
#[derive(Debug, Args)]
pub struct EncodeCmd {
    /// Input image (PNG, JPEG, PPM, WebP, TIFF, BMP; `-` reads standard input), video file (.mp4,
    /// .mkv, … through FFmpeg) or image sequence (`frames/%04d.png`).
    input: PathBuf,
    /// Output .neco file; `-` writes standard output.
    #[arg(short, long)]
    output: PathBuf,
    /// Quality 0..=100 (50 is the rate the weights were trained for).
    #[arg(short, long, default_value_t = 50, value_parser = clap::value_parser!(u8).range(0..=100))]
    quality: u8,
    /// Instead of a quality: the largest size wanted, in bits per pixel; neco picks
    /// the highest quality whose file is at most this.
    #[arg(long, conflicts_with = "quality")]
    bpp: Option<f64>,
    /// Images: refine the latent with this many steps of gradient descent on the
    /// rate–distortion loss before coding it (slower encoding, a smaller file at equal
    /// quality; decoding is unchanged). 20 is a good start; 0: off.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=1000))]
    refine: u16,
    /// Overwrite the output if it exists.
    #[arg(short = 'y', long)]
    force: bool,
    /// Images: leave out the source's Exif block (camera, time, place). Its ICC colour
    /// profile is kept either way.
    #[arg(long)]
    strip_exif: bool,
    /// Video: frames per group, 1..=1024 [default: 16] (each group decodes on its
    /// own; smaller groups give finer random access).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    gop: Option<u16>,
    /// Frame rate of an image-sequence input, e.g. 25 or 30000/1001 [default: 25]
    /// (video files carry their own).
    #[arg(long)]
    fps: Option<String>,
    /// Video: code frames after a group's first with the temporal prior (`auto`, the
    /// default: when the weights have one), or every frame intra (`off`).
    #[arg(long, value_enum)]
    temporal: Option<TemporalChoice>,
    /// Print the time spent in each stage.
    #[arg(long)]
    timings: bool,
    /// Print a JSON summary on standard output (stderr when the stream goes to stdout).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    limits: LimitArgs,
}

/// Whether video frames use the temporal prior.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TemporalChoice {
    /// When the weights have a temporal prior.
    Auto,
    /// Always (an error when the weights have none).
    On,
    /// Never: every frame intra.
    Off,
}

impl EncodeCmd {
    /// Run the command.
    pub fn run(&self) -> anyhow::Result<()> {
        check_output(&self.output, &[&self.input], self.force)?;
        if video::is_video_path(&self.input) {
            return self.run_video();
        }
        // Video options on a picture would be ignored: say so instead.
        for (given, flag) in [
            (self.fps.is_some(), "--fps"),
            (self.gop.is_some(), "--gop"),
            (self.temporal.is_some(), "--temporal"),
        ] {
            anyhow::ensure!(
                !given,
                "{flag} is for video ({} is a picture; image sequences are named like frames/%04d.png)",
                self.input.display()
            );
        }
        let mut src = read_source(&self.input, &self.limits.limits())?;
        if self.strip_exif {
            src.exif = None;
        }
        for w in &src.warnings {
            eprintln!("neco: warning: {w}");
        }
        let codec = self.model.codec()?.with_refine(self.refine.into())?;
        let mut t = Timings::default();
        let (stream, quality) = match self.bpp {
            Some(target) => codec.encode_to_bpp(&src, target, &mut t),
            None => codec
                .encode(&src, self.quality, &mut t)
                .map(|s| (s, self.quality)),
        }
        .with_context(|| format!("{}", self.input.display()))?;
        // A stream named like a picture is easily taken for one (and opened as one).
        let ext = self
            .output
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if let Some(ext) = ext.filter(|e| {
            ["png", "jpg", "jpeg", "ppm", "webp", "tif", "tiff", "bmp"].contains(&e.as_str())
        }) {
            eprintln!(
                "neco: warning: {} will hold a .neco stream, not a .{ext} picture (decode it with neco decode)",
                self.output.display()
            );
        }
        let bytes = stream.to_bytes()?;
        write_output(&self.output, &bytes, self.force)?;
        let pixels = src.width as f64 * src.height as f64;
        let bpp = bytes.len() as f64 * 8.0 / pixels;
        let summary = serde_json::json!({
            "input": self.input, "output": self.output, "width": src.width, "height": src.height,
            "quality": quality, "target_bpp": self.bpp, "bytes": bytes.len(), "bpp": bpp, "timings": t,
        });
        if self.json {
            print_json(&summary, &self.output)?;
        } else {
            eprintln!(
                "{} {}x{} -> {} {} bytes, {:.4} bpp (q={})",
                self.input.display(),
                src.width,
                src.height,
                self.output.display(),
                bytes.len(),
                bpp,
                quality
            );
            if self.timings {
                let refine = match self.refine {
                    0 => String::new(),
                    _ => format!("refinement {:.1} ms, ", t.refine_ms),
                };
                eprintln!(
                    "timings: analysis (g_a+h_a) {:.1} ms, {refine}parameter path {:.1} ms, entropy coding {:.1} ms",
                    t.analysis_ms, t.params_ms, t.entropy_ms
                );
            }
        }
        Ok(())
    }

    /// A video file or image sequence → a video stream.
    fn run_video(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.bpp.is_none(),
            "--bpp is for images; give video a quality (-q)"
        );
        anyhow::ensure!(self.refine == 0, "--refine is for images, not video");
        anyhow::ensure!(!self.strip_exif, "--strip-exif is for images, not video");
        anyhow::ensure!(
            self.output.as_os_str() != "-",
            "video streams are written to a file, not standard output"
        );
        // The stream's index is written last, into a file that can be reread.
        anyhow::ensure!(
            std::fs::metadata(&self.output).map_or(true, |m| m.is_file()),
            "{}: video streams are written to a regular file, not a device or FIFO",
            self.output.display()
        );
        video::require_ffmpeg_for(&self.input)?;
        let fps = self.fps.as_deref().map(video::parse_fps).transpose()?;
        let bar = video::frame_bar(None);
        let mut source = video::open_input(&self.input, fps, &self.limits.limits(), &bar)?;
        let (width, height) = source.size();
        let fps = source.fps();
        let codec = self.model.codec()?;
        let (file, handle) = neco_core::container::AtomicFile::create(&self.output, self.force, "")
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.output.display()))?;
        let mut t = Timings::default();
        let has_prior = codec.entropy_model().temporal().is_some();
        let temporal = match self.temporal.unwrap_or(TemporalChoice::Auto) {
            TemporalChoice::Auto => has_prior,
            TemporalChoice::On => {
                anyhow::ensure!(
                    has_prior,
                    "--temporal on: the weights ({}) have no temporal prior",
                    codec.config().name
                );
                true
            }
            TemporalChoice::Off => false,
        };
        let (out, summary) = encode_video(
            &codec,
            source.as_mut(),
            std::io::BufWriter::new(handle),
            self.quality,
            self.gop.unwrap_or(16),
            temporal,
            &mut t,
            |n| bar.set_position(n),
        )?;
        bar.finish_and_clear();
        out.into_inner()
            .map_err(|e| e.into_error())
            .context("writing the stream")?;
        file.commit()?;
        let bytes = std::fs::metadata(&self.output)?.len();
        let pixels = f64::from(width) * f64::from(height) * summary.frames as f64;
        let bpp = bytes as f64 * 8.0 / pixels;
        if self.json {
            let v = serde_json::json!({
                "input": self.input, "output": self.output, "width": width, "height": height,
                "frames": summary.frames, "groups": summary.groups, "fps": fps.to_string(),
                "quality": self.quality, "temporal": temporal, "bytes": bytes, "bpp": bpp, "timings": t,
            });
            print_json(&v, &self.output)?;
        } else {
            eprintln!(
                "{} {width}x{height}, {} frames at {fps} fps -> {} {bytes} bytes in {} group{}, {bpp:.4} bpp (q={}, {})",
                self.input.display(),
                summary.frames,
                self.output.display(),
                summary.groups,
                if summary.groups == 1 { "" } else { "s" },
                self.quality,
                if temporal { "temporal prior" } else { "intra only" }
            );
        }
        Ok(())
    }
}
