//! Decodes the latents of the golden streams (tests/golden/ of the `neco` package) with
//! neco-core alone — no Burn, no neural network — and checks they are the integers the
//! full decoder pins in tests/golden/expected.json. This is what lets any machine, with
//! or without a GPU or a Burn backend, agree on what a stream's bits mean.

use std::path::PathBuf;

use neco_core::container::video::{FrameMode, VideoStreamReader};
use neco_core::container::ImageStream;
use neco_core::latent::LatentDims;
use neco_core::weights::Weights;
use neco_core::{hex, Limits, NecoError};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn expected() -> Value {
    let path = repo().join("tests/golden/expected.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn weights(doc: &Value) -> Weights {
    let name = doc["model"].as_str().unwrap();
    let path = repo().join("weights").join(format!("{name}.nwt"));
    Weights::parse(&std::fs::read(&path).unwrap()).unwrap()
}

/// sha256 over ẑ then the ŷ symbols, each as little-endian i32 (as tests/golden.rs).
fn latents_sha256(z_hat: &[i32], symbols: &[i32]) -> String {
    let mut h = Sha256::new();
    for v in z_hat.iter().chain(symbols) {
        h.update(v.to_le_bytes());
    }
    hex(&h.finalize())
}

fn golden(name: &str) -> ImageStream {
    let bytes = std::fs::read(repo().join(format!("tests/golden/{name}.neco"))).unwrap();
    ImageStream::from_bytes(&bytes, &Limits::default()).unwrap()
}

#[test]
fn golden_latents_decode_without_burn() {
    let doc = expected();
    let w = weights(&doc);
    assert_eq!(
        doc["weights_sha256"].as_str().unwrap(),
        hex(&w.sha256),
        "the golden streams were blessed with other weights"
    );
    let model = w.entropy_model().unwrap();
    let streams = doc["streams"].as_object().unwrap();
    assert!(!streams.is_empty());
    for (name, entry) in streams {
        let stream = golden(name);
        let l = model.decode_stream(&stream).unwrap();
        assert_eq!(
            latents_sha256(&l.z_hat, &l.symbols),
            entry["latents_sha256"].as_str().unwrap(),
            "{name}: neco-core's latents differ from the full decoder's"
        );
    }
}

#[test]
fn streams_of_other_weights_are_refused() {
    let doc = expected();
    let model = weights(&doc).entropy_model().unwrap();
    let mut stream = golden("sample-q50");
    stream.header.weights_sha256[0] ^= 1;
    let e = model.decode_stream(&stream).unwrap_err();
    assert!(matches!(e, NecoError::Unsupported(_)), "{e}");
    assert!(
        e.to_string()
            .contains("stream was made with weights sha256"),
        "{e}"
    );
}

/// The golden video (frame 0 intra, the others through the temporal prior) decodes to
/// the pinned latents with neco-core alone: the temporal path is bit-exact too.
#[test]
fn golden_video_latents_decode_without_burn() {
    let doc = expected();
    let model = weights(&doc).entropy_model().unwrap();
    let videos = doc["videos"].as_object().unwrap();
    assert!(!videos.is_empty());
    for (name, entry) in videos {
        let bytes = std::fs::read(repo().join(format!("tests/golden/{name}.neco"))).unwrap();
        let mut r =
            VideoStreamReader::open(std::io::Cursor::new(&bytes), &Limits::default()).unwrap();
        let h = r.header().clone();
        let d = LatentDims::new(h.width, h.height);
        let mut all = Vec::new();
        let mut prev: Option<Vec<f32>> = None;
        let mut temporal = 0;
        for g in 0..r.groups().len() {
            for f in r.read_group(g).unwrap() {
                let given = match f.mode {
                    FrameMode::Intra => None,
                    FrameMode::Temporal => {
                        temporal += 1;
                        Some(prev.as_deref().unwrap())
                    }
                };
                let l = model
                    .decode_given(&f.z_bits, &f.y_bits, &d, h.quality, given)
                    .unwrap();
                prev = Some(l.y_hat());
                all.extend(l.z_hat);
                all.extend(l.symbols);
            }
        }
        assert!(temporal > 0, "{name} has no temporal frame");
        assert_eq!(
            latents_sha256(&all, &[]),
            entry["latents_sha256"].as_str().unwrap(),
            "{name}: neco-core's latents differ from the full decoder's"
        );
    }
}
