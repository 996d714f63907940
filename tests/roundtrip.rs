//! Round trips through the library API: image → stream bytes → image.

mod common;

use common::*;
use neco::io::image_io::SourceKind;
use neco_core::container::{ImageStream, Kind, PixelFormat};
use neco_core::Limits;

/// Encode at q=50, serialize, re-parse, decode; check size, pixel format and PSNR.
/// Returns the source, the parsed stream and the decoded image for further checks.
fn round_trip(
    name: &str,
    want_dims: (u32, u32),
    want_kind: SourceKind,
    want_format: PixelFormat,
) -> (
    neco::io::image_io::SourceImage,
    ImageStream,
    neco::codec::DecodedImage,
) {
    let codec = codec();
    let src = source(name);
    assert_eq!((src.width, src.height), want_dims, "{name}: source size");
    assert_eq!(src.kind, want_kind, "{name}: source kind");
    assert_eq!(src.rgb.len(), (want_dims.0 * want_dims.1 * 3) as usize);
    let bytes = encode_bytes(&codec, &src, 50);
    let stream = ImageStream::from_bytes(&bytes, &Limits::default()).expect("re-parse");
    assert_eq!(
        stream.header.pixel_format, want_format,
        "{name}: pixel format"
    );
    let dec = decode_bytes(&codec, &bytes);
    assert_eq!((dec.width, dec.height), want_dims, "{name}: decoded size");
    assert_eq!(dec.rgb.len(), src.rgb.len(), "{name}: decoded RGB length");
    let p = psnr(&src.rgb, &dec.rgb);
    eprintln!("{name}: {} bytes, PSNR {p:.2} dB", bytes.len());
    // A 1×1 image's PSNR is one pixel's error: it gets its own floor.
    let floor = match src.rgb.len() {
        3 => PSNR_FLOOR_TINY_DB,
        n if n == 768 * 512 * 3 => PSNR_FLOOR_SAMPLE_DB,
        _ => PSNR_FLOOR_DB,
    };
    assert!(
        p >= floor,
        "{name}: PSNR {p:.2} dB is below the floor of {floor} dB"
    );
    (src, stream, dec)
}

#[test]
fn tiny_1x1() {
    let (_, stream, dec) = round_trip("tiny-1x1.png", (1, 1), SourceKind::Rgb, PixelFormat::Rgb8);
    assert!(stream.alpha.is_none());
    assert!(dec.alpha.is_none());
}

#[test]
fn odd_17x33() {
    let (_, stream, dec) = round_trip(
        "odd-17x33.png",
        (17, 33),
        SourceKind::Rgb,
        PixelFormat::Rgb8,
    );
    assert!(stream.alpha.is_none());
    assert!(dec.alpha.is_none());
}

#[test]
fn sample_768x512() {
    round_trip(
        "sample-768x512.png",
        (768, 512),
        SourceKind::Rgb,
        PixelFormat::Rgb8,
    );
}

#[test]
fn gray_comes_back_gray() {
    let (src, _, dec) = round_trip(
        "gray-64x48.png",
        (64, 48),
        SourceKind::Gray,
        PixelFormat::Gray8,
    );
    // The source is gray, so its RGB has equal channels; so must the decoded image.
    assert!(src
        .rgb
        .chunks_exact(3)
        .all(|p| p[0] == p[1] && p[1] == p[2]));
    assert!(
        dec.rgb
            .chunks_exact(3)
            .all(|p| p[0] == p[1] && p[1] == p[2]),
        "decoded gray image has unequal channels"
    );
    assert!(dec.alpha.is_none());
}

#[test]
fn rgba_alpha_is_lossless() {
    let (src, stream, dec) = round_trip(
        "rgba-40x30.png",
        (40, 30),
        SourceKind::Rgba,
        PixelFormat::Rgba8,
    );
    let src_alpha = src
        .alpha
        .as_deref()
        .expect("the asset has non-opaque alpha");
    assert!(src_alpha.iter().any(|&a| a != 255));
    assert!(stream.alpha.is_some(), "no ALPH chunk in an RGBA stream");
    let alpha = dec.alpha.as_deref().expect("decoded image lost its alpha");
    assert_eq!(alpha, src_alpha, "alpha is not bit-exact");
}

