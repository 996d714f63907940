//! Hostile input: mutated streams go through the full parse + decode (with the model)
//! and must give `Ok` or `Err`, never a panic.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use burn::prelude::Device;
use common::*;
use neco::codec::{Codec, Timings};
use neco::model::weights::{WeightsFile, DEFAULT_WEIGHTS};
use neco_core::container::{ImageStream, MAGIC};
use neco_core::{Limits, NecoError};

/// Limits for the mutated streams: small enough that a header lying about the size
/// cannot make one decode take long, large enough for the sources.
fn limits() -> Limits {
    Limits {
        max_pixels: 128 * 128,
        max_dimension: 256,
        ..Limits::default()
    }
}

/// How a mutated stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Parsed and decoded to an image (of the size the header claims).
    Decoded,
    /// Rejected by the container parser.
    ParseError,
    /// Parsed, then rejected while decoding.
    DecodeError,
}

/// Parse and decode `bytes`; a panic becomes `Err(message)`.
fn run(codec: &Codec, bytes: &[u8]) -> Result<Outcome, String> {
    catch_unwind(AssertUnwindSafe(|| {
        let stream = match ImageStream::from_bytes(bytes, &limits()) {
            Ok(s) => s,
            Err(_) => return Outcome::ParseError,
        };
        match codec.decode(&stream, &mut Timings::default()) {
            Ok(img) => {
                assert_eq!(
                    (img.width, img.height),
                    (stream.header.width, stream.header.height),
                    "decoded size differs from the header"
                );
                assert_eq!(img.rgb.len(), img.width as usize * img.height as usize * 3);
                if let Some(a) = &img.alpha {
                    assert_eq!(a.len(), img.width as usize * img.height as usize);
                }
                Outcome::Decoded
            }
            Err(_) => Outcome::DecodeError,
        }
    }))
    .map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "non-string panic".into())
    })
}

