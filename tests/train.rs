//! `neco train`, `neco train-entropy` and `neco train-temporal` resume from their
//! checkpoints, and `neco export` makes usable weights of them.

use assert_cmd::Command;

const TINY_CONFIG: &str = r#"
[model]
name = "tiny-test"
n = 8
m = 8

[train]
lambda = 0.01
lr = 0.0001
batch = 2
crop = 64
checkpoint_secs = 3600
validate_every = 2
"#;

fn neco() -> Command {
    Command::cargo_bin("neco").unwrap()
}

/// `neco train --config CONFIG --dataset assets/ --valid VALID --run RUN`, for the
/// caller to add `--steps` and the rest.
fn train_cmd(config: &std::path::Path, run: &std::path::Path, valid: &str) -> Command {
    let assets = concat!(env!("CARGO_MANIFEST_DIR"), "/assets");
    let mut cmd = neco();
    cmd.args(["train", "--config"])
        .arg(config)
        .args(["--dataset", assets, "--valid", valid, "--run"])
        .arg(run);
    cmd
}

fn progress_step(run: &std::path::Path) -> u64 {
    let text = std::fs::read_to_string(run.join("checkpoint/progress.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["step"].as_u64().unwrap()
}

/// Runs `train(steps)` for 2 steps, checks the checkpoint and that `valid.csv` starts
/// with `header` and a row for step `first_valid`, then for 3 steps: a second
/// invocation resumes at step 2 rather than starting over.
fn trains_and_resumes(
    run: &std::path::Path,
    header: &str,
    first_valid: usize,
    train: impl Fn(&str),
) {
    train("2");
    assert_eq!(progress_step(run), 2);
    let valid = std::fs::read_to_string(run.join("valid.csv")).unwrap();
    assert!(
        valid.starts_with(&format!("{header}\n{first_valid},")),
        "{valid}"
    );
    train("3");
    assert_eq!(progress_step(run), 3);
}

/// `neco export --run run -o weights`, for the caller to add options and assert.
fn export_cmd(run: &std::path::Path, weights: &std::path::Path) -> Command {
    let mut cmd = neco();
    cmd.args(["export", "--run"])
        .arg(run)
        .arg("-o")
        .arg(weights);
    cmd
}

/// `neco export --run run -o weights`, and the weights file it wrote.
fn export_run(run: &std::path::Path, weights: &std::path::Path) -> neco_core::weights::Weights {
    export_cmd(run, weights).assert().success();
    neco_core::weights::Weights::parse(&std::fs::read(weights).unwrap()).unwrap()
}

/// Encodes `img` to `stream` with `weights` and returns `neco info --json` of it.
fn encode_info(
    weights: &std::path::Path,
    img: &str,
    stream: &std::path::Path,
) -> serde_json::Value {
    neco()
        .args(["encode", img, "-o"])
        .arg(stream)
        .arg("--weights")
        .arg(weights)
        .assert()
        .success();
    let info = neco()
        .arg("info")
        .arg(stream)
        .arg("--json")
        .output()
        .unwrap();
    serde_json::from_slice(&info.stdout).unwrap()
}

/// Trains the model of config `text` (written to `dir/tiny.toml`) for 2 steps on the
/// assets and exports it to `dir/tiny.nwt`; returns both paths.
fn tiny_weights(dir: &std::path::Path, text: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let assets = concat!(env!("CARGO_MANIFEST_DIR"), "/assets");
    let config = dir.join("tiny.toml");
    std::fs::write(&config, text).unwrap();
    let run = dir.join("plain");
    train_cmd(&config, &run, assets)
        .args(["--steps", "2"])
        .assert()
        .success();
    let weights = dir.join("tiny.nwt");
    export_run(&run, &weights);
    (config, weights)
}

/// A run is reproducible from its seed: the same seed gives the same parameters
/// (their random start, crops and noise), whichever thread first reads them, so the
/// same weights file, byte for byte; another seed gives others. Also compared through
/// what a user sees: the decoded image.
#[test]
fn train_is_reproducible_from_its_seed() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tiny.toml");
    std::fs::write(&config, TINY_CONFIG).unwrap();
    let img = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/odd-17x33.png");
    let train_and_decode = |name: &str, seed: &str| {
        let run = dir.path().join(name);
        train_cmd(&config, &run, "none")
            .args(["--steps", "3", "--seed", seed])
            .assert()
            .success();
        let weights = dir.path().join(format!("{name}.nwt"));
        export_run(&run, &weights);
        let stream = dir.path().join(format!("{name}.neco"));
        encode_info(&weights, img, &stream);
        let png = dir.path().join(format!("{name}.png"));
        neco()
            .arg("decode")
            .arg(&stream)
            .arg("-o")
            .arg(&png)
            .arg("--weights")
            .arg(&weights)
            .assert()
            .success();
        (std::fs::read(weights).unwrap(), std::fs::read(png).unwrap())
    };
    let (weights, png) = train_and_decode("a", "1");
    let (same_weights, same_png) = train_and_decode("b", "1");
    assert!(
        weights == same_weights,
        "the same seed exported other weights"
    );
    assert!(png == same_png, "the same seed decoded differently");
    let (other_weights, other_png) = train_and_decode("c", "2");
    assert!(
        weights != other_weights && png != other_png,
        "another seed made the same"
    );
}

/// `frozen` keeps parts of the model as the start has them: a run from random
/// parameters refuses it (they would stay random), before it writes a checkpoint.
#[test]
fn train_refuses_frozen_parts_without_a_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("frozen.toml");
    let text = TINY_CONFIG.replace(
        "lambda = 0.01",
        "lambda = 0.01\nfrozen = [\"g_s\", \"h_s\"]",
    );
    std::fs::write(&config, text).unwrap();
    let run = dir.path().join("run");
    train_cmd(&config, &run, "none")
        .args(["--steps", "1"])
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "the config freezes g_s, h_s (`frozen`), but this run starts from random parameters",
        ));
    assert!(!run.join("checkpoint").exists());
}

