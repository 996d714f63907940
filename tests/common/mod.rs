//! Helpers shared by the integration tests (each test binary compiles its own copy,
//! so not every binary uses every helper).
#![allow(dead_code)]

use std::path::PathBuf;

use burn::prelude::Device;
use neco::codec::{Codec, DecodedImage, Timings};
use neco::io::frames::{Fps, FrameSource};
use neco::io::image_io::{read_source, SourceImage};
use neco::model::weights::{WeightsFile, DEFAULT_WEIGHTS};
use neco_core::container::ImageStream;
use neco_core::Limits;
use sha2::{Digest, Sha256};

/// PSNR floor (dB) for the small assets at q = 50 with the committed weights
/// (hp-n64m96, step 10370: the lowest of them, deep16-32x24, measures 16.4 dB).
/// Raise it when better weights are committed.
pub const PSNR_FLOOR_DB: f64 = 15.5;

/// Floor for the 768×512 sample at q = 50 (the committed weights measure 28.8 dB).
pub const PSNR_FLOOR_SAMPLE_DB: f64 = 28.0;

/// Floor for the 1×1 asset, whose PSNR is the error of a single pixel (3 samples);
/// the committed weights measure 22.7 dB.
pub const PSNR_FLOOR_TINY_DB: f64 = 20.0;

/// Root of the `neco` package.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Path of a file in `assets/`.
pub fn asset(name: &str) -> PathBuf {
    root().join("assets").join(name)
}

/// Path of `tests/golden/`.
pub fn golden_dir() -> PathBuf {
    root().join("tests").join("golden")
}

/// Read an asset the way `neco encode` does.
pub fn source(name: &str) -> SourceImage {
    read_source(&asset(name), &Limits::default())
        .unwrap_or_else(|e| panic!("reading asset {name}: {e:#}"))
}

/// The codec with the compiled-in weights on the CPU (neco's transform kernels).
pub fn codec() -> Codec {
    let weights = WeightsFile::parse(DEFAULT_WEIGHTS).expect("parsing the default weights");
    Codec::new(&weights, Device::flex()).expect("loading the default weights")
}

/// Model config of the compiled-in weights.
pub fn default_config() -> neco::model::ModelConfig {
    WeightsFile::parse(DEFAULT_WEIGHTS)
        .expect("parsing the default weights")
        .config
}

/// Model id of the compiled-in weights (what streams record in their header).
pub fn default_model_id() -> String {
    default_config().name
}

/// sha256 of the compiled-in weights.
pub fn default_weights_sha256() -> [u8; 32] {
    Sha256::digest(DEFAULT_WEIGHTS).into()
}

/// Encode `src` at `quality` and serialize.
pub fn encode_bytes(codec: &Codec, src: &SourceImage, quality: u8) -> Vec<u8> {
    let stream = codec
        .encode(src, quality, &mut Timings::default())
        .unwrap_or_else(|e| panic!("encode at q={quality}: {e:#}"));
    stream.to_bytes().expect("serializing the stream")
}

/// Parse (default limits) and decode stream bytes.
pub fn decode_bytes(codec: &Codec, bytes: &[u8]) -> DecodedImage {
    let stream = ImageStream::from_bytes(bytes, &Limits::default()).expect("parsing the stream");
    codec
        .decode(&stream, &mut Timings::default())
        .unwrap_or_else(|e| panic!("decode: {e:#}"))
}

#[allow(unused_imports)] // not every test binary measures PSNR
pub use neco::eval::metrics::psnr_rgb8 as psnr;

/// sha256 as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

#[allow(unused_imports)]
pub use neco_core::hex;

/// sha256 of decoded latents: ẑ then ŷ symbols, each as i32 little-endian.
pub fn latents_sha256(z_hat: &[i32], y_symbols: &[i32]) -> String {
    let mut h = Sha256::new();
    for v in z_hat.iter().chain(y_symbols) {
        h.update(v.to_le_bytes());
    }
    hex(&h.finalize())
}

/// CRC-32 (IEEE, as zlib/PNG) over a chunk's type and payload, written independently
/// of the container code.
pub fn chunk_crc(tag: &[u8], payload: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in tag.iter().chain(payload) {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xedb8_8320 & mask);
        }
    }
    !crc
}

/// One chunk's position in a `.neco` stream.
#[derive(Debug, Clone, Copy)]
pub struct ChunkPos {
    /// Type tag.
    pub tag: [u8; 4],
    /// Offset of the chunk (its type tag).
    pub start: usize,
    /// Payload length.
    pub len: usize,
}

