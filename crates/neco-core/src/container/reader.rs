//! Parsing `.neco` bytes from an untrusted source.

use super::{
    tag, Header, ImageStream, Kind, PixelFormat, CONTAINER_VERSION, CONTAINER_VERSION_METADATA,
    MAGIC,
};
use crate::{Limits, NecoError, Result};

/// Bytes in a chunk's framing: type, length and CRC.
const CHUNK_HEADER: usize = 8;
const CHUNK_CRC: usize = 4;

impl ImageStream {
    /// Parses and validates a complete `.neco` stream.
    ///
    /// `data` is treated as hostile: every length is checked against the bytes
    /// that remain and against `limits` before anything is copied, and every
    /// defect gives [`NecoError::Corrupt`], [`NecoError::Unsupported`] or
    /// [`NecoError::LimitExceeded`] instead of a panic. Only the canonical chunk
    /// order (`HEAD ZBIT YBIT* [ALPH] [ICCP] [EXIF] IEND`, the metadata chunks `ICCP`
    /// and `EXIF` in version 2 streams, which have at least one, and only there) is
    /// accepted, so a stream that parses re-serializes to exactly the same bytes.
    pub fn from_bytes(data: &[u8], limits: &Limits) -> Result<ImageStream> {
        let mut chunks = Chunks::new(data, limits)?;

        let header = match chunks.next_chunk()? {
            Some((tag::HEAD, payload)) => {
                let header = Header::from_payload(payload, limits)?;
                if header.kind == Kind::Video {
                    return Err(NecoError::Unsupported(
                        "this is a video stream, not an image (read it with container::video)"
                            .into(),
                    ));
                }
                header
            }
            Some((t, _)) => {
                return Err(NecoError::corrupt(format!(
                    "first chunk is {}, expected \"HEAD\"",
                    show(&t)
                )))
            }
            None => {
                return Err(NecoError::corrupt(
                    "stream has no chunks, expected \"HEAD\"",
                ))
            }
        };
        let want_y = usize::from(header.substreams);
        let mut z_bits: Option<Vec<u8>> = None;
        // `substreams` is at most 4096, so this reservation is bounded.
        let mut y_bits: Vec<Vec<u8>> = Vec::with_capacity(want_y);
        let mut alpha: Option<Vec<u8>> = None;
        let mut icc: Option<Vec<u8>> = None;
        let mut exif: Option<Vec<u8>> = None;
        let mut tail = Tail::default();

        while let Some((t, payload)) = chunks.next_chunk()? {
            let at = chunks.last_offset;
            match t {
                tag::HEAD => {
                    return Err(NecoError::corrupt(format!(
                        "second \"HEAD\" chunk at offset {at}, exactly one is allowed"
                    )))
                }
                tag::ZBIT => {
                    if z_bits.is_some() {
                        return Err(NecoError::corrupt(format!(
                            "second \"ZBIT\" chunk at offset {at}, exactly one is allowed"
                        )));
                    }
                    z_bits = Some(payload.to_vec());
                }
                tag::YBIT => {
                    if z_bits.is_none() {
                        return Err(NecoError::corrupt(format!(
                            "\"YBIT\" chunk at offset {at} before \"ZBIT\""
                        )));
                    }
                    if let Some(last) = tail.last {
                        return Err(NecoError::corrupt(format!(
                            "\"YBIT\" chunk at offset {at} after {}",
                            show(&TAIL[last])
                        )));
                    }
                    if y_bits.len() == want_y {
                        return Err(NecoError::corrupt(format!(
                            "extra \"YBIT\" chunk at offset {at}, the header declares {want_y}"
                        )));
                    }
                    y_bits.push(payload.to_vec());
                }
                tag::ALPH => {
                    if header.pixel_format != PixelFormat::Rgba8 {
                        return Err(NecoError::corrupt(format!(
                            "\"ALPH\" chunk at offset {at} in a {:?} stream, only Rgba8 has alpha",
                            header.pixel_format
                        )));
                    }
                    tail.accept(t, at, z_bits.is_some() && y_bits.len() == want_y, want_y)?;
                    alpha = Some(payload.to_vec());
                }
                tag::ICCP | tag::EXIF => {
                    if chunks.version != CONTAINER_VERSION_METADATA {
                        return Err(NecoError::corrupt(format!(
                            "{} chunk at offset {at} in a version {} stream, only version {CONTAINER_VERSION_METADATA} has metadata",
                            show(&t),
                            chunks.version
                        )));
                    }
                    tail.accept(t, at, z_bits.is_some() && y_bits.len() == want_y, want_y)?;
                    if payload.is_empty() {
                        return Err(NecoError::corrupt(format!(
                            "{} chunk at offset {at} is empty",
                            show(&t)
                        )));
                    }
                    if t == tag::ICCP {
                        icc = Some(payload.to_vec());
                    } else {
                        exif = Some(payload.to_vec());
                    }
                }
                tag::IEND => {
                    if !payload.is_empty() {
                        return Err(NecoError::corrupt(format!(
                            "\"IEND\" chunk at offset {at} has {} payload bytes, expected 0",
                            payload.len()
                        )));
                    }
                    let Some(z_bits) = z_bits else {
                        return Err(NecoError::corrupt("missing \"ZBIT\" chunk before \"IEND\""));
                    };
                    if y_bits.len() != want_y {
                        return Err(NecoError::corrupt(format!(
                            "found {} \"YBIT\" chunks before \"IEND\", the header declares {want_y}",
                            y_bits.len()
                        )));
                    }
                    if chunks.version == CONTAINER_VERSION_METADATA
                        && icc.is_none()
                        && exif.is_none()
                    {
                        return Err(NecoError::corrupt(
                            "a version 2 stream without metadata (\"ICCP\" or \"EXIF\")",
                        ));
                    }
                    let trailing = chunks.rest.len();
                    if trailing != 0 {
                        return Err(NecoError::corrupt(format!(
                            "{trailing} trailing bytes after \"IEND\", expected 0"
                        )));
                    }
                    return Ok(ImageStream {
                        header,
                        z_bits,
                        y_bits,
                        alpha,
                        icc,
                        exif,
                    });
                }
                other => {
                    return Err(NecoError::corrupt(format!(
                        "unknown chunk type {} at offset {at}",
                        show(&other)
                    )))
                }
            }
        }
        Err(NecoError::corrupt(
            "stream ends without an \"IEND\" chunk (truncated?)",
        ))
    }
}

