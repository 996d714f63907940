//! The still-image formats people choose today, through FFmpeg's encoders: AVIF
//! (libaom, one AV1 intra picture in an AVIF file), JPEG XL (libjxl, VarDCT) and WebP
//! (libwebp, lossy). Each rate counted is the file a user would get: the `.avif`
//! written by FFmpeg's AVIF muxer, the `.jxl` codestream (a bare codestream is a valid
//! file), the `.webp` RIFF file as libwebp writes it.
//!
//! Decoding: AVIF through FFmpeg's AV1 decoder (dav1d where present), JPEG XL through
//! libjxl, WebP with the `image` crate's decoder (libwebp's fancy chroma upsampling).

use std::sync::OnceLock;

use anyhow::{anyhow, bail, ensure, Context};
use ffmpeg::codec;
use ffmpeg::format::Pixel;
use ffmpeg::util::color;
use ffmpeg_next as ffmpeg;

use super::hevc::{copy_planes_in, copy_planes_out};
use super::ycbcr::{self, Chroma};

/// One of the still-image anchors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// AV1 intra picture in an AVIF file (libaom), 4:4:4.
    Avif,
    /// JPEG XL, VarDCT (libjxl).
    Jxl,
    /// Lossy WebP (libwebp).
    Webp,
}

impl Format {
    /// The FFmpeg encoder it needs.
    fn encoder(self) -> &'static str {
        match self {
            Format::Avif => "libaom-av1",
            Format::Jxl => "libjxl",
            Format::Webp => "libwebp",
        }
    }

    /// The Debian package that brings the library FFmpeg needs for it.
    fn package(self) -> &'static str {
        match self {
            Format::Avif => "libaom3",
            Format::Jxl => "libjxl0.7",
            Format::Webp => "libwebp7",
        }
    }
}

/// Initialise FFmpeg once and check that it has what `format` needs.
pub fn check_available(format: Format) -> anyhow::Result<()> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| {
        ffmpeg::init().map_err(|e| format!("FFmpeg failed to initialise: {e}"))?;
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Error);
        Ok(())
    })
    .clone()
    .map_err(|e| anyhow!(e))?;
    let name = format.encoder();
    ensure!(
        ffmpeg::encoder::find_by_name(name).is_some(),
        "this FFmpeg was built without the {name} encoder, so the {format:?} anchor cannot run; \
         install an FFmpeg built with it (Debian/Ubuntu: the distribution's libavcodec-dev, \
         with {}) or leave it out of --against",
        format.package()
    );
    if format == Format::Avif {
        ensure!(
            ffmpeg_has_muxer("avif"),
            "this FFmpeg has no AVIF muxer (FFmpeg 5.1 or newer has one)"
        );
        ensure!(
            ffmpeg::decoder::find(codec::Id::AV1).is_some(),
            "this FFmpeg has no AV1 decoder (Debian/Ubuntu: libdav1d6)"
        );
    }
    if format == Format::Jxl {
        ensure!(
            ffmpeg::decoder::find_by_name("libjxl").is_some(),
            "this FFmpeg has no libjxl decoder"
        );
    }
    Ok(())
}

/// Whether FFmpeg knows the muxer `name`.
fn ffmpeg_has_muxer(name: &str) -> bool {
    let Ok(c) = std::ffi::CString::new(name) else {
        return false;
    };
    // SAFETY: av_guess_format reads the NUL-terminated name and returns a static
    // pointer or null; nothing is written.
    unsafe {
        !ffmpeg::ffi::av_guess_format(c.as_ptr(), std::ptr::null(), std::ptr::null()).is_null()
    }
}

/// How an anchor is driven: the speed/effort knob each encoder has.
#[derive(Debug, Clone, Copy)]
pub struct StillSettings {
    /// libaom `cpu-used` (0 slowest … 8).
    pub avif_speed: u8,
    /// libjxl effort (1 … 9).
    pub jxl_effort: u8,
    /// libwebp method (0 fastest … 6).
    pub webp_method: u8,
}

