//! Video files through FFmpeg (ffmpeg-next): any input FFmpeg reads, decoded frame by
//! frame to 8-bit RGB with its frame rate; and FFV1 (.mkv, lossless RGB), H.264 or
//! H.265 (.mp4) written frame by frame. Memory stays at a frame or two whatever the
//! clip's length. Outputs go to a temp file renamed into place when finished, so a
//! failed or interrupted write leaves nothing behind.

use std::path::Path;

use anyhow::{bail, ensure, Context};
use ffmpeg::format::Pixel;
use ffmpeg::software::scaling;
use ffmpeg::{codec, Rational};
use ffmpeg_next as ffmpeg;
use neco_core::container::AtomicFile;
use neco_core::Limits;

use super::frames::{Fps, FrameSink, FrameSource};

/// What a video input holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoInfo {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frame rate.
    pub fps: Fps,
    /// Frame count, when the container states it.
    pub frames: Option<u64>,
}

fn init() -> anyhow::Result<()> {
    static READY: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    READY
        .get_or_init(|| {
            ffmpeg::init().map_err(|e| format!("FFmpeg failed to initialise: {e}"))?;
            ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Error);
            Ok(())
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

/// Decodes the best video stream of a file to RGB frames, one at a time.
pub struct VideoReader {
    input: ffmpeg::format::context::Input,
    decoder: ffmpeg::decoder::Video,
    scaler: scaling::Context,
    stream: usize,
    info: VideoInfo,
    flushed: bool,
    frames_read: u64,
    max_frames: u64,
    /// Width and height of the frames as stored (before `rotation`).
    stored: (u32, u32),
    /// How the stored frames are turned for display (the stream's display matrix).
    rotation: Rotation,
    /// Whether the scaler was told the first frame's YUV matrix and range.
    colours_set: bool,
    /// For limited-range gray video: the map from swscale's full-range reading.
    expand_limited: Option<[u8; 256]>,
    /// The stream's time base, and the previous frame's timestamp in it.
    time_base: Rational,
    last_timestamp: Option<i64>,
    /// Whether uneven frame timing was reported already.
    said_uneven: bool,
    /// Notes for the user not yet taken ([`FrameSource::take_warnings`]).
    warnings: Vec<String>,
}

/// A turn of the stored frames, clockwise, that a video's display matrix asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rotation {
    None,
    Cw90,
    Cw180,
    Cw270,
}

impl Rotation {
    /// The turn a display matrix (FFmpeg's nine 32-bit values, native byte order)
    /// describes, or `Err` with what it does instead (a mirror, an odd angle).
    fn from_display_matrix(bytes: &[u8]) -> Result<Self, String> {
        let m: Vec<f64> = bytes
            .chunks_exact(4)
            .take(9)
            .map(|c| f64::from(i32::from_ne_bytes([c[0], c[1], c[2], c[3]])))
            .collect();
        if m.len() < 9 {
            return Err("a malformed display matrix".to_owned());
        }
        // The clockwise angle is minus av_display_rotation_get's (counter-clockwise)
        // one; a negative determinant is a mirror image.
        let (sx, sy) = (m[0].hypot(m[3]), m[1].hypot(m[4]));
        if sx == 0.0 || sy == 0.0 {
            return Err("a degenerate display matrix".to_owned());
        }
        if m[0] * m[4] - m[1] * m[3] < 0.0 {
            return Err("a mirrored display matrix".to_owned());
        }
        let cw = (m[1] / sy).atan2(m[0] / sx).to_degrees().rem_euclid(360.0);
        // Within a degree of a right angle, as FFmpeg's tools take it.
        let quarter = (cw / 90.0).round();
        if (cw - 90.0 * quarter).abs() > 1.0 {
            return Err(format!("a rotation by {cw:.1}°"));
        }
        Ok(match quarter as i32 % 4 {
            0 => Rotation::None,
            1 => Rotation::Cw90,
            2 => Rotation::Cw180,
            _ => Rotation::Cw270,
        })
    }

    /// Whether width and height trade places.
    fn swaps_sides(self) -> bool {
        matches!(self, Rotation::Cw90 | Rotation::Cw270)
    }

    /// Turns an interleaved RGB frame of `width`×`height`.
    fn apply(self, rgb: Vec<u8>, width: u32, height: u32) -> Vec<u8> {
        if self == Rotation::None {
            return rgb;
        }
        let img = image::RgbImage::from_raw(width, height, rgb).expect("a whole frame");
        match self {
            Rotation::None => unreachable!(),
            Rotation::Cw90 => image::imageops::rotate90(&img),
            Rotation::Cw180 => image::imageops::rotate180(&img),
            Rotation::Cw270 => image::imageops::rotate270(&img),
        }
        .into_raw()
    }
}

impl VideoReader {
    /// Opens `path` and checks its frame size against `limits.max_pixels`; reading
    /// more than `limits.max_frames` frames is an error.
    pub fn open(path: &Path, limits: &Limits) -> anyhow::Result<Self> {
        init()?;
        let input = ffmpeg::format::input(&path)
            .with_context(|| format!("{}: FFmpeg cannot read it as a video", path.display()))?;
        let st = input
            .streams()
            .best(ffmpeg::media::Type::Video)
            .with_context(|| format!("{}: no video stream", path.display()))?;
        let stream = st.index();
        let rate = [st.avg_frame_rate(), st.rate()]
            .into_iter()
            .find(|r| r.numerator() > 0 && r.denominator() > 0)
            .with_context(|| format!("{}: the video stream has no frame rate", path.display()))?;
        let frames = u64::try_from(st.frames()).ok().filter(|&n| n > 0);
        let decoder = codec::context::Context::from_parameters(st.parameters())?
            .decoder()
            .video()
            .with_context(|| format!("{}: no decoder for its video codec", path.display()))?;
        let mut warnings = Vec::new();
        // Phones store portrait clips as landscape frames with a display matrix that
        // turns them; code them as players show them, as images are coded upright.
        let rotation = match st
            .side_data()
            .find(|d| d.kind() == ffmpeg::codec::packet::side_data::Type::DisplayMatrix)
            .map(|d| Rotation::from_display_matrix(d.data()))
        {
            None => Rotation::None,
            Some(Ok(r)) => r,
            Some(Err(what)) => {
                warnings.push(format!(
                    "the video asks players to show its frames with {what}, which neco does not do: they are coded as stored"
                ));
                Rotation::None
            }
        };
        let time_base = st.time_base();
        let (width, height) = (decoder.width(), decoder.height());
        ensure!(
            width > 0 && height > 0,
            "{}: video frames are {width}x{height}",
            path.display()
        );
        let pixels = u64::from(width) * u64::from(height);
        ensure!(
            pixels <= limits.max_pixels,
            "{}: video frames are {width}x{height} = {pixels} pixels, over the limit of {} (--max-pixels)",
            path.display(),
            limits.max_pixels
        );
        let scaler = scaling::Context::get(
            decoder.format(),
            width,
            height,
            Pixel::RGB24,
            width,
            height,
            scaling::Flags::BICUBIC | scaling::Flags::ACCURATE_RND | scaling::Flags::FULL_CHR_H_INT,
        )
        .with_context(|| {
            format!(
                "{}: cannot convert {:?} to RGB",
                path.display(),
                decoder.format()
            )
        })?;
        // SAFETY: a descriptor FFmpeg returned points into its static table.
        let flags = |d: ffmpeg::format::pixel::Descriptor| unsafe { (*d.as_ptr()).flags };
        if decoder
            .format()
            .descriptor()
            .is_some_and(|d| flags(d) & ffmpeg::ffi::AV_PIX_FMT_FLAG_ALPHA as u64 != 0)
        {
            warnings.push(
                "the video has an alpha channel, which neco's video streams do not carry: it is dropped"
                    .to_owned(),
            );
        }
        use ffmpeg::color::TransferCharacteristic as Transfer;
        if matches!(
            decoder.color_transfer_characteristic(),
            Transfer::SMPTE2084 | Transfer::ARIB_STD_B67
        ) {
            warnings.push(
                "the video is HDR (PQ or HLG): neco codes 8-bit SDR frames and does not tone-map, so colours will look flat"
                    .to_owned(),
            );
        }
        let stored = (width, height);
        let (width, height) = if rotation.swaps_sides() {
            (height, width)
        } else {
            (width, height)
        };
        Ok(VideoReader {
            input,
            decoder,
            scaler,
            stream,
            info: VideoInfo {
                width,
                height,
                fps: Fps::new(rate.numerator() as u32, rate.denominator() as u32)?,
                frames,
            },
            flushed: false,
            frames_read: 0,
            max_frames: limits.max_frames,
            stored,
            rotation,
            colours_set: false,
            expand_limited: None,
            time_base,
            last_timestamp: None,
            said_uneven: false,
            warnings,
        })
    }

    /// Frame size, rate and (if known) count.
    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    /// The next frame as interleaved RGB (`width × height × 3` bytes), or `None` at
    /// the end.
    pub fn next_frame(&mut self) -> anyhow::Result<Option<Vec<u8>>> {
        let mut frame = ffmpeg::frame::Video::empty();
        loop {
            let got = match self.decoder.receive_frame(&mut frame) {
                Ok(()) => true,
                // The decoder wants more input (or, after the flush, has no more).
                Err(ffmpeg::Error::Other {
                    errno: ffmpeg::util::error::EAGAIN,
                }) if !self.flushed => false,
                Err(ffmpeg::Error::Other {
                    errno: ffmpeg::util::error::EAGAIN,
                })
                | Err(ffmpeg::Error::Eof) => return Ok(None),
                Err(e) => return Err(e).context("decoding a video frame"),
            };
            if got {
                self.frames_read += 1;
                ensure!(
                    self.frames_read <= self.max_frames,
                    "the video has more than {} frames, the limit",
                    self.max_frames
                );
                self.check_timing(&frame);
                return self.convert_to_rgb(&frame).map(Some);
            }
            let mut packet = ffmpeg::Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) if packet.stream() == self.stream => self
                    .decoder
                    .send_packet(&packet)
                    .context("the video decoder rejected a packet")?,
                Ok(()) => {}
                Err(ffmpeg::Error::Eof) => {
                    self.decoder
                        .send_eof()
                        .context("flushing the video decoder")?;
                    self.flushed = true;
                }
                Err(e) => return Err(e).context("reading the video"),
            }
        }
    }

    /// Notes, once, frames that do not follow each other at the stream's rate: they
    /// are coded at a constant rate, so their timing changes.
    fn check_timing(&mut self, frame: &ffmpeg::frame::Video) {
        let Some(ts) = frame.timestamp() else {
            // The next gap would span two frames.
            self.last_timestamp = None;
            return;
        };
        if let Some(last) = self.last_timestamp.replace(ts) {
            let tb = f64::from(self.time_base);
            let gap = (ts - last) as f64 * tb;
            let expected = 1.0 / self.info.fps.as_f64();
            if !self.said_uneven && tb > 0.0 && (gap / expected - 1.0).abs() > 0.5 {
                self.said_uneven = true;
                self.warnings.push(format!(
                    "the video's frames are not evenly spaced (variable frame rate?): after frame {} comes a gap of {:.1} ms where {:.1} ms was expected; neco codes every frame at {} fps, so playback timing changes",
                    self.frames_read - 1,
                    gap * 1e3,
                    expected * 1e3,
                    self.info.fps
                ));
            }
        }
    }

    /// Tells the scaler the YUV matrix and range of the frames, from the first frame's
    /// tags (or, where it has none, the stream's): swscale assumes BT.601 in limited
    /// range (full range for gray), and HD video is usually BT.709. Untagged video
    /// gets what players assume: BT.709 from 720 lines or 1280 columns, BT.601 below.
    fn set_colours(&mut self, frame: &ffmpeg::frame::Video) {
        use ffmpeg::color::{Range, Space};
        use ffmpeg::ffi;
        self.colours_set = true;
        let format = frame.format();
        let Some(desc) = format.descriptor() else {
            return;
        };
        // SAFETY: a descriptor FFmpeg returned points into its static table.
        let rgb = unsafe { (*desc.as_ptr()).flags } & ffi::AV_PIX_FMT_FLAG_RGB as u64 != 0;
        if rgb {
            return;
        }
        let gray = desc.nb_components() < 3;
        let range = match frame.color_range() {
            Range::Unspecified => self.decoder.color_range(),
            r => r,
        };
        let full = match range {
            Range::JPEG => true,
            Range::MPEG => false,
            // Untagged: the `yuvj` formats are full range by definition, gray is full
            // range in swscale (and FFmpeg's tools), the rest limited.
            _ => {
                gray || matches!(
                    format,
                    Pixel::YUVJ420P
                        | Pixel::YUVJ422P
                        | Pixel::YUVJ444P
                        | Pixel::YUVJ440P
                        | Pixel::YUVJ411P
                )
            }
        };
        if gray {
            // swscale reads every gray format as full range, whatever it is told
            // (sws_setColorspaceDetails forces it back): expand limited range after.
            if !full {
                self.expand_limited = Some(std::array::from_fn(|v| {
                    let x = (v as f64 - 16.0) * 255.0 / 219.0;
                    x.round().clamp(0.0, 255.0) as u8
                }));
            }
            return;
        }
        let space = match frame.color_space() {
            Space::Unspecified | Space::Reserved => self.decoder.color_space(),
            s => s,
        };
        let hd = frame.height() >= 720 || frame.width() >= 1280;
        let matrix = match space {
            Space::BT709 => ffi::SWS_CS_ITU709,
            Space::FCC => ffi::SWS_CS_FCC,
            Space::BT470BG | Space::SMPTE170M => ffi::SWS_CS_ITU601,
            Space::SMPTE240M => ffi::SWS_CS_SMPTE240M,
            Space::BT2020NCL | Space::BT2020CL => ffi::SWS_CS_BT2020,
            other => {
                if !matches!(other, Space::Unspecified | Space::Reserved) {
                    self.warnings.push(format!(
                        "the video's colour matrix ({other:?}) is not supported: read as BT.{}",
                        if hd { "709" } else { "601" }
                    ));
                }
                if hd {
                    ffi::SWS_CS_ITU709
                } else {
                    ffi::SWS_CS_ITU601
                }
            }
        };
        // SAFETY: the scaler is a live context; the getter fills the pointers and ints
        // it is given (the tables it points to are the context's own, and
        // sws_getCoefficients's are static), which the setter reads before it returns.
        unsafe {
            let ctx = self.scaler.as_mut_ptr();
            let (mut inv, mut table) = (std::ptr::null_mut(), std::ptr::null_mut());
            let (mut src_range, mut dst_range, mut bright, mut contrast, mut sat) = (0, 0, 0, 0, 0);
            if ffi::sws_getColorspaceDetails(
                ctx,
                &mut inv,
                &mut src_range,
                &mut table,
                &mut dst_range,
                &mut bright,
                &mut contrast,
                &mut sat,
            ) < 0
            {
                return;
            }
            ffi::sws_setColorspaceDetails(
                ctx,
                ffi::sws_getCoefficients(matrix),
                i32::from(full),
                table,
                dst_range,
                bright,
                contrast,
                sat,
            );
        }
    }

    fn convert_to_rgb(&mut self, frame: &ffmpeg::frame::Video) -> anyhow::Result<Vec<u8>> {
        let (w, h) = self.stored;
        if (frame.width(), frame.height()) != (w, h) || frame.format() != self.decoder.format() {
            bail!(
                "the video changes frame size or format mid-stream ({}x{} {:?}, was {w}x{h}), which neco does not support",
                frame.width(),
                frame.height(),
                frame.format()
            );
        }
        if !self.colours_set {
            self.set_colours(frame);
        }
        let mut rgb = ffmpeg::frame::Video::empty();
        self.scaler
            .run(frame, &mut rgb)
            .context("converting a frame to RGB")?;
        let mut rgb = unpack_plane(&rgb, 0, w as usize * 3, h as usize);
        if let Some(map) = &self.expand_limited {
            rgb.iter_mut().for_each(|v| *v = map[usize::from(*v)]);
        }
        Ok(self.rotation.apply(rgb, w, h))
    }
}

