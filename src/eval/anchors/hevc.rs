//! HEVC intra anchor through FFmpeg (ffmpeg-next): libx265 on one intra picture at a
//! fixed QP, in BPG's configuration by default (full-range BT.601 Y′CbCr 4:4:4, 8 bits),
//! decoded back with FFmpeg's native HEVC decoder.
//!
//! The rate counted is the raw HEVC bitstream (parameter sets + slice data, no
//! container), with x265's encoder-settings SEI turned off, as BPG stores it.

use std::sync::OnceLock;

use anyhow::{anyhow, bail, ensure, Context};
use ffmpeg::codec;
use ffmpeg::format::Pixel;
use ffmpeg::util::color;
use ffmpeg_next as ffmpeg;

use super::ycbcr::{self, Chroma, Planes};

/// How x265 is driven.
#[derive(Debug, Clone)]
pub struct HevcSettings {
    /// Chroma layout (BPG: 4:4:4).
    pub chroma: Chroma,
    /// x265 preset (ultrafast … placebo).
    pub preset: String,
    /// x265 tune (psnr, ssim, grain, ...), if any.
    pub tune: Option<String>,
}

/// Initialise FFmpeg once and check that it can encode with libx265 and decode HEVC.
pub fn check_available() -> anyhow::Result<()> {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    READY
        .get_or_init(|| {
            ffmpeg::init().map_err(|e| format!("FFmpeg failed to initialise: {e}"))?;
            ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Error);
            if ffmpeg::encoder::find_by_name("libx265").is_none() {
                return Err(format!(
                    "this FFmpeg (libavcodec {}) was built without libx265, so the HEVC anchor \
                     cannot run; install an FFmpeg with libx265 (Debian/Ubuntu: libavcodec-dev \
                     from the distribution has it) or leave hevc out of --against",
                    version_string()
                ));
            }
            if ffmpeg::decoder::find(codec::Id::HEVC).is_none() {
                return Err("this FFmpeg has no HEVC decoder".into());
            }
            Ok(())
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

fn version_string() -> String {
    let v = codec::version();
    format!("{}.{}.{}", v >> 16, (v >> 8) & 0xff, v & 0xff)
}

fn pixel_format(chroma: Chroma) -> Pixel {
    match chroma {
        Chroma::Yuv444 => Pixel::YUV444P,
        Chroma::Yuv420 => Pixel::YUV420P,
    }
}

/// Encode interleaved RGB as one HEVC intra picture at `qp` (0..=51).
pub fn encode(
    rgb: &[u8],
    width: u32,
    height: u32,
    qp: u8,
    settings: &HevcSettings,
) -> anyhow::Result<Vec<u8>> {
    let packets = encode_pictures(&[rgb], width, height, qp, settings, true)?;
    Ok(packets.concat())
}

/// Encode a sequence of frames at a fixed `qp` with x265's default GOP structure
/// (random access: a keyframe every 250 frames, B-frames, lookahead); returns the
/// packets in coding order.
pub fn encode_sequence(
    frames: &[Vec<u8>],
    width: u32,
    height: u32,
    qp: u8,
    settings: &HevcSettings,
) -> anyhow::Result<Vec<Vec<u8>>> {
    let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    encode_pictures(&refs, width, height, qp, settings, false)
}

fn encode_pictures(
    pictures: &[&[u8]],
    width: u32,
    height: u32,
    qp: u8,
    settings: &HevcSettings,
    intra_only: bool,
) -> anyhow::Result<Vec<Vec<u8>>> {
    check_available()?;
    ensure!(qp <= 51, "HEVC QP {qp} is out of range 0..=51");
    let (w, h) = coded_size(width, height, settings.chroma);

    let x265 = ffmpeg::encoder::find_by_name("libx265").context("libx265 encoder")?;
    let mut enc = codec::context::Context::new_with_codec(x265)
        .encoder()
        .video()
        .context("creating the libx265 encoder")?;
    enc.set_width(w as u32);
    enc.set_height(h as u32);
    enc.set_format(pixel_format(settings.chroma));
    enc.set_time_base((1, 25));
    if intra_only {
        enc.set_gop(1);
        enc.set_max_b_frames(0);
    }
    enc.set_color_range(color::Range::JPEG);
    enc.set_colorspace(color::Space::BT470BG);
    let mut opts = ffmpeg::Dictionary::new();
    opts.set("preset", &settings.preset);
    if let Some(tune) = &settings.tune {
        opts.set("tune", tune);
    }
    let keyint = if intra_only { ":keyint=1" } else { "" };
    opts.set(
        "x265-params",
        &format!("qp={qp}{keyint}:info=0:log-level=error"),
    );
    let mut enc = enc
        .open_as_with(x265, opts)
        .with_context(|| format!("opening libx265 (preset {:?})", settings.preset))?;

    let mut packets = Vec::new();
    let mut drain = |enc: &mut ffmpeg::encoder::Video| {
        let mut packet = ffmpeg::Packet::empty();
        while enc.receive_packet(&mut packet).is_ok() {
            packets.push(packet.data().unwrap_or_default().to_vec());
        }
    };
    for (i, rgb) in pictures.iter().enumerate() {
        let rgb = pad_rgb(rgb, width as usize, height as usize, w, h);
        let planes = ycbcr::from_rgb(&rgb, w, h, settings.chroma);
        let mut frame =
            ffmpeg::frame::Video::new(pixel_format(settings.chroma), w as u32, h as u32);
        copy_planes_in(&planes, &mut frame);
        frame.set_pts(Some(i as i64));
        enc.send_frame(&frame)
            .context("libx265: sending a picture")?;
        drain(&mut enc);
    }
    enc.send_eof().context("libx265: flushing")?;
    drain(&mut enc);
    ensure!(
        packets.iter().any(|p| !p.is_empty()),
        "libx265 produced no bitstream"
    );
    Ok(packets)
}

/// Decode a bitstream from [`encode`] back to interleaved RGB of `width`×`height`.
pub fn decode(
    bitstream: &[u8],
    width: u32,
    height: u32,
    chroma: Chroma,
) -> anyhow::Result<Vec<u8>> {
    let mut pictures = decode_sequence(&[bitstream.to_vec()], width, height, chroma)?;
    ensure!(!pictures.is_empty(), "HEVC decoder returned no picture");
    Ok(pictures.swap_remove(0))
}

/// Decode packets from [`encode_sequence`] to frames of interleaved RGB, in display
/// order.
pub fn decode_sequence(
    packets: &[Vec<u8>],
    width: u32,
    height: u32,
    chroma: Chroma,
) -> anyhow::Result<Vec<Vec<u8>>> {
    check_available()?;
    let hevc = ffmpeg::decoder::find(codec::Id::HEVC).context("HEVC decoder")?;
    let mut dec = codec::context::Context::new_with_codec(hevc)
        .decoder()
        .video()
        .context("opening the HEVC decoder")?;
    let (w, h) = coded_size(width, height, chroma);
    let mut out = Vec::new();
    let mut receive = |dec: &mut ffmpeg::decoder::Video| -> anyhow::Result<()> {
        let mut frame = ffmpeg::frame::Video::empty();
        while dec.receive_frame(&mut frame).is_ok() {
            out.push(picture_rgb(&frame, w, h, width, height, chroma)?);
        }
        Ok(())
    };
    for p in packets {
        dec.send_packet(&ffmpeg::Packet::copy(p))
            .context("HEVC decoder rejected the bitstream")?;
        receive(&mut dec)?;
    }
    dec.send_eof().context("HEVC decoder: flushing")?;
    receive(&mut dec)?;
    Ok(out)
}

fn picture_rgb(
    frame: &ffmpeg::frame::Video,
    w: usize,
    h: usize,
    width: u32,
    height: u32,
    chroma: Chroma,
) -> anyhow::Result<Vec<u8>> {
    if (frame.width() as usize, frame.height() as usize) != (w, h) {
        bail!(
            "HEVC picture is {}x{}, expected {w}x{h}",
            frame.width(),
            frame.height()
        );
    }
    // Full range is signalled, so FFmpeg may report the legacy "J" formats.
    let full_range = match chroma {
        Chroma::Yuv444 => Pixel::YUVJ444P,
        Chroma::Yuv420 => Pixel::YUVJ420P,
    };
    if frame.format() != pixel_format(chroma) && frame.format() != full_range {
        bail!(
            "HEVC picture is {:?}, expected {:?}",
            frame.format(),
            pixel_format(chroma)
        );
    }
    let rgb = ycbcr::to_rgb(&copy_planes_out(frame, w, h, chroma));
    Ok(crop_rgb(&rgb, w, width as usize, height as usize))
}

/// libx265 refuses pictures smaller than this on a side.
const MIN_CODED_SIDE: usize = 16;

/// The size handed to x265: at least [`MIN_CODED_SIDE`], and even for 4:2:0. The
/// picture is padded by repeating its last row/column (the padding's bits count, as
/// they would in a real file) and cropped after decoding.
fn coded_size(width: u32, height: u32, chroma: Chroma) -> (usize, usize) {
    let (w, h) = (
        (width as usize).max(MIN_CODED_SIDE),
        (height as usize).max(MIN_CODED_SIDE),
    );
    match chroma {
        Chroma::Yuv444 => (w, h),
        Chroma::Yuv420 => (w + w % 2, h + h % 2),
    }
}

fn pad_rgb(rgb: &[u8], w: usize, h: usize, pw: usize, ph: usize) -> Vec<u8> {
    if (w, h) == (pw, ph) {
        return rgb.to_vec();
    }
    let mut out = Vec::with_capacity(pw * ph * 3);
    for y in 0..ph {
        let row = &rgb[y.min(h - 1) * w * 3..(y.min(h - 1) + 1) * w * 3];
        out.extend_from_slice(row);
        out.extend_from_slice(&row[(w - 1) * 3..].repeat(pw - w));
    }
    out
}

fn crop_rgb(rgb: &[u8], pw: usize, w: usize, h: usize) -> Vec<u8> {
    if pw == w {
        return rgb[..w * h * 3].to_vec();
    }
    (0..h)
        .flat_map(|y| &rgb[y * pw * 3..(y * pw + w) * 3])
        .copied()
        .collect()
}

/// Planes into an FFmpeg frame of their layout (rows at the frame's strides).
pub(super) fn copy_planes_in(p: &Planes, frame: &mut ffmpeg::frame::Video) {
    let sizes = [(p.width, p.height), (p.cw, p.ch), (p.cw, p.ch)];
    for (i, plane) in [&p.y, &p.cb, &p.cr].into_iter().enumerate() {
        let (pw, ph) = sizes[i];
        let stride = frame.stride(i);
        let data = frame.data_mut(i);
        for row in 0..ph {
            data[row * stride..row * stride + pw].copy_from_slice(&plane[row * pw..(row + 1) * pw]);
        }
    }
}

/// The `w`×`h` planes of a decoded frame in `chroma`'s layout.
pub(super) fn copy_planes_out(
    frame: &ffmpeg::frame::Video,
    w: usize,
    h: usize,
    chroma: Chroma,
) -> Planes {
    let (cw, ch) = chroma.chroma_size(w, h);
    let plane = |i: usize, pw: usize, ph: usize| -> Vec<u8> {
        let stride = frame.stride(i);
        let data = frame.data(i);
        (0..ph)
            .flat_map(|row| &data[row * stride..row * stride + pw])
            .copied()
            .collect()
    };
    Planes {
        width: w,
        height: h,
        cw,
        ch,
        y: plane(0, w, h),
        cb: plane(1, cw, ch),
        cr: plane(2, cw, ch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::metrics::psnr_rgb8;

    fn scene(w: usize, h: usize) -> Vec<u8> {
        (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                let v =
                    ((x as f64 / 9.0).sin() * 60.0 + (y as f64 / 7.0).cos() * 60.0 + 128.0) as u8;
                [v, (x * 2 % 256) as u8, 255 - v]
            })
            .collect()
    }

    fn settings(chroma: Chroma) -> HevcSettings {
        HevcSettings {
            chroma,
            preset: "ultrafast".into(),
            tune: None,
        }
    }

    #[test]
    fn lower_qp_costs_more_and_looks_better() {
        let img = scene(96, 64);
        let s = settings(Chroma::Yuv444);
        let coarse = encode(&img, 96, 64, 40, &s).unwrap();
        let fine = encode(&img, 96, 64, 20, &s).unwrap();
        assert!(fine.len() > coarse.len());
        let p_coarse = psnr_rgb8(&img, &decode(&coarse, 96, 64, Chroma::Yuv444).unwrap());
        let p_fine = psnr_rgb8(&img, &decode(&fine, 96, 64, Chroma::Yuv444).unwrap());
        assert!(p_fine > p_coarse && p_coarse > 25.0, "{p_coarse} {p_fine}");
    }

    #[test]
    fn odd_and_tiny_sizes_round_trip_in_both_chroma_layouts() {
        for chroma in [Chroma::Yuv444, Chroma::Yuv420] {
            for (w, h) in [(33, 17), (1, 1), (5, 40)] {
                let img = scene(w, h);
                let bits = encode(&img, w as u32, h as u32, 10, &settings(chroma)).unwrap();
                let back = decode(&bits, w as u32, h as u32, chroma).unwrap();
                assert_eq!(back.len(), img.len());
                assert!(psnr_rgb8(&img, &back) > 30.0, "{chroma:?} {w}x{h}");
            }
        }
    }

    #[test]
    fn sequences_round_trip_in_display_order() {
        let (w, h) = (48, 32);
        let frames: Vec<Vec<u8>> = (0..10)
            .map(|t| {
                let mut f = scene(w, h);
                // A moving bright bar, so frames differ and B-frames reorder.
                for y in 0..h {
                    let x = (t * 3 + y / 4) % w;
                    f[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&[255, 255, 255]);
                }
                f
            })
            .collect();
        let s = settings(Chroma::Yuv444);
        let packets = encode_sequence(&frames, w as u32, h as u32, 22, &s).unwrap();
        let back = decode_sequence(&packets, w as u32, h as u32, Chroma::Yuv444).unwrap();
        assert_eq!(back.len(), 10);
        for (t, (a, b)) in frames.iter().zip(&back).enumerate() {
            assert!(psnr_rgb8(a, b) > 30.0, "frame {t}: {}", psnr_rgb8(a, b));
        }
        // Inter coding: the sequence costs much less than ten intra pictures.
        let intra: usize = frames
            .iter()
            .map(|f| encode(f, w as u32, h as u32, 22, &s).unwrap().len())
            .sum();
        let inter: usize = packets.iter().map(Vec::len).sum();
        assert!(inter * 2 < intra, "inter {inter} bytes, intra {intra}");
    }

    #[test]
    fn garbage_and_bad_qp_are_errors() {
        assert!(decode(b"\0\0\0\x01garbage", 16, 16, Chroma::Yuv444).is_err());
        assert!(encode(&scene(16, 16), 16, 16, 52, &settings(Chroma::Yuv444)).is_err());
        let bad = HevcSettings {
            chroma: Chroma::Yuv444,
            preset: "no-such-preset".into(),
            tune: None,
        };
        assert!(encode(&scene(16, 16), 16, 16, 30, &bad).is_err());
    }
}
