//! Entropy models and the deterministic entropy-parameter path.
//!
//! # Why decoding is bit-exact everywhere
//!
//! Everything that decides which bits mean what is computed identically on every
//! machine:
//!
//! * **Coding** uses constriction's range coder (32-bit words) with integer
//!   fixed-point tables of 16-bit precision ([`quantize::PRECISION`]); the coder
//!   itself is pure integer arithmetic.
//! * **ẑ tables** ([`factorized`]) are quantized once at export and shipped as
//!   integers; decoding never evaluates the float model.
//! * **ŷ tables** ([`gaussian`]) are built at run time, but only from hard-coded
//!   constants with ordered IEEE f64 `+ - * /`, comparisons and casts: the Gaussian
//!   CDF uses this crate's own `exp` (range reduction + fixed polynomial) instead of
//!   libm, whose transcendentals differ between platforms. A checksum test pins all
//!   64 tables.
//! * **Scale selection** ([`gaussian::scale_index`]) converts the predicted scale to
//!   fixed point and compares integers.
//! * **The hyper-synthesis** ([`hyper`]) runs in f32 with a fixed accumulation
//!   order per output value (bias, then input channel, kernel row, kernel column),
//!   no FMA contraction (Rust never contracts) and no transcendental functions.
//!   Rayon and SIMD only change which *independent* outputs are computed together.
//!   Means are snapped to a 1/64 grid.
//! * **The multivariate model** ([`coupling`]) turns the symbols of a channel
//!   group's earlier channels into the conditional means of the later ones with
//!   ordered f32 `+ − × ÷` only; the scales (and tables) need ẑ alone.
//! * **The temporal prior** ([`temporal`]) of video frames is one more network in
//!   the same arithmetic, fed with the previous frame's ŷ — itself computed from
//!   decoded integers and snapped means.
//! * **Escapes** ([`escape`]) are bounded, so hostile data cannot hang or overflow
//!   the decoder; every coder error maps to [`NecoError::Corrupt`](crate::NecoError).

mod coder;
pub mod coupling;
pub mod escape;
pub mod factorized;
pub mod gaussian;
pub mod hyper;
pub mod hyper_format;
pub mod ladder;
pub mod model;
pub mod quantize;
pub mod temporal;

pub use coupling::{Coupling, MAX_GROUP};
pub use escape::{MAX_ABS_SYMBOL, MAX_ESCAPE_MAGNITUDE, MAX_PREFIX};
pub use factorized::{ChannelTable, FactorizedTables};
pub use gaussian::{
    decode_parallel, decode_symbols, encode_parallel, encode_symbols, gaussian_tables, scale_index,
    substream_ranges, GaussianTable, GaussianTables, NUM_SCALES, SCALE_LADDER, SCALE_MAX,
    SCALE_MIN,
};
pub use hyper::{
    entropy_params, snap_mean, EntropyParams, HyperSynthesis, Layer, Planes, PreparedHyperSynthesis,
};
pub use ladder::{RateLadder, MAX_RUNGS};
pub use model::{CodedLatents, EntropyModel, Latents};
pub use quantize::{quantize_pmf, PRECISION};
pub use temporal::TemporalPrior;
