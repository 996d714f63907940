//! Golden bitstreams: streams committed under `tests/golden/` must keep decoding the
//! same way on every machine.
//!
//! What is pinned and how strictly:
//! * the decoded **latents** (ẑ and the ŷ symbols) are exact: they come from integer
//!   range decoding driven by the deterministic entropy-parameter path in neco-core, so
//!   their hash must match bit for bit on every machine and backend;
//! * the decoded **pixels** come from the synthesis transform g_s, which runs in float
//!   on whichever SIMD path the CPU (or GPU) takes, so they may differ by rounding: they
//!   are compared with the reference PNG within a small tolerance.
//!
//! Regenerate on purpose (weights or format changed) with
//! `NECO_BLESS=1 cargo test --release -p neco --test golden`, and note it in CHANGELOG.md.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::*;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use neco::codec::video::encode_video;
use neco::codec::Timings;
use neco_core::container::video::{FrameMode, VideoStreamReader};
use neco_core::container::{Header as ImageStreamHeader, ImageStream};
use neco_core::Limits;
use serde_json::{json, Value};

/// Largest |difference| allowed per decoded sample against the reference PNG.
const MAX_PIXEL_DIFF: u8 = 2;

/// Quality the golden video is encoded at.
const QUALITY: u8 = 50;

/// (golden name, source asset, quality). q90 codes with the default's top-band
/// transforms (docs/bands.md), q50 with the lower pair.
const GOLDENS: [(&str, &str, u8); 3] = [
    ("odd-17x33-q50", "odd-17x33.png", 50),
    ("sample-q50", "sample-768x512.png", 50),
    ("odd-17x33-q90", "odd-17x33.png", 90),
];

/// The golden video: a pan across the sample, [`PAN_FRAMES`] frames of 128×96 in one
/// group, frame 0 intra and the rest coded with the temporal prior.
const VIDEO: &str = "pan-q50";
/// Frames of the golden video.
const PAN_FRAMES: usize = 5;

fn video_path() -> PathBuf {
    golden_dir().join(format!("{VIDEO}.neco"))
}

/// Decodes every frame's latents of a one-group video stream with the full decoder:
/// (modes, sha256 over each frame's ẑ then ŷ symbols, in frame order).
fn video_latents(codec: &neco::codec::Codec, bytes: &[u8]) -> (Vec<FrameMode>, String) {
    let mut r = VideoStreamReader::open(std::io::Cursor::new(bytes), &Limits::default()).unwrap();
    assert_eq!(r.groups().len(), 1, "one group");
    let header = ImageStreamHeader {
        kind: neco_core::container::Kind::Image,
        video: None,
        ..r.header().clone()
    };
    let (mut modes, mut all) = (Vec::new(), Vec::new());
    let mut prev: Option<Vec<f32>> = None;
    for f in r.read_group(0).unwrap() {
        let s = ImageStream {
            header: header.clone(),
            z_bits: f.z_bits,
            y_bits: f.y_bits,
            alpha: None,
            icc: None,
            exif: None,
        };
        let given = (f.mode == FrameMode::Temporal).then(|| prev.as_deref().unwrap());
        let l = codec
            .decode_latents_given(&s, given, &mut Timings::default())
            .unwrap();
        prev = Some(l.y_hat());
        all.extend(l.z_hat);
        all.extend(l.symbols);
        modes.push(f.mode);
    }
    (modes, latents_sha256(&all, &[]))
}

fn blessing() -> bool {
    std::env::var("NECO_BLESS").is_ok_and(|v| v == "1")
}

fn stream_path(name: &str) -> PathBuf {
    golden_dir().join(format!("{name}.neco"))
}

fn png_path(name: &str) -> PathBuf {
    golden_dir().join(format!("{name}.decoded.png"))
}

fn expected_path() -> PathBuf {
    golden_dir().join("expected.json")
}

