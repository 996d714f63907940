//! `.neco` container parsed as hostile input: every defect gives the right error
//! variant, and no mutation of a valid stream makes the reader panic.

use neco_core::container::{Header, ImageStream, Kind, PixelFormat, MAGIC};
use neco_core::{Limits, NecoError};
use proptest::prelude::*;

fn header(pixel_format: PixelFormat, substreams: u16) -> Header {
    Header {
        kind: Kind::Image,
        width: 16,
        height: 8,
        pixel_format,
        bit_depth: 8,
        quality: 75,
        model_id: "test-model".into(),
        weights_sha256: [0x5a; 32],
        y_channels: 192,
        z_channels: 128,
        substreams,
        video: None,
    }
}

fn rgb() -> ImageStream {
    ImageStream {
        header: header(PixelFormat::Rgb8, 2),
        z_bits: vec![1, 2, 3, 4],
        y_bits: vec![vec![5, 6, 7], vec![8; 20]],
        alpha: None,
        icc: None,
        exif: None,
    }
}

fn rgba() -> ImageStream {
    ImageStream {
        header: header(PixelFormat::Rgba8, 3),
        z_bits: vec![9; 5],
        y_bits: vec![vec![1], vec![], vec![2, 3]],
        alpha: Some(vec![0xff; 6]),
        icc: None,
        exif: None,
    }
}

type Chunk = ([u8; 4], Vec<u8>);

/// Splits a well-formed stream into its chunks (test-side, trusting the input).
fn split(data: &[u8]) -> Vec<Chunk> {
    let mut rest = &data[10..];
    let mut out = Vec::new();
    while !rest.is_empty() {
        let t: [u8; 4] = rest[..4].try_into().unwrap();
        let len = u32::from_le_bytes(rest[4..8].try_into().unwrap()) as usize;
        out.push((t, rest[8..8 + len].to_vec()));
        rest = &rest[12 + len..];
    }
    out
}

fn chunk_bytes(t: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut h = crc32fast::Hasher::new();
    h.update(t);
    h.update(payload);
    let mut out = t.to_vec();
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&h.finalize().to_le_bytes());
    out
}

/// Assembles magic, version 1 and chunks with correct lengths and CRCs.
fn build(chunks: &[Chunk]) -> Vec<u8> {
    build_version(1, chunks)
}

/// [`build`] with another container version.
fn build_version(version: u16, chunks: &[Chunk]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&version.to_le_bytes());
    for (t, p) in chunks {
        out.extend(chunk_bytes(t, p));
    }
    out
}

/// An RGBA stream with an ICC profile and an Exif block (container version 2).
fn rgba_icc() -> ImageStream {
    ImageStream {
        icc: Some(b"fake ICC profile".to_vec()),
        exif: Some(b"II*\0fake Exif".to_vec()),
        ..rgba()
    }
}

fn parse(data: &[u8]) -> neco_core::Result<ImageStream> {
    ImageStream::from_bytes(data, &Limits::default())
}

fn expect_corrupt(data: &[u8], needle: &str) {
    match parse(data) {
        Err(NecoError::Corrupt(msg)) => {
            assert!(msg.contains(needle), "message {msg:?} lacks {needle:?}")
        }
        other => panic!("expected Corrupt containing {needle:?}, got {other:?}"),
    }
}

fn expect_unsupported(data: &[u8], needle: &str) {
    match parse(data) {
        Err(NecoError::Unsupported(msg)) => {
            assert!(msg.contains(needle), "message {msg:?} lacks {needle:?}")
        }
        other => panic!("expected Unsupported containing {needle:?}, got {other:?}"),
    }
}

fn expect_limit(data: &[u8], limits: &Limits, needle: &str) {
    match ImageStream::from_bytes(data, limits) {
        Err(NecoError::LimitExceeded(msg)) => {
            assert!(msg.contains(needle), "message {msg:?} lacks {needle:?}")
        }
        other => panic!("expected LimitExceeded containing {needle:?}, got {other:?}"),
    }
}

/// A valid RGB stream whose HEAD payload has been edited by `f` (CRC fixed up).
fn with_head(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut chunks = split(&rgb().to_bytes().unwrap());
    f(&mut chunks[0].1);
    build(&chunks)
}

// HEAD payload offsets.
const WIDTH: usize = 1;
const HEIGHT: usize = 5;
const PIXEL_FORMAT: usize = 9;
const BIT_DEPTH: usize = 10;
const COLOR: usize = 11;
const QUALITY: usize = 12;
const ID_LEN: usize = 13;