/// Copies plane `i` of `frame` (rows of `row_bytes`, `rows` of them) without padding.
fn unpack_plane(frame: &ffmpeg::frame::Video, i: usize, row_bytes: usize, rows: usize) -> Vec<u8> {
    let (data, stride) = (frame.data(i), frame.stride(i));
    (0..rows)
        .flat_map(|y| &data[y * stride..y * stride + row_bytes])
        .copied()
        .collect()
}

/// The codec a video output is written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    /// FFV1 in Matroska, 8-bit RGB (bgr0): lossless, the decoded frames exactly.
    Ffv1,
    /// H.264 (libx264, CRF 18, 4:2:0) in MP4: plays everywhere.
    H264,
    /// H.265 (libx265, CRF 20, 4:2:0) in MP4.
    H265,
}

impl VideoCodec {
    /// The codec a path's extension asks for: `.mkv` FFV1, `.mp4` H.264.
    pub fn for_path(path: &Path) -> anyhow::Result<Self> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
        {
            Some(e) if e == "mkv" => Ok(VideoCodec::Ffv1),
            Some(e) if e == "mp4" => Ok(VideoCodec::H264),
            _ => bail!(
                "{}: unknown video extension; use .mkv (FFV1, lossless) or .mp4 (H.264)",
                path.display()
            ),
        }
    }

    fn container(self) -> &'static str {
        match self {
            VideoCodec::Ffv1 => "matroska",
            VideoCodec::H264 | VideoCodec::H265 => "mp4",
        }
    }

    fn pixel(self) -> Pixel {
        match self {
            VideoCodec::Ffv1 => Pixel::BGRZ,
            VideoCodec::H264 | VideoCodec::H265 => Pixel::YUV420P,
        }
    }
}