/// The optional chunks after the ŷ substreams, in their canonical order.
const TAIL: [[u8; 4]; 3] = [tag::ALPH, tag::ICCP, tag::EXIF];

/// Which of the [`TAIL`] chunks a stream has shown so far.
#[derive(Default)]
struct Tail {
    /// Index in [`TAIL`] of the last one seen.
    last: Option<usize>,
}

impl Tail {
    /// Accepts chunk `t` (one of [`TAIL`]) at offset `at` if it comes after the ŷ
    /// substreams (`after_y`: ẑ and all `want_y` of them seen) and after the tail
    /// chunks seen so far, in canonical order, once.
    fn accept(&mut self, t: [u8; 4], at: usize, after_y: bool, want_y: usize) -> Result<()> {
        let rank = TAIL.iter().position(|&x| x == t).expect("a tail chunk");
        if !after_y {
            return Err(NecoError::corrupt(format!(
                "{} chunk at offset {at} before \"ZBIT\" and all {want_y} \"YBIT\" chunks",
                show(&t)
            )));
        }
        match self.last {
            Some(last) if last == rank => Err(NecoError::corrupt(format!(
                "second {} chunk at offset {at}, at most one is allowed",
                show(&t)
            ))),
            Some(last) if last > rank => Err(NecoError::corrupt(format!(
                "{} chunk at offset {at} after {}",
                show(&t),
                show(&TAIL[last])
            ))),
            _ => {
                self.last = Some(rank);
                Ok(())
            }
        }
    }
}

/// Splits the bytes after the preamble into CRC-checked chunks.
struct Chunks<'a> {
    rest: &'a [u8],
    /// Offset of `rest` within the whole stream, for error messages.
    offset: usize,
    /// Offset of the chunk most recently returned.
    last_offset: usize,
    max_chunk_bytes: u64,
    /// The container version the stream declares.
    version: u16,
}

