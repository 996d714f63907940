//! The classical codecs neco is measured against: JPEG and HEVC intra.

#[cfg(feature = "ffmpeg")]
pub mod hevc;
pub mod jpeg;
pub mod ycbcr;
