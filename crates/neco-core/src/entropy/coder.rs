//! Small helpers around constriction's range coder shared by all entropy models.

use crate::{NecoError, Result};
use constriction::stream::queue::{DefaultRangeDecoder, DefaultRangeEncoder};

/// The range encoder used for every neco bitstream (32-bit words, 64-bit state).
pub(crate) type Encoder = DefaultRangeEncoder;
/// The matching decoder, reading from an owned word buffer.
pub(crate) type Decoder = DefaultRangeDecoder;

/// Finishes `enc` and serializes its words little-endian.
pub(crate) fn finish(enc: Encoder) -> Result<Vec<u8>> {
    let words = enc
        .into_compressed()
        .map_err(|e| NecoError::InvalidArgument(format!("range encoder failed: {e:?}")))?;
    let mut out = Vec::with_capacity(words.len() * 4);
    for w in words {
        out.extend_from_slice(&w.to_le_bytes());
    }
    Ok(out)
}

/// Parses little-endian words and opens a decoder on them.
///
/// Errors with [`NecoError::Corrupt`] if the length is not a multiple of 4.
pub(crate) fn open(data: &[u8]) -> Result<Decoder> {
    if !data.len().is_multiple_of(4) {
        return Err(NecoError::corrupt(format!(
            "entropy-coded payload is {} bytes, must be a multiple of 4",
            data.len()
        )));
    }
    let words: Vec<u32> = data
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Decoder::from_compressed(words).map_err(|e| NecoError::corrupt(format!("range decoder: {e:?}")))
}

/// Maps an encoder error (an impossible symbol: a bug, never stream content).
pub(crate) fn enc_err(e: impl std::fmt::Debug) -> NecoError {
    NecoError::InvalidArgument(format!("range encoder: {e:?}"))
}

/// Maps a decoder error (invalid data in the stream).
pub(crate) fn dec_err(e: impl std::fmt::Debug) -> NecoError {
    NecoError::corrupt(format!("the range decoder rejected the data ({e:?})"))
}