#[test]
fn train_resume_export_and_code_with_the_result() {
    train_export_and_code(1);
}

/// Joint training of the transforms with the multivariate entropy model.
#[test]
fn train_multivariate_export_and_code() {
    train_export_and_code(2);
}

/// `neco train` of the tiny config with channel groups of `group`, resumed, exported
/// (format version 2, or 4 for groups), and used to code an image.
fn train_export_and_code(group: usize) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tiny.toml");
    let text = TINY_CONFIG.replace("m = 8\n", &format!("m = 8\ngroup = {group}\n"));
    std::fs::write(&config, text).unwrap();
    let run = dir.path().join("run");
    let assets = concat!(env!("CARGO_MANIFEST_DIR"), "/assets");
    let train = |steps: &str| {
        train_cmd(&config, &run, assets)
            .args(["--steps", steps])
            .assert()
            .success();
    };
    trains_and_resumes(&run, "step,elapsed_s,rung,loss,bpp,psnr", 2, train);
    // A checkpoint kept without its optimizer state resumes with a fresh optimizer.
    std::fs::remove_file(run.join("checkpoint/optim.bin")).unwrap();
    train_cmd(&config, &run, "none")
        .args(["--steps", "4"])
        .assert()
        .success()
        .stderr(predicates::str::contains(
            "at step 3 with a fresh optimizer",
        ));
    assert_eq!(progress_step(&run), 4);
    assert!(run.join("checkpoint/optim.bin").exists());
    // No rate ladder, no top rung to measure a ceiling above.
    assert!(!run.join("valid_ceiling.csv").exists());

    let weights = dir.path().join("tiny.nwt");
    let w = export_run(&run, &weights);
    assert_eq!(
        (w.version, w.group),
        (if group == 1 { 2 } else { 4 }, group)
    );

    let stream = dir.path().join("x.neco");
    let decoded = dir.path().join("x.png");
    let img = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/odd-17x33.png");
    assert_eq!(encode_info(&weights, img, &stream)["model"], "tiny-test");
    neco()
        .arg("decode")
        .arg(&stream)
        .arg("-o")
        .arg(&decoded)
        .arg("--weights")
        .arg(&weights)
        .assert()
        .success();
    assert_eq!(image::image_dimensions(&decoded).unwrap(), (17, 33));
    // The default weights refuse a stream made with other weights.
    neco()
        .arg("decode")
        .arg(&stream)
        .arg("-o")
        .arg(dir.path().join("y.png"))
        .assert()
        .failure()
        .stderr(predicates::str::contains("pass the matching --weights"));
    // A folder of weights files: the one that made the stream is found by its hash
    // and decodes the same pixels.
    let folder = dir.path().join("weights");
    std::fs::create_dir(&folder).unwrap();
    let decode_with = |weights: &std::path::Path, out: &str| {
        neco()
            .arg("decode")
            .arg(&stream)
            .arg("-o")
            .arg(dir.path().join(out))
            .arg("--weights")
            .arg(weights)
            .assert()
    };
    std::fs::write(
        folder.join("other.nwt"),
        neco::model::weights::DEFAULT_WEIGHTS,
    )
    .unwrap();
    decode_with(&folder, "z.png")
        .failure()
        .stderr(predicates::str::contains("no .nwt file in"));
    std::fs::copy(&weights, folder.join("tiny.nwt")).unwrap();
    decode_with(&folder, "z.png").success();
    assert_eq!(
        std::fs::read(dir.path().join("z.png")).unwrap(),
        std::fs::read(&decoded).unwrap()
    );
    neco()
        .arg("info")
        .arg(&stream)
        .assert()
        .success()
        .stdout(predicates::str::contains("weights:   not neco's default"));
}