/// Encode every golden asset with the compiled-in weights and (re)write the stream,
/// the reference PNG and expected.json. Runs once per test process.
fn bless() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let codec = codec();
        let bands: Vec<bool> = GOLDENS
            .iter()
            .map(|&(_, _, q)| codec.config().top_band_at(q))
            .collect();
        assert!(
            bands.contains(&true) == (codec.config().top_band > 0) && bands.contains(&false),
            "the goldens should code with every pair of transforms of the default"
        );
        std::fs::create_dir_all(golden_dir()).unwrap();
        let mut entries = serde_json::Map::new();
        for (name, asset_name, quality) in GOLDENS {
            let bytes = encode_bytes(&codec, &source(asset_name), quality);
            let stream = ImageStream::from_bytes(&bytes, &Limits::default()).unwrap();
            let mut t = Timings::default();
            let l = codec.decode_latents(&stream, &mut t).unwrap();
            let (z, y) = (l.z_hat, l.symbols);
            let dec = codec.decode(&stream, &mut t).unwrap();
            let img = image::RgbImage::from_raw(dec.width, dec.height, dec.rgb).unwrap();
            std::fs::write(stream_path(name), &bytes).unwrap();
            let file = std::fs::File::create(png_path(name)).unwrap();
            let enc = PngEncoder::new_with_quality(
                std::io::BufWriter::new(file),
                CompressionType::Best,
                FilterType::Adaptive,
            );
            img.write_with_encoder(enc).unwrap();
            let entry = json!({
                "asset": asset_name,
                "quality": quality,
                "width": dec.width,
                "height": dec.height,
                "stream_bytes": bytes.len(),
                "stream_sha256": sha256_hex(&bytes),
                "latents_sha256": latents_sha256(&z, &y),
                "decoded_png": format!("{name}.decoded.png"),
            });
            println!(
                "blessed {}: {} bytes, stream sha256 {}, latents sha256 {}; wrote {}",
                stream_path(name).display(),
                bytes.len(),
                entry["stream_sha256"].as_str().unwrap(),
                entry["latents_sha256"].as_str().unwrap(),
                png_path(name).display()
            );
            entries.insert(name.to_owned(), entry);
        }
        assert!(
            codec.entropy_model().temporal().is_some(),
            "the default weights have no temporal prior to pin"
        );
        // 128×96 windows of the sample moving 3 px right and 2 px down per frame.
        let frames = sample_pan(PAN_FRAMES, (128, 96), (300, 200), (3, 2));
        let mut src = MemoryFrames::new(128, 96, frames);
        let gop = PAN_FRAMES as u16;
        let (bytes, _) = encode_video(
            &codec,
            &mut src,
            Vec::new(),
            QUALITY,
            gop,
            true,
            &mut Timings::default(),
            |_| {},
        )
        .unwrap();
        std::fs::write(video_path(), &bytes).unwrap();
        let (_, latents) = video_latents(&codec, &bytes);
        let video = json!({
            "frames": PAN_FRAMES,
            "quality": QUALITY,
            "stream_bytes": bytes.len(),
            "stream_sha256": sha256_hex(&bytes),
            "latents_sha256": latents,
        });
        println!("blessed {}: {video}", video_path().display());
        let doc = json!({
            "comment": "Written by NECO_BLESS=1 cargo test --release -p neco --test golden; do not edit by hand.",
            "model": codec.config().name,
            "weights_sha256": hex(&default_weights_sha256()),
            "streams": entries,
            "videos": { VIDEO: video },
        });
        let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";
        std::fs::write(expected_path(), text).unwrap();
        println!("blessed {}", expected_path().display());
    });
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "reading {}: {e} (create the golden files with NECO_BLESS=1)",
            path.display()
        )
    })
}

fn expected() -> Value {
    serde_json::from_slice(&read(&expected_path())).expect("expected.json is not JSON")
}

fn entry<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let e = &doc["streams"][name];
    assert!(e.is_object(), "expected.json has no entry for {name}");
    e
}

fn field<'a>(e: &'a Value, key: &str) -> &'a str {
    e[key]
        .as_str()
        .unwrap_or_else(|| panic!("expected.json: missing string field {key}"))
}

/// The golden stream's bytes (checked against their pinned hash), parsed.
fn golden_bytes(name: &str) -> (Vec<u8>, ImageStream) {
    let doc = expected();
    let bytes = read(&stream_path(name));
    assert_eq!(
        sha256_hex(&bytes),
        field(entry(&doc, name), "stream_sha256"),
        "{name}.neco does not match the sha256 in expected.json (file damaged, or blessed only in part)"
    );
    let stream = ImageStream::from_bytes(&bytes, &Limits::default())
        .unwrap_or_else(|e| panic!("{name}.neco does not parse: {e}"));
    (bytes, stream)
}

/// The golden stream, parsed, after checking it was made with the compiled-in weights.
fn golden_stream(name: &str) -> ImageStream {
    let doc = expected();
    let (_, stream) = golden_bytes(name);
    let built_in = hex(&default_weights_sha256());
    let in_stream = hex(&stream.header.weights_sha256);
    assert!(
        in_stream == built_in,
        "weights changed: re-bless with NECO_BLESS=1 and note it in CHANGELOG.md \
         ({name}.neco was made with weights {in_stream}, the compiled-in weights are {built_in})"
    );
    assert_eq!(
        field(&doc, "weights_sha256"),
        built_in,
        "weights changed: re-bless with NECO_BLESS=1 and note it in CHANGELOG.md \
         (expected.json records other weights)"
    );
    stream
}

