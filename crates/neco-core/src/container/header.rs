//! The `HEAD` chunk: what the stream is and how to decode it.

use crate::bytes::ByteReader;
use crate::{Limits, NecoError, Result};

/// What a stream holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A single still image (`kind` byte 0).
    Image,
    /// Frames in independently decodable groups (`kind` byte 1); see
    /// [`video`](super::video).
    Video,
}

/// Video fields of the `HEAD` chunk (kind 1 only), after the image fields:
/// fps numerator u32, fps denominator u32, group size u16.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoParams {
    /// Frame rate numerator (≥ 1).
    pub fps_num: u32,
    /// Frame rate denominator (≥ 1).
    pub fps_den: u32,
    /// Most frames in one group, 1..=[`MAX_GOP`].
    pub gop: u16,
}

/// Largest group of frames.
pub const MAX_GOP: u16 = 1024;

/// The pixel format of the source image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// 8-bit RGB (byte 0).
    Rgb8,
    /// 8-bit grayscale, coded as RGB and reduced back on decode (byte 1).
    Gray8,
    /// 8-bit RGBA: RGB is coded, alpha travels in the `ALPH` chunk (byte 2).
    Rgba8,
}

/// Contents of the `HEAD` chunk.
///
/// Payload layout (little-endian): kind u8, width u32, height u32, pixel format u8,
/// bit depth u8, color u8 (always 0 = sRGB), quality u8, model id (u8 length +
/// UTF-8), weights SHA-256 `[u8; 32]`, y channels u16, z channels u16, substreams u16.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// What the stream holds.
    pub kind: Kind,
    /// Image width in pixels, at least 1.
    pub width: u32,
    /// Image height in pixels, at least 1.
    pub height: u32,
    /// Pixel format of the source image.
    pub pixel_format: PixelFormat,
    /// Bits per sample; only 8 is defined.
    pub bit_depth: u8,
    /// Encoder quality setting, 0..=100.
    pub quality: u8,
    /// Identifier of the model that coded the stream, 1..=64 bytes of UTF-8.
    pub model_id: String,
    /// SHA-256 of the model weights, so a decoder can refuse mismatched weights.
    pub weights_sha256: [u8; 32],
    /// Channels of the latent ŷ, 1..=1024.
    pub y_channels: u16,
    /// Channels of the hyper-latent ẑ, 1..=1024.
    pub z_channels: u16,
    /// Number of ŷ substreams (per frame for video), 1..=4096.
    pub substreams: u16,
    /// Frame rate and group size: `Some` exactly when `kind` is [`Kind::Video`].
    pub video: Option<VideoParams>,
}

/// Largest model id, in bytes.
pub const MAX_MODEL_ID_BYTES: usize = 64;
/// Largest `y_channels` / `z_channels`.
pub const MAX_CHANNELS: u16 = 1024;
/// Largest number of ŷ substreams.
pub const MAX_SUBSTREAMS: u16 = 4096;
/// The only bit depth defined in version 1.
const BIT_DEPTH: u8 = 8;
/// Color byte for sRGB, the only color space defined in version 1.
const COLOR_SRGB: u8 = 0;
/// Payload length without the model id bytes.
const FIXED_LEN: usize = 1 + 4 + 4 + 1 + 1 + 1 + 1 + 1 + 32 + 2 + 2 + 2;
/// Length of the video fields.
const VIDEO_LEN: usize = 4 + 4 + 2;

impl Header {
    /// Checks every field against the ranges the format allows (not against
    /// [`Limits`]); returns [`NecoError::InvalidArgument`] naming the bad field.
    pub fn validate(&self) -> Result<()> {
        match self.range_problem() {
            Some(msg) => Err(NecoError::InvalidArgument(format!("header: {msg}"))),
            None => Ok(()),
        }
    }

    /// Checks the image size against `limits`; returns [`NecoError::LimitExceeded`].
    pub fn check_limits(&self, limits: &Limits) -> Result<()> {
        for (name, v) in [("width", self.width), ("height", self.height)] {
            if v > limits.max_dimension {
                return Err(NecoError::LimitExceeded(format!(
                    "{name} {v} is over the limit of {}",
                    limits.max_dimension
                )));
            }
        }
        let pixels = u64::from(self.width) * u64::from(self.height);
        if pixels > limits.max_pixels {
            return Err(NecoError::LimitExceeded(format!(
                "{}x{} = {pixels} pixels is over the limit of {}",
                self.width, self.height, limits.max_pixels
            )));
        }
        Ok(())
    }

    /// Serializes the `HEAD` payload after [`validate`](Self::validate).
    pub fn to_payload(&self) -> Result<Vec<u8>> {
        self.validate()?;
        let id = self.model_id.as_bytes();
        let mut out = Vec::with_capacity(FIXED_LEN + id.len());
        out.push(match self.kind {
            Kind::Image => 0,
            Kind::Video => 1,
        });
        out.extend_from_slice(&self.width.to_le_bytes());
        out.extend_from_slice(&self.height.to_le_bytes());
        out.push(match self.pixel_format {
            PixelFormat::Rgb8 => 0,
            PixelFormat::Gray8 => 1,
            PixelFormat::Rgba8 => 2,
        });
        out.push(self.bit_depth);
        out.push(COLOR_SRGB);
        out.push(self.quality);
        // validate() bounded the length to 1..=64, so it fits in a u8.
        out.push(id.len() as u8);
        out.extend_from_slice(id);
        out.extend_from_slice(&self.weights_sha256);
        out.extend_from_slice(&self.y_channels.to_le_bytes());
        out.extend_from_slice(&self.z_channels.to_le_bytes());
        out.extend_from_slice(&self.substreams.to_le_bytes());
        if let Some(v) = &self.video {
            out.extend_from_slice(&v.fps_num.to_le_bytes());
            out.extend_from_slice(&v.fps_den.to_le_bytes());
            out.extend_from_slice(&v.gop.to_le_bytes());
        }
        Ok(out)
    }