/// A variable-rate model (a rate ladder of 3 rungs) trained from fixed-rate weights
/// with its entropy model frozen, resumed, exported as format version 5, and coding
/// at every quality: more bits as the quality rises.
#[test]
fn train_variable_rate_from_fixed_rate_weights() {
    let dir = tempfile::tempdir().unwrap();
    let assets = concat!(env!("CARGO_MANIFEST_DIR"), "/assets");
    let train = |config: &std::path::Path, run: &std::path::Path, extra: &[&str]| {
        train_cmd(config, run, assets).args(extra).assert()
    };
    let fixed_config = dir.path().join("tiny.toml");
    std::fs::write(&fixed_config, TINY_CONFIG).unwrap();
    let fixed_run = dir.path().join("fixed");
    train(&fixed_config, &fixed_run, &["--steps", "1"]).success();
    let fixed = dir.path().join("fixed.nwt");
    let start = export_run(&fixed_run, &fixed);

    let ladder = TINY_CONFIG
        .replace("m = 8\n", "m = 8\nrungs = 3\n")
        .replace(
            "lambda = 0.01",
            "lambdas = [0.002, 0.01, 0.05]\nfrozen = [\"h_s\", \"z_density\"]",
        );
    let config = dir.path().join("tiny-vr.toml");
    std::fs::write(&config, ladder).unwrap();
    let run = dir.path().join("vr");
    let init = fixed.to_str().unwrap();
    trains_and_resumes(&run, "step,elapsed_s,rung,loss,bpp,psnr", 2, |steps| {
        train(&config, &run, &["--steps", steps, "--init", init]).success();
    });
    // Validation has a row for every rung.
    let valid = std::fs::read_to_string(run.join("valid.csv")).unwrap();
    let rungs: Vec<&str> = valid
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap())
        .collect();
    assert_eq!(rungs, ["0", "1", "2"], "{valid}");
    // ... and so has the validation through the codec, at each rung's quality, with
    // real file sizes that do not shrink as the quality rises (this tiny model codes
    // its two coarsest rungs to the same all-zero latents).
    // The transforms' ceiling (y unquantized) once per validation.
    let ceiling = std::fs::read_to_string(run.join("valid_ceiling.csv")).unwrap();
    let rows: Vec<&str> = ceiling.lines().collect();
    assert_eq!(
        (rows.len(), rows[0]),
        (2, "step,elapsed_s,psnr"),
        "{ceiling}"
    );
    let psnr: f64 = rows[1].split(',').nth(2).unwrap().parse().unwrap();
    assert!(
        rows[1].starts_with("2,") && psnr.is_finite() && psnr > 0.0,
        "{ceiling}"
    );
    let coded = std::fs::read_to_string(run.join("valid_coded.csv")).unwrap();
    assert!(
        coded.starts_with(
            "step,elapsed_s,rung,quality,bpp,psnr
"
        ),
        "{coded}"
    );
    let rows: Vec<Vec<&str>> = coded
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let at = |i: usize| rows.iter().map(|r| r[i]).collect::<Vec<_>>();
    assert_eq!(
        (at(2), at(3)),
        (vec!["0", "1", "2"], vec!["0", "50", "100"])
    );
    // Non-decreasing only: the model is two steps from its random start (seeded), and
    // such a model may code the small validation crops to all-zero latents at every
    // rung. The sample image below shows the rise.
    let bpp: Vec<f64> = at(4).iter().map(|v| v.parse().unwrap()).collect();
    assert!(
        bpp[0] > 0.0 && bpp[0] <= bpp[1] && bpp[1] <= bpp[2],
        "{coded}"
    );

    let weights = dir.path().join("tiny-vr.nwt");
    let w = export_run(&run, &weights);
    assert_eq!(w.version, 5);
    assert_eq!(w.ladder.as_ref().map(|l| l.rungs()), Some(3));
    // The frozen parts are as the start left them; the ladder moved from its start.
    assert_eq!((&w.hyper, &w.z_tables), (&start.hyper, &start.z_tables));
    let first = w.ladder.as_ref().unwrap().steps(0);
    assert!(first.iter().any(|&s| (s - 3.92).abs() > 1e-3), "{first:?}");
    let img = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/sample-768x512.png");
    let mut sizes = Vec::new();
    for q in ["0", "50", "100"] {
        let stream = dir.path().join(format!("q{q}.neco"));
        neco()
            .args(["encode", img, "-q", q, "-o"])
            .arg(&stream)
            .arg("--weights")
            .arg(&weights)
            .assert()
            .success();
        sizes.push(std::fs::metadata(&stream).unwrap().len());
        neco()
            .arg("decode")
            .arg(&stream)
            .arg("-o")
            .arg(dir.path().join(format!("q{q}.png")))
            .arg("--weights")
            .arg(&weights)
            .assert()
            .success();
    }
    // (An untrained latent may code to zeros at the coarser steps; at the finest one
    // it does not for the default seed, whose run this is: 639, 639, 4523 bytes here.
    // Before `neco train` seeded the start, about one run in eight coded all three
    // to zeros.)
    assert!(sizes[0] <= sizes[1] && sizes[1] < sizes[2], "{sizes:?}");

    // Export recorded the ladder's λ values, so the encoder can refine latents.
    assert!(
        w.config.contains("ladder_lambdas = [0.002, 0.01, 0.05]"),
        "{}",
        w.config
    );
    let refined = dir.path().join("refined.neco");
    neco()
        .args(["encode", img, "-q", "50", "--refine", "2", "-o"])
        .arg(&refined)
        .arg("--weights")
        .arg(&weights)
        .assert()
        .success();
    neco()
        .arg("decode")
        .arg(&refined)
        .arg("-o")
        .arg(dir.path().join("refined.png"))
        .arg("--weights")
        .arg(&weights)
        .assert()
        .success();

    // Weights may start a model with a wider latent (the new channels start at zero,
    // see src/model/grow.rs), which trains, exports and codes.
    let wide = dir.path().join("wide.toml");
    let config_text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&wide, config_text.replace("m = 8", "m = 16")).unwrap();
    let wide_run = dir.path().join("wide");
    let vr_init = weights.to_str().unwrap();
    train(&wide, &wide_run, &["--steps", "1", "--init", vr_init])
        .success()
        .stderr(predicates::str::contains(
            "widening y from 8 to 16 channels",
        ));
    let wide_weights = dir.path().join("wide.nwt");
    let w = export_run(&wide_run, &wide_weights);
    assert!(w.config.contains("m = 16"), "{}", w.config);
    assert_eq!(w.ladder.as_ref().map(|l| l.rungs()), Some(3));
    let stream = dir.path().join("wide.neco");
    let info = encode_info(&wide_weights, img, &stream);
    assert_eq!(info["model"], "tiny-test", "{info}");
    neco()
        .arg("decode")
        .arg(&stream)
        .arg("-o")
        .arg(dir.path().join("wide.png"))
        .arg("--weights")
        .arg(&wide_weights)
        .assert()
        .success();

    // ... or wider transforms (g_a and g_s: `width`; the new channels start at zero).
    let wider = dir.path().join("wider.toml");
    std::fs::write(&wider, config_text.replace("n = 8", "n = 8\nwidth = 16")).unwrap();
    let wider_run = dir.path().join("wider");
    train(&wider, &wider_run, &["--steps", "1", "--init", vr_init])
        .success()
        .stderr(predicates::str::contains(
            "widening g_a from 8 to 16 and g_s from 8 to 16 hidden channels",
        ));
    let wider_weights = dir.path().join("wider.nwt");
    let w = export_run(&wider_run, &wider_weights);
    assert!(w.config.contains("width = 16"), "{}", w.config);
    let stream = dir.path().join("wider.neco");
    encode_info(&wider_weights, img, &stream);
    neco()
        .arg("decode")
        .arg(&stream)
        .arg("-o")
        .arg(dir.path().join("wider.png"))
        .arg("--weights")
        .arg(&wider_weights)
        .assert()
        .success();

    // ... or a wider encoder alone (`analysis_width`), trained with the decoder's side
    // frozen: the exported decoder (z tables, integer h_s, ladder) is the start's.
    let encoder = dir.path().join("encoder.toml");
    let encoder_text = config_text
        .replace("n = 8", "n = 8\nanalysis_width = 16")
        .replace(
            "frozen = [\"h_s\", \"z_density\"]",
            "frozen = [\"g_s\", \"h_s\", \"z_density\", \"ladder\"]",
        );
    assert!(encoder_text.contains("\"ladder\"]"), "{encoder_text}");
    std::fs::write(&encoder, encoder_text).unwrap();
    let encoder_run = dir.path().join("encoder");
    train(&encoder, &encoder_run, &["--steps", "2", "--init", vr_init])
        .success()
        .stderr(predicates::str::contains(
            "widening g_a from 8 to 16 hidden channels",
        ));
    let encoder_weights = dir.path().join("encoder.nwt");
    let e = export_run(&encoder_run, &encoder_weights);
    let start = neco_core::weights::Weights::parse(&std::fs::read(&weights).unwrap()).unwrap();
    assert!(e.config.contains("analysis_width = 16"), "{}", e.config);
    assert!(e.z_tables == start.z_tables, "the z tables moved");
    assert!(e.hyper == start.hyper, "h_s moved");
    assert!(e.ladder == start.ladder, "the ladder moved");
    let stream = dir.path().join("encoder.neco");
    encode_info(&encoder_weights, img, &stream);
    neco()
        .arg("decode")
        .arg(&stream)
        .arg("-o")
        .arg(dir.path().join("encoder.png"))
        .arg("--weights")
        .arg(&encoder_weights)
        .assert()
        .success();

    // Weights of another architecture are refused as a start.
    let other = dir.path().join("other.toml");
    std::fs::write(&other, config_text.replace("n = 8", "n = 16")).unwrap();
    train(
        &other,
        &dir.path().join("other"),
        &["--steps", "1", "--init", init],
    )
    .failure()
    .stderr(predicates::str::contains(
        "holds a model of n=8 width=8 analysis_width=8 m=8",
    ));
}

