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

/// `neco export --half` stores every parameter as f16: the file shrinks, the model it
/// loads holds exactly the f16-rounded parameters, its z tables and hyper-synthesis are
/// derived from those, and exporting it again changes nothing.
#[test]
fn half_export_rounds_every_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/hp-n64m96.nwt");
    let half = dir.path().join("half.nwt");
    let again = dir.path().join("again.nwt");
    let export = |args: &[&std::path::Path], half_flag: bool| {
        let mut cmd = assert_cmd::Command::cargo_bin("neco").unwrap();
        cmd.args(["export", "--weights"])
            .arg(args[0])
            .arg("-o")
            .arg(args[1]);
        if half_flag {
            cmd.arg("--half");
        }
        cmd.assert().success();
    };
    export(&[&full, &half], true);
    export(&[&half, &again], false);
    let (full_bytes, half_bytes) = (std::fs::read(&full).unwrap(), std::fs::read(&half).unwrap());
    assert!(
        std::fs::read(&again).unwrap() == half_bytes,
        "f16 files re-export unchanged"
    );
    assert!(
        half_bytes.len() < full_bytes.len() * 3 / 4,
        "{} vs {} bytes",
        half_bytes.len(),
        full_bytes.len()
    );

    let (f, h) = (
        WeightsFile::parse(&full_bytes).unwrap(),
        WeightsFile::parse(&half_bytes).unwrap(),
    );
    assert!(!f.config.params_f16 && h.config.params_f16);
    let device = Device::flex();
    let (fm, hm) = (f.model(&device).unwrap(), h.model(&device).unwrap());
    let (a, b) = (all_parameters(&fm), all_parameters(&hm));
    assert!(
        a.len() > 1_000_000 && a.len() == b.len(),
        "{} {}",
        a.len(),
        b.len()
    );
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(half::f16::from_f32(*x).to_f32(), *y);
    }
    // The stored hyper-synthesis is the rounded model's.
    assert_eq!(h.hyper.as_ref(), Some(&hm.h_s.export()));
}

/// Every float parameter of a module, in visiting order.
fn all_parameters<M: burn::module::Module>(m: &M) -> Vec<f32> {
    struct Collect(Vec<f32>);
    impl burn::module::ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            self.0.extend(tensor_to_vec(param.val()));
        }
    }
    let mut c = Collect(Vec::new());
    m.visit(&mut c);
    c.0
}