/// Writes RGB frames to a video file, one at a time.
pub struct VideoWriter {
    output: ffmpeg::format::context::Output,
    encoder: ffmpeg::encoder::Video,
    scaler: scaling::Context,
    file: AtomicFile,
    width: u32,
    height: u32,
    enc_tb: Rational,
    next_pts: i64,
}

impl VideoWriter {
    /// Starts `path` (refusing an existing file unless `overwrite`) for frames of
    /// `width`×`height` at `fps`.
    pub fn create(
        path: &Path,
        width: u32,
        height: u32,
        fps: Fps,
        codec_choice: VideoCodec,
        overwrite: bool,
    ) -> anyhow::Result<Self> {
        init()?;
        if codec_choice == VideoCodec::Ffv1 {
            // Measured: frames with a side of 1 or 2 pixels came out of the .mkv path
            // wrong (or not at all), 3 and more exactly as decoded.
            ensure!(
                width >= 3 && height >= 3,
                "{}: {width}x{height} frames are too small for .mkv (each side at least 3 pixels); write an image sequence (out/%04d.png) instead",
                path.display()
            );
        } else {
            ensure!(
                width.is_multiple_of(2) && height.is_multiple_of(2),
                "{}: {width}x{height} frames cannot be coded as 4:2:0 .mp4 (both sides must be even); write .mkv instead",
                path.display()
            );
        }
        let (file, _) = AtomicFile::create(path, overwrite, "")
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let mut output = ffmpeg::format::output_as(file.temp_path(), codec_choice.container())
            .with_context(|| format!("creating {}", path.display()))?;
        let found = match codec_choice {
            VideoCodec::Ffv1 => ffmpeg::encoder::find(codec::Id::FFV1),
            VideoCodec::H264 => ffmpeg::encoder::find_by_name("libx264"),
            VideoCodec::H265 => ffmpeg::encoder::find_by_name("libx265"),
        }
        .with_context(|| format!("this FFmpeg has no {codec_choice:?} encoder"))?;
        let global_header = output
            .format()
            .flags()
            .contains(ffmpeg::format::Flags::GLOBAL_HEADER);
        let enc_tb = Rational::new(fps.den as i32, fps.num as i32);
        let mut enc = codec::context::Context::new_with_codec(found)
            .encoder()
            .video()?;
        enc.set_width(width);
        enc.set_height(height);
        enc.set_format(codec_choice.pixel());
        enc.set_time_base(enc_tb);
        enc.set_frame_rate(Some(Rational::new(fps.num as i32, fps.den as i32)));
        if global_header {
            enc.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        if codec_choice != VideoCodec::Ffv1 {
            // The scaler below turns sRGB into YUV with BT.601's matrix in limited range
            // (swscale's default): say so, or players guess (BT.709 for HD) and shift
            // the colours.
            enc.set_colorspace(ffmpeg::color::Space::SMPTE170M);
            enc.set_color_range(ffmpeg::color::Range::MPEG);
            enc.set_color_primaries(ffmpeg::color::Primaries::BT709);
            enc.set_color_transfer_characteristic(
                ffmpeg::color::TransferCharacteristic::IEC61966_2_1,
            );
        }
        let mut opts = ffmpeg::Dictionary::new();
        match codec_choice {
            VideoCodec::Ffv1 => {
                opts.set("level", "3");
                opts.set("slicecrc", "1");
            }
            VideoCodec::H264 => {
                opts.set("crf", "18");
                opts.set("preset", "medium");
            }
            VideoCodec::H265 => {
                opts.set("crf", "20");
                opts.set("preset", "medium");
                opts.set("x265-params", "log-level=error");
            }
        }
        let encoder = enc
            .open_as_with(found, opts)
            .with_context(|| format!("opening the {codec_choice:?} encoder"))?;
        let mut st = output.add_stream(found)?;
        st.set_parameters(&encoder);
        st.set_time_base(enc_tb);
        st.set_avg_frame_rate(Rational::new(fps.num as i32, fps.den as i32));
        output
            .write_header()
            .with_context(|| format!("writing the header of {}", path.display()))?;
        let scaler = scaling::Context::get(
            Pixel::RGB24,
            width,
            height,
            codec_choice.pixel(),
            width,
            height,
            scaling::Flags::BICUBIC | scaling::Flags::ACCURATE_RND | scaling::Flags::FULL_CHR_H_INT,
        )?;
        Ok(VideoWriter {
            output,
            encoder,
            scaler,
            file,
            width,
            height,
            enc_tb,
            next_pts: 0,
        })
    }

    /// Appends one frame of interleaved RGB.
    pub fn write(&mut self, rgb: &[u8]) -> anyhow::Result<()> {
        let (w, h) = (self.width as usize, self.height as usize);
        ensure!(
            rgb.len() == w * h * 3,
            "frame has {} bytes, expected {w}x{h}x3",
            rgb.len()
        );
        let mut src = ffmpeg::frame::Video::new(Pixel::RGB24, self.width, self.height);
        let stride = src.stride(0);
        for (y, row) in rgb.chunks_exact(w * 3).enumerate() {
            src.data_mut(0)[y * stride..y * stride + w * 3].copy_from_slice(row);
        }
        let mut frame = ffmpeg::frame::Video::empty();
        self.scaler.run(&src, &mut frame)?;
        frame.set_pts(Some(self.next_pts));
        self.next_pts += 1;
        self.encoder
            .send_frame(&frame)
            .context("encoding a frame")?;
        self.drain()
    }

    fn drain(&mut self) -> anyhow::Result<()> {
        let ost_tb = self.output.stream(0).context("output stream")?.time_base();
        let mut packet = ffmpeg::Packet::empty();
        while self.encoder.receive_packet(&mut packet).is_ok() {
            packet.set_stream(0);
            // The duration must be set before rescaling, or MP4 drops the last frame.
            packet.set_duration(1);
            packet.rescale_ts(self.enc_tb, ost_tb);
            packet
                .write_interleaved(&mut self.output)
                .context("writing a video packet")?;
        }
        Ok(())
    }

    /// Flushes the encoder, finishes the file and moves it into place.
    pub fn finish(mut self) -> anyhow::Result<()> {
        self.encoder.send_eof().context("flushing the encoder")?;
        self.drain()?;
        self.output
            .write_trailer()
            .context("finishing the video file")?;
        let VideoWriter { output, file, .. } = self;
        drop(output); // closes the file
        file.commit()?;
        Ok(())
    }
}

impl FrameSource for VideoReader {
    fn size(&self) -> (u32, u32) {
        (self.info.width, self.info.height)
    }

    fn fps(&self) -> Fps {
        self.info.fps
    }

    fn next_frame(&mut self) -> anyhow::Result<Option<Vec<u8>>> {
        VideoReader::next_frame(self)
    }

    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}

impl FrameSink for VideoWriter {
    fn write_frame(&mut self, rgb: &[u8]) -> anyhow::Result<()> {
        self.write(rgb)
    }

    fn finish(self: Box<Self>) -> anyhow::Result<()> {
        VideoWriter::finish(*self)
    }
}