/// Writes `n` frames of a moving pattern (64×48) as `dir/f_%03d.png` from 1.
fn pattern_sequence(dir: &std::path::Path, n: u32) {
    for t in 0..n {
        image::RgbImage::from_fn(64, 48, |x, y| {
            let inside = (x + 64 - 3 * t % 64) % 64 < 16 && (y + 48 - 2 * t % 48) % 48 < 12;
            image::Rgb(if inside {
                [230, 200, 40]
            } else {
                [(x * 4) as u8, (y * 5) as u8, 90]
            })
        })
        .save(dir.join(format!("f_{:03}.png", t + 1)))
        .unwrap();
    }
}

#[test]
fn train_temporal_resume_export_and_code_video() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let root = env!("CARGO_MANIFEST_DIR");
    let assets = format!("{root}/assets");
    let image_weights = dir.path().join("image.nwt");
    // The default weights without their prior (a prior is trained for an image model).
    let w =
        neco::model::weights::WeightsFile::parse(neco::model::weights::DEFAULT_WEIGHTS).unwrap();
    let model = w.model(&burn::prelude::Device::flex()).unwrap();
    std::fs::write(
        &image_weights,
        neco::model::weights::WeightsFile::build(&w.config, &model, &w.z_tables, None).unwrap(),
    )
    .unwrap();
    let train = |steps: &str| {
        neco()
            .arg("train-temporal")
            .arg("--weights")
            .arg(&image_weights)
            .args(["--dataset", &assets, "--valid", &assets, "--run"])
            .arg(&run)
            .args(["--hidden", "8", "--batch", "2", "--validate-every", "2"])
            .args(["--steps", steps])
            .assert()
            .success();
    };
    let header = "step,elapsed_s,quality,bpp_intra,bpp_temporal,change_pct";
    trains_and_resumes(&run, header, 2, train);
    // Validated at step 2 only (every 2 steps), one row per quality.
    let valid = std::fs::read_to_string(run.join("valid.csv")).unwrap();
    assert_eq!(valid.lines().count(), 4, "three qualities: {valid}");

    // Another run can start from this one's prior (same sizes only).
    let init = |hidden: &str, run2: &str| {
        neco()
            .arg("train-temporal")
            .arg("--weights")
            .arg(&image_weights)
            .args(["--dataset", &assets, "--valid", "none", "--run"])
            .arg(dir.path().join(run2))
            .args(["--hidden", hidden, "--batch", "2", "--steps", "1", "--init"])
            .arg(&run)
            .assert()
    };
    init("8", "second")
        .success()
        .stderr(predicates::str::contains("starting from step 3 of"));
    let m = w.config.m;
    init("16", "third")
        .failure()
        .stderr(predicates::str::contains(format!(
            "has {m} latent and 8 hidden channels, this run {m} and 16"
        )));

    let with_prior = dir.path().join("video.nwt");
    neco()
        .args(["export", "--weights"])
        .arg(&image_weights)
        .arg("--temporal")
        .arg(&run)
        .arg("-o")
        .arg(&with_prior)
        .assert()
        .success();
    let w = neco::model::weights::WeightsFile::read(&with_prior).unwrap();
    assert!(w.temporal.is_some());

    // Re-attaching it to the same image model (here: the file that already has it)
    // works; attaching it to another image model is refused.
    let again = dir.path().join("again.nwt");
    neco()
        .args(["export", "--weights"])
        .arg(&with_prior)
        .arg("--temporal")
        .arg(&run)
        .arg("-o")
        .arg(&again)
        .assert()
        .success();
    assert!(std::fs::read(&again).unwrap() == std::fs::read(&with_prior).unwrap());
    let tiny_run = dir.path().join("tiny");
    std::fs::create_dir(&tiny_run).unwrap();
    std::fs::write(tiny_run.join("tiny.toml"), TINY_CONFIG).unwrap();
    train_cmd(&tiny_run.join("tiny.toml"), &tiny_run, "none")
        .args(["--steps", "1"])
        .assert()
        .success();
    neco()
        .args(["export", "--run"])
        .arg(&tiny_run)
        .arg("--temporal")
        .arg(&run)
        .arg("-o")
        .arg(dir.path().join("other.nwt"))
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "was trained for the image model with weights sha256",
        ));

    // A clip coded with the prior decodes with the same weights.
    pattern_sequence(dir.path(), 6);
    let stream = dir.path().join("clip.neco");
    let code = |cmd: &str, input: &std::path::Path, out: &std::path::Path, extra: &[&str]| {
        neco()
            .arg(cmd)
            .arg(input)
            .arg("-o")
            .arg(out)
            .arg("--weights")
            .arg(&with_prior)
            .args(extra)
            .assert()
    };
    let enc = code(
        "encode",
        &dir.path().join("f_%03d.png"),
        &stream,
        &["--temporal", "on"],
    )
    .success();
    let stderr = String::from_utf8_lossy(&enc.get_output().stderr).into_owned();
    assert!(stderr.contains("temporal prior"), "{stderr}");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    code("decode", &stream, &out.join("%02d.png"), &[]).success();
    assert!(out.join("06.png").exists() && !out.join("07.png").exists());
    // Weights without a prior cannot be asked for one.
    neco()
        .arg("encode")
        .arg(dir.path().join("f_%03d.png"))
        .arg("-o")
        .arg(dir.path().join("x.neco"))
        .arg("--weights")
        .arg(&image_weights)
        .args(["--temporal", "on"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("have no temporal prior"));
    assert!(!dir.path().join("x.neco").exists());
}

