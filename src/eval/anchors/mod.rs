//! The codecs neco is measured against: JPEG, HEVC intra, and AVIF, JPEG XL and WebP.

#[cfg(feature = "ffmpeg")]
pub mod av1;
#[cfg(feature = "ffmpeg")]
pub mod hevc;
pub mod jpeg;
#[cfg(feature = "ffmpeg")]
pub mod still;
pub mod ycbcr;