/// One mutation of `base`, described for the failure message.
fn mutate(base: &[u8], rng: &mut Rng, i: usize) -> (String, Vec<u8>) {
    let mut b = base.to_vec();
    let chunks = chunks(base);
    let pick = |rng: &mut Rng| chunks[rng.below(chunks.len())];
    let desc = match i % 8 {
        // Bit flip anywhere (the CRC or the preamble checks should catch most).
        0 => {
            let at = rng.below(b.len());
            let bit = rng.below(8);
            b[at] ^= 1 << bit;
            format!("flip bit {bit} of byte {at}")
        }
        // Bit flips inside one chunk's payload, CRC fixed up so they reach the
        // header parser or the entropy decoders.
        1 | 2 => {
            let c = pick(rng);
            if c.len == 0 {
                b[c.start] ^= 0x20;
                format!("flip case of {:?} tag", String::from_utf8_lossy(&c.tag))
            } else {
                let flips = 1 + rng.below(4);
                let mut what = Vec::new();
                for _ in 0..flips {
                    let at = c.payload() + rng.below(c.len);
                    let bit = rng.below(8);
                    b[at] ^= 1 << bit;
                    what.push(format!("{at}:{bit}"));
                }
                fix_crc(&mut b, &c);
                format!(
                    "flip bits {} in {:?} payload, CRC fixed",
                    what.join(","),
                    String::from_utf8_lossy(&c.tag)
                )
            }
        }
        // Truncation at a random length.
        3 => {
            let n = rng.below(b.len());
            b.truncate(n);
            format!("truncate to {n} bytes")
        }
        // Random byte overwrites anywhere.
        4 => {
            let k = 1 + rng.below(4);
            let mut what = Vec::new();
            for _ in 0..k {
                let at = rng.below(b.len());
                let v = rng.byte();
                b[at] = v;
                what.push(format!("{at}={v:#04x}"));
            }
            format!("overwrite bytes {}", what.join(","))
        }
        // A chunk's length field lies.
        5 => {
            let c = pick(rng);
            let lie: u32 = match rng.below(6) {
                0 => 0,
                1 => c.len as u32 + 1,
                2 => (c.len as u32).saturating_sub(1),
                3 => u32::MAX,
                4 => u32::MAX - 3,
                _ => rng.next_u64() as u32,
            };
            b[c.start + 4..c.start + 8].copy_from_slice(&lie.to_le_bytes());
            format!(
                "{:?} length {} -> {lie}",
                String::from_utf8_lossy(&c.tag),
                c.len
            )
        }
        // An entropy-coded or alpha payload shortened, extended or replaced, with the
        // length and CRC made consistent (reaches the decoders with bad data).
        6 => {
            let coded: Vec<_> = chunks
                .iter()
                .filter(|c| matches!(&c.tag, b"ZBIT" | b"YBIT" | b"ALPH"))
                .copied()
                .collect();
            let c = coded[rng.below(coded.len())];
            let mut payload = base[c.payload()..c.crc()].to_vec();
            let what = match rng.below(4) {
                0 => {
                    let n = rng.below(payload.len() / 4 + 1) * 4;
                    payload.truncate(n);
                    format!("truncated to {n}")
                }
                1 => {
                    let n = 4 * (1 + rng.below(4));
                    payload.extend((0..n).map(|_| rng.byte()));
                    format!("extended by {n} random bytes")
                }
                2 => {
                    payload.iter_mut().for_each(|v| *v = rng.byte());
                    "replaced by random bytes".to_owned()
                }
                _ => {
                    payload.clear();
                    "emptied".to_owned()
                }
            };
            let tag = c.tag;
            let mut out = base[..c.start].to_vec();
            out.extend_from_slice(&tag);
            out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            out.extend_from_slice(&payload);
            out.extend_from_slice(&chunk_crc(&tag, &payload).to_le_bytes());
            out.extend_from_slice(&base[c.end()..]);
            b = out;
            format!(
                "{:?} payload {what}, length and CRC fixed",
                String::from_utf8_lossy(&tag)
            )
        }
        // A header field set to a random (often out-of-range) value, CRC fixed.
        _ => {
            let h = chunks[0];
            assert_eq!(&h.tag, b"HEAD");
            let p = h.payload();
            let id_len = base[p + head::ID_LEN] as usize;
            let sha = p + head::sha(id_len);
            let (field, at, width) = match rng.below(10) {
                0 => ("width", p + head::WIDTH, 4),
                1 => ("height", p + head::HEIGHT, 4),
                2 => ("pixel format", p + head::PIXEL_FORMAT, 1),
                3 => ("quality", p + head::QUALITY, 1),
                4 => ("model id length", p + head::ID_LEN, 1),
                5 => ("y channels", sha + 32, 2),
                6 => ("z channels", sha + 34, 2),
                7 => ("substreams", sha + 36, 2),
                8 => ("kind", p + head::KIND, 1),
                _ => ("bit depth / color", p + head::BIT_DEPTH + rng.below(2), 1),
            };
            // Small values are the interesting ones for sizes and counts.
            let v: u32 = match rng.below(3) {
                0 => rng.below(4) as u32,
                1 => rng.below(300) as u32,
                _ => rng.next_u64() as u32,
            };
            b[at..at + width].copy_from_slice(&v.to_le_bytes()[..width]);
            fix_crc(&mut b, &h);
            format!("HEAD {field} = {v} (truncated to {width} bytes), CRC fixed")
        }
    };
    (desc, b)
}

#[test]
fn mutated_streams_never_panic() {
    let codec = codec();
    let mut failures = Vec::new();
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    let start = std::time::Instant::now();
    // Most mutations start from the 17×33 RGB stream; some from the RGBA one so the
    // ALPH chunk is exercised too.
    let bases = [
        (
            "odd-17x33",
            encode_bytes(&codec, &source("odd-17x33.png"), 50),
            240,
        ),
        (
            "rgba-40x30",
            encode_bytes(&codec, &source("rgba-40x30.png"), 50),
            60,
        ),
    ];
    for (base_name, base, n) in &bases {
        // The unmutated stream decodes.
        assert_eq!(run(&codec, base), Ok(Outcome::Decoded), "{base_name}");
        let mut rng = Rng::new(0x6e65_636f ^ *n as u64);
        for i in 0..*n {
            let (desc, bytes) = mutate(base, &mut rng, i);
            match run(&codec, &bytes) {
                Ok(o) => *counts.entry(format!("{o:?}")).or_default() += 1,
                Err(msg) => failures.push(format!("{base_name} #{i}: {desc}: panicked: {msg}")),
            }
        }
    }
    eprintln!(
        "outcomes: {counts:?}, {} panics, {:.1} s",
        failures.len(),
        start.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} mutations panicked:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The mutations must reach every stage, or the test proves little.
    for o in ["Decoded", "ParseError", "DecodeError"] {
        assert!(
            counts.get(o).copied().unwrap_or(0) > 0,
            "no mutation ended in {o}: {counts:?}"
        );
    }
}