impl ChunkPos {
    /// Offset of the payload.
    pub fn payload(&self) -> usize {
        self.start + 8
    }
    /// Offset of the stored CRC.
    pub fn crc(&self) -> usize {
        self.start + 8 + self.len
    }
    /// Offset just past the chunk.
    pub fn end(&self) -> usize {
        self.start + 12 + self.len
    }
}

/// Bytes before the first chunk: magic and version.
pub const PREAMBLE: usize = 10;

/// The chunks of a well-formed stream (panics on a malformed one: for test inputs only).
pub fn chunks(bytes: &[u8]) -> Vec<ChunkPos> {
    let mut out = Vec::new();
    let mut at = PREAMBLE;
    while at < bytes.len() {
        let tag: [u8; 4] = bytes[at..at + 4].try_into().unwrap();
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        let c = ChunkPos {
            tag,
            start: at,
            len,
        };
        at = c.end();
        assert!(at <= bytes.len(), "malformed test stream");
        out.push(c);
    }
    out
}

/// Recompute the stored CRC of chunk `c` after its payload was edited.
pub fn fix_crc(bytes: &mut [u8], c: &ChunkPos) {
    let crc = chunk_crc(&c.tag, &bytes[c.payload()..c.crc()]);
    bytes[c.crc()..c.end()].copy_from_slice(&crc.to_le_bytes());
}

/// Offsets inside the `HEAD` payload (see `Header::to_payload`).
pub mod head {
    /// kind u8.
    pub const KIND: usize = 0;
    /// width u32.
    pub const WIDTH: usize = 1;
    /// height u32.
    pub const HEIGHT: usize = 5;
    /// pixel format u8.
    pub const PIXEL_FORMAT: usize = 9;
    /// bit depth u8.
    pub const BIT_DEPTH: usize = 10;
    /// color u8.
    pub const COLOR: usize = 11;
    /// quality u8.
    pub const QUALITY: usize = 12;
    /// model id length u8, then the id.
    pub const ID_LEN: usize = 13;
    /// Offset of the weights hash for a model id of `id_len` bytes; y channels, z
    /// channels and substreams (u16 each) follow it.
    pub fn sha(id_len: usize) -> usize {
        ID_LEN + 1 + id_len
    }
}

/// Small deterministic PRNG (SplitMix64) so mutations are reproducible.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    /// A random byte.
    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }
}

/// Damages `bytes[at]` one of three ways, picked by `kind % 3`: one bit flipped, a
/// random byte, or up to four 0xFF bytes (a huge length or count) ending before `end`.
pub fn damage(bytes: &mut [u8], at: usize, end: usize, kind: usize, rng: &mut Rng) {
    match kind % 3 {
        0 => bytes[at] ^= 1 << rng.below(8),
        1 => bytes[at] = rng.byte(),
        _ => bytes[at..(at + 4).min(end)].fill(0xFF),
    }
}

/// A pan across assets/sample-768x512.png: `frames` windows of `size` pixels, the
/// first with its top-left corner at `start`, each next one moved by `step` (x, y).
pub fn sample_pan(
    frames: usize,
    size: (usize, usize),
    start: (usize, usize),
    step: (usize, usize),
) -> Vec<Vec<u8>> {
    let src = source("sample-768x512.png");
    let (w, h) = size;
    (0..frames)
        .map(|t| {
            let (x0, y0) = (start.0 + step.0 * t, start.1 + step.1 * t);
            (y0..y0 + h)
                .flat_map(|y| src.rgb[(y * 768 + x0) * 3..][..w * 3].to_vec())
                .collect()
        })
        .collect()
}

/// Frames held in memory, at 25 fps, as a video source.
pub struct MemoryFrames {
    size: (u32, u32),
    frames: std::vec::IntoIter<Vec<u8>>,
}

impl MemoryFrames {
    /// `frames` of `width`×`height` RGB.
    pub fn new(width: u32, height: u32, frames: Vec<Vec<u8>>) -> Self {
        MemoryFrames {
            size: (width, height),
            frames: frames.into_iter(),
        }
    }
}

impl FrameSource for MemoryFrames {
    fn size(&self) -> (u32, u32) {
        self.size
    }
    fn fps(&self) -> Fps {
        Fps::new(25, 1).unwrap()
    }
    fn next_frame(&mut self) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.frames.next())
    }
}
