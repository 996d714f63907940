//! Decodability does not depend on the float arithmetic of the analysis transforms.
//!
//! A GPU, another CPU or another backend computes g_a and h_a with different rounding.
//! The encoder quantizes whatever floats it got, and from then on everything that
//! decides which bits mean what — ẑ, the parameters P(ẑ), the ŷ symbols — is integer
//! or strictly ordered arithmetic in neco-core, recomputed by the decoder from the
//! stream alone. So a stream from a "different" encoder must still decode to exactly
//! the integers that encoder coded; only the picture moves, a little.

mod common;

use common::*;
use neco::codec::Timings;
use neco_core::container::ImageStream;
use neco_core::Limits;

/// Multiplies every value by `1 + e` with `e` uniform in ±`rel`, from a fixed seed.
fn perturb(values: &mut [f32], rel: f32, seed: &mut u64) {
    for v in values {
        *seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let u = (*seed >> 40) as f32 / (1u64 << 24) as f32; // 0..1
        *v *= 1.0 + rel * (2.0 * u - 1.0);
    }
}

#[test]
fn perturbed_analysis_still_decodes_exactly() {
    let codec = codec();
    let model = codec.entropy_model();
    let src = source("sample-768x512.png");
    let quality = 50;
    let mut t = Timings::default();

    let clean = codec.analyse(&src, quality, &mut t).unwrap();
    let mut noisy = clean.clone();
    // ±0.1 % on y, ±1 % on z: far more than GPU-vs-CPU rounding (~1e-6 relative), so
    // that roundings of both ẑ and ŷ flip and the test exercises what it claims (z has
    // few values, most near 0: ±0.1 % flipped none of them with the default weights).
    let mut seed = 0x5eed;
    perturb(&mut noisy.y, 1e-3, &mut seed);
    perturb(&mut noisy.z, 1e-2, &mut seed);

    let q = |a: &neco::codec::Analysis| model.quantize(&a.y, &a.z, &a.dims, quality).unwrap();
    let (clean_latents, noisy_latents) = (q(&clean), q(&noisy));
    let differ = |a: &[i32], b: &[i32]| a.iter().zip(b).filter(|(x, y)| x != y).count();
    let z_flips = differ(&clean_latents.z_hat, &noisy_latents.z_hat);
    let y_flips = differ(&clean_latents.symbols, &noisy_latents.symbols);
    assert!(
        z_flips > 0 && y_flips > 0,
        "the noise changed {z_flips} ẑ and {y_flips} ŷ values: too weak to test anything"
    );

    let bytes = codec
        .encode_latents(&src, &noisy_latents, quality, &mut t)
        .unwrap()
        .to_bytes()
        .unwrap();
    let stream = ImageStream::from_bytes(&bytes, &Limits::default()).unwrap();

    // The full decoder and neco-core alone both recover exactly what was coded.
    let decoded = codec.decode_latents(&stream, &mut t).unwrap();
    assert_eq!(decoded, noisy_latents, "full decoder");
    assert_eq!(
        model.decode_stream(&stream).unwrap(),
        noisy_latents,
        "neco-core alone"
    );

    // The picture moves only a little.
    let clean_img = decode_bytes(&codec, &encode_bytes(&codec, &src, quality));
    let noisy_img = decode_bytes(&codec, &bytes);
    let between = psnr(&clean_img.rgb, &noisy_img.rgb);
    let to_source = psnr(&src.rgb, &noisy_img.rgb);
    eprintln!(
        "{z_flips} ẑ and {y_flips} ŷ values flipped; PSNR clean↔perturbed {between:.2} dB, \
         perturbed↔source {to_source:.2} dB"
    );
    assert!(
        between > 35.0,
        "perturbed decode is {between:.2} dB from the clean one"
    );
    assert!(to_source > PSNR_FLOOR_SAMPLE_DB, "{to_source:.2} dB");
}