/// `train-temporal` on a video set: consecutive frames of its clips, some clips held
/// out to validate on; clips whose frames change size are refused.
#[test]
fn train_temporal_on_clips_holds_some_out_to_validate() {
    let dir = tempfile::tempdir().unwrap();
    let clips = dir.path().join("clips");
    for (name, frames) in [("a", 4), ("b", 3), ("c", 5)] {
        std::fs::create_dir_all(clips.join(name)).unwrap();
        pattern_sequence(&clips.join(name), frames);
    }
    let train = |run: &str, extra: &[&str]| {
        neco()
            .arg("train-temporal")
            .args(["--dataset"])
            .arg(&clips)
            .arg("--run")
            .arg(dir.path().join(run))
            .args(["--hidden", "8", "--batch", "2", "--validate-every", "2"])
            .args(["--steps", "2"])
            .args(extra)
            .assert()
    };
    // One clip of three (the middle one by name) validates; the others' 2 × 3 and
    // 2 × 4 pairs (both ways) train.
    let out = train("run", &["--hold-out", "1"]).success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("validating on the clips b"), "{stderr}");
    assert!(
        stderr.contains("14 training pairs, 2 validation pairs"),
        "{stderr}"
    );
    let valid = std::fs::read_to_string(dir.path().join("run/valid.csv")).unwrap();
    assert_eq!(valid.lines().count(), 4, "three qualities: {valid}");
    // With --valid, every clip trains: 6 + 4 + 8 pairs.
    let out = train("run2", &["--valid", "none"]).success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("18 training pairs, 0 validation pairs"),
        "{stderr}"
    );
    train("run3", &["--hold-out", "3"])
        .failure()
        .stderr(predicates::str::contains("cannot hold out 3 of 3 clips"));
    image::RgbImage::new(32, 32)
        .save(clips.join("c/f_006.png"))
        .unwrap();
    train("run4", &["--valid", "none"])
        .failure()
        .stderr(predicates::str::contains(
            "is 32×32, the clip's first frame 64×48",
        ));
}

