//! Input and output adapters: data sets, image files.

pub mod datasets;
pub mod image_io;
