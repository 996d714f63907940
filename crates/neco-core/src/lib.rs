//! neco-core: everything that decides which bits mean what.
//!
//! This crate holds the `.neco` container, the entropy models (integer CDF tables and
//! the constriction coders) and the deterministic entropy-parameter path (the
//! hyper-synthesis run in strictly ordered IEEE f32 with no transcendental calls).
//! It depends on neither Burn nor FFmpeg: the only thing that crosses into it from
//! the neural transforms is an integer latent, so a stream's latents decode to the
//! same integers on every machine and backend.

mod bytes;
pub mod container;
pub mod entropy;
pub mod error;
pub mod float_mode;
pub mod latent;
pub mod limits;
pub mod quality;
pub mod weights;

pub use error::{NecoError, Result};
pub use limits::Limits;

/// Lower-case hex of bytes (how hashes are shown in messages).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