impl<'a> Chunks<'a> {
    /// Checks the magic and version (1, or 2 for an image with metadata) and
    /// positions at the first chunk.
    fn new(data: &'a [u8], limits: &Limits) -> Result<Self> {
        if data.is_empty() {
            return Err(NecoError::corrupt("empty stream, expected a .neco file"));
        }
        let n = data.len().min(MAGIC.len());
        if data[..n] != MAGIC[..n] {
            return Err(NecoError::corrupt(format!(
                "not a .neco stream: starts with \"{}\", expected \"{}\"",
                data[..n].escape_ascii(),
                MAGIC.escape_ascii()
            )));
        }
        let preamble = MAGIC.len() + 2;
        if data.len() < preamble {
            return Err(NecoError::corrupt(format!(
                "truncated: {} bytes, shorter than the {preamble}-byte magic and version",
                data.len()
            )));
        }
        let version = u16::from_le_bytes([data[8], data[9]]);
        if version != CONTAINER_VERSION && version != CONTAINER_VERSION_METADATA {
            return Err(NecoError::Unsupported(format!(
                "container version {version}, this build reads {CONTAINER_VERSION} and {CONTAINER_VERSION_METADATA}"
            )));
        }
        Ok(Chunks {
            rest: &data[preamble..],
            offset: preamble,
            last_offset: preamble,
            max_chunk_bytes: limits.max_chunk_bytes,
            version,
        })
    }

    /// The next chunk's type and payload, or `None` at the end of the data.
    fn next_chunk(&mut self) -> Result<Option<([u8; 4], &'a [u8])>> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let at = self.offset;
        if self.rest.len() < CHUNK_HEADER {
            return Err(NecoError::corrupt(format!(
                "truncated chunk header at offset {at}: {} bytes remain, need {CHUNK_HEADER}",
                self.rest.len()
            )));
        }
        let t: [u8; 4] = [self.rest[0], self.rest[1], self.rest[2], self.rest[3]];
        let len = u32::from_le_bytes([self.rest[4], self.rest[5], self.rest[6], self.rest[7]]);
        // Compare in u64 so a lying length cannot overflow on any target.
        let avail = (self.rest.len() - CHUNK_HEADER) as u64;
        if u64::from(len) + CHUNK_CRC as u64 > avail {
            return Err(NecoError::corrupt(format!(
                "chunk {} at offset {at} claims {len} payload bytes and a {CHUNK_CRC}-byte CRC, but only {avail} bytes remain",
                show(&t)
            )));
        }
        if u64::from(len) > self.max_chunk_bytes {
            return Err(NecoError::LimitExceeded(format!(
                "chunk {} at offset {at} is {len} bytes, over the limit of {}",
                show(&t),
                self.max_chunk_bytes
            )));
        }
        // Fits: len + 4 <= avail, which is a usize.
        let len = len as usize;
        let payload = &self.rest[CHUNK_HEADER..CHUNK_HEADER + len];
        let crc_bytes = &self.rest[CHUNK_HEADER + len..CHUNK_HEADER + len + CHUNK_CRC];
        let stored = u32::from_le_bytes([crc_bytes[0], crc_bytes[1], crc_bytes[2], crc_bytes[3]]);
        let actual = chunk_crc(&t, payload);
        if stored != actual {
            return Err(NecoError::corrupt(format!(
                "chunk {} at offset {at}: CRC is {stored:#010x}, computed {actual:#010x}",
                show(&t)
            )));
        }
        let used = CHUNK_HEADER + len + CHUNK_CRC;
        self.rest = &self.rest[used..];
        self.offset += used;
        self.last_offset = at;
        Ok(Some((t, payload)))
    }
}

/// CRC-32 over a chunk's type and payload.
pub(super) fn chunk_crc(t: &[u8; 4], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(t);
    h.update(payload);
    h.finalize()
}

/// A chunk type quoted and escaped, safe to print whatever its bytes are.
fn show(t: &[u8; 4]) -> String {
    format!("\"{}\"", t.escape_ascii())
}