#[test]
fn train_entropy_multivariate_resume_export_and_code() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let assets = concat!(env!("CARGO_MANIFEST_DIR"), "/assets");
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/sample-768x512.png");
    let train = |steps: &str| {
        neco()
            .arg("train-entropy")
            .args(["--group", "2", "--dataset", assets, "--valid", assets])
            .args([
                "--crops",
                "2",
                "--batch",
                "2",
                "--validate-every",
                "2",
                "--run",
            ])
            .arg(&run)
            .args(["--steps", steps])
            .assert()
            .success();
    };
    // The entropy model is also validated before its first step, and only then.
    trains_and_resumes(&run, "step,elapsed_s,rung,bpp_y,bpp_z,bpp", 0, train);
    let valid = std::fs::read_to_string(run.join("valid.csv")).unwrap();
    let steps: Vec<&str> = valid
        .lines()
        .skip(1)
        .map(|l| &l[..l.find(',').unwrap()])
        .collect();
    assert_eq!(steps, ["0", "2"], "{valid}");
    // The run keeps its settings: other groups are refused.
    neco()
        .arg("train-entropy")
        .args([
            "--group",
            "4",
            "--dataset",
            assets,
            "--valid",
            "none",
            "--run",
        ])
        .arg(&run)
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "groups of 2, and this command asks for",
        ))
        .stderr(predicates::str::contains(
            "groups of 4: use another run folder",
        ));

    let weights = dir.path().join("mvg.nwt");
    let w = export_run(&run, &weights);
    assert_eq!((w.version, w.group), (4, 2));

    let stream = dir.path().join("x.neco");
    let decoded = dir.path().join("x.png");
    assert_eq!(
        encode_info(&weights, sample, &stream)["model"],
        "hp-n64m96-mvg2"
    );
    let out = neco()
        .arg("decode")
        .arg(&stream)
        .arg("-o")
        .arg(&decoded)
        .arg("--weights")
        .arg(&weights)
        .args(["--compare", sample])
        .assert()
        .success();
    // Same transforms as the default weights: about the same quality.
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    let psnr: f64 = stderr
        .split("PSNR ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no PSNR in {stderr}"));
    assert!((28.0..30.0).contains(&psnr), "{stderr}");

    // A multivariate model is not a starting point, and groups must divide M.
    neco()
        .arg("train-entropy")
        .arg("--weights")
        .arg(&weights)
        .args(["--dataset", assets, "--valid", "none", "--run"])
        .arg(dir.path().join("again"))
        .assert()
        .failure()
        .stderr(predicates::str::contains("is already a multivariate model"));
    neco()
        .arg("train-entropy")
        .args([
            "--group",
            "5",
            "--dataset",
            assets,
            "--valid",
            "none",
            "--run",
        ])
        .arg(dir.path().join("five"))
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "channel groups of 5 must be in 1..=8 and divide m=96",
        ));
}

#[test]
fn train_entropy_of_a_variable_rate_model_keeps_its_ladder() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let assets = concat!(env!("CARGO_MANIFEST_DIR"), "/assets");
    let vr = concat!(env!("CARGO_MANIFEST_DIR"), "/weights/hp-n64w128m192-vr.nwt");
    let train = |extra: &[&str]| {
        neco()
            .arg("train-entropy")
            .args(["--weights", vr, "--dataset", assets, "--valid", assets])
            .args(["--crops", "1", "--batch", "2", "--validate-every", "2"])
            .args(["--steps", "2", "--run"])
            .arg(&run)
            .args(extra)
            .assert()
    };
    train(&["--group", "2"])
        .failure()
        .stderr(predicates::str::contains(
            "is a variable-rate model (8 rungs): its entropy model stays diagonal",
        ));
    train(&[]).success();
    // Validated at every rung, before the first step and after the last; the rate
    // rises with the rung.
    let valid = std::fs::read_to_string(run.join("valid.csv")).unwrap();
    let rows: Vec<Vec<f64>> = valid
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|f| f.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 16, "{valid}");
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(
            (r[0], r[2]),
            ((i / 8 * 2) as f64, (i % 8) as f64),
            "{valid}"
        );
        if i % 8 > 0 {
            assert!(r[5] > rows[i - 1][5], "{valid}");
        }
    }
    // The ladder is the weights' own, bit for bit, and so are its λ values.
    let w = export_run(&run, &dir.path().join("out.nwt"));
    let original = neco_core::weights::Weights::parse(&std::fs::read(vr).unwrap()).unwrap();
    assert!(w.ladder.is_some());
    assert_eq!(w.ladder, original.ladder);
    assert!(w.config.contains("ladder_lambdas = ["), "{}", w.config);
}

#[test]
fn train_entropy_context_starts_as_its_weights_and_is_not_exported() {
    let dir = tempfile::tempdir().unwrap();
    let assets = concat!(env!("CARGO_MANIFEST_DIR"), "/assets");
    let train = |run: &std::path::Path, extra: &[&str]| {
        neco()
            .arg("train-entropy")
            .args(["--dataset", assets, "--valid", assets])
            .args(["--crops", "1", "--batch", "2", "--validate-every", "2"])
            .args(["--steps", "2", "--run"])
            .arg(run)
            .args(extra)
            .assert()
    };
    let first_valid = |run: &std::path::Path| {
        let text = std::fs::read_to_string(run.join("valid.csv")).unwrap();
        let row = text.lines().nth(1).unwrap().to_owned();
        // step,elapsed_s,rung,bpp_y,bpp_z,bpp: drop the elapsed time.
        let fields: Vec<&str> = row.split(',').collect();
        (fields[0].to_owned(), fields[2..].join(","))
    };
    let (plain, ctx) = (dir.path().join("plain"), dir.path().join("ctx"));
    train(&plain, &[]).success();
    let frozen = ["--context", "--frozen", "h_a,h_s,z_density"];
    train(&ctx, &frozen).success();
    // The context model starts at zero: the same rate as the weights alone.
    assert_eq!(first_valid(&ctx), first_valid(&plain));
    let cfg = std::fs::read_to_string(ctx.join("config.toml")).unwrap();
    assert!(
        cfg.contains("context = true") && cfg.contains("-ctx"),
        "{cfg}"
    );

    // The run keeps its settings.
    train(&ctx, &[])
        .failure()
        .stderr(predicates::str::contains(
            "groups of 1, a context model, frozen h_a,h_s,z_density, and this command asks for",
        ))
        .stderr(predicates::str::contains(
            "groups of 1: use another run folder",
        ));
    train(&dir.path().join("bad"), &["--frozen", "g_x"])
        .failure()
        .stderr(predicates::str::contains("--frozen names \"g_x\""));
    // No stream format carries a context model yet: no weights file either.
    let weights = dir.path().join("ctx.nwt");
    export_cmd(&ctx, &weights)
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "has a checkerboard context model, which the codec does not code yet",
        ));
    assert!(!weights.exists());
}

