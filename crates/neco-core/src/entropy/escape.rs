//! The escape code shared by all entropy models.
//!
//! A value outside a table's range is coded as the table's ESCAPE symbol followed by
//! this code, inside the same range-coded stream:
//!
//! 1. one sign bit (`1` = below the table's range, `0` = above it);
//! 2. the magnitude `m ≥ 0` (distance beyond the range, minus one) as an order-0
//!    Exp-Golomb code: with `w = m + 1` and `k = ⌊log2 w⌋`, `k` zero bits, a one bit,
//!    then the low `k` bits of `w`, most significant first.
//!
//! Every bit is coded with a uniform binary model (exactly one bit of output each).
//! The decoder accepts at most [`MAX_PREFIX`] leading zeros and magnitudes up to
//! [`MAX_ESCAPE_MAGNITUDE`]; anything longer is [`NecoError::Corrupt`], so hostile
//! data can neither loop for long nor overflow.

use super::coder::{dec_err, enc_err, Decoder, Encoder};
use super::quantize::PRECISION;
use crate::{NecoError, Result};
use constriction::stream::{model::UniformModel, Decode, Encode};

/// Largest |value| any entropy model codes (2^24). Larger values are rejected by
/// the encoders ([`NecoError::InvalidArgument`]) and by the decoders
/// ([`NecoError::Corrupt`]).
pub const MAX_ABS_SYMBOL: i32 = 1 << 24;

/// Largest escape magnitude (2^25, enough to reach ±[`MAX_ABS_SYMBOL`] from any
/// table whose range lies within ±[`MAX_ABS_SYMBOL`]).
pub const MAX_ESCAPE_MAGNITUDE: u32 = 1 << 25;

/// Most Exp-Golomb prefix zeros the decoder reads before declaring the stream corrupt.
pub const MAX_PREFIX: u32 = 30;

type Bit = UniformModel<u32, PRECISION>;

fn bit_model() -> Bit {
    Bit::new(2)
}

/// Codes an escape: `negative` side and `magnitude ≤ MAX_ESCAPE_MAGNITUDE`.
pub(crate) fn encode_escape(enc: &mut Encoder, negative: bool, magnitude: u32) -> Result<()> {
    if magnitude > MAX_ESCAPE_MAGNITUDE {
        return Err(NecoError::InvalidArgument(format!(
            "escape magnitude {magnitude} exceeds {MAX_ESCAPE_MAGNITUDE}"
        )));
    }
    let m = bit_model();
    enc.encode_symbol(negative as usize, m).map_err(enc_err)?;
    let w = magnitude + 1; // ≤ 2^25 + 1, no overflow
    let k = 31 - w.leading_zeros();
    for _ in 0..k {
        enc.encode_symbol(0usize, m).map_err(enc_err)?;
    }
    enc.encode_symbol(1usize, m).map_err(enc_err)?;
    for i in (0..k).rev() {
        enc.encode_symbol(((w >> i) & 1) as usize, m)
            .map_err(enc_err)?;
    }
    Ok(())
}

/// Decodes an escape written by [`encode_escape`]: `(negative, magnitude)`.
pub(crate) fn decode_escape(dec: &mut Decoder) -> Result<(bool, u32)> {
    let m = bit_model();
    let negative = dec.decode_symbol(m).map_err(dec_err)? == 1;
    let mut k = 0u32;
    loop {
        let b = dec.decode_symbol(m).map_err(dec_err)?;
        if b == 1 {
            break;
        }
        k += 1;
        if k > MAX_PREFIX {
            return Err(NecoError::corrupt(format!(
                "escape prefix longer than {MAX_PREFIX} bits"
            )));
        }
    }
    let mut w: u32 = 1;
    for _ in 0..k {
        let b = dec.decode_symbol(m).map_err(dec_err)? as u32;
        w = (w << 1) | b;
    }
    let magnitude = w - 1;
    if magnitude > MAX_ESCAPE_MAGNITUDE {
        return Err(NecoError::corrupt(format!(
            "escape magnitude {magnitude} exceeds {MAX_ESCAPE_MAGNITUDE}"
        )));
    }
    Ok((negative, magnitude))
}

/// Checks `|v| ≤ MAX_ABS_SYMBOL` for the encoders.
pub(crate) fn check_symbol(v: i32, pos: usize) -> Result<()> {
    if v.unsigned_abs() > MAX_ABS_SYMBOL as u32 {
        return Err(NecoError::InvalidArgument(format!(
            "symbol {v} at index {pos} is outside ±{MAX_ABS_SYMBOL}"
        )));
    }
    Ok(())
}

/// Turns a decoded escape back into a value for the decoders, with the table
/// range `lo..=hi`; errors with [`NecoError::Corrupt`] beyond ±`MAX_ABS_SYMBOL`.
pub(crate) fn escaped_value(lo: i64, hi: i64, negative: bool, magnitude: u32) -> Result<i32> {
    let v = if negative {
        lo - 1 - magnitude as i64
    } else {
        hi + 1 + magnitude as i64
    };
    if v.abs() > MAX_ABS_SYMBOL as i64 {
        return Err(NecoError::corrupt(format!(
            "escaped value {v} is outside ±{MAX_ABS_SYMBOL}"
        )));
    }
    Ok(v as i32)
}