#[test]
fn latents_are_bit_exact() {
    if blessing() {
        bless();
        return;
    }
    let doc = expected();
    let codec = codec();
    for (name, _, _) in GOLDENS {
        let stream = golden_stream(name);
        let l = codec
            .decode_latents(&stream, &mut Timings::default())
            .unwrap_or_else(|e| panic!("{name}: decoding latents: {e:#}"));
        let (z, y) = (l.z_hat, l.symbols);
        // Sanity: the shapes follow from the header (padded to 64, y at /16, z at /64).
        let (pw, ph) = (
            (stream.header.width as usize).div_ceil(64) * 64,
            (stream.header.height as usize).div_ceil(64) * 64,
        );
        assert_eq!(
            z.len(),
            codec.config().n * (pw / 64) * (ph / 64),
            "{name}: ẑ size"
        );
        assert_eq!(
            y.len(),
            codec.config().m * (pw / 16) * (ph / 16),
            "{name}: ŷ size"
        );
        assert_eq!(
            latents_sha256(&z, &y),
            field(entry(&doc, name), "latents_sha256"),
            "{name}: decoded latents differ from the pinned ones; decoding is no longer bit-exact"
        );
    }
}

#[test]
fn pixels_match_reference() {
    if blessing() {
        bless();
        return;
    }
    let doc = expected();
    let codec = codec();
    for (name, _, _) in GOLDENS {
        let stream = golden_stream(name);
        let e = entry(&doc, name);
        let dec = codec
            .decode(&stream, &mut Timings::default())
            .unwrap_or_else(|err| panic!("{name}: decode: {err:#}"));
        let reference = image::open(golden_dir().join(field(e, "decoded_png")))
            .unwrap_or_else(|err| panic!("{name}: reading the reference PNG: {err}"))
            .to_rgb8();
        assert_eq!(
            (dec.width, dec.height),
            reference.dimensions(),
            "{name}: decoded size"
        );
        assert_eq!(
            (u64::from(dec.width), u64::from(dec.height)),
            (e["width"].as_u64().unwrap(), e["height"].as_u64().unwrap()),
            "{name}: size in expected.json"
        );
        let reference = reference.into_raw();
        let (worst_at, worst) = dec
            .rgb
            .iter()
            .zip(&reference)
            .map(|(&a, &b)| a.abs_diff(b))
            .enumerate()
            .max_by_key(|&(_, d)| d)
            .unwrap();
        assert!(
            worst <= MAX_PIXEL_DIFF,
            "{name}: decoded sample {worst_at} differs from the reference by {worst} (> {MAX_PIXEL_DIFF})"
        );
    }
}

#[test]
fn streams_reserialize_byte_identically() {
    if blessing() {
        bless();
    }
    for (name, _, _) in GOLDENS {
        // Container only: this holds whatever the weights are.
        let (bytes, stream) = golden_bytes(name);
        let again = stream.to_bytes().expect("re-serialize");
        assert!(
            again == bytes,
            "{name}: re-serialized stream differs ({} vs {} bytes)",
            again.len(),
            bytes.len()
        );
        // And the re-serialized bytes parse to the same stream.
        let reparsed = ImageStream::from_bytes(&again, &Limits::default()).unwrap();
        assert_eq!(reparsed, stream, "{name}: re-parse gives another stream");
    }
}

#[test]
fn video_latents_are_bit_exact() {
    if blessing() {
        bless();
        return;
    }
    let doc = expected();
    let e = &doc["videos"][VIDEO];
    let bytes = read(&video_path());
    assert_eq!(
        sha256_hex(&bytes),
        field(e, "stream_sha256"),
        "{VIDEO}.neco does not match the sha256 in expected.json"
    );
    let (modes, latents) = video_latents(&codec(), &bytes);
    // The group opens intra; the encoder picked the temporal prior for most of the
    // rest (whichever was smaller), so the temporal path is what is pinned here.
    assert_eq!((modes.len(), modes[0]), (PAN_FRAMES, FrameMode::Intra));
    let temporal = modes.iter().filter(|&&m| m == FrameMode::Temporal).count();
    assert!(temporal * 2 >= PAN_FRAMES, "{modes:?}");
    assert_eq!(
        latents,
        field(e, "latents_sha256"),
        "{VIDEO}: decoded latents differ from the pinned ones; the temporal path is no longer bit-exact"
    );
}
