//! What the fuzz targets check, and the helpers they share: limits small enough that
//! one input runs in milliseconds, the default weights' entropy model, and rewrites
//! that carry mutated streams past the checks a fuzzer cannot solve by itself (chunk
//! CRCs, the weights hash), so it reaches the code behind them.
//!
//! The checks of the targets that need only neco-core ([`check_container`],
//! [`check_latents`]) are plain functions, so that neco-core's test
//! `tests/fuzz_smoke.rs` runs them on stable Rust, over the committed seeds and a
//! bounded number of their mutations, in every `cargo test`.

use std::io::Cursor;
use std::sync::OnceLock;

use neco_core::container::video::VideoStreamReader;
use neco_core::container::ImageStream;
use neco_core::entropy::EntropyModel;
use neco_core::latent::LatentDims;
use neco_core::weights::Weights;
use neco_core::Limits;

/// The `container` target: the container parsers on arbitrary bytes return `Ok` or
/// `Err`, never panic, hang or over-allocate. Every image stream the parser accepts
/// serializes back to exactly the same bytes (the format has one serialization per
/// stream); a video stream's index and every group are read.
pub fn check_container(data: &[u8]) {
    let Some(bytes) = prepare(data) else { return };
    if let Ok(stream) = ImageStream::from_bytes(&bytes, &limits()) {
        let again = stream.to_bytes().expect("an accepted stream serializes");
        assert!(
            again == bytes,
            "accepted stream does not re-serialize identically"
        );
    }
    if let Ok(mut video) = VideoStreamReader::open(Cursor::new(&bytes[..]), &limits()) {
        for i in 0..video.groups().len() {
            let _ = video.read_group(i);
        }
    }
}

/// The `latents` target: neco-core's latent decoder with the default weights' entropy
/// model on arbitrary payloads and image sizes — ẑ decoding, the parameter path and ŷ
/// decoding return `Ok` or `Err`, never panic or hang; decoded latents have the grid's
/// size.
///
/// Input: width − 1, height − 1, quality, number of ŷ substreams (u8 each), ẑ length
/// (u16 LE), the ẑ bits, then the ŷ bits split evenly into the substreams — so seeds
/// made from real streams (fuzz/seeds/latents) start the search from valid payloads.
pub fn check_latents(data: &[u8]) {
    let [w, h, quality, substreams, z0, z1, rest @ ..] = data else {
        return;
    };
    let z_len = usize::from(u16::from_le_bytes([*z0, *z1])).min(rest.len());
    let (z_bits, y_all) = rest.split_at(z_len);
    let n = usize::from(*substreams % 8);
    let y_bits: Vec<&[u8]> = if n == 0 {
        Vec::new()
    } else {
        let per = y_all.len().div_ceil(n).max(1);
        y_all.chunks(per).collect()
    };
    let model = entropy_model();
    // Up to 256×256 pixels: 4×4 ẑ and 16×16 ŷ positions per channel.
    let d = LatentDims::new(u32::from(*w) + 1, u32::from(*h) + 1);
    if let Ok(l) = model.decode(z_bits, &y_bits, &d, *quality) {
        assert_eq!(l.z_hat.len(), model.z_channels() * d.z_plane());
        assert_eq!(l.symbols.len(), model.y_channels() * d.y_plane());
    }
}

/// The default weights, as compiled into `neco`.
pub static DEFAULT_WEIGHTS: &[u8] = include_bytes!("../../weights/hp-n64w128m192-vr-b5.nwt");

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
