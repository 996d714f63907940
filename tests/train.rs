//! `neco train` resumes from its checkpoint, and `neco export` makes usable weights.

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

fn progress_step(run: &std::path::Path) -> u64 {
    let text = std::fs::read_to_string(run.join("checkpoint/progress.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["step"].as_u64().unwrap()
}

#[test]
fn train_resume_export_and_code_with_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tiny.toml");
    std::fs::write(&config, TINY_CONFIG).unwrap();
    let run = dir.path().join("run");
    let assets = concat!(env!("CARGO_MANIFEST_DIR"), "/assets");
    let train = |steps: &str| {
        neco()
            .args(["train", "--config"])
            .arg(&config)
            .args(["--dataset", assets, "--valid", assets, "--run"])
            .arg(&run)
            .args(["--steps", steps])
            .assert()
            .success();
    };
    train("2");
    assert_eq!(progress_step(&run), 2);
    let valid = std::fs::read_to_string(run.join("valid.csv")).unwrap();
    assert!(
        valid.starts_with("step,elapsed_s,loss,bpp,psnr\n2,"),
        "{valid}"
    );

    // A second invocation resumes at step 2 rather than starting over.
    train("3");
    assert_eq!(progress_step(&run), 3);

    let weights = dir.path().join("tiny.nwt");
    neco()
        .args(["export", "--run"])
        .arg(&run)
        .arg("-o")
        .arg(&weights)
        .assert()
        .success();

    let stream = dir.path().join("x.neco");
    let decoded = dir.path().join("x.png");
    let img = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/odd-17x33.png");
    neco()
        .args(["encode", img, "-o"])
        .arg(&stream)
        .arg("--weights")
        .arg(&weights)
        .assert()
        .success();
    let info = neco()
        .arg("info")
        .arg(&stream)
        .arg("--json")
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["model"], "tiny-test");
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
}
