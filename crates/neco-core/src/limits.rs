//! Resource limits checked before any allocation driven by stream contents.
//!
//! | limit | default | checked |
//! |---|---|---|
//! | `max_input_bytes` | 1 GiB | file size before reading (stdin: while reading) |
//! | `max_chunk_bytes` | 512 MiB | each chunk's length field, before slicing |
//! | `max_dimension` | 65535 | width and height in `HEAD`, before anything else |
//! | `max_pixels` | 8192² | width × height in `HEAD` (and of source images) |
//! | `max_frames` | 10⁶ | frames read from a video input or image sequence |
//!
//! Everything else a stream allocates is bounded by these: ẑ and ŷ have a fixed
//! number of elements per pixel, ŷ substreams are at most 4096, and the neural
//! transforms run in tiles (see docs/robustness.md for the memory this allows).

/// Limits applied when parsing and decoding untrusted streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest image (width × height) accepted.
    pub max_pixels: u64,
    /// Largest width or height accepted.
    pub max_dimension: u32,
    /// Largest single chunk payload accepted, in bytes.
    pub max_chunk_bytes: u64,
    /// Largest input file read whole (a `.neco` stream or a source image), in bytes;
    /// checked before reading, or while reading standard input.
    pub max_input_bytes: u64,
    /// Most frames read from a video input or image sequence.
    pub max_frames: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pixels: 8192 * 8192,
            max_dimension: 65_535,
            max_chunk_bytes: 512 << 20,
            max_input_bytes: 1 << 30,
            max_frames: 1_000_000,
        }
    }
}
