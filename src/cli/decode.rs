//! `neco decode`: .neco → image, or a video stream → video file / image sequence.

use std::path::PathBuf;

use clap::Args;
use neco_core::container::ImageStream;

use super::common::{
    check_output, open_stream, print_json, write_output, LimitArgs, ModelArgs, ReadSeek,
    StreamInput,
};
use super::video;
use crate::codec::video::{decode_video, stream_fps};
use crate::codec::Timings;
use crate::eval::metrics::psnr_rgb8;
use crate::io::image_io::{encode_output, read_source, Metadata, OutputFormat};
use neco_core::container::video::VideoStreamReader;

/// Arguments of `neco decode`.
#[derive(Debug, Args)]
pub struct DecodeCmd {
    /// Input .neco file; `-` reads standard input.
    input: PathBuf,
    /// Output image (.png, .jpg, .ppm by extension; `-` writes PNG to standard
    /// output); for a video stream: .mkv (FFV1, lossless), .mp4 (H.264) or an image
    /// sequence (`out/%04d.png`).
    #[arg(short, long)]
    output: PathBuf,
    /// Video: decode only these frames, `A..B` (from A up to, not including, B);
    /// only the groups holding them are read.
    #[arg(long, value_parser = parse_range)]
    frames: Option<std::ops::Range<u64>>,
    /// Overwrite the output if it exists.
    #[arg(short = 'y', long)]
    force: bool,
    /// Original image to compare with: prints PSNR.
    #[arg(long)]
    compare: Option<PathBuf>,
    /// Print the time spent in each stage.
    #[arg(long)]
    timings: bool,
    /// Print a JSON summary (on stderr when the image goes to stdout).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    limits: LimitArgs,
}

