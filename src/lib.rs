//! neco: a learned image codec (Burn transforms, deterministic entropy coding).
//!
//! The neural transforms g_a / g_s run on any Burn backend; everything that decides
//! which bits mean what lives in the `neco-core` crate and is computed identically on
//! every machine, so streams decode bit-exactly everywhere.

pub mod alloc;
pub mod backend;
pub mod cli;
pub mod codec;
pub mod eval;
pub mod ffmpeg_helper;
pub mod io;
pub mod model;
pub mod train;
