//! Video plumbing shared by `encode`, `decode` and `info`: which paths are videos or
//! image sequences, opening them as frame sources and sinks, the progress bar.

use std::path::Path;

use anyhow::bail;
use indicatif::{ProgressBar, ProgressStyle};
use neco_core::Limits;

use crate::ffmpeg_helper;
use crate::io::frames::{Fps, FrameSink, FrameSource};
use crate::io::sequence::{Sequence, SequenceReader, SequenceWriter};

/// Extensions read as video files (through FFmpeg).
const VIDEO_EXTENSIONS: [&str; 8] = ["mp4", "mkv", "mov", "avi", "webm", "m4v", "y4m", "mpg"];

/// The rate given to an image sequence when none is asked for.
const DEFAULT_FPS: Fps = Fps { num: 25, den: 1 };

/// Parses a frame rate: an integer (`25`) or an exact fraction (`30000/1001`).
pub fn parse_fps(s: &str) -> anyhow::Result<Fps> {
    let (num, den) = s.split_once('/').unwrap_or((s, "1"));
    let parse = |v: &str| v.trim().parse::<u32>().ok();
    match (parse(num), parse(den)) {
        (Some(n), Some(d)) => Fps::new(n, d),
        _ => bail!("frame rate {s:?}: give an integer (25) or a fraction (30000/1001)"),
    }
}

/// Whether `path` names a video input or output (an image sequence or a video file).
pub fn is_video_path(path: &Path) -> bool {
    Sequence::parse(path).is_some()
        || path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Opens a video input: an image sequence (at `fps`, 25 when `None`) or a video file
/// (which has its own rate: another `fps` is refused). Its warnings are printed as they
/// come, above `bar`.
pub fn open_input(
    path: &Path,
    fps: Option<Fps>,
    limits: &Limits,
    bar: &ProgressBar,
) -> anyhow::Result<Box<dyn FrameSource>> {
    let mut source = Warned(open_source(path, fps, limits)?, bar.clone());
    source.print_warnings();
    Ok(Box::new(source))
}

/// A frame source whose warnings are printed after each frame (above the progress
/// bar, which a plain print would break).
struct Warned(Box<dyn FrameSource>, ProgressBar);

impl Warned {
    fn print_warnings(&mut self) {
        for w in self.0.take_warnings() {
            self.1.suspend(|| eprintln!("neco: warning: {w}"));
        }
    }
}

impl FrameSource for Warned {
    fn size(&self) -> (u32, u32) {
        self.0.size()
    }

    fn fps(&self) -> Fps {
        self.0.fps()
    }

    fn next_frame(&mut self) -> anyhow::Result<Option<Vec<u8>>> {
        let frame = self.0.next_frame();
        self.print_warnings();
        frame
    }
}

fn open_source(
    path: &Path,
    fps: Option<Fps>,
    limits: &Limits,
) -> anyhow::Result<Box<dyn FrameSource>> {
    if let Some(seq) = Sequence::parse(path) {
        let fps = fps.unwrap_or(DEFAULT_FPS);
        let reader = SequenceReader::open(seq.clone(), fps, limits)?;
        let end = reader.numbers().end;
        if let Some(later) = seq.first_after(end) {
            eprintln!(
                "neco: warning: {} is missing, so the sequence ends there: {} and the frames after it are not read",
                seq.path(end).display(),
                later.display()
            );
        }
        return Ok(Box::new(reader));
    }
    let file = open_video_file(path, limits)?;
    if let Some(fps) = fps.filter(|&f| f.as_f64() != file.fps().as_f64()) {
        bail!(
            "--fps {fps} is for image sequences: {} has its own frame rate ({} fps)",
            path.display(),
            file.fps()
        );
    }
    Ok(file)
}

/// Whether `path` is a video file (read and written through FFmpeg), not an image
/// sequence.
fn is_video_file(path: &Path) -> bool {
    Sequence::parse(path).is_none() && is_video_path(path)
}

/// Makes sure FFmpeg is loaded when `path` is a video file: call it before a command
/// reads or writes anything (in `neco` it restarts the command in the FFmpeg helper,
/// see [`crate::ffmpeg_helper`]).
pub fn require_ffmpeg_for(path: &Path) -> anyhow::Result<()> {
    if is_video_file(path) {
        ffmpeg_helper::require()?;
    }
    Ok(())
}

fn open_video_file(path: &Path, limits: &Limits) -> anyhow::Result<Box<dyn FrameSource>> {
    (ffmpeg_helper::require()?.open_video_file)(path, limits)
}

/// Opens a video output: an image sequence or a video file (.mkv FFV1, .mp4 H.264).
pub fn open_output(
    path: &Path,
    (width, height): (u32, u32),
    fps: Fps,
    frames: u64,
    overwrite: bool,
) -> anyhow::Result<Box<dyn FrameSink>> {
    if let Some(seq) = Sequence::parse(path) {
        let writer = SequenceWriter::new(seq, (width, height), frames, overwrite)?;
        return Ok(Box::new(writer));
    }
    open_video_output(path, width, height, fps, overwrite)
}

fn open_video_output(
    path: &Path,
    width: u32,
    height: u32,
    fps: Fps,
    overwrite: bool,
) -> anyhow::Result<Box<dyn FrameSink>> {
    (ffmpeg_helper::require()?.create_video_file)(path, width, height, fps, overwrite)
}

/// A progress bar counting frames (drawn only on a terminal).
pub fn frame_bar(total: Option<u64>) -> ProgressBar {
    let bar = ProgressBar::new(total.unwrap_or(0));
    let template = if total.is_some() {
        "{bar:40} {pos}/{len} frames, {per_sec} [{elapsed_precise}, eta {eta}]"
    } else {
        "{pos} frames, {per_sec} [{elapsed_precise}]"
    };
    bar.set_style(ProgressStyle::with_template(template).expect("static template"));
    bar
}

/// What a scan of a video stream with an unusable index found, in one sentence for a
/// warning (`decode`) or a line of `info`.
pub fn describe_recovery(r: &neco_core::container::video::Recovery) -> String {
    let mut missing = match r.missing_frames {
        0 => String::new(),
        n => format!(" ({n} of them missing)"),
    };
    if r.ignored_groups > 0 {
        missing += &format!(
            ", and left out {} intact group{} (copies of frames it had, or frame numbers \
             too far from the rest to believe)",
            r.ignored_groups,
            if r.ignored_groups == 1 { "" } else { "s" }
        );
    }
    format!(
        "the index is unusable ({}); a scan found {} group{} holding frames 0..{}{missing}; \
         frames after {} (if any) are lost",
        r.reason,
        r.found_groups,
        if r.found_groups == 1 { "" } else { "s" },
        r.known_frames,
        r.known_frames
    )
}