impl DecodeCmd {
    /// Run the command.
    pub fn run(&self) -> anyhow::Result<()> {
        let mut inputs = vec![self.input.as_path()];
        inputs.extend(self.compare.as_deref());
        check_output(&self.output, &inputs, self.force)?;
        if self.input.as_os_str() == "-" {
            // A video file output restarts the run in the FFmpeg helper: before standard
            // input is read, so that the helper reads it.
            video::require_ffmpeg_for(&self.output)?;
        }
        let data = match open_stream(&self.input, self.limits.max_input_bytes)? {
            StreamInput::Video(src, size) => return self.run_video(src, size),
            StreamInput::Bytes(data) => data,
        };
        anyhow::ensure!(
            self.frames.is_none(),
            "--frames is for video streams; {} is not one",
            self.input.display()
        );
        let stream = ImageStream::from_bytes(&data, &self.limits.limits())
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.input.display()))?;
        anyhow::ensure!(
            !video::is_video_path(&self.output),
            "{} holds an image, not a video: decode it to .png, .jpg or .ppm",
            self.input.display()
        );
        let format = OutputFormat::from_path(&self.output)?;
        let codec = self.model.codec_for(
            &self.input.display().to_string(),
            &stream.header.weights_sha256,
        )?;
        let mut t = Timings::default();
        let img = codec
            .decode(&stream, &mut t)
            .map_err(|e| anyhow::anyhow!("{}: {e:#}", self.input.display()))?;
        let psnr = match &self.compare {
            Some(path) => {
                let orig = read_source(path, &self.limits.limits())?;
                anyhow::ensure!(
                    (orig.width, orig.height) == (img.width, img.height),
                    "{} is {}x{}, the decoded image is {}x{}",
                    path.display(),
                    orig.width,
                    orig.height,
                    img.width,
                    img.height
                );
                Some(psnr_rgb8(&orig.rgb, &img.rgb))
            }
            None => None,
        };
        let (width, height) = (img.width, img.height);
        let (bytes, warnings) = encode_output(
            width,
            height,
            (img.rgb, img.gray),
            img.alpha.as_deref(),
            &Metadata {
                icc: img.icc.as_deref(),
                exif: img.exif.as_deref(),
            },
            format,
        )?;
        for w in warnings {
            eprintln!("neco: warning: {w}");
        }
        write_output(&self.output, &bytes, self.force)?;
        let bpp = data.len() as f64 * 8.0 / (width as f64 * height as f64);
        if self.json {
            let summary = serde_json::json!({
                "input": self.input, "output": self.output, "width": width, "height": height,
                "bytes": data.len(), "bpp": bpp, "psnr": psnr, "timings": t,
            });
            return print_json(&summary, &self.output);
        }
        let mut line = format!(
            "{} -> {} {}x{}, {:.4} bpp",
            self.input.display(),
            self.output.display(),
            width,
            height,
            bpp
        );
        if let Some(p) = psnr {
            line += &format!(", PSNR {p:.2} dB");
        }
        eprintln!("{line}");
        if self.timings {
            eprintln!(
                "timings: entropy decoding {:.1} ms, parameter path {:.1} ms, synthesis (g_s) {:.1} ms",
                t.entropy_ms, t.params_ms, t.synthesis_ms
            );
        }
        Ok(())
    }

    /// A video stream → a video file or image sequence, group by group.
    fn run_video(&self, src: Box<dyn ReadSeek>, size: u64) -> anyhow::Result<()> {
        anyhow::ensure!(
            video::is_video_path(&self.output),
            "{} holds a video: decode it to .mkv, .mp4 or an image sequence (out/%04d.png)",
            self.input.display()
        );
        anyhow::ensure!(
            self.compare.is_none(),
            "--compare is for images; {} holds a video (neco rd measures video quality)",
            self.input.display()
        );
        video::require_ffmpeg_for(&self.output)?;
        let name = self.input.display();
        anyhow::ensure!(
            size <= self.limits.max_input_bytes,
            "{name} is {size} bytes, over the limit of {} (--max-input-bytes)",
            self.limits.max_input_bytes
        );
        let mut reader =
            VideoStreamReader::open(std::io::BufReader::new(src), &self.limits.limits())
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        if let Some(r) = reader.recovery() {
            eprintln!("neco: warning: {name}: {}", video::describe_recovery(r));
        }
        let h = reader.header().clone();
        let fps = stream_fps(&h)?;
        let total = reader.frames();
        let range = match &self.frames {
            Some(r) => {
                anyhow::ensure!(
                    r.start < r.end,
                    "--frames {}..{} is empty (first..end, the end excluded)",
                    r.start,
                    r.end
                );
                anyhow::ensure!(
                    r.end <= total,
                    "--frames {}..{} is outside the stream's 0..{total}",
                    r.start,
                    r.end
                );
                r.clone()
            }
            None => 0..total,
        };
        let codec = self.model.codec_for(&name.to_string(), &h.weights_sha256)?;
        let frames = range.end - range.start;
        if let Some(seq) = crate::io::sequence::Sequence::parse(&self.output) {
            // A frame's file may be a link to the stream itself.
            let input = self.input.canonicalize().ok();
            if let Some(n) =
                (1..=frames).find(|&n| input.is_some() && seq.path(n).canonicalize().ok() == input)
            {
                anyhow::bail!(
                    "{} is the input {name}: writing the output there would destroy it (choose another -o)",
                    seq.path(n).display()
                );
            }
        }
        let mut sink =
            video::open_output(&self.output, (h.width, h.height), fps, frames, self.force)?;
        let bar = video::frame_bar(Some(frames));
        let mut t = Timings::default();
        let lost = decode_video(
            &codec,
            &mut reader,
            range.clone(),
            sink.as_mut(),
            &mut t,
            |n| bar.set_position(n),
        )
        .map_err(|e| anyhow::anyhow!("{name}: {e:#}"))?;
        bar.finish_and_clear();
        let lost_count: u64 = lost.iter().map(|l| l.frames.end - l.frames.start).sum();
        if lost_count == range.end - range.start {
            // Nothing decoded: fail, leaving no video file (the sink is dropped
            // unfinished).
            anyhow::bail!(
                "{name}: no frame could be decoded ({})",
                lost.first().map_or("", |l| l.reason.as_str())
            );
        }
        sink.finish()?;
        // Lost frames from the range's start on, before any good one, have none to
        // repeat: they are gray.
        let mut no_good_yet = range.start;
        for l in &lost {
            let stand_in = if l.frames.start == no_good_yet {
                no_good_yet = l.frames.end;
                "gray frames stand in for them"
            } else {
                "the last good frame stands in for them"
            };
            eprintln!(
                "neco: warning: frames {}..{} lost ({}); {stand_in}",
                l.frames.start, l.frames.end, l.reason
            );
        }
        let frames = range.end - range.start;
        if self.json {
            let lost: Vec<_> = lost
                .iter()
                .map(|l| serde_json::json!({"first": l.frames.start, "end": l.frames.end, "reason": l.reason}))
                .collect();
            let v = serde_json::json!({
                "input": self.input, "output": self.output, "width": h.width, "height": h.height,
                "frames": frames, "fps": fps.to_string(), "lost": lost, "timings": t,
            });
            return print_json(&v, &self.output);
        }
        eprintln!(
            "{name} -> {} {}x{}, {frames} frames at {fps} fps{}",
            self.output.display(),
            h.width,
            h.height,
            if lost.is_empty() {
                String::new()
            } else {
                format!(", {lost_count} frame(s) lost")
            }
        );
        Ok(())
    }
}

/// Parses `A..B`.
fn parse_range(s: &str) -> Result<std::ops::Range<u64>, String> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| format!("{s:?}: expected A..B, e.g. 32..48"))?;
    let num = |v: &str| {
        v.trim()
            .parse::<u64>()
            .map_err(|_| format!("{s:?}: {v:?} is not a frame number"))
    };
    Ok(num(a)?..num(b)?)
}