impl Default for StillSettings {
    /// The defaults of `avifenc` (speed 6), `cjxl` (effort 7) and `cwebp` (method 4).
    fn default() -> Self {
        StillSettings {
            avif_speed: 6,
            jxl_effort: 7,
            webp_method: 4,
        }
    }
}

/// Encodes interleaved RGB at `setting`: an AV1 CRF (0..=63) for AVIF, a JPEG XL
/// distance in hundredths (1..=1500, 100 = distance 1.0) for JPEG XL, a quality
/// (0..=100) for WebP. Returns the file's bytes.
pub fn encode(
    format: Format,
    rgb: &[u8],
    (width, height): (u32, u32),
    setting: u32,
    s: &StillSettings,
) -> anyhow::Result<Vec<u8>> {
    check_available(format)?;
    ensure!(
        rgb.len() == width as usize * height as usize * 3,
        "{} RGB bytes for {width}x{height}",
        rgb.len()
    );
    match format {
        Format::Avif => encode_avif(rgb, width, height, setting, s.avif_speed),
        Format::Jxl => encode_jxl(rgb, width, height, setting, s.jxl_effort),
        Format::Webp => encode_webp(rgb, width, height, setting, s.webp_method),
    }
}

/// Decodes a file from [`encode`] to interleaved RGB of `width`×`height`.
pub fn decode(
    format: Format,
    bytes: &[u8],
    (width, height): (u32, u32),
) -> anyhow::Result<Vec<u8>> {
    check_available(format)?;
    let rgb = match format {
        Format::Avif => decode_avif(bytes, width, height)?,
        Format::Jxl => decode_jxl(bytes, width, height)?,
        Format::Webp => image::load_from_memory_with_format(bytes, image::ImageFormat::WebP)
            .context("decoding the WebP file")?
            .to_rgb8()
            .into_raw(),
    };
    ensure!(
        rgb.len() == width as usize * height as usize * 3,
        "the {format:?} decoder gave {} RGB bytes for {width}x{height}",
        rgb.len()
    );
    Ok(rgb)
}

/// An encoder `name` for `width`×`height` pictures of `format`, opened with `opts`.
fn open_encoder(
    name: &str,
    (width, height): (u32, u32),
    format: Pixel,
    opts: ffmpeg::Dictionary,
    global_header: bool,
) -> anyhow::Result<ffmpeg::encoder::Video> {
    let codec = ffmpeg::encoder::find_by_name(name).with_context(|| format!("{name} encoder"))?;
    let mut enc = codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()
        .with_context(|| format!("creating the {name} encoder"))?;
    enc.set_width(width);
    enc.set_height(height);
    enc.set_format(format);
    enc.set_time_base((1, 25));
    if global_header {
        enc.set_flags(codec::Flags::GLOBAL_HEADER);
    }
    enc.open_as_with(codec, opts)
        .with_context(|| format!("opening {name}"))
}

/// Sends `frame` and the end of the stream; returns the packets.
fn encode_frame(
    enc: &mut ffmpeg::encoder::Video,
    frame: &ffmpeg::frame::Video,
) -> anyhow::Result<Vec<ffmpeg::Packet>> {
    enc.send_frame(frame).context("sending the picture")?;
    enc.send_eof().context("flushing the encoder")?;
    let mut packets = Vec::new();
    let mut packet = ffmpeg::Packet::empty();
    while enc.receive_packet(&mut packet).is_ok() {
        packets.push(packet.clone());
    }
    ensure!(!packets.is_empty(), "the encoder produced nothing");
    Ok(packets)
}

