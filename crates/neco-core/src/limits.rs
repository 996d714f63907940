//! Resource limits checked before any allocation driven by stream contents.

/// Limits applied when parsing and decoding untrusted streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest image (width × height) accepted.
    pub max_pixels: u64,
    /// Largest width or height accepted.
    pub max_dimension: u32,
    /// Largest single chunk payload accepted, in bytes.
    pub max_chunk_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pixels: 8192 * 8192,
            max_dimension: 65_535,
            max_chunk_bytes: 512 << 20,
        }
    }
}
