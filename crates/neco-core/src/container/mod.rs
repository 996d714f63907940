//! The `.neco` container, versions 1 and 2.
//!
//! A stream is parsed as hostile input: every length is checked against the
//! remaining bytes and [`Limits`](crate::Limits) before anything is sliced or
//! allocated, and every problem is reported as a [`NecoError`](crate::NecoError)
//! rather than a panic.
//!
//! # Layout (all integers little-endian)
//!
//! ```text
//! magic    [u8; 8]   0x89 'N' 'E' 'C' 'O' '\r' '\n' 0x1a
//! version  u16       1, or 2 for an image stream with metadata (ICCP, EXIF)
//! chunk*             type [u8; 4], length u32, payload, crc32(type ++ payload) u32
//! ```
//!
//! Chunks appear in exactly this order, so every accepted stream has a single
//! byte-exact serialization:
//!
//! | type   | count          | payload                                       |
//! |--------|----------------|-----------------------------------------------|
//! | `HEAD` | 1              | [`Header`] (see [`Header::to_payload`])       |
//! | `ZBIT` | 1              | entropy-coded ẑ                               |
//! | `YBIT` | `substreams`   | one entropy-coded ŷ substream each, in order  |
//! | `ALPH` | 0 or 1         | alpha plane (PNG), only for [`PixelFormat::Rgba8`] |
//! | `ICCP` | 0 or 1, version 2 only | the source's ICC colour profile, as it was |
//! | `EXIF` | 0 or 1, version 2 only | the source's Exif block (TIFF layout), orientation cleared |
//! | `IEND` | 1              | empty; nothing may follow it                  |
//!
//! Version 2 is version 1 plus the metadata chunks, and has at least one of them: a
//! stream without metadata is written as version 1, byte for byte as before they
//! existed, and decoders that know only version 1 refuse metadata they cannot pass
//! on by its version rather than by an unknown chunk. Video streams are version 1.
//!
//! The magic borrows PNG's trick: the high-bit first byte catches 7-bit
//! transports, and the CR LF / ^Z bytes catch newline translation and
//! truncating `type` commands.

mod atomic;
mod header;
mod reader;
pub mod video;
mod writer;

pub use atomic::{remove_in_flight_temp_files_and_exit, write_atomic, AtomicFile};
pub use header::{Header, Kind, PixelFormat, VideoParams, MAX_GOP};

/// The 8 bytes every `.neco` stream starts with.
pub const MAGIC: [u8; 8] = [0x89, b'N', b'E', b'C', b'O', b'\r', b'\n', 0x1a];

/// The container version of video streams and of images without metadata.
pub const CONTAINER_VERSION: u16 = 1;
/// The container version of an image stream that carries metadata (`ICCP`, `EXIF`).
pub const CONTAINER_VERSION_METADATA: u16 = 2;

/// Chunk type tags.
pub(crate) mod tag {
    pub const HEAD: [u8; 4] = *b"HEAD";
    pub const ZBIT: [u8; 4] = *b"ZBIT";
    pub const YBIT: [u8; 4] = *b"YBIT";
    pub const ALPH: [u8; 4] = *b"ALPH";
    pub const ICCP: [u8; 4] = *b"ICCP";
    pub const EXIF: [u8; 4] = *b"EXIF";
    pub const IEND: [u8; 4] = *b"IEND";
}

/// A complete coded image: the header plus the entropy-coded payloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageStream {
    /// Image geometry, model identity and latent shapes.
    pub header: Header,
    /// Entropy-coded hyper-latent ẑ (`ZBIT`).
    pub z_bits: Vec<u8>,
    /// Entropy-coded latent ŷ substreams (`YBIT`), exactly `header.substreams` of them.
    pub y_bits: Vec<Vec<u8>>,
    /// Alpha plane as opaque bytes (`ALPH`); only allowed for [`PixelFormat::Rgba8`].
    pub alpha: Option<Vec<u8>>,
    /// The source's ICC colour profile as opaque bytes (`ICCP`, container version 2);
    /// never empty.
    pub icc: Option<Vec<u8>>,
    /// The source's Exif block as opaque bytes (`EXIF`, container version 2); never
    /// empty.
    pub exif: Option<Vec<u8>>,
}