/// `neco train` of a model with a checkerboard context model, started from weights
/// without one: the context model is added, trained with the transforms, kept in
/// the checkpoint (the run resumes) and validated by the training proxy alone, since
/// the codec cannot code it (nor `neco export` write it).
#[test]
fn train_adds_a_context_model_to_weights_and_trains_it_jointly() {
    let dir = tempfile::tempdir().unwrap();
    let assets = concat!(env!("CARGO_MANIFEST_DIR"), "/assets");
    let (_, weights) = tiny_weights(dir.path(), TINY_CONFIG);

    let ctx_cfg = dir.path().join("tiny-ctx.toml");
    let text = TINY_CONFIG.replace("m = 8\n", "m = 8\ncontext = true\n");
    std::fs::write(&ctx_cfg, text).unwrap();
    let ctx = dir.path().join("ctx");
    let train = |steps: &str| {
        let mut cmd = train_cmd(&ctx_cfg, &ctx, assets);
        cmd.args(["--steps", steps, "--init"]).arg(&weights);
        cmd.assert().success()
    };
    train("2")
        .stderr(predicates::str::contains(
            "adding a checkerboard context model",
        ))
        .stderr(predicates::str::contains(
            "validation by the training proxy only",
        ));
    let valid = std::fs::read_to_string(ctx.join("valid.csv")).unwrap();
    assert!(
        valid
            .lines()
            .nth(1)
            .is_some_and(|row| row.starts_with("2,")),
        "{valid}"
    );
    assert!(!ctx.join("valid_coded.csv").exists());
    // The checkpoint holds the context model: the run resumes with it.
    train("4");
    assert_eq!(progress_step(&ctx), 4);
    export_cmd(&ctx, &dir.path().join("ctx.nwt"))
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "has a checkerboard context model, which the codec does not code yet",
        ));
}

/// `top_band` in the config gives variable-rate weights transforms of their own for
/// the top rungs, starting as copies of its transforms, validated through the codec;
/// the run resumes with them, exports, and the codec codes each quality with its
/// band's pair; the band cannot be dropped again by the config.
#[test]
fn train_adds_a_top_band_to_weights_and_codes_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let assets = concat!(env!("CARGO_MANIFEST_DIR"), "/assets");
    let vr = TINY_CONFIG
        .replace("m = 8\n", "m = 8\nrungs = 3\n")
        .replace("lambda = 0.01", "lambdas = [0.002, 0.01, 0.05]");
    let (plain_cfg, weights) = tiny_weights(dir.path(), &vr);

    let band_cfg = dir.path().join("tiny-band.toml");
    std::fs::write(
        &band_cfg,
        vr.replace("rungs = 3\n", "rungs = 3\ntop_band = 2\n"),
    )
    .unwrap();
    let band = dir.path().join("band");
    let train = |cfg: &std::path::Path, steps: &str| {
        let mut cmd = train_cmd(cfg, &band, assets);
        cmd.args(["--steps", steps, "--init"]).arg(&weights);
        cmd.assert()
    };
    train(&band_cfg, "2")
        .success()
        .stderr(predicates::str::contains(
            "rungs 2.. get transforms of their own",
        ));
    train(&band_cfg, "4").success();
    assert_eq!(progress_step(&band), 4);
    let coded = std::fs::read_to_string(band.join("valid_coded.csv")).unwrap();
    assert_eq!(
        coded.lines().filter(|l| l.starts_with("4,")).count(),
        3,
        "{coded}"
    );

    let banded = dir.path().join("band.nwt");
    export_run(&band, &banded);
    let img = format!("{assets}/sample-768x512.png");
    for q in ["10", "100"] {
        let stream = dir.path().join(format!("q{q}.neco"));
        let out = dir.path().join(format!("q{q}.png"));
        neco()
            .args(["encode", &img, "-q", q, "-o"])
            .arg(&stream)
            .arg("--weights")
            .arg(&banded)
            .assert()
            .success();
        neco()
            .arg("decode")
            .arg(&stream)
            .arg("-o")
            .arg(&out)
            .arg("--weights")
            .arg(&banded)
            .assert()
            .success();
    }
    neco()
        .args(["info", "--json"])
        .arg(&banded)
        .assert()
        .success()
        .stdout(predicates::str::contains("\"top_band\": 2"));
    // The temporal prior trains on each band's latents at that band's qualities.
    let temporal = dir.path().join("temporal");
    neco()
        .arg("train-temporal")
        .arg("--weights")
        .arg(&banded)
        .args(["--dataset", assets, "--valid", assets, "--run"])
        .arg(&temporal)
        .args(["--hidden", "8", "--batch", "2", "--validate-every", "2"])
        .args(["--steps", "2"])
        .assert()
        .success();
    assert!(temporal.join("valid.csv").exists());
    // train-entropy analyses with one g_a for every rung: it refuses a banded model.
    neco()
        .arg("train-entropy")
        .arg("--weights")
        .arg(&banded)
        .args([
            "--dataset",
            assets,
            "--valid",
            assets,
            "--steps",
            "1",
            "--run",
        ])
        .arg(dir.path().join("entropy"))
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "has transforms of its own for its top rungs (top_band = 2)",
        ));
    // A config without the band cannot start from the banded weights.
    let again = dir.path().join("again");
    train_cmd(&plain_cfg, &again, assets)
        .args(["--steps", "1", "--init"])
        .arg(&banded)
        .assert()
        .failure()
        .stderr(predicates::str::contains("has a top band from rung 2"));
}

