//! Numbered image sequences (`frames/%04d.png`), as FFmpeg names them: a path whose
//! file name holds one `%d` or `%0Nd`. Reading starts at the first of 0…4 that exists
//! (FFmpeg's rule) and stops at the first gap; writing numbers frames from 1.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::frames::{Fps, FrameSink, FrameSource};
use super::image_io::{encode_output, read_source, Metadata, OutputFormat, SourceImage};
use neco_core::container::AtomicFile;
use neco_core::Limits;

/// A numbered file-name pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    dir: PathBuf,
    prefix: String,
    suffix: String,
    /// Zero-padded width (0: no padding).
    width: usize,
}

impl Sequence {
    /// The pattern in `path`, or `None` when its file name has no `%d` / `%0Nd`.
    pub fn parse(path: &Path) -> Option<Self> {
        let name = path.file_name()?.to_str()?;
        let start = name.find('%')?;
        let rest = &name[start + 1..];
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        let after = rest[digits.len()..].strip_prefix('d')?;
        if after.contains('%') || (!digits.is_empty() && !digits.starts_with('0')) {
            return None;
        }
        let width = if digits.is_empty() {
            0
        } else {
            digits.parse().ok().filter(|&w: &usize| w <= 9)?
        };
        Some(Sequence {
            dir: path.parent().unwrap_or(Path::new("")).to_path_buf(),
            prefix: name[..start].to_owned(),
            suffix: after.to_owned(),
            width,
        })
    }

    /// The path of frame number `n`.
    pub fn path(&self, n: u64) -> PathBuf {
        self.dir.join(format!(
            "{}{:0width$}{}",
            self.prefix,
            n,
            self.suffix,
            width = self.width
        ))
    }

    /// Numbers of the frames present: from the first of 0…4 that exists to the first
    /// gap; more than `limits.max_frames` is an error.
    pub fn numbers(&self, limits: &Limits) -> anyhow::Result<std::ops::Range<u64>> {
        let max_frames = limits.max_frames;
        let Some(first) = (0..5).find(|&n| self.path(n).is_file()) else {
            bail!(
                "no frames: none of {} … {} exists",
                self.path(0).display(),
                self.path(4).display()
            );
        };
        let mut end = first;
        while self.path(end).is_file() {
            end += 1;
            if end - first > max_frames {
                bail!(
                    "{} has more than {max_frames} frames, the limit",
                    self.pattern()
                );
            }
        }
        Ok(first..end)
    }

    /// Reads frame `n`; every frame must have the size of the first (`expect`).
    pub fn read(
        &self,
        n: u64,
        limits: &Limits,
        expect: Option<(u32, u32)>,
    ) -> anyhow::Result<SourceImage> {
        let path = self.path(n);
        let img = read_source(&path, limits)?;
        if let Some((w, h)) = expect {
            if (img.width, img.height) != (w, h) {
                bail!(
                    "{} is {}x{}, the first frame is {w}x{h}",
                    path.display(),
                    img.width,
                    img.height
                );
            }
        }
        Ok(img)
    }

    /// Writes frame `n` (interleaved RGB) in the format the suffix names.
    pub fn write(
        &self,
        n: u64,
        width: u32,
        height: u32,
        rgb: Vec<u8>,
        overwrite: bool,
    ) -> anyhow::Result<()> {
        self.write_pending(n, width, height, rgb, overwrite)?
            .commit()
            .with_context(|| format!("writing {}", self.path(n).display()))
    }

    /// Writes frame `n` under a temporary name: it takes the frame's place when the
    /// returned file is committed, and is removed if it is dropped.
    fn write_pending(
        &self,
        n: u64,
        width: u32,
        height: u32,
        rgb: Vec<u8>,
        overwrite: bool,
    ) -> anyhow::Result<AtomicFile> {
        let path = self.path(n);
        let format = OutputFormat::from_path(&path)?;
        let (bytes, _) = encode_output(
            width,
            height,
            (rgb, false),
            None,
            &Metadata::default(),
            format,
        )?;
        let writing = || format!("writing {}", path.display());
        let (file, mut handle) = AtomicFile::create(&path, overwrite, "").with_context(writing)?;
        std::io::Write::write_all(&mut handle, &bytes).with_context(writing)?;
        Ok(file)
    }

