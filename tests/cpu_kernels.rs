//! neco's CPU kernels for the transforms (src/model/cpu.rs, the default on the CPU)
//! and Burn's flex backend (`--backend flex`) compute the same g_a, h_a and g_s with
//! the shipped weights, up to float rounding.

mod common;

use common::*;
use neco::backend::BackendChoice;
use neco::codec::Timings;
use neco::model::weights::{WeightsFile, DEFAULT_WEIGHTS};

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn cpu_kernels_match_burn() {
    let weights = WeightsFile::parse(DEFAULT_WEIGHTS).unwrap();
    let ours = BackendChoice::Cpu.codec(&weights).unwrap();
    let burn = BackendChoice::Flex.codec(&weights).unwrap();
    let src = source("sample-768x512.png");

    let (a, b) = (
        ours.analyse(&src, 50, &mut Timings::default()).unwrap(),
        burn.analyse(&src, 50, &mut Timings::default()).unwrap(),
    );
    let scale = b.y.iter().fold(0f32, |m, v| m.max(v.abs()));
    let (dy, dz) = (max_abs_diff(&a.y, &b.y), max_abs_diff(&a.z, &b.z));
    eprintln!("g_a: max |diff| {dy} (max |y| {scale}); h_a: max |diff| {dz}");
    assert!(dy < 1e-3 && dz < 1e-3, "g_a differs by {dy}, h_a by {dz}");

    // One stream, synthesized by both.
    let stream = burn.encode(&src, 50, &mut Timings::default()).unwrap();
    let x = ours.decode(&stream, &mut Timings::default()).unwrap().rgb;
    let x_burn = burn.decode(&stream, &mut Timings::default()).unwrap().rgb;
    let worst = x.iter().zip(&x_burn).map(|(p, q)| p.abs_diff(*q)).max();
    assert!(worst <= Some(1), "g_s pixels differ by up to {worst:?}");
}
