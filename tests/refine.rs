//! Encoder-side latent refinement (`--refine`): it lowers the rate–distortion loss of
//! what is actually coded, gives the same file on every run, and the streams decode
//! with the plain decoder.

mod common;

use burn::prelude::Device;
use common::{asset, decode_bytes, psnr, source};
use neco::codec::refine::lambda_at;
use neco::codec::{Codec, Timings};
use neco::io::image_io::SourceImage;
use neco::model::weights::WeightsFile;
use neco::model::ConfigFile;

/// The λ ladder the default weights were trained with (models/hp-n64w128m192-vr-b5.toml).
fn ladder_lambdas() -> Vec<f64> {
    let path = common::root().join("models/hp-n64w128m192-vr-b5.toml");
    let cfg = ConfigFile::from_toml(&std::fs::read_to_string(path).unwrap()).unwrap();
    cfg.train.unwrap().lambdas
}

/// The compiled-in weights, with their ladder's λ values recorded or not.
fn weights(with_lambdas: bool) -> WeightsFile {
    let mut w = WeightsFile::parse(neco::model::weights::DEFAULT_WEIGHTS).unwrap();
    w.config.ladder_lambdas = if with_lambdas {
        ladder_lambdas()
    } else {
        Vec::new()
    };
    w
}

/// A `w`×`h` window of the sample photo.
fn crop(w: u32, h: u32) -> SourceImage {
    let full = source("sample-768x512.png");
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    for y in 100..100 + h {
        let row = (y * full.width + 200) as usize * 3;
        rgb.extend_from_slice(&full.rgb[row..row + w as usize * 3]);
    }
    SourceImage::from_rgb(w, h, rgb)
}

fn encode(codec: &Codec, src: &SourceImage, q: u8) -> Vec<u8> {
    codec
        .encode(src, q, &mut Timings::default())
        .unwrap()
        .to_bytes()
        .unwrap()
}

/// bpp + λ·255²·MSE of a coded stream, as decoded.
fn coded_loss(codec: &Codec, src: &SourceImage, bytes: &[u8], lambda: f64) -> f64 {
    let decoded = decode_bytes(codec, bytes);
    let mse = 10f64.powf(-psnr(&src.rgb, &decoded.rgb) / 10.0);
    bytes.len() as f64 * 8.0 / f64::from(src.width * src.height) + lambda * 255.0 * 255.0 * mse
}

/// Coded loss at `q` of `src` without and with `iterations` refinement steps, the
/// transforms in tiles of `tile` latents.
fn losses(src: &SourceImage, q: u8, tile: usize, iterations: usize) -> (f64, f64) {
    let w = weights(true);
    let lambda = lambda_at(&w.config.ladder_lambdas, q).unwrap();
    let codec = || Codec::new(&w, Device::flex()).unwrap().with_tile(tile);
    let (plain, refined) = (codec(), codec().with_refine(iterations).unwrap());
    (
        coded_loss(&plain, src, &encode(&plain, src, q), lambda),
        coded_loss(&refined, src, &encode(&refined, src, q), lambda),
    )
}

#[test]
fn refinement_lowers_the_coded_loss() {
    // Refinement keeps the better of its start and end, so it never raises the loss;
    // on a crop this small (12×8 latents) one seeded noise draw can end no lower
    // than the start (q20 with the seventh default weights), so most qualities, not
    // all, must gain.
    let src = crop(192, 128);
    let plain = Codec::new(&weights(true), Device::flex()).unwrap();
    let mut gained = 0;
    for q in [10u8, 20, 30, 80] {
        let analysis = plain.analyse(&src, q, &mut Timings::default()).unwrap();
        let (_, report) = plain
            .refine(&src, &analysis, q, 10, &mut Timings::default())
            .unwrap();
        assert!(report.final_loss <= report.initial_loss, "q{q}: {report:?}");
        if report.final_loss < report.initial_loss {
            gained += 1;
            let (before, after) = losses(&src, q, 64, 10);
            assert!(after < before, "q{q}: coded loss {before} → {after}");
        }
    }
    assert!(
        gained >= 3,
        "refinement gained at only {gained} of 4 qualities"
    );
}

#[test]
fn refinement_in_tiles_still_helps_and_decodes() {
    // Tiles of 12 latents (192 pixels) on a 250×96 image: two tiles, each refined
    // alone, the odd width padded. (Smaller tiles can lose: refined alone, each
    // tile's margin disagrees with its neighbour's interior; see docs/refine.md. With
    // the default weights of 2026-12-03, tiles of 8 lost 0.6 % here, tiles of 12
    // gained 4.7 %.)
    let (before, after) = losses(&crop(250, 96), 60, 12, 8);
    assert!(after < before, "coded loss {before} → {after}");
}

#[test]
fn refined_files_are_reproducible() {
    let w = weights(true);
    let codec = Codec::new(&w, Device::flex())
        .unwrap()
        .with_refine(4)
        .unwrap();
    let src = source("odd-17x33.png");
    let a = encode(&codec, &src, 50);
    assert_eq!(a, encode(&codec, &src, 50), "two runs gave different files");
    let plain = Codec::new(&w, Device::flex()).unwrap();
    assert_ne!(a, encode(&plain, &src, 50), "refinement changed nothing");
}

#[test]
fn tiles_refined_in_parallel_give_the_same_file() {
    // Two tiles of 8 latents: refined together on several threads or one after the
    // other on one, the file must not change (it may not depend on the machine).
    let w = weights(true);
    let codec = Codec::new(&w, Device::flex())
        .unwrap()
        .with_tile(8)
        .with_refine(3)
        .unwrap();
    let src = crop(250, 96);
    let on = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| encode(&codec, &src, 40))
    };
    assert_eq!(on(1), on(3), "the thread count changed the file");
}

#[test]
fn refinement_needs_the_ladder_lambdas() {
    let codec = Codec::new(&weights(false), Device::flex()).unwrap();
    let err = codec.with_refine(5).err().expect("refused").to_string();
    assert!(
        err.contains("record the λ") && err.contains("neco export --run"),
        "{err}"
    );
    assert!(Codec::new(&weights(false), Device::flex())
        .unwrap()
        .with_refine(0)
        .is_ok());
}

#[test]
fn refine_flag_is_for_images() {
    let out = std::env::temp_dir().join(format!("neco-refine-{}.neco", std::process::id()));
    let cmd = assert_cmd::Command::cargo_bin("neco")
        .unwrap()
        .args(["encode", "frames/%04d.png", "--refine", "3", "-o"])
        .arg(&out)
        .current_dir(asset(""))
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&cmd.get_output().stderr).into_owned();
    assert!(err.contains("--refine is for images"), "{err}");
    assert!(!out.exists());
}

#[test]
fn bpp_target_holds_with_refinement() {
    let w = weights(true);
    let src = crop(128, 96);
    let pixels = f64::from(src.width * src.height);
    let target =
        encode(&Codec::new(&w, Device::flex()).unwrap(), &src, 40).len() as f64 * 8.0 / pixels;
    let refined = Codec::new(&w, Device::flex())
        .unwrap()
        .with_refine(6)
        .unwrap();
    let (stream, q) = refined
        .encode_to_bpp(&src, target, &mut Timings::default())
        .unwrap();
    let bpp = stream.to_bytes().unwrap().len() as f64 * 8.0 / pixels;
    assert!(q >= 40, "quality {q}");
    assert!(bpp <= target, "{bpp} bpp over the target {target}");
}
