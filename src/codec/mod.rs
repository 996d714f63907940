//! Image pipelines: padding and colour conversion, the neural transforms, and the
//! deterministic entropy-coding path, glued into encode and decode.

pub mod image;
pub mod pad;
pub mod refine;
pub mod tiling;
pub mod timings;
pub mod video;

pub use image::{Analysis, Codec, DecodedImage};
pub use timings::Timings;