#[test]
fn empty_input() {
    expect_corrupt(&[], "empty");
}

#[test]
fn wrong_magic() {
    expect_corrupt(b"\x89PNG\r\n\x1a\n\0\0\0\0", "not a .neco stream");
    expect_corrupt(b"NECO", "not a .neco stream");
    let mut data = rgb().to_bytes().unwrap();
    data[7] = b'\n';
    expect_corrupt(&data, "not a .neco stream");
}

#[test]
fn unknown_version() {
    let mut data = rgb().to_bytes().unwrap();
    data[8] = 3;
    expect_unsupported(&data, "container version 3, this build reads 1 and 2");
    data[8..10].copy_from_slice(&0u16.to_le_bytes());
    expect_unsupported(&data, "container version 0");
}

#[test]
fn metadata_only_in_version_2_and_in_place() {
    let v2 = rgba_icc().to_bytes().unwrap();
    assert_eq!(v2[8..10], 2u16.to_le_bytes());
    assert_eq!(parse(&v2).unwrap(), rgba_icc());
    let chunks = split(&v2);
    let iccp = chunks.iter().position(|(t, _)| t == b"ICCP").unwrap();
    let exif = iccp + 1;
    assert_eq!(&chunks[exif].0, b"EXIF");
    // The same chunks declared as version 1.
    expect_corrupt(&build_version(1, &chunks), "only version 2 has metadata");
    // Version 2 without any metadata; with either chunk alone it parses.
    let mut without = chunks.clone();
    without.drain(iccp..=exif);
    expect_corrupt(&build_version(2, &without), "without metadata");
    for keep in [iccp, exif] {
        let mut one = without.clone();
        one.insert(iccp, chunks[keep].clone());
        assert!(parse(&build_version(2, &one)).is_ok());
    }
    // EXIF before ICCP.
    let mut swapped = chunks.clone();
    swapped.swap(iccp, exif);
    expect_corrupt(&build_version(2, &swapped), "\"ICCP\" chunk at offset");
    // Empty, twice, before the ŷ substreams, before the alpha plane.
    let mut empty = chunks.clone();
    empty[iccp].1.clear();
    expect_corrupt(&build_version(2, &empty), "is empty");
    let mut twice = chunks.clone();
    twice.insert(iccp, chunks[iccp].clone());
    expect_corrupt(&build_version(2, &twice), "second \"ICCP\"");
    let mut early = chunks.clone();
    let profile = early.remove(iccp);
    early.insert(2, profile.clone());
    expect_corrupt(&build_version(2, &early), "before \"ZBIT\" and all");
    let mut before_alpha = chunks.clone();
    before_alpha.remove(iccp);
    before_alpha.insert(iccp - 1, profile);
    expect_corrupt(&build_version(2, &before_alpha), "after \"ICCP\"");
}

#[test]
fn every_truncation_is_corrupt() {
    for stream in [rgb(), rgba()] {
        let data = stream.to_bytes().unwrap();
        for len in 0..data.len() {
            match parse(&data[..len]) {
                Err(NecoError::Corrupt(_)) => {}
                other => panic!("truncated to {len} of {}: got {other:?}", data.len()),
            }
        }
    }
}

#[test]
fn bad_crc() {
    let data = rgb().to_bytes().unwrap();
    // Flip one bit in each chunk's payload or CRC in turn.
    let mut offsets = vec![];
    let mut at = 10;
    for (_, p) in split(&data) {
        offsets.push(at + 8 + p.len()); // first CRC byte
        if !p.is_empty() {
            offsets.push(at + 8); // first payload byte
        }
        at += 12 + p.len();
    }
    for off in offsets {
        let mut bad = data.clone();
        bad[off] ^= 0x10;
        expect_corrupt(&bad, "CRC");
    }
}

