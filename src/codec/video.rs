//! Video: frames coded one by one with the image transforms into groups of a video
//! stream (neco-core's `container::video`), and decoded group by group.
//!
//! The first frame of each group is intra; with weights that carry a temporal prior,
//! the others are coded with entropy parameters that also see the previous frame's
//! ŷ (the spatiotemporal entropy model: no motion estimation, no warping). Groups give
//! random access, and damage to one group costs only its frames. Memory stays at one
//! group of coded bits plus a frame or two of pixels and latents.

use std::io::{Read, Seek, Write};
use std::ops::Range;

use anyhow::{bail, Context};
use neco_core::container::video::{FrameBits, FrameMode, VideoStreamReader, VideoStreamWriter};
use neco_core::container::{Header, ImageStream, Kind, VideoParams};
use neco_core::entropy::Latents;

use super::{Codec, Timings};
use crate::io::frames::{Fps, FrameSink, FrameSource};
use crate::io::image_io::SourceImage;

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
/// With `temporal`, every frame but a group's first may use the temporal prior (the
/// weights must have one): each such frame is coded both ways and the smaller kept.
#[allow(clippy::too_many_arguments)]
pub fn encode_video<W: Write>(
    codec: &Codec,
    source: &mut dyn FrameSource,
    out: W,
    quality: u8,
    gop: u16,
    temporal: bool,
    t: &mut Timings,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<(W, VideoSummary)> {
    anyhow::ensure!(
        !temporal || codec.entropy_model().temporal().is_some(),
        "these weights have no temporal prior: code the video intra-only"
    );
    let mut prev_y_hat: Option<Vec<f32>> = None;
    let (width, height) = source.size();
    let fps = source.fps();
    let mut writer: Option<VideoStreamWriter<W>> = None;
    let mut out = Some(out);
    let mut group = Vec::with_capacity(usize::from(gop));
    let (mut frames, mut groups) = (0u64, 0usize);
    while let Some(rgb) = source.next_frame()? {
        let src = SourceImage::from_rgb(width, height, rgb);
        let prev = if temporal && !group.is_empty() {
            prev_y_hat.as_deref()
        } else {
            None
        };
        let (stream, latents, mode) =
            code_frame(codec, &src, quality, prev, t).with_context(|| format!("frame {frames}"))?;
        if temporal {
            prev_y_hat = Some(latents.y_hat());
        }
        if writer.is_none() {
            let header = video_header(&stream.header, fps, gop);
            let sink = out.take().context("output already used")?;
            writer = Some(VideoStreamWriter::new(sink, header)?);
        }
        group.push(FrameBits {
            mode,
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

/// Codes one frame: intra, or — given the previous frame's ŷ — whichever of intra
/// and temporal takes fewer bytes, so a scene cut or a frame the prior predicts badly
/// costs no more than intra. The analysis transforms run once for both.
fn code_frame(
    codec: &Codec,
    src: &SourceImage,
    quality: u8,
    prev_y_hat: Option<&[f32]>,
    t: &mut Timings,
) -> anyhow::Result<(ImageStream, Latents, FrameMode)> {
    anyhow::ensure!(quality <= 100, "quality {quality} is out of range 0..=100");
    let a = codec.analyse(src, quality, t)?;
    let mut candidates = vec![(FrameMode::Intra, None)];
    if prev_y_hat.is_some() {
        candidates.push((FrameMode::Temporal, prev_y_hat));
    }
    let mut best: Option<(usize, ImageStream, Latents, FrameMode)> = None;
    for (mode, given) in candidates {
        let coded = t
            .time(
                |t| &mut t.params_ms,
                || {
                    codec
                        .entropy_model()
                        .quantize_given(&a.y, &a.z, &a.dims, quality, given)
                },
            )
            .map_err(anyhow::Error::from)
            .and_then(|latents| {
                let stream = codec.encode_latents(src, &latents, quality, t)?;
                Ok((stream, latents))
            });
        let (stream, latents) = match coded {
            Ok(c) => c,
            // The temporal candidate is optional: intra stands in if it fails.
            Err(_) if mode == FrameMode::Temporal && best.is_some() => continue,
            Err(e) => return Err(e),
        };
        let size = stream.z_bits.len() + stream.y_bits.iter().map(Vec::len).sum::<usize>();
        if best.as_ref().is_none_or(|(b, ..)| size < *b) {
            best = Some((size, stream, latents, mode));
        }
    }
    let (_, stream, latents, mode) = best.expect("intra is always a candidate");
    Ok((stream, latents, mode))
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
/// (or frame) does not stop the others: its frames — and the temporal frames after a
/// lost one in the same group, which depend on it — are replaced by the last good
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
        // time. Frames before `range` are decoded to latents only, from the last
        // intra frame on, when a temporal frame in `range` needs them.
        // The frames before a damaged one decode as usual (none depends on a later
        // frame); the damaged one and the rest of its group are lost.
        // Groups a scan did not find say so without their number, so that a run of
        // them is reported as one range of lost frames.
        let (bits, damage) = match reader.read_group_prefix(i) {
            Ok((bits, damage)) => (bits, damage.map(|e| format!("group {i}: {e}"))),
            Err(e) if reader.is_missing(i) => (Vec::new(), Some(e.to_string())),
            Err(e) => (Vec::new(), Some(format!("group {i}: {e}"))),
        };
        let start = {
            let want = range.start.max(frames.start);
            (frames.start..=want)
                .rev()
                .find(|&n| {
                    bits.get((n - frames.start) as usize)
                        .is_some_and(|f| f.mode == FrameMode::Intra)
                })
                .unwrap_or(want)
        };
        // ŷ of the previous frame, or — once a frame is lost — the reason every
        // temporal frame after it in the group is lost too.
        let mut prev: Result<Option<Vec<f32>>, String> = Ok(None);
        for n in start..frames.end.min(range.end) {
            let k = (n - frames.start) as usize;
            let mut dependant = false;
            let latents = match bits.get(k) {
                Some(f) => {
                    let s = ImageStream {
                        header: frame_header.clone(),
                        z_bits: f.z_bits.clone(),
                        y_bits: f.y_bits.clone(),
                        alpha: None,
                        icc: None,
                        exif: None,
                    };
                    let given = match (f.mode, &prev) {
                        (FrameMode::Intra, _) => Ok(None),
                        (FrameMode::Temporal, Ok(Some(p))) => Ok(Some(p.as_slice())),
                        // Unreachable through the reader (groups start intra).
                        (FrameMode::Temporal, Ok(None)) => {
                            Err(format!("group {i}, frame {n}: no previous frame"))
                        }
                        (FrameMode::Temporal, Err(why)) => {
                            dependant = true;
                            Err(why.clone())
                        }
                    };
                    given.and_then(|given| {
                        codec
                            .decode_latents_given(&s, given, t)
                            .map(|l| (s, l))
                            .map_err(|e| format!("group {i}, frame {n}: {e:#}"))
                    })
                }
                None => Err(damage.clone().unwrap_or_default()),
            };
            match &latents {
                Ok((_, l)) => prev = Ok(Some(l.y_hat())),
                Err(_) if dependant => {}
                Err(_) => prev = Err(format!("group {i}: depends on frame {n}, which was lost")),
            }
            if !range.contains(&n) {
                continue;
            }
            let picture = latents.and_then(|(s, l)| {
                codec
                    .render(&s, &l, t)
                    .map(|img| img.rgb)
                    .map_err(|e| format!("group {i}, frame {n}: {e:#}"))
            });
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