#[test]
fn deep16_is_converted_with_a_warning() {
    let src = source("deep16-32x24.png");
    assert!(
        src.warnings.iter().any(|w| w.contains("8-bit")),
        "no conversion warning for a 16-bit source: {:?}",
        src.warnings
    );
    // 8-bit samples are v/257 rounded, so pixel (0, 0) = (0, 5000, 10000) becomes
    // about (0, 19.5, 38.9).
    let p0 = &src.rgb[..3];
    assert!(
        p0[0] == 0 && (19..=20).contains(&p0[1]) && (38..=39).contains(&p0[2]),
        "{p0:?}"
    );
    let (_, stream, _) = round_trip(
        "deep16-32x24.png",
        (32, 24),
        SourceKind::Rgb,
        PixelFormat::Rgb8,
    );
    assert_eq!(stream.header.bit_depth, 8);
}

#[test]
fn eight_bit_sources_give_no_warnings() {
    for name in [
        "tiny-1x1.png",
        "odd-17x33.png",
        "gray-64x48.png",
        "rgba-40x30.png",
    ] {
        let src = source(name);
        assert!(src.warnings.is_empty(), "{name}: {:?}", src.warnings);
    }
}

#[test]
fn encoding_is_deterministic() {
    let codec = codec();
    for name in ["odd-17x33.png", "rgba-40x30.png"] {
        let src = source(name);
        let a = encode_bytes(&codec, &src, 50);
        let b = encode_bytes(&codec, &src, 50);
        assert_eq!(a, b, "{name}: two encodes differ");
        // A second codec instance must agree too.
        let c = encode_bytes(&common::codec(), &src, 50);
        assert_eq!(a, c, "{name}: encodes with two codec instances differ");
    }
}

#[test]
fn lower_quality_gives_fewer_bytes() {
    let codec = codec();
    let src = source("sample-768x512.png");
    let q10 = encode_bytes(&codec, &src, 10);
    let q90 = encode_bytes(&codec, &src, 90);
    eprintln!("sample: q10 {} bytes, q90 {} bytes", q10.len(), q90.len());
    assert!(
        q10.len() < q90.len(),
        "q10 gives {} bytes, q90 {}",
        q10.len(),
        q90.len()
    );
}

#[test]
fn header_fields() {
    let codec = codec();
    let cases = [
        ("odd-17x33.png", 17, 33, PixelFormat::Rgb8, 37u8),
        ("gray-64x48.png", 64, 48, PixelFormat::Gray8, 0),
        ("rgba-40x30.png", 40, 30, PixelFormat::Rgba8, 100),
    ];
    for (name, w, h, format, q) in cases {
        let bytes = encode_bytes(&codec, &source(name), q);
        let stream = ImageStream::from_bytes(&bytes, &Limits::default()).expect("parse");
        let hd = &stream.header;
        assert_eq!(hd.kind, Kind::Image, "{name}");
        assert_eq!((hd.width, hd.height), (w, h), "{name}");
        assert_eq!(hd.pixel_format, format, "{name}");
        assert_eq!(hd.bit_depth, 8, "{name}");
        assert_eq!(hd.quality, q, "{name}");
        assert_eq!(hd.model_id, codec.config().name, "{name}");
        assert_eq!(hd.model_id, default_model_id(), "{name}");
        assert_eq!(
            hex(&hd.weights_sha256),
            hex(&default_weights_sha256()),
            "{name}: weights hash is not sha256(DEFAULT_WEIGHTS)"
        );
        assert_eq!(hd.y_channels as usize, codec.config().m, "{name}");
        assert_eq!(hd.z_channels as usize, codec.config().n, "{name}");
        assert_eq!(hd.substreams as usize, stream.y_bits.len(), "{name}");
        assert_eq!(stream.alpha.is_some(), format == PixelFormat::Rgba8);
    }
}

#[test]
fn sizes_the_decoder_would_refuse_are_refused_before_coding() {
    let codec = codec();
    let max = Limits::default().max_dimension;
    for (w, h) in [(0, 0), (0, 5), (5, 0), (max + 1, 1), (1, max + 1)] {
        let src = neco::io::image_io::SourceImage {
            width: w,
            height: h,
            rgb: vec![128; w as usize * h as usize * 3],
            alpha: None,
            icc: None,
            exif: None,
            kind: SourceKind::Rgb,
            warnings: Vec::new(),
        };
        let err = codec
            .encode(&src, 50, &mut neco::codec::Timings::default())
            .err()
            .unwrap_or_else(|| panic!("{w}x{h} was encoded"));
        assert!(err.to_string().contains(&format!("{w}x{h}")), "{err:#}");
    }
}
