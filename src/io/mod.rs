//! Input and output adapters: data sets, image files, image sequences and (with the
//! `ffmpeg` feature) video files.

pub mod datasets;
pub mod exif;
pub mod frames;
pub mod image_io;
pub mod sequence;
pub mod sniff;
#[cfg(feature = "ffmpeg")]
pub mod video;