fn encode_avif(
    rgb: &[u8],
    width: u32,
    height: u32,
    crf: u32,
    speed: u8,
) -> anyhow::Result<Vec<u8>> {
    ensure!(crf <= 63, "AVIF CRF {crf} is out of range 0..=63");
    // One AV1 intra picture, 4:4:4 full-range BT.601 (as the HEVC anchor), tuned for
    // PSNR; constant quality (no bit rate).
    let planes = ycbcr::from_rgb(rgb, width as usize, height as usize, Chroma::Yuv444);
    let dir = tempfile::tempdir().context("a temporary folder for the AVIF file")?;
    let path = dir.path().join("anchor.avif");
    let mut octx = ffmpeg::format::output_as(&path, "avif").context("FFmpeg's AVIF muxer")?;
    let global_header = octx
        .format()
        .flags()
        .contains(ffmpeg::format::Flags::GLOBAL_HEADER);
    let mut enc = libaom_encoder(
        (width, height),
        (crf, speed),
        &[("usage", "allintra"), ("still-picture", "1")],
        1,
        global_header,
    )?;
    let mut ost = octx.add_stream(ffmpeg::encoder::find_by_name("libaom-av1"))?;
    ost.set_parameters(&enc);
    ost.set_time_base((1, 25));
    let mut frame = ffmpeg::frame::Video::new(Pixel::YUV444P, width, height);
    copy_planes_in(&planes, &mut frame);
    frame.set_pts(Some(0));
    frame.set_color_range(color::Range::JPEG);
    frame.set_color_space(color::Space::BT470BG);
    octx.write_header().context("writing the AVIF header")?;
    let stream_tb = octx.stream(0).context("the AVIF stream")?.time_base();
    for mut packet in encode_frame(&mut enc, &frame)? {
        packet.set_stream(0);
        packet.rescale_ts((1, 25), stream_tb);
        packet
            .write_interleaved(&mut octx)
            .context("writing the AVIF file")?;
    }
    octx.write_trailer().context("finishing the AVIF file")?;
    drop(octx);
    std::fs::read(&path).context("reading the AVIF file back")
}

fn decode_avif(bytes: &[u8], width: u32, height: u32) -> anyhow::Result<Vec<u8>> {
    let dir = tempfile::tempdir().context("a temporary folder for the AVIF file")?;
    let path = dir.path().join("anchor.avif");
    std::fs::write(&path, bytes)?;
    let mut ictx = ffmpeg::format::input(&path).context("opening the AVIF file")?;
    let stream = ictx
        .streams()
        .best(ffmpeg::media::Type::Video)
        .context("the AVIF file has no picture")?;
    let index = stream.index();
    let mut dec = codec::context::Context::from_parameters(stream.parameters())?
        .decoder()
        .video()
        .context("opening the AV1 decoder")?;
    let mut out = None;
    let mut receive = |dec: &mut ffmpeg::decoder::Video| -> anyhow::Result<()> {
        let mut frame = ffmpeg::frame::Video::empty();
        while dec.receive_frame(&mut frame).is_ok() {
            out.get_or_insert(yuv444_to_rgb(&frame, width, height)?);
        }
        Ok(())
    };
    for (s, packet) in ictx.packets() {
        if s.index() == index {
            dec.send_packet(&packet).context("the AV1 decoder")?;
            receive(&mut dec)?;
        }
    }
    dec.send_eof().context("flushing the AV1 decoder")?;
    receive(&mut dec)?;
    out.context("the AV1 decoder returned no picture")
}

/// libaom for `width`×`height` 4:4:4 full-range BT.601 pictures (as the HEVC
/// anchor's) at constant quality `crf` (no bit rate) with `cpu-used` `speed`, tuned
/// for PSNR, with `extra` options and keyframes every `gop` frames.
pub(super) fn libaom_encoder(
    (width, height): (u32, u32),
    (crf, speed): (u32, u8),
    extra: &[(&str, &str)],
    gop: u32,
    global_header: bool,
) -> anyhow::Result<ffmpeg::encoder::Video> {
    ensure!(crf <= 63, "AV1 CRF {crf} is out of range 0..=63");
    let codec = ffmpeg::encoder::find_by_name("libaom-av1").context("libaom-av1")?;
    let mut enc = codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()
        .context("creating libaom-av1")?;
    enc.set_width(width);
    enc.set_height(height);
    enc.set_format(Pixel::YUV444P);
    enc.set_time_base((1, 25));
    enc.set_bit_rate(0);
    enc.set_gop(gop);
    enc.set_color_range(color::Range::JPEG);
    enc.set_colorspace(color::Space::BT470BG);
    if global_header {
        enc.set_flags(codec::Flags::GLOBAL_HEADER);
    }
    let mut opts = ffmpeg::Dictionary::new();
    opts.set("crf", &crf.to_string());
    opts.set("cpu-used", &speed.to_string());
    opts.set("tune", "psnr");
    for (k, v) in extra {
        opts.set(k, v);
    }
    enc.open_as_with(codec, opts)
        .with_context(|| format!("opening libaom-av1 (cpu-used {speed})"))
}