#[test]
fn unknown_chunk_type() {
    let mut chunks = split(&rgb().to_bytes().unwrap());
    chunks.insert(1, (*b"tEXt", b"hi".to_vec()));
    expect_corrupt(&build(&chunks), "unknown chunk type \"tEXt\"");
    chunks[1].0 = [0xff, 0, b'"', b'\n'];
    expect_corrupt(&build(&chunks), r#"unknown chunk type "\xff\x00\"\n""#);
}

#[test]
fn duplicate_and_misordered_chunks() {
    let good = split(&rgba().to_bytes().unwrap());
    // HEAD ZBIT YBIT YBIT YBIT ALPH IEND
    let edit = |f: &dyn Fn(&mut Vec<Chunk>)| {
        let mut c = good.clone();
        f(&mut c);
        build(&c)
    };
    expect_corrupt(&edit(&|c| c.insert(1, c[0].clone())), "second \"HEAD\"");
    expect_corrupt(
        &edit(&|c| c.push(c[0].clone())),
        "74 trailing bytes after \"IEND\"",
    );
    expect_corrupt(
        &edit(&|c| c.swap(0, 1)),
        "first chunk is \"ZBIT\", expected \"HEAD\"",
    );
    expect_corrupt(&edit(&|c| c.insert(2, c[1].clone())), "second \"ZBIT\"");
    expect_corrupt(&edit(&|c| c.swap(1, 2)), "before \"ZBIT\"");
    expect_corrupt(&edit(&|c| c.insert(4, c[2].clone())), "extra \"YBIT\"");
    expect_corrupt(&edit(&|c| c.swap(4, 5)), "\"ALPH\" chunk at offset");
    expect_corrupt(&edit(&|c| c.insert(6, c[5].clone())), "second \"ALPH\"");
    expect_corrupt(&edit(&|c| c.insert(6, c[2].clone())), "after \"ALPH\"");
    expect_corrupt(&edit(&|c| c.truncate(0)), "no chunks");
    expect_corrupt(&edit(&|c| c.truncate(1)), "without an \"IEND\"");
    expect_corrupt(
        &edit(&|c| drop(c.remove(1))),
        "\"YBIT\" chunk at offset 84 before \"ZBIT\"",
    );
    expect_corrupt(&edit(&|c| drop(c.remove(4))), "before \"ZBIT\" and all 3");
    expect_corrupt(&edit(&|c| drop(c.drain(2..6))), "found 0 \"YBIT\" chunks");
    expect_corrupt(&edit(&|c| drop(c.drain(1..6))), "missing \"ZBIT\"");
    expect_corrupt(&edit(&|c| c.swap(5, 6)), "trailing bytes");
    expect_corrupt(&edit(&|c| c[6].1.push(0)), "\"IEND\" chunk at offset");
    // The unmodified chunks parse.
    assert_eq!(parse(&edit(&|_| ())).unwrap(), rgba());
}

#[test]
fn missing_iend() {
    let mut chunks = split(&rgb().to_bytes().unwrap());
    chunks.pop();
    expect_corrupt(&build(&chunks), "without an \"IEND\"");
}

#[test]
fn trailing_bytes_after_iend() {
    let mut data = rgb().to_bytes().unwrap();
    data.push(0);
    expect_corrupt(&data, "1 trailing bytes");
    let mut data = rgb().to_bytes().unwrap();
    data.extend(chunk_bytes(b"IEND", &[]));
    expect_corrupt(&data, "12 trailing bytes");
}

#[test]
fn alpha_only_in_rgba_streams() {
    let mut chunks = split(&rgb().to_bytes().unwrap());
    chunks.insert(4, (*b"ALPH", vec![1, 2]));
    expect_corrupt(&build(&chunks), "in a Rgb8 stream");
}

#[test]
fn huge_dimensions_exceed_limits() {
    let data = with_head(|h| {
        h[WIDTH..WIDTH + 4].copy_from_slice(&100_000u32.to_le_bytes());
        h[HEIGHT..HEIGHT + 4].copy_from_slice(&100_000u32.to_le_bytes());
    });
    expect_limit(
        &data,
        &Limits::default(),
        "width 100000 is over the limit of 65535",
    );
    // Each side within max_dimension, but the product over max_pixels.
    let data = with_head(|h| {
        h[WIDTH..WIDTH + 4].copy_from_slice(&65_535u32.to_le_bytes());
        h[HEIGHT..HEIGHT + 4].copy_from_slice(&65_535u32.to_le_bytes());
    });
    expect_limit(
        &data,
        &Limits::default(),
        "pixels is over the limit of 67108864",
    );
    // Caller-supplied limits apply too.
    let small = Limits {
        max_pixels: 100,
        ..Limits::default()
    };
    expect_limit(&rgb().to_bytes().unwrap(), &small, "16x8 = 128 pixels");
}

#[test]
fn zero_dimensions_are_corrupt() {
    expect_corrupt(&with_head(|h| h[WIDTH..WIDTH + 4].fill(0)), "image is 0x8");
    expect_corrupt(
        &with_head(|h| h[HEIGHT..HEIGHT + 4].fill(0)),
        "image is 16x0",
    );
}

#[test]
fn header_fields_are_validated() {
    // Kind 1 (video) needs the video fields after the image fields.
    expect_corrupt(&with_head(|h| h[0] = 1), "payload ends early");
    expect_unsupported(&with_head(|h| h[0] = 7), "stream kind 7");
    expect_unsupported(&with_head(|h| h[PIXEL_FORMAT] = 3), "pixel format 3");
    expect_unsupported(&with_head(|h| h[BIT_DEPTH] = 16), "bit depth 16");
    expect_unsupported(&with_head(|h| h[COLOR] = 1), "color space 1");
    expect_corrupt(
        &with_head(|h| h[QUALITY] = 101),
        "quality 101, must be in 0..=100",
    );
    expect_corrupt(&with_head(|h| h[ID_LEN] = 200), "payload ends early");
    expect_corrupt(&with_head(|h| h[ID_LEN + 1] = 0xff), "not UTF-8");
    expect_corrupt(
        &with_head(|h| h.push(0)),
        "payload is 63 bytes, expected 62 for a 10-byte model id",
    );
    expect_corrupt(&with_head(|h| h.truncate(20)), "payload ends early");
    expect_corrupt(&with_head(|h| h.clear()), "payload ends early");
    let n = 62; // HEAD payload length with the 10-byte model id
    expect_corrupt(&with_head(|h| h[n - 6..n - 4].fill(0)), "y channels 0");
    expect_corrupt(
        &with_head(|h| h[n - 4..n - 2].copy_from_slice(&1025u16.to_le_bytes())),
        "z channels 1025, must be in 1..=1024",
    );
    expect_corrupt(&with_head(|h| h[n - 2..].fill(0)), "substreams 0");
    expect_corrupt(&with_head(|h| h[n - 2..].fill(0xff)), "substreams 65535");
    // Zero-length model id: shrink the payload consistently.
    expect_corrupt(
        &with_head(|h| {
            h[ID_LEN] = 0;
            h.drain(ID_LEN + 1..ID_LEN + 11);
        }),
        "model id is 0 bytes",
    );
    // Substream count that disagrees with the YBIT chunks.
    expect_corrupt(&with_head(|h| h[n - 2] = 3), "found 2 \"YBIT\" chunks");
    expect_corrupt(&with_head(|h| h[n - 2] = 1), "extra \"YBIT\"");
}

#[test]
fn lying_chunk_lengths() {
    let data = rgb().to_bytes().unwrap();
    // Length field of the HEAD chunk, then of the ZBIT chunk.
    let zbit_at = 10 + 12 + split(&data)[0].1.len();
    for at in [10, zbit_at] {
        for lie in [u32::MAX, u32::MAX - 3, data.len() as u32] {
            let mut bad = data.clone();
            bad[at + 4..at + 8].copy_from_slice(&lie.to_le_bytes());
            expect_corrupt(&bad, &format!("claims {lie} payload bytes"));
        }
    }
    // A length that fits the data but is over max_chunk_bytes.
    let small = Limits {
        max_chunk_bytes: 10,
        ..Limits::default()
    };
    expect_limit(
        &data,
        &small,
        "\"HEAD\" at offset 10 is 62 bytes, over the limit of 10",
    );
    // The limit is inclusive.
    let exact = Limits {
        max_chunk_bytes: 62,
        ..Limits::default()
    };
    assert_eq!(ImageStream::from_bytes(&data, &exact).unwrap(), rgb());
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(usize, u8),
    Truncate(usize),
    Insert(usize, u8),
    Delete(usize),
    Overwrite(usize, u8),
    /// Chunk-level edits keep lengths and CRCs valid, reaching the chunk-order
    /// and header checks instead of stopping at the CRC.
    SwapChunks(usize, usize),
    DuplicateChunk(usize),
    RemoveChunk(usize),
    SetHeadByte(usize, u8),
    RetagChunk(usize, u8),
    /// Writes a length field without fixing the data behind it.
    LieLength(usize, u32),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let i = any::<usize>;
    prop_oneof![
        (i(), 0..8u8).prop_map(|(a, b)| Mutation::FlipBit(a, b)),
        i().prop_map(Mutation::Truncate),
        (i(), any::<u8>()).prop_map(|(a, b)| Mutation::Insert(a, b)),
        i().prop_map(Mutation::Delete),
        (i(), any::<u8>()).prop_map(|(a, b)| Mutation::Overwrite(a, b)),
        (i(), i()).prop_map(|(a, b)| Mutation::SwapChunks(a, b)),
        i().prop_map(Mutation::DuplicateChunk),
        i().prop_map(Mutation::RemoveChunk),
        (i(), any::<u8>()).prop_map(|(a, b)| Mutation::SetHeadByte(a, b)),
        (i(), 0..5u8).prop_map(|(a, b)| Mutation::RetagChunk(a, b)),
        (
            i(),
            prop_oneof![Just(u32::MAX), Just(0), any::<u32>(), 0..200u32]
        )
            .prop_map(|(a, b)| Mutation::LieLength(a, b)),
    ]
}

/// Applies `m`; chunk-level edits only apply while the data still splits cleanly.
fn apply(data: &mut Vec<u8>, m: &Mutation) {
    let n = data.len().max(1);
    let chunks = well_formed_chunks(data);
    let with_chunks = |data: &mut Vec<u8>, f: &dyn Fn(&mut Vec<Chunk>)| {
        if let Some(mut c) = chunks.clone().filter(|c| !c.is_empty()) {
            f(&mut c);
            *data = build(&c);
        }
    };
    match *m {
        Mutation::FlipBit(i, b) if !data.is_empty() => data[i % n] ^= 1 << b,
        Mutation::Overwrite(i, v) if !data.is_empty() => data[i % n] = v,
        Mutation::Truncate(i) => data.truncate(i % n),
        Mutation::Insert(i, v) => data.insert(i % (data.len() + 1), v),
        Mutation::Delete(i) if !data.is_empty() => drop(data.remove(i % n)),
        Mutation::SwapChunks(a, b) => with_chunks(data, &|c| {
            let k = c.len();
            c.swap(a % k, b % k)
        }),
        Mutation::DuplicateChunk(a) => with_chunks(data, &|c| {
            let k = c.len();
            c.insert(a % (k + 1), c[a % k].clone())
        }),
        Mutation::RemoveChunk(a) => with_chunks(data, &|c| {
            let k = c.len();
            c.remove(a % k);
        }),
        Mutation::SetHeadByte(i, v) => with_chunks(data, &|c| {
            let p = &mut c[0].1;
            if !p.is_empty() {
                let k = p.len();
                p[i % k] = v;
            }
        }),
        Mutation::RetagChunk(a, t) => with_chunks(data, &|c| {
            let k = c.len();
            c[a % k].0 = [*b"HEAD", *b"ZBIT", *b"YBIT", *b"ALPH", *b"IEND"][usize::from(t)];
        }),
        Mutation::LieLength(a, len) => {
            if let Some(c) = &chunks {
                if !c.is_empty() {
                    let at = 10
                        + c[..a % c.len()]
                            .iter()
                            .map(|(_, p)| 12 + p.len())
                            .sum::<usize>();
                    data[at + 4..at + 8].copy_from_slice(&len.to_le_bytes());
                }
            }
        }
        _ => {}
    }
}

/// The chunks if `data` is magic + version + exactly-framed chunks, else `None`.
fn well_formed_chunks(data: &[u8]) -> Option<Vec<Chunk>> {
    let mut rest = data.get(10..)?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let len = u32::from_le_bytes(rest.get(4..8)?.try_into().ok()?) as usize;
        let payload = rest.get(8..8usize.checked_add(len)?)?;
        out.push((rest[..4].try_into().ok()?, payload.to_vec()));
        rest = rest.get(12 + len..)?;
    }
    Some(out)
}

fn check_no_panic(data: &[u8]) -> Result<(), TestCaseError> {
    let tight = Limits {
        max_pixels: 100,
        max_dimension: 12,
        max_chunk_bytes: 16,
        max_input_bytes: 1 << 10,
        max_frames: 1,
    };
    for limits in [Limits::default(), tight] {
        if let Ok(stream) = ImageStream::from_bytes(data, &limits) {
            // Only the canonical encoding is accepted, so it re-serializes exactly.
            prop_assert_eq!(stream.to_bytes().unwrap(), data);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn mutated_streams_never_panic(
        alpha in any::<bool>(),
        muts in prop::collection::vec(mutation(), 1..5),
    ) {
        let mut data = if alpha { rgba_icc() } else { rgb() }.to_bytes().unwrap();
        for m in &muts {
            apply(&mut data, m);
        }
        check_no_panic(&data)?;
    }

    #[test]
    fn random_bytes_after_preamble_never_panic(tail in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut data = MAGIC.to_vec();
        data.extend_from_slice(&1u16.to_le_bytes());
        data.extend(tail);
        check_no_panic(&data)?;
    }
}
