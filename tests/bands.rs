//! A model with transforms of its own for its top rungs (`top_band`): the codec codes
//! each quality with the pair its band names, in the encoder and the decoder alike.

mod common;

use burn::prelude::Device;
use common::{decode_bytes, encode_bytes, source};
use neco::codec::{Codec, Timings};
use neco::io::image_io::SourceImage;
use neco::model::transforms::TopBand;
use neco::model::weights::{WeightsFile, DEFAULT_WEIGHTS};
use neco::model::{HyperpriorModel, Init, ModelConfig};

/// The first rung of the test model's top band (of the default's 8): qualities from
/// 65 up code with it (half a rung below rung 5, at q = 71.4).
const TOP: usize = 5;

/// A 128×96 window of the sample photo.
fn crop() -> SourceImage {
    let full = source("sample-768x512.png");
    let (w, h) = (128u32, 96u32);
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    for y in 200..200 + h {
        let row = (y * full.width + 300) as usize * 3;
        rgb.extend_from_slice(&full.rgb[row..row + w as usize * 3]);
    }
    SourceImage::from_rgb(w, h, rgb)
}

fn codec_of(config: &ModelConfig, model: &HyperpriorModel, w: &WeightsFile) -> Codec {
    let bytes = WeightsFile::build(config, model, &w.z_tables, None).unwrap();
    Codec::new(&WeightsFile::parse(&bytes).unwrap(), Device::flex()).unwrap()
}

/// Three codecs over the default's entropy model: `banded` (the default's lower
/// transforms below the band, random ones in it), and `below` and `above`, plain models
/// with the transforms of one band each.
fn codecs() -> (Codec, Codec, Codec) {
    let device = Device::flex();
    let w = WeightsFile::parse(DEFAULT_WEIGHTS).unwrap();
    // The default's lower transforms and entropy model, without a band of its own.
    let plain = HyperpriorModel {
        top: None,
        ..w.model(&device).unwrap()
    };
    let plain_config = ModelConfig {
        top_band: 0,
        ..w.config.clone()
    };
    let mut config = w.config.clone();
    config.top_band = TOP;
    let sizes = (config.analysis_width(), config.synthesis_width(), config.m);
    let top = TopBand::new(TOP, sizes, Init::Random, &device);
    let above = HyperpriorModel {
        g_a: top.g_a.clone(),
        g_s: top.g_s.clone(),
        ..plain.clone()
    };
    let banded = HyperpriorModel {
        top: Some(top),
        ..plain.clone()
    };
    (
        codec_of(&config, &banded, &w),
        codec_of(&plain_config, &plain, &w),
        codec_of(&plain_config, &above, &w),
    )
}

#[test]
fn each_quality_codes_with_its_bands_transforms() {
    let (banded, below, above) = codecs();
    let src = crop();
    for (q, plain) in [(0u8, &below), (64, &below), (65, &above), (100, &above)] {
        let ours = encode_bytes(&banded, &src, q);
        let theirs = encode_bytes(plain, &src, q);
        // The streams differ in the weights' sha256 alone.
        assert_eq!(ours.len(), theirs.len(), "q{q}: stream sizes");
        let (a, b) = (decode_bytes(&banded, &ours), decode_bytes(plain, &theirs));
        assert!(a.rgb == b.rgb, "q{q}: decoded pixels differ");
    }
    // The bands are told apart: the random top pair codes another image.
    let (lo, hi) = (
        encode_bytes(&below, &src, 65),
        encode_bytes(&banded, &src, 65),
    );
    assert_ne!(
        decode_bytes(&below, &lo).rgb,
        decode_bytes(&banded, &hi).rgb
    );
}

#[test]
fn a_rate_target_searches_across_the_bands() {
    let (banded, _, _) = codecs();
    let src = crop();
    let mut t = Timings::default();
    let pixels = f64::from(src.width * src.height);
    for target in [0.3, 50.0] {
        let (stream, q) = banded.encode_to_bpp(&src, target, &mut t).unwrap();
        let bytes = stream.to_bytes().unwrap();
        assert!(bytes.len() as f64 * 8.0 / pixels <= target);
        // The stream is the one `-q` gives at the quality found.
        assert_eq!(bytes, encode_bytes(&banded, &src, q), "target {target}");
        decode_bytes(&banded, &bytes);
    }
}
