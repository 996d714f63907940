//! Helpers shared by the fuzz targets: limits small enough that one input runs in
//! milliseconds, the default weights' entropy model, and rewrites that carry
//! mutated streams past the checks a fuzzer cannot solve by itself (chunk CRCs, the
//! weights hash), so it reaches the code behind them.

use std::sync::OnceLock;

use neco_core::entropy::EntropyModel;
use neco_core::weights::Weights;
use neco_core::Limits;

/// The default weights, as compiled into `neco`.
pub static DEFAULT_WEIGHTS: &[u8] = include_bytes!("../../weights/hp-n64m192-vr.nwt");

/// Limits for fuzzing: at most 256×256 pixels, so a decode stays cheap.
pub fn limits() -> Limits {
    Limits {
        max_pixels: 256 * 256,
        max_dimension: 1024,
        max_chunk_bytes: 1 << 20,
        max_input_bytes: 1 << 20,
        max_frames: 64,
    }
}

/// The entropy model of the default weights (parsed once).
pub fn entropy_model() -> &'static EntropyModel {
    static MODEL: OnceLock<EntropyModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        Weights::parse(DEFAULT_WEIGHTS)
            .and_then(|w| w.entropy_model())
            .expect("the default weights load")
    })
}

/// Bytes before the first chunk: magic and version.
const PREAMBLE: usize = 10;
/// Offset of the weights hash in the `HEAD` payload, after a model id of `id_len` bytes.
const fn sha_offset(id_len: usize) -> usize {
    14 + id_len
}

/// The chunks of `data`, as far as their lengths are consistent: each chunk's start
/// (its tag) and payload range; the CRC follows the payload.
fn chunks(data: &[u8]) -> Vec<(usize, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let mut at = PREAMBLE;
    while at + 8 <= data.len() {
        let len = u32::from_le_bytes(data[at + 4..at + 8].try_into().unwrap()) as usize;
        let payload = at + 8..(at + 8).saturating_add(len);
        if payload.end.saturating_add(4) > data.len() {
            break;
        }
        at = payload.end + 4;
        out.push((payload.start - 8, payload));
    }
    out
}

/// Rewrites every chunk's CRC to the right value.
pub fn fix_crcs(data: &mut [u8]) {
    for (start, payload) in chunks(data) {
        let mut h = crc32fast::Hasher::new();
        h.update(&data[start..start + 4]);
        h.update(&data[payload.clone()]);
        data[payload.end..payload.end + 4].copy_from_slice(&h.finalize().to_le_bytes());
    }
}

/// Writes `sha` into the first `HEAD` chunk's weights hash (when it is long enough),
/// so the stream claims the weights it will be decoded with.
pub fn claim_weights(data: &mut [u8], sha: &[u8; 32]) {
    let Some((_, p)) = chunks(data)
        .into_iter()
        .find(|(start, _)| &data[*start..*start + 4] == b"HEAD")
    else {
        return;
    };
    if p.len() < 14 {
        return;
    }
    let at = p.start + sha_offset(data[p.start + 13] as usize);
    if at + 32 <= p.end {
        data[at..at + 32].copy_from_slice(sha);
    }
}

/// The bytes a target parses: the input after its first byte, whose bits choose the
/// rewrites (bit 0: claim the default weights; bit 1: fix CRCs).
pub fn prepare(data: &[u8]) -> Option<Vec<u8>> {
    let (&mode, rest) = data.split_first()?;
    let mut bytes = rest.to_vec();
    if mode & 1 != 0 {
        claim_weights(&mut bytes, &entropy_model().weights_sha256());
    }
    if mode & 2 != 0 {
        fix_crcs(&mut bytes);
    }
    Some(bytes)
}