/// A decoded 4:4:4 picture as RGB through the same full-range BT.601 matrix it was
/// coded with.
pub(super) fn yuv444_to_rgb(
    frame: &ffmpeg::frame::Video,
    width: u32,
    height: u32,
) -> anyhow::Result<Vec<u8>> {
    ensure!(
        (frame.width(), frame.height()) == (width, height),
        "the picture is {}x{}, expected {width}x{height}",
        frame.width(),
        frame.height()
    );
    ensure!(
        matches!(frame.format(), Pixel::YUV444P | Pixel::YUVJ444P),
        "the picture is {:?}, expected 8-bit 4:4:4",
        frame.format()
    );
    let (w, h) = (width as usize, height as usize);
    Ok(ycbcr::to_rgb(&copy_planes_out(frame, w, h, Chroma::Yuv444)))
}

/// Interleaved pixels of `bpp` bytes into plane 0 of `frame`.
fn copy_packed_in(src: &[u8], row_bytes: usize, frame: &mut ffmpeg::frame::Video) {
    let stride = frame.stride(0);
    let data = frame.data_mut(0);
    for (row, line) in src.chunks_exact(row_bytes).enumerate() {
        data[row * stride..row * stride + row_bytes].copy_from_slice(line);
    }
}

fn encode_jxl(
    rgb: &[u8],
    width: u32,
    height: u32,
    distance: u32,
    effort: u8,
) -> anyhow::Result<Vec<u8>> {
    ensure!(
        (1..=1500).contains(&distance),
        "JPEG XL distance {:.2} is out of range 0.01..=15",
        distance as f64 / 100.0
    );
    let mut opts = ffmpeg::Dictionary::new();
    opts.set("distance", &format!("{:.2}", distance as f64 / 100.0));
    opts.set("effort", &effort.to_string());
    let mut enc = open_encoder("libjxl", (width, height), Pixel::RGB24, opts, false)
        .with_context(|| format!("libjxl effort {effort}"))?;
    let mut frame = ffmpeg::frame::Video::new(Pixel::RGB24, width, height);
    copy_packed_in(rgb, width as usize * 3, &mut frame);
    frame.set_pts(Some(0));
    let packets = encode_frame(&mut enc, &frame)?;
    Ok(packets
        .iter()
        .flat_map(|p| p.data().unwrap_or_default().to_vec())
        .collect())
}

fn decode_jxl(bytes: &[u8], width: u32, height: u32) -> anyhow::Result<Vec<u8>> {
    let codec = ffmpeg::decoder::find_by_name("libjxl").context("the libjxl decoder")?;
    let mut dec = codec::context::Context::new_with_codec(codec)
        .decoder()
        .video()
        .context("opening the libjxl decoder")?;
    dec.send_packet(&ffmpeg::Packet::copy(bytes))
        .context("the libjxl decoder rejected the file")?;
    dec.send_eof().context("flushing the libjxl decoder")?;
    let mut frame = ffmpeg::frame::Video::empty();
    dec.receive_frame(&mut frame)
        .map_err(|e| anyhow!("the libjxl decoder returned no picture: {e}"))?;
    ensure!(
        (frame.width(), frame.height()) == (width, height),
        "the JPEG XL picture is {}x{}, expected {width}x{height}",
        frame.width(),
        frame.height()
    );
    if frame.format() != Pixel::RGB24 {
        bail!(
            "the JPEG XL picture is {:?}, expected RGB24",
            frame.format()
        );
    }
    let (stride, row) = (frame.stride(0), width as usize * 3);
    Ok((0..height as usize)
        .flat_map(|y| &frame.data(0)[y * stride..y * stride + row])
        .copied()
        .collect())
}