/// Under `nohup`, SIGHUP (a closed terminal) leaves `neco train` running; SIGTERM
/// (what `timeout` sends) saves the checkpoint before the process ends, with a
/// failure status and a message saying so; the run resumes.
#[cfg(unix)]
#[test]
fn train_ignores_sighup_under_nohup_and_saves_its_checkpoint_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tiny.toml");
    std::fs::write(&config, TINY_CONFIG).unwrap();
    let run = dir.path().join("run");
    let assets = concat!(env!("CARGO_MANIFEST_DIR"), "/assets");
    // nohup execs neco with SIGHUP ignored: the pid is neco's.
    let mut child = std::process::Command::new("nohup")
        .arg(assert_cmd::cargo::cargo_bin("neco"))
        .args(["train", "--config"])
        .arg(&config)
        .args(["--dataset", assets, "--valid", "none", "--run"])
        .arg(&run)
        .args(["--steps", "100000000"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    // The loop listens for the signal once it says it is training.
    while !log.contains("training from step 0") {
        assert!(stderr.read_line(&mut log).unwrap() > 0, "{log}");
    }
    std::thread::sleep(Duration::from_millis(500));
    let pid = child.id().to_string();
    let signal = |name: &str| {
        let kill = std::process::Command::new("kill")
            .args([name, &pid])
            .status()
            .unwrap();
        assert!(kill.success());
    };
    signal("-HUP");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(child.try_wait().unwrap().is_none(), "SIGHUP stopped it");
    signal("-TERM");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no exit: {log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    std::io::Read::read_to_string(&mut stderr, &mut log).unwrap();
    assert_eq!(status.code(), Some(1), "{log}");
    // One stop message: the SIGTERM's, none for the SIGHUP.
    assert_eq!(log.matches("stopping after this step").count(), 1, "{log}");
    let step = progress_step(&run);
    assert!(
        log.contains(&format!(
            "interrupted at step {step}: the checkpoint is saved"
        )),
        "{log}"
    );
    assert!(run.join("checkpoint/optim.bin").exists());
    // The same command resumes it.
    train_cmd(&config, &run, "none")
        .args(["--steps", &(step + 1).to_string()])
        .assert()
        .success();
    assert_eq!(progress_step(&run), step + 1);
}

/// A run that diverges stops with an error and keeps its last good checkpoint (it
/// used to go on, save NaN parameters over it, exit 0 and export unusable weights);
/// an export never writes into the run it reads; weights files have their own `info`.
#[test]
fn diverging_runs_keep_their_checkpoint_and_exports_spare_their_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tiny.toml");
    std::fs::write(&config, TINY_CONFIG).unwrap();
    let run = dir.path().join("run");
    train_cmd(&config, &run, "none")
        .args(["--steps", "2"])
        .assert()
        .success();
    let saved = std::fs::read(run.join("checkpoint/model.bpk")).unwrap();
    let wild = dir.path().join("wild.toml");
    std::fs::write(&wild, TINY_CONFIG.replace("lr = 0.0001", "lr = 1e30")).unwrap();
    train_cmd(&wild, &run, "none")
        .args(["--steps", "40"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("training diverged"));
    assert_eq!(progress_step(&run), 2);
    assert!(std::fs::read(run.join("checkpoint/model.bpk")).unwrap() == saved);
    // Exports never replace the files they read, with -y too.
    for inside in [
        "checkpoint/model.bpk",
        "checkpoint/progress.json",
        "config.toml",
    ] {
        export_cmd(&run, &run.join(inside))
            .arg("-y")
            .assert()
            .failure()
            .stderr(predicates::str::contains("is the input"));
    }
    assert!(std::fs::read(run.join("checkpoint/model.bpk")).unwrap() == saved);
    let weights = dir.path().join("tiny.nwt");
    export_run(&run, &weights);
    // `info` on the weights says what they are (it took them for a damaged stream).
    neco()
        .arg("info")
        .arg(&weights)
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "kind:      weights (.nwt), model tiny-test",
        ))
        .stdout(predicates::str::contains("not one of neco's defaults"));
    // A learning rate that cannot train is refused up front.
    for lr in ["nan", "0", "-1e-4", "inf"] {
        neco()
            .args(["train-entropy", "--weights"])
            .arg(&weights)
            .args(["--run"])
            .arg(dir.path().join("entropy"))
            .arg(format!("--lr={lr}"))
            .args(["--steps", "1"])
            .assert()
            .failure()
            .stderr(predicates::str::contains(
                "a learning rate must be positive and finite",
            ));
    }
    // Freezing every part of the entropy model leaves nothing to train (it panicked).
    let assets = concat!(env!("CARGO_MANIFEST_DIR"), "/assets");
    neco()
        .args(["train-entropy", "--weights"])
        .arg(&weights)
        .args(["--dataset", assets, "--valid", "none", "--run"])
        .arg(dir.path().join("entropy"))
        .args(["--frozen", "h_a,h_s,z_density", "--steps", "1"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("leaves nothing to train"));
    assert!(!dir.path().join("entropy").exists());
}
