//! Video: frames coded one by one with the image codec into groups of a video stream
//! (neco-core's `container::video`), and decoded group by group.
//!
//! Every frame is coded intra for now (the spatiotemporal prior, which predicts a
//! frame's latent from the previous one, needs trained weights); groups already give
//! random access, and damage to one group costs only its frames. Memory stays at one
//! group of coded bits plus a frame or two of pixels.

use std::io::{Read, Seek, Write};
use std::ops::Range;

use anyhow::{bail, Context};
use neco_core::container::video::{FrameBits, FrameMode, VideoStreamReader, VideoStreamWriter};
use neco_core::container::{Header, ImageStream, Kind, VideoParams};

use super::{Codec, Timings};
use crate::io::frames::{Fps, FrameSink, FrameSource};
use crate::io::image_io::{SourceImage, SourceKind};

/// What an encode produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoSummary {
    /// Frames coded.
    pub frames: u64,
    /// Groups written.
    pub groups: usize,
}

/// Frames that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostFrames {
    /// The frames, by number.
    pub frames: Range<u64>,
    /// Why.
    pub reason: String,
}

/// Codes every frame of `source` at `quality` into groups of at most `gop` frames,
/// written to `out`; `progress` is called after each frame with the count so far.
pub fn encode_video<W: Write>(
    codec: &Codec,
    source: &mut dyn FrameSource,
    out: W,
    quality: u8,
    gop: u16,
    t: &mut Timings,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<(W, VideoSummary)> {
    let (width, height) = source.size();
    let fps = source.fps();
    let mut writer: Option<VideoStreamWriter<W>> = None;
    let mut out = Some(out);
    let mut group = Vec::with_capacity(usize::from(gop));
    let (mut frames, mut groups) = (0u64, 0usize);
    while let Some(rgb) = source.next_frame()? {
        let src = SourceImage {
            width,
            height,
            rgb,
            alpha: None,
            kind: SourceKind::Rgb,
            warnings: Vec::new(),
        };
        let stream = codec
            .encode(&src, quality, t)
            .with_context(|| format!("frame {frames}"))?;
        if writer.is_none() {
            let header = video_header(&stream.header, fps, gop);
            let sink = out.take().context("output already used")?;
            writer = Some(VideoStreamWriter::new(sink, header)?);
        }
        group.push(FrameBits {
            mode: FrameMode::Intra,
            z_bits: stream.z_bits,
            y_bits: stream.y_bits,
        });
        frames += 1;
        progress(frames);
        if group.len() == usize::from(gop) {
            writer.as_mut().unwrap().write_group(&group)?;
            group.clear();
            groups += 1;
        }
    }
    let Some(mut writer) = writer else {
        bail!("the input has no frames");
    };
    if !group.is_empty() {
        writer.write_group(&group)?;
        groups += 1;
    }
    Ok((writer.finish()?, VideoSummary { frames, groups }))
}

fn video_header(image: &Header, fps: Fps, gop: u16) -> Header {
    Header {
        kind: Kind::Video,
        video: Some(VideoParams {
            fps_num: fps.num,
            fps_den: fps.den,
            gop,
        }),
        ..image.clone()
    }
}

/// The frame rate a video stream declares.
pub fn stream_fps(header: &Header) -> anyhow::Result<Fps> {
    let v = header.video.context("not a video stream")?;
    Fps::new(v.fps_num, v.fps_den)
}

/// Decodes the frames in `range` to `sink`, one picture at a time. A damaged group
/// (or frame) does not stop the others: its frames are replaced by the last good
/// frame (mid grey before any) so the timing holds, and listed in the result.
pub fn decode_video<R: Read + Seek>(
    codec: &Codec,
    reader: &mut VideoStreamReader<R>,
    range: Range<u64>,
    sink: &mut dyn FrameSink,
    t: &mut Timings,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<Vec<LostFrames>> {
    let header = reader.header().clone();
    codec.check_compatible(&header)?;
    let frame_header = Header {
        kind: Kind::Image,
        video: None,
        ..header.clone()
    };
    let (w, h) = (header.width as usize, header.height as usize);
    let mut last = vec![128u8; w * h * 3];
    let mut lost: Vec<LostFrames> = Vec::new();
    let mut note_lost = |n: u64, reason: String| match lost.last_mut() {
        // Frames lost for the same reason in a row are reported as one range.
        Some(l) if l.frames.end == n && l.reason == reason => l.frames.end = n + 1,
        _ => lost.push(LostFrames {
            frames: n..n + 1,
            reason,
        }),
    };
    let mut done = 0u64;
    for i in 0..reader.groups().len() {
        let g = reader.groups()[i];
        let frames = u64::from(g.first_frame)..u64::from(g.first_frame) + u64::from(g.frames);
        if frames.end <= range.start || frames.start >= range.end {
            continue;
        }
        // The group's coded bits are small; pictures are decoded and written one at a
        // time, and only those in `range` (every frame is intra).
        let bits = reader.read_group(i).map_err(|e| format!("group {i}: {e}"));
        for (k, n) in frames.clone().enumerate() {
            if !range.contains(&n) {
                continue;
            }
            let picture = match &bits {
                Ok(bits) => {
                    let f = &bits[k];
                    let s = ImageStream {
                        header: frame_header.clone(),
                        z_bits: f.z_bits.clone(),
                        y_bits: f.y_bits.clone(),
                        alpha: None,
                    };
                    codec
                        .decode(&s, t)
                        .map(|img| img.rgb)
                        .map_err(|e| format!("group {i}, frame {n}: {e:#}"))
                }
                Err(e) => Err(e.clone()),
            };
            match picture {
                Ok(p) => last = p,
                Err(reason) => note_lost(n, reason),
            }
            sink.write_frame(&last)?;
            done += 1;
            progress(done);
        }
    }
    Ok(lost)
}