    /// The frame number file name `name` has under this pattern: the prefix, the
    /// number as [`path`](Self::path) writes it (zero-padded to the width, longer only
    /// without a leading zero), the suffix.
    fn frame_number(&self, name: &str) -> Option<u64> {
        let digits = name
            .strip_prefix(self.prefix.as_str())?
            .strip_suffix(self.suffix.as_str())?;
        let as_written = digits.len() == self.width.max(1)
            || (digits.len() > self.width.max(1) && !digits.starts_with('0'));
        if !as_written || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }

    /// Whether `path` names one of the pattern's frames (the same folder, a file name
    /// [`path`](Self::path) writes), as a file or not yet.
    pub fn matches(&self, path: &Path) -> bool {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            return false;
        };
        let folder = |p: &Path| {
            let p = if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            };
            p.canonicalize().ok()
        };
        self.frame_number(name).is_some()
            && folder(&self.dir).is_some()
            && folder(&self.dir) == folder(path.parent().unwrap_or(Path::new("")))
    }

    /// The lowest-numbered frame file above `n` in the folder, if any: what a gap at
    /// `n` keeps from being read.
    pub fn first_after(&self, n: u64) -> Option<PathBuf> {
        let dir = if self.dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &self.dir
        };
        std::fs::read_dir(dir)
            .ok()?
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                self.frame_number(&name).filter(|&k| k > n)
            })
            .filter(|&k| self.path(k).is_file())
            .min()
            .map(|k| self.path(k))
    }

    /// The pattern as given, for messages.
    pub fn pattern(&self) -> String {
        let spec = if self.width == 0 {
            "%d".to_owned()
        } else {
            format!("%0{}d", self.width)
        };
        self.dir
            .join(format!("{}{spec}{}", self.prefix, self.suffix))
            .display()
            .to_string()
    }
}

/// The frames of a sequence, read one at a time.
pub struct SequenceReader {
    seq: Sequence,
    numbers: std::ops::Range<u64>,
    size: (u32, u32),
    fps: Fps,
    limits: Limits,
    /// The frames' warnings said so far (by text, so each is said once) and those not
    /// yet taken.
    said: std::collections::HashSet<String>,
    warnings: Vec<String>,
}

impl SequenceReader {
    /// Finds the frames of `seq` (see [`Sequence::numbers`]) and reads the first for
    /// its size; `fps` is the rate to give them (image files have none).
    pub fn open(seq: Sequence, fps: Fps, limits: &Limits) -> anyhow::Result<Self> {
        let numbers = seq.numbers(limits)?;
        let first = seq.read(numbers.start, limits, None)?;
        Ok(SequenceReader {
            seq,
            numbers,
            size: (first.width, first.height),
            fps,
            limits: *limits,
            said: Default::default(),
            warnings: Vec::new(),
        })
    }
}

impl SequenceReader {
    /// The numbers of the frames it reads.
    pub fn numbers(&self) -> std::ops::Range<u64> {
        self.numbers.clone()
    }
}

impl FrameSource for SequenceReader {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn fps(&self) -> Fps {
        self.fps
    }

