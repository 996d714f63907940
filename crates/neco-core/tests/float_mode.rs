//! The deterministic path gives the same bits in a host that flushes subnormals.
//!
//! A process of its own (this test binary): the main thread turns on flush-to-zero and
//! denormals-are-zero before anything else runs, as audio or numerics code linking
//! neco-core might, so Rayon's global pool inherits them too.
#![cfg(target_arch = "x86_64")]

use std::path::PathBuf;

use neco_core::container::ImageStream;
use neco_core::entropy::{HyperSynthesis, Layer, Planes};
use neco_core::weights::Weights;
use neco_core::{hex, Limits};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// MXCSR's flush-to-zero (bit 15) and denormals-are-zero (bit 6).
const FTZ_DAZ: u32 = (1 << 15) | (1 << 6);

fn mxcsr() -> u32 {
    let mut csr: u32 = 0;
    // SAFETY: stores MXCSR into a writable u32.
    unsafe { std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr) };
    csr
}

fn set_mxcsr(csr: u32) {
    // SAFETY: a value read from MXCSR with only FTZ/DAZ changed.
    unsafe { std::arch::asm!("ldmxcsr [{}]", in(reg) &csr) };
}

/// 1×1 convolutions: ẑ = 1 times 1e-39 (a subnormal weight, itself zero under DAZ)
/// gives a subnormal, which the second layer scales back up to about 1e-9.
fn subnormal_net() -> HyperSynthesis {
    let conv = |w: f32| Layer::Conv {
        weight: vec![w],
        bias: vec![0.0],
        in_ch: 1,
        out_ch: 1,
        kernel: 1,
        stride: 1,
        padding: 0,
    };
    HyperSynthesis {
        layers: vec![conv(1e-39), conv(1e30)],
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn a_flushing_host_changes_no_bit() {
    set_mxcsr(mxcsr() | FTZ_DAZ);
    // The host really flushes: the same products computed here vanish.
    let here = std::hint::black_box(1e-39f32) * std::hint::black_box(1.0f32);
    assert_eq!(here, 0.0);

    // The hyper-synthesis keeps the subnormal, on every thread it runs on, and the
    // caller's mode is left as it was.
    let z = Planes::new(1, 4, 4, vec![1.0; 16]).unwrap();
    let net = subnormal_net();
    let out = net.forward(&z).unwrap();
    assert!(
        out.data.iter().all(|&v| (v - 1e-9).abs() < 1e-10),
        "{:?}",
        out.data
    );
    assert_eq!(net.prepare().forward(&z).unwrap().data, out.data);
    assert_eq!(mxcsr() & FTZ_DAZ, FTZ_DAZ);

    // The golden streams decode to the latents the full decoder pinned.
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/golden/expected.json")).unwrap(),
    )
    .unwrap();
    let name = doc["model"].as_str().unwrap();
    let bytes = std::fs::read(repo().join(format!("weights/{name}.nwt"))).unwrap();
    let model = Weights::parse(&bytes).unwrap().entropy_model().unwrap();
    for (name, entry) in doc["streams"].as_object().unwrap() {
        let bytes = std::fs::read(repo().join(format!("tests/golden/{name}.neco"))).unwrap();
        let stream = ImageStream::from_bytes(&bytes, &Limits::default()).unwrap();
        let l = model.decode_stream(&stream).unwrap();
        let mut h = Sha256::new();
        for v in l.z_hat.iter().chain(&l.symbols) {
            h.update(v.to_le_bytes());
        }
        assert_eq!(
            hex(&h.finalize()),
            entry["latents_sha256"].as_str().unwrap(),
            "{name}: latents differ in a flushing host"
        );
    }
    assert_eq!(mxcsr() & FTZ_DAZ, FTZ_DAZ);
}
