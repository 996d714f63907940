//! The deterministic parameter path must compute what the float-trained h_s computes.

use burn::prelude::*;
use neco::model::tensor_to_vec;
use neco::model::weights::{WeightsFile, DEFAULT_WEIGHTS};
use neco_core::entropy::Planes;

#[test]
fn exported_hyper_synthesis_matches_burn() {
    let weights = WeightsFile::parse(DEFAULT_WEIGHTS).unwrap();
    let device = Device::flex();
    let model = weights.model(&device).unwrap();
    let n = weights.config.n;
    let (h, w) = (3, 5);
    // A deterministic spread of small integers, like ẑ.
    let z: Vec<f32> = (0..n * h * w)
        .map(|i| ((i * 37 % 11) as f32) - 5.0)
        .collect();
    let burn_out = tensor_to_vec(model.h_s.forward(Tensor::<4>::from_data(
        TensorData::new(z.clone(), [1, n, h, w]),
        &device,
    )));
    let core_out = model
        .h_s
        .export()
        .forward(&Planes::new(n, h, w, z).unwrap())
        .unwrap();
    assert_eq!(
        (core_out.channels, core_out.height, core_out.width),
        (2 * weights.config.m, 4 * h, 4 * w)
    );
    assert_eq!(core_out.data.len(), burn_out.len());
    let max_diff = burn_out
        .iter()
        .zip(&core_out.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    let max_abs = burn_out.iter().map(|a| a.abs()).fold(0f32, f32::max);
    assert!(
        max_abs > 0.0,
        "h_s output is all zero: the comparison would prove nothing"
    );
    assert!(
        max_diff <= 1e-4 * max_abs.max(1.0),
        "max |burn - core| = {max_diff} (max |out| = {max_abs})"
    );
}

#[test]
fn exported_z_tables_follow_the_learned_density() {
    let weights = WeightsFile::parse(DEFAULT_WEIGHTS).unwrap();
    let device = Device::flex();
    let model = weights.model(&device).unwrap();
    let fresh = model.z_density.export(weights.config.n, &device).unwrap();
    // Exporting again from the same parameters reproduces the shipped tables exactly.
    assert_eq!(fresh, weights.z_tables);
}

/// Re-exporting the default weights (`neco export --weights`) reproduces the file byte
/// for byte: the format is canonical and the rewrite loses nothing.
#[test]
fn re_export_is_lossless() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.nwt");
    let output = dir.path().join("out.nwt");
    std::fs::write(&input, DEFAULT_WEIGHTS).unwrap();
    assert_cmd::Command::cargo_bin("neco")
        .unwrap()
        .args(["export", "--weights"])
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .assert()
        .success();
    assert!(std::fs::read(&output).unwrap() == DEFAULT_WEIGHTS);
    let w = WeightsFile::parse(DEFAULT_WEIGHTS).unwrap();
    assert!(
        w.hyper.is_some() && w.temporal.is_some(),
        "the default weights carry the hyper-synthesis and the temporal prior"
    );
}