    /// Parses and fully validates a `HEAD` payload from an untrusted stream.
    ///
    /// Malformed or out-of-range fields give [`NecoError::Corrupt`], values a later
    /// version may define give [`NecoError::Unsupported`], and images over `limits`
    /// give [`NecoError::LimitExceeded`].
    pub fn from_payload(payload: &[u8], limits: &Limits) -> Result<Header> {
        let mut r = ByteReader::new(payload, "HEAD", NecoError::Corrupt);
        let kind = match r.u8()? {
            0 => Kind::Image,
            1 => Kind::Video,
            k => {
                return Err(NecoError::Unsupported(format!(
                    "stream kind {k}, this build reads 0 (image) and 1 (video)"
                )))
            }
        };
        let width = r.u32()?;
        let height = r.u32()?;
        let pixel_format = match r.u8()? {
            0 => PixelFormat::Rgb8,
            1 => PixelFormat::Gray8,
            2 => PixelFormat::Rgba8,
            p => {
                return Err(NecoError::Unsupported(format!(
                    "pixel format {p}, this build reads 0..=2 (RGB8, Gray8, RGBA8)"
                )))
            }
        };
        let bit_depth = r.u8()?;
        if bit_depth != BIT_DEPTH {
            return Err(NecoError::Unsupported(format!(
                "bit depth {bit_depth}, this build reads {BIT_DEPTH}"
            )));
        }
        let color = r.u8()?;
        if color != COLOR_SRGB {
            return Err(NecoError::Unsupported(format!(
                "color space {color}, this build reads {COLOR_SRGB} (sRGB)"
            )));
        }
        let quality = r.u8()?;
        let id_len = usize::from(r.u8()?);
        let model_id = std::str::from_utf8(r.take(id_len)?)
            .map_err(|e| NecoError::corrupt(format!("HEAD: model id is not UTF-8: {e}")))?
            .to_owned();
        let weights_sha256: [u8; 32] = r.array()?;
        let y_channels = r.u16()?;
        let z_channels = r.u16()?;
        let substreams = r.u16()?;
        let video = match kind {
            Kind::Image => None,
            Kind::Video => Some(VideoParams {
                fps_num: r.u32()?,
                fps_den: r.u32()?,
                gop: r.u16()?,
            }),
        };
        if r.remaining() != 0 {
            let expected = FIXED_LEN + id_len + if video.is_some() { VIDEO_LEN } else { 0 };
            return Err(NecoError::corrupt(format!(
                "HEAD: payload is {} bytes, expected {expected} for a {id_len}-byte model id",
                payload.len(),
            )));
        }
        let header = Header {
            kind,
            width,
            height,
            pixel_format,
            bit_depth,
            quality,
            model_id,
            weights_sha256,
            y_channels,
            z_channels,
            substreams,
            video,
        };
        if let Some(msg) = header.range_problem() {
            return Err(NecoError::corrupt(format!("HEAD: {msg}")));
        }
        header.check_limits(limits)?;
        Ok(header)
    }

    /// The first field outside the format's ranges, described, if any.
    fn range_problem(&self) -> Option<String> {
        let id_len = self.model_id.len();
        let channels = 1..=MAX_CHANNELS;
        Some(if self.width == 0 || self.height == 0 {
            format!(
                "image is {}x{}, both sides must be at least 1",
                self.width, self.height
            )
        } else if self.bit_depth != BIT_DEPTH {
            format!("bit depth {}, must be {BIT_DEPTH}", self.bit_depth)
        } else if self.quality > 100 {
            format!("quality {}, must be in 0..=100", self.quality)
        } else if !(1..=MAX_MODEL_ID_BYTES).contains(&id_len) {
            format!("model id is {id_len} bytes, must be 1..={MAX_MODEL_ID_BYTES}")
        } else if !channels.contains(&self.y_channels) {
            format!(
                "y channels {}, must be in 1..={MAX_CHANNELS}",
                self.y_channels
            )
        } else if !channels.contains(&self.z_channels) {
            format!(
                "z channels {}, must be in 1..={MAX_CHANNELS}",
                self.z_channels
            )
        } else if !(1..=MAX_SUBSTREAMS).contains(&self.substreams) {
            format!(
                "substreams {}, must be in 1..={MAX_SUBSTREAMS}",
                self.substreams
            )
        } else if self.video.is_some() != (self.kind == Kind::Video) {
            format!("kind {:?} with video fields {:?}", self.kind, self.video)
        } else if let Some(v) = self.video.filter(|v| {
            let rate = 1..=i32::MAX as u32;
            !rate.contains(&v.fps_num)
                || !rate.contains(&v.fps_den)
                || !(1..=MAX_GOP).contains(&v.gop)
        }) {
            format!(
                "frame rate {}/{} and group size {}: both rate terms must be in 1..=2^31-1, the group size in 1..={MAX_GOP}",
                v.fps_num, v.fps_den, v.gop
            )
        } else {
            return None;
        })
    }
}