fn encode_webp(
    rgb: &[u8],
    width: u32,
    height: u32,
    quality: u32,
    method: u8,
) -> anyhow::Result<Vec<u8>> {
    ensure!(
        quality <= 100,
        "WebP quality {quality} is out of range 0..=100"
    );
    // RGB in (as cwebp reads a PNG): libwebp converts to its 4:2:0 Y′CbCr itself.
    let mut opts = ffmpeg::Dictionary::new();
    opts.set("quality", &quality.to_string());
    opts.set("compression_level", &method.to_string());
    opts.set("lossless", "0");
    let mut enc = open_encoder("libwebp", (width, height), Pixel::BGRA, opts, false)
        .with_context(|| format!("libwebp method {method}"))?;
    let bgra: Vec<u8> = rgb
        .chunks_exact(3)
        .flat_map(|p| [p[2], p[1], p[0], 255])
        .collect();
    let mut frame = ffmpeg::frame::Video::new(Pixel::BGRA, width, height);
    copy_packed_in(&bgra, width as usize * 4, &mut frame);
    frame.set_pts(Some(0));
    let packets = encode_frame(&mut enc, &frame)?;
    let file: Vec<u8> = packets
        .iter()
        .flat_map(|p| p.data().unwrap_or_default().to_vec())
        .collect();
    ensure!(
        file.starts_with(b"RIFF"),
        "libwebp did not write a WebP file"
    );
    Ok(file)
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

    #[test]
    fn finer_settings_cost_more_and_look_better() {
        let (w, h) = (96u32, 64u32);
        let img = scene(w as usize, h as usize);
        let s = StillSettings {
            avif_speed: 8,
            jxl_effort: 3,
            webp_method: 2,
        };
        // (format, coarse setting, fine setting, container magic)
        for (format, coarse, fine, magic) in [
            (Format::Avif, 50, 10, &b"ftypavif"[..]),
            (Format::Jxl, 600, 50, &[0xff, 0x0a][..]),
            (Format::Webp, 20, 95, &b"RIFF"[..]),
        ] {
            let a = encode(format, &img, (w, h), coarse, &s).unwrap();
            let b = encode(format, &img, (w, h), fine, &s).unwrap();
            assert!(
                a.windows(magic.len()).take(8).any(|x| x == magic),
                "{format:?} file starts {:02x?}",
                &a[..12.min(a.len())]
            );
            assert!(b.len() > a.len(), "{format:?}: {} vs {}", b.len(), a.len());
            let pa = psnr_rgb8(&img, &decode(format, &a, (w, h)).unwrap());
            let pb = psnr_rgb8(&img, &decode(format, &b, (w, h)).unwrap());
            assert!(pb > pa && pa > 20.0, "{format:?}: {pa} {pb}");
        }
    }

    #[test]
    fn odd_sizes_round_trip_and_bad_settings_are_refused() {
        let s = StillSettings::default();
        for format in [Format::Avif, Format::Jxl, Format::Webp] {
            for (w, h) in [(33u32, 17u32), (1, 1)] {
                let img = scene(w as usize, h as usize);
                let setting = match format {
                    Format::Avif => 10,
                    Format::Jxl => 50,
                    Format::Webp => 95,
                };
                let bytes = encode(format, &img, (w, h), setting, &s).unwrap();
                let back = decode(format, &bytes, (w, h)).unwrap();
                assert!(psnr_rgb8(&img, &back) > 25.0, "{format:?} {w}x{h}");
            }
            assert!(decode(format, b"garbage", (16, 16)).is_err(), "{format:?}");
        }
        let img = scene(16, 16);
        assert!(encode(Format::Avif, &img, (16, 16), 64, &s).is_err());
        assert!(encode(Format::Jxl, &img, (16, 16), 0, &s).is_err());
        assert!(encode(Format::Webp, &img, (16, 16), 101, &s).is_err());
    }
}