    fn next_frame(&mut self) -> anyhow::Result<Option<Vec<u8>>> {
        let Some(n) = self.numbers.next() else {
            return Ok(None);
        };
        let img = self.seq.read(n, &self.limits, Some(self.size))?;
        // What the image path keeps or says per picture, a video stream cannot: say
        // it for the first frame it concerns.
        let mut notes = img.warnings;
        if img.alpha.is_some() {
            notes.push(
                "has an alpha channel, which neco's video streams do not carry: it is dropped"
                    .to_owned(),
            );
        }
        if img.icc.is_some() {
            notes.push(
                "has an ICC colour profile, which neco's video streams do not carry: its pixels are coded as sRGB"
                    .to_owned(),
            );
        }
        for note in notes {
            if self.said.insert(note.clone()) {
                self.warnings.push(format!(
                    "{}: {note} (said for the first frame it concerns)",
                    self.seq.path(n).display()
                ));
            }
        }
        Ok(Some(img.rgb))
    }

    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}

/// Writes frames as a numbered sequence from 1. Each frame is written under a
/// temporary name and all take their places when the sequence is finished: a decode
/// that fails (or is interrupted) leaves the folder as it was, frames it would have
/// replaced (`-y`) included.
pub struct SequenceWriter {
    seq: Sequence,
    size: (u32, u32),
    overwrite: bool,
    /// The frames written so far, under their temporary names (removed if dropped).
    pending: Vec<AtomicFile>,
}

impl SequenceWriter {
    /// `frames` frames of `width`×`height` to `seq`, numbered from 1; unless
    /// `overwrite`, refused at once when any of their files exists.
    pub fn new(
        seq: Sequence,
        (width, height): (u32, u32),
        frames: u64,
        overwrite: bool,
    ) -> anyhow::Result<Self> {
        if !overwrite {
            if let Some(n) = (1..=frames).find(|&n| std::fs::symlink_metadata(seq.path(n)).is_ok())
            {
                bail!(
                    "{} already exists (pass -y to overwrite)",
                    seq.path(n).display()
                );
            }
        }
        Ok(SequenceWriter {
            seq,
            size: (width, height),
            overwrite,
            pending: Vec::new(),
        })
    }
}

impl FrameSink for SequenceWriter {
    fn write_frame(&mut self, rgb: &[u8]) -> anyhow::Result<()> {
        let (w, h) = self.size;
        let n = self.pending.len() as u64 + 1;
        let file = self
            .seq
            .write_pending(n, w, h, rgb.to_vec(), self.overwrite)?;
        self.pending.push(file);
        Ok(())
    }

    fn finish(self: Box<Self>) -> anyhow::Result<()> {
        let SequenceWriter { seq, pending, .. } = *self;
        for (n, file) in (1..).zip(pending) {
            file.commit()
                .with_context(|| format!("writing {}", seq.path(n).display()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_parse_like_ffmpeg() {
        let s = Sequence::parse(Path::new("clip/frame_%04d.png")).unwrap();
        assert_eq!(s.path(7), Path::new("clip/frame_0007.png"));
        assert_eq!(s.path(12345), Path::new("clip/frame_12345.png"));
        assert_eq!(s.pattern(), "clip/frame_%04d.png");
        let s = Sequence::parse(Path::new("%d.ppm")).unwrap();
        assert_eq!(s.path(3), Path::new("3.ppm"));
        // A frame's file, written yet or not; other names of the folder are not.
        let dir = tempfile::tempdir().unwrap();
        let s = Sequence::parse(&dir.path().join("f_%03d.png")).unwrap();
        assert!(s.matches(&dir.path().join("f_007.png")));
        assert!(s.matches(&dir.path().join(".").join("f_1234.png")));
        for other in [
            "f_07.png",
            "f_0007.png",
            "f_007.jpg",
            "g_007.png",
            "f_.png",
            "f_0x7.png",
        ] {
            assert!(!s.matches(&dir.path().join(other)), "{other}");
        }
        assert!(!s.matches(Path::new("f_007.png")), "another folder");
        for not in [
            "clip.png",
            "a%s.png",
            "%4d.png",
            "%d%d.png",
            "%012d.png",
            "x%",
        ] {
            assert_eq!(Sequence::parse(Path::new(not)), None, "{not}");
        }
    }
}