#[test]
fn empty_and_wrong_magic() {
    let codec = codec();
    for (what, bytes) in [
        ("empty", Vec::new()),
        ("one byte", vec![0x89]),
        ("PNG signature", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec()),
        ("text", b"hello, world\n".to_vec()),
        ("magic only", MAGIC.to_vec()),
    ] {
        assert_eq!(run(&codec, &bytes), Ok(Outcome::ParseError), "{what}");
        let err = ImageStream::from_bytes(&bytes, &limits()).unwrap_err();
        assert!(matches!(err, NecoError::Corrupt(_)), "{what}: {err}");
    }
    let base = encode_bytes(&codec, &source("odd-17x33.png"), 50);
    let mut wrong = base.clone();
    wrong[1] = b'X';
    let err = ImageStream::from_bytes(&wrong, &limits()).unwrap_err();
    assert!(err.to_string().contains("not a .neco stream"), "{err}");
    // A future container version is refused as unsupported, not corrupt.
    let mut v3 = base;
    v3[8] = 3;
    let err = ImageStream::from_bytes(&v3, &limits()).unwrap_err();
    assert!(matches!(err, NecoError::Unsupported(_)), "{err}");
}

#[test]
fn absurd_dimensions_hit_the_limit() {
    let codec = codec();
    let base = encode_bytes(&codec, &source("odd-17x33.png"), 50);
    let h = chunks(&base)[0];
    assert_eq!(&h.tag, b"HEAD");
    let mut b = base.clone();
    let p = h.payload();
    b[p + head::WIDTH..p + head::WIDTH + 4].copy_from_slice(&100_000u32.to_le_bytes());
    b[p + head::HEIGHT..p + head::HEIGHT + 4].copy_from_slice(&100_000u32.to_le_bytes());
    fix_crc(&mut b, &h);
    // With the default limits (the CLI's), not just the test's tight ones.
    for lim in [Limits::default(), limits()] {
        let err = ImageStream::from_bytes(&b, &lim).unwrap_err();
        assert!(matches!(err, NecoError::LimitExceeded(_)), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("limit"), "{msg}");
        assert!(msg.contains("100000"), "{msg}");
    }
    // Under max_dimension but over max_pixels: 60000×60000.
    let mut b = base.clone();
    b[p + head::WIDTH..p + head::WIDTH + 4].copy_from_slice(&60_000u32.to_le_bytes());
    b[p + head::HEIGHT..p + head::HEIGHT + 4].copy_from_slice(&60_000u32.to_le_bytes());
    fix_crc(&mut b, &h);
    let err = ImageStream::from_bytes(&b, &Limits::default()).unwrap_err();
    assert!(matches!(err, NecoError::LimitExceeded(_)), "{err}");
    assert!(
        err.to_string().contains("pixels is over the limit"),
        "{err}"
    );
    // Without the CRC fix-up the same edit is caught as corruption first.
    let mut b = base;
    b[p + head::WIDTH..p + head::WIDTH + 4].copy_from_slice(&100_000u32.to_le_bytes());
    let err = ImageStream::from_bytes(&b, &Limits::default()).unwrap_err();
    assert!(err.to_string().contains("CRC"), "{err}");
}

/// Damaged weights files (`--weights` is user input too) load as `Ok` or `Err`, never
/// a panic: bytes of the config and of the Burn record's header flipped or
/// overwritten. Weights files carry no checksum, so damage reaches Burn's parser.
#[test]
fn damaged_weights_never_panic() {
    let base = DEFAULT_WEIGHTS;
    let u32_at = |at: usize| u32::from_le_bytes(base[at..at + 4].try_into().unwrap()) as usize;
    // Magic and version, then the config section and the record section.
    let config = (16, u32_at(12));
    let record = (config.0 + config.1 + 4, u32_at(config.0 + config.1));
    let mut rng = Rng::new(0x7765_6967);
    let mut outcomes = [0usize; 2];
    for i in 0..48 {
        // Mostly the record's first 4 KB, where its tensor descriptors are.
        let (start, len) = match i % 4 {
            0 => config,
            _ => (record.0, record.1.min(4096)),
        };
        let at = start + rng.below(len);
        let mut bytes = base.to_vec();
        damage(&mut bytes, at, base.len(), i, &mut rng);
        let loaded = catch_unwind(AssertUnwindSafe(|| {
            WeightsFile::parse(&bytes).and_then(|w| Codec::new(&w, Device::flex()))
        }))
        .unwrap_or_else(|_| panic!("mutation {i} at byte {at} panicked"));
        outcomes[usize::from(loaded.is_ok())] += 1;
    }
    // Most flips in those places break the file; a few land where nothing checks.
    assert!(outcomes[0] > 0, "{outcomes:?}");
}
